"""Pre-processing helpers of :mod:`s2sframe.signal`: band-pass (with response removal)
and the saturation check ``ampratio``."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from obspy import Trace
from obspy.core.inventory import Inventory

from .common import _as_float_trace

_OUTPUTS = ("DISP", "VEL", "ACC", "DEF")


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
        Station inventory at response level (e.g. ``segment.inventory()``, whose
        responses are evaluated fast: see :func:`s2sframe.fast_response`).
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
