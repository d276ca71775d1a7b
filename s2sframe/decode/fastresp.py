"""Fast evaluation of ObsPy channel responses, equal to evalresp's to rounding.

``Trace.remove_response`` spends most of its time in
``Response.get_evalresp_response(t_samp, nfft, output)``: evalresp evaluates every
stage at every FFT frequency, FIR stages as sums of cosines. Here:

1. evalresp itself builds and normalises the stage chain, once per response (a call
   at one frequency whose normalised C structure is read back): every normalisation
   decision stays evalresp's (stage gains renormalised at the sensitivity frequency,
   asymmetric FIRs that are symmetric evaluated as symmetric, asymmetric FIRs whose
   sum is more than 2% off 1 rescaled, the overall gain as the product of the stage
   gains);
2. each call evaluates that chain on ObsPy's frequency grid in NumPy: poles and
   zeros directly, FIR stages by chirp-z transforms (:mod:`.firczt`), digital IIR
   stages directly, then evalresp's conversion to DISP/VEL/ACC;
3. a one-time self-check per response compares with evalresp on two small grids.

Whatever is not proven equal goes to evalresp, counted (:func:`fast_response_stats`):
response-list stages, unknown blockettes, grids of more than 2**21 frequencies or
beyond the Nyquist frequency of the response's output (a trace sampled faster than
its response), stage rates that are not multiples of the trace rate by more than
rounding, a failed self-check. Responses evalresp rejects raise evalresp's error.

Accuracy (tested on every response of ObsPy's test data and on real GEOFON ones):
relative complex error <= 1e-8 wherever ``|H| > 1e-6 * max|H|``.
"""

from __future__ import annotations

import ctypes
import threading
from collections import Counter
from typing import Any, NamedTuple

import numpy as np
from obspy.core.inventory.response import Response, ResponseListResponseStage

from .firczt import FirChain, FirStage, NotExact

__all__ = ["FastResponseStats", "evalresp_response", "fast_response_stats", "plan_of"]

# evalresp's blockette and unit codes (obspy.signal.evrespwrapper)
_LAPLACE_PZ, _ANALOG_PZ, _IIR_PZ = 1, 2, 3
_FIR_SYM_1, _FIR_SYM_2, _FIR_ASYM = 4, 5, 6
_DECIMATION, _GAIN, _REFERENCE, _IIR_COEFFS = 9, 10, 11, 13
_DIS, _VEL, _ACC = 1, 2, 3
_TWO_PI = 6.283185307179586  # evalresp's twoPi
#: most frequencies evaluated fast (larger grids go to evalresp)
MAX_FREQUENCIES = 1 << 21
_SCALES = {"CM/S**2": 1e2, "CM/S": 1e2, "CM/SEC": 1e2, "CM": 1e2,
           "MM/S**2": 1e3, "MM/S": 1e3, "MM/SEC": 1e3, "MM": 1e3,
           "NM/S**2": 1e9, "NM/S": 1e9, "NM/SEC": 1e9, "NM": 1e9}  # as ObsPy


class _Fallback(Exception):
    """Reason to let evalresp evaluate this response."""


class _Plan:
    """A response's stage chain as normalised by evalresp, ready to evaluate."""

    def __init__(self, response: Response, start_stage: int | None, end_stage: int | None,
                 hide: bool) -> None:
        self.fallback: str | None = None
        try:
            self._build(response, start_stage, end_stage, hide)
        except _Fallback as exc:
            self.fallback = str(exc)

    def _build(self, response: Response, start: int | None, end: int | None,
               hide: bool) -> None:
        stages = [s for s in response.response_stages
                  if (start is None or s.stage_sequence_number >= start)
                  and (end is None or s.stage_sequence_number <= end)]
        if any(isinstance(s, ResponseListResponseStage) for s in stages):
            raise _Fallback("response-list stage")
        # evalresp checks, normalises (raising its own errors) and returns the chain
        _, chan = response._call_eval_resp_for_frequencies(
            [1.0], output="DEF", start_stage=start, end_stage=end,
            hide_sensitivity_mismatch_warning=hide)
        self.chan_sint = float(chan.sint)
        from obspy.signal.headers import clibevresp

        unit_scale = ctypes.c_float.in_dll(clibevresp, "unitScaleFact").value
        first = min(stages, key=lambda s: s.stage_sequence_number) if stages else None
        units = first.input_units if first is not None else None
        if not units and first is not None and first.stage_sequence_number == 1 \
                and response.instrument_sensitivity is not None:
            units = response.instrument_sensitivity.input_units  # as ObsPy fixes it
        scale = _SCALES.get(units.upper(), 1.0) if isinstance(units, str) else 1.0
        self.gain = float(chan.calc_sensit) * unit_scale * scale
        self.laplace: list[tuple[np.ndarray, np.ndarray, float, bool]] = []
        self.iir_pz: list[tuple[np.ndarray, np.ndarray, float, float]] = []
        self.iir: list[tuple[np.ndarray, np.ndarray, float, float]] = []
        firs: list[FirStage] = []
        self.delay = 0.0  # applied corrections of asymmetric FIRs (evalresp's shift)
        stage_ptr = chan.first_stage
        self.units = stage_ptr.contents.input_units if stage_ptr else 0
        for _ in range(chan.nstages):
            stage = stage_ptr.contents
            stage_ptr = stage.next_stage
            blkt_ptr = stage.first_blkt
            asymmetric = False  # evalresp's sym_fir == -1: shift by the applied correction
            while blkt_ptr:
                blkt = blkt_ptr.contents
                blkt_ptr = blkt.next_blkt
                kind = blkt.type
                info = blkt.blkt_info
                if kind in (_LAPLACE_PZ, _ANALOG_PZ):
                    pz = info.pole_zero
                    self.laplace.append((_roots(pz.zeros, pz.nzeros), _roots(pz.poles, pz.npoles),
                                         pz.a0, kind == _LAPLACE_PZ))
                elif kind == _IIR_PZ:
                    pz = info.pole_zero
                    if pz.nzeros or pz.npoles:
                        self.iir_pz.append((_roots(pz.zeros, pz.nzeros),
                                            _roots(pz.poles, pz.npoles), pz.a0,
                                            _next_sint(blkt)))
                elif kind in (_FIR_SYM_1, _FIR_SYM_2, _FIR_ASYM):
                    fir = info.fir
                    n = fir.ncoeffs
                    if not n:
                        continue
                    a = np.ctypeslib.as_array(fir.coeffs, (n,)).copy()
                    if kind == _FIR_SYM_1:
                        full, center2 = np.concatenate([a, a[-2::-1]]), 2 * (n - 1)
                    elif kind == _FIR_SYM_2:
                        full, center2 = np.concatenate([a, a[::-1]]), 2 * n - 1
                    else:
                        if n > 1 and np.all(a == a[0]):
                            raise _Fallback("asymmetric boxcar FIR")
                        full, center2 = a, 0
                    asymmetric = kind == _FIR_ASYM
                    firs.append(FirStage(full, _next_sint(blkt), fir.h0, center2,
                                         kind != _FIR_ASYM))
                elif kind == _IIR_COEFFS:
                    co = info.coeff
                    self.iir.append((np.ctypeslib.as_array(co.numer, (co.nnumer,)).copy(),
                                     np.ctypeslib.as_array(co.denom, (co.ndenom,)).copy(),
                                     co.h0, _next_sint(blkt)))
                elif kind == _DECIMATION:
                    if asymmetric:
                        self.delay += info.decimation.applied_corr
                elif kind not in (_GAIN, _REFERENCE):
                    raise _Fallback(f"evalresp blockette type {kind}")
        self.firs = FirChain.build(firs)

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, t_samp: float, nfft: int, output: str) -> tuple[np.ndarray, np.ndarray]:
        """``(response, frequencies)`` as ``Response.get_evalresp_response`` returns them."""
        fy = 1 / (t_samp * 2.0)
        m = int(nfft // 2) + 1
        freqs = np.linspace(0, fy, m, dtype=np.float64)
        if m < 2:
            raise NotExact("fewer than 2 frequencies")
        if m > MAX_FREQUENCIES:
            raise NotExact("more than 2**21 frequencies")
        if t_samp < self.chan_sint * (1 - 1e-9):
            # FIR stages far beyond their passbands: products of tiny attenuations
            raise NotExact("grid beyond the Nyquist frequency of the response's output")
        w = _TWO_PI * freqs
        # the stages' rational functions multiplied into one array, in place, their
        # scalars (a0, h0, the overall gain) into one number applied once
        val: np.ndarray | None = None
        scale = self.gain
        for zeros, poles, a0, laplace in self.laplace:
            s = 1j * (w if laplace else freqs)
            val = _rational(s, zeros, poles, val)
            scale *= a0
        for zeros, poles, h0, sint in self.iir_pz:
            val = _rational(np.exp(1j * (w * sint)), zeros, poles, val)
            scale *= h0
        for numer, denom, h0, sint in self.iir:
            zinv = np.exp(-1j * (w * sint))
            h = np.polyval(numer[::-1], zinv) / np.polyval(denom[::-1], zinv)
            val = h if val is None else _imul(val, h)
            scale *= h0
        if self.delay:
            val = _imul(val, np.exp(1j * (w * self.delay)))
        fir = self.firs.evaluate(t_samp, m)
        if isinstance(fir, np.ndarray):
            val = _imul(val, fir)
        else:
            scale *= fir
        if val is None:
            val = np.full(m, complex(scale))
        else:
            val *= scale
        _convert_units(val, w, self.units, output.upper())
        return val, freqs

    def check(self, response: Response, start: int | None, end: int | None) -> None:
        """Compare with evalresp on two small grids; set ``fallback`` on any mismatch."""
        t_samp = self.chan_sint if self.chan_sint > 0 else 0.01
        for nfft, output in ((512, "VEL"), (1026, "ACC")):
            ref, _ = Response.get_evalresp_response(
                response, t_samp, nfft, output=output, start_stage=start, end_stage=end,
                hide_sensitivity_mismatch_warning=True)
            try:
                got, _ = self.evaluate(t_samp, nfft, output)
            except NotExact as exc:
                self.fallback = f"self-check: {exc}"
                return
            error = relative_error(got, ref)
            if not error <= 1e-8:
                self.fallback = f"self-check: relative error {error:.2g}"
                return


def relative_error(got: np.ndarray, ref: np.ndarray, floor: float = 1e-6) -> float:
    """Max relative complex error of ``got`` where ``|ref| > floor * max|ref|``
    (``inf`` if ``got`` is not finite where ``ref`` is, or if the shapes differ).

    Examples
    --------
    >>> relative_error(np.array([1.0, 2.0 + 1e-9j, 1e-9]), np.array([1.0, 2.0, 0.0]))
    5e-10
    """
    if got.shape != ref.shape:
        return float("inf")
    mag = np.abs(ref)
    finite = np.isfinite(ref)
    if not np.array_equal(np.isfinite(got), finite):
        return float("inf")
    if not finite.any():
        return 0.0
    top = mag[finite].max()
    mask = finite & (mag > floor * top)
    if not mask.any():
        return 0.0
    return float(np.max(np.abs(got[mask] - ref[mask]) / mag[mask]))


def _next_sint(blkt: Any) -> float:
    nxt = blkt.next_blkt
    if not nxt or nxt.contents.type != _DECIMATION:
        raise _Fallback("filter without decimation blockette")
    return float(nxt.contents.blkt_info.decimation.sample_int)


def _roots(ptr: Any, n: int) -> np.ndarray:
    if not n:
        return np.zeros(0, np.complex128)
    raw = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_double)), (2 * n,))
    return raw.view(np.complex128).copy()


def _product(s: np.ndarray, roots: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``out * prod(s - r for r in roots)`` (``out`` None: 1), in ``out`` if given."""
    if out is None:
        if not len(roots):
            return np.ones(len(s), np.complex128)
        out = s - roots[0]
        roots = roots[1:]
    tmp = np.empty(len(s), np.complex128)
    for r in roots:
        np.subtract(s, r, out=tmp)
        out *= tmp
    return out


def _rational(s: np.ndarray, zeros: np.ndarray, poles: np.ndarray,
              out: np.ndarray | None) -> np.ndarray:
    """``out * prod(s - zeros) / prod(s - poles)`` in place (``out`` None: 1); 0 where
    the denominator is 0 (as evalresp's ``conj(den)*num/|den|^2``, skipped there)."""
    num = _product(s, zeros, out)
    if len(poles):
        den = _product(s, poles)
        zero = den == 0
        if zero.any():
            num[zero] = 0.0
            den[zero] = 1.0
        num /= den
    return num


def _imul(val: np.ndarray | None, factor: np.ndarray) -> np.ndarray:
    """``val * factor`` in ``val`` (complex; None: a complex copy of ``factor``);
    ``factor`` is not modified (it may be a memoized, read-only array)."""
    if val is None:
        return factor.astype(np.complex128)
    val *= factor
    return val


def _convert_units(val: np.ndarray, w: np.ndarray, units: int, output: str) -> None:
    """evalresp's convert_to_units, in place: the response in ``output`` units.

    Integrating is a multiplication by ``(0, -1/w)``, 0 at ``w == 0``, as evalresp
    does it.
    """
    if output == "DEF":
        return
    out = {"DISP": _DIS, "VEL": _VEL, "ACC": _ACC}.get(output)
    if out is None:
        raise ValueError(f"requested output is {output!r} but must be one of 'DISP', 'VEL', "
                         "'ACC' or 'DEF'")
    if units == _DIS:
        if out == _DIS:
            return
        _integrate(val, w)
    elif units == _ACC:
        if out == _ACC:
            return
        val *= 1j * w
    if out == _DIS:
        val *= 1j * w
    elif out == _ACC:
        _integrate(val, w)


def _integrate(val: np.ndarray, w: np.ndarray) -> None:
    """``val *= (0, -1/w)``, 0 where ``w == 0``."""
    if w[0] == 0.0 and w[1] > 0.0:  # ObsPy's grid (an increasing linspace): w[0] only
        val[1:] *= 1j * (-1.0 / w[1:])
        val[0] = 0.0
        return
    zero = w == 0.0
    with np.errstate(divide="ignore"):
        inv = -1.0 / w
    inv[zero] = 0.0
    val *= 1j * inv
    val[zero] = 0.0


# ------------------------------------------------------------------ plans and stats
_LOCK = threading.Lock()
_STATS: Counter[str] = Counter()


class FastResponseStats(NamedTuple):
    """Evaluations done fast, and those handed to evalresp (by reason)."""

    fast: int
    fallback: int
    reasons: dict[str, int]


def fast_response_stats(reset: bool = False) -> FastResponseStats:
    """How many response evaluations of this process were fast, how many went to
    evalresp, and why (see :func:`s2sframe.fast_response`).

    Parameters
    ----------
    reset : bool
        Zero the counts after reading them.

    Returns
    -------
    FastResponseStats
        ``(fast, fallback, reasons)``.

    Examples
    --------
    >>> stats = fast_response_stats()
    >>> stats.fast >= 0 and stats.fallback == sum(stats.reasons.values())
    True
    """
    with _LOCK:
        reasons = {k: v for k, v in _STATS.items() if k != "fast"}
        out = FastResponseStats(_STATS["fast"], sum(reasons.values()), reasons)
        if reset:
            _STATS.clear()
    return out


def plan_of(response: Response, plans: dict, start: int | None, end: int | None,
            hide: bool) -> _Plan:
    """The (self-checked) plan of ``response`` for these stages, built once into ``plans``."""
    key = (start, end)
    plan = plans.get(key)
    if plan is None:
        plan = _Plan(response, start, end, hide)
        if plan.fallback is None:
            plan.check(response, start, end)
        plans[key] = plan
    return plan


def evalresp_response(response: Response, plans: dict, t_samp: float, nfft: int,
                      output: str = "VEL", start_stage: int | None = None,
                      end_stage: int | None = None,
                      hide_sensitivity_mismatch_warning: bool = False
                      ) -> tuple[np.ndarray, np.ndarray]:
    """``Response.get_evalresp_response`` of ``response``, fast where proven equal.

    ``plans`` is the response's own dict of plans (kept by the caller).
    """
    plan = plan_of(response, plans, start_stage, end_stage, hide_sensitivity_mismatch_warning)
    reason = plan.fallback
    if reason is None:
        try:
            result = plan.evaluate(t_samp, nfft, output)
        except NotExact as exc:
            reason = str(exc)
        else:
            with _LOCK:
                _STATS["fast"] += 1
            return result
    with _LOCK:
        _STATS[reason] += 1
    return Response.get_evalresp_response(
        response, t_samp, nfft, output=output, start_stage=start_stage, end_stage=end_stage,
        hide_sensitivity_mismatch_warning=hide_sensitivity_mismatch_warning)
