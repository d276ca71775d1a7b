"""imap / process (stream2segment API over the map engine), writers and configs, both backends."""

from __future__ import annotations

import doctest
import inspect
import logging
import os
import traceback
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import sqlalchemy as sa
import sqlalchemy.orm  # noqa: F401 - conftest's pg teardown uses sa.orm

import s2sframe
from s2sframe import orm
from s2sframe import process as P
from s2sframe.cli import common as cli_common
from s2sframe.compat import api as API
from s2sframe.compat import config as _config
from s2sframe.compat import orm as ORM
from s2sframe.compat import runner as R
from s2sframe.compat import writers as _writers
from s2sframe.compat.config import BadInput, yaml_load
from s2sframe.db import copy as _copy
from s2sframe.exceptions import DatabaseError, ProcessingError, SelectionError, SkipSegment
from s2sframe.process import get_default_segments_selection, imap, process
from s2sframe.testing import make_database
from tests.conftest import BACKENDS, new_pg_database

CALLS: list[int] = []  # segment ids seen by `record` (single process only)


@pytest.fixture(scope="module", params=BACKENDS)
def db(request, tmp_path_factory) -> str:
    """A realistic database of 27 segments (3 events, 3 stations), SQLite or PostgreSQL."""
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("proc") / "db.sqlite")
    else:
        url = new_pg_database(request)
    make_database(url, events=3, stations=3, seed=11)
    return url


def expected_ids(url: str, selection=None) -> list[int]:
    """Ids selected by scan() + where(), in processing order (station, then id)."""
    sel = get_default_segments_selection() if selection is None else selection
    df = (s2sframe.scan(url).filter(s2sframe.where(sel)).select("id", "station.id")
          .collect().sort("station.id", "id"))
    return df["id"].to_list()


# --------------------------------------------------------------- processing functions
def seg_id(segment, config):
    return segment.id


def record(segment, config):
    CALLS.append(segment.id)
    return {"id2": segment.id * 2, "seed": segment.seed_id,
            "npts": segment.stream()[0].stats.npts}


def skip_odd(segment, config):
    if segment.id % 2:
        raise SkipSegment(f"odd {segment.id}")
    if segment.id % 3 == 0:
        return None
    return {"id": segment.id, "mag": segment.event.magnitude}


def fail_at(segment, config):
    if segment.id == config["fail_at"]:
        raise ValueError(f"bad value in {segment.id}")
    return {"x": float(segment.id)}


def as_list(segment, config):
    return [segment.id, segment.station.network]


def with_orm(segment, config):
    sib = segment.siblings()
    return (segment.id, sorted(s.id for s in sib), segment.classlabels,
            segment.dbsession is not None, float(segment.inventory()[0][0].latitude))


# ------------------------------------------------------------------------------- imap
def test_imap_default_selection_and_order(db):
    ids = list(imap(seg_id, db))
    assert ids == expected_ids(db) and len(ids) > 10


def test_imap_selections(db):
    assert list(imap(seg_id, db, {"station.network": "GE", "id": "<=12"})) == \
        expected_ids(db, {"station.network": "GE", "id": "<=12"})
    assert sorted(imap(seg_id, db, [3, 1, 2, 999])) == [1, 2, 3]
    assert sorted(imap(seg_id, db, np.array([5, 4]))) == [4, 5]
    assert list(imap(seg_id, db, [])) == []
    assert list(imap(seg_id, db, {"event.magnitude": "<0"})) == []


def test_config_is_passed_as_given_or_loaded_from_yaml(db, tmp_path):
    config = {"k": 1}
    seen = []

    def f(segment, cfg):
        seen.append(cfg)
        return cfg["k"]

    assert set(imap(f, db, [1, 2], config)) == {1}
    assert all(c is config for c in seen)  # the same dict, as in stream2segment
    (tmp_path / "c.yaml").write_text("k: 7\n")
    assert list(imap(f, db, [1], str(tmp_path / "c.yaml"))) == [7]
    assert list(imap(f, db, [1], {"k": None})) == [None]  # None outputs are yielded


def test_processing_function_signature_is_checked(db):
    with pytest.raises(BadInput, match="must accept two arguments"):
        imap(lambda segment: 1, db)
    with pytest.raises(BadInput, match="must accept two arguments"):
        process(lambda segment, config, extra: 1, db)
    with pytest.raises(BadInput, match="callable"):
        imap("main", db)

    def extra_defaults(segment, config, scale=2):
        return segment.id * scale

    def varargs(*args):
        return args[0].id

    assert list(imap(extra_defaults, db, [3])) == [6]
    assert list(imap(varargs, db, [3])) == [3]


def test_bad_arguments_raise_when_called(db, tmp_path):
    with pytest.raises(SelectionError, match="Unknown attribute 'nope'"):
        imap(seg_id, db, {"nope": "1"})  # not only when iterating
    with pytest.raises(SelectionError, match="interval needs exactly two values"):
        process(seg_id, db, {"id": "[1, 2, 3]"})
    with pytest.raises(SelectionError, match="list of segment ids"):
        imap(seg_id, db, "id: 1")
    with pytest.raises(DatabaseError, match="not found"):
        imap(seg_id, "sqlite:///" + str(tmp_path / "missing.sqlite"))
    assert not (tmp_path / "missing.sqlite").exists()
    sa.create_engine("sqlite:///" + str(tmp_path / "empty.sqlite")).connect().close()
    with pytest.raises(DatabaseError, match="not a stream2segment database"):
        process(seg_id, "sqlite:///" + str(tmp_path / "empty.sqlite"))
    with pytest.raises(BadInput, match="multi_process"):
        imap(seg_id, db, multi_process="yes")
    with pytest.raises(BadInput, match="chunksize"):
        imap(seg_id, db, chunksize=0)
    with pytest.raises(BadInput, match="skip_exceptions"):
        imap(seg_id, db, skip_exceptions=["ValueError"])
    with pytest.raises(BadInput, match="YAML file not found"):
        imap(seg_id, db, config=str(tmp_path / "none.yaml"))


def test_errors_abort_with_the_function_exception_naming_the_segment(db, tmp_path):
    """As in stream2segment the function's own exception comes through (``except
    ValueError:`` around the loop works), with a note and ``segment_id``."""
    target = expected_ids(db)[3]
    with pytest.raises(ValueError, match=f"^bad value in {target}") as info:
        list(imap(fail_at, db, config={"fail_at": target}))
    assert type(info.value) is ValueError and info.value.segment_id == target
    assert str(info.value) == f"bad value in {target}"
    assert info.value.__notes__ == [f"fail_at failed on segment {target}"]
    frames = [f.name for f in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "fail_at"  # the original, with the function's frame: debuggable
    with pytest.raises(ValueError) as info:
        process(fail_at, db, config={"fail_at": target}, outfile=str(tmp_path / "o.csv"))
    assert info.value.segment_id == target and type(info.value) is ValueError
    out = list(imap(fail_at, db, config={"fail_at": target}, skip_exceptions=[ValueError]))
    assert len(out) == len(expected_ids(db)) - 1


def test_process_honours_skip_exceptions(db, tmp_path):
    target = expected_ids(db)[0]
    out = tmp_path / "o.csv"
    res = process(fail_at, db, config={"fail_at": target}, outfile=str(out),
                  skip_exceptions=(ValueError,))
    assert (res.skipped, res.written) == (1, res.total - 1)
    assert target not in pl.read_csv(out)["segment_db_id"].to_list()


def test_summary_and_log_lines(db, tmp_path, capsys):
    log = tmp_path / "run.log"
    ids = expected_ids(db)
    out = list(imap(skip_odd, db, logfile=str(log), verbose=True))
    n, odd = len(ids), [i for i in ids if i % 2]
    assert len(out) == n - len(odd)
    err = capsys.readouterr().err
    assert f"{n} segment(s) found to process" in err
    assert f"{n - len(odd)} of {n} segment(s) successfully processed" in err
    assert f"{len(odd)} of {n} segment(s) skipped with error message reported in the log " \
           "file" in err
    assert "segment (id=" not in err  # per-segment messages go to the log file only
    assert "skip_odd" in err and "seg/s" in err  # the progress bar
    text = log.read_text()
    for i in odd:
        assert f"segment (id={i}): SkipSegment: odd {i}" in text
    assert f"{n} segment(s) found to process" in text and "Completed in" in text
    list(imap(skip_odd, db))  # neither verbose nor logfile: silent
    assert capsys.readouterr().err == ""


def test_imap_stopped_early_logs_and_closes(db, tmp_path):
    log = tmp_path / "stop.log"
    gen = imap(seg_id, db, logfile=str(log), chunksize=2)
    assert next(gen) == expected_ids(db)[0]
    gen.close()
    assert "Stopped by the caller" in log.read_text()
    assert not R.logger.handlers or all(isinstance(h, logging.NullHandler)
                                        for h in R.logger.handlers)


def test_legacy_database_event_type_is_none(legacy_url):
    def evtype(segment, config):
        return segment.id, segment.event.event_type, segment.event.magnitude

    out = list(imap(evtype, legacy_url, {}))
    assert sorted(i for i, _, _ in out) == list(range(1, 8))
    assert {t for _, t, _ in out} == {None} and {m for _, _, m in out} == {4.0, 4.5, 5.0}
    with pytest.raises(SelectionError, match="events.event_type"):
        list(imap(evtype, legacy_url, {"event.event_type": "earthquake"}))


def test_orm_extras_inside_processing_functions(db):
    out = list(imap(with_orm, db, [1, 2]))
    session = P.get_session(db)
    try:
        for sid, sibs, labels, has_session, lat in out:
            seg = session.get(orm.Segment, sid)
            assert sibs == sorted(s.id for s in seg.siblings())
            assert labels == seg.classlabels and has_session
            assert lat == pytest.approx(seg.station.latitude, abs=1e-3)
    finally:
        P.close_session(session)
    assert R._SESSIONS == {}  # closed at the end of the run


# ---------------------------------------------------------------------------- process
@pytest.mark.parametrize("ext", ["csv", "h5", "parquet"])
def test_process_outputs_and_append(db, tmp_path, ext):
    out = tmp_path / f"out.{ext}"
    ids = expected_ids(db)
    CALLS.clear()
    first = process(record, db, {"id": "<=9", **get_default_segments_selection()},
                    outfile=str(out))
    assert sorted(CALLS) == sorted(i for i in ids if i <= 9) and first.written == len(CALLS)
    CALLS.clear()
    second = process(record, db, outfile=str(out), append=True)
    assert sorted(CALLS) == sorted(i for i in ids if i > 9)  # only the missing ones
    assert second.total == second.written == len(CALLS)
    df = read(out)
    assert list(df.columns) == ["segment_db_id", "id2", "seed", "npts"]
    assert sorted(df["segment_db_id"].to_list()) == sorted(ids)
    assert (df["id2"] == df["segment_db_id"] * 2).all()
    frame = s2sframe.scan(db).select("id", "seed_id").collect()
    seeds = dict(frame.iter_rows())
    assert [seeds[i] for i in df["segment_db_id"]] == df["seed"].to_list()
    CALLS.clear()
    third = process(record, db, outfile=str(out), append=True)
    assert CALLS == [] and third.total == 0 and read(out).height == len(ids)
    replaced = process(record, db, [ids[0]], outfile=str(out))  # no append: replaced
    assert replaced.written == 1 and read(out)["segment_db_id"].to_list() == [ids[0]]


def read(path: Path) -> pl.DataFrame:
    if path.suffix == ".csv":
        return pl.read_csv(path)
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    return pl.from_pandas(pd.read_hdf(path, "s2s_table"))


@pytest.mark.parametrize("ext", ["csv", "h5", "parquet"])
def test_process_rows_lists_and_none(db, tmp_path, ext):
    out = tmp_path / f"out.{ext}"
    res = process(skip_odd, db, outfile=str(out))
    ids = expected_ids(db)
    written = [i for i in ids if i % 2 == 0 and i % 3]
    assert (res.processed, res.skipped, res.written) == (
        len(ids) - len([i for i in ids if i % 2]), len([i for i in ids if i % 2]), len(written))
    assert sorted(read(out)["segment_db_id"].to_list()) == sorted(written)
    out2 = tmp_path / f"list.{ext}"
    process(as_list, db, [1, 2], outfile=str(out2))
    df = read(out2)
    assert list(df.columns) == ["segment_db_id", "0", "1"]
    assert sorted(df["0"].cast(pl.Int64).to_list()) == [1, 2]


def test_process_bad_return_type_names_the_segment(db, tmp_path):
    def scalar(segment, config):
        return 1.5

    with pytest.raises(TypeError, match="must return a dict.*segment 1") as info:
        process(scalar, db, [1], outfile=str(tmp_path / "o.parquet"))
    assert info.value.segment_id == 1


@pytest.mark.parametrize("ext", [".parquet", ".csv", ".hdf"])
def test_a_failed_run_writes_no_output_file_and_resumes_from_its_parts(db, tmp_path, ext):
    """A run that ends by raising leaves no output file that looks like a result (it
    was a 0-row file, with its manifest): its finished rows stay in the parts."""
    out = tmp_path / f"r{ext}"
    ids = expected_ids(db)
    with pytest.raises(ValueError):
        process(fail_at, db, config={"fail_at": ids[0]}, outfile=str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # nothing: no row was finished
    with pytest.raises(ValueError):
        process(fail_at, db, config={"fail_at": ids[7]}, outfile=str(out), chunksize=2)
    assert not out.exists()
    parts = sorted((tmp_path / f"r{ext}.parts").glob("part-*.parquet"))
    assert pl.read_parquet(parts)["segment_db_id"].to_list() == ids[:6]
    res = process(fail_at, db, config={"fail_at": -1}, outfile=str(out), append=True)
    assert res.total == len(ids) - 6
    assert not (tmp_path / f"r{ext}.parts").exists()


def test_parquet_resume_after_a_failure(db, tmp_path):
    out = tmp_path / "r.parquet"
    ids = expected_ids(db)
    with pytest.raises(ValueError):
        process(fail_at, db, config={"fail_at": ids[7]}, outfile=str(out), chunksize=2)
    assert not out.exists()
    kept = pl.read_parquet(list((tmp_path / "r.parquet.parts").glob("part-*.parquet")))
    assert sorted(kept["segment_db_id"].to_list()) == ids[:6]  # the batches done before
    res = process(fail_at, db, config={"fail_at": -1}, outfile=str(out), append=True)
    assert res.total == len(ids) - 6
    final = pl.read_parquet(out)
    assert sorted(final["segment_db_id"].to_list()) == sorted(ids)
    assert not (tmp_path / "r.parquet.parts").exists()


def test_logfile_true_and_writer_errors(db, tmp_path):
    out = tmp_path / "o.csv"
    res = process(seg_id_row, db, [1], outfile=str(out), logfile=True)
    assert res.logfile.startswith(str(out) + ".") and Path(res.logfile).is_file()
    assert "1 of 1 segment(s) successfully written" in Path(res.logfile).read_text()
    foreign = tmp_path / "foreign.csv"
    foreign.write_text("a,b\n1,2\n")
    with pytest.raises(BadInput, match="no segment_db_id column"):
        process(seg_id_row, db, [1], outfile=str(foreign), append=True)
    with pytest.raises(BadInput, match="Unknown output format '.xlsx'"):
        process(seg_id_row, db, [1], outfile=str(tmp_path / "o.xlsx"))
    with pytest.raises(s2sframe.OutputError, match="does not exist"):
        process(seg_id_row, db, [1], outfile=str(tmp_path / "no" / "o.csv"))
    with pytest.raises(s2sframe.OutputError, match="function: seg_id_row .* now"):
        process(lambda s, c: {"other": 1}, db, [2], outfile=str(out), append=True)
    (tmp_path / ".o.csv.s2s-manifest.json").unlink()  # as the message says: append anyway
    with pytest.raises(ValueError, match="not columns of"):
        process(lambda s, c: {"other": 1}, db, [2], outfile=str(out), append=True)


def seg_id_row(segment, config):
    return {"sid": segment.id}


# ----------------------------------------------------------------------- multi process
def test_multi_process_equals_single_process(db, tmp_path):
    ids = expected_ids(db)
    out = list(imap(with_orm, db, ids[:6], multi_process=2, chunksize=1))
    assert out == list(imap(with_orm, db, ids[:6]))
    single, multi = tmp_path / "s.parquet", tmp_path / "m.parquet"
    process(record, db, outfile=str(single))
    res = process(record, db, outfile=str(multi), multi_process=2, chunksize=3)
    assert res.written == len(ids)
    a = pl.read_parquet(single).sort("segment_db_id")
    b = pl.read_parquet(multi).sort("segment_db_id")
    assert a.equals(b)
    target = ids[4]
    with pytest.raises(ValueError, match=f"^bad value in {target}") as info:
        list(imap(fail_at, db, config={"fail_at": target}, multi_process=2))
    assert info.value.segment_id == target
    # the note: the segment and the traceback in the worker, the user's file and line
    # once, none of our frames (issue 8 item 16)
    (text,) = info.value.__notes__
    assert text.startswith(f"fail_at failed on segment {target}\n\nTraceback")
    line = inspect.getsource(fail_at).count("\n", 0, inspect.getsource(fail_at).index("raise"))
    where_ = f'File "{__file__}", line {fail_at.__code__.co_firstlineno + line}, in fail_at'
    assert text.count(where_) == 1 and text.count("Traceback") == 1, text
    package = os.path.dirname(s2sframe.__file__)  # no internal frame, wherever the clone is
    assert "<dynamic-code>" not in text and package not in text


def unpicklable_error(segment, config):
    import threading

    exc = ValueError("holds a lock")
    exc.lock = threading.Lock()  # cannot be pickled back from the worker
    raise exc


def test_an_exception_a_worker_cannot_send_back_is_a_processing_error(db):
    target = expected_ids(db)[0]
    with pytest.raises(ProcessingError, match=f"unpicklable_error failed on segment {target}: "
                       ".*ValueError: holds a lock") as info:
        list(imap(unpicklable_error, db, [target], multi_process=2))
    assert info.value.segment_id == target and "Traceback" in str(info.value)


# ---------------------------------------------------------------------------- writers
def test_csv_writer_nested_values_and_hdf_types(tmp_path):
    frame = pl.DataFrame({"segment_db_id": [1, 2], "v": [[1.0, 2.5], [3.0]],
                          "n": [1, None], "b": [True, False], "s": ["a", None]})
    w = _writers.get_writer(tmp_path / "x.csv")
    w.write(frame)
    w.close()
    assert (tmp_path / "x.csv").read_text().splitlines()[1] == '1,"[1.0, 2.5]",1,true,a'
    h = _writers.get_writer(tmp_path / "x.h5", options={"chunksize": 1})
    h.write(frame.drop("v"))
    h.write(frame.drop("v").with_columns(pl.col("segment_db_id") + 2))
    h.close()
    df = pd.read_hdf(tmp_path / "x.h5", "s2s_table")
    assert df["segment_db_id"].tolist() == [1, 2, 3, 4]
    assert str(df["segment_db_id"].dtype) == "int64" and str(df["n"].dtype) == "float64"
    again = _writers.get_writer(tmp_path / "x.h5", append=True)
    assert sorted(again.done_ids().to_list()) == [1, 2, 3, 4]
    again.close()


# ----------------------------------------------------------------------------- config
def test_yaml_load(tmp_path):
    cfg = tmp_path / "sub" / "c.yaml"
    cfg.parent.mkdir()
    cfg.write_text("dburl: sqlite:///db.sqlite\na: {b: 1, c: 1}\n")
    data = yaml_load(cfg, a={"c": 2, "d": 2})
    assert data["dburl"] == "sqlite:///" + str(cfg.parent / "db.sqlite")
    assert data["a"] == {"b": 1, "c": 2, "d": 2}
    cfg.write_text("dburl: sqlite:////abs/db.sqlite\n")
    assert yaml_load(cfg)["dburl"] == "sqlite:////abs/db.sqlite"
    cfg.write_text("dburl: postgresql://u:p@h/db\n")
    assert yaml_load(str(cfg))["dburl"] == "postgresql://u:p@h/db"
    assert yaml_load({"x": {"y": 1}}, z=2) == {"x": {"y": 1}, "z": 2}
    cfg.write_text("a: [1, 2\n")
    with pytest.raises(BadInput, match="invalid YAML"):
        yaml_load(cfg)
    cfg.write_text("- 1\n- 2\n")
    with pytest.raises(BadInput, match="must hold a mapping"):
        yaml_load(cfg)


def test_load_pyfunc(tmp_path):
    mod = tmp_path / "mymod.py"
    mod.write_text("def main(segment, config):\n    return 1\n\ndef one(x):\n    return x\n"
                   "def helper(segment, config):\n    return 2\n")
    assert _config.load_pyfunc(mod)(None, None) == 1
    assert _config.load_pyfunc(mod, "helper")(None, None) == 2
    with pytest.raises(BadInput, match="'nope' not found .*functions found: helper, main, one"):
        _config.load_pyfunc(mod, "nope")
    with pytest.raises(BadInput, match="must accept two arguments"):
        _config.load_pyfunc(mod, "one")
    (tmp_path / "broken.py").write_text("import not_a_module_xyz\n")
    with pytest.raises(BadInput, match="ModuleNotFoundError"):
        _config.load_pyfunc(tmp_path / "broken.py")


def test_docstring_examples():
    for module in (_config, _writers, cli_common, API, R, _copy, ORM):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__


def test_public_names_of_the_stream2segment_api(db, tmp_path):
    wanted = {"imap", "process", "map", "get_segments", "get_db_items", "get_session",
              "close_session", "yaml_load", "SkipSegment", "load_only", "Segment", "Event",
              "Station", "Channel", "DataCenter", "Download", "Class", "WebService",
              "ClassLabelling"}
    helpers = {"ProcessResult", "get_classlabels", "get_db_items_count",
               "get_default_segments_selection", "load_ints_from_txt", "save_ints_to_txt"}
    assert set(P.__all__) == wanted | helpers
    namespace: dict = {}
    exec("from s2sframe.process import *", namespace)  # noqa: S102
    assert set(namespace) - {"__builtins__"} == set(P.__all__)
    for name in P.__all__:
        obj = getattr(P, name)
        assert callable(obj) and obj.__module__.startswith("s2sframe."), name
        assert obj is getattr(API, name), name  # one object, re-exported
    assert P.map is P.process and P.SkipSegment is s2sframe.SkipSegment
    assert P.get_db_items_count(db, orm.Segment) == len(s2sframe.scan(db).collect())
    assert P.get_db_items_count(db, orm.Event, {"magnitude": ">100"}) == 0
    path = tmp_path / "ids.txt"
    P.save_ints_to_txt(path, np.array([5, 2, 9]))
    assert P.load_ints_from_txt(path) == [5, 2, 9]
    assert sorted(imap(seg_id, db, P.load_ints_from_txt(path))) == [2, 5, 9]
