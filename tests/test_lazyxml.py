"""The lazy StationXML reader against ObsPy's, on every StationXML document at hand.

Corpus: every FDSN StationXML document of ObsPy's installed test data, ObsPy's
example inventory, the real GEOFON documents of the example database
(../shared/fixtures) and variants of them (coefficient attributes, NaN, a broken
coefficient). Each must give an inventory equal to ``obspy.read_inventory``: ``==``
and attribute by attribute (``==`` compares coefficients as floats only), and every
distinct response the same evalresp response (exactly, through ObsPy's evalresp on
our objects) and the fast one to rounding.
"""

from __future__ import annotations

import copy
import functools
import gzip
import io
import pickle
import re
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import obspy
import pytest
from obspy import UTCDateTime
from obspy.core.inventory.response import Response

from s2sframe.decode import (
    CachedResponse,
    InventoryCache,
    LazyResponse,
    parse_stationxml,
    read_inventory,
)
from s2sframe.decode.fastresp import relative_error
from s2sframe.exceptions import SkipSegment
from tests.conftest import example_stationxml


def _test_data_documents(package: Any) -> list[tuple[str, bytes]]:
    """The FDSN StationXML documents of an installed package's test data."""
    root = Path(package.__file__).parent
    out = []
    for path in sorted(root.glob("**/tests/data/**/*")):
        if path.is_file() and path.stat().st_size < 5_000_000:
            data = path.read_bytes()
            if b"FDSNStationXML" in data[:3000]:
                out.append((f"{package.__name__}/{path.relative_to(root)}", data))
    return out


def _obspy_documents() -> list[tuple[str, bytes]]:
    out = _test_data_documents(obspy)
    buf = io.BytesIO()
    obspy.read_inventory().write(buf, format="STATIONXML")
    out.append(("obspy example inventory", buf.getvalue()))
    return out


@functools.cache
def geofon_documents() -> list[tuple[str, bytes]]:
    return [(f"example.db {name}", xml) for name, xml in example_stationxml()]


def _obspy(data: bytes) -> obspy.Inventory:
    return obspy.read_inventory(io.BytesIO(data), format="STATIONXML")


def assert_same(a: Any, b: Any, path: str = "inventory") -> None:
    """``a`` equals ``b`` attribute by attribute (also those of float subclasses)."""
    if isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), (path, sorted(a.keys() ^ b.keys()))
        for key in a:
            assert_same(a[key], b[key], f"{path}.{key}")
    elif hasattr(a, "__dict__") and not isinstance(a, type):
        if isinstance(a, LazyResponse):
            a.load()
        # ours may be a subclass of ObsPy's class (CachedResponse), never another one
        assert isinstance(a, type(b)), (path, type(a), type(b))
        if isinstance(a, (float, complex)):
            assert a == b or (a != a and b != b), path
        assert_same(vars(a), vars(b), path)
    else:
        assert a == b or (a != a and b != b), (path, a, b)


def _check_document(label: str, data: bytes) -> tuple[bool, int]:
    """Compare with ObsPy: (read lazily, responses checked)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            expected = _obspy(data)
        except Exception as exc:  # noqa: BLE001 - ours must fail too
            with pytest.raises(type(exc)):
                parse_stationxml(data)[0] == expected  # noqa: B015 - reads every response
            return False, 0
        inventory, nbytes = parse_stationxml(data)
        responses = [c.response for n in inventory for s in n for c in s
                     if c.response is not None]
        lazy = any(isinstance(r, LazyResponse) and not r.loaded for r in responses)
        assert inventory == expected, label
        # every response was read (by ==) and compared
        assert all(r.loaded for r in responses if isinstance(r, LazyResponse)), label
        assert_same(inventory, expected, label)
        assert nbytes >= len(data) // 2, label
        checked = 0
        for ours, theirs in zip(responses, [c.response for n in expected for s in n for c in s
                                            if c.response is not None], strict=True):
            assert isinstance(ours, CachedResponse)
            checked += _check_response(label, ours, theirs)
    return lazy, checked


_SEEN: set[str] = set()


def _check_response(label: str, ours: Response, theirs: Response) -> int:
    key = repr(theirs)
    if key in _SEEN or not theirs.response_stages:
        return 0
    _SEEN.add(key)
    try:
        rates = theirs.get_sampling_rates()
        rate = rates[max(rates)]["output_sampling_rate"] if rates else None
    except ValueError:  # stages not in order
        rate = None
    t_samp, nfft = 1 / float(rate or 100.0), 1024
    try:
        expected, _ = theirs.get_evalresp_response(t_samp, nfft, output="ACC")
    except Exception as exc:  # noqa: BLE001 - evalresp rejects it: ours too
        with pytest.raises(type(exc)):
            Response.get_evalresp_response(ours, t_samp, nfft, output="ACC")
        return 0
    same, _ = Response.get_evalresp_response(ours, t_samp, nfft, output="ACC")
    np.testing.assert_array_equal(same, expected, err_msg=label)
    fast, _ = ours.get_evalresp_response(t_samp, nfft, output="ACC")
    assert relative_error(fast, expected) <= 1e-8, label
    return 1


def test_obspy_corpus_equal() -> None:
    documents = _obspy_documents()
    assert len(documents) >= 40
    results = [_check_document(label, data) for label, data in documents]
    # most are read lazily; the others (comments, CDATA...) by ObsPy at once
    assert sum(lazy for lazy, _ in results) >= 35
    assert sum(n for _, n in results) >= 50


def test_pyasdf_corpus_equal() -> None:
    """Real IRIS documents (pyasdf's test data: 1-3 stations, up to 260 KiB)."""
    pyasdf = pytest.importorskip("pyasdf")
    documents = _test_data_documents(pyasdf)
    assert len(documents) >= 5
    results = [_check_document(label, data) for label, data in documents]
    assert sum(lazy for lazy, _ in results) >= 4 and sum(n for _, n in results) >= 5


def test_geofon_documents_equal(example_db: Path) -> None:
    documents = geofon_documents()
    assert documents
    for label, data in documents:
        lazy, checked = _check_document(label, data)
        assert lazy and checked


def _variant(data: bytes, old: bytes, new: bytes, count: int = 1) -> bytes:
    assert data.count(old) >= count
    return data.replace(old, new, count)


def test_coefficient_variants(example_db: Path) -> None:
    """Coefficients with numbers and uncertainties, NaN, a bad value: as ObsPy."""
    _, data = geofon_documents()[0]
    coefficient = b"<NumeratorCoefficient>"
    numbered = data.replace(coefficient, b'<NumeratorCoefficient i="7">')
    uncertain = _variant(data, coefficient, b'<NumeratorCoefficient i="3" minusError="1e-9">',
                         5)
    for variant in (numbered, uncertain):
        lazy, _ = _check_document("variant", variant)
        assert lazy
    inventory, _ = parse_stationxml(numbered)
    stage = next(s for c in inventory[0][0] for s in c.response.response_stages
                 if hasattr(s, "coefficients") and s.coefficients)
    assert {c.number for c in stage.coefficients} == {7}
    # a coefficient ObsPy cannot read: the whole document fails with ObsPy; here the
    # response fails when used, as a SkipSegment naming the problem
    start = data.index(coefficient) + len(coefficient)
    broken = data[:start] + b"abc" + data[data.index(b"<", start):]
    with pytest.raises(ValueError):
        _obspy(broken)
    inventory = read_inventory(broken)
    channels = [c for c in inventory[0][0]]
    with pytest.raises(SkipSegment, match="invalid StationXML: ValueError: .*abc"):
        [c.response.response_stages for c in channels]
    nan = _variant(data, coefficient, b"<NumeratorCoefficient>NaN</NumeratorCoefficient>"
                   + coefficient)
    with pytest.raises(ValueError):
        _obspy(nan)
    with pytest.raises(SkipSegment, match="out of bounds"):
        [c.response.response_stages for c in read_inventory(nan)[0][0]]


def test_responses_read_on_first_use(example_db: Path) -> None:
    _, data = geofon_documents()[0]
    inventory = read_inventory(gzip.compress(data))
    responses = [c.response for c in inventory[0][0]]
    assert len(responses) == 21 and not any(r.loaded for r in responses)
    hhz = next(c for c in inventory[0][0] if c.code == "HHZ")
    trace = obspy.Trace(np.random.default_rng(0).normal(0, 1e3, 24000).astype(np.int32),
                        {"network": "GE", "station": inventory[0][0].code, "channel": "HHZ",
                         "location": hhz.location_code, "sampling_rate": hhz.sample_rate,
                         "starttime": hhz.start_date + 86400})
    trace.remove_response(inventory, output="ACC")
    assert [r.loaded for r in responses].count(True) == 1 and hhz.response.loaded
    expected = trace.copy()
    # pickling, copying and == read them; results equal ObsPy's
    for clone in (pickle.loads(pickle.dumps(inventory)), copy.deepcopy(inventory)):
        assert clone == _obspy(data)
    assert all(r.loaded for r in responses)
    assert np.isfinite(expected.data).all()


def test_concurrent_first_use(example_db: Path) -> None:
    _, data = geofon_documents()[0]
    inventory, _ = parse_stationxml(data)
    response = inventory[0][0][0].response
    barrier = threading.Barrier(4)
    stages: list = []

    def use() -> None:
        barrier.wait()
        stages.append(response.response_stages)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stages) == 4 and all(s is stages[0] for s in stages) and len(stages[0]) > 3


def test_inventory_cache_bounded_in_bytes(example_db: Path) -> None:
    documents = geofon_documents()
    blob = gzip.compress(documents[0][1])
    _, nbytes = parse_stationxml(documents[0][1])
    cache = InventoryCache(max_bytes=int(2.5 * nbytes))
    for station in range(6):
        cache.get_or_read(station, blob)
        assert cache.nbytes <= cache.max_bytes
    assert len(cache) == 2 and 5 in cache and 4 in cache and 0 not in cache
    assert cache.info().misses == 6
    tiny = InventoryCache(max_bytes=1000)  # larger than the cache: returned, not kept
    assert isinstance(tiny.get_or_read(1, blob), obspy.Inventory) and len(tiny) == 0


def test_shared_inventories_between_processes_of_a_run(example_db: Path, tmp_path: Path) -> None:
    """What a run's workers share: the first reads (once), the others load the inventory
    with its responses still unread, equal to ObsPy's; errors are shared too; a
    process without the folder reads on its own; folders of dead runs are removed."""
    import os
    import subprocess
    import sys
    import tempfile

    from s2sframe.decode.invshare import SharedInventories

    _, data = geofon_documents()[0]
    store = SharedInventories.create()
    calls: list[int] = []

    def read() -> tuple[Any, int]:
        calls.append(1)
        return parse_stationxml(data)

    first, nbytes = store.get_or_read(5, read)
    shared, shared_nbytes = store.get_or_read(5, read)
    assert len(calls) == 1 and shared is not first and shared_nbytes == nbytes
    response = shared[0][0][0].response
    assert isinstance(response, LazyResponse) and not response.loaded
    assert shared == obspy.read_inventory(io.BytesIO(data))
    assert store.get_or_read(6, lambda: ("invalid StationXML: x", 221)) == (
        "invalid StationXML: x", 221)
    assert store.get_or_read(6, read) == ("invalid StationXML: x", 221) and len(calls) == 1
    store.remove()
    assert not os.path.exists(store.folder)
    assert store.get_or_read(5, read)[1] == nbytes and len(calls) == 2  # no folder: read here
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    orphan = Path(tempfile.gettempdir(), f"s2s-inventories-{dead}-x")
    orphan.mkdir()
    (orphan / "1.pickle").write_bytes(b"")
    SharedInventories.create().remove()
    assert not orphan.exists()


def test_module_doctests() -> None:
    import doctest

    from s2sframe.decode import invshare, lazyxml, stationxml, xmlresponse, xmlskeleton

    for module in (lazyxml, stationxml, invshare, xmlskeleton, xmlresponse):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_twin_responses_share_plans_and_memo_once_read(example_db: Path) -> None:
    """The same instrument at two stations (responses equal but for their ids and
    names) is evaluated once: twins are joined when read (not before: nothing to
    share), responses that differ are not, and evaluations stay ObsPy's."""
    from s2sframe.decode import clear_response_cache, response_cache_info

    _, data = geofon_documents()[0]
    renamed = data.replace(b'resourceId="', b'resourceId="other-')
    assert renamed != data
    clear_response_cache()
    first, _ = parse_stationxml(data)
    second, _ = parse_stationxml(renamed)
    a, b = first[0][0][0].response, second[0][0][0].response
    other = second[0][0][1].response  # another channel
    assert a._memo_token != b._memo_token  # not read yet
    ra = a.get_evalresp_response(0.01, 4096, output="ACC")
    rb = b.get_evalresp_response(0.01, 4096, output="ACC")
    assert a.loaded and b.loaded and b._memo_token == a._memo_token and b._plans is a._plans
    assert response_cache_info().hits == 1  # the second one came from the memo
    assert np.array_equal(ra[0], rb[0]) and np.array_equal(ra[1], rb[1])
    reference = _obspy(renamed)[0][0][0].response.get_evalresp_response(0.01, 4096, output="ACC")
    assert relative_error(rb[0], reference[0]) < 1e-8
    other.load()
    assert other._memo_token != a._memo_token and other._plans is not a._plans


def _example_xml() -> bytes:
    buf = io.BytesIO()
    obspy.read_inventory().write(buf, format="STATIONXML")
    return buf.getvalue()


_HHZ = b'<Channel code="HHZ" startDate="2006-12-16T00:00:00.000000Z" locationCode="">'
_SKELETON_VARIANTS = {
    "identifiers, source id, description": (_HHZ, _HHZ.replace(
        b">", b' sourceID="FDSN:GR_FUR__H_H_Z" alternateCode=" A1 " historicalCode="">')
        + b'<Identifier type="DOI">10.1000/x</Identifier><Identifier>urn:y</Identifier>'
        + b"<Description/>"),
    "comments, equipment dates": (_HHZ, _HHZ + b'<Comment id="3" subject="s"><Value>v</Value>'
                                  b"<BeginEffectiveTime>2010-01-01T00:00:00</BeginEffectiveTime>"
                                  b"<Author><Name>n</Name></Author></Comment>"
                                  b"<DataLogger><InstallationDate>2011-02-03T04:05:06Z"
                                  b"</InstallationDate><CalibrationDate>2012-01-01</CalibrationDate>"
                                  b"</DataLogger>"),
    "negative comment id": (_HHZ, _HHZ + b'<Comment id="-1"><Value>v</Value></Comment>'),
    "comments: first of each, repeated dates, bad and empty": (
        _HHZ, _HHZ + b"<Comment><Value>a</Value><Value>b</Value>"
        b"<EndEffectiveTime>2010-01-02T00:00:00</EndEffectiveTime>"
        b"<BeginEffectiveTime>2010-01-01T00:00:00</BeginEffectiveTime>"
        b"<BeginEffectiveTime>2011-01-01T00:00:00</BeginEffectiveTime></Comment>"
        b"<Comment><Value/><BeginEffectiveTime>2010-01-01T00:00:00</BeginEffectiveTime>"
        b"<EndEffectiveTime>never</EndEffectiveTime></Comment>"
        b"<Comment><BeginEffectiveTime>2010-01-02T00:00:00</BeginEffectiveTime></Comment>"),
    "station without latitude": (b'<Latitude unit="DEGREES">48.162899</Latitude>', b""),
    "channel without depth": (_HHZ + b'\n        <Latitude unit="DEGREES">48.162899</Latitude>'
                              b'\n        <Longitude unit="DEGREES">11.2752</Longitude>'
                              b"\n        <Elevation>565.0</Elevation>\n        <Depth>0.0</Depth>",
                              _HHZ + b'<Latitude unit="DEGREES">48.162899</Latitude>'
                              b'<Longitude unit="DEGREES">11.2752</Longitude>'
                              b"<Elevation>565.0</Elevation>"),
    "latitude out of bounds": (b'<Latitude unit="DEGREES">48.162899</Latitude>',
                               b'<Latitude unit="DEGREES">95</Latitude>'),
    "azimuth not a number": (b'<Azimuth unit="DEGREES">0.0</Azimuth>',
                             b'<Azimuth unit="DEGREES">north</Azimuth>'),
    "azimuth NaN": (b'<Azimuth unit="DEGREES">0.0</Azimuth>',
                    b'<Azimuth unit="DEGREES">NaN</Azimuth>'),
    "uncertainties": (b'<Elevation>565.0</Elevation>',
                      b'<Elevation minusError="1.5" plusError="2" measurementMethod="GPS" '
                      b'unit="M">565.0</Elevation>'),
    "bad uncertainty": (b"<Elevation>565.0</Elevation>",
                        b'<Elevation minusError="x">565.0</Elevation>'),
    "custom attribute and element": (
        b'xmlns="http://www.fdsn.org/xml/station/1"',
        b'xmlns="http://www.fdsn.org/xml/station/1" xmlns:x="http://example.org/x"'),
    "empty channel": (_HHZ, b"<Channel></Channel>" + _HHZ),
    "sample rate ratio, bad date": (_HHZ, _HHZ.replace(b'startDate="2006', b'endDate="bad" '
                                                        b'startDate="2006')
                                    + b"<SampleRateRatio><NumberSamples>1</NumberSamples>"
                                    b"<NumberSeconds>x</NumberSeconds></SampleRateRatio>"),
}


@pytest.mark.parametrize("name", sorted(_SKELETON_VARIANTS))
def test_skeleton_variants_as_obspy(name: str) -> None:
    """Networks, stations, channels are read as ObsPy reads them, also in its corner
    cases: the same objects, warnings and errors (xmlskeleton's fast paths fall back
    to ObsPy's code where they do not apply)."""
    old, new = _SKELETON_VARIANTS[name]
    data = _variant(_example_xml(), old, new)
    if name == "custom attribute and element":  # used by a channel and a station
        data = _variant(data, _HHZ, _HHZ.replace(b">", b' x:flag="1">') + b"<x:note>n</x:note>")
        data = _variant(data, b"<Station code=", b'<Station x:a="b" code=')
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        try:
            expected = _obspy(data)
        except Exception as exc:  # noqa: BLE001 - ours must fail alike
            with pytest.raises(type(exc), match=re.escape(str(exc))):
                parse_stationxml(data)
            return
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        inventory, _ = parse_stationxml(data)
    assert [(w.category, str(w.message)) for w in ours] == [
        (w.category, str(w.message)) for w in theirs]
    assert inventory == expected
    assert_same(inventory, expected, name)


def test_skeleton_dates_as_utcdatetime() -> None:
    """The fast parser of plain ISO dates gives UTCDateTime's nanoseconds, and leaves
    every other text to UTCDateTime (None)."""
    from s2sframe.decode.xmlskeleton import _date, _iso_ns

    rng = np.random.default_rng(0)
    texts = ["1970-01-01T00:00:00", "2000-02-29T23:59:59.999999Z", "1899-12-31T12:00:00.5",
             "2006-12-16T00:00:00.000000Z", "2599-12-31T23:59:59Z", "1601-03-01T00:00:00.0"]
    for _ in range(2000):
        year, month = int(rng.integers(1800, 2200)), int(rng.integers(1, 13))
        day = int(rng.integers(1, 29 if month == 2 else 31))
        text = (f"{year:04d}-{month:02d}-{day:02d}T{rng.integers(0, 24):02d}:"
                f"{rng.integers(0, 60):02d}:{rng.integers(0, 60):02d}")
        digits = int(rng.integers(0, 7))
        if digits:
            text += "." + "".join(str(d) for d in rng.integers(0, 10, digits))
        texts.append(text + ["Z", "", "+00:00"][int(rng.integers(0, 3))])
    for text in texts:
        assert _iso_ns(text) == UTCDateTime(text).ns, text
        assert _date(text) == UTCDateTime(text) and _date(text).precision == 6
    others = ["2014-03-03T11:07:06+01:00", "2012-01-01", "2014-03-03T11:07:06-00:00", "2000-02-30T00:00:00",
              "2001-02-29T00:00:00", "2000-01-01T24:00:00", "2000-01-01T00:60:00",
              "2015-06-30T23:59:60", "2000-01-01T00:00:00.1234567", "2000-01-01 00:00:00",
              " 2000-01-01T00:00:00", "2000-01-01T00:00:00z", "0000-01-01T00:00:00",
              "\u0662000-01-01T00:00:00"]  # an Arabic-Indic digit
    for text in others:
        assert _iso_ns(text) is None, text
        try:
            expected = UTCDateTime(text)
        except Exception as exc:  # noqa: BLE001 - ours raises alike
            with pytest.raises(type(exc)):
                _date(text)
        else:
            assert _date(text) == expected


def test_skeleton_dates_are_new_objects_as_utcdatetime_makes_them() -> None:
    """Dates repeated in a document (IRIS: each dated comment on every channel) are
    parsed once per document but are distinct objects, in UTCDateTime's state (the
    precision in force, not initialized twice, mutable with its warning)."""
    data = _variant(_example_xml(), _HHZ, _HHZ + b"<Comment><Value>v</Value>"
                    b"<BeginEffectiveTime>2010-01-01T00:00:00</BeginEffectiveTime>"
                    b"<EndEffectiveTime>2010-01-01T00:00:00</EndEffectiveTime></Comment>")
    comment = parse_stationxml(data)[0].select(channel="HHZ")[0][0][0].comments[-1]
    begin, end = comment.begin_effective_time, comment.end_effective_time
    expected = UTCDateTime("2010-01-01T00:00:00")
    assert begin == end == expected and begin is not end
    assert begin.__getstate__() == expected.__getstate__()
    assert (begin._initialized, begin._has_warned) == (True, False)
    precision = UTCDateTime.DEFAULT_PRECISION
    try:
        UTCDateTime.DEFAULT_PRECISION = 9
        again = parse_stationxml(data)[0].select(channel="HHZ")[0][0][0].comments[-1]
        assert again.begin_effective_time.precision == 9
    finally:
        UTCDateTime.DEFAULT_PRECISION = precision
    assert pickle.loads(pickle.dumps(begin)) == begin


_POLE4 = b"<Real>-251.33</Real>\n                <Imaginary>0.0</Imaginary>"
_UNITS = (b"<Name>V</Name>\n                <Description>Volts</Description>\n"
          b"              </InputUnits>")
_STAGE3 = b'<Stage number="3">%s</Stage></Response>'
_LIST_ITEM = (b'<ResponseListElement><Frequency unit="HERTZ">%s</Frequency>'
              b'<Amplitude unit="M/S" %s>%s</Amplitude><Phase unit="DEGREES">%s</Phase>'
              b"</ResponseListElement>")
_IO_UNITS = (b"<InputUnits><Name>COUNTS</Name></InputUnits>"
             b"<OutputUnits><Name>COUNTS</Name><Description>c</Description></OutputUnits>")
_POLYNOMIAL = (b"<ApproximationType>MACLAURIN</ApproximationType>"
               b'<FrequencyLowerBound unit="HERTZ" plusError="0.1">0</FrequencyLowerBound>'
               b'<FrequencyUpperBound unit="HERTZ">20</FrequencyUpperBound>'
               b"<ApproximationLowerBound>-1</ApproximationLowerBound>"
               b"<ApproximationUpperBound>1.5</ApproximationUpperBound>"
               b"<MaximumError>0.01</MaximumError>"
               b'<Coefficient number="0" minusError="0.5">1.5</Coefficient>'
               b'<Coefficient number="1">2e-3</Coefficient>')
_RESPONSE_VARIANTS = {
    "pole uncertainties, method": (_POLE4, b'<Real minusError="0.1" measurementMethod="m">'
                                   b'-251.33</Real><Imaginary plusError="0.2">0.0</Imaginary>'),
    "pole all uncertainties": (_POLE4, b'<Real minusError="0.1" plusError="2">-251.33</Real>'
                               b'<Imaginary minusError="3" plusError="0.2" '
                               b'measurementMethod="i">1.5</Imaginary>'),
    "pole bad uncertainty": (_POLE4, b'<Real minusError="x">-251.33</Real>'
                             b"<Imaginary>0.0</Imaginary>"),
    "pole numbers": (b'<Pole number="4">', b'<Pole number="x">'),
    "pole without number": (b'<Pole number="5">', b"<Pole>"),
    "pole without imaginary": (_POLE4, b"<Real>-251.33</Real>"),
    "pole without real": (_POLE4, b"<Imaginary>2.5</Imaginary>"),
    "pole not a number": (_POLE4, b"<Real>abc</Real><Imaginary>1.0</Imaginary>"),
    "zero empty": (b"<Real>0.0</Real>", b"<Real/>"),
    "zero all empty": (b"<Real>0.0</Real>\n                <Imaginary>0.0</Imaginary>",
                       b"<Real/><Imaginary/>"),
    "units without description": (_UNITS, b"<Name>V</Name></InputUnits>"),
    "units without name": (_UNITS, b"<Description>Volts</Description></InputUnits>"),
    "stage without units": (_UNITS, b"</InputUnits>"),
    "no normalization factor": (b"<NormalizationFactor>60077000.0</NormalizationFactor>", b""),
    "normalization frequency uncertain": (
        b'<NormalizationFrequency unit="HERTZ">1.0</NormalizationFrequency>',
        b'<NormalizationFrequency unit="HERTZ" minusError="0.5" plusError="1">'
        b"1.0</NormalizationFrequency>"),
    "stage names, ids, description": (
        b'<Stage number="1">\n            <PolesZeros>',
        b'<Stage number="1" resourceId="smi:s1"><PolesZeros name="pz" resourceId="r2">'
        b"<Description>a stage</Description>"),
    "empty stage description": (b"<PolesZeros>", b"<PolesZeros><Description/>"),
    "gain-only stage": (b"</Response>", _STAGE3 % b"<StageGain><Value>2.0</Value>"
                        b"<Frequency>1.0</Frequency></StageGain>"),
    "stage of no type": (b"</Response>", _STAGE3 % b"<StageGain><Value>2.0</Value></StageGain>"),
    "stage without number": (b'<Stage number="2">', b"<Stage>"),
    "stage without gain": (b"<StageGain>\n              <Value>1500.0</Value>\n"
                           b"              <Frequency>0.02</Frequency>\n"
                           b"            </StageGain>", b""),
    "empty stage": (b"</Response>", b'<Stage number="3"/><Stage number="4"></Stage></Response>'),
    "decimation uncertain delay, no offset, bad factor": (
        b"<Factor>1</Factor>\n              <Offset>0</Offset>\n              <Delay>0.0</Delay>",
        b'<Factor>one</Factor><Delay unit="SECONDS" minusError="0.01" plusError="0.02">0.5'
        b"</Delay>"),
    "decimation rate not a number": (b'<InputSampleRate unit="HERTZ">200.0</InputSampleRate>',
                                     b'<InputSampleRate unit="HERTZ">fast</InputSampleRate>'),
    "decimation rate NaN": (b'<InputSampleRate unit="HERTZ">200.0</InputSampleRate>',
                            b'<InputSampleRate unit="HERTZ">NaN</InputSampleRate>'),
    "response list": (b"</Response>", _STAGE3 % (
        b"<ResponseList>" + _IO_UNITS + _LIST_ITEM % (b"0.1", b"", b"2.5", b"10")
        + _LIST_ITEM % (b"1", b'minusError="0.1" plusError="0.3" measurementMethod="x"',
                        b"3", b"-10.5") + b"</ResponseList>"
        + b"<StageGain><Value>1</Value><Frequency>1</Frequency></StageGain>")),
    "response list NaN phase": (b"</Response>", _STAGE3 % (
        b"<ResponseList>" + _IO_UNITS + _LIST_ITEM % (b"0.1", b"", b"2.5", b"NaN")
        + b"</ResponseList>")),
    "empty response list": (b"</Response>", _STAGE3 % (b"<ResponseList name='r'>" + _IO_UNITS
                                                       + b"</ResponseList>")),
    "polynomial stage": (b"</Response>", _STAGE3 % (
        b'<Polynomial name="p" resourceId="q">' + _IO_UNITS + b"<Description>d</Description>"
        + _POLYNOMIAL + b"</Polynomial><StageGain><Value>1</Value>"
        b"<Frequency>0</Frequency></StageGain>")),
    "instrument polynomial": (b"</InstrumentSensitivity>", b"</InstrumentSensitivity>"
                              b'<InstrumentPolynomial name="ip" resourceId="rp">' + _IO_UNITS
                              + _POLYNOMIAL + b"</InstrumentPolynomial>"),
    "sensitivity frequency range, no frequency": (
        b"<Value>943680000.0</Value>\n            <Frequency>0.02</Frequency>",
        b"<Value>943680000.0</Value><FrequencyStart>0.1</FrequencyStart>"
        b"<FrequencyEnd>10</FrequencyEnd><FrequencyDBVariation>3</FrequencyDBVariation>"),
    "coefficients": (b"<CfTransferFunctionType>DIGITAL</CfTransferFunctionType>",
                     b"<CfTransferFunctionType>DIGITAL</CfTransferFunctionType>"
                     b'<Numerator number="0">0.5</Numerator><Numerator number="1">0.5</Numerator>'
                     b"<Denominator>1</Denominator>"),
    "coefficients with uncertainties": (
        b"<CfTransferFunctionType>DIGITAL</CfTransferFunctionType>",
        b"<CfTransferFunctionType>DIGITAL</CfTransferFunctionType>"
        b'<Numerator minusError="0.1" plusError="0.2">0.5</Numerator>'
        b'<Numerator measurementMethod="m" number="2">0.5</Numerator>'),
    "FIR with uncertainties": (b"</Response>", _STAGE3 % (
        b"<FIR>" + _IO_UNITS + b"<Symmetry>NONE</Symmetry>"
        b'<NumeratorCoefficient i="1" plusError="1e-3">0.25</NumeratorCoefficient>'
        b"<NumeratorCoefficient>0.75</NumeratorCoefficient></FIR>")),
    **{f"FIR list: {label}": (b"</Response>", _STAGE3 % (
        b"<FIR>" + _IO_UNITS + b"<Symmetry>NONE</Symmetry>"
        b"<NumeratorCoefficient>0.25</NumeratorCoefficient>\n " + odd
        + b"<NumeratorCoefficient>1e-3</NumeratorCoefficient></FIR>"))
       for label, odd in (
           ("plain", b"<NumeratorCoefficient> -0.5\n</NumeratorCoefficient>"),
           ("empty element", b"<NumeratorCoefficient></NumeratorCoefficient>"),
           ("two numbers", b"<NumeratorCoefficient>1 2</NumeratorCoefficient>"),
           ("entity", b"<NumeratorCoefficient>&#49;.5</NumeratorCoefficient>"),
           ("spaced closing tag", b"<NumeratorCoefficient>1.5</NumeratorCoefficient >"),
           ("element among them", b"<Description>d</Description>"),
           ("text among them", b"7"),
           ("infinite", b"<NumeratorCoefficient>-inf</NumeratorCoefficient>"))},
    "FIR without coefficients": (b"</Response>", _STAGE3 % (
        b"<FIR>" + _IO_UNITS + b"<Symmetry>EVEN</Symmetry></FIR>")),
    "custom namespace in a response": (
        b"<PolesZeros>", b'<PolesZeros xmlns:x="http://example.org/x" x:a="b"><x:note>n</x:note>'),
    "custom namespace of the document": (
        b"<InstrumentSensitivity>", b'<InstrumentSensitivity x:s="1">'),
}


@pytest.mark.parametrize("name", sorted(_RESPONSE_VARIANTS))
def test_response_variants_as_obspy(name: str) -> None:
    """Each stage type, optional element and attribute of a response is read as ObsPy
    reads it: the same objects (attribute by attribute) and warnings; a response
    ObsPy cannot read fails on first use naming ObsPy's error."""
    old, new = _RESPONSE_VARIANTS[name]
    data = _variant(_example_xml(), old, new)
    if name == "custom namespace of the document":
        data = _variant(data, b'xmlns="http://www.fdsn.org/xml/station/1"',
                        b'xmlns="http://www.fdsn.org/xml/station/1" xmlns:x="http://example.org/x"')
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        try:
            expected = _obspy(data)
        except Exception as exc:  # noqa: BLE001 - ours must fail alike, on first use
            inventory, _ = parse_stationxml(data)
            response = inventory[0][0][0].response
            assert isinstance(response, LazyResponse) and not response.loaded
            with pytest.raises(SkipSegment, match=re.escape(type(exc).__name__)):
                response.load()
            return
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        inventory, _ = parse_stationxml(data)
        response = inventory[0][0][0].response
        assert isinstance(response, LazyResponse) and not response.loaded  # ours, not ObsPy's
        response.load()
    assert [(w.category, str(w.message)) for w in ours] == [
        (w.category, str(w.message)) for w in theirs]
    assert inventory == expected
    assert_same(inventory, expected, name)
    _SEEN.discard(repr(expected[0][0][0].response))
    _check_response(name, response, expected[0][0][0].response)
