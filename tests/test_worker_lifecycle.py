"""Worker processes from start to end: a killed parent leaves nothing behind, whenever it
dies (issue 19 §1).

A worker is held at one moment of its start-up (before its imports, during them,
after them) by a ``sitecustomize`` module put on its path for the test: it waits
for a file. The first worker starts freely and takes the run's first chunk, so the
run is going when the parent is killed, while the held one is still starting.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import s2sframe
from s2sframe.testing import make_database
from tests.conftest import ROOT

#: Holds loky worker processes (not the resource tracker) at S2S_TEST_HOLD: the first
#: worker goes on, the others wait until the file "release" exists.
SITECUSTOMIZE = '''
import os, sys, threading
_moment = os.environ.get("S2S_TEST_HOLD")
_folder = os.environ.get("S2S_TEST_DIR", "")


def _hold():
    try:
        os.close(os.open(os.path.join(_folder, "first"), os.O_CREAT | os.O_EXCL))
        return  # the first worker starts at once
    except FileExistsError:
        pass
    open(os.path.join(_folder, f"held-{os.getpid()}"), "w").close()
    while not os.path.exists(os.path.join(_folder, "release")):
        threading.Event().wait(0.01)


class _Finder:
    """Holds the worker when it imports polars (during) or has imported our worker
    module, the last one its start needs (after)."""

    def __init__(self, name, after):
        self.name, self.after = name, after

    def find_spec(self, name, path=None, target=None):
        if name != self.name:
            return None
        sys.meta_path.remove(self)
        if not self.after:
            _hold()
            return None
        import importlib.util
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _hold()

        spec.loader.exec_module = exec_module
        return spec


if _moment and any("popen_loky_posix" in a for a in sys.orig_argv):
    if _moment == "before":
        _hold()
    elif _moment == "during":
        sys.meta_path.insert(0, _Finder("polars", after=False))
    else:
        sys.meta_path.insert(0, _Finder("s2sframe.engine.worker", after=True))
'''

PARENT = '''
import os, sys, threading
from pathlib import Path
import polars as pl
from s2sframe.engine.run import map_segments


def busy(segment):
    Path(os.environ["S2S_TEST_DIR"], f"busy-{os.getpid()}").touch()
    threading.Event().wait()  # forever: the worker is busy when the parent dies


if __name__ == "__main__":
    frame = pl.read_parquet(sys.argv[2])
    os.environ["S2S_TEST_HOLD"] = sys.argv[3]  # armed for the workers only
    map_segments(frame, busy, workers=2, chunksize=1, dburl=sys.argv[1], progress=False)
'''


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("lifecycle") / "db.sqlite"
    make_database("sqlite:///" + str(path), events=2, stations=2, seed=5)
    return "sqlite:///" + str(path)


def _wait_for(condition, proc: subprocess.Popen, log: Path, what: str,
              timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the parent ended before {what}: {log.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout} s")
        threading.Event().wait(0.02)


@pytest.mark.parametrize("moment", ["before", "during", "after"])
def test_parent_killed_while_a_worker_starts_leaves_no_process(url, tmp_path, moment):
    """SIGKILL the parent while one worker is held before, during or after its imports
    and the other runs the function: every worker and loky's resource tracker end."""
    import psutil

    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    frame = s2sframe.scan(url).select("id", "station.id").collect()
    frame.write_parquet(tmp_path / "input.parquet")
    folder = tmp_path / "signals"
    folder.mkdir()
    env = {**os.environ, "S2S_TEST_DIR": str(folder),
           "PYTHONPATH": os.pathsep.join([str(site), str(ROOT)])}
    env.pop("S2S_TEST_HOLD", None)
    log = tmp_path / "parent.log"
    children: list = []
    with open(log, "wb") as out:  # not a pipe: an orphan holding it would block reading it
        proc = subprocess.Popen([sys.executable, str(script), url,
                                 str(tmp_path / "input.parquet"), moment],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: any(folder.glob("held-*")) and any(folder.glob("busy-*")), proc,
                  log, "a worker held while another one runs the function")
        children = psutil.Process(proc.pid).children(recursive=True)
        held = {int(p.name.split("-")[1]) for p in folder.glob("held-*")}
        assert held <= {c.pid for c in children} and len(children) >= 3  # 2 workers, tracker
        proc.kill()
        proc.wait(timeout=60)
        (folder / "release").touch()  # the held worker goes on starting, its parent dead
        _, alive = psutil.wait_procs(children, timeout=60)
        assert not alive, [(p.pid, p.cmdline()) for p in alive]
    finally:
        (folder / "release").touch()
        if proc.poll() is None:
            proc.kill()
        for child in children:  # what outlived its parent (the old code's orphans)
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        proc.wait(timeout=60)


# ----------------------------------------------------- item 2: errors="raise"
def worker_pid(segment):
    return os.getpid()


def fail_on(segment, bad):
    if segment.id == bad:
        raise ValueError(f"bad segment {bad}")
    return os.getpid()


def fail_on_with_config(segment, config):
    return fail_on(segment, config["bad"])


def pid_row(segment, config):
    return {"pid": os.getpid()}


def _pool_pids() -> set[int]:
    import psutil

    return {c.pid for c in psutil.Process().children()
            if any("popen_loky_posix" in a for a in c.cmdline())}


def test_errors_raise_keeps_healthy_workers_and_prints_no_traceback(url, capfd):
    """A run stopped by an error of the function (errors="raise", imap, process) keeps
    its workers for the next run (they return their chunks between two segments), and
    nothing but the error reaches the console."""
    import functools

    from s2sframe import ProcessingError
    from s2sframe.engine.run import map_segments, shutdown_workers
    from s2sframe.process import imap

    shutdown_workers()
    others = _pool_pids()  # loky processes of other tests of this process, if any
    df = s2sframe.scan(url).select("id", "station.id").collect()
    ids = df["id"].to_list()
    map_segments(df, worker_pid, workers=2, chunksize=1, progress=False, dburl=url)
    pool = _pool_pids() - others
    assert len(pool) == 2
    for bad in ids[:: max(1, len(ids) // 3)][:3]:
        with pytest.raises(ProcessingError, match=f"bad segment {bad}"):
            map_segments(df, functools.partial(fail_on, bad=bad), workers=2, chunksize=1,
                         progress=False, dburl=url, errors="raise")
        assert _pool_pids() - others == pool  # the same worker processes, still there
        with pytest.raises(ValueError, match=f"bad segment {bad}"):
            list(imap(fail_on_with_config, url, ids, {"bad": bad}, multi_process=2,
                      chunksize=1))
        assert _pool_pids() - others == pool
        out = map_segments(df, worker_pid, workers=2, chunksize=1, progress=False, dburl=url)
        assert set(out["worker_pid"]) <= pool and out["s2s_error"].null_count() == df.height
    err = capfd.readouterr().err
    assert "Traceback" not in err and "InvalidStateError" not in err, err


# ------------------------------------------- item 4: what a run waits for, said
def test_starting_workers_is_on_the_progress_bar_and_in_the_logs(url, tmp_path, capsys, caplog):
    import re

    from s2sframe.engine.run import map_segments, shutdown_workers
    from s2sframe.process import process

    caplog.set_level(logging.INFO, logger="s2sframe")
    shutdown_workers()
    df = s2sframe.scan(url).select("id", "station.id").collect()
    map_segments(df, worker_pid, workers=2, dburl=url)
    assert "starting 2 workers..." in capsys.readouterr().err  # the bar's postfix
    messages = [r.getMessage() for r in caplog.records]
    assert "worker_pid: starting 2 workers..." in messages
    assert any(re.fullmatch(r"worker_pid: 2 workers started in \d+\.\d s", m) for m in messages)
    caplog.clear()
    map_segments(df, worker_pid, workers=2, dburl=url)  # the workers are there: nothing said
    assert "starting" not in capsys.readouterr().err
    assert not any("starting" in r.getMessage() for r in caplog.records)

    shutdown_workers()
    log = tmp_path / "run.log"
    process(pid_row, url, df["id"].to_list(), multi_process=2,
            outfile=str(tmp_path / "out.parquet"), logfile=str(log), verbose=True)
    err = capsys.readouterr().err
    assert "starting 2 workers..." in err  # on the bar, not as a line of its own
    assert not any(line.startswith("pid_row: starting") for line in err.splitlines())
    text = log.read_text()
    lines = text.splitlines()  # the log file has stream2segment's form: the message alone
    assert "pid_row: starting 2 workers..." in lines
    assert any(re.fullmatch(r"pid_row: 2 workers started in \d+\.\d s", line) for line in lines)


@pytest.mark.postgres
@pytest.mark.parametrize("workers", [0, 2])
def test_a_lock_held_by_another_session_is_named_while_the_run_waits(request, capsys, caplog,
                                                                     workers):
    """Another session holds an exclusive lock on ``segments``: after a few seconds the
    bar and the log name its pid and the table (from pg_locks), until it is released."""
    import sqlalchemy as sa

    from s2sframe.engine.run import map_segments
    from tests.conftest import new_pg_database

    caplog.set_level(logging.INFO, logger="s2sframe")
    db = new_pg_database(request)
    make_database(db, events=2, stations=2, seed=5)
    df = s2sframe.scan(db).select("id", "station.id").collect()
    engine = sa.create_engine(db, poolclass=sa.pool.NullPool)
    holder = engine.connect()
    done: dict = {}
    try:
        transaction = holder.begin()
        holder.execute(sa.text("LOCK TABLE segments IN ACCESS EXCLUSIVE MODE"))
        pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        expected = f"waiting for a lock held by pid {pid} on table segments"
        run = threading.Thread(target=lambda: done.update(out=map_segments(
            df, worker_pid, workers=workers, dburl=db)), daemon=True)
        run.start()
        deadline = time.monotonic() + 120
        while not any(expected in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            assert run.is_alive()
            threading.Event().wait(0.1)
        assert "out" not in done  # still waiting
        transaction.rollback()
        run.join(120)
    finally:
        holder.close()
        engine.dispose()
    assert done["out"]["s2s_error"].null_count() == df.height
    assert expected in capsys.readouterr().err  # on the progress bar
    assert f"worker_pid: no longer {expected}" in [r.getMessage() for r in caplog.records]


# ------------------------------------------- item 8: warnings of the user's code
WARNS = '''import warnings

import numpy as np


def main(segment, config=None):
    value = np.log10(0.0 if segment.id % 3 == 0 else 1.0)
    if segment.id % 4 == 0:
        warnings.warn(f"segment {segment.id % 2} is odd", UserWarning)
    warnings.warn("old", DeprecationWarning)  # ignored by Python's default filters
    return {"x": float(value)}
'''


@pytest.mark.parametrize("workers", [0, 2])
def test_warnings_of_the_function_are_counted_and_name_its_file(url, tmp_path, capfd, caplog,
                                                                workers):
    """Each distinct warning of the user's code is shown once per run with its count and
    the user's file and line (never ``<dynamic-code>``), in the summary and the log."""
    import functools
    import warnings

    from s2sframe.compat.config import load_module
    from s2sframe.engine.run import map_segments

    caplog.set_level(logging.INFO, logger="s2sframe")
    pyfile = tmp_path / "warns.py"
    pyfile.write_text(WARNS)
    main = load_module(pyfile).main  # sent to workers by value, as s2s process does
    df = s2sframe.scan(url).select("id", "station.id").collect()
    ids = df["id"].to_list()
    filters, shown = list(warnings.filters), warnings.showwarning
    out = map_segments(df, functools.partial(main, config=None), workers=workers, chunksize=2,
                       dburl=url)
    assert out["s2s_error"].null_count() == df.height
    assert (warnings.filters, warnings.showwarning) == (filters, shown)  # as they were
    err = capfd.readouterr().err
    log10 = sum(1 for i in ids if i % 3 == 0)
    expected = [f"{pyfile}:7: RuntimeWarning: divide by zero encountered in log10 "
                f"({log10} times)",
                f"{pyfile}:9: UserWarning: segment 0 is odd "
                f"({sum(1 for i in ids if i % 4 == 0)} times)"]
    assert log10 > 1 and "<dynamic-code>" not in err and "DeprecationWarning" not in err
    lines = err.splitlines()
    start = lines.index("main raised these warnings (each shown once, with its count):")
    assert [line.strip() for line in lines[start + 1:]] == expected
    assert "\n  ".join(["main raised these warnings (each shown once, with its count):",
                        *expected]) in caplog.text
    # a filter of the user still applies: an error fails the segment, as any exception
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = map_segments(df, functools.partial(main, config=None), workers=0, dburl=url,
                           progress=False)
    assert out["s2s_error"].drop_nulls().to_list() == [
        "RuntimeWarning: divide by zero encountered in log10"] * log10


def test_s2s_process_shows_each_warning_once_with_its_count(url, tmp_path):
    from click.testing import CliRunner

    from s2sframe.cli import main as cli_main

    pyfile = tmp_path / "warns.py"
    pyfile.write_text(WARNS)
    log = tmp_path / "out.log"
    result = CliRunner().invoke(cli_main, [
        "process", "-d", url, "-p", str(pyfile), "-np", "2", "--logfile", str(log),
        str(tmp_path / "out.csv")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ids = s2sframe.scan(url).select("id").collect()["id"].to_list()
    expected = (f"{pyfile}:7: RuntimeWarning: divide by zero encountered in log10 "
                f"({sum(1 for i in ids if i % 3 == 0)} times)")
    for text in (result.output, log.read_text()):
        assert "<dynamic-code>" not in text
        assert text.count("Warnings raised by main (each once, with its count):") == 1
        assert text.count(expected) == 1, text
