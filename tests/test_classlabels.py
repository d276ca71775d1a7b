"""Class labels written by concurrent clients (issue 19 §6): setting a label that is there
is a success, on SQLite and PostgreSQL, with real concurrent writers."""

from __future__ import annotations

import concurrent.futures as cf
import os
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from s2sframe.db import classlabels as CL
from s2sframe.db import schema as S
from s2sframe.testing import make_database
from tests.conftest import BACKENDS, ROOT, new_pg_database

ROUNDS = 5


@pytest.fixture(params=BACKENDS)
def url(request, tmp_path) -> str:
    db = ("sqlite:///" + str(tmp_path / "labels.sqlite") if request.param == "sqlite"
          else new_pg_database(request))
    make_database(db, events=2, stations=2, seed=4)
    return db


def _segments(url: str) -> list[int]:
    with CL._engine(url, readonly=True).connect() as conn:
        return [r[0] for r in conn.execute(sa.select(S.segments.c.id).order_by(S.segments.c.id)
                                           .limit(4))]


def label_rounds(url: str, class_id: int, segments: list[int], value: bool,
                 barrier: threading.Barrier | None = None) -> list[int]:
    """Set (or remove) the label of every segment, ROUNDS times; the counts returned."""
    engine = CL._engine(url)
    if barrier is not None:
        barrier.wait()
    return [CL.set_label(engine, sid, class_id, value, annotator="t")
            for _ in range(ROUNDS) for sid in segments]


def _labelled(url: str, class_id: int) -> list[tuple[int, int]]:
    cl = S.class_labellings
    with CL._engine(url, readonly=True).connect() as conn:
        return sorted(conn.execute(sa.select(cl.c.segment_id, sa.func.count())
                                   .where(cl.c.class_id == class_id)
                                   .group_by(cl.c.segment_id)))


#: A writer process: imports, says it is ready, waits for "go", then sets (argv[3] == "1")
#: or removes the labels of the segments argv[5:] argv[4] times.
WRITER = """
import sys, threading
from pathlib import Path
from s2sframe.db import classlabels as CL
url, folder, value, rounds, *ids = sys.argv[1:]
engine = CL._engine(url)
Path(folder, f"ready-{value}").touch()
while not Path(folder, "go").exists():
    threading.Event().wait(0.005)
for _ in range(int(rounds)):
    for sid in ids:
        CL.set_label(engine, int(sid), int(Path(folder, "class").read_text()), value == "1")
"""


def test_concurrent_writers_setting_the_same_labels_all_succeed(url, tmp_path):
    """Threads and processes set (and remove) the same labels at the same time: every
    call succeeds, each label is there once."""
    class_id = CL.add_class(url, "busy")
    (tmp_path / "class").write_text(str(class_id))
    segments = _segments(url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, url, str(tmp_path), value,
                                 str(ROUNDS), *map(str, segments)], env=env, stderr=subprocess.PIPE,
                                text=True) for value in ("1", "0")]
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < 2:
            assert all(w.poll() is None for w in writers), [w.communicate() for w in writers]
            assert time.monotonic() < deadline
            threading.Event().wait(0.01)
        barrier = threading.Barrier(6, action=(tmp_path / "go").touch)
        with cf.ThreadPoolExecutor(6) as pool:  # each thread with its connection
            futures = [pool.submit(label_rounds, url, class_id, segments, True, barrier)
                       for _ in range(6)]
            counts = [c for f in futures for c in f.result()]
        for writer in writers:
            _, err = writer.communicate(timeout=120)
            assert writer.returncode == 0, err
    finally:
        for writer in writers:
            if writer.poll() is None:
                writer.kill()
                writer.communicate()
    assert set(counts) <= set(range(len(segments) + 1))
    assert CL.set_label(url, segments[0], class_id, True) == len(_labelled(url, class_id))
    assert all(n == 1 for _, n in _labelled(url, class_id))


@pytest.mark.parametrize("backend", BACKENDS)
def test_labels_written_on_a_database_whose_sequences_stream2segment_left_behind(
        backend, request, tmp_path):
    """stream2segment writes explicit ids and leaves the id sequences at 1 (PostgreSQL):
    new classes and labels, from the viewer's writer and from the ORM, still get new ids
    (before: IntegrityError, and set_label's insert skipped the label silently)."""
    from s2sframe.process import Class, Segment, close_session, get_session

    db = ("sqlite:///" + str(tmp_path / "stale.sqlite") if backend == "sqlite"
          else new_pg_database(request))
    make_database(db, events=2, stations=2, seed=4, stale_sequences=True)
    cl = S.class_labellings
    with CL._engine(db, readonly=True).connect() as conn:
        top_class = conn.execute(sa.select(sa.func.max(S.classes.c.id))).scalar_one()
        labelled = conn.execute(sa.select(sa.func.count()).select_from(cl)).scalar_one()
    assert top_class and labelled  # ids 1.. are taken in both tables
    cid = CL.add_class(db, "Stale", "added after stream2segment")
    assert cid == top_class + 1
    sids = _segments(db)
    assert [CL.set_label(db, sid, cid, True, annotator="t") for sid in sids] == \
        list(range(1, len(sids) + 1))
    session = get_session(db)
    try:
        session.add(Class(label="FromOrm", description="via the ORM"))
        session.commit()
        orm_class = session.query(Class).filter(Class.label == "FromOrm").one().id
        seg = session.query(Segment).filter(Segment.id == sids[0]).one()
        seg.add_classlabel(orm_class, annotator="me")
        assert "FromOrm" in seg.classlabels
    finally:
        close_session(session)
    assert orm_class == cid + 1
    assert _labelled(db, cid) == [(sid, 1) for sid in sids]
    assert _labelled(db, orm_class) == [(sids[0], 1)]
    with CL._engine(db, readonly=True).connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(cl)).scalar_one() == \
            labelled + len(sids) + 1
