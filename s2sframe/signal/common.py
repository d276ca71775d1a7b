"""Shared pieces of :mod:`s2sframe.signal`: the ``TimeLike`` alias and array -> Trace."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from obspy import Trace, UTCDateTime

#: Anything :class:`obspy.UTCDateTime` accepts: UTCDateTime, (naive UTC) datetime, ISO
#: string or POSIX timestamp.
TimeLike = UTCDateTime | datetime | str | float


def _as_float_trace(data: Trace | npt.ArrayLike, delta: float | None, copy: bool) -> Trace:
    """Return a Trace of float64 data from a Trace or from an array with period ``delta``."""
    if isinstance(data, Trace):
        if delta is not None and not math.isclose(delta, data.stats.delta):
            raise ValueError(f"delta={delta} differs from the trace's ({data.stats.delta})")
        trace = data.copy() if copy else data
        if trace.data.dtype != np.float64:
            trace.data = trace.data.astype(np.float64)
        return trace
    if delta is None or not delta > 0:
        raise ValueError("a positive 'delta' (sampling period, s) is needed with array input")
    return Trace(np.array(data, dtype=np.float64, ndmin=1), header={"delta": float(delta)})


def processing_info(function: str, arguments: dict[str, Any]) -> str:
    """``<function>(<name>=<value>::...)``: one entry of a Trace's ``stats.processing``.

    How ObsPy's Trace methods and stream2segment's trace functions record themselves
    (arguments in the order given, strings quoted).

    Examples
    --------
    >>> processing_info("pkg.f", {"normalize": True, "kind": "a"})
    "pkg.f(normalize=True::kind='a')"
    """
    args = "::".join(f"{k}='{v}'" if isinstance(v, str) else f"{k}={v!r}"
                     for k, v in arguments.items())
    return f"{function}({args})"


def _record_processing(trace: Trace, function: str, **arguments: Any) -> None:
    """Append ``s2sframe.signal.<function>(<name>=<value>::...)`` (arguments sorted) to
    ``trace.stats.processing``, so a trace's history lists every step."""
    trace.stats.setdefault("processing", []).append(
        processing_info(f"s2sframe.signal.{function}", dict(sorted(arguments.items()))))
