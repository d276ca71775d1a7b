"""Executors of :func:`s2sframe.map_segments`: the worker pools (loky) and the inline one.

A run leases a pool (:class:`_Lease`) for its whole life: the shared pool of this
process when it is free and of the right size (kept between runs: starting
workers costs ~1 s), else a private pool of its own, stopped when the run ends.
So runs in concurrent threads never restart, resize or break each other's
workers. A pool whose worker died is replaced by its run only.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

from ..exceptions import ProcessingError, describe_error
from .status import Status
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
def _start_failed(exc: BaseException) -> ProcessingError:
    return ProcessingError(
        f"The worker processes could not start ({describe_error(exc)}); see the errors printed above"
    )


class _Pool:
    """N worker processes (a loky ProcessPoolExecutor) and how many runs use them.

    loky starts workers with fork+exec (never a bare fork: Polars forbids it),
    sets their environment before any import (one thread per library), never
    imports the ``__main__`` script in them (scripts without the ``__main__``
    guard, on stdin or in ``python -c`` work: functions travel by value), and
    stops busy workers on request.
    """

    def __init__(self, workers: int) -> None:
        import loky

        self.workers = workers
        self.users = 0
        self.retired = False
        context = loky.backend.get_context("loky")
        #: set: the workers return the chunks of the current run unfinished (see _Lease.abort)
        self.abort = context.Event()
        self.executor = loky.ProcessPoolExecutor(
            workers, context=context, initializer=_init_worker,
            initargs=(os.getpid(), self.abort), env=dict(THREAD_VARS),
        )
        # start every process now (ready() waits for them, and fails if they cannot start)
        self._starting = [self.executor.submit(_worker_pid) for _ in range(workers)]

    @property
    def starting(self) -> bool:
        """Whether the workers may still be starting (:meth:`ready` not called yet)."""
        return bool(self._starting)

    def ready(self) -> cf.Executor:
        """The executor, once every worker has started (ProcessingError if they cannot)."""
        if self._starting:
            starting, self._starting = self._starting, []
            try:
                for fut in starting:
                    fut.result()
            except cf.BrokenExecutor as exc:
                self.stop()
                self.retired = True  # never handed to another run
                raise _start_failed(exc) from exc
        return self.executor

    def stop(self, wait: bool = False) -> None:
        """Shut down, terminating busy workers."""
        self.executor.shutdown(wait=wait, kill_workers=True)


# ------------------------------------------------------------------ leasing pools
_SHARED: dict[str, _Pool | None] = {"pool": None}
_LOCK = threading.Lock()
_ATEXIT: list[bool] = []


class _Lease:
    """The worker pool of one run (possibly spanning several batches).

    ``executor()`` gives the pool; ``replace()`` after one of its workers died;
    ``release()`` when the run ends. The shared pool serves one run at a time.
    Segments retried alone after a crash run in a pool of one worker
    (``executor(alone=True)``), so a segment that kills its worker again costs
    one new process, not ``workers`` of them; meanwhile the replacement of the
    broken pool starts.
    """

    def __init__(self, workers: int, status: Status | None = None) -> None:
        self.workers = workers
        self.status = status
        self.pool: _Pool | None = None
        self.single: _Pool | None = None

    def executor(self, alone: bool = False) -> cf.Executor:
        if alone:
            if self.single is None:
                self.single = _Pool(1)
            return self._ready(self.single)
        if self.pool is None:
            self.pool = self._acquire()
        return self._ready(self.pool)

    def _ready(self, pool: _Pool) -> cf.Executor:
        """The executor of ``pool``; while its workers start, the status says so."""
        if not pool.starting or self.status is None:
            return pool.ready()
        n = f"{pool.workers} worker{'s' if pool.workers > 1 else ''}"
        self.status.show(f"starting {n}...")
        self.status.starting = True
        t0 = time.perf_counter()
        try:
            executor = pool.ready()
        finally:
            self.status.starting = False
            self.status.moved()
        self.status.show("", log=f"{n} started in {time.perf_counter() - t0:.1f} s")
        return executor

    def _acquire(self) -> _Pool:
        with _LOCK:
            shared = _SHARED["pool"]
            if shared is not None and shared.users == 0 and shared.workers != self.workers:
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

    def abort(self, futures: Collection[cf.Future], grace: float) -> bool:
        """Stop the run's chunks ``futures`` (errors="raise"): the workers return them
        unfinished, between two segments. True if they all came back within ``grace``
        seconds: the workers are free, the pool is kept (else stop it: ``release(stop=True)``)."""
        pools = [p for p in (self.pool, self.single) if p is not None]
        for pool in pools:
            pool.abort.set()
        _, running = cf.wait(futures, timeout=grace)
        if running:
            return False
        for pool in pools:
            pool.abort.clear()
        return True

    def replace(self, executor: cf.Executor) -> None:
        """Replace the pool of ``executor`` (a worker died): stop it, start a new one
        (not waited for: it starts while segments are retried alone)."""
        if self.single is not None and self.single.executor is executor:
            self.single.stop()
            self.single = None
            return
        if self.pool is None or self.pool.executor is not executor:
            return  # already replaced
        pool = self.pool
        pool.stop()
        self.pool = _Pool(self.workers)
        with _LOCK:
            if _SHARED["pool"] is pool:
                _SHARED["pool"] = self.pool
                self.pool.users = 1

    def release(self, stop: bool = False) -> None:
        """The run ended; ``stop``: stop busy workers too (Ctrl-C, errors="raise")."""
        if self.single is not None:
            self.single.stop()
            self.single = None
        pool, self.pool = self.pool, None
        if pool is None:
            return
        with _LOCK:
            if _SHARED["pool"] is pool and not stop and not pool.retired:
                pool.users = 0
                return
            if _SHARED["pool"] is None and not stop and not pool.retired:
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
        pool.stop(wait=True)


def _is_crash(exc: BaseException) -> bool:
    """True for executor errors meaning "the process running the task died"."""
    return isinstance(exc, cf.BrokenExecutor) or type(exc).__name__ in (
        "KilledWorker", "WorkerLost", "CommClosedError"
    )
