"""What a segment computes from its values: stream, inventory, SDS path, FDSN URLs.

One implementation, called by both kinds of segment objects: :class:`s2sframe.Segment`
(given to the functions of ``map_segments``, ``imap`` and ``process``) and the ORM
models of :mod:`s2sframe.orm`. They differ only in where the values come from
(a frame row and one query per batch, or ORM attributes) and in where they cache.

Decoding never raises for bad bytes: :func:`decode_stream` returns the
:class:`~s2sframe.SkipSegment` to cache, and :func:`cached` raises a fresh copy of
it each time the cached value is asked for, as stream2segment did.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..decode import InventoryCache, read_inventory, read_mseed
from ..exceptions import SkipSegment

if TYPE_CHECKING:  # pragma: no cover
    from obspy import Inventory, Stream

__all__ = [
    "cached",
    "dataselect_url",
    "decode_stream",
    "event_url",
    "sds_path",
    "station_inventory",
    "station_url",
]

_FORMATS = ("stationxml", "stationtxt")


def decode_stream(
    segment_id: int, data: bytes | memoryview | None, checked: Any = False
) -> Stream | SkipSegment:
    """The ObsPy Stream of a segment's bytes, or the :class:`SkipSegment` saying why not.

    ``checked``: the bytes' header check done with their batch (see
    :func:`s2sframe.decode.read_mseed`); False: checked here.

    Examples
    --------
    >>> decode_stream(7, None)
    SkipSegment('segment 7: no waveform data (segments.data is empty)')
    """
    if not data:
        return SkipSegment(f"segment {segment_id}: no waveform data (segments.data is empty)")
    try:
        return read_mseed(data if isinstance(data, bytes) else bytes(data), checked)
    except SkipSegment as exc:  # bad bytes; any other error is not the data's
        return SkipSegment(f"segment {segment_id}: {exc}")


def cached(value: Any) -> Any:
    """``value``, or a new :class:`SkipSegment` raised if it is one (a cached failure).

    Examples
    --------
    >>> cached(3)
    3
    >>> cached(SkipSegment("no data"))
    Traceback (most recent call last):
    ...
    s2sframe.exceptions.SkipSegment: no data
    """
    if isinstance(value, SkipSegment):
        raise SkipSegment(str(value))
    return value


def station_inventory(
    station_id: int,
    data: bytes | None | Callable[[], bytes | None],
    cache: InventoryCache,
    *,
    reload: bool = False,
    format: str | None = None,  # noqa: A002 - stream2segment's name
) -> Inventory | bytes | str:
    """The inventory of a station, parsed once per ``cache`` (errors cached too).

    Parameters
    ----------
    station_id : int
        ``stations.id``, the key in ``cache``.
    data : bytes, None or callable
        ``stations.inventory_xml`` (stored compressed), or a function returning it,
        called only when needed.
    cache : InventoryCache
        Where the parsed inventory (or its error) is kept.
    reload : bool
        Parse the stored bytes again.
    format : {None, "stationxml", "stationtxt"}
        None: an ObsPy Inventory; "stationxml": the StationXML bytes (decompressed);
        "stationtxt": the FDSN text format (str).

    Raises
    ------
    SkipSegment
        If the station has no StationXML or it cannot be read.

    Examples
    --------
    >>> station_inventory(3, None, InventoryCache())
    Traceback (most recent call last):
    ...
    s2sframe.exceptions.SkipSegment: inventory of station 3: no inventory (station has no StationXML)
    """
    fmt = None if format is None else format.lower()
    if fmt is not None and fmt not in _FORMATS:
        raise ValueError(f"format must be None, 'stationxml' or 'stationtxt', not {format!r}")
    try:
        if fmt == "stationxml":
            # None and b"" alike: "no inventory (station has no StationXML)"
            return read_inventory((data() if callable(data) else data) or b"", format=fmt)
        if reload and station_id in cache:
            del cache[station_id]
        inventory = cache.get_or_read(station_id, data)
    except SkipSegment as exc:
        raise SkipSegment(f"inventory of station {station_id}: {exc}") from None
    if fmt == "stationtxt":
        buf = io.StringIO()
        inventory.write(buf, format="STATIONTXT")
        return buf.getvalue()
    return inventory


def sds_path(
    root: str, event_id: int, request_start: datetime,
    network: str, station: str, location: str, channel: str,
) -> str:
    """Path of a segment in a SeisComP data structure, as stream2segment builds it.

    ``<root>/<event id>/<year>/<NET>/<STA>/<LOC>/<CHA>.D/<NET>.<STA>.<LOC>.<CHA>.D.<year>.<day>``
    with year and day of year (3 digits) of ``request_start``; no extension. As in
    stream2segment (``os.path.join``), an empty location code adds no folder.

    Examples
    --------
    >>> from datetime import datetime
    >>> sds_path("/data", 1, datetime(2015, 5, 30, 12), "GE", "WCBO", "", "HHZ")
    '/data/1/2015/GE/WCBO/HHZ.D/GE.WCBO..HHZ.D.2015.150'
    """
    year, day = str(request_start.year), f"{request_start.timetuple().tm_yday:03d}"
    return os.path.join(
        root, str(event_id), year, network, station, location, channel + ".D",
        ".".join((network, station, location, channel, "D", year, day)),
    )


def dataselect_url(
    base: str, network: str, station: str, location: str, channel: str,
    start: datetime, end: datetime,
) -> str:
    """The FDSN dataselect query of a segment (``segment.url``), as stream2segment writes it.

    An empty location is written ``loc=`` (stream2segment does not use FDSN's ``--``).

    Examples
    --------
    >>> from datetime import datetime
    >>> dataselect_url("http://x/fdsnws/dataselect/1/query", "GE", "WCBO", "", "HHZ",
    ...                datetime(2015, 5, 30, 12), datetime(2015, 5, 30, 12, 5))
    'http://x/fdsnws/dataselect/1/query?net=GE&sta=WCBO&loc=&cha=HHZ&start=2015-05-30T12:00:00&end=2015-05-30T12:05:00'
    """
    return (f"{base}?net={network}&sta={station}&loc={location}&cha={channel}"
            f"&start={start.isoformat('T')}&end={end.isoformat('T')}")


def station_url(base: str, network: str, station: str, start_time: datetime) -> str:
    """The FDSN station query of a station (``station.url``), as stream2segment writes it.

    Examples
    --------
    >>> from datetime import datetime
    >>> station_url("http://x/fdsnws/station/1/query", "GE", "WCBO", datetime(2010, 1, 1))
    'http://x/fdsnws/station/1/query?net=GE&sta=WCBO&start=2010-01-01T00:00:00'
    """
    return f"{base}?net={network}&sta={station}&start={start_time.isoformat('T')}"


def event_url(base: str, event_id: str) -> str:
    """The FDSN event query of an event (``event.url``), as stream2segment writes it.

    Examples
    --------
    >>> event_url("http://x/fdsnws/event/1/query", "gfz2015kmrf")
    'http://x/fdsnws/event/1/query?eventid=gfz2015kmrf'
    """
    return f"{base}?eventid={event_id}"
