"""ORM sessions and queries of the stream2segment-compatible API.

Selections are compiled by the same code as :func:`s2sframe.scan` frames:
:func:`s2sframe.where` (expression strings -> Polars expression) then
:mod:`s2sframe.db.pushdown` (Polars expression -> SQL on the Core tables). The ORM
query joins what the SQL needs; a selection that cannot be translated entirely
(rare) is evaluated by :func:`s2sframe.scan` and the query reads segments by id.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal, overload

import polars as pl
import sqlalchemy as sa
from sqlalchemy import orm as sa_orm
from sqlalchemy.engine import URL

from ..db import schema
from ..db import urls as _db
from ..db.selection import where
from ..exceptions import DatabaseError, SelectionError
from . import orm
from .query import PREFIXES, present_columns, query

#: the models get_db_items can select with conditions.
_SELECTABLE = (orm.Segment, orm.Event, orm.Station, orm.Channel, orm.DataCenter, orm.Download)
_BATCH = 1000


@overload
def get_session(dburl: str | URL, scoped: Literal[False] = False,
                **engine_args: Any) -> sa_orm.Session: ...
@overload
def get_session(dburl: str | URL, scoped: Literal[True],
                **engine_args: Any) -> sa_orm.scoped_session[sa_orm.Session]: ...
@overload
def get_session(dburl: str | URL, scoped: bool = False,
                **engine_args: Any) -> sa_orm.Session | sa_orm.scoped_session[sa_orm.Session]: ...
def get_session(dburl: str | URL, scoped: bool = False,
                **engine_args: Any) -> sa_orm.Session | sa_orm.scoped_session[sa_orm.Session]:
    """Open an ORM session on a stream2segment database.

    Parameters
    ----------
    dburl : str
        ``sqlite:///path`` (relative paths: to the current directory) or
        ``postgresql://user:password@host/dbname``.
    scoped : bool
        Return a :class:`sqlalchemy.orm.scoped_session` (one session per thread).
    **engine_args
        Passed to :func:`sqlalchemy.create_engine` (a new engine, not the shared one).

    Returns
    -------
    sqlalchemy.orm.Session
        Close it with :func:`close_session`.

    Raises
    ------
    DatabaseError
        Missing SQLite file, unreachable server or not a stream2segment database
        (message with the password masked). Nothing is created.

    Examples
    --------
    >>> from s2sframe.process import get_session, close_session, Segment
    >>> session = get_session("sqlite:///example.db.sqlite")  # doctest: +SKIP
    >>> session.query(Segment).count()                         # doctest: +SKIP
    2
    >>> close_session(session)                                 # doctest: +SKIP
    True
    """
    url = _db.parse_url(dburl)
    if engine_args:
        _db.check_exists(url)
        engine = _db.create_engine(url, **engine_args)
    else:
        engine = _db.get_engine(url)
    try:
        present = present_columns(engine)
    except Exception as exc:  # noqa: BLE001
        raise DatabaseError(f"Cannot read {_db.mask_url(url)}: {exc}") from None
    if not present.get("segments"):
        raise DatabaseError(
            f"{_db.mask_url(url)} is not a stream2segment database (no 'segments' table)"
        )
    factory = sa_orm.sessionmaker(bind=engine)
    sa.event.listen(factory, "before_flush", _sequences_past_ids)
    return sa_orm.scoped_session(factory) if scoped else factory()


def _sequences_past_ids(session: sa_orm.Session, _context: Any, _instances: Any) -> None:
    """Before new rows are flushed (PostgreSQL): bring the id sequences of their tables
    past the largest id. stream2segment writes explicit ids and never advances them, so
    in a database it wrote the next default id may be taken (``IntegrityError``)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    tables = {obj.__table__.name for obj in session.new
              if hasattr(obj, "__table__")}
    if tables:
        schema.advance_sequences(session.connection(),
                                 tuple(t for t in schema.TABLE_ORDER if t in tables))


def close_session(session: sa_orm.Session, dispose_engine: bool = True) -> bool:
    """Close ``session`` (its objects become detached) and, by default, its engine's connections.

    Returns
    -------
    bool
        True if everything was closed, False if closing failed.

    Examples
    --------
    >>> close_session(get_session("sqlite:///example.db.sqlite"))  # doctest: +SKIP
    True
    """
    try:
        bind = session.get_bind()
        session.close()
        if dispose_engine:
            bind.engine.dispose() if isinstance(bind, sa.engine.Connection) else bind.dispose()
        return True
    except Exception:  # noqa: BLE001 - stream2segment returns False
        return False


class _LoadOnlyNames(sa_orm.UserDefinedOption):
    """``load_only('id', ...)`` with names: resolved on the queried entity at execution."""

    def __init__(self, names: tuple[str, ...], raiseload: bool) -> None:
        super().__init__(payload=(names, raiseload))


def load_only(*attrs: Any, raiseload: bool = False) -> Any:
    """SQLAlchemy's ``load_only`` accepting attribute names too (as SQLAlchemy 1.x did).

    Examples
    --------
    >>> from s2sframe.process import load_only, Segment
    >>> evt.segments.options(load_only("id")).all()        # doctest: +SKIP
    [<Segment id=1>, <Segment id=2>]
    >>> evt.segments.options(load_only(Segment.id)).all()  # doctest: +SKIP
    [<Segment id=1>, <Segment id=2>]
    """
    if any(isinstance(a, str) for a in attrs):
        if not all(isinstance(a, str) for a in attrs):
            raise TypeError("load_only: give attribute names or attributes, not both")
        return _LoadOnlyNames(tuple(attrs), raiseload)
    return sa_orm.load_only(*attrs, raiseload=raiseload)


@sa.event.listens_for(sa_orm.Session, "do_orm_execute")
def _resolve_names(state: Any) -> None:
    for opt in state.user_defined_options:
        if isinstance(opt, _LoadOnlyNames):
            assert opt.payload is not None  # set by _LoadOnlyNames.__init__
            names, raiseload = opt.payload
            descriptions = state.statement.column_descriptions
            entity = descriptions[0].get("entity") if descriptions else None
            if entity is None or not hasattr(entity, "__mapper__"):
                continue  # e.g. query.count(): nothing is loaded, nothing to restrict
            attrs = [_attribute(entity, n) for n in names]
            state.statement = state.statement.options(
                sa_orm.load_only(*attrs, raiseload=raiseload)
            )


def _attribute(entity: type, name: str) -> Any:
    try:
        return getattr(entity, name)
    except AttributeError:
        raise AttributeError(f"{entity.__name__} has no attribute {name!r}") from None


def _selection_expr(conditions: Any, prefix: str | None) -> pl.Expr:
    if conditions is None:
        return pl.lit(True)
    if isinstance(conditions, pl.Expr):
        return conditions
    if not isinstance(conditions, Mapping):
        raise SelectionError(
            f"conditions must be a dict of attribute names to expressions, not "
            f"{type(conditions).__name__}"
        )
    if prefix is not None:
        conditions = {f"{prefix}.{k}": v for k, v in conditions.items()}
    return where(conditions)


def items_query(
    session: sa_orm.Session, item_type: type, conditions: Mapping[str, Any] | None,
    orderby: Any = None,
) -> sa_orm.Query:
    """The query of :func:`get_db_items` (and of ``get_db_items_count``)."""
    if conditions is None:
        return query(session, item_type, None, orderby)
    if item_type not in _SELECTABLE:
        raise SelectionError(
            f"conditions are supported for {', '.join(t.__name__ for t in _SELECTABLE)} "
            f"items, not {getattr(item_type, '__name__', item_type)}"
        )
    prefix = PREFIXES[item_type.__table__.name]
    return query(session, item_type, _selection_expr(conditions, prefix), orderby)


def open_session(db: str | URL | sa_orm.Session) -> tuple[sa_orm.Session, bool]:
    """``db`` itself if a session, else a new session on it; True if new (to close)."""
    if isinstance(db, sa_orm.Session | sa_orm.scoped_session):
        return db, False  # type: ignore[return-value]
    return get_session(db), True


def get_db_items(
    db: str | URL | sa_orm.Session,
    item_type: type,
    conditions: Mapping[str, Any] | None = None,
    *,
    load_only: str | Sequence[Any] | None = None,
    defer: str | Sequence[Any] | None = None,
    orderby: Any = None,
) -> Iterator[Any]:
    """Yield the database objects of type ``item_type`` matching ``conditions``.

    Parameters
    ----------
    db : str or sqlalchemy.orm.Session
        A database URL (a session is opened and closed after the last item: the
        items are then detached, their unloaded relations not accessible) or a
        session (left open).
    item_type : type
        ``Segment``, ``Event``, ``Station``, ``Channel``, ``DataCenter``,
        ``Download`` (with conditions) or ``Class``, ``WebService``,
        ``ClassLabelling`` (without).
    conditions : dict, optional
        Attribute names of ``item_type`` mapped to selection expressions
        (stream2segment syntax, e.g. ``{'magnitude': '>=5'}`` for events,
        ``{'event.magnitude': '>=5', 'has_valid_data': 'true'}`` for segments).
    load_only, defer : str or list, optional
        Attributes (or names) to load exclusively / not to load.
    orderby : str, list, optional
        Attribute names, or ``(name, 'asc'|'desc')`` pairs. Items are always
        ordered by id last.

    Examples
    --------
    >>> for evt in get_db_items(dburl, Event, {"magnitude": ">=8"}):  # doctest: +SKIP
    ...     print(evt.event_id)
    20170908_0
    """
    session, own = open_session(db)
    try:
        items = items_query(session, item_type, conditions, orderby)
        options = []
        only = ([load_only] if isinstance(load_only, str) else list(load_only)) if load_only else []
        if only:
            options.append(sa_orm.load_only(*[_attr(item_type, n) for n in only]))
        if defer:
            names = [defer] if isinstance(defer, str) else list(defer)
            if set(map(str, names)) & set(map(str, only)):
                raise ValueError("the same attribute cannot be in both load_only and defer")
            options += [sa_orm.defer(_attr(item_type, n)) for n in names]
        if options:
            items = items.options(*options)
        yield from items.yield_per(_BATCH)
    finally:
        if own:
            close_session(session)


def _attr(model: type, name: Any) -> Any:
    return _attribute(model, name) if isinstance(name, str) else name


def get_segments(
    db: str | URL | sa_orm.Session,
    conditions: Mapping[str, Any] | None = None,
    *,
    load_only: str | Sequence[Any] | None = None,
    defer: str | Sequence[Any] | None = None,
    orderby: Any = None,
) -> Iterator[orm.Segment]:
    """Yield the Segments matching ``conditions`` (see :func:`get_db_items`).

    With a URL the session is closed after the loop: the segments are then
    detached and accessing a relation not loaded before (``seg.event``) raises
    :class:`sqlalchemy.orm.exc.DetachedInstanceError`. Pass a session from
    :func:`get_session` to keep them usable.

    Examples
    --------
    >>> sel = {"has_valid_data": "true", "maxgap_numsamples": "[-0.5, 0.5]"}
    >>> [seg.id for seg in get_segments("sqlite:///example.db.sqlite", sel)]  # doctest: +SKIP
    [1, 2]
    """
    return get_db_items(db, orm.Segment, conditions, load_only=load_only, defer=defer,
                        orderby=orderby)


def get_classlabels(db: str | URL | sa_orm.Session) -> Iterator[orm.Class]:
    """Yield the class labels (``Class`` objects: ``id``, ``label``, ``description``).

    Examples
    --------
    >>> [c.label for c in get_classlabels("sqlite:///example.db.sqlite")]  # doctest: +SKIP
    []
    """
    return get_db_items(db, orm.Class)

