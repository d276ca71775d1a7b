"""The ``output=`` file of :func:`s2sframe.map_segments`: parts, resume, final frame."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ..exceptions import ProcessingError
from .parts import PartFiles, atomic_write
from .worker import _ID, _Job


class _Parts:
    """Result frames of completed chunks, one Parquet file each, next to ``output``."""

    def __init__(self, output: Path, job: _Job) -> None:
        self.output = output
        self.files = PartFiles(output.with_name(output.name + ".parts"))
        self.dir = self.files.folder
        self.manifest = {"function": job.name, "error_column": job.error_column, "format": 1}

    def open(self) -> None:
        self.files.create()
        path = self.dir / "_manifest.json"
        if path.exists():
            old = json.loads(path.read_text())
            if old != self.manifest:
                raise ValueError(
                    f"{self.dir} holds partial results of another run ({old}, now "
                    f"{self.manifest}): delete it or choose another output path"
                )
        else:
            atomic_write(path, lambda tmp: tmp.write_text(json.dumps(self.manifest)))

    def done_ids(self) -> pl.Series:
        return self.files.column(_ID)

    def write(self, key: int, frame: pl.DataFrame) -> None:
        self.files.write(frame, key)

    def frames(self) -> list[tuple[int, pl.DataFrame]]:
        return self.files.read()

    def finish(self, final: pl.DataFrame) -> None:
        atomic_write(self.output, final.write_parquet)
        self.files.remove()
def _assemble(df: pl.DataFrame, frames: list[tuple[int, pl.DataFrame]], job: _Job) -> pl.DataFrame:
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
