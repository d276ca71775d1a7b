"""``scan()``: a stream2segment database as a Polars LazyFrame.

The frame is a Polars IO source. At collect time Polars hands us the columns it
needs, its predicate and a row limit; we compile one SQL query (SQLAlchemy
Core, dialect-aware) that joins only the tables those columns and the
translatable part of the predicate need, run it with connectorx (split into
id-range partitions read in parallel on large tables), compute derived
attributes in Polars and re-apply the whole predicate so results are exact.
The SQL is planned by :mod:`s2sframe.db.plan`.
"""

from __future__ import annotations

import io
import os
import threading
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import connectorx as cx
import polars as pl
import sqlalchemy as sa
from polars.io.plugins import register_io_source
from sqlalchemy.engine import URL

from ..exceptions import DatabaseError, SelectionError
from . import attributes, schema
from . import urls as _db
from .plan import KEY, Database, Plan, compile_sql, make_plan

#: Set by :func:`explain` in its own thread while it copies a frame's plan: sources
#: rebuilt from that copy record their plans there instead of reading the database.
_EXPLAINING = threading.local()
#: Live sources by key, so that a plan copied by :func:`explain` (within this
#: process) rebuilds its sources around the same database object.
_SOURCES: weakref.WeakValueDictionary[int, _Source] = weakref.WeakValueDictionary()


class _Source:
    """The IO source of one :func:`scan` frame (called by Polars at collect time).

    A source with a ``sink`` (only built by :func:`explain`, on its own copy of a
    frame's plan) records what it would run instead of reading: explaining one frame
    never changes what another thread collecting the same frame gets.
    """

    def __init__(self, db: Database, nparts: int, sink: list[Plan] | None = None) -> None:
        self.db, self.nparts, self.sink = db, nparts, sink
        _SOURCES[id(self)] = self

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        plan = make_plan(self.db, with_columns, predicate, n_rows, self.nparts)
        if self.sink is not None:
            self.sink.append(plan)
            yield pl.DataFrame(schema={n: attributes.ATTRIBUTES[n].dtype for n in plan.output})
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
    │ 43  ┆ GE.IPAX..HHZ ┆ 5.1             ┆ -13.76           │
    │ 44  ┆ GE.IPAX..HHN ┆ 5.1             ┆ -8.7             │
    │ 45  ┆ GE.IPAX..HHE ┆ 5.1             ┆ -1.03            │
    └─────┴──────────────┴─────────────────┴──────────────────┘
    """
    if partitions is not None and (
            isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1):
        raise ValueError(f"partitions must be a positive integer, not {partitions!r}")
    url = _db.parse_url(dburl)
    db = Database(url)
    _db.remember_url(url)
    nparts = partitions if partitions is not None else min(os.cpu_count() or 1, 4)
    return register_io_source(
        _Source(db, nparts),
        schema=attributes.schema(),
        is_pure=True,
        explain_name="s2sframe",
        explain_detail=_db.mask_url(url),
    )


def _read(db: Database, queries: list[str]) -> pl.DataFrame:
    try:
        return cx.read_sql(_db.cx_url(db.url), queries if len(queries) > 1 else queries[0],
                           return_type="polars")
    except Exception as exc:  # noqa: BLE001 - connectorx raises RuntimeError & co
        msg = _db.error_line(exc, db.url)
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
    db: Database, plan: Plan, predicate: pl.Expr | None, n_rows: int | None
) -> pl.DataFrame:
    types = {n: attributes.ATTRIBUTES[n].dtype for n in plan.loaded}
    types.update({n: pl.Int64() for n in plan.helpers})
    # related tables are read while the segments are (connectorx releases the GIL):
    # their connection set-up costs nothing then, which matters for selective reads
    with ThreadPoolExecutor(max_workers=1 + len(plan.relations)) as pool:
        related = [(fk, pool.submit(_read, db, [sql])) for fk, sql in plan.relations.values()]
        df = _typed(_read(db, plan.sql), types)
        if not df["id"].is_sorted():  # e.g. partitions concatenated in completion order
            df = df.sort("id")
        for fk, future in related:
            rel = _typed(future.result(), {**types, KEY: pl.Int64()})
            df = df.join(rel, left_on=fk, right_on=KEY, how="left", maintain_order="left")
    if plan.nulls:
        df = df.with_columns(pl.lit(None, attributes.ATTRIBUTES[n].dtype).alias(n) for n in plan.nulls)
    if plan.classes:
        df = _attach_classes(db, df, plan.classes)
    for name in plan.derived:  # in dependency order (see _expand)
        df = df.with_columns(attributes.ATTRIBUTES[name].polars_expr().alias(name))
    if predicate is not None:
        # re-applied even when pushed down entirely (cheap), so results are exact
        df = df.filter(predicate)
    if n_rows is not None:
        df = df.head(n_rows)
    return df.select(plan.output)


def _attach_classes(db: Database, df: pl.DataFrame, names: list[str]) -> pl.DataFrame:
    cl, c = schema.class_labellings, schema.classes
    stmt = (
        sa.select(cl.c.segment_id.label("id"), *[c.c[n.split(".", 1)[1]].label(n) for n in names])
        .select_from(cl.join(c, c.c.id == cl.c.class_id))
        .order_by(cl.c.segment_id, c.c.id)
    )
    labels = _read(db, [compile_sql(db, stmt)])
    # keys typed Any: DataFrame.cast takes a Mapping whose (invariant) key type is a union
    dtypes: dict[Any, pl.DataType] = {"id": pl.Int64()}
    dtypes.update((n, attributes.ATTRIBUTES[n].element_dtype) for n in names)
    if labels.height == 0:
        labels = pl.DataFrame(schema=dtypes)
    labels = labels.cast(dtypes)
    lists = labels.group_by("id", maintain_order=True).agg(names)
    out = df.join(lists, on="id", how="left", maintain_order="left")
    return out.with_columns(
        pl.col(n).fill_null(pl.lit([], dtype=attributes.ATTRIBUTES[n].dtype)) for n in names
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
    plans: list[Plan] = []
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
