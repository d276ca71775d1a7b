"""``map_segments``: run a function over the segments of a frame, in parallel.

Parent side (this process)::

    frame ─► order rows by station ─► chunks of rows ─► executor (worker pool by
    default, or any concurrent.futures.Executor) ─► result frames ─► parts on disk
    (``output=``) ─► input columns + result columns, in input order

Worker side (:func:`s2sframe.engine.worker._run_chunk`): open a read-only DB connection once per run,
fetch the chunk's waveform bytes in ONE query, call the function on each
segment, return a small Polars frame (``id`` + result columns + error column).
The parent never sees waveform bytes.

A run (:class:`MapRun`) may span several frames (``imap``/``process`` batches):
one run id, so workers keep their database engines and parsed inventories, one
leased worker pool, one count of worker deaths.

Modules: this one (``map_segments``, the run, planning), :mod:`.loop` (chunks in
flight, crashes, results), :mod:`.worker` (worker side, results to columns),
:mod:`.pool` (executors), :mod:`.output` (the ``output=`` file, resume, final
frame), :mod:`.parts` (crash-safe part files).
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import os
import sys
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from time import perf_counter
from typing import Any, Literal

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..db import schema
from ..db import urls as _db
from ..decode.invshare import SharedInventories
from .functions import _code_files, _import_paths, _name_of, check_function
from .loop import BatchRun, BatchTally, _Chunk, _Deaths, _Sharing
from .output import _assemble, _Parts
from .owner import function_fingerprint, ids_fingerprint
from .pool import _Lease, shutdown_workers
from .status import LockWatch, Status
from .warncount import WarningKey, merge, warning_lines
from .worker import _ID, WorkerJob, _SecretURL, _WorkerState

__all__ = ["map_segments", "shutdown_workers"]

logger = logging.getLogger("s2sframe")


# ------------------------------------------------------------------ planning
def _station_ids(df: pl.DataFrame, url: URL) -> pl.Series:
    """Station id of every row (from ``station.id`` or the database), for grouping."""
    if "station.id" in df.columns:
        return df.get_column("station.id").cast(pl.Int64)
    seg, cha = schema.segments, schema.channels
    query = (
        sa.select(seg.c.id, cha.c.station_id)
        .join(cha, cha.c.id == seg.c.channel_id)
        .where(seg.c.id.in_(sa.bindparam("ids", expanding=True)))
    )
    ids = df.get_column(_ID).to_list()
    found: dict[int, int] = {}
    engine = _db.get_engine(url, readonly=True)
    with engine.connect() as conn:
        for start in range(0, len(ids), 5000):
            found.update((sid, sta) for sid, sta in conn.execute(query, {"ids": ids[start:start + 5000]}))
    return pl.Series("station.id", [found.get(i) for i in ids], dtype=pl.Int64)


def station_chunks(stations: np.ndarray, size: int) -> tuple[list[tuple[int, int]], set[int]]:
    """Cut rows ordered by station into chunks of at most ``size`` rows, at station changes.

    A chunk ends at the last station change among its ``size`` rows when that leaves
    it at least half full, so that a station's segments go to one worker (which
    parses its StationXML once); a station with more rows than that is cut.

    Parameters
    ----------
    stations : numpy.ndarray
        Station id of each row, rows grouped by station (NaN: no station, each such
        row on its own).
    size : int
        Maximum rows per chunk.

    Returns
    -------
    bounds : list of (start, stop)
        Row ranges of the chunks, in order.
    split : set of int
        Stations whose rows span several chunks.

    Examples
    --------
    >>> import numpy as np
    >>> station_chunks(np.array([1, 1, 1, 2, 2, 3, 3, 3, 3, 3, 3, 4]), 4)
    ([(0, 3), (3, 5), (5, 9), (9, 12)], {3})
    """
    n = len(stations)
    changes = np.flatnonzero(stations[1:] != stations[:-1]) + 1
    bounds: list[tuple[int, int]] = []
    start = 0
    while start < n:
        stop = min(start + size, n)
        if stop < n:
            last = int(np.searchsorted(changes, stop, side="right")) - 1
            if last >= 0 and changes[last] - start >= max(1, (size + 1) // 2):
                stop = int(changes[last])
        bounds.append((start, stop))
        start = stop
    split = {int(stations[stop]) for _, stop in bounds[:-1] if stations[stop - 1] == stations[stop]}
    return bounds, split


def resolve_workers(workers: int | None) -> int:
    """Worker processes of a run: ``None`` means the CPUs this process may use."""
    if workers is None:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            return os.cpu_count() or 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0, not {workers!r}")
    return workers


def skip_tuple(skip_exceptions: Any) -> tuple[type[BaseException], ...]:
    """``skip_exceptions`` (a class, a sequence of classes or None) as a tuple of classes."""
    if skip_exceptions is None:
        return ()
    if isinstance(skip_exceptions, type):
        skip_exceptions = (skip_exceptions,)
    skip = tuple(skip_exceptions)
    for exc in skip:
        if not (isinstance(exc, type) and issubclass(exc, BaseException)):
            raise TypeError(f"skip_exceptions must be exception classes, not {exc!r}")
    return skip


def chunk_size(total: int, workers: int, chunksize: int | None = None, cap: int = 500) -> int:
    """Segments per task: ``chunksize``, else up to ``cap`` with >= 4 tasks per worker."""
    if chunksize is not None:
        if isinstance(chunksize, bool) or not isinstance(chunksize, int) or chunksize < 1:
            raise ValueError(f"chunksize must be a positive integer, not {chunksize!r}")
        return chunksize
    return max(1, min(cap, -(-total // (max(workers, 1) * 4))))


def validate_frame(df: pl.DataFrame) -> None:
    if _ID not in df.columns:
        raise ValueError("map_segments needs the segment 'id' column in the frame")
    if not df.schema[_ID].is_integer():
        raise ValueError(f"the 'id' column must hold integers, not {df.schema[_ID]}")
    if df.height and df.get_column(_ID).null_count():
        raise ValueError("the 'id' column has nulls")
    if df.height != df.get_column(_ID).n_unique():
        raise ValueError("the 'id' column has duplicates: each segment once, please")


# ------------------------------------------------------------------------- the run
class MapRun:
    """A run of a function over one or more frames (``map`` per frame; ``close`` at the end).

    One run id for all frames (workers keep their caches), one pool lease, one
    count of worker deaths. ``total``: segments expected over all frames, for the
    deaths threshold.
    """

    def __init__(
        self, func: Callable[[Any], Any], *, workers: int | None = None,
        executor: cf.Executor | None = None, chunksize: int | None = None,
        errors: str = "record", skip_exceptions: Any = (),
        return_dtypes: Mapping[str, pl.DataType] | None = None,
        dburl: str | URL | None = None, error_column: str = "s2s_error",
        total: int = 0, cap: int = 500, status: Status | None = None,
    ) -> None:
        check_function(func, 1, "func(segment)", (
            "map_segments calls the function with the segment only. For a function "
            "main(segment, config) use s2sframe.process.imap / process, or pass "
            "functools.partial(main, config=...)"))
        if errors not in ("record", "raise"):
            raise ValueError(f"errors must be 'record' or 'raise', not {errors!r}")
        skip = skip_tuple(skip_exceptions)
        self.workers = resolve_workers(workers)
        if chunksize is not None:
            chunk_size(0, 1, chunksize)  # validated now
        self.chunksize, self.cap = chunksize, cap
        self.url = _db.default_url(dburl)
        self.name = _name_of(func)
        self.user_executor = executor
        self.inline = executor is None and self.workers <= 1
        dtypes = {str(k): v for k, v in (return_dtypes or {}).items()}
        self.job = WorkerJob(uuid.uuid4().hex, func, _SecretURL(self.url), self.name, errors, skip,
                        dtypes, error_column)
        self.paths = () if self.inline else _import_paths(func)
        self.state = _WorkerState() if self.inline else None
        if self.inline:  # as workers do (:func:`.worker._init_worker`)
            from ..signal.obspy_plugins import cache_plugin_lookups

            cache_plugin_lookups()
        #: what the run waits for (workers starting, locks): on ``status``'s bar and log,
        #: else on the bar of each ``map`` and the "s2sframe" logger
        self.status = status if status is not None else Status(self.name)
        self.own_status = status is None
        self.lease = _Lease(self.workers, self.status) \
            if executor is None and not self.inline else None
        self.deaths = _Deaths(total)
        #: the warnings the function raised, counted over the run (:mod:`.warncount`)
        self.warnings: Counter[WarningKey] = Counter()
        self._job_bytes: bytes | None = None
        self._files: dict[tuple[str, int], str] | None = None
        self.total, self.seen = total, 0  # segments of the run, of its batches so far
        self.carry: int | None = None  # last station of the last batch, if shared
        self.sharing: _Sharing | None = None  # where workers share inventories

    def __enter__(self) -> MapRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """End the run: the pool is kept for the next run (or stopped if private)."""
        if self.lease is not None:
            self.lease.release()
        if self.sharing is not None:
            self.sharing.store.remove()
            self.sharing = None

    @property
    def job_bytes(self) -> bytes:
        if self.inline:
            return b""
        if self._job_bytes is None:
            import cloudpickle

            self._job_bytes = cloudpickle.dumps(self.job)
        return self._job_bytes

    def files(self, name: str, first: int) -> str | None:
        if self._files is None:
            self._files = _code_files(self.job.func)
        return self._files.get((name, first))

    def chunk_size(self, total: int) -> int:
        width = max(self.workers, 1) if self.user_executor is None else max(self.workers, 2)
        return chunk_size(total, width, self.chunksize, self.cap)

    def plan(self, order: np.ndarray, stations: np.ndarray, height: int) -> deque[_Chunk]:
        """The chunks of a batch of ``height`` rows (``order``: the rows to process,
        grouped by station, ``stations`` theirs), cut at station changes
        (:func:`station_chunks`). A station other chunks have too (of this batch, or
        at the edge of the previous or next batch) is shared by the workers that meet
        it through the run's folder (:class:`~s2sframe.decode.invshare.SharedInventories`):
        each StationXML is parsed once per run."""
        bounds, split = station_chunks(stations, self.chunk_size(len(order)))
        n = len(order)
        if n and self.carry is not None and stations[0] == self.carry:
            split.add(self.carry)
        self.seen += height
        self.carry = None
        if n and self.seen < self.total and not np.isnan(stations[-1]):  # more batches to come
            self.carry = int(stations[-1])
            split.add(self.carry)
        if self.inline:  # one process: its own cache is enough
            split = set()
        if split and self.sharing is None:
            self.sharing = _Sharing(SharedInventories.create())
        chunks: deque[_Chunk] = deque()
        for start, stop in bounds:
            edges = {stations[start], stations[stop - 1]}
            shared = tuple(sorted(int(s) for s in edges if not np.isnan(s) and int(s) in split))
            chunks.append(_Chunk(order[start:stop], shared=shared))
            if shared and self.sharing is not None:
                self.sharing.add(chunks[-1])
        if self.sharing is not None:
            self.sharing.keep = self.carry
        return chunks

    def map(self, df: pl.DataFrame, *, output: str | os.PathLike | None = None,
            overwrite: bool = False, progress: bool = True) -> pl.DataFrame:
        """Results of the function on the segments of ``df`` (see :func:`map_segments`)."""
        validate_frame(df)
        name, job = self.name, self.job
        self.deaths.total = max(self.deaths.total, df.height)
        parts = None
        if output is not None:
            parts = _Parts(output, {
                "producer": "map_segments",
                "function": function_fingerprint(job.func),
                "database": _db.mask_url(self.url),
                "segments": ids_fingerprint(df.get_column(_ID).to_numpy()),
                "settings": {"error_column": job.error_column,
                             "return_dtypes": {k: str(v) for k, v in sorted(job.dtypes.items())}},
            })
            previous = parts.open(overwrite)
            if previous is not None:
                parts.close()
                if progress:
                    print(f"{name}: {output} already complete; nothing to compute",
                          file=sys.stderr)
                order = df.select(pl.col(_ID).cast(previous.schema[_ID]))
                return order.join(previous, on=_ID, how="left", maintain_order="left")
        try:
            return self._run(df, parts, progress)
        finally:
            if parts is not None:
                parts.close()

    def _run(self, df: pl.DataFrame, parts: _Parts | None, progress: bool) -> pl.DataFrame:
        """Plan the chunks of ``df``, process them, assemble (and save) the final frame."""
        name, job = self.name, self.job
        positions = pl.DataFrame({
            "pos": pl.int_range(df.height, dtype=pl.Int64, eager=True),
            "station": _station_ids(df, self.url) if df.height else pl.Series([], dtype=pl.Int64),
            _ID: df.get_column(_ID).cast(pl.Int64),
        })
        resumed = 0
        if parts is not None:
            done = parts.done_ids()
            if len(done):
                is_done = positions.get_column(_ID).is_in(done.implode())
                resumed = int(is_done.sum())
                positions = positions.filter(~is_done)
        positions = positions.sort(["station", "pos"], nulls_last=True)
        chunks = self.plan(positions.get_column("pos").to_numpy(),
                           positions.get_column("station").to_numpy(), df.height)

        from tqdm.auto import tqdm

        bar = tqdm(
            total=df.height, initial=resumed, unit="seg", desc=name, disable=not progress,
            dynamic_ncols=True, smoothing=0.05,
        )
        if self.own_status:
            self.status.bar = bar
        run = BatchRun(df, job, (self.job_bytes, self.paths), self.user_executor, self.lease, self.state, parts,
                   bar, self.deaths, self.files, status=self.status, sharing=self.sharing)
        run.tally.resumed = resumed
        if resumed and parts is not None:
            for _, frame in parts.frames():  # what the previous runs returned, first
                run.types.add(frame)
        t0 = perf_counter()
        width = max(self.workers, 1) if self.user_executor is None else max(self.workers, 2)
        try:
            with LockWatch(self.url, self.status, _db.WORKER_APPLICATION_NAME):
                run.run(chunks, max_inflight=2 * width)
        finally:
            merge(self.warnings, run.tally.warnings)
            if self.own_status:
                self.status.bar = None
            bar.close()
        frames = parts.frames() if parts is not None else run.tally.frames
        final = _assemble(df, frames, job)
        if parts is not None:
            parts.finish(final)
        _summary(run.tally, df.height, name, perf_counter() - t0, progress,
                 self.warning_lines(run.tally.warnings))
        return final

    def warning_lines(self, counts: Counter[WarningKey] | None = None) -> list[str]:
        """Each distinct warning of the function once, with its count (default: the
        warnings of every ``map`` of this run)."""
        return warning_lines(self.warnings if counts is None else counts, self.files)


def map_segments(
    df: pl.DataFrame,
    func: Callable[[Any], Any],
    *,
    workers: int | None = None,
    executor: cf.Executor | None = None,
    chunksize: int | None = None,
    errors: Literal["record", "raise"] = "record",
    skip_exceptions: Sequence[type[BaseException]] | type[BaseException] = (),
    return_dtypes: Mapping[str, pl.DataType] | None = None,
    progress: bool = True,
    output: str | os.PathLike | None = None,
    overwrite: bool = False,
    dburl: str | URL | None = None,
    error_column: str = "s2s_error",
) -> pl.DataFrame:
    """Call ``func(segment)`` on every segment of ``df``, in parallel; results as columns.

    Parameters
    ----------
    df : polars.DataFrame
        Segments, one per row, with their ``id`` column (e.g. from
        :func:`s2sframe.scan`). Every column is an attribute of the segments.
    func : callable
        ``func(segment) -> result`` where ``segment`` is a :class:`s2sframe.Segment`.
        A dict gives one column per key; a scalar, NumPy array or list one column
        named after the function (``"result"`` for lambdas); None gives nulls.
        Functions defined in a notebook or in ``__main__`` work (sent by value).
    workers : int, optional
        Processes to use (default: the available cores). 0 or 1: run in this
        process, one segment after the other (handy with a debugger).
    executor : concurrent.futures.Executor, optional
        Run the chunks on this executor instead, e.g. ``dask.distributed``'s
        ``client.get_executor()`` to use many machines (with PostgreSQL).
    chunksize : int, optional
        Segments per task (default: up to 500, at least 4 tasks per worker). Tasks
        are cut where the station changes when that leaves them at least half full,
        so that a station's segments go to one worker.
    errors : {"record", "raise"}
        "record": any exception of ``func`` is recorded in the error column and the
        run goes on. "raise": only :class:`~s2sframe.SkipSegment` and
        ``skip_exceptions`` are recorded; any other exception aborts the run with a
        :class:`~s2sframe.ProcessingError` naming the segment id.
    skip_exceptions : exception class or tuple of them
        Recorded as "skipped" (like SkipSegment) rather than "failed".
    return_dtypes : dict, optional
        Polars dtypes of result columns (default: inferred from all results).
    progress : bool
        Show a progress bar (terminal or notebook) and print a summary line.
    output : str or path, optional
        Parquet file (``.parquet``) of the final frame. Results are saved as they
        complete in ``<output>.parts/``: after a crash, ``kill -9`` or Ctrl-C the
        same call computes only the missing segments; the final file equals an
        uninterrupted run's. One run at a time owns an output (another one is
        refused at once), and a call with another function, database or set of
        segments on the same path is refused (see docs/long_jobs.md).
    overwrite : bool
        Discard an existing ``output`` (and its partial results) and recompute.
    dburl : str, optional
        The database (default: the one ``df`` was scanned from).
    error_column : str
        Name of the column holding, per segment, null or ``"<ExceptionType>: <message>"``.

    Returns
    -------
    polars.DataFrame
        ``df`` (same rows, same order) with the result columns and the error column
        appended; result columns replace input columns of the same name.

    Raises
    ------
    ProcessingError
        With ``errors="raise"``, on the first exception that is not a skip.
    OutputError
        Before any work, when ``output`` is used by another run, was produced by a
        different run, is a folder, is not writable or does not end with .parquet.

    Examples
    --------
    >>> import os, tempfile, numpy as np, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> df = (s2sframe.scan(url).filter(s2sframe.where({"has_valid_data": "true"}))
    ...       .select("id", "seed_id").head(3).collect())
    >>> def amp(segment):
    ...     return {"amp": int(np.abs(segment.stream()[0].data).max())}
    >>> s2sframe.map_segments(df, amp, workers=0, progress=False, dburl=url)
    shape: (3, 4)
    ┌─────┬──────────────┬───────┬───────────┐
    │ id  ┆ seed_id      ┆ amp   ┆ s2s_error │
    │ --- ┆ ---          ┆ ---   ┆ ---       │
    │ i64 ┆ str          ┆ i64   ┆ str       │
    ╞═════╪══════════════╪═══════╪═══════════╡
    │ 2   ┆ GE.IPAX..HHN ┆ 9475  ┆ null      │
    │ 3   ┆ GE.IPAX..HHE ┆ 7924  ┆ null      │
    │ 4   ┆ IV.DBVZ..BHZ ┆ 10972 ┆ null      │
    └─────┴──────────────┴───────┴───────────┘
    """
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    with MapRun(
        func, workers=workers, executor=executor, chunksize=chunksize, errors=errors,
        skip_exceptions=skip_exceptions, return_dtypes=return_dtypes, dburl=dburl,
        error_column=error_column, total=df.height,
    ) as mapper:
        return mapper.map(df, output=output, overwrite=overwrite, progress=progress)


def _summary(t: BatchTally, total: int, name: str, seconds: float, show: bool,
             warned: list[str]) -> None:
    ok = t.done - t.skipped - t.failed
    rate = t.done / seconds if seconds > 0 else 0.0
    line = (
        f"{name}: {ok} of {t.done} segments processed, {t.skipped + t.failed} skipped/failed "
        f"({t.skipped} skipped, {t.failed} failed) in {seconds:.1f} s ({rate:.0f}/s)"
    )
    if t.resumed:
        line += f"; {t.resumed} of {total} done by a previous run"
    for kind, n in sorted(t.decoded.items()):
        line += f"; {kind}: {n}"
    if warned:
        line += f"\n{name} raised these warnings (each shown once, with its count):"
        line += "".join(f"\n  {w}" for w in warned)
    logger.info(line)
    if show:
        print(line, file=sys.stderr)
