"""Tests of s2sframe.decode: miniSEED, decompression, StationXML, cached responses."""

from __future__ import annotations

import bz2
import copy
import gzip
import io
import pickle
import sqlite3
import warnings
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import obspy
import pytest
from obspy import Stream, Trace, UTCDateTime
from obspy.core.inventory.response import Response

import s2sframe.decode.fastresp as fastresp_mod
import s2sframe.decode.mseed as mseed_mod
import s2sframe.decode.mseed_vector as mseed_vector_mod
import s2sframe.decode.responses as responses_mod
import s2sframe.decode.stationxml as stationxml_mod
from s2sframe.decode import (
    CachedResponse,
    InventoryCache,
    clear_response_cache,
    decompress,
    read_inventory,
    read_mseed,
    response_cache_info,
    set_response_cache_size,
)
from s2sframe.exceptions import SkipSegment

# ---------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------

T0 = UTCDateTime(2020, 1, 1, 0, 0, 0.123456)


def make_trace(
    n: int = 3000,
    sr: float = 100.0,
    dtype: type = np.int32,
    seed: int = 0,
    channel: str = "HHZ",
    location: str = "",
    t0: UTCDateTime = T0,
    quality: str = "D",
) -> Trace:
    rng = np.random.default_rng(seed)
    data = np.cumsum(rng.normal(0, 50, n)).astype(dtype)
    trace = Trace(
        data,
        header={
            "network": "GE",
            "station": "ABC",
            "location": location,
            "channel": channel,
            "sampling_rate": sr,
            "starttime": t0,
        },
    )
    trace.stats.mseed = {"dataquality": quality}
    return trace


def mseed(traces: Trace | list[Trace], **kwargs) -> bytes:
    buf = io.BytesIO()
    Stream(traces if isinstance(traces, list) else [traces]).write(buf, format="MSEED", **kwargs)
    return buf.getvalue()


def split_records(data: bytes, reclen: int) -> list[bytes]:
    return [data[i : i + reclen] for i in range(0, len(data), reclen)]


def obspy_read(data: bytes) -> Stream:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return obspy.read(io.BytesIO(data), format="MSEED")


def assert_same_stream(expected: Stream, got: Stream) -> None:
    assert len(got) == len(expected)
    for exp, tr in zip(expected, got, strict=True):
        assert tr.stats == exp.stats
        assert dict(tr.stats.mseed) == dict(exp.stats.mseed)
        assert list(tr.stats.mseed) == list(exp.stats.mseed)  # same keys, same order
        assert tr.stats._format == exp.stats._format == "MSEED"
        assert tr.data.dtype == exp.data.dtype
        np.testing.assert_array_equal(tr.data, exp.data)
        # same objects inside, not just equal ones (read_mseed builds them directly)
        assert type(tr) is type(exp) and list(vars(tr)) == list(vars(exp))
        assert type(tr.stats) is type(exp.stats)
        assert type(tr.stats.mseed) is type(exp.stats.mseed)
        assert [(k, type(v)) for k, v in vars(tr.stats).items()] == [
            (k, type(v)) for k, v in vars(exp.stats).items()
        ]
        assert [(k, type(v)) for k, v in vars(tr.stats.mseed).items()] == [
            (k, type(v)) for k, v in vars(exp.stats.mseed).items()
        ]
        for key in ("starttime", "endtime"):
            a, b = tr.stats[key], exp.stats[key]
            assert (a.ns, a.precision, a._initialized, a._has_warned) == (
                b.ns, b.precision, b._initialized, b._has_warned
            )
        assert tr.stats.starttime is not exp.stats.starttime
        assert tr.data.flags.c_contiguous == exp.data.flags.c_contiguous
        # and they behave alike: derived stats, pickling
        changed = []
        for stats in (tr.stats, exp.stats):
            stats = copy.copy(stats)  # shallow: the original's own objects, changed
            stats.sampling_rate = stats.sampling_rate / 2
            stats.starttime += 1.5
            stats.npts -= 1
            changed.append(stats)
        assert changed[0] == changed[1]
        assert pickle.loads(pickle.dumps(tr)) == pickle.loads(pickle.dumps(exp))
        assert str(tr) == str(exp)


@pytest.fixture
def no_obspy_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ObsPy's reader unusable: read_mseed must then use its libmseed path."""

    def fail(*args, **kwargs):
        raise AssertionError("ObsPy fallback used")

    monkeypatch.setattr(mseed_mod, "_read_mseed", fail)


@pytest.fixture
def fallback_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the calls to ObsPy's reader (the fallback)."""
    calls: list[int] = []
    real = mseed_mod._read_mseed

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(mseed_mod, "_read_mseed", counting)
    return calls


def fixture_rows(db: Path) -> dict[int, tuple[bytes, bytes, int]]:
    """segment id -> (miniSEED, inventory_xml, station id) of the example database."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "select s.id, s.data, st.inventory_xml, st.id from segments s "
            "join channels c on s.channel_id = c.id join stations st on st.id = c.station_id"
        ).fetchall()
    finally:
        con.close()
    return {sid: (data, xml, stid) for sid, data, xml, stid in rows}


@pytest.fixture(scope="module")
def example_inventory_xml() -> bytes:
    """ObsPy's bundled example inventory (BW.RJOB etc.) as StationXML bytes."""
    buf = io.BytesIO()
    obspy.read_inventory().write(buf, format="STATIONXML")
    return buf.getvalue()


# ---------------------------------------------------------------------------------------
# the example database
# ---------------------------------------------------------------------------------------


def test_fixture_segments(example_db: Path, no_obspy_fallback: None) -> None:
    """Real GEOFON miniSEED written by stream2segment: decoded as ObsPy decodes it."""
    rows = fixture_rows(example_db)
    st2 = read_mseed(rows[2][0])
    assert len(st2) == 1
    tr = st2[0]
    assert tr.id == "GE.MTE..BHZ"
    assert tr.stats.sampling_rate == 20.0
    assert tr.stats.npts == 5226
    assert tr.data[:3].tolist() == [-314, -280, -251]
    st1 = read_mseed(rows[1][0])
    assert st1[0].id == "GE.RUE..BHZ"
    assert st1[0].stats.npts == 5036
    assert st1[0].data[:3].tolist() == [196, 211, 94]
    for data, _, _ in rows.values():
        assert_same_stream(obspy_read(data), read_mseed(data))


def test_fixture_responses_cached_equal_to_rounding(example_db: Path) -> None:
    """Real GEOFON StationXML (FIR stages) written by stream2segment: cached responses."""
    data, xml, _ = fixture_rows(example_db)[2]
    assert xml[:2] == b"\x1f\x8b"  # stream2segment stores gzip
    tr = read_mseed(data)[0]
    np.testing.assert_allclose(
        tr.copy().remove_response(read_inventory(xml)).data[:3],
        [-1.42699395e-06, -1.43603990e-06, -1.42210201e-06], rtol=1e-6,
    )
    cached_inv = read_inventory(xml)
    plain_inv = obspy.read_inventory(io.BytesIO(gzip.decompress(xml)))
    options = [{}, {"water_level": None}, {"pre_filt": (0.01, 0.02, 8.0, 9.0)},
               {"pre_filt": (0.01, 0.02, 8.0, 9.0), "water_level": None}]
    for output in ("DISP", "VEL", "ACC"):
        for kwargs in options:
            expected = tr.copy().remove_response(plain_inv, output=output, **kwargs).data
            first = None
            for _ in range(2):  # miss, then hit
                got = tr.copy().remove_response(cached_inv, output=output, **kwargs).data
                assert_equal_to_rounding(got, expected)
                first = got if first is None else first
                assert np.array_equal(got, first), (output, kwargs)  # the memo's own result


def assert_equal_to_rounding(got: np.ndarray, expected: np.ndarray) -> None:
    """remove_response outputs: equal within 1e-9 of the output maximum (the contract)."""
    assert got.shape == expected.shape
    assert np.max(np.abs(got - expected)) <= 1e-9 * np.max(np.abs(expected))


# ---------------------------------------------------------------------------------------
# read_mseed == obspy.read, generated data
# ---------------------------------------------------------------------------------------

_A = make_trace()
_NEXT = _A.stats.endtime + _A.stats.delta  # start of a trace adjacent to _A


def _blockette_1000_first(data: bytes, reclen: int = 512) -> bytes:
    """ObsPy's records (blockette 1001 at byte 48, 1000 at 56) with the blockettes
    swapped: 1000 at 48 linking to 1001 at 56 (as stream2segment's GEOFON data)."""
    out = bytearray(data)
    for off in range(0, len(data), reclen):
        assert data[off + 48 : off + 50] == (1001).to_bytes(2, "big")
        b1001, b1000 = data[off + 48 : off + 56], data[off + 56 : off + 64]
        out[off + 48 : off + 56] = b1000[:2] + (56).to_bytes(2, "big") + b1000[4:]
        out[off + 56 : off + 64] = b1001[:2] + (0).to_bytes(2, "big") + b1001[4:]
    return bytes(out)


def _generated() -> dict[str, tuple[bytes, bool]]:
    """name -> (miniSEED bytes, whether the libmseed fast path must handle it)."""
    cases: dict[str, tuple[bytes, bool]] = {}
    for enc, dtype in [
        ("STEIM1", np.int32),
        ("STEIM2", np.int32),
        ("INT32", np.int32),
        ("INT16", np.int16),
        ("FLOAT32", np.float32),
        ("FLOAT64", np.float64),
    ]:
        for reclen in (256, 512, 4096):
            cases[f"{enc}-{reclen}"] = (
                mseed(make_trace(dtype=dtype), encoding=enc, reclen=reclen),
                True,
            )
    cases["little-endian-steim2"] = (mseed(make_trace(), reclen=512, byteorder="<"), True)
    cases["little-endian-float64"] = (
        mseed(make_trace(dtype=np.float64), encoding="FLOAT64", byteorder="<"),
        True,
    )
    for sr in (0.1, 1.0, 1 / 3, 12.5, 20.0, 200.0):
        cases[f"rate-{sr:g}"] = (mseed(make_trace(n=5000, sr=sr), reclen=512), True)
    for quality in "RQM":
        cases[f"quality-{quality}"] = (mseed(make_trace(quality=quality), reclen=512), True)
    cases["location-00"] = (mseed(make_trace(location="00"), reclen=512), True)
    cases["whole-second-start"] = (mseed(make_trace(t0=UTCDateTime(2020, 1, 1)), reclen=512), True)
    cases["new-year"] = (
        mseed(make_trace(t0=UTCDateTime(2020, 12, 31, 23, 59, 50)), reclen=512),
        True,
    )
    cases["one-record"] = (mseed(make_trace(n=50), reclen=512), True)
    cases["blockettes-1000-then-1001"] = (_blockette_1000_first(mseed(make_trace(), reclen=512)), True)
    gap = make_trace(seed=1, t0=_A.stats.endtime + 10)
    cases["gap-2-traces"] = (mseed([_A, gap], reclen=512), True)
    cases["overlap-2-traces"] = (
        mseed([_A, make_trace(seed=1, t0=_A.stats.endtime - 5)], reclen=512),
        True,
    )
    cases["adjacent-1-trace"] = (mseed([_A, make_trace(seed=1, t0=_NEXT)], reclen=512), True)
    for frac in (0.4, 0.5, 0.6):  # ObsPy joins records within half a sample
        t0 = _A.stats.endtime + _A.stats.delta * (1 + frac)
        cases[f"gap-{frac}-sample"] = (mseed([_A, make_trace(seed=1, t0=t0)], reclen=512), True)
    # Time tolerance at its limit: 2-sample records at 3 Hz (period 333333.3 us,
    # tolerance 166666 us in ObsPy). At 833333 us libmseed (nanoseconds) joins the
    # records, ObsPy (microseconds) does not: read_mseed must notice and split.
    t3 = UTCDateTime(2020, 1, 1)
    for offset, fast in [(833332, True), (833333, False), (499999, True), (500000, True)]:
        pair = [
            make_trace(n=2, sr=3.0, t0=t3),
            make_trace(n=2, sr=3.0, seed=1, t0=t3 + offset / 1e6),
        ]
        cases[f"tolerance-3Hz-{offset}us"] = (mseed(pair, reclen=512), fast)
        other = make_trace(n=4, sr=3.0, channel="HHN", t0=t3)
        cases[f"tolerance-3Hz-{offset}us-2-channels"] = (mseed([*pair, other], reclen=512), fast)
    z, n, e = (make_trace(channel=c, seed=i) for i, c in enumerate(["HHZ", "HHN", "HHE"]))
    cases["3-channels"] = (mseed([z, n, e], reclen=512), True)
    cases["3-channels-NZE"] = (mseed([n, z, e], reclen=512), True)
    zr, nr = split_records(mseed(z, reclen=512), 512), split_records(mseed(n, reclen=512), 512)
    cases["2-channels-interleaved"] = (
        b"".join(r for pair in zip(zr, nr, strict=True) for r in pair),
        True,
    )
    recs = split_records(mseed(make_trace(n=6000), reclen=512), 512)
    cases["out-of-order-swap"] = (b"".join([recs[1], recs[0], *recs[2:]]), False)
    cases["out-of-order-reversed"] = (b"".join(recs[::-1]), False)
    cases["duplicate-record-at-end"] = (b"".join([*recs, recs[3]]), True)
    cases["duplicate-record-inside"] = (b"".join([*recs[:4], recs[2], *recs[4:]]), False)
    cases["missing-record"] = (b"".join(recs[:3] + recs[4:]), True)
    later = make_trace(n=6000, seed=5, t0=make_trace(n=6000).stats.endtime + 0.01)
    cases["record-lengths-512-4096"] = (b"".join(recs) + mseed(later, reclen=4096), True)
    cases["steim1-then-steim2"] = (
        mseed(_A, encoding="STEIM1", reclen=512)
        + mseed(make_trace(seed=1, t0=_NEXT), encoding="STEIM2", reclen=512),
        True,
    )
    cases["int32-then-float32"] = (
        mseed(_A, encoding="INT32", reclen=512)
        + mseed(make_trace(dtype=np.float32, t0=_NEXT), encoding="FLOAT32", reclen=512),
        False,
    )
    cases["rate-within-tolerance"] = (
        mseed(_A, reclen=512) + mseed(make_trace(sr=100.005, t0=_NEXT), reclen=512),
        True,
    )
    cases["rate-change"] = (
        mseed(_A, reclen=512) + mseed(make_trace(sr=50, t0=_NEXT), reclen=512),
        True,
    )
    cases["quality-change"] = (
        mseed(_A, reclen=512) + mseed(make_trace(quality="R", t0=_NEXT), reclen=512),
        True,
    )
    text = Trace(np.frombuffer(b"hello world " * 100, dtype="|S1"))
    text.stats.update({"network": "XX", "station": "TXT", "channel": "LOG"})
    cases["ascii"] = (mseed(text, encoding="ASCII", reclen=512), False)
    good = mseed(make_trace(), reclen=512)
    cases["truncated"] = (good[:-100], False)
    cases["trailing-garbage"] = (good + b"x" * 300, False)
    cases["blank-record"] = (good[:512] + b" " * 512 + good[512:], False)
    return cases


GENERATED = _generated()


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_read_mseed_equals_obspy(name: str, fallback_calls: list[int]) -> None:
    data, fast = GENERATED[name]
    expected = obspy_read(data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = read_mseed(data)
    assert_same_stream(expected, got)
    if fast:  # the common layouts must not need ObsPy
        assert fallback_calls == []


def test_generated_cases_cover_splits() -> None:
    counts = {name: len(obspy_read(data)) for name, (data, _) in GENERATED.items()}
    assert counts["gap-2-traces"] == 2
    assert counts["gap-0.4-sample"] == 1
    assert counts["gap-0.6-sample"] == 2
    assert counts["3-channels"] == 3
    assert counts["out-of-order-reversed"] > 2
    assert counts["int32-then-float32"] == 2
    assert counts["tolerance-3Hz-833332us"] == 1
    assert counts["tolerance-3Hz-833333us"] == 2
    assert counts["tolerance-3Hz-499999us"] == 2
    assert counts["tolerance-3Hz-833333us-2-channels"] == 3


def test_read_mseed_trace_order_follows_buffer(no_obspy_fallback: None) -> None:
    z, n = make_trace(channel="HHZ"), make_trace(channel="HHN", seed=1)
    assert [tr.stats.channel for tr in read_mseed(mseed([z, n]))] == ["HHZ", "HHN"]
    assert [tr.stats.channel for tr in read_mseed(mseed([n, z]))] == ["HHN", "HHZ"]


def test_read_mseed_arrays_are_writable_and_owned(no_obspy_fallback: None) -> None:
    tr = read_mseed(mseed(make_trace()))[0]
    assert tr.data.flags.writeable and tr.data.flags.c_contiguous
    tr.data[:] = 0  # in-place processing works
    assert not tr.data.any()
    tr.detrend("demean")
    tr.filter("highpass", freq=1.0)
    assert tr.data.dtype == np.float64


def test_read_mseed_accepts_bytes_like(no_obspy_fallback: None) -> None:
    data = mseed(make_trace())
    expected = read_mseed(data)
    for other in (bytearray(data), memoryview(data)):
        assert_same_stream(expected, read_mseed(other))


@pytest.mark.parametrize("empty", [None, b"", bytearray()])
def test_read_mseed_no_data(empty) -> None:
    with pytest.raises(SkipSegment, match="^no waveform data$"):
        read_mseed(empty)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"this is not miniseed" * 50, "julday out of bounds"),
        (b"123", "smallest possible mini-SEED record"),
        (b"\0" * 1024, ""),
    ],
    ids=["text", "too-short", "zeros"],
)
def test_read_mseed_invalid(data: bytes, reason: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(SkipSegment, match="^invalid miniSEED data: ") as info:
            read_mseed(data)
    assert reason in str(info.value)
    assert len(str(info.value)) > len("invalid miniSEED data: ")


def test_read_mseed_threads(no_obspy_fallback: None) -> None:
    blobs = [mseed(make_trace(n=2000 + 10 * i, seed=i), reclen=512) for i in range(40)]
    expected = [read_mseed(b) for b in blobs]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(read_mseed, blobs * 5))
    for i, got in enumerate(results):
        assert_same_stream(expected[i % len(blobs)], got)


# ---------------------------------------------------------------------------------------
# decompress
# ---------------------------------------------------------------------------------------

PAYLOAD = b'<?xml version="1.0"?><FDSNStationXML>' + b"x" * 1000 + b"</FDSNStationXML>"


def _zip(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buf.getvalue()


@pytest.mark.parametrize(
    "compressed",
    [
        gzip.compress(PAYLOAD, mtime=0),
        bz2.compress(PAYLOAD),
        _zip(("station.xml", PAYLOAD)),
        zlib.compress(PAYLOAD, 1),
        zlib.compress(PAYLOAD, 6),
        zlib.compress(PAYLOAD, 9),
        zlib.compress(PAYLOAD, 0),
        PAYLOAD,
    ],
    ids=["gzip", "bz2", "zip", "zlib-1", "zlib-6", "zlib-9", "zlib-0", "plain"],
)
def test_decompress(compressed: bytes) -> None:
    assert decompress(compressed) == PAYLOAD
    assert decompress(memoryview(compressed)) == PAYLOAD


def test_decompress_empty() -> None:
    assert decompress(b"") == b""
    assert decompress(None) == b""


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (gzip.compress(PAYLOAD, mtime=0)[:30], "corrupt gzip"),
        (b"BZh9" + b"\0" * 50, "corrupt bz2"),
        (zlib.compress(PAYLOAD)[:-8] + b"\xff" * 8, "corrupt zlib"),
        (_zip(("a.xml", PAYLOAD), ("b.xml", PAYLOAD)), "exactly one file"),
        (_zip(), "exactly one file"),
        (b"PK\x03\x04" + b"\0" * 40, "corrupt zip"),
    ],
    ids=["gzip", "bz2", "zlib", "zip-2-files", "zip-empty", "zip-corrupt"],
)
def test_decompress_corrupt(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decompress(data)


# ---------------------------------------------------------------------------------------
# read_inventory
# ---------------------------------------------------------------------------------------


def test_read_inventory_formats(example_inventory_xml: bytes) -> None:
    expected = obspy.read_inventory(io.BytesIO(example_inventory_xml))
    for compress in (gzip.compress, bz2.compress, zlib.compress, lambda b: b):
        inv = read_inventory(compress(example_inventory_xml))
        assert inv == expected
        responses = [cha.response for net in inv for sta in net for cha in sta]
        assert responses and all(isinstance(r, CachedResponse) for r in responses)


def test_read_inventory_as_stationxml(example_inventory_xml: bytes) -> None:
    data = gzip.compress(example_inventory_xml)
    assert read_inventory(data, format="stationxml") == example_inventory_xml
    assert read_inventory(data, format="StationXML") == example_inventory_xml
    with pytest.raises(ValueError, match="format"):
        read_inventory(data, format="sc3ml")


@pytest.mark.parametrize("empty", [None, b""])
def test_read_inventory_missing(empty) -> None:
    with pytest.raises(SkipSegment, match=r"^no inventory \(station has no StationXML\)$"):
        read_inventory(empty)
    with pytest.raises(SkipSegment, match="no inventory"):
        read_inventory(empty, format="stationxml")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"garbage", "invalid StationXML: not an FDSNStationXML document"),
        (gzip.compress(b"<foo><bar/></foo>", mtime=0), "invalid StationXML: not an FDSNStationXML"),
        (gzip.compress(b"<FDSNStationXML><Network", mtime=0), "invalid StationXML: XMLSyntaxError"),
        (gzip.compress(b"   ", mtime=0), "invalid StationXML: empty document"),
        (gzip.compress(b"<FDSNStationXML/>", mtime=0)[:15], "invalid inventory: corrupt gzip"),
    ],
    # explicit ids: gzip bytes hold the time, xdist workers would collect different ids
    ids=["garbage", "not-stationxml", "xml-syntax-error", "empty", "corrupt-gzip"],
)
def test_read_inventory_invalid(data: bytes, message: str) -> None:
    with pytest.raises(SkipSegment, match=message):
        read_inventory(data)


# ---------------------------------------------------------------------------------------
# cached responses
# ---------------------------------------------------------------------------------------


@pytest.fixture
def example_pair(example_inventory_xml: bytes):
    """(trace, inventory with cached responses, plain ObsPy inventory)."""
    clear_response_cache()
    trace = obspy.read()[0]  # BW.RJOB..EHZ, response in the example inventory
    cached = read_inventory(gzip.compress(example_inventory_xml))
    plain = obspy.read_inventory(io.BytesIO(example_inventory_xml))
    yield trace, cached, plain
    clear_response_cache()


@pytest.fixture
def evalresp_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Record every real response evaluation over a frequency grid (ObsPy's evalresp
    entry point, or the fast evaluation; not the one-time checks of the fast path)."""
    calls: list[tuple] = []
    real = Response.get_evalresp_response_for_frequencies
    real_fast = fastresp_mod._Plan.evaluate

    def counting(self, frequencies, *args, **kwargs):
        calls.append((len(frequencies), kwargs.get("output")))
        return real(self, frequencies, *args, **kwargs)

    def counting_fast(self, t_samp, nfft, output):
        calls.append((nfft // 2 + 1, output))
        return real_fast(self, t_samp, nfft, output)

    def check(self, response, start, end):  # uncounted self-check
        monkeypatch.setattr(fastresp_mod._Plan, "evaluate", real_fast)
        monkeypatch.setattr(Response, "get_evalresp_response_for_frequencies", real)
        try:
            real_check(self, response, start, end)
        finally:
            monkeypatch.setattr(fastresp_mod._Plan, "evaluate", counting_fast)
            monkeypatch.setattr(Response, "get_evalresp_response_for_frequencies", counting)

    real_check = fastresp_mod._Plan.check
    monkeypatch.setattr(Response, "get_evalresp_response_for_frequencies", counting)
    monkeypatch.setattr(fastresp_mod._Plan, "evaluate", counting_fast)
    monkeypatch.setattr(fastresp_mod._Plan, "check", check)
    return calls


@pytest.mark.parametrize("output", ["DISP", "VEL", "ACC"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"water_level": None},
        {"pre_filt": (0.5, 1.0, 40.0, 45.0)},
        {"pre_filt": (0.5, 1.0, 40.0, 45.0), "water_level": 30},
    ],
)
def test_cached_remove_response_equal_to_rounding(
    example_pair, output: str, options: dict
) -> None:
    trace, cached, plain = example_pair
    expected = trace.copy().remove_response(plain, output=output, **options).data
    for _ in range(3):
        got = trace.copy().remove_response(cached, output=output, **options).data
        assert_equal_to_rounding(got, expected)


def test_cache_hits(example_pair, evalresp_calls: list[tuple]) -> None:
    trace, cached, _ = example_pair
    for _ in range(4):
        trace.copy().remove_response(cached, output="ACC")
    assert len(evalresp_calls) == 1
    trace.copy().remove_response(cached, output="VEL")
    trace.copy().remove_response(cached, output="VEL")
    assert len(evalresp_calls) == 2
    trace.copy().slice(trace.stats.starttime, trace.stats.starttime + 10).remove_response(
        cached, output="ACC"
    )  # another length: another FFT size
    assert len(evalresp_calls) == 3
    info = response_cache_info()
    assert (info.hits, info.misses, info.entries) == (4, 3, 3)


def test_uncached_inventory_evaluates_every_time(example_pair, evalresp_calls: list[tuple]) -> None:
    trace, _, plain = example_pair
    for _ in range(3):
        trace.copy().remove_response(plain, output="ACC")
    assert len(evalresp_calls) == 3  # the baseline the cache improves on


def test_cached_results_are_copies(example_pair) -> None:
    _, cached, plain = example_pair
    response = cached.get_response("BW.RJOB..EHZ", UTCDateTime(2009, 8, 24))
    first, freqs = response.get_evalresp_response(0.01, 4096, output="ACC")
    expected = first.copy()
    first[:] = 0  # remove_response modifies the array in place
    freqs[:] = 0
    again, freqs2 = response.get_evalresp_response(0.01, 4096, output="ACC")
    assert np.array_equal(again, expected)
    assert freqs2[-1] == 50.0
    assert again.flags.writeable


def test_cached_response_pickle_copy_write(example_pair, evalresp_calls: list[tuple]) -> None:
    trace, cached, plain = example_pair
    trace.copy().remove_response(cached)
    assert len(evalresp_calls) == 1
    for clone in (pickle.loads(pickle.dumps(cached)), copy.deepcopy(cached), cached.copy()):
        response = clone.get_response(trace.id, trace.stats.starttime)
        assert isinstance(response, CachedResponse)
        assert clone == cached == plain and plain == clone
        before = len(evalresp_calls)
        result = trace.copy().remove_response(clone).data
        assert len(evalresp_calls) == before + 1  # its own memo: not shared with the original
        assert_equal_to_rounding(result, trace.copy().remove_response(plain).data)
    out_cached, out_plain = io.BytesIO(), io.BytesIO()
    cached.write(out_cached, format="STATIONXML")
    plain.write(out_plain, format="STATIONXML")
    assert out_cached.getvalue() == out_plain.getvalue()


def test_response_cache_is_bounded(example_pair) -> None:
    trace, cached, _ = example_pair
    try:
        set_response_cache_size(100_000)  # ~ a few 3000-sample responses
        for n in range(1000, 3000, 100):
            trace.copy().slice(
                trace.stats.starttime, trace.stats.starttime + n / 100
            ).remove_response(cached)
        info = response_cache_info()
        assert 0 < info.nbytes <= 100_000
        assert info.entries < 20
        set_response_cache_size(0)
        assert response_cache_info().entries == 0
    finally:
        set_response_cache_size(responses_mod._DEFAULT_MEMO_BYTES)


def test_cached_response_equality(example_pair) -> None:
    _, cached, plain = example_pair
    c = cached.get_response("BW.RJOB..EHZ", UTCDateTime(2009, 8, 24))
    p = plain.get_response("BW.RJOB..EHZ", UTCDateTime(2009, 8, 24))
    assert c == p and p == c and not (c != p)
    assert CachedResponse.from_response(p) == p


# ---------------------------------------------------------------------------------------
# InventoryCache
# ---------------------------------------------------------------------------------------


@pytest.fixture
def parse_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = stationxml_mod.parse_stationxml

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(stationxml_mod, "parse_stationxml", counting)
    return calls


def test_inventory_cache_parses_once(example_inventory_xml: bytes, parse_calls: list[int]) -> None:
    cache = InventoryCache()
    blob = gzip.compress(example_inventory_xml)
    loads: list[int] = []

    def loader() -> bytes:
        loads.append(1)
        return blob

    inv = cache.get_or_read(7, loader)
    assert cache.get_or_read(7, loader) is inv
    assert cache.get_or_read(7, blob) is inv
    assert (len(parse_calls), len(loads)) == (1, 1)
    assert cache.info() == (2, 1, 256, 1)
    assert cache[7] is inv and cache.get(7) is inv and 7 in cache


def test_inventory_cache_caches_errors(parse_calls: list[int]) -> None:
    cache = InventoryCache()
    loads: list[int] = []

    def loader() -> bytes:
        loads.append(1)
        return gzip.compress(b"<FDSNStationXML><broken")

    for _ in range(3):
        with pytest.raises(SkipSegment, match="invalid StationXML"):
            cache.get_or_read(1, loader)
    assert (len(loads), len(parse_calls)) == (1, 1)
    for _ in range(2):
        with pytest.raises(SkipSegment, match="no inventory"):
            cache.get_or_read(2, None)
    with pytest.raises(SkipSegment, match="no inventory"):
        cache.get(2)  # mapping access raises the cached error too
    assert cache.info().misses == 2


def test_inventory_cache_lru(example_inventory_xml: bytes, parse_calls: list[int]) -> None:
    cache = InventoryCache(maxsize=2)
    for sid in (1, 2):
        cache.get_or_read(sid, example_inventory_xml)
    cache.get_or_read(1, example_inventory_xml)  # 1 is now the most recent
    cache.get_or_read(3, example_inventory_xml)  # evicts 2
    assert 1 in cache and 3 in cache and 2 not in cache and len(cache) == 2
    assert len(parse_calls) == 3
    cache.get_or_read(2, example_inventory_xml)
    assert len(parse_calls) == 4


def test_inventory_cache_mapping_interface(example_inventory_xml: bytes) -> None:
    cache = InventoryCache()
    assert cache.get(5) is None
    with pytest.raises(KeyError):
        cache[5]
    inv = obspy.read_inventory(io.BytesIO(example_inventory_xml))
    cache[5] = inv
    assert cache.get(5) is inv
    assert all(isinstance(c.response, CachedResponse) for n in inv for s in n for c in s)
    cache[6] = SkipSegment("no inventory (station has no StationXML)")
    with pytest.raises(SkipSegment, match="no inventory"):
        cache[6]
    with pytest.raises(TypeError):
        cache[7] = "not an inventory"
    del cache[5]
    assert 5 not in cache
    cache.clear()
    assert len(cache) == 0


def test_inventory_cache_pickles_empty(example_inventory_xml: bytes) -> None:
    cache = InventoryCache(maxsize=9)
    cache.get_or_read(1, example_inventory_xml)
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.maxsize == 9 and len(clone) == 0 and len(cache) == 1
    with pytest.raises(ValueError):
        InventoryCache(maxsize=0)


@pytest.mark.parametrize("rate", [1e6, 1000.0, 200.0, 100.0, 50.0, 40.0, 20.0, 8.0, 1.0, 0.1, 0.001])
def test_exact_delta_span_equals_obspy_formula(rate: float) -> None:
    # read_mseed's vectorized check uses span = (samples - 1) * delta when 1e6 / rate
    # is an integer: it must equal ObsPy's int((samples - 1) / rate * 1e6 + 0.5) for
    # every possible record sample count (uint16)
    delta = int(1000000 / rate)
    assert 1000000 / rate == delta
    counts = np.arange(1, 65536, dtype=np.int64)
    obspy_span = ((counts - 1) / rate * 1000000 + 0.5).astype(np.int64)
    np.testing.assert_array_equal(obspy_span, (counts - 1) * delta)
    weights = mseed_vector_mod._exact_weights(delta, 0)
    # bytes 22-31: doy 1, 02:03:04, (unused byte 27), 0.0007 s, 300 samples
    fields = np.array([[0, 1, 2, 3, 4, 99, 0, 7, 1, 44]], dtype=np.uint8)
    start, samples, end = (fields @ weights)[0]
    assert samples == 300 and end == start + 300 * delta
    assert start == ((((1 * 24 + 2) * 60 + 3) * 60 + 4) * 1000000 + 7 * 100)


def test_check_headers_batch_equals_one_by_one() -> None:
    # the vectorized check of a batch and the check of one buffer apply the same rules
    blobs = [data for data, _ in GENERATED.values()] + [None, b"", b"x" * 200]
    blobs += [_blockette_1000_first(mseed(make_trace(n=n, sr=sr, seed=n), reclen=512))
              for n, sr in [(2000, 100.0), (900, 1 / 3), (5000, 12.5)]]
    batch = mseed_vector_mod.check_headers(blobs)
    assert batch == [mseed_vector_mod.check_headers([b])[0] for b in blobs]
    assert batch[-3:].count(None) == 0 and batch[-6:-3] == [None] * 3
    # all three blockette layouts, both header byte orders, exact and inexact deltas
    firsts = [mseed_vector_mod._first_header(b) for b, c in zip(blobs, batch, strict=True) if c]
    assert {f[2] for f in firsts} == {0, 1, 2} and {f[3] for f in firsts} == {0, 1}
    assert {1e6 / f[4] == f[5] for f in firsts} == {True, False}
    # one buffer's check: (records, record length, rate, start, samples, end, delta...)
    data = mseed(make_trace(n=3000), reclen=512)
    nrec, reclen, rate, start, npts, end, delta, encoding, big = batch_one = (
        mseed_vector_mod.check_headers([data])[0]
    )
    expected = obspy_read(data)[0].stats
    assert (reclen, rate, npts, delta, encoding, big) == (512, 100.0, 3000, 10000, 11, True)
    assert nrec == len(data) // 512
    assert start * 1000 == expected.starttime.ns and end * 1000 == expected.endtime.ns
    assert read_mseed(data, batch_one)[0].stats == expected


def test_read_mseed_with_batch_check_equals_obspy(fallback_calls: list[int]) -> None:
    names = sorted(GENERATED)
    checked = mseed_vector_mod.check_headers([GENERATED[n][0] for n in names])
    for name, check in zip(names, checked, strict=True):
        data, fast = GENERATED[name]
        before = len(fallback_calls)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = read_mseed(data, check)
        assert_same_stream(obspy_read(data), got)
        if fast:
            assert len(fallback_calls) == before, name


def test_read_mseed_with_another_buffers_check_is_still_exact(no_obspy_fallback: None) -> None:
    # a check that does not belong to the bytes is caught by libmseed's reading of them
    a = mseed(make_trace(n=3000), reclen=512)
    b = mseed(make_trace(n=3000, seed=1, t0=T0 + 60), reclen=512)
    c = mseed(make_trace(n=2900, seed=2), reclen=512)
    for data, other in [(a, b), (a, c), (b, a)]:
        wrong = mseed_vector_mod.check_headers([other])[0]
        assert_same_stream(obspy_read(data), read_mseed(data, wrong))
        assert_same_stream(obspy_read(data), read_mseed(data, None))


@pytest.mark.parametrize(
    "name",
    ["gap-2-traces", "gap-0.6-sample", "missing-record", "overlap-2-traces", "rate-change",
     "duplicate-record-at-end", "tolerance-3Hz-499999us"],
)
def test_read_mseed_split_trace_vectorized(
    name: str, no_obspy_fallback: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one id split into several traces (gaps, overlaps...) is checked per libmseed
    # segment at once, without the record-by-record path
    def fail(*args, **kwargs):
        raise AssertionError("record-by-record path used")

    monkeypatch.setattr(mseed_mod, "_traces_by_record", fail)
    data, _ = GENERATED[name]
    got = read_mseed(data)
    assert len(got) >= 2
    assert_same_stream(obspy_read(data), got)
    assert {tr.stats.mseed.filesize for tr in got} == {len(data)}
