"""The public API is pinned and the code is ruff clean."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import s2sframe
from tests.conftest import ROOT


def test_exported_members_are_pinned():
    assert set(s2sframe.__all__) == {
        name for name in dir(s2sframe) if not name.startswith("_") and name not in {
            "annotations", "exceptions", "testing", "signal", "process", "orm", "cli",
            # the layers (subpackages), importable but not part of the curated API
            "db", "decode", "engine", "compat", "export", "show", "yamlfile", "namespace"}
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


def test_mypy_clean(tmp_path):
    """The package type-checks (settings: [tool.mypy] of pyproject.toml), and so does
    user code calling its public API as documented (``s2sframe.download(...)``: the
    package is callable; type checkers see its function)."""
    user = tmp_path / "user_code.py"
    user.write_text(
        "import polars as pl\n"
        "import s2sframe\n"
        "from s2sframe import DownloadReport\n\n\n"
        "def run(config: str, dburl: str) -> int:\n"
        "    report: DownloadReport = s2sframe.download(config, progress=False)\n"
        "    frame: pl.LazyFrame = s2sframe.scan(dburl)\n"
        "    return report.segments_planned + len(frame.collect_schema())\n")
    out = subprocess.run([sys.executable, "-m", "mypy", "s2sframe", str(user)],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _package_modules() -> dict[str, Path]:
    """Module name -> file of every module of s2sframe: its packages' modules (found as
    the import system does) and the templates (user scripts shipped in a plain folder).
    ``__main__`` modules, which run the CLI when imported, are left out."""
    import pkgutil

    found = {"s2sframe": ROOT / "s2sframe" / "__init__.py"}
    for info in pkgutil.walk_packages(s2sframe.__path__, "s2sframe."):
        if not info.name.endswith(".__main__"):
            folder = Path(info.module_finder.path)  # type: ignore[union-attr]
            base = info.name.rsplit(".", 1)[-1]
            found[info.name] = folder / base / "__init__.py" if info.ispkg else \
                folder / f"{base}.py"
    for path in sorted((ROOT / "s2sframe" / "templates").glob("*.py")):
        found[f"s2sframe.templates.{path.stem}"] = path
    return found


def test_every_module_is_found():
    modules = _package_modules()
    assert {"s2sframe.engine.run", "s2sframe.namespace", "s2sframe.process.funclib.ndarrays",
            "s2sframe.templates.paramtable"} <= set(modules)
    assert all(path.is_file() for path in modules.values())
    files = {p for p in (ROOT / "s2sframe").rglob("*.py") if p.name != "__main__.py"}
    assert set(modules.values()) == files


@pytest.mark.parametrize("name", sorted(_package_modules()))
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    """The ``>>>`` examples of every module run and show what they print."""
    import doctest
    import importlib
    import importlib.util

    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    path = _package_modules()[name]
    if (path.parent / "__init__.py").is_file():
        module = importlib.import_module(name)
    else:  # a template: a script, loaded from its file
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    for test in doctest.DocTestFinder().find(module, name):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


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


def test_namespace_methods_are_their_functions():
    """Every public method of ``df.s2s`` / ``lf.s2s`` is declared once, as the function
    it calls: same signature without the frame, same docstring (no hand copy to drift)."""
    import inspect

    from s2sframe.engine import run, segment
    from s2sframe.namespace import FrameMethod
    from s2sframe.show.frames import show_frame

    functions = {"map_segments": run.map_segments, "segments": segment.iter_segments,
                 "segment": segment.get_segment, "to_seisbench": s2sframe.to_seisbench,
                 "to_asdf": s2sframe.to_asdf, "waveforms": s2sframe.waveforms,
                 "show": show_frame}
    df = pl.DataFrame({"id": [1]})
    for ns in (df.s2s, df.lazy().s2s):
        public = {n for n in dir(ns) if not n.startswith("_")}
        assert public == set(functions), type(ns).__name__
        for name, func in functions.items():
            assert isinstance(inspect.getattr_static(ns, name), FrameMethod), name
            method = getattr(ns, name)
            fsig = inspect.signature(func)
            assert inspect.signature(method) == fsig.replace(
                parameters=list(fsig.parameters.values())[1:]), name
            assert method.__doc__ == func.__doc__, name
            unbound = inspect.signature(getattr(type(ns), name))
            assert list(unbound.parameters)[0] == "self", name
            assert list(unbound.parameters.values())[1:] == list(fsig.parameters.values())[1:]


def test_namespace_map_segments_takes_every_argument_of_the_function(example_url, tmp_path):
    """``overwrite=True``, which OutputError tells the user to pass, works on ``df.s2s``."""
    df = s2sframe.scan(example_url).select("id").head(2).collect()
    out = tmp_path / "out.parquet"
    for _ in range(2):  # the second run needs overwrite=True
        result = df.lazy().s2s.map_segments(lambda seg: seg.id, workers=0, progress=False,
                                            output=out, overwrite=True, dburl=example_url)
    assert result["result"].to_list() == [1, 2]


def private_imports(root: Path, package: str) -> list[str]:
    """``module:line name`` for every private name (or module) a module imports from
    another room: a subpackage of ``package``, or a top-level module (its own room).

    Names other rooms use are the room's internal API: public in the defining module.
    Imports of private names of the module's own room are its business.
    """
    from tests.test_architecture import import_source, layer, modules

    mods = modules(root, package)

    def private(dotted: str) -> bool:
        return any(p.startswith("_") and not p.startswith("__") for p in dotted.split("."))

    found = []
    for name, (path, is_pkg) in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        other_rooms: dict[str, str] = {}  # local name -> module of another room
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                source = import_source(name, is_pkg, node)
                targets = [(f"{source}.{a.name}", f"{source}.{a.name}" if
                            f"{source}.{a.name}" in mods else source) for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [(a.name, a.name) for a in node.names]
            else:
                continue
            for (imported, module), alias in zip(targets, node.names, strict=True):
                if not (module == package or module.startswith(package + ".")):
                    continue
                if layer(module, package) == layer(name, package):
                    continue
                if private(imported[len(package):]):
                    found.append(f"{name}:{node.lineno} {imported}")
                elif imported in mods and (alias.asname or isinstance(node, ast.ImportFrom)):
                    other_rooms[alias.asname or alias.name] = imported
        for node in ast.walk(tree):  # module._name, the module imported from another room
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in other_rooms and private(node.attr)):
                found.append(f"{name}:{node.lineno} {other_rooms[node.value.id]}.{node.attr}")
    return found


def test_private_import_checker(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "db").mkdir(parents=True)
    (pkg / "engine").mkdir()
    for init in ("__init__.py", "db/__init__.py", "engine/__init__.py"):
        (pkg / init).write_text("")
    (pkg / "db" / "a.py").write_text("_x = 1\ny = 2\n")
    (pkg / "db" / "_b.py").write_text("")
    (pkg / "db" / "c.py").write_text("from .a import _x\nfrom . import _b\n")  # own room
    (pkg / "engine" / "e.py").write_text(
        "from ..db.a import _x, y\nfrom ..db import _b\nimport pkg.db._b\nfrom pkg.db.a import __doc__\n")
    (pkg / "orm.py").write_text("def f():\n    from .db.a import _x\n")
    (pkg / "engine" / "f.py").write_text(
        "from ..db import a as db_a\nfrom . import e\nprint(db_a._x, db_a.y, e._z)\n")
    assert private_imports(tmp_path, "pkg") == [
        "pkg.engine.e:1 pkg.db.a._x", "pkg.engine.e:2 pkg.db._b", "pkg.engine.e:3 pkg.db._b",
        "pkg.engine.f:3 pkg.db.a._x", "pkg.orm:2 pkg.db.a._x"]


def test_no_private_imports_across_subpackages():
    """Subpackages use each other through public names only (their internal API)."""
    assert private_imports(ROOT, "s2sframe") == []


@pytest.mark.parametrize("module, names", [
    ("s2sframe.engine.namespace", ["S2SNamespace", "S2SLazyNamespace", "s2s", "frame_method"]),
    ("s2sframe.engine.results", ["ResultTypeError"]),
    ("s2sframe.show.viewer", ["ReadOnlyError", "describe"]),
    ("s2sframe.show.series", ["PlotResultError"]),
    ("s2sframe.compat.config", ["BadInput"]),
    ("s2sframe.download.config", ["ConfigError"]),
    ("s2sframe.download.events", ["CatalogError", "DownloadFailed"]),
    ("s2sframe.export.namespace", []),
])
def test_import_paths_of_moved_names_still_work(module, names):
    """Names moved to s2sframe.exceptions and s2sframe.namespace are still importable from
    the modules that defined them, and are the same objects."""
    import importlib

    import s2sframe.exceptions
    import s2sframe.namespace

    old = importlib.import_module(module)
    for name in names:
        new = getattr(s2sframe.exceptions, name, None) or getattr(s2sframe.namespace, name, None) \
            or s2sframe.exceptions.describe_error
        assert getattr(old, name) is new, (module, name)


def test_user_facing_errors_live_in_exceptions():
    from s2sframe import exceptions

    for name in exceptions.__all__:
        obj = getattr(exceptions, name)
        assert obj.__module__ == "s2sframe.exceptions", name
        if isinstance(obj, type) and issubclass(obj, Exception) and name != "SkipSegment":
            assert issubclass(obj, (exceptions.S2SFrameError, Warning)), name
