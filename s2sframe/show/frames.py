"""``df.s2s.show()``: the viewer on the rows of a frame, registered on the ``.s2s`` namespace.

The namespace lives in the engine layer, which must not depend on the viewer
above it; this module adds the ``show`` method to it instead, when
:mod:`s2sframe.show` is imported (``import s2sframe`` does it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy.engine import URL

from ..db.urls import default_url
from ..engine.namespace import S2SLazyNamespace, S2SNamespace

if TYPE_CHECKING:
    from .server import ShowServer

__all__ = ["frame_show", "lazyframe_show"]


def frame_show(self: S2SNamespace, *, dburl: str | URL | None = None,
               **kwargs: Any) -> ShowServer:
    """Open these segments, in row order, in the browser viewer (``s2s show``).

    Same page as the command line; the selection box narrows these rows down.
    Keyword arguments are those of :func:`s2sframe.show.show` (``pyfile``,
    ``config``, ``readonly``, ``port``, ``open_browser``...). The viewer runs in a
    background thread: call ``.stop()`` on the returned server when done.

    Examples
    --------
    >>> import os, tempfile, s2sframe
    >>> from s2sframe.testing import example_database
    >>> url = example_database(os.path.join(tempfile.mkdtemp(), "demo.sqlite"))
    >>> df = s2sframe.scan(url).filter(s2sframe.where({"has_valid_data": "true"})).collect()
    >>> server = df.sort("id", descending=True).s2s.show(dburl=url, open_browser=False)
    >>> server.viewer.count == df.height, int(server.viewer.ids[0]) == df["id"].max()
    (True, True)
    >>> server.stop()
    """
    from .app import show  # the server and its dependencies load on first use

    frame: pl.DataFrame = self._df
    return show(default_url(dburl), ids=frame.get_column("id").to_list(), **kwargs)


def lazyframe_show(self: S2SLazyNamespace, *, dburl: str | URL | None = None,
                   **kwargs: Any) -> ShowServer:
    """Collect the ids, then :func:`frame_show`."""
    lf: pl.LazyFrame = self._lf
    return frame_show(S2SNamespace(lf.select("id").collect()), dburl=dburl, **kwargs)


S2SNamespace.show = frame_show  # type: ignore[attr-defined]
S2SLazyNamespace.show = lazyframe_show  # type: ignore[attr-defined]
