"""``to_seisbench``: segments -> a dataset in SeisBench's WaveformDataset format.

The format (SeisBench's documentation, "The SeisBench Data Format", and its
``seisbench.data.base`` reader and writer):

- a folder with ``metadata.csv`` (one row per trace) and ``waveforms.hdf5``; or,
  chunked, ``metadata<chunk>.csv`` + ``waveforms<chunk>.hdf5`` per chunk and a
  ``chunks`` file listing the chunk names, one per line;
- in each HDF5 file, group ``data_format``: ``dimension_order`` (``"CW"``),
  ``component_order``, and optionally ``sampling_rate``, ``measurement``, ``unit``,
  ``instrument_response``;
- group ``data``: trace blocks ("buckets"): arrays of shape (traces, C, W) holding
  traces of similar length, zero padded; a trace's ``trace_name`` is
  ``bucket<N>$<i>,:<C>,:<W>`` (block, then the numpy slice of the trace in it);
- metadata columns ``CATEGORY_PARAMETER_UNIT``: ``source_*`` (the event),
  ``station_*``, ``trace_*``, ``path_*``, and ``split`` (``train``/``dev``/``test``).

Blocks never mix splits, component counts or length classes (SeisBench's
``GeometricBucketer``: lengths below 100 samples, then classes growing by 20%),
as SeisBench's own writer does.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.engine import URL

from . import groups
from .options import UNITS, TraceOptions, check_fraction
from .run import ERROR, Job, Output, manifest, run, summary
from .traces import SAMPLE_DTYPES, Samples

#: SeisBench metadata column -> the attribute it is read from (of the group's first segment).
SOURCE_COLUMNS = {
    "source_id": "event.event_id",
    "source_origin_time": "event.time",
    "source_latitude_deg": "event.latitude",
    "source_longitude_deg": "event.longitude",
    "source_depth_km": "event.depth_km",
    "source_magnitude": "event.magnitude",
    "source_magnitude_type": "event.mag_type",
    "source_magnitude_author": "event.mag_author",
    "source_type": "event.event_type",
    "station_network_code": "station.network",
    "station_code": "station.station",
    "station_location_code": "channel.location",
    "station_latitude_deg": "station.latitude",
    "station_longitude_deg": "station.longitude",
    "station_elevation_m": "station.elevation",
    "path_ep_distance_deg": "event_distance_deg",
    "path_ep_distance_km": "event_distance_km",
}
SEGMENTS_FILE = "s2s_segments.csv"
_ISO = "%Y-%m-%dT%H:%M:%S%.6fZ"
#: Quantity recorded by the instrument code (2nd channel letter) of unrestituted traces.
_QUANTITY = {"H": "velocity", "L": "velocity", "N": "acceleration"}


def _columns(components: str) -> list[str]:
    """The metadata columns, in file order (``trace_name`` first)."""
    return ["trace_name", "split", *SOURCE_COLUMNS, "path_back_azimuth_deg", "trace_channel",
            "trace_start_time", "trace_sampling_rate_hz", "trace_npts", "trace_completeness",
            "trace_P_arrival_sample", "trace_P_status",
            *[f"trace_{c}_segment_id" for c in components], "trace_class_labels"]


def _metadata(leads: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """SeisBench columns of the groups, from their first segments (``leads``) and the
    class labels of all their segments (``classes``: group -> labels)."""
    lat1, lon1 = pl.col("event.latitude").radians(), pl.col("event.longitude").radians()
    lat2, lon2 = pl.col("station.latitude").radians(), pl.col("station.longitude").radians()
    back = pl.arctan2((lon1 - lon2).sin() * lat1.cos(),
                      lat2.cos() * lat1.sin() - lat2.sin() * lat1.cos() * (lon1 - lon2).cos())
    out = leads.select(
        "id", "group",
        *[pl.col(attr).alias(name) for name, attr in SOURCE_COLUMNS.items()],
        ((back.degrees() + 360) % 360).alias("path_back_azimuth_deg"),
        pl.col("channel.channel").str.slice(0, 2).alias("trace_channel"),
    ).with_columns(pl.col("source_origin_time").dt.strftime(_ISO))
    return out.join(classes, on="group", how="left", maintain_order="left").drop("group")


def _classes(members: pl.DataFrame) -> pl.DataFrame:
    """group -> its segments' class labels, sorted, joined by ``;``."""
    return members.group_by("__x_group").agg(
        pl.col("classes.label").explode().drop_nulls().unique().sort().str.join(";")
        .alias("trace_class_labels")).rename({"__x_group": "group"})


def to_seisbench(
    df: pl.DataFrame | pl.LazyFrame,
    path: str | Path,
    *,
    components: str = "ZNE",
    window: tuple[float, float] | None = None,
    sampling_rate: float | None = None,
    remove_response: str | None = None,
    min_completeness: float = 0.0,
    split: Sequence[float] | None = (0.7, 0.15, 0.15),
    seed: int = 0,
    chunk_size: int | None = None,
    bucket_size: int = 1024,
    workers: int | None = None,
    chunksize: int | None = None,
    progress: bool = True,
    dburl: str | URL | None = None,
    overwrite: bool = False,
) -> pl.DataFrame:
    """Write the segments of ``df`` as a SeisBench dataset (``metadata.csv`` + ``waveforms.hdf5``).

    The folder ``path`` becomes a dataset that ``seisbench.data.WaveformDataset(path)``
    reads: one trace per station and event (``components`` rows, e.g. Z, N, E), its
    metadata in SeisBench's column names, a train/dev/test split by event. The
    segments are processed in parallel by the :func:`s2sframe.map_segments` engine;
    the parent keeps a bounded number of samples in memory (any number of segments).

    Metadata columns (``metadata.csv``; times in ISO 8601, UTC): ``trace_name``
    (``bucket<N>$<i>,:<C>,:<W>``), ``split``, ``source_id`` (the catalog's event id),
    ``source_origin_time``, ``source_latitude_deg``, ``source_longitude_deg``,
    ``source_depth_km``, ``source_magnitude``, ``source_magnitude_type``,
    ``source_magnitude_author``, ``source_type``, ``station_network_code``,
    ``station_code``, ``station_location_code``, ``station_latitude_deg``,
    ``station_longitude_deg``, ``station_elevation_m``, ``path_ep_distance_deg``,
    ``path_ep_distance_km``, ``path_back_azimuth_deg`` (on a sphere), ``trace_channel``
    (band and instrument code, e.g. ``HH``), ``trace_start_time`` (first sample),
    ``trace_sampling_rate_hz``, ``trace_npts``, ``trace_completeness``,
    ``trace_P_arrival_sample`` (the segment's ``arrival_time`` in samples from the
    first: a float), ``trace_P_status`` (``predicted``: stream2segment's arrival
    times come from a travel-time model), ``trace_<c>_segment_id`` per component
    (the segment ids), ``trace_class_labels`` (the class labels of the trace's
    segments, sorted, ``;``-separated). The HDF5 ``data_format`` says
    ``dimension_order`` ``CW``, ``component_order`` (``components``),
    ``sampling_rate`` (when all traces share one), ``measurement``, ``unit`` and
    ``instrument_response``.

    Parameters
    ----------
    df : polars.DataFrame or polars.LazyFrame
        Segments (an ``id`` column; e.g. from :func:`s2sframe.scan`). Attributes the
        export needs and the frame lacks are read from the database.
    path : str or path
        The dataset folder (created).
    components : str
        Orientation codes of the rows of each trace (``component_order``):
        ``"ZNE"``, ``"Z12"``, ``"Z"``... The segments of one event at one station,
        location and band+instrument code (``HH``, ``BH``...: the stream2segment
        siblings) become one trace of ``len(components)`` rows, each segment in the
        row of its orientation code. Horizontals coded 1 and 2 are rotated to N and
        E (with the azimuth and dip of their channels, ObsPy's ``rotate2zne``) when
        N or E are asked, the group has no N/E segment, and its Z, 1 and 2 all have
        data and orientations; otherwise they are left out. A component that is
        missing (not selected, no data, failed), the gaps of a segment and the parts
        of the window it does not cover are zeros: ``trace_completeness`` is the
        fraction of real samples.
    window : (float, float) or None
        Seconds before and after the segment's P arrival (``arrival_time``):
        arrays of ``round((before + after) * rate)`` samples starting at the
        sample nearest to ``arrival_time - before``. None: the whole segment.
    sampling_rate : float or None
        Resample every segment to this rate (Hz) first (ObsPy's ``Trace.resample``:
        Fourier method, zero phase), so that all arrays share it. None: keep each
        segment's rate.
    remove_response : {None, "DISP", "VEL", "ACC"}
        Remove the instrument response first, to displacement (m), velocity (m/s)
        or acceleration (m/s**2): ``trace.remove_response(segment.inventory(),
        output=...)`` with ObsPy's defaults, through s2sframe's fast response
        evaluation. None: keep counts. Segments of stations without StationXML
        then fail (recorded).
    min_completeness : float
        Traces with a smaller ``trace_completeness`` are not written (their
        segments say why in the returned frame).
    split : (float, float, float) or None
        Fractions of traces in ``train``, ``dev`` and ``test`` (column ``split``).
        Whole events go to one split (shuffled with ``seed``), so no event is in two.
        None: no split column.
    seed : int
        Seed of the split.
    chunk_size : int, optional
        Traces per chunk: write SeisBench chunks (``metadata_000.csv`` +
        ``waveforms_000.hdf5``, ... and the ``chunks`` file) instead of one pair.
    bucket_size : int
        Traces per block of the HDF5 file (SeisBench's default, 1024).
    workers : int, optional
        Processes (default: the available cores; 0 or 1: this process), as in
        :func:`s2sframe.map_segments`.
    chunksize : int, optional
        Segments per task (default: chosen to keep the memory of a batch of
        samples bounded, at most 500).
    progress : bool
        Show a progress bar and print a summary line.
    dburl : str, optional
        The database (default: the one the frame was scanned from).
    overwrite : bool
        Discard an existing export at ``path`` (and its partial results) and
        start anew. Without it, a call on the path of an interrupted export
        (Ctrl-C, crash, ``kill -9``) processes only the segments still missing and
        writes the same files as an uninterrupted run; on a finished export with the
        same segments and options it does nothing; an export of other segments or
        options on the same path is refused (:class:`~s2sframe.OutputError`), as
        is a second run while one writes it.

    Returns
    -------
    polars.DataFrame
        One row per row of ``df`` (same order): ``id``, ``trace_name`` (null if the
        segment is in no trace written), ``chunk``, ``split`` and ``s2s_error`` (why
        the segment or its trace failed). Also saved in ``path/s2s_segments.csv``.
        Segments whose orientation code is not asked for are in no trace, without
        error.

    Raises
    ------
    OutputError
        ``path`` is written by another run, or holds another export or files not
        written by this export (pass ``overwrite=True``).
    ValueError
        An invalid option (named).

    Examples
    --------
    >>> import os, tempfile, polars as pl, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> df = s2sframe.scan(url).filter(pl.col("has_valid_data")).collect()  # 103 segments
    >>> folder = os.path.join(tempfile.mkdtemp(), "dataset")
    >>> out = s2sframe.to_seisbench(df, folder, window=(10, 50), sampling_rate=50,
    ...                             workers=0, progress=False, dburl=url)
    >>> sorted(f for f in os.listdir(folder) if not f.startswith("."))
    ['metadata.csv', 's2s_segments.csv', 'waveforms.hdf5']
    >>> out.height, out.get_column("trace_name").drop_nulls().n_unique()  # segments, traces
    (103, 42)
    """
    if components is None or not isinstance(components, str):
        raise ValueError(f"components={components!r}: SeisBench traces have a component "
                         "order: give a string such as 'ZNE', 'Z12' or 'Z'")
    options = TraceOptions(components, window, sampling_rate, remove_response)
    check_fraction("min_completeness", min_completeness)
    for name, value in (("chunk_size", chunk_size), ("bucket_size", bucket_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"{name}={value!r}: a positive integer")
    df, url, members, keys = groups.prepare(df, dburl, components)
    splits = groups.assign_splits(members, split, seed)
    folder = Path(path)
    settings = {**options.settings(), "min_completeness": min_completeness,
                "split": list(split) if split is not None else None, "seed": seed,
                "chunk_size": chunk_size, "bucket_size": bucket_size}
    output = Output(folder / SEGMENTS_FILE, lambda: _products(folder),
                    manifest("to_seisbench", url, members, settings), label=folder)
    if output.open(overwrite):
        output.close()
        if progress:
            print(f"to_seisbench: {folder} already complete; nothing to do", file=sys.stderr)
        return _returned(df, pl.read_csv(folder / SEGMENTS_FILE, infer_schema_length=None))
    try:
        per_segment = 4.0 * (sampling_rate or 100.0) * (
            sum(options.window) if options.window else 600.0) * (len(components) + 1) / len(
            components)
        job = Job("to_seisbench", Samples(options), SAMPLE_DTYPES,
                  (*SOURCE_COLUMNS.values(), "classes.label"),
                  lambda out: groups.array_part(
                      out, components, options, min_completeness,
                      lambda leads: _metadata(leads, _classes(out))),
                  segment_bytes=per_segment)
        tally = run(keys, members, job, output, url=url, workers=workers, chunksize=chunksize,
                    progress=progress)
        written, segments = _write(folder, output.parts(), components, options, splits,
                                   chunk_size, bucket_size)
        output.finish(written)
    finally:
        output.close()
    n = segments.get_column("trace_name").drop_nulls().n_unique()
    summary("to_seisbench", tally, f"{n} traces in {folder}", progress)
    return _returned(df, segments)


def _products(folder: Path) -> list[Path]:
    """The files of a SeisBench export in ``folder`` (those that exist), and the main one."""
    found = [*folder.glob("metadata*.csv"), *folder.glob("waveforms*.hdf5")]
    return sorted({*found, *[folder / n for n in ("chunks", SEGMENTS_FILE) if (folder / n).exists()]})


def _returned(df: pl.DataFrame, segments: pl.DataFrame) -> pl.DataFrame:
    schema = {"id": pl.Int64, "trace_name": pl.String, "chunk": pl.String, "split": pl.String,
              ERROR: pl.String}
    segments = segments.select(pl.col(c).cast(t) for c, t in schema.items())
    return df.select(pl.col("id").cast(pl.Int64)).join(segments, on="id", how="left",
                                                       maintain_order="left")


# ---------------------------------------------------------------------- the files
def _bucket_class(npts: int) -> int:
    """SeisBench's GeometricBucketer length class (minbucket 100, factor 1.2)."""
    return 0 if npts < 100 else int(math.log(npts / 100) / math.log(1.2) + 1)


def _layout(traces: pl.DataFrame, chunk_size: int | None,
            bucket_size: int) -> tuple[pl.DataFrame, list[tuple[int, int, int, int]]]:
    """Trace name, chunk, bucket and slot of every trace (in order), and each bucket's
    (chunk, traces, C, W)."""
    names, chunk_of, bucket_of, slot_of = [], [], [], []
    buckets: list[list[int]] = []  # [chunk, count, C, W]
    open_: dict[tuple, int] = {}
    splits = traces.get_column("split").to_list()
    for i, (c, w) in enumerate(zip(traces.get_column("__x_channels").to_list(),
                                   traces.get_column("__x_npts").to_list(), strict=True)):
        chunk = i // chunk_size if chunk_size else 0
        key = (chunk, splits[i], c, _bucket_class(w))
        b = open_.get(key)
        if b is None or buckets[b][1] >= bucket_size:
            b = open_[key] = len(buckets)
            buckets.append([chunk, 0, c, 0])
        slot = buckets[b][1]
        buckets[b][1] += 1
        buckets[b][3] = max(buckets[b][3], w)
        names.append(f"bucket{b}${slot},:{c},:{w}")
        chunk_of.append(chunk)
        bucket_of.append(b)
        slot_of.append(slot)
    layout = traces.select("group").with_columns(
        pl.Series("trace_name", names, dtype=pl.String),
        pl.Series("__x_chunk", chunk_of, dtype=pl.Int64),
        pl.Series("__x_bucket", bucket_of, dtype=pl.Int64),
        pl.Series("__x_slot", slot_of, dtype=pl.Int64))
    return layout, [tuple(b) for b in buckets]  # type: ignore[misc]


def _chunk_names(count: int, chunked: bool) -> list[str]:
    if not chunked:
        return [""]
    width = max(3, len(str(count - 1)))
    return [f"_{i:0{width}d}" for i in range(max(count, 1))]


def _write(folder: Path, parts: list[Path], components: str, options: TraceOptions,
           splits: pl.Series | None, chunk_size: int | None,
           bucket_size: int) -> tuple[list[tuple[Path, Path]], pl.DataFrame]:
    """Write the dataset's files (temporary names) from the parts, streaming.

    Returns the (temporary, final) paths and the per-segment outcome."""
    import h5py

    def with_split(frame: pl.DataFrame) -> pl.DataFrame:
        if splits is None or not frame.height:
            return frame.with_columns(split=pl.lit(None, dtype=pl.String))
        return frame.with_columns(splits.gather(frame.get_column("group")).alias("split"))

    traces = pl.concat(
        [pl.scan_parquet(p).filter(pl.col("__x_written").fill_null(False))
         .select("group", "__x_channels", "__x_npts", "__x_rate", "trace_channel")
         for p in parts], how="vertical_relaxed").collect() if parts else pl.DataFrame(
        schema={"group": pl.Int64, "__x_channels": pl.Int64, "__x_npts": pl.Int64,
                "__x_rate": pl.Float64, "trace_channel": pl.String})
    traces = with_split(traces)
    layout, buckets = _layout(traces, chunk_size, bucket_size)
    nchunks = (max(1, -(-traces.height // chunk_size)) if chunk_size else 1)
    names = _chunk_names(nchunks, chunk_size is not None)
    data_format = _data_format(components, options, traces)
    written: list[tuple[Path, Path]] = []
    columns = _columns(components)
    h5: Any = None
    csv: Any = None
    current = -1

    def open_chunk(index: int) -> None:
        nonlocal h5, csv, current
        close_chunk()
        current = index
        name = names[index]
        tmp_h5 = folder / f".waveforms{name}.hdf5.tmp"
        tmp_csv = folder / f".metadata{name}.csv.tmp"
        written.extend([(tmp_h5, folder / f"waveforms{name}.hdf5"),
                        (tmp_csv, folder / f"metadata{name}.csv")])
        h5 = h5py.File(tmp_h5, "w")
        fmt = h5.create_group("data_format")
        for key, value in data_format.items():
            fmt.create_dataset(key, data=value)
        data = h5.create_group("data")
        for b, (chunk, count, c, w) in enumerate(buckets):
            if chunk == index:
                data.create_dataset(f"bucket{b}", shape=(count, c, w), dtype="float32",
                                    fillvalue=0.0)
        csv = open(tmp_csv, "wb")
        pl.DataFrame(schema=dict.fromkeys(columns, pl.String)).write_csv(csv)

    def close_chunk() -> None:
        nonlocal h5, csv
        if h5 is not None:
            h5.close()
            csv.close()
            h5 = csv = None

    try:
        open_chunk(0)
        for part in parts:
            frame = pl.read_parquet(part).filter(pl.col("__x_written").fill_null(False))
            if not frame.height:
                continue
            frame = with_split(frame).join(layout, on="group", how="left", maintain_order="left")
            for chunk_rows in _runs(frame, "__x_chunk"):
                index = int(chunk_rows.get_column("__x_chunk")[0])
                if index != current:
                    open_chunk(index)
                _write_samples(h5, chunk_rows)
                meta = chunk_rows.select(
                    [_meta_column(c, chunk_rows) for c in columns])
                meta.write_csv(csv, include_header=False, null_value="")
    finally:
        close_chunk()
    if chunk_size is not None:
        tmp = folder / ".chunks.tmp"
        tmp.write_text("".join(n + "\n" for n in names))
        written.append((tmp, folder / "chunks"))
    segments = _segments(parts, layout, names, splits)
    tmp = folder / f".{SEGMENTS_FILE}.tmp"
    segments.write_csv(tmp)
    written.append((tmp, folder / SEGMENTS_FILE))
    return written, segments


def _runs(frame: pl.DataFrame, column: str) -> Iterator[pl.DataFrame]:
    """Consecutive rows of ``frame`` with the same ``column`` value."""
    values = frame.get_column(column).to_numpy()
    cuts = [0, *(np.flatnonzero(values[1:] != values[:-1]) + 1).tolist(), len(values)]
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        yield frame.slice(a, b - a)


def _write_samples(h5: Any, rows: pl.DataFrame) -> None:
    """The arrays of ``rows`` into their buckets: one write per bucket (the rows of a
    bucket in consecutive rows of the export have consecutive slots)."""
    for bucket_rows in rows.partition_by("__x_bucket", maintain_order=True):
        bucket = int(bucket_rows.get_column("__x_bucket")[0])
        slots = bucket_rows.get_column("__x_slot").to_numpy()
        c = int(bucket_rows.get_column("__x_channels")[0])
        widths = bucket_rows.get_column("__x_npts").to_list()
        block = np.zeros((len(slots), c, max(widths)), dtype=np.float32)
        for i, (data, w) in enumerate(zip(bucket_rows.get_column("__x_waveform").to_list(),
                                          widths, strict=True)):
            block[i, :, :w] = np.frombuffer(data, dtype=np.float32).reshape(c, w)
        dataset = h5["data"][f"bucket{bucket}"]
        if np.all(np.diff(slots) == 1):
            dataset[slots[0]:slots[-1] + 1, :, :block.shape[2]] = block
        else:  # pragma: no cover - see the docstring
            for i, s in enumerate(slots):
                dataset[s, :, :block.shape[2]] = block[i]


def _meta_column(name: str, rows: pl.DataFrame) -> pl.Expr:
    if name == "trace_start_time":
        return pl.from_epoch(pl.col("__x_start_ns"), time_unit="ns").dt.strftime(_ISO).alias(name)
    if name == "trace_sampling_rate_hz":
        return pl.col("__x_rate").alias(name)
    if name == "trace_npts":
        return pl.col("__x_npts").alias(name)
    if name == "trace_completeness":
        return pl.col("__x_completeness").round(6).alias(name)
    if name == "trace_P_arrival_sample":
        return pl.col("__x_arrival_sample").round(6).alias(name)
    if name == "trace_P_status":
        return pl.when(pl.col("__x_arrival_sample").is_not_null()).then(
            pl.lit("predicted")).alias(name)
    if name.startswith("trace_") and name.endswith("_segment_id"):
        return pl.col(groups.id_column(name[6:-11])).alias(name)
    return pl.col(name) if name in rows.columns else pl.lit(None, dtype=pl.String).alias(name)


def _data_format(components: str, options: TraceOptions, traces: pl.DataFrame) -> dict[str, Any]:
    fmt: dict[str, Any] = {"dimension_order": "CW", "component_order": components}
    rates = traces.get_column("__x_rate").unique().to_list()
    if options.sampling_rate is not None:
        fmt["sampling_rate"] = options.sampling_rate
    elif len(rates) == 1:
        fmt["sampling_rate"] = float(rates[0])
    if options.remove_response is not None:
        fmt["measurement"], fmt["unit"] = UNITS[options.remove_response]
        fmt["instrument_response"] = "restituted"
    else:
        codes = {c[1:2] for c in traces.get_column("trace_channel").drop_nulls().to_list()}
        quantities = sorted({_QUANTITY.get(c, "unknown") for c in codes})
        fmt["measurement"] = "/".join(quantities) or "unknown"
        fmt["unit"] = "counts"
        fmt["instrument_response"] = "not restituted"
    return fmt


def _segments(parts: list[Path], layout: pl.DataFrame, names: list[str],
              splits: pl.Series | None) -> pl.DataFrame:
    """The outcome of every segment: ``id``, ``trace_name``, ``chunk``, ``split``, ``s2s_error``."""
    rows = groups.outcome([pl.scan_parquet(p) for p in parts])
    rows = rows.join(layout.select("group", "trace_name", "__x_chunk"), on="group", how="left",
                     maintain_order="left")
    chunk = (pl.col("__x_chunk").replace_strict(dict(enumerate(names)), default=None,
                                                return_dtype=pl.String)
             if names != [""] else pl.lit(None, dtype=pl.String))
    split = (splits.gather(rows.get_column("group")) if splits is not None and rows.height
             else pl.Series("split", [None] * rows.height, dtype=pl.String))
    return rows.select("id", "trace_name", chunk.alias("chunk"), split.alias("split"), ERROR)
