"""Only bad bytes are skips: errors of the decoders themselves follow ``errors=``, and the
fast miniSEED path handing data to ObsPy's reader is counted in the run summary."""

from __future__ import annotations

import logging

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

import s2sframe
from s2sframe.db import schema as S
from s2sframe.decode import counters
from s2sframe.decode import mseed as mseed_mod
from s2sframe.exceptions import ProcessingError, SkipSegment
from s2sframe.testing import make_database


def peak(segment) -> float:
    return float(np.abs(segment.stream()[0].data).max())


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    url = "sqlite:///" + str(tmp_path_factory.mktemp("dec") / "db.sqlite")
    make_database(url, events=2, stations=2, channels_per_station=2)
    return url


@pytest.fixture(scope="module")
def valid(db) -> pl.DataFrame:
    return s2sframe.scan(db).filter(pl.col("has_valid_data")).select("id").collect()


def test_an_internal_error_of_the_decoder_is_not_a_skip(db, valid, monkeypatch):
    def broken(data, checked=False):
        raise MemoryError("out of memory while decoding")

    monkeypatch.setattr(mseed_mod, "_read_mseed_fast", broken)
    out = s2sframe.map_segments(valid, peak, workers=0, progress=False, dburl=db)
    assert out["s2s_error"].to_list() == ["MemoryError: out of memory while decoding"] * len(valid)
    with pytest.raises(ProcessingError, match="MemoryError"):
        s2sframe.map_segments(valid, peak, workers=0, progress=False, dburl=db, errors="raise")


def test_obspy_reader_system_errors_propagate(monkeypatch):
    def broken(data):
        raise RecursionError("deep")

    monkeypatch.setattr(mseed_mod, "_read_mseed", broken)
    with pytest.raises(RecursionError):
        mseed_mod._read_mseed_obspy(b"\x00" * 512)


def test_bad_bytes_are_still_skips(db, valid):
    eng = sa.create_engine(db)
    sid = valid["id"][0]
    with eng.begin() as conn:
        good = conn.execute(sa.select(S.segments.c.data).where(S.segments.c.id == sid)).scalar()
        conn.execute(S.segments.update().where(S.segments.c.id == sid).values(data=b"x" * 600))
    try:
        out = s2sframe.map_segments(valid, peak, workers=0, progress=False, dburl=db)
        err = out.filter(pl.col("id") == sid)["s2s_error"][0]
        assert err.startswith(f"SkipSegment: segment {sid}: invalid miniSEED data")
        assert out["s2s_error"].null_count() == len(valid) - 1
    finally:
        with eng.begin() as conn:
            conn.execute(S.segments.update().where(S.segments.c.id == sid).values(data=good))
        eng.dispose()


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_fallbacks_to_obspy_are_counted_in_the_summary(db, valid, caplog):
    eng = sa.create_engine(db)
    sid = valid["id"][1]
    with eng.begin() as conn:
        good = conn.execute(sa.select(S.segments.c.data).where(S.segments.c.id == sid)).scalar()
        # a partial record at the end: libmseed refuses the buffer, ObsPy reads the rest
        conn.execute(
            S.segments.update().where(S.segments.c.id == sid).values(data=good + b"\x00" * 100)
        )
    try:
        counters.take()
        with caplog.at_level(logging.INFO, logger="s2sframe"):
            out = s2sframe.map_segments(valid, peak, workers=0, progress=False, dburl=db)
        assert out["s2s_error"].null_count() == len(valid)
        summary = [r.getMessage() for r in caplog.records if "segments processed" in r.getMessage()]
        assert len(summary) == 1
        assert summary[0].endswith("; miniSEED read by ObsPy's reader: libmseed could not read it: 1")
    finally:
        with eng.begin() as conn:
            conn.execute(S.segments.update().where(S.segments.c.id == sid).values(data=good))
        eng.dispose()


def test_fast_path_bug_falls_back_and_is_counted(monkeypatch):
    import io

    import obspy

    buf = io.BytesIO()
    obspy.read()[:1].write(buf, format="MSEED")

    def buggy(data):
        raise TypeError("a bug")

    monkeypatch.setattr(mseed_mod, "_read_mseed_fast", buggy)
    counters.take()
    st = mseed_mod.read_mseed(buf.getvalue())
    assert len(st) == 1 and st[0].stats.npts == 3000
    assert counters.take() == {"miniSEED read by ObsPy's reader: fast path error TypeError": 1}
    with pytest.raises(SkipSegment):
        mseed_mod.read_mseed(b"")
