"""The user's plot functions: loaded from a module, called with their own stream copy.

stream2segment conventions: ``@gui.preprocess`` marks the pre-processing (default:
remove the instrument response of every trace), ``@gui.plot`` the extra plots.
Every function is called as ``func(segment, config)`` on a :class:`PlotSegment`:
the real segment, except that ``stream()`` returns a copy made for this call (of
the raw or pre-processed stream), so in-place changes stay inside the call.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..compat.config import load_module
from . import gui

__all__ = ["PlotFunction", "PlotSegment", "UserFunctions", "default_preprocess"]


def default_preprocess(segment: Any, config: dict) -> Any:
    """Remove the instrument response of every trace (output velocity), as stream2segment does."""
    stream = segment.stream()
    inventory = segment.inventory()
    for trace in stream:
        trace.remove_response(inventory)
    return stream


class PlotSegment:
    """A segment as seen by one plot function: ``stream()`` is a private copy.

    Every other attribute (``event``, ``station``, ``inventory()``, ``id``...) is
    the real segment's.
    """

    __slots__ = ("_segment", "_base", "_copy")

    def __init__(self, segment: Any, base: Any) -> None:
        self._segment = segment
        self._base = base  # an ObsPy Stream, or the exception getting it raised
        self._copy: Any = None

    def stream(self, reload: bool = False) -> Any:
        """A copy of the (raw or pre-processed) stream, made once per call of the function."""
        if isinstance(self._base, BaseException):
            raise self._base
        if reload or self._copy is None:
            self._copy = self._base.copy()
        return self._copy

    def __getattr__(self, name: str) -> Any:
        return getattr(self._segment, name)

    def __repr__(self) -> str:
        return repr(self._segment)


@dataclass(frozen=True)
class PlotFunction:
    """One ``@gui.plot`` function with its position and axes."""

    name: str
    func: Callable[..., Any]
    position: str = "b"
    xaxis: dict = field(default_factory=dict)
    yaxis: dict = field(default_factory=dict)
    doc: str = ""

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "position": self.position, "xaxis": self.xaxis,
                "yaxis": self.yaxis, "doc": self.doc}


def _doc(func: Any) -> str:
    text = inspect.getdoc(func) or ""
    return text.strip().split("\n\n", 1)[0].replace("\n", " ")


@dataclass
class UserFunctions:
    """The pre-processing function and the plots of a module (in definition order).

    Examples
    --------
    >>> funcs = UserFunctions.from_module(None)
    >>> funcs.preprocess is default_preprocess, funcs.plots
    (True, {})
    """

    preprocess: Callable[..., Any] = default_preprocess
    plots: dict[str, PlotFunction] = field(default_factory=dict)
    preprocess_doc: str = "Remove the instrument response (default pre-processing)"

    @classmethod
    def from_module(cls, module: ModuleType | None) -> UserFunctions:
        out = cls()
        if module is None:
            return out
        for name, func in vars(module).items():
            if not callable(func) or name.startswith("__"):
                continue
            kind, position, xaxis, yaxis = gui.get_func_attrs(func)
            if kind == "gui.preprocess":
                out.preprocess = func
                out.preprocess_doc = _doc(func) or name
            elif kind in ("gui.plot", "gui.customplot", "gui.sideplot"):
                name = getattr(func, "__name__", name)
                out.plots[name] = PlotFunction(name, func, position if position in ("b", "r")
                                               else "b", dict(xaxis or {}), dict(yaxis or {}),
                                               _doc(func))
        return out

    @classmethod
    def load(cls, pyfile: str | os.PathLike | None) -> UserFunctions:
        """Load the functions of the Python file ``pyfile`` (None: no plots, default pre-processing)."""
        return cls.from_module(load_module(pyfile) if pyfile is not None else None)
