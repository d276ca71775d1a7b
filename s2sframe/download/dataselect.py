"""Waveforms: one fdsnws-dataselect POST per data center and time window (split again on
413), the response split per channel and record with libmseed (pymseed), each segment
checked and given stream2segment's download code.

Codes: the HTTP status (200 with data; 204, 4xx, 5xx without), -1 URL error, -2
malformed miniSEED, -200 data saved but records outside the window dropped, -204 all
records outside the window, None: the channel was not in a response with others.

A damaged record costs only its channel (-2): a record that libmseed cannot parse or
decode, with a sample rate of 0, claiming more samples than it holds, or in miniSEED 3
(which ObsPy, and so the processing of the segments, cannot read); the other channels of
the response keep their data. A record whose header cannot be read costs the channels of
the records next to it (a response holds the records of a channel together); with no
record readable, every channel of the request is -2.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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


@dataclass(slots=True)
class _Rec:
    """One record of a response: channel, time span (ns), rate, bytes, or why unusable."""

    sid: str | None
    start: int = 0
    end: int = 0
    rate: float = 0.0
    raw: bytes = b""
    error: str | None = None


def _rec(msr: Any, raw: bytes, names: dict[str, str]) -> _Rec:
    """The record ``raw`` parsed (and decoded) as ``msr``; ``names``: source id -> NET.STA.
    LOC.CHA, filled as met. Refused: miniSEED 3 (ObsPy cannot read it), a sample rate of
    0, fewer samples decoded than the header claims."""
    src = msr.sourceid
    sid = names.get(src)
    if sid is None:
        sid = names[src] = _nslc(src)
    count, rate = msr.samplecnt, msr.samprate
    if raw[:3] == b"MS\x03":
        return _Rec(sid, error="miniSEED 3 record (not readable by ObsPy)")
    if count > 0 and not rate > 0:
        return _Rec(sid, error=f"sample rate {rate}")
    held = msr.numsamples
    if held != count:
        return _Rec(sid, error=f"record claims {count} samples, holds {held}")
    return _Rec(sid, msr.starttime, msr.endtime, rate, raw)


def _nslc(sourceid: str) -> str:
    from pymseed import sourceid2nslc

    return ".".join(sourceid2nslc(sourceid))


def records(data: bytes) -> Iterator[_Rec]:
    """The records of a response, in order: parsed and decoded by libmseed (one C loop
    when the response is whole), else record by record, resynchronising after a damaged
    one on the next header."""
    from pymseed import MS3Record

    out = []
    names: dict[str, str] = {}
    try:
        offset = 0
        for msr in MS3Record.from_buffer(data, unpack_data=True, validate_crc=True):
            size = msr.reclen
            out.append(_rec(msr, data[offset:offset + size], names))
            offset += size
    except Exception:  # noqa: BLE001 - damaged somewhere: record by record
        yield from _one_by_one(data, names)
        return
    yield from out


_HEADER = re.compile(rb"[0-9 ]{6}[DRQM][ \x00]|MS\x03")


def _one_by_one(data: bytes, names: dict[str, str]) -> Iterator[_Rec]:
    from pymseed import MS3Record
    from pymseed.clib import clibmseed, ffi

    buf = ffi.from_buffer(data)
    version = ffi.new("uint8_t *")
    size, offset = len(data), 0
    while offset < size:
        length = clibmseed.ms3_detect(buf + offset, size - offset, version)
        if length == 0:  # miniSEED 2 without blockette 1000: up to the next header
            length = (_next_header(data, offset + 48, buf, version) or size) - offset
        if length <= 0 or length > size - offset:
            yield _Rec(_header_sid(data, offset), error="damaged or truncated record")
            nxt = _next_header(data, offset + 1, buf, version)
            if nxt is None:
                return
            offset = nxt
            continue
        raw = data[offset:offset + length]
        try:
            msr = next(iter(MS3Record.from_buffer(raw, unpack_data=True, validate_crc=True)))
            rec = _rec(msr, raw, names)
        except Exception as exc:  # noqa: BLE001 - this record only
            yield _Rec(_header_sid(raw, 0), error=f"malformed record: {exc}"[:200])
            # its length is not to be trusted (a truncated record is followed by the next)
            nxt = _next_header(data, offset + 1, buf, version)
            if nxt is None:
                return
            offset = nxt
            continue
        offset += length
        yield rec


def _next_header(data: bytes, start: int, buf: Any, version: Any) -> int | None:
    from pymseed.clib import clibmseed

    for m in _HEADER.finditer(data, start):
        if clibmseed.ms3_detect(buf + m.start(), len(data) - m.start(), version) >= 0:
            return m.start()
    return None


def _header_sid(data: bytes, offset: int) -> str | None:
    """NET.STA.LOC.CHA in the (maybe damaged) header at ``offset``, None if unreadable."""
    try:
        if data[offset:offset + 3] == b"MS\x03":
            n = data[offset + 33]
            return _nslc(data[offset + 40:offset + 40 + n].decode("ascii"))
        head = data[offset + 8:offset + 20].decode("ascii")
    except (IndexError, UnicodeDecodeError, ValueError):
        return None
    sta, loc, cha, net = head[:5].strip(), head[5:7].strip(), head[7:10].strip(), head[10:].strip()
    codes = f"{net}{sta}{loc}{cha}"
    if len(data) - offset < 20 or not codes.isalnum() or not (net and sta and cha):
        return None
    return f"{net}.{sta}.{loc}.{cha}"


def _around(order: list[_Rec], k: int) -> set[str]:
    """Channels of the nearest records before and after ``order[k]`` whose header was
    read: those a damaged record of unreadable header may belong to (a response holds the
    records of a channel together)."""
    out = set()
    for side in (range(k - 1, -1, -1), range(k + 1, len(order))):
        sid = next((order[i].sid for i in side if order[i].sid is not None), None)
        if sid is not None:
            out.add(sid)
    return out


def split_response(data: bytes, segs: list[Seg], status: int) -> None:
    """Fill each ``seg.result`` from a miniSEED response (``status``: its HTTP status)."""
    wanted = {s.seed_id: s for s in segs}
    t0 = int((segs[0].request_start - _EPOCH).total_seconds() * 1e9)
    t1 = int((segs[0].request_end - _EPOCH).total_seconds() * 1e9)
    recs: dict[str, list[_Rec]] = {}
    outside: set[str] = set()
    damaged: dict[str, str] = {}
    unknown = None  # a damaged record of no known channel and no good record around
    order = list(records(data))
    for k, rec in enumerate(order):
        if rec.error is not None:
            for sid in [rec.sid] if rec.sid is not None else _around(order, k):
                damaged.setdefault(sid, rec.error)
            if rec.sid is None and not _around(order, k):
                unknown = rec.error
        elif not rec.raw:
            continue
        elif rec.start > t1 or rec.end < t0:
            outside.add(rec.sid or "")
        else:
            recs.setdefault(rec.sid or "", []).append(rec)
    for sid, seg in wanted.items():
        if sid in damaged:
            seg.result = {"download_code": MSEED_ERR, "error": f"malformed miniSEED: {damaged[sid]}"}
            continue
        records_ = recs.get(sid)
        if not records_:
            if sid in outside:  # stream2segment: no bytes, the channel's id
                seg.result = {"download_code": TIMESPAN_ERR, "data": b"", "data_seed_id": sid}
            elif unknown is not None:
                seg.result = {"download_code": MSEED_ERR, "error": f"malformed miniSEED: {unknown}"}
            else:
                seg.result = {"download_code": None}
            continue
        records_.sort(key=lambda r: r.start)
        rate = records_[0].rate
        if any(r.rate != rate for r in records_):
            seg.result = {"download_code": MSEED_ERR, "error": "records sample rate mismatch"}
            continue
        maxgap = 0.0
        for prev, cur in zip(records_, records_[1:], strict=False):
            gap = (cur.start - prev.end) / 1e9 * rate - 1.0
            if abs(gap) > abs(maxgap):
                maxgap = gap
        seg.result = {
            "download_code": TIMESPAN_WARN if sid in outside else status,
            "data": b"".join(r.raw for r in records_), "sample_rate": rate,
            "maxgap_numsamples": maxgap, "data_seed_id": sid,
            "start_time": _dt(records_[0].start), "end_time": _dt(records_[-1].end),
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
    elif resp.ok:  # no content: stream2segment stores b'' (no data, no error)
        for s in segs:
            s.result = {"download_code": 204 if resp.status == 200 else resp.status,
                        "data": b""}
    else:
        for s in segs:
            s.result = {"download_code": resp.status, "error": resp.error}
    return [segs]

