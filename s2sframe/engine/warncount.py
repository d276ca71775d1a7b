"""Warnings raised while the user's function runs: counted, not printed once per segment.

A function run on thousands of segments may warn on many of them (NumPy's
``RuntimeWarning: divide by zero encountered in log10``). Printed as Python does,
the console fills with copies naming ``<dynamic-code>`` (code sent to the workers
by value has no file name there). Instead :class:`CountWarnings` counts each
distinct warning (category, message, file and line of the user's code) while a
chunk runs; the parent adds the counts up over the run and shows each warning
once with its count (:func:`warning_lines`), in the log and in the summary.

Filters still apply: a warning the user ignores is not counted, one turned into an
error (``warnings.simplefilter("error")``) fails the segment like any exception.
"""

from __future__ import annotations

import sys
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

#: (file, line, function name, its first line, category, message) of a warning
WarningKey = tuple[str, int, str, int, str, str]

#: Distinct warnings kept per run (more: counted together as "other warnings").
MAX_DISTINCT = 50
_OTHER: WarningKey = ("", 0, "", 0, "", "")

_LOCK = threading.Lock()
_LOCAL = threading.local()
_ACTIVE = [0]  # threads counting warnings now
_SAVED: list[Any] = []  # the catch_warnings restoring filters and showwarning, while active


class CountWarnings:
    """Context manager counting the warnings of this thread in :attr:`counts`.

    While any thread counts, every occurrence of a warning reaches the filters'
    action (``always``, except filters that ignore or raise, which stay as they were),
    and warnings of threads that do not count are shown as before.
    """

    def __init__(self) -> None:
        self.counts: Counter[WarningKey] = Counter()

    def __enter__(self) -> CountWarnings:
        with _LOCK:
            if not _ACTIVE[0]:
                saved = warnings.catch_warnings()  # restores filters and showwarning
                shown = warnings.showwarning
                kept = [f for f in warnings.filters if f[0] in ("ignore", "error")]
                saved.__enter__()
                _SAVED[:] = [saved]
                warnings.simplefilter("always")
                for action, message, category, module, lineno in reversed(kept):
                    warnings.filterwarnings("ignore" if action == "ignore" else "error",
                                            message.pattern if message else "",
                                            category if isinstance(category, type) else Warning,
                                            module.pattern if module else "", lineno)
                warnings.showwarning = _dispatcher(shown)
            _ACTIVE[0] += 1
        _LOCAL.counts = self.counts
        return self

    def __exit__(self, *exc: object) -> None:
        _LOCAL.counts = None
        with _LOCK:
            _ACTIVE[0] -= 1
            if not _ACTIVE[0] and _SAVED:
                _SAVED.pop().__exit__(None, None, None)


def _dispatcher(shown: Callable[..., Any]) -> Callable[..., Any]:
    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        counts: Counter[WarningKey] | None = getattr(_LOCAL, "counts", None)
        if counts is None:
            shown(message, category, filename, lineno, file, line)
            return
        name, first = "", 0
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:  # the frame that warned: its function (and module's file)
            code = frame.f_code
            if code.co_filename == filename and frame.f_lineno == lineno:
                name, first = code.co_name, code.co_firstlineno
                if filename == "<dynamic-code>":  # sent by value: no file name
                    filename = frame.f_globals.get("__file__") or filename
                break
            frame = frame.f_back
        key = (filename, lineno, name, first, category.__name__, str(message))
        if key not in counts and len(counts) >= MAX_DISTINCT:
            key = _OTHER
        counts[key] += 1

    return show


def merge(total: Counter[WarningKey], counts: Mapping[WarningKey, int]) -> None:
    """Add ``counts`` to ``total``, keeping at most MAX_DISTINCT distinct warnings."""
    for key, n in counts.items():
        if key not in total and len(total) >= MAX_DISTINCT:
            key = _OTHER
        total[key] += n


def warning_lines(counts: Counter[WarningKey], files: Callable[[str, int], str | None],
                  limit: int = 20) -> list[str]:
    """One line per distinct warning, most frequent first: ``file:line: Category: message
    (N times)``; ``files(name, first_line)`` names the file of code sent by value.

    Examples
    --------
    >>> from collections import Counter
    >>> counts = Counter({("/w/f.py", 6, "main", 1, "RuntimeWarning", "divide by zero"): 82})
    >>> warning_lines(counts, lambda name, first: None)
    ['/w/f.py:6: RuntimeWarning: divide by zero (82 times)']
    """
    lines = []
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = [(k, n) for k, n in ranked if k != _OTHER][:limit]
    for (filename, lineno, name, first, category, message), n in shown:
        if filename == "<dynamic-code>":
            filename = files(name, first) or filename
        times = "once" if n == 1 else f"{n} times"
        lines.append(f"{filename}:{lineno}: {category}: {message} ({times})")
    listed = {k for k, _ in shown}
    rest = sum(n for k, n in ranked if k not in listed)
    if rest:
        lines.append(f"... and {rest} more warning(s) of other kinds")
    return lines
