"""The attribute registry: every name a user can select on or read as a column.

Each :class:`Attribute` knows its Polars dtype, the relation (joined table) it
lives in, how to compute it in SQL (for selections pushed to the database) and,
for derived attributes, how to compute it in Polars from plain columns after
loading (faster, identical on every database, and immune to connectorx's type
inference of computed SQL columns).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
import sqlalchemy as sa

from . import schema as S

#: relation prefix -> how it joins segments (the one map: :data:`s2sframe.db.schema.RELATIONS`).
RELATIONS = S.RELATIONS

KM_PER_DEG = 2 * 6371 * math.pi / 360

_SA_TO_PL: dict[type, pl.DataType] = {
    sa.Integer: pl.Int64,
    sa.Float: pl.Float64,
    sa.String: pl.String,
    sa.DateTime: pl.Datetime("us"),
    sa.Boolean: pl.Boolean,
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
            table = S.segments
        else:
            table = RELATIONS[relation].table
            self.relations.update(S.relations_closure({relation}))
        if column not in self.present.get(table.name, ()):
            raise MissingColumnError(table.name, column)
        return table.c[column]

    def epoch(self, expr: sa.ColumnElement) -> sa.ColumnElement:
        """Seconds since 1970 of a datetime expression, with microseconds."""
        if self.sqlite:
            # stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]': whole seconds + fraction
            return sa.cast(sa.func.strftime("%s", expr), sa.Integer) + sa.cast(
                sa.func.substr(expr, 20), sa.Float
            )
        return sa.extract("epoch", expr)

    def seconds_between(self, start: sa.ColumnElement, end: sa.ColumnElement) -> sa.ColumnElement:
        """``end - start`` in seconds."""
        if self.sqlite:
            return self.epoch(end) - self.epoch(start)
        return sa.extract("epoch", end - start)

    def blob_nonempty(self, expr: sa.ColumnElement) -> sa.ColumnElement:
        """True where a blob is not null and not empty."""
        return sa.and_(expr.is_not(None), sa.func.length(expr) > 0)


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
    sql : callable or None
        ``sql(ctx) -> ColumnElement`` for derived attributes.
    polars : callable or None
        ``polars() -> pl.Expr`` computing a derived attribute from loaded columns.
    requires : tuple of str
        Attributes the Polars computation needs.
    loaded_by_sql : bool
        Derived attributes that must be computed by the database (blob lengths, counts).
    """

    name: str
    dtype: pl.DataType
    doc: str = ""
    relation: str | None = None
    column: str | None = None
    sql: Callable[[SQLContext], sa.ColumnElement] | None = None
    polars: Callable[[], pl.Expr] | None = None
    requires: tuple[str, ...] = field(default=())
    loaded_by_sql: bool = False

    @property
    def is_plain(self) -> bool:
        return self.column is not None

    def sql_expr(self, ctx: SQLContext) -> sa.ColumnElement:
        """SQL expression of this attribute in ``ctx`` (raises MissingColumnError)."""
        if self.column is not None:
            return ctx.col(self.relation, self.column)
        assert self.sql is not None
        return self.sql(ctx)


def _plain(relation: str | None, table: sa.Table, skip: tuple[str, ...] = ()) -> list[Attribute]:
    out = []
    for col in table.columns:
        if col.name in skip:
            continue
        name = col.name if relation is None else f"{relation}.{col.name}"
        out.append(
            Attribute(name, _pl_dtype(col), f"{table.name}.{col.name}", relation, col.name)
        )
    return out


def _seconds(start: str, end: str) -> pl.Expr:
    return (pl.col(end) - pl.col(start)).dt.total_microseconds().cast(pl.Float64) / 1e6


def _derived() -> list[Attribute]:
    def has_data_sql(ctx: SQLContext) -> sa.ColumnElement:
        return ctx.blob_nonempty(ctx.col(None, "data"))

    def has_valid_sql(ctx: SQLContext) -> sa.ColumnElement:
        code = ctx.col(None, "download_code")
        return sa.and_(has_data_sql(ctx), code.is_not(None), code != -2)

    def dur_sql(ctx: SQLContext) -> sa.ColumnElement:
        return ctx.seconds_between(ctx.col(None, "start_time"), ctx.col(None, "end_time"))

    def req_sql(ctx: SQLContext) -> sa.ColumnElement:
        return ctx.seconds_between(ctx.col(None, "request_start"), ctx.col(None, "request_end"))

    def seed_sql(ctx: SQLContext) -> sa.ColumnElement:
        parts = [
            ctx.col("station", "network"),
            ctx.col("station", "station"),
            ctx.col("channel", "location"),
            ctx.col("channel", "channel"),
        ]
        joined = parts[0]
        for p in parts[1:]:
            joined = joined.concat(".").concat(p)
        return sa.func.coalesce(ctx.col(None, "data_seed_id"), joined)

    def count_sql(ctx: SQLContext) -> sa.ColumnElement:
        cl = S.class_labellings
        return (
            sa.select(sa.func.count())
            .select_from(cl)
            .where(cl.c.segment_id == S.segments.c.id)
            .scalar_subquery()
        )

    def netsta_sql(ctx: SQLContext) -> sa.ColumnElement:
        return ctx.col("station", "network").concat(".").concat(ctx.col("station", "station"))

    def has_inv_sql(ctx: SQLContext) -> sa.ColumnElement:
        return ctx.blob_nonempty(ctx.col("station", "inventory_xml"))

    def code(start: int, length: int) -> Callable[[SQLContext], sa.ColumnElement]:
        return lambda ctx: sa.func.substr(ctx.col("channel", "channel"), start + 1, length)

    def code_pl(start: int, length: int) -> Callable[[], pl.Expr]:
        return lambda: pl.col("channel.channel").str.slice(start, length)

    dur = "end_time - start_time, seconds"
    return [
        Attribute(
            "has_data", pl.Boolean, "data is not null and not empty", sql=has_data_sql,
            loaded_by_sql=True,
        ),
        Attribute(
            "has_valid_data", pl.Boolean, "has_data and download_code not null nor -2",
            sql=has_valid_sql, requires=("has_data", "download_code"),
            polars=lambda: pl.col("has_data")
            & pl.col("download_code").is_not_null()
            & (pl.col("download_code") != -2).fill_null(False),
        ),
        Attribute(
            "event_distance_km", pl.Float64, "event_distance_deg in km",
            sql=lambda ctx: ctx.col(None, "event_distance_deg") * KM_PER_DEG,
            requires=("event_distance_deg",),
            polars=lambda: pl.col("event_distance_deg") * KM_PER_DEG,
        ),
        Attribute(
            "duration_sec", pl.Float64, dur, sql=dur_sql, requires=("start_time", "end_time"),
            polars=lambda: _seconds("start_time", "end_time"),
        ),
        Attribute(
            "missing_data_sec", pl.Float64,
            "(request_end - request_start) - (end_time - start_time), seconds",
            sql=lambda ctx: req_sql(ctx) - dur_sql(ctx),
            requires=("start_time", "end_time", "request_start", "request_end"),
            polars=lambda: _seconds("request_start", "request_end")
            - _seconds("start_time", "end_time"),
        ),
        Attribute(
            "missing_data_ratio", pl.Float64,
            "1 - (end_time - start_time) / (request_end - request_start)",
            sql=lambda ctx: 1.0 - dur_sql(ctx) / req_sql(ctx),
            requires=("start_time", "end_time", "request_start", "request_end"),
            polars=lambda: 1.0
            - _seconds("start_time", "end_time") / _seconds("request_start", "request_end"),
        ),
        Attribute(
            "seed_id", pl.String, "data_seed_id, else NET.STA.LOC.CHA", sql=seed_sql,
            requires=("data_seed_id", "station.network", "station.station",
                      "channel.location", "channel.channel"),
            polars=lambda: pl.coalesce(
                pl.col("data_seed_id"),
                pl.concat_str(
                    [pl.col("station.network"), pl.col("station.station"),
                     pl.col("channel.location"), pl.col("channel.channel")],
                    separator=".",
                ),
            ),
        ),
        Attribute(
            "classlabels_count", pl.Int64, "number of class labels of the segment",
            sql=count_sql, loaded_by_sql=True,
        ),
        Attribute(
            "station.netsta_code", pl.String, "NET.STA", relation="station", sql=netsta_sql,
            requires=("station.network", "station.station"),
            polars=lambda: pl.concat_str(
                [pl.col("station.network"), pl.col("station.station")], separator="."
            ),
        ),
        Attribute(
            "station.has_inventory", pl.Boolean, "station has StationXML", relation="station",
            sql=has_inv_sql, loaded_by_sql=True,
        ),
        Attribute(
            "channel.band_code", pl.String, "1st letter of the channel code",
            relation="channel", sql=code(0, 1), requires=("channel.channel",),
            polars=code_pl(0, 1),
        ),
        Attribute(
            "channel.instrument_code", pl.String, "2nd letter of the channel code",
            relation="channel", sql=code(1, 1), requires=("channel.channel",),
            polars=code_pl(1, 1),
        ),
        Attribute(
            "channel.orientation_code", pl.String, "3rd letter of the channel code",
            relation="channel", sql=code(2, 1), requires=("channel.channel",),
            polars=code_pl(2, 1),
        ),
        Attribute(
            "channel.band_instrument_code", pl.String, "first two letters of the channel code",
            relation="channel", sql=code(0, 2), requires=("channel.channel",),
            polars=code_pl(0, 2),
        ),
    ]


#: Attributes of classes (list columns; selections on them are existence tests).
CLASS_ATTRIBUTES: dict[str, Attribute] = {
    f"classes.{c.name}": Attribute(
        f"classes.{c.name}", pl.List(_pl_dtype(c)), f"classes.{c.name} of the segment's labels",
        relation="classes", column=c.name,
    )
    for c in S.classes.columns
}


def _build() -> dict[str, Attribute]:
    attrs: list[Attribute] = _plain(None, S.segments, skip=("data",))
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
