"""Segments to download: per event, the channels of the stations within the search radius,
the first arrival (travel-time model), the request window; then what the database already
has decides (new, window changed, or a download code selected by a ``retry_*`` flag).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import sqlalchemy as sa

from ..db import schema
from .channels import Chan
from .config import DownloadConfig, RetrySettings
from .dataselect import MSEED_ERR, TIMESPAN_ERR, TIMESPAN_WARN, Seg
from .traveltimes import great_circle_deg, travel_times

log = logging.getLogger("s2sframe.download")
#: codes that may mean "restricted": retried when downloading with credentials
RESTRICTED_CODES = frozenset({204, 401, 403, 404})
_US = 1_000_000
_EPOCH = datetime(1970, 1, 1)


def radii(search_radius: Mapping[str, float], mags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(min, max) search radius (degrees) of each magnitude, as stream2segment."""
    if "min" in search_radius:
        return (np.full(mags.shape, search_radius["min"]), np.full(mags.shape, search_radius["max"]))
    m0, m1 = search_radius["minmag"], search_radius["maxmag"]
    r0, r1 = search_radius["minmag_radius"], search_radius["maxmag_radius"]
    if m0 == m1:
        rmax = np.where(mags >= m1, r1, r0)
    else:
        rmax = np.interp(mags, [m0, m1], [r0, r1])
    return np.zeros(mags.shape), rmax


def _us(t: datetime) -> int:
    d = t - _EPOCH
    return (d.days * 86400 + d.seconds) * _US + d.microseconds


def _from_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def candidates(events: list[dict[str, Any]], event_ids: dict[str, int], chans: list[Chan],
               cfg: DownloadConfig) -> list[Seg]:
    """Every (event, channel) within radius, with arrival time and request window."""
    if not chans or not events:
        return []
    st_lat = np.array([c.latitude for c in chans])
    st_lon = np.array([c.longitude for c in chans])
    st_start = np.array([_us(c.start_time) for c in chans])
    st_end = np.array([_us(c.end_time) if c.end_time else np.iinfo(np.int64).max for c in chans])
    mags = np.array([e["magnitude"] for e in events], dtype=float)
    rmin, rmax = radii(cfg.search_radius, mags)
    pairs_ev, pairs_ch, dists = [], [], []
    day = 86400 * _US
    for k, ev in enumerate(events):
        t = _us(ev["time"])
        d = great_circle_deg(ev["latitude"], ev["longitude"], st_lat, st_lon)
        ok = (d >= rmin[k]) & (d <= rmax[k]) & (st_start <= t) & (st_end >= t + day)
        idx = np.nonzero(ok)[0]
        pairs_ev.append(np.full(idx.size, k))
        pairs_ch.append(idx)
        dists.append(d[idx])
    ev_idx = np.concatenate(pairs_ev)
    ch_idx = np.concatenate(pairs_ch)
    dist = np.concatenate(dists)
    if ev_idx.size == 0:
        return []
    depths = np.array([events[k]["depth_km"] for k in ev_idx], dtype=float)
    tt = travel_times(cfg.traveltimes_model, depths, dist)
    ev_us = np.array([_us(events[k]["time"]) for k in range(len(events))], dtype=np.int64)
    keep = np.isfinite(tt)
    if (~keep).any():
        log.info("%d segment(s) discarded: no arrival from the travel-time model", int((~keep).sum()))
    arrival = ev_us[ev_idx] + np.round(np.nan_to_num(tt) * _US).astype(np.int64)
    w0 = arrival + int(round(cfg.time_window[0] * 60 * _US))
    w1 = arrival + int(round(cfg.time_window[1] * 60 * _US))
    start = np.round(w0 / _US).astype(np.int64) * _US  # to the second, as stream2segment
    end = np.round(w1 / _US).astype(np.int64) * _US
    out = []
    for i in np.nonzero(keep)[0]:
        c = chans[ch_idx[i]]
        ev = events[ev_idx[i]]
        out.append(Seg(c.id, event_ids[ev["event_id"]], c.datacenter_id, c.seed_id,
                       float(dist[i]), _from_us(arrival[i]), _from_us(start[i]), _from_us(end[i])))
    return out


def to_download(conn: sa.Connection, segs: list[Seg], retry: RetrySettings,
                auth_dcs: set[int]) -> list[Seg]:
    """Keep new segments, changed windows, and retried codes (ids of existing ones set)."""
    sg = schema.segments
    existing: dict[tuple[int, int], Any] = {}
    ev_ids = sorted({s.event_id for s in segs})
    for k in range(0, len(ev_ids), 500):
        q = sa.select(sg.c.id, sg.c.channel_id, sg.c.event_id, sg.c.request_start,
                      sg.c.request_end, sg.c.arrival_time, sg.c.download_code,
                      sg.c.queryauth).where(
            sg.c.event_id.in_(ev_ids[k:k + 500]))
        existing.update({(r.channel_id, r.event_id): r for r in conn.execute(q)})
    out, skipped, changed = [], 0, 0
    for s in segs:
        row = existing.get((s.channel_id, s.event_id))
        if row is None:
            out.append(s)
            continue
        s.id, s.old_code = row.id, row.download_code
        if not same_window(row.request_start, row.request_end, s.request_start, s.request_end):
            changed += 1
            out.append(s)
            continue
        # same window (up to the rounding second): keep the stored one, so a retry asks
        # for what is in the database (stream2segment's travel-time grids differ from
        # TauP by up to 0.5 s: its windows may be a second off ours)
        s.request_start, s.request_end = row.request_start, row.request_end
        s.arrival_time = row.arrival_time
        if _retry(row.download_code, retry) or (
                s.datacenter_id in auth_dcs and row.download_code in RESTRICTED_CODES
                and not row.queryauth):
            out.append(s)
        else:
            skipped += 1
    log.info("segments: %d in radius, %d to download (%d new, %d window changed), %d already "
             "downloaded and not to retry", len(segs), len(out),
             sum(1 for s in out if s.id is None), changed, skipped)
    return out


def same_window(old_start: datetime, old_end: datetime, start: datetime, end: datetime) -> bool:
    """Stored and new request windows equal up to the rounding second, with equal lengths."""
    one = timedelta(seconds=1)
    return (old_end - old_start == end - start and abs(old_start - start) <= one
            and abs(old_end - end) <= one)


def _retry(code: int | None, retry: RetrySettings) -> bool:
    if code is None:
        return retry.retry_seg_not_found
    if code == -1:
        return retry.retry_url_err
    if code == MSEED_ERR:
        return retry.retry_mseed_err
    if code == TIMESPAN_ERR:
        return retry.retry_timespan_err
    if code == TIMESPAN_WARN:
        return False
    if 400 <= code < 500:
        return retry.retry_client_err
    if 500 <= code < 600:
        return retry.retry_server_err
    return False
