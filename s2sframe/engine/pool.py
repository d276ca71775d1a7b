"""Executors of :func:`s2sframe.map_segments`: the spawn worker pools and the inline one.

A run leases a pool (:class:`_Lease`) for its whole life: the shared pool of this
process when it is free and of the right size (kept between runs: starting
workers costs ~1 s), else a private pool of its own, stopped when the run ends.
So runs in concurrent threads never restart, resize or break each other's
workers. A pool whose worker died is replaced by its run only.
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import sys
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


# ------------------------------------------------------------------- starting workers
_SPAWN_LOCK = threading.Lock()  # os.environ and __main__.__file__ are set while spawning


def _main_file() -> str | None:
    """The script that spawned workers run again as ``__mp_main__``, if a real file."""
    main = sys.modules.get("__main__")
    if main is None or getattr(getattr(main, "__spec__", None), "name", None):
        return None
    path = getattr(main, "__file__", None)
    return path if path and os.path.isfile(path) else None


@contextlib.contextmanager
def _spawn_environment() -> Iterator[None]:
    """What a spawned worker must start with.

    - thread settings read at import (e.g. POLARS_MAX_THREADS): in its environment;
    - a ``__main__`` that is no file (``python - <<EOF``, ``cat job.py | python``):
      hidden, or the worker tries to run the file ``<stdin>`` (the user function
      travels by value: the worker needs nothing of the script).
    """
    main = sys.modules.get("__main__")
    hide = main is not None and hasattr(main, "__file__") and _main_file() is None \
        and not getattr(getattr(main, "__spec__", None), "name", None)
    with _SPAWN_LOCK:
        saved = {k: os.environ.get(k) for k in THREAD_VARS}
        os.environ.update(THREAD_VARS)
        hidden = main.__dict__.pop("__file__") if hide else None  # type: ignore[union-attr]
        try:
            yield
        finally:
            if hide:
                main.__file__ = hidden  # type: ignore[union-attr]
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class _SpawnProcess(multiprocessing.get_context("spawn").Process):  # type: ignore[name-defined,misc]
    def start(self) -> None:
        with _spawn_environment():
            super().start()


class _SpawnContext(type(multiprocessing.get_context("spawn"))):  # type: ignore[misc]
    """The spawn context, every worker started in :func:`_spawn_environment`."""

    Process = _SpawnProcess


def _missing_guard(path: str) -> bool:
    """True if the script ``path`` has no top-level ``if __name__ == "__main__":``."""
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())  # noqa: SIM115
    except (OSError, SyntaxError, ValueError):
        return False
    for node in tree.body:
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test) \
                and "__main__" in ast.unparse(node.test):
            return False
    return True


def _start_failed(exc: BaseException) -> ProcessingError:
    path = _main_file()
    if path is not None and _missing_guard(path):
        hint = (f"each worker imports {path} again, and its top-level code starts workers "
                "in turn: put the code that calls map_segments (or imap/process) under "
                "`if __name__ == \"__main__\":`")
    elif path is not None:
        hint = f"each worker imports {path} again (as __mp_main__), and that failed"
    else:
        hint = "they failed at start-up"
    return ProcessingError(
        f"The worker processes could not start: {hint}; see the errors printed above"
    )


class _Pool:
    """N spawned worker processes (a ProcessPoolExecutor) and how many runs use them."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.users = 0
        self.retired = False
        self.executor = cf.ProcessPoolExecutor(
            workers, mp_context=_SpawnContext(), initializer=_init_worker
        )
        try:  # start every process now, and fail here if they cannot start
            for fut in [self.executor.submit(_worker_pid) for _ in range(workers)]:
                fut.result()
        except cf.BrokenExecutor as exc:
            self.stop()
            raise _start_failed(exc) from exc

    @property
    def broken(self) -> bool:
        return bool(getattr(self.executor, "_broken", False))

    def stop(self) -> None:
        """Shut down now, terminating busy workers."""
        # ProcessPoolExecutor has no public way to stop busy workers before Python 3.14
        processes = list((getattr(self.executor, "_processes", None) or {}).values())
        self.executor.shutdown(wait=False, cancel_futures=True)
        for p in processes:
            with contextlib.suppress(Exception):
                p.terminate()


# ------------------------------------------------------------------ leasing pools
_SHARED: dict[str, _Pool | None] = {"pool": None}
_LOCK = threading.Lock()
_ATEXIT: list[bool] = []


class _Lease:
    """The worker pool of one run (possibly spanning several batches).

    ``executor()`` gives the pool; ``replace()`` after one of its workers died;
    ``release()`` when the run ends. The shared pool serves one run at a time.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: _Pool | None = None

    def executor(self) -> cf.Executor:
        if self.pool is None:
            self.pool = self._acquire()
        return self.pool.executor

    def _acquire(self) -> _Pool:
        with _LOCK:
            shared = _SHARED["pool"]
            if shared is not None and shared.users == 0 and (
                shared.workers != self.workers or shared.broken
            ):
                _SHARED["pool"] = None
                shared.stop()
                shared = None
            if shared is None:
                shared = _SHARED["pool"] = _Pool(self.workers)
                if not _ATEXIT:
                    import atexit

                    atexit.register(shutdown_workers)  # before interpreter teardown
                    _ATEXIT.append(True)
            if shared.users == 0:
                shared.users = 1
                return shared
        return _Pool(self.workers)  # the shared pool is busy with another run

    def replace(self) -> None:
        """Stop this run's pool (a worker died); the next ``executor()`` starts a new one."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        with _LOCK:
            if _SHARED["pool"] is pool:
                _SHARED["pool"] = None
        pool.stop()

    def release(self, stop: bool = False) -> None:
        """The run ended; ``stop``: stop busy workers too (Ctrl-C, errors="raise")."""
        pool, self.pool = self.pool, None
        if pool is None:
            return
        with _LOCK:
            if _SHARED["pool"] is pool and not stop and not pool.retired:
                pool.users = 0
                return
            if _SHARED["pool"] is None and not stop and not pool.broken and not pool.retired:
                _SHARED["pool"] = pool  # a private pool: keep it for the next run
                return
            if _SHARED["pool"] is pool:
                _SHARED["pool"] = None
        pool.stop()


def shutdown_workers() -> None:
    """Stop the worker processes kept by :func:`map_segments` between runs.

    They are also stopped when Python exits; call this to free their memory
    earlier (e.g. in a long-lived notebook). A run in progress in another
    thread keeps its workers until it ends.

    Examples
    --------
    >>> import s2sframe
    >>> s2sframe.shutdown_workers()
    """
    with _LOCK:
        pool = _SHARED["pool"]
        _SHARED["pool"] = None
        if pool is not None and pool.users:
            pool.retired = True  # stopped when its run releases it
            return
    if pool is not None:
        pool.executor.shutdown(wait=True, cancel_futures=True)


def _is_crash(exc: BaseException) -> bool:
    """True for executor errors meaning "the process running the task died"."""
    return isinstance(exc, cf.BrokenExecutor) or type(exc).__name__ in (
        "KilledWorker", "WorkerLost", "CommClosedError"
    )
