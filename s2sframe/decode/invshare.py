"""Parsed inventories shared by the worker processes of one run, through a folder.

A run cuts its segments into chunks at station changes (one station, one worker);
a station whose segments still span several chunks (more segments than a chunk, or
at the edge of a batch) may be met by several workers. Its inventory goes through
a :class:`SharedInventories` folder: the first worker to need it parses the
StationXML and writes the inventory there, pickled with its responses still unread
(their bytes: :class:`~.lazyxml.LazyResponse`), and the others load that, ~2x
faster than parsing (GEOFON, 690 KiB: ~1.8 ms to parse, ~0.85 ms to lock, read and
unpickle; ``benchmarks/bench_decode.py --parts stationxml``). A lock file per
station (``flock``: released by the kernel if its holder dies) makes a worker that
needs a station being parsed wait for it rather than parse it too, so each
StationXML is parsed once per run. The folder lives in the temporary folder, one
per run; the run removes a station's files when no chunk needs them any more
(:meth:`SharedInventories.discard`) and the folder when it ends (a run killed
before that leaves it to the next run, which removes folders of processes that are
gone).
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import shutil
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

from .lazyxml import LazyResponse

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no sharing
    fcntl = None  # type: ignore[assignment]

__all__ = ["SharedInventories"]

_PREFIX = "s2s-inventories-"


class SharedInventories:
    """A folder of parsed inventories shared by the processes of one run.

    Parameters
    ----------
    folder : str
        The run's folder (see :meth:`create`). A process that cannot open it (the run
        ended, a worker on another machine) reads on its own.

    Examples
    --------
    >>> store = SharedInventories.create()
    >>> store.get_or_read(7, lambda: ("no inventory", 300))
    ('no inventory', 300)
    >>> store.get_or_read(7, lambda: ("never read again", 0))  # from the folder
    ('no inventory', 300)
    >>> store.discard(7)
    >>> store.get_or_read(7, lambda: ("read again", 0))
    ('read again', 0)
    >>> store.remove()
    >>> os.path.exists(store.folder)
    False
    """

    def __init__(self, folder: str) -> None:
        self.folder = str(folder)

    @classmethod
    def create(cls) -> SharedInventories:
        """A new folder in the temporary folder (folders of processes gone are removed)."""
        _remove_orphans()
        return cls(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))

    def remove(self) -> None:
        """Remove the folder and what it holds."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def discard(self, key: int) -> None:
        """Remove what the folder holds of station ``key`` (no process needs it any more)."""
        path = os.path.join(self.folder, f"{int(key)}.pickle")
        for name in (path, path + ".lock"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)

    def get_or_read(self, key: int, read: Callable[[], tuple[Any, int]]) -> tuple[Any, int]:
        """``(value, nbytes)`` of station ``key``: from the folder, else ``read()`` (and
        written there for the others). ``value`` is an Inventory or an error message.

        Only one process reads a key: the others wait for it, then load its result.
        """
        path = os.path.join(self.folder, f"{int(key)}.pickle")
        try:
            lock = os.open(path + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError:  # no folder here
            return read()
        try:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_EX)
            with contextlib.suppress(FileNotFoundError), open(path, "rb") as fh:
                return pickle.loads(fh.read())
            value = read()
            with contextlib.suppress(OSError):  # full disk: the others read on their own
                tmp = f"{path}.{uuid.uuid4().hex[:8]}.tmp"
                with open(tmp, "wb") as fh:
                    fh.write(dumps(value))
                os.replace(tmp, path)
            return value
        finally:
            os.close(lock)  # releases the lock

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (type(self), (self.folder,))

    def __repr__(self) -> str:
        return f"SharedInventories({self.folder!r})"


class _Pickler(pickle.Pickler):
    """Pickles responses not read yet as their bytes (a loaded copy would take the
    time it saves to read, and 10x the room)."""

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is LazyResponse and not obj.loaded:
            return LazyResponse, (*obj._source, obj._shared)  # type: ignore[misc]
        return NotImplemented


def dumps(value: Any) -> bytes:
    """``pickle.dumps(value)``, :class:`~.lazyxml.LazyResponse` objects left unread."""
    buf = io.BytesIO()
    _Pickler(buf, pickle.HIGHEST_PROTOCOL).dump(value)
    return buf.getvalue()


def _remove_orphans() -> None:
    """Remove the folders of runs whose process is gone (killed before its end)."""
    root = tempfile.gettempdir()
    with contextlib.suppress(OSError):
        for name in os.listdir(root):
            if not name.startswith(_PREFIX):
                continue
            try:
                pid = int(name[len(_PREFIX):].split("-", 1)[0])
                os.kill(pid, 0)
            except ProcessLookupError:
                shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            except (ValueError, OSError):  # not ours, or alive under another user
                continue
