"""``df.s2s.show()``: the viewer on the rows of a frame (the function behind the method).

The ``.s2s`` namespace (:mod:`s2sframe.namespace`, above this layer) declares
:func:`show_frame` as its ``show`` method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import polars as pl
from sqlalchemy.engine import URL

from ..db.urls import default_url

if TYPE_CHECKING:
    from .server import ShowServer

__all__ = ["show_frame"]


def show_frame(df: pl.DataFrame | pl.LazyFrame, *, dburl: str | URL | None = None,
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

    ids = df.lazy().select("id").collect().get_column("id").to_list()
    return show(default_url(dburl), ids=ids, **kwargs)
