"""Worker processes from start to end: a killed parent leaves nothing behind, whenever it
dies (issue 19 §1).

A worker is held at one moment of its start-up (before its imports, during them,
after them) by a ``sitecustomize`` module put on its path for the test: it waits
for a file. The first worker starts freely and takes the run's first chunk, so the
run is going when the parent is killed, while the held one is still starting.
"""

from __future__ import annotations

import contextlib
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
    df = s2sframe.scan(url).select("id", "station.id").collect()
    ids = df["id"].to_list()
    map_segments(df, worker_pid, workers=2, chunksize=1, progress=False, dburl=url)
    pool = _pool_pids()
    assert len(pool) == 2
    for bad in ids[:: max(1, len(ids) // 3)][:3]:
        with pytest.raises(ProcessingError, match=f"bad segment {bad}"):
            map_segments(df, functools.partial(fail_on, bad=bad), workers=2, chunksize=1,
                         progress=False, dburl=url, errors="raise")
        assert _pool_pids() == pool  # the same worker processes, still there
        with pytest.raises(ValueError, match=f"bad segment {bad}"):
            list(imap(fail_on_with_config, url, ids, {"bad": bad}, multi_process=2,
                      chunksize=1))
        assert _pool_pids() == pool
        out = map_segments(df, worker_pid, workers=2, chunksize=1, progress=False, dburl=url)
        assert set(out["worker_pid"]) <= pool and out["s2s_error"].null_count() == df.height
    err = capfd.readouterr().err
    assert "Traceback" not in err and "InvalidStateError" not in err, err
