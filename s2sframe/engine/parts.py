"""Crash-safe files: atomic writes and folders of Parquet part files.

Every file s2sframe writes for the user (final outputs, part files, manifests)
goes through :func:`atomic_write`: the data goes to a temporary file beside the
target, is flushed to disk, then renamed over the target, so a reader (or the
next run after a ``kill -9``) sees the old file or the new one, never half of one.

:class:`PartFiles` is a folder of such files, one per batch of finished results
(``part-<key>-<random>.parquet``): what ``map_segments(output=...)`` and the
writers of ``process`` keep while a run is going, so an interrupted run loses
nothing and the next one resumes.
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import polars as pl

logger = logging.getLogger("s2sframe")

_TMP = ".tmp"


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write ``path`` by calling ``write(tmp)`` on a temporary file, then renaming it.

    The temporary file is in the same folder (same file system: the rename is
    atomic) and is removed if ``write`` fails.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> target = Path(tempfile.mkdtemp()) / "x.txt"
    >>> atomic_write(target, lambda tmp: tmp.write_text("done"))
    >>> target.read_text()
    'done'
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}{_TMP}")
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class PartFiles:
    """A folder of Parquet files of finished results, each written atomically.

    ``key`` orders the parts (:meth:`read` returns them sorted by it); by default
    each new part gets the next number after the existing ones.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._next: int | None = None

    def exists(self) -> bool:
        return self.folder.is_dir()

    def create(self) -> None:
        """Create the folder; remove temporary files a killed write left behind."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for tmp in self.folder.glob(f".*{_TMP}"):
            tmp.unlink(missing_ok=True)

    def paths(self) -> list[Path]:
        return sorted(self.folder.glob("part-*.parquet")) if self.folder.is_dir() else []

    @staticmethod
    def key(path: Path) -> int:
        return int(path.name.split("-")[1])

    def write(self, frame: pl.DataFrame, key: int | None = None,
              compression: Literal["zstd", "lz4", "uncompressed"] = "zstd") -> Path:
        """Save ``frame`` as a part (``compression``: of Parquet; "uncompressed" is
        fastest for parts of samples, which hardly compress)."""
        if key is None:
            if self._next is None:
                self._next = max((self.key(p) for p in self.paths()), default=-1) + 1
            key, self._next = self._next, self._next + 1
        path = self.folder / f"part-{key:010d}-{uuid.uuid4().hex[:8]}.parquet"
        atomic_write(path, lambda tmp: frame.write_parquet(tmp, statistics=False,
                                                           compression=compression))
        return path

    def column(self, name: str) -> pl.Series:
        """One column of all parts, concatenated (empty Int64 without parts)."""
        columns = [pl.read_parquet(p, columns=[name]).get_column(name) for p in self.paths()]
        return pl.concat(columns) if columns else pl.Series(name, [], dtype=pl.Int64)

    def read(self) -> list[tuple[int, pl.DataFrame]]:
        """``(key, frame)`` of every part, ordered by key."""
        return [(self.key(p), pl.read_parquet(p)) for p in self.paths()]

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
