"""Result types are never converted silently (map_segments and process, both backends).

Values of two types for one column, in one chunk or across chunks and batches, are an
error naming the column, two segments and the two types; None mixes with anything;
int and float mix into Float64; return_dtypes converts on purpose.
"""

from __future__ import annotations

import re

import polars as pl
import pytest

import s2sframe
from s2sframe import ProcessingError
from s2sframe.engine.results import dtype_of, merge_dtypes
from s2sframe.process import process
from s2sframe.testing import make_database
from tests.conftest import BACKENDS, new_pg_database


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, tmp_path_factory) -> str:
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("res") / "db.sqlite")
    else:
        url = new_pg_database(request)
    make_database(url, events=2, stations=2, seed=4)
    return url


def int_or_str(segment):
    return {"v": segment.id if segment.id % 2 == 0 else f"s{segment.id}"}


def bool_or_int(segment):
    return {"v": True if segment.id % 2 else 2}


def int_float_none(segment):
    k = segment.id % 3
    return {"v": None if k == 0 else segment.id if k == 1 else segment.id + 0.5,
            "arr": [segment.id] if k == 1 else [segment.id + 0.5]}


MIXED = re.compile(r"returned values of different types for column 'v': (\w+) for segment "
                   r"(\d+), (\w+) for segment (\d+)")


def check_message(text: str, kind_of) -> None:
    """The message names two segments and, for each, the type it really returned."""
    found = MIXED.search(text)
    assert found, text
    (t1, id1), (t2, id2) = found.group(1, 2), found.group(3, 4)
    assert t1 != t2 and t1 == kind_of(int(id1)) and t2 == kind_of(int(id2))


@pytest.mark.parametrize(("workers", "chunksize"), [(0, None), (2, 1)])  # one chunk; many
def test_mixed_types_are_an_error_naming_column_segments_and_types(db, workers, chunksize):
    df = s2sframe.scan(db).select("id").collect()
    with pytest.raises(ProcessingError) as info:
        s2sframe.map_segments(df, int_or_str, workers=workers, chunksize=chunksize,
                              progress=False, dburl=db)
    check_message(str(info.value), lambda i: "Int64" if i % 2 == 0 else "String")
    assert "return_dtypes={'v'" in str(info.value)
    with pytest.raises(ProcessingError) as info:
        s2sframe.map_segments(df, bool_or_int, workers=workers, chunksize=chunksize,
                              progress=False, dburl=db)
    check_message(str(info.value), lambda i: "Boolean" if i % 2 else "Int64")


def test_none_mixes_with_any_type_and_int_with_float(db):
    df = s2sframe.scan(db).select("id").collect()
    out = s2sframe.map_segments(df, int_float_none, workers=2, chunksize=1, progress=False,
                                dburl=db)
    assert out.schema["v"] == pl.Float64 and out.schema["arr"] == pl.List(pl.Float64)
    expected = [None if i % 3 == 0 else float(i) if i % 3 == 1 else i + 0.5 for i in out["id"]]
    assert out["v"].to_list() == expected
    assert out["arr"].to_list() == [[float(i)] if i % 3 == 1 else [i + 0.5] for i in out["id"]]


def test_return_dtypes_converts_on_purpose(db):
    df = s2sframe.scan(db).select("id").collect()
    out = s2sframe.map_segments(df, int_or_str, workers=2, chunksize=1, progress=False,
                                dburl=db, return_dtypes={"v": pl.String})
    assert out["v"].to_list() == [str(i) if i % 2 == 0 else f"s{i}" for i in out["id"]]
    assert out["s2s_error"].null_count() == out.height


def int_or_str_row(segment, config):
    return {"v": segment.id if segment.id % 2 == 0 else f"s{segment.id}"}


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_process_refuses_mixed_types_across_batches(db, tmp_path, ext):
    out = tmp_path / f"o.{ext}"
    with pytest.raises(ProcessingError) as info:
        process(int_or_str_row, db, {"id": ">0"}, outfile=str(out), chunksize=1)
    text = str(info.value)
    assert "int_or_str_row returned values" in text and "__s2s" not in text
    check_message(text, lambda i: "Int64" if i % 2 == 0 else "String")
    with pytest.raises(ProcessingError) as info:  # in one batch too
        process(int_or_str_row, db, {"id": ">0"}, outfile=str(out), chunksize=100)
    check_message(str(info.value), lambda i: "Int64" if i % 2 == 0 else "String")
    assert "__s2s" not in str(info.value)


def test_dtype_rules():
    assert dtype_of([1, 2.5]) == pl.List(pl.Float64)
    assert dtype_of([1, "x"]) == pl.Object  # not storable: an error of that segment
    assert dtype_of(2**70) == pl.Int128
    assert merge_dtypes(pl.Struct({"a": pl.Int64}), pl.Struct({"b": pl.String})) == \
        pl.Struct({"a": pl.Int64, "b": pl.String})
    assert merge_dtypes(pl.List(pl.Int64), pl.List(pl.String)) is None
    assert merge_dtypes(pl.Datetime("us"), pl.Date) is None
