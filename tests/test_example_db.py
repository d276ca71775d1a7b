"""Facts of ../shared/fixtures/example.db.sqlite (a real stream2segment database)."""

from __future__ import annotations

import pytest

import s2sframe

SELECTION = {"has_data": "true", "maxgap_numsamples": "[-0.5, 0.5]", "event_distance_deg": "[70, 80]"}


def test_seed_selection_gives_segment_2(example_url):
    df = (
        s2sframe.scan(example_url)
        .filter(s2sframe.where(SELECTION))
        .select("id", "event.magnitude", "event.mag_type", "seed_id", "channel.sample_rate")
        .collect()
    )
    assert df.rows() == [(2, 8.1, "mw", "GE.MTE..BHZ", 20.0)]


def test_derived_values(example_url):
    df = s2sframe.scan(example_url).select(
        "id", "seed_id", "event_distance_km", "duration_sec", "missing_data_sec",
        "missing_data_ratio", "has_valid_data", "station.has_inventory", "event.event_type",
    ).collect()
    one, two = df.rows(named=True)
    assert one["seed_id"] == "GE.RUE..BHZ"
    assert one["event_distance_km"] == pytest.approx(9830.6995, abs=1e-4)
    assert one["duration_sec"] == pytest.approx(251.75)
    assert one["missing_data_sec"] == pytest.approx(-11.75)
    assert two["event_distance_km"] == pytest.approx(8621.3470, abs=1e-4)
    assert two["duration_sec"] == pytest.approx(261.25)
    assert two["missing_data_sec"] == pytest.approx(-21.25)
    assert two["missing_data_ratio"] == pytest.approx(-0.0885417, abs=1e-7)
    assert one["has_valid_data"] and two["has_valid_data"]
    assert one["station.has_inventory"] and two["station.has_inventory"]
    assert one["event.event_type"] is None


def test_explain_of_seed_selection_is_all_sql(example_url):
    lf = s2sframe.scan(example_url).filter(s2sframe.where(SELECTION)).select("id")
    sql = s2sframe.explain(lf)
    assert "segments.event_distance_deg >= 70.0" in sql
    assert "length(segments.data) > 0" in sql
    assert "applied by Polars" not in sql


def test_a_missing_stream2segment_database_skips_saying_what_it_is(tmp_path):
    from tests.conftest import ROOT, stream2segment_database

    missing = tmp_path / "shared" / "fixtures" / "example.db.sqlite"
    with pytest.raises(pytest.skip.Exception) as info:
        stream2segment_database(missing)
    text = str(info.value)
    assert str(missing) in text and "workspace" not in text
    assert "database written by stream2segment" in text
    assert "tests of compatibility with it are skipped" in text
    readme = (ROOT / "README.md").read_text()  # which the README says
    assert "../shared/fixtures/example.db.sqlite" in readme and "skipped" in readme
