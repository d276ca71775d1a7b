"""Damped single-degree-of-freedom oscillators driven by a ground acceleration.

The building blocks of response spectra (:func:`s2sframe.signal.respspec`, and
stream2segment's ``NigamJennings`` and ``NewmarkBeta`` classes of
:mod:`s2sframe.process.funclib.ndarrays`). Both functions solve, for each natural
period ``T`` (``w = 2 * pi / T``) and a fraction of critical damping ``z``::

    x'' + 2 z w x' + w**2 x = -acc(t),    x(0) = x'(0) = 0

and return the relative displacement ``x`` and velocity ``x'`` at the sample times;
the absolute acceleration of the oscillator is ``x'' + acc = -(w**2 x + 2 z w x')``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt


def _checked(acc: npt.ArrayLike, periods: npt.ArrayLike,
             damping: float) -> tuple[np.ndarray, np.ndarray]:
    data = np.asarray(acc, dtype=np.float64)
    per = np.array(periods, dtype=np.float64, ndmin=1)
    if per.ndim != 1 or not (per > 0).all():
        raise ValueError("periods must be a 1-D sequence of positive numbers")
    if not damping >= 0:
        raise ValueError(f"damping must be non-negative, got {damping}")
    return data, per


def nigam_jennings(acc: npt.ArrayLike, delta: float, periods: npt.ArrayLike,
                   damping: float = 0.05) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """Yield ``(k, displacement, velocity)`` for each period ``periods[k]``: the exact
    response to an acceleration varying linearly between samples (Nigam and Jennings,
    1969), stable for any period and sampling period ``delta``.

    Each period is one second-order recursive filter (:func:`scipy.signal.lfilter`) on
    the samples: O(len(acc)) in compiled code.

    Examples
    --------
    A 1 s oscillator under a long 1 Hz sine of amplitude 1 (resonance): the steady
    displacement amplitude is ``1 / (2 * damping * w**2)``.

    >>> t = np.arange(0, 60, 0.01)
    >>> (_, disp, vel), = nigam_jennings(np.sin(2 * np.pi * t), 0.01, [1.0])
    >>> print(round(float(np.abs(disp).max()) * 2 * 0.05 * (2 * np.pi) ** 2, 3))
    1.0
    """
    from scipy.linalg import expm
    from scipy.signal import lfilter, lfiltic, ss2tf

    data, per = _checked(acc, periods, damping)
    if not per.size:
        return
    dt = float(delta)
    omega = 2 * np.pi / per
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
    for k in range(per.size):
        # x[n+1] = phi x[n] + gam0 acc[n] + gam2 acc[n+1], at rest: x[0] = 0. A
        # second-order recursive filter per state component, started at n = 2:
        disp, vel = np.zeros(data.size), np.zeros(data.size)
        if data.size > 1:
            num, den = ss2tf(phi[k], b_d[k], eye, gam2[k])
            state1 = gam0[k, :, 0] * data[0] + gam2[k, :, 0] * data[1]
            for out, comp in ((disp, 0), (vel, 1)):
                out[1] = state1[comp]
                if data.size > 2:
                    zi = lfiltic(num[comp], den, y=[state1[comp], 0.0], x=[data[1], data[0]])
                    out[2:] = lfilter(num[comp], den, data[2:], zi=zi)[0]
        yield k, disp, vel


def newmark_beta(acc: npt.ArrayLike, delta: float, periods: npt.ArrayLike,
                 damping: float = 0.05) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(displacement, velocity, acceleration)``, arrays of shape
    ``(len(acc), len(periods))``: the oscillators integrated with Newmark's method,
    ``beta = 0`` and ``gamma = 1/2`` (explicit, stream2segment's ``NewmarkBeta``).

    Steps (``a`` the relative acceleration, ``c = 2 z w``, ``k = w**2``)::

        x[j] = x[j-1] + dt v[j-1] + dt**2 / 2 a[j-1]
        a[j] = (-acc[j] - k x[j] - c (v[j-1] + dt / 2 a[j-1])) / (1 + c dt / 2)
        v[j] = v[j-1] + dt / 2 (a[j-1] + a[j])

    from ``x[0] = v[0] = 0``, ``a[0] = -acc[0]``. Second-order accurate; stable for
    ``delta < T / pi``. One step of vector operations per sample (a Python loop).

    Examples
    --------
    >>> x, v, a = newmark_beta([1.0, 0.0, 0.0], 0.1, [1.0], damping=0.0)
    >>> print(x[:, 0].round(4), v[:, 0].round(4))
    [ 0.    -0.005 -0.008] [ 0.     -0.0401 -0.0144]
    """
    data, per = _checked(acc, periods, damping)
    dt = float(delta)
    omega = 2 * np.pi / per
    cval = 2.0 * damping * omega
    kval = omega**2
    shape = (data.size, per.size)
    disp, vel, rel = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    if not data.size:
        return disp, vel, rel
    rel[0] = -data[0]
    denom = 1.0 + 0.5 * dt * cval
    for j in range(1, data.size):
        disp[j] = disp[j - 1] + dt * vel[j - 1] + 0.5 * dt**2 * rel[j - 1]
        rel[j] = (-data[j] - kval * disp[j] - cval * (vel[j - 1] + 0.5 * dt * rel[j - 1])) / denom
        vel[j] = vel[j - 1] + 0.5 * dt * (rel[j - 1] + rel[j])
    return disp, vel, rel
