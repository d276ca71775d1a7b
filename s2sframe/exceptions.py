"""Exceptions raised by s2sframe.

Hierarchy::

    Exception
     ├── S2SFrameError              base of every s2sframe error
     │    ├── DatabaseError         database missing, unreachable or not a stream2segment one
     │    ├── ProcessingError       a user function failed and the run was aborted
     │    │    └── ResultTypeError  a result column got values of two types
     │    ├── OutputError           an output file that cannot be used: owned by another
     │    │                         run, produced by a different run, a folder, not
     │    │                         writable, a format that is not supported there
     │    │                         (also a ValueError)
     │    └── BadInput              a wrong argument of the user: file, function, option
     │         │                    (also a ValueError; the ``s2s`` command exits with 2)
     │    │    └── ConfigFileError  a YAML file (or text) that cannot be read: names the
     │    │                         file, the line and the key
     │    ├── ReadOnlyError         a write asked of a viewer opened read-only (``s2s show``;
     │    │                         also a PermissionError)
     │    └── PlotResultError       a plot function of ``s2s show`` returned something
     │                              that cannot be drawn (also a TypeError)
     ├── ValueError
     │    └── SelectionError        bad attribute name or selection expression
     │                              (also an S2SFrameError)
     └── SkipSegment                raised by user code (or by ``segment.stream()`` /
                                    ``segment.inventory()``) to skip one segment: recorded,
                                    the run goes on

    UserWarning
     └── ConfigWarning              a configuration key that looks like a typo of a known
                                    one (``segment_selection``), with its file and line
"""

from __future__ import annotations

__all__ = [
    "BadInput",
    "ConfigFileError",
    "ConfigWarning",
    "CatalogError",
    "ConfigError",
    "DatabaseError",
    "DownloadFailed",
    "OutputError",
    "PlotResultError",
    "ProcessingError",
    "ReadOnlyError",
    "ResultTypeError",
    "S2SFrameError",
    "SelectionError",
    "SkipSegment",
    "describe_error",
]


def describe_error(exc: BaseException, text: str | None = None) -> str:
    """``"Type: message"``, or ``"Type"`` for an error without a message: how s2sframe
    shows an error in one line (recorded segment errors, the viewer, the ``s2s`` command,
    the download's log). ``text``: the message to show instead of ``str(exc)`` (e.g. its
    first line, shortened).

    Examples
    --------
    >>> describe_error(ValueError("bad value")), describe_error(KeyboardInterrupt())
    ('ValueError: bad value', 'KeyboardInterrupt')
    >>> describe_error(OSError("a\\nb"), text="a")
    'OSError: a'
    """
    text = str(exc) if text is None else text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class S2SFrameError(Exception):
    """Base class of all s2sframe errors."""


class DatabaseError(S2SFrameError):
    """The database is missing, unreachable, or lacks the stream2segment tables.

    Messages never contain a password: URLs are always shown masked.
    """


class SelectionError(S2SFrameError, ValueError):
    """An unknown attribute or an invalid selection expression.

    The message names the attribute and the expression.
    """


class ProcessingError(S2SFrameError):
    """A user function raised an error that is not to be skipped; names the segment id.

    ``segment_id`` is that segment's id (None when the error is not the function's);
    ``function_traceback`` the traceback of the function's error, from the function
    down (its files and lines, also when it ran in a worker process), or None.
    """

    def __init__(self, message: str, segment_id: int | None = None,
                 function_traceback: str | None = None) -> None:
        super().__init__(message)
        self.segment_id = segment_id
        self.function_traceback = function_traceback


class OutputError(S2SFrameError, ValueError):
    """An output file cannot be used; the message names it and says how to proceed.

    Raised before any work starts: when another run is writing the output (one
    run per output at a time), when the output or its partial results were
    produced by a different function, database or selection, when the path is a
    folder, its folder is not writable, or its extension names a format that is
    not written there.

    Examples
    --------
    >>> from s2sframe import OutputError
    >>> issubclass(OutputError, ValueError)
    True
    """


class SkipSegment(Exception):
    """Raise it in a processing function to skip the current segment.

    The segment is recorded as skipped with the exception message and the run goes on.

    Examples
    --------
    >>> from s2sframe import SkipSegment
    >>> def main(segment, config):
    ...     if segment.maxgap_numsamples > 0.5:
    ...         raise SkipSegment("segment has gaps")
    """


class BadInput(S2SFrameError, ValueError):
    """A wrong argument given by the user (bad YAML, missing file or function...)."""


class ConfigFileError(BadInput):
    """A YAML file or text that cannot be read; the message names it, the line and the key.

    ``path`` is the file (or the name given to the text), ``line`` the line number
    (from 1) and ``key`` the key (``a.b[0]``) of the error, when known.

    Examples
    --------
    >>> from s2sframe.exceptions import ConfigFileError
    >>> issubclass(ConfigFileError, ValueError)
    True
    """

    def __init__(self, message: str, path: str, line: int | None = None,
                 key: str | None = None) -> None:
        super().__init__(message)
        self.path, self.line, self.key = path, line, key


class ConfigWarning(UserWarning):
    """A configuration key that is probably a typo of a known key (it is ignored)."""


class ResultTypeError(ProcessingError):
    """One result column got values of two types (a ProcessingError; picklable).

    ``column`` is the column; ``first`` and ``second`` are ``(type, segment id)`` of
    the two values that do not merge.

    Examples
    --------
    >>> import pickle
    >>> err = ResultTypeError("mixed types", "snr", ("Int64", 1), ("String", 2))
    >>> copy = pickle.loads(pickle.dumps(err))
    >>> copy.column, copy.first, copy.second
    ('snr', ('Int64', 1), ('String', 2))
    """

    def __init__(self, message: str, column: str = "", first: tuple = (),
                 second: tuple = ()) -> None:
        super().__init__(message)
        self.column, self.first, self.second = column, first, second

    def __reduce__(self) -> tuple:
        return type(self), (str(self), self.column, self.first, self.second)


class ReadOnlyError(S2SFrameError, PermissionError):
    """A write asked of a viewer opened with ``readonly=True`` (``s2s show``)."""


class PlotResultError(S2SFrameError, TypeError):
    """A plot function of ``s2s show`` returned something that cannot be drawn."""


class ConfigError(S2SFrameError, ValueError):
    """A bad download configuration; the message names the key and the reason."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"download configuration: '{key}': {reason}")
        self.key = key


class CatalogError(ConfigError):
    """The event catalog (``events_url``) gave content that is no catalog (exit code 2)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__("events_url", f"{source}: {reason}")


class DownloadFailed(S2SFrameError):
    """A step of a download could not produce anything to go on with (message says why).
    ``bad_input``: the configuration points at something that cannot work (e.g. an event
    service that refuses connections or whose host is unknown): ``s2s download`` exits
    with code 2."""

    def __init__(self, message: str, *, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input
