"""The small expression language derived attributes are written in.

Each derived attribute of :mod:`s2sframe.db.attributes` is defined once, as a
tree of the nodes below; every node knows its SQL (SQLite and PostgreSQL), its
Polars expression and its Python value, so the three can only agree:

- ``sql(ctx)``: a SQLAlchemy expression (pushed-down selections, ORM queries,
  columns the database computes);
- ``polars()``: a Polars expression on the loaded columns (scan frames);
- ``python(get)``: the value for one row, ``get(name)`` giving the value of
  another attribute (ORM hybrid properties, segments given to user functions).

SQL NULL, Polars null and Python None are the same thing; boolean operators
follow SQL's three-valued logic on every path. Datetime differences are exact
integer microseconds on every path, rounded to integer milliseconds (half up:
stream2segment's rounding, for non-negative durations), so ``duration_sec``
compares equal to the decimal written with three digits (``240.564``).
Divisions by zero give NULL (SQL's ``NULLIF``).

Examples
--------
>>> import datetime as dt
>>> e = Seconds(Millis(Ref("start_time"), Ref("end_time")))
>>> row = {"start_time": dt.datetime(2020, 1, 1),
...        "end_time": dt.datetime(2020, 1, 1, 0, 4, 0, 564400)}
>>> e.python(row.get)
240.564
>>> e.refs()
('start_time', 'end_time')
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl
import sqlalchemy as sa

#: ``get(name)``: the value of the attribute ``name`` for the row being computed.
Getter = Callable[[str], Any]

_US = dt.timedelta(microseconds=1)


class Context(Protocol):
    """What nodes need to render SQL (see :class:`s2sframe.db.attributes.SQLContext`)."""

    @property
    def sqlite(self) -> bool: ...  # pragma: no cover

    def attribute(self, name: str) -> sa.ColumnElement: ...  # pragma: no cover


class Node:
    """A derived value: SQL, Polars and Python renderings of one definition."""

    #: False for nodes only the database computes (blob sizes, label counts).
    in_polars: bool = True

    def sql(self, ctx: Context) -> sa.ColumnElement:
        raise NotImplementedError  # pragma: no cover

    def polars(self) -> pl.Expr:
        raise NotImplementedError  # pragma: no cover

    def python(self, get: Getter) -> Any:
        raise NotImplementedError  # pragma: no cover

    def children(self) -> tuple[Node, ...]:
        return ()

    def refs(self) -> tuple[str, ...]:
        """Names of the attributes this value is computed from, in order, once each."""
        out: dict[str, None] = {}
        for child in self.children():
            out.update(dict.fromkeys(child.refs()))
        return tuple(out)

    def computable_in_polars(self) -> bool:
        return self.in_polars and all(c.computable_in_polars() for c in self.children())


@dataclass(frozen=True)
class Ref(Node):
    """Another attribute (a column, or a derived attribute)."""

    name: str

    def sql(self, ctx: Context) -> sa.ColumnElement:
        return ctx.attribute(self.name)

    def polars(self) -> pl.Expr:
        return pl.col(self.name)

    def python(self, get: Getter) -> Any:
        return get(self.name)

    def refs(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Millis(Node):
    """``end - start`` in integer milliseconds, rounded half up (``floor(ms + 0.5)``)."""

    start: Node
    end: Node

    def children(self) -> tuple[Node, ...]:
        return (self.start, self.end)

    def sql(self, ctx: Context) -> sa.ColumnElement:
        start, end = self.start.sql(ctx), self.end.sql(ctx)
        if not ctx.sqlite:  # EXTRACT(EPOCH FROM interval) is an exact numeric
            ms = sa.func.floor(sa.extract("epoch", end - start) * 1000 + sa.literal_column("0.5"))
            return sa.cast(ms, sa.BigInteger)
        us = _sqlite_micros(end) - _sqlite_micros(start)
        # SQLite's integer division truncates: shifted to positive numbers it floors.
        # (|us| < 3.2e17 between years 1 and 9999: the sum stays within 64 bits.)
        return (us + (500 + _SHIFT * 1000)) // 1000 - _SHIFT

    def polars(self) -> pl.Expr:
        us = (self.end.polars() - self.start.polars()).dt.total_microseconds()
        return (us + 500) // 1000  # floor division

    def python(self, get: Getter) -> Any:
        start, end = self.start.python(get), self.end.python(get)
        if start is None or end is None:
            return None
        return ((end - start) // _US + 500) // 1000


_SHIFT = 10**15  # milliseconds


def _sqlite_micros(text: sa.ColumnElement) -> sa.ColumnElement:
    """Integer microseconds since 1970 of SQLite datetime text ``YYYY-MM-DD HH:MM:SS[.ffffff]``.

    strftime gets whole seconds only: it rounds fractions to milliseconds, so that
    ``23:59:59.9999`` would count as the next second (and year 9999's last one as NULL).
    """
    seconds = sa.cast(sa.func.strftime("%s", sa.func.substr(text, 1, 19)), sa.Integer)
    fraction = sa.func.substr(sa.func.substr(text, 21).concat("000000"), 1, 6)
    return seconds * 1_000_000 + sa.cast(fraction, sa.Integer)


@dataclass(frozen=True)
class Seconds(Node):
    """Integer milliseconds as float seconds: the double nearest to ``ms / 1000`` on every path.

    SQL and Python divide (IEEE division is correctly rounded). Polars divides a
    column by a number as a multiplication by its inverse (``249450 / 1000.0`` gives
    ``249.45000000000002``, not ``249.45``: 18 of 103 values of the example
    database), so there the milliseconds become an exact decimal with three digits
    (``ms * 0.001`` in decimal arithmetic), converted to the nearest double. Exact
    for ``|ms| < 2**53`` (all datetimes of years 1 to 9999).
    """

    millis: Node

    def children(self) -> tuple[Node, ...]:
        return (self.millis,)

    def sql(self, ctx: Context) -> sa.ColumnElement:
        return _float(self.millis.sql(ctx)) / _float(sa.literal_column("1000"))

    def polars(self) -> pl.Expr:
        millis = self.millis.polars().cast(pl.Decimal(38, 0))
        return (millis * pl.lit(decimal.Decimal("0.001"))).cast(pl.Float64)

    def python(self, get: Getter) -> Any:
        ms = self.millis.python(get)
        return None if ms is None else float(ms) / 1000.0


def _float(expr: sa.ColumnElement) -> sa.ColumnElement:
    return sa.cast(expr, sa.Float)


@dataclass(frozen=True)
class Arith(Node):
    """``left op right`` with ``op`` in ``+ - *`` (as the operands' type) or ``/``
    (float division, NULL for a zero divisor)."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)

    def sql(self, ctx: Context) -> sa.ColumnElement:
        a, b = self.left.sql(ctx), self.right.sql(ctx)
        if self.op == "/":
            return _float(a) / _float(sa.func.nullif(b, 0))
        return {"+": a + b, "-": a - b, "*": a * b}[self.op]

    def polars(self) -> pl.Expr:
        a, b = self.left.polars(), self.right.polars()
        if self.op == "/":
            return a.cast(pl.Float64) / pl.when(b != 0).then(b).cast(pl.Float64)
        return {"+": a + b, "-": a - b, "*": a * b}[self.op]

    def python(self, get: Getter) -> Any:
        a, b = self.left.python(get), self.right.python(get)
        if a is None or b is None:
            return None
        if self.op == "/":
            return None if b == 0 else float(a) / float(b)
        return {"+": a + b, "-": a - b, "*": a * b}[self.op]


@dataclass(frozen=True)
class Const(Node):
    """A number literal (float or int)."""

    value: float | int

    def sql(self, ctx: Context) -> sa.ColumnElement:
        # float literals are float8 on PostgreSQL next to a float8 operand
        text = repr(float(self.value)) if isinstance(self.value, float) else str(int(self.value))
        return sa.literal_column(text, sa.Float if isinstance(self.value, float) else sa.Integer)

    def polars(self) -> pl.Expr:
        return pl.lit(self.value)

    def python(self, get: Getter) -> Any:
        return self.value


@dataclass(frozen=True)
class Coalesce(Node):
    """The first non-null of ``args``."""

    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args

    def sql(self, ctx: Context) -> sa.ColumnElement:
        return sa.func.coalesce(*(a.sql(ctx) for a in self.args))

    def polars(self) -> pl.Expr:
        return pl.coalesce([a.polars() for a in self.args])

    def python(self, get: Getter) -> Any:
        for a in self.args:
            value = a.python(get)
            if value is not None:
                return value
        return None


@dataclass(frozen=True)
class Concat(Node):
    """Strings joined by ``sep``; null if any is null."""

    args: tuple[Node, ...]
    sep: str = "."

    def children(self) -> tuple[Node, ...]:
        return self.args

    def sql(self, ctx: Context) -> sa.ColumnElement:
        out = self.args[0].sql(ctx)
        for a in self.args[1:]:
            out = out.concat(self.sep).concat(a.sql(ctx))
        return out

    def polars(self) -> pl.Expr:
        return pl.concat_str([a.polars() for a in self.args], separator=self.sep)

    def python(self, get: Getter) -> Any:
        values = [a.python(get) for a in self.args]
        return None if any(v is None for v in values) else self.sep.join(values)


@dataclass(frozen=True)
class Substr(Node):
    """``length`` characters from the 0-based character ``start``."""

    arg: Node
    start: int
    length: int

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)

    def sql(self, ctx: Context) -> sa.ColumnElement:
        return sa.func.substr(self.arg.sql(ctx), self.start + 1, self.length)

    def polars(self) -> pl.Expr:
        return self.arg.polars().str.slice(self.start, self.length)

    def python(self, get: Getter) -> Any:
        value = self.arg.python(get)
        return None if value is None else value[self.start:self.start + self.length]


@dataclass(frozen=True)
class NotEqual(Node):
    """``arg != value`` (null when ``arg`` is null)."""

    arg: Node
    value: int

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)

    def sql(self, ctx: Context) -> sa.ColumnElement:
        return self.arg.sql(ctx) != sa.literal_column(str(int(self.value)))

    def polars(self) -> pl.Expr:
        return self.arg.polars() != self.value

    def python(self, get: Getter) -> Any:
        value = self.arg.python(get)
        return None if value is None else value != self.value


@dataclass(frozen=True)
class IsNotNull(Node):
    """``arg`` is not null (never null)."""

    arg: Node

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)

    def sql(self, ctx: Context) -> sa.ColumnElement:
        return self.arg.sql(ctx).is_not(None)

    def polars(self) -> pl.Expr:
        return self.arg.polars().is_not_null()

    def python(self, get: Getter) -> Any:
        return self.arg.python(get) is not None


@dataclass(frozen=True)
class And(Node):
    """Logical AND, three-valued (false wins over null)."""

    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args

    def sql(self, ctx: Context) -> sa.ColumnElement:
        return sa.and_(*(a.sql(ctx) for a in self.args))

    def polars(self) -> pl.Expr:
        out = self.args[0].polars()
        for a in self.args[1:]:
            out = out & a.polars()
        return out

    def python(self, get: Getter) -> Any:
        values = [a.python(get) for a in self.args]
        if any(v is False for v in values):
            return False
        return None if any(v is None for v in values) else True


@dataclass(frozen=True)
class NonEmptyBlob(Node):
    """The blob is not null and not empty (computed by the database: blobs are not loaded)."""

    arg: Node
    in_polars = False

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)

    def sql(self, ctx: Context) -> sa.ColumnElement:
        expr = self.arg.sql(ctx)
        return sa.and_(expr.is_not(None), sa.func.length(expr) > 0)

    def python(self, get: Getter) -> Any:
        value = self.arg.python(get)
        return value is not None and len(value) > 0


@dataclass(frozen=True)
class LabelCount(Node):
    """Number of class labels of the segment (computed by the database).

    In Python: the length of the list ``classes.id`` (the ids of its classes).
    """

    in_polars = False

    def sql(self, ctx: Context) -> sa.ColumnElement:
        from . import schema

        cl = schema.class_labellings
        return (
            sa.select(sa.func.count())
            .select_from(cl)
            .where(cl.c.segment_id == schema.segments.c.id)
            .scalar_subquery()
        )

    def python(self, get: Getter) -> Any:
        return len(get("classes.id"))
