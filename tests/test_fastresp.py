"""The fast response evaluation against evalresp, on the whole corpus of real responses.

Corpus: every StationXML, RESP and (dataless) SEED response in ObsPy's installed test
data and ObsPy's example inventory, plus the GEOFON responses of the example database
(../shared/fixtures) and of a database generated from them by
:func:`s2sframe.testing.make_database`. Identical responses are evaluated once.

Contract (docs/map_segments.md): relative complex error <= 1e-8 where
``|H| > 1e-6 max|H|`` (DISP, VEL, ACC; several nfft; 20, 100, 200 Hz and the
channel's own rate), ``remove_response`` outputs within 1e-9 of their maximum.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import sqlite3
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy.core.inventory.response import Response
from obspy.core.util.base import _read_from_plugin
from obspy.signal.util import _npts2nfft

import s2sframe
from s2sframe.decode import fastresp, read_inventory
from s2sframe.decode.responses import CachedResponse
from s2sframe.testing import make_database
from tests.conftest import example_stationxml

FORMATS = {"STATIONXML", "RESP", "SEED", "XSEED"}
OUTPUTS = ("DISP", "VEL", "ACC")
RATES = (None, 20.0, 100.0, 200.0)  # None: the channel's own rate
NPTS = (300, 1201, 2400, 4801)
OPTIONS = (
    {},
    {"water_level": None},
    {"pre_filt": (0.05, 0.1, 6.0, 8.0)},
    {"pre_filt": (0.05, 0.1, 6.0, 8.0), "water_level": None},
)
#: tolerance (of the output maximum) by options: without water level nor pre_filt the
#: deconvolution divides by the deepest FIR stopband values (|H| ~ 1e-9 max|H|), whose
#: rounding differs between evalresp and the fast path (both ~1e-7 relative there)
TOLERANCE = (1e-9, 1e-6, 1e-9, 1e-9)
#: reasons the fast path may hand a corpus evaluation to evalresp
EXPECTED_FALLBACKS = {
    "response-list stage",
    "grid beyond the Nyquist frequency of the response's output",
    "stage rate not a multiple of the trace rate",
}


def _key(response: Response) -> str:
    sens = response.instrument_sensitivity
    text = repr((sens and sens.__dict__, [s.__dict__ for s in response.response_stages]))
    return hashlib.sha1(text.encode()).hexdigest()


def _own_rate(response: Response, rate: float | None) -> float:
    if rate:
        return float(rate)
    rates = response.get_sampling_rates()
    last = rates[max(rates)]["output_sampling_rate"] if rates else None
    return float(last) if last else 100.0


def _add(corpus: dict, label: str, inventory: obspy.Inventory) -> None:
    for net in inventory:
        for sta in net:
            for cha in sta:
                response = cha.response
                if response is None or not response.response_stages:
                    continue
                corpus.setdefault(_key(response), (f"{label}:{net.code}.{sta.code}.{cha.location_code}.{cha.code}", response,
                                                   _own_rate(response, cha.sample_rate)))


def _obspy_test_files() -> list[Path]:
    root = Path(obspy.__file__).parent
    return sorted(p for p in root.glob("**/tests/data/**/*")
                  if p.is_file() and p.stat().st_size < 5_000_000)


@functools.cache
def corpus() -> tuple[list[tuple[str, Response, float]], list[tuple[str, Response, float]]]:
    """(ObsPy's responses, GEOFON responses): (label, response, own rate), distinct."""
    obspy_corpus: dict = {}
    for path in _obspy_test_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                inventory, fmt = _read_from_plugin("inventory", str(path))
            except Exception:  # noqa: BLE001 - not an inventory
                continue
        if fmt in FORMATS:
            _add(obspy_corpus, str(path.relative_to(path.parents[3])), inventory)
    _add(obspy_corpus, "obspy-example", obspy.read_inventory())
    geofon: dict = {}
    for seed_id, xml in example_stationxml():
        _add(geofon, f"example.db {seed_id.split('.')[1]}", obspy.read_inventory(io.BytesIO(xml)))
    return sorted(obspy_corpus.values(), key=lambda x: x[0]), sorted(geofon.values(),
                                                                     key=lambda x: x[0])


def _compare(label: str, response: Response, t_samp: float, nfft: int, output: str,
             plans: dict, failures: list) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ref, ref_f = Response.get_evalresp_response(
                response, t_samp, nfft, output=output, hide_sensitivity_mismatch_warning=True)
        except Exception as exc:  # noqa: BLE001 - the fast path must raise the same
            with pytest.raises(type(exc)) as info:
                fastresp.evalresp_response(response, plans, t_samp, nfft, output=output,
                                           hide_sensitivity_mismatch_warning=True)
            assert str(info.value) == str(exc)
            return
        got, got_f = fastresp.evalresp_response(response, plans, t_samp, nfft, output=output,
                                                hide_sensitivity_mismatch_warning=True)
    assert np.array_equal(got_f, ref_f)
    error = fastresp.relative_error(got, ref)
    if not error <= 1e-8:
        failures.append((label, 1 / t_samp, nfft, output, error))


def _evaluate_corpus(items: list, npts: tuple[int, ...]) -> tuple[list, Counter]:
    fastresp.fast_response_stats(reset=True)
    failures: list = []
    for i, (label, response, own) in enumerate(items):
        plans: dict = {}
        for j, output in enumerate(OUTPUTS):
            rates = [r for r in RATES if r is None or r <= own]  # higher: evalresp
            rate = rates[(i + j) % len(rates)] or own
            nfft = _npts2nfft(npts[(i * len(OUTPUTS) + j) % len(npts)])
            _compare(label, response, 1.0 / rate, nfft, output, plans, failures)
    stats = fastresp.fast_response_stats(reset=True)
    print(f"\n{len(items)} responses: {stats.fast} fast evaluations, {stats.fallback} by "
          f"evalresp {dict(stats.reasons)}")
    return failures, Counter(stats.reasons)


def test_grid_beyond_nyquist_goes_to_evalresp(example_db: Path) -> None:
    """A 20 Hz response evaluated on a 100 Hz grid: evalresp's result, counted."""
    _, items = corpus()
    label, response, own = next(x for x in items if x[2] == 20.0)
    fastresp.fast_response_stats(reset=True)
    got, _ = fastresp.evalresp_response(response, {}, 0.01, 4800, "VEL", None, None, True)
    ref, _ = Response.get_evalresp_response(response, 0.01, 4800, output="VEL",
                                            hide_sensitivity_mismatch_warning=True)
    assert np.array_equal(got, ref)
    stats = fastresp.fast_response_stats(reset=True)
    assert stats.reasons == {"grid beyond the Nyquist frequency of the response's output": 1}


def test_corpus_obspy_test_data() -> None:
    items, _ = corpus()
    assert len(items) > 150  # StationXML, RESP and SEED files of ObsPy's test data
    failures, reasons = _evaluate_corpus(items, NPTS)
    assert failures == []
    assert set(reasons) <= EXPECTED_FALLBACKS, reasons


def test_corpus_geofon(example_db: Path) -> None:
    _, items = corpus()
    assert len(items) >= 5
    # 4-minute segments at each channel's own rate (100 Hz: nfft 48000) and shorter
    failures, reasons = _evaluate_corpus(items, (24000, 4800, 1201))
    assert failures == []
    assert reasons == Counter()


def test_generated_database_geofon_responses(example_db: Path, tmp_path: Path) -> None:
    """make_database(inventory_template=...) copies GEOFON responses: fast and equal."""
    con = sqlite3.connect(f"file:{example_db}?mode=ro", uri=True)
    try:
        template = con.execute("SELECT inventory_xml FROM stations ORDER BY id").fetchone()[0]
    finally:
        con.close()
    url = f"sqlite:///{tmp_path / 'gen.sqlite'}"
    make_database(url, events=1, stations=2, inventory_template=template)
    con = sqlite3.connect(str(tmp_path / "gen.sqlite"))
    try:
        blobs = [r[0] for r in con.execute("SELECT inventory_xml FROM stations")]
    finally:
        con.close()
    failures: list = []
    fastresp.fast_response_stats(reset=True)
    for blob in blobs:
        inventory = read_inventory(blob)
        for cha in inventory[0][0]:
            assert isinstance(cha.response, CachedResponse)
            nfft = _npts2nfft(int(240 * cha.sample_rate))
            _compare(cha.code, cha.response, 1 / cha.sample_rate, nfft, "ACC", {}, failures)
    assert failures == []
    assert fastresp.fast_response_stats().fallback == 0


@pytest.mark.parametrize("which", ["obspy", "geofon"])
def test_corpus_remove_response(which: str, request: pytest.FixtureRequest) -> None:
    if which == "geofon":
        request.getfixturevalue("example_db")
    items = corpus()[0 if which == "obspy" else 1]
    rng = np.random.default_rng(0)
    worst = [0.0] * len(OPTIONS)
    compared = 0
    for i, (label, response, own) in enumerate(items):
        rates = [r for r in RATES[1:] if r <= own] or [own]
        rate = own if i % 2 else rates[i % len(rates)]
        npts = (1000, 3001)[i % 2]
        t = np.arange(npts) / rate
        data = rng.normal(0, 100, npts) + 1e4 * np.sin(2 * np.pi * 0.7 * t)
        trace = obspy.Trace(data.astype(np.int32), {"sampling_rate": rate})
        trace.stats.response = response
        options = OPTIONS[i % len(OPTIONS)]
        output = OUTPUTS[i % len(OUTPUTS)]
        fast = s2sframe.fast_response(response)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                expected = trace.copy().remove_response(output=output, **options).data
            except Exception as exc:  # noqa: BLE001
                trace.stats.response = fast
                with pytest.raises(type(exc)):
                    trace.copy().remove_response(output=output, **options)
                continue
            trace.stats.response = fast
            got = trace.copy().remove_response(output=output, **options).data
        top = np.max(np.abs(expected))
        if not np.isfinite(top) or top == 0:
            assert np.array_equal(np.isfinite(got), np.isfinite(expected))
            continue
        error = np.max(np.abs(got - expected)) / top
        worst[i % len(OPTIONS)] = max(worst[i % len(OPTIONS)], error)
        assert error <= TOLERANCE[i % len(OPTIONS)], (label, rate, output, options, error)
        compared += 1
    print(f"\nremove_response on {compared} {which} responses: worst error / output maximum "
          + ", ".join(f"{o or 'defaults'}: {w:.2g}" for o, w in zip(OPTIONS, worst, strict=True)))
    assert compared >= len(items) // 2


def test_fast_response_public_api() -> None:
    inventory = obspy.read_inventory()
    response = inventory.get_response("BW.RJOB..EHZ", obspy.UTCDateTime(2009, 8, 24))
    fast = s2sframe.fast_response(response)
    assert type(fast) is CachedResponse and fast == response and fast is not response
    assert s2sframe.fast_response(fast) is fast
    assert s2sframe.fast_response(inventory) is inventory
    assert all(type(c.response) is CachedResponse for n in inventory for s in n for c in s)
    with pytest.raises(TypeError, match="Inventory or Response"):
        s2sframe.fast_response("RESP.file")
    before = s2sframe.fast_response_stats()
    got, _ = fast.get_evalresp_response(0.01, 4096, output="ACC")
    ref, _ = response.get_evalresp_response(0.01, 4096, output="ACC")
    assert fastresp.relative_error(got, ref) <= 1e-8
    after = s2sframe.fast_response_stats()
    assert after.fast == before.fast + 1 and after.fallback == before.fallback


def test_equal_fir_stages_evaluated_once_per_fft_length(example_db: Path) -> None:
    """Responses with equal FIR stages but other gains (the components of a GEOFON
    station: HHZ, a seismometer, and HLZ, an accelerometer, on one datalogger) share
    their FIR products (firczt.FIR_MEMO, keyed by content): the second
    response's are not computed again, and both still equal evalresp's; the memo is
    sized with the response cache."""
    from s2sframe.decode import clear_response_cache, firczt, set_response_cache_size
    from s2sframe.decode.responses import _DEFAULT_MEMO_BYTES

    _, geofon = corpus()
    by_station: dict[str, list[Response]] = {}
    for label, response, own in geofon:
        if own == 100.0:
            by_station.setdefault(label.split()[-1].split(":")[0], []).append(response)
    first, second = next(r[:2] for r in by_station.values() if len(r) >= 2)
    assert first.instrument_sensitivity.value != second.instrument_sensitivity.value or \
        first.response_stages[0].stage_gain != second.response_stages[0].stage_gain
    clear_response_cache()
    try:
        for i, response in enumerate((first, second)):
            fast = s2sframe.fast_response(response)
            got, _ = fast.get_evalresp_response(0.01, 48_002, output="ACC")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ref, _ = response.get_evalresp_response(0.01, 48_002, output="ACC")
            assert fastresp.relative_error(got, ref) <= 1e-8
            if i == 0:
                computed = firczt.FIR_MEMO.misses
                assert computed >= 1 and firczt.FIR_MEMO.hits == 0
        assert firczt.FIR_MEMO.hits == computed and firczt.FIR_MEMO.misses == computed
        assert 0 < firczt.FIR_MEMO.nbytes <= firczt.FIR_MEMO.max_bytes
        set_response_cache_size(4_000_000)
        assert firczt.FIR_MEMO.max_bytes == 1_000_000
        set_response_cache_size(0)
        assert len(firczt.FIR_MEMO) == 0
    finally:
        set_response_cache_size(_DEFAULT_MEMO_BYTES)
        clear_response_cache()


def test_fallback_is_counted_and_exact() -> None:
    """A response-list stage goes to evalresp, counted with its reason."""
    items, _ = corpus()
    label, response, own = next(
        x for x in items if any(type(s).__name__ == "ResponseListResponseStage"
                                for s in x[1].response_stages))
    fastresp.fast_response_stats(reset=True)
    fast = s2sframe.fast_response(response)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got, _ = fast.get_evalresp_response(1 / own, 1024, output="VEL")
        ref, _ = response.get_evalresp_response(1 / own, 1024, output="VEL")
    assert np.array_equal(got, ref)
    stats = fastresp.fast_response_stats(reset=True)
    assert stats.reasons == {"response-list stage": 1} and stats.fast == 0


def test_relative_error_metric() -> None:
    ref = np.array([0.0, 1.0, 1e-7, 2.0])
    assert fastresp.relative_error(ref, ref) == 0.0
    assert fastresp.relative_error(ref + [0, 1e-9, 1.0, 0], ref) == pytest.approx(1e-9)
    assert fastresp.relative_error(ref + [0, 0, 0, 2e-8], ref) == pytest.approx(1e-8)
    assert fastresp.relative_error(np.array([np.nan, 1, 1, 1]), ref) == float("inf")


def test_docs_page_runs() -> None:
    """The code of docs/responses.md runs (fresh process) and prints what it shows."""
    import re
    import subprocess
    import sys

    from tests.conftest import ROOT

    text = (ROOT / "docs" / "responses.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks
    for block in blocks:
        expected = [line[2:] for line in block.splitlines() if line.startswith("# ")]
        out = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == expected


def test_module_doctests() -> None:
    import doctest

    from s2sframe.decode import responses

    for module in (fastresp, responses):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__
