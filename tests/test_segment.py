"""The Segment object and lazy access on frames (``df.s2s.segment(s)``), both backends."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

import s2sframe
from s2sframe import SkipSegment
from s2sframe.db.urls import get_engine
from s2sframe.engine.namespace import S2SLazyNamespace, S2SNamespace, s2s
from s2sframe.testing import make_database

COUNTS_2 = [-314, -280, -251]
VEL_2 = [-1.42699395e-06, -1.43603990e-06, -1.42210201e-06]


@pytest.fixture(scope="module")
def example_df(example_url: str) -> pl.DataFrame:
    return s2sframe.scan(example_url).collect()


# ------------------------------------------------------------------ example database
def test_example_segment_stream_and_response(example_df: pl.DataFrame, example_url: str):
    seg = example_df.s2s.segment(id=2, dburl=example_url)
    assert seg.stream()[0].data[:3].tolist() == COUNTS_2
    trace = seg.stream()[0].copy()
    trace.remove_response(seg.inventory())
    np.testing.assert_allclose(trace.data[:3], VEL_2, rtol=1e-7)
    assert seg.stream()[0].data[:3].tolist() == COUNTS_2  # the copy left the cache alone


def test_stream_cache_keeps_in_place_changes_until_reload(example_df, example_url):
    seg = example_df.s2s.segment(id=2, dburl=example_url)
    first = seg.stream()
    assert seg.stream() is first
    seg.stream()[0].remove_response(seg.inventory())  # the stream2segment caveat
    assert seg.stream() is first
    np.testing.assert_allclose(seg.stream()[0].data[:3], VEL_2, rtol=1e-7)
    fresh = seg.stream(reload=True)
    assert fresh is not first
    assert fresh[0].data[:3].tolist() == COUNTS_2
    assert seg.stream() is fresh


def test_inventory_cached_reload_and_stationxml(example_df, example_url):
    seg = example_df.s2s.segment(id=2, dburl=example_url)
    inv = seg.inventory()
    assert seg.inventory() is inv
    assert seg.station.inventory() is inv  # stream2segment spelling
    again = seg.inventory(reload=True)
    assert again is not inv and again[0][0].code == "MTE"
    xml = seg.inventory(format="stationxml")
    assert isinstance(xml, bytes) and b"FDSNStationXML" in xml[:500]


def test_row_attributes_nested_and_fetched(example_url):
    df = s2sframe.scan(example_url).select("id", "event.magnitude").collect()
    seg = df.s2s.segment(1, dburl=example_url)
    assert seg.id == 2
    assert seg.event.magnitude == 8.1  # from the frame
    # not in the frame: fetched from the database on access
    assert seg.station.network == "GE"
    assert seg.missing_data_sec == pytest.approx(-21.25)
    assert seg.event_distance_km == pytest.approx(8621.3470, abs=1e-3)
    assert seg.seed_id == "GE.MTE..BHZ"
    assert seg.channel.orientation_code == "Z"
    assert "magnitude" in dir(seg.event)


def test_unknown_attributes_suggest_close_names(example_df, example_url):
    seg = example_df.s2s.segment(id=2, dburl=example_url)
    with pytest.raises(AttributeError, match="event.magnitude"):
        seg.event.magnitud  # noqa: B018
    with pytest.raises(AttributeError, match="has_data"):
        seg.has_dat  # noqa: B018


def test_sds_path_url_seed_id(example_df, example_url):
    seg = example_df.s2s.segment(id=2, dburl=example_url)
    assert seg.sds_path("/data") == "/data/1/2017/GE/MTE/BHZ.D/GE.MTE..BHZ.D.2017.251"
    assert seg.url == (
        "http://geofon.gfz-potsdam.de/fdsnws/dataselect/1/query?net=GE&sta=MTE&loc="
        "&cha=BHZ&start=2017-09-08T04:59:09&end=2017-09-08T05:03:09"
    )
    assert seg.data[:1] and len(seg.data) > 1000


def test_segments_iterates_in_batches(example_url, sqlite_url_factory):
    url = sqlite_url_factory()
    make_database(url, events=3, stations=3, seed=2)  # 27 segments
    df = s2sframe.scan(url).select("id", "has_data").collect().sort("id", descending=True)
    engine = get_engine(url, readonly=True)
    data_queries = []

    def count(conn, cursor, statement, *args):
        if "segments.data" in statement:
            data_queries.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        segs = list(df.s2s.segments(batch_size=10, dburl=url))
        assert [s.id for s in segs] == df["id"].to_list()
        assert len(data_queries) == 3  # 27 segments, batches of 10: one query each
        assert [bool(s.data) for s in segs] == df["has_data"].to_list()
        assert len(data_queries) == 3  # reading .data fetched nothing more
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


# ----------------------------------------------------------- generated databases
@pytest.fixture
def generated(db_url_factory) -> tuple[str, pl.DataFrame]:
    url = db_url_factory()
    make_database(url, events=3, stations=4, seed=1)  # 36 segments, station 4 without inventory
    return url, s2sframe.scan(url).collect()


def test_missing_and_invalid_bytes_raise_skipsegment(generated):
    url, df = generated
    corrupt = df.filter(pl.col("download_code") == -2, pl.col("has_data"))
    empty = df.filter(~pl.col("has_data"))
    no_inv = df.filter(~pl.col("station.has_inventory"), pl.col("has_valid_data"))
    assert corrupt.height and empty.height and no_inv.height
    with pytest.raises(SkipSegment, match="invalid miniSEED"):
        corrupt.s2s.segment(0, dburl=url).stream()
    with pytest.raises(SkipSegment, match="no waveform data"):
        empty.s2s.segment(0, dburl=url).stream()
    seg = no_inv.s2s.segment(0, dburl=url)
    assert len(seg.stream()[0].data) > 0
    with pytest.raises(SkipSegment, match="inventory.*no inventory"):
        seg.inventory()
    with pytest.raises(SkipSegment, match="inventory"):
        seg.inventory(format="stationxml")


def test_segments_of_a_station_share_one_parsed_inventory(generated):
    url, df = generated
    ok = df.filter(pl.col("station.has_inventory"), pl.col("has_valid_data"))
    station = ok["station.id"][0]
    segs = list(ok.filter(pl.col("station.id") == station).s2s.segments(dburl=url))
    assert len(segs) >= 2
    assert len({id(s.inventory()) for s in segs}) == 1


# ---------------------------------------------------------------------- namespace
def test_namespace_needs_an_id_column():
    with pytest.raises(ValueError, match="'id' column"):
        pl.DataFrame({"x": [1]}).s2s  # noqa: B018
    with pytest.raises(ValueError, match="LazyFrame"):
        pl.LazyFrame({"x": [1]}).s2s  # noqa: B018


def test_typed_accessor_and_lazy_namespace(example_url):
    lf = s2sframe.scan(example_url).select("id")
    assert isinstance(s2s(lf), S2SLazyNamespace)
    assert isinstance(s2s(lf.collect()), S2SNamespace)
    assert lf.s2s.segment(id=1, dburl=example_url).stream()[0].data[:3].tolist() == [196, 211, 94]
    with pytest.raises(TypeError):
        s2s([1, 2])  # type: ignore[call-overload]


def test_segment_lookup_errors(example_df, example_url):
    with pytest.raises(KeyError, match="99"):
        example_df.s2s.segment(id=99, dburl=example_url)
    with pytest.raises(IndexError):
        example_df.s2s.segment(5, dburl=example_url)
    with pytest.raises(TypeError):
        example_df.s2s.segment(dburl=example_url)
    assert example_df.s2s.segment(-1, dburl=example_url).id == example_df["id"][-1]
