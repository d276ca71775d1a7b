"""Signal-processing helpers for segment processing functions.

These are the building blocks of a processing module such as the ``paramtable.py``
template written by ``s2s init``. Names and meanings follow stream2segment's
``stream2segment.process.funclib`` (``bandpass_remresp``, ``snr``, ``cumsumsq``,
``timeswhere``, ``fft``, ``ampspec``, ``powspec``, ``triangsmooth``, ``sn_split``,
``maxabs``, ``respspec``, ...), so code written for stream2segment ports with few
changes. Differences from stream2segment are noted in each docstring.

Functions taking a :class:`obspy.Trace` never modify it: they work on a copy or return
new arrays. Functions taking plain arrays need the sampling period ``delta`` (seconds)
where a time or frequency axis is involved.

Overview
--------
============================  ========================================================
pre-processing                :func:`bandpass`, :func:`bandpass_remresp`,
                              :func:`ampratio` (saturation check)
windows                       :func:`sn_windows`, :func:`sn_split`, :func:`timeof`
cumulative                    :func:`cumsumsq`, :func:`timeswhere`
spectra                       :func:`fft`, :func:`ampspec`, :func:`powspec`,
                              :func:`dfreq`, :func:`freqs`, :func:`triangsmooth`,
                              :func:`snr`
peaks and response spectra    :func:`maxabs`, :func:`pga`, :func:`pgv`,
                              :func:`respspec`
============================  ========================================================

Spectra are *not* normalized (as in stream2segment): for ``N`` samples with sampling
period ``delta``, ``ampspec`` returns ``|rfft(x)|``. Multiply by ``delta`` to get the
Fourier amplitude spectrum (an approximation of the continuous Fourier transform,
e.g. in m/s for an acceleration in m/s**2); a sine of amplitude ``A`` at a frequency of
the grid peaks at ``A * N / 2``.

Examples
--------
>>> import numpy as np
>>> from s2sframe.signal import ampspec, freqs
>>> delta, npts = 0.01, 1000                        # 100 Hz, 10 s
>>> t = np.arange(npts) * delta
>>> x = 3.0 * np.sin(2 * np.pi * 5.0 * t)           # 5 Hz sine of amplitude 3
>>> df, amp = ampspec(x, delta=delta, taper_max_percentage=0)
>>> f = freqs(npts, delta)
>>> print(f"df={df} Hz, peak at {f[amp.argmax()]} Hz, amplitude {2 * amp.max() / npts:.3f}")
df=0.1 Hz, peak at 5.0 Hz, amplitude 3.000
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from obspy import Trace, UTCDateTime
from obspy.core.inventory import Inventory

__all__ = [
    "ResponseSpectrum",
    "ampratio",
    "ampspec",
    "bandpass",
    "bandpass_remresp",
    "cumsumsq",
    "dfreq",
    "fft",
    "freqs",
    "maxabs",
    "pga",
    "pgv",
    "powspec",
    "respspec",
    "sn_split",
    "sn_windows",
    "snr",
    "timeof",
    "timeswhere",
    "triangsmooth",
]

#: Anything :class:`obspy.UTCDateTime` accepts: UTCDateTime, (naive UTC) datetime, ISO
#: string or POSIX timestamp.
TimeLike = UTCDateTime | datetime | str | float

_OUTPUTS = ("DISP", "VEL", "ACC", "DEF")


def _as_float_trace(data: Trace | npt.ArrayLike, delta: float | None, copy: bool) -> Trace:
    """Return a Trace of float64 data from a Trace or from an array with period ``delta``."""
    if isinstance(data, Trace):
        if delta is not None and not math.isclose(delta, data.stats.delta):
            raise ValueError(f"delta={delta} differs from the trace's ({data.stats.delta})")
        trace = data.copy() if copy else data
        if trace.data.dtype != np.float64:
            trace.data = trace.data.astype(np.float64)
        return trace
    if delta is None or not delta > 0:
        raise ValueError("a positive 'delta' (sampling period, s) is needed with array input")
    return Trace(np.array(data, dtype=np.float64, ndmin=1), header={"delta": float(delta)})


# ---------------------------------------------------------------------------------------
# pre-processing
# ---------------------------------------------------------------------------------------


def bandpass(
    trace: Trace,
    freq_min: float,
    freq_max: float,
    *,
    max_nyquist_ratio: float = 0.9,
    corners: int = 2,
    taper_max_percentage: float = 0.05,
) -> Trace:
    """Return a band-passed copy of ``trace``, with stream2segment's pre-processing.

    Steps: (1) cap ``freq_max`` at ``max_nyquist_ratio`` times the Nyquist frequency
    (slightly below Nyquist avoids artifacts); (2) remove the mean; (3) cosine taper;
    (4) pad zeros at the end to accommodate the filter transient (``1.5 * corners /
    freq_min`` seconds, Converse and Brady, 1992); (5) zero-phase Butterworth band-pass;
    (6) remove the padding.

    Parameters
    ----------
    trace
        The input trace (not modified; integer data are converted to float64).
    freq_min, freq_max
        High-pass and low-pass corner frequencies, in Hz.
    max_nyquist_ratio
        Upper bound of ``freq_max`` as a fraction of the Nyquist frequency.
    corners
        Filter order (applied twice: zero-phase).
    taper_max_percentage
        Fraction of the trace tapered at each end (0 for no taper).

    Returns
    -------
    Trace
        A new trace with the same start time and number of samples.

    Raises
    ------
    ValueError
        If ``freq_min`` is not positive or not below the (capped) ``freq_max``.

    Examples
    --------
    >>> import numpy as np
    >>> from obspy import Trace
    >>> t = np.arange(6000) / 100.0                     # 60 s at 100 Hz
    >>> def gain(freq):  # output / input amplitude, away from the tapered ends
    ...     tr = Trace(np.sin(2 * np.pi * freq * t), header={"sampling_rate": 100.0})
    ...     return round(float(np.abs(bandpass(tr, 1.0, 10.0).data[1000:5000]).max()), 3)
    >>> gain(3.0), gain(0.2), gain(40.0)                 # in band, below, above
    (1.0, 0.001, 0.0)
    """
    if not freq_min > 0:
        raise ValueError(f"freq_min must be positive, got {freq_min}")
    tra = _as_float_trace(trace, None, copy=True)
    nyquist = tra.stats.sampling_rate / 2.0
    freq_max = min(freq_max, max_nyquist_ratio * nyquist)
    if not freq_min < freq_max:
        raise ValueError(
            f"freq_min ({freq_min} Hz) must be lower than freq_max ({freq_max} Hz, capped at "
            f"{max_nyquist_ratio} * Nyquist = {max_nyquist_ratio * nyquist} Hz)"
        )
    tra.data = tra.data - np.nanmean(tra.data)
    if taper_max_percentage > 0:
        tra.taper(max_percentage=taper_max_percentage, type="cosine")
    endtime = tra.stats.endtime
    tra.trim(endtime=endtime + 1.5 * corners / freq_min, pad=True, fill_value=0.0)
    tra.filter("bandpass", freqmin=freq_min, freqmax=freq_max, corners=corners, zerophase=True)
    tra.trim(endtime=endtime)
    return tra


def bandpass_remresp(
    trace: Trace,
    inventory: Inventory,
    *,
    freq_min: float,
    freq_max: float,
    max_nyquist_ratio: float = 0.9,
    corners: int = 2,
    output: str = "ACC",
    water_level: float | None = 60,
    taper_max_percentage: float = 0.05,
    pre_filt: Sequence[float] | None = None,
) -> Trace:
    """Return a copy of ``trace`` band-passed and with the instrument response removed.

    First :func:`bandpass` (mean removal, taper, zero-phase band-pass with ``freq_max``
    capped at ``max_nyquist_ratio`` times Nyquist), then
    :meth:`obspy.Trace.remove_response` (which applies its own default taper), as
    stream2segment's ``bandpass_remresp``.

    Parameters
    ----------
    trace
        The input trace in counts (not modified).
    inventory
        Station inventory at response level (e.g. ``segment.inventory()``).
    freq_min, freq_max, max_nyquist_ratio, corners, taper_max_percentage
        See :func:`bandpass`.
    output
        ``"ACC"`` (m/s**2, the default), ``"VEL"`` (m/s), ``"DISP"`` (m) or ``"DEF"``
        (the response's input units).
    water_level, pre_filt
        Passed to :meth:`obspy.Trace.remove_response`.

    Returns
    -------
    Trace
        A new trace in physical units.

    Raises
    ------
    ValueError
        Invalid ``output`` or frequencies (see :func:`bandpass`).
    Exception
        ObsPy raises a plain ``Exception`` when ``inventory`` has no response for the
        trace (check first with ``inventory.get_response(trace.id, trace.stats.starttime)``
        if you want to skip such segments).

    Examples
    --------
    >>> import obspy
    >>> tr = obspy.read()[0]                      # BW.RJOB..EHZ, counts
    >>> inv = obspy.read_inventory()              # includes BW.RJOB responses
    >>> acc = bandpass_remresp(tr, inv, freq_min=0.5, freq_max=40)
    >>> acc.stats.npts == tr.stats.npts and float(abs(acc.data).max()) < 1e-3  # m/s**2
    True
    """
    output = output.upper()
    if output not in _OUTPUTS:
        raise ValueError(f"output must be one of {_OUTPUTS}, got {output!r}")
    tra = bandpass(
        trace,
        freq_min,
        freq_max,
        max_nyquist_ratio=max_nyquist_ratio,
        corners=corners,
        taper_max_percentage=taper_max_percentage,
    )
    tra.remove_response(
        inventory=inventory, output=output, water_level=water_level, pre_filt=pre_filt
    )
    return tra


def ampratio(trace: Trace | npt.ArrayLike, full_scale: float = 2**23) -> float:
    """Return ``max(abs(data)) / full_scale``, a saturation indicator for raw counts.

    With the default ``full_scale=2**23`` (a 24-bit digitizer) values close to 1 suggest
    a clipped (saturated) recording. NaNs are ignored; empty data give NaN.

    Examples
    --------
    >>> ampratio([0, -2**22, 100])
    0.5
    """
    data = np.asarray(trace.data if isinstance(trace, Trace) else trace, dtype=np.float64)
    if data.size == 0 or np.isnan(data).all():
        return math.nan
    return float(np.nanmax(np.abs(data)) / full_scale)


# ---------------------------------------------------------------------------------------
# time windows and cumulative
# ---------------------------------------------------------------------------------------


def timeof(trace: Trace, index: int | float) -> UTCDateTime:
    """Return the time of the ``index``-th sample of ``trace`` (it may be out of bounds).

    Examples
    --------
    >>> from obspy import Trace, UTCDateTime
    >>> tr = Trace(np.zeros(10), header={"delta": 0.5, "starttime": UTCDateTime(0)})
    >>> print(timeof(tr, 3))
    1970-01-01T00:00:01.500000Z
    """
    return trace.stats.starttime + index * trace.stats.delta


def cumsumsq(data: Trace | npt.ArrayLike, normalize: bool = True) -> Trace | np.ndarray:
    """Return the cumulative sum of the squares of ``data``.

    With ``normalize=True`` the result is rescaled to ``[0, 1]`` as
    ``(c - c[0]) / (c[-1] - c[0])`` (stream2segment's normalization: the first value is
    always 0). On an acceleration trace this is the normalized Arias intensity (Husid
    plot). NaNs propagate to all following values (as :func:`numpy.cumsum`).

    Parameters
    ----------
    data
        A Trace (a new Trace with the same stats is returned) or a numeric array.
    normalize
        Rescale to ``[0, 1]`` (skipped when the result is constant or starts with NaN).

    Examples
    --------
    >>> cumsumsq([1, 1, 1, 1, 1])
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    >>> cumsumsq([1, 2, 3], normalize=False)
    array([ 1.,  5., 14.])
    """
    if isinstance(data, Trace):
        ret = cumsumsq(data.data, normalize=normalize)
        return Trace(ret, header=data.stats.copy())
    ret = np.cumsum(np.square(np.asarray(data, dtype=np.float64)))
    if normalize and ret.size and not np.isnan(ret[0]):
        min_ = ret[0]
        max_ = ret[-1] if not np.isnan(ret[-1]) else np.nanmax(ret)
        if max_ != min_:
            ret = (ret - min_) / (max_ - min_)
    return ret


def timeswhere(trace: Trace, *values: float, cumulative: bool = True) -> list[UTCDateTime]:
    """Return the times where a cumulative trace first reaches each of ``values``.

    Parameters
    ----------
    trace
        A non-decreasing cumulative trace, e.g. from :func:`cumsumsq` (the default), or,
        with ``cumulative=False``, any trace, whose normalized :func:`cumsumsq` is
        computed first (``values`` are then fractions in ``[0, 1]``).
    *values
        The values to look for. A value above the maximum maps to the last sample.
    cumulative
        Whether ``trace`` already is a cumulative.

    Returns
    -------
    list of UTCDateTime
        One time per value, in the order given.

    Examples
    --------
    >>> from obspy import Trace, UTCDateTime
    >>> tr = Trace(np.ones(101), header={"delta": 1.0, "starttime": UTCDateTime(0)})
    >>> t5, t95 = timeswhere(tr, 0.05, 0.95, cumulative=False)   # constant energy rate
    >>> print(t95 - t5)                                           # significant duration
    90.0
    """
    cum = trace if cumulative else cumsumsq(trace, normalize=True)
    npts = len(cum.data)
    if npts == 0:
        raise ValueError("empty trace")
    indices = np.searchsorted(cum.data, np.asarray(values, dtype=np.float64), side="left")
    return [timeof(cum, int(min(i, npts - 1))) for i in indices]


def _parse_win_length(win_length: float | Sequence[float]) -> float | tuple[float, float]:
    if isinstance(win_length, str):
        raise TypeError(f"invalid window length: {win_length!r}")
    if isinstance(win_length, Sequence):
        if len(win_length) != 2:
            raise ValueError(f"window as cumulative fractions needs 2 values, got {win_length}")
        cum0, cum1 = float(win_length[0]), float(win_length[1])
        if not 0 <= cum0 < cum1 <= 1:
            raise ValueError(f"window fractions must be increasing in [0, 1], got {win_length}")
        return cum0, cum1
    length = float(win_length)
    if not length > 0:
        raise ValueError(f"window length must be positive, got {win_length}")
    return length


def sn_windows(
    trace: Trace, arrival_time: TimeLike, win_length: float | Sequence[float]
) -> tuple[tuple[UTCDateTime, UTCDateTime], tuple[UTCDateTime, UTCDateTime]]:
    """Return the signal and noise time windows of ``trace`` around ``arrival_time``.

    Parameters
    ----------
    trace
        The trace (usually already band-passed and response-corrected when
        ``win_length`` is given as cumulative fractions).
    arrival_time
        The (P-wave) arrival time: noise ends here, the signal comes after.
    win_length
        Either a length in seconds: signal ``[arrival, arrival + win_length]``, noise
        ``[arrival - win_length, arrival]``. Or two fractions ``[c0, c1]`` of the
        normalized cumulative sum of squares of the trace *after* the arrival: the
        signal window spans the times where it reaches ``c0`` and ``c1``, and the noise
        window has the same length and ends at the arrival time.

    Returns
    -------
    ((signal_start, signal_end), (noise_start, noise_end))
        UTCDateTimes (possibly outside the trace time span).

    Examples
    --------
    >>> from obspy import Trace, UTCDateTime
    >>> tr = Trace(np.zeros(100), header={"delta": 1.0, "starttime": UTCDateTime(0)})
    >>> (s0, s1), (n0, n1) = sn_windows(tr, UTCDateTime(50), 20)
    >>> print(n0.timestamp, n1.timestamp, s0.timestamp, s1.timestamp)
    30.0 50.0 50.0 70.0
    """
    win = _parse_win_length(win_length)
    atime = UTCDateTime(arrival_time)
    if isinstance(win, tuple):
        after = trace.slice(starttime=atime)
        if after.stats.npts == 0:
            raise ValueError(f"arrival time {atime} is after the trace end {trace.stats.endtime}")
        t0, t1 = timeswhere(after, *win, cumulative=False)
        return (t0, t1), (atime - (t1 - t0), atime)
    return (atime, atime + win), (atime - win, atime)


def sn_split(
    trace: Trace, arrival_time: TimeLike, win_length: float | Sequence[float]
) -> tuple[Trace, Trace]:
    """Return ``(signal_trace, noise_trace)``: copies of ``trace`` cut on :func:`sn_windows`.

    Where a window exceeds the trace, it is padded with zeros (as stream2segment), so the
    two traces have the same number of samples and comparable spectra. Note that zero
    padding lowers the noise power, i.e. raises the SNR: choose segments and windows such
    that the noise window is inside the data.

    Examples
    --------
    >>> from obspy import Trace, UTCDateTime
    >>> tr = Trace(np.arange(100.0), header={"delta": 1.0, "starttime": UTCDateTime(0)})
    >>> sig, noi = sn_split(tr, UTCDateTime(50), 10)
    >>> print(sig.data[0], sig.stats.npts, noi.data[0], noi.stats.npts)
    50.0 11 40.0 11
    """
    (s0, s1), (n0, n1) = sn_windows(trace, arrival_time, win_length)
    signal = trace.copy().trim(s0, s1, pad=True, fill_value=0)
    noise = trace.copy().trim(n0, n1, pad=True, fill_value=0)
    return signal, noise


# ---------------------------------------------------------------------------------------
# spectra
# ---------------------------------------------------------------------------------------


def _npts(data_or_npts: npt.ArrayLike | int) -> int:
    if isinstance(data_or_npts, int | np.integer):
        return int(data_or_npts)
    return len(np.asarray(data_or_npts))


def dfreq(data_or_npts: npt.ArrayLike | int, delta: float) -> float:
    """Return the frequency resolution (Hz) of the real FFT of a time series.

    ``1 / (npts * delta)``, where ``data_or_npts`` is the time series or its length and
    ``delta`` its sampling period (s).

    Examples
    --------
    >>> dfreq(1000, 0.01)
    0.1
    """
    return 1.0 / (_npts(data_or_npts) * delta)


def freqs(data_or_npts: npt.ArrayLike | int, delta: float) -> np.ndarray:
    """Return the frequencies (Hz) of the real FFT of a time series.

    ``[0, df, 2*df, ..., (L-1)*df]`` with ``L = npts // 2 + 1`` (the length of
    :func:`numpy.fft.rfft`'s output) and ``df = dfreq(npts, delta)``.

    Examples
    --------
    >>> freqs(4, 0.5)
    array([0. , 0.5, 1. ])
    """
    return np.fft.rfftfreq(_npts(data_or_npts), d=delta)


def fft(
    data: Trace | npt.ArrayLike,
    *,
    delta: float | None = None,
    starttime: TimeLike | None = None,
    endtime: TimeLike | None = None,
    taper_max_percentage: float = 0.05,
    taper_type: str = "hann",
    return_freqs: bool = False,
) -> tuple[float | np.ndarray, np.ndarray]:
    """Return the real FFT of a trace or array, with its frequency resolution.

    Optionally trims (zero padding outside the data) and tapers a copy of the input
    first. Unlike stream2segment, ``taper_max_percentage`` is honoured (stream2segment
    always used 0.05).

    Parameters
    ----------
    data
        A Trace or a numeric array (then ``delta`` is required).
    delta
        Sampling period in seconds (arrays only; traces use their own).
    starttime, endtime
        Trim window (traces only).
    taper_max_percentage
        Fraction tapered at each end (0 or less: no taper).
    taper_type
        Any :meth:`obspy.Trace.taper` type ("hann", "cosine", ...).
    return_freqs
        Return the frequencies array (:func:`freqs`) instead of the resolution ``df``.

    Returns
    -------
    (df, values) or (frequencies, values)
        ``values`` is the complex :func:`numpy.fft.rfft` of the (trimmed, tapered)
        data, not normalized.

    Examples
    --------
    >>> df, values = fft(np.ones(8), delta=0.25, taper_max_percentage=0)
    >>> print(df, values.real)
    0.5 [8. 0. 0. 0. 0.]
    """
    npts, dt, values = _rfft(data, delta, starttime, endtime, taper_max_percentage, taper_type)
    return (freqs(npts, dt) if return_freqs else dfreq(npts, dt)), values


def _rfft(
    data: Trace | npt.ArrayLike,
    delta: float | None,
    starttime: TimeLike | None,
    endtime: TimeLike | None,
    taper_max_percentage: float,
    taper_type: str,
) -> tuple[int, float, np.ndarray]:
    """Return ``(npts, delta, rfft)`` of a trimmed and tapered copy of ``data``."""
    if isinstance(data, Trace):
        tra = data.copy()
        if starttime is not None or endtime is not None:
            tra.trim(
                starttime=None if starttime is None else UTCDateTime(starttime),
                endtime=None if endtime is None else UTCDateTime(endtime),
                pad=True,
                fill_value=0,
            )
        tra = _as_float_trace(tra, delta, copy=False)
    else:
        if starttime is not None or endtime is not None:
            raise ValueError("starttime and endtime are only supported with Trace input")
        tra = _as_float_trace(data, delta, copy=True)
    if taper_max_percentage > 0 and tra.stats.npts > 1:
        tra.taper(max_percentage=taper_max_percentage, type=taper_type)
    return len(tra.data), tra.stats.delta, np.fft.rfft(tra.data)


def ampspec(
    data: Trace | npt.ArrayLike,
    *,
    delta: float | None = None,
    starttime: TimeLike | None = None,
    endtime: TimeLike | None = None,
    taper_max_percentage: float = 0.05,
    taper_type: str = "hann",
    return_freqs: bool = False,
) -> tuple[float | np.ndarray, np.ndarray]:
    """Return ``(df, |fft|)``: the amplitude spectrum and its frequency resolution.

    Same parameters as :func:`fft`. Multiply by the sampling period to get the Fourier
    amplitude spectrum; for a sine of amplitude ``A`` on the frequency grid (no taper),
    the peak is ``A * npts / 2``.

    Examples
    --------
    >>> t = np.arange(200) * 0.05                       # 20 Hz, 10 s
    >>> f, amp = ampspec(2 * np.cos(2 * np.pi * 1.5 * t), delta=0.05,
    ...                  taper_max_percentage=0, return_freqs=True)
    >>> print(f[amp.argmax()], round(float(amp.max()), 6))
    1.5 200.0
    """
    npts, dt, values = _rfft(data, delta, starttime, endtime, taper_max_percentage, taper_type)
    return (freqs(npts, dt) if return_freqs else dfreq(npts, dt)), np.abs(values)


def powspec(
    data: Trace | npt.ArrayLike,
    *,
    delta: float | None = None,
    starttime: TimeLike | None = None,
    endtime: TimeLike | None = None,
    taper_max_percentage: float = 0.05,
    taper_type: str = "hann",
    return_freqs: bool = False,
) -> tuple[float | np.ndarray, np.ndarray]:
    """Return ``(df, |fft|**2)``: the power spectrum and its frequency resolution.

    Same parameters as :func:`fft`. By Parseval's theorem, for white noise of variance
    ``s**2`` and ``npts`` samples each value has expectation ``npts * s**2``.

    Examples
    --------
    >>> df, pw = powspec([1.0, -1.0, 1.0, -1.0], delta=1, taper_max_percentage=0)
    >>> print(df, pw)
    0.25 [ 0.  0. 16.]
    """
    npts, dt, values = _rfft(data, delta, starttime, endtime, taper_max_percentage, taper_type)
    return (freqs(npts, dt) if return_freqs else dfreq(npts, dt)), np.square(np.abs(values))


def triangsmooth(array: npt.ArrayLike, winlen_ratio: float) -> np.ndarray:
    """Return a copy of ``array`` smoothed with a triangular window growing with the index.

    Point ``i`` is replaced by the average of its neighbours weighted by a triangular
    window of half-length ``n = round(i * winlen_ratio)`` (``n - |j|`` for offsets
    ``|j| < n``, normalized by ``n**2``), shrunk to ``len(array) - 1 - i`` near the end so
    that it never overflows. On a spectrum the window is thus proportional to the
    frequency (constant on a log-frequency axis, a simple and fast alternative to the
    Konno-Ohmachi smoothing). Points with ``n < 2`` are unchanged. Same results as
    stream2segment's ``triangsmooth``, computed in O(len) with double cumulative sums;
    windows containing NaN or inf give NaN. Results agree with the direct weighted sums
    to about 1e-9 (relative) on spectra of 1e5 points.

    Parameters
    ----------
    array
        1-D numeric values, usually an amplitude or power spectrum.
    winlen_ratio
        In ``[0, 1]``: the window half-length as a fraction of the index (0: no smoothing).

    Examples
    --------
    >>> print(triangsmooth([1, 1, 1, 1, 9, 1, 1, 1, 1, 1], 0.5).round(2))
    [1.   1.   1.   3.   5.   3.   1.89 1.   1.   1.  ]
    """
    if not 0 <= winlen_ratio <= 1:
        raise ValueError(f"winlen_ratio must be in [0, 1], got {winlen_ratio}")
    arr = np.array(array, dtype=np.float64, ndmin=1)
    if arr.ndim != 1:
        raise ValueError("triangsmooth works on 1-D arrays")
    size = len(arr)
    idx = np.arange(size)
    half = np.minimum(np.rint(idx * winlen_ratio).astype(np.int64), size - 1 - idx)
    mask = half >= 2
    if not mask.any():
        return arr
    i, n = idx[mask], half[mask]
    finite = np.isfinite(arr)
    # center the data: keeps the double cumulative sums small (precision)
    mean = float(arr[finite].mean()) if finite.any() else 0.0
    dev = np.where(finite, arr - mean, 0.0)
    s1 = np.concatenate(([0.0], np.cumsum(dev)))  # s1[p] = sum(dev[:p])
    s2 = np.concatenate(([0.0], np.cumsum(s1)))  # s2[p] = sum(s1[:p])
    # sum_{|j|<n} (n - |j|) * dev[i + j] = s2[i+n+1] - 2*s2[i+1] + s2[i-n+1]
    weighted = s2[i + n + 1] - 2.0 * s2[i + 1] + s2[i - n + 1]
    out = arr.copy()
    out[mask] = weighted / np.square(n.astype(np.float64)) + mean
    if not finite.all():
        bad = np.concatenate(([0], np.cumsum(~finite)))
        has_bad = (bad[i + n] - bad[i - n + 1]) > 0  # non-finite in [i-n+1, i+n-1]
        out[i[has_bad]] = np.nan
    return out


_SIGNAL_FORMS = {
    "": "time",
    "time": "time",
    "amplitude": "amp",
    "amp": "amp",
    "power": "pow",
    "pow": "pow",
    "fft": "fft",
    "dft": "fft",
}


def _argtrim(
    size: int, deltax: float, minx: float | None, maxx: float | None, nearest_sample: bool
) -> tuple[int | None, int | None]:
    """Indices ``(i0, i1)`` such that ``values[i0:i1]`` spans ``[minx, maxx]``."""
    idxmin = idxmax = None
    if minx is not None:
        idx = round(minx / deltax) if nearest_sample else math.ceil(minx / deltax)
        idxmin = min(max(0, int(idx)), size)
    if maxx is not None:
        idx = (round(maxx / deltax) if nearest_sample else math.floor(maxx / deltax)) + 1
        idxmax = min(max(0, int(idx)), size)
    return idxmin, idxmax


def snr(
    signal_values: npt.ArrayLike,
    noise_values: npt.ArrayLike,
    *,
    signals_form: str = "",
    fmin: float | None = None,
    fmax: float | None = None,
    delta_signal: float = 1.0,
    delta_noise: float = 1.0,
    nearest_sample: bool = False,
    in_db: bool = False,
) -> float:
    """Return the signal-to-noise ratio of two signals, optionally in a frequency band.

    Both inputs are converted to power spectra; the SNR is the ratio of their mean power
    in ``[fmin, fmax]``: its square root (an amplitude ratio) or, with ``in_db=True``,
    ``10 * log10`` of it (so both scales agree: 2 -> 6.02 dB). Identical inputs give
    1 (0 dB).

    Parameters
    ----------
    signal_values, noise_values
        The signal and the noise, in the form given by ``signals_form``.
    signals_form
        ``""`` or ``"time"``: time series (their power spectra are computed, without
        taper); ``"amplitude"`` (alias ``"amp"``): amplitude spectra; ``"power"``
        (``"pow"``): power spectra; ``"fft"`` (``"dft"``): complex Fourier transforms.
        Unlike stream2segment, other values raise ``ValueError``.
    fmin, fmax
        Frequency band in Hz (None: unbounded on that side).
    delta_signal, delta_noise
        Frequency resolution (Hz) of spectra, or sampling period (s) of time series.
        Only used with ``fmin`` or ``fmax``.
    nearest_sample
        Include the samples nearest to ``fmin`` and ``fmax`` instead of only those
        strictly inside the band.
    in_db
        Return decibels.

    Returns
    -------
    float
        The SNR; NaN if a band is empty or the noise power is zero.

    Examples
    --------
    >>> snr([2, 2, 2], [1, 1, 1], signals_form="amplitude")
    2.0
    >>> print(f"{snr([2, 2, 2], [1, 1, 1], signals_form='amplitude', in_db=True):.2f} dB")
    6.02 dB
    >>> snr([9, 1, 1, 1], [1, 1, 1, 1], signals_form="power")   # mean power 3 vs 1
    1.7320508075688772
    >>> snr([9, 1, 1, 1], [1, 1, 1, 1], signals_form="power", fmin=1, delta_signal=0.5,
    ...     delta_noise=0.5)                                       # 1 Hz and above
    1.0
    """
    try:
        form = _SIGNAL_FORMS[signals_form.lower()]
    except KeyError:
        raise ValueError(
            f"signals_form must be one of {sorted(_SIGNAL_FORMS)}, got {signals_form!r}"
        ) from None
    sig = np.asarray(signal_values)
    noi = np.asarray(noise_values)
    if form == "amp":
        sig, noi = np.square(sig.astype(np.float64)), np.square(noi.astype(np.float64))
    elif form == "fft":
        sig, noi = np.square(np.abs(sig)), np.square(np.abs(noi))
    elif form == "time":
        delta_signal, delta_noise = dfreq(sig, delta_signal), dfreq(noi, delta_noise)
        sig = np.square(np.abs(np.fft.rfft(sig.astype(np.float64))))
        noi = np.square(np.abs(np.fft.rfft(noi.astype(np.float64))))
    else:
        sig, noi = sig.astype(np.float64), noi.astype(np.float64)

    if fmin is not None or fmax is not None:
        sig = sig[slice(*_argtrim(len(sig), delta_signal, fmin, fmax, nearest_sample))]
        noi = noi[slice(*_argtrim(len(noi), delta_noise, fmin, fmax, nearest_sample))]
    if not len(sig) or not len(noi):
        return math.nan
    noise_power = float(np.sum(noi)) / len(noi)
    if noise_power == 0:
        return math.nan
    ratio = (float(np.sum(sig)) / len(sig)) / noise_power
    if in_db:
        return -math.inf if ratio == 0 else math.nan if not ratio >= 0 else 10 * math.log10(ratio)
    return math.sqrt(ratio) if ratio >= 0 else math.nan


# ---------------------------------------------------------------------------------------
# peaks and response spectra
# ---------------------------------------------------------------------------------------


def maxabs(
    trace: Trace, starttime: TimeLike | None = None, endtime: TimeLike | None = None
) -> tuple[UTCDateTime | None, float]:
    """Return ``(time, value)`` of the maximum absolute value of ``trace`` (NaNs ignored).

    ``value`` is ``max(abs(data))`` within ``[starttime, endtime]`` (default: the whole
    trace). On an acceleration trace this is the PGA and its time. Empty or all-NaN data
    give ``(None, nan)``.

    Examples
    --------
    >>> from obspy import Trace, UTCDateTime
    >>> tr = Trace(np.array([0.0, 2.0, -5.0, 1.0]), header={"starttime": UTCDateTime(0)})
    >>> t, v = maxabs(tr)
    >>> print(t.timestamp, v)
    2.0 5.0
    """
    tra = trace.slice(
        starttime=None if starttime is None else UTCDateTime(starttime),
        endtime=None if endtime is None else UTCDateTime(endtime),
    )
    data = np.abs(np.asarray(tra.data, dtype=np.float64))
    if data.size == 0 or np.isnan(data).all():
        return None, math.nan
    idx = int(np.nanargmax(data))
    return timeof(tra, idx), float(data[idx])


def pga(
    acc_trace: Trace, starttime: TimeLike | None = None, endtime: TimeLike | None = None
) -> float:
    """Return the peak ground acceleration: :func:`maxabs` of an acceleration trace.

    Examples
    --------
    >>> from obspy import Trace
    >>> pga(Trace(np.array([0.1, -0.3, 0.2])))
    0.3
    """
    return maxabs(acc_trace, starttime, endtime)[1]


def pgv(
    acc_trace: Trace, starttime: TimeLike | None = None, endtime: TimeLike | None = None
) -> float:
    """Return the peak ground velocity from an acceleration trace.

    The whole trace is integrated (trapezoidal rule, zero initial velocity: the trace
    should be band-passed, e.g. by :func:`bandpass_remresp`), then :func:`maxabs` is
    taken within ``[starttime, endtime]``.

    Examples
    --------
    >>> from obspy import Trace
    >>> t = np.arange(10000) * 0.01
    >>> acc = Trace(np.cos(2 * np.pi * t), header={"delta": 0.01})   # 1 Hz, 1 m/s**2
    >>> print(round(pgv(acc), 3), round(1 / (2 * np.pi), 3))          # A / omega
    0.159 0.159
    """
    vel = _as_float_trace(acc_trace, None, copy=True)
    vel.integrate(method="cumtrapz")
    return maxabs(vel, starttime, endtime)[1]


class ResponseSpectrum(NamedTuple):
    """Result of :func:`respspec`: peak responses of damped oscillators, one per period.

    Units follow the input acceleration (e.g. m/s**2 -> m, m/s, m/s**2).
    """

    periods: np.ndarray
    """Oscillator natural periods (s)."""
    sd: np.ndarray
    """Spectral displacement: max abs relative displacement."""
    sv: np.ndarray
    """Spectral velocity: max abs relative velocity."""
    sa: np.ndarray
    """Spectral acceleration: max abs absolute (total) acceleration."""
    psv: np.ndarray
    """Pseudo-spectral velocity ``omega * sd``."""
    psa: np.ndarray
    """Pseudo-spectral acceleration ``omega**2 * sd`` (the usual "SA" of GMPEs)."""


def respspec(
    acc: Trace | npt.ArrayLike,
    periods: npt.ArrayLike,
    *,
    damping: float = 0.05,
    delta: float | None = None,
) -> ResponseSpectrum:
    """Return the response spectrum of an acceleration time series.

    Solves ``x'' + 2*damping*w*x' + w**2*x = -acc(t)`` (``w = 2*pi/period``, at rest at
    the start) exactly for an acceleration varying linearly between samples: the method
    of Nigam and Jennings (1969), stable for any period and sampling rate. Each period
    is one second-order recursive filter (:func:`scipy.signal.lfilter`). The response is
    evaluated over the record duration only (no free vibration after its end).

    Parameters
    ----------
    acc
        Acceleration: a Trace (e.g. from ``bandpass_remresp(..., output="ACC")``) or an
        array (then ``delta`` is required).
    periods
        Natural periods in seconds (positive).
    damping
        Fraction of critical damping (0.05: 5%).
    delta
        Sampling period (s) for array input.

    Returns
    -------
    ResponseSpectrum
        Named tuple of arrays ``(periods, sd, sv, sa, psv, psa)``.

    Examples
    --------
    A long 1 Hz sine of amplitude 1 excites a 1 s oscillator at resonance: its steady
    pseudo-acceleration is ``1 / (2 * damping) = 10``.

    >>> t = np.arange(0, 60, 0.01)
    >>> rs = respspec(np.sin(2 * np.pi * t), [1.0], delta=0.01)
    >>> print(round(float(rs.psa[0]), 1))
    10.0
    """
    from scipy.linalg import expm
    from scipy.signal import lfilter, lfiltic, ss2tf

    tra = _as_float_trace(acc, delta, copy=True)
    data, dt = tra.data, tra.stats.delta
    per = np.array(periods, dtype=np.float64, ndmin=1)
    if per.ndim != 1 or not (per > 0).all():
        raise ValueError("periods must be a 1-D sequence of positive numbers")
    if not damping >= 0:
        raise ValueError(f"damping must be non-negative, got {damping}")
    sd, sv, sa = (np.full(per.shape, np.nan) for _ in range(3))
    omega = 2 * np.pi / per
    if data.size and per.size:
        # State x = [displacement, velocity], x' = A x + B acc with A = [[0, 1],
        # [-w**2, -2 damping w]] and B = [0, -1]. First-order-hold discretization (input
        # linear between samples, as scipy.signal.cont2discrete(method="foh")), all
        # periods at once: expm of the block matrix [[A dt, B dt, 0], [0, 0, 1], [0, 0, 0]]
        blocks = np.zeros((per.size, 4, 4))
        blocks[:, 0, 1] = dt
        blocks[:, 1, 0] = -(omega**2) * dt
        blocks[:, 1, 1] = -2.0 * damping * omega * dt
        blocks[:, 1, 2] = -dt
        blocks[:, 2, 3] = 1.0
        expo = expm(blocks)
        phi, gam1, gam2 = expo[:, :2, :2], expo[:, :2, 2:3], expo[:, :2, 3:4]
        b_d = gam1 - gam2 + phi @ gam2
        gam0 = b_d - phi @ gam2
        eye = np.eye(2)
        for k, w in enumerate(omega):
            # x[n+1] = phi x[n] + gam0 acc[n] + gam2 acc[n+1], at rest: x[0] = 0. A
            # second-order recursive filter per state component, started at n = 2:
            num, den = ss2tf(phi[k], b_d[k], eye, gam2[k])
            state1 = gam0[k, :, 0] * data[0] + gam2[k, :, 0] * (data[1] if data.size > 1 else 0)
            disp, vel = np.zeros(data.size), np.zeros(data.size)
            for out, comp in ((disp, 0), (vel, 1)):
                if data.size > 1:
                    out[1] = state1[comp]
                if data.size > 2:
                    zi = lfiltic(num[comp], den, y=[state1[comp], 0.0], x=[data[1], data[0]])
                    out[2:] = lfilter(num[comp], den, data[2:], zi=zi)[0]
            sd[k] = np.max(np.abs(disp))
            sv[k] = np.max(np.abs(vel))
            # absolute acceleration = x'' + acc = -(w**2 disp + 2 damping w vel)
            sa[k] = np.max(np.abs(w**2 * disp + 2.0 * damping * w * vel))
    return ResponseSpectrum(per, sd, sv, sa, omega * sd, omega**2 * sd)
