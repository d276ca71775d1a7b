"""The segment object handed to user functions, and where it gets its bytes from.

A :class:`Segment` wraps one row of a segments frame: every column is an
attribute, dotted column names are nested attributes (``segment.event.magnitude``).
Waveform and inventory bytes are never in the frame: a :class:`DBSource` fetches
them for a whole batch of segments in one query, and ``segment.stream()`` /
``segment.inventory()`` decode them on first use (then cache, like stream2segment).
Attributes the frame did not carry are fetched from the database on first access
(one query for the batch), never silently missing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy.engine import URL

from ..db import attributes
from ..db import urls as _db
from ..exceptions import SkipSegment
from . import segment_io
from .source import DBSource

if TYPE_CHECKING:  # pragma: no cover
    from obspy import Stream

__all__ = ["Rows", "Segment", "get_segment", "iter_segments"]

#: Names with a meaning of their own on Segment: a frame column with the same name
#: is shadowed by them.
_OWN = ("id", "data", "stream", "inventory", "sds_path", "url", "seed_id")
_RELATIONS = (*attributes.RELATIONS, "classes")
#: stream2segment attributes of related objects computed, not read from a column.
_RELATED_EXTRAS = ("url", "inventory_xml")


class Rows:
    """Column values of a batch of frame rows, converted to Python lazily, per column.

    Converting only the columns a function reads keeps per-segment overhead low on
    frames with a hundred columns.
    """

    __slots__ = ("frame", "_lists", "columns")

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self.columns: frozenset[str] = frozenset(frame.columns)
        self._lists: dict[str, list] = {}

    def __len__(self) -> int:
        return self.frame.height

    def value(self, column: str, index: int) -> Any:
        values = self._lists.get(column)
        if values is None:
            values = self._lists[column] = self.frame.get_column(column).to_list()
        return values[index]


class _Related:
    """``segment.event``, ``segment.station``...: attributes of a related row."""

    __slots__ = ("_segment", "_prefix")

    def __init__(self, segment: Segment, prefix: str) -> None:
        self._segment = segment
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        full = f"{self._prefix}.{name}"
        if name in _RELATED_EXTRAS and full not in self._segment._rows.columns:
            return self._segment._related(self._prefix, name)
        return self._segment._get(full)

    def __dir__(self) -> list[str]:
        names = self._segment._names(self._prefix + ".")
        if self._prefix in ("event", "station"):
            names.add("url")
        if self._prefix == "station":
            names.update(("inventory", "inventory_xml"))
        return sorted(names)

    def __repr__(self) -> str:
        return f"<{self._prefix} of segment {self._segment.id}>"

    def inventory(self, reload: bool = False, format: str | None = None) -> Any:  # noqa: A002
        """``segment.station.inventory()``: same as ``segment.inventory()`` (stream2segment)."""
        if self._prefix != "station":
            raise AttributeError(f"{self._prefix!r} has no inventory (only station does)")
        return self._segment.inventory(reload=reload, format=format)


class Segment:
    """One waveform segment: its row's columns as attributes, its data on demand.

    Every column of the frame row is an attribute; dotted column names are nested
    (``segment.event.magnitude`` reads column ``"event.magnitude"``). Attributes
    the frame did not carry (any name of :func:`s2sframe.scan` frames) are fetched
    from the database on first access; unknown names raise ``AttributeError``
    with close matches. ``id``, ``data``, ``seed_id``, ``url`` and the methods
    below take precedence over same-named columns.

    Segments are created by ``df.s2s.segments()``, ``df.s2s.segment()`` and
    ``df.s2s.map_segments()``; you do not build them yourself.

    Examples
    --------
    >>> import os, tempfile, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> seg = s2sframe.scan(url).select("id").collect().s2s.segment(id=2, dburl=url)
    >>> seg.event.magnitude, seg.station.network, seg.seed_id
    (4.3, 'GE', 'GE.IPAX..HHN')
    >>> seg.stream()[0].stats.npts
    24241
    """

    __slots__ = ("_rows", "_index", "_source", "_stream", "_extra")

    def __init__(self, rows: Rows, index: int, source: DBSource | None = None) -> None:
        self._rows = rows
        self._index = index
        self._source = source
        self._stream: Any = None
        self._extra: dict[str, Any] | None = None

    # -- attributes ------------------------------------------------------------------
    @property
    def id(self) -> int:
        """The segment id (``segments.id``)."""
        return self._rows.value("id", self._index)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._get(name)

    def _get(self, name: str) -> Any:
        rows = self._rows
        if name in rows.columns:
            return rows.value(name, self._index)
        if self._extra is not None and name in self._extra:
            return self._extra[name]
        prefix = name + "."
        if name in _RELATIONS or any(c.startswith(prefix) for c in rows.columns):
            return _Related(self, name)
        if name in attributes.ATTRIBUTES:
            return self._fetch(name)
        if "." in name:
            candidates = sorted(set(rows.columns) | set(attributes.ATTRIBUTES))
        else:
            candidates = sorted(self._names(""))
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise AttributeError(f"segment has no attribute {name!r}{hint}")

    def _fetch(self, name: str) -> Any:
        if self._source is None:
            raise AttributeError(
                f"{name!r} is not a column of the frame and this segment has no database "
                "to fetch it from"
            )
        self._extra = self._source.attributes(self.id)
        return self._extra[name]

    def _names(self, prefix: str) -> set[str]:
        names = set(self._rows.columns) | set(attributes.ATTRIBUTES)
        out = set()
        for n in names:
            if n.startswith(prefix):
                out.add(n[len(prefix):].split(".", 1)[0])
        if not prefix:
            out.update(_OWN)
        return out

    def __dir__(self) -> list[str]:
        return sorted(self._names(""))

    def __repr__(self) -> str:
        return f"<Segment id={self.id}>"

    @property
    def seed_id(self) -> str:
        """``data_seed_id`` if set, else ``NET.STA.LOC.CHA`` from station and channel."""
        rows = self._rows
        if "seed_id" in rows.columns:
            return rows.value("seed_id", self._index)
        needed = ("data_seed_id", "station.network", "station.station", "channel.location",
                  "channel.channel")
        if all(p in rows.columns for p in needed):  # the registry's one definition
            return attributes.ATTRIBUTES["seed_id"].value(lambda name: rows.value(name, self._index))
        return self._fetch("seed_id")

    @property
    def data(self) -> bytes | None:
        """The raw miniSEED bytes of the segment (None when there are none)."""
        if "data" in self._rows.columns:
            return self._rows.value("data", self._index)
        if self._source is None:
            return None
        return self._source.data(self.id)

    # -- waveform and inventory (the implementation of s2sframe.engine.segment_io) --
    def stream(self, reload: bool = False) -> Stream:
        """Return the ObsPy Stream of the segment, decoded once and then cached.

        Without ``reload`` the same Stream object is returned every time, with the
        in-place changes made to it (e.g. ``segment.stream()[0].remove_response(inv)``
        changes what the next ``segment.stream()`` returns; use ``.copy()`` to keep the
        cached one intact). ``reload=True`` decodes the bytes again.

        Raises
        ------
        SkipSegment
            If the segment has no data or its bytes are not valid miniSEED.
        """
        if reload or self._stream is None:
            checked: Any = False  # the bytes' headers: checked with the batch's if fetched
            if self._source is not None and "data" not in self._rows.columns:
                checked = self._source.mseed_check(self.id)
            self._stream = segment_io.decode_stream(self.id, self.data, checked)
        return segment_io.cached(self._stream)

    def inventory(self, reload: bool = False, format: str | None = None) -> Any:  # noqa: A002
        """Return the station inventory (ObsPy Inventory) of the segment.

        Parsed once per station and cached (shared by the segments of the same
        station). Responses of the returned inventory memoize their evaluation, so
        ``trace.remove_response(segment.inventory())`` is fast on repeated use.

        Parameters
        ----------
        reload : bool
            Parse the stored bytes again, discarding the cached inventory.
        format : {None, "stationxml", "stationtxt"}
            None: an ObsPy Inventory; ``"stationxml"``: the StationXML bytes;
            ``"stationtxt"``: the FDSN text format (str).

        Raises
        ------
        SkipSegment
            If the station has no inventory or it cannot be read.
        """
        source = self._require_source("the inventory")
        station_id = self._station_id()
        return segment_io.station_inventory(
            station_id, lambda: source.inventory_bytes(station_id), source.inventories,
            reload=reload, format=format,
        )

    def _station_id(self) -> int:
        station_id = None if self._source is None else self._source.station_id(self.id)
        return self._get("station.id") if station_id is None else station_id

    def _require_source(self, what: str) -> DBSource:
        if self._source is None:
            raise SkipSegment(f"segment {self.id}: no database to read {what} from")
        return self._source

    # -- derived ---------------------------------------------------------------------
    def sds_path(self, root: str = ".") -> str:
        """Path where to store the segment's data, in a SeisComP data structure.

        As in stream2segment: ``<root>/<event id>/<year>/<NET>/<STA>/<LOC>/<CHA>.D/
        <NET>.<STA>.<LOC>.<CHA>.D.<year>.<day of year>`` where event id is the
        database id of the event, year and day (3 digits) are those of
        ``request_start`` (``start_time`` may be null). No file extension. As in
        stream2segment (``os.path.join``), an empty location code adds no folder.

        Examples
        --------
        >>> import os, tempfile, s2sframe
        >>> from s2sframe.testing import example_database
        >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
        >>> seg = s2sframe.scan(url).select("id").collect().s2s.segment(id=1, dburl=url)
        >>> seg.sds_path("/data")
        '/data/1/2015/GE/IPAX/HHZ.D/GE.IPAX..HHZ.D.2015.150'
        """
        get = self._get
        return segment_io.sds_path(
            root, get("event_id"), get("request_start"), get("station.network"),
            get("station.station"), get("channel.location"), get("channel.channel"),
        )

    @property
    def url(self) -> str:
        """The FDSN dataselect query that downloads this segment's window.

        ``<datacenter.dataselect_url>?net=..&sta=..&loc=..&cha=..&start=..&end=..``
        with the station and channel codes (an empty location written ``loc=``, as
        stream2segment does) and ``request_start`` / ``request_end`` in ISO format.
        """
        get = self._get
        return segment_io.dataselect_url(
            get("datacenter.dataselect_url"), get("station.network"), get("station.station"),
            get("channel.location"), get("channel.channel"), get("request_start"),
            get("request_end"),
        )

    # -- values of related rows that are not columns ---------------------------------
    def _related(self, prefix: str, name: str) -> Any:
        """``event.url``, ``station.url``, ``station.inventory_xml`` (stream2segment's)."""
        get = self._get
        if prefix == "station" and name == "inventory_xml":
            return self._require_source("StationXML").inventory_bytes(self._station_id())
        if prefix == "station" and name == "url":
            base = self._require_source("the station URL").value(
                "data_centers", "station_url", get("station.datacenter_id"))
            return segment_io.station_url(
                base, get("station.network"), get("station.station"), get("station.start_time")
            )
        if prefix == "event" and name == "url":
            base = self._require_source("the event URL").value(
                "web_services", "url", get("event.webservice_id"))
            return segment_io.event_url(base, get("event.event_id"))
        return get(f"{prefix}.{name}")




def make_segments(frame: pl.DataFrame, source: DBSource | None) -> list[Segment]:
    """Segments of all rows of ``frame`` (a batch), sharing one :class:`Rows`."""
    rows = Rows(frame)
    return [Segment(rows, i, source) for i in range(frame.height)]


def iter_segments(
    df: pl.DataFrame, *, batch_size: int = 500, dburl: str | URL | None = None
) -> Iterator[Segment]:
    """Yield the segments of ``df`` in row order, fetching their data in batches.

    Each batch of ``batch_size`` segments costs one query for the waveform bytes
    (and, if used, one for the inventories); only one batch is held in memory
    unless you keep references to its segments.

    Examples
    --------
    >>> import os, tempfile, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> df = s2sframe.scan(url).select("id").slice(1, 2).collect()
    >>> [seg.stream()[0].stats.npts for seg in iter_segments(df, batch_size=1, dburl=url)]
    [24241, 25406]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size}")
    _require_id(df)
    url = _db.default_url(dburl)
    inventories = None
    for start in range(0, df.height, batch_size):
        batch = df.slice(start, batch_size)
        source = DBSource(url, inventories=inventories)
        inventories = source.inventories  # parsed once per station for the whole iteration
        source.load(batch.get_column("id").to_list())
        yield from make_segments(batch, source)


def get_segment(
    df: pl.DataFrame, index: int | None = None, *, id: int | None = None,  # noqa: A002
    dburl: str | URL | None = None,
) -> Segment:
    """Return one segment of ``df``, by row ``index`` (negative counts from the end) or ``id``.

    Examples
    --------
    >>> import os, tempfile, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> df = s2sframe.scan(url).select("id").collect()
    >>> get_segment(df, 0, dburl=url).id, get_segment(df, id=2, dburl=url).seed_id
    (1, 'GE.IPAX..HHN')
    """
    _require_id(df)
    if (index is None) == (id is None):
        raise TypeError("give either a row index or id=..., not both nor none")
    if id is not None:
        row = df.filter(pl.col("id") == id)
        if row.height == 0:
            raise KeyError(f"no segment with id {id} in the frame")
    else:
        assert index is not None
        if not -df.height <= index < df.height:
            raise IndexError(f"row {index} out of range for a frame of {df.height} rows")
        row = df.slice(index % df.height, 1)
    source = DBSource(_db.default_url(dburl))
    source.load(row.get_column("id").to_list())
    return make_segments(row.head(1), source)[0]


def _require_id(df: pl.DataFrame) -> None:
    if "id" not in df.columns:
        raise ValueError(
            "the frame has no 'id' column: segments are identified by it (keep 'id' when "
            "selecting columns of s2sframe.scan() frames)"
        )
