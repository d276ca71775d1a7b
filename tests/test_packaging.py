"""What the distribution ships: version from its metadata, type information, data files."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import s2sframe
from tests.conftest import ROOT


def test_version_comes_from_the_installed_metadata():
    assert s2sframe.__version__ == importlib.metadata.version("s2sframe")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert s2sframe.__version__ == pyproject["project"]["version"]


def test_package_data_patterns_all_match_files():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["s2sframe"]
    assert "py.typed" in patterns
    for pattern in patterns:
        assert list((ROOT / "s2sframe").glob(pattern)), pattern


def test_build_ships_py_typed_and_templates(tmp_path: Path):
    src = tmp_path / "src"
    shutil.copytree(ROOT / "s2sframe", src / "s2sframe",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    build = tmp_path / "build"
    out = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q",
         "build_py", "--build-lib", str(build)],
        cwd=src, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    shipped = {p.relative_to(build / "s2sframe").as_posix()
               for p in (build / "s2sframe").rglob("*") if p.is_file()}
    assert {"py.typed", "templates/paramtable.yaml", "templates/paramtable.py",
            "templates/notebook.ipynb", "engine/namespace.py"} <= shipped


def test_workers_and_processing_do_not_import_the_download_nor_pyarrow():
    """``import s2sframe`` and a worker's start-up leave out what only downloads (HTTP,
    ~50 MB a process) and array exports (pyarrow, ~45 MB) need; ``s2sframe.download``
    still comes when asked for, callable."""
    code = (
        "import sys, s2sframe, polars as pl\n"
        "import s2sframe.engine.worker as w\n"
        "w._import_decoders()\n"
        "df = pl.DataFrame({'id': [1]}); df.s2s\n"
        "heavy = ('requests', 'pyarrow', 's2sframe.download', 'starlette', 'uvicorn')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
        "print(callable(s2sframe.download), s2sframe.DownloadReport.__name__,\n"
        "      'requests' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout.splitlines()
    assert out == ["[]", "True DownloadReport True"], out
