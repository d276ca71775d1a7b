"""Parent side of the array exports: which segments form one array, splits, stacking.

- :func:`with_columns`: the frame with the attributes an export needs, those it
  lacks fetched from the database by id (a few thousand at a time);
- :func:`plan`: the segments of each array (a *group*: one event at one station,
  location and band+instrument code, one segment per orientation code; or one
  segment alone), in a deterministic order (that of each group's first row);
- :func:`assign_splits`: train/dev/test per group, by event (no event in two
  splits);
- :func:`stack`: the per-segment results of a batch (:class:`.traces.Samples`)
  stacked into the groups' arrays on one time grid, 1/2 horizontals rotated to N/E.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.engine import URL

from ..db.retry import with_retries
from ..db.scan import scan
from ..db.urls import default_url
from ..engine.run import validate_frame
from .options import TraceOptions, wanted
from .traces import ns

#: Attributes that say which group a segment belongs to.
KEY_COLUMNS = ("event_id", "station.id", "channel.location", "channel.channel")
#: Attributes the stacking reads (arrival for the arrival sample, orientations to rotate).
STACK_COLUMNS = ("arrival_time", "channel.azimuth", "channel.dip")
SPLITS = ("train", "dev", "test")
_FETCH = 5000  # ids per query


def with_columns(df: pl.DataFrame, url: URL, columns: Sequence[str]) -> pl.DataFrame:
    """``df`` with the ``columns`` it lacks, read from the database (same row order).

    Examples
    --------
    >>> import os, tempfile, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = s2sframe.db.urls.parse_url(example_database(os.path.join(tempfile.mkdtemp(), "d.sqlite")))
    >>> df = s2sframe.scan(url).select("id").tail(2).collect()
    >>> with_columns(df, url, ["id", "channel.channel"]).rows()
    [(125, 'HHN'), (126, 'HHE')]
    """
    missing = [c for c in dict.fromkeys(columns) if c not in df.columns]
    if not missing or df.height == 0:
        return df if not missing else df.with_columns(
            pl.Series(c, [], dtype=scan(url).collect_schema()[c]) for c in missing)
    ids = df.get_column("id").cast(pl.Int64)
    parts = []
    for start in range(0, len(ids), _FETCH):
        chunk = ids.slice(start, _FETCH).to_list()
        lf = scan(url).filter(pl.col("id").is_in(chunk)).select("id", *missing)
        parts.append(with_retries(lf.collect))
    fetched = pl.concat(parts).with_columns(pl.col("id").cast(df.schema["id"]))
    return df.join(fetched, on="id", how="left", maintain_order="left")


def prepare(df: pl.DataFrame | pl.LazyFrame, dburl: str | URL | None, components: str | None
            ) -> tuple[pl.DataFrame, URL, pl.DataFrame, pl.DataFrame]:
    """The frame (collected), its database, the members of its groups (:func:`plan`), and
    the attributes that the workers and the stacking read (``keys``: :data:`KEY_COLUMNS`
    and :data:`STACK_COLUMNS`, in the frame's row order)."""
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    validate_frame(df)  # an id column of unique integers
    url = default_url(dburl)
    wanted = ("id", *KEY_COLUMNS, *STACK_COLUMNS)
    keys = with_columns(df.select([c for c in wanted if c in df.columns]), url, wanted)
    return df, url, plan(keys, components), keys


def plan(keys: pl.DataFrame, components: str | None) -> pl.DataFrame:
    """Members of each group: ``pos`` (row of the frame), ``id``, ``group`` (0, 1, ...
    in the order of the groups' first rows), ``orientation``, ``event_id``; sorted by
    group, then by the row of the orientation in ``components`` (1, 2 last).

    Rows whose orientation is not asked for (or without channel) are in no group.

    Examples
    --------
    >>> keys = pl.DataFrame({"id": [7, 8, 9, 10], "event_id": [1, 1, 1, 2],
    ...     "station.id": [3, 3, 3, 3], "channel.location": ["", "", "", ""],
    ...     "channel.channel": ["HHE", "HHZ", "HHN", "HHZ"]})
    >>> plan(keys, "ZNE").select("id", "group", "orientation").rows()
    [(8, 0, 'Z'), (9, 0, 'N'), (7, 0, 'E'), (10, 1, 'Z')]
    >>> plan(keys, "Z").get_column("id").to_list()
    [8, 10]
    """
    frame = keys.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("pos"), pl.col("id").cast(pl.Int64),
        pl.col("event_id").cast(pl.Int64),
        pl.col("channel.channel").str.slice(2, 1).alias("orientation"),
        pl.col("channel.channel").str.slice(0, 2).alias("band"),
        pl.col("station.id").cast(pl.Int64).alias("station"),
        pl.col("channel.location").alias("location"),
    )
    if components is None:
        frame = frame.with_columns(group=pl.col("pos"), slot=pl.lit(0))
        return frame.select("pos", "id", "group", "orientation", "event_id", "slot")
    codes = [c for c in "ZNE12" if wanted(components, c)]
    order = {c: i for i, c in enumerate(components + "12")}
    keys_ = ["event_id", "station", "location", "band"]
    frame = frame.filter(pl.col("orientation").is_in(codes) & pl.all_horizontal(
        pl.col(k).is_not_null() for k in keys_))
    frame = frame.with_columns(first=pl.col("pos").min().over(keys_))
    return frame.with_columns(
        group=pl.col("first").rank("dense").cast(pl.Int64) - 1,
        slot=pl.col("orientation").replace_strict(order, return_dtype=pl.Int64),
    ).sort("group", "slot").select("pos", "id", "group", "orientation", "event_id", "slot")


def assign_splits(members: pl.DataFrame, fractions: Sequence[float] | None,
                  seed: int) -> pl.Series | None:
    """``train``/``dev``/``test`` of each group (index = group), whole events per split.

    Events are shuffled with ``numpy.random.default_rng(seed)`` and cut so that
    each split gets about its fraction of the groups (traces).

    Examples
    --------
    >>> m = pl.DataFrame({"group": range(10), "event_id": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]})
    >>> s = assign_splits(m, (0.6, 0.2, 0.2), seed=0)
    >>> s.to_list()
    ['dev', 'dev', 'test', 'test', 'train', 'train', 'train', 'train', 'train', 'train']
    """
    if fractions is None:
        return None
    try:
        values = np.array([float(f) for f in fractions], dtype=float)
    except (TypeError, ValueError):
        values = np.array([])
    if values.size != 3 or (values < 0).any() or abs(values.sum() - 1) > 1e-9:
        raise ValueError(f"split={fractions!r}: three fractions (train, dev, test) >= 0 "
                         "summing to 1, e.g. (0.7, 0.15, 0.15), or None for no split column")
    per_group = members.group_by("group").agg(pl.col("event_id").first()).sort("group")
    counts = per_group.group_by("event_id").len().sort("event_id")
    events = counts.get_column("event_id").to_numpy()
    sizes = counts.get_column("len").to_numpy().astype(float)
    perm = np.random.default_rng(seed).permutation(len(events))
    middle = (np.cumsum(sizes[perm]) - sizes[perm] / 2) / max(sizes.sum(), 1)
    index = np.minimum(np.searchsorted(np.cumsum(values), middle, side="right"), 2)
    split_of = dict(zip(events[perm].tolist(), (SPLITS[i] for i in index), strict=True))
    return per_group.get_column("event_id").replace_strict(
        split_of, return_dtype=pl.String).rename("split")


def stack(batch: pl.DataFrame, components: str | None, options: TraceOptions,
          min_completeness: float) -> pl.DataFrame:
    """One row per group of ``batch`` (members with their results, sorted by group and
    slot): the array and its grid, or why it is not written.

    Columns: ``group``, ``__x_lead`` (id of the group's first member), ``__x_written``,
    ``__x_reason``, ``__x_waveform`` (C x W float32 bytes), ``__x_channels`` (C),
    ``__x_npts`` (W), ``__x_rate``, ``__x_start_ns`` (first sample), ``__x_completeness``,
    ``__x_arrival_sample``, and ``__x_id_<c>``: the segment of each row ``c``.
    """
    comps = components or "-"
    cols = {c: batch.get_column(c).to_list() for c in (
        "id", "group", "orientation", "arrival_time", "channel.azimuth", "channel.dip",
        "__x_samples", "__x_start_ns", "__x_rate", "__x_npts", "__x_covered")}
    rows: list[dict[str, Any]] = []
    n = batch.height
    i = 0
    while i < n:
        j = i
        while j < n and cols["group"][j] == cols["group"][i]:
            j += 1
        rows.append(_stack_group(cols, range(i, j), comps, components is not None, options,
                                 min_completeness))
        i = j
    schema: dict[str, Any] = {
        "group": pl.Int64, "__x_lead": pl.Int64, "__x_written": pl.Boolean,
        "__x_reason": pl.String, "__x_waveform": pl.Binary, "__x_channels": pl.Int64,
        "__x_npts": pl.Int64, "__x_rate": pl.Float64, "__x_start_ns": pl.Int64,
        "__x_completeness": pl.Float64, "__x_arrival_sample": pl.Float64,
        **{id_column(c if components else None): pl.Int64 for c in comps},
    }
    return pl.DataFrame({k: [r.get(k) for r in rows] for k in schema}, schema=schema)


def id_column(component: str | None) -> str:
    """Result column of the segment id of a component's row (``None``: one row)."""
    return f"__x_id_{component}" if component else "__x_id"


def _stack_group(cols: dict[str, list], members: range, comps: str, grouped: bool,
                 options: TraceOptions, min_completeness: float) -> dict[str, Any]:
    ids = {cols["orientation"][k] if grouped else "-": k for k in members}
    first = members[0]
    row: dict[str, Any] = {"group": cols["group"][first], "__x_lead": cols["id"][first],
                           "__x_written": False, "__x_reason": None}
    for c in comps:
        k = ids.get(c)
        row[id_column(c if grouped else None)] = cols["id"][k] if k is not None else None
    have = [k for k in members if cols["__x_samples"][k] is not None]
    if not have:
        row["__x_reason"] = "no component with data"
        return row
    rates = sorted({cols["__x_rate"][k] for k in have})
    if len(rates) > 1:
        row["__x_reason"] = (f"components at different sampling rates {rates}: pass "
                             "sampling_rate= to resample them")
        return row
    rate = rates[0]
    step = 1e9 / rate
    if options.window is not None:  # the grid of the first component (its margin cut)
        ref = cols["__x_start_ns"][have[0]] + round(step)
        width = options.samples(rate)
    else:
        ref = min(cols["__x_start_ns"][k] for k in have)
    offsets = {k: round((cols["__x_start_ns"][k] - ref) / step) for k in have}
    if options.window is None:
        width = max(offsets[k] + cols["__x_npts"][k] for k in have)
    placed: dict[str, tuple[np.ndarray, int]] = {}
    for k in have:
        data = np.frombuffer(cols["__x_samples"][k], dtype=np.float32)
        covered = np.unpackbits(np.frombuffer(cols["__x_covered"][k], dtype=np.uint8),
                                count=len(data)).astype(bool)
        off = offsets[k]
        a, b = max(0, off), min(width, off + len(data))
        out = np.zeros(width, dtype=np.float32)
        if b > a:
            out[a:b] = data[a - off:b - off]
        key = cols["orientation"][k] if grouped else "-"
        placed[key] = (out, int(covered[a - off:b - off].sum()) if b > a else 0)
    if grouped and set("NE") & set(comps) and not set("NE") & set(placed):
        _rotate(placed, {cols["orientation"][k]: k for k in members}, cols)
    array = np.zeros((len(comps), width), dtype=np.float32)
    valid = 0
    for r, c in enumerate(comps):
        if c in placed:
            array[r] = placed[c][0]
            valid += placed[c][1]
    completeness = valid / (len(comps) * width)
    arrival = cols["arrival_time"][first]
    row.update({
        "__x_waveform": array.tobytes(), "__x_channels": len(comps), "__x_npts": width,
        "__x_rate": rate, "__x_start_ns": ref, "__x_completeness": completeness,
        "__x_arrival_sample": (ns(arrival) - ref) / step if arrival is not None else None,
    })
    if valid == 0:
        row["__x_reason"] = f"no component {', '.join(comps)} with data"
    elif completeness < min_completeness:
        row["__x_reason"] = (f"completeness {completeness:.3f} below min_completeness "
                             f"{min_completeness}")
    else:
        row["__x_written"] = True
    return row


def _rotate(placed: dict[str, tuple[np.ndarray, int]], where: dict[str, int],
            cols: dict[str, list]) -> None:
    """Z, 1, 2 of ``placed`` -> Z, N, E (in place), if all three have data and orientations;
    otherwise 1 and 2 are dropped."""
    one, two = placed.pop("1", None), placed.pop("2", None)
    if one is None or two is None or "Z" not in placed:
        return
    angles = []
    for c in ("Z", "1", "2"):
        az, dip = cols["channel.azimuth"][where[c]], cols["channel.dip"][where[c]]
        if az is None or dip is None:
            return
        angles.append((float(az), float(dip)))
    from obspy.signal.rotate import rotate2zne

    z, n, e = (np.asarray(a, dtype=np.float32) for a in rotate2zne(
        placed["Z"][0].astype(float), *angles[0], one[0].astype(float), *angles[1],
        two[0].astype(float), *angles[2]))
    placed["Z"] = (z, placed["Z"][1])
    placed["N"] = (n, one[1])
    placed["E"] = (e, two[1])


def array_part(results: pl.DataFrame, components: str | None, options: TraceOptions,
               min_completeness: float,
               metadata: Callable[[pl.DataFrame], pl.DataFrame] | None = None) -> pl.DataFrame:
    """A batch's part: one row per segment (``id``, ``group``, ``s2s_error``); the
    group's columns (:func:`stack`, and ``metadata(lead rows)`` joined by ``id``) on
    the row of its first segment, null on the others."""
    members = results.rename({"__x_group": "group", "__x_orientation": "orientation"})
    groups = stack(members, components, options, min_completeness)
    if metadata is not None:
        leads = members.filter(pl.col("id").is_in(groups.get_column("__x_lead").implode()))
        groups = groups.join(metadata(leads).rename({"id": "__x_lead"}), on="__x_lead",
                             how="left", maintain_order="left")
    return members.select("id", "group", "s2s_error").join(
        groups.drop("group"), left_on="id", right_on="__x_lead", how="left",
        maintain_order="left")


def outcome(parts: Sequence[pl.DataFrame | pl.LazyFrame]) -> pl.DataFrame:
    """``id``, ``group``, ``__x_written`` and ``s2s_error`` of every segment of the parts:
    its own error, else why its group was not written."""
    frames = [p.lazy().select("id", "group", "s2s_error", "__x_written", "__x_reason")
              for p in parts]
    if not frames:
        return pl.DataFrame(schema={"id": pl.Int64, "group": pl.Int64,
                                    "__x_written": pl.Boolean, "s2s_error": pl.String})
    rows = pl.concat(frames, how="vertical_relaxed").with_columns(
        pl.col("__x_written").fill_null(strategy="forward").over("group"),
        pl.col("__x_reason").fill_null(strategy="forward").over("group"),
    )
    return rows.select(
        "id", "group", "__x_written",
        pl.coalesce("s2s_error", pl.when(~pl.col("__x_written"))
                    .then(pl.lit("not written: ") + pl.col("__x_reason"))).alias("s2s_error"),
    ).collect()
