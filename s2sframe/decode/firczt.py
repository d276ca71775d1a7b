"""FIR stages of a channel response, evaluated on ObsPy's frequency grid by chirp-z.

evalresp evaluates a FIR stage of ``n`` coefficients at ``M`` frequencies as ``M x n``
cosines and sines; here each group of FIR stages is one polynomial in the delay
operator of its fastest stage, evaluated at all the frequencies at once by a chirp-z
(Bluestein) transform: three FFTs of about ``M + n`` points (the delay evalresp
removes from symmetric filters taken in the transform, as a shift of the coefficients).

* :class:`FirStage`: one FIR stage as evalresp evaluates it (after its own
  normalisation): the full coefficients, the sampling interval, the gain ``h0`` and
  the delay evalresp removes from symmetric filters (which it evaluates as
  zero-phase, real responses).
* :class:`FirChain`: the FIR stages of a response; :meth:`FirChain.evaluate` merges
  consecutive stages into composite filters (cached) when that is cheaper and
  returns their product on the grid ``f_j = j * fy / (M - 1)``.

Exactness. The chirp ``exp(-i*pi*alpha*n**2)`` has phases of thousands of turns; with
``alpha = 1 / Q`` rational (the stage rate an integer multiple of the trace rate, as
always for real channels) ``n**2 mod 2Q`` is reduced exactly in integers, and each
``exp(-i*pi*r/Q)`` is the product of two table entries (:func:`_roots`), so every
value is correct to a few roundings. Otherwise ``alpha * n**2`` is reduced in floating point
and the call is refused (:class:`NotExact`) when the bound of its phase error exceeds
1e-10 radians.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import fft as sfft

from .bytememo import ByteMemo

__all__ = ["FirChain", "FirStage", "NotExact"]

#: largest composite filter built by merging stages (coefficients)
MAX_COMPOSITE = 1 << 20
#: largest phase error (radians) accepted for a non-rational chirp
MAX_PHASE_ERROR = 1e-10
#: evaluated groups of FIR stages, keyed by their content, the sampling interval and
#: the number of frequencies: equal FIR chains (a datalogger model's, at every channel
#: and station that has it) are evaluated once per FFT length. Sized with the
#: response memo (:func:`s2sframe.decode.set_response_cache_size`: a quarter of it).
FIR_MEMO = ByteMemo(16 * 1024 * 1024)


class NotExact(Exception):
    """This evaluation cannot be proven equal to evalresp's: use evalresp."""


@dataclass(frozen=True)
class FirStage:
    """A FIR stage as evalresp evaluates it.

    ``coeffs`` are the full coefficients (symmetric ones unfolded), ``sint`` the
    stage's input sampling interval, ``h0`` evalresp's normalisation, ``center2``
    twice the delay (in samples) removed by evalresp (symmetric filters; 0 for
    asymmetric ones).
    """

    coeffs: np.ndarray
    sint: float
    h0: float
    center2: int
    symmetric: bool


@dataclass
class _Group:
    coeffs: np.ndarray  # composite polynomial in the delay operator of the fastest stage
    sint: float
    center2: int  # twice the total removed delay, in samples of ``sint``
    symmetric: bool
    gain: float = 1.0  # the product of the stages' h0 (not in ``coeffs``, nor the key)
    key: bytes = b""  # digest of coeffs, sint, center2, symmetric: equal ones evaluate equal

    def __post_init__(self) -> None:
        h = hashlib.blake2b(np.ascontiguousarray(self.coeffs, np.float64).tobytes(),
                            digest_size=16)
        h.update(repr((self.sint, self.center2, self.symmetric)).encode())
        self.key = h.digest()


@dataclass
class FirChain:
    """The FIR stages of a response (any order), evaluated together."""

    stages: list[FirStage]
    scalar: float = 1.0  # stages with a zero sampling interval: constant responses
    _groups: dict[tuple[int, int], _Group] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, stages: list[FirStage]) -> FirChain:
        scalar = 1.0
        timed = []
        for st in stages:
            if st.sint == 0.0:  # evalresp: wsint == 0 at every frequency
                scalar *= float(np.sum(st.coeffs)) * st.h0
            else:
                timed.append(st)
        timed.sort(key=lambda s: s.sint)
        return cls(timed, scalar)

    # -------------------------------------------------------------- grouping
    def _ratio(self, i: int, j: int) -> int | None:
        """Integer ratio of stage j's sampling interval to stage i's, or None."""
        r = self.stages[j].sint / self.stages[i].sint
        p = round(r)
        return p if p >= 1 and abs(r - p) <= 1e-12 * p else None

    def _length(self, i: int, j: int) -> int | None:
        """Length of the composite of stages i..j, None if they cannot be merged."""
        total = 1
        for s in range(i, j + 1):
            p = self._ratio(i, s)
            if p is None:
                return None
            total += (len(self.stages[s].coeffs) - 1) * p
        return total if total <= MAX_COMPOSITE else None

    def _plan(self, t_samp: float, m: int) -> list[tuple[int, int]]:
        """Cheapest partition of the stages into merged runs for ``m`` frequencies.

        Stages are merged only while the grid stays below the Nyquist frequency of
        each one's input (as when evaluating a channel at its own rate): beyond it,
        products of several attenuating stages are tiny with respect to the
        composite's coefficients and would lose relative accuracy.
        """
        n = len(self.stages)
        best = [0.0] + [math.inf] * n
        back = [0] * (n + 1)
        for j in range(1, n + 1):
            for i in range(j, 0, -1):
                if i < j and self.stages[j - 1].sint > t_samp:
                    break
                length = self._length(i - 1, j - 1)
                if length is None:
                    break
                size = m + length - 1
                cost = best[i - 1] + size * (3 * math.log2(size + 1) + 8)
                if cost < best[j]:
                    best[j], back[j] = cost, i - 1
        out = []
        j = n
        while j > 0:
            out.append((back[j], j - 1))
            j = back[j]
        return out

    def _group(self, i: int, j: int) -> _Group:
        key = (i, j)
        group = self._groups.get(key)
        if group is None:
            coeffs = np.ones(1)
            center2 = 0
            gain = 1.0
            symmetric = True
            for s in range(i, j + 1):
                st = self.stages[s]
                p = self._ratio(i, s)
                assert p is not None
                up = np.zeros((len(st.coeffs) - 1) * p + 1)
                up[::p] = st.coeffs
                gain *= st.h0
                coeffs = _convolve(coeffs, up)
                center2 += st.center2 * p
                symmetric &= st.symmetric
            group = self._groups[key] = _Group(coeffs, self.stages[i].sint, center2,
                                                 symmetric, gain)
        return group

    # ------------------------------------------------------------ evaluation
    def evaluate(self, t_samp: float, m: int) -> np.ndarray | float:
        """Product of the stages' responses at ``f_j = j / (2 t_samp (m - 1))``, j < m.

        Raises
        ------
        NotExact
            If the phases cannot be computed to rounding (see the module notes).
        """
        if not self.stages:
            return self.scalar
        out: np.ndarray | None = None
        gain = self.scalar
        for i, j in self._plan(t_samp, m):
            group = self._group(i, j)
            values = _group_values(group, t_samp, m)
            out = values.copy() if out is None else _mul(out, values)
            gain *= group.gain
        assert out is not None
        if gain != 1.0:
            out *= gain
        return out


def _group_values(group: _Group, t_samp: float, m: int) -> np.ndarray:
    """:func:`_evaluate_group`, memoized (:data:`FIR_MEMO`): a read-only array."""
    key = (group.key, t_samp, m)
    cached = FIR_MEMO.get(key) if FIR_MEMO.max_bytes > 0 else None
    if cached is not None:
        return cached[0]
    values = _evaluate_group(group, t_samp, m)
    values.flags.writeable = False
    FIR_MEMO.put(key, (values,))
    return values


def _mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind == "c" or b.dtype.kind != "c":
        a *= b
        return a
    return b * a


def _convolve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if min(len(a), len(b)) < 64:
        return np.convolve(a, b)
    n = len(a) + len(b) - 1
    size = sfft.next_fast_len(n, real=True)
    return sfft.irfft(sfft.rfft(a, size) * sfft.rfft(b, size), size)[:n]


def _phases(k: np.ndarray, q: int | None, alpha: float, scale: int = 1) -> np.ndarray:
    """``pi * alpha * scale * k`` modulo 2 pi (``k`` int64), exactly reduced when
    ``alpha = 1/q``; else reduced in floating point (error bounded by the caller)."""
    if q is not None:
        return ((k * scale) % (2 * q)) * (math.pi / q)
    return np.fmod(alpha * scale * k.astype(np.float64), 2.0) * math.pi


def _unit(angles: np.ndarray, sign: float) -> np.ndarray:
    out = np.empty(len(angles), np.complex128)
    np.cos(angles, out=out.real)
    np.sin(angles, out=out.imag)
    if sign < 0:
        np.negative(out.imag, out=out.imag)
    return out


def _roots(r: np.ndarray, q: int, sign: float) -> np.ndarray:
    """``exp(sign * i * pi * r / q)`` for integers ``0 <= r < 2q``, each to rounding.

    Each is the product of two entries of tables of about ``sqrt(2q)`` roots
    (``r = hi * b + lo``): two lookups and a product instead of a cosine and a sine
    per value (~2.5x faster).

    >>> r = np.arange(0, 400, 7)
    >>> bool(np.allclose(_roots(r, 200, -1.0), np.exp(-1j * np.pi * r / 200), rtol=0, atol=4e-15))
    True
    """
    n2 = 2 * q
    b = math.isqrt(n2 - 1) + 1
    hi_table = _unit(np.arange(-(-n2 // b), dtype=np.int64) * b * (math.pi / q), sign)
    lo_table = _unit(np.arange(b, dtype=np.int64) * (math.pi / q), sign)
    hi = r // b
    lo = r - hi * b
    out = np.take(hi_table, hi)
    out *= np.take(lo_table, lo)
    return out


def _chirp(n: int, q: int | None, alpha: float) -> np.ndarray:
    """``exp(-i pi alpha k**2)`` for ``k < n``."""
    k = np.arange(n, dtype=np.int64)
    if q is not None:
        return _roots((k * k) % (2 * q), q, -1.0)
    return _unit(_phases(k * k, None, alpha), -1.0)


def _evaluate_group(group: _Group, t_samp: float, m: int) -> np.ndarray:
    """``sum_k c_k exp(-2 pi i alpha j (k - center2 / 2))``, j < m.

    Bluestein: ``j k = (j**2 + k**2 - (j - k)**2) / 2``. An integer delay removed
    (``center2`` even: symmetric filters of odd length and their composites) is taken
    as a shift of ``k`` into negative indices (the chirp is even in ``k``), so the
    transform gives the delay-free values directly; a half-sample delay is removed
    after, by its own phases.
    """
    c = group.coeffs
    lc = len(c)
    # alpha: cycles per sample of the group's rate per frequency index
    ratio = t_samp / group.sint
    d = round(ratio)
    q: int | None = None
    alpha = group.sint / (2.0 * t_samp * (m - 1))
    if d >= 1 and abs(ratio - d) <= 1e-13 * d:
        q = 2 * d * (m - 1)
    shift = group.center2 // 2 if group.center2 % 2 == 0 else 0
    rest = group.center2 - 2 * shift  # a half-sample delay: removed after
    low = lc - 1 - shift  # the kernel runs over (j - k), from -low to m - 1 + shift
    n = max(m + shift, lc - shift, shift + 1, low + 1)
    big = max(n - 1, 1) ** 2
    if q is None and math.pi * alpha * big * 2.0**-50 > MAX_PHASE_ERROR:
        raise NotExact("stage rate not a multiple of the trace rate")
    chirp = _chirp(n, q, alpha)  # exp(-i pi alpha k^2)
    size = sfft.next_fast_len(m + lc - 1, real=False)
    u = np.zeros(size, np.complex128)  # c shifted by the delay, times the chirp
    np.multiply(c[shift:], chirp[:lc - shift], out=u[:lc - shift])
    if shift:
        np.multiply(c[:shift], chirp[shift:0:-1], out=u[size - shift:])
    v = np.zeros(size, np.complex128)
    np.conjugate(chirp[:m + shift], out=v[:m + shift])
    if low > 0:
        np.conjugate(chirp[low:0:-1], out=v[size - low:])
    uf = sfft.fft(u, overwrite_x=True)
    uf *= sfft.fft(v, overwrite_x=True)
    x = sfft.ifft(uf, overwrite_x=True)[:m]
    x *= chirp[:m]
    if rest:  # exp(+i pi alpha j rest)
        j = np.arange(m, dtype=np.int64)
        x *= (_roots((j * rest) % (2 * q), q, 1.0) if q is not None
              else _unit(_phases(j, None, alpha, rest), 1.0))
    if group.symmetric:
        return x.real.copy()
    return x
