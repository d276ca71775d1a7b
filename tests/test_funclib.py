"""stream2segment's funclib under s2sframe.process.funclib: names, signatures, results.

Reference values are computed here from the definitions (formulas written out,
hand-computed numbers, ObsPy/SciPy primitives), not by the code under test.
"""

from __future__ import annotations

import inspect

import numpy as np
import obspy
import pytest
from obspy import Trace, UTCDateTime
from scipy.integrate import solve_ivp
from scipy.signal import butter, sosfilt

from s2sframe.process.funclib import ndarrays as nd
from s2sframe.process.funclib import traces as tr_

T0 = UTCDateTime(2020, 1, 1)

#: stream2segment's signatures (its funclib modules), parameter names and defaults
SIGNATURES = {
    tr_.bandpass: "(trace, freq_min, freq_max, max_nyquist_ratio=0.9, corners=2, copy=True)",
    tr_.sn_split: "(trace, arrival_time, win_length, return_windows=False)",
    tr_.cumsumsq: "(trace, normalize=True, copy=True)",
    tr_.fft: "(trace, starttime=None, endtime=None, taper_max_percentage=0.05, "
             "taper_type='hann', return_freqs=False)",
    tr_.ampspec: "(trace, starttime=None, endtime=None, taper_max_percentage=0.05, "
                 "taper_type='hann', return_freqs=False)",
    tr_.powspec: "(trace, starttime=None, endtime=None, taper_max_percentage=0.05, "
                 "taper_type='hann', return_freqs=False)",
    tr_.timeof: "(trace, index)",
    tr_.respspec: "(method, acc_trace, periods, damping=0.05)",
    tr_.ResponseSpectrum: "(acc_trace, periods, damping=0.05, units='cm/s/s')",
    nd.powspec: "(signal, signal_is_fft=False)",
    nd.ampspec: "(signal, signal_is_fft=False)",
    nd.fft: "(signal)",
    nd.dfreq: "(time_signal, delta_t)",
    nd.freqs: "(time_signal, delta_t)",
    nd.snr: "(signal, noise, signals_form='', fmin=None, fmax=None, delta_signal=1.0, "
            "delta_noise=1.0, nearest_sample=False, in_db=False)",
    nd.trim: "(signal, deltax, minx=None, maxx=None, nearest_sample=False)",
    nd.argtrim: "(signal, deltax, minx=None, maxx=None, nearest_sample=False)",
    nd.cumsumsq: "(signal, normalize=True)",
    nd.triangsmooth: "(array, winlen_ratio)",
    nd.respspec: "(method, acceleration, time_step, periods, damping=0.05)",
    nd.ResponseSpectrum: "(acceleration, time_step, periods, damping=0.05, units='cm/s/s')",
}


def _plain(sig: inspect.Signature) -> str:
    """The signature without annotations."""
    params = [p.replace(annotation=inspect.Parameter.empty) for p in sig.parameters.values()]
    return str(sig.replace(parameters=params, return_annotation=inspect.Signature.empty))


@pytest.mark.parametrize("func", list(SIGNATURES), ids=lambda f: f"{f.__module__}.{f.__name__}")
def test_signatures_are_stream2segments(func):
    assert _plain(inspect.signature(func)) == SIGNATURES[func]


def test_module_paths_and_names():
    import s2sframe.process.funclib.ndarrays
    import s2sframe.process.funclib.traces
    import s2sframe.process.gui as gui_module
    from s2sframe.process import gui
    from s2sframe.show import gui as show_gui

    assert gui is gui_module
    for name in show_gui.__all__:
        assert getattr(gui, name) is getattr(show_gui, name), name
    # every public name of stream2segment's modules
    assert {"bandpass", "cumsumsq", "fft", "ampspec", "powspec", "timeof", "sn_split", "dfreq",
            "freqs", "ResponseSpectrum", "NigamJennings", "NewmarkBeta", "respspec"} \
        <= set(vars(s2sframe.process.funclib.traces))
    assert {"powspec", "ampspec", "fft", "dfreq", "freqs", "snr", "trim", "argtrim", "cumsumsq",
            "triangsmooth", "ResponseSpectrum", "NewmarkBeta", "NigamJennings", "respspec"} \
        <= set(vars(s2sframe.process.funclib.ndarrays))


# ------------------------------------------------------------------------ traces
def _sine(freq: float, npts: int = 6000, rate: float = 100.0, amp: float = 1.0) -> Trace:
    t = np.arange(npts) / rate
    return Trace(amp * np.sin(2 * np.pi * freq * t), header={"sampling_rate": rate,
                                                              "starttime": T0})


def _reference_bandpass(trace: Trace, fmin: float, fmax: float, ratio: float = 0.9,
                        corners: int = 2) -> np.ndarray:
    """The steps of the definition: cap, demean, 5% cosine taper, pad, Butterworth there
    and back (SciPy's sos), cut."""
    fmax = min(fmax, ratio * trace.stats.sampling_rate / 2)
    work = trace.copy()
    work.data = work.data.astype(float) - work.data.mean()
    work.taper(type="cosine", max_percentage=0.05)
    pad = int(round(1.5 * corners / fmin * trace.stats.sampling_rate))
    data = np.concatenate([work.data, np.zeros(pad)])
    nyq = trace.stats.sampling_rate / 2
    sos = butter(corners, [fmin / nyq, fmax / nyq], btype="band", output="sos")
    data = sosfilt(sos, sosfilt(sos, data)[::-1])[::-1]
    return data[: trace.stats.npts]


@pytest.mark.parametrize("copy", [True, False])
def test_bandpass_copy_and_result(copy):
    rng = np.random.default_rng(1)
    raw = Trace(rng.integers(-1000, 1000, 3000).astype(np.int32),
                header={"sampling_rate": 50.0, "starttime": T0})
    before = raw.data.copy()
    out = tr_.bandpass(raw, 0.5, 30.0, copy=copy)  # 30 Hz capped at 0.9 * 25 Hz
    np.testing.assert_allclose(out.data, _reference_bandpass(raw if copy else Trace(
        before, header={"sampling_rate": 50.0}), 0.5, 30.0), rtol=0, atol=1e-6 * np.abs(
        out.data).max())
    assert out.stats.npts == 3000 and out.stats.starttime == T0
    if copy:
        assert out is not raw and np.array_equal(raw.data, before)
    else:
        assert out is raw and raw.data.dtype == np.float64 and not np.array_equal(raw.data, before)
    # gains: in band ~1, far out of band ~0
    assert np.abs(tr_.bandpass(_sine(3.0), 1, 10).data[1000:5000]).max() == pytest.approx(1, abs=2e-3)
    assert np.abs(tr_.bandpass(_sine(40.0), 1, 10).data[1000:5000]).max() < 1e-3


def test_cumsumsq_copy_and_processing():
    trace = Trace(np.array([0.0, 1.0, 2.0, 1.0, 0.0]), header={"starttime": T0})
    out = tr_.cumsumsq(trace)  # (c - c[0]) / (c[-1] - c[0]), c = [0, 1, 5, 6, 6]
    np.testing.assert_allclose(out.data, [0, 1 / 6, 5 / 6, 1, 1])
    assert trace.data.tolist() == [0, 1, 2, 1, 0] and out.stats.starttime == T0
    assert out.stats.processing == [
        "s2sframe.process.funclib.traces.cumsumsq(normalize=True::copy=True)"]
    raw = tr_.cumsumsq(trace, normalize=False, copy=False)
    assert raw is trace and trace.data.tolist() == [0, 1, 5, 6, 6]
    assert trace.stats.processing[-1].endswith("cumsumsq(normalize=False::copy=False)")


def test_sn_split_windows_and_padding():
    data = np.zeros(100)
    data[60:70] = 1.0  # all the energy after the arrival in [60, 70)
    trace = Trace(data, header={"delta": 1.0, "starttime": T0})
    # fractions of the cumulative after the arrival (t=50): 10% reached at sample 60,
    # 90% at sample 68 -> signal [60, 68], noise of the same length ending at 50
    sig_w, noise_w = tr_.sn_split(trace, T0 + 50, [0.1, 0.9], return_windows=True)
    assert (sig_w[0] - T0, sig_w[1] - T0) == (60, 68)
    assert (noise_w[0] - T0, noise_w[1] - T0) == (42, 50)
    # a length: noise [5 - 10, 5] is padded with zeros before the start
    sig, noise = tr_.sn_split(Trace(np.arange(100.0), header={"delta": 1.0, "starttime": T0}),
                              T0 + 5, 10)
    assert sig.data.tolist() == list(range(5, 16))
    assert noise.data.tolist() == [0] * 5 + list(range(0, 6)) and noise.stats.starttime == T0 - 5
    assert tr_.sn_split(trace, T0 + 5, "10", return_windows=True)[1] == (T0 - 5, T0 + 5)
    for bad in ([0.9, 0.1], [0.1, 0.5, 0.9], "x"):
        with pytest.raises(ValueError, match="Invalid sn window length"):
            tr_.sn_split(trace, T0 + 5, bad)


def test_spectra_of_traces():
    npts, delta = 1000, 0.01
    sine = Trace(3 * np.sin(2 * np.pi * 5 * np.arange(npts) * delta), header={"delta": delta})
    df, amp = tr_.ampspec(sine, taper_max_percentage=0)
    assert df == pytest.approx(1 / (npts * delta))
    assert np.argmax(amp) == 50 and amp.max() == pytest.approx(3 * npts / 2)  # A * N / 2
    f, pw = tr_.powspec(sine, taper_max_percentage=0, return_freqs=True)
    np.testing.assert_allclose(f, np.arange(npts // 2 + 1) / (npts * delta))
    np.testing.assert_allclose(pw, amp**2)
    # taper: ObsPy's hann taper of 5% of each end, whatever positive percentage is given
    tapered = sine.copy().taper(max_percentage=0.05, type="hann")
    for pct in (0.05, 0.3):
        _df, values = tr_.fft(sine, taper_max_percentage=pct)
        np.testing.assert_allclose(values, np.fft.rfft(tapered.data), atol=1e-9)
    # trim (zero padded) before the transform
    window = tr_.ampspec(sine, starttime=sine.stats.starttime - 1, endtime=sine.stats.endtime,
                         taper_max_percentage=0)
    assert window[0] == pytest.approx(1 / ((npts + 100) * delta))
    np.testing.assert_allclose(window[1], np.abs(np.fft.rfft(np.r_[np.zeros(100), sine.data])),
                               atol=1e-9)
    assert tr_.timeof(sine, 250) == sine.stats.starttime + 2.5
    assert tr_.dfreq is nd.dfreq and tr_.freqs is nd.freqs


# ---------------------------------------------------------------------- ndarrays
def test_ndarray_spectra_and_axes():
    x = np.array([1.0, 2.0, 0.0, -1.0, 3.0])
    k = np.arange(3)
    dft = np.array([np.sum(x * np.exp(-2j * np.pi * kk * np.arange(5) / 5)) for kk in k])
    np.testing.assert_allclose(nd.fft(x), dft, atol=1e-12)
    np.testing.assert_allclose(nd.ampspec(x), np.abs(dft), atol=1e-12)
    np.testing.assert_allclose(nd.powspec(x), np.abs(dft) ** 2, atol=1e-12)
    np.testing.assert_allclose(nd.ampspec(dft, signal_is_fft=True), np.abs(dft))
    np.testing.assert_allclose(nd.powspec(dft, True), np.abs(dft) ** 2)
    assert nd.dfreq(x, 0.5) == pytest.approx(0.4)
    np.testing.assert_allclose(nd.freqs(x, 0.5), [0, 0.4, 0.8])
    np.testing.assert_allclose(nd.freqs(np.zeros(4), 0.5), [0, 0.5, 1.0])


def test_snr_forms_bands_and_db():
    sig, noi = np.array([3.0, 1.0, 2.0, 4.0]), np.array([1.0, 1.0, 2.0, 2.0])
    # 'amp': mean of squares; sqrt of their ratio
    assert nd.snr(sig, noi, "amp") == pytest.approx(np.sqrt((9 + 1 + 4 + 16) / (1 + 1 + 4 + 4)))
    assert nd.snr(sig, noi, "AMP", in_db=True) == pytest.approx(10 * np.log10(30 / 10))
    assert nd.snr(sig**2, noi**2, "pow") == pytest.approx(np.sqrt(3))
    # band [0.5, 1.0] Hz with df 0.5: indices 1, 2 (ceil(0.5/0.5)=1 .. floor(1/0.5)=2)
    assert nd.snr(sig, noi, "pow", fmin=0.5, fmax=1.0, delta_signal=0.5, delta_noise=0.5) \
        == pytest.approx(np.sqrt(((1 + 2) / 2) / ((1 + 2) / 2)))
    # nearest sample: fmin 0.7 / 0.5 rounds to 1, strictly inside ceil -> 2
    assert nd.snr(sig, noi, "pow", fmin=0.7, delta_signal=0.5, delta_noise=0.5) \
        == pytest.approx(np.sqrt((2 + 4) / (2 + 2)))
    assert nd.snr(sig, noi, "pow", fmin=0.7, delta_signal=0.5, delta_noise=0.5,
                  nearest_sample=True) == pytest.approx(np.sqrt((1 + 2 + 4) / (1 + 2 + 2)))
    dft_s, dft_n = np.fft.rfft([1.0, 0, 0, 0]), np.fft.rfft([2.0, 0, 0, 0])
    assert nd.snr(dft_s, dft_n, "dft") == pytest.approx(0.5) == nd.snr(dft_s, dft_n, "fft")
    # any other form (also 'amplitude'): time series, their power spectra first
    t_sig, t_noise = np.array([1.0, -1.0, 1.0, -1.0]), np.array([1.0, 1.0, 1.0, 1.0])
    expected = np.sqrt(np.mean(np.abs(np.fft.rfft(t_sig)) ** 2)
                       / np.mean(np.abs(np.fft.rfft(t_noise)) ** 2))
    for form in ("", "amplitude", "whatever"):
        assert nd.snr(t_sig, t_noise, form) == pytest.approx(expected)
    assert np.isnan(nd.snr(sig, np.zeros(4), "amp"))
    assert np.isnan(nd.snr(sig, noi, "amp", fmin=10, delta_signal=1, delta_noise=1))
    assert nd.snr(np.zeros(4), noi, "amp", in_db=True) == -np.inf


def test_trim_and_argtrim():
    x = np.arange(10)
    assert nd.argtrim(x, 0.5, 1.2, 3.0) == (3, 7)  # ceil(2.4), floor(6) + 1
    assert nd.argtrim(x, 0.5, 1.2, 3.0, nearest_sample=True) == (2, 7)
    assert nd.argtrim(x, 0.5, None, 1.0) == (None, 3)
    assert nd.argtrim(x, 0.5, -3, 99) == (0, 10)
    assert nd.trim(x, 0.5, 1.2, 3.0).tolist() == [3, 4, 5, 6]
    assert nd.trim(x, 0.5) is x


def test_cumsumsq_arrays():
    np.testing.assert_allclose(nd.cumsumsq([1, 2, 3], normalize=False), [1, 5, 14])
    np.testing.assert_allclose(nd.cumsumsq([1, 2, 3]), [0, 4 / 13, 1])
    assert nd.cumsumsq(np.zeros(3)).tolist() == [0, 0, 0]  # constant: not normalized


def _triangsmooth_reference(values: np.ndarray, ratio: float) -> np.ndarray:
    """The definition: point i averaged with weights n - |j| (|j| < n), divided by n**2,
    n = round(i * ratio) shrunk to fit the array; n < 2: unchanged."""
    out = values.astype(float).copy()
    size = len(values)
    for i in range(size):
        n = min(int(np.round(i * ratio)), size - 1 - i)
        if n < 2:
            continue
        j = np.arange(-n + 1, n)
        out[i] = np.sum((n - np.abs(j)) * values[i + j]) / n**2
    return out


@pytest.mark.parametrize("ratio", [0.02, 0.1, 0.5, 1.0])
def test_triangsmooth(ratio):
    values = np.abs(np.random.default_rng(2).normal(size=400)) + 1
    np.testing.assert_allclose(nd.triangsmooth(values, ratio),
                               _triangsmooth_reference(values, ratio), rtol=1e-10)
    assert nd.triangsmooth(values, 0.0).tolist() == values.tolist()


# -------------------------------------------------------------------- response spectra
def _ode_response(acc: np.ndarray, dt: float, period: float, zeta: float) -> np.ndarray:
    """Displacement of the damped oscillator under acc (linear between samples),
    integrated with a tight-tolerance Runge-Kutta at the sample times."""
    w = 2 * np.pi / period
    t = np.arange(len(acc)) * dt

    def rhs(time, y):
        return [y[1], -np.interp(time, t, acc) - 2 * zeta * w * y[1] - w**2 * y[0]]

    sol = solve_ivp(rhs, (0, t[-1]), [0.0, 0.0], t_eval=t, rtol=1e-10, atol=1e-12,
                    max_step=dt / 4)
    return sol.y[0]


def _record(npts: int = 800, dt: float = 0.01) -> np.ndarray:
    t = np.arange(npts) * dt
    return 50 * np.exp(-((t - 3) ** 2)) * np.sin(2 * np.pi * 2.0 * t)  # cm/s**2


def test_nigam_jennings_equals_the_ode_solution():
    acc, dt, periods, zeta = _record(), 0.01, np.array([0.2, 0.5, 1.0]), 0.05
    spec, series, x_a, x_v, x_d = nd.NigamJennings(acc, dt, periods, zeta).evaluate()
    assert x_d.shape == (len(acc) - 1, 3)
    for k, period in enumerate(periods):
        ref = _ode_response(acc, dt, period, zeta)
        np.testing.assert_allclose(x_d[:, k], ref[1:], atol=1e-6 * np.abs(ref).max())
        assert spec["Displacement"][k] == pytest.approx(np.abs(ref).max(), rel=1e-5)
    w = 2 * np.pi / periods
    np.testing.assert_allclose(x_a, -(w**2) * x_d - 2 * zeta * w * x_v)
    np.testing.assert_allclose(spec["Pseudo-Acceleration"], w**2 * spec["Displacement"])
    np.testing.assert_allclose(spec["Pseudo-Velocity"], w * spec["Displacement"])
    assert spec["Period"].tolist() == periods.tolist()
    # ground motion by the trapezoidal rule
    vel = dt * np.r_[0, np.cumsum((acc[1:] + acc[:-1]) / 2)]
    np.testing.assert_allclose(series["Velocity"], vel)
    assert series["PGA"] == np.abs(acc).max() and series["PGV"] == np.abs(vel).max()
    assert series["Time-Step"] == dt


def test_newmark_beta_steps_and_convergence():
    # by hand: acc = [1, 0, 0], dt = 0.1, T = 1 s (k = (2 pi)**2), no damping
    _spec, _series, accel, vel, disp = nd.NewmarkBeta(np.array([1.0, 0.0, 0.0]), 0.1,
                                                      np.array([1.0]), 0.0).evaluate()
    k = (2 * np.pi) ** 2
    a1 = k * 0.005
    x2 = -0.005 + 0.1 * (0.05 * (-1 + a1)) + 0.005 * a1
    np.testing.assert_allclose(disp[:, 0], [0, -0.005, x2])
    np.testing.assert_allclose(accel[:, 0], [-1, a1, -k * x2])
    np.testing.assert_allclose(vel[:, 0], [0, 0.05 * (-1 + a1), 0.05 * (-1 + a1)
                                           + 0.05 * (a1 - k * x2)])
    # second-order method: close to the exact response at a small step
    acc, dt = _record(4000, 0.002), 0.002
    spec = nd.respspec("newmarkbeta", acc, dt, [0.5, 1.0])[0]
    for k_, period in enumerate([0.5, 1.0]):
        ref = np.abs(_ode_response(acc, dt, period, 0.05)).max()
        assert spec["Displacement"][k_] == pytest.approx(ref, rel=1e-3)


def test_response_spectrum_units_and_methods():
    acc = _record()
    base = nd.NigamJennings(acc, 0.01, [1.0]).evaluate()[0]["Displacement"]
    in_g = nd.NigamJennings(acc / 981, 0.01, [1.0], units="g").evaluate()[0]["Displacement"]
    in_m = nd.NigamJennings(acc / 100, 0.01, [1.0], units="m/s**2").evaluate()[0]["Displacement"]
    np.testing.assert_allclose([in_g, in_m], [base, base])
    with pytest.raises(ValueError, match="Unrecognised time history units"):
        nd.ResponseSpectrum(acc, 0.01, [1.0], units="ft/s/s")
    with pytest.raises(NotImplementedError):
        nd.ResponseSpectrum(acc, 0.01, [1.0]).evaluate()
    with pytest.raises(TypeError, match="response spectrum method"):
        nd.respspec("duhamel", acc, 0.01, [1.0])
    trace = Trace(acc, header={"delta": 0.01})
    from_trace = tr_.respspec("NigamJennings", trace, np.array([1.0]))[0]["Displacement"]
    np.testing.assert_allclose(from_trace, base)
    assert isinstance(tr_.NewmarkBeta(trace, [1.0]), nd.NewmarkBeta)
    # resonance: a long sine at the oscillator's frequency, psa -> 1 / (2 damping)
    t = np.arange(0, 60, 0.01)
    psa = tr_.respspec("NigamJennings", Trace(np.sin(2 * np.pi * t), header={"delta": 0.01}),
                       [1.0])[0]["Pseudo-Acceleration"]
    assert psa[0] == pytest.approx(10.0, rel=1e-2)


def test_example_trace_pipeline_runs_on_real_data():
    """The template's chain on ObsPy's example trace: band-pass in place, windows,
    spectra, smoothing, SNR."""
    trace = obspy.read()[0]
    acc = tr_.bandpass(trace, 0.5, 40, copy=False)
    sig, noise = tr_.sn_split(acc, acc.stats.starttime + 10, [0.1, 0.9])
    assert sig.stats.npts == noise.stats.npts
    df_s, spec_s = tr_.ampspec(sig)
    df_n, spec_n = tr_.ampspec(noise)
    value = nd.snr(nd.triangsmooth(spec_s, 0.05), nd.triangsmooth(spec_n, 0.05),
                   signals_form="amp", fmin=0.5, fmax=20, delta_signal=df_s, delta_noise=df_n)
    assert np.isfinite(value) and value > 0
