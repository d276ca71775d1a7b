"""ObsPy's plugin lookups (Trace.filter, taper, detrend...) made once per process."""

from __future__ import annotations

import doctest
import importlib.metadata

import numpy as np
import obspy
import pytest
from obspy.core.util.base import ENTRY_POINTS, _get_function_from_entry_point

from s2sframe.signal import obspy_plugins
from s2sframe.signal.obspy_plugins import cache_plugin_lookups


def test_same_functions_errors_and_results_metadata_read_once(monkeypatch) -> None:
    """Every entry point gives the same function as before, unknown types the same
    error, and ObsPy's METADATA is no longer read on each lookup."""
    pairs = [(g, n) for g, eps in ENTRY_POINTS.items() for n in eps]
    assert len(pairs) > 50  # filters, tapers, detrends, triggers, waveform formats...
    trace = obspy.read()[0]
    filtered = trace.copy().filter("bandpass", freqmin=1, freqmax=10).taper(0.1).data
    with pytest.raises(ValueError) as unknown:
        _get_function_from_entry_point("taper", "no-such-window")
    cache_plugin_lookups()
    assert cache_plugin_lookups() == 0  # idempotent
    names = {type(ENTRY_POINTS[g][n].dist).__name__ for g, n in pairs}
    assert names == {"_NamedDistribution"}
    for group, name in (("filter", "bandpass"), ("taper", "hann"), ("detrend", "linear")):
        assert ENTRY_POINTS[group][name].dist.name == "obspy"
        assert _get_function_from_entry_point(group, name) is _get_function_from_entry_point(
            group, name.upper())
    with pytest.raises(ValueError, match=str(unknown.value)):
        _get_function_from_entry_point("taper", "no-such-window")
    assert np.array_equal(trace.copy().filter("bandpass", freqmin=1, freqmax=10).taper(0.1).data,
                          filtered)
    def work() -> None:
        trace.copy().filter("lowpass", freq=5).taper(0.05).detrend("demean")

    work()  # ObsPy loads each plugin on its first use (then scans every installed package)
    reads: list[str] = []
    real = importlib.metadata.PathDistribution.read_text

    def counting(self, filename):
        reads.append(filename)
        return real(self, filename)

    monkeypatch.setattr(importlib.metadata.PathDistribution, "read_text", counting)
    for _ in range(10):
        work()
    assert reads == []  # before: METADATA read and parsed on each of the 30 lookups


def test_module_doctests() -> None:
    result = doctest.testmod(obspy_plugins)
    assert result.failed == 0 and result.attempted > 0
