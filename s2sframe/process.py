"""The stream2segment-compatible processing API: change one import line.

``from stream2segment.process import ...`` becomes ``from s2sframe.process import ...``::

    from s2sframe.process import imap, process, get_segments, get_session, Segment

- :func:`imap` yields the output of ``pyfunc(segment, config)`` for each selected
  segment; :func:`process` (alias :func:`map`) writes it to a CSV, HDF or Parquet
  file (one row per segment, id in ``segment_db_id``). Both select with
  :func:`s2sframe.where` (compiled to SQL) and run through the engine of
  :func:`s2sframe.map_segments` (``multi_process=True``: parallel spawned workers).
- :func:`get_segments`, :func:`get_db_items`, :func:`get_session`, :func:`close_session`
  and the ORM models (:mod:`s2sframe.orm`) give SQLAlchemy objects with relationships.

Examples
--------
>>> from s2sframe.process import imap
>>> def f(segment, config):
...     return segment.id, segment.event.magnitude
>>> list(imap(f, "sqlite:///example.db.sqlite", {"event_distance_deg": "[70, 80]"}))  # doctest: +SKIP
[(2, 8.1)]
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy.engine import URL

from . import _db
from ._config import BadInput, check_pyfunc, load_config, logfile_path, yaml_load
from ._selection import where
from ._session import (
    close_session,
    get_classlabels,
    get_db_items,
    get_segments,
    get_session,
    load_only,
)
from ._writers import SEGMENT_ID_COLNAME, get_writer
from .exceptions import ProcessingError, SelectionError, SkipSegment
from .orm import (
    Channel,
    Class,
    ClassLabelling,
    DataCenter,
    Download,
    Event,
    Segment,
    Station,
    WebService,
)

__all__ = [
    "Channel", "Class", "ClassLabelling", "DataCenter", "Download", "Event",
    "ProcessResult", "Segment", "SkipSegment", "Station", "WebService",
    "close_session", "get_classlabels", "get_db_items", "get_db_items_count",
    "get_default_segments_selection", "get_segments", "get_session", "imap", "load_ints_from_txt",
    "load_only", "map", "process", "save_ints_to_txt", "yaml_load",
]

logger = logging.getLogger("s2sframe.process")
logger.addHandler(logging.NullHandler())  # messages are shown only where asked (logfile, verbose)

#: Columns of the segments frame handed to workers: all attributes but long texts
#: (download log and config) and class lists, which are fetched when used.
_NOT_LOADED = ("download.log", "download.config", "classes.id", "classes.label",
               "classes.description")
_P = "__s2s_"  # prefix of our columns in the engine's results
_R = "__s2s_r_"  # prefix of the processing function's columns


def get_default_segments_selection() -> dict[str, str]:
    """The selection used when none is given: valid data without gaps or overlaps.

    Examples
    --------
    >>> get_default_segments_selection()
    {'has_valid_data': 'true', 'maxgap_numsamples': '(-0.5, 0.5)'}
    """
    return {"has_valid_data": "true", "maxgap_numsamples": "(-0.5, 0.5)"}


# ---------------------------------------------------------------- the wrapped function
class _ProcessingSegment:
    """The segment given to ``pyfunc``: the engine's Segment plus ORM-backed extras.

    Attributes and ``stream()``, ``inventory()``, ``sds_path()``, ``url``,
    ``seed_id`` come from :class:`s2sframe._segment.Segment`; ``siblings()``,
    ``dbsession``, ``classlabels``, ``add_classlabel()``, ``del_classlabel()`` use
    the ORM object (:meth:`orm`), loaded on first use in a session of the worker.
    """

    __slots__ = ("_segment", "_call")

    def __init__(self, segment: Any, call: _Call) -> None:
        self._segment = segment
        self._call = call

    def __getattr__(self, name: str) -> Any:
        return getattr(self._segment, name)

    def __dir__(self) -> list[str]:
        own = ["orm", "siblings", "dbsession", "classlabels", "add_classlabel",
               "del_classlabel"]
        return sorted(set(dir(self._segment)) | set(own))

    def __repr__(self) -> str:
        return f"<Segment id={self._segment.id}>"

    def orm(self) -> Segment:
        """The ORM :class:`s2sframe.orm.Segment` of this segment (in the worker's session)."""
        return self._call.orm_segment(self._segment.id)

    def siblings(self, *matching_attributes: str, include_self: bool = False) -> Any:
        """See :meth:`s2sframe.orm.Segment.siblings`."""
        return self.orm().siblings(*matching_attributes, include_self=include_self)

    @property
    def dbsession(self) -> Any:
        """The ORM session of the worker (see :meth:`orm`)."""
        return self.orm().dbsession

    @property
    def classlabels(self) -> list[str]:
        """Sorted labels of the classes assigned to this segment."""
        return self.orm().classlabels

    def add_classlabel(self, *class_ids_or_labels: int | str, **kwargs: Any) -> bool:
        """See :meth:`s2sframe.orm.Segment.add_classlabel`."""
        return self.orm().add_classlabel(*class_ids_or_labels, **kwargs)

    def del_classlabel(self, *class_ids_or_labels: int | str, **kwargs: Any) -> bool:
        """See :meth:`s2sframe.orm.Segment.del_classlabel`."""
        return self.orm().del_classlabel(*class_ids_or_labels, **kwargs)


_SESSIONS: dict[str, Any] = {}  # ORM sessions of this process, by URL (workers keep theirs)


class _Call:
    """``segment -> pyfunc(segment, config)`` as run by the engine, picklable.

    Skip exceptions become a ``__s2s_skip`` message; outputs are kept in memory
    (``mode="memory"``, single process), pickled (``"pickle"``, workers) or turned
    into table columns (``"row"``, for :func:`process`).
    """

    def __init__(self, pyfunc: Callable, config: Any, skip: tuple[type[BaseException], ...],
                 mode: str, url: URL) -> None:
        self.pyfunc = pyfunc
        self.config = config
        self.skip = skip
        self.mode = mode
        self.__name__ = getattr(pyfunc, "__name__", "pyfunc")
        self._url = url.render_as_string(hide_password=False)
        self.outputs: dict[int, Any] = {}
        self.error: BaseException | None = None
        self._orm_id: int | None = None

    def __repr__(self) -> str:
        return f"<{self.__name__} on {_db.mask_url(self._url)}>"

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["outputs"], state["error"] = {}, None
        return state

    def __call__(self, segment: Any) -> dict[str, Any]:
        seg = _ProcessingSegment(segment, self)
        try:
            out = self.pyfunc(seg, self.config)
        except self.skip as exc:
            return {_P + "skip": f"{type(exc).__name__}: {exc}" if str(exc)
                    else type(exc).__name__}
        except Exception as exc:
            self.error = exc  # the original, with its traceback (single process)
            raise
        if self.mode == "memory":
            self.outputs[segment.id] = out
            return {_P + "ok": True}
        if self.mode == "pickle":
            import cloudpickle

            return {_P + "ok": True, _P + "out": cloudpickle.dumps(out)}
        if out is None:
            return {_P + "ok": True, _P + "row": False}
        return {_P + "ok": True, _P + "row": True, **_row(out, segment.id)}

    def session(self) -> Any:
        session = _SESSIONS.get(self._url)
        if session is None:
            session = _SESSIONS[self._url] = get_session(self._url)
        return session

    def orm_segment(self, segment_id: int) -> Segment:
        session = self.session()
        if self._orm_id != segment_id:
            session.expunge_all()  # keep memory bounded: one segment's objects at a time
            self._orm_id = segment_id
        return session.get(Segment, segment_id)

    def close(self) -> None:
        session = _SESSIONS.pop(self._url, None)
        if session is not None:
            close_session(session, dispose_engine=False)


def _row(out: Any, segment_id: int) -> dict[str, Any]:
    """The output of ``pyfunc`` as table columns (dict: by key; list/tuple: "0", "1"...)."""
    if isinstance(out, Mapping):
        items = out.items()
    elif isinstance(out, list | tuple) or (hasattr(out, "ndim") and getattr(out, "ndim", 0) == 1):
        items = ((str(i), v) for i, v in enumerate(out))
    else:
        raise TypeError(
            f"to write a table, the processing function must return a dict (column -> value), "
            f"a list or tuple, or None (skip), not {type(out).__name__} (segment {segment_id})"
        )
    row = {}
    for key, value in items:
        if type(value).__name__ == "UTCDateTime":  # ObsPy times: as datetime columns
            value = value.datetime
        row[_R + str(key)] = value
    return row


# ---------------------------------------------------------------------------- the run
@dataclass
class ProcessResult:
    """What :func:`process` did.

    Attributes
    ----------
    total : int
        Segments selected for processing (after excluding those already in the
        file, when appending).
    processed : int
        Segments processed without error.
    skipped : int
        Segments skipped (``SkipSegment`` or ``skip_exceptions``; messages in the log).
    written : int
        Rows written to the output file (segments whose function returned not None).
    outfile, logfile : str or None
        The files written.
    """

    total: int
    processed: int
    skipped: int
    written: int
    outfile: str | None = None
    logfile: str | None = None


class _Log:
    """The log of one run: file handler (all messages) and, if verbose, the terminal."""

    def __init__(self, logfile: str | os.PathLike | None, verbose: bool) -> None:
        self.handlers: list[logging.Handler] = []
        self.logfile = os.path.abspath(logfile) if logfile else None
        if self.logfile:
            fh = logging.FileHandler(self.logfile, mode="a", encoding="utf-8")
            fh.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
            fh.setLevel(logging.INFO)
            self.handlers.append(fh)
        if verbose:
            sh = logging.StreamHandler(sys.stderr)
            sh.setFormatter(logging.Formatter("%(message)s"))
            sh.setLevel(logging.INFO)
            sh.addFilter(lambda record: record.levelno != logging.WARNING)  # per segment
            self.handlers.append(sh)
        for h in self.handlers:
            logger.addHandler(h)
        if self.handlers and logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)

    def close(self) -> None:
        for h in self.handlers:
            logger.removeHandler(h)
            h.close()
        self.handlers = []


class _Run:
    """Validated arguments of an ``imap`` / ``process`` call, and its execution."""

    def __init__(self, pyfunc: Callable, dburl: str | URL, segments_selection: Any,
                 config: Any, multi_process: bool | int, chunksize: int | None,
                 skip_exceptions: Any, mode: str) -> None:
        check_pyfunc(pyfunc)
        self.pyfunc = pyfunc
        self.config_arg = config
        self.config = load_config(config)
        self.url = _db.parse_url(dburl)
        _db.get_engine(self.url, readonly=True)  # DatabaseError now if unreachable
        self.selection = _selection(segments_selection)
        self.workers = _workers(multi_process)
        if chunksize is not None and (not isinstance(chunksize, int) or chunksize < 1):
            raise BadInput(f"chunksize must be a positive integer, not {chunksize!r}")
        self.chunksize = chunksize
        self.skip = _skip_tuple(skip_exceptions)
        if mode == "imap":
            mode = "memory" if self.workers <= 1 else "pickle"
        self.call = _Call(pyfunc, self.config, self.skip, mode, self.url)
        self.name = self.call.__name__
        self.stats = {"processed": 0, "skipped": 0, "written": 0}

    def header(self, outfile: str | None, logfile: str | None) -> None:
        module = sys.modules.get(getattr(self.pyfunc, "__module__", ""), None)
        pyfile = getattr(module, "__file__", None)
        where_ = f"{os.path.abspath(pyfile)}:{self.name}" if pyfile else self.name
        cfg = self.config_arg if isinstance(self.config_arg, str | os.PathLike) else None
        lines = [
            f"Input database:      {_db.mask_url(self.url)}",
            f"Processing function: {where_}",
            f"Config. file:        {os.path.abspath(cfg) if cfg else 'n/a'}",
            f"Log file:            {logfile or 'n/a'}",
            f"Output file:         {os.path.abspath(outfile) if outfile else 'n/a'}",
            f"Processes:           {self.workers}",
        ]
        width = max(len(line) for line in lines)
        logger.info("\n".join(["=" * width, *lines, "=" * width]))

    def frame(self, done: pl.Series | None = None) -> pl.DataFrame:
        """The selected segments (all attributes but long ones), ordered by station and id."""
        from . import _attributes as A
        from ._scan import scan

        columns = [n for n in A.ATTRIBUTES if n not in _NOT_LOADED]
        logger.info("Fetching segments to process (please wait)")
        df = scan(self.url).filter(self.selection).select(columns).collect()
        if done is not None and len(done):
            before = df.height
            df = df.filter(~pl.col("id").is_in(done.implode()))
            logger.info("Skipping %d already processed segment(s)", before - df.height)
        df = df.sort(["station.id", "id"], nulls_last=True)
        logger.info("%d segment(s) found to process", df.height)
        logger.info("")
        return df

    def batches(self, df: pl.DataFrame, verbose: bool) -> Iterator[pl.DataFrame]:
        """Run the function on ``df`` batch after batch; yield each batch's result frame."""
        if verbose:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm

        from ._engine import map_segments

        workers = self.workers
        if workers <= 1:
            chunk = batch = self.chunksize or 100
        else:
            chunk = self.chunksize or max(1, min(100, -(-df.height // (workers * 4))))
            batch = chunk * workers * 4
        bar = tqdm(total=df.height, disable=not verbose, unit="seg", desc=self.name,
                   file=sys.stderr, dynamic_ncols=True)
        try:
            for start in range(0, df.height, batch):
                part = df.slice(start, batch)
                try:
                    out = map_segments(
                        part, self.call, workers=workers, chunksize=chunk, errors="raise",
                        progress=False, dburl=self.url, error_column=_P + "error",
                    )
                except ProcessingError as exc:
                    if exc.segment_id is None:  # not the function: e.g. workers cannot start
                        raise
                    raise self._failure(exc) from (self.call.error or exc.__cause__)
                self._count(out)
                bar.update(part.height)
                yield out
        finally:
            bar.close()

    def _failure(self, exc: ProcessingError) -> ProcessingError:
        original = self.call.error or exc.__cause__
        what = f"{type(original).__name__}: {original}" if original is not None else str(exc)
        msg = f"{self.name} failed on segment {exc.segment_id}: {what}"
        text = str(exc)
        if original is None or self.workers > 1:
            marker = "Traceback in the worker:"
            if marker in text:
                msg += "\n\n" + text[text.index(marker):]
        return ProcessingError(msg, segment_id=exc.segment_id)

    def _count(self, out: pl.DataFrame) -> None:
        skip_col = _P + "skip"
        if skip_col in out.columns:
            skipped = out.filter(pl.col(skip_col).is_not_null()).select("id", skip_col)
            for sid, message in skipped.iter_rows():
                logger.warning("segment (id=%d): %s", sid, message)
            self.stats["skipped"] += skipped.height
        err = out.filter(pl.col(_P + "error").is_not_null())
        if err.height:  # a value the engine could not store (process: table columns)
            sid, message = err.row(0, named=True)["id"], err[_P + "error"][0]
            raise ProcessingError(f"{self.name} on segment {sid}: {message}", segment_id=sid)
        if _P + "ok" in out.columns:
            self.stats["processed"] += int(out[_P + "ok"].sum() or 0)

    def summary(self, total: int, logfile: str | None, written: bool) -> None:
        logger.info("")
        logger.info("%d of %d segment(s) successfully processed", self.stats["processed"], total)
        where_ = " with error message reported in the log file" if logfile else ""
        logger.info("%d of %d segment(s) skipped%s", self.stats["skipped"], total, where_)
        if written:
            logger.info("%d of %d segment(s) successfully written to the provided output",
                        self.stats["written"], total)


def _selection(segments_selection: Any) -> pl.Expr:
    if segments_selection is None:
        return where(get_default_segments_selection())
    if isinstance(segments_selection, pl.Expr):
        return segments_selection
    if isinstance(segments_selection, Mapping):
        return where(segments_selection)
    if isinstance(segments_selection, str | bytes):
        raise SelectionError("segments_selection must be a dict or a list of segment ids, "
                             "not a string")
    try:
        ids = [int(i) for i in segments_selection]
    except (TypeError, ValueError) as exc:
        raise SelectionError(
            "segments_selection must be a dict of attribute names to expressions or a list "
            f"of segment ids ({exc})"
        ) from None
    return pl.col("id").is_in(ids)


def _workers(multi_process: bool | int) -> int:
    if multi_process is True:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            return os.cpu_count() or 1
    if multi_process is False or multi_process is None:
        return 1
    if isinstance(multi_process, int) and multi_process >= 0:
        return max(1, multi_process)
    raise BadInput(f"multi_process must be True, False or a number of processes, "
                   f"not {multi_process!r}")


def _skip_tuple(skip_exceptions: Any) -> tuple[type[BaseException], ...]:
    if skip_exceptions is None:
        extra: tuple = ()
    elif isinstance(skip_exceptions, type):
        extra = (skip_exceptions,)
    else:
        extra = tuple(skip_exceptions)
    for exc in extra:
        if not (isinstance(exc, type) and issubclass(exc, BaseException)):
            raise BadInput(f"skip_exceptions must be exception classes, not {exc!r}")
    return (SkipSegment, *extra)


def _abort(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt):
        logger.critical("Aborted by user")
    else:
        logger.critical("Process aborted", exc_info=exc)


# ------------------------------------------------------------------------ public API
def imap(
    pyfunc: Callable[[Any, dict], Any],
    dburl: str | URL,
    segments_selection: Mapping[str, Any] | Sequence[int] | None = None,
    config: Mapping[str, Any] | str | os.PathLike | None = None,
    logfile: str | os.PathLike = "",
    verbose: bool = False,
    multi_process: bool | int = False,
    chunksize: int | None = None,
    skip_exceptions: Sequence[type[BaseException]] | None = None,
) -> Iterator[Any]:
    """Yield ``pyfunc(segment, config)`` for every selected segment.

    Parameters
    ----------
    pyfunc : callable
        ``pyfunc(segment, config)``. ``segment`` has stream2segment's attributes
        (``segment.id``, ``segment.event.magnitude``, ``segment.stream()``,
        ``segment.inventory()``, ``segment.siblings()``...).
    dburl : str
        Database URL (``sqlite:///...`` or ``postgresql://...``).
    segments_selection : dict or list of int, optional
        Attribute names mapped to selection expressions (``{'event.magnitude':
        '[4, 5)'}``), or segment ids. Default: :func:`get_default_segments_selection`.
    config : dict or str, optional
        Second argument of ``pyfunc``: a dict, or the path of a YAML file. Default {}.
    logfile : str, optional
        File where skipped segments (id and message) and the summary are logged.
    verbose : bool
        Show a progress bar and the summary on the terminal (stderr).
    multi_process : bool or int
        Process segments in parallel worker processes (True: one per CPU; a number:
        that many). The outputs are then pickled back (they must be picklable).
    chunksize : int, optional
        Segments per task (default: automatic).
    skip_exceptions : list of exception classes, optional
        Besides :class:`SkipSegment`, exceptions that skip a segment (logged with
        its id) instead of aborting.

    Yields
    ------
    object
        The outputs of ``pyfunc`` (also None), segments ordered by station, then id.

    Raises
    ------
    ProcessingError
        When ``pyfunc`` raises any other exception: the message names the segment
        id, the original exception is the ``__cause__``.
    DatabaseError, SelectionError, BadInput
        On bad arguments (raised when ``imap`` is called, before iterating).

    Examples
    --------
    >>> def f(segment, config):
    ...     return segment.id, segment.stream()[0].stats.npts
    >>> for seg_id, npts in imap(f, dburl, {"has_valid_data": "true"}):  # doctest: +SKIP
    ...     print(seg_id, npts)
    1 5036
    2 5226
    """
    run = _Run(pyfunc, dburl, segments_selection, config, multi_process, chunksize,
               skip_exceptions, mode="imap")
    return _imap(run, logfile, verbose)


def _imap(run: _Run, logfile: str | os.PathLike, verbose: bool) -> Iterator[Any]:
    log = _Log(logfile, verbose)
    t0 = time.time()
    total = 0
    try:
        run.header(None, log.logfile)
        df = run.frame()
        total = df.height
        for out in run.batches(df, verbose):
            ok = out.filter(pl.col(_P + "ok").fill_null(False)) if _P + "ok" in out.columns \
                else out.clear()
            if run.call.mode == "memory":
                outputs = run.call.outputs
                ids = ok["id"].to_list()
                values = [outputs.pop(i) for i in ids]
                outputs.clear()
                yield from values
            else:
                import cloudpickle

                for blob in ok[_P + "out"]:
                    yield cloudpickle.loads(blob)
        run.summary(total, log.logfile, written=False)
        logger.info("Completed in %.1f s", time.time() - t0)
    except GeneratorExit:
        logger.info("Stopped by the caller after %d of %d segment(s)",
                    run.stats["processed"] + run.stats["skipped"], total)
        raise
    except BaseException as exc:
        _abort(exc)
        raise
    finally:
        run.call.close()
        log.close()


def process(
    pyfunc: Callable[[Any, dict], Any],
    dburl: str | URL,
    segments_selection: Mapping[str, Any] | Sequence[int] | None = None,
    config: Mapping[str, Any] | str | os.PathLike | None = None,
    outfile: str | os.PathLike | None = None,
    append: bool = False,
    writer_options: dict[str, Any] | None = None,
    logfile: bool | str | os.PathLike = False,
    verbose: bool = False,
    multi_process: bool | int = False,
    chunksize: int | None = None,
    skip_exceptions: Sequence[type[BaseException]] | None = None,
) -> ProcessResult:
    """Run ``pyfunc(segment, config)`` on the selected segments and write a table.

    Parameters are those of :func:`imap`, plus:

    Parameters
    ----------
    outfile : str, optional
        ``.csv``, ``.hdf``/``.h5``/``.hdf5`` (pandas HDFStore, table format, key
        ``s2s_table``) or ``.parquet``. One row per segment whose function returned
        a dict (one column per key) or a list/tuple (columns ``"0"``, ``"1"``...),
        first column ``segment_db_id``; None returned: no row. Without outfile the
        outputs are discarded.
    append : bool
        Keep the rows of an existing ``outfile`` and process only the segments not
        in it (resume after an interruption). False: replace the file.
    writer_options : dict, optional
        HDF: arguments of ``pandas.HDFStore.append`` (e.g. ``min_itemsize``, ``key``,
        ``chunksize`` rows per write). Parquet: arguments of
        ``polars.DataFrame.write_parquet`` (e.g. ``compression``).
    logfile : bool or str
        True: log to ``<outfile>.<date>.log``; a path: log there.

    Returns
    -------
    ProcessResult
        Counts of selected, processed, skipped and written segments.

    Examples
    --------
    >>> def main(segment, config):
    ...     trace = segment.stream()[0]
    ...     return {"npts": trace.stats.npts, "max": float(abs(trace.data).max())}
    >>> process(main, dburl, {"has_valid_data": "true"}, outfile="out.parquet")  # doctest: +SKIP
    ProcessResult(total=2, processed=2, skipped=0, written=2, outfile='.../out.parquet', ...)
    """
    run = _Run(pyfunc, dburl, segments_selection, config, multi_process, chunksize,
               skip_exceptions, mode="row")
    existed = outfile is not None and os.path.isfile(outfile)
    writer = get_writer(outfile, append, writer_options) if outfile is not None else None
    if logfile is True:
        base = outfile or getattr(sys.modules.get(getattr(pyfunc, "__module__", "")), "__file__",
                                  None)
        if base is None:
            raise BadInput("logfile=True needs an outfile (or a function defined in a file)")
        logfile = logfile_path(base)
    log = _Log(logfile or None, verbose)
    t0 = time.time()
    total = 0
    try:
        run.header(str(outfile) if outfile is not None else None, log.logfile)
        if writer is not None and append:
            logger.info("Appending results to existing file" if writer.appending or
                        len(writer.done_ids()) else
                        "Ignoring append: the output file does not exist or is empty")
        elif existed:
            logger.info("Overwriting existing output file")
        df = run.frame(writer.done_ids() if writer is not None and append else None)
        total = df.height
        for out in run.batches(df, verbose):
            if writer is None or _P + "row" not in out.columns:
                continue
            rows = out.filter(pl.col(_P + "row").fill_null(False))
            cols = [c for c in rows.columns if c.startswith(_R)]
            table = rows.select(pl.col("id").alias(SEGMENT_ID_COLNAME),
                                *[pl.col(c).alias(c[len(_R):]) for c in cols])
            if table.height:
                writer.write(table)
                run.stats["written"] += table.height
        run.summary(total, log.logfile, written=writer is not None)
        logger.info("Completed in %.1f s", time.time() - t0)
    except BaseException as exc:
        _abort(exc)
        raise
    finally:
        try:
            if writer is not None:
                writer.close()
        finally:
            run.call.close()
            log.close()
    return ProcessResult(total, run.stats["processed"], run.stats["skipped"],
                         run.stats["written"],
                         os.path.abspath(outfile) if outfile is not None else None, log.logfile)


def get_db_items_count(db: Any, item_type: type, conditions: Mapping[str, Any] | None = None) -> int:
    """Number of items :func:`get_db_items` would yield (one COUNT query).

    Examples
    --------
    >>> get_db_items_count("sqlite:///example.db.sqlite", Segment, {"id": "<3"})  # doctest: +SKIP
    2
    """
    from ._session import _PREFIX, _open, _query, _selection_expr

    session, own = _open(db)
    try:
        if conditions is not None and item_type not in _PREFIX:
            raise SelectionError(f"conditions are not supported for {item_type.__name__}")
        expr = None if conditions is None else _selection_expr(conditions, _PREFIX[item_type])
        return _query(session, item_type, expr, None).order_by(None).count()
    finally:
        if own:
            close_session(session)


def load_ints_from_txt(path: str | os.PathLike, sep: str = "\n", as_list: bool = True) -> Any:
    """Read integers (e.g. segment ids) written by :func:`save_ints_to_txt`.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "ids.txt")
    >>> save_ints_to_txt(path, [3, 1, 2])
    >>> load_ints_from_txt(path)
    [3, 1, 2]
    """
    import numpy as np

    with open(path, encoding="utf-8") as fh:
        values = np.array([int(v) for v in fh.read().split(sep or "\n") if v.strip()],
                          dtype=int)
    return values.tolist() if as_list else values


def save_ints_to_txt(path: str | os.PathLike, integers: Any, sep: str = "\n") -> None:
    """Write integers (e.g. segment ids to pass as a selection), one per line by default."""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write((sep or "\n").join(str(int(i)) for i in integers))


#: stream2segment's name of :func:`process`.
map = process  # noqa: A001 - stream2segment's public name
