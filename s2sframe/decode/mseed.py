"""miniSEED bytes -> :class:`obspy.Stream`, fast.

:func:`read_mseed` returns the same Stream as
``obspy.read(io.BytesIO(data), format="MSEED")`` but decoded by libmseed 3
(``pymseed``, GIL released) without ObsPy's plugin dispatch. Whatever the fast
path cannot prove identical is handed to ObsPy's own miniSEED reader. The
vectorized check of the common layout is in :mod:`s2sframe.decode.mseed_vector`, the
building of traces in :mod:`s2sframe.decode.mseed_trace`.

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

import struct
import sys
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

import pymseed
from obspy import Stream, Trace
from obspy.io.mseed.core import _read_mseed

from ..exceptions import SkipSegment
from . import counters
from .mseed_trace import (
    _ENCODINGS,
    _NULL,
    _clean_id,
    _ffi,
    _lib,
    _libmseed_reason,
    _make_trace,
    _NotIdentical,
)
from .mseed_vector import Checked, _single_trace, _split_traces, check_headers

__all__ = ["check_headers", "read_mseed"]

_READ_FLAGS = _lib.MSF_RECORDLIST  # headers only; samples decoded later into our arrays
_MSSWAP_HEADER = 1  # MS3Record.swapflag bits: header / payload byte order differs from
_MSSWAP_PAYLOAD = 2  # the host's
_HOST_IS_BIG = sys.byteorder == "big"
_U16 = {False: struct.Struct("<H"), True: struct.Struct(">H")}  # by "is big-endian"

try:  # route libmseed messages of every thread to pymseed's registry, not stderr
    from pymseed.logging import ensure_thread_logging as _ensure_thread_logging
except ImportError:  # pragma: no cover - older/newer pymseed layouts
    _configured = threading.local()

    def _ensure_thread_logging() -> None:
        if not getattr(_configured, "done", False):
            pymseed.configure_logging()
            _configured.done = True


def read_mseed(data: bytes, checked: Checked | None | Literal[False] = False) -> Stream:
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
    checked : optional
        This buffer's item of :func:`check_headers` run on a batch of buffers
        (the record headers of many segments checked at once, 2-3 times faster
        than one by one). Default: checked here.

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
        return _read_mseed_fast(data, checked)
    except _NotIdentical as exc:
        libmseed_error = str(exc) if exc.libmseed_error else ""
        counters.count(f"miniSEED read by ObsPy's reader: {exc.kind}")
    except counters.SYSTEM_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - never worse than ObsPy: let its reader decide
        libmseed_error = ""
        counters.count(f"miniSEED read by ObsPy's reader: fast path error {type(exc).__name__}")
    return _read_mseed_obspy(data, libmseed_error)


def _read_mseed_obspy(data: bytes, libmseed_error: str = "") -> Stream:
    """ObsPy's miniSEED reader without plugin dispatch (what ``obspy.read`` calls)."""
    try:
        stream = _read_mseed(data)
    except counters.SYSTEM_ERRORS:
        raise
    except Exception as exc:  # noqa: BLE001 - ObsPy raises bare Exception, ValueError...
        reason = str(exc).strip() or type(exc).__name__
        if data[:3] == b"MS\x03":  # ObsPy's reader misreads it ("julday out of bounds")
            reason = "miniSEED 3 records: ObsPy reads miniSEED 2 only"
        elif libmseed_error and libmseed_error not in reason:
            reason += f" (libmseed: {libmseed_error})"
        raise SkipSegment(f"invalid miniSEED data: {reason}") from None
    if not stream:
        raise SkipSegment("invalid miniSEED data: no data record found")
    for trace in stream:
        trace.stats._format = "MSEED"
    return stream


def _read_mseed_fast(data: bytes, checked: Checked | None | Literal[False] = False) -> Stream:
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
                single = _single_trace(data, tid, seg, nrec, checked=checked)
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


def _traces_by_record(data: bytes, mstl: Any, base: Any) -> list[Trace]:
    """ObsPy's record-by-record grouping; check libmseed grouped alike, then decode."""
    walk = _walk_records(mstl, base)
    return _decode_groups(data, walk, _obspy_groups(data, walk))


@dataclass
class _RecordWalk:
    """The records libmseed read, in its order (trace id, segment, record): one list
    per header field, indexed alike; ``segments``: record indices -> (trace id, segment)."""

    offsets: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    rates: list[float] = field(default_factory=list)
    encodings: list[int] = field(default_factory=list)
    reclens: list[int] = field(default_factory=list)
    versions: list[int] = field(default_factory=list)
    swaps: list[int] = field(default_factory=list)
    segments: dict[tuple[int, ...], tuple[Any, Any]] = field(default_factory=dict)


def _walk_records(mstl: Any, base: Any) -> _RecordWalk:
    """1. walk libmseed's trace ids -> segments -> record lists (miniSEED 2 only)."""
    walk = _RecordWalk()
    offsets = walk.offsets
    tid = mstl.traces.next[0]
    while tid != _NULL:
        seg = tid.first
        while seg != _NULL:
            first = len(offsets)
            rec = seg.recordlist.first if seg.recordlist != _NULL else _NULL
            while rec != _NULL:
                msr = rec.msr
                offsets.append(rec.bufferptr - base)
                walk.starts.append(msr.starttime)
                walk.counts.append(msr.samplecnt)
                walk.rates.append(msr.samprate)
                walk.encodings.append(msr.encoding)
                walk.reclens.append(msr.reclen)
                walk.versions.append(msr.formatversion)
                walk.swaps.append(msr.swapflag)
                rec = rec.next
            walk.segments[tuple(range(first, len(offsets)))] = (tid, seg)
            seg = seg.next
        tid = tid.next[0]
    if walk.versions.count(2) != len(walk.versions):
        raise _NotIdentical("miniSEED 3 records (not readable by ObsPy)")
    return walk


def _obspy_groups(data: bytes, walk: _RecordWalk) -> dict[bytes, list[list[Any]]]:
    """2. ObsPy's traces (obspy-readbuffer.c): records in buffer order; each one is
    appended to the LAST trace of its id if contiguous with it, else starts a new trace.

    Returns id bytes -> groups ``[walk indices, end (us), delta (us), rate, sample
    type, samples]``.
    """
    offsets, starts, counts, rates = walk.offsets, walk.starts, walk.counts, walk.rates
    encodings, reclens, swaps = walk.encodings, walk.reclens, walk.swaps
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
    return by_id


def _decode_groups(data: bytes, walk: _RecordWalk,
                   by_id: dict[bytes, list[list[Any]]]) -> list[Trace]:
    """3. each ObsPy trace must be a libmseed segment with the same records in the
    same order (walk indices of a segment are consecutive, in libmseed's order): decoded."""
    seen: set[tuple[str, ...]] = set()
    traces = []
    for key, groups in by_id.items():
        ident = _clean_id(key)
        if ident in seen:
            raise _NotIdentical("ids differing only by blanks")
        seen.add(ident)
        for indices, _, _, rate, _, npts in groups:
            hit = walk.segments.get(tuple(indices))
            if hit is None:
                raise _NotIdentical("libmseed grouped records differently")
            first = indices[0]
            big = bool(walk.swaps[first] & _MSSWAP_PAYLOAD) != _HOST_IS_BIG
            traces.append(
                _make_trace(
                    data,
                    *hit,
                    npts=npts,
                    offset=walk.offsets[first],
                    nrecords=len(indices),
                    encoding=walk.encodings[first],
                    reclen=walk.reclens[first],
                    rate=rate,
                    big_endian=big,
                )
            )
    return traces
