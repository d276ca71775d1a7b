"""``scan()``: a stream2segment database as a Polars LazyFrame.

The frame is a Polars IO source. At collect time Polars hands us the columns it
needs, its predicate and a row limit; we compile one SQL query (SQLAlchemy
Core, dialect-aware) that joins only the tables those columns and the
translatable part of the predicate need, run it with connectorx (split into
id-range partitions read in parallel on large tables), compute derived
attributes in Polars and re-apply the whole predicate so results are exact.
"""

from __future__ import annotations

import io
import os
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import connectorx as cx
import polars as pl
import sqlalchemy as sa
from polars.io.plugins import register_io_source
from sqlalchemy.engine import URL

from ..exceptions import DatabaseError, SelectionError
from . import attributes as A
from . import schema as S
from . import urls as _db
from .pushdown import translate_parts

#: Tables below this many segment ids are read in one query.
PARTITION_MIN_ROWS = 200_000


@dataclass
class _Plan:
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


#: Set by :func:`explain` in its own thread while it copies a frame's plan: sources
#: rebuilt from that copy record their plans there instead of reading the database.
_EXPLAINING = threading.local()
#: Live sources by key, so that a plan copied by :func:`explain` (within this
#: process) rebuilds its sources around the same database object.
_SOURCES: weakref.WeakValueDictionary[int, _Source] = weakref.WeakValueDictionary()


class _Database:
    """What a scan needs to know about one database: engine, dialect, present columns."""

    def __init__(self, url: URL) -> None:
        self.url = url
        engine = _db.get_engine(url, readonly=True)
        self.dialect = engine.dialect
        self.present = S.present_columns(engine)
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
                    sa.select(sa.func.min(S.segments.c.id)).scalar_subquery(),
                    sa.select(sa.func.max(S.segments.c.id)).scalar_subquery(),
                )
            ).one()
        return None if low is None else (int(low), int(high))


class _Source:
    """The IO source of one :func:`scan` frame (called by Polars at collect time).

    A source with a ``sink`` (only built by :func:`explain`, on its own copy of a
    frame's plan) records what it would run instead of reading: explaining one frame
    never changes what another thread collecting the same frame gets.
    """

    def __init__(self, db: _Database, nparts: int, sink: list[_Plan] | None = None) -> None:
        self.db, self.nparts, self.sink = db, nparts, sink
        _SOURCES[id(self)] = self

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        plan = _plan(self.db, with_columns, predicate, n_rows, self.nparts)
        if self.sink is not None:
            self.sink.append(plan)
            yield pl.DataFrame(schema={n: A.ATTRIBUTES[n].dtype for n in plan.output})
            return
        yield _execute(self.db, plan, predicate, n_rows)

    def __reduce__(self) -> tuple:
        # Polars pickles the source when explain() copies a plan (same process only).
        return (_rebuild_source, (id(self),))


def _rebuild_source(key: int) -> _Source:
    original = _SOURCES.get(key)
    if original is None:
        raise DatabaseError("a scan() frame can only be copied within the process that made it")
    return _Source(original.db, original.nparts, getattr(_EXPLAINING, "sink", None))


def scan(dburl: str | URL, *, partitions: int | None = None) -> pl.LazyFrame:
    """Scan the segments of a stream2segment database as a Polars LazyFrame.

    One row per segment; columns are named with the stream2segment attribute
    vocabulary (``id``, ``has_valid_data``, ``missing_data_sec``,
    ``event.magnitude``, ``station.network``, ``channel.channel``, ...; see
    ``s2sframe.attributes()``). Waveform and StationXML blobs are not columns.
    Filters and column choices are compiled to SQL, so only what a query asks
    for leaves the database.

    Parameters
    ----------
    dburl : str
        ``sqlite:///relative/or/absolute/path.sqlite``, a plain path to a SQLite
        file, or ``postgresql://user:password@host:port/dbname``. SQLite files are
        opened read-only.
    partitions : int, optional
        Number of parallel reads for large tables (default: the number of CPUs,
        at most 4, on tables of more than 200,000 segments).

    Returns
    -------
    polars.LazyFrame

    Raises
    ------
    DatabaseError
        Missing file, not a SQLite file, unreachable server, missing PostgreSQL
        driver or not a stream2segment database (the message shows the URL with
        its password masked).
    ValueError
        If ``partitions`` is not a positive integer.

    Examples
    --------
    >>> import tempfile, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = example_database(tempfile.mkdtemp() + "/example.sqlite")
    >>> lf = s2sframe.scan(url)
    >>> (lf.filter(s2sframe.where({"event.magnitude": ">=5", "station.network": "GE"}))
    ...    .select("id", "seed_id", "event.magnitude", "missing_data_sec")
    ...    .head(3)
    ...    .collect())
    shape: (3, 4)
    ┌─────┬──────────────┬─────────────────┬──────────────────┐
    │ id  ┆ seed_id      ┆ event.magnitude ┆ missing_data_sec │
    │ --- ┆ ---          ┆ ---             ┆ ---              │
    │ i64 ┆ str          ┆ f64             ┆ f64              │
    ╞═════╪══════════════╪═════════════════╪══════════════════╡
    │ 1   ┆ GE.WCBO..HHZ ┆ 5.3             ┆ 10.39            │
    │ 2   ┆ GE.WCBO..HHN ┆ 5.3             ┆ -2.82            │
    │ 3   ┆ GE.WCBO..HHE ┆ 5.3             ┆ -7.32            │
    └─────┴──────────────┴─────────────────┴──────────────────┘
    """
    if partitions is not None and (
            isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1):
        raise ValueError(f"partitions must be a positive integer, not {partitions!r}")
    url = _db.parse_url(dburl)
    db = _Database(url)
    _db.remember_url(url)
    nparts = partitions if partitions is not None else min(os.cpu_count() or 1, 4)
    return register_io_source(
        _Source(db, nparts),
        schema=A.schema(),
        is_pure=True,
        explain_name="s2sframe",
        explain_detail=_db.mask_url(url),
    )


def _expand(names: list[str]) -> tuple[list[str], list[str], list[str]]:
    """Split needed attributes into (loaded by SQL, derived in Polars, classes lists)."""
    loaded: list[str] = []
    derived: list[str] = []
    classes: list[str] = []

    def visit(name: str) -> None:
        attr = A.ATTRIBUTES[name]
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


_KEY = "__s2s_key"


def _column(attr: A.Attribute, ctx: A.SQLContext) -> sa.ColumnElement:
    expr = attr.sql_expr(ctx)
    if attr.loaded_by_sql and attr.dtype == pl.Boolean:
        # never NULL and typed: connectorx infers computed columns from the first row
        expr = sa.case((expr, 1), else_=0)
    return expr.label(attr.name)


def _compile(db: _Database, stmt: sa.Select) -> str:
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
            frm = S.channels
            if "station" in relations:
                frm = frm.outerjoin(S.stations, S.RELATIONS["station"].on)
            sub = sa.select(S.channels.c.id).select_from(frm).where(clause)
            clauses.append(S.segments.c.channel_id.in_(sub))
        elif len(relations) == 1:
            rel = S.RELATIONS[next(iter(relations))]
            clauses.append(S.segments.c[rel.fk].in_(sa.select(rel.table.c.id).where(clause)))
        else:
            clauses.append(clause)
            joins |= relations
    if not clauses:
        return None, joins
    return sa.and_(*clauses), joins


def _plan(
    db: _Database,
    with_columns: list[str] | None,
    predicate: pl.Expr | None,
    n_rows: int | None,
    nparts: int,
) -> _Plan:
    """Compile the queries of one collect.

    Segment columns are read by one query (joined only to what the WHERE clause
    needs); columns of related tables (events, channels and stations, data
    centers, downloads: small tables) by one query each, joined in Polars. This
    is faster than SQL joins of every segment row (measured: benchmarks/bench_scan.py).
    """
    output = list(with_columns) if with_columns is not None else list(A.ATTRIBUTES)
    if not output:
        output = ["id"]
    loaded, derived, classes = _expand(output)
    parts, pushed_all = [], predicate is None
    if predicate is not None:
        parts, pushed_all = translate_parts(predicate, db.dialect.name, db.present)
    where, joins = _where(parts)
    # channel/station conditions become channel_id IN (...), served by the index of the
    # (channel_id, event_id) unique constraint; other conditions scan the table anyway
    indexed = any(rels and rels <= {"channel", "station"} for _c, rels in parts)
    # PostgreSQL scans in parallel by itself: split only its full reads (measured)
    split = where is None or (db.sqlite and not indexed)
    seg_cols: dict[str, sa.ColumnElement] = {}
    rel_cols: dict[str, dict[str, sa.ColumnElement]] = {}
    nulls: list[str] = []
    ctx = A.SQLContext(db.dialect.name, db.present)
    for name in loaded:
        attr = A.ATTRIBUTES[name]
        try:
            col = _column(attr, ctx)
        except A.MissingColumnError:
            nulls.append(name)
            continue
        if attr.relation is None:
            seg_cols[name] = col
        else:
            rel_cols.setdefault(attr.relation, {})[name] = col
    helpers = []
    for rel in rel_cols:
        fk = S.RELATIONS[rel].fk
        if fk not in seg_cols:
            seg_cols[fk] = S.segments.c[fk].label(fk)
            helpers.append(fk)
    if "id" not in seg_cols:  # to check the order (and restore it after parallel reads)
        seg_cols["id"] = S.segments.c.id.label("id")
        helpers.append("id")
    frm = S.segments
    for rel in S.relations_closure(joins):
        frm = frm.outerjoin(S.RELATIONS[rel].table, S.RELATIONS[rel].on)
    stmt = sa.select(*seg_cols.values()).select_from(frm)
    if where is not None:
        stmt = stmt.where(where)
    # No ORDER BY (a sort of every row on PostgreSQL): rows come in id order from a
    # table scan almost always, and Polars checks and sorts otherwise (cheap).
    statements = [stmt]
    if n_rows is not None:
        statements = [stmt.order_by(S.segments.c.id).limit(max(int(n_rows), 0))]
    elif nparts > 1 and split:
        rng = db.id_range()
        if rng is not None and rng[1] - rng[0] + 1 >= PARTITION_MIN_ROWS:
            low, high = rng
            step = (high - low + 1) // nparts + 1
            edges = [low + i * step for i in range(nparts)] + [high + 1]
            statements = [
                stmt.where(S.segments.c.id >= a, S.segments.c.id < b)
                for a, b in zip(edges[:-1], edges[1:], strict=True)
            ]
    relations: dict[str, tuple[str, str]] = {}
    for rel in ("event", "datacenter", "download", "channel"):
        cols = dict(rel_cols.get(rel, {}))
        if rel == "channel":
            cols.update(rel_cols.get("station", {}))
        if not cols:
            continue
        table, fk = S.RELATIONS[rel].table, S.RELATIONS[rel].fk
        frm = table
        if rel == "channel" and "station" in rel_cols:
            frm = table.outerjoin(S.stations, S.RELATIONS["station"].on)
        query = sa.select(table.c.id.label(_KEY), *cols.values()).select_from(frm)
        relations[rel] = (fk, _compile(db, query))
    return _Plan(
        sql=[_compile(db, s) for s in statements],
        loaded=[n for n in loaded if n not in nulls],
        derived=derived,
        nulls=nulls,
        classes=classes,
        pushed_all=pushed_all,
        output=output,
        relations=relations,
        helpers=helpers,
    )


def _read(db: _Database, queries: list[str]) -> pl.DataFrame:
    try:
        return cx.read_sql(_db.cx_url(db.url), queries if len(queries) > 1 else queries[0],
                           return_type="polars")
    except Exception as exc:  # noqa: BLE001 - connectorx raises RuntimeError & co
        msg = _db._first_line(exc, db.url)
        raise DatabaseError(f"Query on {_db.mask_url(db.url)} failed: {msg}") from None


def _typed(df: pl.DataFrame, types: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast connectorx output to the attribute dtypes (PostgreSQL int4, SQLite 0/1...)."""
    types = {n: t for n, t in types.items() if n in df.columns}
    if df.height == 0:  # connectorx types empty SQLite results as strings
        return pl.DataFrame(schema={n: types.get(n, df.schema[n]) for n in df.columns})
    return df.with_columns(
        pl.col(n).cast(pl.Int8).cast(t) if t == pl.Boolean and df.schema[n] != pl.Boolean
        else pl.col(n).cast(t)
        for n, t in types.items()
    )


def _execute(
    db: _Database, plan: _Plan, predicate: pl.Expr | None, n_rows: int | None
) -> pl.DataFrame:
    types = {n: A.ATTRIBUTES[n].dtype for n in plan.loaded}
    types.update({n: pl.Int64 for n in plan.helpers})
    # related tables are read while the segments are (connectorx releases the GIL):
    # their connection set-up costs nothing then, which matters for selective reads
    with ThreadPoolExecutor(max_workers=1 + len(plan.relations)) as pool:
        related = [(fk, pool.submit(_read, db, [sql])) for fk, sql in plan.relations.values()]
        df = _typed(_read(db, plan.sql), types)
        if not df["id"].is_sorted():  # e.g. partitions concatenated in completion order
            df = df.sort("id")
        for fk, future in related:
            rel = _typed(future.result(), {**types, _KEY: pl.Int64})
            df = df.join(rel, left_on=fk, right_on=_KEY, how="left", maintain_order="left")
    if plan.nulls:
        df = df.with_columns(pl.lit(None, A.ATTRIBUTES[n].dtype).alias(n) for n in plan.nulls)
    if plan.classes:
        df = _attach_classes(db, df, plan.classes)
    for name in plan.derived:  # in dependency order (see _expand)
        df = df.with_columns(A.ATTRIBUTES[name].polars_expr().alias(name))
    if predicate is not None:
        # re-applied even when pushed down entirely (cheap), so results are exact
        df = df.filter(predicate)
    if n_rows is not None:
        df = df.head(n_rows)
    return df.select(plan.output)


def _attach_classes(db: _Database, df: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    cl, c = S.class_labellings, S.classes
    stmt = (
        sa.select(cl.c.segment_id.label("id"), *[c.c[n.split(".", 1)[1]].label(n) for n in names])
        .select_from(cl.join(c, c.c.id == cl.c.class_id))
        .order_by(cl.c.segment_id, c.c.id)
    )
    labels = _read(db, [_compile(db, stmt)])
    inner = {n: A.ATTRIBUTES[n].dtype.inner for n in names}  # type: ignore[union-attr]
    if labels.height == 0:
        labels = pl.DataFrame(schema={"id": pl.Int64, **inner})
    labels = labels.cast({"id": pl.Int64, **inner})
    lists = labels.group_by("id", maintain_order=True).agg(names)
    out = df.join(lists, on="id", how="left", maintain_order="left")
    return out.with_columns(
        pl.col(n).fill_null(pl.lit([], dtype=A.ATTRIBUTES[n].dtype)) for n in names
    )


def explain(lf: pl.LazyFrame) -> str:
    """Return the SQL that collecting ``lf`` would run on its database (passwords never shown).

    Nothing is read from the database: the query is compiled, not executed.

    Parameters
    ----------
    lf : polars.LazyFrame
        A frame built on :func:`scan`.

    Returns
    -------
    str
        One SQL statement per query (several for partitioned reads), followed by
        a note of what Polars still filters after loading.

    Examples
    --------
    >>> import tempfile, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = example_database(tempfile.mkdtemp() + "/example.sqlite")
    >>> lf = s2sframe.scan(url).filter(s2sframe.where({"event.magnitude": ">=6"}))
    >>> print(s2sframe.explain(lf.select("id", "event.magnitude")))
    SELECT segments.id AS id, segments.event_id AS event_id
    FROM segments
    WHERE segments.event_id IN (SELECT events.id
    FROM events
    WHERE events.magnitude >= 6.0);
    SELECT events.id AS __s2s_key, events.magnitude AS "event.magnitude"
    FROM events;
    """
    plans: list[_Plan] = []
    # Copy the frame's plan: its sources are rebuilt in explain mode (this thread
    # only), so collecting the copy compiles the SQL without running it, and
    # nothing shared changes for other threads.
    _EXPLAINING.sink = plans
    try:
        copy = pl.LazyFrame.deserialize(io.BytesIO(lf.serialize()))
    finally:
        _EXPLAINING.sink = None
    copy.collect()
    if not plans:
        raise SelectionError("This frame reads no s2sframe.scan() source")
    out = []
    for plan in plans:
        text = ";\n".join(plan.sql + [q for _fk, q in plan.relations.values()]) + ";"
        if not plan.pushed_all:
            text += "\n-- part of the filter is applied by Polars after loading"
        out.append(text)
    return "\n\n".join(out)
