"""Locks that say "one run at a time": :class:`FileLock` (``flock`` on a file, for outputs
and SQLite databases) and :class:`DatabaseLock` (one named run per database: a
PostgreSQL advisory lock, or a lock file next to a SQLite file).

Both belong to the process that holds them: the operating system (``flock``) or the
server (a session's advisory lock ends with its connection) releases them when the
process ends, however it ends (``kill -9`` too), so a stale lock never blocks anyone,
and a second run is refused at once with the holder named.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import socket
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ..exceptions import DatabaseError

#: The name of the download's run lock (:class:`DatabaseLock`): one download at a time on
#: a database, and no ``s2s db drop`` while one runs.
DOWNLOAD_LOCK = "s2sframe download"


class LockHeld(Exception):
    """The lock is held by another run: ``holder`` says which (process, host)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing; removed on release).

    :meth:`acquire` raises :class:`LockHeld` at once if another process holds it, and
    ``OSError`` if the file cannot be created. The holder writes "process PID on HOST"
    into the file, which the refused run reports.

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), ".lock")
    >>> with FileLock(path):
    ...     try:
    ...         FileLock(path).acquire()
    ...     except LockHeld as exc:
    ...         print(exc.holder.startswith("process"))
    True
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(fd)
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                raise LockHeld(holder) from None
            # the holder before us may have removed the file after we opened it: retry
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except FileNotFoundError:
                same = False
            if not same:
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"process {os.getpid()} on {socket.gethostname()}".encode())
            self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()  # while still holding it: see acquire
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode(errors="replace").strip()
    except OSError:
        text = ""
    return text or "another process"


def advisory_key(name: str) -> int:
    """The 64-bit PostgreSQL advisory lock key of ``name`` (stable across processes).

    Examples
    --------
    >>> advisory_key("s2sframe download") == advisory_key("s2sframe download")
    True
    """
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class DatabaseLock:
    """One run named ``name`` at a time on the database of ``engine``.

    PostgreSQL: a session advisory lock (``pg_try_advisory_lock``; advisory locks are
    per database) held by a connection of its own, in autocommit (never "idle in
    transaction"). SQLite: :class:`FileLock` on ``.FILE.s2s-NAME-lock`` next to the
    database file. :meth:`acquire` raises :class:`~s2sframe.exceptions.DatabaseError`
    at once, naming the holder, if another run holds it; ``what`` words that message.
    :meth:`check` (PostgreSQL) makes sure the lock is still held (a dropped connection
    loses it): it is taken again, or :class:`DatabaseError` says another run has it.
    """

    def __init__(self, engine: sa.engine.Engine, name: str, what: str,
                 display_url: str) -> None:
        self.engine = engine
        self.name = name
        self.what = what
        self.display_url = display_url
        self._conn: sa.Connection | None = None
        self._file: FileLock | None = None
        self.key = advisory_key(name)

    def _refused(self, holder: str) -> DatabaseError:
        return DatabaseError(f"{self.display_url}: {self.what} is already running on this "
                             f"database ({holder}): one at a time. Wait for it to end")

    def acquire(self) -> None:
        if self.engine.dialect.name == "sqlite":
            path = Path(self.engine.url.database or "")
            self._file = FileLock(path.with_name(f".{path.name}.s2s-{self.name.split()[-1]}-lock"))
            try:
                self._file.acquire()
            except LockHeld as exc:
                self._file = None
                raise self._refused(exc.holder) from None
            except OSError as exc:
                self._file = None
                raise DatabaseError(f"{self.display_url}: cannot create a lock file next to "
                                    f"the database ({exc.strerror})") from None
            return
        self._take()

    def _take(self) -> None:
        conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(self.key))).scalar()
            holder = "" if got else self._holder(conn)
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            raise self._refused(holder)
        self._conn = conn

    def _holder(self, conn: sa.Connection) -> str:
        high, low = (self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF
        row = conn.execute(sa.text(
            "select l.pid, a.application_name, a.client_addr, a.backend_start "
            "from pg_locks l left join pg_stat_activity a on a.pid = l.pid "
            "where l.locktype = 'advisory' and l.granted and l.database = "
            "(select oid from pg_database where datname = current_database()) "
            "and l.classid = :h and l.objid = :l and l.objsubid = 1"),
            {"h": high, "l": low}).first()
        if row is None:
            return "another session"
        app = f" ({row.application_name})" if row.application_name else ""
        return (f"server process {row.pid}{app} from {row.client_addr or 'a local socket'}, "
                f"since {row.backend_start:%Y-%m-%d %H:%M:%S}")

    def check(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(sa.text("select 1"))
            return
        except sa.exc.DBAPIError:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        self._take()  # the connection was lost, and the lock with it: take it again

    def release(self) -> None:
        if self._file is not None:
            self._file.release()
            self._file = None
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(sa.select(sa.func.pg_advisory_unlock(self.key)))
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def __enter__(self) -> DatabaseLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
