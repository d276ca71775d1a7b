"""libmseed 3 segments -> ObsPy Traces, for :mod:`s2sframe.decode.mseed`.

Shared pieces of the fast miniSEED path: the libmseed handles, the encodings decoded
identically by libmseed 3 and ObsPy, :class:`_NotIdentical` (the fast path gives up
and ObsPy's reader decides), the cleaning of record ids as libmseed 2 + ObsPy do, and
the decoding of one libmseed segment into a Trace built as ObsPy's reader builds it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pymseed
from obspy import Trace, UTCDateTime
from obspy.core.trace import Stats
from obspy.core.util.attribdict import AttribDict

_ffi = pymseed.ffi
_lib = pymseed.clibmseed
_NULL = _ffi.NULL

# encodings decoded identically by libmseed 3 and ObsPy: code -> (ObsPy name, sample type)
_ENCODINGS: dict[int, tuple[str, str]] = {
    1: ("INT16", "i"),
    3: ("INT32", "i"),
    4: ("FLOAT32", "f"),
    5: ("FLOAT64", "d"),
    10: ("STEIM1", "i"),
    11: ("STEIM2", "i"),
}
_DTYPES: dict[str, np.dtype[Any]] = {"i": np.dtype(np.int32), "f": np.dtype(np.float32), "d": np.dtype(np.float64)}
_FILESIZE_CAP = 1048576  # ObsPy reports the size of (at most) the first MiB as 'filesize'


class _NotIdentical(Exception):
    """The fast path cannot prove its result equals ObsPy's: use ObsPy's reader.

    ``libmseed_error`` tells whether the message is an error of libmseed (worth
    reporting if ObsPy fails too) rather than a difference from ObsPy.
    """

    def __init__(self, message: str, libmseed_error: bool = False) -> None:
        super().__init__(message)
        self.libmseed_error = libmseed_error

    @property
    def kind(self) -> str:
        """Short reason, for counting (a few distinct values)."""
        if self.libmseed_error:
            return "libmseed could not read it"
        return str(self) or "fewer than 128 bytes"


def _libmseed_reason(status: int) -> str:
    messages = pymseed.get_error_messages()
    if messages:
        return "; ".join(m.strip() for m in messages)
    if status < 0:
        return _ffi.string(_lib.ms_errorstr(status)).decode("ascii", "replace")
    return "no data record found"


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
# _new_trace writes the keys of Stats.defaults in their order, then the new ones
_DEFAULT_KEYS = ["sampling_rate", "delta", "starttime", "endtime", "npts", "calib",
                 "network", "station", "location", "channel"]
_DEFAULTS_AS_KNOWN = list(Stats.defaults) == _DEFAULT_KEYS
_CALIB = Stats.defaults.get("calib", 1.0)


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
    stats = _new(Stats)
    if not _DEFAULTS_AS_KNOWN:  # another ObsPy version: start from its defaults
        stats.__dict__.update(Stats.defaults)
    # Stats.__init__ starts from Stats.defaults (in this order), then the new keys in
    # the order ObsPy sets them
    stats.__dict__.update(
        sampling_rate=sampling_rate,
        delta=delta,
        starttime=_utc(start_ns),
        endtime=_utc(start_ns + int(round(timediff * 1e9))),
        npts=npts,
        calib=_CALIB,
        network=network,
        station=station,
        location=location,
        channel=channel,
        mseed=extra,
        _format="MSEED",
    )
    trace = _new(Trace)
    _set_attr(trace, "stats", stats)
    _set_attr(trace, "data", samples)
    return trace
