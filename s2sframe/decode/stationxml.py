"""Stored (compressed) StationXML -> ObsPy inventories.

* :func:`decompress`: gzip, bz2, zip (one member), zlib or plain bytes.
* :func:`read_inventory`: (compressed) StationXML -> :class:`obspy.Inventory` whose
  channel responses are evaluated fast and memoized (:class:`~.responses.CachedResponse`).
* :class:`InventoryCache`: station id -> parsed inventory (or the error), LRU-bounded,
  one per worker, so each StationXML is parsed at most once per process.
"""

from __future__ import annotations

import bz2
import gzip
import io
import threading
import zipfile
import zlib
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import cachetools
from obspy import Inventory
from obspy.io.stationxml.core import _read_stationxml

from ..exceptions import SkipSegment
from .counters import SYSTEM_ERRORS
from .responses import enable_response_cache

__all__ = ["CacheInfo", "InventoryCache", "decompress", "read_inventory"]


def decompress(data: bytes) -> bytes:
    """Return ``data`` decompressed, detecting the format by its magic bytes.

    Handles gzip (``1f 8b``), bz2 (``BZh``), zip with a single member (``PK``),
    zlib (``78 01/5e/9c/da``, any valid zlib header) and uncompressed bytes, which
    are returned unchanged.

    Parameters
    ----------
    data : bytes
        Possibly compressed bytes (any bytes-like object).

    Returns
    -------
    bytes
        The decompressed bytes (``b""`` for empty input).

    Raises
    ------
    ValueError
        If the data has the signature of a compressed format but cannot be
        decompressed, or is a zip archive without exactly one file.

    Examples
    --------
    >>> import gzip
    >>> decompress(gzip.compress(b"<FDSNStationXML/>"))
    b'<FDSNStationXML/>'
    >>> decompress(b"<FDSNStationXML/>")
    b'<FDSNStationXML/>'
    """
    if data is None:
        return b""
    if not isinstance(data, bytes):
        data = bytes(data)
    head = data[:4]
    try:
        if head[:2] == b"\x1f\x8b":
            kind = "gzip"
            return gzip.decompress(data)
        if head[:3] == b"BZh":
            kind = "bz2"
            return bz2.decompress(data)
        if head in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
            kind = "zip"
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                files = [info for info in archive.infolist() if not info.is_dir()]
                if len(files) != 1:
                    names = ", ".join(info.filename for info in files) or "none"
                    raise ValueError(f"zip archive must hold exactly one file, found: {names}")
                return archive.read(files[0])
        if len(head) >= 2 and head[0] & 0x0F == 8 and head[0] >> 4 <= 7:
            if ((head[0] << 8) | head[1]) % 31 == 0:
                kind = "zlib"
                return zlib.decompress(data)
    except ValueError as exc:
        if str(exc).startswith("zip archive"):
            raise
        raise ValueError(f"corrupt {kind} data: {exc}") from None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError) as exc:
        raise ValueError(f"corrupt {kind} data: {exc}") from None
    return data


_NO_INVENTORY = "no inventory (station has no StationXML)"


def read_inventory(data: bytes, format: str | None = None) -> Inventory | bytes:  # noqa: A002
    """Read a station inventory stored as (compressed) StationXML.

    The bytes are decompressed (:func:`decompress`) and parsed by ObsPy's StationXML
    reader directly (no plugin dispatch). Every channel response of the returned
    inventory is a :class:`CachedResponse`, evaluated fast (equal to evalresp's to
    rounding, see :func:`~.responses.fast_response`) and memoized: plain ObsPy code
    such as ``trace.remove_response(inventory, output="ACC")`` then evaluates each
    channel response 6-40x faster, and once per (sampling interval, FFT length,
    output, stages) instead of once per segment.

    Parameters
    ----------
    data : bytes
        ``stations.inventory_xml``: gzip (as written by stream2segment), bz2, zip,
        zlib or uncompressed StationXML.
    format : {None, "stationxml"}, optional
        None (default) returns an :class:`obspy.Inventory`; ``"stationxml"`` (any
        case) returns the decompressed StationXML bytes.

    Returns
    -------
    obspy.Inventory or bytes

    Raises
    ------
    SkipSegment
        If ``data`` is None or empty ("no inventory (station has no StationXML)"), or
        cannot be decompressed or parsed (the message says why).
    ValueError
        If ``format`` is not None nor "stationxml".

    Examples
    --------
    >>> import gzip, io, obspy
    >>> buf = io.BytesIO()
    >>> obspy.read_inventory().write(buf, format="STATIONXML")
    >>> inv = read_inventory(gzip.compress(buf.getvalue()))
    >>> type(inv.get_response("BW.RJOB..EHZ", obspy.UTCDateTime(2009, 8, 24))).__name__
    'CachedResponse'
    """
    if format is not None and format.lower() != "stationxml":
        raise ValueError(f"format must be None or 'stationxml', not {format!r}")
    if data is None or len(data) == 0:
        raise SkipSegment(_NO_INVENTORY)
    try:
        xml = decompress(data)
    except ValueError as exc:
        raise SkipSegment(f"invalid inventory: {exc}") from None
    if format is not None:
        return xml
    if not xml.strip():
        raise SkipSegment("invalid StationXML: empty document")
    try:
        inventory = _read_stationxml(io.BytesIO(xml))
    except SYSTEM_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - lxml, ObsPy and attribute errors alike
        if b"FDSNStationXML" not in xml[:4096]:
            raise SkipSegment("invalid StationXML: not an FDSNStationXML document") from None
        reason = str(exc).strip() or "no details"
        raise SkipSegment(f"invalid StationXML: {type(exc).__name__}: {reason}") from None
    return enable_response_cache(inventory)


class CacheInfo(NamedTuple):
    """Statistics of an :class:`InventoryCache`."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class InventoryCache:
    """Parsed inventories by station id, LRU-bounded: one per worker process.

    Each StationXML is parsed at most once per process as long as its station stays
    among the ``maxsize`` most recently used; a station whose StationXML is missing
    or invalid is cached as the error, so it is not re-parsed for each segment.

    Parameters
    ----------
    maxsize : int
        Maximum number of stations kept (default 256).

    Examples
    --------
    >>> cache = InventoryCache(maxsize=2)
    >>> cache.get_or_read(1, None)
    Traceback (most recent call last):
    ...
    s2sframe.exceptions.SkipSegment: no inventory (station has no StationXML)
    >>> 1 in cache, cache.info().misses
    (True, 1)

    Notes
    -----
    It also behaves as a mapping: ``cache[sid] = inventory`` (or a ``SkipSegment``),
    ``cache.get(sid)`` (None when absent; raises the cached ``SkipSegment`` for a
    station that has none). Pickling gives an empty cache of the same size (each
    worker builds its own).
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = int(maxsize)
        self._items: cachetools.LRUCache = cachetools.LRUCache(self.maxsize)
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get_or_read(
        self,
        station_id: Hashable,
        data: bytes | None | Callable[[], bytes | None],
    ) -> Inventory:
        """Inventory of ``station_id``, parsing ``data`` only on the first request.

        Parameters
        ----------
        station_id : hashable
            Key of the station (e.g. ``stations.id``).
        data : bytes, None or callable
            The stored StationXML (``stations.inventory_xml``) or a function
            returning it, called only when the station is not cached (so the blob
            need not even be fetched).

        Raises
        ------
        SkipSegment
            If the station has no inventory or it cannot be read (also when cached).
        """
        with self._lock:
            value = self._items.get(station_id, _MISSING)
            if value is not _MISSING:
                self._hits += 1
        if value is _MISSING:
            try:
                value = read_inventory(data() if callable(data) else data)
            except SkipSegment as exc:
                value = str(exc)
            with self._lock:
                self._misses += 1
                self._items[station_id] = value
        if isinstance(value, str):
            raise SkipSegment(value)
        return value

    # -- mapping interface ------------------------------------------------------------
    def get(self, station_id: Hashable, default: Any = None) -> Any:
        """Cached inventory of ``station_id`` or ``default`` (raises a cached SkipSegment)."""
        with self._lock:
            value = self._items.get(station_id, _MISSING)
            if value is _MISSING:
                return default
        if isinstance(value, str):
            raise SkipSegment(value)
        return value

    def __getitem__(self, station_id: Hashable) -> Inventory:
        value = self.get(station_id, _MISSING)
        if value is _MISSING:
            raise KeyError(station_id)
        return value

    def __setitem__(self, station_id: Hashable, value: Inventory | SkipSegment) -> None:
        if isinstance(value, SkipSegment):
            value = str(value)
        elif isinstance(value, Inventory):
            enable_response_cache(value)
        else:
            raise TypeError(f"expected an Inventory or a SkipSegment, not {type(value).__name__}")
        with self._lock:
            self._items[station_id] = value

    def __delitem__(self, station_id: Hashable) -> None:
        with self._lock:
            del self._items[station_id]

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Empty the cache (statistics included)."""
        with self._lock:
            self._items.clear()
            self._hits = self._misses = 0

    def info(self) -> CacheInfo:
        """Hits, misses, maxsize and current size (as :func:`functools.lru_cache`)."""
        return CacheInfo(self._hits, self._misses, self.maxsize, len(self._items))

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return (type(self), (self.maxsize,))

    def __repr__(self) -> str:
        return f"InventoryCache(maxsize={self.maxsize}, stations={len(self._items)})"


_MISSING: Any = object()
