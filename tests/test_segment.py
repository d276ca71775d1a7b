"""The Segment object and lazy access on frames (``df.s2s.segment(s)``), both backends."""

from __future__ import annotations

import gzip
import io
import sqlite3

import numpy as np
import obspy
import polars as pl
import pytest
import sqlalchemy as sa

import s2sframe
from s2sframe import SkipSegment
from s2sframe.db.urls import get_engine
from s2sframe.engine.namespace import S2SLazyNamespace, S2SNamespace, s2s
from s2sframe.testing import example_database, make_database


@pytest.fixture(scope="module")
def example_url(tmp_path_factory) -> str:
    """The demo database of ``s2s init`` (126 segments, real Steim2 bytes and responses)."""
    return example_database(tmp_path_factory.mktemp("segdb") / "example.db.sqlite")


@pytest.fixture(scope="module")
def example_df(example_url: str) -> pl.DataFrame:
    return s2sframe.scan(example_url).collect()


@pytest.fixture(scope="module")
def sid(example_df: pl.DataFrame) -> int:
    """A segment with data and inventory, whose channel has a location code."""
    ok = example_df.filter(pl.col("has_valid_data"), pl.col("station.has_inventory"),
                           pl.col("channel.location") != "")
    return int(ok["id"][0])


@pytest.fixture(scope="module")
def raw(example_url: str, sid: int) -> dict:
    """The segment read with sqlite3 and decoded by ObsPy itself (not by s2sframe)."""
    path = example_url.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        data, xml, station = conn.execute(
            "select s.data, st.inventory_xml, st.station from segments s "
            "join channels c on c.id = s.channel_id join stations st on st.id = c.station_id "
            "where s.id = ?", (sid,)).fetchone()
    trace = obspy.read(io.BytesIO(data))[0]
    inventory = obspy.read_inventory(io.BytesIO(gzip.decompress(xml)))
    vel = trace.copy().remove_response(inventory).data
    return {"data": data, "counts": trace.data[:3].tolist(), "vel": vel[:3], "station": station}


# ------------------------------------------------------------------ example database
def test_example_segment_stream_and_response(example_df, example_url, sid, raw):
    seg = example_df.s2s.segment(id=sid, dburl=example_url)
    assert seg.stream()[0].data[:3].tolist() == raw["counts"]
    trace = seg.stream()[0].copy()
    trace.remove_response(seg.inventory())
    np.testing.assert_allclose(trace.data[:3], raw["vel"], rtol=1e-7)
    assert seg.stream()[0].data[:3].tolist() == raw["counts"]  # the copy left the cache alone


def test_stream_cache_keeps_in_place_changes_until_reload(example_df, example_url, sid, raw):
    seg = example_df.s2s.segment(id=sid, dburl=example_url)
    first = seg.stream()
    assert seg.stream() is first
    seg.stream()[0].remove_response(seg.inventory())  # the stream2segment caveat
    assert seg.stream() is first
    np.testing.assert_allclose(seg.stream()[0].data[:3], raw["vel"], rtol=1e-7)
    fresh = seg.stream(reload=True)
    assert fresh is not first
    assert fresh[0].data[:3].tolist() == raw["counts"]
    assert seg.stream() is fresh


def test_inventory_cached_reload_and_stationxml(example_df, example_url, sid, raw):
    seg = example_df.s2s.segment(id=sid, dburl=example_url)
    inv = seg.inventory()
    assert seg.inventory() is inv
    assert seg.station.inventory() is inv  # stream2segment spelling
    again = seg.inventory(reload=True)
    assert again is not inv and again[0][0].code == raw["station"]
    xml = seg.inventory(format="stationxml")
    assert isinstance(xml, bytes) and b"FDSNStationXML" in xml[:500]


def test_row_attributes_nested_and_fetched(example_df, example_url, sid):
    df = s2sframe.scan(example_url).select("id", "event.magnitude").collect()
    row = example_df.filter(pl.col("id") == sid).row(0, named=True)
    index = df["id"].to_list().index(sid)
    seg = df.s2s.segment(index, dburl=example_url)
    assert seg.id == sid
    assert seg.event.magnitude == row["event.magnitude"]  # from the frame
    # not in the frame: fetched from the database on access
    assert seg.station.network == row["station.network"]
    assert seg.missing_data_sec == row["missing_data_sec"]
    assert seg.event_distance_km == row["event_distance_km"]
    assert seg.seed_id == row["seed_id"] and seg.seed_id.split(".")[2] != ""
    assert seg.channel.orientation_code == row["channel.channel"][-1]
    assert "magnitude" in dir(seg.event)


def test_unknown_attributes_suggest_close_names(example_df, example_url, sid):
    seg = example_df.s2s.segment(id=sid, dburl=example_url)
    with pytest.raises(AttributeError, match="event.magnitude"):
        seg.event.magnitud  # noqa: B018
    with pytest.raises(AttributeError, match="has_data"):
        seg.has_dat  # noqa: B018


def test_sds_path_url_seed_id(example_df, example_url, sid, raw):
    seg = example_df.s2s.segment(id=sid, dburl=example_url)
    row = example_df.filter(pl.col("id") == sid).row(0, named=True)
    net, sta, loc, cha = row["seed_id"].split(".")
    start, end = row["request_start"], row["request_end"]
    day = f"{start.year}.{start.timetuple().tm_yday:03d}"
    assert seg.sds_path("/data") == (
        f"/data/{row['event_id']}/{start.year}/{net}/{sta}/{loc}/{cha}.D/"
        f"{net}.{sta}.{loc}.{cha}.D.{day}"
    )
    assert seg.url == (
        f"{row['datacenter.dataselect_url']}?net={net}&sta={sta}&loc={loc}&cha={cha}"
        f"&start={start.isoformat()}&end={end.isoformat()}"
    )
    assert seg.data == raw["data"]
    # an empty location code: no folder, and 'loc=' empty in the URL (as stream2segment)
    blank = example_df.filter(pl.col("channel.location") == "").row(0, named=True)
    seg = example_df.s2s.segment(id=blank["id"], dburl=example_url)
    assert f"/{blank['station.station']}/{blank['channel.channel']}.D/" in seg.sds_path("/data")
    assert "&loc=&cha=" in seg.url


def test_segments_iterates_in_batches(sqlite_url_factory):
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


def test_typed_accessor_and_lazy_namespace(example_url, sid, raw):
    lf = s2sframe.scan(example_url).select("id")
    assert isinstance(s2s(lf), S2SLazyNamespace)
    assert isinstance(s2s(lf.collect()), S2SNamespace)
    assert lf.s2s.segment(id=sid, dburl=example_url).stream()[0].data[:3].tolist() == \
        raw["counts"]
    with pytest.raises(TypeError):
        s2s([1, 2])  # type: ignore[call-overload]


def test_segment_lookup_errors(example_df, example_url):
    with pytest.raises(KeyError, match="999"):
        example_df.s2s.segment(id=999, dburl=example_url)
    with pytest.raises(IndexError):
        example_df.s2s.segment(example_df.height, dburl=example_url)
    with pytest.raises(TypeError):
        example_df.s2s.segment(dburl=example_url)
    assert example_df.s2s.segment(-1, dburl=example_url).id == example_df["id"][-1]
