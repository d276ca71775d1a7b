"""The ``output=`` file of :func:`s2sframe.map_segments`: ownership, parts, resume, final frame.

The run owns the output (:class:`~s2sframe.engine.owner.OutputFiles`: a lock that
dies with its process), checks that the existing parts or output were produced by
the same function, database and segments (the manifest), saves each finished
chunk as a part file, and at the end writes the final frame atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ..exceptions import OutputError, ProcessingError
from .owner import OutputFiles, differences
from .parts import atomic_write
from .worker import _ID, WorkerJob

#: Extensions of ``output=``: map_segments writes Parquet (the frame may hold lists).
SUFFIXES = (".parquet", ".pq")


class _Parts:
    """The output of one ``map_segments`` run: owned while the run lasts."""

    def __init__(self, output: str | os.PathLike, manifest: Mapping[str, Any]) -> None:
        path = Path(output)
        if path.suffix.lower() not in SUFFIXES:
            raise OutputError(
                f"map_segments writes Parquet files: output must end with .parquet, not "
                f"{path.name!r} (for CSV or HDF, write the returned frame yourself, e.g. "
                "out.write_csv(...), or use s2sframe.process.process)"
            )
        self.files = OutputFiles(path)
        self.output = path
        self.dir = self.files.parts.folder
        self.manifest = dict(manifest)

    def open(self, overwrite: bool) -> pl.DataFrame | None:
        """Own the output; return the finished frame if this run was already done."""
        return self.files.own(lambda: self._open(overwrite))

    def _open(self, overwrite: bool) -> pl.DataFrame | None:
        files = self.files
        if overwrite:
            files.clear()
        has_parts, has_output = files.parts.exists(), self.output.exists()
        if has_parts or has_output:
            what = f"{self.dir} (partial results)" if has_parts else str(self.output)
            old = files.read_manifest()
            if old is None:
                raise OutputError(
                    f"{what} was not written by map_segments (or by an older s2sframe): "
                    "pass overwrite=True to replace it, or choose another output path"
                )
            diff = differences(old, self.manifest)
            if diff:
                raise OutputError(
                    f"{what} was produced by a different run:\n  " + "\n  ".join(diff)
                    + "\nPass overwrite=True to recompute it, or choose another output path"
                )
            if not has_parts:
                if not files.describes_output(old):
                    raise OutputError(
                        f"{self.output} changed since map_segments wrote it: pass "
                        "overwrite=True to recompute it, or choose another output path"
                    )
                return pl.read_parquet(self.output)
        files.write_manifest(self.manifest)
        files.parts.create()
        return None

    def done_ids(self) -> pl.Series:
        return self.files.parts.column(_ID)

    def write(self, key: int, frame: pl.DataFrame) -> None:
        self.files.parts.write(frame, key)

    def frames(self) -> list[tuple[int, pl.DataFrame]]:
        return self.files.parts.read()

    def finish(self, final: pl.DataFrame) -> None:
        atomic_write(self.output, final.write_parquet)
        self.files.write_manifest(self.manifest)  # now with the identity of the output
        self.files.parts.remove()

    def close(self) -> None:
        self.files.release()


def _assemble(df: pl.DataFrame, frames: list[tuple[int, pl.DataFrame]], job: WorkerJob) -> pl.DataFrame:
    """Input columns + result columns (in input row order) + the error column."""
    ordered = [f for _, f in sorted(frames, key=lambda kf: kf[0]) if f.height]
    err = job.error_column
    if ordered:
        try:
            results = pl.concat(ordered, how="diagonal_relaxed")
        except Exception as exc:  # noqa: BLE001
            raise ProcessingError(
                f"{job.name} returned values of incompatible types for the same column in "
                f"different segments ({exc}); return one type per key or pass return_dtypes="
            ) from None
    else:
        results = pl.DataFrame(schema={_ID: pl.Int64, err: pl.String})
    dup = results.get_column(_ID).is_duplicated()
    if dup.any():  # cannot happen with one owner per output: never let it through
        ids = results.get_column(_ID).filter(dup).unique().sort().head(5).to_list()
        raise ProcessingError(f"{job.name}: segments {ids} have more than one result")
    names = [c for c in results.columns if c not in (_ID, err)]
    if not names:
        results = results.with_columns(pl.lit(None, dtype=job.dtypes.get(job.name)).alias(job.name))
        names = [job.name]
    casts = {k: v for k, v in job.dtypes.items() if k in results.columns}
    if casts:
        results = results.cast(casts)  # type: ignore[arg-type]
    results = results.select(pl.col(_ID).cast(df.schema[_ID]), *names, err)
    clash = [c for c in results.columns if c != _ID and c in df.columns]
    return df.drop(clash).join(results, on=_ID, how="left", maintain_order="left")
