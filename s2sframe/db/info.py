"""Documentation helpers: the attribute vocabulary as a frame."""

from __future__ import annotations

import polars as pl

from . import attributes as registry


def attributes() -> pl.DataFrame:
    """Return the selectable attributes: name, Polars dtype and description.

    Examples
    --------
    >>> import s2sframe
    >>> df = s2sframe.attributes()
    >>> df.filter(df["name"] == "missing_data_sec").row(0)
    ('missing_data_sec', 'Float64', '(request_end - request_start) - (end_time - start_time), seconds')
    """
    rows = [(a.name, str(a.dtype), a.doc) for a in registry.ATTRIBUTES.values()]
    return pl.DataFrame(rows, schema=["name", "dtype", "description"], orient="row")
