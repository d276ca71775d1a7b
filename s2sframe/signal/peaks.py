"""Peaks and response spectra of :mod:`s2sframe.signal`: max abs, PGA, PGV and
the response spectrum (Nigam and Jennings)."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
from obspy import Trace, UTCDateTime

from .common import TimeLike, _as_float_trace
from .oscillators import _checked, nigam_jennings
from .windows import timeof


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
    tra = _as_float_trace(acc, delta, copy=True)
    data, per = _checked(tra.data, periods, damping)
    sd, sv, sa = (np.full(per.shape, np.nan) for _ in range(3))
    omega = 2 * np.pi / per
    if data.size:
        for k, disp, vel in nigam_jennings(data, tra.stats.delta, per, damping):
            sd[k] = np.max(np.abs(disp))
            sv[k] = np.max(np.abs(vel))
            # absolute acceleration = x'' + acc = -(w**2 disp + 2 damping w vel)
            sa[k] = np.max(np.abs(omega[k] ** 2 * disp + 2.0 * damping * omega[k] * vel))
    return ResponseSpectrum(per, sd, sv, sa, omega * sd, omega**2 * sd)
