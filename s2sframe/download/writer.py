"""Segment rows to the database in committed batches: what is written survives Ctrl-C or
SIGKILL; new segments are inserted, existing ones (retries, new windows) updated by id,
so the unique (channel_id, event_id) key never sees a duplicate.

A segment that has data keeps its row (window, data, code) when a new attempt (e.g. with
a changed ``time_window``) brings none: the good data is never replaced by a failure, and
the next run tries again. A row the database refuses is skipped and logged, never fatal.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from ..db import schema
from .dataselect import TIMESPAN_WARN, Seg
from .rows import Skipped, write_rows

_WITH_DATA = frozenset({200, TIMESPAN_WARN})
_RESULT = ("data", "download_code", "sample_rate", "maxgap_numsamples", "data_seed_id",
           "start_time", "end_time")


class SegmentWriter:
    """Buffer finished segments and write them every ``size`` rows (one transaction)."""

    def __init__(self, engine: sa.engine.Engine, download_id: int, size: int = 100,
                 skipped: Skipped | None = None, *,
                 write: Callable[[Callable[[sa.Connection], Any]], Any] | None = None) -> None:
        self.engine = engine
        self.write = write or self._write
        self.download_id = download_id
        self.size = max(1, size)
        self.pending: list[Seg] = []
        self.written = 0
        self.kept = 0  # segments with data whose new attempt brought none: left as they were
        self.skipped = skipped if skipped is not None else Skipped()

    def add(self, segs: list[Seg], auth: bool) -> None:
        for s in segs:
            s.result["queryauth"] = auth
        self.pending.extend(segs)
        if len(self.pending) >= self.size:
            self.flush()

    def _row(self, s: Seg) -> dict[str, Any]:
        row = {k: s.result.get(k) for k in _RESULT}  # data: b'' for 204, -204 (s2s)
        row.update(download_id=self.download_id, queryauth=bool(s.result.get("queryauth")),
                   arrival_time=s.arrival_time, request_start=s.request_start,
                   request_end=s.request_end, event_distance_deg=s.event_distance_deg,
                   datacenter_id=s.datacenter_id)
        return row

    def flush(self) -> None:
        if not self.pending:
            return
        sg = schema.segments
        new = [{**self._row(s), "channel_id": s.channel_id, "event_id": s.event_id}
               for s in self.pending if s.id is None]
        update = [s for s in self.pending if s.id is not None]
        keep = {id(s) for s in update if s.old_code in _WITH_DATA and not s.result.get("data")}
        old = [{**self._row(s), "_id": s.id} for s in update if id(s) not in keep]

        def flush(conn: sa.Connection) -> list[dict[str, Any]]:
            done = write_rows(conn, sg.insert(), new, "segment row", _describe, self.skipped)
            if old:
                values: dict[str, Any] = {k: sa.bindparam(k) for k in old[0] if k != "_id"}
                done += write_rows(conn, sg.update().where(sg.c.id == sa.bindparam("_id"))
                                   .values(values), old, "segment row", _describe, self.skipped)
            return done

        done = self.write(flush)  # one transaction (the run's: retried on transient errors)
        self.kept += len(keep)
        self.written += len(done)
        for s in self.pending:
            s.result.pop("data", None)  # keep memory flat: bytes are in the database now
        self.pending = []

    def _write(self, func: Callable[[sa.Connection], Any]) -> Any:
        with self.engine.begin() as conn:
            return func(conn)


def _describe(row: dict[str, Any]) -> str:
    return (f"segment of channel id {row.get('channel_id', '?')}, event id "
            f"{row.get('event_id', '?')}" if "_id" not in row else f"segment id {row['_id']}")
