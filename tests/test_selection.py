"""where(): the stream2segment selection syntax, on SQLite and PostgreSQL."""

from __future__ import annotations

import polars as pl
import pytest

import s2sframe


def ids(url: str, selection: dict) -> list[int]:
    lf = s2sframe.scan(url).filter(s2sframe.where(selection)).select("id")
    return lf.collect()["id"].to_list()


CASES = [
    ({"event.magnitude": "4.5"}, [4, 5]),
    ({"event.magnitude": "=4.5"}, [4, 5]),
    ({"event.magnitude": "==4.5"}, [4, 5]),
    ({"event.magnitude": "4 5"}, [1, 2, 3, 6, 7]),
    ({"event.magnitude": "!=4.5"}, [1, 2, 3, 6, 7]),
    ({"event.magnitude": "!=4 5"}, [4, 5]),
    ({"event.magnitude": ">4.5"}, [6, 7]),
    ({"event.magnitude": ">=4.5"}, [4, 5, 6, 7]),
    ({"event.magnitude": "<4.5"}, [1, 2, 3]),
    ({"event.magnitude": "<=4.5"}, [1, 2, 3, 4, 5]),
    ({"event.magnitude": "[4, 5]"}, [1, 2, 3, 4, 5, 6, 7]),
    ({"event.magnitude": "(4, 5)"}, [4, 5]),
    ({"event.magnitude": "]4, 5["}, [4, 5]),
    ({"event.magnitude": "(4, 5]"}, [4, 5, 6, 7]),
    ({"event.magnitude": "]4, 5]"}, [4, 5, 6, 7]),
    ({"event.magnitude": "[4, 5)"}, [1, 2, 3, 4, 5]),
    ({"event.magnitude": "[4, 5["}, [1, 2, 3, 4, 5]),
    ({"event.magnitude": "[4,5)"}, [1, 2, 3, 4, 5]),
    ({"event.magnitude": ""}, [1, 2, 3, 4, 5, 6, 7]),
    ({"event.magnitude": "  "}, [1, 2, 3, 4, 5, 6, 7]),
    ({"download_code": "null"}, [1]),
    ({"download_code": "=NULL"}, [1]),
    ({"download_code": "!=null"}, [2, 3, 4, 5, 6, 7]),
    ({"download_code": "200 null"}, [1, 2, 5]),
    ({"download_code": "!=200 null"}, [3, 4, 6, 7]),
    ({"start_time": "null"}, [1, 3, 7]),
    ({"start_time": "!=null"}, [2, 4, 5, 6]),
    ({"has_data": "true"}, [2, 4, 5, 6]),
    ({"has_data": "TRUE"}, [2, 4, 5, 6]),
    ({"has_data": "False"}, [1, 3, 7]),
    ({"has_valid_data": "true"}, [2, 5, 6]),
    ({"queryauth": "true"}, [4]),
    ({"station.network": "GE"}, [1, 3, 4, 6, 7]),
    ({"station.network": "GE FR"}, [1, 2, 3, 4, 5, 6, 7]),
    ({"station.network": "!=GE"}, [2, 5]),
    ({"channel.sensor_description": "'GURALP CMG-40T' abc"}, [2, 5]),
    ({"channel.sensor_description": '"GURALP CMG-40T"'}, [2, 5]),
    ({"channel.sensor_description": "GURALP CMG-40T"}, []),  # two values: GURALP, CMG-40T
    ({"channel.location": "''"}, [1, 3, 4, 6, 7]),
    ({"event.time": "2020-01-01T01:00:00"}, [4, 5]),
    ({"event.time": "2020-01-01 01:00:00"}, [4, 5]),
    ({"event.time": ">=2020-01-03"}, [6, 7]),
    ({"event.time": "2020-01-03T00:00:00.25"}, [6, 7]),
    ({"event.time": "[2020-01-01, 2020-01-02)"}, [1, 2, 3, 4, 5]),
    ({"download.run_time": "2020-01-01"}, [1, 2, 3, 4]),
    ({"download.run_time": ">2020-01-01"}, [5, 6, 7]),
    ({"missing_data_sec": ">1"}, [2, 5]),
    ({"missing_data_sec": "<0"}, [4]),
    ({"duration_sec": "[190, 240]"}, [2, 5, 6]),
    ({"event.time": "2020-01-01 00:00:00 2020-01-01 01:00:00"}, [1, 2, 3, 4, 5]),
    ({"event_distance_km": ">5000"}, [5, 6, 7]),
    ({"maxgap_numsamples": "[-0.5, 0.5]"}, [2, 5, 6]),
    ({"seed_id": "GE.AAA..HHZ"}, [1, 4, 6]),
    ({"station.netsta_code": "FR.BBB"}, [2, 5]),
    ({"channel.orientation_code": "Z E"}, [1, 3, 4, 6, 7]),
    ({"classlabels_count": ">0"}, [2, 4]),
    ({"classes.label": "good"}, [2, 4]),
    ({"classes.label": "good bad"}, [2, 4]),
    ({"classes.label": "bad"}, [2]),
    ({"classes.id": "null"}, [1, 3, 5, 6, 7]),
    ({"classes.id": "!=null"}, [2, 4]),
    ({"classes.id": ">1"}, [2]),
    ({"classes.description": "ok"}, [2, 4]),
    ({"event.event_type": "null"}, [1, 2, 3]),
    ({"has_valid_data": "true", "station.network": "GE", "event.magnitude": ">4"}, [6]),
]


@pytest.mark.parametrize(("selection", "expected"), CASES, ids=[str(c[0]) for c in CASES])
def test_selection(small_url, selection, expected):
    assert ids(small_url, selection) == expected


def test_classes_never_duplicate_segments(small_url):
    got = ids(small_url, {"classes.label": "good bad"})
    assert len(got) == len(set(got))


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ({"event.magnitud": "4"}, r"Unknown attribute 'event.magnitud'.*'event.magnitude'"),
        ({"magnitude": "4"}, r"Unknown attribute 'magnitude'"),
        ({"event.magnitude": "[4]"}, r"'event.magnitude': '\[4\]'.*exactly two values"),
        ({"event.magnitude": "[4, 5, 6]"}, r"exactly two values"),
        ({"event.magnitude": "abc"}, r"'event.magnitude': 'abc'.*cannot read 'abc'"),
        ({"event.magnitude": ">"}, r"no value after '>'"),
        ({"event.magnitude": ">4 5"}, r"exactly one value"),
        ({"event.time": ">null"}, r"cannot compare with null"),
        ({"event.time": "[null, 2020-01-01]"}, r"interval bounds cannot be null"),
        ({"event.time": "yesterday"}, r"'event.time': 'yesterday'"),
        ({"has_data": "maybe"}, r"'has_data': 'maybe'.*boolean"),
        ({"download_code": "2.5"}, r"'download_code'.*not an integer"),
        ({"station.network": "'GE"}, r"'station.network'.*quotation"),
    ],
)
def test_invalid_selection(selection, message):
    with pytest.raises(s2sframe.SelectionError, match=message):
        s2sframe.where(selection)
    with pytest.raises(ValueError):
        s2sframe.where(selection)


def test_where_returns_polars_expression_usable_on_frames(small_url):
    df = s2sframe.scan(small_url).collect()
    expr = s2sframe.where({"event.magnitude": "[4, 4.5)", "station.network": "GE"})
    assert isinstance(expr, pl.Expr)
    assert df.filter(expr)["id"].to_list() == [1, 3]


def test_non_string_values(small_url):
    assert ids(small_url, {"event.magnitude": 4.5}) == [4, 5]
    assert ids(small_url, {"has_data": True}) == [2, 4, 5, 6]
    assert ids(small_url, {"station.network": ["FR"]}) == [2, 5]
