"""Who is waiting for a lock on PostgreSQL, and who holds it (``pg_locks``).

A read of the segments waits, silently, as long as another session holds a
conflicting lock on a table it reads (``LOCK TABLE``, ``ALTER TABLE``, ``VACUUM
FULL``, ``TRUNCATE`` in an open transaction...). :func:`lock_waits` names the
tables and the process ids of the sessions holding them, so that a run can say
what it waits for.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

__all__ = ["LockWait", "describe_waits", "lock_waits"]


@dataclass(frozen=True)
class LockWait:
    """A session (``pid``) waiting for a lock on ``table`` held by the sessions ``holders``.

    ``seconds``: how long it has waited (None if the server does not say: before
    PostgreSQL 14).
    """

    pid: int
    table: str
    holders: tuple[int, ...]
    seconds: float | None


_QUERY = """
SELECT l.pid, coalesce(c.relname, l.locktype) AS target, pg_blocking_pids(l.pid) AS holders,
       {waited} AS seconds
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
LEFT JOIN pg_class c ON c.oid = l.relation
WHERE NOT l.granted AND a.datname = current_database() AND a.application_name LIKE :app
ORDER BY l.pid
"""


def lock_waits(conn: sa.Connection, application_name: str) -> list[LockWait]:
    """The lock waits of the sessions of this database whose ``application_name``
    starts with ``application_name`` (PostgreSQL only).

    Examples
    --------
    >>> describe_waits([LockWait(4711, "segments", (815,), 12.0)])
    'waiting for a lock held by pid 815 on table segments'
    """
    new = (conn.dialect.server_version_info or (0,)) >= (14,)
    waited = "extract(epoch FROM now() - l.waitstart)" if new else "NULL"
    rows = conn.execute(sa.text(_QUERY.format(waited=waited)),
                        {"app": application_name.replace("%", r"\%") + "%"})
    return [LockWait(int(pid), str(target), tuple(int(h) for h in holders or ()),
                     None if seconds is None else float(seconds))
            for pid, target, holders, seconds in rows]


def describe_waits(waits: list[LockWait]) -> str:
    """``waiting for a lock held by pid N on table T`` (tables and holders of all waits)."""
    tables = sorted({w.table for w in waits})
    holders = sorted({h for w in waits for h in w.holders})
    who = (f"pid {holders[0]}" if len(holders) == 1
           else f"pids {', '.join(map(str, holders))}" if holders else "another session")
    what = f"table{'s' if len(tables) > 1 else ''} {', '.join(tables)}"
    return f"waiting for a lock held by {who} on {what}"

