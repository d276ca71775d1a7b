"""The attribute registry: every name a user can select on or read as a column.

Each :class:`Attribute` knows its Polars dtype and the relation (joined table)
it lives in. A derived attribute is defined once, as an expression of
:mod:`s2sframe.db.derive`, from which derive its SQL (selections pushed to the
database, ORM queries), its Polars computation from plain columns after loading
(faster, identical on every database, and immune to connectorx's type inference
of computed SQL columns) and its Python value (ORM hybrid properties).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa

from . import derive
from . import schema as db_schema

#: relation prefix -> how it joins segments (the one map: :data:`s2sframe.db.schema.RELATIONS`).
RELATIONS = db_schema.RELATIONS

KM_PER_DEG = 2 * 6371 * math.pi / 360

_SA_TO_PL: dict[type, pl.DataType] = {
    sa.Integer: pl.Int64(),
    sa.Float: pl.Float64(),
    sa.String: pl.String(),
    sa.DateTime: pl.Datetime("us"),
    sa.Boolean: pl.Boolean(),
}


def _pl_dtype(col: sa.Column) -> pl.DataType:
    for satype, pltype in _SA_TO_PL.items():
        if isinstance(col.type, satype):
            return pltype
    raise TypeError(col)  # pragma: no cover - schema is fixed


class SQLContext:
    """Gives SQL expressions of attributes for one query (tables, dialect, present columns)."""

    def __init__(self, dialect: str, present: dict[str, frozenset[str]]) -> None:
        self.dialect = dialect
        self.present = present
        self.relations: set[str] = set()

    @property
    def sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def col(self, relation: str | None, column: str) -> sa.ColumnElement:
        """The SQL column ``relation.column`` (``relation`` None: segments), noting the join."""
        if relation is None:
            table = db_schema.segments
        else:
            table = RELATIONS[relation].table
            self.relations.update(db_schema.relations_closure({relation}))
        if column not in self.present.get(table.name, ()):
            raise MissingColumnError(table.name, column)
        return table.c[column]

    def attribute(self, name: str) -> sa.ColumnElement:
        """SQL of the attribute ``name``, or of a column that is not one (``data``...)."""
        attr = ATTRIBUTES.get(name)
        if attr is not None:
            return attr.sql_expr(self)
        relation, _, column = name.rpartition(".")
        return self.col(relation or None, column)


class MissingColumnError(LookupError):
    """A column is not in the database (older stream2segment versions)."""

    def __init__(self, table: str, column: str) -> None:
        super().__init__(f"column {table}.{column} is not in this database")
        self.table = table
        self.column = column


@dataclass(frozen=True)
class Attribute:
    """One selectable attribute.

    Attributes
    ----------
    name : str
        The stream2segment name, e.g. ``"event.magnitude"``.
    dtype : polars.DataType
        Its Polars type.
    doc : str
        One-line description.
    relation : str or None
        The joined relation (``"event"``, ``"station"``...) or None for segments.
    column : str or None
        The database column, for plain attributes.
    expr : s2sframe.db.derive.Node or None
        The one definition of a derived attribute, from which its SQL, its
        Polars expression and its Python value all derive.
    """

    name: str
    dtype: pl.DataType
    doc: str = ""
    relation: str | None = None
    column: str | None = None
    expr: derive.Node | None = None

    @property
    def is_plain(self) -> bool:
        return self.column is not None

    @property
    def element_dtype(self) -> pl.DataType:
        """The dtype of one element of a list attribute (the class labels).

        Examples
        --------
        >>> ATTRIBUTES["classes.label"].element_dtype
        String
        """
        if not isinstance(self.dtype, pl.List):
            raise TypeError(f"{self.name} is not a list attribute")
        inner = self.dtype.inner
        return inner if isinstance(inner, pl.DataType) else inner()

    @property
    def requires(self) -> tuple[str, ...]:
        """Attributes (or columns) a derived attribute is computed from."""
        return () if self.expr is None else self.expr.refs()

    @property
    def loaded_by_sql(self) -> bool:
        """Derived attributes that the database computes (blob sizes, label counts)."""
        return self.expr is not None and not self.expr.computable_in_polars()

    @property
    def in_polars(self) -> bool:
        """Derived attributes computed in Polars from loaded columns."""
        return self.expr is not None and self.expr.computable_in_polars()

    def sql_expr(self, ctx: SQLContext) -> sa.ColumnElement:
        """SQL expression of this attribute in ``ctx`` (raises MissingColumnError)."""
        if self.column is not None:
            return ctx.col(self.relation, self.column)
        assert self.expr is not None
        return self.expr.sql(ctx)

    def polars_expr(self) -> pl.Expr:
        """Polars expression of a derived attribute (from the loaded :attr:`requires`)."""
        assert self.expr is not None and self.in_polars, self.name
        return self.expr.polars()

    def value(self, get: derive.Getter) -> Any:
        """Python value of this attribute for a row whose values ``get(name)`` returns.

        Examples
        --------
        >>> row = {"channel.channel": "HHZ"}
        >>> ATTRIBUTES["channel.band_instrument_code"].value(row.get)
        'HH'
        """
        if self.expr is None:
            return get(self.name)
        return self.expr.python(get)


#: What a plain column means (the others are described by their table.column name).
_COLUMN_DOCS = {
    "segments.id": "the segment's unique id",
    "segments.data_seed_id": "NET.STA.LOC.CHA read from the waveform data (null without data)",
    "segments.event_distance_deg": "distance between the station and the event, degrees",
    "segments.download_code": "how the download went: the HTTP status (200 data saved), -1 "
                              "no response, -2 malformed data, -200 records outside the window "
                              "dropped, -204 all records outside the window",
    "segments.start_time": "start time of the waveform data (UTC)",
    "segments.arrival_time": "arrival time of the event's first wave at the station (UTC), "
                             "from a travel-time model at download",
    "segments.end_time": "end time of the waveform data (UTC)",
    "segments.request_start": "start of the requested time window (UTC)",
    "segments.request_end": "end of the requested time window (UTC)",
    "segments.sample_rate": "sample rate of the waveform data, Hz (may differ from "
                            "channel.sample_rate)",
    "segments.maxgap_numsamples": "largest gap (> 0) or overlap (< 0) in the waveform data, in "
                                  "samples; within [-0.5, 0.5]: no gaps nor overlaps",
    "segments.queryauth": "the data were downloaded with authentication (restricted data)",
    "events.event_id": "the event's id at its web service (catalog)",
    "events.time": "origin time (UTC)",
    "events.depth_km": "depth, km",
    "events.event_type": 'event type, e.g. "earthquake"',
    "channels.location": "location code",
    "channels.channel": "channel code, e.g. HHZ",
    "stations.network": "network code, e.g. GE",
    "stations.station": "station code",
    "stations.elevation": "elevation, m",
    "stations.start_time": "start of the station's operation (UTC)",
    "stations.end_time": "end of the station's operation (UTC; null: operating)",
    "data_centers.station_url": "URL of the data center's FDSN station web service",
    "data_centers.dataselect_url": "URL of the data center's FDSN dataselect web service",
    "downloads.run_time": "start time of the download run (UTC)",
}


def _plain(relation: str | None, table: sa.Table, skip: tuple[str, ...] = ()) -> list[Attribute]:
    out = []
    for col in table.columns:
        if col.name in skip:
            continue
        name = col.name if relation is None else f"{relation}.{col.name}"
        key = f"{table.name}.{col.name}"
        out.append(Attribute(name, _pl_dtype(col), _COLUMN_DOCS.get(key, key), relation,
                             col.name))
    return out


def _derived() -> list[Attribute]:
    ref = derive.Ref
    # milliseconds, as stream2segment rounds them (on every path: see derive.Millis)
    duration = derive.Millis(ref("start_time"), ref("end_time"))
    requested = derive.Millis(ref("request_start"), ref("request_end"))
    network, station = ref("station.network"), ref("station.station")
    channel = ref("channel.channel")
    code = "letter of the channel code"
    return [
        Attribute("has_data", pl.Boolean(), "data is not null and not empty",
                  expr=derive.NonEmptyBlob(ref("data"))),
        Attribute("has_valid_data", pl.Boolean(), "has_data and download_code not null nor -2",
                  expr=derive.And((ref("has_data"), derive.IsNotNull(ref("download_code")),
                              derive.NotEqual(ref("download_code"), -2)))),
        Attribute("event_distance_km", pl.Float64(), "event_distance_deg in km",
                  expr=derive.Arith("*", ref("event_distance_deg"), derive.Const(KM_PER_DEG))),
        Attribute("duration_sec", pl.Float64(), "end_time - start_time, seconds",
                  expr=derive.Seconds(duration)),
        Attribute("missing_data_sec", pl.Float64(),
                  "(request_end - request_start) - (end_time - start_time), seconds",
                  expr=derive.Seconds(derive.Arith("-", requested, duration))),
        Attribute("missing_data_ratio", pl.Float64(),
                  "1 - (end_time - start_time) / (request_end - request_start); "
                  "null if the request window is empty",
                  expr=derive.Arith("-", derive.Const(1.0), derive.Arith("/", duration, requested))),
        Attribute("seed_id", pl.String(), "data_seed_id, else NET.STA.LOC.CHA",
                  expr=derive.Coalesce((ref("data_seed_id"), derive.Concat(
                      (network, station, ref("channel.location"), channel))))),
        Attribute("classlabels_count", pl.Int64(), "number of class labels of the segment",
                  expr=derive.LabelCount()),
        Attribute("station.netsta_code", pl.String(), "NET.STA", relation="station",
                  expr=derive.Concat((network, station))),
        Attribute("station.has_inventory", pl.Boolean(), "station has StationXML",
                  relation="station", expr=derive.NonEmptyBlob(ref("station.inventory_xml"))),
        Attribute("channel.band_code", pl.String(), f"1st {code}", relation="channel",
                  expr=derive.Substr(channel, 0, 1)),
        Attribute("channel.instrument_code", pl.String(), f"2nd {code}", relation="channel",
                  expr=derive.Substr(channel, 1, 1)),
        Attribute("channel.orientation_code", pl.String(), f"3rd {code}", relation="channel",
                  expr=derive.Substr(channel, 2, 1)),
        Attribute("channel.band_instrument_code", pl.String(),
                  "first two letters of the channel code", relation="channel",
                  expr=derive.Substr(channel, 0, 2)),
    ]


#: Attributes of classes (list columns; selections on them are existence tests).
CLASS_ATTRIBUTES: dict[str, Attribute] = {
    f"classes.{c.name}": Attribute(
        f"classes.{c.name}", pl.List(_pl_dtype(c)), f"classes.{c.name} of the segment's labels",
        relation="classes", column=c.name,
    )
    for c in db_schema.classes.columns
}


def _build() -> dict[str, Attribute]:
    attrs: list[Attribute] = _plain(None, db_schema.segments, skip=("data",))
    derived = _derived()
    attrs += [a for a in derived if a.relation is None]
    for rel, relation in RELATIONS.items():
        attrs += _plain(rel, relation.table, skip=("inventory_xml",))
        attrs += [a for a in derived if a.relation == rel]
    out = {a.name: a for a in attrs}
    out.update(CLASS_ATTRIBUTES)
    return out


#: name -> Attribute, in column order of :func:`s2sframe.scan`.
ATTRIBUTES: dict[str, Attribute] = _build()


def schema() -> pl.Schema:
    """Polars schema of :func:`s2sframe.scan` frames."""
    return pl.Schema({n: a.dtype for n, a in ATTRIBUTES.items()})


def get(name: str, context: str = "") -> Attribute:
    """Return the attribute ``name`` or raise ``SelectionError`` with close matches."""
    from ..exceptions import SelectionError

    try:
        return ATTRIBUTES[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(ATTRIBUTES) + ["data"], n=4, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        where = f" in {context}" if context else ""
        raise SelectionError(f"Unknown attribute {name!r}{where}{hint}") from None
