"""`s2s download` against hostile servers (tests/hostile.py, real HTTP on
127.0.0.1): slots never leak, slow bodies are cut at a deadline, responses are capped in
size (gzip bombs too), garbage is not stored as StationXML, dead or refused data centers
cost seconds, credentials in URLs are masked and digest credentials stay with their host,
Ctrl-C stops within seconds."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from s2sframe.cli import main as cli
from s2sframe.download import ConfigError, download
from s2sframe.download.http import AdaptiveLimit, Client
from tests.conftest import popen
from tests.dlkit import PeakRss, config, query, wait_until
from tests.hostile import DeadServer, HostileFront, refused_url

ROOT = Path(__file__).resolve().parents[1]


DEMO_SERVER = {"events": 2, "stations": 6, "datacenters": 2, "seed": 11}


@pytest.fixture
def server(demo):
    return demo


@pytest.fixture
def fronts(server):
    """A hostile front for the event hub and for each data center."""
    hub = HostileFront(server.event_url)
    dcs = [HostileFront(u) for u in server.dataselect_urls]
    yield hub, dcs
    for f in (hub, *dcs):
        f.stop()


def _config(hub: HostileFront, dcs: list[HostileFront], dburl: str, **kw) -> dict:
    """The demo server's data through the hostile fronts."""
    through = SimpleNamespace(event_url=hub.url("/fdsnws/event/1/query"),
                              dataselect_urls=[d.url("/fdsnws/dataselect/1/query") for d in dcs])
    adv = {"max_retries": 1, "w_timeout": 2, "s_timeout": 5, "i_timeout": 5, "e_timeout": 5,
           **kw.pop("advanced_settings", {})}
    return config(through, dburl, **{"time_window": [-1, 2], "network": "!ZR",
                                     "inventory": True, "advanced_settings": adv, **kw})


def _codes(dburl: str) -> dict[str, set]:
    out: dict[str, set] = {}
    for sta, code in query(dburl, "select st.station, s.download_code from segments s join "
                                  "channels c on c.id = s.channel_id join stations st on "
                                  "st.id = c.station_id"):
        out.setdefault(sta, set()).add(code)
    return out


def _one(dburl: str, sql: str):
    return query(dburl, sql)


def _stations(server, dc: int) -> list[str]:
    return sorted({c.station for c in server.archive.channels
                   if c.datacenter == dc and not c.restricted})


def _cli_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


# ------------------------------------------------------------------ 1. slots never leak
def test_an_unexpected_error_in_a_request_gives_its_slot_back(server):
    """A digest challenge without realm makes requests raise KeyError (not a requests
    error): the request fails, the data center's only slot is given back, the next
    request is not blocked forever."""
    from requests.auth import HTTPDigestAuth

    with HostileFront(server.dataselect_urls[0]) as front:
        front.add("challenge", header='Digest nonce="abc", qop="auth"')
        client = Client(max_retries=0)
        limit = AdaptiveLimit(1)
        url = front.url("/fdsnws/dataselect/1/queryauth")
        results: list = []

        def call() -> None:
            try:
                results.append(client.request(url, data="GE * * * 2021-01-01 2021-01-02\n",
                                              timeout=5, auth=HTTPDigestAuth("u", "p"),
                                              limit=limit))
            except Exception as exc:  # noqa: BLE001 - the old code raised here
                results.append(exc)

        for _ in range(2):  # the second waits for the slot the first one holds
            t = threading.Thread(target=call, daemon=True)
            t.start()
            t.join(20)
            assert not t.is_alive(), "the request waits forever for a slot that leaked"
        assert [getattr(r, "kind", r) for r in results] == ["error", "error"], results
        assert limit.active == 0 and "KeyError" in results[0].error


def test_download_with_a_broken_digest_challenge_ends_and_records(server, tmp_path):
    """End to end, in a process of its own: the run ends (it hung before) and the
    segments of the failed requests are recorded as URL errors."""
    dc = server.dataselect_urls[0]
    with HostileFront(dc) as front, HostileFront(server.event_url) as hub:
        front.add("challenge", service="dataselect", match="queryauth",
                  header='Digest nonce="abc", qop="auth"')
        url = "sqlite:///" + str(tmp_path / "d.sqlite")
        cfg = _config(hub, [front], url, restricted_data=["user", "secret"],
                      advanced_settings={"max_concurrent_downloads": 2}, inventory=False)
        path = tmp_path / "d.yaml"
        path.write_text(yaml.safe_dump(cfg))
        proc = subprocess.run([sys.executable, "-m", "s2sframe.cli", "download", "-c", str(path),
                               "-q"], env=_cli_env(), capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        codes = {c for v in _codes(url).values() for c in v}
        assert codes == {-1}
        log = _one(url, "select log from downloads")[0][0]
        assert "(code -1: KeyError: 'realm')" in log
        assert "secret" not in proc.stderr + proc.stdout + log


# ------------------------------------------------------------------ 2. slow bodies
def test_slow_body_is_cut_at_the_total_deadline(server, fronts, tmp_path):
    hub, dcs = fronts
    slow = _stations(server, 0)[0]
    dcs[0].add("slow", service="dataselect", match=f" {slow} ", rate=1.0)  # 1 byte/s
    url = "sqlite:///" + str(tmp_path / "slow.sqlite")
    t0 = time.monotonic()
    report = download(_config(hub, dcs, url, inventory=False,
                              advanced_settings={"request_deadline": 3, "w_timeout": 2}))
    took = time.monotonic() - t0
    codes = _codes(url)
    assert codes[slow] == {-1}
    assert all(c == {200} for s, c in codes.items() if s != slow)
    assert took < 60  # 2 attempts x 3 s each, plus the rest of the run
    log = _one(url, "select log from downloads")[0][0]
    assert "within 3 s (the total deadline of a request)" in log
    assert report.status == "completed"


def test_default_deadline_is_ten_timeouts_at_least_a_minute():
    from s2sframe.download.http import default_deadline

    assert default_deadline(1) == 60 and default_deadline(30) == 300


# ------------------------------------------------------------------ 3. Ctrl-C
def _start(cfg: dict, path: Path) -> Any:
    """``s2s download -q`` of ``cfg`` (written to ``path``), killed if the test fails."""
    path.write_text(yaml.safe_dump(cfg))
    return popen([sys.executable, "-m", "s2sframe.cli", "download", "-c", str(path), "-q"],
                 _cli_env(), stdout=subprocess.PIPE, text=True)


def test_ctrl_c_ends_the_run_within_seconds_while_bodies_trickle(server, fronts, tmp_path):
    hub, dcs = fronts
    fast = _stations(server, 1)
    # every request of data center 0 trickles at 1 byte/s; data center 1 answers
    dcs[0].add("slow", service="dataselect", rate=1.0)
    url = "sqlite:///" + str(tmp_path / "c.sqlite")
    cfg = _config(hub, dcs, url, advanced_settings={"db_buf_size": 1, "w_timeout": 30,
                                                    "max_concurrent_downloads": 2})
    with _start(cfg, tmp_path / "c.yaml") as proc:
        wait_until(url, "select count(*) >= 3 from segments", proc)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    assert took < 10, f"still running {took:.0f} s after Ctrl-C"
    assert proc.returncode == 1 and "aborted" in err
    rows = _one(url, "select st.station, s.download_code from segments s join channels c on "
                     "c.id = s.channel_id join stations st on st.id = c.station_id")
    assert rows and {s for s, _ in rows} <= set(fast)  # cut requests: nothing written
    assert all(code == 200 for _, code in rows)
    log = _one(url, "select log from downloads")[0][0]
    assert "interrupted by the user at step 'waveforms'" in log


def test_a_second_ctrl_c_exits_at_once(server, fronts, tmp_path):
    """The first Ctrl-C waits for the last write, which waits for a lock another program
    holds on the SQLite file: a second Ctrl-C ends the process at once."""
    import sqlite3

    hub, dcs = fronts
    dcs[0].add("slow", service="dataselect", rate=1.0)
    path = tmp_path / "c2.sqlite"
    url = "sqlite:///" + str(path)
    cfg = _config(hub, dcs, url, advanced_settings={"db_buf_size": 1000, "w_timeout": 30,
                                                    "max_concurrent_downloads": 2})
    with _start(cfg, tmp_path / "c2.yaml") as proc:
        wait_until(url, "select count(*) from downloads where log like '%waveforms: %'", proc)
        time.sleep(1.0)  # data center 1 answered: its segments wait in the writer's buffer
        holder = sqlite3.connect(path, timeout=30)
        holder.execute("BEGIN IMMEDIATE")  # another program writing: the flush must wait
        proc.send_signal(signal.SIGINT)
        time.sleep(1.5)
        assert proc.poll() is None  # waiting for the lock
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
        holder.rollback()
        holder.close()
    assert took < 3, f"{took:.1f} s after the second Ctrl-C"
    assert proc.returncode == 130 and "interrupted again" in err


def test_ctrl_c_inside_a_write_waits_for_its_end():
    """Ctrl-C cuts the requests at once, but a write and its bookkeeping are not cut in
    two (an interrupt between the commit and the bookkeeping wrote rows twice: 'UNIQUE
    constraint failed', 1 run in 36 under load)."""
    from s2sframe.download.run import _Atomic, _interrupts

    client, atomic, done = Client(), _Atomic(), []
    with pytest.raises(KeyboardInterrupt):
        with _interrupts(client, False, atomic):
            with atomic.section():
                signal.raise_signal(signal.SIGINT)
                time.sleep(0.01)
                done.append("bookkeeping")  # still runs: the interrupt waits
            done.append("next write")  # never runs
    assert done == ["bookkeeping"] and client.aborted.is_set()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ------------------------------------------------------------------ 9. size caps
def test_gzip_bomb_and_huge_body_stop_at_the_cap_memory_bounded(server, fronts, tmp_path):
    """A 1 GB gzip bomb (1 MB on the wire) and a 300 MB body, under a 4 MB cap: the run
    ends, the segments are recorded with 413 (Payload Too Large), memory stays low."""
    hub, dcs = fronts
    bomb, huge = _stations(server, 0)[:2]
    dcs[0].add("gzip_bomb", service="dataselect", match=f" {bomb} ", size=1 << 30)
    dcs[0].add("huge", service="dataselect", match=f" {huge} ", size=300 << 20)
    url = "sqlite:///" + str(tmp_path / "bomb.sqlite")
    cfg = _config(hub, dcs, url, inventory=False, advanced_settings={"w_max_mb": 4})
    path = tmp_path / "bomb.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with open(tmp_path / "err.txt", "wb") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "s2sframe.cli", "download", "-c",
                                 str(path), "-q"], env=_cli_env(), stdout=subprocess.DEVNULL,
                                stderr=err_file)
        peak = PeakRss(proc.pid)
        try:
            while proc.poll() is None:
                peak.poll()
                time.sleep(0.02)
        finally:
            if proc.poll() is None:
                proc.kill()
    err = (tmp_path / "err.txt").read_text()
    peak_mb = peak.mb
    assert proc.returncode == 0, err
    codes = _codes(url)
    assert codes[bomb] == {413} and codes[huge] == {413}
    assert all(c == {200} for s, c in codes.items() if s not in (bomb, huge))
    print(f"gzip bomb and huge body: peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 600, f"peak RSS {peak_mb:.0f} MB"  # imports ~250 MB; the bomb is 1 GB
    log = _one(url, "select log from downloads")[0][0]
    assert "larger than 4 MB (the size cap)" in log


def test_size_cap_of_a_client_request(server):
    """Received and decoded bytes are both capped: a bomb under the cap decodes, one over
    it stops at the cap."""
    with HostileFront(server.event_url) as front:
        front.add("gzip_bomb", size=2 << 20, times=1)
        front.add("gzip_bomb", size=64 << 20, times=1)
        client = Client(max_retries=0)
        small = client.request(front.url("/fdsnws/event/1/query"), max_bytes=4 << 20)
        assert small.ok and small.body == bytes(2 << 20)
        big = client.request(front.url("/fdsnws/event/1/query"), max_bytes=4 << 20)
        assert (big.status, big.kind, big.body) == (413, "too_large", None)


# ------------------------------------------------------------------ 10. StationXML checked
def test_html_and_gzip_inventories_are_refused_and_fetched_again(server, fronts,
                                                                 db_url_factory):
    from s2sframe.download.inventory import check_stationxml

    hub, dcs = fronts
    html_st, gz_st = _stations(server, 0)[:2]
    dcs[0].add("html", service="station", match=f" {html_st} ")
    dcs[0].add("gzip_file", service="station", match=f" {gz_st} ")
    url = db_url_factory()
    first = download(_config(hub, dcs, url))
    inv = dict(_one(url, "select station, inventory_xml from stations"))
    assert inv[html_st] is None and inv[gz_st] is None
    for sta, xml in inv.items():
        if xml is not None:  # what is stored is the station's StationXML
            data = gzip.decompress(bytes(xml))
            check_stationxml(data, data.split(b'Network code="')[1][:2].decode(), sta)
    log = _one(url, f"select log from downloads where id = {first.download_id}")[0][0]
    assert "not StationXML: an HTML page" in log and "gzip-compressed bytes" in log
    for f in dcs:
        f.clear()
    second = download(_config(hub, dcs, url))
    assert second.inventories == 2 and second.segments == 0
    inv = dict(_one(url, "select station, inventory_xml from stations"))
    assert inv[html_st] is not None and inv[gz_st] is not None


def test_stationxml_check_refuses_entities_and_other_stations():
    from s2sframe.download.inventory import check_stationxml

    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
            b'<FDSNStationXML xmlns="http://www.fdsn.org/xml/station/1"><Network code="GE">'
            b'<Station code="&lol2;"/></Network></FDSNStationXML>')
    with pytest.raises(ValueError, match="without station GE.APE"):
        check_stationxml(bomb, "GE", "APE")
    with pytest.raises(ValueError, match="not StationXML"):
        check_stationxml(b"<FDSNStationXML><Network code='GE'>", "GE", "APE")


# ------------------------------------------------------------------ 16.9/16.10 refused, dead
def test_refused_or_unknown_event_service_exit_2_at_once(server, tmp_path):
    for events_url in (refused_url("/fdsnws/event/1/query"),
                       "http://nowhere.invalid/fdsnws/event/1/query"):
        cfg = {"dburl": "sqlite:///" + str(tmp_path / "r.sqlite"), "starttime": "2021-01-01",
               "endtime": "2021-02-01", "events_url": events_url,
               "data_url": server.dataselect_urls, "search_radius": {"min": 0, "max": 8},
               "time_window": [-1, 2], "advanced_settings": {"backoff": 1}}
        path = tmp_path / "r.yaml"
        path.write_text(yaml.safe_dump(cfg))
        t0 = time.monotonic()
        result = CliRunner().invoke(cli, ["download", "-c", str(path), "-q"])
        assert result.exit_code == 2, result.output
        assert time.monotonic() - t0 < 15
        assert events_url in result.output and "cannot be reached" in result.output
        assert "splitting" not in result.output
        log = _one(cfg["dburl"], "select log from downloads order by id desc")[0][0]
        assert "FAILED at step 'events'" in log


def test_dead_and_refused_data_centers_are_given_up_quickly(server, fronts, tmp_path):
    """Data center 0's dataselect answers nothing (its requests time out): after a few URL
    errors in a row its remaining requests are marked -1 at once; a refused data center
    fails at once; the rerun with retry_url_err gets everything."""
    from s2sframe.download.http import DEAD_AFTER

    hub, dcs = fronts
    url = "sqlite:///" + str(tmp_path / "dead.sqlite")
    base = _config(hub, dcs, url, inventory=False,
                   advanced_settings={"w_timeout": 1, "max_retries": 3,
                                      "max_concurrent_downloads": 2})
    dcs[0].add("hang", service="dataselect")  # its station service still answers
    t0 = time.monotonic()
    report = download(base)
    took = time.monotonic() - t0
    dead_requests = dcs[0].count("dataselect")
    codes = _codes(url)
    assert all(codes[s] == {-1} for s in _stations(server, 0))
    assert all(codes[s] == {200} for s in _stations(server, 1))
    assert dead_requests <= DEAD_AFTER + 2, dead_requests  # not 4 tries x every request
    assert took < 60
    log = _one(url, f"select log from downloads where id = {report.download_id}")[0][0]
    assert "URL errors in a row" in log and "given up for this run" in log
    dcs[0].clear()
    again = download(base)  # retry_url_err (true by default): the -1 are asked again
    assert again.segments > 0
    assert all(_codes(url)[s] == {200} for s in _stations(server, 0))
    # a data center refusing connections: its station and waveform requests fail at once
    with DeadServer() as dead:
        refused = refused_url()
        t0 = time.monotonic()
        other = {**base, "data_url": [*base["data_url"], refused, dead.url()],
                 "dburl": "sqlite:///" + str(tmp_path / "refused.sqlite")}
        other["advanced_settings"] = {**base["advanced_settings"], "s_timeout": 1}
        report = download(other)
        assert time.monotonic() - t0 < 60
    assert report.status == "completed" and report.with_data > 0
    log = _one(other["dburl"], "select log from downloads")[0][0]
    assert f"Unable to fetch stations from {refused.replace('dataselect', 'station')}" in log


# ------------------------------------------------------------------ 12. credentials
def test_credentials_in_urls_are_masked_everywhere(server, fronts, tmp_path):
    hub, dcs = fronts
    secret = "s3cr3tPW"

    def creds(u: str) -> str:
        return u.replace("http://", f"http://alice:{secret}@")

    url = "sqlite:///" + str(tmp_path / "cred.sqlite")
    cfg = _config(hub, dcs, url)
    cfg["events_url"] = creds(cfg["events_url"])
    cfg["data_url"] = [creds(u) for u in cfg["data_url"]]
    path = tmp_path / "cred.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = subprocess.run([sys.executable, "-m", "s2sframe.cli", "download", "-c", str(path)],
                            env=_cli_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "alice:***@" in result.stderr and "alice:***@" in result.stdout
    stored = []
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        for table in ("data_centers", "web_services", "downloads"):
            stored += [str(v) for row in conn.execute(sa.text(f"select * from {table}"))
                       for v in row]
    eng.dispose()
    text = "\n".join(stored) + result.stdout + result.stderr
    assert secret not in text and "alice:***@" in text
    # the credentials were used (basic authentication, as in the URL)
    assert any("Authorization" in r.headers for r in dcs[0].requests)
    assert _codes(url) and all(c == {200} for c in _codes(url).values())


def test_digest_credentials_not_answered_to_another_host_after_a_redirect(server, tmp_path):
    """queryauth redirected to another port that asks for digest credentials: they are
    not answered there (requests' own digest auth answers any host)."""
    with HostileFront(server.dataselect_urls[0]) as front, \
            HostileFront(server.dataselect_urls[0]) as sniffer, \
            HostileFront(server.event_url) as hub:
        sniffer.add("challenge")
        front.add("redirect", service="dataselect", match="queryauth",
                  location=sniffer.url("/fdsnws/dataselect/1/queryauth"))
        url = "sqlite:///" + str(tmp_path / "dig.sqlite")
        download(_config(hub, [front], url, restricted_data=["alice", "pw"], inventory=False))
        seen = [r.headers.get("Authorization", "") for r in sniffer.requests]
        assert seen and not any("alice" in h for h in seen), seen
        assert {c for v in _codes(url).values() for c in v} == {401}


# ------------------------------------------------------------------ 13. configuration values
def test_unreadable_token_file_is_refused_naming_it(tmp_path):
    token = tmp_path / "token.txt"
    token.write_text("-----BEGIN PGP SIGNED MESSAGE-----\n")
    token.chmod(0)
    path = str(token) if os.geteuid() != 0 else "/proc/self/mem"  # root reads any file
    cfg = {"dburl": "sqlite:///" + str(tmp_path / "x.sqlite"), "starttime": "2021-01-01",
           "endtime": "2021-01-02", "events_url": "emsc", "data_url": "eida",
           "search_radius": {"min": 0, "max": 3}, "time_window": [-1, 3],
           "restricted_data": path}
    with pytest.raises(ConfigError) as err:
        download(cfg)
    assert err.value.key == "restricted_data" and path in str(err.value)


def test_docstring_examples_of_the_download_modules_run():
    import doctest

    from s2sframe.db import locks, outcomes, retry
    from s2sframe.download import config, http, inventory
    from tests import hostile

    for module in (http, inventory, config, locks, outcomes, retry, hostile):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__



@pytest.mark.parametrize("content, words", [
    (b"dburl: sqlite:///x.sqlite\nstation: Z\xe9\n", "line 2: not UTF-8 text"),
    (b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
     b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
     b"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
     b"g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
     b"i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n", "alias"),
    (b"dburl: sqlite:///x.sqlite\nstarttime: 2021-02-30\n", "line 2, key 'starttime': invalid date"),
])
def test_unreadable_download_yaml_is_refused_naming_the_file(tmp_path, content, words):
    """The project's YAML loader reads download.yaml: a file that is not UTF-8, an alias
    bomb (9**9 values), an invalid date: exit 2 naming the file, before any work."""
    path = tmp_path / "download.yaml"
    path.write_bytes(content)
    t0 = time.monotonic()
    result = CliRunner().invoke(cli, ["download", "-c", str(path)])
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and words in result.output, result.output
    assert time.monotonic() - t0 < 10
    assert not (tmp_path / "x.sqlite").exists()
