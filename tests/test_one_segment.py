"""One segment, three ways to get it: map_segments, imap and the ORM agree on everything.

The segment of ``map_segments`` and of ``imap`` is the same class
(:class:`s2sframe.Segment`; ``imap``'s adds ORM extras); the ORM model computes
``stream()``, ``inventory()``, ``sds_path()`` and the URLs with the same functions.
Expected URLs are built here from the tables, independently. Both backends.
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime

import polars as pl
import pytest
import sqlalchemy as sa
import sqlalchemy.orm  # noqa: F401 - conftest's pg teardown uses sa.orm

import s2sframe
from s2sframe.compat.segment import ProcessingSegment
from s2sframe.db.schema import create_all
from s2sframe.exceptions import SkipSegment
from s2sframe.process import Event, Segment, WebService, get_session, imap
from s2sframe.testing import make_database
from tests.conftest import BACKENDS, new_pg_database

FOREIGN_SEED_ID = "ZZ.OTHER.99.XYZ"


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, tmp_path_factory) -> str:
    """12 segments of 2 stations; segment 2 carries another channel's data_seed_id,
    segment 3 comes from another data center than its station, 4 has no data, 5 bad
    data, station 2 no StationXML."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("one") / "db.sqlite")
    else:
        url = new_pg_database(request)
    make_database(url, events=2, stations=2, seed=5)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("update segments set data_seed_id = :s where id = 2"),
                     {"s": FOREIGN_SEED_ID})
        conn.execute(sa.text("update segments set datacenter_id = 2 where id = 3"))
        conn.execute(sa.text("update segments set data = NULL where id = 4"))
        conn.execute(sa.text("update segments set data = :d where id = 5"), {"d": b"junk" * 200})
        conn.execute(sa.text("update stations set inventory_xml = NULL where id = 2"))
    engine.dispose()
    return url


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _try(func):
    try:
        return func()
    except SkipSegment as exc:
        return f"SkipSegment: {exc}"


def observe(segment) -> dict:
    """What a processing function sees of a segment, as comparable values."""

    def stream():
        return "; ".join(f"{tr.id} {tr.stats.starttime} {tr.stats.sampling_rate} "
                         f"{_digest(tr.data.tobytes())}" for tr in segment.stream())

    def inventory():
        buf = io.BytesIO()
        segment.inventory().write(buf, format="STATIONXML")
        return _digest(buf.getvalue())

    return {
        "segment": segment.id,
        "stream": _try(stream),
        "inventory": _try(inventory),
        "stationtxt": _try(lambda: segment.inventory(format="stationtxt")),
        "stationxml": _try(lambda: _digest(segment.inventory(format="stationxml"))),
        "url": segment.url,
        "sds_path": segment.sds_path("/root"),
        "event_url": segment.event.url,
        "station_url": segment.station.url,
        "inventory_xml": _digest(segment.station.inventory_xml or b""),
    }


def expected(url: str) -> dict[int, dict]:
    """URLs, SDS paths and stored StationXML read from the tables with SQL."""
    engine = sa.create_engine(url)
    sql = sa.text(
        "select s.id, d.dataselect_url, sd.station_url, st.network, st.station, c.location,"
        " c.channel, s.request_start, s.request_end, st.start_time, w.url, e.event_id,"
        " s.event_id, st.inventory_xml from segments s join channels c on c.id = s.channel_id"
        " join stations st on st.id = c.station_id join data_centers d on d.id = s.datacenter_id"
        " join data_centers sd on sd.id = st.datacenter_id join events e on e.id = s.event_id"
        " join web_services w on w.id = e.webservice_id"
    )
    out = {}
    with engine.connect() as conn:
        for (sid, dsel, stq, net, sta, loc, cha, rs, re_, st0, ws, evid, eid,
             xml) in conn.execute(sql):
            rs, re_, st0 = (v if not isinstance(v, str) else pl.Series([v]).str.to_datetime()[0]
                            for v in (rs, re_, st0))
            out[sid] = {
                "url": f"{dsel}?net={net}&sta={sta}&loc={loc}&cha={cha}"
                       f"&start={rs.isoformat()}&end={re_.isoformat()}",
                "station_url": f"{stq}?net={net}&sta={sta}&start={st0.isoformat()}",
                "event_url": f"{ws}?eventid={evid}",
                "sds_path": f"/root/{eid}/{rs.year}/{net}/{sta}/{cha}.D/"
                            f"{net}.{sta}.{loc}.{cha}.D.{rs.year}.{rs.timetuple().tm_yday:03d}",
                "inventory_xml": _digest(bytes(xml) if xml is not None else b""),
            }
    engine.dispose()
    return out


def test_map_segments_imap_and_orm_see_the_same_segment(db):
    ids = s2sframe.scan(db).select("id").collect()["id"].sort().to_list()
    assert len(ids) == 12
    df = s2sframe.scan(db).select("id").collect()
    mapped = s2sframe.map_segments(df, observe, workers=0, progress=False, dburl=db)
    via_map = {row["id"]: {k: v for k, v in row.items() if k not in ("id", "s2s_error")}
               for row in mapped.iter_rows(named=True)}
    via_imap = {out["segment"]: out for out in imap(lambda seg, cfg: observe(seg), db, ids)}
    session = get_session(db)
    try:
        via_orm = {seg.id: observe(seg) for seg in session.query(Segment).order_by(Segment.id)}
    finally:
        session.close()
    assert mapped["s2s_error"].null_count() == len(ids)
    assert sorted(via_map) == sorted(via_imap) == sorted(via_orm) == ids
    for sid in ids:
        assert via_map[sid] == via_imap[sid] == via_orm[sid], sid
    want = expected(db)
    for sid in ids:
        assert {k: via_map[sid][k] for k in want[sid]} == want[sid], sid
    # the cases the fixture set up, and what the generated data holds
    assert "ZZ" not in via_map[2]["url"] and "XYZ" not in via_map[2]["url"]
    assert via_map[3]["url"].startswith("http://webservices.ingv.it/fdsnws/dataselect/")
    assert via_map[3]["station_url"].startswith("http://geofon.gfz-potsdam.de/fdsnws/station/")
    assert all("&loc=&" in v["url"] for v in via_map.values())  # empty locations: loc=
    assert via_map[4]["stream"] == "SkipSegment: segment 4: no waveform data (segments.data is empty)"
    assert via_map[5]["stream"].startswith("SkipSegment: segment 5: ")
    assert sum(not v["stream"].startswith("SkipSegment") for v in via_map.values()) == 10
    no_inv = "SkipSegment: inventory of station 2: no inventory (station has no StationXML)"
    assert sum(v["inventory"] == no_inv for v in via_map.values()) == 6
    assert sum(not v["inventory"].startswith("SkipSegment") for v in via_map.values()) == 6


def test_one_segment_class_for_user_functions(db):
    classes = set()

    def kind(segment, config=None):
        classes.add(type(segment))
        return {"is_segment": isinstance(segment, s2sframe.Segment)}

    df = s2sframe.scan(db).select("id").head(2).collect()
    out = s2sframe.map_segments(df, kind, workers=0, progress=False, dburl=db)
    assert out["is_segment"].to_list() == [True, True]
    assert [r["is_segment"] for r in imap(kind, db, [1, 2])] == [True, True]
    assert classes == {s2sframe.Segment, ProcessingSegment}
    assert ProcessingSegment.__mro__[1] is s2sframe.Segment
    assert set(ProcessingSegment.__dict__) - {"__module__", "__doc__", "__slots__", "_orm",
                                              "__init__", "__dir__"} == {
        "orm", "siblings", "dbsession", "classlabels", "add_classlabel", "del_classlabel"}


def test_orm_event_and_station_urls_and_webservice(db):
    session = get_session(db)
    try:
        seg = session.get(Segment, 3)
        ws = session.query(WebService).one()
        assert seg.event.webservice is ws and seg.event in ws.events.all()
        assert seg.event.url == f"{ws.url}?eventid={seg.event.event_id}"
        assert seg.station.url == (f"{seg.station.datacenter.station_url}?net="
                                   f"{seg.station.network}&sta={seg.station.station}"
                                   f"&start={seg.station.start_time.isoformat()}")
        assert seg.station.datacenter is not seg.datacenter
    finally:
        session.close()


def test_webservice_and_event_inserted_in_one_flush(db_url_factory):
    """The relationship orders the INSERTs (foreign key events.webservice_id)."""
    url = db_url_factory()
    engine = sa.create_engine(url)
    create_all(engine)
    engine.dispose()
    session = get_session(url)
    try:
        ws = WebService(id=7, name="ev", type="event", url="http://127.0.0.1/fdsnws/event/1/query")
        evt = Event(id=1, event_id="ev1", time=datetime(2020, 1, 1), latitude=1.0,
                    longitude=2.0, depth_km=3.0, magnitude=4.0, webservice=ws)
        session.add(evt)  # the web service only through the relationship
        session.flush()
        session.add_all([Event(id=2, event_id="ev2", time=datetime(2020, 1, 2), latitude=1.0,
                               longitude=2.0,
                               depth_km=3.0, magnitude=4.0, webservice_id=8),
                         WebService(id=8, url="http://127.0.0.1/other")])
        session.commit()
        assert session.get(Event, 2).webservice.url == "http://127.0.0.1/other"
        assert session.get(Event, 1).url == "http://127.0.0.1/fdsnws/event/1/query?eventid=ev1"
    finally:
        session.close()


def test_segment_io_examples_run():
    import doctest

    from s2sframe.engine import segment_io

    result = doctest.testmod(segment_io, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 8
