"""Results of user functions as columns: one Polars column per result key.

:func:`_result_frame` turns the results of one chunk into a frame (``id`` +
result columns + error column); values that fit no column type (objects Polars
cannot store) become errors of their segment.

Types are never converted silently: values of different types for one column
(``1`` and ``"x"``, ``True`` and ``2``), in one chunk or across chunks
(:class:`ColumnTypes`), raise :class:`ResultTypeError` naming the column, two
segments and the two types, unless the run declares the column's type
(``return_dtypes``), which then converts. ``None`` mixes with any type; integers
mix with floats into Float64 (a promotion Python itself makes, exact up to 2**53),
lists and structs with such members likewise.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

from ..exceptions import ResultTypeError  # defined there; imported from here too

if TYPE_CHECKING:
    from polars._typing import PolarsDataType


class ColumnSpec(Protocol):
    """What the columns of a run depend on (:class:`s2sframe.engine.worker.WorkerJob` has it)."""

    name: str  # column of non-dict results
    dtypes: dict[str, pl.DataType]  # declared column types
    error_column: str

_ID = "id"


def _plain(value: Any) -> Any:
    """NumPy values to Python ones Polars infers reliably (arrays -> lists)."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None and not isinstance(value, (str, bytes)):
        return tolist()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def mixed_types(name: str, column: str, first: tuple[Any, Any], second: tuple[Any, Any],
                hint: str | None = None) -> ResultTypeError:
    """The error for ``column`` holding ``first = (dtype, segment)`` and ``second``."""
    if hint is None:
        hint = (f"return one type per column, or declare the type to convert to: "
                f"return_dtypes={{{column!r}: pl.String}} (for example)")
    return ResultTypeError(
        f"{name} returned values of different types for column {column!r}: {first[0]} "
        f"for segment {first[1]}, {second[0]} for segment {second[1]}; {hint}",
        column, (str(first[0]), first[1]), (str(second[0]), second[1]),
    )


# ------------------------------------------------------------------ dtypes of values
_SCALARS: dict[type, pl.DataType] = {
    type(None): pl.Null(), bool: pl.Boolean(), int: pl.Int64(), float: pl.Float64(),
    str: pl.String(), bytes: pl.Binary(), datetime.date: pl.Date(), datetime.time: pl.Time(),
    datetime.timedelta: pl.Duration("us"),
}
_INT64 = (-(2**63), 2**63)


def _instance(dtype: PolarsDataType) -> pl.DataType:
    """``pl.Int64`` -> ``pl.Int64()``: Polars takes both forms of the simple types."""
    return dtype() if isinstance(dtype, type) else dtype


def merge_dtypes(a: pl.DataType, b: pl.DataType) -> pl.DataType | None:
    """The type holding values of types ``a`` and ``b`` without loss of meaning, or None.

    Examples
    --------
    >>> merge_dtypes(pl.Int64, pl.Float64)
    Float64
    >>> merge_dtypes(pl.Null, pl.String)
    String
    >>> merge_dtypes(pl.Boolean, pl.Int64) is None
    True
    """
    if a == b:
        return a
    if a == pl.Null:
        return b
    if b == pl.Null:
        return a
    if a.is_numeric() and b.is_numeric():
        if a.is_float() or b.is_float():
            return pl.Float64() if a.is_float() and b.is_float() or not a.is_decimal() \
                and not b.is_decimal() else None
        if a.is_integer() and b.is_integer():
            return pl.Int128() if pl.Int128 in (a, b) or pl.UInt64 in (a, b) else pl.Int64()
        return None
    if isinstance(a, pl.List | pl.Array) and isinstance(b, pl.List | pl.Array):
        inner = merge_dtypes(a.inner, b.inner)  # type: ignore[arg-type]
        return None if inner is None else pl.List(inner)
    if isinstance(a, pl.Struct) and isinstance(b, pl.Struct):
        fields = {f.name: _instance(f.dtype) for f in a.fields}
        for f in b.fields:
            merged = merge_dtypes(fields.get(f.name, pl.Null()), _instance(f.dtype))
            if merged is None:
                return None
            fields[f.name] = merged
        return pl.Struct(fields)
    return None


def _inferred(value: Any) -> pl.DataType:
    try:
        return pl.Series([value], strict=True).dtype
    except (Exception, BaseException) as exc:  # pyo3 panics are BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return pl.Object()


def dtype_of(value: Any) -> pl.DataType:
    """The column type of one value (``Object``: Polars cannot store it).

    Examples
    --------
    >>> dtype_of([1, 2.5])
    List(Float64)
    >>> dtype_of({"a": 1})
    Struct({'a': Int64})
    """
    kind = type(value)
    dtype = _SCALARS.get(kind)
    if dtype is not None:
        if kind is int and not _INT64[0] <= value < _INT64[1]:
            return _inferred(value)
        return dtype
    if kind is list:
        kinds = set(map(type, value))
        if len(kinds) == 1:  # the common case (arrays): no loop in Python
            only = next(iter(kinds))
            if only in _SCALARS and (only is not int or _INT64[0] <= min(value)
                                     and max(value) < _INT64[1]):
                return pl.List(_SCALARS[only])
        inner: pl.DataType | None = pl.Null()
        for v in value:
            inner = merge_dtypes(inner, dtype_of(v))  # type: ignore[arg-type]
            if inner is None or inner == pl.Object:
                return pl.Object()
        return pl.List(inner)  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        fields = {str(k): dtype_of(v) for k, v in value.items()}
        if any(d == pl.Object for d in fields.values()):
            return pl.Object()
        return pl.Struct(fields)
    return _inferred(value)


def _column(key: str, values: list, dtype: pl.DataType | None, ids: list[int],
            name: str) -> tuple[pl.Series, list[int]]:
    """One column of a chunk and the rows whose value cannot be stored in it."""
    if dtype is not None:
        try:
            return pl.Series(key, values, dtype=dtype, strict=True), []
        except (Exception, BaseException) as exc:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        return _converted(key, values, dtype)
    target: pl.DataType = pl.Null()
    first: tuple[Any, int] | None = None
    bad: list[int] = []
    same: type | None = None  # a scalar type whose values leave ``target`` as it is
    for i, value in enumerate(values):
        if value is None:
            continue
        if type(value) is same and (not isinstance(value, int)
                                    or _INT64[0] <= value < _INT64[1]):
            continue
        kind = dtype_of(value)
        if kind == pl.Object:
            bad.append(i)
            continue
        merged = merge_dtypes(target, kind)
        if merged is None:
            assert first is not None
            raise mixed_types(name, key, first, (kind, ids[i]))
        if first is None:
            first = (kind, ids[i])
        target = merged
        scalar = _SCALARS.get(type(value))
        same = type(value) if scalar is not None and merged == scalar else None
    if bad:
        rejected = set(bad)
        values = [None if i in rejected else v for i, v in enumerate(values)]
    return pl.Series(key, values, dtype=target, strict=False), bad


def _converted(key: str, values: list, dtype: pl.DataType) -> tuple[pl.Series, list[int]]:
    """``values`` converted to the declared ``dtype`` one by one; rows that cannot be."""
    out: list[pl.Series] = []
    bad: list[int] = []
    for i, value in enumerate(values):
        one = None
        for attempt in (
            lambda v=value: pl.Series(key, [v], dtype=dtype, strict=True),
            lambda v=value: pl.Series(key, [v], strict=False).cast(dtype, strict=True),
        ):
            try:
                one = attempt()
                break
            except (Exception, BaseException) as exc:
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
        if one is None:
            bad.append(i)
            one = pl.Series(key, [None], dtype=dtype)
        out.append(one)
    return (pl.concat(out) if out else pl.Series(key, [], dtype=dtype)), bad


def _result_frame(
    ids: list[int], results: list[Any], errors: list[str | None], job: ColumnSpec
) -> tuple[pl.DataFrame, int]:
    """Columns of the results of one chunk; values that fit no column become errors."""
    n = len(ids)
    columns: dict[str, list] = {}
    for i, res in enumerate(results):
        if res is None:
            continue
        items = res.items() if isinstance(res, Mapping) else ((job.name, res),)
        for key, value in items:
            col = columns.get(str(key))
            if col is None:
                col = columns[str(key)] = [None] * n
            col[i] = _plain(value)
    bad = 0
    out = [pl.Series(_ID, ids, dtype=pl.Int64)]
    for key, values in columns.items():
        dtype = job.dtypes.get(key)
        series, rows = _column(key, values, dtype, ids, job.name)
        for i in rows:
            if errors[i] is None:
                bad += 1
            kind = type(results[i].get(key) if isinstance(results[i], Mapping) else results[i])
            target = f"as {dtype}" if dtype is not None else "in a column"
            errors[i] = (
                f"TypeError: {job.name} returned a {kind.__name__} for column {key!r} "
                f"that cannot be stored {target}"
            )
        out.append(series)
    for key, dtype in job.dtypes.items():
        if key not in columns:
            out.append(pl.Series(key, [None] * n, dtype=dtype))
    out.append(pl.Series(job.error_column, errors, dtype=pl.String))
    return pl.DataFrame(out), bad


class ColumnTypes:
    """The type of each result column across chunks (or batches), and who set it.

    :meth:`add` raises :class:`ResultTypeError` when a frame brings a column
    whose type does not merge with the one seen so far (see :func:`merge_dtypes`).
    Columns with a declared type (``fixed``) and ``skip`` columns are not checked.
    """

    def __init__(self, name: str, idcol: str = _ID, fixed: Mapping[str, Any] | None = None,
                 skip: tuple[str, ...] = (), hint: str | None = None,
                 rename: Any = None) -> None:
        self.name, self.idcol, self.hint = name, idcol, hint
        self.ignore = {idcol, *skip, *(fixed or {})}
        self.rename = rename or (lambda column: column)
        self.types: dict[str, tuple[pl.DataType, Any]] = {}

    def add(self, frame: pl.DataFrame) -> None:
        for column, dtype in frame.schema.items():
            if column in self.ignore or dtype == pl.Null:
                continue
            known = self.types.get(column)
            if known is None:
                self.types[column] = (dtype, _first_id(frame, column, self.idcol))
                continue
            merged = merge_dtypes(known[0], dtype)
            if merged is None:
                raise mixed_types(self.name, self.rename(column), known,
                                  (dtype, _first_id(frame, column, self.idcol)), self.hint)
            self.types[column] = (merged, known[1])


def _first_id(frame: pl.DataFrame, column: str, idcol: str) -> Any:
    ids = frame.filter(pl.col(column).is_not_null()).get_column(idcol)
    return ids[0] if len(ids) else None
