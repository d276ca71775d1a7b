"""The package's import graph: no cycles between modules, arrows between layers point down.

Every import of every module counts, also those inside functions and under
``TYPE_CHECKING``: a function-level import hides a cycle from the interpreter,
not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

#: layer -> rank. A module may import modules of its own layer (subpackage) and of
#: layers of lower rank only; layers of equal rank are independent of each other.
#: The facades (``s2sframe``, ``s2sframe.process``, ``s2sframe.orm``) sit on top, and
#: the templates (user code shipped with the package) above them.
LAYERS = {
    "exceptions": 0,
    "db": 1, "decode": 1, "signal": 1, "yamlfile": 1,
    "engine": 2, "testing": 2, "download": 2,
    "compat": 3, "export": 3,
    "show": 4,
    "cli": 5,
    "namespace": 5,  # the .s2s methods, gathered from engine, export and show
    "": 6, "process": 6, "orm": 6,
    "templates": 7,
}


def modules(root: Path, package: str) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package ``__init__``) of every module under root."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def import_source(name: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    """The absolute name of the module ``from ... import`` reads, in module ``name``."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports (anywhere in its code)."""
    mods = modules(root, package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_pkg) in mods.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names if a.name in mods)
            elif isinstance(node, ast.ImportFrom):
                source = import_source(name, is_pkg, node)
                for alias in node.names:
                    if f"{source}.{alias.name}" in mods:  # a submodule
                        targets.add(f"{source}.{alias.name}")
                    elif source in mods:
                        targets.add(source)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def layer(module: str, package: str) -> str:
    rest = module[len(package) + 1:] if module != package else ""
    return rest.split(".", 1)[0]


def upward_imports(graph: dict[str, set[str]], package: str) -> list[str]:
    """``a -> b`` for every import of a module of another layer of equal or higher rank."""
    bad = []
    for src, targets in sorted(graph.items()):
        src_layer = layer(src, package)
        for dst in sorted(targets):
            dst_layer = layer(dst, package)
            if dst_layer != src_layer and LAYERS[dst_layer] >= LAYERS[src_layer]:
                bad.append(f"{src} -> {dst}")
    return bad


def test_every_module_belongs_to_a_layer():
    graph = import_graph(ROOT, "s2sframe")
    assert len(graph) > 40
    assert {layer(m, "s2sframe") for m in graph} <= set(LAYERS)


def test_no_import_cycles():
    assert cycles(import_graph(ROOT, "s2sframe")) == []


def test_imports_point_down_the_layers():
    assert upward_imports(import_graph(ROOT, "s2sframe"), "s2sframe") == []


def test_checker_sees_cycles_through_function_level_and_type_checking_imports(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "db").mkdir(parents=True)
    (pkg / "engine").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "db" / "__init__.py").write_text("")
    (pkg / "engine" / "__init__.py").write_text("")
    (pkg / "db" / "a.py").write_text("from . import b\n")
    (pkg / "db" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .c import X\n"
    )
    (pkg / "db" / "c.py").write_text("def f():\n    from pkg.db.a import g\n")
    (pkg / "db" / "d.py").write_text("def f():\n    from ..engine.e import h\n")
    (pkg / "engine" / "e.py").write_text("from ..db import d\n")
    graph = import_graph(tmp_path, "pkg")
    assert graph["pkg.db.a"] == {"pkg.db.b"}
    assert cycles(graph) == [
        ["pkg.db.a", "pkg.db.b", "pkg.db.c"], ["pkg.db.d", "pkg.engine.e"]
    ]
    assert upward_imports(graph, "pkg") == ["pkg.db.d -> pkg.engine.e"]


@pytest.mark.parametrize("src, dst", [("decode", "engine"), ("engine", "compat"),
                                      ("compat", "cli"), ("db", "decode")])
def test_layer_rule_forbids(src, dst):
    graph = {f"s2sframe.{src}.x": {f"s2sframe.{dst}.y"}, f"s2sframe.{dst}.y": set()}
    assert upward_imports(graph, "s2sframe") == [f"s2sframe.{src}.x -> s2sframe.{dst}.y"]
