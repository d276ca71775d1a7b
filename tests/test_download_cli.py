"""What stream2segment users run around a download: `s2s dl stats` (text and an HTML report
that opens offline), `s2s dl log`, `s2s dl config`, `s2s db drop`, and `s2s download`'s
command-line overrides and `--print-config-only`, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import re
import shutil
from datetime import timedelta

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from s2sframe.cli import main as cli
from s2sframe.download import download, summary
from s2sframe.testing.fdsn_server import fdsn_server
from tests.conftest import IN_CI
from tests.dlkit import config


@pytest.fixture(scope="module")
def server():
    with fdsn_server(events=2, stations=4, datacenters=2, seed=5) as srv:
        yield srv


def _config(server, dburl: str, **kw) -> dict:
    return config(server, dburl, **{"channel": "HHZ", "search_radius": {"min": 0, "max": 10},
                                    **kw})


def _scalar(url: str, sql: str, **params):
    eng = sa.create_engine(url)
    with eng.begin() as conn:
        result = conn.execute(sa.text(sql), params)
        out = result.scalar() if result.returns_rows else None
    eng.dispose()
    return out


@pytest.fixture
def two_runs(server, db_url_factory):
    """A database with two download runs: HHZ, then HH? (the new channels)."""
    url = db_url_factory()
    first = download(_config(server, url))
    second = download(_config(server, url, channel="HH?"))
    assert first.segments and second.segments
    return url, first, second


def test_dl_stats_log_and_config(two_runs, server):
    url, first, second = two_runs
    run = CliRunner().invoke
    out = run(cli, ["dl", "stats", "-d", url]).output
    host = server.dataselect_urls[0].split("/fdsnws/")[0]
    assert "Download id 1:" in out and "Download id 2:" in out and host in out
    assert "All these downloads together:" in out and "OK: data saved" in out
    ok = _scalar(url, "select count(*) from segments where download_code = 200")
    together = out.split("All these downloads together:")[1].split("\n\n")[0].splitlines()
    rows = [line.split() for line in together[3:] if not line.startswith("total")]
    assert sum(int(r[-1].replace(",", "")) for r in rows) == first.segments + second.segments
    assert sum(int(r[1].replace(",", "")) for r in rows) == ok  # column OK
    only_first = run(cli, ["dl", "stats", "-d", url, "0"]).output
    assert "Download id 1:" in only_first and "Download id 2:" not in only_first
    assert run(cli, ["dl", "stats", "-d", url, "x:"]).exit_code == 2  # bad index
    only_last = run(cli, ["dl", "stats", "-d", url, "-1"])  # negative: from the end
    assert only_last.exit_code == 0, only_last.output
    assert "Download id 2:" in only_last.output and "Download id 1:" not in only_last.output
    before_last = run(cli, ["dl", "log", "-d", url, "-2"]).output
    assert "download 1 into" in before_last and "download 2 into" not in before_last
    log = run(cli, ["dl", "log", "-d", url])  # default: the last run
    assert log.exit_code == 0 and "download 2 into" in log.output
    assert "download 1 into" not in log.output and "[end of log]" in log.output
    # a configuration as stream2segment stores it: secrets in clear
    _scalar(url, "update downloads set config = :c where id = 1",
            c="dburl: postgresql://me:secret@db.org/s2s\nrestricted_data: [me, pw123]\n"
              "events_url: emsc\n")
    cfg = run(cli, ["dl", "config", "-d", url, "-did", "1"])
    assert cfg.exit_code == 0 and "secret" not in cfg.output and "pw123" not in cfg.output
    parsed = yaml.safe_load(cfg.output)
    assert parsed["dburl"] == "postgresql://me:***@db.org/s2s"
    assert parsed["events_url"] == "emsc"
    again = yaml.safe_load(run(cli, ["dl", "config", "-d", url]).output)  # the last run
    assert again["channel"] == "HH?"


def test_db_drop_asks_then_deletes_the_runs_segments(two_runs):
    url, first, second = two_runs
    sid = _scalar(url, "select min(id) from segments where download_id = 1")
    _scalar(url, "insert into classes (label) values ('noisy')")
    _scalar(url, "insert into class_labellings (segment_id, class_id, annotator) values "
                 "(:s, 1, 'me')", s=sid)
    run = CliRunner().invoke
    no = run(cli, ["db", "drop", "-d", url, "-did", "1"], input="n\n")
    assert no.exit_code == 1 and "nothing deleted" in no.output
    assert _scalar(url, "select count(*) from segments where download_id = 1") == first.segments
    assert run(cli, ["db", "drop", "-d", url, "-did", "1"]).exit_code == 2  # no terminal
    yes = run(cli, ["db", "drop", "-d", url, "-did", "1"], input="y\n")
    assert yes.exit_code == 0, yes.output
    assert f"download id 1: deleted, with {first.segments} segment(s)" in yes.output
    assert _scalar(url, "select count(*) from segments where download_id = 1") == 0
    assert _scalar(url, "select count(*) from segments") == second.segments
    assert _scalar(url, "select count(*) from class_labellings") == 0
    assert _scalar(url, "select count(*) from downloads") == 1
    assert "nothing to delete" in run(cli, ["db", "drop", "-d", url, "-did", "7", "-y"]).output


def test_db_drop_is_refused_while_a_download_runs(two_runs):
    """No segment is deleted under a running download: the drop takes the download's run
    lock (held here as a download holds it) and is refused, exit 2, the holder named."""
    import sqlalchemy as sa

    from s2sframe.db.locks import DOWNLOAD_LOCK, DatabaseLock

    url, first, second = two_runs
    engine = sa.create_engine(url)
    try:
        with DatabaseLock(engine, DOWNLOAD_LOCK, "another download", "db"):
            out = CliRunner().invoke(cli, ["db", "drop", "-d", url, "-did", "1", "-y"])
            assert out.exit_code == 2, out.output
            assert "a download is already running on this database" in out.output
            assert "process " in out.output  # the holder: a process (SQLite) or a server session
            assert _scalar(url, "select count(*) from segments") == \
                first.segments + second.segments
        out = CliRunner().invoke(cli, ["db", "drop", "-d", url, "-did", "1", "-y"])
        assert out.exit_code == 0, out.output
        assert _scalar(url, "select count(*) from segments") == second.segments
    finally:
        engine.dispose()


def test_download_overrides_and_print_config_only(server, db_url_factory, tmp_path):
    url = db_url_factory()
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(_config(server, url, events_extra_params={
        "minmagnitude": 9.0})))
    run = CliRunner().invoke
    args = ["download", "-c", str(path), "-t", "-1", "2", "-minmag", "0", "-r1", "-u",
            "-msr", "50", "-i"]
    shown = run(cli, args + ["--print-config-only"])
    assert shown.exit_code == 0, shown.output
    cfg = yaml.safe_load(shown.output)
    assert cfg["time_window"] == [-1.0, 2.0] and cfg["minmagnitude"] == 0
    assert cfg["events_extra_params"] == {}  # the option replaces the file's value
    assert cfg["retry_url_err"] is cfg["update_metadata"] is cfg["inventory"] is True
    assert cfg["min_sample_rate"] == 50
    with pytest.raises(sa.exc.OperationalError if url.startswith("sqlite") else
                       sa.exc.ProgrammingError):  # nothing downloaded, no table created
        _scalar(url, "select count(*) from downloads")
    done = run(cli, args + ["-q"])
    assert done.exit_code == 0, done.output
    assert _scalar(url, "select count(*) from segments") > 0  # minmag 9 would give none
    width = _scalar(url, "select min(request_end) from segments")
    start = _scalar(url, "select min(request_start) from segments")
    if isinstance(width, str):
        from datetime import datetime

        width, start = datetime.fromisoformat(width), datetime.fromisoformat(start)
    assert width - start == timedelta(minutes=3)
    assert _scalar(url, "select count(*) from stations where inventory_xml is not null") > 0
    assert yaml.safe_load(_scalar(url, "select config from downloads"))["time_window"] == [-1, 2]


# ------------------------------------------------------------------------ HTML report
def _chromium() -> str | None:
    path = os.environ.get("S2S_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if os.path.exists(path) else None


def test_html_report_opens_offline_in_a_browser(two_runs, tmp_path):
    url, first, second = two_runs
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["dl", "stats", "-d", url, "--html", "-o", str(out)])
    assert result.exit_code == 0 and out.is_file()
    page = out.read_text()
    assert len(page) < 60_000 and "src=" not in page and "href=\"http" not in page
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover
        if IN_CI:
            pytest.fail(f"Playwright is not installed ({exc}) (CI=true: browser tests must run)")
        pytest.skip(f"Playwright is not installed ({exc})")
    path = _chromium()
    if path is None:
        if IN_CI:
            pytest.fail("Chromium not found (CI=true: browser tests must run)")
        pytest.skip("Chromium not found")
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True)
        ctx = browser.new_context(offline=True)
        pg = ctx.new_page()
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("request", lambda r: requests.append(r.url))
        pg.goto(out.as_uri())
        pg.wait_for_selector("body[data-ready='1']", timeout=30_000)
        tables = pg.locator(".run table").count()
        circles = pg.locator("#map svg circle").count()
        land = pg.locator("#map svg path.land").get_attribute("d") or ""
        pg.locator(".run details").first.click()
        # the text is set by the details' toggle event, dispatched after the click
        pg.wait_for_selector(".run details pre[data-loaded='1']", timeout=60_000)
        config = pg.locator(".run details pre").first.text_content()
        browser.close()
    assert not errors, errors
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert tables == 2  # one per run
    stations = _scalar(url, "select count(distinct c.station_id) from segments s join channels "
                            "c on c.id = s.channel_id")
    assert circles == stations
    assert land.count("M") >= 1 and land.endswith("Z")  # coastlines, drawn offline
    assert "dburl" in config and "time_window" in config


def test_db_classlabel_as_stream2segment(db_url_factory):
    from s2sframe.testing import make_database

    url = db_url_factory()
    make_database(url, events=1, stations=1, seed=1)
    run = CliRunner().invoke
    out = run(cli, ["db", "classlabel", "-d", url, "--add", "noisy", "too much noise",
                    "--add", "spike", "a spike", "--no-prompt"])
    assert out.exit_code == 0, out.output
    assert "noisy (too much noise)" in out.output and "spike (a spike)" in out.output
    assert run(cli, ["db", "classlabel", "-d", url, "--delete", "spike"],
               input="n\n").exit_code == 1
    out = run(cli, ["db", "classlabel", "-d", url, "--rename", "noisy", "Noisy", "",
                    "--delete", "spike", "--no-prompt"])
    assert "Noisy (too much noise)" in out.output and "spike" not in out.output


def test_dl_summary_selects_runs_as_stream2segment(two_runs):
    """`s2s dl summary` takes stream2segment's DOWNLOAD_INDICES and -did (every run when
    neither is given), as `s2s dl stats` does."""
    url, first, second = two_runs
    run = CliRunner().invoke

    def shown(*args: str) -> set[int]:
        result = run(cli, ["dl", "summary", "-d", url, *args])
        assert result.exit_code == 0, result.output
        return {int(m) for m in re.findall(r"^│\s*(\d+)\s*┆", result.output, flags=re.M)}

    assert shown() == {1, 2}
    assert shown("-1") == {2} and shown("0") == {1}  # indices in run order, as stream2segment
    assert shown("-did", "1") == {1}
    assert shown("0", "-did", "2") == {1, 2}
    assert shown("-did", "99") == set()  # no such run: nothing
    assert run(cli, ["dl", "summary", "-d", url, "x:"]).exit_code == 2  # bad index
    engine = sa.create_engine(url)
    try:
        table = summary(engine, [second.download_id])
    finally:
        engine.dispose()
    assert set(table["download_id"]) == {second.download_id}
    assert table["segments"].sum() == second.segments
