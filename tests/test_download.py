"""`s2sframe.download` against the local FDSN server (real HTTP on 127.0.0.1), SQLite and
PostgreSQL: exact segments, codes, reruns, faults, restricted data, the CLI, SIGKILL."""

from __future__ import annotations

import gzip
import io
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

import s2sframe
from s2sframe.cli import main as cli
from s2sframe.download import ConfigError, download
from s2sframe.download.traveltimes import great_circle_deg, travel_times
from s2sframe.testing.fdsn_server import VALID_TOKEN, fdsn_server
from tests.dlkit import query

ROOT = Path(__file__).resolve().parents[1]


DEMO_SERVER = {"events": 3, "stations": 7, "datacenters": 2, "seed": 3}


@pytest.fixture
def fresh(demo):
    return demo


def _config(server, dburl: str, **kw) -> dict:
    cfg = {"dburl": dburl, "starttime": "2021-01-01", "endtime": "2021-02-01",
           "events_url": server.event_url, "data_url": server.dataselect_urls,
           "channel": ["HH?", "BH?"], "search_radius": {"min": 0, "max": 8},
           "time_window": [-1, 3],
           "advanced_settings": {"max_retries": 1, "backoff": 0.05, "w_timeout": 2}}
    cfg.update(kw)
    return cfg


def _rows(dburl: str) -> list[sa.Row]:
    return query(dburl, "select s.id, s.channel_id, s.event_id, s.data, s.download_code, s.start_time, "
                "s.end_time, s.arrival_time, s.request_start, s.request_end, s.data_seed_id, "
                "s.sample_rate, s.maxgap_numsamples, s.queryauth, s.event_distance_deg, "
                "s.download_id, st.network, st.station, c.location, c.channel, e.event_id as eid "
                "from segments s join channels c on c.id = s.channel_id join stations st on "
                "st.id = c.station_id join events e on e.id = s.event_id order by st.network, "
                "st.station, c.channel, e.event_id")


def _expected(server, max_deg: float = 8.0) -> set[tuple[str, str]]:
    arch = server.archive
    out = set()
    for ev in arch.events:
        for ch in arch.channels:
            if ch.channel == "LHZ":
                continue
            d = great_circle_deg(ev.latitude, ev.longitude, ch.latitude, ch.longitude)
            if d <= max_deg:
                out.add((".".join(ch.nslc), ev.event_id))
    return out


def _dt(value) -> datetime:  # SQLite text or datetime
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def test_traveltimes_within_half_a_second_of_taup():
    from obspy.taup import TauPyModel

    rng = np.random.default_rng(7)
    depths, dists = rng.uniform(0, 700, 30), rng.uniform(0.2, 150, 30)
    got = travel_times("iasp91_ttp+", depths, dists)
    model = TauPyModel("iasp91")
    ref = np.array([model.get_travel_times(z, d, phase_list=["ttp+"])[0].time
                    for z, d in zip(depths, dists, strict=True)])
    assert np.abs(got - ref).max() <= 0.5


def test_download_is_the_package_and_calling_it_downloads(fresh, tmp_path):
    """`s2sframe.download` is the package (its modules importable under it) and, called,
    runs :func:`s2sframe.download.download`: every import path of before still works."""
    import importlib
    import types

    import s2sframe.download.run as run_module
    from s2sframe import download as from_top

    package = importlib.import_module("s2sframe.download")
    assert s2sframe.download is package is from_top
    assert isinstance(package, types.ModuleType) and package.run is run_module
    assert package.download is download and callable(package)
    with pytest.raises(ConfigError, match="'dburl': missing"):
        s2sframe.download({"starttime": "2021-01-01"})
    url = f"sqlite:///{tmp_path / 'called.sqlite'}"
    report = s2sframe.download(_config(fresh, url), progress=False)
    assert report.segments == len(_rows(url)) > 0


def test_download_exact_segments_and_rerun(fresh, db_url_factory):
    server = fresh
    url = db_url_factory()
    before = server.count("dataselect")
    report = download(_config(server, url))
    rows = _rows(url)
    assert {(f"{r.network}.{r.station}.{r.location}.{r.channel}", r.eid) for r in rows} \
        == _expected(server)
    assert report.segments == len(rows) and report.download_id == rows[0].download_id
    from obspy.taup import TauPyModel

    taup = TauPyModel("ak135")
    arch = server.archive
    events = {e.event_id: e for e in arch.events}
    for r in rows:
        nslc = (r.network, r.station, r.location, r.channel)
        ev = events[r.eid]
        ch = arch.channel(nslc)
        dist = float(great_circle_deg(ev.latitude, ev.longitude, ch.latitude, ch.longitude))
        assert r.event_distance_deg == pytest.approx(dist, abs=1e-9)
        tt = taup.get_travel_times(ev.depth_km, dist, phase_list=["ttp+"])[0].time
        arrival = _dt(r.arrival_time)
        assert abs((arrival - ev.time).total_seconds() - tt) <= 0.5
        rs, re_ = _dt(r.request_start), _dt(r.request_end)
        assert rs == (arrival - timedelta(minutes=1) + timedelta(microseconds=500_000)).replace(microsecond=0)
        assert re_ - rs == timedelta(minutes=4)
        if ch.restricted:  # open data only: the server answers 204 (b'' as stream2segment)
            assert (r.download_code, bytes(r.data), r.queryauth) == (204, b"", False)
            continue
        assert r.download_code == 200
        assert bytes(r.data) == arch.mseed(nslc, rs, re_)
        assert r.data_seed_id == ".".join(nslc) and r.sample_rate == ch.sample_rate
        assert r.maxgap_numsamples == 0
        assert _dt(r.start_time) <= rs and _dt(r.end_time) >= re_ - timedelta(seconds=1)
    # inventories: stations with data, gzip StationXML with responses
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        inv = conn.execute(sa.text("select network, inventory_xml from stations")).all()
        dl = conn.execute(sa.text("select config, program_version, log from downloads")).one()
    eng.dispose()
    import obspy

    for net, xml in inv:
        if net == "ZR":
            assert xml is None
        else:
            parsed = obspy.read_inventory(io.BytesIO(gzip.decompress(bytes(xml))))
            assert parsed[0][0][0].response.instrument_sensitivity.value > 0
    assert dl.program_version.startswith("s2sframe ") and "waveforms:" in dl.log
    assert yaml.safe_load(dl.config)["events_url"] == server.event_url
    # the result is a stream2segment database for s2sframe
    frame = s2sframe.scan(url).filter(s2sframe.where({"has_valid_data": "true"})).collect()
    assert frame.height == sum(1 for r in rows if r.download_code == 200)
    # rerun: nothing to fetch, nothing duplicated
    n = server.count("dataselect")
    assert n > before
    again = download(_config(server, url))
    assert again.segments == 0 and server.count("dataselect") == n
    assert len(_rows(url)) == len(rows)


def test_faults_then_retry_recovers_only_failures(fresh, db_url_factory):
    server = fresh
    url = db_url_factory()
    open_stations = sorted({c.station for c in server.archive.channels if not c.restricted})
    s500, s_slow, s_corrupt, s_out, s_503 = open_stations[:5]
    s_trunc = open_stations[5] if len(open_stations) > 5 else None
    server.fault("dataselect", 500, station=s500)
    server.fault("dataselect", station=s_slow, delay=3.0)  # > w_timeout: URL error
    server.fault("dataselect", station=s_corrupt, mseed="corrupt")
    server.fault("dataselect", station=s_out, mseed="outside")
    server.fault("dataselect", 503, station=s_503, retry_after=0.1, times=1)  # retried: OK
    if s_trunc:
        server.fault("dataselect", station=s_trunc, mseed="truncate")
    download(_config(server, url, retry_mseed_err=True))
    rows = _rows(url)
    codes = {r.station: set() for r in rows}
    for r in rows:
        codes[r.station].add(r.download_code)
    assert codes[s500] == {500} and codes[s_slow] == {-1} and codes[s_corrupt] == {-2}
    assert codes[s_out] == {-200} and codes[s_503] == {200}
    if s_trunc:
        assert codes[s_trunc] == {-2}
    with sa.create_engine(url).connect() as conn:
        log = conn.execute(sa.text("select log from downloads")).scalar()
    assert "asked to slow down" in log  # the 503 halved the data center's concurrency
    for r in rows:
        if r.station == s_out:  # the record outside the window was dropped
            nslc = (r.network, r.station, r.location, r.channel)
            assert bytes(r.data) == server.archive.mseed(nslc, _dt(r.request_start), _dt(r.request_end))
    broken = {s500, s_slow, s_corrupt} | ({s_trunc} if s_trunc else set())
    failed = {(r.channel_id, r.event_id): r.id for r in rows if r.station in broken}
    server.clear_faults()
    n = len(server.requests)
    report = download(_config(server, url, retry_mseed_err=True))
    new_requests = [b for s, _, b in server.requests[n:] if s == "dataselect"]
    asked = {line.split()[1] for b in new_requests for line in b.splitlines() if line.strip()}
    assert asked == broken
    assert report.segments == len(failed)
    after = _rows(url)
    assert len(after) == len(rows)
    for r in after:
        if (r.channel_id, r.event_id) in failed:
            assert r.download_code == 200 and r.id == failed[(r.channel_id, r.event_id)]
            assert r.download_id == report.download_id


def test_split_on_413_and_event_splitting(db_url_factory, tmp_path):
    with fdsn_server(events=3, stations=3, datacenters=1, seed=5, max_event_days=8) as srv:
        st = srv.archive.channels[0].station
        srv.fault("dataselect", 413, station=st, times=1)
        url = db_url_factory()
        report = download(_config(srv, url))
        assert srv.count("event") > 3  # 31 days refused, split down to <= 8 days
        assert {e.event_id for e in srv.archive.events} == {r.eid for r in _rows(url)}
        assert report.counts and all(r.download_code == 200 for r in _rows(url) if r.station == st)


def test_restricted_data_token(fresh, tmp_path):
    server = fresh
    token = tmp_path / "token.txt"
    token.write_text(VALID_TOKEN)
    url = "sqlite:///" + str(tmp_path / "r.sqlite")
    download(_config(server, url, network="ZR", restricted_data=str(token)))
    rows = _rows(url)
    assert rows and all(r.download_code == 200 and r.queryauth for r in rows)
    with sa.create_engine(url).connect() as conn:
        stored = conn.execute(sa.text("select config, log from downloads")).one()
    assert "PGP" not in stored.config and "***" in stored.config
    assert all(p not in stored.log for _, p in server.credentials)
    # a wrong token: warned, open data only
    bad = tmp_path / "bad.txt"
    bad.write_text(VALID_TOKEN.replace("abc", "xyz"))
    url2 = "sqlite:///" + str(tmp_path / "r2.sqlite")
    report = download(_config(server, url2, network="ZR", restricted_data=str(bad)))
    assert report.warnings >= 1
    assert {r.download_code for r in _rows(url2)} == {204}


def test_station_service_down_uses_database_channels(fresh, tmp_path):
    server = fresh
    url = "sqlite:///" + str(tmp_path / "s.sqlite")
    first = download(_config(server, url, time_window=[-1, 2]))
    server.fault("station", 500, datacenter=1)
    second = download(_config(server, url, time_window=[-1, 3]))  # windows changed
    assert second.segments == first.segments and second.warnings >= 1
    assert all(_dt(r.request_end) - _dt(r.request_start) == timedelta(minutes=4) for r in _rows(url))


@pytest.mark.parametrize("change, key", [
    ({"search_radius": {"min": 3, "max": 1}}, "search_radius"),
    ({"time_window": [3, -1]}, "time_window"),
    ({"starttime": "yesterday"}, "starttime"),
    ({"channnel": "HH?"}, "channnel"),
    ({"advanced_settings": {"w_timout": 3}}, "advanced_settings.w_timout"),
    ({"data_url": ["ftp://x"]}, "data_url"),
    ({"advanced_settings": {"traveltimes_model": "prem"}}, "advanced_settings.traveltimes_model"),
    # numbers that are not finite, or out of range (issue 17: exit 1, OverflowError...)
    ({"advanced_settings": {"w_timeout": float("inf")}}, "advanced_settings.w_timeout"),
    ({"advanced_settings": {"backoff": float("nan")}}, "advanced_settings.backoff"),
    ({"advanced_settings": {"e_timeout": 1e300}}, "advanced_settings.e_timeout"),
    ({"advanced_settings": {"w_max_mb": -1}}, "advanced_settings.w_max_mb"),
    ({"advanced_settings": {"max_retries": 10**12}}, "advanced_settings.max_retries"),
    ({"time_window": [-1, 1e12]}, "time_window"),
    ({"time_window": [float("nan"), 1]}, "time_window"),
    ({"search_radius": {"min": 0, "max": float("nan")}}, "search_radius.max"),
    ({"search_radius": {"minmag": 5, "maxmag": 7, "minmag_radius": 3,
                        "maxmag_radius": float("inf")}}, "search_radius.maxmag_radius"),
    ({"minmagnitude": float("nan")}, "minmagnitude"),
    ({"starttime": -10**12}, "starttime"),
    ({"min_sample_rate": float("inf")}, "min_sample_rate"),
])
def test_bad_config_exit_2_naming_the_key(tmp_path, change, key):
    cfg = {"dburl": "sqlite:///" + str(tmp_path / "x.sqlite"), "starttime": "2021-01-01", "endtime": "2021-01-02",
           "events_url": "emsc", "data_url": "eida", "search_radius": {"min": 0, "max": 3},
           "time_window": [-1, 3]}
    cfg.update(change)
    with pytest.raises(ConfigError) as err:
        download(cfg)
    assert err.value.key == key
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(cli, ["download", "-c", str(path)])
    assert result.exit_code == 2 and f"'{key}'" in result.output
    assert not (tmp_path / "x.sqlite").exists()  # refused before any work
    if key == "channnel":
        assert "did you mean 'channel'" in result.output


def test_validated_config_is_typed_and_frozen(tmp_path):
    """The download steps get one frozen, typed configuration (issue 22)."""
    import dataclasses

    from s2sframe.download.config import AdvancedSettings, RetrySettings, load

    cfg = load({"dburl": "sqlite:///" + str(tmp_path / "x.sqlite"), "starttime": "2021-01-01",
                "endtime": "2021-01-02", "events_url": "emsc", "data_url": "eida",
                "search_radius": {"min": 0, "max": 3}, "time_window": [-1, 3],
                "retry_server_err": False,
                "advanced_settings": {"max_thread_workers": 4, "download_blocksize": 0}})
    assert isinstance(cfg.advanced, AdvancedSettings) and isinstance(cfg.retry, RetrySettings)
    assert cfg.advanced.max_concurrent_downloads == 4  # the stream2segment alias
    assert cfg.advanced.download_blocksize == -1  # <= 0: the whole body at once
    assert cfg.advanced.timeout("stations") == 120.0
    assert cfg.retry.retry_server_err is False and cfg.retry.retry_url_err is True
    assert cfg.events_catalog == "emsc" and cfg.traveltimes_model == "ak135_ttp+"
    for obj, field in ((cfg, "dburl"), (cfg.advanced, "w_timeout"), (cfg.retry, "retry_url_err")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, field, None)


def test_cli_download_summary_and_init_template(fresh, tmp_path):
    server = fresh
    result = CliRunner().invoke(cli, ["init", str(tmp_path / "demo"), "--yes"])
    assert result.exit_code == 0, result.output
    template = yaml.safe_load((tmp_path / "demo" / "download.yaml").read_text())
    assert template["data_url"] and template["dburl"] == "sqlite:///download.db.sqlite"
    args = ["download", "-c", str(tmp_path / "demo" / "download.yaml"), "-q",
            "-E", server.event_url, "-k", "HHZ"]
    for u in server.dataselect_urls:
        args += ["-D", u]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "demo" / "download.db.sqlite").is_file()
    assert "200 OK" in result.output
    result = CliRunner().invoke(cli, ["dl", "summary", "-d", str(tmp_path / "demo" / "download.yaml")])
    assert result.exit_code == 0 and server.dataselect_urls[0] in result.output
    assert "OK" in result.output


def _final_state(url: str) -> set[tuple]:
    return {(f"{r.network}.{r.station}.{r.location}.{r.channel}", r.eid, r.download_code,
             None if r.data is None else bytes(r.data), str(r.request_start), str(r.arrival_time))
            for r in _rows(url)}


def _download_in_background(cfg: dict, path) -> subprocess.Popen:
    """`s2s download -c path` with ``cfg`` written to ``path``, started and not waited for."""
    path.write_text(yaml.safe_dump(cfg))
    return subprocess.Popen(
        [sys.executable, "-m", "s2sframe.cli", "download", "-c", str(path), "-q"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)


def _wait_for_segments(url: str, proc: subprocess.Popen, count: int) -> None:
    """Until the database at ``url`` has ``count`` segments, ``proc`` ended or 60 s passed."""
    eng = sa.create_engine(url)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with eng.connect() as conn:
                if conn.execute(sa.text("select count(*) from segments")).scalar() >= count:
                    break
        except sa.exc.SQLAlchemyError:
            pass  # the tables do not exist yet
        time.sleep(0.05)
    eng.dispose()


def test_sigkill_midway_then_rerun_equals_uninterrupted_run(fresh, db_url_factory, tmp_path):
    server = fresh
    killed, whole = db_url_factory(), db_url_factory()
    server.fault("dataselect", delay=0.15)  # slow server: time to kill the client midway
    cfg = _config(server, killed, advanced_settings={"max_concurrent_downloads": 1,
                                                      "db_buf_size": 1, "max_retries": 1,
                                                      "backoff": 0.05})
    proc = _download_in_background(cfg, tmp_path / "k.yaml")
    _wait_for_segments(killed, proc, 6)
    assert proc.poll() is None, proc.stderr.read().decode()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(_rows(killed))
    assert 0 < partial < len(_expected(server))
    # the killed run's log is in its downloads row: the steps done before the kill
    killed_log = _downloads(killed)
    assert len(killed_log) == 1
    for line in ("download 1 into", "events: 3 fetched, 3 new written", "data centers: 2",
                 "channels: ", "waveforms: "):
        assert line in killed_log[0].log
    assert "segment(s) written" not in killed_log[0].log  # the waveform step never ended
    server.clear_faults()
    download(_config(server, killed))
    download(_config(server, whole))
    assert _final_state(killed) == _final_state(whole)
    after = _downloads(killed)
    assert after[0] == killed_log[0] and "segment(s) written" in after[1].log


def _downloads(url: str) -> list[sa.Row]:
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        rows = conn.execute(sa.text("select id, log, warnings, errors from downloads "
                                    "order by id")).all()
    eng.dispose()
    return rows


def test_download_log_saved_at_steps_and_every_few_seconds(tmp_path):
    """The run's log goes into its downloads row as it grows, but not on every line."""
    import logging

    from s2sframe.db import schema
    from s2sframe.download.run import _Capture, open_database

    url = "sqlite:///" + str(tmp_path / "log.sqlite")
    engine = open_database(url)
    with engine.begin() as conn:
        did = conn.execute(schema.downloads.insert().values(log="")).inserted_primary_key[0]
    capture = _Capture()
    capture.engine, capture.download_id = engine, did
    logger = logging.getLogger("s2sframe.test_download_log")
    logger.addHandler(capture)
    try:
        logger.warning("first")
        capture.every = 3600.0
        capture.save(force=False)  # too soon: not written
        assert _downloads(url)[0].log == ""
        capture.every = 0.0
        capture.save(force=False)
        row = _downloads(url)[0]
        assert row.log.endswith("WARNING: first") and row.warnings == 1 and row.errors == 0
        logger.error("second")
        capture.every = 3600.0
        capture.save()  # a step: written now
        row = _downloads(url)[0]
        assert row.log.splitlines()[1].endswith("ERROR: second") and row.errors == 1
    finally:
        logger.removeHandler(capture)
        engine.dispose()


def test_extends_a_stream2segment_database_and_keeps_its_schema(fresh, example_db, tmp_path):
    """A database written by stream2segment (legacy: no events.event_type) is extended."""
    import shutil

    from s2sframe.db import schema

    path = tmp_path / "s2s.sqlite"
    shutil.copyfile(example_db, path)
    url = "sqlite:///" + str(path)
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        before = conn.execute(sa.text("select * from segments order by id")).all()
        stations_before = conn.execute(sa.text("select * from stations order by id")).all()
    present = schema.present_columns(eng)
    report = download(_config(fresh, url))
    with eng.connect() as conn:
        after = conn.execute(sa.text("select * from segments order by id")).all()
        stations_after = conn.execute(sa.text("select * from stations order by id")).all()
    assert schema.present_columns(eng) == present  # not altered
    eng.dispose()
    assert after[: len(before)] == before and len(after) == len(before) + report.segments
    assert stations_after[: len(stations_before)] == stations_before
    assert s2sframe.scan(url).select("id").collect().height == len(after)


def test_new_database_has_the_stream2segment_schema(fresh, tmp_path):
    from s2sframe.db import schema

    url = "sqlite:///" + str(tmp_path / "new.sqlite")
    download(_config(fresh, url, channel="HHZ"))
    eng = sa.create_engine(url)
    present = schema.present_columns(eng)
    eng.dispose()
    assert present == {name: frozenset(c.name for c in t.columns)
                       for name, t in schema.metadata.tables.items()}


def test_ctrl_c_keeps_what_was_written(fresh, tmp_path):
    server = fresh
    url = "sqlite:///" + str(tmp_path / "int.sqlite")
    server.fault("dataselect", delay=0.15)
    cfg = _config(server, url, advanced_settings={"max_concurrent_downloads": 1, "db_buf_size": 1})
    proc = _download_in_background(cfg, tmp_path / "i.yaml")
    _wait_for_segments(url, proc, 3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and b"aborted" in err
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        n = conn.execute(sa.text("select count(*) from segments")).scalar()
        log = conn.execute(sa.text("select log from downloads")).scalar()
    eng.dispose()
    assert 3 <= n < len(_expected(server)) and "interrupted" in log


def test_docs_page_python_blocks_run(capsys):
    import re

    page = (ROOT / "docs" / "download.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/download.md", "exec"), {})  # noqa: S102
    out = capsys.readouterr().out
    assert out.startswith("True\n") and "data center" in out


def test_windows_one_second_off_are_the_same_window(fresh, tmp_path):
    """stream2segment's travel-time grids differ from TauP by < 0.5 s: a stored window one
    second off ours (same length) is not downloaded again; a real change is."""
    server = fresh
    url = "sqlite:///" + str(tmp_path / "w.sqlite")
    first = download(_config(server, url))
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        ids = [r[0] for r in conn.execute(sa.text("select id from segments order by id"))]
        for k, sid in enumerate(ids[:6]):
            shift = 1 if k < 3 else 5  # seconds: rounding noise, then a real change
            row = conn.execute(sa.text("select request_start, request_end from segments "
                                       "where id = :i"), {"i": sid}).one()
            conn.execute(sa.text("update segments set request_start = :s, request_end = :e "
                                 "where id = :i"),
                         {"s": str(_dt(row[0]) + timedelta(seconds=shift)),
                          "e": str(_dt(row[1]) + timedelta(seconds=shift)), "i": sid})
    eng.dispose()
    again = download(_config(server, url))
    assert first.segments == len(ids) and again.segments == 3
    rows = {r.id: r for r in _rows(url)}
    assert all(rows[i].download_id == first.download_id for i in ids[:3])
    assert all(rows[i].download_id == again.download_id for i in ids[3:6])


def test_a_channel_is_asked_once_per_request():
    """Two events giving a channel the same window: two requests, both segments answered."""
    from s2sframe.download.dataselect import Seg, split_response
    from s2sframe.download.run import _groups
    from s2sframe.testing.fdsn_data import Archive

    t0, t1 = datetime(2021, 1, 2, 0, 0, 0), datetime(2021, 1, 2, 0, 4, 0)
    segs = [Seg(1, ev, 1, "GE.S000..HHZ", 1.0, t0, t0, t1) for ev in (1, 2)]
    segs.append(Seg(2, 1, 1, "GE.S000..HHN", 1.0, t0, t0, t1))
    groups = _groups(segs)
    assert sorted(len(g) for g in groups) == [1, 2]
    arch = Archive.build(events=1, stations=1, datacenters=1)
    for g in groups:
        data = b"".join(arch.mseed(tuple(s.seed_id.split(".")), t0, t1) for s in g)
        split_response(data, g, 200)
    assert all(s.result["download_code"] == 200 for s in segs)
