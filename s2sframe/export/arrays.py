"""``waveforms``: the samples of the segments as a float32 array column (or a Parquet file).

Without ``components`` the frame keeps its rows and gains the columns; with
``components`` each row is a group (one event at one station, location and band
code). Arrays of one shape for every row (a window, one rate) are Polars
``Array`` columns (``(C, W)`` or ``W``), ready for ``.to_numpy()``; otherwise
``List`` columns. ``output=`` streams the rows to a Parquet file part by part.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sqlalchemy.engine import URL

from . import groups
from .options import TraceOptions, check_fraction
from .run import ERROR, Job, MemoryParts, Output, manifest, run, summary
from .traces import SAMPLE_DTYPES, Samples

#: Columns of a group row (``components`` given), before the arrays.
_GROUP_KEYS: dict[str, pl.DataType] = {
    "event_id": pl.Int64(), "station.id": pl.Int64(), "channel.location": pl.String(),
    "channel.band_instrument_code": pl.String()}
_ARRAY_COLUMNS: dict[str, pl.DataType] = {
    "waveform_start": pl.Datetime("ns"), "waveform_sampling_rate": pl.Float64(),
    "waveform_completeness": pl.Float64(), "arrival_sample": pl.Float64()}


def waveforms(
    df: pl.DataFrame | pl.LazyFrame,
    *,
    components: str | None = None,
    window: tuple[float, float] | None = None,
    sampling_rate: float | None = None,
    remove_response: str | None = None,
    min_completeness: float = 0.0,
    output: str | os.PathLike | None = None,
    workers: int | None = None,
    chunksize: int | None = None,
    progress: bool = True,
    dburl: str | URL | None = None,
    overwrite: bool = False,
) -> pl.DataFrame | pl.LazyFrame:
    """The samples of the segments as a float32 array column, for NumPy and PyTorch.

    Without ``components``: the rows of ``df`` with columns ``waveform`` (the
    samples), ``waveform_start`` (time of the first sample), ``waveform_sampling_rate``,
    ``waveform_completeness`` (fraction of real samples: not gaps nor padding),
    ``arrival_sample`` (``arrival_time`` in samples from the first) and ``s2s_error``
    (null, or why the segment has no samples). With ``components``: one row per
    group of segments (an event at a station, location and band code) with
    ``event_id``, ``station.id``, ``channel.location``,
    ``channel.band_instrument_code``, ``id_<c>`` (the segment of each row) and the
    same columns, ``waveform`` holding ``len(components)`` rows. When every array
    has the same shape (a window and one rate) ``waveform`` is a Polars ``Array``
    (``df["waveform"].to_numpy()`` is one (rows, C, W) or (rows, W) array),
    otherwise a ``List``. Processed in parallel by the :func:`s2sframe.map_segments`
    engine.

    Parameters
    ----------
    df : polars.DataFrame or polars.LazyFrame
        Segments (an ``id`` column; e.g. from :func:`s2sframe.scan`).
    components, window, sampling_rate, remove_response
        As in :func:`to_seisbench` (but ``components`` defaults to None here: one
        array per segment).
    min_completeness : float
        Arrays with a smaller completeness are null (with the reason in ``s2s_error``).
    output : str or path, optional
        Write the rows to this Parquet file instead of returning them (sets larger
        than memory: the parent holds a bounded number of samples), and return
        ``polars.scan_parquet(output)``.
    workers, chunksize, progress, dburl
        As in :func:`to_seisbench`.
    overwrite : bool
        With ``output``, as in :func:`to_seisbench`: interrupted runs resume, finished
        ones are not redone, another export on the same path is refused.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        The frame, or with ``output`` a LazyFrame reading the file.

    Examples
    --------
    >>> import os, tempfile, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> df = s2sframe.scan(url).filter(s2sframe.where({"has_valid_data": "true"})).head(6).collect()
    >>> out = s2sframe.waveforms(df, components="ZNE", window=(5, 15), sampling_rate=20,
    ...                          workers=0, progress=False, dburl=url)
    >>> out["waveform"].dtype, out["waveform"].to_numpy().shape
    (Array(Float32, shape=(3, 400)), (3, 3, 400))
    """
    options = TraceOptions(components, window, sampling_rate, remove_response)
    check_fraction("min_completeness", min_completeness)
    df, url, members, keys = groups.prepare(df, dburl, components)
    job = Job("waveforms", Samples(options), SAMPLE_DTYPES, (),
              lambda out: groups.array_part(out, components, options, min_completeness,
                                       _group_keys if components else None),
              segment_bytes=4.0 * (sampling_rate or 100.0) * (
                  sum(options.window) if options.window else 600.0) * 2)
    if output is None:
        sink = MemoryParts()
        tally = run(keys, members, job, sink, url=url, workers=workers, chunksize=chunksize,
                    progress=progress)
        frame = _frame(df, sink.frames, components)
        summary("waveforms", tally, f"{frame.height} rows", progress)
        return frame
    path = Path(output)
    if path.suffix.lower() not in (".parquet", ".pq"):
        raise ValueError(f"output={os.fspath(output)!r}: waveforms writes Parquet files "
                         "(.parquet)")
    out = Output(path, lambda: [path],
                 manifest("waveforms", url, members, {**options.settings(),
                          "min_completeness": min_completeness, "columns": df.columns}))
    if not out.open(overwrite):
        try:
            tally = run(keys, members, job, out, url=url, workers=workers, chunksize=chunksize,
                        progress=progress)
            tmp = path.with_name(f".{path.name}.tmp")
            _write_parquet(tmp, df, out.parts(), components)
            out.finish([(tmp, path)])
        finally:
            out.close()
        summary("waveforms", tally, f"rows in {path}", progress)
    else:
        out.close()
        if progress:
            print(f"waveforms: {path} already complete; nothing to do", file=sys.stderr)
    return pl.scan_parquet(path)


def _group_keys(leads: pl.DataFrame) -> pl.DataFrame:
    return leads.select("id", *[k for k in _GROUP_KEYS if k != "channel.band_instrument_code"],
                        pl.col("channel.channel").str.slice(0, 2)
                        .alias("channel.band_instrument_code"))


def _shape(parts: list[Any]) -> tuple[int, int] | None:
    """(C, W) shared by every written array, or None."""
    shapes = pl.concat([p.lazy().filter(pl.col("__x_written").fill_null(False))
                        .select("__x_channels", "__x_npts").unique() for p in parts],
                       how="vertical_relaxed").unique().collect() if parts else None
    if shapes is None or shapes.height != 1:
        return None
    return int(shapes.item(0, 0)), int(shapes.item(0, 1))


def _rows(part: pl.DataFrame, components: str | None,
          shape: tuple[int, int] | None) -> pl.DataFrame:
    """The output rows of one part (one per group), in group order."""
    outcome = groups.outcome([part])
    leads = part.filter(pl.col("__x_written").is_not_null())
    ok = pl.col("__x_written")
    body = leads.select(
        "id", "group", *(_GROUP_KEYS if components else ()),
        *[pl.col(groups.id_column(c)).alias(f"id_{c}") for c in components or ""],
        pl.when(ok).then(_array(leads, components, shape)).alias("waveform"),
        pl.when(ok).then(pl.from_epoch("__x_start_ns", time_unit="ns")).alias("waveform_start"),
        pl.when(ok).then(pl.col("__x_rate")).alias("waveform_sampling_rate"),
        pl.when(ok).then(pl.col("__x_completeness")).alias("waveform_completeness"),
        pl.when(ok).then(pl.col("__x_arrival_sample")).alias("arrival_sample"),
    )
    errors = outcome.group_by("group", maintain_order=True).agg(
        pl.col(ERROR).drop_nulls().unique(maintain_order=True).str.join("; "))
    errors = errors.with_columns(pl.when(pl.col(ERROR) != "").then(pl.col(ERROR)).alias(ERROR))
    return body.join(errors, on="group", how="left", maintain_order="left")


def _array(leads: pl.DataFrame, components: str | None,
           shape: tuple[int, int] | None) -> pl.Series:
    """The arrays of ``leads`` (zeros or empty where not written: masked by the caller)."""
    data = leads.get_column("__x_waveform").to_list()
    chans = leads.get_column("__x_channels").to_list()
    widths = leads.get_column("__x_npts").to_list()
    written = leads.get_column("__x_written").to_list()
    grouped = components is not None
    if shape is not None:
        c, w = shape
        block = np.zeros((len(data), c, w), dtype=np.float32)
        for i, b in enumerate(data):
            if written[i]:
                block[i] = np.frombuffer(b, dtype=np.float32).reshape(c, w)
        return pl.Series("waveform", block if grouped else block[:, 0, :])
    flat, offsets, row_offsets = [], [0], [0]
    for b, c, w, ok in zip(data, chans, widths, written, strict=True):
        if not ok:
            row_offsets.append(row_offsets[-1])
            if not grouped:
                offsets.append(offsets[-1])
            continue
        flat.append(np.frombuffer(b, dtype=np.float32))
        if grouped:
            base = offsets[-1]
            offsets.extend(base + w * (k + 1) for k in range(c))
            row_offsets.append(row_offsets[-1] + c)
        else:
            offsets.append(offsets[-1] + w)
    import pyarrow as pa  # here: 45 MB a process (workers, the CLI) should not pay

    values = pa.array(np.concatenate(flat) if flat else np.zeros(0, np.float32), pa.float32())
    lists = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), values)
    if grouped:
        lists = pa.ListArray.from_arrays(pa.array(row_offsets, pa.int32()), lists)
    return pl.Series("waveform", pl.from_arrow(lists))


def _frame(df: pl.DataFrame, parts: list[pl.DataFrame], components: str | None) -> pl.DataFrame:
    shape = _shape(parts)
    return _finish_rows(df, [_rows(p, components, shape) for p in parts], components, shape)


def _finish_rows(df: pl.DataFrame, rows: list[pl.DataFrame], components: str | None,
                 shape: tuple[int, int] | None) -> pl.DataFrame:
    """The rows of parts with the output's columns and types (``df``'s rows first, in
    order, when one row per segment)."""
    schema = _schema(df, components, shape)
    body = pl.concat(rows, how="diagonal_relaxed") if rows else pl.DataFrame(
        schema={"id": pl.Int64, **{k: v for k, v in schema.items() if k not in df.columns}})
    if components is None:
        body = df.join(body.drop("group", strict=False), on="id", how="left",
                       maintain_order="left")
    return body.select(pl.col(k).cast(v) for k, v in schema.items())


def _schema(df: pl.DataFrame, components: str | None,
            shape: tuple[int, int] | None) -> dict[str, pl.DataType]:
    if shape is not None:
        wave: pl.DataType = (pl.Array(pl.Float32, shape) if components
                             else pl.Array(pl.Float32, shape[1]))
    else:
        wave = pl.List(pl.List(pl.Float32)) if components else pl.List(pl.Float32)
    tail: dict[str, pl.DataType] = {"waveform": wave, **_ARRAY_COLUMNS, ERROR: pl.String()}
    if components is None:
        return {**{k: v for k, v in df.schema.items() if k not in tail}, **tail}
    return {**_GROUP_KEYS, **{f"id_{c}": pl.Int64() for c in components}, **tail}


def _write_parquet(tmp: Path, df: pl.DataFrame, parts: list[Path],
                   components: str | None) -> None:
    """The rows of the parts, part after part (one in memory at a time), to one Parquet
    file: the frame's rows in order, or the groups in order."""
    import pyarrow.parquet as pq

    shape = _shape([pl.scan_parquet(p) for p in parts])
    writer = None
    try:
        todo: list[Path | None] = [*parts] or [None]
        for path in todo:
            if path is None:
                frame = _finish_rows(df.clear(), [], components, shape)
            else:
                part = pl.read_parquet(path)
                rows = df[part.get_column("group").to_numpy()] if components is None else df
                frame = _finish_rows(rows, [_rows(part, components, shape)], components, shape)
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table.cast(writer.schema))
    finally:
        if writer is not None:
            writer.close()
