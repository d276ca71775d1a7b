"""Time windows and cumulatives of :mod:`s2sframe.signal`: sample times, cumulative sum
of squares, the times where it reaches given values, signal and noise windows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from obspy import Trace, UTCDateTime

from .common import TimeLike, _record_processing


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
        A Trace (a new Trace with the same stats is returned, its
        ``stats.processing`` recording the call, as ObsPy's Trace methods do) or a
        numeric array.
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
        trace = Trace(cumsumsq(data.data, normalize=normalize), header=data.stats.copy())
        _record_processing(trace, "cumsumsq", normalize=normalize)
        return trace
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
