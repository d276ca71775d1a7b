"""Stored (compressed) StationXML -> ObsPy inventories.

* :func:`decompress`: gzip, bz2, zip (one member), zlib or plain bytes.
* :func:`read_inventory`: (compressed) StationXML -> :class:`obspy.Inventory` whose
  channel responses are read on first use (:mod:`.lazyxml`: ~25x faster than ObsPy's
  reader on GEOFON documents, 6-40x on others, equal inventories) and evaluated fast and memoized
  (:class:`~.responses.CachedResponse`).
* :class:`InventoryCache`: station id -> parsed inventory (or the error), an LRU
  bounded in bytes, one per worker, so each StationXML is parsed at most once per
  process as long as its station stays among the most recently used; the stations
  other workers of the run meet too go through the run's
  :class:`~.invshare.SharedInventories` (:meth:`InventoryCache.share`).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import threading
import zipfile
import zlib
from collections.abc import Callable, Hashable, Iterable
from typing import Any, NamedTuple, cast

import cachetools
from obspy import Inventory

from ..exceptions import SkipSegment, describe_error
from .counters import SYSTEM_ERRORS
from .invshare import SharedInventories
from .lazyxml import SKELETON_FACTOR, LazyResponse, parse_stationxml
from .responses import enable_response_cache

__all__ = ["CacheInfo", "InventoryCache", "decompress", "inventory_nbytes", "read_inventory"]


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

    The bytes are decompressed (:func:`decompress`) and parsed by
    :func:`~.lazyxml.parse_stationxml`: networks, stations and channels read as
    ObsPy's reader does (:mod:`.xmlskeleton`), the channel responses each read (by
    ObsPy's stage reader, coefficient lists built fast) the first time it is used;
    the inventory equals ObsPy's. Every
    channel response of the returned inventory is a :class:`CachedResponse`,
    evaluated fast (equal to evalresp's to rounding, see
    :func:`~.responses.fast_response`) and memoized: plain ObsPy code
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
        cannot be decompressed or parsed (the message says why; a response that
        cannot be read raises it when first used).
    ValueError
        If ``format`` is not None nor "stationxml".

    Examples
    --------
    >>> import gzip, io, obspy
    >>> buf = io.BytesIO()
    >>> obspy.read_inventory().write(buf, format="STATIONXML")
    >>> inv = read_inventory(gzip.compress(buf.getvalue()))
    >>> from s2sframe.decode import CachedResponse
    >>> isinstance(inv.get_response("BW.RJOB..EHZ", obspy.UTCDateTime(2009, 8, 24)),
    ...            CachedResponse)
    True
    """
    if format is not None and format.lower() != "stationxml":
        raise ValueError(f"format must be None or 'stationxml', not {format!r}")
    if format is not None:
        return _decompressed(data)
    return _read(data)[0]


def _decompressed(data: bytes | None) -> bytes:
    if data is None or len(data) == 0:
        raise SkipSegment(_NO_INVENTORY)
    try:
        xml = decompress(data)
    except ValueError as exc:
        raise SkipSegment(f"invalid inventory: {exc}") from None
    return xml


def _read_or_error(data: bytes | None | Callable[[], bytes | None]) -> tuple[Inventory | str, int]:
    """``(inventory, nbytes)`` of ``data`` (or of what it returns), or ``(message, nbytes)``
    if it cannot be read (the SkipSegment's message, as the caches keep it)."""
    try:
        return _read(data() if callable(data) else data)
    except SkipSegment as exc:
        return _error_item(str(exc))


def _error_item(message: str) -> tuple[str, int]:
    """A station's error as the caches keep it: ``(message, nbytes)``."""
    return message, len(message) + 200


def _read(data: bytes | None) -> tuple[Inventory, int]:
    """``(inventory, nbytes)`` (see :func:`read_inventory`, :func:`~.lazyxml.parse_stationxml`)."""
    xml = _decompressed(data)
    if not xml.strip():
        raise SkipSegment("invalid StationXML: empty document")
    try:
        return parse_stationxml(xml)
    except SYSTEM_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - lxml, ObsPy and attribute errors alike
        if b"FDSNStationXML" not in xml[:4096]:
            raise SkipSegment("invalid StationXML: not an FDSNStationXML document") from None
        reason = str(exc).strip() or "no details"
        raise SkipSegment(f"invalid StationXML: {describe_error(exc, reason)}") from None


class CacheInfo(NamedTuple):
    """Statistics of an :class:`InventoryCache`."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


#: default memory bound of an :class:`InventoryCache` (bytes)
DEFAULT_MAX_BYTES = 48 * 1024 * 1024


class InventoryCache:
    """Parsed inventories by station id, an LRU bounded in bytes: one per worker process.

    Each StationXML is parsed at most once per process as long as its station stays
    among the most recently used ones that fit in ``max_bytes`` (and number at most
    ``maxsize``); a station whose StationXML is missing or invalid is cached as the
    error, so it is not re-parsed for each segment. The size of an inventory is an
    upper bound of its memory with every response read and evaluated (see
    :func:`~.lazyxml.parse_stationxml`): a real GEOFON station of 21 channels
    (StationXML of 690 KiB) counts 4.3 MB, so the default 48 MiB keeps ~11 of them.

    Parameters
    ----------
    maxsize : int
        Maximum number of stations kept (default 256).
    max_bytes : int
        Maximum total size of the kept inventories (default 48 MiB). An inventory
        larger than that is returned but not kept.

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

    def __init__(self, maxsize: int = 256, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        if max_bytes < 1:
            raise ValueError("max_bytes must be >= 1")
        self.maxsize = int(maxsize)
        self.max_bytes = int(max_bytes)
        self._items: cachetools.LRUCache = cachetools.LRUCache(
            self.max_bytes, getsizeof=lambda item: item[1])
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._shared: tuple[SharedInventories | None, frozenset] = (None, frozenset())

    def share(self, store: SharedInventories | None, station_ids: Iterable[Hashable]) -> None:
        """Read the inventories of ``station_ids`` through ``store`` from now on (the
        stations other processes of the run may meet too: each is parsed once per run,
        see :mod:`.invshare`); ``store=None``: no sharing."""
        self._shared = (store, frozenset(station_ids) if store is not None else frozenset())

    def _put(self, station_id: Hashable, value: Inventory | str, nbytes: int) -> None:
        with self._lock:
            with contextlib.suppress(ValueError):  # larger than the whole cache
                self._items[station_id] = (value, nbytes)
            while len(self._items) > self.maxsize:
                self._items.popitem()

    def _lookup(self, station_id: Hashable) -> Any:
        with self._lock:
            item = self._items.get(station_id)
        return _MISSING if item is None else item[0]

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
        value = self._lookup(station_id)
        if value is not _MISSING:
            self._hits += 1
        else:
            store, shared = self._shared
            if store is not None and station_id in shared:
                value, nbytes = store.get_or_read(cast(int, station_id),  # ids of the DB
                                                  lambda: _read_or_error(data))
            else:
                value, nbytes = _read_or_error(data)
            self._misses += 1
            self._put(station_id, value, nbytes)
        if isinstance(value, str):
            raise SkipSegment(value)
        return value

    # -- mapping interface ------------------------------------------------------------
    def get(self, station_id: Hashable, default: Any = None) -> Any:
        """Cached inventory of ``station_id`` or ``default`` (raises a cached SkipSegment)."""
        value = self._lookup(station_id)
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
            value, nbytes = _error_item(str(value))
        elif isinstance(value, Inventory):
            enable_response_cache(value)
            nbytes = inventory_nbytes(value)
        else:
            raise TypeError(f"expected an Inventory or a SkipSegment, not {type(value).__name__}")
        self._put(station_id, value, nbytes)

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

    @property
    def nbytes(self) -> int:
        """Total size of the kept inventories (bytes, at most ``max_bytes``)."""
        return int(self._items.currsize)

    def __reduce__(self) -> tuple[Any, tuple[int, int]]:
        return (type(self), (self.maxsize, self.max_bytes))

    def __repr__(self) -> str:
        return (f"InventoryCache(maxsize={self.maxsize}, max_bytes={self.max_bytes}, "
                f"stations={len(self._items)})")


def inventory_nbytes(inventory: Inventory) -> int:
    """Upper bound of the memory of an inventory read and evaluated: what
    :class:`InventoryCache` counts for it.

    Responses still unread count by their bytes (see :mod:`.lazyxml`); read ones
    and the rest by the number of objects they hold.

    Examples
    --------
    >>> import obspy
    >>> round(inventory_nbytes(obspy.read_inventory()) / 1e6, 1)  # 30 channels: 1.2 MB
    1.4
    """
    total = 0
    for network in inventory.networks:
        for station in network.stations:
            total += _OBJECT
            for channel in station.channels:
                total += _OBJECT
                response = channel.response
                if isinstance(response, LazyResponse) and not response.loaded:
                    total += response.nbytes
                elif response is not None:
                    for stage in response.response_stages:
                        total += _OBJECT // 4 + _COEFFICIENT * sum(
                            len(getattr(stage, name, ()) or ()) for name in _LISTS)
    return total


#: memory of a station or channel object (with its coordinates, dates, equipment...),
#: of a coefficient or pole (its ObsPy object), on GEOFON documents (tracemalloc)
_OBJECT = SKELETON_FACTOR * 1000
_COEFFICIENT = 300
_LISTS = ("coefficients", "numerator", "denominator", "poles", "zeros",
          "response_list_elements")

_MISSING: Any = object()
