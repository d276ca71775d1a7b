"""The download runs of a database (table ``downloads``): selecting runs as stream2segment's
``s2s dl`` commands do (indices in run order, ids), reading their stored log and
configuration, and dropping runs with their segments (``s2s db drop``).

Examples
--------
>>> import os, tempfile
>>> from s2sframe.testing import make_database
>>> url = "sqlite:///" + os.path.join(tempfile.mkdtemp(), "db.sqlite")
>>> _ = make_database(url, events=2, stations=2)
>>> ids = run_ids(url)  # every run, oldest first
>>> run_ids(url, indices=["-1"]) == ids[-1:]
True
>>> n = segment_counts(url, ids[-1:])[ids[-1]]
>>> drop_runs(url, ids[-1:]) == {ids[-1]: n}
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from . import schema
from . import urls as _db
from .locks import DOWNLOAD_LOCK, DatabaseLock

__all__ = ["drop_runs", "run_ids", "runs", "segment_counts"]

_Bind = str | URL | sa.engine.Engine


def _engine(bind: _Bind, readonly: bool = False) -> sa.engine.Engine:
    return bind if isinstance(bind, sa.engine.Engine) else _db.get_engine(bind, readonly=readonly)


def _ordered_ids(conn: sa.Connection) -> list[int]:
    d = schema.downloads
    return list(conn.execute(sa.select(d.c.id).order_by(d.c.run_time, d.c.id)).scalars())


def _index(text: str, count: int) -> list[int]:
    """Positions of one index ('2', '-1') or slice ('1:', ':-1', '0:4:2') among ``count``."""
    try:
        if ":" in text:
            parts = [int(p) if p.strip() else None for p in text.split(":")]
            if len(parts) > 3:
                raise ValueError
            return list(range(count))[slice(*parts)]
        k = int(text)
    except ValueError:
        raise ValueError(f"invalid download index {text!r}: an integer (0 the first run, "
                         "-1 the last) or a slice such as '1:' or ':-1'") from None
    return [k % count] if -count <= k < count else []


def run_ids(bind: _Bind, indices: Sequence[str | int] | None = None,
            ids: Sequence[int] | None = None) -> list[int]:
    """Ids of the runs selected by ``indices`` (positions in run order: 0 the first, -1 the
    last, or slices 'start:stop[:step]') and ``ids``, in run order; every run if both are
    empty. Unknown ids and indices out of range select nothing."""
    with _engine(bind, readonly=True).connect() as conn:
        ordered = _ordered_ids(conn)
    if not indices and not ids:
        return ordered
    chosen = {i for i in (ids or ()) if i in set(ordered)}
    for text in indices or ():
        chosen.update(ordered[k] for k in _index(str(text), len(ordered)))
    return [i for i in ordered if i in chosen]


def runs(bind: _Bind, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The ``downloads`` rows of ``ids`` (run order): id, run_time, log, config, warnings,
    errors, program_version."""
    d = schema.downloads
    q = (sa.select(d.c.id, d.c.run_time, d.c.log, d.c.config, d.c.warnings, d.c.errors,
                   d.c.program_version).where(d.c.id.in_(list(ids)))
         .order_by(d.c.run_time, d.c.id))
    with _engine(bind, readonly=True).connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def segment_counts(bind: _Bind, ids: Sequence[int]) -> dict[int, int]:
    """Number of segments each run of ``ids`` downloaded last (0 if none)."""
    sg = schema.segments
    q = (sa.select(sg.c.download_id, sa.func.count()).where(sg.c.download_id.in_(list(ids)))
         .group_by(sg.c.download_id))
    with _engine(bind, readonly=True).connect() as conn:
        found: dict[int, int] = {r[0]: r[1] for r in conn.execute(q)}
    return {i: int(found.get(i, 0)) for i in ids}


def drop_runs(bind: _Bind, ids: Sequence[int]) -> dict[int, int]:
    """Delete the runs ``ids`` and their segments (with the segments' class labels), one
    run per transaction, as stream2segment's ``s2s db drop``; events, stations and
    channels stay. Returns run id -> segments deleted (runs not found: absent).

    Refused (:class:`~s2sframe.exceptions.DatabaseError`, nothing deleted) while a
    download runs on the database: it takes the download's run lock."""
    out: dict[int, int] = {}
    engine = _engine(bind)
    with DatabaseLock(engine, DOWNLOAD_LOCK, "a download", _db.mask_url(engine.url)):
        for did in ids:
            deleted = _drop_run(engine, did)
            if deleted is not None:
                out[did] = deleted
    return out


def _drop_run(engine: sa.engine.Engine, did: int) -> int | None:
    """Delete one run and its segments in one transaction: segments deleted (None: no
    such run)."""
    d, sg, cl = schema.downloads, schema.segments, schema.class_labellings
    with engine.begin() as conn:
        if conn.execute(sa.select(d.c.id).where(d.c.id == did)).first() is None:
            return None
        segs = sa.select(sg.c.id).where(sg.c.download_id == did)
        conn.execute(cl.delete().where(cl.c.segment_id.in_(segs)))
        deleted = int(conn.execute(sg.delete().where(sg.c.download_id == did)).rowcount)
        conn.execute(d.delete().where(d.c.id == did))
    return deleted
