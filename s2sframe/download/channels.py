"""Channels: fdsnws-station (level=channel, text, POST) of each data center, filtered
client-side (wildcards, ``!`` negation, min sample rate), a channel offered by several
data centers kept once (the routing rules decide, else the data center that has the
station, else the first), written to ``stations`` (one row per station epoch: network,
station and start time, as stream2segment) and ``channels``. A data center whose station
service fails falls back to the channels already in the database. A line or row that
cannot be stored is skipped and logged, never fatal.
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa

from ..db import schema
from .config import DownloadConfig
from .http import Client
from .routing import DataCenter, route
from .rows import Skipped, bad_value, write_rows

log = logging.getLogger("s2sframe.download")


@dataclass
class Chan:
    """One channel to download from (ids from the database; dates: its station epoch)."""

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


def post_data(cfg: DownloadConfig) -> str:
    """The fdsnws-station POST body: positive patterns server side, the rest client side."""
    def codes(patterns: list[str], loc: bool = False) -> str:
        pos = [p for p in patterns if not p.startswith("!")]
        if not pos:
            return "*"
        return ",".join("--" if (loc and p == "") else p for p in pos)

    line = " ".join([codes(cfg.network), codes(cfg.station), codes(cfg.location, True),
                     codes(cfg.channel), cfg.starttime.isoformat(), "*"])
    return "format=text\nlevel=channel\n" + line + "\n"


def parse_text(text: str, source: str = "", skipped: Skipped | None = None) -> list[dict[str, Any]]:
    """Rows of an fdsnws-station text response at channel level; lines that are not a
    storable channel are skipped and counted in ``skipped``. Empty text cells are stored
    as '' (as stream2segment does), empty numbers as NULL.
    """
    skipped = skipped if skipped is not None else Skipped()
    out = []
    for k, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        c = [x.strip() for x in line.split("|")]
        why = None
        if len(c) < 17:
            why = f"{len(c)} columns, 17 expected"
        else:
            try:
                row: dict[str, Any] = {
                    "network": c[0], "station": c[1], "location": "" if c[2] == "--" else c[2],
                    "channel": c[3], "latitude": float(c[4]), "longitude": float(c[5]),
                    "elevation": _num(c[6]), "depth": _num(c[7]), "azimuth": _num(c[8]),
                    "dip": _num(c[9]), "sensor_description": c[10], "scale": _num(c[11]),
                    "scale_freq": _num(c[12]), "scale_units": c[13],
                    "sample_rate": float(c[14]), "start_time": _dt(c[15]), "end_time": _dt(c[16]),
                }
            except (ValueError, TypeError) as exc:
                why = str(exc)
            else:
                why = (bad_value(row, schema.stations) or bad_value(row, schema.channels)
                       or ("latitude or longitude out of range"
                           if not (-90 <= row["latitude"] <= 90 and -180 <= row["longitude"] <= 180)
                           else None)
                       or (None if row["network"] and row["station"] else "empty code"))
        if why is not None:
            skipped.add("station line", f"{source} line {k}: {line[:100]!r}", why)
            continue
        out.append(row)
    return out


def _num(s: str) -> float | None:
    return float(s) if s else None


def _dt(s: str) -> datetime | None:
    return datetime.fromisoformat(s.rstrip("Z")).replace(tzinfo=None) if s else None


def fetch(client: Client, conn: sa.Connection, cfg: DownloadConfig, dcs: list[DataCenter],
          timeout: float, skipped: Skipped | None = None) -> list[Chan]:
    """Query, filter, de-duplicate and write channels; return those to download from."""
    skipped = skipped if skipped is not None else Skipped()
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
            rows_by_dc[dc.id] = _filter(parse_text((resp.body or b"").decode("utf8", "replace"),
                                                   dc.station_url, skipped), cfg)
    known = _known_stations(conn, {r["network"] for rows in rows_by_dc.values() for r in rows})
    rows = _dedupe(rows_by_dc, dcs, (cfg.starttime, cfg.endtime),
                   {k: v.datacenter_id for k, v in known.items()})
    chans = _save(conn, rows, cfg.update_metadata, known, skipped)
    if failed:
        chans += _from_db(conn, failed, cfg)
    log.info("channels: %d (%d station epochs) from %d data center(s)", len(chans),
             len({c.station_id for c in chans}), len(dcs))
    return chans


def _filter(rows: list[dict[str, Any]], cfg: DownloadConfig) -> list[dict[str, Any]]:
    out = []
    for r in rows:
        if (matches(r["network"], cfg.network) and matches(r["station"], cfg.station)
                and matches(r["location"], cfg.location) and matches(r["channel"], cfg.channel)
                and (cfg.min_sample_rate <= 0 or r["sample_rate"] >= cfg.min_sample_rate)):
            out.append(r)
    return out


def _station_key(r: dict[str, Any]) -> tuple[str, str, datetime]:
    """A station epoch: stream2segment's unique key of ``stations``."""
    return (r["network"], r["station"], r["start_time"])


def _dedupe(rows_by_dc: dict[int, list[dict[str, Any]]], dcs: list[DataCenter],
            window: tuple[datetime, datetime],
            known: dict[tuple[str, str, datetime], int]) -> list[dict[str, Any]]:
    """One data center per channel epoch: the one the routing rules say (most specific
    rule, see :func:`~s2sframe.download.routing.route`) if it offers it, else the one the
    database has the station epoch of, else the first data center offering it."""
    offers: dict[tuple, list[tuple[int, dict[str, Any]]]] = {}
    for dc in dcs:
        for r in rows_by_dc.get(dc.id, []):
            key = (*_station_key(r), r["location"], r["channel"])
            offers.setdefault(key, []).append((dc.id, r))
    out, dropped = [], 0
    for (net, sta, start, loc, cha), offered in offers.items():
        chosen = offered[0]
        if len(offered) > 1:
            ids = [d for d, _ in offered]
            want = route(dcs, (net, sta, loc, cha), start, offered[0][1]["end_time"], window)
            if want not in ids:
                want = known.get((net, sta, start))
            if want in ids:
                chosen = offered[ids.index(want)]
            dropped += len(offered) - 1
        out.append({**chosen[1], "datacenter_id": chosen[0]})
    if dropped:
        log.info("%d channel(s) offered by more than one data center: kept once (routing "
                 "rules decide)", dropped)
    return out


def _known_stations(conn: sa.Connection, nets: set[str]) -> dict[tuple[str, str, datetime], sa.Row]:
    st = schema.stations
    if not nets:
        return {}
    q = sa.select(st.c.id, st.c.network, st.c.station, st.c.start_time, st.c.end_time,
                  st.c.datacenter_id).where(st.c.network.in_(sorted(nets)))
    return {(r.network, r.station, r.start_time): r for r in conn.execute(q)}


_STATION_COLS = ("network", "station", "latitude", "longitude", "elevation", "start_time",
                 "end_time")
_CHANNEL_COLS = ("depth", "azimuth", "dip", "sensor_description", "scale", "scale_freq",
                 "scale_units", "sample_rate")


def _save(conn: sa.Connection, rows: list[dict[str, Any]], update: bool,
          known: dict[tuple[str, str, datetime], sa.Row], skipped: Skipped) -> list[Chan]:
    """Write the station epochs and channels of ``rows``; return the channels written."""
    st, ch = schema.stations, schema.channels
    epochs: dict[tuple[str, str, datetime], list[dict[str, Any]]] = {}
    for r in rows:
        epochs.setdefault(_station_key(r), []).append(r)
    stations = {}
    for key, group in epochs.items():  # values of the first channel (as stream2segment)
        dc = Counter(r["datacenter_id"] for r in group).most_common(1)[0][0]
        stations[key] = {**{c: group[0][c] for c in _STATION_COLS}, "datacenter_id": dc}

    def describe_sta(s: dict[str, Any]) -> str:
        return f"{s.get('network')}.{s.get('station')} from {s.get('start_time')}"

    new = [s for k, s in stations.items() if k not in known]
    written = write_rows(conn, st.insert(), new, "station row", describe_sta, skipped)
    if update:
        old = [{**s, "_id": known[k].id} for k, s in stations.items() if k in known]
        params: dict[str, Any] = {c: sa.bindparam(c) for c in (*_STATION_COLS, "datacenter_id")
                  if c != "start_time"}
        write_rows(conn, st.update().where(st.c.id == sa.bindparam("_id")).values(params), old,
                   "station row", describe_sta, skipped)
    if written or update:
        known = {**known, **_known_stations(conn, {k[0] for k in stations})}
    ex_ch = _channel_ids(conn, sorted({known[k].id for k in stations if k in known}))
    inserts, updates, seen = [], [], set()
    for r in rows:
        sta = known.get(_station_key(r))
        if sta is None:  # its station row was skipped
            continue
        cha_key = (sta.id, r["location"], r["channel"])
        values = {c: r[c] for c in _CHANNEL_COLS}
        if cha_key in seen:
            continue
        seen.add(cha_key)
        if cha_key not in ex_ch:
            inserts.append({"station_id": sta.id, "location": r["location"],
                            "channel": r["channel"], **values})
        elif update:
            updates.append({**values, "_id": ex_ch[cha_key]})

    def describe_cha(c: dict[str, Any]) -> str:
        return f"channel {c.get('location')}.{c.get('channel')} of station id {c.get('station_id', '')}"

    added = write_rows(conn, ch.insert(), inserts, "channel row", describe_cha, skipped)
    if updates:
        write_rows(conn, ch.update().where(ch.c.id == sa.bindparam("_id")).values(
            {c: sa.bindparam(c) for c in _CHANNEL_COLS}), updates, "channel row",
            describe_cha, skipped)
    if added:
        ex_ch = _channel_ids(conn, sorted({known[k].id for k in stations if k in known}))
    out = []
    for r in rows:
        sta = known.get(_station_key(r))
        if sta is None:
            continue
        cid = ex_ch.get((sta.id, r["location"], r["channel"]))
        if cid is None:
            continue
        out.append(Chan(cid, sta.id, r["datacenter_id"], r["network"], r["station"],
                        r["location"], r["channel"], r["latitude"], r["longitude"],
                        sta.start_time, sta.end_time, r["sample_rate"]))
    log.info("stations: %d new written; channels: %d new written", len(written), len(added))
    return out


def _channel_ids(conn: sa.Connection, sids: list[int]) -> dict[tuple[int, str, str], int]:
    ch = schema.channels
    out = {}
    for k in range(0, len(sids), 500):
        q = sa.select(ch.c.id, ch.c.station_id, ch.c.location, ch.c.channel).where(
            ch.c.station_id.in_(sids[k:k + 500]))
        out.update({(r.station_id, r.location, r.channel): r.id for r in conn.execute(q)})
    return out


def _from_db(conn: sa.Connection, dc_ids: list[int], cfg: DownloadConfig) -> list[Chan]:
    st, ch = schema.stations, schema.channels
    q = (sa.select(ch.c.id, ch.c.station_id, st.c.datacenter_id, st.c.network, st.c.station,
                   ch.c.location, ch.c.channel, st.c.latitude, st.c.longitude, st.c.start_time,
                   st.c.end_time, ch.c.sample_rate)
         .join(st, st.c.id == ch.c.station_id).where(st.c.datacenter_id.in_(dc_ids)))
    out = [Chan(**r._asdict()) for r in conn.execute(q)]
    rows = [{"network": c.network, "station": c.station, "location": c.location,
             "channel": c.channel, "sample_rate": c.sample_rate, "_c": c} for c in out]
    return [r["_c"] for r in _filter(rows, cfg)]
