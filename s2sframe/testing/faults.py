"""Fault injection of the demo FDSN server, for s2sframe's own tests (not a part of
the demo kit: :func:`~s2sframe.testing.fdsn_server.fdsn_server` serves correct data
unless a test asks :meth:`FDSNServer.fault
<s2sframe.testing.fdsn_server.FDSNServer.fault>` for these faults).

:class:`Fault` is one fault asked for, :class:`FaultList` the faults of a server
(matched by the request handler), :func:`damage` and :func:`damage_records` the
damaged miniSEED answers. Hostile servers in front of the demo server (slow bodies,
hangs, gzip bombs...) are kept with the tests, in ``tests/hostile.py``.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .fdsn_data import Archive, Channel


@dataclass
class Fault:
    """A fault answered instead of (or on top of) the normal answer; see :meth:`FDSNServer.fault`."""

    service: str
    status: int | None = None
    datacenter: int | None = None
    station: str | None = None
    times: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    mseed: str | None = None
    hits: int = 0


class FaultList:
    """The faults asked of one server, matched to its requests (thread-safe)."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def match(self, service: str, dc: int | None, stations: set[str]) -> Fault | None:
        """The first fault for this request not used up (its use counted), else None."""
        with self._lock:
            for f in self.faults:
                if f.service != service or (f.datacenter is not None and f.datacenter != dc):
                    continue
                if f.station is not None and f.station not in stations:
                    continue
                if f.times is not None and f.hits >= f.times:
                    continue
                f.hits += 1
                return f
        return None


def damage(recs: list[bytes], how: str, arch: Archive, ch: Channel, start: datetime,
            end: datetime) -> list[bytes]:
    """``recs`` (miniSEED records of ``ch`` from ``start`` to ``end``) damaged as ``how``
    says (see :meth:`FDSNServer.fault <s2sframe.testing.fdsn_server.FDSNServer.fault>`)."""
    if how == "truncate" and recs:
        return recs[:-1] + [recs[-1][: len(recs[-1]) // 2]]
    if how == "corrupt" and recs:
        return [b"<html>502 Bad Gateway</html>" + recs[0][28:]] + recs[1:]
    if how == "outside":
        return arch.records(ch, start - timedelta(hours=1), start - timedelta(minutes=59)) + recs
    if how == "shift":
        return arch.records(ch, start - timedelta(hours=1), start - timedelta(minutes=58))
    return damage_records(recs, how)


def damage_records(records: list[bytes], how: str) -> list[bytes]:
    """miniSEED 2 ``records`` of one channel damaged as ``how`` says: 'rate0' (sample
    rate 0 in the headers), 'overcount' (headers claim 100 samples more than the records
    hold), 'v3' (the same data as miniSEED 3 records); other values: unchanged."""
    if how == "rate0":
        return [r[:32] + b"\x00\x00\x00\x00" + r[36:] for r in records]
    if how == "overcount":
        return [r[:30] + struct.pack(">H", struct.unpack(">H", r[30:32])[0] + 100) + r[32:]
                for r in records]
    if how == "v3":
        return [_as_v3(r) for r in records]
    return records


def _as_v3(record: bytes) -> bytes:
    from pymseed import DataEncoding, MS3Record

    out: list[bytes] = []
    for msr in MS3Record.from_buffer(record, unpack_data=True):
        new = MS3Record(reclen=512, encoding=DataEncoding.STEIM2)
        new.formatversion = 3
        new.sourceid, new.samprate, new.starttime = msr.sourceid, msr.samprate, msr.starttime
        data = np.array(msr.np_datasamples, dtype=np.int32)
        out.extend(new.generate(data, "i"))
    return b"".join(out)
