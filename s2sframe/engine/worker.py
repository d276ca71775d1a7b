"""Worker side of :func:`s2sframe.map_segments`: what runs in the worker processes.

:func:`_run_chunk` (the task): open a read-only DB connection once per run,
fetch the chunk's waveform bytes in ONE query, call the function on each
segment, return a small Polars frame (``id`` + result columns + error column,
built by :mod:`.results`). Also here: the job sent to workers, thread limits and
the parent watch.

Everything the pool pickles by reference (:func:`_init_worker`,
:func:`_worker_pid`, :func:`_run_chunk`, the dataclasses) is at module level.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.util
import os
import signal
import sys
import threading
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from ..db import urls as _db
from ..db.retry import is_transient
from ..decode import counters
from ..decode.invshare import SharedInventories
from ..exceptions import SkipSegment, describe_error
from .results import _ID, _result_frame
from .segment import make_segments
from .source import DBSource
from .warncount import CountWarnings, WarningKey

#: Environment of worker processes: one thread per library, so N workers use N cores.
THREAD_VARS = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "POLARS_MAX_THREADS": "1",
}


#: memory bounds of a worker's caches: parsed inventories (per run; a GEOFON station
#: counts 4.3 MB) and evaluated responses (a 4-minute 100 Hz one: 0.6 MB). A
#: worker's libraries take ~185 MiB once ``remove_response`` has run (SciPy's signal
#: module alone ~48 MiB; ObsPy's PPSD and matplotlib, ~30 MiB more, are not imported:
#: :func:`_defer_package_init`): with these a worker's peak stays under 238 MiB
#: (250 MB) in W2, whatever the number of stations (docs/responses.md).
WORKER_INVENTORY_BYTES = 8 * 1024 * 1024
WORKER_RESPONSE_BYTES = 8 * 1024 * 1024


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
class WorkerJob:
    """What every chunk of one run needs (cloudpickled once per run)."""

    run_id: str
    func: Callable[[Any], Any]
    url: _SecretURL
    name: str
    errors: str
    skip: tuple[type[BaseException], ...]
    dtypes: dict[str, pl.DataType]
    error_column: str


#: a frame of a traceback: (file, line number, function name, first line of the function)
Frame = tuple[str, int, str, int]


@dataclass
class _Failure:
    segment_id: int
    message: str
    frames: list[Frame]  # from the user function down (our frames above it are dropped)
    exception_text: str  # traceback.format_exception_only
    exception: bytes | None


@dataclass
class _ChunkResult:
    frame: pl.DataFrame
    skipped: int = 0
    failed: int = 0
    failure: _Failure | None = None
    #: what the decoders did besides their fast path (:mod:`s2sframe.decode.counters`)
    decoded: dict[str, int] = field(default_factory=dict)
    #: the run was stopped (:func:`_init_worker`'s event) before this chunk was done:
    #: nothing of it is returned
    aborted: bool = False
    #: the warnings raised while the function ran, counted (:mod:`.warncount`)
    warnings: dict[WarningKey, int] = field(default_factory=dict)


# ------------------------------------------------------------------ worker side
class _WorkerState:
    """Per-process caches, reset when a new run starts (new ``run_id``)."""

    def __init__(self) -> None:
        self.run_id: str | None = None
        self.job: WorkerJob | None = None
        self.engines: dict[str, sa.engine.Engine] = {}
        self.inventories: Any = None
        self.limited = False
        #: set by the parent to stop the chunks of its run (our pool's workers only)
        self.abort: Any = None

    def aborted(self) -> bool:
        return self.abort is not None and self.abort.is_set()

    def start(self, run_id: str, job: WorkerJob | bytes, paths: tuple[str, ...] = ()) -> WorkerJob:
        """The job of run ``run_id`` (caches reset if a new run); ``paths``: the parent's
        import path (workers import from the folders the parent imports from)."""
        if run_id != self.run_id or self.job is None:
            _add_paths(paths)  # before unpickling: the job may refer to modules there
            for engine in self.engines.values():
                engine.dispose()
            self.engines.clear()
            from ..decode import InventoryCache

            self.inventories = InventoryCache(max_bytes=WORKER_INVENTORY_BYTES)
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
            engine = self.engines[key] = _db.worker_engine(url.get())
        return engine


_STATE = _WorkerState()


def _add_paths(paths: tuple[str, ...]) -> None:
    """Append to ``sys.path`` the folders of ``paths`` it lacks (after its own: no shadowing)."""
    sys.path.extend(p for p in paths if p not in sys.path)


def _limit_threads() -> None:
    if _STATE.limited:
        return
    _STATE.limited = True
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1)  # BLAS/OpenMP libraries loaded before the environment was set


def _watch_parent(parent: int) -> None:
    """Exit this worker as soon as its parent ``parent`` (a pid) dies (SIGKILL leaves no
    orphans).

    loky stops idle workers when the parent dies, not busy ones: a thread watches
    the parent process id (the worker is re-parented when its parent dies). The
    parent's pid is given, not read here: a parent that died while this worker was
    still starting (imports take seconds on a loaded machine) is already gone, and
    ``os.getppid()`` would name the process that adopted the orphan."""

    def watch() -> None:
        tick = threading.Event()
        while os.getppid() == parent:
            tick.wait(0.25)
        os._exit(3)

    if os.getppid() != parent:
        os._exit(3)
    threading.Thread(target=watch, name="s2s-parent-watch", daemon=True).start()


def _init_worker(parent: int, abort: Any = None) -> None:
    """Initializer of our pool's worker processes: ``parent`` is the pid of the pool's
    process, ``abort`` an event it sets to stop its run's chunks (between segments).

    Also imports what decoding and ``remove_response`` import on first use (ObsPy's
    ``obspy.signal.invsim``, SciPy's signal module: ~50 MiB; not ObsPy's PPSD and
    matplotlib), bounds the response memo, makes ObsPy's plugin lookups once
    (:mod:`s2sframe.signal.obspy_plugins`), and moves what the imports made out of the
    garbage collector's reach (``gc.freeze``): loky takes a
    worker's reference memory after its first task (our start-up probe) and
    restarts a worker grown by more than 300 MB since; imported on a first segment,
    these libraries counted against that allowance.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's business
    os.environ.update(THREAD_VARS)
    _STATE.abort = abort
    _limit_threads()
    _watch_parent(parent)
    _import_decoders()
    # What the imports made is never garbage: keep it out of every later collection (the
    # collector walked it again and again, ~6 % of a response-removal run's CPU)
    gc.freeze()


def _import_decoders() -> None:
    _defer_package_init("obspy.signal")
    import obspy.signal.invsim  # noqa: F401 - what Trace.remove_response imports
    import scipy.fft  # noqa: F401 - the fast FIR evaluation

    from .. import decode
    from ..signal.obspy_plugins import cache_plugin_lookups

    decode.set_response_cache_size(WORKER_RESPONSE_BYTES)
    cache_plugin_lookups()


class _DeferredPackage(types.ModuleType):
    """A package imported without running its ``__init__`` until a name it defines is
    asked for (submodules import as usual meanwhile; see :func:`_defer_package_init`)."""

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("__"):
            sub = f"{self.__name__}.{name}"
            with contextlib.suppress(ImportError, ValueError):
                if importlib.util.find_spec(sub) is not None:
                    return importlib.import_module(sub)
        with _DEFER_LOCK:
            if type(self) is _DeferredPackage:
                modules = {k: v for k, v in vars(self).items() if isinstance(v, types.ModuleType)}
                # a plain module from now on (mypy rejects assigning __class__ a base class)
                object.__setattr__(self, "__class__", types.ModuleType)
                assert self.__spec__ is not None and self.__spec__.loader is not None
                self.__spec__.loader.exec_module(self)
                for key, module in modules.items():  # submodules imported before stay
                    vars(self).setdefault(key, module)
        return getattr(self, name)


_DEFER_LOCK = threading.RLock()


def _defer_package_init(name: str) -> None:
    """Import package ``name`` without running its ``__init__`` until a name it defines
    is used (e.g. ``obspy.signal.PPSD``); its submodules import as usual.

    ObsPy's ``obspy.signal/__init__.py`` imports its PPSD class, hence matplotlib,
    ObsPy's imaging and SEED parser (~30 MB of a worker's memory), although
    ``Trace.remove_response`` only needs ``obspy.signal.invsim``: workers import the
    package this way. User code sees no difference (``from obspy.signal import
    PPSD`` runs the ``__init__`` then)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    module.__class__ = _DeferredPackage
    sys.modules[name] = module
    parent, _, child = name.rpartition(".")
    if parent:
        setattr(sys.modules[parent], child, module)


def _worker_pid() -> int:
    return os.getpid()


#: stations of a chunk that other chunks have too, and the run's folder where their
#: inventories are shared (:class:`~s2sframe.decode.invshare.SharedInventories`)
Shared = tuple[SharedInventories, tuple[int, ...]]


def _run_chunk(run_id: str, job_bytes: bytes, chunk: pl.DataFrame,
               paths: tuple[str, ...] = (), shared: Shared | None = None) -> _ChunkResult:
    """Task run in workers: process the segments of ``chunk`` (a slice of the frame)."""
    _limit_threads()
    job = _STATE.start(run_id, job_bytes, paths)
    return _process(job, chunk, _STATE, shared)


def _process(job: WorkerJob, chunk: pl.DataFrame, state: _WorkerState,
             shared: Shared | None = None) -> _ChunkResult:
    if state.aborted():
        return _ChunkResult(pl.DataFrame(), aborted=True)
    state.inventories.share(*(shared or (None, ())))
    source = DBSource(job.url.get(), inventories=state.inventories, engine=state.engine(job.url))
    ids: list[int] = chunk.get_column(_ID).to_list()
    try:
        source.load(ids)
    except Exception as exc:
        if job.errors == "raise" or not is_transient(exc):
            raise
        # the database stayed unreachable through every retry: these segments failed,
        # the run goes on with the next chunks
        message = f"database read failed: {_db.error_line(exc, job.url.get())}"
        return _ChunkResult(
            _result_frame(ids, [None] * len(ids), [message] * len(ids), job)[0],
            failed=len(ids),
        )
    segments: list[Any] = make_segments(chunk, source)
    n = len(ids)
    results: list[Any] = [None] * n
    errors: list[str | None] = [None] * n
    skipped = failed = 0
    func = job.func
    skip: tuple[type[BaseException], ...] = (SkipSegment, *job.skip)
    with CountWarnings() as warned:  # each warning counted, not printed per segment
        for i in range(n):
            if state.aborted():  # the run stopped (errors="raise" elsewhere): pool kept
                return _ChunkResult(pl.DataFrame(), aborted=True)
            try:
                results[i] = func(segments[i])
            except skip as exc:
                errors[i] = describe_error(exc)
                skipped += 1
            except (Exception, SystemExit) as exc:  # sys.exit() in func: an error like another
                if job.errors == "raise":
                    return _ChunkResult(pl.DataFrame(), failure=_failure(ids[i], exc))
                errors[i] = describe_error(exc)
                failed += 1
            segments[i] = None  # drop the decoded stream now
    frame, bad = _result_frame(ids, results, errors, job)
    return _ChunkResult(frame, skipped, failed + bad, decoded=counters.take(),
                        warnings=dict(warned.counts))


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _failure(segment_id: int, exc: BaseException) -> _Failure:
    """What the parent needs to show the error: frames from the user's function down."""
    frames: list[Frame] = []
    tb = exc.__traceback__
    while tb is not None:
        code = tb.tb_frame.f_code
        filename = code.co_filename
        if filename == "<dynamic-code>":  # sent by value (cloudpickle drops the file name)
            filename = tb.tb_frame.f_globals.get("__file__") or filename
        frames.append((filename, tb.tb_lineno, code.co_name, code.co_firstlineno))
        tb = tb.tb_next
    first = next((i for i, f in enumerate(frames) if not f[0].startswith(_PACKAGE)), 0)
    return _Failure(segment_id, describe_error(exc), frames[first:],
                    "".join(traceback.format_exception_only(type(exc), exc)),
                    _try_pickle(exc))


def _try_pickle(exc: BaseException) -> bytes | None:
    try:
        import cloudpickle

        data = cloudpickle.dumps(exc)
        cloudpickle.loads(data)
        return data
    except Exception:  # noqa: BLE001
        return None
