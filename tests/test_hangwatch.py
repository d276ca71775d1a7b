"""tests/hangwatch.py: a test that hangs beyond pytest-timeout's reach is stopped and shown."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT

HANGING = '''
import threading

def test_fine():
    assert True

def test_waits_forever():
    threading.Event().wait()

def test_after():
    assert True
'''


def test_a_hung_worker_is_replaced_and_its_stacks_printed(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["tests.hangwatch"]\n')
    (tmp_path / "test_hanging.py").write_text(HANGING)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "S2S_TEST_HANG_SECONDS": "3"}
    env.pop("S2S_TEST_HANG_DIR", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "1", "-p", "no:cacheprovider", "-o", "timeout=0",
         "-o", "addopts=", "test_hanging.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "2 passed" in out and "1 failed" in out, out
    assert "crashed while running 'test_hanging.py::test_waits_forever'" in out, out
    assert "hung test (stacks from gw0-" in out, out
    assert "test_hanging.py::test_waits_forever ran over 3.0 s" in out, out
    assert 'File "' + str(tmp_path / "test_hanging.py") + '", line 8 in test_waits_forever' in out, out
