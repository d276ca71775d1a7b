"""Soak test: `s2s download` runs again and again, for a bounded time, against servers
that inject every fault at random (tests/hostile.py: slow bodies, hangs, closed
and reset connections, truncated bodies, HTTP errors, HTML pages with status 200, gzip
bombs, huge bodies, gzip files; the demo server's damaged miniSEED: truncated, corrupt,
shifted, sample rate 0, over-claimed samples, miniSEED 3), on data with station epochs
and lines nobody can store, with a dead and a refused data center, and Ctrl-C or
kill -9 now and then. Every run must end by itself (or within seconds of Ctrl-C) with
its memory bounded; then one rerun without faults must leave the database equal to that
of a clean run. SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from s2sframe.testing.fdsn_server import fdsn_server
from tests.conftest import BACKENDS, new_pg_database
from tests.dlkit import PeakRss
from tests.hostile import DeadServer, HostileFront, Rule, refused_url

ROOT = Path(__file__).resolve().parents[1]
SOAK_SECONDS = float(os.environ.get("S2S_SOAK_SECONDS", "20"))
MAX_RSS_MB = 600  # the imports alone take ~250 MB; a 256 MB gzip bomb must not count

pytestmark = pytest.mark.slow


def _chaos_rules() -> list[Rule]:
    return [Rule("slow", rate=400), Rule("hang"), Rule("close"), Rule("reset"),
            Rule("partial"), Rule("status", status=500), Rule("status", status=503,
                                                              retry_after=0.2),
            Rule("html"), Rule("gzip_bomb", size=256 << 20), Rule("huge", size=64 << 20),
            Rule("gzip_file"), Rule("status", status=413)]


def _snapshot(dburl: str) -> dict[str, set]:
    """The content of a download database, without ids, URLs of ports and run times."""
    eng = sa.create_engine(dburl)
    with eng.connect() as conn:
        segs = conn.execute(sa.text(
            "select st.network, st.station, c.location, c.channel, e.event_id, "
            "s.download_code, s.data, s.request_start, s.request_end, s.arrival_time, "
            "s.sample_rate, s.maxgap_numsamples, s.data_seed_id, s.start_time, s.end_time "
            "from segments s join channels c on c.id = s.channel_id join stations st on "
            "st.id = c.station_id join events e on e.id = s.event_id")).all()
        stations = conn.execute(sa.text(
            "select network, station, start_time, latitude, inventory_xml "
            "from stations")).all()
        events = conn.execute(sa.text("select event_id, time, magnitude from events")).all()
        channels = conn.execute(sa.text("select count(*) from channels")).scalar()
    eng.dispose()

    def norm(row: sa.Row) -> tuple:
        return tuple(bytes(v) if isinstance(v, bytes | memoryview) else str(v) for v in row)

    return {"segments": {norm(r) for r in segs},
            "stations": {(*norm(r)[:4], None if r[4] is None else gzip.decompress(bytes(r[4])))
                         for r in stations},
            "events": {norm(r) for r in events}, "channels": {channels}}


def _last_status(dburl: str) -> str:
    from s2sframe.db.outcomes import run_status

    eng = sa.create_engine(dburl)
    with eng.connect() as conn:
        log = conn.execute(sa.text("select log from downloads order by id desc")).first()[0]
    eng.dispose()
    return run_status(log)


def _start(cfg: dict, path: Path) -> subprocess.Popen:
    path.write_text(yaml.safe_dump(cfg))
    with open(path.with_suffix(".err"), "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "s2sframe.cli", "download", "-c",
                                 str(path), "-q"], cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=err, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _run(cfg: dict, path: Path, interrupt: str | None, rng: random.Random,
         dburl: str) -> tuple[int, float, str]:
    """One CLI run; ``interrupt``: 'int' (Ctrl-C) or 'kill' once it wrote segments.
    Returns (exit code, peak RSS MB of that process, stderr)."""
    eng = sa.create_engine(dburl)
    try:
        with eng.connect() as conn:
            runs_before = conn.execute(sa.text("select max(id) from downloads")).scalar() or 0
    except sa.exc.SQLAlchemyError:
        runs_before = 0
    proc = _start(cfg, path)
    peak = PeakRss(proc.pid)
    done: dict = {}

    def ended() -> bool:
        if not done:
            peak.poll()
            code = proc.poll()
            if code is not None:
                done.update(code=code)
        return bool(done)

    try:
        sent = None
        if interrupt:  # once this run wrote segments
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not ended():
                try:
                    with eng.connect() as conn:
                        if conn.execute(sa.text(
                                "select count(*) from segments where download_id > :n"),
                                {"n": runs_before}).scalar():
                            break
                except sa.exc.SQLAlchemyError:
                    pass
                time.sleep(0.1)
            time.sleep(rng.uniform(0, 0.5))
            if not ended():
                proc.send_signal(signal.SIGINT if interrupt == "int" else signal.SIGKILL)
                sent = time.monotonic()
        limit = time.monotonic() + 150
        while not ended():
            assert time.monotonic() < limit, "the run never ended"
            if interrupt == "int" and sent is not None:
                assert time.monotonic() - sent < 20, "still running 20 s after Ctrl-C"
            time.sleep(0.05)
    finally:
        eng.dispose()
        if not done:
            proc.kill()
            proc.wait()
    return done["code"], peak.mb, path.with_suffix(".err").read_text()


@pytest.mark.parametrize("backend", BACKENDS)
def test_soak_random_faults_then_one_rerun_equals_a_clean_run(backend, request, tmp_path):
    rng = random.Random(20240101)
    if backend == "sqlite":
        dburl = "sqlite:///" + str(tmp_path / "soak.sqlite")
        clean = "sqlite:///" + str(tmp_path / "clean.sqlite")
    else:
        dburl, clean = new_pg_database(request), new_pg_database(request)
    shapes = {"events": 3, "stations": 8, "datacenters": 2, "seed": 21, "epochs": True,
              "bad_lines": True}  # station epochs, lines nobody can store (issue 16)
    with fdsn_server(**shapes) as server, fdsn_server(**shapes) as twin, \
            HostileFront(server.event_url, seed=1) as hub, \
            HostileFront(server.dataselect_urls[0], seed=2) as dc0, \
            HostileFront(server.dataselect_urls[1], seed=3) as dc1, DeadServer() as dead:
        refused = refused_url()
        base = {"starttime": "2021-01-01", "endtime": "2021-02-01",
                "events_url": hub.url("/fdsnws/event/1/query"),
                "data_url": [dc0.url("/fdsnws/dataselect/1/query"),
                             dc1.url("/fdsnws/dataselect/1/query"), dead.url(), refused],
                "channel": ["HH?", "BH?"], "search_radius": {"min": 0, "max": 8},
                "time_window": [-1, 2], "network": "!ZR",
                **{k: True for k in ("retry_seg_not_found", "retry_url_err",
                                     "retry_mseed_err", "retry_client_err",
                                     "retry_server_err", "retry_timespan_err")},
                "advanced_settings": {"max_retries": 2, "backoff": 0.05, "w_timeout": 1,
                                      "s_timeout": 1, "i_timeout": 1, "e_timeout": 2,
                                      "request_deadline": 3, "w_max_mb": 2, "s_max_mb": 2,
                                      "i_max_mb": 2, "e_max_mb": 2,
                                      "max_concurrent_downloads": 3, "db_buf_size": 5}}
        rules = _chaos_rules()
        hub.chaos(0.15, [r for r in rules if r.fault in ("close", "reset", "partial",
                                                         "status", "slow")])
        for front in (dc0, dc1):
            front.chaos(0.35, rules)
        # every fault at least once, whatever the draws: the first requests of each kind
        once = [Rule(r.fault, service=service, times=1, status=r.status, rate=r.rate,
                     size=r.size, retry_after=r.retry_after)
                for r in rules for service in ("dataselect", "station")]
        for k, rule in enumerate(once):
            (dc0, dc1)[k % 2].add(rule)
        rules += once
        # and damaged miniSEED from the server itself (the first requests it answers)
        damaged = [server.fault("dataselect", mseed=m, times=2) for m in (
            "truncate", "truncate-last", "corrupt", "shift", "rate0", "overcount", "v3")]
        # no faults: timeouts for a loaded machine (a dead data center costs 2 x 5 s)
        calm = {**base, "advanced_settings": {**base["advanced_settings"], "w_timeout": 10,
                                              "s_timeout": 5, "i_timeout": 10,
                                              "e_timeout": 10, "request_deadline": 60,
                                              "max_retries": 1}}
        # the clean run, meanwhile: straight to a twin of the demo server (same data, no
        # fault), same dead data centers
        clean_cfg = {**calm, "dburl": clean, "events_url": twin.event_url,
                     "data_url": [*twin.dataselect_urls, dead.url(), refused]}
        clean_run = _start(clean_cfg, tmp_path / "clean.yaml")
        started, runs, peaks, codes = time.monotonic(), 0, [], []
        plan = [None, "int", "kill"]  # then drawn at random while time is left
        while time.monotonic() - started < SOAK_SECONDS or runs < len(plan):
            interrupt = plan[runs] if runs < len(plan) else rng.choice([None, "int", "kill"])
            # every other run asks for other windows: each run has every segment to do
            cfg = {**base, "dburl": dburl, "time_window": [-1, 2 + runs % 2]}
            code, peak, err = _run(cfg, tmp_path / f"r{runs}.yaml", interrupt, rng, dburl)
            runs += 1
            peaks.append(peak)
            codes.append((interrupt, code))
            assert "Traceback" not in err, err[-3000:]
            if interrupt is None:
                assert code in (0, 1), err[-3000:]
            elif interrupt == "int":
                if code == -signal.SIGINT:  # it came as the process was exiting: done
                    assert _last_status(dburl) == "completed", err[-3000:]
                else:
                    assert code in (0, 1), err[-3000:]
            assert peak < MAX_RSS_MB, f"run {runs}: peak RSS {peak:.0f} MB"
        hits = {r.fault for r in rules if r.hits} | {f"mseed {f.mseed}" for f in damaged
                                                      if f.hits}
        for front in (hub, dc0, dc1):
            front.clear()
        server.clear_faults()
        code, peak, err = _run({**calm, "dburl": dburl}, tmp_path / "rerun.yaml", None, rng,
                               dburl)
        assert code == 0, err[-3000:]
        assert clean_run.wait(120) == 0, (tmp_path / "clean.err").read_text()[-3000:]
    got, want = _snapshot(dburl), _snapshot(clean)
    assert want["segments"] and all(s[5] == "200" for s in want["segments"])
    for key in want:
        assert got[key] == want[key], (key, len(got[key] ^ want[key]), codes)
    assert hits >= {"slow", "hang", "close", "reset", "partial", "status", "html",
                    "gzip_bomb", "huge", "gzip_file", "mseed v3", "mseed rate0"}, hits
    assert runs >= 3 and max(peaks) < MAX_RSS_MB
    print(f"soak: {runs} runs (interrupt, exit code): {codes}; peak RSS {max(peaks):.0f} MB; "
          f"faults drawn: {sorted(hits)}")
