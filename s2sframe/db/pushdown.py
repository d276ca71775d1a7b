"""Polars predicates -> SQLAlchemy WHERE clauses.

Polars hands an IO source its predicate as a :class:`polars.Expr`; we read its
JSON form and translate what we understand (comparisons, ``is_between``,
``is_in``, ``is_null``, ``&``, ``|``, ``~``, numeric casts and ``classes.*``
existence tests). The top-level AND is split: each conjunct that cannot be
translated is left to Polars, which always re-applies the whole predicate after
loading, so results are exact whatever is pushed down.

Literals reach SQL only as int, float (finite), str (without NUL), bool and
naive datetime, rendered by SQLAlchemy for the dialect; anything else keeps
its conjunct out of the SQL.

The JSON form is not a stable API of Polars: when a predicate is left to Polars,
the canaries of :mod:`s2sframe.db.pushdown_probes` (one predicate per supported
kind) are translated once per process, and a warning names each kind that no
longer reaches SQL with the installed Polars.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import math
import re
from typing import Any

import polars as pl
import sqlalchemy as sa

from ..exceptions import SelectionError
from . import attributes, schema
from . import pushdown_probes as probes


class Untranslatable(Exception):
    """This (sub)expression stays in Polars."""


_CMP = {"Eq": "==", "NotEq": "!=", "Lt": "<", "LtEq": "<=", "Gt": ">", "GtEq": ">="}
_SWAP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_AND = ("And", "LogicalAnd")
_OR = ("Or", "LogicalOr")
_PLAIN = re.compile(r"[A-Za-z0-9 _.,:@/+=()#-]*")
_NUMERIC = ("Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64",
            "Float32", "Float64")


def translate(predicate: pl.Expr, ctx: attributes.SQLContext) -> tuple[sa.ColumnElement | None, bool]:
    """Return (SQL condition or None, whether the whole predicate was translated).

    The relations the condition needs joined are added to ``ctx.relations``.

    Raises
    ------
    SelectionError
        If the predicate uses a column missing from this database.
    """
    parts, complete = translate_parts(predicate, ctx.dialect, ctx.present)
    for _clause, relations in parts:
        ctx.relations.update(relations)
    if not parts:
        return None, False
    return sa.and_(*(clause for clause, _ in parts)), complete


def translate_parts(
    predicate: pl.Expr, dialect: str, present: dict[str, frozenset[str]]
) -> tuple[list[tuple[sa.ColumnElement, set[str]]], bool]:
    """Translate each top-level conjunct: ([(clause, relations it needs)], all translated).

    Conjuncts that cannot be translated are left out (Polars applies them); then
    kinds of predicates that should translate but no longer do are warned about.
    """
    try:
        out, complete = _translate_all(predicate, dialect, present)
    except _NotSerializable:
        out, complete = [], False
    if not complete:
        _warn_broken_kinds()
    return out, complete


class _NotSerializable(Exception):
    """Polars could not give the JSON form of an expression."""


def _translate_all(
    predicate: pl.Expr, dialect: str, present: dict[str, frozenset[str]]
) -> tuple[list[tuple[sa.ColumnElement, set[str]]], bool]:
    try:
        tree = json.loads(predicate.meta.serialize(format="json"))
    except Exception as exc:  # noqa: BLE001 - whatever a Polars release raises
        raise _NotSerializable(str(exc)) from None
    parts = _conjuncts(tree)
    out = []
    for part in parts:
        ctx = attributes.SQLContext(dialect, present)
        try:
            out.append((_Translator(ctx).bool_(part), set(ctx.relations)))
        except (Untranslatable, KeyError, IndexError, TypeError, AttributeError):
            continue  # not understood (an unknown JSON shape too): Polars applies it
        except attributes.MissingColumnError as exc:
            raise SelectionError(
                f"Cannot select on {exc.table}.{exc.column}: the column is not in this "
                "database (written by an older stream2segment version)"
            ) from None
    return out, len(out) == len(parts)


def _reaches_sql(predicate: pl.Expr) -> bool:
    """True if all of ``predicate`` is translated (raises _NotSerializable)."""
    present = {t.name: frozenset(t.columns.keys()) for t in schema.metadata.tables.values()}
    parts, complete = _translate_all(predicate, "sqlite", present)
    return complete and bool(parts)


def _warn_broken_kinds() -> None:
    probes.warn_broken_kinds(_reaches_sql)


def _conjuncts(node: Any) -> list[Any]:
    if isinstance(node, dict) and "BinaryExpr" in node and node["BinaryExpr"]["op"] in _AND:
        b = node["BinaryExpr"]
        return _conjuncts(b["left"]) + _conjuncts(b["right"])
    return [node]


def _literal_values(node: Any) -> list[Any]:
    """Evaluate a literal node with Polars itself: robust to every literal encoding.

    Float scalars are read from the JSON by Python instead: Polars writes the
    shortest text that reads back as the same double, but its JSON reader rounds
    some (polars 2.1: 511.84248860640076 -> 511.8424886064008), so that a value
    read from a frame would not select its row.
    """
    exact = _float_literal(node)
    if exact is not None:
        return [exact]
    try:
        expr = pl.Expr.deserialize(io.StringIO(json.dumps(node)), format="json")
        series = pl.select(expr.alias("v")).to_series()
    except Exception as exc:  # noqa: BLE001 - e.g. NaN has no JSON form
        raise Untranslatable(f"literal: {exc}") from None
    if isinstance(series.dtype, pl.List):
        series = series.explode()
    return series.to_list()


def _float_literal(node: Any) -> float | None:
    """The value of a 64-bit float literal node (``Dyn`` or ``Float64`` scalar), else None."""
    literal = node.get("Literal") if isinstance(node, dict) else None
    if not isinstance(literal, dict):
        return None
    for kind, key in (("Dyn", "Float"), ("Scalar", "Float64")):
        value = literal.get(kind)
        if isinstance(value, dict) and set(value) == {key}:
            number = value[key]
            if isinstance(number, int | float) and not isinstance(number, bool):
                return float(number)
    return None


def _safe(value: Any) -> Any:
    """Whitelist of Python literal types that may reach SQL."""
    if value is None or isinstance(value, bool | int | str | dt.datetime):
        if isinstance(value, str) and "\x00" in value:
            raise Untranslatable("NUL in string")
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            raise Untranslatable("time zone aware datetime")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
            raise Untranslatable("integer out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Untranslatable("non-finite float")
        return value
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    raise Untranslatable(f"literal of type {type(value).__name__}")


class _Translator:
    def __init__(self, ctx: attributes.SQLContext, element: sa.ColumnElement | None = None,
                 element_dtype: pl.DataType | None = None) -> None:
        self.ctx = ctx
        self.element = element
        self.element_dtype = element_dtype

    # -- operands -------------------------------------------------------------
    def operand(self, node: Any) -> tuple[str, Any, pl.DataType | None]:
        """('sql', expr, dtype) for columns, ('lit', [values], None) for literals."""
        if node == "Element":
            if self.element is None:
                raise Untranslatable("element outside list.eval")
            return "sql", self.element, self.element_dtype
        if not isinstance(node, dict) or len(node) != 1:
            raise Untranslatable(str(node)[:50])
        (kind, body), = node.items()
        if kind == "Column":
            attr = attributes.ATTRIBUTES.get(body)
            if attr is None or isinstance(attr.dtype, pl.List):
                raise Untranslatable(f"column {body}")
            return "sql", attr.sql_expr(self.ctx), attr.dtype
        if kind == "Literal":
            return "lit", [_safe(v) for v in _literal_values(node)], None
        if kind == "Cast":
            kind2, inner, dtype = self.operand(body["expr"])
            target = body.get("dtype", {}).get("Literal")
            if kind2 == "sql" and dtype is not None and dtype.is_numeric() and target in _NUMERIC:
                if dtype.is_integer() and target.startswith("Float"):
                    return "sql", inner, pl.Float64()
                if dtype == pl.Float64 and target == "Float64":
                    return "sql", inner, dtype
                if dtype.is_integer() and target.startswith(("Int", "UInt")):
                    return "sql", inner, dtype
            raise Untranslatable("cast")
        raise Untranslatable(kind)

    def sql_operand(self, node: Any) -> tuple[sa.ColumnElement, pl.DataType | None]:
        kind, value, dtype = self.operand(node)
        if kind != "sql":
            raise Untranslatable("literal where a column is expected")
        return value, dtype

    # -- rendering of values --------------------------------------------------
    def value(self, value: Any, dtype: pl.DataType | None) -> sa.ColumnElement:
        if isinstance(value, dt.datetime):
            if dtype is not None and not isinstance(dtype, pl.Datetime):
                raise Untranslatable("datetime compared with non-datetime")
            # digits only: safe to inline; the year zero-padded as stored (strftime's %Y
            # is not: year 900 would compare as text after year 1000 on SQLite)
            text = value.isoformat(sep=" ", timespec="microseconds")
            return sa.literal_column(f"'{text}'" if self.ctx.sqlite else f"TIMESTAMP '{text}'")
        if isinstance(dtype, pl.Datetime):
            raise Untranslatable("datetime column compared with non-datetime")
        if isinstance(value, bool):
            return sa.true() if value else sa.false()
        if isinstance(value, int):
            if dtype is not None and not dtype.is_numeric():
                raise Untranslatable("number compared with non-number")
            return sa.literal_column(str(int(value)))
        if isinstance(value, float):
            if dtype is not None and not dtype.is_numeric():
                raise Untranslatable("number compared with non-number")
            return sa.literal_column(repr(float(value)))
        if isinstance(value, str):
            if dtype is not None and dtype != pl.String:
                raise Untranslatable("string compared with non-string")
            return self.string(value)
        raise Untranslatable(type(value).__name__)

    def string(self, value: str) -> sa.ColumnElement:
        """A string literal. connectorx re-parses our SQL with its own parser, which
        reads backslashes as escapes: strings with anything but plain characters are
        therefore written as hex-encoded UTF-8, which no parser can misread."""
        if _PLAIN.fullmatch(value):
            return sa.literal_column(f"'{value}'")
        hexa = value.encode("utf-8").hex()
        if self.ctx.sqlite:
            return sa.literal_column(f"CAST(X'{hexa}' AS TEXT)")
        return sa.literal_column(f"convert_from(decode('{hexa}', 'hex'), 'UTF8')")

    def column(self, expr: sa.ColumnElement, dtype: pl.DataType | None) -> sa.ColumnElement:
        """Normalise datetime text on SQLite (run_time may lack microseconds)."""
        if self.ctx.sqlite and isinstance(dtype, pl.Datetime):
            return sa.func.substr(sa.type_coerce(expr, sa.String) + ".000000", 1, 26)
        return expr

    def byte_order(self, expr: sa.ColumnElement) -> sa.ColumnElement:
        """Order strings as Polars does (by bytes): PostgreSQL's default collation may not."""
        return expr if self.ctx.sqlite else expr.collate("C")

    # -- boolean expressions ----------------------------------------------------
    def bool_(self, node: Any) -> sa.ColumnElement:
        if not isinstance(node, dict) or len(node) != 1:
            if node == "Element" and self.element is not None and self.element_dtype == pl.Boolean:
                return self.element
            raise Untranslatable(str(node)[:50])
        (kind, body), = node.items()
        if kind == "BinaryExpr":
            op = body["op"]
            if op in _AND:
                return sa.and_(self.bool_(body["left"]), self.bool_(body["right"]))
            if op in _OR:
                return sa.or_(self.bool_(body["left"]), self.bool_(body["right"]))
            if op in _CMP:
                return self.compare(body["left"], _CMP[op], body["right"])
            raise Untranslatable(op)
        if kind == "Column":
            expr, dtype = self.sql_operand(node)
            if dtype != pl.Boolean:
                raise Untranslatable("non-boolean column as condition")
            return expr
        if kind == "Literal":
            (value,) = _literal_values(node)
            if isinstance(value, bool):
                return sa.true() if value else sa.false()
            raise Untranslatable("literal condition")
        if kind == "Function":
            return self.function(body)
        if kind == "Eval":
            return self.classes_any(body)
        raise Untranslatable(kind)

    def compare(self, left: Any, op: str, right: Any) -> sa.ColumnElement:
        if self._is_list_length(left) or self._is_list_length(right):
            return self.classes_count(left, op, right)
        lk, lv, ldt = self.operand(left)
        rk, rv, rdt = self.operand(right)
        if lk == "lit" and rk == "lit":
            raise Untranslatable("literal vs literal")
        if lk == "lit":
            lk, lv, ldt, rk, rv, rdt = rk, rv, rdt, lk, lv, ldt
            op = _SWAP[op]
        if rk == "sql":
            if (ldt == pl.Boolean) != (rdt == pl.Boolean):
                raise Untranslatable("boolean vs non-boolean")
            a, b = self.column(lv, ldt), self.column(rv, rdt)
        else:
            (value,) = rv
            if value is None:
                raise Untranslatable("comparison with null")
            if ldt == pl.Boolean:
                if not isinstance(value, bool) or op not in ("==", "!="):
                    raise Untranslatable("boolean comparison")
                positive = value == (op == "==")
                return lv if positive else sa.not_(lv)
            a, b = self.column(lv, ldt), self.value(value, ldt)
        if op not in ("==", "!=") and ldt == pl.String:
            a = self.byte_order(a)
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b,
                ">=": a >= b}[op]

    def function(self, body: dict) -> sa.ColumnElement:
        fn = body["function"]
        inputs = body["input"]
        boolean = fn.get("Boolean") if isinstance(fn, dict) else None
        if boolean is None:
            raise Untranslatable(str(fn)[:50])
        if boolean == "Not":
            return sa.not_(self.bool_(inputs[0]))
        if boolean in ("IsNull", "IsNotNull"):
            if self._is_classes(inputs[0]):
                raise Untranslatable("is_null on list column")
            expr, _dtype = self.sql_operand(inputs[0])
            return expr.is_(None) if boolean == "IsNull" else expr.is_not(None)
        if isinstance(boolean, dict) and "IsIn" in boolean:
            expr, dtype = self.sql_operand(inputs[0])
            kind, values, _ = self.operand(inputs[1])
            if kind != "lit":
                raise Untranslatable("is_in of a column")
            nonnull = [v for v in values if v is not None]
            nulls_equal = boolean["IsIn"].get("nulls_equal", False)
            cond: sa.ColumnElement[bool]
            if not nonnull:
                cond = sa.false()
            elif dtype == pl.Boolean:
                raise Untranslatable("is_in on booleans")
            else:
                col = self.column(expr, dtype)
                cond = col.in_([self.value(v, dtype) for v in nonnull])
            if nulls_equal and len(nonnull) < len(values):
                return sa.or_(cond, expr.is_(None))
            return cond
        if isinstance(boolean, dict) and "IsBetween" in boolean:
            closed = boolean["IsBetween"]["closed"]
            expr, dtype = self.sql_operand(inputs[0])
            bounds = []
            for node in inputs[1:3]:
                kind, value, _ = self.operand(node)
                if kind != "lit" or value[0] is None:
                    raise Untranslatable("non-literal bound")
                bounds.append(self.value(value[0], dtype))
            col = self.column(expr, dtype)
            if dtype == pl.String:
                col = self.byte_order(col)
            low = col >= bounds[0] if closed in ("Both", "Left") else col > bounds[0]
            high = col <= bounds[1] if closed in ("Both", "Right") else col < bounds[1]
            return sa.and_(low, high)
        raise Untranslatable(str(boolean)[:50])

    # -- classes.* --------------------------------------------------------------
    @staticmethod
    def _is_classes(node: Any) -> bool:
        return isinstance(node, dict) and str(node.get("Column", "")).startswith("classes.")

    def _is_list_length(self, node: Any) -> bool:
        try:
            f = node["Function"]
            return f["function"] == {"ListExpr": "Length"} and self._is_classes(f["input"][0])
        except (KeyError, TypeError, IndexError):
            return False

    def _labels(self) -> sa.Select:
        cl = schema.class_labellings
        return sa.select(sa.literal_column("1")).select_from(cl).where(
            cl.c.segment_id == schema.segments.c.id
        )

    def classes_count(self, left: Any, op: str, right: Any) -> sa.ColumnElement:
        if self._is_list_length(right):
            left, right, op = right, left, _SWAP[op]
        kind, values, _ = self.operand(right)
        if kind != "lit" or values[0] is None:
            raise Untranslatable("list length comparison")
        n = values[0]
        exists = sa.exists(self._labels())
        if (op, n) in (("==", 0), ("<=", 0), ("<", 1)):
            return sa.not_(exists)
        if (op, n) in ((">", 0), (">=", 1), ("!=", 0)):
            return exists
        raise Untranslatable("list length comparison")

    def classes_any(self, body: dict) -> sa.ColumnElement:
        inner = body.get("expr", {}).get("Eval")
        agg = body.get("evaluation", {})
        is_any = (
            body.get("variant") == "ListAgg"
            and isinstance(agg, dict)
            and "Any" in str(agg.get("Function", {}).get("function", {}).get("Boolean", ""))
        )
        if not is_any or not inner or inner.get("variant") != "List":
            raise Untranslatable("list eval")
        colnode = inner.get("expr", {})
        if not self._is_classes(colnode):
            raise Untranslatable("list eval on other column")
        attr = attributes.ATTRIBUTES[colnode["Column"]]
        assert attr.column is not None  # the classes.* attributes are columns of classes
        c = schema.classes.c[attr.column]
        sub = _Translator(self.ctx, element=c, element_dtype=attr.element_dtype)
        cond = sub.bool_(inner["evaluation"])
        cl = schema.class_labellings
        query: sa.Select[Any] = (
            sa.select(sa.literal_column("1"))
            .select_from(cl.join(schema.classes, schema.classes.c.id == cl.c.class_id))
            .where(cl.c.segment_id == schema.segments.c.id, cond)
        )
        return sa.exists(query)
