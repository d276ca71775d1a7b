"""Station inventories: StationXML (level=response) of the stations with waveform data and
no inventory yet (all of them with ``update_metadata``), gzip-compressed into
``stations.inventory_xml`` as stream2segment does.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..db import schema
from .http import AdaptiveLimit, Client

log = logging.getLogger("s2sframe.download")


def _body(net: str, sta: str, start: datetime, end: datetime | None) -> str:
    one = timedelta(seconds=1)
    end = end - one if end is not None else datetime.utcnow().replace(microsecond=0)
    return (f"level=response\n{net} {sta} * * {(start + one).isoformat(timespec='seconds')} "
            f"{end.isoformat(timespec='seconds')}\n")


def fetch(client: Client, engine: sa.engine.Engine, update: bool, timeout: float,
          limits: dict[int, AdaptiveLimit], workers: int, progress: bool = False,
          tick: Callable[[], None] | None = None) -> dict[str, int]:
    """Download and write inventories; return counts ('saved', 'failed'). ``tick()`` is called
    after each station, between transactions (the run saves its log there)."""
    st, sg, dc = schema.stations, schema.segments, schema.data_centers
    has_data = sa.exists().where(sg.c.channel_id == schema.channels.c.id,
                                 schema.channels.c.station_id == st.c.id,
                                 sg.c.data.is_not(None), sa.func.length(sg.c.data) > 0)
    q = (sa.select(st.c.id, st.c.network, st.c.station, st.c.start_time, st.c.end_time,
                   st.c.datacenter_id, dc.c.station_url)
         .join(dc, dc.c.id == st.c.datacenter_id).where(has_data))
    if not update:
        q = q.where(st.c.inventory_xml.is_(None))
    with engine.connect() as conn:
        todo = list(conn.execute(q))
    counts = {"saved": 0, "failed": 0}
    if not todo:
        log.info("inventories: none to download")
        return counts

    def one(row: sa.Row) -> tuple[int, bytes | None, str | None]:
        resp = client.request(row.station_url, data=_body(row.network, row.station,
                                                          row.start_time, row.end_time),
                              timeout=timeout, limit=limits.get(row.datacenter_id))
        if not resp.ok or not resp.body:
            return row.id, None, resp.error or f"HTTP {resp.status} (no content)"
        return row.id, gzip.compress(resp.body, compresslevel=9, mtime=0), None

    from tqdm.auto import tqdm

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            tqdm(total=len(todo), unit="sta", desc="inventories", disable=not progress) as bar:
        futures = [pool.submit(one, r) for r in todo]
        for fut in as_completed(futures):
            bar.update(1)
            sid, xml, err = fut.result()
            if xml is None:
                counts["failed"] += 1
                log.warning("inventory of station id %d not saved: %s", sid, err)
            else:
                with engine.begin() as conn:
                    conn.execute(st.update().where(st.c.id == sid).values(inventory_xml=xml))
                counts["saved"] += 1
            if tick is not None:
                tick()
    log.info("inventories: %d saved, %d failed", counts["saved"], counts["failed"])
    return counts
