"""stream2segment's ``stream2segment.process.funclib.traces``: functions of ObsPy Traces.

Same names, signatures (``copy=`` included) and results as stream2segment's module,
computed by :mod:`s2sframe.signal`: :func:`bandpass`, :func:`cumsumsq`,
:func:`sn_split`, :func:`fft`, :func:`ampspec`, :func:`powspec`, :func:`timeof`,
:func:`respspec` and the classes :class:`ResponseSpectrum`, :class:`NewmarkBeta`,
:class:`NigamJennings`; :func:`dfreq` and :func:`freqs` are those of
:mod:`.ndarrays`. A function of a Trace applies to a Stream as
``Stream([func(trace, ...) for trace in stream])``.

As in stream2segment, ``bandpass`` and ``cumsumsq`` modify their trace in place with
``copy=False``, and any positive ``taper_max_percentage`` of ``fft``, ``ampspec`` and
``powspec`` tapers 5% of each end (stream2segment ignores its value; use
:func:`s2sframe.signal.fft` for another taper).

Examples
--------
>>> import numpy as np
>>> from obspy import Trace, UTCDateTime
>>> from s2sframe.process.funclib.traces import cumsumsq, timeof
>>> tr = Trace(np.array([0.0, 1.0, 1.0, 0.0]), header={"starttime": UTCDateTime(0)})
>>> cum = cumsumsq(tr, normalize=True, copy=True)
>>> cum.data, tr.data                                      # tr is unchanged
(array([0. , 0.5, 1. , 1. ]), array([0., 1., 1., 0.]))
>>> cum.stats.processing
['s2sframe.process.funclib.traces.cumsumsq(normalize=True::copy=True)']
>>> print(timeof(cum, np.searchsorted(cum.data, 0.5)))
1970-01-01T00:00:01.000000Z
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from obspy import Trace, UTCDateTime

from ... import signal as _signal
from ...signal.common import processing_info
from . import ndarrays as _nd
from .ndarrays import dfreq, freqs

__all__ = ["NewmarkBeta", "NigamJennings", "ResponseSpectrum", "ampspec", "bandpass",
           "cumsumsq", "dfreq", "fft", "freqs", "powspec", "respspec", "sn_split", "timeof"]


def bandpass(trace: Trace, freq_min: float, freq_max: float, max_nyquist_ratio: float = 0.9,
             corners: int = 2, copy: bool = True) -> Trace:
    """Return ``trace`` band-passed, with stream2segment's pre-processing.

    ``freq_max`` is capped at ``max_nyquist_ratio`` times the Nyquist frequency; the
    mean is removed, 5% of each end tapered (cosine), zeros padded at the end for the
    filter transient (``1.5 * corners / freq_min`` s, then removed), and a zero-phase
    Butterworth band-pass of order ``corners`` applied (:func:`s2sframe.signal.bandpass`).

    Parameters
    ----------
    trace : obspy.Trace
    freq_min, freq_max : float
        Corner frequencies (Hz).
    max_nyquist_ratio : float
    corners : int
    copy : bool
        True: return a new trace (``trace`` unchanged); False: modify ``trace`` (its
        data, float64, and stats) and return it.

    Examples
    --------
    >>> import numpy as np
    >>> from obspy import Trace
    >>> tr = Trace(np.sin(2 * np.pi * 3.0 * np.arange(6000) / 100.0),
    ...            header={"sampling_rate": 100.0})
    >>> out = bandpass(tr, 1.0, 10.0, copy=False)
    >>> out is tr, round(float(np.abs(tr.data[1000:5000]).max()), 3)
    (True, 1.0)
    """
    out = _signal.bandpass(trace, freq_min, freq_max, max_nyquist_ratio=max_nyquist_ratio,
                           corners=corners, taper_max_percentage=0.05)
    if copy is True:
        return out
    trace.data = out.data
    trace.stats = out.stats
    return trace


def _parse_sn_windows(window: Any) -> float | tuple[float, float]:
    """``window`` as a length (float), or two increasing fractions in [0, 1]."""
    try:
        if np.ndim(window) == 0:  # a number (or a numeric string)
            return float(window)
        cum0, cum1 = window
        if not 0 <= cum0 < cum1 <= 1:
            raise ValueError("values must be increasing and both in [0, 1]")
        return float(cum0), float(cum1)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Invalid sn window length: {exc}") from None


def sn_split(trace: Trace, arrival_time: Any, win_length: float | Sequence[float],
             return_windows: bool = False) -> Any:
    """Return ``(signal_trace, noise_trace)``, copies of ``trace`` cut on its signal and
    noise windows (zero-padded where they exceed it), or with ``return_windows=True``
    the windows ``((signal_start, signal_end), (noise_start, noise_end))``.

    ``win_length``: a length ``L`` in seconds (noise ``[arrival - L, arrival]``,
    signal ``[arrival, arrival + L]``), or two fractions ``[c0, c1]`` of the normalized
    cumulative sum of squares after ``arrival_time``: the signal window spans the times
    where it reaches ``c0`` and ``c1``; the noise window has its length and ends at
    ``arrival_time``.

    Examples
    --------
    >>> import numpy as np
    >>> from obspy import Trace, UTCDateTime
    >>> tr = Trace(np.arange(100.0), header={"delta": 1.0, "starttime": UTCDateTime(0)})
    >>> sig, noi = sn_split(tr, UTCDateTime(50), 10)
    >>> print(sig.data[0], sig.stats.npts, noi.data[0], noi.stats.npts)
    50.0 11 40.0 11
    """
    windows = _parse_sn_windows(win_length)
    a_time = UTCDateTime(arrival_time)
    if isinstance(windows, tuple):
        after = trace.copy().trim(starttime=a_time)
        cum = _signal.cumsumsq(after.data, normalize=True)
        t0, t1 = (timeof(after, int(i)) for i in np.searchsorted(cum, windows))
        sig, noise = (t0, t1), (a_time - (t1 - t0), a_time)
    else:
        sig, noise = (a_time, a_time + windows), (a_time - windows, a_time)
    if return_windows:
        return sig, noise
    return (trace.copy().trim(*sig, pad=True, fill_value=0),
            trace.copy().trim(*noise, pad=True, fill_value=0))


def cumsumsq(trace: Trace, normalize: bool = True, copy: bool = True) -> Trace:
    """Return the cumulative sum of the squares of ``trace.data`` as a Trace.

    ``normalize``: rescaled to ``[0, 1]`` (see :func:`s2sframe.signal.cumsumsq`).
    ``copy``: True returns a new Trace (same stats), False puts the result in ``trace``.
    The call is appended to ``stats.processing``.

    Examples
    --------
    >>> import numpy as np
    >>> from obspy import Trace
    >>> tr = Trace(np.array([1.0, 1.0, 1.0, 1.0, 1.0]))
    >>> cumsumsq(tr, copy=False) is tr, tr.data
    (True, array([0.  , 0.25, 0.5 , 0.75, 1.  ]))
    """
    data = _signal.cumsumsq(trace.data, normalize=normalize)
    if copy:
        trace = Trace(data, header=trace.stats.copy())
    else:
        trace.data = data
    trace.stats.setdefault("processing", []).append(
        processing_info(f"{__name__}.cumsumsq", {"normalize": normalize, "copy": copy}))
    return trace


def _spectrum(func: Any, trace: Trace, starttime: Any, endtime: Any,
              taper_max_percentage: float, taper_type: str, return_freqs: bool) -> Any:
    return func(trace, starttime=starttime, endtime=endtime,
                taper_max_percentage=0.05 if taper_max_percentage > 0 else 0,
                taper_type=taper_type, return_freqs=return_freqs)


def fft(trace: Trace, starttime: Any = None, endtime: Any = None,
        taper_max_percentage: float = 0.05, taper_type: str = "hann",
        return_freqs: bool = False) -> tuple[Any, np.ndarray]:
    """Return ``(df, fft)`` (or ``(frequencies, fft)`` with ``return_freqs``) of ``trace``.

    The trace is first trimmed to ``[starttime, endtime]`` (zero-padded) and, if
    ``taper_max_percentage > 0``, 5% of each end tapered (``taper_type``), on a copy.

    Examples
    --------
    >>> import numpy as np
    >>> from obspy import Trace
    >>> df, values = fft(Trace(np.ones(8), header={"delta": 0.25}), taper_max_percentage=0)
    >>> print(df, values.real)
    0.5 [8. 0. 0. 0. 0.]
    """
    return _spectrum(_signal.fft, trace, starttime, endtime, taper_max_percentage, taper_type,
                     return_freqs)


def ampspec(trace: Trace, starttime: Any = None, endtime: Any = None,
            taper_max_percentage: float = 0.05, taper_type: str = "hann",
            return_freqs: bool = False) -> tuple[Any, np.ndarray]:
    """Return ``(df, abs(fft))``: the amplitude spectrum of ``trace`` (see :func:`fft`).

    Examples
    --------
    >>> import numpy as np
    >>> from obspy import Trace
    >>> tr = Trace(3 * np.sin(2 * np.pi * 5 * np.arange(1000) * 0.01), header={"delta": 0.01})
    >>> f, amp = ampspec(tr, taper_max_percentage=0, return_freqs=True)
    >>> print(f[amp.argmax()], round(float(amp.max()) * 2 / 1000, 3))
    5.0 3.0
    """
    return _spectrum(_signal.ampspec, trace, starttime, endtime, taper_max_percentage,
                     taper_type, return_freqs)


def powspec(trace: Trace, starttime: Any = None, endtime: Any = None,
            taper_max_percentage: float = 0.05, taper_type: str = "hann",
            return_freqs: bool = False) -> tuple[Any, np.ndarray]:
    """Return ``(df, abs(fft)**2)``: the power spectrum of ``trace`` (see :func:`fft`).

    Examples
    --------
    >>> import numpy as np
    >>> from obspy import Trace
    >>> df, pw = powspec(Trace(np.array([1.0, -1.0, 1.0, -1.0])), taper_max_percentage=0)
    >>> print(df, pw)
    0.25 [ 0.  0. 16.]
    """
    return _spectrum(_signal.powspec, trace, starttime, endtime, taper_max_percentage,
                     taper_type, return_freqs)


def timeof(trace: Trace, index: int | float) -> UTCDateTime:
    """Return the time of the ``index``-th sample of ``trace`` (it may be out of bounds).

    Examples
    --------
    >>> from obspy import Trace, UTCDateTime
    >>> print(timeof(Trace(header={"delta": 0.5, "starttime": UTCDateTime(0)}), 3))
    1970-01-01T00:00:01.500000Z
    """
    return _signal.timeof(trace, index)


class ResponseSpectrum(_nd.ResponseSpectrum):
    """:class:`.ndarrays.ResponseSpectrum` of an acceleration trace (``trace.data``,
    sampling period ``trace.stats.delta``)."""

    def __init__(self, acc_trace: Trace, periods: npt.ArrayLike, damping: float = 0.05,
                 units: str = "cm/s/s") -> None:
        super().__init__(acc_trace.data, acc_trace.stats.delta, periods, damping, units)


class NigamJennings(ResponseSpectrum, _nd.NigamJennings):
    """:class:`.ndarrays.NigamJennings` of an acceleration trace."""


class NewmarkBeta(ResponseSpectrum, _nd.NewmarkBeta):
    """:class:`.ndarrays.NewmarkBeta` of an acceleration trace."""


_METHODS = {"newmarkbeta": NewmarkBeta, "nigamjennings": NigamJennings}


def respspec(method: str, acc_trace: Trace, periods: npt.ArrayLike,
             damping: float = 0.05) -> tuple:
    """Return the response spectrum of an acceleration trace (see :func:`.ndarrays.respspec`).

    ``method``: ``'NewmarkBeta'`` or ``'NigamJennings'`` (any case).

    Examples
    --------
    >>> import numpy as np
    >>> from obspy import Trace
    >>> t = np.arange(0, 60, 0.01)
    >>> acc = Trace(np.sin(2 * np.pi * t), header={"delta": 0.01})
    >>> spec = respspec('nigamjennings', acc, [1.0])[0]
    >>> print(round(float(spec['Pseudo-Acceleration'][0]), 1))
    10.0
    """
    try:
        rs_class = _METHODS[method.lower()]
    except KeyError:
        raise TypeError(f"Please supply a response spectrum method in {list(_METHODS)}") \
            from None
    return rs_class(acc_trace, periods, damping).evaluate()
