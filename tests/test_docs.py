"""The documentation: every page's code runs and prints what it shows; the site builds strictly.

Each page's ``python`` blocks (``docs/**/*.md`` and ``README.md``) run in order in a
fresh folder, in a subprocess (``python -m tests.docs_blocks PAGE``), twice: a user
rerunning a page must get the same outputs. A ``text`` block right after a ``python``
block is the output it must print. The mkdocs-material site builds with ``--strict``
(no broken link or anchor, every page in the nav) and its API reference lists every
public name.
"""

from __future__ import annotations

import doctest
import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import yaml

from tests.conftest import IN_CI, ROOT
from tests.docs_blocks import SEPARATOR, python_blocks

DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md")) + [ROOT / "README.md"]
RUNNABLE = [p for p in PAGES if any(b.skip is None for b in python_blocks(p))]
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
MAX_SKIPPED_BLOCKS = 4  # blocks that cannot run here (e.g. real data center URLs): keep few


def _id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def run_page(page: Path, folder: Path, overrides: dict[str, str] | None = None) -> list[str]:
    """Run ``page``'s blocks in ``folder``; check the outputs shown; return every block's output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("S2S_DOCS_OVERRIDE", None)
    if overrides:
        env["S2S_DOCS_OVERRIDE"] = json.dumps(overrides)
    proc = subprocess.run([sys.executable, "-m", "tests.docs_blocks", str(page)], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    outputs = proc.stdout.split(SEPARATOR + "\n")
    blocks = python_blocks(page)
    assert outputs[-1] == "" and len(outputs) == len(blocks) + 1, proc.stdout[-3000:]
    for block, got in zip(blocks, outputs, strict=False):
        if block.expected is not None and block.skip is None:
            assert _CHECKER.check_output(block.expected, got, _FLAGS), (
                f"{page.name}:{block.line}\n{block.code}\nexpected:\n{block.expected}\ngot:\n{got}")
    return outputs[:-1]


# ------------------------------------------------------------------------------ pages
@pytest.mark.parametrize("page", RUNNABLE, ids=[_id(p) for p in RUNNABLE])
def test_page_runs_twice_and_prints_what_it_shows(page: Path, tmp_path: Path):
    first = run_page(page, tmp_path)
    assert run_page(page, tmp_path) is not None  # rerun in the same folder: still works
    assert len(first) == len(python_blocks(page))


def test_skipped_blocks_are_few_and_explained():
    skipped = [(p.name, b.line, b.skip) for p in PAGES for b in python_blocks(p) if b.skip]
    assert all(reason for _, _, reason in skipped)
    assert len(skipped) <= MAX_SKIPPED_BLOCKS, skipped


def test_skip_marker_needs_a_reason(tmp_path: Path):
    page = tmp_path / "p.md"
    page.write_text("<!-- skip: -->\n```python\nprint(1)\n```\n")
    with pytest.raises(ValueError, match="needs a reason"):
        python_blocks(page)
    page.write_text("text\n\n<!-- skip: needs a real server -->\n```python\nprint(1)\n```\n"
                    "```text\n1\n```\n\n```python\nprint(2)\n```\n")
    first, second = python_blocks(page)
    assert (first.skip, first.expected, second.skip) == ("needs a real server", "1\n", None)


def test_a_wrong_output_or_a_failing_block_fails(tmp_path: Path):
    page = tmp_path / "p.md"
    page.write_text("```python\nx = 2\nprint(x)\n```\n\n```text\n3\n```\n")
    with pytest.raises(AssertionError, match=r"expected:\s+3\s+got:\s+2"):
        run_page(page, tmp_path)
    page.write_text("```python\nx = 2\n```\n\n```python\nraise ValueError('boom')\n```\n")
    with pytest.raises(AssertionError, match=r"(?s)block at p.md:5 failed.*ValueError: boom"):
        run_page(page, tmp_path)


# --------------------------------------------------------------- the stream2segment page
PAGE = DOCS / "stream2segment_in_python.md"


def test_stream2segment_page_has_the_steps_of_the_stream2segment_notebook():
    blocks = python_blocks(PAGE)
    code = "\n".join(b.code for b in blocks)
    for needle in ("yaml_load(", "imap(my_processing_function", ".copy()",
                   "get_segments(dburl", "get_segments(session", "str(evt)", "str(sta)",
                   "load_only('id')", "load_only(Segment.id)", "session.expunge_all()",
                   "close_session(session)"):
        assert needle in code, needle
    assert "stream2segment.process" not in code  # the changed import line
    assert sum(b.expected is not None for b in blocks) >= 8  # outputs are checked, not just run


@pytest.mark.postgres
def test_stream2segment_page_on_postgresql(pg_url_factory, tmp_path: Path):
    import sqlalchemy as sa

    from s2sframe.db.copy import copy_database
    from s2sframe.testing import example_database

    url = pg_url_factory()
    copy_database(example_database(tmp_path / "src" / "example.db.sqlite"), url)
    folder = tmp_path / "page"
    folder.mkdir()
    outputs = run_page(PAGE, folder, overrides={"dburl": url})  # every read goes to PostgreSQL
    assert "Segment Id: 97 (event magnitude: 4.4)" in "".join(outputs)
    engine = sa.create_engine(url)
    with engine.connect() as conn:  # the page's process() read the PostgreSQL database
        count = conn.execute(sa.text("select count(*) from segments")).scalar()
    engine.dispose()
    assert count == 126
    assert (folder / "amplitudes.parquet").is_file()


# ------------------------------------------------------------------------------- site
def _nav_pages(nav) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_nav_pages(item) for item in nav)) if nav else set()
    if isinstance(nav, dict):
        return set().union(*(_nav_pages(v) for v in nav.values()))
    return set()


def test_every_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert config["docs_dir"] == "docs"
    in_nav = _nav_pages(config["nav"])
    on_disk = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert on_disk - in_nav == set(), "add these pages to the nav of mkdocs.yml"
    assert in_nav - on_disk == set(), "pages in the nav of mkdocs.yml that do not exist"


def test_readme_links_the_site_pages():
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/[\w/.-]+\.md)", readme))
    assert "docs/index.md" in linked
    for target in linked:
        assert (ROOT / target).is_file(), target
    assert "python3 -m pip install -q -e \".[test]\" && python3 -m pytest -n 2" in readme


def _inventory(path: Path) -> set[str]:
    """The names of a Sphinx objects.inv (as written by mkdocstrings)."""
    raw = path.read_bytes()
    header_end = 0
    for _ in range(4):
        header_end = raw.index(b"\n", header_end) + 1
    lines = zlib.decompress(raw[header_end:]).decode().splitlines()
    return {line.split(" ", 1)[0] for line in lines if line}


def test_site_builds_strictly_offline_with_every_public_name(tmp_path: Path):
    if not _importable("mkdocs") or not _importable("mkdocstrings_handlers.python"):
        if IN_CI:
            pytest.fail("mkdocs is not installed: pip install -e '.[docs]' (CI=true)")
        pytest.skip("mkdocs not installed (pip install -e '.[docs]')")
    site = tmp_path / "site"
    # any fetch from the network would go through a proxy that does not exist: it fails
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HTTP_PROXY": "http://127.0.0.1:9",
           "HTTPS_PROXY": "http://127.0.0.1:9", "http_proxy": "http://127.0.0.1:9",
           "https_proxy": "http://127.0.0.1:9", "NO_PROXY": "", "no_proxy": ""}
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    html = (site / "index.html").read_text()
    assert "fonts.googleapis" not in html and "fonts.gstatic" not in html
    names = _inventory(site / "objects.inv")
    missing = [f"{module.__name__}.{name}" for module in public_modules()
               for name in module.__all__ if not _documented(module, name, names)]
    assert not missing, missing


def _documented(module, name: str, inventory: set[str]) -> bool:
    """``module.name`` is on a page under its public path or where it is defined."""
    obj = getattr(module, name)
    paths = {f"{module.__name__}.{name}", getattr(obj, "__name__", "")}
    if hasattr(obj, "__qualname__"):
        paths.add(f"{obj.__module__}.{obj.__qualname__}")
    return bool(paths & inventory)


def public_modules() -> list:
    """The modules whose ``__all__`` is public API (each on a reference page)."""
    import importlib

    return [importlib.import_module(name) for name in (
        "s2sframe", "s2sframe.process", "s2sframe.signal", "s2sframe.testing",
        "s2sframe.show", "s2sframe.show.gui", "s2sframe.process.gui",
        "s2sframe.process.funclib.traces", "s2sframe.process.funclib.ndarrays")]


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_cli_page_documents_every_command():
    from s2sframe.cli import main

    page = (DOCS / "cli.md").read_text()
    headings = " ".join(re.findall(r"^## .*$", page, re.M))
    assert sorted(set(re.findall(r"`s2s (\w+)", headings))) == sorted(main.commands)
    for name, command in main.commands.items():
        for param in command.params:
            opts = [o for o in getattr(param, "opts", []) if o.startswith("-")]
            if opts:  # an option is documented by its short or its long name
                assert any(re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", page)
                           for o in opts), (name, opts)
