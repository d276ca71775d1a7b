"""Tests of s2sframe.signal (against analytic values) and of the paramtable template."""

from __future__ import annotations

import doctest
import gzip
import importlib.util
import io
import math
import runpy
import sqlite3
import sys
import types
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import obspy
import pytest
import yaml
from obspy import Stream, Trace, UTCDateTime

from s2sframe import signal as s2ssignal
from s2sframe.exceptions import SkipSegment
from s2sframe.signal import (
    ampratio,
    ampspec,
    bandpass,
    bandpass_remresp,
    cumsumsq,
    dfreq,
    fft,
    freqs,
    maxabs,
    pga,
    pgv,
    powspec,
    respspec,
    sn_split,
    sn_windows,
    snr,
    timeof,
    timeswhere,
    triangsmooth,
)

TEMPLATES = Path(__file__).resolve().parents[1] / "s2sframe" / "templates"
TEMPLATE_PY = TEMPLATES / "paramtable.py"
TEMPLATE_YAML = TEMPLATES / "paramtable.yaml"

T0 = UTCDateTime(2020, 1, 1)


def _trace(data: Any, delta: float = 0.01, starttime: UTCDateTime = T0) -> Trace:
    return Trace(np.asarray(data, dtype=float), header={"delta": delta, "starttime": starttime})


def _sine(freq: float, amp: float, npts: int, delta: float, cos: bool = False) -> np.ndarray:
    func = np.cos if cos else np.sin
    return amp * func(2 * np.pi * freq * np.arange(npts) * delta)


@pytest.fixture(scope="module")
def example() -> tuple[Trace, obspy.Inventory]:
    """ObsPy's example BW.RJOB..EHZ trace (counts, 100 Hz, 30 s) and its inventory."""
    return obspy.read()[0], obspy.read_inventory()


# ----------------------------------------------------------------------------------------
# docstrings
# ----------------------------------------------------------------------------------------


def test_docstring_examples_run() -> None:
    # s2sframe.signal re-exports names defined in private modules: doctest only collects
    # the docstrings of objects defined in the module it is given, so test them all.
    from s2sframe.signal import common as _sig_common
    from s2sframe.signal import filters as _sig_filters
    from s2sframe.signal import peaks as _sig_peaks
    from s2sframe.signal import spectra as _sig_spectra
    from s2sframe.signal import windows as _sig_windows

    attempted = 0
    for module in (s2ssignal, _sig_common, _sig_filters, _sig_windows, _sig_spectra, _sig_peaks):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0, module.__name__
        attempted += result.attempted
    assert attempted >= 63


def test_public_names_documented_and_typed() -> None:
    for name in s2ssignal.__all__:
        obj = getattr(s2ssignal, name)
        assert obj.__doc__ and "Examples" in obj.__doc__ or name == "ResponseSpectrum", name
        if callable(obj) and not isinstance(obj, type):
            assert "return" in obj.__annotations__, name


# ----------------------------------------------------------------------------------------
# spectra
# ----------------------------------------------------------------------------------------


def test_ampspec_of_sine_peaks_at_its_frequency_with_known_amplitude() -> None:
    npts, delta, freq, amp = 1000, 0.01, 5.0, 3.0
    data = _sine(freq, amp, npts, delta)
    df, spec = ampspec(data, delta=delta, taper_max_percentage=0)
    assert df == pytest.approx(0.1)
    assert len(spec) == npts // 2 + 1
    peak = int(np.argmax(spec))
    assert peak * df == pytest.approx(freq)
    assert spec[peak] == pytest.approx(amp * npts / 2, rel=1e-9)
    assert np.delete(spec, peak).max() < 1e-9 * spec[peak]
    # same with a Trace, and with the frequencies returned:
    f, spec_tr = ampspec(_trace(data, delta), taper_max_percentage=0, return_freqs=True)
    np.testing.assert_allclose(f, np.arange(501) * 0.1)
    np.testing.assert_allclose(spec_tr, spec)
    # tapering reduces the peak, but keeps its frequency:
    _, tapered = ampspec(data, delta=delta)
    assert np.argmax(tapered) == peak and tapered[peak] < spec[peak]


def test_fft_constant_and_trim() -> None:
    df, values = fft(np.full(8, 2.0), delta=0.5, taper_max_percentage=0)
    assert df == 0.25
    np.testing.assert_allclose(values, [16, 0, 0, 0, 0], atol=1e-12)
    # trim on a trace (padding with zeros outside): 10 samples of ones, window of 20
    tr = _trace(np.ones(10), delta=1.0)
    df, values = fft(tr, starttime=T0, endtime=T0 + 19, taper_max_percentage=0)
    assert df == pytest.approx(1 / 20)
    assert abs(values[0]) == pytest.approx(10.0)
    assert tr.stats.npts == 10  # input not modified
    with pytest.raises(ValueError, match="delta"):
        fft(np.ones(4))
    with pytest.raises(ValueError, match="Trace"):
        fft(np.ones(4), delta=1, starttime=T0)


def test_powspec_parseval_and_white_noise_level() -> None:
    rng = np.random.default_rng(42)
    sigma, npts, delta = 2.0, 2**16, 0.01
    noise = rng.normal(0, sigma, npts)
    df, power = powspec(noise, delta=delta, taper_max_percentage=0)
    assert df == pytest.approx(1 / (npts * delta))
    # Parseval (real FFT of an even number of samples):
    total = (power[0] + power[-1] + 2 * power[1:-1].sum()) / npts
    assert total == pytest.approx(np.sum(noise**2), rel=1e-10)
    # white noise: every bin has expectation npts * sigma**2
    assert power[1:-1].mean() == pytest.approx(npts * sigma**2, rel=0.02)
    # powspec is ampspec squared
    _, amp = ampspec(noise, delta=delta, taper_max_percentage=0)
    np.testing.assert_allclose(power, amp**2)


def test_dfreq_and_freqs() -> None:
    assert dfreq(1000, 0.01) == pytest.approx(0.1)
    assert dfreq(np.zeros(50), 0.1) == pytest.approx(0.2)
    for npts in (1000, 1001):
        f = freqs(npts, 0.01)
        assert len(f) == npts // 2 + 1 == len(np.fft.rfft(np.zeros(npts)))
        np.testing.assert_allclose(f, np.arange(len(f)) * dfreq(npts, 0.01))
    np.testing.assert_allclose(freqs(np.zeros(4), 0.5), [0, 0.5, 1])


# ----------------------------------------------------------------------------------------
# triangsmooth
# ----------------------------------------------------------------------------------------


def _triangsmooth_reference(array: np.ndarray, ratio: float) -> np.ndarray:
    """Direct weighted sums, from the definition."""
    out = np.array(array, dtype=float)
    size = len(out)
    for i in range(size):
        n = min(int(np.rint(i * ratio)), size - 1 - i)
        if n >= 2:
            j = np.arange(-(n - 1), n)
            out[i] = np.sum((n - np.abs(j)) * array[i + j]) / n**2
    return out


def test_triangsmooth_of_constant_is_constant() -> None:
    for ratio in (0.05, 0.3, 1.0):
        np.testing.assert_allclose(triangsmooth(np.full(500, 7.5), ratio), 7.5, rtol=1e-13)


@pytest.mark.parametrize(("size", "ratio"), [(10, 0.5), (7, 0.3), (1000, 0.05), (3001, 1.0)])
def test_triangsmooth_equals_direct_weighted_sums(size: int, ratio: float) -> None:
    rng = np.random.default_rng(size)
    values = rng.lognormal(3, 1, size)
    np.testing.assert_allclose(
        triangsmooth(values, ratio), _triangsmooth_reference(values, ratio), rtol=1e-9
    )


def test_triangsmooth_known_values_nan_and_input_untouched() -> None:
    values = np.array([1, 1, 1, 1, 9, 1, 1, 1, 1, 1], dtype=float)
    out = triangsmooth(values, 0.5)
    # i=3: n=2, weights (1, 2, 1)/4 on [1, 1, 9] -> 3; i=4: (1*1 + 2*9 + 1*1)/4 -> 5
    np.testing.assert_allclose(out, [1, 1, 1, 3, 5, 3, 17 / 9, 1, 1, 1])
    assert values[4] == 9  # not modified
    np.testing.assert_array_equal(triangsmooth(values, 0), values)
    with_nan = np.random.default_rng(0).random(200)
    with_nan[50] = np.nan
    smoothed, reference = triangsmooth(with_nan, 0.1), _triangsmooth_reference(with_nan, 0.1)
    np.testing.assert_array_equal(np.isnan(smoothed), np.isnan(reference))
    np.testing.assert_allclose(smoothed, reference, rtol=1e-12)  # NaNs compare equal
    with pytest.raises(ValueError, match="winlen_ratio"):
        triangsmooth(values, 1.5)


# ----------------------------------------------------------------------------------------
# snr
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["", "time", "amplitude", "amp", "power", "pow", "fft"])
def test_snr_of_identical_signals_is_one(form: str) -> None:
    values = np.random.default_rng(1).normal(size=256)
    if form == "fft":
        values = np.fft.rfft(values)
    assert snr(values, values, signals_form=form) == pytest.approx(1.0)
    assert snr(values, values, signals_form=form, in_db=True) == pytest.approx(0.0, abs=1e-12)


def test_snr_known_ratios_and_bands() -> None:
    noise = np.random.default_rng(2).normal(size=1000)
    assert snr(3 * noise, noise) == pytest.approx(3.0)
    assert snr(3 * noise, noise, in_db=True) == pytest.approx(20 * math.log10(3))
    # a 10 Hz sine on top of the noise raises the SNR only in a band around 10 Hz
    delta = 0.01
    sig = noise + _sine(10, 5, 1000, delta)
    kws = {"delta_signal": delta, "delta_noise": delta}
    assert snr(sig, noise, fmin=8, fmax=12, **kws) > 5
    assert snr(sig, noise, fmin=20, fmax=40, **kws) == pytest.approx(1.0)
    # spectra: band limits in Hz with the frequency resolution
    assert snr([9, 1, 1, 1], [1, 1, 1, 1], signals_form="power") == pytest.approx(math.sqrt(3))
    kws = {"delta_signal": 0.5, "delta_noise": 0.5}
    assert snr([9, 1, 1, 1], [1, 1, 1, 1], signals_form="power", fmin=1, **kws) == 1.0
    # fmax=0.4 Hz: only the 0 Hz bin strictly inside; nearest sample adds the 0.5 Hz one
    assert snr([9, 1, 1, 1], [1, 1, 1, 1], signals_form="power", fmax=0.4, **kws) == 3.0
    assert snr(
        [9, 1, 1, 1], [1, 1, 1, 1], signals_form="power", fmax=0.4, nearest_sample=True, **kws
    ) == pytest.approx(math.sqrt(5))


def test_snr_degenerate_cases() -> None:
    assert math.isnan(snr([1, 1], [0, 0], signals_form="amplitude"))
    assert math.isnan(snr([1, 1], [1, 1], signals_form="amplitude", fmin=100))
    assert snr([0, 0], [1, 1], signals_form="amplitude", in_db=True) == -math.inf
    with pytest.raises(ValueError, match="signals_form"):
        snr([1], [1], signals_form="wrong")


# ----------------------------------------------------------------------------------------
# cumulative and windows
# ----------------------------------------------------------------------------------------


def test_cumsumsq_records_itself_in_the_trace_processing() -> None:
    trace = Trace(np.arange(5.0), header={"delta": 0.5})
    trace.detrend("constant")  # ObsPy records its own steps
    before = list(trace.stats.processing)
    out = cumsumsq(trace, normalize=False)
    assert out.stats.processing == [*before, "s2sframe.signal.cumsumsq(normalize=False)"]
    assert trace.stats.processing == before  # the input trace is left alone
    assert cumsumsq(Trace(np.ones(3))).stats.processing == [
        "s2sframe.signal.cumsumsq(normalize=True)"]


def test_cumsumsq_of_constant_is_linear() -> None:
    np.testing.assert_allclose(cumsumsq(np.full(11, 3.0)), np.linspace(0, 1, 11))
    np.testing.assert_allclose(cumsumsq(np.full(11, 3.0), normalize=False), 9 * np.arange(1, 12))
    np.testing.assert_allclose(cumsumsq([1, 2, 3], normalize=False), [1, 5, 14])
    np.testing.assert_array_equal(cumsumsq(np.zeros(5)), np.zeros(5))  # no 0/0
    tr = _trace(np.full(11, -2.0), delta=0.5)
    ctr = cumsumsq(tr)
    assert isinstance(ctr, Trace) and ctr.stats.starttime == T0 and ctr.stats.delta == 0.5
    np.testing.assert_allclose(ctr.data, np.linspace(0, 1, 11))
    np.testing.assert_array_equal(tr.data, -2.0)  # input untouched


def test_timeswhere_on_constant_energy() -> None:
    tr = _trace(np.ones(101), delta=1.0)
    t5, t50, t95, tmax = timeswhere(tr, 0.05, 0.5, 0.95, 2.0, cumulative=False)
    assert (t5 - T0, t50 - T0, t95 - T0) == (5.0, 50.0, 95.0)
    assert tmax == tr.stats.endtime  # beyond the maximum: the last sample
    # already cumulative (not normalized): first time where it reaches the value
    assert timeswhere(cumsumsq(tr, normalize=False), 10)[0] - T0 == 9.0
    assert timeof(tr, 3.5) - T0 == 3.5


def test_sn_windows_and_split_seconds() -> None:
    tr = _trace(np.arange(100.0), delta=1.0)
    (s0, s1), (n0, n1) = sn_windows(tr, (T0 + 50).datetime, 20)
    assert (n0 - T0, n1 - T0, s0 - T0, s1 - T0) == (30, 50, 50, 70)
    sig, noi = sn_split(tr, T0 + 50, 20)
    assert sig.data[0] == 50 and noi.data[0] == 30 and sig.stats.npts == noi.stats.npts == 21
    # windows beyond the data are padded with zeros, keeping equal lengths:
    sig, noi = sn_split(tr, T0 + 10, 30)
    assert sig.stats.npts == noi.stats.npts == 31
    assert noi.stats.starttime == T0 - 20 and np.all(noi.data[:20] == 0)
    with pytest.raises(ValueError, match="positive"):
        sn_windows(tr, T0, 0)


def test_sn_windows_cumulative_fractions() -> None:
    # no energy before the arrival (50 s), constant energy rate for 100 s after it
    data = np.concatenate([np.zeros(50), np.ones(101)])
    tr = _trace(data, delta=1.0)
    (s0, s1), (n0, n1) = sn_windows(tr, T0 + 50, [0.1, 0.9])
    assert (s0 - T0, s1 - T0) == (60, 140)
    assert (n0 - T0, n1 - T0) == (-30, 50)  # same length, ending at the arrival
    with pytest.raises(ValueError, match="after the trace end"):
        sn_windows(tr, T0 + 1000, [0.1, 0.9])
    with pytest.raises(ValueError, match="increasing"):
        sn_windows(tr, T0 + 50, [0.9, 0.1])


# ----------------------------------------------------------------------------------------
# band-pass and response removal
# ----------------------------------------------------------------------------------------


def _gain(freq: float, **kwargs: Any) -> float:
    """Output / input amplitude of `bandpass` for a sine, away from the tapered ends."""
    tr = Trace(_sine(freq, 1.0, 6000, 0.01), header={"sampling_rate": 100.0})
    return float(np.abs(bandpass(tr, 1.0, 10.0, **kwargs).data[1000:5000]).max())


def test_bandpass_attenuates_sines_outside_the_band() -> None:
    assert _gain(3.0) == pytest.approx(1.0, abs=0.01)
    assert _gain(0.2) < 0.01
    assert _gain(40.0) < 0.001


def test_bandpass_details() -> None:
    counts = (1000 + _sine(2.0, 100, 2000, 0.05)).astype(np.int32)  # offset, int data
    tr = Trace(counts, header={"sampling_rate": 20.0})
    out = bandpass(tr, 0.5, 30.0)  # 30 Hz > Nyquist: capped at 0.9 * 10 Hz
    np.testing.assert_allclose(out.data, bandpass(tr, 0.5, 9.0).data)
    assert out.data.dtype == np.float64 and out.stats.npts == tr.stats.npts
    assert abs(out.data[500:1500].mean()) < 1  # offset removed
    assert tr.data.dtype == np.int32 and tr.data[0] == 1000  # input untouched
    with pytest.raises(ValueError, match="freq_min"):
        bandpass(tr, 9.5, 30.0)  # above the capped freq_max
    with pytest.raises(ValueError, match="positive"):
        bandpass(tr, 0, 5)


def test_bandpass_remresp_on_obspy_example(example: tuple[Trace, obspy.Inventory]) -> None:
    trace, inv = example
    kws: dict[str, Any] = {"freq_min": 1.0, "freq_max": 5.0}
    acc = bandpass_remresp(trace, inv, **kws)
    # the same as band-pass followed by ObsPy's remove_response:
    expected = bandpass(trace, 1.0, 5.0).remove_response(inv, output="ACC", water_level=60)
    np.testing.assert_allclose(acc.data, expected.data)
    # in the flat band of the seismometer, velocity = counts / sensitivity:
    vel = bandpass_remresp(trace, inv, output="vel", **kws)
    sensitivity = inv.get_response(trace.id, trace.stats.starttime).instrument_sensitivity.value
    counts_peak = np.abs(bandpass(trace, 1.0, 5.0).data).max()
    assert np.abs(vel.data).max() == pytest.approx(counts_peak / sensitivity, rel=0.1)
    # acceleration is the derivative of velocity:
    derivative = np.gradient(vel.data, vel.stats.delta)
    assert np.abs(derivative - acc.data)[300:-300].max() < 0.05 * np.abs(acc.data).max()
    assert trace.data[0] == obspy.read()[0].data[0]  # input untouched
    with pytest.raises(ValueError, match="output"):
        bandpass_remresp(trace, inv, output="VELOCITY", **kws)


# ----------------------------------------------------------------------------------------
# peaks and response spectra
# ----------------------------------------------------------------------------------------


def test_maxabs_pga_ampratio() -> None:
    tr = _trace([0.0, 2.0, -5.0, 1.0, 4.0, np.nan], delta=1.0)
    assert maxabs(tr) == (T0 + 2, 5.0)
    assert maxabs(tr, starttime=T0 + 3) == (T0 + 4, 4.0)
    assert maxabs(tr, T0 + 10, T0 + 20) == (None, pytest.approx(math.nan, nan_ok=True))
    assert pga(tr) == 5.0
    assert ampratio(tr) == 5.0 / 2**23
    assert ampratio([0, -(2**22)]) == 0.5 and ampratio([0, 10], full_scale=20) == 0.5
    assert math.isnan(ampratio([]))


def test_pgv_of_cosine_acceleration() -> None:
    for freq, amp in [(1.0, 1.0), (0.5, 3.0)]:
        acc = _trace(_sine(freq, amp, 10000, 0.01, cos=True))
        assert pgv(acc) == pytest.approx(amp / (2 * np.pi * freq), rel=1e-3)
        assert pga(acc) == pytest.approx(amp)


def test_respspec_resonance_and_rigid_limit() -> None:
    delta, amp, zeta = 0.01, 2.0, 0.05
    acc = _sine(1.0, amp, 6000, delta)  # 60 s of a 1 Hz sine
    res = respspec(acc, [0.01, 1.0], damping=zeta, delta=delta)
    # rigid oscillator (T << 1 s): moves with the ground, PSA = SA = PGA
    assert res.psa[0] == pytest.approx(amp, rel=1e-3)
    assert res.sa[0] == pytest.approx(amp, rel=1e-3)
    # resonance, steady state: PSA = amp / (2 zeta), SD = PSA / w**2, PSV = w SD
    assert res.psa[1] == pytest.approx(amp / (2 * zeta), rel=0.01)
    w = 2 * np.pi
    assert res.sd[1] == pytest.approx(res.psa[1] / w**2)
    assert res.psv[1] == pytest.approx(w * res.sd[1])
    assert res.sv[1] == pytest.approx(res.psv[1], rel=0.01)
    # a Trace gives the same result
    res_tr = respspec(_trace(acc, delta), [0.01, 1.0], damping=zeta)
    np.testing.assert_allclose(res_tr.psa, res.psa)
    with pytest.raises(ValueError, match="periods"):
        respspec(acc, [0.0], delta=delta)


def test_respspec_equals_numerical_integration() -> None:
    from scipy.integrate import solve_ivp

    delta, period, zeta = 0.01, 0.3, 0.05
    acc = np.random.default_rng(3).normal(size=1000)
    times = np.arange(acc.size) * delta
    w = 2 * np.pi / period

    def rhs(t: float, y: np.ndarray) -> list[float]:
        return [y[1], -np.interp(t, times, acc) - 2 * zeta * w * y[1] - w**2 * y[0]]

    sol = solve_ivp(
        rhs, (0, times[-1]), [0, 0], t_eval=times, rtol=1e-10, atol=1e-13, max_step=delta
    )
    res = respspec(acc, [period], damping=zeta, delta=delta)
    assert res.sd[0] == pytest.approx(np.abs(sol.y[0]).max(), rel=1e-6)
    assert res.sv[0] == pytest.approx(np.abs(sol.y[1]).max(), rel=1e-6)


# ----------------------------------------------------------------------------------------
# the paramtable template
# ----------------------------------------------------------------------------------------


def _process_stub() -> ModuleType:
    """Stand-in for s2sframe.process: re-exports SkipSegment and yaml_load."""
    from s2sframe.compat.config import yaml_load

    stub = types.ModuleType("s2sframe.process")
    stub.SkipSegment = SkipSegment  # type: ignore[attr-defined]
    stub.yaml_load = yaml_load  # type: ignore[attr-defined]
    return stub


@pytest.fixture
def template(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """paramtable.py imported from its file (with a stub s2sframe.process if missing)."""
    try:
        import s2sframe.process  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "s2sframe.process":
            raise
        monkeypatch.setitem(sys.modules, "s2sframe.process", _process_stub())
    spec = importlib.util.spec_from_file_location("s2s_paramtable_template", TEMPLATE_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def config() -> dict[str, Any]:
    return yaml.safe_load(TEMPLATE_YAML.read_text())


def _fake_segment(
    stream: Stream | Callable[[], Stream],
    inventory: obspy.Inventory,
    arrival_time: datetime,
    magnitude: float,
    distance_km: float,
) -> SimpleNamespace:
    """A stand-in of the Segment object, with the attributes the template uses."""
    trace = stream[0] if isinstance(stream, Stream) else stream()[0]
    return SimpleNamespace(
        id=1,
        stream=(lambda: stream.copy()) if isinstance(stream, Stream) else stream,
        inventory=lambda: inventory,
        arrival_time=arrival_time,
        sample_rate=trace.stats.sampling_rate,
        maxgap_numsamples=0.0,
        event_distance_km=distance_km,
        event=SimpleNamespace(magnitude=magnitude),
        station=SimpleNamespace(network=trace.stats.network, station=trace.stats.station),
        channel=SimpleNamespace(channel=trace.stats.channel),
    )


@pytest.fixture
def rjob_segment(example: tuple[Trace, obspy.Inventory]) -> SimpleNamespace:
    trace, inv = example
    # the P wave of the example event arrives about 4 s after the trace start
    arrival = (trace.stats.starttime + 4).datetime
    return _fake_segment(Stream([trace]), inv, arrival, magnitude=4.0, distance_km=50.0)


def _check_row(row: dict[str, Any], config: dict[str, Any]) -> None:
    assert all(isinstance(key, str) for key in row)
    for key in ("snr", "pga", "pgv", "duration_5_95"):
        assert math.isfinite(row[key]) and row[key] > 0, key
    assert row["snr"] >= config["snr_threshold"]
    for freq in config["freqs_interp"]:
        assert isinstance(row[f"amp@{freq:g}Hz"], float)
    for period in config["psa_periods"]:
        assert math.isfinite(row[f"psa@{period:g}s"])
    assert isinstance(row["t_pga"], datetime)


def test_template_main_on_obspy_example(
    template: ModuleType, config: dict[str, Any], rjob_segment: SimpleNamespace
) -> None:
    row = template.main(rjob_segment, config)
    _check_row(row, config)
    assert row["magnitude"] == 4.0 and row["distance_km"] == 50.0
    assert row["freq_min"] == 0.4  # magnitude 4 -> 0.4 Hz in the YAML table
    assert row["freq_max"] == 30  # below 0.9 * 50 Hz
    assert "amp@0.5Hz" in row and "psa@0.3s" in row
    # the PGA is that of the processed trace after the arrival time
    trace, inv = rjob_segment.stream()[0], rjob_segment.inventory()
    acc = bandpass_remresp(trace, inv, freq_min=0.4, freq_max=30)
    arrival = UTCDateTime(rjob_segment.arrival_time) + config["sn_windows"]["arrival_time_shift"]
    assert row["pga"] == pytest.approx(maxabs(acc, starttime=arrival)[1])
    assert row["pga"] < 1e-2  # m/s**2, a small local event
    # amplitudes outside the spectrum frequency range are NaN (0.1 Hz < df here)
    assert math.isnan(row["amp@0.1Hz"]) and math.isfinite(row["amp@1Hz"])


def test_template_skips_gaps(
    template: ModuleType, config: dict[str, Any], rjob_segment: SimpleNamespace
) -> None:
    trace = rjob_segment.stream()[0]
    start = trace.stats.starttime
    gappy = Stream([trace.slice(start, start + 10), trace.slice(start + 12, None)])
    rjob_segment.stream = lambda: gappy
    with pytest.raises(SkipSegment, match="2 traces"):
        template.main(rjob_segment, config)


def test_template_skips_saturated_low_snr_and_missing_response(
    template: ModuleType, config: dict[str, Any], rjob_segment: SimpleNamespace
) -> None:
    stream = rjob_segment.stream()
    saturated = stream.copy()
    saturated[0].data = saturated[0].data / np.abs(saturated[0].data).max() * 2**23
    segment = SimpleNamespace(**{**vars(rjob_segment), "stream": lambda: saturated.copy()})
    with pytest.raises(SkipSegment, match="saturated"):
        template.main(segment, config)

    with pytest.raises(SkipSegment, match="low SNR"):
        template.main(rjob_segment, {**config, "snr_threshold": 1e6})

    other_station = rjob_segment.inventory().select(station="FUR")
    segment = SimpleNamespace(**{**vars(rjob_segment), "inventory": lambda: other_station})
    with pytest.raises(SkipSegment, match="no response"):
        template.main(segment, config)

    segment = SimpleNamespace(**{**vars(rjob_segment), "arrival_time": datetime(2000, 1, 1)})
    with pytest.raises(SkipSegment, match="outside"):
        template.main(segment, config)

    bad_config = {**config, "sn_spectra": {**config["sn_spectra"], "type": "wrong"}}
    with pytest.raises(ValueError, match="sn_spectra"):  # config errors are not skips
        template.main(rjob_segment, bad_config)


class _Recorder(dict):
    """A dict recording the keys read."""

    def __init__(self, data: dict[str, Any], read: set[str]) -> None:
        super().__init__(data)
        self.read = read

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def test_template_yaml(
    template: ModuleType, config: dict[str, Any], rjob_segment: SimpleNamespace
) -> None:
    assert config["dburl"] == "sqlite:///example.db.sqlite"
    selection = config["segments_selection"]
    assert selection == {"has_valid_data": "true", "maxgap_numsamples": "[-0.5, 0.5]"}
    # every parameter of the YAML is used by main (and only those: no KeyError)
    read: set[str] = set()
    template.main(rjob_segment, _Recorder(config, read))
    assert read == set(config) - {"dburl", "segments_selection"}
    result = doctest.testmod(template)
    assert result.failed == 0 and result.attempted > 0  # mag2freq's example
    table = config["bandpass"]["freq_min_by_magnitude"]
    assert table[-1][0] == math.inf
    assert [template.mag2freq(m, table) for m in (3, 4.5, 5, 6, 9)] == [0.4, 0.4, 0.2, 0.1, 0.05]


def test_template_on_example_database(
    template: ModuleType, config: dict[str, Any], example_db: Path
) -> None:
    """main on segment 2 of the real stream2segment database (GE.MTE..BHZ, M 8.1)."""
    with sqlite3.connect(f"file:{example_db}?mode=ro", uri=True) as conn:
        data, inv_xml, arrival, distance_deg, magnitude = conn.execute(
            "select s.data, st.inventory_xml, s.arrival_time, s.event_distance_deg, "
            "e.magnitude from segments s join events e on e.id = s.event_id "
            "join channels c on c.id = s.channel_id join stations st on st.id = c.station_id "
            "where s.id = 2"
        ).fetchone()
    stream = obspy.read(io.BytesIO(data))
    inventory = obspy.read_inventory(io.BytesIO(gzip.decompress(inv_xml)))
    distance_km = distance_deg * 2 * 6371 * math.pi / 360
    segment = _fake_segment(
        stream, inventory, datetime.fromisoformat(arrival), magnitude, distance_km
    )
    row = template.main(segment, config)
    _check_row(row, config)
    assert row["magnitude"] == 8.1 and row["distance_km"] == pytest.approx(8621.3470)
    assert row["freq_min"] == 0.05 and row["freq_max"] == pytest.approx(9.0)  # 20 Hz data
    assert math.isnan(row["amp@10Hz"])  # above Nyquist


@pytest.fixture
def recorded_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, tuple, dict]]]:
    """Replace s2sframe.process with a stub recording process() and imap() calls."""
    calls: list[tuple[str, tuple, dict]] = []
    stub = _process_stub()

    def process(*args: Any, **kwargs: Any) -> None:
        calls.append(("process", args, kwargs))

    def imap(*args: Any, **kwargs: Any) -> Iterator[dict]:
        calls.append(("imap", args, kwargs))
        yield {"snr": 1.0}

    stub.process, stub.imap = process, imap  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "s2sframe.process", stub)
    yield calls


def test_template_as_script(
    recorded_calls: list[tuple[str, tuple, dict]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    yaml_file = tmp_path / "conf.yaml"
    yaml_file.write_text(TEMPLATE_YAML.read_text())
    out = str(tmp_path / "out.parquet")
    monkeypatch.setattr(sys, "argv", ["paramtable.py", "-c", str(yaml_file), "-o", out])
    runpy.run_path(str(TEMPLATE_PY), run_name="__main__")
    ((name, args, kwargs),) = recorded_calls
    assert name == "process"
    func, dburl, selection, config = args
    assert func.__name__ == "main" and callable(func)
    assert dburl == f"sqlite:///{tmp_path}/example.db.sqlite"  # relative to the YAML
    assert selection == config["segments_selection"] and config["snr_threshold"] == 3
    assert kwargs == {"outfile": out, "append": False, "multi_process": True, "verbose": True}

    recorded_calls.clear()
    monkeypatch.setattr(sys, "argv", ["paramtable.py", "-d", "sqlite:///x.sqlite"])
    runpy.run_path(str(TEMPLATE_PY), run_name="__main__")
    ((name, args, kwargs),) = recorded_calls
    assert name == "imap" and args[1] == "sqlite:///x.sqlite"  # command line: as given
    assert "{'snr': 1.0}" in capsys.readouterr().out
