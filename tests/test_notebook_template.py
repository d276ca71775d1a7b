"""The notebook that ``s2s init`` writes runs in a Jupyter kernel and prints what it should.

(The documentation pages, docs/stream2segment_in_python.md included, are run by
tests/test_docs.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOT

NOTEBOOK = ROOT / "s2sframe" / "templates" / "notebook.ipynb"


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
    html = [out["data"]["text/html"] for cell in nb.cells for out in cell.get("outputs", [])
            if "text/html" in out.get("data", {})]
    assert any("s2s-segment-summary-table" in h and "event.magnitude" in h for h in html)
    assert "Segment Id: 97 (event magnitude: 4.4)" in joined
    assert "is not bound to a Session" in joined
    assert "related_objects (0 of 3 loaded)" in joined
    assert joined.rstrip().endswith("True")  # close_session
    assert (tmp_path / "amplitudes.parquet").is_file()
