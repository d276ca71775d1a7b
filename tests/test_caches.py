"""The LRU containers of decode/ (cachetools + a lock): bounds, recency and threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from s2sframe.decode import InventoryCache
from s2sframe.decode.bytememo import ByteMemo
from s2sframe.exceptions import SkipSegment


def _value(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n, dtype=np.complex128), np.zeros(n)  # 24 bytes per n


def test_byte_memo_bounded_in_bytes_and_least_recent_dropped_first():
    memo = ByteMemo(24 * 100)
    for key in "abc":
        memo.put(key, _value(30))
    assert memo.nbytes == 24 * 90 and len(memo) == 3
    assert memo.get("a") is not None  # "b" is now the least recently used
    memo.put("d", _value(30))
    assert memo.get("b") is None and memo.get("a") is not None
    assert (memo.hits, memo.misses) == (2, 1)
    memo.put("huge", _value(101))  # larger than the whole memo: not kept, nothing dropped
    assert memo.get("huge") is None and len(memo) == 3


def test_byte_memo_resize_keeps_the_most_recent_that_fit():
    memo = ByteMemo(24 * 100)
    for key in "abc":
        memo.put(key, _value(30))
    memo.get("a")  # order, least recent first: b, c, a
    memo.resize(24 * 60)
    assert memo.max_bytes == 24 * 60 and memo.nbytes == 24 * 60
    assert memo.get("b") is None and memo.get("c") is not None and memo.get("a") is not None
    memo.resize(0)
    assert len(memo) == 0 and memo.nbytes == 0


def test_byte_memo_from_many_threads():
    memo = ByteMemo(24 * 200)
    keys = [f"k{i}" for i in range(40)]
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(3000):
                key = keys[int(rng.integers(len(keys)))]
                if memo.get(key) is None:
                    memo.put(key, _value(int(rng.integers(1, 40))))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert memo.hits + memo.misses == 8 * 3000
    assert memo.nbytes <= memo.max_bytes
    assert memo.nbytes == sum(v[0].nbytes + v[1].nbytes for v in memo._items.values())


def test_inventory_cache_from_many_threads():
    cache = InventoryCache(maxsize=3)
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(2000):
            try:
                cache.get_or_read(int(rng.integers(6)), None)  # no StationXML: cached skip
            except SkipSegment:
                pass
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    info = cache.info()
    assert errors == []
    assert info.hits + info.misses == 8 * 2000 and info.currsize == len(cache) <= 3
    assert info.misses >= 6


def test_inventory_cache_maxsize_validated():
    with pytest.raises(ValueError, match="maxsize"):
        InventoryCache(maxsize=0)
