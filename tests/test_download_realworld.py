"""`s2s download` on real-world shapes the demo FDSN server produces on request (station
epochs, routing rules below network level, damaged records, ISF catalogs, bad catalog
lines) and on databases stream2segment wrote (explicit ids, its storage forms), on SQLite
and PostgreSQL. Each test fails on the code before these shapes were handled."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from s2sframe.db import schema
from s2sframe.download import download
from s2sframe.testing import make_database
from s2sframe.testing.fdsn_server import fdsn_server


@pytest.fixture(scope="module")
def server():
    with fdsn_server(events=3, stations=7, datacenters=2, seed=3) as srv:
        yield srv


def _config(server, dburl: str, **kw) -> dict:
    cfg = {"dburl": dburl, "starttime": "2021-01-01", "endtime": "2021-02-01",
           "events_url": server.event_url, "data_url": server.dataselect_urls,
           "channel": ["HH?", "BH?"], "search_radius": {"min": 0, "max": 8},
           "time_window": [-1, 3], "inventory": False,
           "advanced_settings": {"max_retries": 1, "backoff": 0.05, "w_timeout": 5}}
    cfg.update(kw)
    return cfg


def _count(url: str, table: str) -> int:
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        n = conn.execute(sa.text(f'select count(*) from "{table}"')).scalar()
    eng.dispose()
    return int(n)


def _stale_sequences(url: str) -> None:
    """Put every id sequence back to 1, where stream2segment leaves them (PostgreSQL)."""
    eng = sa.create_engine(url)
    if eng.dialect.name == "postgresql":
        with eng.begin() as conn:
            for t in schema.TABLE_ORDER:
                conn.execute(sa.text(f"select setval(pg_get_serial_sequence('\"{t}\"', 'id'), "
                                     "1, false)"))
    eng.dispose()


# ------------------------------------------------------------------ 1. explicit ids
def test_extends_a_database_whose_sequences_stream2segment_left_at_1(server, db_url_factory):
    url = db_url_factory()
    counts = make_database(url, events=3, stations=2, seed=4, metadata_only=True,
                           stale_sequences=True)
    report = download(_config(server, url, channel="HHZ"))
    assert report.segments > 0 and report.download_id == counts["downloads"] + 1
    assert _count(url, "segments") == counts["segments"] + report.segments
    # stream2segment wrote to the s2sframe database since: its sequences are stale again
    _stale_sequences(url)
    again = download(_config(server, url))  # more channels: new stations rows, segments
    assert again.segments > 0 and again.download_id == report.download_id + 1
    assert _count(url, "segments") == counts["segments"] + report.segments + again.segments
    eng = sa.create_engine(url)
    with eng.connect() as conn:
        dupes = conn.execute(sa.text("select count(*) from (select channel_id, event_id from "
                                     "segments group by channel_id, event_id having "
                                     "count(*) > 1) d")).scalar()
    eng.dispose()
    assert dupes == 0


@pytest.mark.postgres
def test_sequences_advanced_under_a_lock_with_concurrent_writers(pg_url_factory):
    """A program inserting explicit ids while another moves the sequences: the second
    waits for the first's commit, then moves past the ids it wrote."""
    url = pg_url_factory()
    eng = sa.create_engine(url)
    schema.create_all(eng)
    ws = schema.web_services
    first = eng.connect()
    first.begin()
    assert schema.advance_sequences(first) == {}
    first.execute(ws.insert().values(id=7, url="explicit", type="event"))  # stream2segment
    moved: dict = {}

    def other() -> None:
        with eng.begin() as conn:
            moved.update(schema.advance_sequences(conn))
            conn.execute(ws.insert().values(url="default id", type="event"))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # waiting for the lock
    first.commit()
    first.close()
    thread.join(30)
    assert not thread.is_alive() and moved == {"web_services": 7}
    with eng.connect() as conn:
        assert conn.execute(sa.select(ws.c.id).order_by(ws.c.id)).scalars().all() == [7, 8]
    eng.dispose()
