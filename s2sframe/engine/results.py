"""Results of user functions as columns: one Polars column per result key.

:func:`_result_frame` turns the results of one chunk into a frame (``id`` +
result columns + error column); values that fit no column type become errors of
their segment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import polars as pl


class _Job(Protocol):
    """What the columns of a run depend on (:class:`s2sframe.engine.worker._Job` has it)."""

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


def _series(name: str, values: list, dtype: pl.DataType | None) -> pl.Series:
    try:
        return pl.Series(name, values, dtype=dtype, strict=dtype is not None)
    except (Exception, BaseException) as exc:  # pyo3 panics are BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        return pl.Series(name, [None] * len(values), dtype=pl.Object)


def _storable(series: pl.Series) -> bool:
    return series.dtype != pl.Object


def _result_frame(
    ids: list[int], results: list[Any], errors: list[str | None], job: _Job
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
        series = _series(key, values, dtype)
        if not _storable(series):
            series, rows = _repair(key, values, dtype)
            for i in rows:
                if errors[i] is None:
                    bad += 1
                kind = type(results[i].get(key) if isinstance(results[i], Mapping) else results[i])
                errors[i] = (
                    f"TypeError: {job.name} returned a {kind.__name__} for column {key!r} "
                    "that cannot be stored with the other values of that column"
                )
        out.append(series)
    for key, dtype in job.dtypes.items():
        if key not in columns:
            out.append(pl.Series(key, [None] * n, dtype=dtype))
    out.append(pl.Series(job.error_column, errors, dtype=pl.String))
    return pl.DataFrame(out), bad


def _repair(key: str, values: list, dtype: pl.DataType | None) -> tuple[pl.Series, list[int]]:
    """Null the values that do not fit the column type of the first storable value."""
    target = dtype
    bad: list[int] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        one = _series(key, [v], target)
        if not _storable(one) or (target is not None and one.dtype != target):
            bad.append(i)
        elif target is None:
            target = one.dtype
    rejected = set(bad)
    kept = [None if i in rejected else v for i, v in enumerate(values)]
    return _series(key, kept, target), bad

