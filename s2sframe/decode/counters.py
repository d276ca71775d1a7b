"""What the decoders did besides their fast path, counted per process and reported by runs.

The fast miniSEED reader hands whatever it cannot prove identical to ObsPy's reader;
that is correct but slower, and a run's summary says how often it happened (never
silent). Errors of the interpreter itself (out of memory, recursion) are never
taken for bad data: :data:`SYSTEM_ERRORS` always propagate.
"""

from __future__ import annotations

import threading
from collections import Counter

#: Errors that say nothing about the bytes being decoded: never turned into skips.
SYSTEM_ERRORS: tuple[type[BaseException], ...] = (MemoryError, RecursionError)

_LOCK = threading.Lock()
_COUNTS: Counter[str] = Counter()


def count(kind: str) -> None:
    """Add one event of ``kind`` (e.g. "miniSEED read by ObsPy: leap second")."""
    with _LOCK:
        _COUNTS[kind] += 1


def take() -> dict[str, int]:
    """Return the counts since the last call, and start again from zero.

    Examples
    --------
    >>> _ = take()
    >>> count("miniSEED read by ObsPy: leap second")
    >>> take()
    {'miniSEED read by ObsPy: leap second': 1}
    >>> take()
    {}
    """
    with _LOCK:
        out = dict(_COUNTS)
        _COUNTS.clear()
    return out
