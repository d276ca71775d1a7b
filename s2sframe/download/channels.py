"""Channels: fdsnws-station (level=channel, text, POST) of each data center, filtered
client-side (wildcards, ``!`` negation, min sample rate), a station offered by several
data centers kept once, written to ``stations`` and ``channels``. A data center whose
station service fails falls back to the channels already in the database.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa

from ..db import schema
from .http import Client
from .routing import DataCenter

log = logging.getLogger("s2sframe.download")


@dataclass
class Chan:
    """One channel to download from (ids from the database)."""

    id: int
    station_id: int
    datacenter_id: int
    network: str
    station: str
    location: str
    channel: str
    latitude: float
    longitude: float
    start_time: datetime
    end_time: datetime | None
    sample_rate: float

    @property
    def seed_id(self) -> str:
        return f"{self.network}.{self.station}.{self.location}.{self.channel}"


def matches(value: str, patterns: list[str]) -> bool:
    """stream2segment's selection: [] all; ``!p`` excludes; other patterns include."""
    pos = [p for p in patterns if not p.startswith("!")]
    neg = [p[1:] for p in patterns if p.startswith("!")]
    if pos and not any(fnmatchcase(value, p) for p in pos):
        return False
    return not any(fnmatchcase(value, p) for p in neg)


def post_data(cfg: Any) -> str:
    """The fdsnws-station POST body: positive patterns server side, the rest client side."""
    def codes(patterns: list[str], loc: bool = False) -> str:
        pos = [p for p in patterns if not p.startswith("!")]
        if not pos:
            return "*"
        return ",".join("--" if (loc and p == "") else p for p in pos)

    line = " ".join([codes(cfg.network), codes(cfg.station), codes(cfg.location, True),
                     codes(cfg.channel), cfg.starttime.isoformat(), "*"])
    return "format=text\nlevel=channel\n" + line + "\n"


def parse_text(text: str) -> list[dict[str, Any]]:
    """Rows of an fdsnws-station text response at channel level."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        c = [x.strip() for x in line.split("|")]
        if len(c) < 17:
            continue
        try:
            out.append({
                "network": c[0], "station": c[1], "location": "" if c[2] == "--" else c[2],
                "channel": c[3], "latitude": float(c[4]), "longitude": float(c[5]),
                "elevation": _num(c[6]), "depth": _num(c[7]), "azimuth": _num(c[8]),
                "dip": _num(c[9]), "sensor_description": c[10] or None, "scale": _num(c[11]),
                "scale_freq": _num(c[12]), "scale_units": c[13] or None,
                "sample_rate": float(c[14]), "start_time": _dt(c[15]), "end_time": _dt(c[16]),
            })
        except (ValueError, TypeError):
            continue
    return out


def _num(s: str) -> float | None:
    return float(s) if s else None


def _dt(s: str) -> datetime | None:
    return datetime.fromisoformat(s.rstrip("Z")).replace(tzinfo=None) if s else None


def fetch(client: Client, conn: sa.Connection, cfg: Any, dcs: list[DataCenter],
          timeout: float) -> list[Chan]:
    """Query, filter, de-duplicate and write channels; return those to download from."""
    body = post_data(cfg)
    with ThreadPoolExecutor(max_workers=max(1, len(dcs))) as pool:
        resps = list(pool.map(lambda d: client.request(d.station_url, data=body, timeout=timeout), dcs))
    rows_by_dc: dict[int, list[dict[str, Any]]] = {}
    failed = []
    for dc, resp in zip(dcs, resps, strict=True):
        if resp.status == 204 or (resp.ok and not resp.body):
            rows_by_dc[dc.id] = []
        elif not resp.ok:
            log.warning("Unable to fetch stations from %s (%s): using the channels already in "
                        "the database for this data center", dc.station_url, resp.error)
            failed.append(dc.id)
        else:
            rows_by_dc[dc.id] = _filter(parse_text(resp.body.decode("utf8", "replace")), cfg)
    rows = _dedupe(rows_by_dc, dcs)
    chans = _save(conn, rows, cfg.update_metadata)
    if failed:
        chans += _from_db(conn, failed, cfg)
    log.info("channels: %d (%d stations) from %d data center(s)", len(chans),
             len({c.station_id for c in chans}), len(dcs))
    return chans


def _filter(rows: list[dict[str, Any]], cfg: Any) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if (matches(r["network"], cfg.network) and matches(r["station"], cfg.station)
                and matches(r["location"], cfg.location) and matches(r["channel"], cfg.channel)
                and (cfg.min_sample_rate <= 0 or r["sample_rate"] >= cfg.min_sample_rate)):
            out.append(r)
    return out


def _dedupe(rows_by_dc: dict[int, list[dict[str, Any]]], dcs: list[DataCenter]) -> list[dict[str, Any]]:
    """One data center per station: the one routing says, else the first that offers it."""
    owner: dict[tuple[str, str], int] = {}
    routed = {n: d.id for d in dcs for n in d.networks}
    for dc in dcs:
        for r in rows_by_dc.get(dc.id, []):
            key = (r["network"], r["station"])
            if key not in owner or routed.get(r["network"]) == dc.id:
                owner[key] = dc.id
    out, dropped = [], 0
    for dc in dcs:
        for r in rows_by_dc.get(dc.id, []):
            if owner[(r["network"], r["station"])] == dc.id:
                out.append({**r, "datacenter_id": dc.id})
            else:
                dropped += 1
    if dropped:
        log.warning("%d channel(s) offered by more than one data center: kept once", dropped)
    return out


def _station_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    stations: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        key = (r["network"], r["station"])
        st = stations.setdefault(key, {"network": r["network"], "station": r["station"],
                                       "latitude": r["latitude"], "longitude": r["longitude"],
                                       "elevation": r["elevation"], "start_time": r["start_time"],
                                       "end_time": r["end_time"],
                                       "datacenter_id": r["datacenter_id"], "_open": False})
        st["start_time"] = min(st["start_time"], r["start_time"])
        if r["end_time"] is None:
            st["_open"] = True
        elif st["end_time"] is not None:
            st["end_time"] = max(st["end_time"], r["end_time"])
    for st in stations.values():
        if st.pop("_open"):
            st["end_time"] = None
    return stations


def _save(conn: sa.Connection, rows: list[dict[str, Any]], update: bool) -> list[Chan]:
    st, ch = schema.stations, schema.channels
    stations = _station_key(rows)
    nets = sorted({k[0] for k in stations})
    existing = {}
    if nets:
        q = sa.select(st.c.id, st.c.network, st.c.station, st.c.start_time, st.c.datacenter_id,
                      st.c.end_time).where(st.c.network.in_(nets))
        existing = {(r.network, r.station, r.start_time): r for r in conn.execute(q)}
    ids: dict[tuple[str, str], tuple[int, int, datetime | None]] = {}
    new_st = 0
    for key, s in stations.items():
        row = existing.get((key[0], key[1], s["start_time"]))
        if row is None:
            sid = conn.execute(st.insert().values(**s)).inserted_primary_key[0]
            ids[key] = (int(sid), s["datacenter_id"], s["end_time"])
            new_st += 1
        else:
            if update:
                conn.execute(st.update().where(st.c.id == row.id).values(
                    **{k: v for k, v in s.items() if k != "start_time"}))
                ids[key] = (row.id, s["datacenter_id"], s["end_time"])
            else:
                ids[key] = (row.id, row.datacenter_id, row.end_time)
    sids = sorted({v[0] for v in ids.values()})
    ex_ch = {}
    for k in range(0, len(sids), 500):
        q = sa.select(ch.c.id, ch.c.station_id, ch.c.location, ch.c.channel).where(
            ch.c.station_id.in_(sids[k:k + 500]))
        ex_ch.update({(r.station_id, r.location, r.channel): r.id for r in conn.execute(q)})
    cols = ("depth", "azimuth", "dip", "sensor_description", "scale", "scale_freq",
            "scale_units", "sample_rate")
    out, inserts = [], []
    for r in rows:
        sid, dcid, send = ids[(r["network"], r["station"])]
        key = (sid, r["location"], r["channel"])
        values = {c: r[c] for c in cols}
        if key not in ex_ch:
            inserts.append({"station_id": sid, "location": r["location"], "channel": r["channel"], **values})
        elif update:
            conn.execute(ch.update().where(ch.c.id == ex_ch[key]).values(**values))
    if inserts:
        conn.execute(ch.insert(), inserts)
        for k in range(0, len(sids), 500):
            q = sa.select(ch.c.id, ch.c.station_id, ch.c.location, ch.c.channel).where(
                ch.c.station_id.in_(sids[k:k + 500]))
            ex_ch.update({(x.station_id, x.location, x.channel): x.id for x in conn.execute(q)})
    for r in rows:
        sid, dcid, send = ids[(r["network"], r["station"])]
        stt = stations[(r["network"], r["station"])]["start_time"]
        out.append(Chan(ex_ch[(sid, r["location"], r["channel"])], sid, dcid, r["network"],
                        r["station"], r["location"], r["channel"], r["latitude"], r["longitude"],
                        stt, send, r["sample_rate"]))
    log.info("stations: %d new written; channels: %d new written", new_st, len(inserts))
    return out


def _from_db(conn: sa.Connection, dc_ids: list[int], cfg: Any) -> list[Chan]:
    st, ch = schema.stations, schema.channels
    q = (sa.select(ch.c.id, ch.c.station_id, st.c.datacenter_id, st.c.network, st.c.station,
                   ch.c.location, ch.c.channel, st.c.latitude, st.c.longitude, st.c.start_time,
                   st.c.end_time, ch.c.sample_rate)
         .join(st, st.c.id == ch.c.station_id).where(st.c.datacenter_id.in_(dc_ids)))
    out = [Chan(*r) for r in conn.execute(q)]
    rows = [{"network": c.network, "station": c.station, "location": c.location,
             "channel": c.channel, "sample_rate": c.sample_rate, "_c": c} for c in out]
    return [r["_c"] for r in _filter(rows, cfg)]
