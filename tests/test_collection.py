"""Test ids are deterministic: pytest-xdist workers must collect the same suite.

Two collections in separate processes (as ``-n 2`` does) must give the same
node ids in the same order; a parameter id built from varying bytes (e.g.
``gzip.compress`` output, which embeds the current time) fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from tests.conftest import ROOT


def _collect() -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests"],
        cwd=ROOT, capture_output=True, text=True, env=os.environ.copy(), timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_two_collections_give_the_same_test_ids():
    start = time.monotonic()
    first = _collect()
    # gzip timestamps have a one-second resolution: the second collection must import the
    # test modules in a later second than the first one did, or the check could not fail
    time.sleep(max(0.0, 1.1 - (time.monotonic() - start)))
    second = _collect()
    assert len(first) > 500
    assert first == second, sorted(set(first) ^ set(second))[:20]
