"""The ``.s2s`` namespace of Polars frames: thin methods over :mod:`_engine` / :mod:`_segment`.

Importing s2sframe registers it::

    df.s2s.map_segments(func)      # DataFrame: results as new columns
    lf.s2s.map_segments(func)      # LazyFrame: collects first
    df.s2s.segments()              # lazy iteration, blobs fetched in batches
    df.s2s.segment(0), df.s2s.segment(id=2)
    df.s2s.show()                  # the rows in the browser viewer: registered by
                                   # s2sframe.show (imported by s2sframe), not by this layer

For type checkers and IDEs, which cannot see registered namespaces, use
:func:`s2s`: ``s2sframe.s2s(df).map_segments(func)`` is the same call, typed.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Literal, overload

import polars as pl
from sqlalchemy.engine import URL

from . import run as _engine
from . import segment as _segment
from .segment import Segment

__all__ = ["S2SLazyNamespace", "S2SNamespace", "s2s"]


def _check(columns: Sequence[str], kind: str) -> None:
    if "id" not in columns:
        shown = ", ".join(repr(c) for c in list(columns)[:8])
        more = ", ..." if len(columns) > 8 else ""
        # not AttributeError: Python would swallow it and report "no attribute 's2s'"
        raise ValueError(
            f"the .s2s namespace needs a {kind} of segments with an 'id' column (the segment "
            f"id, as in s2sframe.scan() frames); this one has [{shown}{more}]"
        )


@pl.api.register_dataframe_namespace("s2s")
class S2SNamespace:
    """Segments methods of a DataFrame with an ``id`` column (``df.s2s``).

    Examples
    --------
    >>> import polars as pl, s2sframe
    >>> pl.DataFrame({"x": [1]}).s2s
    Traceback (most recent call last):
    ...
    ValueError: the .s2s namespace needs a DataFrame of segments with an 'id' column ...
    """

    def __init__(self, df: pl.DataFrame) -> None:
        _check(df.columns, "DataFrame")
        self._df = df

    def map_segments(
        self,
        func: Callable[[Segment], Any],
        *,
        workers: int | None = None,
        executor: cf.Executor | None = None,
        chunksize: int | None = None,
        errors: Literal["record", "raise"] = "record",
        skip_exceptions: Sequence[type[BaseException]] | type[BaseException] = (),
        return_dtypes: Mapping[str, pl.DataType] | None = None,
        progress: bool = True,
        output: str | os.PathLike | None = None,
        dburl: str | URL | None = None,
        error_column: str = "s2s_error",
    ) -> pl.DataFrame:
        """Call ``func(segment)`` on every segment, in parallel; results as new columns.

        See :func:`s2sframe.map_segments` for the parameters.

        Examples
        --------
        >>> import os, tempfile, s2sframe
        >>> from s2sframe.testing import example_database
        >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
        >>> df = s2sframe.scan(url).select("id").head(4).collect()
        >>> def npts(segment):
        ...     return segment.stream()[0].stats.npts
        >>> out = df.s2s.map_segments(npts, workers=0, progress=False, dburl=url)
        >>> out["npts"].to_list()  # segment 1 has no data: skipped (null), reason in s2s_error
        [None, 24241, 25406, 4799]
        """
        return _engine.map_segments(
            self._df, func, workers=workers, executor=executor, chunksize=chunksize,
            errors=errors, skip_exceptions=skip_exceptions, return_dtypes=return_dtypes,
            progress=progress, output=output, dburl=dburl, error_column=error_column,
        )

    def segments(self, *, batch_size: int = 500, dburl: str | URL | None = None) -> Iterator[Segment]:
        """Iterate the segments in row order; blobs are fetched ``batch_size`` at a time.

        Examples
        --------
        >>> import os, tempfile, s2sframe
        >>> from s2sframe.testing import example_database
        >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
        >>> df = s2sframe.scan(url).select("id").head(3).collect()
        >>> for seg in df.s2s.segments(batch_size=2, dburl=url):
        ...     print(seg.id, seg.seed_id)
        1 GE.IPAX..HHZ
        2 GE.IPAX..HHN
        3 GE.IPAX..HHE
        """
        return _segment.iter_segments(self._df, batch_size=batch_size, dburl=dburl)

    def segment(
        self, index: int | None = None, *, id: int | None = None,  # noqa: A002
        dburl: str | URL | None = None,
    ) -> Segment:
        """One segment, by row ``index`` or by ``id``.

        Examples
        --------
        >>> import os, tempfile, s2sframe
        >>> from s2sframe.testing import example_database
        >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
        >>> df = s2sframe.scan(url).select("id").collect()
        >>> seg = df.s2s.segment(id=2, dburl=url)
        >>> seg.seed_id, seg.event.magnitude, df.s2s.segment(0, dburl=url).id
        ('GE.IPAX..HHN', 4.3, 1)
        """
        return _segment.get_segment(self._df, index, id=id, dburl=dburl)


@pl.api.register_lazyframe_namespace("s2s")
class S2SLazyNamespace:
    """``lf.s2s``: the same methods; they collect the frame first."""

    def __init__(self, lf: pl.LazyFrame) -> None:
        _check(lf.collect_schema().names(), "LazyFrame")
        self._lf = lf

    def map_segments(self, func: Callable[[Segment], Any], **kwargs: Any) -> pl.DataFrame:
        """Collect, then :meth:`S2SNamespace.map_segments` (same parameters)."""
        return S2SNamespace(self._lf.collect()).map_segments(func, **kwargs)

    def segments(self, *, batch_size: int = 500, dburl: str | URL | None = None) -> Iterator[Segment]:
        """Collect, then :meth:`S2SNamespace.segments`."""
        return S2SNamespace(self._lf.collect()).segments(batch_size=batch_size, dburl=dburl)

    def segment(
        self, index: int | None = None, *, id: int | None = None,  # noqa: A002
        dburl: str | URL | None = None,
    ) -> Segment:
        """Collect, then :meth:`S2SNamespace.segment`."""
        return S2SNamespace(self._lf.collect()).segment(index, id=id, dburl=dburl)



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


def frame_method(func: Callable[..., Any]) -> Callable[..., Any]:
    """A ``.s2s`` namespace method from a plain function whose first parameter is the frame.

    ``df.s2s.name(*args, **kwargs)`` calls ``func(df, *args, **kwargs)`` (``lf.s2s``:
    ``func(lf, ...)``). One definition: the method's signature is the function's
    without the frame (``self`` instead), its docstring is the function's.

    Examples
    --------
    >>> import inspect
    >>> def count(df: pl.DataFrame, *, times: int = 1) -> int:
    ...     '''Rows times ``times``.'''
    ...     return df.height * times
    >>> method = frame_method(count)
    >>> list(inspect.signature(method).parameters), method.__doc__
    (['self', 'times'], 'Rows times ``times``.')
    """
    import functools
    import inspect

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        frame = self._df if isinstance(self, S2SNamespace) else self._lf
        return func(frame, *args, **kwargs)

    sig = inspect.signature(func)
    params = list(sig.parameters.values())
    method = functools.update_wrapper(method, func)
    del method.__wrapped__  # inspect.signature would follow it to func's (with the frame)
    method.__signature__ = sig.replace(  # type: ignore[attr-defined]
        parameters=[inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
                    *params[1:]])
    return method
