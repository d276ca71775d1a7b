"""The ``.s2s`` namespace of Polars frames: each method is a public function of the package.

Importing s2sframe registers it::

    df.s2s.map_segments(func)      # DataFrame: results as new columns
    lf.s2s.map_segments(func)      # LazyFrame: collects first
    df.s2s.segments()              # lazy iteration, blobs fetched in batches
    df.s2s.segment(0), df.s2s.segment(id=2)
    df.s2s.to_seisbench(path), df.s2s.to_asdf(path), df.s2s.waveforms()
    df.s2s.show()                  # the rows in the browser viewer

Every method is declared once, as the function it calls (:class:`FrameMethod`):
``df.s2s.name(*args, **kwargs)`` is ``function(df, *args, **kwargs)``, with the
function's signature (without the frame) and docstring, for ``help()``, IDEs and
type checkers alike. The namespace gathers functions of several layers (engine,
export, show), so it sits above them, next to the package's facade.

For type checkers and IDEs, which cannot see registered namespaces, use
:func:`s2s`: ``s2sframe.s2s(df).map_segments(func)`` is the same call, typed.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import polars as pl

from .engine import run as engine_run
from .engine import segment as engine_segment
from .export.arrays import waveforms
from .export.asdf import to_asdf
from .export.seisbench import to_seisbench
from .show.frames import show_frame

__all__ = ["FrameMethod", "S2SLazyNamespace", "S2SNamespace", "frame_method", "s2s"]

P = ParamSpec("P")
R = TypeVar("R")
C = TypeVar("C", bound=Callable[..., Any])


def _check(columns: Sequence[str], kind: str) -> None:
    if "id" not in columns:
        shown = ", ".join(repr(c) for c in list(columns)[:8])
        more = ", ..." if len(columns) > 8 else ""
        # not AttributeError: Python would swallow it and report "no attribute 's2s'"
        raise ValueError(
            f"the .s2s namespace needs a {kind} of segments with an 'id' column (the segment "
            f"id, as in s2sframe.scan() frames); this one has [{shown}{more}]"
        )


def _like(func: Callable[..., Any], wrapper: C, signature: inspect.Signature) -> C:
    """``wrapper`` named and documented as ``func``, with ``signature`` (not func's)."""
    functools.update_wrapper(wrapper, func, updated=())
    del wrapper.__wrapped__  # type: ignore[attr-defined]  # inspect would follow it to func's
    wrapper.__signature__ = signature  # type: ignore[attr-defined]
    return wrapper


class FrameMethod(Generic[P, R]):
    """A namespace method made from a function whose first parameter is the frame.

    On an instance (``df.s2s.name``; its ``_frame`` is the frame) it is ``func`` with
    the frame bound: same signature without the frame, same docstring. On the class it
    is a function of ``self`` and the same parameters (for ``help()`` and documentation
    tools).

    Parameters
    ----------
    func : callable
        ``func(frame, *args, **kwargs)``.
    collect : bool
        Collect a LazyFrame before the call (for functions that take DataFrames only).

    Examples
    --------
    >>> import inspect, polars as pl
    >>> def count(df: pl.DataFrame, *, times: int = 1) -> int:
    ...     '''Rows times ``times``.'''
    ...     return df.height * times
    >>> class Namespace:
    ...     count = FrameMethod(count)
    ...     def __init__(self, df):
    ...         self._frame = df
    >>> ns = Namespace(pl.DataFrame({"id": [1, 2]}))
    >>> ns.count(times=3), list(inspect.signature(ns.count).parameters), ns.count.__doc__
    (6, ['times'], 'Rows times ``times``.')
    >>> list(inspect.signature(Namespace.count).parameters), Namespace.count(ns, times=2)
    (['self', 'times'], 4)
    """

    def __init__(self, func: Callable[Concatenate[Any, P], R], *, collect: bool = False) -> None:
        self.func = func
        self.collect = collect
        sig = inspect.signature(func)
        params = list(sig.parameters.values())
        self.signature = sig.replace(parameters=params[1:])
        self.__doc__ = func.__doc__
        self.__module__ = func.__module__  # its examples are run with func's module (doctest)

        def unbound(self_: Any, *args: Any, **kwargs: Any) -> Any:
            return self.__get__(self_)(*args, **kwargs)

        self.unbound = _like(func, unbound, sig.replace(
            parameters=[inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                        *params[1:]]))

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Callable[..., R]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> Callable[..., R]:
        if obj is None:
            return self.unbound
        frame = obj._frame  # type: ignore[attr-defined]
        if self.collect and isinstance(frame, pl.LazyFrame):
            frame = frame.collect()
        func = self.func

        def bound(*args: P.args, **kwargs: P.kwargs) -> R:
            return func(frame, *args, **kwargs)

        return _like(func, bound, self.signature)


def frame_method(func: Callable[Concatenate[Any, P], R]) -> FrameMethod[P, R]:
    """A ``.s2s`` namespace method from a plain function whose first parameter is the frame.

    ``df.s2s.name(*args, **kwargs)`` calls ``func(df, *args, **kwargs)`` (``lf.s2s``:
    ``func(lf, ...)``): see :class:`FrameMethod`.

    Examples
    --------
    >>> def count(df: pl.DataFrame) -> int:
    ...     '''Rows.'''
    ...     return df.height
    >>> frame_method(count).__doc__
    'Rows.'
    """
    return FrameMethod(func)


class _Methods:
    """The methods of both namespaces: one declaration each, the function it calls."""

    _frame: pl.DataFrame | pl.LazyFrame

    map_segments = FrameMethod(engine_run.map_segments, collect=True)
    segments = FrameMethod(engine_segment.iter_segments, collect=True)
    segment = FrameMethod(engine_segment.get_segment, collect=True)
    to_seisbench = FrameMethod(to_seisbench)
    to_asdf = FrameMethod(to_asdf)
    waveforms = FrameMethod(waveforms)
    show = FrameMethod(show_frame)


@pl.api.register_dataframe_namespace("s2s")
class S2SNamespace(_Methods):
    """Segments methods of a DataFrame with an ``id`` column (``df.s2s``).

    Examples
    --------
    >>> import polars as pl, s2sframe
    >>> pl.DataFrame({"x": [1]}).s2s
    Traceback (most recent call last):
    ...
    ValueError: the .s2s namespace needs a DataFrame of segments with an 'id' column ...
    >>> s2sframe.s2s(pl.DataFrame({"id": [1]})).segment
    <function get_segment at 0x...>
    """

    def __init__(self, df: pl.DataFrame) -> None:
        _check(df.columns, "DataFrame")
        self._frame = df


@pl.api.register_lazyframe_namespace("s2s")
class S2SLazyNamespace(_Methods):
    """``lf.s2s``: the same methods; those of the engine collect the frame first."""

    def __init__(self, lf: pl.LazyFrame) -> None:
        _check(lf.collect_schema().names(), "LazyFrame")
        self._frame = lf


@overload
def s2s(frame: pl.DataFrame) -> S2SNamespace: ...
@overload
def s2s(frame: pl.LazyFrame) -> S2SLazyNamespace: ...
def s2s(frame: pl.DataFrame | pl.LazyFrame) -> S2SNamespace | S2SLazyNamespace:
    """The ``.s2s`` namespace of ``frame``, typed (for type checkers and IDEs).

    Examples
    --------
    >>> import polars as pl, s2sframe
    >>> ns = s2sframe.s2s(pl.DataFrame({"id": [1, 2]}))
    >>> type(ns).__name__
    'S2SNamespace'
    """
    if isinstance(frame, pl.LazyFrame):
        return S2SLazyNamespace(frame)
    if isinstance(frame, pl.DataFrame):
        return S2SNamespace(frame)
    raise TypeError(f"expected a Polars DataFrame or LazyFrame, not {type(frame).__name__}")
