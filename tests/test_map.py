"""``map_segments``: results, errors, crashes, resume, executors (SQLite and PostgreSQL).

Worker pools are spawned once and reused between tests (``workers=2`` everywhere);
databases are small. Functions used by workers are module-level (importable) unless
a test is about functions defined in ``__main__``.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import s2sframe
import s2sframe.engine.namespace  # noqa: F401 - registers df.s2s (until s2sframe/__init__ does)
from s2sframe import ProcessingError, SkipSegment
from s2sframe.engine.run import map_segments
from s2sframe.testing import make_database
from tests.conftest import ROOT
from tests.conftest import popen as _popen

VEL_2 = [-1.42699395e-06, -1.43603990e-06, -1.42210201e-06]


# ------------------------------------------------------------- worker functions
def amp(segment):
    trace = segment.stream()[0]
    return {"amp": float(np.abs(trace.data).max()), "npts": trace.stats.npts,
            "net": segment.station.network}


def pga(segment):
    trace = segment.stream()[0].copy()
    trace.remove_response(segment.inventory(), output="ACC")
    return float(np.abs(trace.data).max())


def first3_vel(segment):
    trace = segment.stream()[0].copy()
    trace.remove_response(segment.inventory())
    return trace.data[:3]


def kinds(segment):
    """A different kind of result depending on the segment."""
    k = segment.id % 4
    if k == 0:
        return None
    if k == 1:
        return {"v": segment.id, "arr": np.arange(segment.id % 3, dtype=float)}
    if k == 2:
        return {"v": segment.id + 0.5, "label": "two"}
    return 7  # a scalar: column "kinds"


def die_on(segment, bad_id):
    if segment.id == bad_id:
        os._exit(7)  # the worker process dies without a trace
    return segment.id * 2


def fail_on(segment, bad_id, exc):
    if segment.id == bad_id:
        raise exc("boom")
    if segment.id == bad_id + 1:
        raise SkipSegment("not this one")
    return 1


def runtime_info(segment):
    from obspy.core.util.base import ENTRY_POINTS
    from threadpoolctl import threadpool_info

    inv = None
    with __import__("contextlib").suppress(SkipSegment):
        inv = id(segment.inventory())
    return {
        "pid": os.getpid(),
        "plugin_dist": type(ENTRY_POINTS["filter"]["bandpass"].dist).__name__,
        "polars_threads": pl.thread_pool_size(),
        "blas_threads": max([i["num_threads"] for i in threadpool_info()] or [1]),
        "omp": os.environ.get("OMP_NUM_THREADS"),
        "inv": inv,
    }


CALLS: list[int] = []


def gated(segment):
    """Blocks on the segments of some stations until a file exists (both set by env)."""
    gate = os.environ.get("S2S_TEST_GATE")
    blocked = os.environ.get("S2S_TEST_BLOCK_STATIONS", "").split()
    if gate and str(segment.station.id) in blocked:
        while not os.path.exists(gate):  # a barrier the test never opens, not a timer
            time.sleep(0.01)
    CALLS.append(segment.id)
    data = segment.stream()[0].data
    return {"amp": float(np.abs(data).max()), "head": data[:2]}


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("mapdb") / "db.sqlite"
    make_database("sqlite:///" + str(path), events=4, stations=4, seed=3)  # 48 segments
    return "sqlite:///" + str(path)


@pytest.fixture(scope="module")
def df(url) -> pl.DataFrame:
    # shuffled, to check that rows come back in input order
    return s2sframe.scan(url).collect().sample(fraction=1.0, shuffle=True, seed=5)


def _run(frame, func, url, **kw):
    kw.setdefault("progress", False)
    return frame.s2s.map_segments(func, dburl=url, **kw)


# ------------------------------------------------------------------------- tests
def test_example_database_responses(example_url):
    """A database written by stream2segment itself: real GEOFON data and responses."""
    frame = s2sframe.scan(example_url).select("id").collect()
    out = _run(frame, first3_vel, example_url, workers=2)
    assert out["id"].to_list() == frame["id"].to_list()
    assert out.schema["first3_vel"] == pl.List(pl.Float64)
    got = out.filter(pl.col("id") == 2)["first3_vel"].to_list()[0]
    np.testing.assert_allclose(got, VEL_2, rtol=1e-7)
    assert out["s2s_error"].null_count() == 2


def test_results_errors_and_order_on_both_backends(db_url_factory):
    db = db_url_factory()
    make_database(db, events=3, stations=4, seed=1)  # 36 segments, station index 3: no inventory
    frame = s2sframe.scan(db).collect().sample(fraction=1.0, shuffle=True, seed=1)
    out = _run(frame, pga, db, workers=2, chunksize=4)
    assert out["id"].to_list() == frame["id"].to_list()
    assert out.columns == [*frame.columns, "pga", "s2s_error"]
    err = out["s2s_error"]
    ok = out.filter(err.is_null())
    assert ok.height and (ok["pga"] > 0).all()
    assert ok["has_valid_data"].all() and ok["station.has_inventory"].all()
    bad = out.filter(err.is_not_null())
    assert bad["pga"].null_count() == bad.height
    corrupt = bad.filter(pl.col("download_code") == -2, pl.col("has_data"))
    assert corrupt.height and corrupt["s2s_error"].str.starts_with("SkipSegment: ").all()
    assert corrupt["s2s_error"].str.contains("invalid miniSEED").all()
    no_inv = bad.filter(pl.col("has_valid_data"))
    assert no_inv.height and not no_inv["station.has_inventory"].any()
    assert no_inv["s2s_error"].str.contains("no inventory").all()
    no_data = bad.filter(~pl.col("has_data"))
    assert no_data["s2s_error"].str.contains("no waveform data").all()
    # the same run in this process gives the same frame
    assert _run(frame, pga, db, workers=0).equals(out)


def test_return_kinds_and_dtypes_consistent_across_chunks(df, url):
    out = _run(df.select("id"), kinds, url, workers=2, chunksize=1)
    assert set(out.columns) == {"id", "v", "arr", "label", "kinds", "s2s_error"}
    assert out.columns[0] == "id" and out.columns[-1] == "s2s_error"
    assert out.schema["v"] == pl.Float64  # ints in some chunks, floats in others
    assert out.schema["arr"] == pl.List(pl.Float64)
    assert out.schema["kinds"] == pl.Int64
    rows = {r["id"]: r for r in out.iter_rows(named=True)}
    for sid, r in rows.items():
        k = sid % 4
        assert (r["v"] is None) == (k in (0, 3))
        assert (r["kinds"] == 7) == (k == 3)
        if k == 1:
            assert r["arr"] == list(np.arange(sid % 3, dtype=float))
    assert out["s2s_error"].null_count() == out.height
    typed = _run(df.select("id"), kinds, url, workers=0, return_dtypes={"v": pl.Float32,
                                                                       "extra": pl.Int8})
    assert typed.schema["v"] == pl.Float32 and typed.schema["extra"] == pl.Int8


def test_segments_of_a_chunk_are_header_checked_together(df, url, monkeypatch):
    # the miniSEED headers of a chunk are checked in one batch, and what each segment's
    # stream() returns is still exactly ObsPy's reading of its bytes
    import io
    import sqlite3

    import obspy

    import s2sframe.decode as decode

    sizes: list[int] = []
    real = decode.check_headers

    def counting(blobs):
        sizes.append(len(blobs))
        return real(blobs)

    monkeypatch.setattr(decode, "check_headers", counting)
    out = _run(df.select("id"), amp, url, workers=0, chunksize=10)
    from s2sframe.engine.run import station_chunks

    bounds, _ = station_chunks(np.sort(df["station.id"].to_numpy()), 10)
    assert sorted(sizes) == sorted(stop - start for start, stop in bounds)  # one per chunk
    assert len(sizes) >= 5 and sum(sizes) == 48
    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    blobs = dict(con.execute("SELECT id, data FROM segments"))
    con.close()
    decoded = 0
    for row in out.iter_rows(named=True):
        if row["s2s_error"] is None:
            trace = obspy.read(io.BytesIO(blobs[row["id"]]), format="MSEED")[0]
            assert (row["amp"], row["npts"]) == (float(np.abs(trace.data).max()), trace.stats.npts)
            decoded += 1
    assert decoded >= 30


def test_errors_raise_names_the_segment(df, url):
    bad = int(df["id"].sort()[10])  # bad + 1 is in the frame too: it is skipped
    func = functools.partial(fail_on, bad_id=bad, exc=ValueError)
    with pytest.raises(ProcessingError, match=f"segment {bad}: ValueError: boom") as info:
        _run(df.select("id"), func, url, workers=2, errors="raise")
    assert info.value.segment_id == bad
    assert isinstance(info.value.__cause__, ValueError)
    # errors="record" (default): recorded, and SkipSegment / skip_exceptions count as skips
    out = _run(df.select("id"), func, url, workers=2)
    errs = dict(zip(out["id"], out["s2s_error"], strict=True))
    assert errs[bad] == "ValueError: boom"
    assert errs[bad + 1] == "SkipSegment: not this one"
    assert [i for i, e in errs.items() if e is not None] == \
        [i for i in df["id"].to_list() if i in (bad, bad + 1)]
    func2 = functools.partial(fail_on, bad_id=bad, exc=ZeroDivisionError)
    out2 = _run(df.select("id"), func2, url, workers=0, errors="raise",
                skip_exceptions=ZeroDivisionError)
    assert dict(zip(out2["id"], out2["s2s_error"], strict=True))[bad] == "ZeroDivisionError: boom"


def test_a_dying_worker_fails_only_its_segment(df, url):
    bad = int(df["id"][7])
    out = _run(df.select("id"), functools.partial(die_on, bad_id=bad), url, workers=2, chunksize=5)
    assert out["id"].to_list() == df["id"].to_list()
    dead = out.filter(pl.col("s2s_error").is_not_null())
    assert dead["id"].to_list() == [bad]
    assert dead["s2s_error"][0].startswith("WorkerDied")
    alive = out.filter(pl.col("id") != bad)
    assert (alive["die_on"] == alive["id"] * 2).all()
    # and the pool works again afterwards
    after = _run(df.head(4).select("id"), amp, url, workers=2)
    assert after["id"].to_list() == df["id"].head(4).to_list()
    assert not after["s2s_error"].fill_null("").str.starts_with("WorkerDied").any()


def test_workers_limit_threads_and_parse_each_inventory_once(df, url):
    out = _run(df.select("id", "station.id"), runtime_info, url, workers=2)
    assert out["polars_threads"].unique().to_list() == [1]
    assert out["blas_threads"].max() == 1
    assert out["omp"].unique().to_list() == ["1"]
    assert out["plugin_dist"].unique().to_list() == ["_NamedDistribution"]  # lookups cached
    assert out["pid"].n_unique() <= 2 and os.getpid() not in out["pid"].to_list()
    per_worker_station = out.drop_nulls("inv").group_by("pid", "station.id").agg(
        pl.col("inv").n_unique())
    assert per_worker_station.height and (per_worker_station["inv"] == 1).all()


def parse_log(segment, barrier):
    """The StationXML documents (digests) this worker parsed in this run (``barrier``,
    a folder: on its first call each worker waits there for the other one, so that
    both take part whatever the load)."""
    import hashlib

    from s2sframe.decode import stationxml

    logs = stationxml.__dict__.setdefault("_test_logs", {})
    if not logs:  # count the calls of the parser from now on, run by run
        real = stationxml.parse_stationxml

        def counting(xml):
            logs[logs["current"]].append(hashlib.sha1(xml).hexdigest())
            return real(xml)

        stationxml.parse_stationxml = counting
    logs["current"] = barrier
    if barrier not in logs:
        logs[barrier] = []
        Path(barrier, str(os.getpid())).touch()
        while len(os.listdir(barrier)) < 2:  # a barrier, not a timer
            time.sleep(0.01)
    with __import__("contextlib").suppress(SkipSegment):
        segment.inventory()
    return {"pid": os.getpid(), "parsed": " ".join(logs[barrier])}


def _parses(out: pl.DataFrame) -> dict[str, int]:
    """Documents parsed in a run, over all its workers: digest -> times."""
    from collections import Counter

    last = out.group_by("pid").agg(pl.col("parsed").sort_by(pl.col("parsed").str.len_chars()).last())
    return Counter(d for log in last["parsed"] for d in log.split())


def _own_shared_folders() -> list[str]:
    import tempfile

    return [n for n in os.listdir(tempfile.gettempdir())
            if n.startswith(f"s2s-inventories-{os.getpid()}-")]


def test_station_chunks_cut_at_station_changes():
    import doctest

    from s2sframe.engine.run import station_chunks

    runner = doctest.DocTestRunner()
    for example in doctest.DocTestFinder().find(station_chunks):
        runner.run(example)
    assert runner.summarize(verbose=False) == (0, 2)  # its docstring example
    rng = np.random.default_rng(0)
    stations = np.repeat(np.arange(40), rng.integers(1, 30, 40))
    for size in (1, 2, 5, 12, 100):
        bounds, split = station_chunks(stations, size)
        assert bounds[0][0] == 0 and bounds[-1][1] == len(stations)
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))
        assert all(0 < stop - start <= size for start, stop in bounds)
        cut = [stop for _, stop in bounds[:-1] if stations[stop - 1] == stations[stop]]
        assert split == {int(stations[c]) for c in cut}
        for c in cut:  # a station is cut only where no change left the chunk half full
            start = next(s for s, e in bounds if e == c)
            inside = np.flatnonzero(stations[start + 1:c] != stations[start:c - 1]) + start + 1
            assert not (inside - start >= max(1, (size + 1) // 2)).any()
    # rows without a station (NaN) are never one station
    assert station_chunks(np.array([1.0, 1.0, 1.0, np.nan, np.nan]), 2) == (
        [(0, 2), (2, 4), (4, 5)], {1})


def test_shared_inventories_removed_when_their_last_chunk_is_back():
    """The run's folder holds only the stations of chunks still out (and the last
    station of a batch, which the next batch may need)."""
    from s2sframe.decode.invshare import SharedInventories
    from s2sframe.engine.loop import _Chunk, _Sharing

    sharing = _Sharing(SharedInventories.create())
    try:
        chunks = [_Chunk(np.arange(2), shared=s) for s in [(1,), (1, 2), (2,), (3,)]]
        for chunk in chunks:
            sharing.add(chunk)
        for station in (1, 2, 3):
            sharing.store.get_or_read(station, lambda: ("error", 205))
        sharing.keep = 3

        def held():
            return sorted(int(n.split(".")[0]) for n in os.listdir(sharing.store.folder)
                          if n.endswith(".pickle"))

        assert held() == [1, 2, 3]
        sharing.done(chunks[1])
        assert held() == [1, 2, 3]
        sharing.done(chunks[0])
        assert held() == [2, 3]
        sharing.done(chunks[2])
        sharing.done(chunks[3])
        assert held() == [3]  # kept for the next batch
    finally:
        sharing.store.remove()


@pytest.mark.parametrize("how", ["map_segments", "imap"])
def test_each_stationxml_parsed_once_per_run_across_workers(df, url, tmp_path, how):
    """Stations with more segments than a chunk (12 here, chunks of 5) and at the edge
    of imap's batches are met by both workers: each document is still parsed once
    (the others load it from the run's shared folder, removed at the end)."""
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    func = functools.partial(parse_log, barrier=str(barrier))
    if how == "map_segments":
        out = _run(df.select("id", "station.id"), func, url, workers=2, chunksize=5)
    else:
        from s2sframe.process import imap

        def run(segment, config):
            return {"id": segment.id, "station.id": segment.station.id, **func(segment)}

        out = pl.DataFrame(list(imap(run, url, {"id": ">0"}, multi_process=2, chunksize=5)))
    assert out.height == df.height
    met = out.group_by("station.id").agg(pl.col("pid").n_unique())
    assert (met["pid"] == 2).any()  # a station met by both workers
    parses = _parses(out)
    assert len(parses) == 3  # the stations with a StationXML (the 4th has none)
    assert set(parses.values()) == {1}
    assert _own_shared_folders() == []


def test_sqlite_workers_keep_their_connection_but_no_lock(df, url):
    """Between chunks a worker keeps its read-only SQLite connection (its page cache
    serves the next chunk) outside any transaction: a writer locks the file at once."""
    import sqlite3

    import psutil

    out = _run(df.select("id", "station.id"), runtime_info, url, workers=2, chunksize=6)
    assert out["s2s_error"].null_count() == out.height
    path = os.path.realpath(url.removeprefix("sqlite:///"))
    pids = out["pid"].unique().to_list()
    assert pids and os.getpid() not in pids
    holding = [pid for pid in pids
               if any(f.path == path for f in psutil.Process(pid).open_files())]
    assert holding == pids  # the pool's workers live on, each with its connection
    writer = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        writer.execute("BEGIN EXCLUSIVE")  # 'database is locked' if a reader still held it
        writer.execute("ROLLBACK")
    finally:
        writer.close()


def test_progress_bar_and_summary(df, url, capsys):
    _run(df.head(6).select("id"), amp, url, workers=0, progress=True)
    err = capsys.readouterr().err
    assert "100%" in err and "seg/s" in err
    import re

    assert re.search(r"amp: \d of 6 segments processed, \d skipped/failed", err)


def test_input_validation(df, url):
    with pytest.raises(ValueError, match="duplicates"):
        map_segments(pl.concat([df.head(2), df.head(2)]), amp, dburl=url)
    with pytest.raises(ValueError, match="errors must be"):
        map_segments(df, amp, dburl=url, errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="'id' column"):
        map_segments(df.drop("id"), amp, dburl=url)
    lazy = df.lazy().select("id").head(3).s2s.map_segments(amp, dburl=url, workers=0,
                                                           progress=False)
    eager = _run(df.head(3).select("id"), amp, url, workers=0)
    assert lazy.equals(eager) and lazy["id"].to_list() == df["id"].head(3).to_list()
    assert lazy["amp"].is_null().to_list() == lazy["s2s_error"].is_not_null().to_list()


def test_output_written_as_parts_then_final(df, url, tmp_path):
    target = tmp_path / "res.parquet"
    out = _run(df.select("id", "station.id"), amp, url, workers=2, chunksize=8, output=target)
    assert pl.read_parquet(target).equals(out)
    assert not (tmp_path / "res.parquet.parts").exists()
    again = _run(df.select("id", "station.id"), amp, url, workers=2, output=target)
    assert again.equals(out)  # already complete: nothing computed, same frame


def _children(pid: int) -> list:
    import psutil

    return psutil.Process(pid).children(recursive=True)


def _wait_for_parts(parts: Path, n: int, proc: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = len(list(parts.glob("part-*.parquet"))) if parts.is_dir() else 0
        if found >= n:
            return found
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {n} part files in {parts} after {timeout} s")


def test_killed_parent_resumes_to_the_uninterrupted_result(df, url, tmp_path):
    import psutil

    frame = df.select("id", "station.id", "channel.channel")
    frame.write_parquet(tmp_path / "input.parquet")
    reference = _run(frame, gated, url, workers=0, output=tmp_path / "ref.parquet")
    stations = sorted(frame["station.id"].unique())
    target = tmp_path / "res.parquet"
    parts = tmp_path / "res.parquet.parts"
    script = tmp_path / "run.py"
    script.write_text(
        "import signal, sys, polars as pl, s2sframe, s2sframe.engine.namespace\n"
        "from tests.test_map import gated\n"
        "if __name__ == '__main__':\n"
        "    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal\n"
        "    frame = pl.read_parquet(sys.argv[2])\n"
        "    frame.s2s.map_segments(gated, workers=2, chunksize=3, output=sys.argv[3],\n"
        "                           dburl=sys.argv[1], progress=False)\n"
    )
    env = {**os.environ, "S2S_TEST_GATE": str(tmp_path / "never"), "PYTHONPATH": str(ROOT),
           "S2S_TEST_BLOCK_STATIONS": f"{stations[-2]} {stations[-1]}"}
    args = [sys.executable, str(script), url, str(tmp_path / "input.parquet"), str(target)]

    # 1. Ctrl-C (SIGINT) once some chunks are saved (the last two stations never finish):
    # the parts stay
    with _popen(args, env) as proc:
        first = _wait_for_parts(parts, 2, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"KeyboardInterrupt" in stderr
    assert len(list(parts.glob("part-*.parquet"))) >= first

    # 2. the same call again (now only the last station blocks), SIGKILLed once it saved
    # more: no orphan worker is left
    env["S2S_TEST_BLOCK_STATIONS"] = str(stations[-1])
    done_before = set(pl.read_parquet(list(parts.glob("part-*.parquet")))["id"])
    with _popen(args, env) as proc:
        _wait_for_parts(parts, len(list(parts.glob("part-*.parquet"))) + 1, proc)
        workers = _children(proc.pid)
        proc.kill()
        proc.communicate(timeout=60)
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, "worker processes outlived their killed parent"
    saved = set(pl.read_parquet(list(parts.glob("part-*.parquet")))["id"])
    assert done_before < saved < set(frame["id"])
    assert not target.exists()

    # 3. the same call, uninterrupted: only the missing segments are computed
    CALLS.clear()
    result = _run(frame, gated, url, workers=0, output=target)
    assert set(CALLS) == set(frame["id"]) - saved and len(CALLS) == len(set(CALLS))
    final = pl.read_parquet(target)
    assert final.schema == reference.schema
    assert final.equals(pl.read_parquet(tmp_path / "ref.parquet"))
    assert result.equals(reference)
    assert not parts.exists()


def _python_c(code: str) -> dict:
    """Run ``python -c code`` (functions it defines live in ``__main__``); return the
    JSON it prints last."""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_function_defined_in_main_via_python_c(url):
    code = (
        "import json, numpy as np, s2sframe, s2sframe.engine.namespace\n"
        "def peak(segment):\n"
        "    return {'peak': int(np.abs(segment.stream()[0].data).max()), 'pid': __import__('os').getpid()}\n"
        f"df = s2sframe.scan({url!r}).collect()\n"
        "out = df.s2s.map_segments(peak, workers=2, progress=False)\n"
        "rows = out.select('id', 'peak', 'pid', 's2s_error').to_dicts()\n"
        "print(json.dumps({'parent': __import__('os').getpid(), 'rows': rows}))\n"
    )
    printed = _python_c(code)
    rows = printed["rows"]
    expected = _run(s2sframe.scan(url).select("id").collect(),
                    lambda s: int(np.abs(s.stream()[0].data).max()), url, workers=0)
    assert [r["id"] for r in rows] == expected["id"].to_list()
    assert [r["peak"] for r in rows] == expected["result"].to_list()
    assert [r["s2s_error"] for r in rows] == expected["s2s_error"].to_list()
    done = [r for r in rows if r["s2s_error"] is None]
    assert len(done) > len(rows) / 2 and all(r["pid"] != printed["parent"] for r in done)


def test_workers_remove_responses_without_matplotlib(url):
    """A fresh pool's workers run ``trace.remove_response`` without importing
    matplotlib (obspy.signal's __init__ deferred: ~30 MB each) and with their start-up's
    objects frozen out of the garbage collector's walks, with the same results
    as a process that imports ObsPy as usual; ``from obspy.signal import PPSD`` works."""
    code = (
        "import json, sys, numpy as np, s2sframe, s2sframe.engine.namespace\n"
        "def probe(segment):\n"
        "    trace = segment.stream()[0]\n"
        "    trace.remove_response(segment.inventory(), output='ACC')\n"
        "    return {'pga': float(np.abs(trace.data).max()),\n"
        "            'matplotlib': 'matplotlib' in sys.modules, 'pid': __import__('os').getpid(),\n"
        "            'frozen': __import__('gc').get_freeze_count()}\n"
        "def ppsd(segment):\n"
        "    from obspy.signal import PPSD\n"
        "    return PPSD.__name__\n"
        f"df = s2sframe.scan({url!r}).select('id').collect()\n"
        "out = df.s2s.map_segments(probe, workers=2, progress=False)\n"
        "names = df.head(2).s2s.map_segments(ppsd, workers=2, progress=False)['ppsd'].to_list()\n"
        "assert 'matplotlib' not in sys.modules\n"
        "ref = df.s2s.map_segments(probe, workers=0, progress=False)\n"
        "print(json.dumps({'out': out.to_dicts(), 'ref': ref.to_dicts(), 'names': names,\n"
        "                  'parent': __import__('os').getpid()}))\n"
    )
    printed = _python_c(code)
    out, ref = printed["out"], printed["ref"]
    done = [r for r in out if r["s2s_error"] is None]
    assert len(done) > len(out) / 2 and all(r["pid"] != printed["parent"] for r in done)
    assert not any(r["matplotlib"] for r in done)
    # the start-up's objects are out of the collector's reach in the workers (gc.freeze)
    assert all(r["frozen"] > 10_000 for r in done), [r["frozen"] for r in done]
    assert all(r["matplotlib"] for r in ref if r["s2s_error"] is None)  # as ObsPy imports
    assert [(r["id"], r["pga"], r["s2s_error"]) for r in out] == [
        (r["id"], r["pga"], r["s2s_error"]) for r in ref]
    assert printed["names"] == ["PPSD", "PPSD"]


def pga_pid(segment):
    return {"pga": pga(segment), "pid": os.getpid()}


@pytest.mark.postgres
def test_dask_executor_on_postgresql(pg_url_factory):
    distributed = pytest.importorskip("distributed")
    db = pg_url_factory()
    make_database(db, events=2, stations=3, seed=4)  # 18 segments
    frame = s2sframe.scan(db).select("id", "station.id").collect()
    expected = _run(frame, pga_pid, db, workers=0)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        out = _run(frame, pga_pid, db, executor=client.get_executor(), chunksize=3)
    assert out.drop("pid").equals(expected.drop("pid"))
    # pga exactly where no error was recorded (no data, no inventory, ...)
    assert out["pga"].is_null().to_list() == out["s2s_error"].is_not_null().to_list()
    assert out["pga"].null_count() < out.height
    pids = out.drop_nulls("pid")["pid"]
    assert pids.n_unique() == 2 and os.getpid() not in pids.to_list()


def raise_always(segment):
    raise RuntimeError("nope")


@pytest.mark.postgres
def test_password_never_printed(pg_url_factory, capfd):
    import sqlalchemy as sa

    db = sa.make_url(pg_url_factory()).set(password="s3cretpw")  # trust auth ignores it
    plain = db.render_as_string(hide_password=False)
    make_database(plain, events=1, stations=2, seed=6)
    frame = s2sframe.scan(plain).select("id").collect()
    out = frame.s2s.map_segments(raise_always, dburl=plain, workers=2, progress=True)
    with pytest.raises(ProcessingError) as info:
        frame.s2s.map_segments(raise_always, dburl=plain, workers=2, errors="raise")
    captured = capfd.readouterr()
    assert "RuntimeError: nope" in out["s2s_error"].to_list()
    assert "s3cretpw" not in captured.out + captured.err + str(info.value)
    assert "s3cretpw" not in " ".join(out["s2s_error"].drop_nulls().to_list())
    assert "s3cretpw" not in repr(s2sframe.engine.run._SecretURL(db))


def test_empty_frame(df, url):
    out = _run(df.head(0).select("id"), amp, url, workers=2)
    assert out.height == 0 and out.columns == ["id", "amp", "s2s_error"]
