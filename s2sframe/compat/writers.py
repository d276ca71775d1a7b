"""Output files of ``process``: CSV, HDF (pandas HDFStore, table format) and Parquet.

Every file has one row per segment, the segment id first in column
``segment_db_id``, then the columns returned by the processing function. With
``append=True`` a writer reports the ids already in the file (so they are not
processed again) and adds the new rows; otherwise the file is replaced.

- CSV: rows are written (and flushed) as they come: after a crash, rerunning with
  ``append=True`` processes only the segments not written yet.
- HDF: rows are appended to the table (key ``s2s_table``) every ``chunksize``
  rows (writer option, default 10000) and when the run ends. Integer columns are
  stored as floats (HDF tables have no missing integers) except the id.
- Parquet: each batch of rows goes to a part file in ``.<name>.s2s-parts/`` next
  to the output; at the end (also after an error or Ctrl-C) the parts, and the
  previous file when appending, become the output file, written atomically. Parts
  left by a killed run are kept by ``append=True`` runs and merged.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import polars as pl

from ..engine.parts import PartFiles, atomic_write
from .config import BadInput

SEGMENT_ID_COLNAME = "segment_db_id"
#: id column names of files written by older stream2segment versions (read when appending)
_ID_NAMES = (SEGMENT_ID_COLNAME, "Segment.db.id")
HDF_EXTENSIONS = (".hdf", ".h5", ".hdf5")
PARQUET_EXTENSIONS = (".parquet", ".pq")
CSV_EXTENSIONS = (".csv",)
HDF_DEFAULT_CHUNKSIZE = 10000


def get_writer(outfile: str | os.PathLike, append: bool = False,
               options: dict[str, Any] | None = None) -> Writer:
    """The writer of ``outfile``, chosen by its extension.

    Raises
    ------
    BadInput
        Unknown extension, missing folder, or an existing file without id column
        to append to.

    Examples
    --------
    >>> type(get_writer("out.parquet")).__name__
    'ParquetWriter'
    """
    path = Path(outfile)
    ext = path.suffix.lower()
    if not path.parent.is_dir():
        raise BadInput(f"Cannot write {path}: folder {path.parent} does not exist")
    if ext in CSV_EXTENSIONS:
        return CsvWriter(path, append, options)
    if ext in HDF_EXTENSIONS:
        return HdfWriter(path, append, options)
    if ext in PARQUET_EXTENSIONS:
        return ParquetWriter(path, append, options)
    known = ", ".join(CSV_EXTENSIONS + HDF_EXTENSIONS + PARQUET_EXTENSIONS)
    raise BadInput(f"Unknown output format {ext or '(no extension)'!r} of {path}: use {known}")


class Writer:
    """Base class: ``done_ids()``, ``write(frame)``, ``close()``.

    ``write`` receives frames whose first column is :data:`SEGMENT_ID_COLNAME`.
    """

    def __init__(self, path: Path, append: bool, options: dict[str, Any] | None) -> None:
        self.path = path
        self.options = dict(options or {})
        self.appending = bool(append) and path.is_file() and path.stat().st_size > 0
        self.idcol = SEGMENT_ID_COLNAME
        self.rows = 0

    def done_ids(self) -> pl.Series:
        """Ids of the segments already in the file (empty unless appending)."""
        return pl.Series(SEGMENT_ID_COLNAME, [], dtype=pl.Int64)

    def write(self, frame: pl.DataFrame) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Finish the file (idempotent)."""

    def _missing_id(self) -> BadInput:
        return BadInput(f"Cannot append to {self.path}: it has no {SEGMENT_ID_COLNAME} column "
                        "(was it written by s2sframe or stream2segment?)")

    def _rename(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.rename({SEGMENT_ID_COLNAME: self.idcol}) if self.idcol != SEGMENT_ID_COLNAME \
            else frame


def _csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested values as ``[a, b]`` text (CSV has no lists)."""
    exprs = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List | pl.Array):
            col = pl.col(name)
            if isinstance(dtype, pl.Array):
                col = col.arr.to_list()
            text = col.list.eval(pl.element().cast(pl.String)).list.join(", ")
            exprs.append(pl.format("[{}]", text).alias(name))
    return frame.with_columns(exprs) if exprs else frame


class CsvWriter(Writer):
    """CSV with a header row; rows flushed as written."""

    def __init__(self, path: Path, append: bool, options: dict[str, Any] | None) -> None:
        super().__init__(path, append, options)
        self.header: list[str] | None = None
        if self.appending:
            with open(path, newline="", encoding="utf-8") as fh:
                header = next(csv.reader(fh), None)
            if not header or header[0] not in _ID_NAMES:
                raise self._missing_id()
            self.header = header
            self.idcol = header[0]
        self.handle = open(path, "a" if self.appending else "w", newline="",  # noqa: SIM115
                           encoding="utf-8")

    def done_ids(self) -> pl.Series:
        if not self.appending:
            return super().done_ids()
        ids = pl.read_csv(self.path, columns=[self.idcol], infer_schema=False)[self.idcol]
        return ids.cast(pl.Int64).rename(SEGMENT_ID_COLNAME)

    def write(self, frame: pl.DataFrame) -> None:
        frame = self._rename(_csv_ready(frame))
        first = self.header is None
        if first:
            self.header = frame.columns
        extra = [c for c in frame.columns if c not in self.header]  # type: ignore[operator]
        if extra:
            raise ValueError(
                f"the processing function returned keys that are not columns of {self.path} "
                f"({', '.join(map(repr, extra))}); its columns are {self.header}"
            )
        frame = frame.select(
            pl.col(c) if c in frame.columns else pl.lit(None).alias(c) for c in self.header  # type: ignore[union-attr]
        )
        frame.write_csv(self.handle, include_header=first)
        self.handle.flush()
        self.rows += frame.height

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.close()


class HdfWriter(Writer):
    """pandas HDFStore table (appendable); writer options go to ``HDFStore.append``."""

    def __init__(self, path: Path, append: bool, options: dict[str, Any] | None) -> None:
        super().__init__(path, append, options)
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is a test dependency
            raise BadInput("HDF output needs pandas and tables: pip install 's2sframe[hdf]'") \
                from None
        opts = self.options
        opts.pop("value", None)
        self.chunksize = int(opts.pop("chunksize", HDF_DEFAULT_CHUNKSIZE))
        opts["append"] = True
        opts.setdefault("key", "s2s_table")
        opts.setdefault("format", "table")
        self.key = opts["key"]
        if self.appending:
            try:
                with pd.HDFStore(path, mode="r") as store:
                    columns = list(store.select(self.key, start=0, stop=0).columns)
            except (KeyError, OSError, ValueError, TypeError) as exc:
                raise BadInput(f"Cannot append to {path}: {exc}") from None
            found = [c for c in _ID_NAMES if c in columns]
            if not found:
                raise self._missing_id()
            self.idcol = found[0]
        data_columns = list(opts.get("data_columns") or [])
        if self.idcol not in data_columns:
            data_columns.append(self.idcol)
        opts["data_columns"] = data_columns
        self.store = pd.HDFStore(path, mode="a" if self.appending else "w")
        self.pending: list[pl.DataFrame] = []
        self.npending = 0

    def done_ids(self) -> pl.Series:
        if not self.appending:
            return super().done_ids()
        ids = self.store.select_column(self.key, self.idcol)
        return pl.Series(SEGMENT_ID_COLNAME, ids.to_numpy(), dtype=pl.Int64)

    def write(self, frame: pl.DataFrame) -> None:
        self.pending.append(frame)
        self.npending += frame.height
        if self.npending >= self.chunksize:
            self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        frame = self._rename(pl.concat(self.pending, how="diagonal_relaxed"))
        self.pending, self.npending = [], 0
        casts = {}
        for name, dtype in frame.schema.items():
            if name == self.idcol:
                continue
            if dtype.is_integer() or dtype == pl.Null:
                casts[name] = pl.Float64
            elif dtype == pl.Boolean and frame[name].null_count():
                casts[name] = pl.Float64
        frame = frame.cast(casts)  # type: ignore[arg-type]
        pdf = frame.to_pandas()
        try:
            self.store.append(value=pdf, **self.options)
        except (ValueError, TypeError) as exc:
            raise ValueError(
                f"Cannot append rows to {self.path}: {exc}. HDF tables keep the columns and "
                "types of their first rows: return the same keys and types for every segment "
                "(string columns: set writer_options={'min_itemsize': {column: size}})"
            ) from None
        self.rows += frame.height

    def close(self) -> None:
        if self.store.is_open:
            try:
                self._flush()
            finally:
                self.store.close()


class ParquetWriter(Writer):
    """Parquet, assembled at close from part files (see module doc)."""

    def __init__(self, path: Path, append: bool, options: dict[str, Any] | None) -> None:
        super().__init__(path, append, options)
        self.parts = PartFiles(path.with_name(f".{path.name}.s2s-parts"))
        if not append:
            self.parts.remove()
        self.keep_existing = self.appending
        if self.appending:
            names = pl.read_parquet_schema(path)
            found = [c for c in _ID_NAMES if c in names]
            if not found:
                raise self._missing_id()
            self.idcol = found[0]
        self.parts.create()
        self.closed = False

    def done_ids(self) -> pl.Series:
        ids = self.parts.column(SEGMENT_ID_COLNAME)
        if self.appending:
            ids = pl.concat([ids, pl.read_parquet(self.path, columns=[self.idcol])
                             .get_column(self.idcol).rename(SEGMENT_ID_COLNAME)])
        return ids.cast(pl.Int64)

    def write(self, frame: pl.DataFrame) -> None:
        self.parts.write(frame)
        self.rows += frame.height

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        sources = []
        if self.keep_existing:
            sources.append(pl.scan_parquet(self.path).rename({self.idcol: SEGMENT_ID_COLNAME}))
        sources += [pl.scan_parquet(p) for p in self.parts.paths()]
        if sources:
            final = pl.concat(sources, how="diagonal_relaxed").collect()
            final = self._rename(final)
        else:
            final = pl.DataFrame(schema={SEGMENT_ID_COLNAME: pl.Int64})
        atomic_write(self.path, lambda tmp: final.write_parquet(tmp, **self.options))
        self.parts.remove()
