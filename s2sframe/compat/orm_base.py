"""The base of the ORM models (:mod:`s2sframe.compat.orm`): ``str(obj)``, hybrid
attributes from the attribute registry, dynamic back-references, column reflection."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import (
    DeclarativeBase,
    backref,
)
from sqlalchemy.orm import Session as _Session

from ..db import attributes, schema
from .query import DerivedSQL, present_columns


@sa_event.listens_for(_Session, "do_orm_execute")
def _reflect_before_execute(state: Any) -> None:
    """Reflect the database columns before the first ORM statement on an engine."""
    mapper = state.bind_mapper
    if mapper is None or not issubclass(mapper.class_, Base):
        return
    present_columns(state.session.get_bind(mapper=mapper))


@sa_event.listens_for(_Session, "after_begin")
def _sqlite_foreign_keys(session: Any, transaction: Any, connection: sa.Connection) -> None:
    """Enforce foreign keys on the SQLite connections of ORM sessions, also of engines made
    by the user: deleting or renaming a class cascades to its labels (stream2segment turns
    them on for every SQLite connection of the process).

    A session begins before its first statement, when SQLite has no transaction open
    yet: the pragma takes effect (it is a no-op inside a transaction).
    """
    if connection.dialect.name != "sqlite":
        return
    info = connection.connection.info  # lives as long as the DBAPI connection
    if not info.get("s2s_foreign_keys"):
        if not connection.exec_driver_sql("PRAGMA foreign_keys").scalar():
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        info["s2s_foreign_keys"] = bool(connection.exec_driver_sql("PRAGMA foreign_keys").scalar())


def _hybrid(name: str) -> hybrid_property:
    """The registry's derived attribute ``name``: its Python value on objects, its SQL
    in queries (both from its one definition in :mod:`s2sframe.db.attributes`)."""
    attr = attributes.ATTRIBUTES[name]

    def fget(self: Base) -> Any:
        return attr.value(_getter(self, attr.relation))

    fget.__doc__ = attr.doc

    def expr(cls: type) -> sa.ColumnElement:
        return DerivedSQL(name).label(name.rsplit(".", 1)[-1])

    return hybrid_property(fget, expr=expr)


def _getter(obj: Base, own: str | None) -> Any:
    """``get(name)`` of the attribute values of ``obj``, whose own prefix is ``own``.

    ``station.network`` is ``obj.network`` on a Station, ``obj.station.network`` on a
    Segment; ``classes.id`` is the list of the ids of a segment's classes.
    """

    def get(name: str) -> Any:
        attr = attributes.ATTRIBUTES.get(name)
        if attr is not None and attr.expr is not None:
            return attr.value(get)
        relation, _, column = name.rpartition(".")
        if relation == "classes":
            return [getattr(c, column) for c in obj.classes]  # type: ignore[attr-defined]
        target = obj if relation in ("", own) else getattr(obj, relation)
        return None if target is None else getattr(target, column)

    return get


def _many(name: str, table: sa.Table, **kwargs: Any) -> Any:
    """A dynamic back-reference (a query, e.g. ``event.segments.count()``), ordered by id."""
    return backref(name, lazy="dynamic", order_by=table.c.id, **kwargs)


# ------------------------------------------------------------------------------ base
_MAXCHARS = 10


class Base(DeclarativeBase):
    """Base of the models: ``str(obj)`` lists loaded attributes and related objects."""

    metadata = schema.metadata

    def __str__(self) -> str:
        state = sa.inspect(self)
        loaded = state.dict
        lines = [type(self).__name__]
        order = {c.key: i for i, c in enumerate(state.mapper.local_table.columns)}
        attrs = sorted((p.key for p in state.mapper.column_attrs),
                       key=lambda k: order.get(k, len(order)))
        shown = []
        for key in attrs:
            if key not in loaded:
                shown.append(f"  {key}")
                continue
            val = loaded[key]
            cut = ""
            if isinstance(val, str | bytes) and len(val) > _MAXCHARS:
                kind = "characters" if isinstance(val, str) else "elements"
                cut = f", {len(val)} {kind}, showing first {_MAXCHARS} only"
                val = val[:_MAXCHARS]
            shown.append(f"  {key}: {val} ({type(val).__name__}{cut})")
        n = sum(k in loaded for k in attrs)
        lines.append(f" attributes ({n} of {len(attrs)} loaded):")
        lines += shown
        rels = list(state.mapper.relationships.keys())
        nrel = sum(r in loaded for r in rels)
        lines.append(f" related_objects ({nrel} of {len(rels)} loaded):")
        for r in rels:
            lines.append(f"  {r}: `{type(loaded[r]).__name__}` object" if r in loaded
                         else f"  {r}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        ident = sa.inspect(self).identity
        return f"<{type(self).__name__} id={ident[0] if ident else None}>"


