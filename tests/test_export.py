"""Exports: SeisBench datasets, ASDF files and array columns, read back by their formats' rules.

Every array is checked sample by sample against ``segment.stream()`` (windowed,
resampled, response removed as asked): each sample of a row equals the sample of
the segment nearest in time to ``trace_start_time + j / rate`` (zero where the
segment has none), and the P arrival sample is within one sample of the arrival
time. Killed exports are real processes, blocked on segments the test chooses
(never on sleeps), then SIGKILLed.
"""

from __future__ import annotations

import inspect
import json
import os
import signal
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import polars as pl
import pytest
from obspy import UTCDateTime

import s2sframe
from s2sframe import OutputError
from s2sframe.export import asdf as _asdf
from s2sframe.export import groups as _groups
from s2sframe.export.traces import RawTraces, Samples
from s2sframe.testing import make_database
from tests.conftest import BACKENDS, ROOT, new_pg_database
from tests.conftest import popen as _popen

SEISBENCH_COLUMNS = [
    "trace_name", "split", "source_id", "source_origin_time", "source_latitude_deg",
    "source_longitude_deg", "source_depth_km", "source_magnitude", "source_magnitude_type",
    "source_magnitude_author", "source_type", "station_network_code", "station_code",
    "station_location_code", "station_latitude_deg", "station_longitude_deg",
    "station_elevation_m", "path_ep_distance_deg", "path_ep_distance_km",
    "path_back_azimuth_deg", "trace_channel", "trace_start_time", "trace_sampling_rate_hz",
    "trace_npts", "trace_completeness", "trace_P_arrival_sample", "trace_P_status",
    "trace_Z_segment_id", "trace_N_segment_id", "trace_E_segment_id", "trace_class_labels",
]


@pytest.fixture(scope="module", params=BACKENDS)
def url(request, tmp_path_factory) -> str:
    """36 segments (3 events, 4 stations, Z/N/E): no-data codes, a gap, bad bytes, a
    station without StationXML."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "export.sqlite")
    else:
        url = new_pg_database(request)
    make_database(url, events=3, stations=4, regional=True, seed=3)
    return url


@pytest.fixture(scope="module")
def frame(url) -> pl.DataFrame:
    return s2sframe.scan(url).collect()


def _segment(df: pl.DataFrame, url: str, sid: int):
    return df.s2s.segment(id=sid, dburl=url)


def check_row(row: np.ndarray, traces: list, start: UTCDateTime, rate: float,
              rtol: float = 0.0) -> int:
    """Each sample ``j`` of ``row`` is the trace sample nearest in time to ``start + j /
    rate`` (a trace half a sample off the row's grid may be placed either way); zero
    where no trace has one. Returns the number of real samples."""
    import itertools

    choices = []
    for tr in traces:
        assert tr.stats.sampling_rate == rate
        f = (tr.stats.starttime - start) * rate
        tie = abs(f - np.floor(f) - 0.5) < 1e-6
        choices.append(sorted({int(np.floor(f)), int(np.ceil(f))}) if tie
                       else [int(np.floor(f + 0.5))])
    errors = []
    for offsets in itertools.product(*choices):
        expected = np.zeros(len(row))
        covered = np.zeros(len(row), dtype=bool)
        for tr, off in zip(traces, offsets, strict=True):
            a, b = max(0, off), min(len(row), off + tr.stats.npts)
            if b > a:
                expected[a:b] = tr.data[a - off:b - off]
                covered[a:b] = True
        try:
            if rtol:
                np.testing.assert_allclose(row, expected, rtol=rtol,
                                           atol=rtol * np.abs(expected).max())
            else:
                np.testing.assert_array_equal(row, expected.astype(np.float32))
            return int(covered.sum())
        except AssertionError as exc:
            errors.append(exc)
    raise errors[0]


def read_dataset(folder: Path, chunk: str = "") -> tuple[pd.DataFrame, dict, h5py.File]:
    meta = pd.read_csv(folder / f"metadata{chunk}.csv", keep_default_na=False,
                       na_values=[""])
    h5 = h5py.File(folder / f"waveforms{chunk}.hdf5", "r")
    fmt = {k: h5["data_format"][k][()] for k in h5["data_format"]}
    fmt = {k: v.decode() if isinstance(v, bytes) else v for k, v in fmt.items()}
    return meta, fmt, h5


def trace_array(h5: h5py.File, name: str) -> np.ndarray:
    """The array of a trace, addressed as SeisBench does (``block$slice``)."""
    block, location = name.split("$")
    index = tuple(int(p) if ":" not in p else slice(None, int(p[1:]))
                  for p in location.split(","))
    return h5["data"][block][index]


# ----------------------------------------------------------------------- SeisBench
def test_seisbench_dataset_read_back_by_the_format_rules(url, frame, tmp_path):
    folder = tmp_path / "ds"
    out = s2sframe.to_seisbench(frame.lazy(), folder, window=(8, 22), workers=2,
                                progress=False, dburl=url)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "metadata.csv", "s2s_segments.csv", "waveforms.hdf5"]
    meta, fmt, h5 = read_dataset(folder)
    with h5:
        # the data_format group: required and documented optional keys
        assert fmt == {"dimension_order": "CW", "component_order": "ZNE",
                       "measurement": "velocity", "unit": "counts",
                       "instrument_response": "not restituted"}  # 100 and 20 Hz: no rate
        assert list(meta.columns) == SEISBENCH_COLUMNS
        assert meta["trace_name"].is_unique
        # bucketed trace names: block$i,:C,:W; blocks never mix splits
        for name in meta["trace_name"]:
            block, location = name.split("$")
            i, c, w = location.split(",")
            assert block.startswith("bucket") and c == ":3" and w.startswith(":")
            assert trace_array(h5, name).shape == (3, int(w[1:]))
        assert meta.groupby(meta["trace_name"].str.split("$").str[0])["split"].nunique().max() == 1
        events = frame.select("id", "event_id", "event.event_id").rows_by_key("id", unique=True)
        rows = 0
        for rec in meta.to_dict("records"):
            rate = rec["trace_sampling_rate_hz"]
            start = UTCDateTime(rec["trace_start_time"])
            array = trace_array(h5, rec["trace_name"])
            assert array.dtype == np.float32 and rec["trace_npts"] == round(30 * rate)
            real = 0
            ids = [rec[f"trace_{c}_segment_id"] for c in "ZNE"]
            assert any(pd.notna(i) for i in ids)
            for r, sid in enumerate(ids):
                if pd.isna(sid):
                    assert not array[r].any()
                    continue
                seg = _segment(frame, url, int(sid))
                assert seg.channel.channel[2] == "ZNE"[r]
                assert seg.channel.channel[:2] == rec["trace_channel"]
                assert events[int(sid)][1] == rec["source_id"]
                try:
                    traces = list(seg.stream())
                except s2sframe.SkipSegment:
                    assert not array[r].any()
                    continue
                real += check_row(array[r], traces, start, rate)
                arrival = UTCDateTime(seg.arrival_time)
                assert abs((arrival - start) * rate - rec["trace_P_arrival_sample"]) < 1e-3
                assert abs(rec["trace_P_arrival_sample"] - 8 * rate) <= 1
                # source, station and path columns equal the segment's attributes
                assert rec["source_magnitude"] == pytest.approx(seg.event.magnitude)
                assert rec["source_depth_km"] == pytest.approx(seg.event.depth_km)
                assert UTCDateTime(rec["source_origin_time"]) == UTCDateTime(seg.event.time)
                assert rec["station_code"] == seg.station.station
                assert rec["station_network_code"] == seg.station.network
                assert str(rec["station_location_code"]) in (seg.channel.location, "nan")
                assert rec["station_latitude_deg"] == pytest.approx(seg.station.latitude)
                assert rec["path_ep_distance_km"] == pytest.approx(seg.event_distance_km)
            assert rec["trace_completeness"] == pytest.approx(real / (3 * array.shape[1]),
                                                              abs=1e-6)
            assert rec["trace_P_status"] == "predicted"
            rows += 1
        assert rows == len(meta) > 5
    # the returned frame: every segment once, in the frame's order
    assert out["id"].to_list() == frame["id"].to_list()
    written = out.filter(pl.col("trace_name").is_not_null())
    assert set(written["trace_name"]) == set(meta["trace_name"])
    no_data = frame.filter(~pl.col("has_valid_data"))["id"].to_list()
    assert out.filter(pl.col("id").is_in(no_data))["s2s_error"].is_not_null().all()
    saved = pl.read_csv(folder / "s2s_segments.csv", infer_schema_length=None)
    assert saved.sort("id").select("id", "trace_name").equals(
        out.sort("id").select("id", "trace_name"))
    # splits by event: no event in two splits
    per_event = meta.groupby("source_id")["split"].nunique()
    assert per_event.max() == 1 and set(meta["split"]) <= {"train", "dev", "test"}


def test_seisbench_gaps_are_zeros_and_lower_the_completeness(url, frame, tmp_path):
    gapped = frame.filter(pl.col("maxgap_numsamples") > 0.5)
    assert gapped.height >= 1
    seg = _segment(frame, url, gapped["id"][0])
    assert len(seg.stream()) == 2
    rows = frame.filter((pl.col("event_id") == seg.event_id)
                        & (pl.col("station.id") == seg.station.id))
    s2s = s2sframe.to_seisbench(rows, tmp_path / "g", components="Z", workers=0,
                                progress=False, dburl=url)
    meta, fmt, h5 = read_dataset(tmp_path / "g")
    with h5:
        assert fmt["component_order"] == "Z" and fmt["sampling_rate"] == 100.0
        assert len(meta) == 1 and s2s["trace_name"].drop_nulls().len() == 1
        rec = meta.iloc[0]
        array = trace_array(h5, rec["trace_name"])
        real = check_row(array[0], list(seg.stream()), UTCDateTime(rec["trace_start_time"]), 100.0)
        assert real < array.shape[1]
        assert rec["trace_completeness"] == pytest.approx(real / array.shape[1], abs=1e-6)


def test_seisbench_resampled_and_restituted(url, frame, tmp_path):
    rows = frame.filter(pl.col("station.has_inventory") & pl.col("has_valid_data"))
    s2sframe.to_seisbench(rows, tmp_path / "r", window=(5, 15), sampling_rate=40,
                          remove_response="ACC", workers=0, progress=False, dburl=url,
                          split=None)
    meta, fmt, h5 = read_dataset(tmp_path / "r")
    with h5:
        assert fmt == {"dimension_order": "CW", "component_order": "ZNE", "sampling_rate": 40.0,
                       "measurement": "acceleration", "unit": "mps2",
                       "instrument_response": "restituted"}
        assert meta["split"].isna().all() and (meta["trace_npts"] == 800).all()
        checked = 0
        for rec in meta.head(4).to_dict("records"):
            array = trace_array(h5, rec["trace_name"])
            for r, c in enumerate("ZNE"):
                sid = rec[f"trace_{c}_segment_id"]
                if pd.isna(sid):
                    continue
                seg = _segment(frame, url, int(sid))
                traces = [tr.copy() for tr in seg.stream()]
                for tr in traces:
                    tr.remove_response(seg.inventory(), output="ACC")
                    tr.resample(40.0)
                check_row(array[r], traces, UTCDateTime(rec["trace_start_time"]), 40.0,
                          rtol=1e-5)
                checked += 1
        assert checked >= 8


def test_seisbench_chunks_equal_the_unchunked_dataset(url, frame, tmp_path):
    args = dict(window=(5, 5), sampling_rate=20, workers=0, progress=False, dburl=url)
    s2sframe.to_seisbench(frame, tmp_path / "one", **args)
    out = s2sframe.to_seisbench(frame, tmp_path / "many", chunk_size=4, **args)
    one, _, h5 = read_dataset(tmp_path / "one")
    chunks = (tmp_path / "many" / "chunks").read_text().split()
    assert chunks == [f"_{i:03d}" for i in range(-(-len(one) // 4))]
    assert set(out["chunk"].drop_nulls()) == set(chunks)
    with h5:
        arrays = {tuple(r): trace_array(h5, n) for r, n in zip(
            one[["trace_Z_segment_id", "trace_N_segment_id", "trace_E_segment_id"]]
            .fillna(-1).astype(int).values.tolist(), one["trace_name"], strict=True)}
    formats, rows = [], 0
    for chunk in chunks:
        meta, fmt, h5c = read_dataset(tmp_path / "many", chunk)
        formats.append(fmt)
        with h5c:
            assert len(meta) <= 4
            for rec in meta.to_dict("records"):
                key = tuple(-1 if pd.isna(rec[f"trace_{c}_segment_id"])
                            else int(rec[f"trace_{c}_segment_id"]) for c in "ZNE")
                np.testing.assert_array_equal(trace_array(h5c, rec["trace_name"]), arrays[key])
                rows += 1
    assert rows == len(one) and all(f == formats[0] for f in formats)


def test_seisbench_rotates_1_2_horizontals_to_north_east(tmp_path):
    url = "sqlite:///" + str(tmp_path / "z12.sqlite")
    make_database(url, events=1, stations=2, regional=True, seed=5)
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:  # a station with 1/2 horizontals turned 30 degrees
        conn.execute(sa.text("UPDATE channels SET channel = substr(channel, 1, 2) || '1', "
                             "azimuth = 30 WHERE station_id = 1 AND channel LIKE '__N'"))
        conn.execute(sa.text("UPDATE channels SET channel = substr(channel, 1, 2) || '2', "
                             "azimuth = 120 WHERE station_id = 1 AND channel LIKE '__E'"))
        conn.execute(sa.text("UPDATE segments SET data_seed_id = NULL"))
    engine.dispose()
    df = s2sframe.scan(url).filter(pl.col("has_valid_data")).collect()
    s2sframe.to_seisbench(df, tmp_path / "rot", window=(5, 5), workers=0, progress=False,
                          dburl=url)
    s2sframe.to_seisbench(df, tmp_path / "raw", components="Z12", window=(5, 5), workers=0,
                          progress=False, dburl=url)
    meta, _, h5 = read_dataset(tmp_path / "rot")
    meta12, fmt12, h512 = read_dataset(tmp_path / "raw")
    assert fmt12["component_order"] == "Z12"
    with h5, h512:
        rec = meta[meta["station_code"] == df.filter(pl.col("station.id") == 1)[
            "station.station"][0]].iloc[0]
        rec12 = meta12[meta12["trace_Z_segment_id"] == rec["trace_Z_segment_id"]].iloc[0]
        assert pd.isna(rec["trace_N_segment_id"]) and pd.notna(rec12["trace_1_segment_id"])
        zne, z12 = trace_array(h5, rec["trace_name"]), trace_array(h512, rec12["trace_name"])
        from obspy.signal.rotate import rotate2zne

        z, n, e = rotate2zne(z12[0].astype(float), 0, -90, z12[1].astype(float), 30, 0,
                             z12[2].astype(float), 120, 0)
        np.testing.assert_allclose(zne, np.array([z, n, e]), rtol=1e-5, atol=1e-3)
        assert np.abs(zne[1]).max() > 0 and np.abs(zne[2]).max() > 0
        other = meta[meta["trace_Z_segment_id"] != rec["trace_Z_segment_id"]]
        assert other[["trace_N_segment_id", "trace_E_segment_id"]].notna().all(axis=None)


def test_seisbench_min_completeness_and_class_labels(url, frame, tmp_path):
    out = s2sframe.to_seisbench(frame, tmp_path / "c", window=(5, 5), min_completeness=0.9,
                                workers=0, progress=False, dburl=url)
    meta, _, h5 = read_dataset(tmp_path / "c")
    h5.close()
    assert (meta["trace_completeness"] >= 0.9).all()
    dropped = out.filter(pl.col("s2s_error").str.contains("below min_completeness"))
    assert dropped.height > 0 and dropped["trace_name"].is_null().all()
    labelled = frame.filter(pl.col("classlabels_count") > 0)
    for sid, labels in labelled.select("id", "classes.label").iter_rows():
        name = out.filter(pl.col("id") == sid)["trace_name"][0]
        if name is not None:
            got = meta.loc[meta["trace_name"] == name, "trace_class_labels"].iloc[0]
            assert set(labels) <= set(str(got).split(";"))


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("seisbench") is None,
    reason="seisbench (extra s2sframe[ml]) is not installed: its PyTorch dependency is too "
           "heavy for CI; the format is checked by the rules above")
def test_seisbench_reader_accepts_the_dataset(url, frame, tmp_path):
    import seisbench.data as sbd

    s2sframe.to_seisbench(frame, tmp_path / "one", window=(5, 15), sampling_rate=20,
                          workers=0, progress=False, dburl=url)
    s2sframe.to_seisbench(frame, tmp_path / "many", window=(5, 15), sampling_rate=20,
                          chunk_size=5, workers=0, progress=False, dburl=url)
    one = sbd.WaveformDataset(tmp_path / "one", component_order="ZNE")
    many = sbd.WaveformDataset(tmp_path / "many", component_order="ZNE")
    meta, _, h5 = read_dataset(tmp_path / "one")
    with h5:
        for i in range(len(one)):
            waveform, m = one.get_sample(i)
            np.testing.assert_array_equal(waveform, trace_array(h5, m["trace_name"]))
    assert len(one) == len(many) == len(meta) and len(many.chunks) > 1
    assert len(one.train()) + len(one.dev()) + len(one.test()) == len(one)


# ----------------------------------------------------------------------------- ASDF
def test_asdf_read_back_by_pyasdf(url, frame, tmp_path):
    import pyasdf

    target = tmp_path / "set.h5"
    out = s2sframe.to_asdf(frame, target, workers=2, progress=False, dburl=url)
    assert out["id"].to_list() == frame["id"].to_list()
    with pyasdf.ASDFDataSet(str(target), mode="r") as ds:
        events = {e.resource_id.id: e for e in ds.events}
        written = out.filter(pl.col("asdf_station").is_not_null())
        assert written.height == frame.filter(pl.col("has_valid_data")).height
        for sid in written["id"].to_list():
            seg = _segment(frame, url, sid)
            station = ds.waveforms[f"{seg.station.network}.{seg.station.station}"]
            rid = _asdf.event_resource_id(seg.event_id)
            got = [t for t in station.raw_recording.select(id=seg.stream()[0].id)
                   if [r.id for r in t.stats.asdf.event_ids] == [rid]]
            assert len(got) == len(seg.stream())
            for a, b in zip(sorted(got, key=lambda t: t.stats.starttime), seg.stream(),
                            strict=True):
                assert a.id == b.id and a.stats.starttime == b.stats.starttime
                assert a.stats.sampling_rate == b.stats.sampling_rate
                assert a.data.dtype == b.data.dtype
                np.testing.assert_array_equal(a.data, b.data)
            if seg.station.has_inventory:
                assert station.StationXML == seg.inventory()
            else:
                assert "StationXML" not in station.list()
            event = events[_asdf.event_resource_id(seg.event_id)]
            origin = event.preferred_origin()
            assert origin.time == UTCDateTime(seg.event.time)
            assert (origin.latitude, origin.longitude) == (seg.event.latitude,
                                                           seg.event.longitude)
            assert origin.depth == pytest.approx(seg.event.depth_km * 1000)
            magnitude = event.preferred_magnitude()
            assert (magnitude.mag, magnitude.magnitude_type) == (seg.event.magnitude,
                                                                 seg.event.mag_type)
        assert len(events) == frame.filter(pl.col("has_valid_data"))["event_id"].n_unique()
        prov = ds.provenance["s2sframe_export"]
        text = prov.serialize(format="json")
        assert "s2sframe" in text and "waveform export" in text
    failed = out.filter(pl.col("asdf_station").is_null())
    assert failed["s2s_error"].is_not_null().all()


# ------------------------------------------------------------------------- arrays
def test_waveforms_columns_equal_the_samples(url, frame, tmp_path):
    out = frame.s2s.waveforms(window=(5, 15), sampling_rate=20, workers=0, progress=False,
                              dburl=url)
    assert out.columns[:frame.width] == frame.columns and out.height == frame.height
    assert out.schema["waveform"] == pl.Array(pl.Float32, 400)
    for row in out.filter(pl.col("waveform").is_not_null()).head(6).iter_rows(named=True):
        seg = _segment(frame, url, row["id"])
        traces = [tr.copy() if tr.stats.sampling_rate == 20 else tr.copy().resample(20.0)
                  for tr in seg.stream()]
        check_row(np.array(row["waveform"], dtype=np.float32), traces,
                  UTCDateTime(row["waveform_start"]), 20.0, rtol=1e-5)
        arrival = UTCDateTime(seg.arrival_time)
        assert abs((arrival - UTCDateTime(row["waveform_start"])) * 20 - row["arrival_sample"]) < 1e-3
        assert abs(row["arrival_sample"] - 100) <= 1
    assert out.filter(pl.col("waveform").is_null())["s2s_error"].is_not_null().all()
    whole = s2sframe.waveforms(frame.head(6), workers=0, progress=False, dburl=url)
    assert whole.schema["waveform"] == pl.List(pl.Float32)
    for row in whole.filter(pl.col("waveform").is_not_null()).iter_rows(named=True):
        seg = _segment(frame, url, row["id"])
        assert row["waveform_start"] == seg.stream()[0].stats.starttime.datetime
        check_row(np.array(row["waveform"], dtype=np.float32), list(seg.stream()),
                  UTCDateTime(row["waveform_start"]), seg.stream()[0].stats.sampling_rate)


def test_waveforms_groups_and_parquet_output(url, frame, tmp_path):
    args = dict(components="ZNE", window=(3, 7), sampling_rate=20, workers=0, progress=False,
                dburl=url)
    groups = s2sframe.waveforms(frame, **args)
    assert groups.schema["waveform"] == pl.Array(pl.Float32, (3, 200))
    assert groups.columns[:7] == ["event_id", "station.id", "channel.location",
                                  "channel.band_instrument_code", "id_Z", "id_N", "id_E"]
    assert groups.height == frame.select("event_id", "station.id").n_unique()
    block = groups.filter(pl.col("waveform").is_not_null())["waveform"].to_numpy()
    assert block.shape[1:] == (3, 200) and block.dtype == np.float32
    lazy = s2sframe.waveforms(frame, output=tmp_path / "w.parquet", **args)
    assert isinstance(lazy, pl.LazyFrame) and lazy.collect().equals(groups)
    variable = s2sframe.waveforms(frame, components="ZNE", workers=0, progress=False, dburl=url)
    assert variable.schema["waveform"] == pl.List(pl.List(pl.Float32))
    row = variable.filter(pl.col("waveform").is_not_null()).row(0, named=True)
    assert len(row["waveform"]) == 3
    for r, c in enumerate("ZNE"):
        if row[f"id_{c}"] is not None:
            seg = _segment(frame, url, row[f"id_{c}"])
            check_row(np.array(row["waveform"][r], dtype=np.float32), list(seg.stream()),
                      UTCDateTime(row["waveform_start"]), row["waveform_sampling_rate"])


# -------------------------------------------------------------- kill and resume
def _gate(segment) -> None:
    """Block forever on the segments of ``S2S_TEST_BLOCK_IDS`` (after touching a file)."""
    if str(segment.id) in os.environ.get("S2S_TEST_BLOCK_IDS", "").split():
        Path(os.environ["S2S_TEST_BLOCKED"]).touch()
        while True:  # until killed: a barrier that never opens
            time.sleep(0.05)


class GatedSamples(Samples):
    def __call__(self, segment):
        _gate(segment)
        return super().__call__(segment)


class GatedRawTraces(RawTraces):
    def __call__(self, segment):
        _gate(segment)
        return super().__call__(segment)


KILLED_SCRIPT = """
import sys, polars as pl, s2sframe
import s2sframe.export.{module} as target
from tests.test_export import GatedRawTraces, GatedSamples
if __name__ == "__main__":
    target.Samples, target.RawTraces = GatedSamples, GatedRawTraces
    frame = pl.read_parquet(sys.argv[2])
    getattr(s2sframe, sys.argv[3])(frame, *([sys.argv[4]] if sys.argv[3] != "waveforms" else []),
        **{{**eval(sys.argv[5]), **({{"output": sys.argv[4]}} if sys.argv[3] == "waveforms" else {{}})}},
        workers=2, chunksize=1, dburl=sys.argv[1], progress=False)
"""


def _killed_midway(url: str, frame: pl.DataFrame, tmp_path: Path, func: str, target: Path,
                   parts: Path, options: dict) -> None:
    """Run ``func`` in a process blocked on the last group, SIGKILL it once parts are saved."""
    module = {"to_seisbench": "seisbench", "waveforms": "arrays", "to_asdf": "asdf"}[func]
    script = tmp_path / f"kill_{func}.py"
    script.write_text(KILLED_SCRIPT.format(module=module))
    frame.write_parquet(tmp_path / "input.parquet")
    last = frame.filter(pl.col("event_id") == frame["event_id"].max())["id"].to_list()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "S2S_TEST_BLOCK_IDS": " ".join(map(str, last)),
           "S2S_TEST_BLOCKED": str(tmp_path / "blocked")}
    args = [sys.executable, str(script), url, str(tmp_path / "input.parquet"), func,
            str(target), repr(options)]
    with _popen(args, env) as proc:
        deadline = time.monotonic() + 120
        while not (len(list(parts.glob("part-*.parquet"))) >= 1
                   and (tmp_path / "blocked").exists()):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no parts saved"
            time.sleep(0.05)
        if func == "to_seisbench":  # one run per output: a second one is refused at once
            with pytest.raises(OutputError, match="being written by another run"):
                s2sframe.to_seisbench(frame, target, workers=0, progress=False, dburl=url,
                                      **options)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    assert parts.is_dir() and not (target / "metadata.csv").exists() and not (
        target.is_file() and target.suffix in (".parquet", ".h5"))


def test_seisbench_killed_midway_then_rerun_equals_an_uninterrupted_run(url, frame, tmp_path,
                                                                         capsys):
    options = {"window": (5, 5), "sampling_rate": 20, "chunk_size": 6}
    reference = tmp_path / "reference"
    s2sframe.to_seisbench(frame, reference, workers=0, progress=False, dburl=url, **options)
    target = tmp_path / "killed"
    _killed_midway(url, frame, tmp_path, "to_seisbench", target,
                   target / "s2s_segments.csv.parts", options)
    saved = set(pl.read_parquet(list((target / "s2s_segments.csv.parts").glob("*.parquet")))["id"])
    assert 0 < len(saved) < frame.height
    capsys.readouterr()
    s2sframe.to_seisbench(frame, target, workers=2, progress=True, dburl=url, **options)
    # nothing processed twice: the segments saved by the killed run are not done again
    summary = capsys.readouterr().err.splitlines()[-1]
    assert summary.endswith(f"; {len(saved)} done by a previous run"), summary
    assert f"; {frame.height - len(saved)} segments processed" in summary
    files = sorted(p.name for p in reference.iterdir() if not p.name.startswith("."))
    assert files == sorted(p.name for p in target.iterdir() if not p.name.startswith("."))
    for name in files:
        if name.endswith(".hdf5"):
            with h5py.File(reference / name) as a, h5py.File(target / name) as b:
                assert list(a["data"]) == list(b["data"])
                for key in a["data"]:
                    np.testing.assert_array_equal(a["data"][key][()], b["data"][key][()])
                assert {k: a["data_format"][k][()] for k in a["data_format"]} == {
                    k: b["data_format"][k][()] for k in b["data_format"]}
        else:
            assert (reference / name).read_bytes() == (target / name).read_bytes(), name
    assert not (target / "s2s_segments.csv.parts").exists()


def test_waveforms_and_asdf_killed_midway_then_rerun(url, frame, tmp_path):
    options = {"window": (5, 5), "sampling_rate": 20, "components": "ZNE"}
    reference = s2sframe.waveforms(frame, workers=0, progress=False, dburl=url, **options)
    target = tmp_path / "w.parquet"
    _killed_midway(url, frame, tmp_path, "waveforms", target,
                   tmp_path / "w.parquet.parts", options)
    again = s2sframe.waveforms(frame, output=target, workers=2, progress=False, dburl=url,
                               **options)
    assert again.collect().equals(reference)


def test_asdf_killed_midway_then_rerun_has_every_waveform(url, frame, tmp_path):
    import pyasdf

    target = tmp_path / "a.h5"
    reference = s2sframe.to_asdf(frame, tmp_path / "ref.h5", workers=0, progress=False,
                                 dburl=url)
    _killed_midway(url, frame, tmp_path, "to_asdf", target, tmp_path / "a.h5.parts", {})
    out = s2sframe.to_asdf(frame, target, workers=2, progress=False, dburl=url)
    assert out.equals(reference)
    with pyasdf.ASDFDataSet(str(target), mode="r") as a, \
            pyasdf.ASDFDataSet(str(tmp_path / "ref.h5"), mode="r") as b:
        assert sorted(a.waveforms.list()) == sorted(b.waveforms.list())
        for name in a.waveforms.list():
            assert a.waveforms[name].list() == b.waveforms[name].list()
            assert a.waveforms[name].raw_recording == b.waveforms[name].raw_recording


# ------------------------------------------------------ ownership, options, API
def test_a_finished_export_is_not_redone_and_another_is_refused(url, frame, tmp_path, capsys):
    folder = tmp_path / "ds"
    first = s2sframe.to_seisbench(frame, folder, window=(5, 5), workers=0, progress=False,
                                  dburl=url)
    stamp = (folder / "waveforms.hdf5").stat().st_mtime_ns
    again = s2sframe.to_seisbench(frame, folder, window=(5, 5), workers=0, progress=True,
                                  dburl=url)
    assert again.equals(first) and "already complete" in capsys.readouterr().err
    assert (folder / "waveforms.hdf5").stat().st_mtime_ns == stamp
    with pytest.raises(OutputError, match="different export") as info:
        s2sframe.to_seisbench(frame, folder, window=(5, 6), workers=0, progress=False,
                              dburl=url)
    assert "settings" in str(info.value)
    other = tmp_path / "foreign"
    other.mkdir()
    (other / "metadata.csv").write_text("trace_name\n")
    with pytest.raises(OutputError, match="not written by this export"):
        s2sframe.to_seisbench(frame, other, workers=0, progress=False, dburl=url)
    out = s2sframe.to_seisbench(frame.head(9), other, overwrite=True, window=(5, 5), workers=0,
                                progress=False, dburl=url)
    assert out.height == 9 and pd.read_csv(other / "metadata.csv").shape[0] >= 1


@pytest.mark.parametrize("kwargs, match", [
    ({"window": (1, -2)}, "window=.1, -2.: the window must end after it starts"),
    ({"window": "10"}, "window='10': give .seconds before, seconds after."),
    ({"sampling_rate": -1}, "sampling_rate=-1: a positive number"),
    ({"remove_response": "vel"}, "remove_response='vel': one of 'DISP', 'VEL', 'ACC'"),
    ({"components": "ZXY"}, "components='ZXY': a string of distinct orientation codes"),
    ({"components": None}, "components=None: SeisBench traces have a component order"),
    ({"split": (0.5, 0.5)}, r"split=\(0.5, 0.5\): three fractions"),
    ({"chunk_size": 0}, "chunk_size=0: a positive integer"),
    ({"min_completeness": 2}, "min_completeness=2: a fraction between 0 and 1"),
])
def test_bad_options_are_named(url, frame, tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        s2sframe.to_seisbench(frame, tmp_path / "x", dburl=url, progress=False, **kwargs)
    assert not (tmp_path / "x").exists()


def test_namespace_methods_are_the_functions():
    df = pl.DataFrame({"id": [1]})
    for name in ("to_seisbench", "to_asdf", "waveforms"):
        func = getattr(s2sframe, name)
        for ns in (df.s2s, df.lazy().s2s):
            method = getattr(type(ns), name)
            assert method.__doc__ == func.__doc__
            sig, fsig = inspect.signature(method), inspect.signature(func)
            assert list(sig.parameters)[1:] == list(fsig.parameters)[1:]
            assert [p.default for p in sig.parameters.values()][1:] == [
                p.default for p in fsig.parameters.values()][1:]
            assert sig.return_annotation == fsig.return_annotation


def test_lazy_frame_methods_run(url, frame, tmp_path):
    out = frame.lazy().head(3).s2s.waveforms(workers=0, progress=False, dburl=url)
    assert out.height == 3 and "waveform" in out.columns


def test_groups_and_splits():
    keys = pl.DataFrame({"id": range(1, 9), "event_id": [1, 1, 1, 2, 2, 2, 3, 3],
                         "station.id": [1] * 8, "channel.location": [""] * 8,
                         "channel.channel": ["HHZ", "HH1", "HH2", "HHZ", "HHN", "HHE", "BHZ",
                                             "BHX"]})
    members = _groups.plan(keys, "ZNE")
    assert members.select("id", "group", "orientation").rows() == [
        (1, 0, "Z"), (2, 0, "1"), (3, 0, "2"), (4, 1, "Z"), (5, 1, "N"), (6, 1, "E"),
        (7, 2, "Z")]
    splits = _groups.assign_splits(members, (1 / 3, 1 / 3, 1 / 3), seed=1)
    assert sorted(splits.to_list()) == ["dev", "test", "train"]
    assert _groups.assign_splits(members, (1, 0, 0), seed=1).to_list() == ["train"] * 3


def test_manifest_masks_the_password(tmp_path):
    url = "postgresql://user:secret@127.0.0.1:1/db"
    from s2sframe.db.urls import parse_url
    from s2sframe.export.run import manifest

    text = json.dumps(manifest("x", parse_url(url), pl.DataFrame({"id": [1]}), {}))
    assert "secret" not in text and "***" in text



def test_an_export_changed_since_written_is_not_taken_as_finished(url, frame, tmp_path):
    folder = tmp_path / "ds"
    s2sframe.to_seisbench(frame.head(9), folder, workers=0, progress=False, dburl=url)
    (folder / "waveforms.hdf5").write_bytes(b"damaged")
    with pytest.raises(OutputError, match="changed since this export wrote it"):
        s2sframe.to_seisbench(frame.head(9), folder, workers=0, progress=False, dburl=url)
    s2sframe.to_seisbench(frame.head(9), folder, workers=0, progress=False, dburl=url,
                          overwrite=True)
    assert h5py.is_hdf5(folder / "waveforms.hdf5")


def test_empty_selection_and_bad_frames(url, frame, tmp_path):
    out = s2sframe.to_seisbench(frame.clear(), tmp_path / "empty", workers=0, progress=False,
                                dburl=url)
    meta, fmt, h5 = read_dataset(tmp_path / "empty")
    h5.close()
    assert out.height == 0 and len(meta) == 0 and list(meta.columns) == SEISBENCH_COLUMNS
    assert fmt["component_order"] == "ZNE"
    assert s2sframe.waveforms(frame.clear(), workers=0, progress=False, dburl=url).height == 0
    with pytest.raises(ValueError, match="duplicates"):
        s2sframe.waveforms(pl.concat([frame.head(2), frame.head(1)]), progress=False, dburl=url)
    with pytest.raises(ValueError, match="'id' column"):
        s2sframe.to_asdf(frame.drop("id"), tmp_path / "x.h5", progress=False, dburl=url)
