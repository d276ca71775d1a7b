"""Worker side of :func:`s2sframe.map_segments`: what runs in the worker processes.

:func:`_run_chunk` (the task): open a read-only DB connection once per run,
fetch the chunk's waveform bytes in ONE query, call the function on each
segment, return a small Polars frame (``id`` + result columns + error column).
Also here: the job sent to workers, thread limits, the parent watch, and the
conversion of results to columns (with repair of values that fit no dtype).

Everything the pool pickles by reference (:func:`_init_worker`,
:func:`_worker_pid`, :func:`_run_chunk`, the dataclasses) is at module level.
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from ..db import urls as _db
from ..exceptions import SkipSegment
from .segment import DBSource, _describe, make_segments

#: Environment of worker processes: one thread per library, so N workers use N cores.
THREAD_VARS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "POLARS_MAX_THREADS": "1",
}
_ID = "id"


# --------------------------------------------------------------------------- jobs
class _SecretURL:
    """A database URL that travels to workers in memory and never prints its password."""

    __slots__ = ("_text",)

    def __init__(self, url: URL) -> None:
        self._text = url.render_as_string(hide_password=False)

    def get(self) -> URL:
        return make_url(self._text)

    def __repr__(self) -> str:
        return f"<URL {_db.mask_url(self._text)}>"


@dataclass
class _Job:
    """What every chunk of one run needs (cloudpickled once per run)."""

    run_id: str
    func: Callable[[Any], Any]
    url: _SecretURL
    name: str
    errors: str
    skip: tuple[type[BaseException], ...]
    dtypes: dict[str, pl.DataType]
    error_column: str


@dataclass
class _Failure:
    segment_id: int
    message: str
    traceback: str
    exception: bytes | None


@dataclass
class _ChunkResult:
    frame: pl.DataFrame
    skipped: int = 0
    failed: int = 0
    failure: _Failure | None = None


# ------------------------------------------------------------------ worker side
class _WorkerState:
    """Per-process caches, reset when a new run starts (new ``run_id``)."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.job: _Job | None = None
        self.engines: dict[str, sa.engine.Engine] = {}
        self.inventories: Any = None
        self.limited = False

    def start(self, run_id: str, job: _Job | bytes) -> _Job:
        if run_id != self.run_id or self.job is None:
            for engine in self.engines.values():
                engine.dispose()
            self.engines.clear()
            from ..decode import InventoryCache

            self.inventories = InventoryCache()
            if isinstance(job, bytes):
                import cloudpickle

                job = cloudpickle.loads(job)
            self.job = job  # type: ignore[assignment]
            self.run_id = run_id
        assert self.job is not None
        return self.job

    def engine(self, url: _SecretURL) -> sa.engine.Engine:
        key = url._text
        engine = self.engines.get(key)
        if engine is None:
            engine = self.engines[key] = _db.get_engine(url.get(), readonly=True)
        return engine


_STATE = _WorkerState()


def _limit_threads() -> None:
    if _STATE.limited:
        return
    _STATE.limited = True
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=1)
    except Exception:  # noqa: BLE001 - threadpoolctl is optional
        pass


def _watch_parent() -> None:
    """Exit this worker as soon as its parent dies (SIGKILL leaves no orphans)."""
    import multiprocessing
    from multiprocessing.connection import wait

    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(3)

    threading.Thread(target=watch, name="s2s-parent-watch", daemon=True).start()


def _init_worker() -> None:
    """Initializer of our spawn pool's processes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    os.environ.update(THREAD_VARS)
    _limit_threads()
    _watch_parent()


def _worker_pid() -> int:
    return os.getpid()


def _run_chunk(run_id: str, job_bytes: bytes, chunk: pl.DataFrame) -> _ChunkResult:
    """Task run in workers: process the segments of ``chunk`` (a slice of the frame)."""
    _limit_threads()
    job = _STATE.start(run_id, job_bytes)
    return _process(job, chunk, _STATE)


def _process(job: _Job, chunk: pl.DataFrame, state: _WorkerState) -> _ChunkResult:
    source = DBSource(job.url.get(), inventories=state.inventories, engine=state.engine(job.url))
    ids: list[int] = chunk.get_column(_ID).to_list()
    source.load(ids)
    segments: list[Any] = make_segments(chunk, source)
    n = len(ids)
    results: list[Any] = [None] * n
    errors: list[str | None] = [None] * n
    skipped = failed = 0
    func, skip = job.func, (SkipSegment, *job.skip)
    for i in range(n):
        try:
            results[i] = func(segments[i])
        except skip as exc:
            errors[i] = _describe(exc)
            skipped += 1
        except Exception as exc:
            if job.errors == "raise":
                return _ChunkResult(
                    pl.DataFrame(), failure=_Failure(
                        ids[i], _describe(exc), traceback.format_exc(), _try_pickle(exc)
                    )
                )
            errors[i] = _describe(exc)
            failed += 1
        segments[i] = None  # drop the decoded stream now
    frame, bad = _result_frame(ids, results, errors, job)
    return _ChunkResult(frame, skipped, failed + bad)


def _try_pickle(exc: BaseException) -> bytes | None:
    try:
        import cloudpickle

        data = cloudpickle.dumps(exc)
        cloudpickle.loads(data)
        return data
    except Exception:  # noqa: BLE001
        return None


# ------------------------------------------------------------- results to columns
def _plain(value: Any) -> Any:
    """NumPy values to Python ones Polars infers reliably (arrays -> lists)."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None and not isinstance(value, (str, bytes)):
        return tolist()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _series(name: str, values: list, dtype: pl.DataType | None) -> pl.Series:
    try:
        return pl.Series(name, values, dtype=dtype, strict=dtype is not None)
    except (Exception, BaseException) as exc:  # pyo3 panics are BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return pl.Series(name, [None] * len(values), dtype=pl.Object)


def _storable(series: pl.Series) -> bool:
    return series.dtype != pl.Object


def _result_frame(
    ids: list[int], results: list[Any], errors: list[str | None], job: _Job
) -> tuple[pl.DataFrame, int]:
    """Columns of the results of one chunk; values that fit no column become errors."""
    n = len(ids)
    columns: dict[str, list] = {}
    for i, res in enumerate(results):
        if res is None:
            continue
        items = res.items() if isinstance(res, Mapping) else ((job.name, res),)
        for key, value in items:
            col = columns.get(str(key))
            if col is None:
                col = columns[str(key)] = [None] * n
            col[i] = _plain(value)
    bad = 0
    out = [pl.Series(_ID, ids, dtype=pl.Int64)]
    for key, values in columns.items():
        dtype = job.dtypes.get(key)
        series = _series(key, values, dtype)
        if not _storable(series):
            series, rows = _repair(key, values, dtype)
            for i in rows:
                if errors[i] is None:
                    bad += 1
                kind = type(results[i].get(key) if isinstance(results[i], Mapping) else results[i])
                errors[i] = (
                    f"TypeError: {job.name} returned a {kind.__name__} for column {key!r} "
                    "that cannot be stored with the other values of that column"
                )
        out.append(series)
    for key, dtype in job.dtypes.items():
        if key not in columns:
            out.append(pl.Series(key, [None] * n, dtype=dtype))
    out.append(pl.Series(job.error_column, errors, dtype=pl.String))
    return pl.DataFrame(out), bad


def _repair(key: str, values: list, dtype: pl.DataType | None) -> tuple[pl.Series, list[int]]:
    """Null the values that do not fit the column type of the first storable value."""
    target = dtype
    bad: list[int] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        one = _series(key, [v], target)
        if not _storable(one) or (target is not None and one.dtype != target):
            bad.append(i)
        elif target is None:
            target = one.dtype
    rejected = set(bad)
    kept = [None if i in rejected else v for i, v in enumerate(values)]
    return _series(key, kept, target), bad

