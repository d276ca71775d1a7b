"""docs/stream2segment_in_python.md runs and prints what it shows; the s2s init notebook runs.

The page's Python blocks are executed in order in one namespace, in a folder
holding a copy of the stream2segment example database; a ``text`` block right
after a Python block is what that block must print (``...`` matches anything,
as in doctests). On PostgreSQL the same page runs on a copy of the database.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import re
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from s2sframe.db.copy import copy_database
from tests.conftest import ROOT

PAGE = ROOT / "docs" / "stream2segment_in_python.md"
NOTEBOOK = ROOT / "s2sframe" / "templates" / "notebook.ipynb"
_BLOCK = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def page_blocks() -> list[tuple[str, str | None]]:
    """(python code, expected output or None) pairs of the page, in order."""
    blocks = [(m.group(1), m.group(2)) for m in _BLOCK.finditer(PAGE.read_text())]
    out = []
    for i, (lang, body) in enumerate(blocks):
        if lang == "python":
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            out.append((body, nxt[1] if nxt and nxt[0] == "text" else None))
    return out


def run_page(folder: Path, dburl: str | None = None) -> list[str]:
    """Execute the page in ``folder``; ``dburl`` replaces the page's URL. Returns outputs."""
    namespace: dict = {"__name__": "__page__"}
    outputs = []
    with contextlib.chdir(folder):
        for i, (code, expected) in enumerate(page_blocks()):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                exec(compile(code, f"{PAGE.name}[block {i}]", "exec"), namespace)  # noqa: S102
            if dburl is not None and "dburl = 'sqlite:///'" in code:
                namespace["dburl"] = dburl
            got = buf.getvalue()
            outputs.append(got)
            if expected is not None:
                assert _CHECKER.check_output(expected, got, _FLAGS), (
                    f"block {i} of {PAGE.name}:\n{code}\nexpected:\n{expected}\ngot:\n{got}"
                )
    return outputs


def test_page_has_the_steps_of_the_stream2segment_notebook():
    blocks = page_blocks()
    code = "\n".join(c for c, _ in blocks)
    for needle in ("yaml_load(", "imap(my_processing_function", ".copy()",
                   "get_segments(dburl", "get_segments(session", "str(evt)", "str(sta)",
                   "load_only('id')", "load_only(Segment.id)", "session.expunge_all()",
                   "close_session(session)"):
        assert needle in code, needle
    assert "stream2segment.process" not in code  # the changed import line
    assert sum(e is not None for _, e in blocks) >= 8  # outputs are checked, not just run


def test_page_on_sqlite(example_db: Path, tmp_path: Path):
    shutil.copy(example_db, tmp_path / "example.db.sqlite")
    outputs = run_page(tmp_path)
    joined = "".join(outputs)
    assert "[-314 -280 -251]" in joined
    assert joined.count("[-1.42699395e-06 -1.43603990e-06 -1.42210201e-06]") == 3
    assert "is not bound to a Session" in joined
    assert (tmp_path / "amplitudes.parquet").is_file()


@pytest.mark.postgres
def test_page_on_postgresql(example_db: Path, pg_url_factory, tmp_path: Path):
    url = pg_url_factory()
    copy_database("sqlite:///" + str(example_db), url)
    outputs = run_page(tmp_path, dburl=url)  # no SQLite file here: all reads go to PostgreSQL
    assert "[-314 -280 -251]" in "".join(outputs)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from segments")).scalar() == 2
    engine.dispose()


def test_notebook_template_runs(tmp_path: Path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    from s2sframe.testing import example_database

    example_database(tmp_path / "example.db.sqlite")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")  # clean
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=180,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", out
            texts.append(out.get("text", "") or out.get("data", {}).get("text/plain", ""))
    joined = "\n".join(texts)
    assert "Segment Id: 1 (event magnitude: 5.3)" in joined
    assert "is not bound to a Session" in joined
    assert "related_objects (0 of 3 loaded)" in joined
    assert joined.rstrip().endswith("True")  # close_session
    assert (tmp_path / "amplitudes.parquet").is_file()
