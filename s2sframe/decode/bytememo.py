"""A thread-safe least-recently-used memo of NumPy arrays, bounded in bytes.

:class:`ByteMemo` keeps tuples of arrays under hashable keys; an entry counts for the
sum of its arrays' ``nbytes``. It holds the evaluated responses of
:mod:`.responses` and the FIR products of :mod:`.firczt` (one process-wide instance
each).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Hashable

import cachetools
import numpy as np

__all__ = ["ByteMemo"]

Value = tuple[np.ndarray, ...]


def _lru(max_bytes: int) -> cachetools.LRUCache:
    return cachetools.LRUCache(max_bytes, getsizeof=lambda v: sum(a.nbytes for a in v))


class ByteMemo:
    """Process-wide LRU of tuples of arrays, bounded by their total bytes (thread-safe).

    Examples
    --------
    >>> memo = ByteMemo(100)
    >>> memo.put("a", (np.zeros(10),))   # 80 bytes
    >>> memo.put("b", (np.zeros(10),))   # the least recently used goes
    >>> memo.get("a") is None, memo.get("b") is not None, memo.nbytes
    (True, True, 80)
    >>> memo.hits, memo.misses
    (1, 1)
    """

    def __init__(self, max_bytes: int) -> None:
        self._lock = threading.Lock()
        self._items = _lru(max_bytes)
        self.hits = 0
        self.misses = 0

    @property
    def max_bytes(self) -> int:
        return int(self._items.maxsize)

    @property
    def nbytes(self) -> int:
        return int(self._items.currsize)

    def get(self, key: Hashable) -> Value | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
            return value

    def put(self, key: Hashable, value: Value) -> None:
        with self._lock, contextlib.suppress(ValueError):  # larger than the whole memo
            self._items[key] = value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def resize(self, max_bytes: int) -> None:
        """Keep the most recently used entries that fit in ``max_bytes``."""
        with self._lock:
            old, self._items = self._items, _lru(max_bytes)
            while old:
                key, value = old.popitem()  # least recently used first
                with contextlib.suppress(ValueError):
                    self._items[key] = value

    def __len__(self) -> int:
        return len(self._items)
