"""Class labels: the ``classes`` table and the labels of segments (``class_labellings``).

Used by ``s2s classlabel`` and by the viewer of ``s2s show``. Writes run in one
transaction each; deleting a class deletes its labellings (as the foreign key's
ON DELETE CASCADE does, done explicitly for SQLite files written without
``PRAGMA foreign_keys``).

Examples
--------
>>> import os, tempfile
>>> from s2sframe.testing import make_database
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite")
>>> _ = make_database(url, events=2, stations=2)
>>> cid = add_class(url, "Noisy", "noise above the signal")
>>> set_label(url, 1, cid, True, annotator="me")
1
>>> segment_labels(url, 1)
[7]
>>> [c["label"] for c in list_classes(url)][-1]
'Noisy'
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..exceptions import DatabaseError
from . import schema
from . import urls as _db
from .retry import with_retries

__all__ = ["add_class", "annotator_stamp", "delete_class", "find_class", "list_classes",
           "rename_class", "segment_labels", "set_label"]

_Bind = str | URL | sa.engine.Engine


def _engine(bind: _Bind, readonly: bool = False) -> sa.engine.Engine:
    if isinstance(bind, sa.engine.Engine):
        return bind
    return _db.get_engine(bind, readonly=readonly)


def list_classes(bind: _Bind) -> list[dict[str, Any]]:
    """The classes (id order) with ``id``, ``label``, ``description`` and ``count`` of labelled segments."""
    c, cl = schema.classes, schema.class_labellings
    count = (sa.select(sa.func.count()).where(cl.c.class_id == c.c.id)
             .correlate(c).scalar_subquery())
    stmt = sa.select(c.c.id, c.c.label, c.c.description, count.label("count")).order_by(c.c.id)
    with _engine(bind, readonly=True).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def find_class(bind: _Bind, label_or_id: str | int) -> dict[str, Any]:
    """The class with this label (or id); :class:`LookupError` naming the known labels if none."""
    classes = list_classes(bind)
    for cls in classes:
        if cls["label"] == label_or_id or (isinstance(label_or_id, int)
                                           and cls["id"] == label_or_id):
            return cls
    known = ", ".join(repr(c["label"]) for c in classes) or "none"
    raise LookupError(f"no class {label_or_id!r} in the database (classes: {known})")


def add_class(bind: _Bind, label: str, description: str | None = None) -> int:
    """Add a class and return its id; :class:`ValueError` if the label exists or is empty."""
    label = (label or "").strip()
    if not label:
        raise ValueError("a class label cannot be empty")
    with _engine(bind).begin() as conn:
        exists = conn.execute(sa.select(schema.classes.c.id).where(schema.classes.c.label == label)).first()
        if exists:
            raise ValueError(f"class {label!r} already exists (id {exists[0]})")
        schema.advance_sequences(conn, ("classes",))  # stream2segment leaves them behind
        res = conn.execute(sa.insert(schema.classes).values(label=label, description=description))
        return schema.inserted_id(res)


def rename_class(bind: _Bind, label: str, new_label: str,
                 description: str | None = None) -> None:
    """Rename a class (and change its description unless ``description`` is None)."""
    new_label = (new_label or "").strip()
    if not new_label:
        raise ValueError("a class label cannot be empty")
    cls = find_class(bind, label)
    values: dict[str, Any] = {"label": new_label}
    if description is not None:
        values["description"] = description
    with _engine(bind).begin() as conn:
        if new_label != label and conn.execute(
                sa.select(schema.classes.c.id).where(schema.classes.c.label == new_label)).first():
            raise ValueError(f"class {new_label!r} already exists")
        conn.execute(sa.update(schema.classes).where(schema.classes.c.id == cls["id"]).values(**values))


def delete_class(bind: _Bind, label: str) -> int:
    """Delete a class and its labellings; return the number of labellings deleted."""
    cls = find_class(bind, label)
    with _engine(bind).begin() as conn:
        res = conn.execute(sa.delete(schema.class_labellings)
                           .where(schema.class_labellings.c.class_id == cls["id"]))
        conn.execute(sa.delete(schema.classes).where(schema.classes.c.id == cls["id"]))
        return int(res.rowcount or 0)


def segment_labels(bind: _Bind, segment_id: int) -> list[int]:
    """Class ids of the labels of a segment (sorted)."""
    cl = schema.class_labellings
    stmt = sa.select(cl.c.class_id).where(cl.c.segment_id == int(segment_id)).order_by(cl.c.class_id)
    with _engine(bind, readonly=True).connect() as conn:
        return [r[0] for r in conn.execute(stmt)]


def annotator_stamp(name: str, when: dt.datetime | None = None) -> str:
    """``"<name> <UTC time>"``: the ``annotator`` written with a label (the table has no time column).

    Examples
    --------
    >>> annotator_stamp("jdoe", dt.datetime(2024, 5, 1, 12, 30, 5))
    'jdoe 2024-05-01T12:30:05Z'
    """
    when = when or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return f"{name} {when.replace(microsecond=0).isoformat()}Z"


def set_label(bind: _Bind, segment_id: int, class_id: int, value: bool,
              annotator: str | None = None) -> int:
    """Label (``value`` true, hand labelled by ``annotator``) or unlabel a segment.

    Returns the number of segments labelled with the class afterwards. Setting
    a label that is there (or removing one that is not) changes nothing and is a
    success, also when several clients write the same label at the same time: the
    insert skips a label that exists (``ON CONFLICT DO NOTHING``); on SQLite the
    write lock is taken first (``BEGIN IMMEDIATE``), so concurrent writers wait for
    each other instead of failing with "database is locked"; a write that still
    meets a transient error (a locked file, a lost connection) is retried. On
    PostgreSQL the id sequence is first brought past the largest id
    (:func:`~s2sframe.db.schema.advance_sequences`): stream2segment writes explicit ids
    and leaves the sequences behind, and a taken id would make the insert skip the label.
    """
    engine = _engine(bind)
    cl = schema.class_labellings
    segment_id, class_id = int(segment_id), int(class_id)
    where = (cl.c.segment_id == segment_id) & (cl.c.class_id == class_id)
    if value:
        write: sa.Executable = _insert_or_skip(engine.dialect.name, cl).values(
            segment_id=segment_id, class_id=class_id, is_hand_labelled=True,
            annotator=annotator)
    else:
        write = sa.delete(cl).where(where)

    def run() -> int:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            if not conn.execute(sa.select(schema.classes.c.id)
                                .where(schema.classes.c.id == class_id)).first():
                raise LookupError(f"no class with id {class_id}")
            if not conn.execute(sa.select(schema.segments.c.id)
                                .where(schema.segments.c.id == segment_id)).first():
                raise LookupError(f"no segment with id {segment_id}")
            if value:  # a stale id sequence would make the insert skip the label silently
                schema.advance_sequences(conn, ("class_labellings",))
            conn.execute(write)
            count = int(conn.execute(sa.select(sa.func.count()).select_from(cl)
                                     .where(cl.c.class_id == class_id)).scalar_one())
            conn.commit()
            return count

    try:
        return with_retries(run)
    except sa.exc.DBAPIError as exc:
        raise DatabaseError(f"Cannot write to {_db.mask_url(engine.url)}: "
                            f"{_db.error_line(exc, engine.url)}") from None


def _insert_or_skip(dialect: str, table: sa.Table) -> sa.Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite >= 3.24)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table).on_conflict_do_nothing()
