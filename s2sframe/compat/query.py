"""The SQL side of the ORM: column presence per engine, derived attributes, selections.

* :func:`present_columns`: the columns a database really has, reflected once per
  engine (optional columns absent from older stream2segment databases render NULL);
* :func:`derived_sql` and the SQL elements behind the ORM's hybrid properties: the
  attribute registry's SQL (:mod:`s2sframe.db.attributes`) for the dialect in use;
* :func:`query`: an ORM query of a model filtered by a Polars selection expression
  (compiled by :mod:`s2sframe.db.pushdown`, the same code as :func:`s2sframe.scan`).

Models are passed in, never imported: this module knows tables, not classes.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy import orm as sa_orm
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from ..db import attributes, schema
from ..db.pushdown import translate
from ..exceptions import SelectionError

#: table name -> attribute prefix of its model in selections (None: segments).
PREFIXES: dict[str, str | None] = {
    schema.segments.name: None, **{r.table.name: name for name, r in schema.RELATIONS.items()}
}


# ------------------------------------------------------------------ schema per engine
def present_columns(bind: sa.engine.Engine | sa.engine.Connection) -> dict[str, frozenset[str]]:
    """Columns really in the database of ``bind``, reflected once per engine.

    Stored on the engine's dialect (one per engine, so one per database), which is
    where the SQL compilers of :class:`OptionalColumn` and :class:`DerivedSQL` look.
    """
    engine = bind.engine if isinstance(bind, sa.engine.Connection) else bind
    present = getattr(engine.dialect, "_s2s_present", None)
    if present is None:
        present = schema.present_columns(engine)
        engine.dialect._s2s_present = present  # type: ignore[attr-defined]
    return present


class OptionalColumn(sa.sql.expression.ColumnElement):
    """A column that may be absent from a database: rendered NULL where it is."""

    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: sa.Column) -> None:
        self.column = column
        self.type = column.type

    @property
    def _from_objects(self) -> list:  # the FROM of queries selecting only this column
        return self.column._from_objects


@compiles(OptionalColumn)
def _compile_optional(element: OptionalColumn, compiler: Any, **kw: Any) -> str:
    present = getattr(compiler.dialect, "_s2s_present", None)
    col = element.column
    if present is not None and col.name not in present.get(col.table.name, ()):
        return compiler.process(sa.cast(sa.null(), col.type), **kw)
    return compiler.process(col, **kw)


_SA_TYPES: dict[Any, type] = {
    pl.Boolean: sa.Boolean, pl.Float64: sa.Float, pl.String: sa.String, pl.Int64: sa.Integer,
}


class DerivedSQL(sa.sql.expression.ColumnElement):
    """The SQL of a derived attribute of the registry, rendered for the dialect.

    Segment attributes needing other tables (``seed_id``) become correlated scalar
    subqueries, so ``session.query(Segment).filter(Segment.seed_id == ...)`` needs
    no explicit join.
    """

    inherit_cache = True
    _traverse_internals = [("name", InternalTraversal.dp_string)]

    def __init__(self, name: str) -> None:
        self.name = name
        self.type = _SA_TYPES[attributes.ATTRIBUTES[name].dtype]()

    @property
    def _from_objects(self) -> list:
        attr = attributes.ATTRIBUTES[self.name]
        table = schema.segments if attr.relation is None else schema.RELATIONS[attr.relation].table
        return [table]


@compiles(DerivedSQL)
def _compile_derived(element: DerivedSQL, compiler: Any, **kw: Any) -> str:
    return compiler.process(derived_sql(element.name, compiler.dialect), **kw)


def derived_sql(name: str, dialect: sa.engine.Dialect) -> sa.ColumnElement:
    """SQL expression of the registry attribute ``name`` for ``dialect``.

    Examples
    --------
    >>> from sqlalchemy.dialects import sqlite
    >>> sql = derived_sql("station.netsta_code", sqlite.dialect())
    >>> print(sql.compile(compile_kwargs={"literal_binds": True}))
    stations.network || '.' || stations.station
    """
    attr = attributes.ATTRIBUTES[name]
    present = getattr(dialect, "_s2s_present", None)
    if present is None:
        present = {t.name: frozenset(t.columns.keys()) for t in schema.metadata.tables.values()}
    ctx = attributes.SQLContext(dialect.name, present)
    expr = attr.sql_expr(ctx)
    if attr.relation is None and ctx.relations:
        joined = [schema.RELATIONS[r] for r in schema.relations_closure(ctx.relations)]
        tables = [r.table for r in joined]
        conds = [r.on for r in joined]
        expr = sa.select(expr).select_from(*tables).where(*conds).scalar_subquery()
    return expr


def context(session: sa_orm.Session) -> attributes.SQLContext:
    """The attribute registry's SQL context of the database of ``session``."""
    bind = session.get_bind()
    return attributes.SQLContext(bind.dialect.name, present_columns(bind))


def _order_terms(orderby: Any) -> list[tuple[str, bool]]:
    """``orderby`` as (name, descending) pairs."""
    if orderby is None:
        return []
    if isinstance(orderby, str) or (isinstance(orderby, tuple) and len(orderby) == 2
                                    and orderby[1] in ("asc", "desc")):
        orderby = [orderby]
    out = []
    for item in orderby:
        name, direction = (item, "asc") if isinstance(item, str) else item
        if direction not in ("asc", "desc"):
            raise ValueError(f"orderby direction must be 'asc' or 'desc', not {direction!r}")
        out.append((name, direction == "desc"))
    return out


def query(
    session: sa_orm.Session, model: type[Any], expr: pl.Expr | None, orderby: Any = None,
) -> sa_orm.Query:
    """ORM query of the ``model`` objects matching the selection ``expr``, ordered by id last.

    ``expr`` names attributes as :func:`s2sframe.scan` frames do (relative to the
    segments, e.g. ``pl.col("event.magnitude")``); ``orderby`` names them relative
    to ``model`` (``"magnitude"`` for events), alone or as ``(name, "asc"|"desc")``.
    Models of tables without attributes (``Class``...) accept no selection.
    """
    prefix = PREFIXES.get(model.__table__.name, "")
    if prefix == "":
        if expr is not None:
            raise SelectionError(f"selections on {model.__name__} are not supported")
        return session.query(model).order_by(model.id)
    ctx = context(session)
    clause, complete = (None, True) if expr is None else translate(expr, ctx)
    terms = []
    for name, desc in _order_terms(orderby):
        full = name if prefix is None else f"{prefix}.{name}"
        attr = attributes.get(full, context="orderby")
        try:
            col = attr.sql_expr(ctx)
        except attributes.MissingColumnError as exc:
            raise SelectionError(f"Cannot order by {full}: {exc}") from None
        terms.append(col.desc() if desc else col.asc())
    out: sa_orm.Query[Any] = session.query(model)
    if prefix is None:
        for rel in schema.relations_closure(ctx.relations):
            out = out.outerjoin(schema.RELATIONS[rel].table, schema.RELATIONS[rel].on)
    if not complete:
        if prefix is not None:
            raise SelectionError(f"This selection on {model.__name__} cannot be translated to SQL")
        ids = _scan_ids(session, expr)  # type: ignore[arg-type]
        out = out.filter(model.id.in_(ids))
    elif clause is not None:
        out = out.filter(clause)
    return out.order_by(*terms, model.id)


def _scan_ids(session: sa_orm.Session, expr: pl.Expr) -> list[int]:
    from ..db.scan import scan

    session.flush()
    return scan(session.get_bind().engine.url).filter(expr).select("id").collect().get_column("id").to_list()
