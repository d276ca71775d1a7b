"""stream2segment selection expressions -> Polars expressions.

A selection maps attribute names to expression strings, all ANDed::

    {"event.magnitude": "[4, 5)", "station.network": "GE FR", "has_data": "true"}

See :func:`where` for the syntax. The resulting :class:`polars.Expr` filters a
:func:`s2sframe.scan` frame; :mod:`s2sframe.db.pushdown` turns it into SQL.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
import re
import shlex
from collections.abc import Mapping
from typing import Any, Literal

import polars as pl

from ..exceptions import SelectionError
from . import attributes

_OPERATORS = ("==", "!=", ">=", "<=", "=", ">", "<")
_OPEN = {"[": True, "(": False, "]": False}
_CLOSE = {"]": True, ")": False, "[": False}
_TRUE = {"true", "t", "yes", "y", "1", "on"}
_FALSE = {"false", "f", "no", "n", "0", "off"}


def where(selection: Mapping[str, Any] | None) -> pl.Expr:
    """Return the Polars expression of a stream2segment selection.

    Parameters
    ----------
    selection : dict
        Attribute names (``"event.magnitude"``, ``"has_valid_data"``, ...) mapped
        to expression strings, all ANDed:

        ============================ ==========================================
        ``v``, ``=v``, ``==v``       equal; several space-separated values: IN
        ``!=v``                      not equal; several values: NOT IN
        ``>v`` ``<v`` ``>=v`` ``<=v`` comparison
        ``[a, b]``                   a <= x <= b
        ``(a, b)`` or ``]a, b[``     a < x < b
        ``(a, b]`` or ``]a, b]``     a < x <= b
        ``[a, b)`` or ``[a, b[``     a <= x < b
        ============================ ==========================================

        Values are split like a shell line (quotes group words) and cast to the
        attribute's type: ``null`` is null (``=null``: IS NULL, ``!=null``: IS NOT
        NULL), booleans ``true``/``false`` in any case, datetimes in ISO form. An
        empty expression means no condition. ``classes.*`` conditions select
        segments having at least one matching class label. Non-string values
        (numbers, booleans, lists) are taken as the value itself.

    Returns
    -------
    polars.Expr
        A boolean expression (``pl.lit(True)`` for an empty selection).

    Raises
    ------
    SelectionError
        (a ``ValueError``) naming the attribute and the expression, for unknown
        attributes (with close matches) and invalid expressions.

    Examples
    --------
    >>> import polars as pl, s2sframe
    >>> expr = s2sframe.where({"event.magnitude": "[4, 5)", "station.network": "GE FR"})
    >>> df = pl.DataFrame({"event.magnitude": [3.9, 4.0, 4.9, 5.0],
    ...                    "station.network": ["GE", "FR", "IV", "GE"]})
    >>> df.filter(expr)["event.magnitude"].to_list()
    [4.0]
    """
    if selection is None:
        return pl.lit(True)
    if not isinstance(selection, Mapping):
        raise SelectionError(
            f"A selection must be a dict of attribute names to expressions, not {type(selection).__name__}"
        )
    conditions = (condition(name, expr) for name, expr in selection.items())
    exprs = [e for e in conditions if e is not None]
    if not exprs:
        return pl.lit(True)
    return functools.reduce(operator.and_, exprs)


def condition(name: str, expression: Any) -> pl.Expr | None:
    """Return the Polars expression of one ``name: expression`` pair (None: no condition)."""
    attr = attributes.get(str(name), context="selection")
    ctx = f"selection {name!r}: {expression!r}"
    is_list = isinstance(attr.dtype, pl.List)
    dtype = attr.element_dtype if is_list else attr.dtype
    op, values = _parse(expression, ctx)
    if op is None:
        return None
    if isinstance(dtype, pl.Datetime):
        values = _join_date_time(values)
    cast = [_cast(v, dtype, attr.name, ctx) for v in values]
    if is_list:
        return _classes_condition(attr.name, op, cast, ctx)
    return _build(pl.col(attr.name), op, cast, ctx)


def _parse(expression: Any, ctx: str) -> tuple[str | None, list[Any]]:
    """Split an expression into (operator, raw values). Operator None: no condition."""
    if isinstance(expression, bool | int | float | dt.datetime | dt.date):
        return "=", [expression]
    if isinstance(expression, list | tuple):
        return ("=", list(expression)) if expression else (None, [])
    if expression is None:
        return "=", [None]
    if not isinstance(expression, str):
        raise SelectionError(f"Invalid {ctx}: expected a string expression")
    text = expression.strip()
    if not text:
        return None, []
    if text[0] in _OPEN and text[-1] in _CLOSE and len(text) >= 2:
        values = _split(text[1:-1], ctx, interval=True)
        if len(values) != 2:
            raise SelectionError(
                f"Invalid {ctx}: an interval needs exactly two values, got {len(values)}"
            )
        op = "interval" + ("[" if _OPEN[text[0]] else "(") + ("]" if _CLOSE[text[-1]] else ")")
        return op, values
    for op in _OPERATORS:
        if text.startswith(op):
            values = _split(text[len(op):], ctx)
            if not values:
                raise SelectionError(f"Invalid {ctx}: no value after {op!r}")
            if op in (">", "<", ">=", "<=") and len(values) != 1:
                raise SelectionError(f"Invalid {ctx}: {op!r} takes exactly one value")
            return ("=" if op == "==" else op), values
    return "=", _split(text, ctx)


def _split(text: str, ctx: str, interval: bool = False) -> list[str]:
    try:
        lexer = shlex.shlex(text, posix=True)
        lexer.whitespace_split = True
        if interval:
            lexer.whitespace += ","
        return list(lexer)
    except ValueError as exc:  # unbalanced quotes
        raise SelectionError(f"Invalid {ctx}: {exc}") from None


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?")


def _join_date_time(values: list[Any]) -> list[Any]:
    """Rejoin 'YYYY-MM-DD HH:MM:SS' split at its space by the shell-like splitting."""
    out: list[Any] = []
    for value in values:
        if (out and isinstance(value, str) and _TIME.fullmatch(value)
                and isinstance(out[-1], str) and _DATE.fullmatch(out[-1])):
            out[-1] = f"{out[-1]} {value}"
        else:
            out.append(value)
    return out


def _cast(value: Any, dtype: pl.DataType, name: str, ctx: str) -> Any:
    if value is None or (isinstance(value, str) and value in ("null", "NULL", "Null", "None")):
        return None
    try:
        if dtype == pl.Boolean:
            if isinstance(value, bool):
                return value
            low = str(value).strip().lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("not a boolean (use true or false)")
        if dtype == pl.Int64:
            return _int64(value)
        if dtype == pl.Float64:
            if isinstance(value, bool):
                raise ValueError("not a number")
            return float(value)
        if isinstance(dtype, pl.Datetime):
            return _datetime(value)
        return str(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise SelectionError(f"Invalid {ctx}: cannot read {value!r} as {dtype} ({exc})") from None


def _int64(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("not an integer")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip())  # exact, however many digits
        except ValueError:
            num = float(value)  # "1e3", "2.0"
            if not num.is_integer():
                raise ValueError("not an integer") from None
            number = int(num)
    if not -(2**63) <= number < 2**63:
        raise ValueError("out of the 64-bit integer range")
    return number


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    else:
        parsed = dt.datetime.fromisoformat(str(value).strip())
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


#: Interval brackets -> the ``closed`` argument of :meth:`polars.Expr.is_between`.
_CLOSED: dict[str, Literal["left", "right", "both", "none"]] = {
    "[]": "both", "()": "none", "(]": "right", "[)": "left"
}


def _build(col: pl.Expr, op: str, values: list[Any], ctx: str) -> pl.Expr:
    if op.startswith("interval"):
        low, high = values
        if low is None or high is None:
            raise SelectionError(f"Invalid {ctx}: interval bounds cannot be null")
        return col.is_between(low, high, closed=_CLOSED[op[-2:]])
    if op in (">", "<", ">=", "<="):
        (value,) = values
        if value is None:
            raise SelectionError(f"Invalid {ctx}: cannot compare with null using {op!r}")
        return {">": col > value, "<": col < value, ">=": col >= value, "<=": col <= value}[op]
    nonnull = [v for v in values if v is not None]
    has_null = len(nonnull) < len(values)
    if op == "=":
        if not nonnull:
            return col.is_null()
        cond = col == nonnull[0] if len(nonnull) == 1 else col.is_in(nonnull)
        return cond | col.is_null() if has_null else cond
    # op == "!="
    if not nonnull:
        return col.is_not_null()
    cond = col != nonnull[0] if len(nonnull) == 1 else ~col.is_in(nonnull)
    return cond & col.is_not_null() if has_null else cond


def _classes_condition(name: str, op: str, values: list[Any], ctx: str) -> pl.Expr:
    """``classes.*`` selections: "has at least one class label matching"."""
    col = pl.col(name)
    if op == "=" and values == [None]:
        return col.list.len() == 0  # no class label at all
    if op == "!=" and values == [None]:
        return col.list.len() > 0
    if None in values:
        raise SelectionError(f"Invalid {ctx}: null cannot be mixed with other values here")
    return col.list.eval(_build(pl.element(), op, values, ctx)).list.any()
