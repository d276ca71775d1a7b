"""Data centers: from the EIDA routing service ('eida'), IRIS ('iris') or the given
fdsnws-dataselect URLs; written to ``data_centers``. Also the routing rules (network,
station, location, channel, time span -> data center): when several data centers offer a
channel, the most specific rule matching it decides (see :func:`route`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from fnmatch import fnmatchcase

import sqlalchemy as sa

from ..db import schema
from ..db.urls import mask_web_url
from .config import IRIS_DATASELECT
from .events import DownloadFailed
from .http import Client

log = logging.getLogger("s2sframe.download")


@dataclass(frozen=True)
class Rule:
    """One line of an EIDA routing response: codes (wildcards allowed) and a time span."""

    network: str
    station: str
    location: str
    channel: str
    start: datetime | None
    end: datetime | None

    @classmethod
    def parse(cls, line: str) -> Rule | None:
        """A rule from ``NET STA LOC CHA START END`` (START, END: ISO or '*'); None if the
        line is not one."""
        parts = line.split()
        if len(parts) < 4:
            return None
        parts += ["*"] * (6 - len(parts))
        try:
            start, end = (None if p == "*" else datetime.fromisoformat(p.rstrip("Z")).replace(
                tzinfo=None) for p in parts[4:6])
        except ValueError:
            return None
        loc = "" if parts[2] == "--" else parts[2]
        return cls(parts[0], parts[1], loc, parts[3], start, end)

    def matches(self, codes: tuple[str, str, str, str]) -> bool:
        return all(fnmatchcase(c, p) for c, p in zip(codes, (self.network, self.station,
                                                            self.location, self.channel),
                                                     strict=True))

    def overlap(self, start: datetime, end: datetime) -> float:
        """Seconds of [start, end] within the rule's time span (< 0: none)."""
        lo = max(start, self.start) if self.start else start
        hi = min(end, self.end) if self.end else end
        return (hi - lo).total_seconds()

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        """Per code (network, station, location, channel): 2 exact, 1 pattern, 0 '*'."""
        return tuple(0 if c == "*" else 1 if ("*" in c or "?" in c) else 2  # type: ignore[return-value]
                     for c in (self.network, self.station, self.location, self.channel))


@dataclass
class DataCenter:
    """One data center: its ids and URLs."""

    id: int
    station_url: str
    dataselect_url: str
    organization: str | None = None
    rules: list[Rule] = field(default_factory=list)  # from the routing service, if any

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


def parse_routes(text: str) -> dict[str, list[Rule]]:
    """EIDA routing response (format=post) -> dataselect URL -> its rules.

    Examples
    --------
    >>> routes = parse_routes("http://a.org/fdsnws/dataselect/1/query\\n"
    ...                       "Z3 * * * 2005-06-05T00:00:00 2007-04-30T00:00:00\\n\\n"
    ...                       "http://b.org/fdsnws/station/1/query\\nZ3 A034A * * 2015-09-07 *")
    >>> {url: [(r.network, r.station, r.end) for r in rules] for url, rules in routes.items()}
    ... # doctest: +NORMALIZE_WHITESPACE
    {'http://a.org/fdsnws/dataselect/1/query': [('Z3', '*', datetime.datetime(2007, 4, 30, 0, 0))],
     'http://b.org/fdsnws/dataselect/1/query': [('Z3', 'A034A', None)]}
    """
    out: dict[str, list[Rule]] = {}
    for block in text.replace("\r\n", "\n").split("\n\n"):
        lines = [ln.strip() for ln in block.strip().splitlines() if ln.strip()]
        if not lines or "://" not in lines[0]:
            continue
        rules = out.setdefault(dataselect_url(lines[0]), [])
        rules.extend(r for r in map(Rule.parse, lines[1:]) if r is not None)
    return out


def route(dcs: list[DataCenter], codes: tuple[str, str, str, str], start: datetime,
          end: datetime | None, window: tuple[datetime, datetime]) -> int | None:
    """Id of the data center whose routing rule for the channel ``codes`` (network,
    station, location, channel) operating from ``start`` to ``end`` is the most specific
    (exact codes beat patterns, patterns beat '*', network first, then station, location,
    channel); among equally specific rules, the one covering more of the channel's time
    within the download's ``window``. None: no rule matches.
    """
    lo = max(start, window[0])
    hi = min(end, window[1]) if end is not None else window[1]
    if hi < lo:  # the epoch is outside the window: rank by the epoch itself
        lo, hi = start, end or max(start, window[1])
    best: tuple | None = None
    owner = None
    for dc in dcs:
        for rule in dc.rules:
            if not rule.matches(codes):
                continue
            covered = rule.overlap(lo, hi)
            if covered < 0 or (covered == 0 and hi > lo):
                continue
            key = (rule.specificity, covered)
            if best is None or key > best:
                best, owner = key, dc.id
    return owner


def fetch(client: Client, conn: sa.Connection, data_url: list[str], routing_url: str,
          timeout: float) -> list[DataCenter]:
    """Resolve ``data_url`` into data centers, write the new ones, return them all."""
    found: list[tuple[str, str | None, list[Rule]]] = []
    for item in data_url:
        if item == "eida":
            resp = client.request(routing_url, params={"service": "dataselect", "format": "post"},
                                  timeout=timeout)
            if not resp.ok or not resp.body:
                raise DownloadFailed(f"EIDA routing service {routing_url} failed: "
                                     f"{resp.error or 'no content'}")
            for url, rules in parse_routes(resp.body.decode("utf8", "replace")).items():
                found.append((url, "eida", rules))
        elif item == "iris":
            found.append((IRIS_DATASELECT, "iris", []))
        else:
            found.append((dataselect_url(item), None, []))
    dc = schema.data_centers
    out = []
    for url, org, rules in found:
        surl = station_url(url)
        # stored with passwords masked: the URLs with credentials stay in memory only
        db_surl, db_url = mask_web_url(surl), mask_web_url(url)
        row = conn.execute(sa.select(dc.c.id).where(dc.c.station_url == db_surl,
                                                    dc.c.dataselect_url == db_url)).first()
        if row is None:
            new_id = schema.inserted_id(conn.execute(dc.insert().values(
                station_url=db_surl, dataselect_url=db_url, organization_name=org)))
        else:
            new_id = row[0]
        out.append(DataCenter(int(new_id), surl, url, org, rules))
    if not out:
        raise DownloadFailed("No data center found")
    log.info("data centers: %d (%s)", len(out), ", ".join(d.host for d in out))
    return out
