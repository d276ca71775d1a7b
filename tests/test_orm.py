"""ORM models, sessions and queries of s2sframe.process (stream2segment API), both backends."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import obspy
import polars as pl
import pytest
import sqlalchemy as sa
import sqlalchemy.orm  # noqa: F401 - conftest's pg teardown uses sa.orm
from sqlalchemy.orm.exc import DetachedInstanceError

import s2sframe
from s2sframe.db import schema as S
from s2sframe.db.copy import copy_database
from s2sframe.exceptions import DatabaseError, SelectionError, SkipSegment
from s2sframe.process import (
    Channel,
    Class,
    ClassLabelling,
    DataCenter,
    Download,
    Event,
    Segment,
    Station,
    WebService,
    close_session,
    get_classlabels,
    get_db_items,
    get_segments,
    get_session,
    load_only,
)
from s2sframe.testing import make_database
from tests import smalldb
from tests.conftest import BACKENDS, new_pg_database

SELECTION = {"has_data": "true", "maxgap_numsamples": "[-0.5, 0.5]"}
# 2 events x 2 stations (networks GE, IV; one channel each, location '00'): 4 segments,
# ids 1, 2 (event 1) and 3, 4 (event 2), all with data and StationXML
EXAMPLE = {"events": 2, "stations": 2, "channels_per_station": 1, "seed": 1}


@pytest.fixture(scope="module", params=BACKENDS)
def example_any_url(request, tmp_path_factory) -> str:
    """A realistic database written by s2sframe.testing; on PostgreSQL a copy of it."""
    src = "sqlite:///" + str(tmp_path_factory.mktemp("orm") / "example.sqlite")
    make_database(src, **EXAMPLE)
    if request.param == "sqlite":
        return src
    url = new_pg_database(request)
    copy_database(src, url)
    return url


@pytest.fixture(scope="module")
def frame(example_any_url: str) -> pl.DataFrame:
    """Every attribute of every segment, as scan() reads them (the reference)."""
    return s2sframe.scan(example_any_url).collect().sort("id")


def _row(frame: pl.DataFrame, sid: int) -> dict:
    return frame.filter(pl.col("id") == sid).row(0, named=True)


def _ids(frame: pl.DataFrame, *predicates: pl.Expr) -> list[int]:
    return frame.filter(*predicates)["id"].sort().to_list()


def _raw_waveform(url: str, sid: int) -> tuple[list[int], np.ndarray]:
    """First counts and velocities of a segment, read with SQL and decoded by ObsPy itself."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        data, xml = conn.execute(sa.text(
            "select s.data, st.inventory_xml from segments s join channels c on "
            "c.id = s.channel_id join stations st on st.id = c.station_id where s.id = :i"),
            {"i": sid}).one()
    engine.dispose()
    trace = obspy.read(io.BytesIO(bytes(data)))[0]
    inventory = obspy.read_inventory(io.BytesIO(gzip.decompress(bytes(xml))))
    return trace.data[:3].tolist(), trace.copy().remove_response(inventory).data[:3]


@pytest.fixture
def session(example_any_url: str) -> Iterator[sa.orm.Session]:
    sess = get_session(example_any_url)
    yield sess
    close_session(sess)


# ------------------------------------------------------------------------------ mapping
def test_models_are_mapped_on_the_schema_tables():
    pairs = {Segment: S.segments, Event: S.events, Station: S.stations, Channel: S.channels,
             DataCenter: S.data_centers, Download: S.downloads, Class: S.classes,
             ClassLabelling: S.class_labellings, WebService: S.web_services}
    for model, table in pairs.items():
        assert model.__table__ is table, model
    assert Event.event_type is not None  # mapped, though optional


def test_relationships_and_back_references(session, frame):
    seg, r = session.get(Segment, 2), _row(frame, 2)
    assert (seg.event.magnitude, seg.event.mag_type) == (r["event.magnitude"], r["event.mag_type"])
    assert (seg.station.network, seg.station.station) == (r["station.network"],
                                                          r["station.station"])
    assert seg.station is seg.channel.station  # through the channel, same identity
    assert seg.channel.channel == r["channel.channel"] and seg.download.id == seg.download_id
    assert seg.datacenter.dataselect_url == r["datacenter.dataselect_url"]
    assert sorted(s.id for s in seg.event.segments) == _ids(frame, pl.col("event_id") == 1) \
        == [1, 2]
    assert sorted(s.id for s in seg.channel.segments) == \
        _ids(frame, pl.col("channel_id") == r["channel_id"]) == [2, 4]
    station_ids = _ids(frame, pl.col("station.id") == r["station.id"])
    assert sorted(s.id for s in seg.station.segments) == station_ids
    assert seg.station.segments.count() == len(station_ids)  # dynamic: a query
    assert sorted(s.id for s in seg.datacenter.segments) == \
        _ids(frame, pl.col("datacenter_id") == r["datacenter_id"])
    assert [c.channel for c in seg.station.channels] == [r["channel.channel"]]
    assert sorted(s.station for s in seg.datacenter.stations) == sorted(
        frame.filter(pl.col("station.datacenter_id") == r["datacenter_id"])["station.station"]
        .unique())
    assert seg.download.segments.filter(Segment.id == 2).one() is seg
    assert sorted(c.label for c in seg.classes) == sorted(seg.classlabels) == \
        sorted(r["classes.label"])


def test_back_references_with_load_only_names_and_attributes(session):
    evt = session.get(Segment, 2).event
    session.expunge_all()
    evt = session.get(Event, 1)
    with_names = evt.segments.options(load_only("id")).all()
    assert [s.id for s in with_names] == [1, 2]  # segments 1 and 2 are event 1's
    assert "data" not in sa.inspect(with_names[0]).dict  # only the id was loaded
    assert [s.id for s in evt.segments.options(load_only(Segment.id)).all()] == [1, 2]
    assert evt.segments.options(load_only("id")).count() == 2
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        evt.segments.options(load_only("nope")).all()
    with pytest.raises(TypeError):
        load_only("id", Segment.id)


def test_str_lists_loaded_attributes_and_relations(session, frame):
    evt = session.get(Event, 1)
    r = _row(frame, 1)
    text = str(evt)
    lines = text.splitlines()
    assert lines[0] == "Event" and lines[1] == " attributes (16 of 16 loaded):"
    assert f"  magnitude: {r['event.magnitude']} (float)" in lines
    event_id = r["event.event_id"]
    assert len(event_id) > 10
    assert f"  event_id: {event_id[:10]} (str, {len(event_id)} characters, showing first 10 " \
        "only)" in lines
    assert lines[-3:] == [" related_objects (0 of 2 loaded):", "  webservice", "  segments"]
    seg = session.query(Segment).options(load_only(Segment.id)).filter(Segment.id == 1).one()
    assert f" attributes (1 of {len(S.segments.columns)} loaded):" in str(seg)
    assert repr(seg) == "<Segment id=1>"


# ------------------------------------------------------------------- derived attributes
def test_derived_attributes_equal_the_frame(session, frame):
    for r in frame.iter_rows(named=True):
        seg = session.get(Segment, r["id"])
        for name in ("event_distance_km", "duration_sec", "missing_data_sec",
                     "missing_data_ratio"):
            assert getattr(seg, name) == pytest.approx(r[name], rel=1e-9, abs=1e-6), name
        assert seg.seed_id == r["seed_id"]
    values = sorted(frame["missing_data_sec"])
    threshold = (values[1] + values[2]) / 2  # two segments on each side
    q = session.query(Segment.id).filter(Segment.missing_data_sec < threshold)
    assert sorted(i for (i,) in q) == _ids(frame, pl.col("missing_data_sec") < threshold)
    assert len(q.all()) == 2
    seed_id = _row(frame, 1)["seed_id"]
    q = session.query(Segment.id, Segment.seed_id).filter(Segment.seed_id == seed_id)
    # correlated subquery: no explicit join needed; segment 3 is the same channel
    assert sorted(q.all()) == [(1, seed_id), (3, seed_id)]
    stations = frame.unique("station.id").sort("station.id")
    assert session.query(Station.netsta_code).order_by(Station.id).all() == \
        [(n,) for n in stations["station.netsta_code"]]


DERIVED = ["has_data", "has_valid_data", "event_distance_km", "duration_sec",
           "missing_data_sec", "missing_data_ratio", "seed_id", "classlabels_count"]
STATION_DERIVED = ["netsta_code", "has_inventory"]
CHANNEL_DERIVED = ["band_code", "instrument_code", "orientation_code", "band_instrument_code"]


def _same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9,
                                                                abs_tol=1e-6)
    return a == b


def test_hybrids_python_side_equals_sql_side_equals_scan(small_url):
    """One formula per attribute: objects, SQL (the registry's) and scan() agree."""
    frame = s2sframe.scan(small_url).collect()
    session = get_session(small_url)
    try:
        for row in frame.iter_rows(named=True):
            seg = session.get(Segment, row["id"])
            for name in DERIVED:
                sql = session.query(getattr(Segment, name)).filter(
                    Segment.id == row["id"]).scalar()
                py = getattr(seg, name)
                assert _same(py, sql), (row["id"], name, py, sql)
                assert _same(py, row[name]), (row["id"], name, py, row[name])
            for name in STATION_DERIVED:
                sql = session.query(getattr(Station, name)).filter(
                    Station.id == seg.station.id).scalar()
                assert getattr(seg.station, name) == sql == row[f"station.{name}"], name
            for name in CHANNEL_DERIVED:
                sql = session.query(getattr(Channel, name)).filter(
                    Channel.id == seg.channel_id).scalar()
                assert getattr(seg.channel, name) == sql == row[f"channel.{name}"], name
    finally:
        close_session(session)


def test_legacy_database_without_event_type(legacy_url):
    session = get_session(legacy_url)
    try:
        evt = session.get(Event, 2)
        assert evt.event_type is None and evt.magnitude == 4.5
        assert " attributes (16 of 16 loaded):" in str(evt)
        assert session.query(Event).filter(Event.event_type == "earthquake").count() == 0
        seg = session.get(Segment, 4)
        assert seg.event.event_type is None
        with pytest.raises(SelectionError, match="events.event_type"):
            list(get_segments(session, {"event.event_type": "earthquake"}))
        assert [s.id for s in get_segments(session, {"event.magnitude": "4.5"})] == [4, 5]
    finally:
        close_session(session)


def test_event_type_is_read_where_present(small_url):
    session = get_session(small_url)
    try:
        assert session.get(Event, 2).event_type == "earthquake"
        assert [e.id for e in session.query(Event).filter(Event.event_type == "earthquake")
                .order_by(Event.id)] == [2, 3]
        assert [e.id for e in get_db_items(session, Event, {"event_type": "null"})] == [1]
    finally:
        close_session(session)


# ------------------------------------------------------------------------ get_segments
def test_get_segments_with_url_detaches_after_the_loop(example_any_url, frame):
    for seg in get_segments(example_any_url, SELECTION):  # noqa: B007
        break
    first = _ids(frame, s2sframe.where(SELECTION))[0]
    assert seg.id == first  # loaded attributes stay:
    assert seg.maxgap_numsamples == _row(frame, first)["maxgap_numsamples"]
    with pytest.raises(DetachedInstanceError, match="is not bound to a Session"):
        seg.event  # noqa: B018
    assert seg.dbsession is None


def test_get_segments_with_session_keeps_objects_usable(session, frame):
    segs = list(get_segments(session, SELECTION))
    assert [s.id for s in segs] == _ids(frame, s2sframe.where(SELECTION))
    assert segs[0].event.magnitude == _row(frame, segs[0].id)["event.magnitude"]
    assert segs[0].dbsession is session
    station = _row(frame, 1)["station.station"]
    by_distance = frame.filter(pl.col("station.station") == station).sort(
        "event_distance_deg", descending=True)["id"].to_list()
    assert [s.id for s in get_segments(session, {"station.station": f"{station} XXXX"},
                                        orderby=[("event_distance_deg", "desc")])] == \
        by_distance
    assert [s.id for s in get_segments(session, None, orderby="event_distance_km")] == \
        frame.sort("event_distance_km")["id"].to_list()
    assert [s.id for s in get_segments(session, {"id": "[1, 2]"}, load_only=["id"])] == [1, 2]
    session.expunge_all()  # segs holds segment 1, loaded with its data
    seg = next(iter(get_segments(session, {"id": "1"}, defer="data")))
    assert "data" not in sa.inspect(seg).dict


def test_get_segments_selections_match_scan(small_url):
    selections = [
        {"has_valid_data": "true"}, {"classes.label": "good"}, {"classes.id": "null"},
        {"station.network": "GE", "missing_data_sec": "<0"}, {"seed_id": "GE.AAA..HHZ"},
        {"channel.band_instrument_code": "HH BH"}, {"event.time": "[2020-01-01, 2020-01-02)"},
        {"download.run_time": "<2020-01-02"}, {"station.has_inventory": "true"},
    ]
    lf = s2sframe.scan(small_url)
    session = get_session(small_url)
    try:
        for sel in selections:
            want = lf.filter(s2sframe.where(sel)).select("id").collect()["id"].to_list()
            got = [s.id for s in get_segments(session, sel)]
            assert got == sorted(want), sel
        # a condition the SQL translation leaves out: evaluated by scan(), same result
        expr = (pl.col("event.magnitude") * 2).round(0) == 9
        want = lf.filter(expr).select("id").collect()["id"].sort().to_list()
        assert [s.id for s in get_segments(session, expr)] == want == [4, 5]
    finally:
        close_session(session)


def test_get_db_items_of_other_types_and_errors(session, frame):
    events = frame.unique("event_id").sort("event_id")
    top = events["event.magnitude"].max()
    assert [e.event_id for e in get_db_items(session, Event, {"magnitude": f">={top}"})] == \
        events.filter(pl.col("event.magnitude") >= top)["event.event_id"].to_list()
    stations = frame.unique("station.id")
    networks = " ".join(stations["station.network"])
    assert [s.station for s in get_db_items(session, Station, {"network": networks},
                                            orderby=[("station", "desc")])] == \
        stations["station.station"].sort(descending=True).to_list()
    assert [c.channel for c in get_db_items(session, Channel, None)] == \
        frame.unique("channel_id").sort("channel_id")["channel.channel"].to_list()
    assert len(list(get_db_items(session, DataCenter, {"id": "1"}))) == 1
    engine = session.get_bind()
    with engine.connect() as conn:
        labels = [lab for (lab,) in conn.execute(sa.text("select label from classes order by id"))]
    assert [c.label for c in get_classlabels(session)] == labels and labels
    with pytest.raises(SelectionError, match="Unknown attribute 'event.magnitud'"):
        list(get_db_items(session, Event, {"magnitud": "1"}))
    with pytest.raises(SelectionError, match="Class"):
        list(get_db_items(session, Class, {"label": "x"}))
    with pytest.raises(ValueError, match="both load_only and defer"):
        list(get_db_items(session, Segment, None, load_only="id", defer=["id"]))


def test_get_session_errors_create_nothing(tmp_path: Path):
    missing = tmp_path / "missing.sqlite"
    with pytest.raises(DatabaseError, match="not found"):
        get_session("sqlite:///" + str(missing))
    assert not missing.exists()
    empty = tmp_path / "empty.sqlite"
    sa.create_engine("sqlite:///" + str(empty)).connect().close()
    with pytest.raises(DatabaseError, match="not a stream2segment database"):
        get_session("sqlite:///" + str(empty))


def test_get_session_masks_passwords():
    with pytest.raises(DatabaseError) as info:
        get_session("postgresql://me:s3cr3t@127.0.0.1:1/nodb")
    assert "s3cr3t" not in str(info.value) and "***" in str(info.value)


def test_close_session(tmp_path: Path):
    url = "sqlite:///" + str(tmp_path / "db.sqlite")
    make_database(url, events=1, stations=1, channels_per_station=1)
    session = get_session(url)
    seg = session.get(Segment, 1)
    assert close_session(session) is True
    assert sa.inspect(seg).detached
    assert close_session(session, dispose_engine=False) is True  # already closed: fine


# ------------------------------------------------------------------ segment methods
def test_stream_and_inventory(session, example_any_url):
    counts, vel = _raw_waveform(example_any_url, 2)
    seg = session.get(Segment, 2)
    first = seg.stream()
    assert first[0].data[:3].tolist() == counts and seg.stream() is first
    first[0].remove_response(seg.inventory())  # in place: the cached stream changed
    np.testing.assert_allclose(seg.stream()[0].data[:3], vel, rtol=1e-7)
    assert seg.stream(reload=True)[0].data[:3].tolist() == counts
    inv = seg.inventory()
    assert seg.inventory() is inv and seg.station.inventory() is inv
    assert seg.inventory(reload=True) is not inv
    xml = seg.inventory(format="stationxml")
    assert isinstance(xml, bytes) and b"FDSNStationXML" in xml[:500]
    assert seg.inventory(format="stationtxt").startswith("#Network|Station")
    with pytest.raises(ValueError, match="format"):
        seg.inventory(format="json")


def test_stream_and_inventory_errors_are_skips(small_url):
    session = get_session(small_url)
    try:
        with pytest.raises(SkipSegment, match="no waveform data"):
            session.get(Segment, 1).stream()
        with pytest.raises(SkipSegment, match="invalid miniSEED"):
            session.get(Segment, 2).stream()
        with pytest.raises(SkipSegment, match="station 2: no inventory"):
            session.get(Segment, 2).inventory()  # station BBB has none
        with pytest.raises(SkipSegment, match="invalid"):
            session.get(Segment, 1).inventory()  # truncated gzip
    finally:
        close_session(session)


def test_siblings_sds_path_url(session, frame):
    seg, r = session.get(Segment, 2), _row(frame, 2)
    assert seg.siblings().all() == []  # one channel per station: no other component
    assert [s.id for s in seg.siblings(include_self=True)] == [2]
    assert [s.id for s in seg.siblings("event.id")] == [1]
    assert [s.id for s in seg.siblings("station.network", "channel.channel")] == [4]
    assert seg.siblings("event_id").options(load_only(Segment.id)).count() == 1
    with pytest.raises(SelectionError, match="Unknown attribute"):
        seg.siblings("station.nope")
    net, sta, loc, cha = r["seed_id"].split(".")
    start, end = r["request_start"], r["request_end"]
    assert loc == "00"
    assert seg.sds_path("/data") == os.path.join(
        "/data", "1", str(start.year), net, sta, loc, f"{cha}.D",
        f"{net}.{sta}.{loc}.{cha}.D.{start.year}.{start.timetuple().tm_yday:03d}")
    assert seg.url == (f"{r['datacenter.dataselect_url']}?net={net}&sta={sta}&loc={loc}"
                       f"&cha={cha}&start={start.isoformat()}&end={end.isoformat()}")


def test_siblings_of_components(small_url):
    session = get_session(small_url)
    try:
        seg = session.get(Segment, 1)  # GE.AAA..HHZ, event 1
        assert [s.id for s in seg.siblings("channel.id")] == [4, 6]
        assert [s.id for s in seg.siblings("station.netsta_code", "event.magnitude")] == []
        assert [s.id for s in seg.siblings("station.network")] == [3, 4, 6, 7]
        assert [s.id for s in seg.siblings("data_seed_id")] == [3, 5, 7]  # null: IS NULL
        assert [s.id for s in session.get(Segment, 3).siblings("data_seed_id")] == [1, 5, 7]
    finally:
        close_session(session)


def test_class_labels_add_and_delete(db_url_factory):
    url = db_url_factory()
    smalldb.build(url).dispose()
    session = get_session(url)
    try:
        seg = session.get(Segment, 3)
        assert seg.classlabels == [] and seg.classlabels_count == 0
        assert seg.add_classlabel("good", 2, "no-such-label", 99) is False  # committed
        assert seg.classlabels == ["bad", "good"] and seg.classlabels_count == 2
        row = session.query(ClassLabelling).filter_by(segment_id=3, class_id=1).one()
        assert (row.is_hand_labelled, row.annotator) == (False, None)
        assert seg.add_classlabel("good") is False  # already there: nothing to do
        assert seg.del_classlabel("bad") is False
        assert seg.classlabels == ["good"]
        assert seg.add_classlabel("bad", annotator="me", commit=False) is True
        session.commit()
        row = session.query(ClassLabelling).filter_by(segment_id=3, class_id=2).one()
        assert (row.is_hand_labelled, row.annotator) == (True, "me")
        assert seg.add_classlabel("bad", empty_first=True) is False
        assert seg.classlabels == ["bad"]
        assert seg.del_classlabel() is False and seg.classlabels == []
        assert [s.id for s in get_segments(session, {"classes.label": "good"})] == [2, 4]
    finally:
        close_session(session)
    other = get_session(url)  # persisted
    try:
        assert other.get(Segment, 3).classlabels == []
        assert other.get(Segment, 2).classlabels == ["bad", "good"]
    finally:
        close_session(other)


# ----------------------------------------------------------------------- copy_database
def test_copy_database_keeps_rows_and_ids(small_url, db_url_factory):
    dst = db_url_factory()
    counts = copy_database(small_url, dst)
    assert counts == smalldb.table_counts(sa.create_engine(small_url))
    src_df = s2sframe.scan(small_url).collect()
    dst_df = s2sframe.scan(dst).collect()
    assert src_df.drop("download.run_time").equals(dst_df.drop("download.run_time"))
    session = get_session(dst)
    try:  # sequences continue after the copied ids (PostgreSQL)
        session.add(Class(label="new"))
        session.commit()
        assert session.query(Class.id).filter_by(label="new").scalar() == 3
        assert session.get(Station, 1).inventory_xml == b"\x1f\x8bxx"
    finally:
        close_session(session)
    with pytest.raises(DatabaseError, match="already holds stream2segment rows"):
        copy_database(small_url, dst)


def test_copy_legacy_database(legacy_url, tmp_path: Path):
    dst = "sqlite:///" + str(tmp_path / "copy.sqlite")
    copy_database(legacy_url, dst)
    frame = s2sframe.scan(dst).select("id", "event.event_type", "event.magnitude").collect()
    assert frame["event.event_type"].null_count() == frame.height == 7
    with pytest.raises(DatabaseError, match="not found"):
        copy_database("sqlite:///" + str(tmp_path / "nope.sqlite"), dst)


def test_copy_database_blob_roundtrip(tmp_path: Path):
    src = "sqlite:///" + str(tmp_path / "a.sqlite")
    engine = sa.create_engine(src)
    S.create_all(engine)
    xml = gzip.compress(b"<FDSNStationXML/>" * 100)
    with engine.begin() as conn:
        conn.execute(S.web_services.insert().values(id=1, url="u"))
        conn.execute(S.data_centers.insert().values(id=1, station_url="s", dataselect_url="d"))
        conn.execute(S.stations.insert().values(
            id=7, datacenter_id=1, network="N", station="S", latitude=0, longitude=0,
            start_time=dt.datetime(2000, 1, 1), inventory_xml=xml))
    engine.dispose()
    dst = "sqlite:///" + str(tmp_path / "b.sqlite")
    assert copy_database(src, dst, batch_size=1)["stations"] == 1
    check = sa.create_engine(dst)
    with check.connect() as conn:
        assert conn.execute(sa.select(S.stations.c.id, S.stations.c.inventory_xml)).one() == \
            (7, xml)
    check.dispose()
