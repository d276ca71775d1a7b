"""Long runs against a PostgreSQL server that misbehaves: disconnects, restarts, connection limits.

The faults are real: the workers talk to the server through a TCP proxy on 127.0.0.1
(tests/tcpproxy.py) that drops or cuts connections, or as a role whose CONNECTION
LIMIT is lower than the number of workers.
"""

from __future__ import annotations

import time
import uuid

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

import s2sframe
from s2sframe.db.urls import WORKER_APPLICATION_NAME
from s2sframe.process import imap
from s2sframe.testing import make_database
from tests.conftest import new_pg_database
from tests.tcpproxy import Proxy

pytestmark = pytest.mark.postgres


def peak(segment) -> dict:
    return {"peak": float(np.abs(segment.stream()[0].data).max())}


def peak2(segment, config) -> float:
    return float(np.abs(segment.stream()[0].data).max())


@pytest.fixture(scope="module")
def pg_db(request) -> str:
    url = new_pg_database(request)
    make_database(url, events=4, stations=3, channels_per_station=2)
    return url


@pytest.fixture
def proxy(pg_db):
    url = make_url(pg_db)
    p = Proxy((url.host or "127.0.0.1", url.port or 5432))
    yield p, url.set(host="127.0.0.1", port=p.port).render_as_string(hide_password=False)
    p.close()


@pytest.fixture(scope="module")
def expected(pg_db) -> pl.DataFrame:
    df = s2sframe.scan(pg_db).filter(pl.col("has_valid_data")).select("id").collect()
    out = s2sframe.map_segments(df, peak, workers=0, progress=False, dburl=pg_db)
    assert out["s2s_error"].null_count() == out.height > 10
    return out


def test_reads_cut_mid_result_are_retried(proxy, expected):
    p, url = proxy
    df = s2sframe.scan(url).filter(pl.col("has_valid_data")).select("id").collect()
    p.cut_next(3, after=2000)  # the next 3 connections die while the result streams
    out = s2sframe.map_segments(df, peak, workers=2, chunksize=4, progress=False, dburl=url)
    assert p.cut == 3
    assert out.equals(expected)


def test_server_down_for_a_while_is_retried(proxy, expected):
    p, url = proxy
    df = s2sframe.scan(url).filter(pl.col("has_valid_data")).select("id").collect()
    p.drop_next(4)  # the next 4 connection attempts find no server
    out = s2sframe.map_segments(df, peak, workers=2, chunksize=4, progress=False, dburl=url)
    assert p.dropped == 4
    assert out.equals(expected)


def test_unreachable_through_every_retry_records_the_chunk_and_goes_on(
    proxy, expected, monkeypatch
):
    p, url = proxy
    monkeypatch.setenv("S2S_DB_RETRIES", "2")
    df = s2sframe.scan(url).filter(pl.col("has_valid_data")).select("id").collect()
    p.drop_next(2)  # both attempts of the first chunk (one worker: in order)
    out = s2sframe.map_segments(df, peak, workers=0, chunksize=4, progress=False, dburl=url)
    failed = out.filter(pl.col("s2s_error").is_not_null())
    assert 1 <= failed.height <= 4  # one chunk (chunks are grouped by station)
    assert all(e.startswith("database read failed:") for e in failed["s2s_error"])
    assert "password" not in " ".join(failed["s2s_error"])
    rest = out.filter(pl.col("s2s_error").is_null())
    assert rest.equals(expected.filter(pl.col("id").is_in(rest["id"].to_list())))
    assert rest.height == df.height - failed.height


def _sessions(admin: sa.engine.Engine, dbname: str) -> list[tuple[str, str]]:
    with admin.connect() as conn:
        return conn.execute(
            sa.text(
                "select coalesce(application_name, ''), coalesce(state, '') "
                "from pg_stat_activity where datname = :d and pid <> pg_backend_pid()"
            ),
            {"d": dbname},
        ).all()


def test_workers_hold_no_connection_after_a_run(pg_db, pg_admin, expected):
    dbname = make_url(pg_db).database
    df = s2sframe.scan(pg_db).filter(pl.col("has_valid_data")).select("id").collect()
    out = s2sframe.map_segments(df, peak, workers=2, chunksize=4, progress=False, dburl=pg_db)
    assert out.equals(expected)
    rows = list(imap(peak2, pg_db, {"has_valid_data": "true"}, multi_process=2, chunksize=4))
    assert sorted(rows) == sorted(expected["peak"].to_list())
    # a closed connection's server process exits a moment after the client hung up:
    # wait (bounded) for that; a connection a worker kept open would stay listed
    worker = [s for s in _sessions(pg_admin, dbname) if s[0] == WORKER_APPLICATION_NAME]
    deadline = time.monotonic() + 10
    while worker and time.monotonic() < deadline:
        time.sleep(0.05)
        worker = [s for s in _sessions(pg_admin, dbname) if s[0] == WORKER_APPLICATION_NAME]
    assert worker == []
    sessions = _sessions(pg_admin, dbname)
    assert [s for s in sessions if s[1].startswith("idle in transaction")] == []


def test_more_workers_than_the_role_may_open_connections(pg_db, pg_admin, expected):
    role = "s2slimited_" + uuid.uuid4().hex[:8]
    dbname = make_url(pg_db).database
    with pg_admin.connect() as conn:
        conn.execute(sa.text(f'create role "{role}" login connection limit 3'))
        conn.execute(sa.text(f'grant connect on database "{dbname}" to "{role}"'))
    owner = sa.create_engine(pg_db, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(sa.text(f'grant select on all tables in schema public to "{role}"'))
    owner.dispose()
    try:
        url = make_url(pg_db).set(username=role).render_as_string(hide_password=False)
        df = s2sframe.scan(url).filter(pl.col("has_valid_data")).select("id").collect()
        out = s2sframe.map_segments(df, peak, workers=8, chunksize=2, progress=False, dburl=url)
        assert out.equals(expected)
    finally:
        s2sframe.shutdown_workers()
        with pg_admin.connect() as conn:
            conn.execute(
                sa.text("select pg_terminate_backend(pid) from pg_stat_activity where usename = :r"),
                {"r": role},
            )
            conn.execute(sa.text(f'revoke connect on database "{dbname}" from "{role}"'))
        owner = sa.create_engine(pg_db, isolation_level="AUTOCOMMIT")
        with owner.connect() as conn:
            conn.execute(sa.text(f'drop owned by "{role}"'))  # its grants on the tables
        owner.dispose()
        with pg_admin.connect() as conn:
            conn.execute(sa.text(f'drop role "{role}"'))


def test_retry_module_examples():
    import doctest

    from s2sframe.db import retry

    result = doctest.testmod(retry)
    assert result.failed == 0 and result.attempted >= 5


def siblings_count(segment, config) -> int:
    return segment.siblings().count()  # a query in the worker's ORM session


def test_orm_sessions_of_workers_end_with_each_segment(pg_db, pg_admin):
    dbname = make_url(pg_db).database
    rows = list(imap(siblings_count, pg_db, {"has_valid_data": "true"}, multi_process=2,
                     chunksize=4))
    assert len(rows) > 10 and all(isinstance(r, int) for r in rows)
    sessions = _sessions(pg_admin, dbname)
    assert [s for s in sessions if s[1].startswith("idle in transaction")] == []
