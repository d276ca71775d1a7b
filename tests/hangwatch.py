"""The backstop for a test that hangs where pytest-timeout can't stop it.

pytest-timeout (``timeout`` in pyproject.toml) fails a test that runs too long, with
its traceback, by a signal; a hang inside native code that holds the GIL never
returns to Python to take that signal. So every test also arms faulthandler: after
``HANG_SECONDS`` it writes every thread's stack to a file and ends the process. Under
xdist the controller then reports the crashed worker's test as failed, starts a new
worker, and at the end prints the stacks it finds (a worker's stderr is not shown).
"""

from __future__ import annotations

import faulthandler
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

# after pytest-timeout's 300 s had its chance (set lower by tests/test_hangwatch.py)
HANG_SECONDS = float(os.environ.get("S2S_TEST_HANG_SECONDS", "420"))
_ENV = "S2S_TEST_HANG_DIR"


def pytest_configure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput"):  # the controller: its workers inherit this
        os.environ[_ENV] = tempfile.mkdtemp(prefix="s2s-test-hangs-")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    folder = os.environ.get(_ENV)
    worker = getattr(item.config, "workerinput", {}).get("workerid")
    # under xdist a file the controller reads; else stderr, the terminal
    path = Path(folder) / f"{worker}-{os.getpid()}.txt" if folder and worker else None
    out = open(path, "w") if path else sys.__stderr__  # closed below
    try:
        if path:
            out.write(f"{item.nodeid} ran over {HANG_SECONDS} s; the stacks of its threads:\n")
            out.flush()
        faulthandler.dump_traceback_later(HANG_SECONDS, exit=True, file=out)
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
        if path:
            out.close()
            path.unlink()


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    folder = Path(os.environ.get(_ENV, ""))
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(errors="replace")
        if "Thread 0x" in text or "Current thread" in text:
            terminalreporter.section(f"hung test (stacks from {path.name})", sep="=")
            terminalreporter.write(text)


def pytest_unconfigure(config: pytest.Config) -> None:
    if not hasattr(config, "workerinput") and os.environ.get(_ENV):
        shutil.rmtree(os.environ.pop(_ENV), ignore_errors=True)
