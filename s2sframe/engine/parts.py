"""Output of :func:`s2sframe.map_segments`: Parquet part files, resume, final frame."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import polars as pl

from ..exceptions import ProcessingError
from .worker import _ID, _Job


class _Parts:
    """Result frames of completed chunks, one Parquet file each, next to ``output``."""

    def __init__(self, output: Path, job: _Job) -> None:
        self.output = output
        self.dir = output.with_name(output.name + ".parts")
        self.manifest = {"function": job.name, "error_column": job.error_column, "format": 1}

    def open(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / "_manifest.json"
        if path.exists():
            old = json.loads(path.read_text())
            if old != self.manifest:
                raise ValueError(
                    f"{self.dir} holds partial results of another run ({old}, now "
                    f"{self.manifest}): delete it or choose another output path"
                )
        else:
            _atomic_write(path, json.dumps(self.manifest).encode())

    def paths(self) -> list[Path]:
        return sorted(self.dir.glob("part-*.parquet")) if self.dir.is_dir() else []

    def done_ids(self) -> pl.Series:
        paths = self.paths()
        if not paths:
            return pl.Series(_ID, [], dtype=pl.Int64)
        return pl.scan_parquet(paths).select(_ID).collect().get_column(_ID)

    def write(self, key: int, frame: pl.DataFrame) -> None:
        path = self.dir / f"part-{key:010d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = path.with_name("." + path.name + ".tmp")
        frame.write_parquet(tmp, statistics=False)
        os.replace(tmp, path)

    def frames(self) -> list[tuple[int, pl.DataFrame]]:
        return [(int(p.name.split("-")[1]), pl.read_parquet(p)) for p in self.paths()]

    def finish(self, final: pl.DataFrame) -> None:
        tmp = self.output.with_name("." + self.output.name + ".tmp")
        final.write_parquet(tmp)
        os.replace(tmp, self.output)
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


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
