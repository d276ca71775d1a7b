"""Data centers: from the EIDA routing service ('eida'), IRIS ('iris') or the given
fdsnws-dataselect URLs; written to ``data_centers``. Also the routes (network -> data
center) used to drop a station offered by several data centers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..db import schema
from ..db.urls import mask_web_url
from .config import IRIS_DATASELECT
from .events import DownloadFailed
from .http import Client

log = logging.getLogger("s2sframe.download")


@dataclass
class DataCenter:
    """One data center: its ids and URLs."""

    id: int
    station_url: str
    dataselect_url: str
    organization: str | None = None
    networks: set[str] = field(default_factory=set)  # from the routing service, if any

    @property
    def host(self) -> str:
        return self.dataselect_url.split("/fdsnws/")[0]

    def service_url(self, service: str, method: str = "query") -> str:
        """URL of another service/method of the same node (e.g. dataselect 'auth')."""
        return f"{self.host}/fdsnws/{service}/1/{method}"


def station_url(dataselect_url: str) -> str:
    """fdsnws-station URL of the node of a fdsnws-dataselect URL."""
    base = dataselect_url.split("/fdsnws/")[0]
    return f"{base}/fdsnws/station/1/query"


def dataselect_url(url: str) -> str:
    """Normalized fdsnws-dataselect query URL of any fdsnws URL of a node."""
    return f"{url.split('/fdsnws/')[0]}/fdsnws/dataselect/1/query"


def parse_routes(text: str) -> dict[str, set[str]]:
    """EIDA routing response (format=post) -> dataselect URL -> networks."""
    out: dict[str, set[str]] = {}
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip()]
        if not lines or "://" not in lines[0]:
            continue
        nets = out.setdefault(dataselect_url(lines[0]), set())
        nets.update(ln.split()[0] for ln in lines[1:])
    return out


def fetch(client: Client, conn: sa.Connection, data_url: list[str], routing_url: str,
          timeout: float) -> list[DataCenter]:
    """Resolve ``data_url`` into data centers, write the new ones, return them all."""
    found: list[tuple[str, str | None, set[str]]] = []
    for item in data_url:
        if item == "eida":
            resp = client.request(routing_url, params={"service": "dataselect", "format": "post"},
                                  timeout=timeout)
            if not resp.ok or not resp.body:
                raise DownloadFailed(f"EIDA routing service {routing_url} failed: "
                                     f"{resp.error or 'no content'}")
            for url, nets in parse_routes(resp.body.decode("utf8", "replace")).items():
                found.append((url, "eida", nets))
        elif item == "iris":
            found.append((IRIS_DATASELECT, "iris", set()))
        else:
            found.append((dataselect_url(item), None, set()))
    dc = schema.data_centers
    out = []
    for url, org, nets in found:
        surl = station_url(url)
        # stored with passwords masked: the URLs with credentials stay in memory only
        db_surl, db_url = mask_web_url(surl), mask_web_url(url)
        row = conn.execute(sa.select(dc.c.id).where(dc.c.station_url == db_surl,
                                                    dc.c.dataselect_url == db_url)).first()
        if row is None:
            new_id = conn.execute(dc.insert().values(station_url=db_surl, dataselect_url=db_url,
                                                     organization_name=org)).inserted_primary_key[0]
        else:
            new_id = row[0]
        out.append(DataCenter(int(new_id), surl, url, org, nets))
    if not out:
        raise DownloadFailed("No data center found")
    log.info("data centers: %d (%s)", len(out), ", ".join(d.host for d in out))
    return out
