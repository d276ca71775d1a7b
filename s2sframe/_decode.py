"""Bytes stored in a stream2segment database -> ObsPy objects, fast.

* :func:`read_mseed`: miniSEED bytes -> :class:`obspy.Stream`, identical to
  ``obspy.read(io.BytesIO(data), format="MSEED")`` but decoded by libmseed 3
  (``pymseed``, GIL released) without ObsPy's plugin dispatch. Whatever the fast
  path cannot prove identical is handed to ObsPy's own miniSEED reader.
* :func:`decompress`: gzip, bz2, zip (one member), zlib or plain bytes.
* :func:`read_inventory`: (compressed) StationXML -> :class:`obspy.Inventory` whose
  channel responses memoize their evaluation (:class:`CachedResponse`), so plain
  ObsPy code ``trace.remove_response(inventory)`` stops recomputing the same
  response for every segment of a channel.
* :class:`InventoryCache`: station id -> parsed inventory (or the error), LRU-bounded,
  one per worker, so each StationXML is parsed at most once per process.

How :func:`read_mseed` stays identical to ObsPy
-----------------------------------------------
ObsPy (``obspy/io/mseed/src/obspy-readbuffer.c``) reads the records in buffer order
and appends each one to the *last* trace of its id (network, station, location,
channel, quality) when it is contiguous in time with it (|gap| <= half a sample, in
integer microseconds, same sample type, sample rates within 0.01%); otherwise the
record starts a new trace. Traces come out by id in order of first appearance.
libmseed 3 groups records differently in unusual inputs (it sorts ids, merges
records arriving out of order, works in nanoseconds). So :func:`read_mseed` lets
libmseed parse the headers (one C call), reruns ObsPy's grouping on them in Python
(vectorized in the common case of one contiguous trace), checks that libmseed's
grouping is the same, and only then decodes each trace straight into its NumPy
array (one C call per trace). Any difference, unsupported encoding (ASCII,
GEOSCOPE, CDSN, SRO, DWWSSN), miniSEED 3, leap-second flag or libmseed error falls
back to ``obspy.io.mseed.core._read_mseed`` (ObsPy's reader minus the dispatch).
"""

from __future__ import annotations

import bz2
import datetime
import gzip
import io
import itertools
import struct
import sys
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, NamedTuple

import numpy as np
import pymseed
from obspy import Inventory, Stream, Trace, UTCDateTime
from obspy.core.inventory.response import Response
from obspy.core.trace import Stats
from obspy.core.util.attribdict import AttribDict
from obspy.io.mseed.core import _read_mseed
from obspy.io.stationxml.core import _read_stationxml

from .exceptions import SkipSegment

__all__ = [
    "CachedResponse",
    "InventoryCache",
    "clear_response_cache",
    "decompress",
    "enable_response_cache",
    "read_inventory",
    "read_mseed",
    "response_cache_info",
    "set_response_cache_size",
]

# ---------------------------------------------------------------------------------------
# miniSEED
# ---------------------------------------------------------------------------------------

_ffi = pymseed.ffi
_lib = pymseed.clibmseed
_NULL = _ffi.NULL
_READ_FLAGS = _lib.MSF_RECORDLIST  # headers only; samples decoded later into our arrays
_MSSWAP_HEADER = 1  # MS3Record.swapflag bits: header / payload byte order differs from
_MSSWAP_PAYLOAD = 2  # the host's
_HOST_IS_BIG = sys.byteorder == "big"

# encodings decoded identically by libmseed 3 and ObsPy: code -> (ObsPy name, sample type)
_ENCODINGS: dict[int, tuple[str, str]] = {
    1: ("INT16", "i"),
    3: ("INT32", "i"),
    4: ("FLOAT32", "f"),
    5: ("FLOAT64", "d"),
    10: ("STEIM1", "i"),
    11: ("STEIM2", "i"),
}
_DTYPES = {"i": np.dtype(np.int32), "f": np.dtype(np.float32), "d": np.dtype(np.float64)}
_FILESIZE_CAP = 1048576  # ObsPy reports the size of (at most) the first MiB as 'filesize'
_EPOCH = datetime.date(1970, 1, 1)
_U16 = {False: struct.Struct("<H"), True: struct.Struct(">H")}  # by "is big-endian"

try:  # route libmseed messages of every thread to pymseed's registry, not stderr
    from pymseed.logging import ensure_thread_logging as _ensure_thread_logging
except ImportError:  # pragma: no cover - older/newer pymseed layouts
    _configured = threading.local()

    def _ensure_thread_logging() -> None:
        if not getattr(_configured, "done", False):
            pymseed.configure_logging()
            _configured.done = True


class _NotIdentical(Exception):
    """The fast path cannot prove its result equals ObsPy's: use ObsPy's reader.

    ``libmseed_error`` tells whether the message is an error of libmseed (worth
    reporting if ObsPy fails too) rather than a difference from ObsPy.
    """

    def __init__(self, message: str, libmseed_error: bool = False) -> None:
        super().__init__(message)
        self.libmseed_error = libmseed_error


def read_mseed(data: bytes) -> Stream:
    """Decode miniSEED bytes into an ObsPy Stream, fast.

    The result is the same as ``obspy.read(io.BytesIO(data), format="MSEED")``:
    same traces (split at gaps, by id in order of first appearance), same samples and
    dtype, same ``stats`` (including ``stats.mseed`` and ``stats._format``). Decoding
    is done by libmseed 3 (:mod:`pymseed`, which releases the GIL) and skips ObsPy's
    plugin dispatch; inputs the fast path cannot reproduce exactly (ASCII and other
    rare encodings, records out of order or interleaved in unusual ways, miniSEED
    3...) are decoded by ObsPy's own miniSEED reader.

    Parameters
    ----------
    data : bytes
        The miniSEED bytes (e.g. ``segments.data``); any bytes-like object.

    Returns
    -------
    obspy.Stream
        The decoded traces. Arrays are writable and owned by the traces.

    Raises
    ------
    SkipSegment
        If ``data`` is None or empty ("no waveform data"), or is not valid miniSEED
        (the message starts with "invalid miniSEED data" and gives the reason).

    Examples
    --------
    >>> import io, obspy
    >>> buf = io.BytesIO()
    >>> obspy.read()[:1].write(buf, format="MSEED")
    >>> st = read_mseed(buf.getvalue())
    >>> print(st)  # doctest: +ELLIPSIS
    1 Trace(s) in Stream:
    BW.RJOB..EHZ | 2009-08-24T00:20:03.000000Z - ... | 100.0 Hz, 3000 samples
    """
    if data is None or len(data) == 0:
        raise SkipSegment("no waveform data")
    if not isinstance(data, bytes):
        data = bytes(data)
    try:
        return _read_mseed_fast(data)
    except _NotIdentical as exc:
        libmseed_error = str(exc) if exc.libmseed_error else ""
    except Exception:  # noqa: BLE001 - never worse than ObsPy: let its reader decide
        libmseed_error = ""
    return _read_mseed_obspy(data, libmseed_error)


def _read_mseed_obspy(data: bytes, libmseed_error: str = "") -> Stream:
    """ObsPy's miniSEED reader without plugin dispatch (what ``obspy.read`` calls)."""
    try:
        stream = _read_mseed(data)
    except Exception as exc:  # noqa: BLE001 - ObsPy raises bare Exception, ValueError...
        reason = str(exc).strip() or type(exc).__name__
        if libmseed_error and libmseed_error not in reason:
            reason += f" (libmseed: {libmseed_error})"
        raise SkipSegment(f"invalid miniSEED data: {reason}") from None
    if not stream:
        raise SkipSegment("invalid miniSEED data: no data record found")
    for trace in stream:
        trace.stats._format = "MSEED"
    return stream


def _read_mseed_fast(data: bytes) -> Stream:
    """libmseed 3 decoding, provably grouped as ObsPy does; else raise _NotIdentical."""
    nbytes = len(data)
    if nbytes < 128:  # ObsPy refuses this with its own message
        raise _NotIdentical("")
    _ensure_thread_logging()
    pymseed.clear_error_messages()
    holder = _ffi.new("MS3TraceList **")
    holder[0] = _lib.mstl3_init(_NULL)
    if holder[0] == _NULL:  # pragma: no cover - out of memory
        raise _NotIdentical("cannot allocate a trace list")
    buf = _ffi.from_buffer(data)
    try:
        nrec = _lib.mstl3_readbuffer(holder, buf, nbytes, 1, _READ_FLAGS, _NULL, 0)
        if nrec <= 0:
            raise _NotIdentical(_libmseed_reason(nrec), libmseed_error=True)
        mstl = holder[0]
        if mstl.numtraceids == 1:
            tid = mstl.traces.next[0]
            seg = tid.first
            if seg.next == _NULL and seg.recordlist != _NULL:
                single = _single_trace(data, tid, seg, nrec)
                if single is not None:
                    return Stream(traces=[single[0]])
            else:  # one id, several segments (e.g. a gap): each one vectorized
                traces = _split_traces(data, tid, nrec, _ffi.cast("char *", buf))
                if traces is not None:
                    return Stream(traces=traces)
        return Stream(traces=_traces_by_record(data, mstl, _ffi.cast("char *", buf)))
    finally:
        _lib.mstl3_free(holder, 1)
        _ffi.release(buf)


def _libmseed_reason(status: int) -> str:
    messages = pymseed.get_error_messages()
    if messages:
        return "; ".join(m.strip() for m in messages)
    if status < 0:
        return _ffi.string(_lib.ms_errorstr(status)).decode("ascii", "replace")
    return "no data record found"


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
            if _min(gaps) < -tol or _max(gaps) > tol:
                return None
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


def _traces_by_record(data: bytes, mstl: Any, base: Any) -> list[Trace]:
    """ObsPy's record-by-record grouping; check libmseed grouped alike, then decode."""
    # 1. walk libmseed's trace ids -> segments -> record lists
    offsets: list[int] = []
    starts: list[int] = []
    counts: list[int] = []
    rates: list[float] = []
    encodings: list[int] = []
    reclens: list[int] = []
    versions: list[int] = []
    swaps: list[int] = []
    segments: dict[tuple[int, ...], tuple[Any, Any]] = {}
    tid = mstl.traces.next[0]
    while tid != _NULL:
        seg = tid.first
        while seg != _NULL:
            first = len(offsets)
            rec = seg.recordlist.first if seg.recordlist != _NULL else _NULL
            while rec != _NULL:
                msr = rec.msr
                offsets.append(rec.bufferptr - base)
                starts.append(msr.starttime)
                counts.append(msr.samplecnt)
                rates.append(msr.samprate)
                encodings.append(msr.encoding)
                reclens.append(msr.reclen)
                versions.append(msr.formatversion)
                swaps.append(msr.swapflag)
                rec = rec.next
            segments[tuple(range(first, len(offsets)))] = (tid, seg)
            seg = seg.next
        tid = tid.next[0]
    if versions.count(2) != len(versions):
        raise _NotIdentical("miniSEED 3 records (not readable by ObsPy)")

    # 2. ObsPy (obspy-readbuffer.c): records in buffer order; each one is appended
    # to the LAST trace of its id if contiguous with it, else starts a new trace
    position = 0
    by_id: dict[bytes, list[list[Any]]] = {}
    for i in sorted(range(len(offsets)), key=offsets.__getitem__):
        off = offsets[i]
        if off != position:
            raise _NotIdentical("records not contiguous")
        position += reclens[i]
        enc = encodings[i]
        if enc not in _ENCODINGS:
            raise _NotIdentical(f"encoding {enc}")
        if data[off + 36] & 0x10:
            raise _NotIdentical("leap second")
        data_offset = _U16[bool(swaps[i] & _MSSWAP_HEADER) != _HOST_IS_BIG].unpack_from(
            data, off + 44
        )
        if not 48 <= data_offset[0] < reclens[i]:
            raise _NotIdentical("data offset out of the record")  # ObsPy would not decode it
        ns = starts[i]
        if ns % 1000:
            raise _NotIdentical("sub-microsecond start time")
        us = ns // 1000
        cnt, rate, stype = counts[i], rates[i], _ENCODINGS[enc][1]
        span = int((cnt - 1) / rate * 1000000 + 0.5) if (rate > 0.0 and cnt > 0) else 0
        key = data[off + 6 : off + 7] + data[off + 8 : off + 20]
        groups = by_id.get(key)
        if groups is None:
            groups = by_id[key] = []
        elif cnt > 0:
            # a group: [walk indices, end (us), delta (us), rate, sample type, samples]
            last = groups[-1]
            if last[5] > 0 and last[4] == stype and rate != 0.0:
                if abs(1.0 - last[3] / rate) < 0.0001:
                    delta = last[2]
                    tol = int(0.5 * delta)
                    gap = us - last[1] - delta
                    if -tol <= gap <= tol:
                        last[0].append(i)
                        last[1] = us + span
                        last[5] += cnt
                        continue
        delta = int(1000000 / rate) if rate else 0
        groups.append([[i], us + span, delta, rate, stype, cnt])
    if position != len(data):
        raise _NotIdentical("trailing bytes")

    # 3. each ObsPy trace must be a libmseed segment with the same records in the
    # same order (walk indices of a segment are consecutive, in libmseed's order)
    seen: set[tuple[str, ...]] = set()
    traces = []
    for key, groups in by_id.items():
        ident = _clean_id(key)
        if ident in seen:
            raise _NotIdentical("ids differing only by blanks")
        seen.add(ident)
        for indices, _, _, rate, _, npts in groups:
            hit = segments.get(tuple(indices))
            if hit is None:
                raise _NotIdentical("libmseed grouped records differently")
            first = indices[0]
            big = bool(swaps[first] & _MSSWAP_PAYLOAD) != _HOST_IS_BIG
            traces.append(
                _make_trace(
                    data,
                    *hit,
                    npts=npts,
                    offset=offsets[first],
                    nrecords=len(indices),
                    encoding=encodings[first],
                    reclen=reclens[first],
                    rate=rate,
                    big_endian=big,
                )
            )
    return traces


_CLEAN_IDS: dict[bytes, tuple[str, ...]] = {}  # memo of _clean_id (few distinct ids)


def _clean_id(key: bytes) -> tuple[str, ...]:
    """(quality, network, station, location, channel) as libmseed 2 + ObsPy clean them.

    ``key`` is the quality byte followed by header bytes 8-19.
    """
    ident = _CLEAN_IDS.get(key)
    if ident is None:
        ident = _clean_id_uncached(key)
        if len(_CLEAN_IDS) >= 65536:  # bounded: forget all, rebuild what is used
            _CLEAN_IDS.clear()
        _CLEAN_IDS[key] = ident
    return ident


def _clean_id_uncached(key: bytes) -> tuple[str, ...]:

    def clean(raw: bytes) -> str:
        raw = raw.split(b"\0", 1)[0].replace(b" ", b"").strip()
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:  # ObsPy warns and drops the characters
            raise _NotIdentical("non-ASCII codes") from None

    return (chr(key[0]), clean(key[11:13]), clean(key[1:6]), clean(key[6:8]), clean(key[8:11]))


def _make_trace(
    data: bytes,
    tid: Any,
    seg: Any,
    *,
    npts: int,
    offset: int,
    nrecords: int,
    encoding: int,
    reclen: int,
    rate: float,
    big_endian: bool,
    filesize: int | None = None,
) -> Trace:
    """Decode one libmseed segment (checked equal to an ObsPy trace) into a Trace.

    ``filesize``: size of the whole buffer (default ``len(data)``)."""
    quality, network, station, location, channel = _clean_id(
        data[offset + 6 : offset + 7] + data[offset + 8 : offset + 20]
    )
    if npts != seg.samplecnt:
        raise _NotIdentical("sample count mismatch")
    samples = np.empty(npts, dtype=_DTYPES[_ENCODINGS[encoding][1]])
    if npts:
        out = _ffi.from_buffer(samples, require_writable=True)
        try:
            got = _lib.mstl3_unpack_recordlist(tid, seg, out, samples.nbytes, 0)
        finally:
            _ffi.release(out)
        if got != npts:
            raise _NotIdentical(_libmseed_reason(got), libmseed_error=got < 0)
    return _new_trace(
        samples,
        network,
        station,
        location,
        channel,
        {
            "dataquality": quality,
            "number_of_records": nrecords,
            "encoding": _ENCODINGS[encoding][0],
            "byteorder": ">" if big_endian else "<",
            "record_length": reclen,
            "filesize": min(len(data) if filesize is None else filesize, _FILESIZE_CAP),
        },
        float(rate),
        seg.starttime,
    )


# Building a Trace the way ObsPy does (``Trace(header=..., data=...)``) validates and
# recomputes the derived stats at every key (~40 us per trace, as much as decoding).
# _new_trace writes the final state directly: the same classes, keys in the same
# order, the same values (delta and endtime computed by ObsPy's own formulas in
# Stats.__setitem__), checked equal to ObsPy's in tests/test_decode.py.
_new = object.__new__
_set_attr = object.__setattr__
_UTC_NS = UTCDateTime.__dict__["_UTCDateTime__ns"]
_UTC_PRECISION = UTCDateTime.__dict__["_UTCDateTime__precision"]
_UTC_INITIALIZED = UTCDateTime.__dict__["_initialized"]
_UTC_HAS_WARNED = UTCDateTime.__dict__["_has_warned"]


def _utc(ns: int) -> UTCDateTime:
    """``UTCDateTime(ns=ns)`` for a Python int, without the argument parsing."""
    value = _new(UTCDateTime)
    _UTC_HAS_WARNED.__set__(value, False)
    _UTC_PRECISION.__set__(value, UTCDateTime.DEFAULT_PRECISION)
    _UTC_NS.__set__(value, ns)
    _UTC_INITIALIZED.__set__(value, True)
    return value


def _new_trace(
    samples: np.ndarray,
    network: str,
    station: str,
    location: str,
    channel: str,
    mseed: dict[str, Any],
    sampling_rate: float,
    start_ns: int,
) -> Trace:
    """The Trace ObsPy's miniSEED reader makes (``Trace(header=h, data=samples)`` with
    ``h`` = network, station, location, channel, mseed, sampling_rate, starttime,
    npts; then ``stats._format = "MSEED"``), built without per-key validation."""
    npts = len(samples)
    try:
        delta = 1.0 / sampling_rate
    except ZeroDivisionError:  # pragma: no cover - the fast path requires rate > 0
        delta = 0.0
    timediff = 0 if npts == 0 else float(npts - 1) * delta
    extra = _new(AttribDict)
    extra.__dict__.update(mseed)
    state = dict(Stats.defaults)  # Stats.__init__ starts from these, in this order
    state.update(
        sampling_rate=sampling_rate,
        delta=delta,
        starttime=_utc(start_ns),
        endtime=_utc(start_ns + int(round(timediff * 1e9))),
        npts=npts,
        network=network,
        station=station,
        location=location,
        channel=channel,
        mseed=extra,  # new keys: in the order ObsPy sets them
        _format="MSEED",
    )
    stats = _new(Stats)
    stats.__dict__.update(state)
    trace = _new(Trace)
    _set_attr(trace, "stats", stats)
    _set_attr(trace, "data", samples)
    return trace


# ---------------------------------------------------------------------------------------
# decompression
# ---------------------------------------------------------------------------------------


def decompress(data: bytes) -> bytes:
    """Return ``data`` decompressed, detecting the format by its magic bytes.

    Handles gzip (``1f 8b``), bz2 (``BZh``), zip with a single member (``PK``),
    zlib (``78 01/5e/9c/da``, any valid zlib header) and uncompressed bytes, which
    are returned unchanged.

    Parameters
    ----------
    data : bytes
        Possibly compressed bytes (any bytes-like object).

    Returns
    -------
    bytes
        The decompressed bytes (``b""`` for empty input).

    Raises
    ------
    ValueError
        If the data has the signature of a compressed format but cannot be
        decompressed, or is a zip archive without exactly one file.

    Examples
    --------
    >>> import gzip
    >>> decompress(gzip.compress(b"<FDSNStationXML/>"))
    b'<FDSNStationXML/>'
    >>> decompress(b"<FDSNStationXML/>")
    b'<FDSNStationXML/>'
    """
    if data is None:
        return b""
    if not isinstance(data, bytes):
        data = bytes(data)
    head = data[:4]
    try:
        if head[:2] == b"\x1f\x8b":
            kind = "gzip"
            return gzip.decompress(data)
        if head[:3] == b"BZh":
            kind = "bz2"
            return bz2.decompress(data)
        if head in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
            kind = "zip"
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                files = [info for info in archive.infolist() if not info.is_dir()]
                if len(files) != 1:
                    names = ", ".join(info.filename for info in files) or "none"
                    raise ValueError(f"zip archive must hold exactly one file, found: {names}")
                return archive.read(files[0])
        if len(head) >= 2 and head[0] & 0x0F == 8 and head[0] >> 4 <= 7:
            if ((head[0] << 8) | head[1]) % 31 == 0:
                kind = "zlib"
                return zlib.decompress(data)
    except ValueError as exc:
        if str(exc).startswith("zip archive"):
            raise
        raise ValueError(f"corrupt {kind} data: {exc}") from None
    except (OSError, EOFError, zlib.error, zipfile.BadZipFile, RuntimeError) as exc:
        raise ValueError(f"corrupt {kind} data: {exc}") from None
    return data


# ---------------------------------------------------------------------------------------
# inventories and responses
# ---------------------------------------------------------------------------------------

_NO_INVENTORY = "no inventory (station has no StationXML)"


def read_inventory(data: bytes, format: str | None = None) -> Inventory | bytes:  # noqa: A002
    """Read a station inventory stored as (compressed) StationXML.

    The bytes are decompressed (:func:`decompress`) and parsed by ObsPy's StationXML
    reader directly (no plugin dispatch). Every channel response of the returned
    inventory is a :class:`CachedResponse`, which memoizes its evaluation: plain ObsPy
    code such as ``trace.remove_response(inventory, output="ACC")`` then computes
    each channel response once per (sampling interval, FFT length, output, stages)
    instead of once per segment, with bit-identical results.

    Parameters
    ----------
    data : bytes
        ``stations.inventory_xml``: gzip (as written by stream2segment), bz2, zip,
        zlib or uncompressed StationXML.
    format : {None, "stationxml"}, optional
        None (default) returns an :class:`obspy.Inventory`; ``"stationxml"`` (any
        case) returns the decompressed StationXML bytes.

    Returns
    -------
    obspy.Inventory or bytes

    Raises
    ------
    SkipSegment
        If ``data`` is None or empty ("no inventory (station has no StationXML)"), or
        cannot be decompressed or parsed (the message says why).
    ValueError
        If ``format`` is not None nor "stationxml".

    Examples
    --------
    >>> import gzip, io, obspy
    >>> buf = io.BytesIO()
    >>> obspy.read_inventory().write(buf, format="STATIONXML")
    >>> inv = read_inventory(gzip.compress(buf.getvalue()))
    >>> type(inv.get_response("BW.RJOB..EHZ", obspy.UTCDateTime(2009, 8, 24))).__name__
    'CachedResponse'
    """
    if format is not None and format.lower() != "stationxml":
        raise ValueError(f"format must be None or 'stationxml', not {format!r}")
    if data is None or len(data) == 0:
        raise SkipSegment(_NO_INVENTORY)
    try:
        xml = decompress(data)
    except ValueError as exc:
        raise SkipSegment(f"invalid inventory: {exc}") from None
    if format is not None:
        return xml
    if not xml.strip():
        raise SkipSegment("invalid StationXML: empty document")
    try:
        inventory = _read_stationxml(io.BytesIO(xml))
    except Exception as exc:  # noqa: BLE001 - lxml, ObsPy and attribute errors alike
        if b"FDSNStationXML" not in xml[:4096]:
            raise SkipSegment("invalid StationXML: not an FDSNStationXML document") from None
        reason = str(exc).strip() or "no details"
        raise SkipSegment(f"invalid StationXML: {type(exc).__name__}: {reason}") from None
    return enable_response_cache(inventory)


def enable_response_cache(inventory: Inventory) -> Inventory:
    """Turn every channel response of ``inventory`` into a :class:`CachedResponse`.

    :func:`read_inventory` does it for you; use this on inventories obtained
    otherwise (e.g. ``obspy.read_inventory``).

    Parameters
    ----------
    inventory : obspy.Inventory
        Modified in place: responses already cached are left alone.

    Returns
    -------
    obspy.Inventory
        ``inventory`` itself, for chaining.
    """
    for network in inventory.networks:
        for station in network.stations:
            for channel in station.channels:
                response = channel.response
                if response is not None and not isinstance(response, CachedResponse):
                    channel.response = CachedResponse.from_response(response)
    return inventory


class _ResponseMemo:
    """Process-wide LRU of evaluated responses, bounded by total bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> tuple[np.ndarray, np.ndarray] | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: tuple[np.ndarray, np.ndarray]) -> None:
        size = value[0].nbytes + value[1].nbytes
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self.nbytes -= old[0].nbytes + old[1].nbytes
            self._items[key] = value
            self.nbytes += size
            while self.nbytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self.nbytes -= dropped[0].nbytes + dropped[1].nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.nbytes = 0
            self.hits = self.misses = 0

    def resize(self, max_bytes: int) -> None:
        with self._lock:
            self.max_bytes = max_bytes
            while self.nbytes > max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self.nbytes -= dropped[0].nbytes + dropped[1].nbytes

    def __len__(self) -> int:
        return len(self._items)


_DEFAULT_MEMO_BYTES = 64 * 1024 * 1024
_MEMO = _ResponseMemo(_DEFAULT_MEMO_BYTES)
_TOKENS = itertools.count()


class ResponseCacheInfo(NamedTuple):
    """Statistics of the process-wide response cache (see :func:`response_cache_info`)."""

    hits: int
    misses: int
    entries: int
    nbytes: int
    max_bytes: int


def response_cache_info() -> ResponseCacheInfo:
    """Statistics of the process-wide cache of evaluated responses.

    Returns
    -------
    ResponseCacheInfo
        ``(hits, misses, entries, nbytes, max_bytes)`` (since the last clear).
    """
    return ResponseCacheInfo(_MEMO.hits, _MEMO.misses, len(_MEMO), _MEMO.nbytes, _MEMO.max_bytes)


def clear_response_cache() -> None:
    """Drop all memoized response evaluations (and reset the statistics).

    Needed only if a response object is modified in place after being evaluated
    (e.g. with ``Response.recalculate_overall_sensitivity``).
    """
    _MEMO.clear()


def set_response_cache_size(max_bytes: int) -> None:
    """Bound the memory of memoized responses in this process (default 64 MiB).

    Parameters
    ----------
    max_bytes : int
        Maximum total size of the cached arrays; least recently used evaluations
        are dropped beyond it. A 4-minute 100 Hz segment's response (complex
        spectrum plus frequencies) takes about 0.6 MB, a 20 Hz one about 0.12 MB.
        0 disables memoization.
    """
    if max_bytes < 0:
        raise ValueError("max_bytes must be >= 0")
    _MEMO.resize(int(max_bytes))


class CachedResponse(Response):
    """An ObsPy :class:`~obspy.core.inventory.response.Response` that memoizes
    :meth:`get_evalresp_response`, the method ``Trace.remove_response`` (and e.g.
    PPSD) calls with the trace's sampling interval and FFT length.

    Results are kept in a process-wide LRU bounded in bytes (see
    :func:`set_response_cache_size`), keyed by this object and all the arguments;
    callers always get fresh copies (``remove_response`` modifies the array in
    place), bit-identical to an uncached evaluation. The memo is not part of the
    object's state: it is dropped on pickling/copying (the copy gets its own) and
    ignored by ``==``. Warnings emitted by evalresp (e.g. sensitivity mismatch) are
    emitted only on the first, uncached evaluation.
    """

    __slots__ = ("_memo_token",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memo_token = next(_TOKENS)

    @classmethod
    def from_response(cls, response: Response) -> CachedResponse:
        """A CachedResponse sharing the attributes (stages, sensitivity...) of ``response``."""
        new = cls.__new__(cls)
        new.__dict__.update(response.__dict__)
        new._memo_token = next(_TOKENS)
        return new

    def get_evalresp_response(
        self,
        t_samp: float,
        nfft: int,
        output: str = "VEL",
        start_stage: int | None = None,
        end_stage: int | None = None,
        hide_sensitivity_mismatch_warning: bool = False,
        **kwargs: Any,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Memoized :meth:`obspy.core.inventory.response.Response.get_evalresp_response`.

        Returns
        -------
        tuple of numpy.ndarray
            ``(response, frequencies)``: new arrays, equal bit for bit to those of
            the uncached method.
        """
        call_kwargs = dict(
            output=output,
            start_stage=start_stage,
            end_stage=end_stage,
            hide_sensitivity_mismatch_warning=hide_sensitivity_mismatch_warning,
            **kwargs,
        )
        try:
            key = (self._memo_token, t_samp, nfft, *sorted(call_kwargs.items()))
            hash(key)
        except TypeError:  # unhashable argument: just compute
            key = None
        if key is None or _MEMO.max_bytes <= 0:
            return super().get_evalresp_response(t_samp, nfft, **call_kwargs)
        cached = _MEMO.get(key)
        if cached is None:
            response, freqs = super().get_evalresp_response(t_samp, nfft, **call_kwargs)
            cached = (response.copy(), freqs.copy())
            for array in cached:
                array.flags.writeable = False
            _MEMO.put(key, cached)
            return response, freqs
        return cached[0].copy(), cached[1].copy()

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._memo_token = next(_TOKENS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Response) and self.__dict__ == other.__dict__

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = None  # type: ignore[assignment]  # like Response (defines __eq__)


class CacheInfo(NamedTuple):
    """Statistics of an :class:`InventoryCache`."""

    hits: int
    misses: int
    maxsize: int
    currsize: int


class InventoryCache:
    """Parsed inventories by station id, LRU-bounded: one per worker process.

    Each StationXML is parsed at most once per process as long as its station stays
    among the ``maxsize`` most recently used; a station whose StationXML is missing
    or invalid is cached as the error, so it is not re-parsed for each segment.

    Parameters
    ----------
    maxsize : int
        Maximum number of stations kept (default 256).

    Examples
    --------
    >>> cache = InventoryCache(maxsize=2)
    >>> cache.get_or_read(1, None)
    Traceback (most recent call last):
    ...
    s2sframe.exceptions.SkipSegment: no inventory (station has no StationXML)
    >>> 1 in cache, cache.info().misses
    (True, 1)

    Notes
    -----
    It also behaves as a mapping: ``cache[sid] = inventory`` (or a ``SkipSegment``),
    ``cache.get(sid)`` (None when absent; raises the cached ``SkipSegment`` for a
    station that has none). Pickling gives an empty cache of the same size (each
    worker builds its own).
    """

    def __init__(self, maxsize: int = 256) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be >= 1")
        self.maxsize = int(maxsize)
        self._items: OrderedDict[Hashable, Inventory | str] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get_or_read(
        self,
        station_id: Hashable,
        data: bytes | None | Callable[[], bytes | None],
    ) -> Inventory:
        """Inventory of ``station_id``, parsing ``data`` only on the first request.

        Parameters
        ----------
        station_id : hashable
            Key of the station (e.g. ``stations.id``).
        data : bytes, None or callable
            The stored StationXML (``stations.inventory_xml``) or a function
            returning it, called only when the station is not cached (so the blob
            need not even be fetched).

        Raises
        ------
        SkipSegment
            If the station has no inventory or it cannot be read (also when cached).
        """
        with self._lock:
            value = self._items.get(station_id, _MISSING)
            if value is not _MISSING:
                self._items.move_to_end(station_id)
                self._hits += 1
        if value is _MISSING:
            try:
                value = read_inventory(data() if callable(data) else data)
            except SkipSegment as exc:
                value = str(exc)
            with self._lock:
                self._misses += 1
                self._store(station_id, value)
        if isinstance(value, str):
            raise SkipSegment(value)
        return value

    # -- mapping interface ------------------------------------------------------------
    def get(self, station_id: Hashable, default: Any = None) -> Any:
        """Cached inventory of ``station_id`` or ``default`` (raises a cached SkipSegment)."""
        with self._lock:
            value = self._items.get(station_id, _MISSING)
            if value is _MISSING:
                return default
            self._items.move_to_end(station_id)
        if isinstance(value, str):
            raise SkipSegment(value)
        return value

    def __getitem__(self, station_id: Hashable) -> Inventory:
        value = self.get(station_id, _MISSING)
        if value is _MISSING:
            raise KeyError(station_id)
        return value

    def __setitem__(self, station_id: Hashable, value: Inventory | SkipSegment) -> None:
        if isinstance(value, SkipSegment):
            value = str(value)
        elif isinstance(value, Inventory):
            enable_response_cache(value)
        else:
            raise TypeError(f"expected an Inventory or a SkipSegment, not {type(value).__name__}")
        with self._lock:
            self._store(station_id, value)

    def __delitem__(self, station_id: Hashable) -> None:
        with self._lock:
            del self._items[station_id]

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        """Empty the cache (statistics included)."""
        with self._lock:
            self._items.clear()
            self._hits = self._misses = 0

    def info(self) -> CacheInfo:
        """Hits, misses, maxsize and current size (as :func:`functools.lru_cache`)."""
        return CacheInfo(self._hits, self._misses, self.maxsize, len(self._items))

    def __reduce__(self) -> tuple[Any, tuple[int]]:
        return (type(self), (self.maxsize,))

    def __repr__(self) -> str:
        return f"InventoryCache(maxsize={self.maxsize}, stations={len(self._items)})"

    def _store(self, station_id: Hashable, value: Inventory | str) -> None:
        self._items[station_id] = value
        self._items.move_to_end(station_id)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)


_MISSING: Any = object()
