"""``map_segments``: run a function over the segments of a frame, in parallel.

Parent side (this process)::

    frame ─► order rows by station ─► chunks of rows ─► executor (spawn pool by
    default, or any concurrent.futures.Executor) ─► result frames ─► parts on disk
    (``output=``) ─► input columns + result columns, in input order

Worker side (:func:`s2sframe.engine.worker._run_chunk`): open a read-only DB connection once per run,
fetch the chunk's waveform bytes in ONE query, call the function on each
segment, return a small Polars frame (``id`` + result columns + error column).
The parent never sees waveform bytes.

Robustness: a worker process that dies (segfault, ``os._exit``, OOM kill) breaks
the pool; the chunks in flight are then retried one segment at a time, alone in
a fresh pool, and a segment that kills its worker again is recorded as failed.

Modules: this one (``map_segments``, planning, the run loop), :mod:`.worker`
(worker side, results to columns), :mod:`.pool` (executors),
:mod:`.output` (the ``output=`` file, resume, final frame), :mod:`.parts`
(crash-safe part files).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import os
import sys
import uuid
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any, Literal

import numpy as np
import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..db import schema as S
from ..db import urls as _db
from ..exceptions import ProcessingError
from .output import _assemble, _Parts
from .pool import _drop_pool, _InlineExecutor, _is_crash, _shared_pool, shutdown_workers
from .worker import (
    _ID,
    _ChunkResult,
    _describe,
    _Job,
    _process,
    _run_chunk,
    _SecretURL,
    _WorkerState,
)

__all__ = ["map_segments", "shutdown_workers"]

logger = logging.getLogger("s2sframe")

DIED = (
    "WorkerDied: the worker process died while processing this segment "
    "(crash, os._exit or out of memory), also when retried alone"
)


@dataclass
class _Chunk:
    positions: np.ndarray  # rows of the input frame (a view of the run's order array)
    single: bool = False  # a retry of one segment, alone in the pool


@dataclass
class _Tally:
    done: int = 0
    skipped: int = 0
    failed: int = 0
    resumed: int = 0
    frames: list[tuple[int, pl.DataFrame]] = field(default_factory=list)
    decoded: Counter[str] = field(default_factory=Counter)


class _Run:
    """One ``map_segments`` call on the parent side."""

    def __init__(
        self, df: pl.DataFrame, job: _Job, executor: cf.Executor | None, workers: int,
        output: _Parts | None, bar: Any,
    ) -> None:
        self.df = df
        self.job = job
        self.user_executor = executor
        self.workers = workers
        self.inline = executor is None and workers <= 1
        self.output = output
        self.bar = bar
        self.tally = _Tally()
        self.state = _WorkerState() if self.inline else None
        if self.inline:
            self.job_bytes = b""
        else:
            import cloudpickle

            self.job_bytes = cloudpickle.dumps(job)

    def executor(self) -> cf.Executor:
        if self.inline:
            return _InlineExecutor()
        if self.user_executor is not None:
            return self.user_executor
        return _shared_pool(self.workers)

    def submit(self, chunk: _Chunk) -> tuple[cf.Future, cf.Executor]:
        frame = self.df[chunk.positions]
        for attempt in (0, 1):
            exe = self.executor()
            try:
                if self.inline:
                    return exe.submit(self._inline, frame), exe
                return exe.submit(_run_chunk, self.job.run_id, self.job_bytes, frame), exe
            except cf.BrokenExecutor:
                if attempt or not self.broken(exe):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _inline(self, frame: pl.DataFrame) -> _ChunkResult:
        assert self.state is not None
        return _process(self.state.start(self.job.run_id, self.job), frame, self.state)

    def broken(self, exe: cf.Executor) -> bool:
        """A worker died: True if we can go on (our pool: replaced by a fresh one)."""
        if exe is self.user_executor:
            if isinstance(exe, cf.ProcessPoolExecutor):
                raise ProcessingError(
                    "A worker process of the given ProcessPoolExecutor died and the executor is "
                    "now unusable: pass workers=N instead of executor= to let s2sframe replace "
                    "dead workers"
                )
            return True  # e.g. dask replaces dead workers itself
        _drop_pool(exe)
        return True

    def run(self, chunks: deque[_Chunk], max_inflight: int) -> None:
        retry: deque[_Chunk] = deque()
        inflight: dict[cf.Future, tuple[_Chunk, cf.Executor]] = {}
        try:
            while chunks or retry or inflight:
                if retry:  # isolated retries: one segment at a time, nothing else running
                    if not inflight:
                        chunk = retry.popleft()
                        fut, exe = self.submit(chunk)
                        inflight[fut] = (chunk, exe)
                else:
                    while chunks and len(inflight) < max_inflight:
                        chunk = chunks.popleft()
                        fut, exe = self.submit(chunk)
                        inflight[fut] = (chunk, exe)
                if not inflight:
                    continue
                done, _ = cf.wait(list(inflight), return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    chunk, exe = inflight.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        self.collect(chunk, fut.result())
                    elif _is_crash(exc):
                        self.broken(exe)
                        if chunk.single:
                            self.record_died(chunk)
                        else:
                            retry.extend(
                                _Chunk(chunk.positions[i:i + 1], single=True)
                                for i in range(len(chunk.positions))
                            )
                    else:
                        raise ProcessingError(
                            f"{self.job.name}: a task failed outside the function: {_describe(exc)}"
                        ) from exc
        except BaseException:
            for fut in inflight:
                fut.cancel()
            if not self.inline and self.user_executor is None:
                for exe in {id(e): e for _, e in inflight.values()}.values():
                    _drop_pool(exe)  # stop busy workers now (Ctrl-C, errors="raise")
            raise

    def collect(self, chunk: _Chunk, res: _ChunkResult) -> None:
        if res.failure is not None:
            f = res.failure
            err = ProcessingError(
                f"{self.job.name} failed on segment {f.segment_id}: {f.message}\n"
                f"(errors='raise'; pass errors='record' to record errors and go on)\n\n"
                f"Traceback in the worker:\n{f.traceback}",
                segment_id=f.segment_id,
            )
            cause = None
            if f.exception is not None:
                import cloudpickle

                with contextlib.suppress(Exception):
                    cause = cloudpickle.loads(f.exception)
            raise err from cause
        self.tally.decoded.update(res.decoded)
        self.add(int(chunk.positions.min()), res.frame, res.skipped, res.failed)

    def record_died(self, chunk: _Chunk) -> None:
        ids = self.df[_ID].gather(chunk.positions).to_list()
        frame = pl.DataFrame(
            [pl.Series(_ID, ids, dtype=pl.Int64),
             pl.Series(self.job.error_column, [DIED] * len(ids), dtype=pl.String)]
        )
        self.add(int(chunk.positions.min()), frame, 0, len(ids))

    def add(self, key: int, frame: pl.DataFrame, skipped: int, failed: int) -> None:
        t = self.tally
        t.done += frame.height
        t.skipped += skipped
        t.failed += failed
        if self.output is not None:
            self.output.write(key, frame)
        else:
            t.frames.append((key, frame))
        self.bar.update(frame.height)



# ------------------------------------------------------------------ planning
def _station_ids(df: pl.DataFrame, url: URL) -> pl.Series:
    """Station id of every row (from ``station.id`` or the database), for grouping."""
    if "station.id" in df.columns:
        return df.get_column("station.id").cast(pl.Int64)
    seg, cha = S.segments, S.channels
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


def _chunks(order: np.ndarray, size: int) -> deque[_Chunk]:
    return deque(_Chunk(order[i:i + size]) for i in range(0, len(order), size))


def _name_of(func: Callable) -> str:
    inner = getattr(func, "func", func)  # functools.partial
    name = getattr(inner, "__name__", None) or type(inner).__name__
    return "result" if name == "<lambda>" else name


def _resolve_workers(workers: int | None) -> int:
    if workers is None:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            return os.cpu_count() or 1
    if workers < 0:
        raise ValueError(f"workers must be >= 0, not {workers}")
    return workers


def _validate(df: pl.DataFrame, errors: str, skip_exceptions: Any) -> tuple:
    if _ID not in df.columns:
        raise ValueError("map_segments needs the segment 'id' column in the frame")
    if not df.schema[_ID].is_integer():
        raise ValueError(f"the 'id' column must hold integers, not {df.schema[_ID]}")
    if df.height and df.get_column(_ID).null_count():
        raise ValueError("the 'id' column has nulls")
    if df.height != df.get_column(_ID).n_unique():
        raise ValueError("the 'id' column has duplicates: each segment once, please")
    if errors not in ("record", "raise"):
        raise ValueError(f"errors must be 'record' or 'raise', not {errors!r}")
    if isinstance(skip_exceptions, type):
        skip_exceptions = (skip_exceptions,)
    skip = tuple(skip_exceptions or ())
    for exc in skip:
        if not (isinstance(exc, type) and issubclass(exc, BaseException)):
            raise TypeError(f"skip_exceptions must be exception classes, not {exc!r}")
    return skip


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
        Segments per task (default: up to 500, at least 4 tasks per worker).
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
        Parquet file of the final frame. Results are saved as they complete in
        ``<output>.parts/``: after a crash or Ctrl-C the same call computes only
        the missing segments; the final file equals an uninterrupted run's.
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
    ┌─────┬──────────────┬──────┬───────────┐
    │ id  ┆ seed_id      ┆ amp  ┆ s2s_error │
    │ --- ┆ ---          ┆ ---  ┆ ---       │
    │ i64 ┆ str          ┆ i64  ┆ str       │
    ╞═════╪══════════════╪══════╪═══════════╡
    │ 1   ┆ GE.WCBO..HHZ ┆ 4199 ┆ null      │
    │ 2   ┆ GE.WCBO..HHN ┆ 5151 ┆ null      │
    │ 3   ┆ GE.WCBO..HHE ┆ 5150 ┆ null      │
    └─────┴──────────────┴──────┴───────────┘
    """
    if isinstance(df, pl.LazyFrame):
        df = df.collect()
    if not callable(func):
        raise TypeError(f"func must be callable, not {type(func).__name__}")
    skip = _validate(df, errors, skip_exceptions)
    url = _db.default_url(dburl)
    nworkers = _resolve_workers(workers)
    name = _name_of(func)
    dtypes = {str(k): v for k, v in (return_dtypes or {}).items()}
    job = _Job(uuid.uuid4().hex, func, _SecretURL(url), name, errors, skip, dtypes, error_column)

    parts = None
    if output is not None:
        out_path = Path(output)
        parts = _Parts(out_path, job)
        if out_path.exists() and not parts.dir.exists():
            previous = pl.read_parquet(out_path)
            if _ID in previous.columns and previous.get_column(_ID).equals(df.get_column(_ID)):
                if progress:
                    print(f"{name}: {out_path} already complete; nothing to compute", file=sys.stderr)
                return previous
            raise FileExistsError(
                f"{out_path} exists and holds other segments: delete it or choose another path"
            )
        parts.open()

    positions = pl.DataFrame({
        "pos": pl.int_range(df.height, dtype=pl.Int64, eager=True),
        "station": _station_ids(df, url) if df.height else pl.Series([], dtype=pl.Int64),
        _ID: df.get_column(_ID).cast(pl.Int64),
    })
    resumed = 0
    if parts is not None:
        done = parts.done_ids()
        if len(done):
            is_done = positions.get_column(_ID).is_in(done.implode())
            resumed = int(is_done.sum())
            positions = positions.filter(~is_done)
    order = positions.sort(["station", "pos"], nulls_last=True).get_column("pos").to_numpy()
    width = max(nworkers, 1) if executor is None else max(nworkers, 2)
    size = chunksize or max(1, min(500, -(-len(order) // (width * 4))))
    chunks = _chunks(order, size)

    from tqdm.auto import tqdm

    bar = tqdm(
        total=df.height, initial=resumed, unit="seg", desc=name, disable=not progress,
        dynamic_ncols=True, smoothing=0.05,
    )
    run = _Run(df, job, executor, nworkers, parts, bar)
    run.tally.resumed = resumed
    t0 = perf_counter()
    try:
        run.run(chunks, max_inflight=2 * width)
    finally:
        bar.close()
    frames = parts.frames() if parts is not None else run.tally.frames
    final = _assemble(df, frames, job)
    if parts is not None:
        parts.finish(final)
    _summary(run.tally, df.height, name, perf_counter() - t0, progress)
    return final


def _summary(t: _Tally, total: int, name: str, seconds: float, show: bool) -> None:
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
    logger.info(line)
    if show:
        print(line, file=sys.stderr)
