"""Rows that cannot be stored never stop a download: :func:`write_rows` writes what it
can and logs (and counts) the rest.

A row is refused before any SQL when a value could not be stored or used: an empty value
in a NOT NULL column, a NaN or infinite number, a NUL character in a text (PostgreSQL
refuses them). Whatever the database still rejects (a UNIQUE key taken by a row written
meanwhile, ...) is found by writing the batch in a SAVEPOINT and, if it fails, each row in
its own: the good rows are kept, the others logged with the database's reason (its first
line: never the bound values). A transient error (a dropped connection, SQLite's
``database is locked``) is no bad row: it is raised, and the caller's transaction is run
again (:func:`s2sframe.db.retry.transaction`).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import sqlalchemy as sa

from ..db.retry import is_transient, transaction

T = TypeVar("T")

log = logging.getLogger("s2sframe.download")
#: rows of one kind logged one by one (then only counted)
MAX_LOGGED = 20


def bad_value(row: Mapping[str, Any], table: sa.Table) -> str | None:
    """Why ``row`` cannot be stored in ``table`` (None if it can).

    Examples
    --------
    >>> from s2sframe.db import schema
    >>> bad_value({"network": "GE", "station": "\\x00", "latitude": 1.0}, schema.stations)
    "'station' has a NUL character"
    >>> bad_value({"url": None}, schema.web_services)
    "'url' is empty"
    """
    for name, value in row.items():
        col = table.c.get(name)
        if col is None:
            continue
        if value is None:
            if not col.nullable and not col.primary_key:
                return f"'{name}' is empty"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"'{name}' is {value}"
        elif isinstance(value, str) and "\x00" in value:
            return f"'{name}' has a NUL character"
    return None


def _begun(conn: sa.Connection) -> None:
    """SQLite (pysqlite) starts no transaction before a SAVEPOINT: begin one, so that a
    SAVEPOINT released early is still undone if the enclosing transaction rolls back."""
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        if raw is not None and not getattr(raw, "in_transaction", True):
            conn.exec_driver_sql("BEGIN")


def reason(exc: BaseException) -> str:
    """The first line of a database error, without SQL nor bound values."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return (text[0] if text else type(orig).__name__)[:300]


class Skipped:
    """Counts rows skipped in a run (what -> count, in ``counts``: e.g. the report's) and
    logs the first :data:`MAX_LOGGED` of each kind.

    Inside :meth:`held` (a transaction, in this thread) rows are counted and logged when
    the block ends without an error, and :meth:`restart` forgets those of an attempt run
    again: see :func:`transaction_once`.
    """

    def __init__(self, counts: Counter[str] | None = None) -> None:
        self.counts: Counter[str] = counts if counts is not None else Counter()
        self._local = threading.local()

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the rows skipped in this thread until the block ends: counted if it ends
        without an error, forgotten if not (a nested block joins the outer one)."""
        if getattr(self._local, "held", None) is not None:
            yield
            return
        held: list[tuple[str, str, str]] = []
        self._local.held = held
        ok = False
        try:
            yield
            ok = True
        finally:
            self._local.held = None
            if ok:
                for args in held:
                    self.add(*args)

    def restart(self) -> None:
        """Forget the rows held so far in this thread (their transaction is run again)."""
        held = getattr(self._local, "held", None)
        if held is not None:
            held.clear()

    def add(self, what: str, description: str, why: str) -> None:
        """One ``what`` (e.g. 'event line') skipped: ``description`` names it."""
        held = getattr(self._local, "held", None)
        if held is not None:
            held.append((what, description, why))
            return
        self.counts[what] += 1
        n = self.counts[what]
        if n <= MAX_LOGGED:
            log.warning("%s skipped (%s): %s", what, why, description)
        elif n == MAX_LOGGED + 1:
            log.warning("more %ss skipped: counted, not logged", what)


def transaction_once(engine: sa.engine.Engine, write: Callable[[sa.Connection], T],
                     skipped: Skipped,
                     on_retry: Callable[[BaseException, int, float], None] | None = None,
                     first_delay: float = 0.5) -> T:
    """``write(conn)`` in one transaction, run again on transient errors
    (:func:`s2sframe.db.retry.transaction`), the rows it refuses counted in ``skipped``
    once, whatever the number of attempts (and not at all if it fails for good)."""

    def attempt(conn: sa.Connection) -> T:
        skipped.restart()  # an attempt rolled back: its refused rows are found again
        return write(conn)

    with skipped.held():
        return transaction(engine, attempt, on_retry=on_retry, first_delay=first_delay)


def write_rows(conn: sa.Connection, statement: Any, rows: Sequence[dict[str, Any]],
               what: str, describe: Callable[[dict[str, Any]], str],
               skipped: Skipped) -> list[dict[str, Any]]:
    """Execute ``statement`` (an INSERT or an UPDATE with bound parameters, of one table)
    for ``rows``; return the rows written (the others are counted in ``skipped``).

    ``what`` names a row in messages ('station row', ...), ``describe(row)`` identifies it.
    """
    good = []
    for row in rows:
        why = bad_value(row, statement.table)
        if why is None:
            good.append(row)
        else:
            skipped.add(what, describe(row), why)
    if not good:
        return good
    _begun(conn)
    try:
        with conn.begin_nested():
            conn.execute(statement, good)
        return good
    except sa.exc.SQLAlchemyError as exc:
        if is_transient(exc):  # the connection or the file, not the rows: the whole
            raise  # transaction is run again (s2sframe.db.retry.transaction)
    out = []
    for row in good:  # one by one: keep the good ones, name the others
        try:
            with conn.begin_nested():
                conn.execute(statement, [row])
            out.append(row)
        except sa.exc.SQLAlchemyError as exc:
            if is_transient(exc):
                raise
            skipped.add(what, describe(row), reason(exc))
    return out
