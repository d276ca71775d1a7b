"""`s2s download` on real-world shapes the demo FDSN server produces on request (station
epochs, routing rules below network level, damaged records, ISF catalogs, bad catalog
lines) and on databases stream2segment wrote (explicit ids, its storage forms), on SQLite
and PostgreSQL. Each test fails on the code before these shapes were handled."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from s2sframe.db import schema
from s2sframe.download import download
from s2sframe.testing import make_database
from s2sframe.testing.fdsn_server import fdsn_server


@pytest.fixture(scope="module")
def server():
    with fdsn_server(events=3, stations=7, datacenters=2, seed=3) as srv:
        yield srv


def _config(server, dburl: str, **kw) -> dict:
    cfg = {"dburl": dburl, "starttime": "2021-01-01", "endtime": "2021-02-01",
           "events_url": server.event_url, "data_url": server.dataselect_urls,
           "channel": ["HH?", "BH?"], "search_radius": {"min": 0, "max": 8},
           "time_window": [-1, 3], "inventory": False,
           "advanced_settings": {"max_retries": 1, "backoff": 0.05, "w_timeout": 5}}
    cfg.update(kw)
    return cfg


def _count(url: str, table: str) -> int:
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        n = conn.execute(sa.text(f'select count(*) from "{table}"')).scalar()
    eng.dispose()
    return int(n)


def _stale_sequences(url: str) -> None:
    """Put every id sequence back to 1, where stream2segment leaves them (PostgreSQL)."""
    eng = sa.create_engine(url)
    if eng.dialect.name == "postgresql":
        with eng.begin() as conn:
            for t in schema.TABLE_ORDER:
                conn.execute(sa.text(f"select setval(pg_get_serial_sequence('\"{t}\"', 'id'), "
                                     "1, false)"))
    eng.dispose()


# ------------------------------------------------------------------ 1. explicit ids
def test_extends_a_database_whose_sequences_stream2segment_left_at_1(server, db_url_factory):
    url = db_url_factory()
    counts = make_database(url, events=3, stations=2, seed=4, metadata_only=True,
                           stale_sequences=True)
    report = download(_config(server, url, channel="HHZ"))
    assert report.segments > 0 and report.download_id == counts["downloads"] + 1
    assert _count(url, "segments") == counts["segments"] + report.segments
    # stream2segment wrote to the s2sframe database since: its sequences are stale again
    _stale_sequences(url)
    again = download(_config(server, url))  # more channels: new stations rows, segments
    assert again.segments > 0 and again.download_id == report.download_id + 1
    assert _count(url, "segments") == counts["segments"] + report.segments + again.segments
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        dupes = conn.execute(sa.text("select count(*) from (select channel_id, event_id from "
                                     "segments group by channel_id, event_id having "
                                     "count(*) > 1) d")).scalar()
    eng.dispose()
    assert dupes == 0


@pytest.mark.postgres
def test_sequences_advanced_under_a_lock_with_concurrent_writers(pg_url_factory):
    """A program inserting explicit ids while another moves the sequences: the second
    waits for the first's commit, then moves past the ids it wrote."""
    url = pg_url_factory()
    eng = sa.create_engine(url)
    schema.create_all(eng)
    ws = schema.web_services
    first = eng.connect()
    first.begin()
    assert schema.advance_sequences(first) == {}
    first.execute(ws.insert().values(id=7, url="explicit", type="event"))  # stream2segment
    moved: dict = {}

    def other() -> None:
        with eng.begin() as conn:
            moved.update(schema.advance_sequences(conn))
            conn.execute(ws.insert().values(url="default id", type="event"))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # waiting for the lock
    first.commit()
    first.close()
    thread.join(30)
    assert not thread.is_alive() and moved == {"web_services": 7}
    with eng.connect() as conn:
        assert conn.execute(sa.select(ws.c.id).order_by(ws.c.id)).scalars().all() == [7, 8]
    eng.dispose()


# ------------------------------------------- 2, 3. station epochs, sub-network routing
@pytest.fixture(scope="module")
def shaped():
    """Station epochs and a routing service splitting networks by station and by time."""
    with fdsn_server(events=4, stations=7, datacenters=2, seed=1, epochs=True,
                     split_routing=True) as srv:
        yield srv


def _segments(url: str) -> list[sa.Row]:
    eng = sa.create_engine(url)
    q = sa.text("select s.download_code, s.data, s.request_start, s.request_end, "
                "s.datacenter_id, s.data_seed_id, st.network, st.station, st.start_time, "
                "st.end_time, st.latitude, c.location, c.channel, e.event_id as eid, "
                "e.time as etime, d.dataselect_url from segments s join channels c on "
                "c.id = s.channel_id join stations st on st.id = c.station_id join events e "
                "on e.id = s.event_id join data_centers d on d.id = s.datacenter_id")
    with eng.connect() as conn:
        rows = conn.execute(q).all()
    eng.dispose()
    return rows


def _dt(value) -> datetime:  # SQLite text or datetime
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def test_station_epochs_and_routing_rules_below_network_level(shaped, db_url_factory):
    from s2sframe.download.traveltimes import great_circle_deg

    arch, url = shaped.archive, db_url_factory()
    cfg = _config(shaped, url, data_url="eida")
    cfg["advanced_settings"]["routing_service_url"] = shaped.routing_url
    download(cfg)
    rows = _segments(url)
    # the expected pairs: each event with the channel epoch operating then (and a day on)
    expected = set()
    for ev in arch.events:
        for ch in arch.channels:
            if ch.channel == "LHZ" or not (ch.start <= ev.time and (
                    ch.end is None or ch.end >= ev.time + timedelta(days=1))):
                continue
            if great_circle_deg(ev.latitude, ev.longitude, ch.latitude, ch.longitude) <= 8:
                expected.add((ch.nslc, ev.event_id, ch.start))
    got = {((r.network, r.station, r.location, r.channel), r.eid, _dt(r.start_time))
           for r in rows}
    assert got == expected
    assert {k[2] for k in got} == {datetime(2010, 1, 1), arch.change}  # both epochs used
    for r in rows:
        nslc = (r.network, r.station, r.location, r.channel)
        ch = arch.channel(nslc, _dt(r.etime))
        assert r.latitude == ch.latitude  # the epoch's own row
        assert r.dataselect_url == shaped.dataselect_url(ch.datacenter)  # routed right
        if ch.restricted:
            continue
        assert r.download_code == 200, (nslc, r.dataselect_url)
        assert bytes(r.data) == arch.mseed(nslc, _dt(r.request_start), _dt(r.request_end))
    # the routing rules below network level were needed: a station rule, a time rule
    assert any(r.station == "S000" and r.dataselect_url == shaped.dataselect_url(1) for r in rows)
    assert any(r.network == "IV" and _dt(r.start_time) == arch.change
               and r.dataselect_url == shaped.dataselect_url(0) for r in rows)
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        epochs = conn.execute(sa.text("select network, station, start_time, end_time from "
                                      "stations where station = 'S003' order by start_time")).all()
    eng.dispose()
    assert [(_dt(a), b and _dt(b)) for *_, a, b in epochs] == [
        (datetime(2010, 1, 1), arch.change), (arch.change, None)]
    again = download(cfg)  # a rerun finds every epoch and channel: nothing new
    assert again.segments == 0 and len(_segments(url)) == len(rows)


def test_route_most_specific_rule_then_longest_overlap():
    from s2sframe.download.routing import DataCenter, Rule, route

    def dc(k, *lines):
        return DataCenter(k, "s", "d", rules=[Rule.parse(ln) for ln in lines])

    far = "1990-01-01T00:00:00 2099-01-01T00:00:00"
    dcs = [dc(1, f"Z3 * * * {far}"), dc(2, f"Z3 A034A * * {far}"),
           dc(3, f"Z3 A034A * HH? {far}", "XX * * * 2021-01-01 2021-01-20"),
           dc(4, "XX * * * 2021-01-20 *")]
    win = (datetime(2021, 1, 1), datetime(2021, 2, 1))
    start = datetime(2010, 1, 1)
    assert route(dcs, ("Z3", "B01", "", "HHZ"), start, None, win) == 1
    assert route(dcs, ("Z3", "A034A", "", "BHZ"), start, None, win) == 2
    assert route(dcs, ("Z3", "A034A", "", "HHZ"), start, None, win) == 3
    assert route(dcs, ("XX", "S", "", "HHZ"), start, None, win) == 3  # 19 days > 12
    assert route(dcs, ("XX", "S", "", "HHZ"), datetime(2021, 1, 20), None, win) == 4
    assert route(dcs, ("YY", "S", "", "HHZ"), start, None, win) is None


def test_a_station_rule_routes_one_station_to_another_data_center(db_url_factory):
    """No epochs: only the routing rule of station S000 says where its data is."""
    with fdsn_server(events=2, stations=5, datacenters=2, seed=1, split_routing=True) as srv:
        url = db_url_factory()
        cfg = _config(srv, url, data_url="eida", station="S000", search_radius={"min": 0,
                                                                               "max": 20})
        cfg["advanced_settings"]["routing_service_url"] = srv.routing_url
        report = download(cfg)
        rows = _segments(url)
    assert rows and report.counts == {srv.dataselect_url(1): {200: len(rows)}}
    assert {r.download_code for r in rows} == {200}
