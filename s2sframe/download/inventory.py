"""Station inventories: StationXML (level=response) of the stations with waveform data and
no inventory yet (all of them with ``update_metadata``), gzip-compressed into
``stations.inventory_xml`` as stream2segment does.

A response is stored only if it is StationXML describing the station asked for
(:func:`check_stationxml`: it parses, its root is ``FDSNStationXML``, it has that
network and station): an HTML error page sent with status 200, a gzip file, a
truncated document or another station's inventory is refused, logged with the reason,
and left ``NULL``, so the next run asks again (as for any failed inventory download).
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..db import schema
from .http import AdaptiveLimit, Client

log = logging.getLogger("s2sframe.download")


def _body(net: str, sta: str, start: datetime, end: datetime | None) -> str:
    one = timedelta(seconds=1)
    end = end - one if end is not None else datetime.utcnow().replace(microsecond=0)
    return (f"level=response\n{net} {sta} * * {(start + one).isoformat(timespec='seconds')} "
            f"{end.isoformat(timespec='seconds')}\n")


def check_stationxml(data: bytes, network: str, station: str) -> None:
    """Raise ``ValueError`` (saying why) unless ``data`` is a StationXML document with
    station ``network.station``. The parser resolves no entity and reads no DTD nor
    anything from the network (XML entity attacks are refused).

    Examples
    --------
    >>> xml = (b'<FDSNStationXML xmlns="http://www.fdsn.org/xml/station/1">'
    ...        b'<Network code="GE"><Station code="APE"/></Network></FDSNStationXML>')
    >>> check_stationxml(xml, "GE", "APE")
    >>> check_stationxml(xml, "GE", "XYZ")
    Traceback (most recent call last):
    ValueError: StationXML without station GE.XYZ
    >>> check_stationxml(b"<html><body>Service Unavailable</body></html>", "GE", "APE")
    Traceback (most recent call last):
    ValueError: not StationXML: an HTML page (root element 'html')
    """
    from lxml import etree

    head = data[:2]
    if head == b"\x1f\x8b":
        raise ValueError("not StationXML: gzip-compressed bytes")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             huge_tree=False, remove_comments=True)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        text = data[:1024].lstrip().lower()
        if text.startswith((b"<!doctype html", b"<html")):
            raise ValueError("not StationXML: an HTML page") from None
        raise ValueError(f"not StationXML: {str(exc).splitlines()[0][:200]}") from None
    if root is None:
        raise ValueError("not StationXML: empty document")
    name = etree.QName(root).localname
    if name != "FDSNStationXML":
        what = "an HTML page" if name.lower() == "html" else "another XML document"
        raise ValueError(f"not StationXML: {what} (root element {name!r})")
    for net in root:
        if not isinstance(net.tag, str) or etree.QName(net).localname != "Network":
            continue
        if net.get("code") != network:
            continue
        for sta in net:
            if (isinstance(sta.tag, str) and etree.QName(sta).localname == "Station"
                    and sta.get("code") == station):
                return
    raise ValueError(f"StationXML without station {network}.{station}")


def fetch(client: Client, engine: sa.engine.Engine, update: bool, timeout: float,
          limits: dict[int, AdaptiveLimit], workers: int, progress: bool = False,
          tick: Callable[[], None] | None = None, *, max_bytes: int | None = None,
          write: Callable[[Callable[[sa.Connection], Any]], Any] | None = None,
          station_urls: dict[int, str] | None = None) -> dict[str, int]:
    """Download, check and write inventories; return counts ('saved', 'failed'). ``tick()``
    is called after each station, between transactions (the run saves its log there);
    ``write(func)`` runs ``func(conn)`` in a transaction (the run's retried one);
    ``station_urls``: data center id -> station URL to use (the configured one, with its
    credentials if any: the database has it with the password masked)."""
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
    if write is None:
        def write(func: Callable[[sa.Connection], Any]) -> Any:
            with engine.begin() as conn:
                return func(conn)

    def one(row: sa.Row) -> tuple[sa.Row, bytes | None, str | None]:
        resp = client.request((station_urls or {}).get(row.datacenter_id, row.station_url),
                              data=_body(row.network, row.station, row.start_time, row.end_time),
                              timeout=timeout, limit=limits.get(row.datacenter_id),
                              max_bytes=max_bytes)
        if not resp.ok or not resp.body:
            return row, None, resp.error or f"HTTP {resp.status} (no content)"
        try:
            check_stationxml(resp.body, row.network, row.station)
        except ValueError as exc:
            return row, None, str(exc)
        return row, gzip.compress(resp.body, compresslevel=9, mtime=0), None

    from tqdm.auto import tqdm

    reasons: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, \
            tqdm(total=len(todo), unit="sta", desc="inventories", disable=not progress) as bar:
        futures = [pool.submit(one, r) for r in todo]
        for fut in as_completed(futures):
            bar.update(1)
            row, xml, err = fut.result()
            if xml is None:
                counts["failed"] += 1
                reasons[err or ""] = reasons.get(err or "", 0) + 1
                if reasons[err or ""] <= 3:
                    log.warning("inventory of station %s.%s (id %d) not saved: %s", row.network,
                                row.station, row.id, err)
            else:
                def store(conn: sa.Connection, sid: int = row.id, xml: bytes = xml) -> None:
                    conn.execute(st.update().where(st.c.id == sid).values(inventory_xml=xml))

                write(store)
                counts["saved"] += 1
            if tick is not None:
                tick()
    for err, n in reasons.items():
        if n > 3:
            log.warning("%d more inventories not saved: %s", n - 3, err)
    log.info("inventories: %d saved, %d failed%s", counts["saved"], counts["failed"],
             " (left empty: the next run asks again)" if counts["failed"] else "")
    return counts
