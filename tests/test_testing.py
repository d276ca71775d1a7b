"""Tests of s2sframe.testing: the generator of realistic stream2segment databases."""

from __future__ import annotations

import gzip
import io
import re
import sqlite3
import uuid
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import obspy
import pytest
import sqlalchemy as sa
import sqlalchemy.orm  # noqa: F401 - conftest's pg teardown calls sa.orm.close_all_sessions()
from obspy.geodetics import locations2degrees

from s2sframe.db.schema import missing_required, present_columns
from s2sframe.testing import example_database, make_database
from s2sframe.testing.catalog import _p_travel_time

TABLES = (
    "web_services",
    "data_centers",
    "downloads",
    "events",
    "stations",
    "channels",
    "segments",
    "classes",
    "class_labellings",
)
SMALL = {"events": 4, "stations": 5, "channels_per_station": 3}  # 60 segments
NO_DATA_CODES = {204, 404, 500, -1, -204, None}


def _engine(url: str) -> sa.engine.Engine:
    return sa.create_engine(url, poolclass=sa.pool.NullPool)


def dump(url: str) -> dict[str, list[dict]]:
    """All rows of all stream2segment tables, ordered by id, typed by SQLAlchemy."""
    engine = _engine(url)
    md = sa.MetaData()
    md.reflect(engine, only=TABLES)
    with engine.connect() as conn:
        out = {
            name: [
                dict(row._mapping)
                for row in conn.execute(sa.select(md.tables[name]).order_by(md.tables[name].c.id))
            ]
            for name in TABLES
        }
    engine.dispose()
    return out


def segments_with_data(db: dict[str, list[dict]]) -> list[dict]:
    channels = {c["id"]: c for c in db["channels"]}
    out = []
    for seg in db["segments"]:
        if seg["data"] is not None:
            out.append({**seg, "station_id": channels[seg["channel_id"]]["station_id"]})
    return out


GENERATED = {"events": 4, "stations": 8, "channels_per_station": 3, "seed": 3}  # 96 segments


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def generated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, int], dict[str, list[dict]]]]:
    """One database with waveforms per backend, shared by the tests that only read it:
    (url, counts returned by make_database, dump of its content)."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("generated") / "db.sqlite")
        counts = make_database(url, **GENERATED)
        yield url, counts, dump(url)
        return
    admin = request.getfixturevalue("pg_admin")  # skips if PostgreSQL is not reachable
    name = "s2stest_" + uuid.uuid4().hex[:12]
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        counts = make_database(url, **GENERATED)
        yield url, counts, dump(url)
    finally:  # no connection left open: make_database and dump dispose their engines
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture
def new_url(
    generated: tuple[str, dict[str, int], dict[str, list[dict]]], request: pytest.FixtureRequest
) -> Callable[[], str]:
    """Factory of fresh empty databases on the backend of ``generated``."""
    sqlite = generated[0].startswith("sqlite")
    return request.getfixturevalue("sqlite_url_factory" if sqlite else "pg_url_factory")


# --------------------------------------------------------------------------- content


def test_counts_and_consistency(
    generated: tuple[str, dict[str, int], dict[str, list[dict]]],
) -> None:
    _, counts, db = generated
    assert counts == {name: len(rows) for name, rows in db.items()}
    assert counts["segments"] == 4 * 8 * 3
    assert (counts["events"], counts["stations"], counts["channels"]) == (4, 8, 24)
    assert (counts["data_centers"], counts["web_services"], counts["downloads"]) == (2, 1, 2)
    assert counts["classes"] >= 3 and counts["class_labellings"] >= 3
    # one segment per (event, channel)
    pairs = {(s["event_id"], s["channel_id"]) for s in db["segments"]}
    assert len(pairs) == counts["segments"]
    # every download outcome occurs; data iff the code says so
    codes = {s["download_code"] for s in db["segments"]}
    assert codes == {200, -200, -2} | NO_DATA_CODES
    for s in db["segments"]:
        has_data = s["download_code"] in (200, -200, -2)
        assert (s["data"] is not None) == has_data
        decodable = s["download_code"] in (200, -200)
        for col in ("data_seed_id", "start_time", "end_time", "sample_rate", "maxgap_numsamples"):
            assert (s[col] is not None) == decodable, (col, s["id"])
        if s["maxgap_numsamples"] is not None and s["maxgap_numsamples"] < 0.5:
            assert s["maxgap_numsamples"] == 0
    # labelled segments have data, and some have two labels
    labelled = [c["segment_id"] for c in db["class_labellings"]]
    assert len(set(labelled)) < len(labelled)
    seg_by_id = {s["id"]: s for s in db["segments"]}
    assert all(seg_by_id[i]["download_code"] in (200, -200) for i in labelled)


def test_realistic_values(generated: tuple[str, dict[str, int], dict[str, list[dict]]]) -> None:
    db = generated[2]
    events = {e["id"]: e for e in db["events"]}
    stations = {s["id"]: s for s in db["stations"]}
    channels = {c["id"]: c for c in db["channels"]}
    for e in events.values():
        assert datetime(2015, 1, 1) <= e["time"] < datetime(2022, 1, 1)
        assert 3.0 <= e["magnitude"] <= 8.5
        assert e["mag_type"] in ("Mw", "ML", "mb") and e["event_type"] == "earthquake"
        assert 0 < e["depth_km"] <= 700
    assert {s["network"] for s in stations.values()} >= {"GE", "IV", "CH", "FR"}
    assert {s["datacenter_id"] for s in stations.values()} == {1, 2}
    assert {c["location"] for c in channels.values()} <= {"", "00"}
    rates = {c["channel"][:2]: c["sample_rate"] for c in channels.values()}
    assert rates == {"HH": 100.0, "BH": 20.0}
    signs = set()
    for s in db["segments"]:
        ev, cha = events[s["event_id"]], channels[s["channel_id"]]
        sta = stations[cha["station_id"]]
        assert s["datacenter_id"] == sta["datacenter_id"]
        expected = locations2degrees(
            ev["latitude"], ev["longitude"], sta["latitude"], sta["longitude"]
        )
        assert s["event_distance_deg"] == pytest.approx(expected, abs=1e-6)
        assert (s["request_end"] - s["request_start"]).total_seconds() == 240
        assert s["request_start"] < s["arrival_time"] < s["request_end"]
        assert s["arrival_time"] > ev["time"]
        if s["start_time"] is not None:
            assert s["sample_rate"] == cha["sample_rate"]
            assert (
                s["data_seed_id"]
                == f"{sta['network']}.{sta['station']}.{cha['location']}.{cha['channel']}"
            )
            duration = (s["end_time"] - s["start_time"]).total_seconds()
            signs.add(np.sign(240 - duration))
    assert signs >= {-1, 1}  # missing_data_sec both negative and positive


def test_sqlite_storage_format(sqlite_url_factory: Callable[[], str]) -> None:
    url = sqlite_url_factory()
    make_database(url, events=2, stations=2, seed=1)
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        texts = [
            r[0]
            for r in conn.execute("SELECT start_time FROM segments WHERE start_time IS NOT NULL")
        ]
        texts += [r[0] for r in conn.execute("SELECT request_start FROM segments")]
        texts += [r[0] for r in conn.execute("SELECT time FROM events")]
        assert texts and all(
            re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", t) for t in texts
        )
        assert {r[0] for r in conn.execute("SELECT DISTINCT queryauth FROM segments")} <= {0, 1}
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] != "off"  # not persistent
    finally:
        conn.close()


def test_same_columns_as_a_real_stream2segment_database(
    sqlite_url_factory: Callable[[], str], example_db: Path
) -> None:
    url = sqlite_url_factory()
    make_database(url, events=1, stations=1, metadata_only=True)
    mine = sa.inspect(_engine(url))
    real = sa.inspect(_engine("sqlite:///" + str(example_db)))
    for table in TABLES:
        assert {c["name"] for c in mine.get_columns(table)} == {
            c["name"] for c in real.get_columns(table)
        }, table


def test_p_arrival_times_match_a_real_download(example_db: Path) -> None:
    conn = sqlite3.connect(f"file:{example_db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT s.event_distance_deg, e.depth_km, e.time, s.arrival_time "
            "FROM segments s JOIN events e ON e.id = s.event_id"
        ).fetchall()
    finally:
        conn.close()
    assert rows
    for dist, depth, time, arrival in rows:
        real = (datetime.fromisoformat(arrival) - datetime.fromisoformat(time)).total_seconds()
        mine = _p_travel_time(np.array([dist]), np.array([depth]))[0]
        assert mine == pytest.approx(real, abs=1.5)


# --------------------------------------------------------------------------- determinism


def test_deterministic(
    generated: tuple[str, dict[str, int], dict[str, list[dict]]], new_url: Callable[[], str]
) -> None:
    url = new_url()
    make_database(url, **GENERATED)
    again = dump(url)
    for table in TABLES:
        assert again[table] == generated[2][table], table
    make_database(url, **{**GENERATED, "seed": GENERATED["seed"] + 1}, overwrite=True)
    other = dump(url)
    assert other["events"] != again["events"]
    assert [s["data"] for s in other["segments"]] != [s["data"] for s in again["segments"]]


@pytest.mark.postgres
def test_same_content_on_both_backends(
    sqlite_url_factory: Callable[[], str], pg_url_factory: Callable[[], str]
) -> None:
    lite, pg = sqlite_url_factory(), pg_url_factory()
    make_database(lite, **SMALL, seed=2)
    make_database(pg, **SMALL, seed=2)
    a, b = dump(lite), dump(pg)
    for table in TABLES:
        assert a[table] == b[table], table


def test_metadata_only_is_the_full_database_without_blobs(
    generated: tuple[str, dict[str, int], dict[str, list[dict]]], new_url: Callable[[], str]
) -> None:
    url = new_url()
    make_database(url, **GENERATED, metadata_only=True)
    full, meta = generated[2], dump(url)
    assert any(s["data"] for s in full["segments"])
    assert any(s["inventory_xml"] for s in full["stations"])
    for table in TABLES:
        blob = {"segments": "data", "stations": "inventory_xml"}.get(table)
        assert [{k: v for k, v in r.items() if k != blob} for r in full[table]] == [
            {k: v for k, v in r.items() if k != blob} for r in meta[table]
        ], table
    assert all(s["data"] is None for s in meta["segments"])
    assert all(s["inventory_xml"] is None for s in meta["stations"])


def test_metadata_only_larger(sqlite_url_factory: Callable[[], str]) -> None:
    url = sqlite_url_factory()
    counts = make_database(
        url, events=30, stations=40, channels_per_station=2, metadata_only=True, seed=4
    )
    assert counts["segments"] == 30 * 40 * 2
    engine = _engine(url)
    with engine.connect() as conn:
        n_ok, n_data, n_start = conn.execute(
            sa.text(
                "SELECT SUM(CASE WHEN download_code = 200 THEN 1 ELSE 0 END), COUNT(data), "
                "COUNT(start_time) FROM segments"
            )
        ).one()
        n_inv = conn.execute(sa.text("SELECT COUNT(inventory_xml) FROM stations")).scalar_one()
        n_segments = conn.execute(sa.text("SELECT COUNT(*) FROM segments")).scalar_one()
    engine.dispose()
    assert n_segments == counts["segments"]
    assert n_data == 0 and n_inv == 0
    assert 0.7 < n_ok / n_segments < 0.9
    assert n_start > n_ok  # 200 and -200 segments have data times


# --------------------------------------------------------------------------- waveforms


def test_waveforms(generated: tuple[str, dict[str, int], dict[str, list[dict]]]) -> None:
    segs = segments_with_data(generated[2])
    kinds = {"ok": 0, "gap": 0, "corrupt": 0}
    reclens = set()
    for s in segs:
        if s["download_code"] == -2:
            with pytest.raises(Exception):  # noqa: B017 - ObsPy raises various types
                obspy.read(io.BytesIO(s["data"]), format="MSEED")
            kinds["corrupt"] += 1
            continue
        st = obspy.read(io.BytesIO(s["data"]), format="MSEED")
        assert len(st) == (2 if s["maxgap_numsamples"] > 0.5 else 1)
        kinds["gap" if len(st) == 2 else "ok"] += 1
        for tr in st:
            assert tr.stats.mseed.encoding == "STEIM2"
            assert tr.data.dtype == np.int32
            assert tr.stats.sampling_rate == s["sample_rate"]
            assert tr.id == s["data_seed_id"]
            reclens.add(tr.stats.mseed.record_length)
        assert st[0].stats.starttime == obspy.UTCDateTime(s["start_time"])
        assert abs(st[-1].stats.endtime - obspy.UTCDateTime(s["end_time"])) < 1e-6
        if len(st) == 2:
            missing = (st[1].stats.starttime - st[0].stats.endtime) * s["sample_rate"] - 1
            assert missing == pytest.approx(s["maxgap_numsamples"], abs=1e-3)
    assert kinds["ok"] > 30 and kinds["gap"] >= 1 and kinds["corrupt"] >= 1
    assert reclens <= {512, 4096}


def test_inventories_and_response_removal(
    generated: tuple[str, dict[str, int], dict[str, list[dict]]],
) -> None:
    db = generated[2]
    assert [s["inventory_xml"] is None for s in db["stations"]] == [i % 7 == 3 for i in range(8)]
    inventories = {}
    for sta in db["stations"]:
        if sta["inventory_xml"] is None:
            continue
        inv = obspy.read_inventory(io.BytesIO(gzip.decompress(sta["inventory_xml"])))
        inventories[sta["id"]] = inv
        (net,) = inv.networks
        (station,) = net.stations
        assert (net.code, station.code) == (sta["network"], sta["station"])
        assert station.latitude == sta["latitude"] and station.longitude == sta["longitude"]
        expected = {
            (c["location"], c["channel"], c["sample_rate"])
            for c in db["channels"]
            if c["station_id"] == sta["id"]
        }
        assert {(c.location_code, c.code, c.sample_rate) for c in station.channels} == expected
    removed: set[int] = set()
    for s in segments_with_data(db):  # one segment per station: evalresp is slow-ish
        if s["download_code"] == -2 or s["station_id"] not in inventories.keys() - removed:
            continue
        st = obspy.read(io.BytesIO(s["data"]))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            st.remove_response(inventory=inventories[s["station_id"]], output="ACC")
        for tr in st:
            assert np.isfinite(tr.data).all() and np.abs(tr.data).max() < 1e-2  # m/s**2
        removed.add(s["station_id"])
    assert removed == set(inventories) and len(removed) == 7


# --------------------------------------------------------------------------- modes, safety


def test_legacy_has_no_event_type(db_url_factory: Callable[[], str]) -> None:
    url = db_url_factory()
    for legacy, expected in ((False, True), (True, False)):
        make_database(url, events=2, stations=2, legacy=legacy, overwrite=True, metadata_only=True)
        engine = _engine(url)
        present = present_columns(engine)
        engine.dispose()
        assert ("event_type" in present["events"]) is expected
        assert missing_required(present) == []
    legacy_db = dump(url)
    assert len(legacy_db["events"]) == 2 and "event_type" not in legacy_db["events"][0]


def test_overwrite_protection(db_url_factory: Callable[[], str]) -> None:
    url = db_url_factory()
    if url.startswith("postgresql"):  # trust auth ignores it; it must never be shown
        url = sa.make_url(url).set(password="s3cret").render_as_string(hide_password=False)
    make_database(url, events=2, stations=2, seed=1)
    before = dump(url)
    with pytest.raises(ValueError, match="overwrite=True") as info:
        make_database(url, events=3, stations=2, seed=2)
    assert "s3cret" not in str(info.value)
    assert sa.make_url(url).render_as_string(hide_password=True) in str(info.value)
    assert dump(url) == before  # untouched
    counts = make_database(url, events=3, stations=2, seed=2, overwrite=True)
    after = dump(url)
    assert len(after["events"]) == counts["events"] == 3
    assert after["events"] != before["events"]
    # explicit ids were written: new rows must still get fresh ids (PostgreSQL sequences)
    engine = _engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO classes (label) VALUES ('new')"))
        new_id = conn.execute(sa.text("SELECT id FROM classes WHERE label = 'new'")).scalar_one()
    engine.dispose()
    assert new_id == counts["classes"] + 1


def test_overwrite_keeps_other_tables_and_empty_tables_are_reused(
    sqlite_url_factory: Callable[[], str],
) -> None:
    url = sqlite_url_factory()
    engine = _engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE mine (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO mine VALUES (42)"))
    make_database(url, events=1, stations=1, metadata_only=True)
    make_database(url, events=2, stations=1, metadata_only=True, overwrite=True)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT x FROM mine")).scalar_one() == 42
        assert conn.execute(sa.text("SELECT COUNT(*) FROM events")).scalar_one() == 2
        for table in reversed(TABLES):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.commit()
    engine.dispose()
    # all stream2segment tables empty: no overwrite needed
    assert make_database(url, events=1, stations=1, metadata_only=True)["events"] == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"events": 0},
        {"stations": -1},
        {"channels_per_station": 1.5},
        {"sample_rates": ()},
        {"sample_rates": (100.0, 0.0)},
        {"duration_sec": 0},
    ],
)
def test_invalid_arguments(sqlite_url_factory: Callable[[], str], kwargs: dict) -> None:
    url = sqlite_url_factory()
    with pytest.raises(ValueError):
        make_database(url, **kwargs)
    assert not Path(url.removeprefix("sqlite:///")).exists()  # nothing written


def test_other_sample_rates_and_channels(sqlite_url_factory: Callable[[], str]) -> None:
    url = sqlite_url_factory()
    make_database(
        url,
        events=1,
        stations=2,
        channels_per_station=7,
        sample_rates=(40.0, 200.0, 1.0),
        duration_sec=60,
    )
    db = dump(url)
    by_station: dict[int, set] = {}
    for c in db["channels"]:
        by_station.setdefault(c["station_id"], set()).add(
            (c["location"], c["channel"], c["sample_rate"])
        )
    first, second = (sorted(v) for _, v in sorted(by_station.items()))
    assert {cha[:2] for _, cha, _ in first} == {"BH", "HH", "LH"}
    assert {(cha, rate) for _, cha, rate in second if cha.startswith("HH")} == {
        ("HHZ", 200.0),
        ("HHN", 200.0),
        ("HHE", 200.0),
    }
    for s in segments_with_data(db):
        if s["download_code"] != -2:
            st = obspy.read(io.BytesIO(s["data"]))
            assert st[0].stats.sampling_rate == s["sample_rate"]


def test_regional(sqlite_url_factory: Callable[[], str]) -> None:
    sizes = {"events": 40, "stations": 10, "seed": 3, "metadata_only": True}
    default, regional = sqlite_url_factory(), sqlite_url_factory()
    make_database(default, **sizes)
    make_database(regional, **sizes, regional=True)
    a, b = dump(default), dump(regional)
    mags = [e["magnitude"] for e in b["events"]]
    assert 4.0 <= min(mags) and max(mags) <= 6.0 and len(set(mags)) > 5
    assert {e["event_location_name"] for e in b["events"]} <= {
        "CENTRAL ITALY", "ADRIATIC SEA", "CROATIA", "SWITZERLAND"}
    dist_a = np.array([s["event_distance_deg"] for s in a["segments"]])
    dist_b = np.array([s["event_distance_deg"] for s in b["segments"]])
    assert dist_a.max() > 60  # the default mixes in teleseismic events
    assert dist_b.max() < 18 and np.median(dist_b) < 8
    for sa_, sb in zip(a["stations"], b["stations"], strict=True):
        assert (sa_["network"], sa_["station"]) == (sb["network"], sb["station"])
        if sb["network"] not in ("HL", "NL"):  # network areas outside the region
            assert 39 <= sb["latitude"] <= 49 and 6 <= sb["longitude"] <= 19
    assert [x["inventory_xml"] is None for x in a["stations"]] == \
        [x["inventory_xml"] is None for x in b["stations"]]
    # download outcomes, times windows aside, drawn as usual
    keys = ("download_code", "maxgap_numsamples", "channel_id", "event_id", "datacenter_id")
    assert [[s[k] for k in keys] for s in a["segments"]] == \
        [[s[k] for k in keys] for s in b["segments"]]


def test_example_database(tmp_path: Path) -> None:
    url = example_database(tmp_path / "sub" / "demo.sqlite")
    assert url == "sqlite:///" + str(tmp_path / "sub" / "demo.sqlite")
    db = dump(url)
    assert len(db["segments"]) == 126 and len(db["events"]) == 6 and len(db["stations"]) == 7
    assert sum(s["data"] is not None for s in db["segments"]) > 90
    assert max(s["event_distance_deg"] for s in db["segments"]) < 13  # regional
    assert all(4 <= e["magnitude"] <= 6 for e in db["events"])
    with pytest.raises(ValueError, match="overwrite=True"):
        example_database(tmp_path / "sub" / "demo.sqlite")
    assert example_database(tmp_path / "sub" / "demo.sqlite", overwrite=True) == url


# --------------------------------------------------------------------------- inventory_template


def test_inventory_template(
    example_db: Path, sqlite_url_factory: Callable[[], str], tmp_path: Path
) -> None:
    con = sqlite3.connect(f"file:{example_db}?mode=ro", uri=True)
    (gz,) = con.execute("select inventory_xml from stations where id = 1").fetchone()  # GE.MTE
    con.close()
    template = obspy.read_inventory(io.BytesIO(gzip.decompress(gz)))
    by_code = {c.code: c for c in template[0][0]}  # one epoch per channel in GE.MTE
    kwargs = {"events": 2, "stations": 4, "channels_per_station": 6, "seed": 3}
    urls = [sqlite_url_factory() for _ in range(3)]
    make_database(urls[0], **kwargs)
    make_database(urls[1], inventory_template=gz, **kwargs)
    plain = tmp_path / "template.xml"
    plain.write_bytes(gzip.decompress(gz))
    make_database(urls[2], inventory_template=str(plain), **kwargs)  # path of plain XML
    default, real, from_path = (dump(u) for u in urls)
    assert real == from_path
    # only the responses (and the channels' sensor metadata) differ from the default
    for name in TABLES:
        if name not in ("stations", "channels"):
            assert real[name] == default[name], name
    for a, b in zip(real["stations"], default["stations"], strict=True):
        assert {**a, "inventory_xml": None} == {**b, "inventory_xml": None}
        assert (a["inventory_xml"] is None) == (b["inventory_xml"] is None)
    sensor = ("sensor_description", "scale", "scale_freq", "scale_units")
    for a, b in zip(real["channels"], default["channels"], strict=True):
        assert {k: v for k, v in a.items() if k not in sensor} == {
            k: v for k, v in b.items() if k not in sensor
        }
        sens = by_code[a["channel"]].response.instrument_sensitivity
        assert (a["scale"], a["scale_freq"], a["scale_units"]) == (
            sens.value, sens.frequency, sens.input_units
        )
        assert a["scale"] != b["scale"]
    inventories = {}
    for sta in real["stations"]:
        if sta["inventory_xml"] is None:
            continue
        inv = obspy.read_inventory(io.BytesIO(gzip.decompress(sta["inventory_xml"])))
        inventories[sta["id"]] = inv
        (station,) = inv[0].stations
        assert inv[0].code == sta["network"] and station.code == sta["station"]
        for cha in station.channels:  # HH? and BH?: GE.MTE's channels of the same code
            tpl = by_code[cha.code]
            assert cha.sample_rate == tpl.sample_rate
            assert cha.response == tpl.response
            assert any(isinstance(s, obspy.core.inventory.response.FIRResponseStage)
                       for s in cha.response.response_stages)
            assert (cha.latitude, cha.longitude) == (station.latitude, station.longitude)
    seg = next(s for s in segments_with_data(real)
               if s["download_code"] == 200 and s["station_id"] in inventories)
    tr = obspy.read(io.BytesIO(seg["data"]))[0]
    tr.remove_response(inventory=inventories[seg["station_id"]], output="ACC")
    assert np.isfinite(tr.data).all() and 0 < np.abs(tr.data).max() < 1e-2


def test_inventory_template_closest_rate_latest_epoch(sqlite_url_factory: Callable[[], str]) -> None:
    example = obspy.read_inventory()  # GR.FUR/WET 100, 20, 1, 0.1 Hz; BW.RJOB 200 Hz, 3 epochs
    buf = io.BytesIO()
    example.write(buf, format="STATIONXML")
    url = sqlite_url_factory()
    make_database(url, events=1, stations=2, channels_per_station=3, sample_rates=(40.0, 200.0),
                  inventory_template=buf.getvalue())
    stations = dump(url)["stations"]
    got = [
        obspy.read_inventory(io.BytesIO(gzip.decompress(s["inventory_xml"])))[0][0]
        for s in stations
    ]
    # 40 Hz: closest template rate is 20 Hz (GR.FUR, the first with the same codes)
    assert [c.code for c in got[0]] == ["BHZ", "BHN", "BHE"]
    assert [c.sample_rate for c in got[0]] == [40.0] * 3
    fur = example.select(station="FUR")
    for cha in got[0]:
        assert cha.response == fur.select(channel=cha.code)[0][0][0].response
    # 200 Hz: BW.RJOB's EH? (same instrument and component), latest epoch
    rjob = example.select(station="RJOB")
    for cha in got[1]:
        (tpl,) = [  # RJOB has 3 station epochs
            c for sta in rjob[0] for c in sta if c.code == "EH" + cha.code[2] and c.end_date is None
        ]
        assert cha.response == tpl.response
        assert cha.sample_rate == 200.0


@pytest.mark.parametrize(
    ("template", "error"),
    [
        (b"not xml at all", ValueError),
        (gzip.compress(b"<FDSNStationXML/>", mtime=0), ValueError),
        (12, TypeError),
    ],
    ids=["not-xml", "not-a-response-inventory", "not-bytes"],
)
def test_inventory_template_invalid(
    sqlite_url_factory: Callable[[], str], template: object, error: type
) -> None:
    with pytest.raises(error, match="inventory_template"):
        make_database(sqlite_url_factory(), events=1, stations=1, inventory_template=template)


# --------------------------------------------------------------------------- the demo server command
def _demo_server(*args: str) -> list[str]:
    import sys

    return [sys.executable, "-W", "error::RuntimeWarning", "-m", "s2sframe.testing", *args]


def test_demo_server_help_names_its_options_without_warnings() -> None:
    import subprocess

    done = subprocess.run(_demo_server("--help"), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr
    for words in ("python -m s2sframe.testing", "--port", "PORT + 1 + k", "--events",
                  "--stations", "--datacenters", "--fast"):
        assert words in done.stdout


def test_demo_server_serves_until_interrupted_and_names_a_busy_port() -> None:
    import signal
    import socket
    import subprocess
    import urllib.request

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(_demo_server("--port", str(port), "--datacenters", "1"),
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    assert f"a port from {port} to {port + 1} is in use" in done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr
    # --port 0: free ports; it serves until Ctrl-C, which stops it cleanly
    proc = subprocess.Popen(_demo_server("--port", "0", "--events", "2", "--stations", "2"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        assert first.startswith("events_url: http://127.0.0.1:")
        text = urllib.request.urlopen(first.split(": ", 1)[1].strip() + "?format=text",
                                      timeout=30).read().decode()
        assert len(text.splitlines()) == 3  # header + 2 events
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert "Warning" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_demo_server_does_not_print_clients_hanging_up(capsys: pytest.CaptureFixture[str]) -> None:
    """A client closing the connection mid-answer (a download's deadline, Ctrl-C) is not
    an error of the demo FDSN server: not printed; any other error of a request is."""
    from http.server import BaseHTTPRequestHandler

    from s2sframe.testing.fdsn_server import _Server

    server = _Server(("127.0.0.1", 0), BaseHTTPRequestHandler)
    try:
        for exc in (BrokenPipeError(32, "Broken pipe"), ConnectionResetError(104, "reset"),
                    ValueError("a bug in a handler")):
            try:
                raise exc
            except Exception:  # noqa: BLE001 - what socketserver hands to handle_error
                server.handle_error(None, ("127.0.0.1", 50000))
    finally:
        server.server_close()
    err = capsys.readouterr().err
    assert "Broken pipe" not in err and "ConnectionResetError" not in err
    assert "ValueError: a bug in a handler" in err
