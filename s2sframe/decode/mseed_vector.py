"""Vectorized check of the common miniSEED layout, for :mod:`s2sframe.decode.mseed`.

:func:`check_headers` proves with NumPy, on the record headers of many buffers at
once, which buffers are each ONE ObsPy trace (records of equal length, blockette
1000 and optionally 1001, constant codes, contiguous times) and computes what
ObsPy's reader would make of them; :func:`_single_trace` compares that with
libmseed's reading of one buffer and builds the trace; :func:`_split_traces` does it
for each libmseed segment of one id split at gaps or overlaps. A buffer that is not
proved so goes to the record-by-record check (``_mseed._traces_by_record``).

A batch is checked in one pass (``DBSource`` checks the headers of all the segments
of a worker chunk together: 5-7 us per segment instead of 15-20 us one by one).
"""

from __future__ import annotations

import datetime
import struct
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from obspy import Trace

from .mseed_trace import _ENCODINGS, _NULL, _make_trace

#: What :func:`check_headers` proves of a buffer: (number of records, record length,
#: sample rate, start (us since 1970), number of samples, ObsPy's end of the trace (us),
#: ObsPy's sampling interval (us, truncated), encoding code, big-endian samples)
Checked = tuple[int, int, float, int, int, int, int, int, bool]

# Blockette layouts: 1000 alone at byte 48 (0); 1000 at 48 and 1001 at 56 (1); 1001 at
# 48 and 1000 at 56 (2: ObsPy writes this one). Header bytes that must be equal in all
# records of a buffer: quality, station, location, channel, network (6, 8-19), year
# (20-21), sample rate factor and multiplier (32-35), number of blockettes (39), time
# correction (40-43), data offset (44-45), first blockette (46-47), blockette types
# and links, blockette 1000's encoding, word order and record length exponent; of the
# activity flags (36), "time correction applied" and "leap second" (mask 0x32).
_COMMON = [6, *range(8, 22), *range(32, 36), *range(39, 52)]


def _mask(const: list[int]) -> np.ndarray:
    mask = np.zeros(64, dtype=np.uint8)
    mask[const] = 0xFF
    mask[36] = 0x32
    return mask.view(np.uint64)  # 8 words: the header compared 8 bytes at a time


_MASKS = np.stack(
    [
        _mask([*_COMMON, 52, 53, 54]),
        _mask([*_COMMON, 52, 53, 54, *range(56, 60)]),
        _mask([*_COMMON, *range(56, 63)]),
    ]
)
_min = np.minimum.reduce
_max = np.maximum.reduce
_sum = np.add.reduce
_USEC_BYTE = np.array([0, 61, 53])  # blockette 1001's microseconds, by layout (0: none)
# Bytes 22-31 (day of year (2), hour, minute, second, unused, 1/10000 s (2), number of
# samples (2)) -> (microseconds since the start of the day before January 1, samples).
# Float64 products and sums are exact here (integers < 2**53).
_BIG_ENDIAN_TIME_WEIGHTS = np.array(
    [[256 * 86400e6, 0], [86400e6, 0], [3600e6, 0], [60e6, 0], [1e6, 0], [0, 0],
     [25600, 0], [100, 0], [0, 256], [0, 1]]
)
_TIME_WEIGHTS = (  # by "little-endian header"
    _BIG_ENDIAN_TIME_WEIGHTS,
    _BIG_ENDIAN_TIME_WEIGHTS[[1, 0, 2, 3, 4, 5, 7, 6, 9, 8]],
)
# days from 1970-01-01 to the day before January 1 of years 1900-2100
_DAY_BEFORE = {
    year: (datetime.date(year, 1, 1) - datetime.date(1970, 1, 1)).days - 1
    for year in range(1900, 2101)
}
_FIRST_HEADER = {
    ">": struct.Struct(">HHxxxxxxxxhhBxxBiHHHHxxxxHH"),
    "<": struct.Struct("<HHxxxxxxxxhhBxxBiHHHHxxxxHH"),
}


def _rate(factor: int, multiplier: int) -> float:
    """Nominal sample rate from a fixed header, as libmseed 2 (ObsPy) computes it."""
    rate = 0.0
    if factor > 0:
        rate = float(factor)
    elif factor < 0:
        rate = -1.0 / factor
    if multiplier > 0:
        rate = rate * multiplier
    elif multiplier < 0:
        rate = -1.0 * (rate / multiplier)
    return rate


def _first_header(data: bytes) -> tuple | None:
    """What the first record header says of the whole buffer, or None if unusual.

    ``(reclen, number of records, layout, little-endian header, rate, delta (us),
    microseconds of the day before January 1 + time correction, encoding, big-endian
    samples)``.
    """
    # header byte order as libmseed decides it: little-endian if the year is plausible
    year = data[20] | (data[21] << 8)
    doy = data[22] | (data[23] << 8)
    little = 1900 <= year <= 2100 and 1 <= doy <= 366
    (
        year,
        doy,
        factor,
        multiplier,
        activity,
        nblockettes,
        correction,
        data_offset,
        blockette_offset,
        type48,
        next48,
        type56,
        next56,
    ) = _FIRST_HEADER["<" if little else ">"].unpack_from(data, 20)
    if blockette_offset != 48 or activity & 0x30 or not 1900 <= year <= 2100:
        return None  # unusual layout, or leap second (ObsPy shortens that record)
    if type48 == 1000 and next48 == 0 and nblockettes == 1:
        layout, b1000 = 0, 52
    elif (type48, type56) == (1000, 1001) and next48 == 56 and next56 == 0 and nblockettes == 2:
        layout, b1000 = 1, 52
    elif (type48, type56) == (1001, 1000) and next48 == 56 and next56 == 0 and nblockettes == 2:
        layout, b1000 = 2, 60
    else:
        return None
    encoding, word_order, exponent = data[b1000], data[b1000 + 1], data[b1000 + 2]
    if encoding not in _ENCODINGS or not 7 <= exponent <= 24:
        return None
    reclen = 1 << exponent
    nrec, rest = divmod(len(data), reclen)
    if rest or not 48 <= data_offset < reclen:
        return None
    rate = _rate(factor, multiplier)
    if not rate > 0.0:
        return None
    delta = int(1000000 / rate)  # ObsPy's sampling interval (us, truncated)
    if delta <= 0:
        return None
    base = _DAY_BEFORE[year] * 86400_000000
    if not activity & 0x02:  # time correction not applied yet: ObsPy applies it
        base += correction * 100
    return reclen, nrec, layout, int(little), rate, delta, base, encoding, int(word_order != 0)


def check_headers(blobs: Sequence[bytes | None]) -> list[Checked | None]:
    """Check the record headers of many miniSEED buffers at once (NumPy).

    For each buffer: None unless its records have the usual layout (equal length,
    blockette 1000 and optionally 1001 at bytes 48/56, constant codes, year, rate,
    flags, time correction) and ObsPy's reader would make ONE trace of them (every
    record contiguous with the previous one within half a sample); else what that
    trace is (:data:`Checked`), to be compared with libmseed's reading by
    :func:`_single_trace`. Pass a buffer's item to :func:`~s2sframe.decode.read_mseed`
    to decode it without checking again: a batch of 500 costs 5-7 us per buffer, one
    buffer alone 15-20 us.

    Parameters
    ----------
    blobs : sequence of bytes or None
        miniSEED buffers (e.g. the ``segments.data`` of a batch of segments).

    Returns
    -------
    list
        One item per buffer: None (not proved one ObsPy trace: ``read_mseed`` checks
        it record by record) or a :data:`Checked` tuple.

    Examples
    --------
    >>> import io, obspy
    >>> from s2sframe.decode import check_headers, read_mseed
    >>> buf = io.BytesIO()
    >>> obspy.read()[:1].write(buf, format="MSEED", reclen=512)
    >>> blobs = [buf.getvalue(), b"not miniSEED", None]
    >>> checked = check_headers(blobs)
    >>> checked[0][:2], checked[1:]  # records, record length; the others: unproved
    ((53, 512), [None, None])
    >>> read_mseed(blobs[0], checked[0])[0].stats.npts
    3000
    """
    out: list[Checked | None] = [None] * len(blobs)
    index: list[int] = []
    facts: list[tuple] = []
    present: list[bytes] = []  # the buffers of ``index``
    for i, data in enumerate(blobs):
        if data is not None and len(data) >= 128:
            header = _first_header(data)
            if header is not None:
                index.append(i)
                facts.append(header)
                present.append(data)
    if not facts:
        return out
    n = len(facts)
    if n == 1 and 1000000 / facts[0][4] == facts[0][5]:
        # one buffer (NumPy's cost per call dominates) with an exact sampling interval
        out[index[0]] = _check_one(present[0], facts[0])
        return out
    reclen, nrec, layout, little, delta, base, encoding, big = np.array(
        [f[:4] + f[5:] for f in facts], dtype=np.int64
    ).T
    rate = np.array([f[4] for f in facts], dtype=np.float64)
    # the first 64 bytes of every record, buffer after buffer (R x 64)
    heads = np.concatenate(
        [
            np.ndarray((f[1], 64), np.uint8, blobs[i], 0, (f[0], 1))
            for i, f in zip(index, facts, strict=True)
        ]
    )
    first_row = np.zeros(n, dtype=np.int64)
    np.cumsum(nrec[:-1], out=first_row[1:])
    per_record = np.repeat(np.arange(n), nrec)  # buffer of each record
    last_row = first_row + (nrec - 1)
    # 1. constant bytes: each record's header against its buffer's first one
    words = heads.view(np.uint64)
    diff = words ^ words[first_row][per_record]
    one_layout = None if (layout - layout[0]).any() else int(layout[0])
    diff &= _MASKS[layout][per_record] if one_layout is None else _MASKS[one_layout]
    bad = diff.any(1)
    # 2. start (us) and number of samples of each record
    times = heads[:, 22:32].astype(np.float64)
    if not (little - little[0]).any():
        start_npts = times @ _TIME_WEIGHTS[int(little[0])]
    else:
        start_npts = np.where(
            little[per_record, None] != 0, times @ _TIME_WEIGHTS[1], times @ _TIME_WEIGHTS[0]
        )
    start_npts = start_npts.astype(np.int64)
    start, counts = start_npts[:, 0], start_npts[:, 1]
    if one_layout != 0:  # blockette 1001's microseconds (signed)
        usec = heads.view(np.int8)[np.arange(len(heads)), _USEC_BYTE[layout][per_record]]
        start += np.where(layout[per_record] > 0, usec, 0)
    bad |= counts == 0  # a record without samples: the record-by-record path decides
    # 3. libmseed 2 (ObsPy) appends a record to the trace if |start - (previous start +
    # previous span) - delta| <= delta / 2, where span = (samples - 1) / rate rounded
    # and delta = 1 / rate truncated (in us)
    span = ((counts - 1) / rate[per_record] * 1000000 + 0.5).astype(np.int64)
    gaps = np.zeros(len(heads), dtype=np.int64)
    gaps[1:] = start[1:] - (start[:-1] + span[:-1])
    gaps -= delta[per_record]
    gaps[first_row] = 0
    bad |= np.abs(gaps) > (0.5 * delta).astype(np.int64)[per_record]
    good = np.flatnonzero(~np.logical_or.reduceat(bad, first_row))
    if not len(good):
        return out
    base, first, last = base[good], first_row[good], last_row[good]
    # ObsPy's end of the trace: start of the last record + its span (rounded us)
    rows = zip(
        nrec[good].tolist(),
        reclen[good].tolist(),
        rate[good].tolist(),
        (base + start[first]).tolist(),
        np.add.reduceat(counts, first_row)[good].tolist(),
        (base + start[last] + span[last]).tolist(),
        delta[good].tolist(),
        encoding[good].tolist(),
        (big[good] != 0).tolist(),
        strict=True,
    )
    for k, row in zip(good.tolist(), rows, strict=True):
        out[index[k]] = row
    return out


def _check_one(data: bytes, first: tuple) -> Checked | None:
    """:func:`check_headers` of one buffer whose sampling interval is exact in
    microseconds (100 Hz, 20 Hz...): the same rules in fewer NumPy operations.

    Then ObsPy's span is ``(samples - 1) * delta`` (see :func:`_exact_weights`): one
    product gives each record's start, samples and start + span + delta.
    """
    reclen, nrec, layout, little, rate, delta, base, encoding, big = first
    heads = np.ndarray((nrec, 64), np.uint8, data, 0, (reclen, 1))
    if nrec > 1:
        masked = heads.view(np.uint64) & _MASKS[layout]
        if masked.tobytes() != masked[0].tobytes() * nrec:
            return None
    m = heads[:, 22:32] @ _exact_weights(delta, little)
    if layout:
        m += heads[:, _USEC_BYTE[layout], None].view(np.int8) * _USEC_ADD
    counts = m[:, 1]
    if not counts.all():
        return None
    gaps = m[1:, 0] - m[:-1, 2]
    if gaps.any():  # rare: the records are not exactly contiguous
        tol = int(0.5 * delta)
        if _min(gaps) < -tol or _max(gaps) > tol:
            return None
        npts = int(_sum(counts))
    else:  # the spans add up: samples = (end of the last - start of the first) / delta
        npts = int(m[-1, 2] - m[0, 0]) // delta
    start, end = base + int(m[0, 0]), base + int(m[-1, 2]) - delta
    return nrec, reclen, rate, start, npts, end, delta, encoding, big != 0


_EXACT_WEIGHTS: dict[tuple[int, int], np.ndarray] = {}
_USEC_ADD = np.array([1.0, 0.0, 1.0])  # blockette 1001's microseconds: to the starts


def _exact_weights(delta: int, little: int) -> np.ndarray:
    """Weights giving (start, samples, start + samples * delta) of each record.

    Used when ``1e6 / rate == delta`` exactly (100 Hz, 20 Hz...): then ObsPy's span
    ``int((samples - 1) / rate * 1e6 + 0.5)`` equals ``(samples - 1) * delta``, since
    the floating-point result is within a few ulps of that integer (samples < 65536,
    delta <= 1e9: the error is < 0.01, far from the rounding boundary), and the gap
    ``start' - (start + span) - delta`` is ``start' - (start + samples * delta)``.
    All values are integers below 2**53: exact in float64.
    """
    weights = _EXACT_WEIGHTS.get((delta, little))
    if weights is None:
        time_weights = _TIME_WEIGHTS[little]
        weights = np.empty((len(time_weights), 3))
        weights[:, :2] = time_weights
        weights[:, 2] = time_weights[:, 0] + delta * time_weights[:, 1]
        if len(_EXACT_WEIGHTS) < 64:
            _EXACT_WEIGHTS[delta, little] = weights
    return weights


def _single_trace(
    data: bytes,
    tid: Any,
    seg: Any,
    nrec: int,
    filesize: int | None = None,
    checked: Checked | None | Literal[False] = False,
) -> tuple[Trace, int, int, str] | None:
    """The whole buffer as ONE ObsPy trace, if :func:`check_headers` proved it so.

    ``checked``: the buffer's :func:`check_headers` result if already known (False:
    check now). Returns None when the check failed or libmseed's reading (one segment
    ``seg`` of ``nrec`` records) differs from it: the caller then checks record by
    record. Else ``(trace, end, delta, sample type)``: the trace, its end and
    sampling interval as ObsPy's reader computes them (microseconds; see
    _split_traces) and its sample type. ``filesize``: size of the whole buffer when
    ``data`` is a part of it.
    """
    if checked is False:
        checked = check_headers([data])[0]
    if checked is None:
        return None
    count, reclen, rate, start, npts, end, delta, encoding, big_endian = checked
    reclist = seg.recordlist
    if (
        count != nrec
        or reclist.recordcnt != nrec
        or reclist.first.msr.reclen != reclen
        or seg.samprate != rate
        or seg.samplecnt != npts
        or seg.starttime != start * 1000
    ):
        return None  # our header reading disagrees with libmseed's: be safe
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
        big_endian=big_endian,
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
