"""``s2s show``: the HTTP API on a real server (SQLite and PostgreSQL), security, labels, CLI."""

from __future__ import annotations

import json

import polars as pl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import s2sframe
from s2sframe.cli import main
from s2sframe.show import show
from tests.conftest import BACKENDS, new_pg_database
from tests.showkit import Client, build, plot_module, store_secrets


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        return build("sqlite:///" + str(tmp_path_factory.mktemp("show") / "show.sqlite"))
    return build(new_pg_database(request))


@pytest.fixture(scope="module")
def pyfile(tmp_path_factory):
    return plot_module(tmp_path_factory.mktemp("plots"))


@pytest.fixture
def server(db, pyfile):
    srv = show(db, pyfile=pyfile, config={"reason": "test config"}, open_browser=False,
               annotator="tester")
    yield srv
    srv.stop()


@pytest.fixture
def client(server) -> Client:
    c = Client(server.url)
    c.page()
    return c


def labellings(url: str, segment_id: int) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                "select class_id, annotator, is_hand_labelled from class_labellings "
                "where segment_id = :s order by class_id"), {"s": segment_id})]
    finally:
        engine.dispose()


def test_init_and_default_selection(client: Client, db: str):
    status, init = client.get("init")
    assert status == 200
    expected = s2sframe.scan(db).filter(s2sframe.where({"has_valid_data": "true"})) \
        .select("id").collect().height
    assert init["count"] == expected > 0
    assert init["selection"] == "has_valid_data: true"
    assert [p["name"] for p in init["plots"]] == ["cumulative", "spectrum", "broken"]
    assert init["plots"][1]["position"] == "r" and init["plots"][1]["xaxis"] == {"type": "log"}
    assert init["preprocess"] == "Remove the mean (fast: no response removal)"
    assert "reason: test config" in init["config"]
    assert len(init["classes"]) == 6 and {"id", "label", "count"} <= set(init["classes"][0])
    assert "event.magnitude" in init["attributes"] and "station.netsta_code" in init["attributes"]


def test_segment_waveform_metadata_and_decimation(client: Client, db: str):
    # 20 Hz without gaps: one trace of < 16000 samples
    sel = {"has_valid_data": "true", "sample_rate": "20", "maxgap_numsamples": "[-0.5, 0.5]"}
    text = "\n".join(f"{k}: {v}" for k, v in sel.items())
    assert client.post("selection", {"text": text})[0] == 200
    status, seg = client.get("segment", index=0, width=8000)
    assert status == 200, seg
    first = s2sframe.scan(db).filter(s2sframe.where(sel)) \
        .select("id", "seed_id", "arrival_time").sort("id").collect().row(0, named=True)
    assert seg["id"] == first["id"] and seg["seed_id"] == first["seed_id"]
    meta = dict(seg["metadata"])
    assert meta["seed_id"] == first["seed_id"] and "event.magnitude" in meta
    assert "download.log" not in meta and "classes.label" not in meta
    main = seg["main"]
    npts = sum(len(t.data) for t in s2sframe.scan(db).select("id").collect()
               .s2s.segment(id=seg["id"], dburl=db).stream())
    assert len(main["series"][0]["y"]) == npts and not main["decimated"]
    arrival = [m for m in main["markers"] if m["kind"] == "arrival"][0]["x"]
    assert arrival == pytest.approx(first["arrival_time"].replace(
        tzinfo=__import__("datetime").timezone.utc).timestamp())
    # a narrow page gets at most 2 points per pixel; zooming in gives the samples back
    _s, small = client.get("segment", index=0, width=100)
    ys = small["main"]["series"][0]["y"]
    assert small["main"]["decimated"] and len(ys) <= 200
    x = main["series"][0]["x"]
    _s, z = client.get("zoom", key=small["main"]["key"], x0=x[100], x1=x[150], width=100)
    assert z["series"][0]["x"][1:-1] == x[100:151] and not z["decimated"]


def test_gaps_are_reported(client: Client, db: str):
    gapped = s2sframe.scan(db).filter(pl.col("maxgap_numsamples") > 0.5).select("id") \
        .collect()["id"].to_list()
    assert gapped
    status, r = client.post("selection", {"text": f"id: {gapped[0]}"})
    assert status == 200 and r["count"] == 1
    _s, seg = client.get("segment", index=0)
    assert seg["main"]["gaps"] and None in seg["main"]["series"][0]["y"]


def test_user_plots_and_their_errors(client: Client):
    _s, ok = client.get("plot", index=0, name="cumulative")
    assert "error" not in ok and ok["series"][0]["y"][-1] == pytest.approx(1.0)
    _s, spec = client.get("plot", index=0, name="spectrum")
    assert spec["series"][0]["name"] == "amplitude" and spec["series"][0]["x"][:2] == [0, 0.1]
    _s, bad = client.get("plot", index=0, name="broken")
    assert bad["error"] == "ValueError: broken on purpose: test config"
    # the spectrum zeroed its own copy: the waveform is intact
    _s, seg = client.get("segment", index=0)
    assert any(v for v in seg["main"]["series"][0]["y"] if v)
    assert client.post("selection", {"text": "has_valid_data: true\nsample_rate: 20"})[0] == 200
    _s, pre = client.get("segment", index=0, pre=1, width=8000)
    ys = [v for v in pre["main"]["series"][0]["y"] if v is not None]
    assert abs(sum(ys) / len(ys)) < 1e-6 * max(abs(v) for v in ys)
    status, missing = client.get("plot", index=0, name="nope")
    assert "no plot function named 'nope'" in missing["error"]


def test_config_editor_reruns_plots(client: Client):
    status, r = client.post("config", {"text": "reason: edited"})
    assert status == 200
    _s, bad = client.get("plot", index=0, name="broken")
    assert bad["error"].endswith("edited")
    status, r = client.post("config", {"text": "a: [unclosed"})
    assert status == 400 and "error" in r
    status, r = client.post("config", {"text": "- a list"})
    assert status == 400 and "mapping" in r["error"]


def test_selection_box(client: Client, db: str):
    status, r = client.post("selection", {"text": "station.network: GE\nhas_data: 'true'"})
    expected = s2sframe.scan(db).filter(s2sframe.where(
        {"station.network": "GE", "has_data": "true"})).select("id").collect().height
    assert status == 200 and r["count"] == expected
    status, r = client.post("selection", {"text": "event.magnitud: 5"})
    assert status == 400 and "event.magnitude" in r["error"]
    status, r = client.post("selection", {"text": "id: ) DROP TABLE segments; --"})
    assert status == 400
    status, r = client.post("selection", {"text": "station.network: 'GE; DROP TABLE segments'"})
    assert status == 200 and r["count"] == 0
    status, r = client.post("selection", {"text": ""})
    assert r["count"] == s2sframe.scan(db).select("id").collect().height
    status, r = client.get("segment", index=10**6)
    assert status == 400 and "out of range" in r["error"]


def test_other_components(client: Client):
    _s, seg = client.get("segment", index=0, comp=1)
    names = {c["series"][0]["name"] for c in seg["components"] if "series" in c}
    assert len(seg["components"]) == 2
    assert seg["seed_id"][:-1] == seg["components"][0]["series"][0]["name"][:-1]
    assert seg["seed_id"] not in names


def test_labels_are_written_with_annotator(client: Client, db: str):
    _s, seg = client.get("segment", index=1)
    sid = seg["id"]
    before = labellings(db, sid)
    status, r = client.post("label", {"segment_id": sid, "class_id": 2, "value": True})
    assert status == 200 and 2 in r["labels"]
    row = [x for x in labellings(db, sid) if x[0] == 2][0]
    assert row[1].startswith("tester 20") and row[1].endswith("Z") and row[2]
    status, r = client.post("label", {"segment_id": sid, "class_id": 2, "value": False})
    assert status == 200 and 2 not in r["labels"]
    assert labellings(db, sid) == [x for x in before if x[0] != 2]
    status, r = client.post("label", {"segment_id": sid, "class_id": 999, "value": True})
    assert status == 400 and "999" in r["error"]


def test_classes_can_be_added_and_deleted(client: Client):
    status, classes = client.post("classes/add", {"label": "clipped", "description": "d"})
    assert status == 200 and classes[-1]["label"] == "clipped"
    status, r = client.post("classes/add", {"label": "clipped"})
    assert status == 400 and "already exists" in r["error"]
    status, classes = client.post("classes/delete", {"id": classes[-1]["id"]})
    assert status == 200 and "clipped" not in [c["label"] for c in classes]


def test_writes_need_the_session_token(server, client: Client, db: str):
    page, cookie = client.page()
    token = client.cookie.split("=", 1)[1]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert token.encode() not in page and len(token) >= 32
    body = {"segment_id": 1, "class_id": 1, "value": True}
    before = labellings(db, 1)
    assert client.post("label", body, cookie=False)[0] == 403
    assert client.post("label", body, header=False)[0] == 403
    assert client.post("label", body, origin="http://evil.example")[0] == 403
    client.cookie = client.cookie.split("=")[0] + "=" + "x" * len(token)
    assert client.post("label", body)[0] == 403
    assert labellings(db, 1) == before
    # DNS rebinding: a foreign Host is refused, even for reads
    status, _h, _c = client.request("GET", "/api/init", headers={"Host": "evil.example:80"})
    assert status == 403
    for path in ("/", "/api/init", "/static/app.js"):
        assert token.encode() not in client.request("GET", path)[2]


def test_readonly_refuses_writes(db, pyfile):
    srv = show(db, pyfile=pyfile, open_browser=False, readonly=True)
    try:
        c = Client(srv.url)
        c.page()
        assert c.get("init")[1]["readonly"] is True
        before = labellings(db, 1)
        status, r = c.post("label", {"segment_id": 1, "class_id": 1, "value": 1 not in
                                     [x[0] for x in before]})
        assert status == 403 and "read-only" in r["error"]
        assert c.post("classes/add", {"label": "x"})[0] == 403
        assert labellings(db, 1) == before
        assert c.post("config", {"text": "a: 1"})[0] == 200  # the config is not the database
    finally:
        srv.stop()


def test_readonly_engine_cannot_write(db):
    srv = show(db, open_browser=False, readonly=True)
    try:
        with pytest.raises(sa.exc.DBAPIError, match="read-only|readonly"), \
                srv.viewer.ro_engine.begin() as conn:
            conn.execute(sa.text("delete from class_labellings"))
    finally:
        srv.stop()


def test_frame_rows_in_their_order(db):
    df = s2sframe.scan(db).filter(pl.col("has_data")).select("id").collect()
    ids = df["id"].to_list()[::-1][:5]
    srv = pl.DataFrame({"id": ids}).s2s.show(dburl=db, open_browser=False)
    try:
        c = Client(srv.url)
        c.page()
        assert c.get("init")[1]["count"] == 5
        assert [c.get("segment", index=i)[1]["id"] for i in range(5)] == ids
        status, r = c.post("selection", {"text": f"id: >={sorted(ids)[2]}"})
        assert r["count"] == 3
        assert [c.get("segment", index=i)[1]["id"] for i in range(3)] == ids[:3]
    finally:
        srv.stop()


def test_bad_module_is_bad_input(db, tmp_path):
    path = tmp_path / "old.py"
    path.write_text("from stream2segment.process import gui\n")
    result = CliRunner().invoke(main, ["show", "-d", db, "-p", str(path), "--no-browser"])
    assert result.exit_code == 2  # the hint says what to change (wording: compat's)
    assert "stream2segment" in result.output and "s2sframe" in result.output


# -------------------------------------------------------------------- s2s classlabel
def test_classlabel_commands(db):
    def run(*args, input=None):  # noqa: A002
        return CliRunner().invoke(main, ["classlabel", *args], input=input)

    listed = run("list", "-d", db)
    assert listed.exit_code == 0 and listed.output.splitlines()[0].split("\t")[:2] == \
        ["1", "earthquake"]
    assert run("add", "-d", db, "spiky", "spikes in the trace").exit_code == 0
    assert run("add", "-d", db, "spiky").exit_code == 2
    assert run("rename", "-d", db, "spiky", "spikes", "--description", "new").exit_code == 0
    assert run("rename", "-d", db, "nope", "x").exit_code == 2
    assert "spikes\t0\tnew" in run("list", "-d", db).output
    no = run("delete", "-d", db, "spikes", input="n\n")
    assert no.exit_code == 1 and "spikes" in run("list", "-d", db).output
    assert run("delete", "-d", db, "spikes", input="y\n").exit_code == 0
    assert "spikes" not in run("list", "-d", db).output
    assert run("delete", "-d", db, "spikes", "--yes").exit_code == 2
    assert run("list", "-d", "sqlite:////nonexistent/x.sqlite").exit_code == 2


def test_downloads_report(client: Client, db: str):
    status, d = client.get("downloads")
    assert status == 200
    total = sum(n for run in d["runs"] for cells in run["counts"].values()
                for n in cells.values())
    assert total == s2sframe.scan(db).select("id").collect().height
    ok = sum(cells.get("ok", 0) for run in d["runs"] for cells in run["counts"].values())
    expected = s2sframe.scan(db).filter((pl.col("download_code") == 200)
                                        & (pl.col("maxgap_numsamples").abs() <= 0.5)) \
        .select("id").collect().height
    assert ok == expected
    keys = [o[0] for o in d["outcomes"]]
    assert keys[0] == "ok" and "ok_gaps" in keys and "malformed" in keys
    assert len(d["stations"]) == 3 and all(-90 <= s["lat"] <= 90 for s in d["stations"])
    status, log = client.get("download_log", id=d["runs"][0]["id"])
    assert status == 200 and set(log) == {"log", "config"}
    assert client.get("download_log", id=9999)[0] == 400


def test_s2s_show_command_serves_and_logs_no_secret(tmp_path, pyfile):
    """The real command in a subprocess: prints the address, serves, logs paths only."""
    import os
    import re
    import signal
    import subprocess
    import sys

    url = build("sqlite:///" + str(tmp_path / "cli.sqlite"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "s2sframe.cli", "show", "-d", url, "-p", str(pyfile),
         "--no-browser", "--verbose"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = proc.stderr.readline()
        match = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        client = Client(match.group(1))
        client.page()
        token = client.cookie.split("=", 1)[1]
        assert client.get("init")[1]["count"] > 0
        assert client.post("label", {"segment_id": 1, "class_id": 1, "value": True})[0] == 200
        assert client.post("label", {"segment_id": 1, "class_id": 1, "value": False})[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        out = proc.communicate(timeout=30)[1]
    log = line + out
    assert "POST /api/label 200" in log and "GET /api/init 200" in log
    assert token not in log


def test_docs_page_examples_run(tmp_path, monkeypatch):
    """The Python blocks of docs/show.md run as written (the plot module is then used)."""
    import re

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "show.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(blocks) == 2
    module = tmp_path / "doc_plots.py"
    module.write_text(blocks[0])
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[1], "show.md", "exec"), namespace)  # noqa: S102 - our own docs
    url = namespace["url"]
    srv = show(url, pyfile=module, open_browser=False)
    try:
        c = Client(srv.url)
        c.page()
        assert [p["name"] for p in c.get("init")[1]["plots"]] == ["cumulative", "spectrum"]
        assert "error" not in c.get("plot", index=0, name="spectrum")[1]
        _s, pre = c.get("segment", index=0, pre=1)
        assert "error" not in pre["main"]  # the documented response removal works
    finally:
        srv.stop()


def test_download_config_and_log_never_show_secrets(tmp_path):
    url = build("sqlite:///" + str(tmp_path / "secrets.sqlite"))
    store_secrets(url)
    srv = show(url, open_browser=False)
    try:
        c = Client(srv.url)
        status, d = c.get("downloads")
        assert status == 200 and "S3cretPW" not in json.dumps(d)
        assert "carl:***@dc.example" in json.dumps(d)
        status, log = c.get("download_log", id=d["runs"][0]["id"])
        assert status == 200 and "S3cretPW" not in json.dumps(log)
        assert "postgresql://alice:***@host/db" in log["config"]
        assert "restricted_data: ['***', '***']" in log["config"]
        assert "HH?" in log["config"]  # the rest as stored
        assert "postgresql://alice:***@host/db" in log["log"] and "INFO: done" in log["log"]
    finally:
        srv.stop()


def test_concurrent_writes_of_one_label_all_succeed(db):
    """Two viewers on one database, many clients setting the same label at once: setting a
    label the segment has is a success (never 503), and exactly one row is written."""
    from concurrent.futures import ThreadPoolExecutor

    servers = [show(db, open_browser=False, annotator=f"viewer{i}") for i in range(2)]
    try:
        clients = [Client(s.url) for s in servers]
        for c in clients:
            c.page()
        sid = clients[0].get("segment", index=2)[1]["id"]
        for value in (True, False, True, False):
            with ThreadPoolExecutor(8) as pool:
                body = {"segment_id": sid, "class_id": 3, "value": value}
                answers = list(pool.map(lambda i, b=body: clients[i % 2].post("label", b),
                                        range(16)))
            assert [a[0] for a in answers] == [200] * 16, answers
            rows = [r for r in labellings(db, sid) if r[0] == 3]
            assert len(rows) == int(value)
    finally:
        for s in servers:
            s.stop()


def test_next_segments_are_prepared_ahead(db, pyfile):
    """While a segment is looked at: the next one's plots on screen and pre-processing, the
    one after pre-processed too, the stations of the next 12 parsed (their inventories)."""
    srv = show(db, pyfile=pyfile, open_browser=False)
    try:
        v = srv.viewer
        c = Client(srv.url)
        c.page()
        assert c.get("segment", index=0, pre=1, plots="cumulative")[0] == 200
        v._ahead.submit(lambda: None).result(timeout=240)  # the look-ahead is done
        ids = [v.segment(i)[0].id for i in range(1, 13)]
        assert all(v._plots.get(f"{ids[0]}:{name}:1:0").done() for name in ("", "cumulative"))
        assert v._pre.get((ids[0], 0)).done() and v._pre.get((ids[1], 0)).done()
        stations = {v.segment(i)[1]["station.id"] for i in range(1, 13)}
        assert len(stations) > 1 and all(s in v.inventories for s in stations)
        # the next switch computes nothing new: its answers are those computed ahead
        before = v.inventories.info().misses
        _s, nxt = c.get("plot", index=1, name="cumulative", pre=1)
        assert "error" not in nxt and v.inventories.info().misses == before
    finally:
        srv.stop()
