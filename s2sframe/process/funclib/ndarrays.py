"""stream2segment's ``stream2segment.process.funclib.ndarrays``: functions of NumPy arrays.

Same names, signatures and results as stream2segment's module, computed by
:mod:`s2sframe.signal`:

- spectra: :func:`fft`, :func:`ampspec`, :func:`powspec`, :func:`dfreq`, :func:`freqs`,
  :func:`triangsmooth`, :func:`snr`, :func:`trim`, :func:`argtrim`;
- :func:`cumsumsq`;
- response spectra: :func:`respspec`, :class:`ResponseSpectrum`, :class:`NewmarkBeta`,
  :class:`NigamJennings` (in cm/s**2 units unless told otherwise, as stream2segment).

Examples
--------
>>> import numpy as np
>>> from s2sframe.process.funclib.ndarrays import ampspec, freqs, snr
>>> x = np.sin(2 * np.pi * 5 * np.arange(100) * 0.01)       # 5 Hz, 1 s at 100 Hz
>>> float(freqs(x, 0.01)[np.argmax(ampspec(x))])
5.0
>>> float(snr(2 * x, x))                                      # time series
2.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ...signal import cumsumsq as _cumsumsq
from ...signal import dfreq as _dfreq
from ...signal import snr as _snr
from ...signal import triangsmooth as _triangsmooth
from ...signal.oscillators import newmark_beta, nigam_jennings
from ...signal.spectra import trim_indices

__all__ = ["NewmarkBeta", "NigamJennings", "ResponseSpectrum", "ampspec", "argtrim",
           "cumsumsq", "dfreq", "fft", "freqs", "powspec", "respspec", "snr", "trim",
           "triangsmooth"]


def fft(signal: npt.ArrayLike) -> np.ndarray:
    """Return the discrete Fourier transform of a real signal (:func:`numpy.fft.rfft`).

    Examples
    --------
    >>> fft([1.0, 1.0, 1.0, 1.0])
    array([4.+0.j, 0.+0.j, 0.+0.j])
    """
    return np.fft.rfft(signal)


def ampspec(signal: npt.ArrayLike, signal_is_fft: bool = False) -> np.ndarray:
    """Return the amplitude spectrum ``abs(fft(signal))`` of a real signal (not normalized).

    With ``signal_is_fft=True`` ``signal`` already is a Fourier transform.

    Examples
    --------
    >>> ampspec([1.0, -1.0, 1.0, -1.0])
    array([0., 0., 4.])
    """
    return np.abs(signal if signal_is_fft else fft(signal))


def powspec(signal: npt.ArrayLike, signal_is_fft: bool = False) -> np.ndarray:
    """Return the power spectrum ``abs(fft(signal))**2`` of a real signal (not normalized).

    Examples
    --------
    >>> powspec([1.0, -1.0, 1.0, -1.0])
    array([ 0.,  0., 16.])
    """
    return np.square(ampspec(signal, signal_is_fft))


def dfreq(time_signal: npt.ArrayLike, delta_t: float) -> float:
    """Return the frequency resolution ``1 / (len(time_signal) * delta_t)`` (Hz) of its FFT.

    Examples
    --------
    >>> dfreq(np.zeros(1000), 0.01)
    0.1
    """
    return _dfreq(time_signal, delta_t)


def freqs(time_signal: npt.ArrayLike, delta_t: float) -> np.ndarray:
    """Return the frequencies ``[0, df, ..., (L-1) * df]`` of the FFT of ``time_signal``.

    ``L = floor(1 + len(time_signal) / 2)``, ``df = dfreq(time_signal, delta_t)``.

    Examples
    --------
    >>> freqs(np.zeros(4), 0.5)
    array([0. , 0.5, 1. ])
    """
    size = len(np.asarray(time_signal))
    return np.arange(math.floor(1 + size / 2)) * dfreq(time_signal, delta_t)


#: stream2segment's ``signals_form`` values; anything else means time series
_FORMS = {"amp": "amplitude", "pow": "power", "fft": "fft", "dft": "fft"}


def snr(signal: npt.ArrayLike, noise: npt.ArrayLike, signals_form: str = "",
        fmin: float | None = None, fmax: float | None = None, delta_signal: float = 1.,
        delta_noise: float = 1., nearest_sample: bool = False, in_db: bool = False) -> float:
    """Return the signal-to-noise ratio of ``signal`` over ``noise``, optionally in a band.

    The ratio of the mean powers in ``[fmin, fmax]``: its square root, or ``10 *
    log10`` of it with ``in_db=True``; NaN if a band is empty or the noise has no power.
    ``signals_form``: ``'amp'`` (amplitude spectra), ``'pow'`` (power spectra),
    ``'fft'`` or ``'dft'`` (Fourier transforms), any other value (e.g. ``''``): time
    series, whose power spectra are computed first (``delta_*`` are then sampling
    periods). See :func:`s2sframe.signal.snr`.

    Examples
    --------
    >>> float(snr([2, 2, 2], [1, 1, 1], signals_form='amp'))
    2.0
    >>> float(snr([9, 1, 1, 1], [1, 1, 1, 1], signals_form='pow', fmin=1, delta_signal=0.5,
    ...           delta_noise=0.5))
    1.0
    """
    form = _FORMS.get(signals_form.lower(), "time")
    return _snr(signal, noise, signals_form=form, fmin=fmin, fmax=fmax, delta_signal=delta_signal,
                delta_noise=delta_noise, nearest_sample=nearest_sample, in_db=in_db)


def argtrim(signal: npt.ArrayLike, deltax: float, minx: float | None = None,
            maxx: float | None = None, nearest_sample: bool = False) -> tuple[int | None, int | None]:
    """Return ``(i0, i1)`` such that ``signal[i0:i1]`` spans ``[minx, maxx]`` of its domain.

    ``deltax`` is the domain step (e.g. Hz); a bound None is no bound (index None).
    Without ``nearest_sample`` only samples inside the interval are taken.

    Examples
    --------
    >>> argtrim(np.zeros(10), 0.5, 1.2, 3.0)
    (3, 7)
    >>> argtrim(np.zeros(10), 0.5, 1.2, 3.0, nearest_sample=True)
    (2, 7)
    """
    return trim_indices(len(np.asarray(signal)), deltax, minx, maxx, nearest_sample)


def trim(signal: npt.ArrayLike, deltax: float, minx: float | None = None,
         maxx: float | None = None, nearest_sample: bool = False) -> Any:
    """Return the slice of ``signal`` (evenly sampled, step ``deltax``) in ``[minx, maxx]``.

    Examples
    --------
    >>> trim(np.arange(10), 0.5, 1.2, 3.0)
    array([3, 4, 5, 6])
    """
    if minx is None and maxx is None:
        return signal
    i0, i1 = argtrim(signal, deltax, minx, maxx, nearest_sample)
    return np.asarray(signal)[i0:i1]


def cumsumsq(signal: npt.ArrayLike, normalize: bool = True) -> np.ndarray:
    """Return the cumulative sum of ``signal**2``, with ``normalize`` rescaled to ``[0, 1]``.

    Examples
    --------
    >>> cumsumsq([1, 1, 1, 1, 1])
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    """
    return _cumsumsq(signal, normalize=normalize)  # type: ignore[return-value]


def triangsmooth(array: npt.ArrayLike, winlen_ratio: float) -> np.ndarray:
    """Return a copy of ``array`` smoothed by a triangular window growing with the index.

    See :func:`s2sframe.signal.triangsmooth`.

    Examples
    --------
    >>> print(triangsmooth([1, 1, 1, 1, 9, 1, 1, 1, 1, 1], 0.5).round(2))
    [1.   1.   1.   3.   5.   3.   1.89 1.   1.   1.  ]
    """
    return _triangsmooth(array, winlen_ratio)


# ------------------------------------------------------------------ response spectra
class ResponseSpectrum:
    """Base class of the response spectrum calculators (:class:`NewmarkBeta`,
    :class:`NigamJennings`), as stream2segment's.

    Parameters
    ----------
    acceleration : numpy array
        The ground acceleration, in ``units``; converted to cm/s**2.
    time_step : float
        Its sampling period (s).
    periods : numpy array
        The oscillators' natural periods (s).
    damping : float
        Fraction of critical damping.
    units : str
        ``"g"``, ``"m/s/s"`` (``"m/s**2"``, ``"m/s^2"``) or ``"cm/s/s"`` (``"cm/s**2"``,
        ``"cm/s^2"``, the default).

    Attributes
    ----------
    periods, num_per, damping, d_t, num_steps, omega
        The inputs, their number, ``2 * pi / periods``.
    acceleration, velocity, displacement : numpy array
        The ground motion in cm units (velocity and displacement by the trapezoidal rule).
    response_spectrum : dict or None
        The result of :meth:`evaluate`, once called.
    """

    def __init__(self, acceleration: npt.ArrayLike, time_step: float, periods: npt.ArrayLike,
                 damping: float = 0.05, units: str = "cm/s/s") -> None:
        self.periods = np.asarray(periods, dtype=float)
        self.num_per = len(self.periods)
        self.acceleration = ResponseSpectrum.acc2cms2(np.asarray(acceleration, dtype=float),
                                                      units)
        self.damping = damping
        self.d_t = time_step
        self.velocity, self.displacement = \
            ResponseSpectrum.get_velocity_displacement(self.d_t, self.acceleration)
        self.num_steps = len(self.acceleration)
        self.omega = (2.0 * np.pi) / self.periods
        self.response_spectrum: dict[str, Any] | None = None

    def evaluate(self) -> tuple[dict, dict, np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(response_spectrum, time_series, accel, vel, disp)``.

        ``response_spectrum``: ``'Period'``, ``'Acceleration'`` (max absolute acceleration
        of each oscillator), ``'Velocity'``, ``'Displacement'`` (max relative velocity and
        displacement), ``'Pseudo-Velocity'`` (``omega * Displacement``) and
        ``'Pseudo-Acceleration'`` (``omega**2 * Displacement``). ``time_series``:
        ``'Time-Step'``, ``'Acceleration'``, ``'Velocity'``, ``'Displacement'`` of the
        ground and their peaks ``'PGA'``, ``'PGV'``, ``'PGD'``. Then the oscillators'
        responses, one column per period. Units: cm, s.
        """
        raise NotImplementedError("This is an abstract class, you should call sub-classes "
                                  "implementing this method")

    @staticmethod
    def acc2cms2(acceleration: Any, units: str) -> Any:
        """Return ``acceleration`` (in ``units``) in cm/s**2.

        Examples
        --------
        >>> ResponseSpectrum.acc2cms2(np.array([1.0]), "g"), ResponseSpectrum.acc2cms2(2.0, "m/s/s")
        (array([981.]), 200.0)
        """
        if units == "g":
            return 981.0 * acceleration
        if units in ("m/s/s", "m/s**2", "m/s^2"):
            return 100.0 * acceleration
        if units in ("cm/s/s", "cm/s**2", "cm/s^2"):
            return acceleration
        raise ValueError("Unrecognised time history units. "
                         "Should take either ''g'', ''m/s/s'' or ''cm/s/s''")

    @staticmethod
    def get_velocity_displacement(time_step: float, acceleration: Any, units: str = "cm/s/s",
                                  velocity: Any = None,
                                  displacement: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Return the ground velocity and displacement (cm/s, cm): trapezoidal integrals
        of the acceleration (converted from ``units``) from 0; given ones are kept.

        Examples
        --------
        >>> v, d = ResponseSpectrum.get_velocity_displacement(0.5, np.array([0.0, 2.0, 2.0]))
        >>> v, d
        (array([0. , 0.5, 1.5]), array([0.   , 0.125, 0.625]))
        """
        acc = ResponseSpectrum.acc2cms2(np.asarray(acceleration, dtype=float), units)
        if velocity is None:
            velocity = _cumtrapz(acc, time_step)
        if displacement is None:
            displacement = _cumtrapz(velocity, time_step)
        return velocity, displacement

    def _results(self, x_a: np.ndarray, x_v: np.ndarray, x_d: np.ndarray) -> tuple:
        spectrum = {"Period": self.periods,
                    "Acceleration": _peaks(x_a, self.num_per),
                    "Velocity": _peaks(x_v, self.num_per),
                    "Displacement": _peaks(x_d, self.num_per)}
        spectrum["Pseudo-Velocity"] = self.omega * spectrum["Displacement"]
        spectrum["Pseudo-Acceleration"] = self.omega**2 * spectrum["Displacement"]
        self.response_spectrum = spectrum
        series = {"Time-Step": self.d_t, "Acceleration": self.acceleration,
                  "Velocity": self.velocity, "Displacement": self.displacement,
                  "PGA": np.max(np.fabs(self.acceleration)),
                  "PGV": np.max(np.fabs(self.velocity)),
                  "PGD": np.max(np.fabs(self.displacement))}
        return spectrum, series, x_a, x_v, x_d


def _cumtrapz(values: np.ndarray, step: float) -> np.ndarray:
    out = np.zeros(len(values))
    out[1:] = np.cumsum((values[1:] + values[:-1]) / 2.0)
    return step * out


def _peaks(values: np.ndarray, num_per: int) -> np.ndarray:
    return np.max(np.fabs(values), axis=0) if len(values) else np.full(num_per, np.nan)


class NewmarkBeta(ResponseSpectrum):
    """The response spectrum by Newmark's explicit method (``beta = 0``, ``gamma = 1/2``).

    :meth:`evaluate`'s ``accel`` is the oscillators' relative acceleration, ``vel`` and
    ``disp`` their relative velocity and displacement, all of shape ``(num_steps,
    num_per)``; the spectrum's ``'Acceleration'`` is the peak absolute acceleration
    ``accel + ground acceleration`` (stream2segment doubled the first sample of it,
    which only matters when the ground acceleration starts at its peak).
    See :func:`s2sframe.signal.oscillators.newmark_beta`.

    Examples
    --------
    Close to the exact :class:`NigamJennings` at a small time step:

    >>> t = np.arange(0, 20, 0.005)
    >>> acc, periods = np.sin(2 * np.pi * t) * np.exp(-t), np.array([0.5, 1.0])
    >>> nb = NewmarkBeta(acc, 0.005, periods).evaluate()[0]['Displacement']
    >>> nj = NigamJennings(acc, 0.005, periods).evaluate()[0]['Displacement']
    >>> bool(np.allclose(nb, nj, rtol=1e-3))
    True
    """

    def evaluate(self) -> tuple[dict, dict, np.ndarray, np.ndarray, np.ndarray]:  # noqa: D102
        disp, vel, accel = newmark_beta(self.acceleration, self.d_t, self.periods, self.damping)
        spectrum, series, *_ = self._results(accel + self.acceleration[:, None], vel, disp)
        return spectrum, series, accel, vel, disp


class NigamJennings(ResponseSpectrum):
    """The response spectrum by the exact method of Nigam and Jennings (1969).

    Exact for an acceleration varying linearly between samples, at any period (also
    below the sampling period), and faster than :class:`NewmarkBeta`. :meth:`evaluate`'s
    ``accel``, ``vel``, ``disp`` are the oscillators' absolute acceleration, relative
    velocity and displacement at the samples after the first (``num_steps - 1`` rows).
    See :func:`s2sframe.signal.oscillators.nigam_jennings`; examples in :func:`respspec`
    and :class:`NewmarkBeta`.
    """

    def evaluate(self) -> tuple[dict, dict, np.ndarray, np.ndarray, np.ndarray]:  # noqa: D102
        rows = max(self.num_steps - 1, 0)
        x_d, x_v = np.zeros((rows, self.num_per)), np.zeros((rows, self.num_per))
        for k, disp, vel in nigam_jennings(self.acceleration, self.d_t, self.periods,
                                           self.damping):
            x_d[:, k], x_v[:, k] = disp[1:], vel[1:]
        x_a = -(2.0 * self.damping * self.omega) * x_v - self.omega**2 * x_d
        return self._results(x_a, x_v, x_d)


_METHODS = {"newmarkbeta": NewmarkBeta, "nigamjennings": NigamJennings}


def respspec(method: str, acceleration: npt.ArrayLike, time_step: float,
             periods: npt.ArrayLike, damping: float = 0.05) -> tuple:
    """Return ``method(acceleration, time_step, periods, damping).evaluate()``.

    ``method``: ``'NewmarkBeta'`` or ``'NigamJennings'`` (any case). Units follow those of
    ``acceleration`` (no conversion). See :meth:`ResponseSpectrum.evaluate`.

    Examples
    --------
    >>> t = np.arange(0, 60, 0.01)
    >>> spec, series, *_ = respspec('NigamJennings', np.sin(2 * np.pi * t), 0.01, [1.0])
    >>> print(round(float(spec['Pseudo-Acceleration'][0]), 1), round(float(series['PGA']), 1))
    10.0 1.0
    """
    try:
        rs_class = _METHODS[method.lower()]
    except KeyError:
        raise TypeError(f"Please supply a response spectrum method in {list(_METHODS)}") \
            from None
    return rs_class(acceleration, time_step, periods, damping).evaluate()
