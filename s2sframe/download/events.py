"""Events: the catalog (FDSN event service in text or ISF format, or a local file in either
format), split when the server refuses a large request (413, 504, timeouts: by magnitude
first, then by time, as stream2segment), written to ``web_services`` and ``events``.

A line that is not a storable event (NaN coordinates or magnitude, empty id, a NUL
character, a time outside the requested window...) is skipped, logged and counted; a
response or file with content but no event in a known format is an error naming it.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..db import schema
from ..db.urls import mask_web_url
from ..exceptions import CatalogError, DownloadFailed  # also importable here
from .config import EVENT_SERVICES
from .http import Client
from .rows import Skipped, write_rows

log = logging.getLogger("s2sframe.download")

_COLUMNS = ("event_id", "time", "latitude", "longitude", "depth_km", "author", "catalog",
            "contributor", "contributor_id", "mag_type", "magnitude", "mag_author",
            "event_location_name", "event_type")
_NUMBERS = ("latitude", "longitude", "depth_km", "magnitude")
_SPLIT = frozenset({413, 504, -1})
MIN_SPLIT = timedelta(hours=1)
#: magnitude bins of the splitting (stream2segment's): 0 to 9 by 0.1, events per bin
#: ~ 10 ** (9 - m), flat below magnitude 1
_MAG_STEP = 0.1
_MAG_FREQ = np.maximum(10.0 ** (9.0 - np.arange(0, 90) * _MAG_STEP), 0.0)
_MAG_FREQ[:10] = _MAG_FREQ[10]






# ------------------------------------------------------------------------ parsing
def _finite_row(row: dict[str, Any]) -> str | None:
    """Why an event row is not usable (None if it is)."""
    if not row.get("event_id"):
        return "empty EventID"
    for key in _NUMBERS:
        value = row.get(key)
        if value is None or not math.isfinite(value):
            return f"{key} is {value}"
    if not (-90 <= row["latitude"] <= 90 and -180 <= row["longitude"] <= 180):
        return "latitude or longitude out of range"
    if any(isinstance(v, str) and "\x00" in v for v in row.values()):
        return "NUL character"
    return None


def parse_text(text: str, source: str, skipped: Skipped | None = None) -> list[dict[str, Any]]:
    """Rows of an FDSN event text response (``#EventID|Time|...``).

    Empty text cells are stored as '' (as stream2segment does); lines that are not events
    are skipped and counted in ``skipped``.

    Examples
    --------
    >>> rows = parse_text("#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|"
    ...     "Contributor|ContributorID|MagType|Magnitude|MagAuthor|EventLocationName\\n"
    ...     "ev1|2021-01-02T03:04:05.6|42.1|13.2|10.0|||||ML|3.5||ITALY\\n"
    ...     "ev2|2021-01-02T03:04:05|NaN|13.2|10.0|||||ML|3.5||ITALY\\n", "demo")
    >>> [(r["event_id"], r["mag_type"], r["author"]) for r in rows]
    [('ev1', 'ML', '')]
    """
    skipped = skipped if skipped is not None else Skipped()
    out = []
    for k, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cells = [c.strip() for c in line.split("|")]
        why = None
        if len(cells) < 13:
            why = f"{len(cells)} columns, 13 or 14 expected"
        else:
            row: dict[str, Any] = dict(zip(_COLUMNS, cells + [""] * (14 - len(cells)),
                                           strict=False))
            if len(cells) < 14:
                row["event_type"] = None
            try:
                row["time"] = datetime.fromisoformat(row["time"].rstrip("Z")).replace(tzinfo=None)
                for key in _NUMBERS:
                    row[key] = float(row[key])
            except ValueError as exc:
                why = str(exc)
            else:
                why = _finite_row(row)
        if why is not None:
            skipped.add("event line", f"{source} line {k}: {line[:100]!r}", why)
            continue
        out.append(row)
    return out


def _isf_time(date: str, time: str) -> datetime:
    return datetime.fromisoformat(f"{date.strip().replace('/', '-')}T{time.strip()}")


def _num(text: str) -> float | None:
    text = text.strip().rstrip("f")
    return float(text) if text else None


def parse_isf(text: str, source: str, skipped: Skipped | None = None, *, catalog: str = "",
              contributor: str = "") -> list[dict[str, Any]]:
    """Rows of an ISC ISF (IMS1.0) bulletin: one per ``Event`` block, its prime origin (the
    first if none is marked ``#PRIME``) and that origin's first magnitude (else the first).

    Column positions are the ISF standard's (as stream2segment reads them); ``catalog`` and
    ``contributor`` fill those columns (stream2segment: 'ISC' from the ISC service, '' from
    a file); ``contributor_id`` is the event id. Blocks without origin or magnitude are
    skipped and counted.

    Examples
    --------
    >>> isf = '''DATA_TYPE EVENT IMS1.0
    ... Event  600516599 Kyushu
    ...    Date       Time        Err   RMS Latitude Longitude  Smaj  Smin  Az Depth   Err Ndef Nsta Gap  mdist  Mdist Qual   Author      OrigID
    ... 2011/01/08 00:01:31.90   0.20        31.0900  131.3100   3.3   1.9  -1  32.0   4.0                                    JMA       00353624
    ...
    ... Magnitude  Err Nsta Author      OrigID
    ... mb     1.1          JMA       00353624
    ... STOP'''
    >>> row = parse_isf(isf, "demo")[0]
    >>> row["event_id"], str(row["time"]), row["latitude"], row["depth_km"], row["mag_type"]
    ('600516599', '2011-01-08 00:01:31.900000', 31.09, 32.0, 'mb')
    """
    skipped = skipped if skipped is not None else Skipped()
    out: list[dict[str, Any]] = []
    block: list[str] = []

    def flush() -> None:
        if not block:
            return
        row, why = _isf_event(block, catalog, contributor)
        if why is not None:
            skipped.add("ISF event", f"{source}: {block[0][:80]!r}", why)
        else:
            out.append(row)

    for line in text.splitlines():
        if line.startswith("Event "):
            flush()
            block = [line]
        elif line.strip() == "STOP":
            break
        elif block:
            block.append(line)
    flush()
    return out


def _isf_event(block: list[str], catalog: str, contributor: str) -> tuple[dict[str, Any], str | None]:
    parts = block[0][6:].split(maxsplit=1)  # the id (columns 7-16, or longer), the region
    eid = parts[0] if parts else ""
    row: dict[str, Any] = {"event_id": eid, "event_location_name": parts[1].strip() if
                           len(parts) > 1 else "", "catalog": catalog,
                           "contributor": contributor, "contributor_id": eid, "event_type": None}
    origins: list[str] = []
    mags: list[str] = []
    prime = None
    section = None
    for line in block[1:]:
        if line.lstrip().startswith("Date ") and "Latitude" in line:
            section = "origin"
        elif line.startswith("Magnitude ") and "Author" in line:
            section = "magnitude"
        elif not line.strip():
            section = None
        elif line.lstrip().startswith("("):  # a comment: '(#PRIME)' marks the origin above
            if section == "origin" and "#PRIME" in line and origins:
                prime = origins[-1]
        elif section == "origin":
            origins.append(line)
        elif section == "magnitude":
            mags.append(line)
    if not origins:
        return row, "no origin"
    if not mags:
        return row, "no magnitude"
    origin = prime or origins[0]
    orig_id = origin[128:].strip()
    mag = next((m for m in mags if orig_id and m[30:].strip() == orig_id), mags[0])
    try:
        row.update(time=_isf_time(origin[:10], origin[11:22]), latitude=_num(origin[36:44]),
                   longitude=_num(origin[45:54]), depth_km=_num(origin[71:76]),
                   author=origin[118:127].strip(), mag_type=mag[:5].strip(),
                   magnitude=_num(mag[6:10]), mag_author=mag[20:29].strip())
    except ValueError as exc:
        return row, str(exc)
    return row, _finite_row(row)


def is_isf(text: str) -> bool:
    """Whether ``text`` is an ISF bulletin (its first line starts with ``DATA_TYPE``)."""
    return text.lstrip().startswith("DATA_TYPE ")


def parse(text: str, source: str, skipped: Skipped, *, isc: bool = False) -> list[dict[str, Any]]:
    """Rows of a catalog in FDSN text or ISF format (recognised by its content). Content
    without any event in either format raises :class:`CatalogError` naming ``source``."""
    if is_isf(text):
        rows = parse_isf(text, source, skipped, catalog="ISC" if isc else "",
                         contributor="ISC" if isc else "")
    else:
        rows = parse_text(text, source, skipped)
    if not rows and text.strip() and not is_isf(text) and not _looks_fdsn(text):
        first = next(ln for ln in text.splitlines() if ln.strip())
        raise CatalogError(source, "no event in FDSN text nor ISF format "
                                   f"(first line: {first[:80]!r})")
    return rows


def _looks_fdsn(text: str) -> bool:
    """Some line of ``text`` has the 13-14 '|'-separated columns of FDSN event text."""
    return any(12 <= line.count("|") <= 13 for line in text.splitlines()[:50]
               if not line.startswith("#"))


# ------------------------------------------------------------------------ fetching
def file_uri(path: str) -> str:
    """stream2segment's ``web_services.url`` of a catalog file: ``file:///`` + its name.

    Examples
    --------
    >>> file_uri("/data/catalogs/events.txt")
    'file:///events.txt'
    """
    return "file:///" + os.path.basename(path)


def _mag_split(query: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Two queries splitting ``query``'s magnitude range in halves of expected event count
    (None when the range holds less than two magnitude bins)."""
    lo = float(query.get("minmagnitude", 0.0))
    freq = _MAG_FREQ
    if "maxmagnitude" in query:
        freq = freq[: int(round(float(query["maxmagnitude"]) / _MAG_STEP))]
    first = max(int(round(lo / _MAG_STEP)), 0)
    freq = freq[first:]
    if len(freq) < 2:
        return None
    cum = np.cumsum(freq)
    idx = max(1, int(np.searchsorted(cum, cum[-1] / 2.0)))
    half = round(lo + idx * _MAG_STEP, 1)
    return {**query, "maxmagnitude": half}, {**query, "minmagnitude": half}


def _time_split(query: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    t0, t1 = query["starttime"], query["endtime"]
    if t1 - t0 <= MIN_SPLIT:
        return None
    mid = t0 + (t1 - t0) / 2
    return {**query, "endtime": mid}, {**query, "starttime": mid}


def split_query(query: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A refused event query in two: by magnitude while the range allows it, then by time.

    Examples
    --------
    >>> q = {"starttime": datetime(2021, 1, 1), "endtime": datetime(2021, 2, 1),
    ...      "minmagnitude": 4.0}
    >>> a, b = split_query(q)
    >>> a["maxmagnitude"], b["minmagnitude"]
    (4.3, 4.3)
    >>> a, b = split_query({**q, "maxmagnitude": 4.1})
    >>> a["endtime"] == b["starttime"] == datetime(2021, 1, 16, 12)
    True
    """
    return _mag_split(query) or _time_split(query)


def _describe(q: dict[str, Any]) -> str:
    mags = ""
    if "minmagnitude" in q or "maxmagnitude" in q:
        mags = f", magnitude {q.get('minmagnitude', '')}-{q.get('maxmagnitude', '')}"
    return f"{q['starttime']} - {q['endtime']}{mags}"


def fetch(client: Client, url: str, params: Mapping[str, Any], start: datetime, end: datetime,
          timeout: float, skipped: Skipped | None = None) -> list[dict[str, Any]]:
    """Events between ``start`` and ``end`` (splitting the request when refused)."""
    skipped = skipped if skipped is not None else Skipped()
    isc = url == EVENT_SERVICES["isc"]
    if os.path.isfile(url):
        try:
            with open(url, encoding="utf8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise CatalogError(url, f"cannot read the file: {exc}") from None
        rows = parse(text, url, skipped)
        return [r for r in rows if start <= r["time"] <= end]
    base = {k: v for k, v in params.items() if k != "format"}
    fmt = params.get("format") or ("isf" if isc else "text")
    pending = [{**base, "starttime": start, "endtime": end}]
    out: list[dict[str, Any]] = []
    while pending:
        q = pending.pop(0)
        query = {**q, "starttime": q["starttime"].isoformat(),
                 "endtime": q["endtime"].isoformat(), "format": fmt}
        resp = client.request(url, params=query, timeout=timeout)
        if resp.kind in ("refused", "dns"):  # nothing to split: the service is not there
            raise DownloadFailed(f"event service {url} cannot be reached: {resp.error}",
                                 bad_input=True)
        halves = split_query(q) if resp.status in _SPLIT else None
        if halves is not None:
            log.info("event request %s refused (%s): splitting it in two (%s)", _describe(q),
                     resp.error or resp.status,
                     "by magnitude" if halves[0]["starttime"] == q["starttime"] and
                     halves[0]["endtime"] == q["endtime"] else "by time")
            pending[:0] = list(halves)
            continue
        if resp.status == 204 or (resp.ok and not resp.body):
            continue
        if not resp.ok:
            raise DownloadFailed(f"Unable to fetch events from {url}: {resp.error}")
        out.extend(parse((resp.body or b"").decode("utf8", "replace"), url, skipped, isc=isc))
    out = _unique_events(out)
    margin = timedelta(days=1)
    kept = []
    for r in out:
        if start - margin <= r["time"] <= end + margin:
            kept.append(r)
        else:
            skipped.add("event line", f"{url}: event {r['event_id']} at {r['time']}",
                        "time outside the requested window")
    return kept


def _unique_events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` without the repeats of an event id (split requests may share a boundary event).

    Examples
    --------
    >>> [r["n"] for r in _unique_events([{"event_id": "a", "n": 1}, {"event_id": "b", "n": 2},
    ...                                  {"event_id": "a", "n": 3}])]
    [1, 2]
    """
    seen: set[str] = set()
    out = []
    for r in rows:
        if r["event_id"] not in seen:
            seen.add(r["event_id"])
            out.append(r)
    return out


def catalog_name(given: Any) -> str:
    """``web_services.name`` as stream2segment writes it: the catalog name given in the
    configuration ('emsc', 'isc'...), else ''."""
    return given.lower() if isinstance(given, str) and given.lower() in EVENT_SERVICES else ""


def ws_url(url: str) -> str:
    """The ``web_services.url`` of an event catalog: stream2segment's form for files, URLs
    with their password (if any) masked."""
    return file_uri(url) if os.path.isfile(url) else mask_web_url(url)


def save(conn: sa.Connection, url: str, rows: list[dict[str, Any]], columns: frozenset[str],
         name: str = "", skipped: Skipped | None = None) -> dict[str, int]:
    """Write the web service and new events; return event_id -> events.id of ``rows``.

    A catalog file is stored and found as stream2segment stores it (``file:///`` + its
    name); rows of older s2sframe databases (its absolute path) are found too and moved
    to that form. ``name``: the catalog name given ('emsc'...), else ''.
    """
    skipped = skipped if skipped is not None else Skipped()
    ws = schema.web_services
    stored = ws_url(url)
    forms = [stored] + ([os.path.abspath(url)] if stored != url else [])
    found = dict(conn.execute(sa.select(ws.c.url, ws.c.id).where(ws.c.url.in_(forms))).all())
    ws_id = found.get(stored)
    if ws_id is None and found:  # an older s2sframe row (absolute path): the s2s form now
        old, ws_id = next(iter(found.items()))
        conn.execute(ws.update().where(ws.c.id == ws_id).values(url=stored))
        log.info("event catalog %s stored as %s (stream2segment's form)", old, stored)
    if ws_id is None:
        ws_id = schema.inserted_id(
            conn.execute(ws.insert().values(url=stored, type="event", name=name)))
    ev = schema.events
    existing = dict(conn.execute(sa.select(ev.c.event_id, ev.c.id).where(ev.c.webservice_id == ws_id)).all())
    new = [{k: v for k, v in {**r, "webservice_id": ws_id}.items() if k in columns}
           for r in rows if r["event_id"] not in existing]
    describe: Callable[[dict[str, Any]], str] = lambda r: f"event {r.get('event_id')!r}"  # noqa: E731
    written = write_rows(conn, ev.insert(), new, "event row", describe, skipped)
    if written:
        existing = dict(conn.execute(sa.select(ev.c.event_id, ev.c.id).where(ev.c.webservice_id == ws_id)).all())
    log.info("events: %d fetched, %d new written", len(rows), len(written))
    return {r["event_id"]: existing[r["event_id"]] for r in rows if r["event_id"] in existing}
