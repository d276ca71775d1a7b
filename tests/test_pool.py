"""Worker processes: how user functions reach them and what happens when they misbehave.

Scripts piped on stdin, modules importing their neighbours, functions that kill
their process or call sys.exit(), runs in concurrent threads, one run over the
batches of imap/process, signatures and tracebacks (issue 8, items 7-9, 11, 15,
16; issue 7 §2).
"""

from __future__ import annotations

import ctypes
import functools
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

import s2sframe
from s2sframe import ProcessingError
from s2sframe.cli import main as cli_main
from s2sframe.compat.config import BadInput
from s2sframe.engine.run import map_segments
from s2sframe.process import imap, process
from s2sframe.testing import make_database
from tests.conftest import BACKENDS, ROOT, new_pg_database


# ------------------------------------------------------------- worker functions
def _note(path: str, segment) -> None:
    with open(path, "a") as fh:  # one line per call, written before anything else happens
        fh.write(f"{segment.id}\n")


def segfault(segment, calls):
    _note(calls, segment)
    ctypes.string_at(0)  # SIGSEGV in compiled code


def exit_always(segment, calls):
    _note(calls, segment)
    os._exit(9)


def sys_exit_on(segment, bad_id):
    if segment.id == bad_id:
        sys.exit(3)
    return segment.id


def wait_for(segment, started, gate):
    """Say we started, then block until ``gate`` exists (a barrier, not a timer)."""
    if started:
        Path(started).touch()
    while gate and not os.path.exists(gate):
        threading.Event().wait(0.01)
    return {"pid": os.getpid(), "twice": segment.id * 2}


_KEEP: list = []  # keeps inventories alive in the worker: their id() stays unique


def inventory_identity(segment, config):
    inv = segment.inventory()
    _KEEP.append(inv)
    return os.getpid(), segment.station.id, id(inv)


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("pooldb") / "db.sqlite"
    make_database("sqlite:///" + str(path), events=4, stations=4, seed=3)  # 48 segments
    return "sqlite:///" + str(path)


@pytest.fixture(scope="module")
def df(url) -> pl.DataFrame:
    return s2sframe.scan(url).select("id", "station.id").collect()


@pytest.fixture(scope="module", params=BACKENDS)
def any_url(request, tmp_path_factory) -> str:
    """A database with inventories on SQLite and PostgreSQL (27 segments, 3 stations)."""
    if request.param == "sqlite":
        db = "sqlite:///" + str(tmp_path_factory.mktemp("pool_any") / "db.sqlite")
    else:
        db = new_pg_database(request)
    make_database(db, events=3, stations=3, seed=2)
    return db


def _python(code: str, *, stdin: bool = False, cwd: Path = ROOT, file: Path | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if stdin:
        args = [sys.executable, "-"]
    else:
        assert file is not None
        file.write_text(code)
        args = [sys.executable, str(file)]
    return subprocess.run(args, input=code if stdin else None, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


# ---------------------------------------------------- item 7: workers that die
@pytest.mark.parametrize("killer", [segfault, exit_always], ids=["segfault", "os_exit"])
def test_a_function_killing_every_worker_stops_the_run(df, url, tmp_path, killer):
    calls = tmp_path / "calls.txt"
    with pytest.raises(ProcessingError, match="run stopped: the first segments all killed") \
            as info:
        map_segments(df, functools.partial(killer, calls=str(calls)), workers=2, chunksize=4,
                     progress=False, dburl=url)
    assert "workers=0" in str(info.value)
    called = calls.read_text().split()
    # the first chunks (one call each), then three segments alone: not 48 restarts
    assert 3 <= len(called) <= 2 * 2 + 3, called
    # the pool works again afterwards
    out = map_segments(df.head(4), functools.partial(wait_for, started=None, gate=None),
                       workers=2, progress=False, dburl=url)
    assert out["s2s_error"].null_count() == 4


@pytest.mark.parametrize("workers", [0, 2])
def test_sys_exit_in_the_function_is_an_error_like_any_other(df, url, workers):
    bad = int(df["id"][5])
    func = functools.partial(sys_exit_on, bad_id=bad)
    out = map_segments(df, func, workers=workers, progress=False, dburl=url)
    errors = dict(zip(out["id"], out["s2s_error"], strict=True))
    assert errors.pop(bad) == "SystemExit: 3"
    assert set(errors.values()) == {None}
    with pytest.raises(ProcessingError, match=f"segment {bad}: SystemExit: 3") as info:
        map_segments(df, func, workers=workers, progress=False, dburl=url, errors="raise")
    assert info.value.segment_id == bad


def test_sys_exit_in_s2s_process_single_process_exits_1_naming_the_segment(url, tmp_path):
    pyfile = tmp_path / "quits.py"
    pyfile.write_text("import sys\n\ndef main(segment, config):\n    sys.exit(3)\n")
    result = CliRunner().invoke(cli_main, ["process", "-d", url, "-p", str(pyfile), "-q",
                                           str(tmp_path / "o.csv")], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "main failed on segment" in result.output and "SystemExit: 3" in result.output


# ------------------------------------------------------- item 8: scripts on stdin
_STDIN_SCRIPT = """
import json, os, s2sframe
def twice(segment):
    return {{"twice": segment.id * 2, "pid": os.getpid()}}
if __name__ == "__main__":
    df = s2sframe.scan({url!r}).select("id").collect()
    out = s2sframe.map_segments(df, twice, workers=2, progress=False)
    print(json.dumps({{"parent": os.getpid(), "rows": out.to_dicts()}}))
"""


def test_a_script_piped_on_stdin_uses_workers(url, tmp_path):
    import json

    proc = _python(_STDIN_SCRIPT.format(url=url), stdin=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = printed["rows"]
    assert len(rows) == 48 and all(r["twice"] == 2 * r["id"] and r["s2s_error"] is None
                                   for r in rows)
    assert printed["parent"] not in {r["pid"] for r in rows}


def test_a_script_without_the_main_guard_runs_its_code_once(url, tmp_path):
    """Workers never import the script (functions travel by value): no guard needed,
    and nothing blames a missing one."""
    marker = tmp_path / "ran.txt"
    script = textwrap.dedent(f"""
        import s2sframe
        with open({str(marker)!r}, "a") as fh:
            fh.write("ran\\n")

        def one(segment):
            return 1

        out = s2sframe.map_segments(s2sframe.scan({url!r}).select("id").collect(), one,
                                    workers=2, progress=False)
        print(out["one"].sum())
    """)
    proc = _python(script, file=tmp_path / "unguarded.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["48"]
    assert marker.read_text().split() == ["ran"]  # the top-level code ran in this process only
    assert "__main__" not in proc.stderr


# --------------------------------------------- item 9: modules next to the module
def test_s2s_process_with_workers_imports_modules_next_to_the_processing_module(
        any_url, tmp_path):
    folder = tmp_path / "job"
    folder.mkdir()
    (folder / "helpers_of_job.py").write_text("def h(x):\n    return x * 3\n")
    (folder / "lazy_helpers_of_job.py").write_text("K = 7\n")
    (folder / "job.py").write_text(textwrap.dedent("""
        from helpers_of_job import h

        def main(segment, config):
            from lazy_helpers_of_job import K  # imported when called, in the worker
            return {"h": h(segment.id), "k": K}
    """))
    out = tmp_path / "o.parquet"
    result = CliRunner().invoke(cli_main, ["process", "-d", any_url, "-p", str(folder / "job.py"),
                                           "-np", "2", "-q", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    table = pl.read_parquet(out)
    assert table.height > 0
    assert (table["h"] == table["segment_db_id"] * 3).all() and (table["k"] == 7).all()
    assert "helpers_of_job" not in sys.modules or sys.modules["helpers_of_job"].h(1) == 3


# ------------------------------------------------- item 16: tracebacks of workers
def test_tracebacks_show_the_users_file_and_line_once(url, tmp_path):
    pyfile = tmp_path / "broken_job.py"
    pyfile.write_text("import math\n\n\ndef main(segment, config):\n"
                      "    return helper(segment.id)\n\n\ndef helper(x):\n"
                      "    return math.sqrt(-x)\n")
    result = CliRunner().invoke(cli_main, ["process", "-d", url, "-p", str(pyfile), "-np", "2",
                                           str(tmp_path / "o.csv")], catch_exceptions=False)
    assert result.exit_code == 1, result.output
    text = result.output
    assert text.count("Traceback") == 1, text
    assert text.count(f'File "{pyfile}", line 5, in main') == 1, text
    assert text.count(f'File "{pyfile}", line 9, in helper') == 1, text
    assert "return math.sqrt(-x)" in text and "ValueError: math domain error" in text
    assert "<dynamic-code>" not in text and "s2sframe/" not in text
    # a function defined in a script (sent by value) run with map_segments
    script = textwrap.dedent(f"""
        import s2sframe

        def peak(segment):
            raise KeyError(segment.id)

        if __name__ == "__main__":
            df = s2sframe.scan({url!r}).select("id").head(3).collect()
            s2sframe.map_segments(df, peak, workers=2, progress=False, errors="raise")
    """)
    proc = _python(script, file=tmp_path / "script_job.py", cwd=tmp_path)
    assert proc.returncode == 1
    where_ = f'File "{tmp_path / "script_job.py"}", line 5, in peak'
    assert proc.stderr.count(where_) == 1, proc.stderr
    assert proc.stderr.count("raise KeyError(segment.id)") == 1
    assert "<dynamic-code>" not in proc.stderr and "s2sframe/engine/worker.py" not in proc.stderr


# ------------------------------------------------------------- item 15: signatures
def test_signatures_are_checked_before_any_work(url, df):
    def main(segment, config):
        return 1

    with pytest.raises(TypeError, match=r"main\(segment, config\) cannot be called as "
                                        r"func\(segment\).*imap / process"):
        map_segments(df, main, workers=2, progress=False, dburl=url)
    assert map_segments(df.head(2), functools.partial(main, config={}), workers=0,
                        progress=False, dburl=url)["main"].to_list() == [1, 1]
    with pytest.raises(BadInput, match=r"<lambda>\(segment\) cannot be called as "
                                       r"pyfunc\(segment, config\).*map_segments"):
        imap(lambda segment: 1, url)
    with pytest.raises(BadInput, match="map_segments"):
        process(lambda segment: 1, url)


# ------------------------------------------------ item 11: concurrent threads
def test_runs_in_concurrent_threads_do_not_break_each_other(df, url, tmp_path):
    started, gate = tmp_path / "started", tmp_path / "gate"
    results: dict[str, pl.DataFrame] = {}
    errors: list[BaseException] = []

    def first() -> None:
        try:
            func = functools.partial(wait_for, started=str(started), gate=str(gate))
            results["a"] = map_segments(df, func, workers=2, chunksize=4, progress=False,
                                        dburl=url)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        while not started.exists():  # the first run's workers are busy
            assert thread.is_alive(), errors
            threading.Event().wait(0.01)
        # another worker count while the first run uses the shared pool
        results["b"] = map_segments(df, functools.partial(wait_for, started=None, gate=None),
                                    workers=3, progress=False, dburl=url)
        # and the same count
        results["c"] = map_segments(df, functools.partial(wait_for, started=None, gate=None),
                                    workers=2, progress=False, dburl=url)
    finally:
        gate.touch()
        thread.join()
    assert not errors, errors
    for key in "abc":
        out = results[key]
        assert out["s2s_error"].null_count() == df.height, (key, out["s2s_error"].unique())
        assert (out["twice"] == out["id"] * 2).all()
    assert set(results["a"]["pid"]).isdisjoint(results["b"]["pid"])
    assert results["b"]["pid"].n_unique() <= 3


# ------------------------------- issue 7 §2: one run over the batches of imap
def test_imap_batches_are_one_run_workers_keep_their_inventories(any_url):
    ids = s2sframe.scan(any_url).filter(s2sframe.where({"has_valid_data": "true",
                                                       "station.has_inventory": "true"})
                                        ).select("id").collect()["id"].to_list()
    assert len(ids) >= 12
    # chunks of 1 segment, batches of 8: several batches per station and worker
    out = list(imap(inventory_identity, any_url, ids, multi_process=2, chunksize=1))
    assert len(out) == len(ids)
    frame = pl.DataFrame(out, schema=["pid", "station", "inv"], orient="row")
    per = frame.group_by("pid", "station").agg(pl.col("inv").n_unique(), pl.len())
    assert per["len"].max() > 1
    assert (per["inv"] == 1).all(), per  # parsed once per station per worker, over batches
