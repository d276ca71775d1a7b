"""What plot functions return -> plot data for the page (JSON), decimated for display.

Accepted results (stream2segment's conventions): an ObsPy Trace or Stream; a
tuple ``(x0, dx, y)`` (``x0`` a number, or a time with ``dx`` in seconds); a dict
with ``'y'`` and optionally ``'x0'``, ``'dx'`` (milliseconds when ``x0`` is a
time, as in stream2segment), ``'x'`` and ``'name'`` (a Plotly trace: its style
properties listed in :data:`STYLE` are passed on to the page); a dict mapping
names to any of these; or a list of any of these. Times are ObsPy UTCDateTimes,
datetimes, NumPy datetime64 or ISO strings.

A :class:`Plot` keeps the full-resolution series in memory; :meth:`Plot.view`
gives the page at most two points per pixel (the minimum and maximum sample of
each pixel bucket, in time order: the drawn line looks the same) of any x range.
Traces of the same id become one series with a break (null) at each gap;
gaps and overlaps are listed for the page to shade them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..exceptions import PlotResultError  # defined there; imported from here too

__all__ = ["STYLE", "Plot", "PlotResultError", "decimate", "style_of", "to_plot"]


#: Plotly trace properties drawn by the page (``line.*`` and ``marker.*`` as nested dicts,
#: as in Plotly); any other key of a plot dict is ignored. Plotly's defaults otherwise.
STYLE = ("line.color", "line.width", "line.dash", "marker.color", "marker.size", "mode",
         "fill", "fillcolor", "opacity", "showlegend", "legendgroup", "visible", "type")


def style_of(trace: Mapping[str, Any]) -> dict[str, Any]:
    """The :data:`STYLE` properties of a Plotly-style dict, flat and JSON-ready.

    Examples
    --------
    >>> style_of({"y": [1], "line": {"color": "red", "dash": "dot"}, "mode": "markers",
    ...           "showlegend": False, "hoverinfo": "skip"})
    {'color': 'red', 'dash': 'dot', 'mode': 'markers', 'showlegend': False}
    """
    out: dict[str, Any] = {}
    for key in STYLE:
        group, _, name = key.rpartition(".")
        source = trace.get(group) if group else trace
        value = source.get(name) if isinstance(source, Mapping) else None
        if value is None or isinstance(value, list | tuple | np.ndarray):
            continue  # (per-point colours and sizes: not drawn)
        if isinstance(value, np.generic):
            value = value.item()
        out[f"marker_{name}" if group == "marker" else name] = value
    return out


@dataclass
class Series:
    name: str
    x: np.ndarray  # float64, seconds since 1970 on time axes
    y: np.ndarray  # float64, NaN = break in the line
    style: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plot:
    """Series of one plot at full resolution, plus gaps and overlaps (time axes)."""

    series: list[Series] = field(default_factory=list)
    time: bool = False
    gaps: list[tuple[float, float]] = field(default_factory=list)
    overlaps: list[tuple[float, float]] = field(default_factory=list)

    def view(self, width: int = 1600, x0: float | None = None,
             x1: float | None = None) -> dict[str, Any]:
        """JSON-ready dict of the series between ``x0`` and ``x1``, at most 2 points per pixel."""
        width = max(50, min(int(width), 8000))
        out = []
        decimated = False
        for s in self.series:
            x, y = s.x, s.y
            if (x0 is not None or x1 is not None) and x.size:
                lo = -math.inf if x0 is None else x0
                hi = math.inf if x1 is None else x1
                if np.all(x[1:] >= x[:-1]):
                    i0 = max(int(np.searchsorted(x, lo, "left")) - 1, 0)
                    i1 = int(np.searchsorted(x, hi, "right")) + 1
                    x, y = x[i0:i1], y[i0:i1]
                else:
                    keep = (x >= lo) & (x <= hi)
                    x, y = x[keep], y[keep]
            n = x.size
            x, y = decimate(x, y, width)
            decimated |= x.size < n
            out.append({"name": s.name, "x": _floats(x), "y": _floats(y),
                        **({"style": s.style} if s.style else {})})
        return {"series": out, "time": self.time, "decimated": decimated,
                "gaps": self.gaps, "overlaps": self.overlaps}


def _floats(a: np.ndarray) -> list:
    values = a.tolist()
    if a.size and not np.isfinite(a).all():
        return [v if math.isfinite(v) else None for v in values]
    return values


def decimate(x: np.ndarray, y: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the min and max sample of each of ``width`` buckets, in time order.

    Arrays of at most ``2 * width`` points are returned unchanged. A bucket
    holding a NaN (a break in the line) keeps it.

    Examples
    --------
    >>> x = np.arange(10.0); y = np.array([0, 5, 1, 2, -3, 1, 0, 0, 9, 1.0])
    >>> xs, ys = decimate(x, y, 2)
    >>> xs.tolist(), ys.tolist()
    ([1.0, 4.0, 6.0, 8.0], [5.0, -3.0, 0.0, 9.0])
    """
    n = y.size
    if n <= 2 * width:
        return x, y
    k = -(-n // width)  # bucket size
    nb = -(-n // k)
    pad = nb * k - n
    yp = np.concatenate([y, np.repeat(y[-1:], pad)]) if pad else y
    blocks = yp.reshape(nb, k)
    base = np.arange(nb) * k
    imin = base + np.argmin(blocks, axis=1)
    imax = base + np.argmax(blocks, axis=1)
    idx = np.sort(np.stack([imin, imax], axis=1), axis=1).ravel()
    idx = np.minimum(idx, n - 1)
    keep = np.ones(idx.size, dtype=bool)
    keep[1:] = idx[1:] != idx[:-1]
    idx = idx[keep]
    return x[idx], y[idx]


def _epoch(value: Any) -> float | None:
    """Seconds since 1970 of a time (UTCDateTime, datetime, numpy datetime64), else None."""
    if hasattr(value, "timestamp") and hasattr(value, "julday"):  # obspy UTCDateTime
        return float(value.timestamp)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.timestamp()
    if isinstance(value, np.datetime64):
        return float(value.astype("datetime64[ns]").astype(np.int64)) / 1e9
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-":  # ISO (stream2segment)
        try:
            return _epoch(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


def _is_trace(obj: Any) -> bool:
    return hasattr(obj, "stats") and hasattr(obj, "data")


def _is_stream(obj: Any) -> bool:
    return hasattr(obj, "traces") and hasattr(obj, "select")


def _stream_plot(traces: Sequence[Any], plot: Plot, name: str | None = None) -> None:
    groups: dict[str, list[Any]] = {}
    for tr in traces:
        groups.setdefault(tr.get_id(), []).append(tr)
    for tid, trs in groups.items():
        trs = sorted(trs, key=lambda t: t.stats.starttime.timestamp)
        xs, ys = [], []
        prev_end = None
        for tr in trs:
            start, delta = float(tr.stats.starttime.timestamp), float(tr.stats.delta)
            npts = len(tr.data)
            if prev_end is not None:
                if start > prev_end + 1.5 * delta:
                    plot.gaps.append((prev_end, start))
                elif start < prev_end + 0.5 * delta:
                    plot.overlaps.append((start, min(prev_end, start + npts * delta)))
                xs.append(np.array([(prev_end + start) / 2]))
                ys.append(np.array([np.nan]))
            xs.append(start + np.arange(npts) * delta)
            ys.append(np.asarray(tr.data, dtype=np.float64))
            prev_end = start + (npts - 1) * delta
        x = np.concatenate(xs) if xs else np.empty(0)
        y = np.concatenate(ys) if ys else np.empty(0)
        plot.series.append(Series(name or tid, x, y))
    plot.time = True


def _regular(x0: Any, dx: Any, y: Any, name: str, plot: Plot, dx_ms: bool,
             style: dict[str, Any] | None = None) -> None:
    yarr = np.asarray(y, dtype=np.float64).ravel()
    t0 = _epoch(x0)
    if t0 is not None:
        step = float(dx) / (1000.0 if dx_ms else 1.0)
        plot.time = True
        x = t0 + np.arange(yarr.size) * step
    else:
        x = float(x0) + np.arange(yarr.size) * float(dx)
    plot.series.append(Series(name, x, yarr, style or {}))


def _add(result: Any, plot: Plot, name: str) -> None:
    if _is_trace(result):
        _stream_plot([result], plot)
    elif _is_stream(result):
        _stream_plot(list(result), plot)
    elif isinstance(result, Mapping):
        if "y" in result:
            label = str(result.get("name", name))
            if "x" in result:
                xs = [_epoch(v) for v in result["x"]] if len(result["x"]) else []
                if xs and all(v is not None for v in xs):
                    plot.time = True
                    x = np.asarray(xs, dtype=np.float64)
                else:
                    x = np.asarray(result["x"], dtype=np.float64)
                y = np.asarray(result["y"], dtype=np.float64).ravel()
                if x.size != y.size:
                    raise PlotResultError(f"'x' and 'y' of {label!r} differ in length "
                                          f"({x.size} and {y.size})")
                plot.series.append(Series(label, x, y, style_of(result)))
            else:
                _regular(result.get("x0", 0), result.get("dx", 1), result["y"], label, plot,
                         dx_ms=True, style=style_of(result))
        else:
            for key, value in result.items():
                _add(value, plot, str(key))
    elif isinstance(result, tuple) and len(result) == 3 and not _is_trace(result[0]) \
            and not isinstance(result[0], Mapping | tuple | list) \
            and np.ndim(result[2]) == 1:
        _regular(result[0], result[1], result[2], name, plot, dx_ms=False)
    elif isinstance(result, list | tuple):
        for i, item in enumerate(result):
            _add(item, plot, f"{name}[{i}]" if len(result) > 1 else name)
    else:
        raise PlotResultError(
            f"a plot function must return an ObsPy Trace or Stream, an (x0, dx, y) tuple, "
            f"a dict with 'y', or a list of those; not {type(result).__name__}"
        )


def to_plot(result: Any, name: str = "") -> Plot:
    """Convert a plot function's result to a :class:`Plot`.

    Examples
    --------
    >>> p = to_plot((0, 0.5, [1.0, 2.0, 4.0]), "spectrum")
    >>> p.time, p.series[0].x.tolist(), p.view()["series"][0]["y"]
    (False, [0.0, 0.5, 1.0], [1.0, 2.0, 4.0])
    >>> try:
    ...     to_plot(42)
    ... except PlotResultError as exc:
    ...     print(str(exc)[:47])
    a plot function must return an ObsPy Trace or S
    """
    plot = Plot()
    _add(result, plot, name or "y")
    return plot
