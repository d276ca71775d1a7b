"""What every ``s2s`` command shares: the command group, password masking, exit codes,
the selection of download runs (``-d``, ``-did``, ``DOWNLOAD_INDICES``)."""

from __future__ import annotations

import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..compat.config import BadInput, resolve_dburl
from ..db.urls import mask_text
from ..exceptions import (
    ConfigWarning,
    DatabaseError,
    OutputError,
    ProcessingError,
    SelectionError,
    describe_error,
)


def mask(text: str) -> str:
    """Replace passwords of URLs in ``text`` with ``***`` (see :func:`s2sframe.db.urls.mask_text`).

    Examples
    --------
    >>> mask("cannot open postgresql://me:secret@host/db: timeout")
    'cannot open postgresql://me:***@host/db: timeout'
    """
    return mask_text(text)


def _fail(message: str, code: int) -> None:
    click.echo(mask(f"Error: {message}"), err=True)
    sys.exit(code)


def confirm_or_stop(question: str, flag: str, declined: str = "nothing deleted") -> None:
    """Ask ``question`` on the terminal: no -> ``declined`` and exit code 1; no terminal
    to ask on -> :class:`BadInput` telling to pass ``flag`` (exit code 2)."""
    try:
        ok = click.confirm(question, default=False, err=True)
    except click.exceptions.Abort:
        raise BadInput(f"pass {flag} to go on without confirmation (no terminal to ask on)") \
            from None
    if not ok:
        click.echo(declined, err=True)
        sys.exit(1)


def _handled(func: Callable[..., Any]) -> Callable[..., Any]:
    """Map exceptions of a command to messages and exit codes (2: input, 1: processing)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                _show_config_warnings()
                return func(*args, **kwargs)
        except (BadInput, DatabaseError, OutputError, SelectionError, FileNotFoundError) as exc:
            _fail(str(exc), 2)
        except ProcessingError as exc:
            _fail(str(exc), 1)
        except KeyboardInterrupt:
            _fail("aborted by user", 1)
        except click.exceptions.Exit:
            raise
        except (Exception, SystemExit) as exc:  # anything else failed while running
            if isinstance(exc, SystemExit) and getattr(exc, "segment_id", None) is None:
                raise
            _fail(_failure_text(exc), 1)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def _show_config_warnings() -> None:
    """Print configuration warnings as ``Warning: <message>`` (they name file and line)."""
    shown = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        if issubclass(category, ConfigWarning):
            click.echo(mask(f"Warning: {message}"), err=True)
        else:
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    warnings.simplefilter("always", ConfigWarning)


def _failure_text(exc: BaseException) -> str:
    """An exception as a message; a processing function's (``imap``/``process`` set
    ``segment_id`` and a note naming the segment) with its traceback, user frames only."""
    what = describe_error(exc)
    notes = getattr(exc, "__notes__", None)
    if getattr(exc, "segment_id", None) is None or not notes:
        return what
    head, _, trace = notes[-1].partition("\n\n")
    if not trace:  # single process: the exception's own traceback, without our frames
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if "s2sframe" not in Path(f.filename).parts]
        trace = ("Traceback (most recent call last):\n"
                 + "".join(traceback.format_list(frames)) + what)
    return f"{head}: {what}\n\n{trace}"


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="s2sframe", prog_name="s2s")
def main() -> None:
    """s2sframe: process the waveform segments of stream2segment databases.

    \b
    Start with `s2s init DIR` (a documented processing module, its YAML
    configuration, a notebook and an example database), then run
    `s2s process` on the database. `s2s COMMAND --help` explains each command.
    """


# ---------------------------------------------------- download runs, by index and id
#: context settings of the commands taking :func:`_selection`: negative indices (``-1``,
#: the last run) are arguments, not unknown options (as in stream2segment)
RUN_SELECTION = {"ignore_unknown_options": True}


def _selection(func: Callable[..., Any]) -> Callable[..., Any]:
    """stream2segment's options of the commands on download runs: ``-d``, ``-did`` (repeatable)
    and ``DOWNLOAD_INDICES``."""
    func = click.argument("download_indices", nargs=-1)(func)
    func = click.option("-did", "--download-id", "download_ids", type=int, multiple=True,
                        help="Id of a download run; repeatable.")(func)
    return click.option("-d", "--dburl", required=True, metavar="DBURL_OR_YAML",
                        help="Database URL, or a YAML file with a 'dburl' entry.")(func)


def _runs(dburl: str, indices: tuple[str, ...], ids: tuple[int, ...],
          default_last: bool) -> tuple[Any, list[int]]:
    """``(engine, run ids)`` of :func:`_selection`'s values (none: every run, or the last
    one with ``default_last``); a bad index or id is a :class:`BadInput`."""
    from ..db import downloads
    from ..db.urls import get_engine

    engine = get_engine(resolve_dburl(dburl), readonly=True)
    if default_last and not indices and not ids:
        indices = ("-1",)
    try:
        return engine, downloads.run_ids(engine, indices, ids)
    except ValueError as exc:
        raise BadInput(str(exc)) from None
