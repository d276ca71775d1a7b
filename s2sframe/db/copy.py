"""Copy a stream2segment database, e.g. from SQLite to PostgreSQL.

Rows are read with SQLAlchemy Core and inserted, in batches and in the same
order, into the tables of :func:`s2sframe.db.schema.create_all`, keeping their
ids (so segment ids, and files referring to them, stay valid). Only columns
present in both databases are copied: an old source lacking ``events.event_type``
gives nulls there.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..exceptions import DatabaseError
from . import schema
from . import urls as _db

__all__ = ["copy_database"]


def copy_database(src_url: str | URL, dst_url: str | URL, *, batch_size: int = 500) -> dict[str, int]:
    """Copy every row of the stream2segment database ``src_url`` into ``dst_url``.

    Parameters
    ----------
    src_url : str
        Source database (``sqlite:///...`` or ``postgresql://...``), read only.
    dst_url : str
        Destination: a new SQLite file or an existing PostgreSQL database whose
        stream2segment tables are absent or empty (they are created).
    batch_size : int
        Rows per INSERT batch (segments carry waveforms: keep it moderate).

    Returns
    -------
    dict of str to int
        Rows copied per table.

    Raises
    ------
    DatabaseError
        The source is missing or not a stream2segment database, or the
        destination already holds stream2segment rows (URLs shown masked).

    Examples
    --------
    >>> import os, tempfile
    >>> from s2sframe.testing import example_database
    >>> tmp = tempfile.mkdtemp()
    >>> src = example_database(os.path.join(tmp, "a.sqlite"))
    >>> copy_database(src, "sqlite:///" + os.path.join(tmp, "b.sqlite"))["segments"]
    126
    """
    src_engine = _db.get_engine(src_url, readonly=True)
    present = schema.present_columns(src_engine)
    missing = schema.missing_required(present)
    if not present.get("segments") or missing:
        raise DatabaseError(f"{_db.mask_url(src_engine.url)} is not a complete stream2segment "
                            f"database (missing: {', '.join(missing[:5]) or 'segments'})")
    dst = _db.parse_url(dst_url)
    _db.check_exists(dst, missing_ok=True)
    dst_engine = _db.create_engine(dst)
    try:
        _check_empty(dst_engine)
        schema.create_all(dst_engine)
        dst_present = schema.present_columns(dst_engine)
        counts = {}
        with src_engine.connect() as src, dst_engine.begin() as out:
            for name in schema.TABLE_ORDER:
                table = schema.metadata.tables[name]
                cols = [c for c in table.columns
                        if c.name in present[name] and c.name in dst_present[name]]
                counts[name] = _copy_table(src, out, table, cols, batch_size)
            if dst_engine.dialect.name == "postgresql":
                for name in schema.TABLE_ORDER:
                    out.execute(sa.text(schema.sequence_reset_sql(name)))
        return counts
    finally:
        dst_engine.dispose()


def _check_empty(engine: sa.engine.Engine) -> None:
    try:
        present = schema.present_columns(engine)
    except Exception as exc:  # noqa: BLE001
        raise DatabaseError(f"Cannot open {_db.mask_url(engine.url)}: {exc}") from None
    with engine.connect() as conn:
        for name in schema.TABLE_ORDER:
            if present.get(name) and conn.execute(
                    sa.select(sa.literal_column("1")).select_from(
                        sa.table(name)).limit(1)).first() is not None:
                raise DatabaseError(
                    f"{_db.mask_url(engine.url)} already holds stream2segment rows "
                    f"(table {name}): copy into an empty database"
                )


def _copy_table(src: sa.Connection, out: sa.Connection, table: sa.Table,
                cols: list[sa.Column], batch_size: int) -> int:
    query = sa.select(*cols).order_by(table.c.id)
    n = 0
    result = src.execution_options(yield_per=batch_size).execute(query)
    for rows in result.partitions(batch_size):
        out.execute(table.insert(), [dict(r._mapping) for r in rows])
        n += len(rows)
    return n
