"""Output files of ``process``: CSV, HDF (pandas HDFStore, table format) and Parquet.

Every file has one row per segment, the segment id first in column
``segment_db_id``, then the columns returned by the processing function. With
``append=True`` a writer reports the ids already in the file (so they are not
processed again) and adds the new rows; otherwise the file is replaced.

Crash safety, the same for every format: a writer owns its output for the whole
run (a second run on it is refused at once, see :mod:`s2sframe.engine.owner`);
each batch of rows goes to a Parquet part file in ``<output>.parts/``; at the end
of a complete run the parts, after the rows of the existing file when appending,
become the output file, written to a temporary file and renamed over it. A run
that ends by raising (an error, Ctrl-C) writes no output file, as after a
``kill -9``: the output is the previous one when appending (or none) and the parts
hold the finished rows: ``append=True`` keeps both and processes the rest.

- CSV: a header row, unless appending to a header-less file written by
  stream2segment from list rows (its first column is the segment id), or to any
  other CSV without our id column (as stream2segment: a first row that is not a
  segment id is taken for a header): then the new rows have no header either and
  must be lists (dicts are refused with a ``TypeError``, as stream2segment does).
- HDF: the table ``s2s_table`` (writer option ``key``). Appending to an HDF file
  that holds anything but that table (another table, other HDF5 data) or is no HDF
  file is refused with a ``TypeError``, to an empty file with an ``HDF5ExtError``,
  as stream2segment refuses them: the file is left as it was. Integer columns are stored
  as floats (HDF tables have no missing integers) except the id, booleans too
  when some are missing; string columns are sized for their longest value.
- Parquet: any column type, lists included.
"""

from __future__ import annotations

import csv
import functools
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from ..engine.owner import OutputFiles, differences
from ..engine.parts import atomic_write
from ..engine.results import ColumnTypes
from ..exceptions import OutputError
from .config import BadInput
from .runner import KEY_HINT

SEGMENT_ID_COLNAME = "segment_db_id"


class AppendError(BadInput, TypeError):
    """Appending to this file is refused: it was not written by s2sframe or stream2segment
    (or not with rows of this kind). A ``TypeError``, as stream2segment raised."""
#: id column names of files written by older stream2segment versions (read when appending)
_ID_NAMES = (SEGMENT_ID_COLNAME, "Segment.db.id")
HDF_EXTENSIONS = (".hdf", ".h5", ".hdf5")
PARQUET_EXTENSIONS = (".parquet", ".pq")
CSV_EXTENSIONS = (".csv",)
HDF_DEFAULT_CHUNKSIZE = 10000


def get_writer(outfile: str | os.PathLike, append: bool = False,
               options: dict[str, Any] | None = None,
               manifest: Mapping[str, Any] | None = None) -> Writer:
    """The writer of ``outfile``, chosen by its extension; it owns the file until closed.

    ``manifest`` describes the run (function, database): appending to an output
    whose manifest differs is refused.

    Raises
    ------
    BadInput
        Unknown extension, or an existing file without id column to append to.
    OutputError
        Another run writes ``outfile``, it was produced by another function or
        database (appending), it is a folder, its folder is missing or not writable.

    Examples
    --------
    >>> import tempfile, os
    >>> writer = get_writer(os.path.join(tempfile.mkdtemp(), "out.parquet"))
    >>> type(writer).__name__
    'ParquetWriter'
    >>> writer.close()
    """
    path = Path(outfile)
    ext = path.suffix.lower()
    if ext in CSV_EXTENSIONS:
        return CsvWriter(path, append, options, manifest)
    if ext in HDF_EXTENSIONS:
        return HdfWriter(path, append, options, manifest)
    if ext in PARQUET_EXTENSIONS:
        return ParquetWriter(path, append, options, manifest)
    known = ", ".join(CSV_EXTENSIONS + HDF_EXTENSIONS + PARQUET_EXTENSIONS)
    raise BadInput(f"Unknown output format {ext or '(no extension)'!r} of {path}: use {known}")


class Writer:
    """Base class: ``done_ids()``, ``write(frame)``, ``close()``.

    ``write`` receives frames whose first column is :data:`SEGMENT_ID_COLNAME`.
    Subclasses read the existing file (:meth:`_read_existing`, :meth:`_existing_ids`),
    refuse rows early (:meth:`_check`) and write the final file (:meth:`_final`).
    """

    def __init__(self, path: Path, append: bool, options: dict[str, Any] | None,
                 manifest: Mapping[str, Any] | None = None) -> None:
        self.path = path
        self.options = dict(options or {})
        self.manifest = dict(manifest or {"producer": "process"})
        self.idcol = SEGMENT_ID_COLNAME
        self.rows = 0
        self.closed = False
        function = self.manifest.get("function") or {}
        self.types = ColumnTypes(function.get("name", "the processing function"),
                                 SEGMENT_ID_COLNAME, hint=KEY_HINT)
        self.files = OutputFiles(path)
        self.files.acquire()
        try:
            self._start(bool(append))
        except BaseException:
            self.files.release()
            raise

    def _start(self, append: bool) -> None:
        files = self.files
        old = files.read_manifest()
        if append and old is not None and (files.parts.exists() or files.describes_output(old)):
            diff = differences(old, self.manifest)
            if diff:
                raise OutputError(
                    f"Cannot append to {self.path}: it was produced by a different run:\n  "
                    + "\n  ".join(diff) + "\nRun without append (-a) to replace it, write to "
                    f"another file, or delete {files.manifest_path} to append anyway"
                )
        if not append:
            files.parts.remove()
            self.path.unlink(missing_ok=True)
        self.appending = append and self.path.is_file() and (
            self.path.stat().st_size > 0 or self.empty_file_is_existing)
        if self.appending:
            self._read_existing()
        files.parts.create()
        files.write_manifest(self.manifest)
        for part in files.parts.paths():  # the types of the rows saved before
            self.types.add(pl.read_parquet(part))

    #: whether appending to a 0-byte file reads it (and so may refuse it) or starts it anew
    empty_file_is_existing = False

    def done_ids(self) -> pl.Series:
        """Ids of the segments already written (in the file, or in parts when resuming)."""
        ids = self.files.parts.column(SEGMENT_ID_COLNAME).cast(pl.Int64)
        if self.appending:
            ids = pl.concat([self._existing_ids().cast(pl.Int64).rename(SEGMENT_ID_COLNAME), ids])
        return ids

    def write(self, frame: pl.DataFrame) -> None:
        """Save rows (crash-safe: a part file)."""
        self._check(frame)
        self.types.add(frame)  # types of rows of earlier batches (see engine.results)
        self.files.parts.write(frame)
        self.rows += frame.height

    def close(self, complete: bool = True) -> None:
        """Write the output file from the existing rows and the parts; release it (idempotent).

        ``complete=False`` (the run ended by raising): no output file is written, the
        parts stay for a run with ``append=True`` to resume (if none were saved, the
        run leaves nothing behind).
        """
        if self.closed:
            return
        self.closed = True
        try:
            if complete:
                if not (self.appending and not self._parts()):  # else nothing new: as it was
                    atomic_write(self.path, self._final)
                    self.files.write_manifest(self.manifest)
                self.files.parts.remove()
            elif not self._parts():
                self.files.parts.remove()
                if not self.path.exists():
                    self.files.manifest_path.unlink(missing_ok=True)
        finally:
            self.files.release()

    # ------------------------------------------------------------- per format
    def _read_existing(self) -> None:
        """Read what appending needs from the existing file (id column name...)."""

    def _existing_ids(self) -> pl.Series:
        raise NotImplementedError

    def _check(self, frame: pl.DataFrame) -> None:
        """Refuse rows that cannot go to the file (before the run goes on)."""

    def _final(self, tmp: Path) -> None:
        raise NotImplementedError

    # --------------------------------------------------------------- helpers
    def _missing_id(self, detail: str = "") -> AppendError:
        return AppendError(f"Cannot append to file, segment_id column name not found in "
                           f"{self.path}{detail} (was the file created with this program?)")

    def _rename(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.rename({SEGMENT_ID_COLNAME: self.idcol}) if self.idcol != SEGMENT_ID_COLNAME \
            else frame

    def _parts(self) -> list[Path]:
        return self.files.parts.paths()

    def _union(self) -> dict[str, pl.DataType]:
        """Columns of all parts (first-appearance order), the id first."""
        frames = [pl.DataFrame(schema=pl.read_parquet_schema(p)) for p in self._parts()]
        frames.insert(0, pl.DataFrame(schema={SEGMENT_ID_COLNAME: pl.Int64}))
        return dict(pl.concat(frames, how="diagonal_relaxed").schema)

    def _extra(self, frame: pl.DataFrame, columns: list[str]) -> None:
        extra = [c for c in frame.columns if c != SEGMENT_ID_COLNAME and c not in columns]
        if extra:
            raise ValueError(
                f"the processing function returned keys that are not columns of {self.path} "
                f"({', '.join(map(repr, extra))}); its columns are {columns}"
            )


def _csv_ready(frame: pl.DataFrame) -> pl.DataFrame:
    """Every value as the text stream2segment wrote for it (Python's ``csv`` module:
    ``str(value)``, ``repr`` for floats): ``2018-07-21 20:55:10`` (microseconds only when
    not 0), ``True``, ``1e-05``, ``nan``; nested values as ``[a, b]`` (CSV has no lists)."""
    columns = []
    for name, dtype in frame.schema.items():
        col = frame[name]
        if isinstance(dtype, pl.List | pl.Array):
            expr = pl.col(name).arr.to_list() if isinstance(dtype, pl.Array) else pl.col(name)
            text = expr.list.eval(pl.element().cast(pl.String)).list.join(", ")
            col = frame.select(pl.format("[{}]", text).alias(name)).to_series()
        elif isinstance(dtype, pl.Datetime):
            fmt = "%Y-%m-%d %H:%M:%S"
            tz = "%:z" if dtype.time_zone else ""  # type: ignore[union-attr]
            col = frame.select(pl.when(pl.col(name).dt.microsecond() == 0)
                               .then(pl.col(name).dt.strftime(fmt + tz))
                               .otherwise(pl.col(name).dt.strftime(fmt + "%.6f" + tz))
                               .alias(name)).to_series()
        elif dtype == pl.Boolean:
            col = col.replace_strict({True: "True", False: "False"}, return_dtype=pl.String)
        elif dtype.is_float():
            col = _float_text(col)
        columns.append(col)
    return pl.DataFrame(columns) if columns else frame


def _float_text(values: pl.Series) -> pl.Series:
    """``repr(float(x))`` of each value (None stays null), in Polars.

    Polars writes the digits Python's ``repr`` writes (the shortest that read back
    the same float) but positions them otherwise below 1e-4: ``0.0000321`` (Python
    ``3.21e-05``) and ``1.5e-9`` (``1.5e-09``); NaN as ``NaN`` (``nan``).
    """
    text = values.cast(pl.String)
    small = ((values.abs() < 1e-4) & (values != 0)).fill_null(False)
    if small.any():  # rewritten alone: the regular expressions are the costly part
        idx = small.arg_true()
        text = text.scatter(idx, text.gather(idx)
                            .str.replace(r"^(-?)0\.0000(\d)$", "${1}${2}e-05")
                            .str.replace(r"^(-?)0\.0000(\d)(\d+)$", "${1}${2}.${3}e-05")
                            .str.replace(r"e-(\d)$", "e-0${1}"))
    return text.set(values.is_nan().fill_null(False), "nan")


def _select(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    return frame.select(pl.col(c) if c in frame.columns else pl.lit(None).alias(c)
                        for c in columns)


class CsvWriter(Writer):
    """CSV with a header row (or none, appending to stream2segment's list rows)."""

    header: list[str] | None = None
    headerless = False

    def _read_existing(self) -> None:
        with open(self.path, newline="", encoding="utf-8", errors="replace") as fh:
            first = next(csv.reader(fh), None)
        if first and first[0] in _ID_NAMES:
            self.header = first
            self.idcol = first[0]
        else:  # stream2segment's list rows (segment id, values...), or not a file of ours
            self.headerless = True

    def _existing_ids(self) -> pl.Series:
        if not self.headerless:
            return pl.read_csv(self.path, columns=[self.idcol], infer_schema=False)[self.idcol]
        # as stream2segment: the first value of each row is a segment id, but for the
        # first row, which may be a header
        ids = []
        with open(self.path, newline="", encoding="utf-8", errors="replace") as fh:
            for line, row in enumerate(csv.reader(fh), 1):
                value = row[0].strip() if row else ""
                if value.lstrip("+-").isdigit():
                    ids.append(int(value))
                elif line > 1:
                    raise BadInput(f"Cannot append to {self.path}: line {line} does not start "
                                   f"with a segment id ({value[:40]!r})")
        return pl.Series(SEGMENT_ID_COLNAME, ids, dtype=pl.Int64)

    def _check(self, frame: pl.DataFrame) -> None:
        if self.headerless:
            keys = [c for c in frame.columns if c != SEGMENT_ID_COLNAME and not c.isdigit()]
            if keys:
                raise self._missing_id(
                    f" (it has no header: return lists to append to it, not dicts with keys "
                    f"{keys})")
        elif self.header is not None:
            self._extra(frame, self.header)

    def _columns(self) -> tuple[list[str], bool]:
        """Columns to write and whether to write a header."""
        if self.header is not None:
            return self.header, False
        union = [self.idcol, *(c for c in self._union() if c != SEGMENT_ID_COLNAME)]
        if self.headerless:
            return [self.idcol, *sorted(union[1:], key=int)], False
        return union, True

    def _final(self, tmp: Path) -> None:
        columns, header = self._columns()
        with open(tmp, "wb") as out:
            if self.appending:
                with open(self.path, "rb") as src:
                    shutil.copyfileobj(src, out)
                    src.seek(-1, os.SEEK_END)
                    if src.read(1) not in (b"\n", b"\r"):
                        out.write(b"\n")
            for part in self._parts():
                frame = _select(_csv_ready(self._rename(pl.read_parquet(part))), columns)
                frame.write_csv(out, include_header=header)
                header = False


class HdfWriter(Writer):
    """pandas HDFStore table; writer options go to ``HDFStore.append``."""

    def __init__(self, path: Path, append: bool, options: dict[str, Any] | None,
                 manifest: Mapping[str, Any] | None = None) -> None:
        try:
            import pandas  # noqa: F401
            import tables  # noqa: F401
        except ImportError:  # pragma: no cover - pandas is a test dependency
            raise BadInput("HDF output needs pandas and tables: pip install 's2sframe[hdf]'") \
                from None
        opts = dict(options or {})
        opts.pop("value", None)
        opts["chunksize"] = int(opts.pop("chunksize", HDF_DEFAULT_CHUNKSIZE))
        opts["append"] = True
        opts.setdefault("key", "s2s_table")
        opts.setdefault("format", "table")
        self.key: str = opts["key"]
        self.columns: list[str] | None = None
        super().__init__(path, append, opts, manifest)

    empty_file_is_existing = True  # a 0-byte file is no HDF file: refused, as stream2segment

    def _read_existing(self) -> None:
        import pandas as pd
        import tables

        key = f"/{self.key.strip('/')}"
        try:
            with pd.HDFStore(self.path, mode="r") as store:
                keys = store.keys()
                nodes = sum(1 for _ in store._handle.walk_nodes("/")) - 1  # noqa: SLF001
                if key not in keys:
                    if nodes:  # anything else in the file: not ours to replace
                        others = f", only {', '.join(keys)}" if keys else ""
                        raise self._missing_id(f" (no table {key}{others})")
                    self.appending = False  # an empty store (no rows written): nothing to keep
                    return
                self.columns = list(store.select(self.key, start=0, stop=0).columns)
        except tables.HDF5ExtError:
            if self.path.stat().st_size == 0:
                raise _hdf_ext_error()(f"Cannot append to {self.path}: an empty file is no HDF "
                                       "file") from None
            raise self._missing_id(" (not an HDF file)") from None
        except (KeyError, OSError, ValueError, TypeError) as exc:
            if isinstance(exc, AppendError):
                raise
            raise self._missing_id(f" ({exc})") from None
        found = [c for c in _ID_NAMES if c in self.columns]
        if not found:
            raise self._missing_id()
        self.idcol = found[0]

    def _existing_ids(self) -> pl.Series:
        import pandas as pd

        with pd.HDFStore(self.path, mode="r") as store:
            ids = store.select_column(self.key, self.idcol)
        return pl.Series(SEGMENT_ID_COLNAME, ids.to_numpy(), dtype=pl.Int64)

    def _check(self, frame: pl.DataFrame) -> None:
        if self.columns is not None:
            self._extra(frame, self.columns)

    def _layout(self) -> tuple[list[str], dict[str, pl.DataType], dict[str, int]]:
        """Columns, their stored types and string sizes, from all parts."""
        union = self._union()
        parts = [pl.read_parquet(p) for p in self._parts()]
        casts: dict[str, pl.DataType] = {}
        sizes: dict[str, int] = {}
        for name, dtype in union.items():
            if name == SEGMENT_ID_COLNAME:
                continue
            if dtype.is_integer() or dtype == pl.Null:
                casts[name] = pl.Float64()
            elif dtype == pl.Boolean and any(name not in f.columns or f[name].null_count()
                                             for f in parts):
                casts[name] = pl.Float64()
            elif dtype == pl.String:
                sizes[name] = max([int(f.select(pl.col(name).str.len_bytes().max()).item() or 0)
                                   for f in parts if name in f.columns] + [1])
        columns = [self.idcol, *(c for c in union if c != SEGMENT_ID_COLNAME)]
        if self.columns is not None:
            columns = self.columns
        return columns, casts, sizes

    def _final(self, tmp: Path) -> None:
        import pandas as pd

        if self.appending:
            shutil.copyfile(self.path, tmp)
        columns, casts, sizes = self._layout()
        opts = dict(self.options)
        if not self.appending and sizes:
            opts["min_itemsize"] = {**sizes, **(opts.get("min_itemsize") or {})}
        data_columns = list(opts.get("data_columns") or [])
        if self.idcol not in data_columns:
            data_columns.append(self.idcol)
        opts["data_columns"] = data_columns
        with pd.HDFStore(tmp, mode="a") as store:
            for part in self._parts():
                frame = pl.read_parquet(part).cast(casts, strict=False)  # type: ignore[arg-type]
                frame = _select(self._rename(frame), columns)
                try:
                    store.append(value=frame.to_pandas(), **opts)
                except (ValueError, TypeError) as exc:
                    raise ValueError(
                        f"Cannot append rows to {self.path}: {exc}. HDF tables keep the columns "
                        "and types of their first rows: return the same keys and types for every "
                        "segment (string columns: set writer_options={'min_itemsize': "
                        "{column: size}})"
                    ) from None


@functools.cache
def _hdf_ext_error() -> type[BadInput]:
    """``HDF5ExtError`` (of PyTables) that is also :class:`BadInput`: what stream2segment
    raised appending to an empty HDF file, with our message."""
    import tables

    return type("HDFAppendError", (BadInput, tables.HDF5ExtError), {
        "_h5bt_policy": False, "h5backtrace": None, "__module__": __name__})


class ParquetWriter(Writer):
    """Parquet; writer options go to ``polars.DataFrame.write_parquet``."""

    def _read_existing(self) -> None:
        names = pl.read_parquet_schema(self.path)
        found = [c for c in _ID_NAMES if c in names]
        if not found:
            raise self._missing_id()
        self.idcol = found[0]

        self.types.add(pl.read_parquet(self.path).rename({self.idcol: SEGMENT_ID_COLNAME}))

    def _existing_ids(self) -> pl.Series:
        return pl.read_parquet(self.path, columns=[self.idcol]).to_series(0)

    def _final(self, tmp: Path) -> None:
        sources = []
        if self.appending:
            sources.append(pl.scan_parquet(self.path).rename({self.idcol: SEGMENT_ID_COLNAME}))
        sources += [pl.scan_parquet(p) for p in self._parts()]
        if sources:
            final = self._rename(pl.concat(sources, how="diagonal_relaxed").collect())
        else:
            final = pl.DataFrame(schema={SEGMENT_ID_COLNAME: pl.Int64})
        final.write_parquet(tmp, **self.options)
