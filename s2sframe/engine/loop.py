"""The parent side of a run of :func:`s2sframe.map_segments`: chunks in flight, crashes, results.

A worker process that dies (segfault, ``os._exit``, out of memory) breaks its
pool: the chunks in flight are retried one segment at a time, alone in a fresh
pool, and a segment that kills its worker again is recorded as ``WorkerDied``.
When deaths pile up (:class:`_Deaths`) the run stops with a
:class:`~s2sframe.ProcessingError`: a function that kills every worker would
otherwise cost a pool restart per segment.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import linecache
import traceback
from collections import Counter, deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from ..decode.invshare import SharedInventories
from ..exceptions import ProcessingError, describe_error
from .output import _Parts
from .pool import _InlineExecutor, _is_crash, _Lease
from .results import ColumnTypes, ResultTypeError
from .status import Status
from .warncount import WarningKey, merge
from .worker import _ID, WorkerJob, _ChunkResult, _Failure, _process, _WorkerState

#: Seconds the workers have to return their chunks when a run stops on an error of the
#: function (they stop between two segments), before they are stopped (and restarted
#: by the next run).
ABORT_GRACE = 10.0

DIED = (
    "WorkerDied: the worker process died while processing this segment "
    "(crash, os._exit or out of memory), also when retried alone"
)


@dataclass
class _Chunk:
    positions: np.ndarray  # rows of the input frame (a view of the run's order array)
    single: bool = False  # a retry of one segment, alone in the pool
    shared: tuple[int, ...] = ()  # its stations that other chunks have too


class _Sharing:
    """The run's folder of shared inventories and, per station in it, how many chunks
    that share it are still to come back: a station's file is removed when the last
    one is back, so the folder holds only the stations of chunks pending or in flight
    (at most two per chunk), whatever the size of the run.

    ``keep``: a station that the next batch may need too (the last one of a batch).
    """

    def __init__(self, store: SharedInventories) -> None:
        self.store = store
        self.pending: Counter[int] = Counter()
        self.keep: int | None = None

    def add(self, chunk: _Chunk) -> None:
        self.pending.update(chunk.shared)

    def done(self, chunk: _Chunk) -> None:
        for station in chunk.shared:
            self.pending[station] -= 1
            if self.pending[station] <= 0 and station != self.keep:
                del self.pending[station]
                self.store.discard(station)


@dataclass
class BatchTally:
    """Counts and result frames of the batches of a run."""

    done: int = 0
    skipped: int = 0
    failed: int = 0
    resumed: int = 0
    frames: list[tuple[int, pl.DataFrame]] = field(default_factory=list)
    decoded: Counter[str] = field(default_factory=Counter)
    warnings: Counter[WarningKey] = field(default_factory=Counter)


@dataclass
class _Deaths:
    """Worker deaths of a run (over all its batches), and when they are too many.

    The run stops when segments that kill their worker even alone are more than
    ``max(3, 1%)`` of the segments, or when the first 3 of them came before any
    segment was processed (the function kills every worker).
    """

    total: int  # segments the run will process (for the percentage)
    ok: int = 0  # chunks that came back
    died: list[int] = field(default_factory=list)  # ids recorded as WorkerDied

    def check(self, name: str) -> None:
        n = len(self.died)
        limit = max(3, self.total // 100)
        first = n >= 3 and self.ok == 0
        if n > limit or first:
            why = ("the first segments all killed their worker" if first
                   else f"more than {limit} segments killed their worker")
            ids = ", ".join(map(str, self.died[:10])) + (", ..." if n > 10 else "")
            raise ProcessingError(
                f"{name}: run stopped: {why} (segments {ids}). The function ends the "
                "process that runs it (os._exit, a crash in compiled code such as a "
                "segmentation fault, or running out of memory): call it with workers=0 "
                f"on segment {self.died[0]} to see where. Results so far are kept when "
                "output= is given."
            )


def format_failure(f: _Failure, files: Callable[[str, int], str | None]) -> str:
    """The traceback of a failure in a worker: the user's files and lines, once.

    ``files(name, firstlineno)`` names the file of code sent by value (which
    workers only know as ``<dynamic-code>``).
    """
    summaries = []
    for filename, lineno, name, first in f.frames:
        if filename == "<dynamic-code>":
            filename = files(name, first) or filename
        line = linecache.getline(filename, lineno).strip() or None
        summaries.append(traceback.FrameSummary(filename, lineno, name, line=line))
    stack = "".join(traceback.StackSummary.from_list(summaries).format())
    return f"Traceback (most recent call last):\n{stack}{f.exception_text}"


class BatchRun:
    """One batch of a run on the parent side: chunks to the executor, results back."""

    def __init__(
        self, df: pl.DataFrame, job: WorkerJob, sent: tuple[bytes, tuple[str, ...]],
        executor: cf.Executor | None,
        lease: _Lease | None, state: _WorkerState | None, output: _Parts | None, bar: Any,
        deaths: _Deaths, files: Callable[[str, int], str | None],
        status: Status | None = None,
        sharing: _Sharing | None = None,
    ) -> None:
        self.df = df
        self.status = status  # told when a chunk comes back (see .status.LockWatch)
        self.sharing = sharing  # where workers share the inventories of chunks' shared stations
        self.job = job
        self.job_bytes, self.paths = sent  # the pickled job, the parent's import path
        self.user_executor = executor
        self.lease = lease
        self.state = state  # not None: run in this thread
        self.output = output
        self.bar = bar
        self.deaths = deaths
        self.files = files
        self.tally = BatchTally()
        self.types = ColumnTypes(job.name, fixed=job.dtypes, skip=(job.error_column,))

    def executor(self, alone: bool = False) -> cf.Executor:
        if self.state is not None:
            return _InlineExecutor()
        if self.user_executor is not None:
            return self.user_executor
        assert self.lease is not None
        return self.lease.executor(alone)

    def submit(self, chunk: _Chunk) -> tuple[cf.Future, cf.Executor]:
        from .worker import _run_chunk

        frame = self.df[chunk.positions]
        for attempt in (0, 1):
            exe = self.executor(chunk.single)
            try:
                if self.state is not None:
                    return exe.submit(self._inline, frame), exe
                shared = ((self.sharing.store, chunk.shared)
                          if self.sharing is not None and chunk.shared else None)
                return exe.submit(_run_chunk, self.job.run_id, self.job_bytes, frame,
                                  self.paths, shared), exe
            except cf.BrokenExecutor:
                if attempt:
                    raise
                self.broken(exe)
        raise AssertionError("unreachable")  # pragma: no cover

    def _inline(self, frame: pl.DataFrame) -> _ChunkResult:
        assert self.state is not None
        return _process(self.state.start(self.job.run_id, self.job), frame, self.state)

    def broken(self, exe: cf.Executor) -> None:
        """A worker died: replace our pool (a user's executor replaces its workers itself)."""
        if exe is self.user_executor:
            if isinstance(exe, cf.ProcessPoolExecutor):
                raise ProcessingError(
                    "A worker process of the given ProcessPoolExecutor died and the executor is "
                    "now unusable: pass workers=N instead of executor= to let s2sframe replace "
                    "dead workers"
                )
            return  # e.g. dask replaces dead workers itself
        assert self.lease is not None
        self.lease.replace(exe)

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
                        self.deaths.ok += 1
                        self.collect(chunk, fut.result())
                    elif _is_crash(exc):
                        self.broken(exe)
                        if chunk.single:
                            self.record_died(chunk)
                            self.deaths.check(self.job.name)
                        else:
                            singles = [_Chunk(chunk.positions[i:i + 1], single=True,
                                              shared=chunk.shared)
                                       for i in range(len(chunk.positions))]
                            if self.sharing is not None:
                                for single in singles:
                                    self.sharing.add(single)
                            self.chunk_done(chunk)
                            retry.extend(singles)
                    elif isinstance(exc, ResultTypeError):
                        raise exc  # the results of the function, not the machinery
                    else:
                        raise ProcessingError(
                            f"{self.job.name}: a task failed outside the function: {describe_error(exc)}"
                        ) from exc
        except BaseException as exc:
            self.stop(inflight, exc)
            raise

    def stop(self, inflight: Collection[cf.Future], exc: BaseException) -> None:
        """The run ends with ``exc``: stop the chunks ``inflight``.

        Our pool: after an error of the function (errors="raise") or of its results,
        the workers are healthy: they return their chunks unfinished and are kept
        for the next run; else (Ctrl-C, a task failing outside the function, too
        many deaths) busy workers are stopped now. Futures are never cancelled
        before that: loky would then fail setting their "shutdown" error, with a
        stray traceback on the console. A user's executor: chunks not started
        are cancelled, the others end there.
        """
        if self.lease is None:
            for fut in inflight:
                fut.cancel()
            return
        healthy = isinstance(exc, ResultTypeError) or (
            isinstance(exc, ProcessingError) and exc.segment_id is not None)
        if not (healthy and self.lease.abort(inflight, ABORT_GRACE)):
            self.lease.release(stop=True)

    def collect(self, chunk: _Chunk, res: _ChunkResult) -> None:
        if res.aborted:  # never while the run goes on: stop() clears the event first
            raise ProcessingError(f"{self.job.name}: a worker stopped a chunk of a running run")
        if res.failure is not None:
            f = res.failure
            text = format_failure(f, self.files)
            err = ProcessingError(
                f"{self.job.name} failed on segment {f.segment_id}: {f.message}\n"
                f"(errors='raise'; pass errors='record' to record errors and go on)\n\n{text}",
                segment_id=f.segment_id, function_traceback=text,
            )
            cause = None
            if f.exception is not None:
                import cloudpickle

                with contextlib.suppress(Exception):
                    cause = cloudpickle.loads(f.exception)
            raise err from cause
        self.tally.decoded.update(res.decoded)
        merge(self.tally.warnings, res.warnings)
        self.chunk_done(chunk)
        self.add(int(chunk.positions.min()), res.frame, res.skipped, res.failed)

    def chunk_done(self, chunk: _Chunk) -> None:
        if self.sharing is not None:
            self.sharing.done(chunk)

    def record_died(self, chunk: _Chunk) -> None:
        ids = self.df[_ID].gather(chunk.positions).to_list()
        frame = pl.DataFrame(
            [pl.Series(_ID, ids, dtype=pl.Int64),
             pl.Series(self.job.error_column, [DIED] * len(ids), dtype=pl.String)]
        )
        self.deaths.died.extend(ids)
        self.chunk_done(chunk)
        self.add(int(chunk.positions.min()), frame, 0, len(ids))

    def add(self, key: int, frame: pl.DataFrame, skipped: int, failed: int) -> None:
        t = self.tally
        t.done += frame.height
        t.skipped += skipped
        t.failed += failed
        self.types.add(frame)  # never two types in one column (see .results)
        if self.output is not None:
            self.output.write(key, frame)
        else:
            t.frames.append((key, frame))
        self.bar.update(frame.height)
        if self.status is not None:
            self.status.moved()
