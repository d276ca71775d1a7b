"""The stream2segment-compatible processing API: change one word in the imports.

``from stream2segment.process import ...`` becomes ``from s2sframe.process import ...``::

    from s2sframe.process import imap, process, get_segments, get_session, Segment

- :func:`imap` yields the output of ``pyfunc(segment, config)`` for each selected
  segment; :func:`process` (alias :func:`map`) writes it to a CSV, HDF or Parquet
  file (one row per segment, id in ``segment_db_id``). Both select with
  :func:`s2sframe.where` (compiled to SQL) and run through the engine of
  :func:`s2sframe.map_segments` (``multi_process=True``: parallel worker processes).
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

import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy.engine import URL

from ..db.urls import mask_url
from ..engine.owner import function_fingerprint
from ..exceptions import SkipSegment
from .config import BadInput, logfile_path, yaml_load
from .help import get_segment_help
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
from .runner import (
    _P,
    _R,
    ProcessResult,
    ProcessRun,
    _abort,
    _Log,
    completed,
    get_default_segments_selection,
    logger,
)
from .session import (
    close_session,
    get_classlabels,
    get_db_items,
    get_segments,
    get_session,
    items_query,
    load_only,
    open_session,
)
from .writers import SEGMENT_ID_COLNAME, get_writer

__all__ = [
    "Channel", "Class", "ClassLabelling", "DataCenter", "Download", "Event",
    "ProcessResult", "Segment", "SkipSegment", "Station", "WebService",
    "close_session", "get_classlabels", "get_db_items", "get_db_items_count",
    "get_default_segments_selection", "get_segment_help", "get_segments", "get_session", "imap",
    "load_ints_from_txt",
    "load_only", "map", "process", "save_ints_to_txt", "yaml_load",
]


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
    Exception
        The exception ``pyfunc`` raised (other than the skipped ones), as in
        stream2segment, with a note naming the segment (``add_note``; from a worker
        process also its traceback there) and the segment id in ``segment_id``.
        :class:`ProcessingError` only if the exception of a worker process cannot
        be pickled back.
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
    run = ProcessRun(pyfunc, dburl, segments_selection, config, multi_process, chunksize,
               skip_exceptions, mode="imap")
    return _imap(run, logfile, verbose)


def _imap(run: ProcessRun, logfile: str | os.PathLike, verbose: bool) -> Iterator[Any]:
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
        run.summary(total, written=False)
        completed(t0)
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
        in it (resume after an interruption, also after ``kill -9``). False: replace
        the file. A run that raises (an error of the function, Ctrl-C) writes no
        output file: the rows it finished stay in ``<outfile>.parts/`` and the same
        call with ``append=True`` resumes from them. Appending to a file produced by another function or database is
        refused (:class:`~s2sframe.OutputError`, see docs/long_jobs.md).
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
    run = ProcessRun(pyfunc, dburl, segments_selection, config, multi_process, chunksize,
               skip_exceptions, mode="row")
    existed = outfile is not None and os.path.isfile(outfile)
    writer = None
    if outfile is not None:
        manifest = {"producer": "process", "function": function_fingerprint(pyfunc),
                    "database": mask_url(run.url)}
        writer = get_writer(outfile, append, writer_options, manifest)
    if logfile is True:
        base = outfile or getattr(sys.modules.get(getattr(pyfunc, "__module__", "")), "__file__",
                                  None)
        if base is None:
            raise BadInput("logfile=True needs an outfile (or a function defined in a file)")
        logfile = logfile_path(base)
    log = _Log(logfile or None, verbose)
    t0 = time.time()
    total = 0
    complete = False
    try:
        run.header(str(outfile) if outfile is not None else None, log.logfile)
        done = writer.done_ids() if writer is not None and append else None
        if done is not None and not (existed or len(done)):  # nothing to append to
            done = None
        if append:  # stream2segment's messages
            logger.info("Appending results to existing file" if done is not None else
                        "Ignoring `append` functionality: output file does not exist or not "
                        "provided")
        elif existed:
            logger.info("Overwriting existing output file")
        df = run.frame(done)
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
        run.summary(total, written=writer is not None)
        completed(t0)
        complete = True
    except BaseException as exc:
        _abort(exc)
        if writer is not None and writer.rows:
            logger.info("%d row(s) of this run are kept in %s: run again with append=True "
                        "(s2s process -a) to resume", writer.rows, writer.files.parts.folder)
        raise
    finally:
        try:
            if writer is not None:
                writer.close(complete)  # a failed run writes no output file: its parts stay
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
    session, own = open_session(db)
    try:
        return items_query(session, item_type, conditions).order_by(None).count()
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


map = process  # noqa: A001 - stream2segment's public name
"""Alias of :func:`process` (stream2segment's ``map``)."""
