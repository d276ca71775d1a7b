"""What the workers compute per segment: the functions an export gives to the map engine.

- :class:`Samples`: the segment's samples on the export's grid (response removed,
  resampled, windowed around the P arrival), float32, with the time of the first
  sample and which samples are real (not gap or padding);
- :class:`RawTraces`: the traces of ``segment.stream()`` as they are (ASDF).

Both return a dict of fixed column types (:data:`SAMPLE_DTYPES`,
:data:`RAW_DTYPES`): samples travel as bytes, never as Python lists.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from ..exceptions import SkipSegment
from .options import TraceOptions

#: Columns of :class:`Samples` results.
SAMPLE_DTYPES: dict[str, pl.DataType] = {
    "__x_samples": pl.Binary(), "__x_start_ns": pl.Int64(), "__x_rate": pl.Float64(),
    "__x_npts": pl.Int64(), "__x_covered": pl.Binary(),
}
#: Columns of :class:`RawTraces` results: one list item per trace of the stream.
RAW_DTYPES: dict[str, pl.DataType] = {
    "__x_trace_ids": pl.List(pl.String()), "__x_starts_ns": pl.List(pl.Int64()),
    "__x_rates": pl.List(pl.Float64()), "__x_dtypes": pl.List(pl.String()),
    "__x_data": pl.List(pl.Binary()),
}


def ns(value: Any) -> int:
    """Nanoseconds since 1970 of a datetime (naive UTC) or an ObsPy UTCDateTime.

    Examples
    --------
    >>> from datetime import datetime
    >>> ns(datetime(1970, 1, 1, 0, 0, 1, 500))
    1000500000
    """
    from obspy import UTCDateTime

    return int(UTCDateTime(value).ns)


class Samples:
    """``segment -> its samples`` on the grid of the export (picklable: sent to workers).

    The grid has the segment's (resampled) rate and is aligned on its first
    trace's samples: with a window, it starts at the sample nearest to
    ``arrival_time - before`` and has ``round((before + after) * rate)`` samples, and
    one more on each side (the group's grid is that of its first component: the
    others may be shifted by one sample); without, it spans the segment. Every trace
    of the stream (several when it has gaps) is placed on it at its nearest sample;
    what no trace covers is zero (``__x_covered``: the bits of the covered samples).
    """

    def __init__(self, options: TraceOptions) -> None:
        self.options = options
        self.__name__ = "export"

    def __repr__(self) -> str:
        return f"Samples({self.options})"

    def __call__(self, segment: Any) -> dict[str, Any]:
        opts = self.options
        stream = segment.stream()
        if opts.remove_response is not None:
            inventory = segment.inventory()
            for trace in stream:
                trace.remove_response(inventory, output=opts.remove_response)
        if opts.sampling_rate is not None:
            for trace in stream:
                if trace.stats.sampling_rate != opts.sampling_rate:
                    trace.resample(opts.sampling_rate)
        rates = sorted({float(tr.stats.sampling_rate) for tr in stream})
        if len(rates) != 1:
            raise ValueError(f"the traces of the segment have different sampling rates "
                             f"{rates}: pass sampling_rate= to resample them")
        rate = rates[0]
        step = 1e9 / rate
        starts = [int(tr.stats.starttime.ns) for tr in stream]
        first = min(starts)
        if opts.window is not None:
            # one more sample on each side, for the group to align its components on one
            # grid; in integer nanoseconds (a float of ~1.5e18 ns is 256 ns coarse)
            delta = ns(segment.arrival_time) - first
            t0 = first + round((round((delta - opts.window[0] * 1e9) / step) - 1) * step)
            npts = opts.samples(rate) + 2
        else:
            t0 = first
            npts = max(round((s - first) / step) + len(tr.data)
                       for s, tr in zip(starts, stream, strict=True))
        out = np.zeros(npts, dtype=np.float32)
        covered = np.zeros(npts, dtype=bool)
        for start, trace in zip(starts, stream, strict=True):
            offset = round((start - t0) / step)
            a, b = max(0, offset), min(npts, offset + len(trace.data))
            if b > a:
                out[a:b] = trace.data[a - offset:b - offset]
                covered[a:b] = True
        if not covered.any() and opts.window is not None:
            before, after = opts.window
            raise SkipSegment(f"no data in the window ({before:g} s before to {after:g} s "
                              "after the P arrival)")
        return {"__x_samples": out.tobytes(), "__x_start_ns": t0, "__x_rate": rate,
                "__x_npts": npts, "__x_covered": np.packbits(covered).tobytes()}


class RawTraces:
    """``segment -> the traces of segment.stream()`` (ids, starts, rates, data as bytes)."""

    def __init__(self) -> None:
        self.__name__ = "export"

    def __call__(self, segment: Any) -> dict[str, Any]:
        stream = segment.stream()
        return {
            "__x_trace_ids": [tr.id for tr in stream],
            "__x_starts_ns": [int(tr.stats.starttime.ns) for tr in stream],
            "__x_rates": [float(tr.stats.sampling_rate) for tr in stream],
            "__x_dtypes": [tr.data.dtype.str for tr in stream],
            "__x_data": [np.ascontiguousarray(tr.data).tobytes() for tr in stream],
        }


def traces_of(row: dict[str, Any]) -> list[Any]:
    """ObsPy Traces from a :class:`RawTraces` result row (in the parent)."""
    from obspy import Trace, UTCDateTime

    out = []
    for tid, start, rate, dtype, data in zip(
            row["__x_trace_ids"], row["__x_starts_ns"], row["__x_rates"], row["__x_dtypes"],
            row["__x_data"], strict=True):
        net, sta, loc, cha = tid.split(".")
        header = {"network": net, "station": sta, "location": loc, "channel": cha,
                  "starttime": UTCDateTime(ns=start), "sampling_rate": rate}
        out.append(Trace(np.frombuffer(data, dtype=np.dtype(dtype)).copy(), header=header))
    return out
