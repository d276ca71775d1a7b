"""Outputs of map_segments(output=...) and process / ``s2s process``: one run per output,
kill -9 and resume for every format, manifests, refusals, stream2segment's CSVs.

Concurrent and killed runs are real processes, synchronised on files they create
(a run blocks inside the processing function until the test opens a gate file),
never on sleeps.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

import s2sframe
from s2sframe import OutputError
from s2sframe.compat.config import load_pyfunc
from s2sframe.process import process
from s2sframe.testing import make_database
from tests.conftest import BACKENDS, ROOT, new_pg_database
from tests.conftest import popen as _popen

# A processing module as users write them (for `s2s process -p`): with S2S_TEST_BLOCK_AFTER=K
# it blocks on its (K+1)-th call until the file S2S_TEST_GATE exists, after creating
# S2S_TEST_BLOCKED; every call is logged to S2S_TEST_LOG.
MODULE = '''
import os, pathlib, time

CALLS = 0


def main(segment, config):
    global CALLS
    CALLS += 1
    log = os.environ.get("S2S_TEST_LOG")
    if log:
        with open(log, "a") as fh:
            fh.write(f"{segment.id}\\n")
    after = int(os.environ.get("S2S_TEST_BLOCK_AFTER") or 0)
    if after and CALLS > after:
        pathlib.Path(os.environ["S2S_TEST_BLOCKED"]).touch()
        while not os.path.exists(os.environ["S2S_TEST_GATE"]):  # a barrier, not a timer
            time.sleep(0.01)
    return {"twice": segment.id * 2, "half": segment.id / 2, "name": f"s{segment.id:04d}",
            "even": segment.id % 2 == 0}


def other(segment, config):
    return {"twice": segment.id * 3}
'''

CONFIG = "segments_selection:\n  id: '>0'\nadvanced_settings:\n  segments_chunksize: 2\n"


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, tmp_path_factory) -> str:
    """27 segments (3 events, 3 stations), SQLite or PostgreSQL."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("out") / "db.sqlite")
    else:
        url = new_pg_database(request)
    make_database(url, events=3, stations=3, seed=11)
    return url


@pytest.fixture
def job(tmp_path) -> dict[str, Path]:
    """The processing module, its config, and the files the blocking function uses."""
    (tmp_path / "proc.py").write_text(MODULE)
    (tmp_path / "config.yaml").write_text(CONFIG)
    return {"pyfile": tmp_path / "proc.py", "config": tmp_path / "config.yaml",
            "gate": tmp_path / "gate", "blocked": tmp_path / "blocked", "log": tmp_path / "log"}


def all_ids(url: str) -> list[int]:
    return sorted(s2sframe.scan(url).select("id").collect()["id"].to_list())


def s2s(url: str, job: dict[str, Path], out: Path, *extra: str, func: str = "main") -> list[str]:
    return [sys.executable, "-m", "s2sframe.cli", "process", "-d", url, "-p", str(job["pyfile"]),
            "-f", func, "-c", str(job["config"]), "-q", *extra, str(out)]


def env(job: dict[str, Path], block_after: int = 0) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "S2S_TEST_GATE": str(job["gate"]),
            "S2S_TEST_BLOCKED": str(job["blocked"]), "S2S_TEST_LOG": str(job["log"]),
            "S2S_TEST_BLOCK_AFTER": str(block_after)}


def popen(args: list[str], environ: dict[str, str]) -> contextlib.AbstractContextManager:
    """The run's stdout and stderr as text."""
    return _popen(args, environ, stdout=subprocess.PIPE, text=True)


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 180) -> None:
    """Poll ``condition`` (a file the run creates) while ``proc`` runs."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended early: {proc.communicate()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout} s")
        time.sleep(0.02)


def logged(job: dict[str, Path]) -> list[int]:
    path = job["log"]
    ids = [int(v) for v in path.read_text().split()] if path.exists() else []
    path.unlink(missing_ok=True)
    return ids


def read(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        frame = pl.read_csv(path)
    elif path.suffix == ".parquet":
        frame = pl.read_parquet(path)
    else:
        frame = pl.from_pandas(pd.read_hdf(path, "s2s_table"))
    return frame.sort("segment_db_id")


def part_ids(out: Path) -> set[int]:
    parts = sorted(out.with_name(out.name + ".parts").glob("part-*.parquet"))
    return set(pl.concat([pl.read_parquet(p)["segment_db_id"] for p in parts])) if parts \
        else set()


# ------------------------------------------------------------- one run per output
def test_a_second_s2s_process_on_the_same_output_is_refused_at_once(db, job, tmp_path):
    out = tmp_path / "res.parquet"
    with popen(s2s(db, job, out), env(job, block_after=3)) as first:
        wait_for(job["blocked"].exists, first)  # the first run is inside the function
        second = subprocess.run(s2s(db, job, out), cwd=ROOT, env=env(job), text=True,
                                capture_output=True, timeout=300)
        assert first.poll() is None  # still blocked: the second did not wait for it
        assert second.returncode == 2, second.stderr
        assert f"Output {out} is being written by another run (process {first.pid}" \
            in second.stderr
        job["gate"].touch()
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    ids = read(out)["segment_db_id"].to_list()
    assert ids == all_ids(db)  # each segment once


def gated_map(segment):
    """map_segments' version of the blocking function (module-level: workers import it)."""
    if segment.id == int(os.environ.get("S2S_TEST_BLOCK_ID") or 0):
        Path(os.environ["S2S_TEST_BLOCKED"]).touch()
        while not os.path.exists(os.environ["S2S_TEST_GATE"]):
            time.sleep(0.01)
    return {"twice": segment.id * 2}


def test_a_second_map_segments_on_the_same_output_is_refused_at_once(db, job, tmp_path):
    out = tmp_path / "res.parquet"
    ids = all_ids(db)
    script = tmp_path / "run.py"
    script.write_text(
        "import sys, s2sframe\n"
        "from tests.test_outputs import gated_map\n"
        "if __name__ == '__main__':\n"
        "    df = s2sframe.scan(sys.argv[1]).select('id').collect()\n"
        "    s2sframe.map_segments(df, gated_map, workers=2, chunksize=2, output=sys.argv[2],\n"
        "                          dburl=sys.argv[1], progress=False)\n"
    )
    environ = {**env(job), "S2S_TEST_BLOCK_ID": str(ids[len(ids) // 2])}
    args = [sys.executable, str(script), db, str(out)]
    with popen(args, environ) as first:
        wait_for(job["blocked"].exists, first)
        second = subprocess.run(args, cwd=ROOT, env=environ, text=True, capture_output=True,
                                timeout=300)
        assert first.poll() is None
        assert second.returncode == 1 and "OutputError" in second.stderr
        assert f"Output {out} is being written by another run" in second.stderr
        job["gate"].touch()
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    result = pl.read_parquet(out)
    assert sorted(result["id"].to_list()) == ids and result["twice"].to_list() == \
        [i * 2 for i in result["id"]]


def test_the_lock_is_per_open_output_also_in_one_process(tmp_path):
    from s2sframe.engine.owner import OutputFiles

    out = tmp_path / "x.parquet"
    with OutputFiles(out):
        with pytest.raises(OutputError, match=re.escape(f"Output {out} is being written by")):
            OutputFiles(out).acquire()
        assert (tmp_path / ".x.parquet.s2s-lock").exists()
    assert not (tmp_path / ".x.parquet.s2s-lock").exists()  # removed by its owner
    with OutputFiles(out):  # free again
        pass


# ---------------------------------------------------------- kill -9 and resume
@pytest.mark.parametrize("ext", ["parquet", "csv", "hdf"])
def test_kill_9_then_append_resumes_to_the_uninterrupted_result(db, job, tmp_path, ext):
    ids = all_ids(db)
    reference = tmp_path / f"ref.{ext}"
    main = load_pyfunc(job["pyfile"], "main")
    process(main, db, {"id": ">0"}, config={}, outfile=str(reference))
    out = tmp_path / f"res.{ext}"
    half = len(ids) // 2 // 2 * 2  # whole batches of 2
    with popen(s2s(db, job, out), env(job, block_after=half)) as proc:
        wait_for(job["blocked"].exists, proc)  # `half` done, the next one is in the function
        assert len(part_ids(out)) == half
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    saved = part_ids(out)
    assert len(saved) == half and not out.exists()  # nothing finished is lost
    first_calls = logged(job)
    assert set(first_calls[:half]) == saved and len(first_calls) == half + 1
    resumed = subprocess.run(s2s(db, job, out, "-a"), cwd=ROOT, env=env(job), text=True,
                             capture_output=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(logged(job)) == sorted(set(ids) - saved)  # only the missing ones
    assert read(out).equals(read(reference))
    assert not out.with_name(out.name + ".parts").exists()


@pytest.mark.parametrize("ext", ["parquet", "csv", "hdf"])
def test_append_after_a_killed_append_keeps_the_file_and_the_parts(db, job, tmp_path, ext,
                                                                   monkeypatch):
    """An existing output, an append run killed after saving parts, then the resume."""
    from s2sframe.compat.writers import get_writer

    main = load_pyfunc(job["pyfile"], "main")
    ids = all_ids(db)
    reference, out = tmp_path / f"ref.{ext}", tmp_path / f"res.{ext}"
    process(main, db, {"id": ">0"}, config={}, outfile=str(reference))
    process(main, db, {"id": f"<={ids[8]}"}, config={}, outfile=str(out))
    before = out.read_bytes()
    with popen(s2s(db, job, out, "-a"), env(job, block_after=4)) as proc:
        wait_for(job["blocked"].exists, proc)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    saved = part_ids(out)
    assert out.read_bytes() == before and len(saved) == 4
    writer = get_writer(out, append=True)  # what the next run sees
    assert sorted(writer.done_ids().to_list()) == sorted(ids[:9] + list(saved))
    writer.close()  # merges file + parts
    assert read(out)["segment_db_id"].to_list() == sorted(ids[:9] + list(saved))
    logged(job)
    monkeypatch.setenv("S2S_TEST_LOG", str(job["log"]))
    process(main, db, {"id": ">0"}, config={}, outfile=str(out), append=True)
    assert sorted(logged(job)) == sorted(set(ids[9:]) - saved)
    assert read(out).equals(read(reference))


# ------------------------------------------------------------------- manifests
def amp(segment):
    return {"v": segment.id * 2}


def amp2(segment):
    return {"v": segment.id * 3}


def test_map_segments_refuses_an_output_of_another_run(db, tmp_path):
    df = s2sframe.scan(db).select("id").collect()
    out = tmp_path / "r.parquet"
    first = s2sframe.map_segments(df, amp, workers=0, progress=False, output=out, dburl=db)
    assert s2sframe.map_segments(df, amp, workers=0, progress=False, output=out,
                                 dburl=db).equals(first)  # the same run: the file
    with pytest.raises(OutputError, match=r"(?s)different run:\n  function: amp \(code .*\) "
                                          r"before, amp2 \(code .*\) now\n.*overwrite=True"):
        s2sframe.map_segments(df, amp2, workers=0, progress=False, output=out, dburl=db)
    with pytest.raises(OutputError, match=r"segments: 27 segments \(ids \w+\) before, "
                                          r"5 segments \(ids \w+\) now"):
        s2sframe.map_segments(df.head(5), amp, workers=0, progress=False, output=out, dburl=db)
    copy = tmp_path / "copy.sqlite"
    make_database("sqlite:///" + str(copy), events=3, stations=3, seed=11)
    with pytest.raises(OutputError, match=re.escape(f"database: {db} before, sqlite:///{copy}")):
        s2sframe.map_segments(df, amp, workers=0, progress=False, output=out,
                              dburl="sqlite:///" + str(copy))
    again = s2sframe.map_segments(df, amp2, workers=0, progress=False, output=out, dburl=db,
                                  overwrite=True)
    assert again["v"].to_list() == [i * 3 for i in df["id"]]
    assert pl.read_parquet(out).equals(again)
    # partial results of another function are refused too
    (out.with_name("r.parquet.parts")).mkdir()
    shutil.copy(out, out.with_name("r.parquet.parts") / "part-0000000000-x.parquet")
    with pytest.raises(OutputError, match=r"r.parquet.parts \(partial results\) was produced "
                                          r"by a different run:\n  function: amp2"):
        s2sframe.map_segments(df, amp, workers=0, progress=False, output=out, dburl=db)


def test_map_segments_refuses_a_file_it_did_not_write(db, tmp_path):
    df = s2sframe.scan(db).select("id").collect()
    out = tmp_path / "r.parquet"
    df.write_parquet(out)
    with pytest.raises(OutputError, match="not written by map_segments .* overwrite=True"):
        s2sframe.map_segments(df, amp, workers=0, progress=False, output=out, dburl=db)
    df.write_parquet(tmp_path / "x.parquet")
    s2sframe.map_segments(df, amp, workers=0, progress=False, output=out, dburl=db,
                          overwrite=True)
    shutil.copy(tmp_path / "x.parquet", out)  # replaced behind our back
    with pytest.raises(OutputError, match="changed since map_segments wrote it"):
        s2sframe.map_segments(df, amp, workers=0, progress=False, output=out, dburl=db)


def test_s2s_process_append_with_another_function_is_refused(db, job, tmp_path):
    out = tmp_path / "res.csv"
    first = subprocess.run(s2s(db, job, out), cwd=ROOT, env=env(job), text=True,
                           capture_output=True, timeout=300)
    assert first.returncode == 0, first.stderr
    manifest = tmp_path / ".res.csv.s2s-manifest.json"
    assert "main" in manifest.read_text()
    res = subprocess.run(s2s(db, job, out, "-a", func="other"), cwd=ROOT, env=env(job),
                         text=True, capture_output=True, timeout=300)
    assert res.returncode == 2
    assert f"Cannot append to {out}: it was produced by a different run" in res.stderr
    assert "function: main (code" in res.stderr and "other (code" in res.stderr
    assert f"delete {manifest} to append anyway" in res.stderr
    assert read(out).height == len(all_ids(db))  # untouched


@pytest.mark.postgres
def test_manifest_never_holds_a_password(tmp_path, request):
    url = new_pg_database(request).replace("postgres@", "postgres:secret@")  # trust auth
    make_database(url, events=1, stations=1, seed=2)
    df = s2sframe.scan(url).select("id").collect()
    out = tmp_path / "r.parquet"
    s2sframe.map_segments(df, amp, workers=0, progress=False, output=out, dburl=url)
    text = (tmp_path / ".r.parquet.s2s-manifest.json").read_text()
    assert "secret" not in text and "postgres:***@" in text


# --------------------------------------------------------------------- refusals
def test_map_segments_output_must_be_a_parquet_file(db, tmp_path):
    df = s2sframe.scan(db).select("id").head(2).collect()
    folder = tmp_path / "results.parquet"
    folder.mkdir()
    with pytest.raises(OutputError, match=f"Output {folder} is a folder"):
        s2sframe.map_segments(df, amp, workers=0, progress=False, output=folder, dburl=db)
    for name in ("x.csv", "x.hdf", "x"):
        with pytest.raises(OutputError, match=f"must end with .parquet, not '{name}'"):
            s2sframe.map_segments(df, amp, workers=0, progress=False, output=tmp_path / name,
                                  dburl=db)
        assert not (tmp_path / name).exists()


def _unprivileged(args: list[str]) -> list[str]:
    """Run ``args`` without root's power to write anywhere (as root: drop CAP_DAC_*)."""
    if os.geteuid() != 0:
        return args
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to test read-only folders as root"
    return [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *args]


def test_a_read_only_folder_is_a_clear_error(db, job, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    out = folder / "res.parquet"
    res = subprocess.run(_unprivileged(s2s(db, job, out)), cwd=ROOT, env=env(job), text=True,
                         capture_output=True, timeout=300)
    assert res.returncode == 2, res.stderr
    assert f"Cannot write {out}: folder {folder} is not writable (Permission denied)" \
        in res.stderr
    code = ("import s2sframe, sys; df = s2sframe.scan(sys.argv[1]).select('id').collect(); "
            "s2sframe.map_segments(df, len, workers=0, output=sys.argv[2], dburl=sys.argv[1])")
    res = subprocess.run(_unprivileged([sys.executable, "-c", code, db, str(out)]), cwd=ROOT,
                         env=env(job), text=True, capture_output=True, timeout=300)
    assert "OutputError: Cannot write" in res.stderr and "is not writable" in res.stderr
    assert list(folder.iterdir()) == []


# ---------------------------------------------------------- stream2segment's CSV
def as_list(segment, config):
    return [segment.id * 2, f"s{segment.id}"]


def as_dict(segment, config):
    return {"twice": segment.id * 2}


def write_stream2segment_csv(path: Path, ids: list[int]) -> None:
    """As stream2segment's CsvWriter writes list rows: no header, the segment id first."""
    with open(path, "w", newline="", encoding="utf8") as fh:
        writer = csv.writer(fh, delimiter=",", quotechar='"', quoting=csv.QUOTE_MINIMAL)
        for i in ids:
            writer.writerow([i, i * 2, f"s{i}"])


def test_append_to_a_headerless_csv_written_by_stream2segment(db, tmp_path):
    ids = all_ids(db)
    out = tmp_path / "s2s.csv"
    write_stream2segment_csv(out, ids[:10])
    res = process(as_list, db, {"id": ">0"}, outfile=str(out), append=True)
    assert res.total == res.written == len(ids) - 10  # only the missing segments
    with open(out, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == [str(ids[0]), str(ids[0] * 2), f"s{ids[0]}"]  # still no header
    assert sorted(int(r[0]) for r in rows) == ids
    assert all(r == [r[0], str(int(r[0]) * 2), f"s{r[0]}"] for r in rows)
    other = tmp_path / "s2s_dict.csv"
    write_stream2segment_csv(other, ids[:10])
    with pytest.raises(TypeError, match="has no header: return lists .* not dicts"):
        process(as_dict, db, {"id": ">0"}, outfile=str(other), append=True)
    with open(other, newline="") as fh:
        assert len(list(csv.reader(fh))) == 10  # untouched


# ------------------------------------------------------------------------ the docs
def test_long_jobs_page_runs_and_prints_what_it_shows(capsys):
    import textwrap

    text = (ROOT / "docs" / "long_jobs.md").read_text()
    blocks = re.findall(r"^ *```python\n(.*?)^ *```", text, flags=re.S | re.M)
    assert len(blocks) >= 4
    namespace: dict = {}
    for block in blocks:
        exec(textwrap.dedent(block), namespace)  # noqa: S102 - the page's own examples
    printed = capsys.readouterr().out
    shown = re.search(r"prints\n\n *```text\n(.*?)\n *```", text, flags=re.S).group(1)
    shown = textwrap.dedent(shown).splitlines()
    lines = printed.splitlines()
    assert lines[0].endswith(shown[0].removeprefix("..."))
    assert re.sub(r"code \w+", "code X", lines[1]) == re.sub(r"code \w+", "code X", shown[1])
    assert lines[2] == shown[2]
    assert namespace["new"]["npts"].to_list() == [v ** 2 for v in namespace["first"]["npts"]]
