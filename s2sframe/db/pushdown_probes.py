"""One predicate per kind the pushdown compiles to SQL: its canaries.

:mod:`s2sframe.db.pushdown` reads Polars' serialized expressions, whose format is
not a stable API. Should a Polars release change it, predicates that used to
reach SQL would silently be applied by Polars after reading every row (results
stay exact, reads get slow). When a predicate is left to Polars, the pushdown
translates these probes once per process and warns once per kind that no longer
translates; the tests assert that each kind reaches the SQL WHERE clause.

Examples
--------
>>> from s2sframe.db.pushdown import _reaches_sql
>>> broken_kinds(_reaches_sql)
[]
"""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from collections.abc import Callable

import polars as pl

#: kind -> a predicate of that kind on :func:`s2sframe.scan` columns.
PROBES: dict[str, Callable[[], pl.Expr]] = {
    "comparison": lambda: pl.col("event.magnitude") >= 4.5,
    "equality": lambda: pl.col("station.network") == "GE",
    "inequality": lambda: pl.col("download_code") != 200,
    "column vs column": lambda: pl.col("start_time") < pl.col("arrival_time"),
    "and, or": lambda: (pl.col("id") < 3) | ((pl.col("id") > 5) & (pl.col("id") < 7)),
    "not": lambda: ~pl.col("channel.channel").is_in(["HHZ"]),
    "boolean column": lambda: pl.col("has_valid_data"),
    "boolean comparison": lambda: pl.col("queryauth") == False,  # noqa: E712
    "is_between": lambda: pl.col("event.depth_km").is_between(5, 33, closed="left"),
    "is_in": lambda: pl.col("channel.channel").is_in(["HHZ", "BHN"]),
    "is_in with null": lambda: pl.col("data_seed_id").is_in(["GE.AAA..HHZ", None],
                                                            nulls_equal=True),
    "is_null": lambda: pl.col("start_time").is_null(),
    "is_not_null": lambda: pl.col("download_code").is_not_null(),
    "cast": lambda: pl.col("download_code").cast(pl.Float64) > 199.5,
    "datetime": lambda: pl.col("event.time") >= dt.datetime(2020, 1, 1, 0, 30),
    "date": lambda: pl.col("event.time") < dt.date(2020, 1, 3),
    "string with quotes": lambda: pl.col("event.event_location_name") == "O'Higgins",
    "string ordering": lambda: pl.col("station.station") > "AAA",
    "derived attribute": lambda: pl.col("duration_sec") > 200.0,
    "classes count": lambda: pl.col("classes.id").list.len() > 0,
    "no classes": lambda: pl.col("classes.id").list.len() == 0,
    "classes any": lambda: pl.col("classes.label").list.eval(pl.element() == "good").list.any(),
    "literal true": lambda: pl.lit(True),
}


def broken_kinds(reaches_sql: Callable[[pl.Expr], bool]) -> list[str]:
    """Kinds of :data:`PROBES` that ``reaches_sql`` does not entirely translate;
    ``["serialization"]`` if it raises (Polars cannot serialize expressions)."""
    broken = []
    for kind, make in PROBES.items():
        try:
            ok = reaches_sql(make())
        except Exception:  # noqa: BLE001 - whatever a Polars release raises
            return ["serialization"]
        if not ok:
            broken.append(kind)
    return broken


_PROBED: dict[str, list[str]] = {}  # "kinds": the broken kinds, found once per process
_WARNED: set[str] = set()
_LOCK = threading.Lock()


def warn_broken_kinds(reaches_sql: Callable[[pl.Expr], bool]) -> None:
    """Warn, once per kind and process, about kinds of predicates that no longer reach SQL."""
    with _LOCK:
        if "kinds" not in _PROBED:
            _PROBED["kinds"] = broken_kinds(reaches_sql)
        new = [k for k in _PROBED["kinds"] if k not in _WARNED]
        _WARNED.update(new)
    for kind in new:
        example = "any" if kind == "serialization" else str(PROBES[kind]())
        warnings.warn(
            f"s2sframe: {kind} filters (e.g. {example}) are no longer compiled to SQL with "
            f"polars {pl.__version__}, whose serialized expression format changed: they are "
            "applied by Polars after reading every row (results stay exact, reads get "
            "slower). Install a polars version within s2sframe's requirement",
            UserWarning,
            stacklevel=2,
        )
