"""Events: the catalog (FDSN event service, text format, or a local file in that format),
split in time when the server refuses a large request (413, 504, timeouts), written to
``web_services`` and ``events``.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..db import schema
from ..db.urls import mask_web_url
from .http import Client

log = logging.getLogger("s2sframe.download")

_COLUMNS = ("event_id", "time", "latitude", "longitude", "depth_km", "author", "catalog",
            "contributor", "contributor_id", "mag_type", "magnitude", "mag_author",
            "event_location_name", "event_type")
_SPLIT = frozenset({413, 504, -1})
MIN_SPLIT = timedelta(hours=1)


class DownloadFailed(Exception):
    """A step could not produce anything to go on with (message says why). ``bad_input``:
    the configuration points at something that cannot work (e.g. an event service that
    refuses connections or whose host is unknown): ``s2s download`` exits with code 2."""

    def __init__(self, message: str, *, bad_input: bool = False) -> None:
        super().__init__(message)
        self.bad_input = bad_input


def parse_text(text: str, source: str) -> list[dict[str, Any]]:
    """Rows of an FDSN event text response (``#EventID|Time|...``); bad lines are logged."""
    out = []
    bad = 0
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split("|")]
        if len(cells) < 13:
            bad += 1
            continue
        try:
            row: dict[str, Any] = dict(zip(_COLUMNS, cells + [""] * (14 - len(cells)), strict=False))
            row["time"] = datetime.fromisoformat(row["time"].rstrip("Z")).replace(tzinfo=None)
            for key in ("latitude", "longitude", "depth_km", "magnitude"):
                row[key] = float(row[key])
        except ValueError:
            bad += 1
            continue
        for key in _COLUMNS:
            if row.get(key) == "":
                row[key] = None
        out.append(row)
    if bad:
        log.warning("%d event line(s) discarded (not in FDSN text format) from %s", bad, source)
    return out


def fetch(client: Client, url: str, params: dict[str, Any], start: datetime, end: datetime,
          timeout: float) -> list[dict[str, Any]]:
    """Events between ``start`` and ``end`` (halving the time range when refused)."""
    if os.path.isfile(url):
        with open(url, encoding="utf8") as fh:
            rows = parse_text(fh.read(), url)
        return [r for r in rows if start <= r["time"] <= end]
    pending = [(start, end)]
    out: list[dict[str, Any]] = []
    while pending:
        t0, t1 = pending.pop(0)
        query = {**params, "starttime": t0.isoformat(), "endtime": t1.isoformat(), "format": "text"}
        resp = client.request(url, params=query, timeout=timeout)
        if resp.kind in ("refused", "dns"):  # nothing to split: the service is not there
            raise DownloadFailed(f"event service {url} cannot be reached: {resp.error}",
                                 bad_input=True)
        if resp.status in _SPLIT and t1 - t0 > MIN_SPLIT:
            mid = t0 + (t1 - t0) / 2
            log.info("event request %s - %s refused (%s): splitting it in two", t0, t1,
                     resp.error or resp.status)
            pending[:0] = [(t0, mid), (mid, t1)]
            continue
        if resp.status == 204 or (resp.ok and not resp.body):
            continue
        if not resp.ok:
            raise DownloadFailed(f"Unable to fetch events from {url}: {resp.error}")
        out.extend(parse_text(resp.body.decode("utf8", "replace"), url))
    seen: set[str] = set()  # split requests may share a boundary event
    return [r for r in out if not (r["event_id"] in seen or seen.add(r["event_id"]))]


def save(conn: sa.Connection, url: str, rows: list[dict[str, Any]],
         columns: frozenset[str]) -> dict[str, int]:
    """Write the web service and new events; return event_id -> events.id of ``rows``."""
    ws = schema.web_services
    db_url = mask_web_url(url)  # stored with its password (if any) masked
    ws_id = conn.execute(sa.select(ws.c.id).where(ws.c.url == db_url)).scalar()
    if ws_id is None:
        name = os.path.basename(url) if os.path.isfile(url) else None
        ws_id = conn.execute(ws.insert().values(url=db_url, type="event", name=name)).inserted_primary_key[0]
    ev = schema.events
    existing = dict(conn.execute(sa.select(ev.c.event_id, ev.c.id).where(ev.c.webservice_id == ws_id)).all())
    new = [{k: v for k, v in {**r, "webservice_id": ws_id}.items() if k in columns}
           for r in rows if r["event_id"] not in existing]
    if new:
        conn.execute(ev.insert(), new)
        existing = dict(conn.execute(sa.select(ev.c.event_id, ev.c.id).where(ev.c.webservice_id == ws_id)).all())
    log.info("events: %d fetched, %d new written", len(rows), len(new))
    return {r["event_id"]: existing[r["event_id"]] for r in rows}
