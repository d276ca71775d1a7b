"""Executors of :func:`s2sframe.map_segments`: the shared spawn pool and the inline one."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any

from ..exceptions import ProcessingError
from .worker import THREAD_VARS, _init_worker, _worker_pid

__all__ = ["shutdown_workers"]


class _InlineExecutor(cf.Executor):
    """Runs tasks in the calling thread (``workers=0`` or ``1``: easy debugging)."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> cf.Future:  # type: ignore[override]
        fut: cf.Future = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - KeyboardInterrupt propagates
            fut.set_exception(exc)
        return fut


_POOL: dict[str, Any] = {"pool": None, "workers": 0}
_POOL_LOCK = threading.Lock()


@contextlib.contextmanager
def _worker_environment() -> Iterator[None]:
    """Spawned children read thread settings (e.g. POLARS_MAX_THREADS) at import."""
    saved = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update(THREAD_VARS)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _shared_pool(workers: int) -> cf.ProcessPoolExecutor:
    """The spawn process pool of this process, kept between runs (spawning costs ~1 s)."""
    import multiprocessing

    with _POOL_LOCK:
        pool = _POOL["pool"]
        if pool is not None and _POOL["workers"] == workers and not getattr(pool, "_broken", False):
            return pool
        if pool is not None:
            _stop(pool)
        with _worker_environment():
            pool = cf.ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
            )
            # start every process now, in this environment
            started = [pool.submit(_worker_pid) for _ in range(workers)]
        try:
            for fut in started:
                fut.result()
        except cf.BrokenExecutor as exc:
            _stop(pool)
            raise ProcessingError(
                "The worker processes could not start. If this runs from a script, put the "
                "code that calls map_segments under `if __name__ == \"__main__\":` (worker "
                "processes are spawned and import the script); see the errors printed above"
            ) from exc
        _POOL.update(pool=pool, workers=workers)
        if not _POOL.get("atexit"):
            import atexit

            atexit.register(shutdown_workers)  # before interpreter teardown
            _POOL["atexit"] = True
        return pool


def _stop(pool: cf.ProcessPoolExecutor) -> None:
    """Shut a pool down now, terminating busy workers."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in processes:
        with contextlib.suppress(Exception):
            p.terminate()


def _drop_pool(pool: cf.Executor) -> None:
    with _POOL_LOCK:
        if _POOL["pool"] is pool:
            _POOL.update(pool=None, workers=0)
    if isinstance(pool, cf.ProcessPoolExecutor):
        _stop(pool)


def shutdown_workers() -> None:
    """Stop the worker processes kept by :func:`map_segments` between runs.

    They are also stopped when Python exits; call this to free their memory
    earlier (e.g. in a long-lived notebook).

    Examples
    --------
    >>> import s2sframe
    >>> s2sframe.shutdown_workers()
    """
    with _POOL_LOCK:
        pool = _POOL["pool"]
        _POOL.update(pool=None, workers=0)
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)


def _is_crash(exc: BaseException) -> bool:
    """True for executor errors meaning "the process running the task died"."""
    return isinstance(exc, cf.BrokenExecutor) or type(exc).__name__ in (
        "KilledWorker", "WorkerLost", "CommClosedError"
    )
