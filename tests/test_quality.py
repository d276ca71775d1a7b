"""The public API is pinned and the code is ruff clean."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import s2sframe
from tests.conftest import ROOT


def test_exported_members_are_pinned():
    assert set(s2sframe.__all__) == {
        name for name in dir(s2sframe) if not name.startswith("_") and name not in {
            "annotations", "exceptions", "testing", "signal", "process", "orm", "cli",
            # the layers (subpackages), importable but not part of the curated API
            "db", "decode", "engine", "compat", "export", "show", "yamlfile"}
    } - {"__version__"}
    for name in s2sframe.__all__:
        assert getattr(s2sframe, name).__module__.startswith("s2sframe"), name


def test_public_functions_have_docstrings_with_examples():
    for name in s2sframe.__all__:
        obj = getattr(s2sframe, name)
        if callable(obj) and not isinstance(obj, type):
            doc = obj.__doc__ or ""
            assert "Examples" in doc and ">>>" in doc, name


def test_ruff_clean():
    ruff = shutil.which("ruff")
    cmd = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    if not ruff:
        pytest.importorskip("ruff")
    out = subprocess.run(
        [*cmd, "check", "s2sframe", "tests", "benchmarks", "tools"], cwd=ROOT, capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_docstring_examples_run():
    import doctest

    from s2sframe import exceptions, yamlfile
    from s2sframe.db import info as _info
    from s2sframe.db import locks as _locks
    from s2sframe.db import lockwaits as _lockwaits
    from s2sframe.db import scan as _scan
    from s2sframe.db import selection as _selection
    from s2sframe.db import urls as _db
    from s2sframe.engine import warncount

    for module in (s2sframe, _db, _info, _locks, _lockwaits, _scan, _selection, exceptions, yamlfile,
                   warncount):
        result = doctest.testmod(
            module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
        )
        assert result.failed == 0, module.__name__
        assert result.attempted > 0, module.__name__


def _names_in_inline_code(markdown: str) -> set[str]:
    """Names that are the whole of an inline code span (`name`, `name(...)`, `mod.name`)."""
    import re

    prose = re.sub(r"^```.*?^```", "", markdown, flags=re.S | re.M)
    spans = re.findall(r"`([^`\n]+)`", prose)
    pattern = re.compile(r"(?:@?[A-Za-z_]\w*\.)*@?([A-Za-z_]\w*)(?:\(.*\))?")
    return {m.group(1) for m in (pattern.fullmatch(s.strip()) for s in spans) if m}


def test_every_public_name_is_documented():
    """Each public name is named in the prose of a guide (the API reference pages list
    them all too: tests/test_docs.py); a prefix (`s2s` of `s2s process`) does not count."""
    import s2sframe.process
    import s2sframe.show
    import s2sframe.signal
    import s2sframe.testing

    assert _names_in_inline_code("`s2s process`, `df.s2s.map_segments(f)`, `where`") == {
        "map_segments", "where"}
    named = _names_in_inline_code(
        "".join(p.read_text() for p in (ROOT / "docs").glob("*.md")))
    for module in (s2sframe, s2sframe.process, s2sframe.signal, s2sframe.testing,
                   s2sframe.show):
        missing = [name for name in module.__all__ if name not in named]
        assert not missing, (module.__name__, missing)
