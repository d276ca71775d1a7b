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

# The implementation lives in private modules; this module re-exports their names.
from .common import TimeLike  # noqa: F401 - type alias of the time arguments
from .filters import ampratio, bandpass, bandpass_remresp
from .peaks import ResponseSpectrum, maxabs, pga, pgv, respspec
from .spectra import ampspec, dfreq, fft, freqs, powspec, snr, triangsmooth
from .windows import cumsumsq, sn_split, sn_windows, timeof, timeswhere

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
