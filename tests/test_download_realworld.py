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
from tests.dlkit import config, segments


@pytest.fixture(scope="module")
def server():
    with fdsn_server(events=3, stations=7, datacenters=2, seed=3) as srv:
        yield srv


def _config(server, dburl: str, **kw) -> dict:
    return config(server, dburl, **kw)


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


_segments = segments


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


# ----------------------------------------------- 4, 17.10 damaged and refused records
@pytest.fixture
def faulty(server):
    server.clear_faults()
    yield server
    server.clear_faults()


def _by_station(rows) -> dict[str, list]:
    out: dict[str, list] = {}
    for r in rows:
        out.setdefault(r.station, []).append(r)
    return out


def test_a_damaged_record_costs_only_its_channel(faulty, db_url_factory):
    server, arch = faulty, faulty.archive
    stations = sorted({c.station for c in arch.channels if not c.restricted})
    cut, rate0, over, v3 = stations[:4]
    server.fault("dataselect", station=cut, mseed="truncate-last")  # one record, the last
    server.fault("dataselect", station=rate0, mseed="rate0")
    server.fault("dataselect", station=over, mseed="overcount")
    server.fault("dataselect", station=v3, mseed="v3")
    url = db_url_factory()
    report = download(_config(server, url))
    rows = _by_station(_segments(url))
    assert rows[cut] and rows[rate0] and rows[over] and rows[v3]
    by_event: dict[str, list] = {}
    for r in rows[cut]:  # one request per event: its last channel only is damaged
        by_event.setdefault(r.eid, []).append(r)
    for group in by_event.values():
        codes = sorted(r.download_code for r in group)
        assert codes == [-2] + [200] * (len(group) - 1)
        for r in group:
            if r.download_code == 200:
                nslc = (r.network, r.station, r.location, r.channel)
                assert bytes(r.data) == arch.mseed(nslc, _dt(r.request_start), _dt(r.request_end))
            else:
                assert r.data is None
    for st in (rate0, over, v3):  # stored with stream2segment's code of malformed data
        assert {(r.download_code, r.data) for r in rows[st]} == {(-2, None)}, st
    for st, group in rows.items():
        if st not in (cut, rate0, over, v3):
            assert {r.download_code for r in group} <= {200, 204}
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        log = conn.execute(sa.text("select log from downloads")).scalar()
    eng.dispose()
    assert "malformed miniSEED" in log and report.counts


@pytest.mark.parametrize("how, why", [("rate0", "sample rate 0"),
                                      ("overcount", "samples of"),
                                      ("v3", "miniSEED 3 record"), ("truncate", "malformed record")])
def test_split_response_names_why_a_channel_is_refused(how, why):
    from s2sframe.download.dataselect import Seg, split_response
    from s2sframe.testing.faults import damage_records
    from s2sframe.testing.fdsn_data import Archive

    arch = Archive.build(events=1, stations=1, datacenters=1)
    t0, t1 = datetime(2021, 1, 2), datetime(2021, 1, 2, 0, 4)
    chans = [c for c in arch.channels if c.channel != "LHZ"]
    segs = [Seg(k, 1, 1, ".".join(c.nslc), 1.0, t0, t0, t1) for k, c in enumerate(chans)]
    recs = [arch.records(c, t0, t1) for c in chans]
    if how == "truncate":
        recs[1][-1] = recs[1][-1][:300]
    else:
        recs[1] = damage_records(recs[1], how)
    split_response(b"".join(b"".join(r) for r in recs), segs, 200)
    assert [s.result["download_code"] for s in segs] == [200, -2, 200]
    assert why in segs[1].result["error"]


def test_split_response_reads_past_an_unreadable_header():
    """A record whose header is garbage costs the channels around it, not the others."""
    from s2sframe.download.dataselect import Seg, split_response
    from s2sframe.testing.fdsn_data import Archive

    arch = Archive.build(events=1, stations=1, datacenters=1)
    t0, t1 = datetime(2021, 1, 2), datetime(2021, 1, 2, 0, 4)
    chans = [c for c in arch.channels if c.channel != "LHZ"]
    segs = [Seg(k, 1, 1, ".".join(c.nslc), 1.0, t0, t0, t1) for k, c in enumerate(chans)]
    recs = [arch.records(c, t0, t1) for c in chans]
    middle = recs[1]
    middle[3] = b"<html>502 Bad Gateway</html>" + middle[3][28:]  # inside channel 2
    split_response(b"".join(b"".join(r) for r in recs), segs, 200)
    assert [s.result["download_code"] for s in segs] == [200, -2, 200]
    assert segs[0].result["data"] == b"".join(recs[0])


# ------------------------------------------------------- 11. empty values, 17.11 window
def test_empty_values_as_stream2segment_stores_them(faulty, db_url_factory):
    server = faulty
    shifted = sorted({c.station for c in server.archive.channels if not c.restricted})[0]
    server.fault("dataselect", station=shifted, mseed="shift")  # all records outside: -204
    url = db_url_factory()
    download(_config(server, url))
    rows = _segments(url)
    restricted = [r for r in rows if r.network == "ZR"]
    assert restricted and all(r.download_code == 204 and bytes(r.data) == b""
                              for r in restricted)
    outside = [r for r in rows if r.station == shifted]
    assert outside and all(
        (r.download_code, bytes(r.data), r.data_seed_id)
        == (-204, b"", f"{r.network}.{r.station}.{r.location}.{r.channel}") for r in outside)
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        ws = conn.execute(sa.text("select name, url from web_services")).one()
    eng.dispose()
    assert ws == ("", server.event_url)


def test_a_rerun_with_a_new_window_keeps_good_data_while_a_data_center_fails(
        faulty, db_url_factory):
    server, url = faulty, db_url_factory()
    download(_config(server, url))
    before = {(r.station, r.channel, r.eid): r for r in _segments(url)}
    server.fault("dataselect", 500, datacenter=0)
    report = download(_config(server, url, time_window=[-1, 2]))
    assert report.counts[server.dataselect_url(0)] == {500: sum(
        1 for r in before.values() if r.dataselect_url == server.dataselect_url(0))}
    after = {(r.station, r.channel, r.eid): r for r in _segments(url)}
    assert after.keys() == before.keys()
    kept = 0
    for key, r in after.items():
        old = before[key]
        if r.dataselect_url == server.dataselect_url(0) and old.download_code == 200:
            kept += 1  # good data, the new attempt failed: left as they were
            assert (r.download_code, r.data, r.request_end) == (
                old.download_code, old.data, old.request_end)
        else:  # the new window (with data, or a failure where there was none)
            assert _dt(r.request_end) - _dt(r.request_start) == timedelta(minutes=3)
            assert r.download_code == (500 if r.dataselect_url == server.dataselect_url(0)
                                       else old.download_code)
    assert kept > 0
    server.clear_faults()
    download(_config(server, url, time_window=[-1, 2]))  # the next run: new windows now
    for r in _segments(url):
        assert _dt(r.request_end) - _dt(r.request_start) == timedelta(minutes=3)
        assert r.download_code in (200, 204)


# -------------------------------------------------------- 6, 7, 8. event catalogs
def _catalog_text(arch) -> str:
    lines = ["#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|"
             "ContributorID|MagType|Magnitude|MagAuthor|EventLocationName|EventType"]
    for e in arch.events:
        lines.append(f"{e.event_id}|{e.time.isoformat()}|{e.latitude}|{e.longitude}|"
                     f"{e.depth_km}||||||{e.magnitude}|||")
    return "\n".join(lines) + "\n"


def test_file_catalog_stored_and_found_in_stream2segment_form(server, db_url_factory, tmp_path):
    path = tmp_path / "catalog.txt"
    path.write_text(_catalog_text(server.archive))
    url = db_url_factory()
    first = download(_config(server, url, events_url=str(path), channel="HHZ"))
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        ws = conn.execute(sa.text("select id, name, url, type from web_services")).one()
        ev = conn.execute(sa.text("select mag_type, author, event_type from events")).all()
    assert ws[1:] == ("", "file:///catalog.txt", "event")
    assert set(ev) == {("", "", "")}  # empty cells: '' as stream2segment
    # a database where an older s2sframe stored the absolute path: found, and moved
    with eng.begin() as conn:
        conn.execute(sa.text("update web_services set url = :u"), {"u": str(path)})
    again = download(_config(server, url, events_url=str(path), channel="HHZ"))
    with eng.connect() as conn:
        urls = conn.execute(sa.text("select url from web_services")).scalars().all()
        n_events = conn.execute(sa.text("select count(*) from events")).scalar()
    eng.dispose()
    assert urls == ["file:///catalog.txt"] and n_events == len(server.archive.events)
    assert first.segments > 0 and again.segments == 0  # nothing downloaded twice


def test_isf_catalogs_from_a_service_and_a_file(server, db_url_factory, tmp_path):
    from s2sframe.testing.fdsn_formats import isf_bulletin

    arch = server.archive
    url = db_url_factory()
    report = download(_config(server, url, channel="HHZ",
                              events_extra_params={"format": "isf"}))
    assert report.events == len(arch.events) and report.segments > 0
    assert any("format=isf" in q for s, _, q in server.requests if s == "event")
    path = tmp_path / "bulletin.isf"
    path.write_text(isf_bulletin(arch.events))
    url2 = db_url_factory()
    report2 = download(_config(server, url2, channel="HHZ", events_url=str(path)))
    assert report2.events == len(arch.events) and report2.segments == report.segments
    eng = sa.create_engine(url2)
    with eng.connect() as conn:
        got = conn.execute(sa.text("select event_id, latitude, magnitude, mag_type from "
                                   "events order by event_id")).all()
    eng.dispose()
    assert got == [(e.event_id, e.latitude, e.magnitude, e.mag_type)
                   for e in sorted(arch.events, key=lambda e: e.event_id)]


def test_a_catalog_in_no_known_format_is_an_error_naming_it(server, db_url_factory, tmp_path):
    import yaml
    from click.testing import CliRunner

    from s2sframe.cli import main as cli

    path = tmp_path / "events.json"
    path.write_text('{"type": "FeatureCollection", "features": [{"id": "ev1"}]}\n')
    url = db_url_factory()
    cfg = _config(server, url, events_url=str(path))
    (tmp_path / "d.yaml").write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(cli, ["download", "-c", str(tmp_path / "d.yaml"), "-q"])
    assert result.exit_code == 2, result.output
    assert "events.json" in result.output and "FDSN text nor ISF" in result.output
    assert _count(url, "events") == 0


def test_oversized_event_requests_split_by_magnitude_then_time(db_url_factory):
    from urllib.parse import parse_qs, urlparse

    with fdsn_server(events=5, stations=3, datacenters=1, seed=2, max_event_count=1) as srv:
        url = db_url_factory()
        report = download(_config(srv, url, channel="HHZ"))
        queries = [{k: v[0] for k, v in parse_qs(urlparse(q).query).items()}
                   for s, _, q in srv.requests if s == "event"]
    assert report.events == 5 and _count(url, "events") == 5
    full = (queries[0]["starttime"], queries[0]["endtime"])
    # magnitude first: the first splits keep the whole time range
    assert "maxmagnitude" in queries[1] and (queries[1]["starttime"], queries[1]["endtime"]) == full
    assert "minmagnitude" in queries[2]
    assert any((q["starttime"], q["endtime"]) != full for q in queries)  # then time


# ------------------------------------------------------------ 17.6 bad lines
def test_bad_catalog_and_station_lines_are_skipped_and_counted(db_url_factory):
    with fdsn_server(events=3, stations=5, datacenters=2, seed=3, bad_lines=True) as srv:
        url = db_url_factory()
        report = download(_config(srv, url))
    assert report.events == 3 and report.segments > 0
    assert report.skipped == {"event line": 5, "station line": 4}
    assert "skipped (not storable, see the log): 5 event line(s), 4 station line(s)" in str(report)
    assert _count(url, "events") == 3
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        log = conn.execute(sa.text("select log from downloads")).scalar()
        bad = conn.execute(sa.text("select count(*) from stations where station like "
                                   "'BAD%'")).scalar()
    eng.dispose()
    assert bad == 0 and "event line skipped (latitude is nan)" in log
    assert "NUL character" in log and "time outside the requested window" in log


def test_miniseed_3_is_refused_clearly_by_the_reader():
    """What the download refuses, the reader of stored segments refuses too, by name."""
    from s2sframe.decode.mseed import read_mseed
    from s2sframe.exceptions import SkipSegment
    from s2sframe.testing.faults import damage_records
    from s2sframe.testing.fdsn_data import Archive

    arch = Archive.build(events=1, stations=1)
    recs = arch.records(arch.channels[0], datetime(2021, 1, 2), datetime(2021, 1, 2, 0, 1))
    with pytest.raises(SkipSegment, match="miniSEED 3 records: ObsPy reads miniSEED 2 only"):
        read_mseed(b"".join(damage_records(recs, "v3")))
