"""The s2s command: init, process, help texts and exit codes (0 ok, 1 processing, 2 input)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml
from click.testing import CliRunner

import s2sframe
from s2sframe import cli
from s2sframe.cli import NOTEBOOK, main
from s2sframe.compat.config import yaml_load
from tests.conftest import ROOT

TEMPLATES = ROOT / "s2sframe" / "templates"
FILES = ["paramtable.py", "paramtable.yaml", "gui.py", "gui.yaml", NOTEBOOK, "download.yaml",
         "example.db.sqlite"]


def run(*args: str, input: str | None = None):  # noqa: A002
    return CliRunner().invoke(main, [str(a) for a in args], input=input,
                              catch_exceptions=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cli") / "demo"
    result = run("init", folder)
    assert result.exit_code == 0, result.output
    return folder


def process_args(demo: Path, out: Path, *extra: str) -> list[str]:
    yaml = demo / "paramtable.yaml"
    return ["process", "-d", yaml, "-c", yaml, "-p", demo / "paramtable.py", *extra, out]


# ------------------------------------------------------------------------------ help
def test_help_explains_every_option():
    top = run("--help")
    assert top.exit_code == 0 and "init" in top.output and "process" in top.output
    text = run("process", "--help").output
    for opt in ("-d, --dburl", "-p, --pyfile", "-f, --funcname", "-c, --config",
                "-a, --append", "-mp, --multi-process", "-np, --num-processes", "--logfile",
                "-q, --quiet", "OUTFILE", "segment_db_id", "SkipSegment"):
        assert opt in text, opt
    text = run("init", "--help").output
    assert "-y, --yes" in text and "paramtable.yaml" in text and "example.db.sqlite" in text
    assert "gui.py" in text and "gui.yaml" in text
    assert run("process", "-h").exit_code == 0
    for command in ("process", "show"):  # stream2segment's long name of -c too
        assert "-c, --config, --configfile" in run(command, "--help").output
    assert s2sframe.__version__ in run("--version").output


# ------------------------------------------------------------------------------ init
def test_init_writes_the_templates_and_an_example_database(demo: Path):
    for name in FILES:
        assert (demo / name).is_file(), name
    for name in ("paramtable.py", "paramtable.yaml", "gui.py", "gui.yaml"):
        assert (demo / name).read_bytes() == (TEMPLATES / name).read_bytes(), name
    assert json.loads((demo / NOTEBOOK).read_text())["nbformat"] == 4
    frame = s2sframe.scan("sqlite:///" + str(demo / "example.db.sqlite")).collect()
    assert frame.height == 126 and frame["has_valid_data"].any()


def test_init_asks_before_overwriting(tmp_path: Path):
    folder = tmp_path / "d"
    assert run("init", folder).exit_code == 0
    (folder / "paramtable.py").write_text("# my edits\n")
    noterm = run("init", folder)  # nobody to ask: fail, touch nothing
    assert noterm.exit_code == 2 and "pass --yes" in noterm.output
    assert (folder / "paramtable.py").read_text() == "# my edits\n"
    asked = len(FILES)  # one question per existing file
    kept = run("init", folder, input="n\n" * asked)
    assert kept.exit_code == 0 and "kept" in kept.output
    assert (folder / "paramtable.py").read_text() == "# my edits\n"
    first_only = run("init", folder, input="y\n" + "n\n" * (asked - 1))
    assert first_only.exit_code == 0
    assert (folder / "paramtable.py").read_bytes() == (TEMPLATES / "paramtable.py").read_bytes()
    (folder / "paramtable.yaml").write_text("# edited\n")
    assert run("init", folder, "--yes").exit_code == 0
    assert (folder / "paramtable.yaml").read_bytes() == \
        (TEMPLATES / "paramtable.yaml").read_bytes()


def test_init_into_a_file_is_bad_input(tmp_path: Path):
    (tmp_path / "f").write_text("")
    result = run("init", tmp_path / "f")
    assert result.exit_code == 2 and "is a file" in result.output


# --------------------------------------------------------------------------- process
def test_process_the_example_database(demo: Path, tmp_path: Path):
    out = tmp_path / "results.parquet"
    result = run(*process_args(demo, out))
    assert result.exit_code == 0, result.output
    df = pl.read_parquet(out)
    assert df.columns[0] == "segment_db_id" and df.height > 0
    assert "snr" in df.columns and (df["snr"] > 0).all()
    logs = list(tmp_path.glob("results.parquet.*.log"))
    assert len(logs) == 1
    log = logs[0].read_text()
    found = int(re.search(r"^(\d+) segment\(s\) found to process$", log, re.M).group(1))
    assert f"{df.height} of {found} segment(s) successfully written" in log
    assert "segment(s) successfully processed" in result.output  # verbose by default
    assert "segment (id=" not in result.output and "segment (id=" in log
    yaml = demo / "paramtable.yaml"  # again, with stream2segment's long name of -c
    again = run("process", "-d", yaml, "--configfile", yaml, "-p", demo / "paramtable.py",
                "-a", "--logfile", tmp_path / "again.log", "-q", out)
    assert again.exit_code == 0 and again.output == ""
    text = (tmp_path / "again.log").read_text()
    assert f"Skipping {df.height} already processed segment(s)" in text
    assert f"{found - df.height} segment(s) found to process" in text
    assert pl.read_parquet(out).height == df.height  # skipped ones are skipped again


def _summary_lines(text: str) -> list[str]:
    return re.findall(r"^(\d+ (?:of \d+ )?segment\(s\) [^\n]+)$", text, re.M)


def test_first_run_processes_most_segments(demo: Path, tmp_path: Path):
    """The template on the example database (the README's first run): most segments are
    processed; the few skips are the instructive ones, each with its reason in the log;
    the terminal says where the output and the log are; the README shows this summary."""
    out = tmp_path / "results.parquet"
    result = run(*process_args(demo, out))
    assert result.exit_code == 0, result.output
    log_path = next(tmp_path.glob("results.parquet.*.log"))
    assert f"Output: {out.resolve()}" in result.output
    assert f"Log:    {log_path.resolve()}" in result.output
    log = log_path.read_text()
    found = int(re.search(r"(\d+) segment\(s\) found to process", log).group(1))
    processed = pl.read_parquet(out).height
    assert processed >= 0.8 * found and found == 98
    reasons = re.findall(r"^segment \(id=\d+\): (.*)$", log, re.M)
    assert len(reasons) == found - processed
    no_xml = [r for r in reasons if r.endswith("no inventory (station has no StationXML)")]
    low_snr = [r for r in reasons if re.fullmatch(r"low SNR \(\d\.\d+\)", r)]
    assert len(no_xml) == 13 and len(low_snr) == 1 and len(reasons) == 14
    # the segments not selected: without data, malformed, or with gaps
    frame = s2sframe.scan("sqlite:///" + str(demo / "example.db.sqlite")).collect()
    unselected = frame.filter(~(pl.col("has_valid_data") & (pl.col("maxgap_numsamples").abs()
                                                             <= 0.5)))
    assert unselected.height == frame.height - found == 28
    assert (~unselected["has_valid_data"]).sum() > 0
    assert (unselected["maxgap_numsamples"] > 0.5).sum() > 0
    # the documented summaries are this run's
    lines = _summary_lines(log)
    assert len(lines) == 4
    for page in (ROOT / "README.md", ROOT / "docs" / "cli.md"):
        assert _summary_lines(page.read_text()) == lines, page.name


def test_process_with_worker_processes(demo: Path, tmp_path: Path):
    single, multi = tmp_path / "s.csv", tmp_path / "m.csv"
    config = yaml_load(demo / "paramtable.yaml")
    config["segments_selection"]["id"] = "<=30"
    config["advanced_settings"] = {"segments_chunksize": 2}
    sel = _write(tmp_path / "c.yaml", yaml.safe_dump(config))
    base = ["-d", demo / "paramtable.yaml", "-c", sel, "-p", demo / "paramtable.py", "-q"]
    assert run("process", *base, single).exit_code == 0
    result = run("process", *base, "-np", "2", multi)
    assert result.exit_code == 0, result.output
    log = next(tmp_path.glob("m.csv.*.log")).read_text()
    assert "Processes:           2" in log
    a = pl.read_csv(single).sort("segment_db_id")
    b = pl.read_csv(multi).sort("segment_db_id")
    assert a.equals(b) and a.height > 0


def test_exit_codes_on_bad_input(demo: Path, tmp_path: Path):
    out = tmp_path / "o.csv"
    py, yaml = demo / "paramtable.py", demo / "paramtable.yaml"
    cases = {
        "not found": ["-d", "sqlite:///" + str(tmp_path / "nope.sqlite"), "-p", py],
        "invalid YAML": ["-d", yaml, "-c", _write(tmp_path / "bad.yaml", "a: [1\n"), "-p", py],
        "Unknown attribute 'nope'": [
            "-d", yaml, "-c", _write(tmp_path / "sel.yaml", "segments_selection:\n  nope: '1'\n"),
            "-p", py],
        "interval needs exactly two values": [
            "-d", yaml, "-c", _write(tmp_path / "iv.yaml", "segments_selection:\n  id: '[1]'\n"),
            "-p", py],
        "function 'nope' not found": ["-d", yaml, "-p", py, "-f", "nope"],
        "Python file not found": ["-d", yaml, "-p", tmp_path / "missing.py"],
        "has no 'dburl' entry": ["-d", _write(tmp_path / "nodb.yaml", "a: 1\n"), "-p", py],
        "must accept two arguments": [
            "-d", yaml, "-p", _write(tmp_path / "one.py", "def main(segment):\n    pass\n")],
    }
    for message, args in cases.items():
        result = run("process", *args, out)
        assert result.exit_code == 2, (message, result.output)
        assert message in result.output, (message, result.output)
        assert "Traceback" not in result.output
    result = run("process", "-d", yaml, "-p", py, tmp_path / "o.xlsx")
    assert result.exit_code == 2 and "Unknown output format" in result.output
    assert run("process", "-p", py, out).exit_code == 2  # -d is required (click usage error)


def test_exit_code_1_when_the_function_fails(demo: Path, tmp_path: Path):
    bad = _write(tmp_path / "bad.py", "def main(segment, config):\n"
                                      "    raise ZeroDivisionError('boom %d' % segment.id)\n")
    result = run("process", "-d", demo / "paramtable.yaml", "-p", bad, tmp_path / "o.csv")
    assert result.exit_code == 1
    assert "main failed on segment" in result.output and "ZeroDivisionError: boom" in result.output
    log = next(tmp_path.glob("o.csv.*.log")).read_text()
    assert "Process aborted" in log and "ZeroDivisionError" in log


def test_passwords_are_masked(demo: Path, tmp_path: Path):
    url = "postgresql://me:s3cr3tpw@127.0.0.1:1/nodb"
    result = run("process", "-d", url, "-p", demo / "paramtable.py", tmp_path / "o.csv")
    assert result.exit_code == 2
    assert "s3cr3tpw" not in result.output and "me:***@127.0.0.1" in result.output
    assert cli.mask("x postgresql+psycopg://u:p@ss@h/db y") == "x postgresql+psycopg://u:***@h/db y"


def test_paramtable_runs_as_a_script(demo: Path, tmp_path: Path):
    out = tmp_path / "script.csv"
    proc = subprocess.run([sys.executable, "paramtable.py", "-o", str(out)], cwd=demo,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    df = pl.read_csv(out)
    assert df.columns[0] == "segment_db_id" and df.height > 0


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "s2sframe.cli", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "s2s init DIR" in proc.stdout


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path
