"""Vectorized check of the common miniSEED layout, for :mod:`s2sframe.decode.mseed`.

:func:`_single_trace` proves with NumPy, on all record headers at once, that a
buffer is ONE ObsPy trace (records of equal length, blockette 1000 and optionally
1001, constant codes, contiguous times); :func:`_split_traces` does it for each
libmseed segment of one id split at gaps or overlaps. Both return None when the
record-by-record check (``_mseed._traces_by_record``) must decide.
"""

from __future__ import annotations

import datetime
import struct
from typing import Any

import numpy as np
from obspy import Trace

from .mseed_trace import _ENCODINGS, _NULL, _make_trace

_EPOCH = datetime.date(1970, 1, 1)

# Vectorized check of the common case (one trace, records of equal length with
# blockette 1000 and optionally 1001 at bytes 48 and 56, in either order: ObsPy
# writes 1001 first). Header bytes that must be equal in all records: quality,
# station, location, channel, network (6, 8-19), year (20-21), sample rate factor
# and multiplier (32-35), number of blockettes (39), time correction (40-43), data
# offset (44-45), first blockette (46-47), blockette types and links (48-51 and
# 56-59 if two) and blockette 1000's encoding, word order and record length exponent.
_COMMON_COLUMNS = [6, *range(8, 22), *range(32, 36), *range(39, 52)]
_CONST_COLUMNS = {
    "1000": np.array([*_COMMON_COLUMNS, 52, 53, 54]),
    "1000+1001": np.array([*_COMMON_COLUMNS, 52, 53, 54, *range(56, 60)]),
    "1001+1000": np.array([*_COMMON_COLUMNS, *range(56, 60), 60, 61, 62]),
}
# Varying bytes, most significant first: day of year (2), hour, minute, second,
# 1/10000 s (2), number of samples (2); and their weights giving (start time in
# microseconds from the start of the year, number of samples).
_VARYING_COLUMNS = {
    ">": np.array([22, 23, 24, 25, 26, 28, 29, 30, 31]),
    "<": np.array([23, 22, 24, 25, 26, 29, 28, 31, 30]),
}
_VARYING_WEIGHTS = np.array(
    [
        [256 * 86400_000000, 0],
        [86400_000000, 0],
        [3600_000000, 0],
        [60_000000, 0],
        [1_000000, 0],
        [25600, 0],
        [100, 0],
        [0, 256],
        [0, 1],
    ],
    dtype=np.int64,
)
_FLAGS_0X32 = bytes(i & 0x32 for i in range(256))  # bytes.translate table: flags & 0x32
_count_nonzero = np.count_nonzero
_min = np.minimum.reduce
_max = np.maximum.reduce
_sum = np.add.reduce
_USEC_ADD = np.array([1, 0, 1], dtype=np.int64)  # blockette 1001's microseconds: to starts
_EXACT_WEIGHTS: dict[int, np.ndarray] = {}


def _exact_weights(delta: int) -> np.ndarray:
    """Weights giving (start, samples, start + samples * delta) of each record.

    Used when ``1e6 / rate == delta`` exactly (100 Hz, 20 Hz...): then ObsPy's span
    ``int((samples - 1) / rate * 1e6 + 0.5)`` equals ``(samples - 1) * delta``, since
    the floating-point result is within a few ulps of that integer (samples < 65536,
    delta <= 1e9: the error is < 0.01, far from the rounding boundary), and the gap
    ``start' - (start + span) - delta`` is ``start' - (start + samples * delta)``.
    """
    weights = _EXACT_WEIGHTS.get(delta)
    if weights is None:
        weights = np.empty((len(_VARYING_WEIGHTS), 3), dtype=np.int64)
        weights[:, :2] = _VARYING_WEIGHTS
        weights[:, 2] = _VARYING_WEIGHTS[:, 0] + delta * _VARYING_WEIGHTS[:, 1]
        if len(_EXACT_WEIGHTS) < 64:
            _EXACT_WEIGHTS[delta] = weights
    return weights


# columns gathered at once per (blockette layout, header byte order), and how many
# of them (the first) must be constant
_GATHER = {
    (layout, order): (np.array([*const, 36, *_VARYING_COLUMNS[order]]), len(const))
    for layout, const in _CONST_COLUMNS.items()
    for order in "<>"
}
_FIRST_HEADER = {
    ">": struct.Struct(">HHBBBxHHhhBxxBiHHHHBbBxHHBbB"),
    "<": struct.Struct("<HHBBBxHHhhBxxBiHHHHBbBxHHBbB"),
}


def _single_trace(
    data: bytes, tid: Any, seg: Any, nrec: int, filesize: int | None = None
) -> tuple[Trace, int, int, str] | None:
    """The whole buffer as ONE ObsPy trace, checked on all headers at once (NumPy).

    Returns None when the records do not have the usual layout (equal length,
    blockette 1000 and optionally 1001 at bytes 48/56, constant codes, year, rate,
    flags, time correction) or ObsPy would not make one trace of them: the caller
    then checks record by record. Else ``(trace, end, delta, sample type)``: the
    trace, its end and sampling interval as ObsPy's reader computes them
    (microseconds; see _split_traces) and its sample type. ``filesize``: size of
    the whole buffer when ``data`` is a part of it.
    """
    nbytes = len(data)
    reclen = seg.recordlist.first.msr.reclen
    if reclen < 128 or nbytes != reclen * nrec or seg.recordlist.recordcnt != nrec:
        return None
    # header byte order as libmseed decides it: little-endian if the year is plausible
    year = data[20] | (data[21] << 8)
    doy = data[22] | (data[23] << 8)
    byteorder = "<" if 1900 <= year <= 2100 and 1 <= doy <= 366 else ">"
    (
        year,
        doy,
        hour,
        minute,
        second,
        fract,
        nsamples,
        _,
        _,
        activity,
        nblockettes,
        correction,
        data_offset,
        blockette_offset,
        type48,
        next48,
        byte52,
        byte53,
        byte54,
        type56,
        next56,
        byte60,
        byte61,
        byte62,
    ) = _FIRST_HEADER[byteorder].unpack_from(data, 20)
    if blockette_offset != 48 or not 48 <= data_offset < reclen or activity & 0x30:
        return None  # unusual layout, or leap second (ObsPy shortens that record)
    if type48 == 1000 and next48 == 0 and nblockettes == 1:
        layout, b1000, usec_at, usec = "1000", (byte52, byte53, byte54), None, 0
    elif type48 == 1000 and next48 == 56 and type56 == 1001 and next56 == 0:
        layout, b1000, usec_at, usec = "1000+1001", (byte52, byte53, byte54), 61, byte61
    elif type48 == 1001 and next48 == 56 and type56 == 1000 and next56 == 0:
        layout, b1000, usec_at, usec = "1001+1000", (byte60, byte61, byte62), 53, byte53
    else:
        return None
    encoding, word_order, exponent = b1000
    if encoding not in _ENCODINGS or (1 << exponent) != reclen or not 1900 <= year <= 2100:
        return None
    if usec_at is not None and nblockettes != 2:
        return None
    rate = seg.samprate
    if not rate > 0.0:
        return None
    # ObsPy's start time of the first record must be libmseed's
    days = (datetime.date(year, 1, 1) - _EPOCH).days + doy - 1
    first_us = (((days * 24 + hour) * 60 + minute) * 60 + second) * 1000000 + fract * 100
    if not activity & 0x02:
        first_us += correction * 100
    if first_us + usec != seg.starttime // 1000 or seg.starttime % 1000:
        return None
    delta = int(1000000 / rate)  # ObsPy's sampling interval (us, truncated)
    if nrec == 1:
        npts = nsamples
    else:
        records = np.frombuffer(data, dtype=np.uint8).reshape(nrec, reclen)
        columns, nconst = _GATHER[layout, byteorder]
        table = records[:, columns]  # one gather: constant bytes, flags, varying bytes
        const = table[:, :nconst]
        if const.tobytes() != const[0].tobytes() * nrec:
            return None
        # time correction applied? leap second? (other activity flags may vary)
        if data[36::reclen].translate(_FLAGS_0X32) != bytes((activity & 0x32,)) * nrec:
            return None
        # libmseed 2 (ObsPy) appends a record to the trace if
        # |start - (previous start + previous span) - delta| <= delta / 2, where
        # span = (samples - 1) / rate rounded, delta = 1 / rate truncated (in us)
        tol = int(0.5 * delta)
        if 1000000 / rate == delta and 0 < delta <= 1000000000:
            # delta is exact: span is (samples - 1) * delta exactly (see _exact_weights),
            # so one product gives start, samples and start + span + delta per record
            m = table[:, nconst + 1 :] @ _exact_weights(delta)  # uint8 @ int64: int64
            if usec_at is not None:
                m += np.frombuffer(data, dtype=np.int8)[usec_at::reclen, None] * _USEC_ADD
            start = m[:, 0]
            counts = m[:, 1]
            if _count_nonzero(counts) != nrec:  # a record without samples
                return None
            gaps = start[1:] - m[:-1, 2]
            if gaps.any():  # rare: the records are not exactly contiguous
                if _min(gaps) < -tol or _max(gaps) > tol:
                    return None
                npts = int(_sum(counts))
            else:  # the spans add up: samples = (end of the last - start of the first) / delta
                npts = (int(m[-1, 2]) - int(m[0, 0])) // delta
        else:
            # start (microseconds from the year's start) and number of samples of each
            # record; the time correction (constant) cancels out in the gaps
            start_npts = table[:, nconst + 1 :].astype(np.int64) @ _VARYING_WEIGHTS
            start = start_npts[:, 0]
            counts = start_npts[:, 1]
            if usec_at is not None:
                start += np.frombuffer(data, dtype=np.int8)[usec_at::reclen]
            if not counts.all():  # a record without samples (counts are >= 0)
                return None
            span = ((counts[:-1] - 1) / rate * 1000000 + 0.5).astype(np.int64)
            gaps = start[1:] - start[:-1] - span - delta
            if np.abs(gaps).max() > tol:
                return None
            npts = int(_sum(counts))
        last_start = first_us + usec + int(start[-1] - start[0])
        last_count = int(counts[-1])
    if npts != seg.samplecnt:
        return None  # our header reading disagrees with libmseed's: be safe
    if nrec == 1:
        last_start, last_count = first_us + usec, nsamples
    # ObsPy's end of the trace: start of the last record + its span (rounded us)
    end = last_start + int((last_count - 1) / rate * 1000000 + 0.5)
    # One chain in buffer order = one ObsPy trace. libmseed's segment holds the same
    # records sorted by time, which is the buffer order (start times increase).
    trace = _make_trace(
        data,
        tid,
        seg,
        npts=npts,
        offset=0,
        nrecords=nrec,
        encoding=encoding,
        reclen=reclen,
        rate=rate,
        big_endian=bool(word_order),
        filesize=filesize,
    )
    return trace, end, delta, _ENCODINGS[encoding][1]


def _split_traces(data: bytes, tid: Any, nrec: int, base: Any) -> list[Trace] | None:
    """Several libmseed segments of one id (a gap...) as ObsPy traces, or None.

    Each segment must hold the records of one stretch of the buffer, in buffer
    order (checked record by record: only pointers), in turn; each stretch must be
    one ObsPy trace (:func:`_single_trace`) and ObsPy must not join a stretch to the
    previous one (its rule in _traces_by_record: same record id bytes, same sample
    type, rates within 0.01% and |gap| <= delta / 2 means joined).
    """
    traces: list[Trace] = []
    position = 0
    key = None
    previous: tuple[int, int, str, float] | None = None  # end, delta, sample type, rate
    seg = tid.first
    while seg != _NULL:
        reclist = seg.recordlist
        if reclist == _NULL:
            return None
        count = reclist.recordcnt
        rec = reclist.first
        reclen = rec.msr.reclen
        if reclen < 128:
            return None
        offset = position
        while rec != _NULL:  # exactly the next `count` records of the buffer
            if rec.bufferptr - base != position or rec.msr.reclen != reclen:
                return None
            position += reclen
            rec = rec.next
        if position > len(data) or (position - offset) != count * reclen:
            return None
        part = data[offset:position]
        if key is None:
            key = part[6:7] + part[8:20]
        elif part[6:7] + part[8:20] != key:
            return None  # ObsPy would group by these raw bytes: keep it simple
        single = _single_trace(part, tid, seg, count, filesize=len(data))
        if single is None:
            return None
        trace, end, delta, stype = single
        rate = trace.stats.sampling_rate
        if previous is not None:
            prev_end, prev_delta, prev_stype, prev_rate = previous
            tol = int(0.5 * prev_delta)
            gap = seg.starttime // 1000 - prev_end - prev_delta  # start checked exact
            if prev_stype == stype and abs(1.0 - prev_rate / rate) < 0.0001 and -tol <= gap <= tol:
                return None  # ObsPy joins what libmseed split
        previous = (end, delta, stype, rate)
        traces.append(trace)
        seg = seg.next
    if position != len(data) or position != nrec * reclen:
        return None
    return traces
