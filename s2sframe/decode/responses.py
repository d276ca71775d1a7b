"""Channel responses evaluated fast and memoized.

* :class:`CachedResponse`: an ObsPy Response whose ``get_evalresp_response`` (what
  ``Trace.remove_response`` calls) is evaluated by :mod:`.fastresp` (equal to
  evalresp's to rounding, 6-40x faster) and memoized in a process-wide LRU bounded
  in bytes.
* :func:`enable_response_cache`: turn every channel response of an inventory into a
  :class:`CachedResponse`; :func:`fast_response`: the same for one response or an
  inventory, the public entry point.
* :func:`response_cache_info`, :func:`clear_response_cache`,
  :func:`set_response_cache_size`: statistics and size controls of that memo.
"""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import numpy as np
from obspy import Inventory
from obspy.core.inventory.response import Response

from . import fastresp, firczt
from .bytememo import ByteMemo

__all__ = [
    "CachedResponse",
    "ResponseCacheInfo",
    "clear_response_cache",
    "enable_response_cache",
    "fast_response",
    "response_cache_info",
    "set_response_cache_size",
]


def enable_response_cache(inventory: Inventory) -> Inventory:
    """Turn every channel response of ``inventory`` into a :class:`CachedResponse`.

    :func:`read_inventory` does it for you; use this on inventories obtained
    otherwise (e.g. ``obspy.read_inventory``).

    Parameters
    ----------
    inventory : obspy.Inventory
        Modified in place: responses already cached are left alone.

    Returns
    -------
    obspy.Inventory
        ``inventory`` itself, for chaining.
    """
    for network in inventory.networks:
        for station in network.stations:
            for channel in station.channels:
                response = channel.response
                if response is not None and not isinstance(response, CachedResponse):
                    channel.response = CachedResponse.from_response(response)
    return inventory


def fast_response(obj: Inventory | Response) -> Inventory | Response:
    """Make ObsPy's response evaluation (``Trace.remove_response``, ``PPSD``...) fast.

    Every inventory handed out by ``segment.inventory()`` is already fast; use this
    on responses read otherwise (``obspy.read_inventory``, FDSN clients...).

    The response is evaluated on ObsPy's own frequency grid from the stage chain that
    evalresp builds and normalises (once per response): poles and zeros directly,
    FIR stages by chirp-z transforms, consecutive FIR stages merged. Results equal
    evalresp's to rounding: relative complex error <= 1e-8 wherever
    ``|H| > 1e-6 * max|H|`` (``remove_response`` outputs within 1e-9 of their
    maximum). What cannot be proven equal (response-list stages, a failed one-time
    self-check...) is evaluated by evalresp and counted in
    :func:`s2sframe.fast_response_stats`. Evaluations are also memoized
    (:func:`response_cache_info`).

    Parameters
    ----------
    obj : obspy.Inventory or obspy.core.inventory.response.Response
        An inventory (modified in place: its channel responses become fast) or one
        response (left alone: a fast copy sharing its stages is returned).

    Returns
    -------
    obspy.Inventory or CachedResponse
        The inventory itself, or the fast response.

    Examples
    --------
    >>> import obspy
    >>> from s2sframe import fast_response
    >>> inv = fast_response(obspy.read_inventory())  # ObsPy's example inventory
    >>> tr = obspy.read()[0]  # BW.RJOB..EHZ
    >>> peak = float(abs(tr.remove_response(inv, output="ACC").data).max())
    >>> 1e-6 < peak < 1e-3
    True
    """
    if isinstance(obj, Inventory):
        return enable_response_cache(obj)
    if isinstance(obj, CachedResponse):
        return obj
    if isinstance(obj, Response):
        return CachedResponse.from_response(obj)
    raise TypeError(f"expected an obspy Inventory or Response, not {type(obj).__name__}")


_DEFAULT_MEMO_BYTES = 64 * 1024 * 1024
_MEMO = ByteMemo(_DEFAULT_MEMO_BYTES)
_TOKENS = itertools.count()
_GENERATION = 0  # bumped by clear_response_cache: stage chains are rebuilt


class ResponseCacheInfo(NamedTuple):
    """Statistics of the process-wide response cache (see :func:`response_cache_info`)."""

    hits: int
    misses: int
    entries: int
    nbytes: int
    max_bytes: int


def response_cache_info() -> ResponseCacheInfo:
    """Statistics of the process-wide cache of evaluated responses.

    Returns
    -------
    ResponseCacheInfo
        ``(hits, misses, entries, nbytes, max_bytes)`` (since the last clear).
    """
    return ResponseCacheInfo(_MEMO.hits, _MEMO.misses, len(_MEMO), _MEMO.nbytes, _MEMO.max_bytes)


def clear_response_cache() -> None:
    """Drop all memoized response evaluations and stage chains (and reset the statistics).

    Needed only if a response object is modified in place after being evaluated
    (e.g. with ``Response.recalculate_overall_sensitivity``).
    """
    global _GENERATION
    _MEMO.clear()
    firczt.FIR_MEMO.clear()
    _GENERATION += 1


def set_response_cache_size(max_bytes: int) -> None:
    """Bound the memory of memoized responses in this process (default 64 MiB).

    Parameters
    ----------
    max_bytes : int
        Maximum total size of the cached arrays; least recently used evaluations
        are dropped beyond it. A 4-minute 100 Hz segment's response (complex
        spectrum plus frequencies) takes about 0.6 MB, a 20 Hz one about 0.12 MB.
        A quarter of it more holds the products of FIR stages, which responses with
        equal FIR stages (a datalogger model's, at every channel and station that has
        it) share: a 4-minute 100 Hz one takes about 0.2 MB. 0 disables both.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    _MEMO.resize(int(max_bytes))
    firczt.FIR_MEMO.resize(int(max_bytes) // 4)


class CachedResponse(Response):
    """An ObsPy :class:`~obspy.core.inventory.response.Response` whose
    :meth:`get_evalresp_response`, the method ``Trace.remove_response`` (and e.g.
    PPSD) calls with the trace's sampling interval and FFT length, is fast and
    memoized.

    Evaluations are done by :mod:`s2sframe.decode.fastresp` (equal to evalresp's to
    rounding, see :func:`fast_response`) and kept in a process-wide LRU bounded in
    bytes (see :func:`set_response_cache_size`), keyed by this object and all the
    arguments; callers always get fresh copies (``remove_response`` modifies the
    array in place). The memo and the stage chain are not part of the object's
    state: they are dropped on pickling/copying (the copy gets its own) and ignored
    by ``==``. Warnings emitted by evalresp (e.g. sensitivity mismatch) are emitted
    once per response, when its stage chain is built.
    """

    __slots__ = ("_memo_token", "_plans")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo_token = next(_TOKENS)
        self._plans: tuple[int, dict] = (_GENERATION, {})

    @classmethod
    def from_response(cls, response: Response) -> CachedResponse:
        """A CachedResponse sharing the attributes (stages, sensitivity...) of ``response``."""
        new = cls.__new__(cls)
        new.__dict__.update(response.__dict__)
        new._fresh()
        return new

    def _fresh(self) -> None:
        """A memo key and stage chains of its own (new objects, copies)."""
        self._memo_token = next(_TOKENS)
        self._plans = (_GENERATION, {})

    def _evaluate(self, t_samp: float, nfft: int, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        generation, plans = self._plans
        if generation != _GENERATION:
            self._plans = (_GENERATION, plans := {})
        return fastresp.evalresp_response(self, plans, t_samp, nfft, **kwargs)

    def get_evalresp_response(
        self,
        t_samp: float,
        nfft: int,
        output: str = "VEL",
        start_stage: int | None = None,
        end_stage: int | None = None,
        hide_sensitivity_mismatch_warning: bool = False,
        **kwargs: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fast, memoized :meth:`obspy.core.inventory.response.Response.get_evalresp_response`.

        Returns
        -------
        tuple of numpy.ndarray
            ``(response, frequencies)``: new arrays, equal to those of ObsPy's method
            to rounding (see :func:`fast_response`).
        """
        call_kwargs = dict(
            output=output,
            start_stage=start_stage,
            end_stage=end_stage,
            hide_sensitivity_mismatch_warning=hide_sensitivity_mismatch_warning,
            **kwargs,
        )
        try:
            key = (self._memo_token, t_samp, nfft, *sorted(call_kwargs.items()))
            hash(key)
        except TypeError:  # unhashable argument: just compute
            key = None
        if kwargs:  # not an argument of ObsPy's method: let it raise
            return super().get_evalresp_response(t_samp, nfft, **call_kwargs)
        if key is None or _MEMO.max_bytes <= 0:
            return self._evaluate(t_samp, nfft, **call_kwargs)
        cached = _MEMO.get(key)
        if cached is None:
            response, freqs = self._evaluate(t_samp, nfft, **call_kwargs)
            cached = (response.copy(), freqs.copy())
            for array in cached:
                array.flags.writeable = False
            _MEMO.put(key, cached)
            return response, freqs
        return cached[0].copy(), cached[1].copy()

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._fresh()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Response) and self.__dict__ == other.__dict__

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # like Response (defines __eq__)
