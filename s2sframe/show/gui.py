"""Decorators that declare plots for ``s2s show``: ``@gui.preprocess`` and ``@gui.plot``.

The same decorators as stream2segment's ``stream2segment.process.gui`` (and the
same function attributes, so modules decorated with either work)::

    from s2sframe.show import gui      # or: from s2sframe.process import gui

    @gui.preprocess
    def bandpass_remresp(segment, config):   # the "Pre-processed" view
        trace = segment.stream()[0]
        trace.remove_response(segment.inventory())
        return trace

    @gui.plot('r', xaxis={'type': 'log'}, yaxis={'type': 'log'})
    def spectra(segment, config):           # a plot on the right
        ...

Decorated functions take ``(segment, config)`` and return an ObsPy Trace or
Stream, an ``(x0, dx, y)`` tuple, a dict with ``'y'`` (and ``'x0'``, ``'dx'``,
``'x'``, ``'name'``), or a list of those. Each call gets its own copy of
``segment.stream()`` (the pre-processed one when that view is on), so in-place
changes never leak into other plots.

Examples
--------
>>> from s2sframe.show import gui
>>> @gui.plot('r', xaxis={'type': 'log'})
... def spectrum(segment, config):
...     return (0, 0.5, [1, 2, 3])
>>> gui.get_func_attrs(spectrum)
('gui.plot', 'r', {'type': 'log'}, {})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["customplot", "get_func_attrs", "plot", "preprocess", "sideplot"]

_F = Callable[..., Any]


def preprocess(func: _F) -> _F:
    """Declare ``func(segment, config)`` as the pre-processing of the "Pre-processed" view.

    It returns an ObsPy Trace or Stream; every plot is then computed on it.

    Examples
    --------
    >>> from s2sframe.show import gui
    >>> @gui.preprocess
    ... def pre(segment, config):
    ...     return segment.stream()
    >>> gui.get_func_attrs(pre)[0]
    'gui.preprocess'
    """
    func._s2s_att = "gui.preprocess"  # type: ignore[attr-defined]
    return func


def plot(*args: Any, **kwargs: Any) -> Any:
    """Declare a plot: ``@gui.plot``, ``@gui.plot('r')``, ``@gui.plot('b', xaxis=..., yaxis=...)``.

    Other Parameters
    ----------------
    position : {'b', 'r'}
        Below the waveform (default) or on its right.
    xaxis, yaxis : dict, optional
        Axis properties; ``{'type': 'log'}`` gives a logarithmic axis.

    Examples
    --------
    >>> from s2sframe.show import gui
    >>> @gui.plot
    ... def cumulative(segment, config):
    ...     return segment.stream()
    >>> gui.get_func_attrs(cumulative)
    ('gui.plot', 'b', {}, {})
    """
    position = kwargs.get("position", "b")
    xaxis = kwargs.get("xaxis")
    yaxis = kwargs.get("yaxis")

    def decorator(func: _F) -> _F:
        func._s2s_att = "gui.plot"  # type: ignore[attr-defined]
        func._s2s_position = position  # type: ignore[attr-defined]
        func._s2s_xaxis = dict(xaxis or {})  # type: ignore[attr-defined]
        func._s2s_yaxis = dict(yaxis or {})  # type: ignore[attr-defined]
        return func

    if len(args) == 1 and callable(args[0]) and not kwargs:
        return decorator(args[0])
    if len(args) > 3:
        raise TypeError(f"@gui.plot takes 0 to 3 positional arguments, {len(args)} given")
    if len(args) >= 1:
        position = args[0]
    if len(args) >= 2:
        xaxis = args[1]
    if len(args) == 3:
        yaxis = args[2]
    if position not in ("b", "r"):
        raise ValueError(f"@gui.plot position must be 'b' (bottom) or 'r' (right), not {position!r}")
    return decorator


def customplot(func: _F) -> _F:
    """Deprecated stream2segment alias of ``@gui.plot`` (bottom)."""
    return plot("b")(func)


def sideplot(func: _F) -> _F:
    """Deprecated stream2segment alias of ``@gui.plot('r', log x and y axes)``."""
    return plot("r", xaxis={"type": "log"}, yaxis={"type": "log"})(func)


def get_func_attrs(func: Any) -> tuple[str, str, dict, dict]:
    """``(kind, position, xaxis, yaxis)`` of a decorated function (kind '' if not decorated)."""
    return (
        getattr(func, "_s2s_att", ""),
        getattr(func, "_s2s_position", "b"),
        getattr(func, "_s2s_xaxis", {}),
        getattr(func, "_s2s_yaxis", {}),
    )
