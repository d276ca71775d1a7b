"""Derived attributes: the same values in SQL, in Polars and in Python (ORM), on edge rows.

Each derived attribute has one definition (:mod:`s2sframe.db.derive`); these tests
hold its three renderings to exact equality, on SQLite and PostgreSQL, on rows
chosen to break them: zero-length request windows, NULL times, years 1 and 9999,
half milliseconds, negative durations, NaN, empty blobs, short channel codes.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
import sqlalchemy as sa

import s2sframe
from s2sframe.db import attributes as A
from s2sframe.db import schema as S
from s2sframe.process import Segment, close_session, get_session

DERIVED = [n for n, a in A.ATTRIBUTES.items() if a.expr is not None]
T = dt.datetime(2020, 1, 1)
US = dt.timedelta(microseconds=1)
Y1, Y9999 = dt.datetime(1, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999)

#: id -> (start, end, request_start, request_end, data, download_code, deg, seed, channel)
ROWS = {
    1: (T, T + 240_564_400 * US, T, T + dt.timedelta(seconds=250), b"x", 200, 10.0, None, 1),
    2: (T, T + dt.timedelta(seconds=60), T, T, b"", -2, 20.0, "XX.S..HHZ", 2),  # empty window
    3: (None, None, T, T + dt.timedelta(seconds=5), None, None, 30.0, None, 3),  # NULL times
    4: (Y1, Y9999, Y1, Y9999, b"abc", -2, 1e300, None, 1),  # years 1 and 9999
    5: (T + 1500 * US, T, T, T + 500 * US, b"a", None, 0.0, None, 2),  # half ms, negative
    6: (T + 2_000_500 * US, T + 2_001_000 * US, T - 1499 * US, T + 3 * US, b"\x00", 0, -5.5,
        None, 3),
    7: (dt.datetime(900, 1, 1), dt.datetime(999, 12, 31), dt.datetime(900, 1, 1, 0, 0, 0, 1),
        dt.datetime(1000, 1, 1), None, 200, float("nan"), None, 1),  # NaN (NULL on SQLite)
}


def _build(url: str) -> None:
    engine = s2sframe.db.urls.create_engine(s2sframe.db.urls.parse_url(url))
    S.create_all(engine)
    nan_ok = engine.dialect.name != "sqlite"  # SQLite stores NaN as NULL: NOT NULL column
    with engine.begin() as conn:
        conn.execute(S.web_services.insert(), [{"id": 1, "url": "http://ws"}])
        conn.execute(S.data_centers.insert(), [
            {"id": 1, "station_url": "http://s", "dataselect_url": "http://d"}])
        conn.execute(S.downloads.insert(), [{"id": 1, "run_time": T}])
        conn.execute(S.events.insert(), [
            {"id": sid, "webservice_id": 1, "event_id": f"e{sid}", "time": T, "latitude": 0,
             "longitude": 0, "depth_km": 1, "magnitude": 5} for sid in ROWS])
        conn.execute(S.stations.insert(), [
            {"id": 1, "datacenter_id": 1, "network": "GE", "station": "A", "latitude": 0,
             "longitude": 0, "start_time": T, "inventory_xml": b"<xml/>"},
            {"id": 2, "datacenter_id": 1, "network": "FR", "station": "Ü", "latitude": 0,
             "longitude": 0, "start_time": T, "inventory_xml": b""},
            {"id": 3, "datacenter_id": 1, "network": "", "station": "C", "latitude": 0,
             "longitude": 0, "start_time": T, "inventory_xml": None},
        ])
        conn.execute(S.channels.insert(), [
            {"id": 1, "station_id": 1, "location": "", "channel": "HHZ", "sample_rate": 100},
            {"id": 2, "station_id": 2, "location": "00", "channel": "É", "sample_rate": 1},
            {"id": 3, "station_id": 3, "location": "--", "channel": "", "sample_rate": 1},
        ])
        conn.execute(S.segments.insert(), [
            {"id": sid, "event_id": sid, "channel_id": cha, "datacenter_id": 1, "download_id": 1,
             "start_time": st, "end_time": et, "request_start": rs, "request_end": re_,
             "arrival_time": T, "data": data, "download_code": code, "data_seed_id": seed,
             "event_distance_deg": deg if (nan_ok or not math.isnan(deg)) else 1.0}
            for sid, (st, et, rs, re_, data, code, deg, seed, cha) in ROWS.items()
        ])
        conn.execute(S.classes.insert(), [{"id": 1, "label": "a"}, {"id": 2, "label": "b"}])
        conn.execute(S.class_labellings.insert(), [
            {"segment_id": 1, "class_id": 1}, {"segment_id": 1, "class_id": 2},
            {"segment_id": 4, "class_id": 2}])
    engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                               marks=pytest.mark.postgres)])
def edge_url(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("derived") / "edge.sqlite")
    else:
        from tests.conftest import new_pg_database

        url = new_pg_database(request)
    _build(url)
    return url


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def _sql_values(url: str) -> dict[str, dict[int, object]]:
    """Each derived attribute computed by the database (the registry's SQL)."""
    engine = s2sframe.db.urls.get_engine(url)
    present = S.present_columns(engine)
    out = {}
    with engine.connect() as conn:
        for name in DERIVED:
            ctx = A.SQLContext(engine.dialect.name, present)
            expr = A.ATTRIBUTES[name].sql_expr(ctx).label("v")
            frm = S.segments
            for rel in S.relations_closure(ctx.relations):
                frm = frm.outerjoin(S.RELATIONS[rel].table, S.RELATIONS[rel].on)
            rows = conn.execute(sa.select(S.segments.c.id, expr).select_from(frm)
                                .order_by(S.segments.c.id))
            out[name] = {i: _py(name, v) for i, v in rows}
    return out


def _py(name: str, value: object) -> object:
    """Database values as Python values of the attribute's dtype (SQLite booleans are 0/1)."""
    if value is None:
        return None
    dtype = A.ATTRIBUTES[name].dtype
    if dtype == pl.Boolean:
        return bool(value)
    return float(value) if dtype == pl.Float64 else value


def _orm_values(url: str) -> dict[str, dict[int, object]]:
    """Each derived attribute as the ORM objects' hybrid properties compute it in Python."""
    session = get_session(url)
    try:
        out: dict[str, dict[int, object]] = {n: {} for n in DERIVED}
        for seg in session.query(Segment).order_by(Segment.id):
            for name in DERIVED:
                rel, _, attr = name.rpartition(".")
                obj = getattr(seg, rel) if rel else seg
                out[name][seg.id] = getattr(obj, attr)
        # the class-level side (SQL through the ORM) gives the same too
        cols = [getattr(Segment, n) for n in DERIVED if "." not in n]
        for row in session.query(Segment.id, *cols).order_by(Segment.id):
            for name, value in zip([n for n in DERIVED if "." not in n], row[1:], strict=True):
                assert _same(_py(name, value), out[name][row[0]]), (name, row[0], value)
        return out
    finally:
        close_session(session)


def test_sql_polars_and_python_agree_on_edge_rows(edge_url):
    frame = s2sframe.scan(edge_url).select("id", *DERIVED).collect()
    polars = {n: dict(zip(frame["id"], frame[n].to_list(), strict=True)) for n in DERIVED}
    sql, orm = _sql_values(edge_url), _orm_values(edge_url)
    for name in DERIVED:
        for sid in ROWS:
            values = (sql[name][sid], polars[name][sid], orm[name][sid])
            assert _same(values[0], values[1]) and _same(values[1], values[2]), (name, sid, values)


def test_edge_values(edge_url):
    """The meaning chosen: milliseconds (rounded half up), NULL ratios of
    empty request windows, three-valued booleans."""
    df = s2sframe.scan(edge_url).select("id", *DERIVED).collect()
    rows = {r["id"]: r for r in df.iter_rows(named=True)}
    assert rows[1]["duration_sec"] == 240.564 and rows[1]["missing_data_sec"] == 9.436
    assert rows[1]["missing_data_ratio"] == 1.0 - 240564 / 250000
    assert rows[2]["missing_data_ratio"] is None and rows[2]["missing_data_sec"] == -60.0
    assert rows[3]["duration_sec"] is None and rows[3]["missing_data_ratio"] is None
    assert rows[4]["duration_sec"] == 315537897600.0  # 315537897599.999999 s, rounded
    assert rows[4]["missing_data_ratio"] == 0.0
    assert rows[5]["duration_sec"] == -0.001 and rows[5]["missing_data_sec"] == 0.002
    assert rows[6]["duration_sec"] == 0.001  # 500 us: half a millisecond rounds up
    assert rows[6]["missing_data_sec"] == 0.001  # window 1502 us: 2 ms, minus 1 ms
    assert [rows[i]["has_data"] for i in range(1, 8)] == [True, False, False, True, True,
                                                         True, False]
    assert [rows[i]["has_valid_data"] for i in range(1, 8)] == [True, False, False, False,
                                                               False, True, False]
    assert rows[2]["seed_id"] == "XX.S..HHZ" and rows[1]["seed_id"] == "GE.A..HHZ"
    assert rows[3]["seed_id"] == ".C.--." and rows[2]["channel.band_code"] == "É"
    assert rows[3]["channel.band_instrument_code"] == ""
    assert rows[2]["channel.instrument_code"] == ""
    assert [rows[i]["station.has_inventory"] for i in (1, 2, 3)] == [True, False, False]
    assert [rows[i]["classlabels_count"] for i in (1, 2, 4)] == [2, 0, 1]


def test_selection_on_rounded_seconds_finds_the_segment(edge_url):
    """stream2segment's selections on three-decimal values hit (pushed down and in Polars)."""
    lf = s2sframe.scan(edge_url)
    for selection, ids in [({"duration_sec": "240.564"}, [1]),
                           ({"missing_data_sec": "9.436"}, [1]),
                           ({"duration_sec": "-0.001"}, [5]),
                           ({"missing_data_ratio": "null"}, [2, 3])]:
        query = lf.filter(s2sframe.where(selection)).select("id")
        assert "applied by Polars" not in s2sframe.explain(query)
        assert query.collect()["id"].to_list() == ids, selection
    session = get_session(edge_url)
    try:
        assert [s.id for s in session.query(Segment).filter(Segment.duration_sec == 240.564)] == [1]
        assert [s.id for s in session.query(Segment).filter(
            Segment.missing_data_ratio.is_(None)).order_by(Segment.id)] == [2, 3]
    finally:
        close_session(session)


def test_dates_before_year_1000(edge_url):
    lf = s2sframe.scan(edge_url)
    for expr, ids in [(pl.col("start_time") > dt.datetime(899, 12, 31), [1, 2, 5, 6, 7]),
                      (pl.col("start_time") < dt.datetime(1000, 1, 1), [4, 7]),
                      (pl.col("end_time").is_between(dt.datetime(999, 1, 1),
                                                      dt.datetime(999, 12, 31)), [7]),
                      (pl.col("start_time") == dt.datetime(900, 1, 1), [7])]:
        query = lf.filter(expr).select("id")
        assert "applied by Polars" not in s2sframe.explain(query)
        assert query.collect()["id"].to_list() == ids, expr
    assert lf.filter(s2sframe.where({"start_time": "[0900-01-01, 0999-01-01]"})).select(
        "id").collect()["id"].to_list() == [7]


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql",
                                                            marks=pytest.mark.postgres)])
def test_every_segment_is_found_by_its_own_rounded_values(backend, request, tmp_path):
    """Selecting a segment by the three-decimal values it shows finds it (issue: 8 of 73)."""
    from s2sframe.testing import make_database
    from tests.conftest import new_pg_database

    url = ("sqlite:///" + str(tmp_path / "m.sqlite") if backend == "sqlite"
           else new_pg_database(request))
    make_database(url, events=4, stations=4, metadata_only=True, seed=11)
    lf = s2sframe.scan(url)
    rows = lf.select("id", "duration_sec", "missing_data_sec").drop_nulls().collect()
    assert rows.height >= 20
    session = get_session(url)
    try:
        for sid, dur, miss in rows.iter_rows():
            selection = {"duration_sec": f"{dur:.3f}", "missing_data_sec": f"{miss:.3f}"}
            found = lf.filter(s2sframe.where(selection)).select("id").collect()["id"]
            assert sid in found.to_list(), (sid, selection)
            query = session.query(Segment.id).filter(Segment.duration_sec == float(f"{dur:.3f}"))
            assert sid in [i for (i,) in query], (sid, dur)
    finally:
        close_session(session)


def test_the_example_database_of_stream2segment(example_db):
    """On a database stream2segment wrote: each segment found by its own values."""
    url = "sqlite:///" + str(example_db)
    lf = s2sframe.scan(url)
    rows = lf.select("id", "duration_sec", "missing_data_sec").drop_nulls().collect()
    assert rows.height > 0
    for sid, dur, miss in rows.iter_rows():
        selection = {"duration_sec": f"{dur:.3f}", "missing_data_sec": f"{miss:.3f}"}
        assert lf.filter(s2sframe.where(selection)).select("id").collect()["id"].to_list() \
            == [sid]


FLOATS = [n for n in DERIVED if A.ATTRIBUTES[n].dtype == pl.Float64]


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql",
                                                               marks=pytest.mark.postgres)])
def example_any(request, tmp_path_factory) -> str:
    """The example database of ``s2s init`` (89 segments), on SQLite or PostgreSQL."""
    from s2sframe.testing import example_database

    url = example_database(tmp_path_factory.mktemp("example") / "example.sqlite")
    if request.param == "sqlite":
        return url
    from tests.conftest import new_pg_database

    pg = new_pg_database(request)
    s2sframe.copy_database(url, pg)
    return pg


def test_each_derived_float_read_on_one_path_selects_its_row_on_the_others(example_any):
    """A derived float read from a frame (Polars), from SQL or from an ORM object is the
    same double, and selects its row when compared for equality on the other paths:
    pushed down to SQL by a frame filter, in an ORM query, in Polars (issue 19 §7:
    ``duration_sec`` 243.48000000000002 in frames, 243.48 in SQL)."""
    import functools
    import operator

    lf = s2sframe.scan(example_any)
    frame = lf.select("id", *FLOATS).collect()
    polars = {n: dict(zip(frame["id"], frame[n].to_list(), strict=True)) for n in FLOATS}
    paths = {"polars": polars, "sql": _sql_values(example_any), "orm": _orm_values(example_any)}
    for name in FLOATS:
        for path, values in paths.items():  # the same double on the three paths
            for sid, value in values[name].items():
                assert all(_same(value, other[name][sid]) for other in paths.values()), \
                    (name, path, sid, {p: o[name][sid] for p, o in paths.items()})
    session = get_session(example_any)
    try:
        for name in FLOATS:
            rows = {sid: v for sid, v in polars[name].items() if v is not None}
            assert len(rows) > 50, name
            # each value selects its row: a frame filter (pushed down to SQL) ...
            query = lf.filter(functools.reduce(operator.or_, [
                pl.col(name) == v for v in rows.values()])).select("id")
            assert "applied by Polars" not in s2sframe.explain(query)
            assert sorted(query.collect()["id"]) == sorted(rows), name
            # ... an ORM query (the registry's SQL, with bound parameters) ...
            column = getattr(Segment, name)
            orm = session.query(Segment.id).filter(sa.or_(*[column == v for v in rows.values()]))
            assert sorted(i for (i,) in orm) == sorted(rows), name
            # ... and Polars on the loaded frame
            assert sorted(frame.filter(pl.col(name).is_in(list(rows.values())))["id"]) \
                == sorted(rows), name
    finally:
        close_session(session)


def test_seconds_in_polars_are_the_nearest_doubles():
    """Polars' division of a column by a number is a multiplication by its inverse; the
    seconds of milliseconds must be the correctly rounded quotient on every path."""
    import random

    rng = random.Random(3)
    millis = [rng.randrange(-10**15, 10**15) for _ in range(20000)] + list(range(-3000, 3000))
    node = A.ATTRIBUTES["duration_sec"].expr
    frame = pl.DataFrame({"ms": millis}).with_columns(
        start_time=pl.lit(dt.datetime(2000, 1, 1)),
    ).with_columns(end_time=pl.col("start_time") + pl.duration(milliseconds=pl.col("ms")))
    seconds = frame.select(node.polars().alias("s")).to_series().to_list()
    assert seconds == [m / 1000 for m in millis]
