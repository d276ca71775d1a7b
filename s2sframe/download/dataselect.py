"""Waveforms: one fdsnws-dataselect POST per data center and time window (split again on
413), the response split per channel with libmseed (pymseed), each segment checked and
given stream2segment's download code.

Codes: the HTTP status (200 with data; 204, 4xx, 5xx without), -1 URL error, -2
malformed miniSEED, -200 data saved but records outside the window dropped, -204 all
records outside the window, None: the channel was not in a response with others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .http import AdaptiveLimit, Client

MSEED_ERR, TIMESPAN_WARN, TIMESPAN_ERR = -2, -200, -204
_EPOCH = datetime(1970, 1, 1)


@dataclass
class Seg:
    """A segment to download (``id`` None if new) and, once done, its outcome."""

    channel_id: int
    event_id: int
    datacenter_id: int
    seed_id: str  # NET.STA.LOC.CHA
    event_distance_deg: float
    arrival_time: datetime
    request_start: datetime
    request_end: datetime
    id: int | None = None
    old_code: int | None = None
    result: dict[str, Any] = field(default_factory=dict)


def post_body(segs: list[Seg]) -> str:
    """The dataselect POST lines of segments sharing one time window."""
    s = segs[0].request_start.isoformat(timespec="seconds")
    e = segs[0].request_end.isoformat(timespec="seconds")
    lines = []
    for seg in segs:
        net, sta, loc, cha = seg.seed_id.split(".")
        lines.append(f"{net} {sta} {loc or '--'} {cha} {s} {e}")
    return "\n".join(lines) + "\n"


def _dt(ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=ns // 1000)


def split_response(data: bytes, segs: list[Seg], status: int) -> None:
    """Fill each ``seg.result`` from a miniSEED response (``status``: its HTTP status)."""
    from pymseed import MS3Record, sourceid2nslc

    wanted = {s.seed_id: s for s in segs}
    t0 = int((segs[0].request_start - _EPOCH).total_seconds() * 1e9)
    t1 = int((segs[0].request_end - _EPOCH).total_seconds() * 1e9)
    recs: dict[str, list[tuple[int, int, float, bytes]]] = {}
    outside: set[str] = set()
    try:
        for msr in MS3Record.from_buffer(data, validate_crc=True):
            sid = ".".join(sourceid2nslc(msr.sourceid))
            if msr.starttime > t1 or msr.endtime < t0:
                outside.add(sid)
                continue
            recs.setdefault(sid, []).append((msr.starttime, msr.endtime, msr.samprate,
                                             bytes(msr.record)))
    except Exception as exc:  # noqa: BLE001 - any libmseed failure: the response is unusable
        for s in segs:
            s.result = {"download_code": MSEED_ERR, "error": f"malformed miniSEED: {exc}"}
        return
    for sid, seg in wanted.items():
        records = recs.get(sid)
        if not records:
            seg.result = {"download_code": TIMESPAN_ERR if sid in outside else None}
            continue
        records.sort(key=lambda r: r[0])
        rate = records[0][2]
        if any(r[2] != rate for r in records):
            seg.result = {"download_code": MSEED_ERR, "error": "records sample rate mismatch"}
            continue
        maxgap = 0.0
        for prev, cur in zip(records, records[1:], strict=False):
            gap = (cur[0] - prev[1]) / 1e9 * rate - 1.0
            if abs(gap) > abs(maxgap):
                maxgap = gap
        seg.result = {
            "download_code": TIMESPAN_WARN if sid in outside else status,
            "data": b"".join(r[3] for r in records), "sample_rate": rate,
            "maxgap_numsamples": maxgap, "data_seed_id": sid,
            "start_time": _dt(records[0][0]), "end_time": _dt(records[-1][1]),
        }


def fetch(client: Client, url: str, segs: list[Seg], timeout: float, limit: AdaptiveLimit,
          auth: Any = None, *, max_bytes: int | None = None) -> list[list[Seg]]:
    """Download one request; return the groups done (a 413, or a response over the size
    cap ``max_bytes``, splits the request in two)."""
    resp = client.request(url, data=post_body(segs), timeout=timeout, auth=auth, limit=limit,
                          max_bytes=max_bytes)
    if resp.status == 413 and len(segs) > 1:
        half = len(segs) // 2
        return (fetch(client, url, segs[:half], timeout, limit, auth, max_bytes=max_bytes)
                + fetch(client, url, segs[half:], timeout, limit, auth, max_bytes=max_bytes))
    if resp.ok and resp.body:
        split_response(resp.body, segs, resp.status)
    else:
        code = resp.status if resp.status != 200 else 204
        for s in segs:
            s.result = {"download_code": code, "error": resp.error}
    return [segs]

