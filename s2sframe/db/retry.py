"""Transient database errors, and reads that retry through them.

A long run meets server restarts, fail-overs, network blips and, on busy servers,
``too many connections``. Such errors are *transient*: the same read on a fresh
connection a moment later succeeds. :func:`with_retries` retries a read on those
errors only, with exponential back-off and jitter, a bounded number of times
(``S2S_DB_RETRIES`` attempts in all, default 8: about 13 s of waiting), then lets
the last error through. Any other error (a wrong query, a missing table) is raised
at once.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy.exc as sa_exc
from sqlalchemy.engine import Connection, Engine

T = TypeVar("T")

#: PostgreSQL SQLSTATE classes and codes that a new attempt can outlive:
#: connection exceptions (08), admin/crash shutdown and cannot-connect-now (57P01-3),
#: too many connections (53300), serialization failure and deadlock (40001, 40P01).
_TRANSIENT_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300", "40001", "40P01")
#: Words of driver messages (also connectorx's) that mean the connection, not the query, failed.
_TRANSIENT_WORDS = (
    "server closed the connection",
    "connection refused",
    "connection reset",
    "connection timed out",
    "could not connect",
    "terminating connection",
    "too many connections",
    "the database system is starting up",
    "the database system is shutting down",
    "database is locked",
    "broken pipe",
    "ssl syscall error",
    "connection is closed",
    "consuming input failed",
)


def is_transient(exc: BaseException) -> bool:
    """True if ``exc`` is a database error that a new attempt on a fresh connection may avoid.

    Examples
    --------
    >>> is_transient(RuntimeError("FATAL: too many connections for role \\"app\\""))
    True
    >>> is_transient(ValueError("no such column: segments.foo"))
    False
    """
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    orig = getattr(exc, "orig", None) or exc
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(state, str) and state.startswith(_TRANSIENT_SQLSTATES):
        return True
    if not isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, RuntimeError, OSError)):
        return False
    text = str(orig).lower()
    return any(word in text for word in _TRANSIENT_WORDS)


def attempts() -> int:
    """Attempts in all for one read (``S2S_DB_RETRIES``, default 8, at least 1)."""
    try:
        return max(1, int(os.environ.get("S2S_DB_RETRIES", "8")))
    except ValueError:
        return 8


def with_retries(read: Callable[[], T], *, first_delay: float = 0.1, max_delay: float = 10.0,
                 on_retry: Callable[[BaseException, int, float], None] | None = None) -> T:
    """Return ``read()``, retried with back-off while it fails with a transient error.

    ``read`` must open its own connection (so each attempt gets a fresh one). After
    :func:`attempts` failures the last error is raised, with a note saying how many
    attempts were made. ``on_retry(error, attempt, delay)`` is called before each wait
    (e.g. to log it). Writes use it too (:func:`transaction`).

    Examples
    --------
    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise RuntimeError("server closed the connection unexpectedly")
    ...     return "rows"
    >>> with_retries(flaky, first_delay=0.001)
    'rows'
    >>> len(calls)
    3
    """
    total = attempts()
    delay = first_delay
    for attempt in range(1, total + 1):
        try:
            return read()
        except Exception as exc:
            if attempt == total or not is_transient(exc):
                if attempt > 1:
                    exc.add_note(f"(database access failed {attempt} times in a row; gave up)")
                raise
            wait = delay * random.uniform(0.5, 1.0)  # jitter: workers do not retry in step
            if on_retry is not None:
                on_retry(exc, attempt, wait)
        time.sleep(wait)
        delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")  # pragma: no cover


def transaction(engine: Engine, write: Callable[[Connection], T], *,
                on_retry: Callable[[BaseException, int, float], None] | None = None,
                first_delay: float = 0.5) -> T:
    """Return ``write(conn)`` run in one transaction of ``engine``; the whole transaction
    is run again, on a fresh connection, while it fails with a transient error (a
    dropped connection, a server restarting, SQLite's ``database is locked`` when
    another program holds the file longer than the busy timeout), with back-off, a
    bounded number of times (:func:`attempts`). ``write`` must be safe to run again
    (its earlier attempt was rolled back).
    """

    def once() -> T:
        with engine.begin() as conn:
            return write(conn)

    return with_retries(once, first_delay=first_delay, on_retry=on_retry)
