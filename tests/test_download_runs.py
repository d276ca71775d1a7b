"""`s2s download` and its database, SQLite and PostgreSQL: one run per database, readers
and writers of other programs, dropped connections, failed runs recorded and shown as
failed, what the console and the stored log show."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from s2sframe.cli import main as cli
from s2sframe.db import outcomes
from s2sframe.download import DownloadFailed, download, summary
from tests.conftest import popen
from tests.dlkit import config, query, wait_until
from tests.tcpproxy import Proxy

ROOT = Path(__file__).resolve().parents[1]


DEMO_SERVER = {"events": 2, "stations": 6, "datacenters": 2, "seed": 5}


def _config(server, dburl: str, **kw) -> dict:
    return config(server, dburl, **{"time_window": [-1, 2], "network": "!ZR",
                                    "inventory": True, **kw})


def _state(dburl: str) -> set[tuple]:
    rows = query(dburl, "select st.network, st.station, c.location, c.channel, e.event_id, "
                        "s.download_code, s.data, s.request_start from segments s join "
                        "channels c on c.id = s.channel_id join stations st on st.id = "
                        "c.station_id join events e on e.id = s.event_id")
    return {(*r[:6], None if r[6] is None else bytes(r[6]), str(r[7])) for r in rows}


def _downloads(dburl: str) -> list[sa.Row]:
    return query(dburl, "select id, log, errors from downloads order by id")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _cli_args(cfg: dict, path: Path, *more: str) -> list[str]:
    path.write_text(yaml.safe_dump(cfg))
    return [sys.executable, "-m", "s2sframe.cli", "download", "-c", str(path), "-q", *more]


# ------------------------------------------------------------------ 7. one run per database
def test_a_second_download_on_the_same_database_is_refused_at_once(demo, db_url_factory,
                                                                    tmp_path):
    server = demo
    url = db_url_factory()
    server.fault("dataselect", delay=0.5)  # the first run lasts a while
    cfg = _config(server, url, advanced_settings={"max_concurrent_downloads": 1,
                                                  "db_buf_size": 1})
    with popen(_cli_args(cfg, tmp_path / "a.yaml"), _env(), text=True) as first:
        wait_until(url, "select count(*) from segments", first)  # its first request done
        path = tmp_path / "b.yaml"
        path.write_text(yaml.safe_dump(cfg))
        t0 = time.monotonic()
        second = CliRunner().invoke(cli, ["download", "-c", str(path), "-q"])
        assert time.monotonic() - t0 < 20
        assert second.exit_code == 2, second.output
        assert "another download is already running on this database" in second.output
        assert "process" in second.output  # the holder is named
        assert first.poll() is None  # it was still running
        server.clear_faults()
        assert first.wait(180) == 0, first.stderr.read()
    assert len(_downloads(url)) == 1  # the refused run wrote nothing
    server.clear_faults()
    assert CliRunner().invoke(cli, ["download", "-c", str(path), "-q"]).exit_code == 0


def test_two_first_runs_on_a_new_database_one_is_refused(demo, db_url_factory, tmp_path):
    """Two runs started together on an empty database: no table-creation race, no
    constraint dump; one downloads, the other is refused with exit code 2."""
    server = demo
    url = db_url_factory()
    server.fault("dataselect", delay=0.5)
    cfg = _config(server, url, advanced_settings={"max_concurrent_downloads": 1})
    a = subprocess.Popen(_cli_args(cfg, tmp_path / "a.yaml"), env=_env(), cwd=ROOT,
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    b = subprocess.Popen(_cli_args(cfg, tmp_path / "b.yaml"), env=_env(), cwd=ROOT,
                         stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    try:
        outs = [p.communicate(timeout=240)[1] for p in (a, b)]
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    codes = sorted([a.returncode, b.returncode])
    assert codes == [0, 2], outs
    refused = outs[[a.returncode, b.returncode].index(2)]
    assert "already running" in refused and "Traceback" not in refused
    assert len(_downloads(url)) == 1


# ------------------------------------------------------------------ 4. other programs' readers
def test_a_reader_holding_the_database_does_not_stop_the_download(demo, db_url_factory):
    """Another program keeps a read transaction open, from before the run, for longer
    than SQLite's lock timeout (it crashed with 'database is locked')."""
    server = demo
    url = db_url_factory()
    download(_config(server, url, time_window=[-1, 3]))
    if url.startswith("sqlite"):
        reader = sqlite3.connect(make_url(url).database, isolation_level=None,
                                 check_same_thread=False)
        reader.execute("BEGIN")
        reader.execute("select count(*) from segments").fetchone()  # SHARED lock held
        end = reader.close
    else:
        eng = sa.create_engine(url)
        conn = eng.connect()
        conn.execute(sa.text("select count(*) from segments")).scalar()  # idle in transaction

        def end() -> None:
            conn.close()
            eng.dispose()
    timer = threading.Timer(8.0, end)
    timer.start()
    try:
        report = download(_config(server, url))  # new windows: every segment rewritten
    finally:
        timer.cancel()
        timer.join()
        end()
    assert report.status == "completed" and report.segments == report.segments_planned > 0
    lengths = {(r[4], r[1], r[3], r[-1]) for r in _state(url)}
    assert len(lengths) == report.segments


def test_sqlite_readers_during_the_run_never_delay_it(demo, tmp_path):
    """While the download writes, the SQLite file is in WAL mode: a reader that opens a
    transaction during the run and keeps it to the end delays no write."""
    server = demo
    path = tmp_path / "wal.sqlite"
    url = "sqlite:///" + str(path)
    download(_config(server, url, time_window=[-1, 3]))
    server.fault("dataselect", delay=0.2)
    result: dict = {}
    cfg = _config(server, url, advanced_settings={"db_buf_size": 1,
                                                  "max_concurrent_downloads": 1})
    run = threading.Thread(target=lambda: result.update(report=download(cfg)), daemon=True)
    run.start()
    reader = sqlite3.connect(path, isolation_level=None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (logged,) = reader.execute("select count(*) from downloads where id = 2 and "
                                   "log like '%waveforms: %'").fetchone()
        if logged:
            break
        time.sleep(0.05)
    reader.execute("BEGIN")
    before = reader.execute("select count(*) from segments where download_id = 2").fetchone()
    run.join(120)
    still = reader.execute("select count(*) from segments where download_id = 2").fetchone()
    reader.execute("COMMIT")
    after = reader.execute("select count(*) from segments where download_id = 2").fetchone()
    reader.close()
    assert not run.is_alive() and result["report"].status == "completed"
    assert still == before and after[0] == result["report"].segments > before[0]
    log = _downloads(url)[-1].log
    assert "trying again" not in log and "WAL mode not available" not in log


def test_sqlite_writer_holding_the_lock_is_waited_for(demo, tmp_path):
    """Another program writing (holding SQLite's write lock 7 s, longer than the lock
    timeout): the download's writes wait and retry with back-off, logged."""
    server = demo
    path = tmp_path / "w.sqlite"
    url = "sqlite:///" + str(path)
    download(_config(server, url, time_window=[-1, 3]))
    holder = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(7.0, holder.execute, ["ROLLBACK"])
    timer.start()
    try:
        report = download(_config(server, url))
    finally:
        timer.cancel()
        timer.join()
        holder.close()
    assert report.status == "completed" and report.segments > 0
    log = _downloads(url)[-1].log
    assert "database is locked): trying again in" in log


# ------------------------------------------------------------------ 5. dropped connections
@pytest.mark.postgres
def test_postgresql_connections_dropped_midway_are_survived(demo, pg_url_factory,
                                                            tmp_path):
    """Every connection of the download is cut twice while it runs (idle pooled ones,
    the lock's, one writing): the run completes, equal to an undisturbed run."""
    server = demo
    url, clean = pg_url_factory(), pg_url_factory()
    download(_config(server, clean))
    u = make_url(url)
    proxy = Proxy((u.host or "127.0.0.1", u.port or 5432))
    through = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server.fault("dataselect", delay=0.25)
    cuts: list[int] = []
    eng = sa.create_engine(url)

    def cutter() -> None:
        for target in (2, 8):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    with eng.connect() as conn:
                        n = conn.execute(sa.text("select count(*) from segments")).scalar()
                except sa.exc.SQLAlchemyError:
                    n = 0
                if n >= target:
                    cuts.append(proxy.cut_all())
                    break
                time.sleep(0.05)

    t = threading.Thread(target=cutter, daemon=True)
    t.start()
    try:
        report = download(_config(server, through, advanced_settings={
            "max_concurrent_downloads": 1, "db_buf_size": 1}))
    finally:
        t.join(5)
        proxy.close()
        eng.dispose()
    assert len(cuts) == 2 and all(cuts), cuts
    assert report.status == "completed"
    server.clear_faults()
    assert _state(url) == _state(clean)


@pytest.mark.postgres
def test_a_database_gone_for_good_fails_the_run_without_sql_dumps(demo, pg_url_factory,
                                                                  tmp_path):
    server = demo
    url = pg_url_factory()
    u = make_url(url)
    proxy = Proxy((u.host or "127.0.0.1", u.port or 5432))
    through = u.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server.fault("dataselect", delay=0.25)
    cfg = _config(server, through, advanced_settings={"max_concurrent_downloads": 1,
                                                       "db_buf_size": 1})
    env = {**_env(), "S2S_DB_RETRIES": "3"}
    args = [a for a in _cli_args(cfg, tmp_path / "g.yaml") if a != "-q"]  # log on stderr
    with popen(args, env, text=True, stdout=subprocess.DEVNULL) as proc:
        wait_until(url, "select count(*) from segments", proc)
        proxy.drop_next(10**6)  # the server is gone: every new connection fails
        proxy.cut_all()
        _, err = proc.communicate(timeout=120)
    proxy.close()
    assert proc.returncode == 1
    assert "parameters" not in err and "INSERT" not in err and "UPDATE" not in err, err
    assert "[SQL" not in err and "Traceback" not in err, err
    assert "FAILED at step 'waveforms'" in err and "could not be saved" in err
    assert "Error: download 1 failed at step 'waveforms': OperationalError" in err
    assert outcomes.run_status(_downloads(url)[0].log) == "unfinished"  # its last word lost


# ------------------------------------------------------------------ 8. failed runs shown as failed
def test_a_failed_run_is_recorded_and_shown_as_failed(demo, db_url_factory, tmp_path):
    """Every station service fails on a new database (no channel at all): exit code 1
    (it was 0), the failure is the last line of the run's log, counted, and every view
    of the runs shows it as failed."""
    server = demo
    url = db_url_factory()
    server.fault("station", 500)
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(_config(server, url)))
    result = CliRunner().invoke(cli, ["download", "-c", str(path), "-q"])
    assert result.exit_code == 1, result.output
    assert "every station service failed" in result.output
    runs = _downloads(url)
    assert len(runs) == 1 and runs[0].errors == 1
    last = runs[0].log.splitlines()[-1]
    assert "FAILED at step 'channels': DownloadFailed: no channel: every station service" in last
    # in Python: the exception says so
    with pytest.raises(DownloadFailed, match="every station service failed") as err:
        download(_config(server, url))
    assert any("recorded in its downloads row" in n for n in err.value.__notes__)
    server.clear_faults()
    ok = download(_config(server, url))
    # shown as failed: summary(), s2s dl summary, the viewer's downloads page
    eng = sa.create_engine(url)
    table = summary(eng)
    eng.dispose()
    status = dict(zip(table["download_id"], table["status"], strict=False))
    assert status == {1: "failed", 2: "failed", ok.download_id: "completed"}
    listed = CliRunner().invoke(cli, ["dl", "summary", "-d", url])
    assert listed.exit_code == 0, listed.output
    assert listed.output.count("failed") == 2 and "completed" in listed.output
    stats = outcomes.download_stats(url)
    assert [r["status"] for r in stats["runs"]] == ["failed", "failed", "completed"]


def test_interrupted_and_killed_runs_have_their_status():
    assert outcomes.run_status("x INFO: download 2 into ...\nx INFO: waveforms: 3") \
        == "unfinished"
    assert outcomes.run_status("x ERROR: download 2 interrupted by the user at step "
                               "'waveforms': ...") == "interrupted"
    assert outcomes.run_status("[INFO] Completed in 0:01:02") == "completed"  # stream2segment
    assert outcomes.run_status("[CRITICAL] Download aborted") == "failed"  # stream2segment


# ------------------------------------------------------------------ 16: console and stored log
def test_console_shows_config_progress_and_outcome_table(demo, tmp_path):
    server = demo
    url = "sqlite:///" + str(tmp_path / "c.sqlite")
    cfg = _config(server, url, restricted_data=None)
    cfg["events_url"] = cfg["events_url"].replace("http://", "http://me:pw123@")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    result = subprocess.run([sys.executable, "-m", "s2sframe.cli", "download", "-c", str(path)],
                            env=_env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    head = err.split("INFO: download 1 into")[0]
    assert "configuration (file and options merged, passwords masked)" in head
    assert "events_url: http://me:***@127.0.0.1:" in head and "time_window: [-1, 2]" in head
    for bar in ("events:", "channels:", "inventories:"):
        assert bar in err, bar
    for dc in server.dataselect_urls:  # a progress bar per data center
        assert "waveforms " + dc.split("//")[1].split("/")[0] in err
    assert "pw123" not in err + result.stdout
    table = result.stdout.split("\n", 1)[1]
    assert "200 OK" in table and server.dataselect_urls[0] in table
    log = _downloads(url)[0].log
    assert "outcome per data center (segments):" in log and table.strip() in log
    assert "download 1 completed in" in log.splitlines()[-1]


def test_rows_refused_in_a_transaction_run_again_count_once(tmp_path):
    """A write whose transaction fails with a transient error (SQLite's 'database is
    locked', a dropped connection) is run again: the rows it refuses are counted (and
    logged) once, not once per attempt; a write that fails for good counts none."""
    import sqlite3

    from s2sframe.db import schema
    from s2sframe.download.rows import Skipped, transaction_once, write_rows

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'w.sqlite'}")
    schema.metadata.create_all(engine)
    rows = [{"url": f"http://dc{k}.org/fdsnws/dataselect/1/query", "type": "dataselect"}
            for k in range(3)] + [{"url": None, "type": "dataselect"}]  # refused: no url
    attempts = []

    def write(conn: sa.Connection) -> int:
        done = write_rows(conn, schema.web_services.insert(), rows, "service row",
                          lambda r: str(r["url"]), skipped)
        attempts.append(len(done))
        if len(attempts) < 3:  # as SQLite raises it when another program holds the file
            raise sa.exc.OperationalError("COMMIT", {}, sqlite3.OperationalError(
                "database is locked"))
        return len(done)

    skipped = Skipped()
    assert transaction_once(engine, write, skipped, first_delay=0.01) == 3
    assert attempts == [3, 3, 3] and skipped.counts == {"service row": 1}
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from web_services")).scalar() == 3

    attempts.clear()
    failing = Skipped()

    def never(conn: sa.Connection) -> int:
        write_rows(conn, schema.web_services.insert(), rows[-1:], "service row",
                   lambda r: str(r["url"]), failing)
        raise ValueError("not a database error: not run again")

    with pytest.raises(ValueError):
        transaction_once(engine, never, failing, first_delay=0.01)
    assert failing.counts == {}
    engine.dispose()
