"""The machinery of ``imap`` / ``process``: the wrapped function, the segment, the run.

``imap`` and ``process`` (:mod:`s2sframe.process`) select the segments with
:func:`s2sframe.scan` + :func:`s2sframe.where`, then call
:func:`s2sframe.engine.run.map_segments` batch after batch with :class:`_Call`, which
calls ``pyfunc(segment, config)`` and turns its output into engine columns (kept
in memory, pickled, or table columns). Skipped segments and summaries go to the
``s2sframe.process`` logger, shown only where asked (log file, ``verbose``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..db import attributes
from ..db import urls as _db
from ..db.scan import scan
from ..db.selection import where
from ..engine.results import ResultTypeError, mixed_types
from ..engine.run import MapRun, chunk_size, resolve_workers, skip_tuple
from ..engine.status import Status
from ..exceptions import ProcessingError, SelectionError, SkipSegment
from .config import BadInput, check_pyfunc, load_config
from .orm import Segment
from .segment import ProcessingSegment
from .session import close_session, get_session

logger = logging.getLogger("s2sframe.process")
logger.addHandler(logging.NullHandler())  # messages are shown only where asked (logfile, verbose)

#: Columns of the segments frame handed to workers: all attributes but long texts
#: (download log and config) and class lists, which are fetched when used.
_NOT_LOADED = ("download.log", "download.config", "classes.id", "classes.label",
               "classes.description")
#: How to fix values of different types for one key (see :mod:`s2sframe.engine.results`).
KEY_HINT = ("return the same type for each key in every segment (None mixes with any type, "
            "int with float)")
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
        self.__s2s_wrapped__ = pyfunc  # for the engine: the user's function (module, file)
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
        seg = ProcessingSegment(segment, self.orm_segment)
        try:
            out = self.pyfunc(seg, self.config)
        except self.skip as exc:  # logged as stream2segment: "segment (id=N): <message>"
            return {_P + "skip": str(exc) or type(exc).__name__}
        except (Exception, SystemExit) as exc:
            self.error = exc  # the original, with its traceback (single process)
            raise
        finally:
            self.end_segment()
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
            # no pool: between segments a worker holds no connection (see end_segment)
            session = _SESSIONS[self._url] = get_session(self._url, poolclass=sa.pool.NullPool)
        return session

    def end_segment(self) -> None:
        """End the ORM session's transaction after each call: no connection is left
        "idle in transaction" (blocking VACUUM and DDL) between segments or runs."""
        if self._orm_id is not None:
            session = _SESSIONS.get(self._url)
            if session is not None:
                session.close()  # objects detach; the session object stays reusable
            self._orm_id = None

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
    items: Iterable[tuple[Any, Any]]
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
    """The log of one run: file handler (all messages) and, if verbose, the terminal.

    Lines are the messages alone, as stream2segment writes them (``segment (id=1):
    low snr 1.350154``), so that what users grep in its logs is found in ours.
    """

    def __init__(self, logfile: str | os.PathLike | None, verbose: bool) -> None:
        self.handlers: list[logging.Handler] = []
        self.logfile = os.path.abspath(logfile) if logfile else None
        if self.logfile:
            fh = logging.FileHandler(self.logfile, mode="a", encoding="utf-8")
            fh.setFormatter(logging.Formatter("%(message)s"))
            fh.setLevel(logging.INFO)
            self.handlers.append(fh)
        if verbose:
            sh = logging.StreamHandler(sys.stderr)
            sh.setFormatter(logging.Formatter("%(message)s"))
            sh.setLevel(logging.INFO)
            # per-segment warnings, the error that ends the run (raised: shown by the
            # caller, e.g. the s2s command) and what the progress bar shows go to the
            # log file only
            sh.addFilter(lambda record: record.levelno != logging.WARNING
                         and not getattr(record, "s2s_raised", False)
                         and not getattr(record, "s2s_status", False))
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


class ProcessRun:
    """Validated arguments of an ``imap`` / ``process`` call, and its execution."""

    def __init__(self, pyfunc: Callable, dburl: str | URL, segments_selection: Any,
                 config: Any, multi_process: bool | int, chunksize: int | None,
                 skip_exceptions: Any, mode: str) -> None:
        check_pyfunc(pyfunc)
        self.pyfunc = pyfunc
        self.config_arg = config
        self.config = load_config(config)
        self.url = _db.parse_url(dburl)
        self.scan = scan(self.url)  # DatabaseError now if unreachable or not stream2segment
        self.selection = _selection(segments_selection)
        self.by_ids = segments_selection is not None and not isinstance(
            segments_selection, Mapping | pl.Expr)  # a list of ids: no query to announce
        self.workers = _workers(multi_process)
        try:
            self.chunksize = chunk_size(0, 1, chunksize) if chunksize is not None else None
            self.skip: tuple[type[BaseException], ...] = (SkipSegment,
                                                          *skip_tuple(skip_exceptions))
        except (TypeError, ValueError) as exc:
            raise BadInput(str(exc)) from None
        if mode == "imap":
            mode = "memory" if self.workers <= 1 else "pickle"
        self.call = _Call(pyfunc, self.config, self.skip, mode, self.url)
        self.name = self.call.__name__
        self.stats = {"processed": 0, "skipped": 0, "written": 0}
        self.warned: list[str] = []

    def header(self, outfile: str | None, logfile: str | None) -> None:
        """stream2segment's framed summary of the run's inputs (and ours: the module, the
        worker processes)."""
        module = sys.modules.get(getattr(self.pyfunc, "__module__", ""), None)
        pyfile = getattr(module, "__file__", None)
        cfg = self.config_arg if isinstance(self.config_arg, str | os.PathLike) else None
        lines = [
            f"Input database:      {_db.mask_url(self.url)}",
            f"Processing function: {self.name}",
            f"Log file:            {logfile or 'n/a'}",
            f"Output file:         {os.path.abspath(outfile) if outfile else 'n/a'}",
        ]
        if cfg:
            lines.append(f"Config. file:        {os.path.abspath(cfg)}")
        if pyfile:
            lines.append(f"Processing module:   {os.path.abspath(pyfile)}")
        lines.append(f"Processes:           {self.workers}")
        width = max(len(line) for line in lines)
        bar = "\u2550" * (width + 2)  # a box of double lines, as stream2segment draws it
        logger.info("\n".join([f"\u2554{bar}\u2557", *(f"\u2551 {ln:<{width}} \u2551" for ln in lines),
                               f"\u255a{bar}\u255d"]))

    def frame(self, done: pl.Series | None = None) -> pl.DataFrame:
        """The selected segments (all attributes but long ones), ordered by station and id.

        ``done``: the ids already in the output (appending), which are not processed.
        """
        columns = [n for n in attributes.ATTRIBUTES if n not in _NOT_LOADED]
        if not self.by_ids:
            logger.info("Fetching segments to process (please wait)")
        df = self.scan.filter(self.selection).select(columns).collect()
        if done is not None:
            logger.info("Fetching already processed segment(s) (please wait)")
            # stream2segment's count: the segments in the output (also those not selected)
            logger.info("Skipping %d already processed segment(s)", done.n_unique())
            df = df.filter(~pl.col("id").is_in(done.implode()))
        df = df.sort(["station.id", "id"], nulls_last=True)
        logger.info("%d segment(s) found to process", df.height)
        logger.info("")
        return df

    def batches(self, df: pl.DataFrame, verbose: bool) -> Iterator[pl.DataFrame]:
        """Run the function on ``df`` batch after batch; yield each batch's result frame.

        One engine run spans the batches: workers keep their database engines and
        parsed inventories from one batch to the next.
        """
        if verbose:
            from tqdm.auto import tqdm
        else:
            from tqdm import tqdm

        workers = self.workers
        chunk = chunk_size(df.height, workers, self.chunksize, cap=100)
        batch = chunk if workers <= 1 else chunk * workers * 4
        bar = tqdm(total=df.height, disable=not verbose, unit="seg", desc=self.name,
                   file=sys.stderr, dynamic_ncols=True)
        mapper = MapRun(self.call, workers=workers, chunksize=chunk, errors="raise",
                         dburl=self.url, error_column=_P + "error", total=df.height,
                         status=Status(self.name, bar, logger))
        try:
            for start in range(0, df.height, batch):
                part = df.slice(start, batch)
                failure: BaseException | None = None
                try:
                    out = mapper.map(part, progress=False)
                except ResultTypeError as exc:
                    raise mixed_types(self.name, exc.column.removeprefix(_R), exc.first,
                                      exc.second, KEY_HINT) from None
                except ProcessingError as exc:
                    if exc.segment_id is None:  # not the function: e.g. workers cannot start
                        raise
                    failure = self._failure(exc)
                if failure is not None:
                    raise failure  # outside the except: the function's exception chain intact
                self._count(out)
                bar.update(part.height)
                yield out
        finally:
            self.warned = mapper.warning_lines()  # each distinct warning, counted over the run
            mapper.close()
            bar.close()

    def _failure(self, exc: ProcessingError) -> BaseException:
        """The exception to raise for a failure of the function, as stream2segment did.

        The function's own exception (the original object in a single process, its
        unpickled copy from a worker), with a note naming the segment (and, from a
        worker, the traceback there) and ``segment_id`` set; a :class:`ProcessingError`
        only when the exception could not be brought back from the worker.
        """
        original = self.call.error or exc.__cause__
        if original is None:
            msg = f"{self.name} failed on segment {exc.segment_id}: {exc}"
            return ProcessingError(msg, segment_id=exc.segment_id,
                                   function_traceback=exc.function_traceback)
        note = f"{self.name} failed on segment {exc.segment_id}"
        if original is not self.call.error and exc.function_traceback:  # from a worker
            note += "\n\n" + exc.function_traceback.rstrip()
        original.add_note(note)
        if getattr(original, "segment_id", None) is None:
            with contextlib.suppress(AttributeError, TypeError):  # e.g. __slots__ exceptions
                setattr(original, "segment_id", exc.segment_id)  # noqa: B010 - any exception
        return original

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

    def summary(self, total: int, written: bool) -> None:
        """stream2segment's summary lines."""
        logger.info("")
        logger.info("%d of %d segment(s) successfully processed", self.stats["processed"], total)
        logger.info("%d of %d segment(s) skipped with error message reported in the log file, "
                    "if provided", self.stats["skipped"], total)
        if written:
            logger.info("%d of %d segment(s) successfully written to the provided output",
                        self.stats["written"], total)
        if self.warned:
            logger.info("")
            logger.info("Warnings raised by %s (each once, with its count):", self.name)
            for line in self.warned:
                logger.info("  %s", line)


def completed(t0: float) -> None:
    """Log stream2segment's last line: ``Completed in 0:01:02`` (rounded to seconds)."""
    import datetime as dt

    logger.info("Completed in %s", dt.timedelta(seconds=round(time.time() - t0)))


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
    """Worker processes of ``multi_process`` (True: one per CPU; False/None/0/1: none)."""
    if multi_process is True:
        return resolve_workers(None)
    if multi_process is False or multi_process is None:
        return 1
    if isinstance(multi_process, int) and multi_process >= 0:
        return max(1, multi_process)
    raise BadInput(f"multi_process must be True, False or a number of processes, "
                   f"not {multi_process!r}")


def _abort(exc: BaseException) -> None:
    if isinstance(exc, KeyboardInterrupt):
        logger.critical("Aborted by user")
    elif getattr(exc, "segment_id", None) is not None:
        # the function's failure, raised to the caller (who shows it): whole in the log file
        text = (str(exc) if isinstance(exc, ProcessingError)
                else "".join(traceback.format_exception(exc)).rstrip())
        logger.critical("Process aborted: %s", text, extra={"s2s_raised": True})
    else:
        logger.critical("Process aborted", exc_info=exc)


