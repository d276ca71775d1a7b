"""A processing function defined in a Jupyter notebook runs in spawned worker processes."""

from __future__ import annotations

from pathlib import Path

import pytest

CELLS = [
    "import numpy as np, polars as pl, s2sframe\n"
    "from s2sframe.testing import example_database\n"
    "url = example_database('nb.sqlite')",
    # defined in the notebook: not importable by workers, must travel by value
    "def peak(segment):\n"
    "    tr = segment.stream()[0]\n"
    "    return {'peak': float(np.abs(tr.data).max()), 'pid': __import__('os').getpid()}",
    "df = s2sframe.scan(url).filter(s2sframe.where({'has_valid_data': 'true'})).select('id').collect()\n"
    "out = df.s2s.map_segments(peak, workers=2, progress=False, dburl=url)\n"
    "kernel_pid = __import__('os').getpid()\n"
    "print('rows', out.height, df.height)\n"
    "print('errors', out['s2s_error'].null_count() == out.height)\n"
    "print('workers', out['pid'].n_unique(), kernel_pid in out['pid'].to_list())\n"
    "print('positive', bool((out['peak'] > 0).all()))",
]


def test_notebook_function_in_spawned_workers(tmp_path: Path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=300,
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [out for cell in nb.cells for out in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"], outputs
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    lines = dict(line.split(" ", 1) for line in text.strip().splitlines() if " " in line)
    rows, expected = lines["rows"].split()
    assert rows == expected and int(rows) > 0
    assert lines["errors"] == "True"
    n_workers, in_kernel = lines["workers"].split()
    assert int(n_workers) >= 1 and in_kernel == "False"  # computed in other processes
    assert lines["positive"] == "True"
