"""What one collect of a :func:`s2sframe.scan` frame will run: the database's facts
(:class:`Database`) and the SQL compiled from the columns, predicate and row limit
Polars asks for (:func:`make_plan`).

Segment columns are read by one query, joined only to what the WHERE clause needs;
columns of related tables by one query each (joined in Polars); conditions on
one related table become ``segments.<fk> IN (SELECT id FROM <table> WHERE ...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..exceptions import DatabaseError
from . import attributes, schema
from . import urls as _db
from .pushdown import translate_parts

#: Tables below this many segment ids are read in one query.
PARTITION_MIN_ROWS = 200_000


@dataclass
class Plan:
    """What one collect of a scan frame will do."""

    sql: list[str]
    loaded: list[str]
    derived: list[str]
    nulls: list[str]
    classes: list[str]
    pushed_all: bool
    output: list[str] = field(default_factory=list)
    relations: dict[str, tuple[str, str]] = field(default_factory=dict)
    helpers: list[str] = field(default_factory=list)


class Database:
    """What a scan needs to know about one database: engine, dialect, present columns."""

    def __init__(self, url: URL) -> None:
        self.url = url
        engine = _db.get_engine(url, readonly=True)
        self.dialect = engine.dialect
        self.present = schema.present_columns(engine)
        if not self.present.get("segments"):
            raise DatabaseError(
                f"{_db.mask_url(url)} is not a stream2segment database (no 'segments' table)"
            )
        self.engine = engine

    @property
    def sqlite(self) -> bool:
        return _db.is_sqlite(self.url)

    def id_range(self) -> tuple[int, int] | None:
        with self.engine.connect() as conn:
            # two scalar subqueries: SQLite answers each from the b-tree ends, but
            # scans the whole table for "SELECT min(id), max(id)"
            low, high = conn.execute(
                sa.select(
                    sa.select(sa.func.min(schema.segments.c.id)).scalar_subquery(),
                    sa.select(sa.func.max(schema.segments.c.id)).scalar_subquery(),
                )
            ).one()
        return None if low is None else (int(low), int(high))


def _expand(names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Split needed attributes into (loaded by SQL, derived in Polars, classes lists)."""
    loaded: list[str] = []
    derived: list[str] = []
    classes: list[str] = []

    def visit(name: str) -> None:
        attr = attributes.ATTRIBUTES[name]
        if isinstance(attr.dtype, pl.List):
            if name not in classes:
                classes.append(name)
            visit("id")
        elif attr.in_polars:
            for req in attr.requires:
                visit(req)
            if name not in derived:
                derived.append(name)
        elif name not in loaded:
            loaded.append(name)

    for n in names:
        visit(n)
    return loaded, derived, classes


KEY = "__s2s_key"


def _column(attr: attributes.Attribute, ctx: attributes.SQLContext) -> sa.ColumnElement:
    expr = attr.sql_expr(ctx)
    if attr.loaded_by_sql and attr.dtype == pl.Boolean:
        # never NULL and typed: connectorx infers computed columns from the first row
        expr = sa.case((expr, 1), else_=0)
    return expr.label(attr.name)


def compile_sql(db: Database, stmt: sa.Select) -> str:
    return str(stmt.compile(dialect=db.dialect, compile_kwargs={"literal_binds": True}))


def _where(
    parts: list[tuple[sa.ColumnElement, set[str]]],
) -> tuple[sa.ColumnElement | None, set[str]]:
    """AND the translated conjuncts; return it and the relations to join.

    A conjunct on one related table (or on channels and stations) becomes
    ``segments.<fk> IN (SELECT id FROM <table> WHERE ...)``: no join of every
    segment row, and the index of the (channel_id, event_id) unique constraint
    serves channel and station selections (8x faster on 1M segments).
    """
    clauses, joins = [], set()
    for clause, relations in parts:
        if not relations:
            clauses.append(clause)
        elif relations <= {"channel", "station"}:
            frm: sa.FromClause = schema.channels
            if "station" in relations:
                frm = frm.outerjoin(schema.stations, schema.RELATIONS["station"].on)
            sub = sa.select(schema.channels.c.id).select_from(frm).where(clause)
            clauses.append(schema.segments.c.channel_id.in_(sub))
        elif len(relations) == 1:
            rel = schema.RELATIONS[next(iter(relations))]
            clauses.append(schema.segments.c[rel.fk].in_(sa.select(rel.table.c.id).where(clause)))
        else:
            clauses.append(clause)
            joins |= relations
    if not clauses:
        return None, joins
    return sa.and_(*clauses), joins


def make_plan(
    db: Database,
    with_columns: list[str] | None,
    predicate: pl.Expr | None,
    n_rows: int | None,
    nparts: int,
) -> Plan:
    """Compile the queries of one collect.

    Segment columns are read by one query (joined only to what the WHERE clause
    needs); columns of related tables (events, channels and stations, data
    centers, downloads: small tables) by one query each, joined in Polars. This
    is faster than SQL joins of every segment row (measured: benchmarks/bench_scan.py).
    """
    output = list(with_columns) if with_columns is not None else list(attributes.ATTRIBUTES)
    if not output:
        output = ["id"]
    loaded, derived, classes = _expand(output)
    parts: list[tuple[sa.ColumnElement, set[str]]] = []
    pushed_all = predicate is None
    if predicate is not None:
        parts, pushed_all = translate_parts(predicate, db.dialect.name, db.present)
    where, joins = _where(parts)
    # channel/station conditions become channel_id IN (...), served by the index of the
    # (channel_id, event_id) unique constraint; other conditions scan the table anyway
    indexed = any(rels and rels <= {"channel", "station"} for _c, rels in parts)
    # PostgreSQL scans in parallel by itself: split only its full reads (measured)
    split = where is None or (db.sqlite and not indexed)
    columns = _resolve_columns(db, loaded)
    stmt = sa.select(*columns.segments.values()).select_from(_joined_segments(joins))
    if where is not None:
        stmt = stmt.where(where)
    return Plan(
        sql=[compile_sql(db, s) for s in _partitions(db, stmt, n_rows, nparts if split else 1)],
        loaded=[n for n in loaded if n not in columns.nulls],
        derived=derived,
        nulls=columns.nulls,
        classes=classes,
        pushed_all=pushed_all,
        output=output,
        relations=_relation_queries(db, columns.related),
        helpers=columns.helpers,
    )


@dataclass
class _Columns:
    """The SQL columns of the attributes a collect loads, by where they are read."""

    segments: dict[str, sa.ColumnElement]  # read by the segments query
    related: dict[str, dict[str, sa.ColumnElement]]  # relation -> read by its own query
    nulls: list[str]  # absent from the database: null columns
    helpers: list[str]  # read only to join and order (foreign keys, id)


def _resolve_columns(db: Database, loaded: list[str]) -> _Columns:
    """The SQL column of each attribute of ``loaded``, and the keys needed to join them."""
    seg_cols: dict[str, sa.ColumnElement] = {}
    rel_cols: dict[str, dict[str, sa.ColumnElement]] = {}
    nulls: list[str] = []
    ctx = attributes.SQLContext(db.dialect.name, db.present)
    for name in loaded:
        attr = attributes.ATTRIBUTES[name]
        try:
            col = _column(attr, ctx)
        except attributes.MissingColumnError:
            nulls.append(name)
            continue
        if attr.relation is None:
            seg_cols[name] = col
        else:
            rel_cols.setdefault(attr.relation, {})[name] = col
    helpers = []
    for rel in rel_cols:
        fk = schema.RELATIONS[rel].fk
        if fk not in seg_cols:
            seg_cols[fk] = schema.segments.c[fk].label(fk)
            helpers.append(fk)
    if "id" not in seg_cols:  # to check the order (and restore it after parallel reads)
        seg_cols["id"] = schema.segments.c.id.label("id")
        helpers.append("id")
    return _Columns(seg_cols, rel_cols, nulls, helpers)


def _joined_segments(joins: set[str]) -> sa.FromClause:
    """The segments table outer-joined to the relations of ``joins`` (and those between)."""
    frm: sa.FromClause = schema.segments
    for rel in schema.relations_closure(joins):
        frm = frm.outerjoin(schema.RELATIONS[rel].table, schema.RELATIONS[rel].on)
    return frm


def _partitions(db: Database, stmt: sa.Select, n_rows: int | None,
                nparts: int) -> list[sa.Select]:
    """``stmt`` limited to ``n_rows``, or split in ``nparts`` id ranges on large tables."""
    # No ORDER BY (a sort of every row on PostgreSQL): rows come in id order from a
    # table scan almost always, and Polars checks and sorts otherwise (cheap).
    if n_rows is not None:
        return [stmt.order_by(schema.segments.c.id).limit(max(int(n_rows), 0))]
    if nparts > 1:
        rng = db.id_range()
        if rng is not None and rng[1] - rng[0] + 1 >= PARTITION_MIN_ROWS:
            low, high = rng
            step = (high - low + 1) // nparts + 1
            edges = [low + i * step for i in range(nparts)] + [high + 1]
            return [
                stmt.where(schema.segments.c.id >= a, schema.segments.c.id < b)
                for a, b in zip(edges[:-1], edges[1:], strict=True)
            ]
    return [stmt]


def _relation_queries(
    db: Database, rel_cols: dict[str, dict[str, sa.ColumnElement]]
) -> dict[str, tuple[str, str]]:
    """relation -> (foreign key in segments, SQL reading its columns by :data:`KEY`)."""
    relations: dict[str, tuple[str, str]] = {}
    for rel in ("event", "datacenter", "download", "channel"):
        cols = dict(rel_cols.get(rel, {}))
        if rel == "channel":
            cols.update(rel_cols.get("station", {}))
        if not cols:
            continue
        table, fk = schema.RELATIONS[rel].table, schema.RELATIONS[rel].fk
        rel_from: sa.FromClause = table
        if rel == "channel" and "station" in rel_cols:
            rel_from = table.outerjoin(schema.stations, schema.RELATIONS["station"].on)
        query = sa.select(table.c.id.label(KEY), *cols.values()).select_from(rel_from)
        relations[rel] = (fk, compile_sql(db, query))
    return relations
