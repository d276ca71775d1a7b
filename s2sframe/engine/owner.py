"""One owner per output file, and a manifest of what produced it.

An output ``PATH`` (of ``map_segments(output=...)`` or of ``process``) has companions
in its folder:

- ``PATH.parts/``: Parquet part files of finished results while a run is unfinished
  (:class:`~s2sframe.engine.parts.PartFiles`);
- ``.NAME.s2s-lock``: held (``flock``) by the run writing the output. The operating
  system releases it when that process ends, however it ends (``kill -9`` too), so
  a stale lock never blocks anyone; a second run is refused at once;
- ``.NAME.s2s-manifest.json``: what produced the output and its parts (function
  code, database, segments), compared with what a new run would produce: a
  different run on the same path is refused instead of mixing results.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from ..db.locks import FileLock, LockHeld
from ..exceptions import OutputError
from .parts import PartFiles, atomic_write

FORMAT = 2  # of the manifest
T = TypeVar("T")


# ------------------------------------------------------------------ fingerprints
def _const(value: Any, h: Any) -> None:
    if isinstance(value, types.CodeType):
        _code(value, h)
    elif isinstance(value, frozenset | set):  # repr order depends on the hash seed
        h.update(b"{")
        for text in sorted(repr(v) for v in value):
            h.update(text.encode())
        h.update(b"}")
    elif isinstance(value, tuple):
        h.update(b"(")
        for v in value:
            _const(v, h)
        h.update(b")")
    else:
        h.update(repr(value).encode())


def _code(code: types.CodeType, h: Any) -> None:
    """Digest of what a code object does (not where it is: no file name, no line numbers)."""
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_argcount)).encode())
    for value in code.co_consts:
        _const(value, h)


def function_fingerprint(func: Callable) -> dict[str, str]:
    """Name and code digest of ``func`` (a function, ``functools.partial``, callable object).

    Functions: the digest of their code object and default values, so editing
    the function body changes it and moving it in its file does not. Other
    callables: the digest of their pickled bytes.

    Examples
    --------
    >>> def f(segment):
    ...     return 1
    >>> def g(segment):
    ...     return 2
    >>> function_fingerprint(f)["code"] != function_fingerprint(g)["code"]
    True
    """
    h = hashlib.sha256()
    target = func
    while isinstance(target, functools.partial):
        _const(_pickled(target.args) + _pickled(sorted(target.keywords.items())), h)
        target = target.func
    name = getattr(target, "__qualname__", None) or type(target).__qualname__
    code = getattr(target, "__code__", None)
    if isinstance(code, types.CodeType):
        _code(code, h)
        _const(_pickled(getattr(target, "__defaults__", None)), h)
    else:
        h.update(_pickled(target))
    return {"name": name, "code": h.hexdigest()[:16]}


def _pickled(obj: Any) -> bytes:
    try:
        import cloudpickle

        return cloudpickle.dumps(obj)
    except Exception:  # noqa: BLE001 - unpicklable: its type is what we can tell
        return repr(type(obj)).encode()


def ids_fingerprint(ids: Any) -> dict[str, Any]:
    """Count and digest of a set of segment ids (order does not matter)."""
    import numpy as np

    values = np.sort(np.asarray(ids, dtype=np.int64))
    return {"count": int(values.size), "sha256": hashlib.sha256(values.tobytes()).hexdigest()[:16]}


_WHAT = {"function": "function", "database": "database", "segments": "segments",
         "settings": "settings", "producer": "written by"}


def _show(key: str, value: Any) -> str:
    if key == "function" and isinstance(value, Mapping):
        return f"{value.get('name')} (code {value.get('code')})"
    if key == "segments" and isinstance(value, Mapping):
        return f"{value.get('count')} segments (ids {value.get('sha256')})"
    return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


def differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Lines saying what differs between two manifests (empty: the same run).

    Examples
    --------
    >>> differences({"database": "sqlite:///a.db"}, {"database": "sqlite:///b.db"})
    ['database: sqlite:///a.db before, sqlite:///b.db now']
    """
    lines = []
    for key, label in _WHAT.items():
        if key in new and key in old and old[key] != new[key]:
            lines.append(f"{label}: {_show(key, old.get(key))} before, {_show(key, new[key])} now")
    return lines


# ------------------------------------------------------------------- the files
class OutputFiles:
    """An output path, its part files, its lock and its manifest."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        name = self.path.name
        self.parts = PartFiles(self.path.with_name(name + ".parts"))
        self.lock_path = self.path.with_name(f".{name}.s2s-lock")
        self.manifest_path = self.path.with_name(f".{name}.s2s-manifest.json")
        self._lock = FileLock(self.lock_path)

    # ---- the lock
    def acquire(self) -> None:
        """Own the output, or raise :class:`OutputError` at once if another run does."""
        if self.path.is_dir():
            raise OutputError(f"Output {self.path} is a folder: give the path of a file in it")
        folder = self.path.parent
        if not folder.is_dir():
            raise OutputError(f"Cannot write {self.path}: folder {folder} does not exist")
        try:
            self._lock.acquire()
        except LockHeld as exc:
            raise OutputError(
                f"Output {self.path} is being written by another run ({exc.holder}): one run "
                "per output at a time. Wait for it to end, or write to another path"
            ) from None
        except OSError as exc:
            raise OutputError(
                f"Cannot write {self.path}: folder {folder} is not writable ({exc.strerror})"
            ) from None

    def release(self) -> None:
        self._lock.release()

    def own(self, check: Callable[[], T]) -> T:
        """Create the output's folder, own the output, and return ``check()`` (what is
        there already); if ``check`` raises, the output is released.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(f"Cannot create the folder of {self.path}: {exc.strerror}") from None
        self.acquire()
        try:
            return check()
        except BaseException:
            self.release()
            raise

    def __enter__(self) -> OutputFiles:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ---- the manifest
    def read_manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("format") == FORMAT else None

    def write_manifest(self, manifest: Mapping[str, Any]) -> None:
        """Record ``manifest`` and the identity of the output file as it is now."""
        data = {**manifest, "format": FORMAT, "output": self.identity()}
        text = json.dumps(data, indent=1, sort_keys=True)
        atomic_write(self.manifest_path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def identity(self) -> list[int] | None:
        """Size and modification time of the output file (None if it does not exist)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return [st.st_size, st.st_mtime_ns]

    def describes_output(self, manifest: Mapping[str, Any] | None) -> bool:
        """Whether ``manifest`` was written for the output file as it is now."""
        return manifest is not None and manifest.get("output") == self.identity()

    def clear(self) -> None:
        """Remove the output, its parts and its manifest (the lock stays held)."""
        self.parts.remove()
        self.path.unlink(missing_ok=True)
        self.manifest_path.unlink(missing_ok=True)
