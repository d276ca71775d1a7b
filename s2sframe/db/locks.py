"""Locks that say "one run at a time": :class:`FileLock` (``flock`` on a file).

It belongs to the process that holds it: the operating system releases it when the
process ends, however it ends (``kill -9`` too), so a stale lock never blocks anyone,
and a second run is refused at once with the holder named.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from pathlib import Path


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
