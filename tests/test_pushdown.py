"""Every kind of predicate the pushdown supports reaches the SQL WHERE clause.

The pushdown reads Polars' serialized expressions, which are not a stable API:
these tests fail, kind by kind, when a Polars release changes what we read, and
check that such a change is reported by a warning (once per kind) instead of
silently turning filtered reads into full reads.
"""

from __future__ import annotations

import warnings

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import s2sframe
from s2sframe.db import pushdown
from s2sframe.db import pushdown_probes as probes

#: kind -> a piece of the WHERE clause it must compile to (SQLite, PostgreSQL).
EXPECTED = {
    "comparison": ("events.magnitude >= 4.5",) * 2,
    "equality": ("stations.network = 'GE'",) * 2,
    "inequality": ("segments.download_code != 200",) * 2,
    "column vs column": ("< substr(segments.arrival_time",
                         "segments.start_time < segments.arrival_time"),
    "and, or": ("segments.id < 3 OR segments.id > 5 AND segments.id < 7",) * 2,
    "not": ("channels.channel NOT IN ('HHZ')",) * 2,
    "boolean column": ("segments.download_code != -2",) * 2,
    "boolean comparison": ("segments.queryauth = 0", "WHERE NOT segments.queryauth"),
    "is_between": ("events.depth_km >= 5.0 AND events.depth_km < 33.0",) * 2,
    "is_in": ("channels.channel IN ('HHZ', 'BHN')",) * 2,
    "is_in with null": ("segments.data_seed_id IN ('GE.AAA..HHZ') OR "
                        "segments.data_seed_id IS NULL",) * 2,
    "is_null": ("segments.start_time IS NULL",) * 2,
    "is_not_null": ("segments.download_code IS NOT NULL",) * 2,
    "cast": ("segments.download_code > 199.5",) * 2,
    "datetime": (">= '2020-01-01 00:30:00.000000'",
                 "events.time >= TIMESTAMP '2020-01-01 00:30:00.000000'"),
    "date": ("< '2020-01-03 00:00:00.000000'",
             "events.time < TIMESTAMP '2020-01-03 00:00:00.000000'"),
    "string with quotes": ("events.event_location_name = CAST(X'4f2748696767696e73' AS TEXT)",
                           "events.event_location_name = convert_from(decode("
                           "'4f2748696767696e73', 'hex'), 'UTF8')"),
    "string ordering": ("stations.station > 'AAA'", '(stations.station COLLATE "C") > \'AAA\''),
    "derived attribute": ("AS FLOAT) + 0.0) > 200.0", "AS FLOAT) > 200.0"),
    "classes count": ("WHERE EXISTS (SELECT 1",) * 2,
    "no classes": ("WHERE NOT (EXISTS (SELECT 1",) * 2,
    "classes any": ("AND classes.label = 'good')",) * 2,
    "literal true": ("WHERE 1 = 1", "WHERE true"),
}


def test_every_kind_has_an_expectation():
    assert set(EXPECTED) == set(probes.PROBES)


def test_no_kind_is_broken_with_the_installed_polars():
    assert probes.broken_kinds(pushdown._reaches_sql) == []


@pytest.mark.parametrize("kind", list(probes.PROBES))
def test_kind_reaches_sql(small_url, kind):
    lf = s2sframe.scan(small_url)
    predicate = probes.PROBES[kind]()
    query = lf.filter(predicate).select("id")
    sql = s2sframe.explain(query)
    assert "applied by Polars" not in sql, sql
    where = sql.split(";")[0]
    expected = EXPECTED[kind][0 if small_url.startswith("sqlite") else 1]
    assert "WHERE" in where and expected in where, where
    # and the database selects exactly what Polars would
    everything = lf.collect()
    assert_frame_equal(query.collect(), everything.filter(predicate).select("id"))


def test_polars_only_predicates_do_not_warn(small_url):
    lf = s2sframe.scan(small_url)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        query = lf.filter(pl.col("station.network").str.contains("^G")).select("id")
        assert "applied by Polars" in s2sframe.explain(query)
        assert query.collect().height > 0
    assert not [w for w in caught if "s2sframe" in str(w.message)]


def test_a_kind_that_stops_reaching_sql_warns_once(small_url, monkeypatch):
    """As if a Polars release renamed the ``>=`` operator in its serialized form."""
    monkeypatch.delitem(pushdown._CMP, "GtEq")
    monkeypatch.setattr(probes, "_PROBED", {})
    monkeypatch.setattr(probes, "_WARNED", set())
    lf = s2sframe.scan(small_url)
    query = lf.filter(pl.col("event.magnitude") >= 4.5).select("id")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sql = s2sframe.explain(query)
    assert "applied by Polars" in sql
    messages = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert len(messages) == 2, messages  # the kinds using >=
    assert messages[0].startswith("s2sframe: comparison filters (e.g. [(col(\"event.magnitude\"))")
    assert messages[1].startswith("s2sframe: datetime filters")
    assert all("no longer compiled to SQL with polars" in m for m in messages)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert query.collect()["id"].to_list() == lf.collect().filter(
            pl.col("event.magnitude") >= 4.5)["id"].to_list()  # still exact
        s2sframe.explain(query)
    assert not [w for w in caught if "s2sframe" in str(w.message)]  # once per kind


def test_polars_requirement_is_capped_at_a_tested_minor():
    """The installed Polars (the one these tests run with) satisfies a capped requirement."""
    import tomllib

    from packaging.requirements import Requirement

    from tests.conftest import ROOT

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "polars"]
    assert any(spec.operator == "<" for spec in req.specifier), req
    assert pl.__version__ in req.specifier, (pl.__version__, str(req))
