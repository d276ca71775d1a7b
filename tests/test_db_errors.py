"""Bad databases and bad arguments give clear errors naming the culprit (CLI: exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import s2sframe
from s2sframe.cli import main
from s2sframe.process import get_session
from s2sframe.testing import make_database
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    """A text file named .sqlite and a real SQLite database cut in half."""
    folder = tmp_path_factory.mktemp("bad")
    text = folder / "notes.sqlite"
    text.write_text("these are my notes, not a database\n" * 50)
    real = folder / "real.sqlite"
    make_database("sqlite:///" + str(real), events=2, stations=2, seed=1)
    truncated = folder / "truncated.sqlite"
    data = real.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {"text": text, "truncated": truncated}


@pytest.mark.parametrize("kind", ["text", "truncated"])
def test_not_a_sqlite_database(bad_files, kind, tmp_path):
    path = bad_files[kind]
    before = path.read_bytes()
    url = "sqlite:///" + str(path)
    calls = {
        "scan": lambda: s2sframe.scan(url),
        "scan of a path": lambda: s2sframe.scan(str(path)),
        "get_session": lambda: get_session(url),
        "get_session(**engine_args)": lambda: get_session(url, echo=False),
        "copy_database source": lambda: s2sframe.copy_database(
            url, "sqlite:///" + str(tmp_path / "copy.sqlite")),
        "copy_database destination": lambda: s2sframe.copy_database(
            "sqlite:///" + str(bad_files["truncated"].with_name("real.sqlite")), url),
        "make_database": lambda: make_database(url, events=1, stations=1, overwrite=True),
    }
    for what, call in calls.items():
        with pytest.raises(s2sframe.DatabaseError) as info:
            call()
        assert str(info.value).startswith(f"not a SQLite database: {path}"), (what, info.value)
    assert path.read_bytes() == before  # nothing written into it


@pytest.mark.parametrize("kind", ["text", "truncated"])
def test_cli_exit_2_on_a_file_that_is_not_a_sqlite_database(bad_files, kind, tmp_path):
    pyfile = tmp_path / "p.py"
    pyfile.write_text("def main(segment, config):\n    return {'x': 1}\n")
    path = bad_files[kind]
    result = CliRunner().invoke(main, ["process", "-d", str(path), "-p", str(pyfile),
                                       str(tmp_path / "o.csv")], catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert f"not a SQLite database: {path}" in result.output
    assert "Traceback" not in result.output


_BLOCKER = textwrap.dedent("""
    import sys

    class _NoPsycopg:
        \"\"\"A base install: the PostgreSQL drivers are not importable.\"\"\"

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("psycopg", "psycopg2", "psycopg_binary", "psycopg_c"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, _NoPsycopg())
""")


def test_postgresql_without_psycopg_gives_the_install_hint(tmp_path):
    """Run in a Python where psycopg cannot be imported (a meta-path blocker)."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(_BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)])}
    url = "postgresql://someone:pw@127.0.0.1:5432/anydb"
    hint = 'pip install "s2sframe[postgres]"'
    script = textwrap.dedent(f"""
        import importlib.util, s2sframe
        from s2sframe.process import get_session
        from s2sframe.testing import make_database
        try:
            import psycopg
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit("psycopg importable: the blocker did not work")
        for call in (lambda: s2sframe.scan({url!r}), lambda: get_session({url!r}),
                     lambda: make_database({url!r}, events=1, stations=1)):
            try:
                call()
            except s2sframe.DatabaseError as exc:
                print("DatabaseError:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 3, proc.stdout + proc.stderr
    for line in lines:
        assert line.startswith("DatabaseError:") and hint in line and "pw" not in line, line
        assert "someone:***@127.0.0.1:5432/anydb" in line
    pyfile = tmp_path / "p.py"
    pyfile.write_text("def main(segment, config):\n    return {'x': 1}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "s2sframe.cli", "process", "-d", url, "-p", str(pyfile),
         str(tmp_path / "o.csv")], env=env, capture_output=True, text=True, timeout=120,
        cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert hint in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("expression", [">" + "9" * 40, "9" * 40, "<-" + "9" * 40,
                                        10**40, "[0, " + "9" * 20 + "]"])
def test_integers_out_of_range_are_selection_errors(expression):
    with pytest.raises(s2sframe.SelectionError, match="64-bit integer range") as info:
        s2sframe.where({"id": expression})
    assert "'id'" in str(info.value)


def test_large_but_valid_integers_select_exactly(small_url):
    lf = s2sframe.scan(small_url)
    big = 2**63 - 1
    assert lf.filter(s2sframe.where({"id": f"<{big}"})).select("id").collect().height == 7
    assert lf.filter(s2sframe.where({"id": f">{big}"})).select("id").collect().height == 0
    assert lf.filter(s2sframe.where({"id": "3"})).select("id").collect()["id"].to_list() == [3]


def test_cli_exit_2_on_an_out_of_range_integer(tmp_path):
    url = "sqlite:///" + str(tmp_path / "db.sqlite")
    make_database(url, events=1, stations=1, metadata_only=True)
    config = tmp_path / "c.yaml"
    config.write_text(f"segments_selection:\n  id: '>{'9' * 40}'\n")
    pyfile = tmp_path / "p.py"
    pyfile.write_text("def main(segment, config):\n    return {'x': 1}\n")
    result = CliRunner().invoke(main, ["process", "-d", url, "-c", str(config), "-p",
                                       str(pyfile), str(tmp_path / "o.csv")],
                                catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "64-bit integer range" in result.output and "InvalidOperation" not in result.output


@pytest.mark.parametrize("partitions", [0, -1, 2.5, True, "2"])
def test_scan_partitions_must_be_a_positive_integer(small_url, partitions):
    with pytest.raises(ValueError, match="partitions must be a positive integer"):
        s2sframe.scan(small_url, partitions=partitions)


def test_scan_partitions_valid(small_url):
    for n in (1, 3):
        assert s2sframe.scan(small_url, partitions=n).select("id").collect().height == 7
