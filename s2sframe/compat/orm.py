"""SQLAlchemy ORM models of a stream2segment database (stream2segment's ``process`` models).

The models are mapped onto the Core tables of :mod:`s2sframe.db.schema` (one
schema for everything): ``Segment``, ``Event``, ``Station``, ``Channel``,
``DataCenter``, ``Download``, ``WebService``, ``Class`` and ``ClassLabelling``,
with stream2segment's relationships and dynamic back-references::

    segment.event / .channel / .station (through the channel) / .datacenter / .download
    event.segments, channel.segments, station.segments, datacenter.segments,
    download.segments, class_.segments        (dynamic: queries, e.g. ``.count()``)
    station.channels, datacenter.stations, segment.classes

Derived attributes (``Segment.has_valid_data``, ``Segment.missing_data_sec``,
``Segment.seed_id``, ``Station.netsta_code``, ``Channel.band_code``...) are hybrid
properties: Python values on objects, SQL in queries, both derived from the one
definition of each attribute in the registry (:mod:`s2sframe.db.attributes`);
the SQL is rendered for the dialect of the database at compile time (SQLite and
PostgreSQL compute datetime differences differently).

Optional columns (``events.event_type``, absent from databases written by older
stream2segment versions) read as None on those databases instead of failing:
the column is rendered as ``NULL`` for engines whose database lacks it.

Examples
--------
>>> from sqlalchemy.dialects import sqlite
>>> from s2sframe.orm import Segment
>>> where = Segment.event_distance_km > 1000
>>> print(where.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
segments.event_distance_deg * 111.19492664455873 > 1000
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import polars as pl
import sqlalchemy as sa
from sqlalchemy.orm import Session as _Session
from sqlalchemy.orm import (
    column_property,
    object_session,
    relationship,
)

from ..db import attributes, schema
from ..decode import InventoryCache
from ..engine import segment_io
from .orm_base import Base, _hybrid, _many
from .query import OptionalColumn, query

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from obspy import Inventory, Stream
    from sqlalchemy.orm import Mapped, Query

__all__ = [
    "Base",
    "Channel",
    "Class",
    "ClassLabelling",
    "DataCenter",
    "Download",
    "Event",
    "Segment",
    "Station",
    "WebService",
]



# ----------------------------------------------------------------------------- models
class WebService(Base):
    """A web service (e.g. the event catalog queried by the download)."""

    __table__ = schema.web_services


class DataCenter(Base):
    """A data center (FDSN station and dataselect URLs).

    As in stream2segment, given one of the two URLs (a standard FDSN URL,
    ``<site>/fdsnws/<service>/<version>/...``) the other is filled in when the row is
    written, both as ``query`` URLs.

    Examples
    --------
    >>> dc = DataCenter(station_url="https://geofon.gfz.de/fdsnws/station/1/query")
    >>> _fill_fdsn_urls(None, None, dc)
    >>> dc.dataselect_url
    'https://geofon.gfz.de/fdsnws/dataselect/1/query'
    """

    __table__ = schema.data_centers
    if TYPE_CHECKING:  # the columns of __table__ used in this module, for type checkers
        id: Mapped[int]
        station_url: Mapped[str]
        dataselect_url: Mapped[str]


_FDSN_PATH = re.compile(r"^/fdsnws/(?P<service>station|dataselect|event)/"
                        r"(?P<version>\d+(?:\.\d*)?)(?:/(?P<method>[^/]*))?/?$")
_FDSN_METHODS = ("", "query", "queryauth", "auth", "version", "application.wadl")


def _fdsn_url(url: str, service: str) -> str | None:
    """``url`` (any standard FDSN URL of a node) for ``service``; None if not standard."""
    parts = urlsplit(url if "://" in url else "http://" + url)
    match = _FDSN_PATH.match(parts.path)
    if not parts.netloc or match is None or (match["method"] or "") not in _FDSN_METHODS:
        return None
    return f"{parts.scheme}://{parts.netloc}/fdsnws/{service}/{match['version']}/query"


@sa.event.listens_for(DataCenter, "before_insert")
@sa.event.listens_for(DataCenter, "before_update")
def _fill_fdsn_urls(_mapper: Any, _connection: Any, target: DataCenter) -> None:
    """Fill the missing URL of ``target`` from the other (both normalized), as
    stream2segment does; non-standard URLs are left as they are."""
    if (target.station_url is None) == (target.dataselect_url is None):
        return
    given = target.station_url if target.dataselect_url is None else target.dataselect_url
    station, dataselect = _fdsn_url(given, "station"), _fdsn_url(given, "dataselect")
    if station is not None and dataselect is not None:
        target.station_url, target.dataselect_url = station, dataselect


class Download(Base):
    """One execution of stream2segment's download (``config`` holds its YAML)."""

    __table__ = schema.downloads


class Event(Base):
    """A seismic event. ``event_type`` is None on databases lacking that column."""

    __table__ = schema.events
    if TYPE_CHECKING:  # the columns of __table__ used in this module, for type checkers
        id: Mapped[int]
        event_id: Mapped[str]
    __mapper_args__ = {"exclude_properties": ["event_type"]}
    event_type = column_property(OptionalColumn(schema.events.c.event_type))
    webservice = relationship(WebService, backref=_many("events", schema.events))

    @property
    def url(self) -> str:
        """The FDSN event query of this event (``<webservice.url>?eventid=<event_id>``)."""
        return segment_io.event_url(self.webservice.url, self.event_id)


class Class(Base):
    """A class label (``label``, ``description``) that segments can be annotated with."""

    __table__ = schema.classes
    if TYPE_CHECKING:  # the columns of __table__ used in this module, for type checkers
        id: Mapped[int]


class ClassLabelling(Base):
    """One (segment, class label) annotation."""

    __table__ = schema.class_labellings
    if TYPE_CHECKING:  # the columns of __table__ used in this module, for type checkers
        id: Mapped[int]


class Station(Base):
    """A station; ``inventory()`` parses its StationXML (once per object)."""

    __table__ = schema.stations
    if TYPE_CHECKING:  # the columns of __table__ used in this module, for type checkers
        id: Mapped[int]
        network: Mapped[str]
        station: Mapped[str]
        start_time: Mapped[datetime]
        inventory_xml: Mapped[bytes | None]
    datacenter = relationship(DataCenter, backref=_many("stations", schema.stations))

    netsta_code = _hybrid("station.netsta_code")
    has_inventory = _hybrid("station.has_inventory")

    @property
    def url(self) -> str:
        """The FDSN station query of this station (``<datacenter.station_url>?net=..&sta=..&start=..``)."""
        return segment_io.station_url(self.datacenter.station_url, self.network, self.station,
                                      self.start_time)

    def inventory(self, reload: bool = False, format: str | None = None) -> Any:  # noqa: A002
        """Return the station inventory, parsed once and then cached on this object.

        Parameters
        ----------
        reload : bool
            Parse the stored StationXML again.
        format : {None, "stationxml", "stationtxt"}
            None: an ObsPy Inventory; "stationxml": the StationXML bytes;
            "stationtxt": the FDSN text format (str).

        Raises
        ------
        SkipSegment
            If the station has no StationXML or it cannot be read.
        """
        cache = self.__dict__.setdefault("_s2s_inventories", InventoryCache(maxsize=1))
        return segment_io.station_inventory(self.id, lambda: self.inventory_xml, cache,
                                            reload=reload, format=format)


class Channel(Base):
    """A channel of a station."""

    __table__ = schema.channels
    station = relationship(Station, backref=_many("channels", schema.channels))

    band_code = _hybrid("channel.band_code")
    instrument_code = _hybrid("channel.instrument_code")
    orientation_code = _hybrid("channel.orientation_code")
    band_instrument_code = _hybrid("channel.band_instrument_code")


def _classes_matching(class_ids_or_labels: tuple[int | str, ...]) -> sa.ColumnElement:
    """Condition on ``classes``: id among the ints, or label among the other values."""
    ids = {x for x in class_ids_or_labels if isinstance(x, int)}
    labels = {str(x) for x in class_ids_or_labels if not isinstance(x, int)}
    return sa.or_(schema.classes.c.id.in_(ids), schema.classes.c.label.in_(labels))


class Segment(Base):
    """A waveform segment: its miniSEED data, metadata and related objects.

    Examples
    --------
    >>> from s2sframe.process import get_session, Segment
    >>> session = get_session(dburl)                        # doctest: +SKIP
    >>> seg = session.get(Segment, 2)                       # doctest: +SKIP
    >>> seg.event.magnitude, seg.station.network, seg.seed_id  # doctest: +SKIP
    (8.1, 'GE', 'GE.MTE..BHZ')
    >>> session.query(Segment.id).filter(Segment.missing_data_sec < 0).count()  # doctest: +SKIP
    2
    """

    __table__ = schema.segments
    if TYPE_CHECKING:  # the columns of __table__ used in this module, for type checkers
        id: Mapped[int]
        event_id: Mapped[int]
        data: Mapped[bytes | None]
        request_start: Mapped[datetime]
        request_end: Mapped[datetime]

    event = relationship(Event, backref=_many("segments", schema.segments))
    channel = relationship(Channel, backref=_many("segments", schema.segments))
    datacenter = relationship(DataCenter, backref=_many("segments", schema.segments))
    download = relationship(Download, backref=_many("segments", schema.segments))
    station = relationship(
        Station,
        secondary=schema.channels,
        primaryjoin=schema.segments.c.channel_id == schema.channels.c.id,
        secondaryjoin=schema.channels.c.station_id == schema.stations.c.id,
        uselist=False,
        viewonly=True,
        backref=_many("segments", schema.segments, viewonly=True),
    )
    classes = relationship(
        Class,
        secondary=schema.class_labellings,
        lazy="dynamic",
        viewonly=True,
        backref=_many("segments", schema.segments, viewonly=True),
    )

    has_data = _hybrid("has_data")
    has_valid_data = _hybrid("has_valid_data")
    event_distance_km = _hybrid("event_distance_km")
    duration_sec = _hybrid("duration_sec")
    missing_data_sec = _hybrid("missing_data_sec")
    missing_data_ratio = _hybrid("missing_data_ratio")
    seed_id = _hybrid("seed_id")
    classlabels_count = _hybrid("classlabels_count")

    # -- waveform and inventory --------------------------------------------------
    def stream(self, reload: bool = False) -> Stream:
        """Return the ObsPy Stream of the segment, decoded once and then cached.

        In-place changes (e.g. ``segment.stream()[0].remove_response(inv)``) are seen
        by the next ``segment.stream()``: work on ``.copy()`` or pass ``reload=True``
        to decode the bytes again.

        Raises
        ------
        SkipSegment
            If the segment has no data or its data is not valid miniSEED.
        """
        state = self.__dict__
        if reload or state.get("_s2s_stream") is None:
            state["_s2s_stream"] = segment_io.decode_stream(self.id, self.data)
        return segment_io.cached(state["_s2s_stream"])

    def inventory(self, reload: bool = False, format: str | None = None) -> Inventory | Any:  # noqa: A002
        """Return the inventory of the segment's station (see :meth:`Station.inventory`)."""
        return self.station.inventory(reload=reload, format=format)

    # -- paths and URLs -------------------------------------------------------------
    def sds_path(self, root: str = ".") -> str:
        """Path for the segment in a SeisComP data structure, as in stream2segment.

        ``<root>/<event id>/<year>/<NET>/<STA>/<LOC>/<CHA>.D/<NET>.<STA>.<LOC>.<CHA>.D.<year>.<day>``
        with year and day of year of ``request_start``; no extension.

        Examples
        --------
        >>> seg.sds_path("/data")  # doctest: +SKIP
        '/data/1/2017/GE/MTE/BHZ.D/GE.MTE..BHZ.D.2017.251'
        """
        cha = self.channel
        sta = cha.station
        return segment_io.sds_path(root, self.event_id, self.request_start, sta.network,
                                   sta.station, cha.location, cha.channel)

    @property
    def url(self) -> str:
        """The FDSN dataselect query of this segment's time window (see :attr:`s2sframe.Segment.url`)."""
        cha = self.channel
        sta = cha.station
        return segment_io.dataselect_url(self.datacenter.dataselect_url, sta.network,
                                         sta.station, cha.location, cha.channel,
                                         self.request_start, self.request_end)

    @property
    def dbsession(self) -> _Session | None:
        """The session this segment is attached to (None when detached)."""
        return object_session(self)

    # -- class labels ---------------------------------------------------------------
    @property
    def classlabels(self) -> list[str]:
        """Sorted labels of the classes assigned to this segment."""
        return sorted(c.label for c in self.classes)

    def _session(self) -> _Session:
        session = object_session(self)
        if session is None:
            raise RuntimeError(f"segment {self.id} is detached from its session")
        return session

    def add_classlabel(self, *class_ids_or_labels: int | str, commit: bool = True,
                       empty_first: bool = False, annotator: str | None = None) -> bool:
        """Assign classes (by id or label) to this segment.

        Classes already assigned and ids or labels not in the database are ignored.
        ``annotator`` set means hand labelled (``is_hand_labelled`` true).

        Returns
        -------
        bool
            True if changes are pending (only possible with ``commit=False``).
        """
        session = self._session()
        pending = self.del_classlabel(commit=False) if empty_first else False
        mine = set() if empty_first else {c.id for c in self.classes}
        if class_ids_or_labels:
            query = session.query(Class.id).filter(_classes_matching(class_ids_or_labels))
            new = {cid for (cid,) in query} - mine
            session.add_all(
                ClassLabelling(segment_id=self.id, class_id=cid, annotator=annotator,
                               is_hand_labelled=annotator is not None)
                for cid in sorted(new)
            )
            pending = pending or bool(new)
        if pending and commit:
            session.commit()
            return False
        return pending

    def del_classlabel(self, *class_ids_or_labels: int | str, commit: bool = True) -> bool:
        """Remove classes (by id or label; all when none given) from this segment.

        Returns
        -------
        bool
            True if changes are pending (only possible with ``commit=False``).
        """
        session = self._session()
        session.flush()
        cl = schema.class_labellings
        cond = cl.c.segment_id == self.id
        if class_ids_or_labels:
            wanted = sa.select(schema.classes.c.id).where(_classes_matching(class_ids_or_labels))
            cond = sa.and_(cond, cl.c.class_id.in_(wanted))
        gone = set(session.execute(sa.select(cl.c.id).where(cond)).scalars())
        result = session.execute(sa.delete(cl).where(cond))
        deleted = bool(gone) and isinstance(result, sa.CursorResult) and result.rowcount > 0
        for obj in list(session.identity_map.values()):
            if isinstance(obj, ClassLabelling) and obj.id in gone:
                session.expunge(obj)
        if deleted and commit:
            session.commit()
            return False
        return deleted

    # -- siblings -------------------------------------------------------------------
    def siblings(self, *matching_attributes: str, include_self: bool = False) -> Query:
        """Query of the segments equal to this one in all ``matching_attributes``.

        Without attributes: the other components of the same recording, i.e.
        ``('station.id', 'channel.location', 'channel.band_instrument_code',
        'event_id')``. Any selectable attribute name works, e.g. ``'event.id'``,
        ``'station.netsta_code'``, ``'channel.instrument_code'``.

        Returns
        -------
        sqlalchemy.orm.Query
            Of Segments, ordered by id (e.g. ``.count()``, ``.options(...)``, ``.all()``).

        Examples
        --------
        >>> [s.channel.channel for s in seg.siblings()]  # doctest: +SKIP
        ['BHE', 'BHN']
        """
        names = matching_attributes or (
            "station.id", "channel.location", "channel.band_instrument_code", "event_id")
        values = {name: self._value(name) for name in names}
        expr: pl.Expr | None = None
        for name, value in values.items():
            cond = pl.col(name).is_null() if value is None else pl.col(name) == value
            expr = cond if expr is None else expr & cond
        assert expr is not None  # names is never empty
        if not include_self:
            expr = expr & (pl.col("id") != self.id)
        return query(self._session(), Segment, expr)

    def _value(self, name: str) -> Any:
        attributes.get(name, context="siblings")
        obj: Any = self
        if "." in name:
            rel, name = name.split(".", 1)
            obj = getattr(self, rel)
        return getattr(obj, name)

