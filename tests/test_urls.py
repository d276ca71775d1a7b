"""Database URLs: passwords masked everywhere, however given; engines made in one place."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest
import sqlalchemy as sa

import s2sframe
from s2sframe.db import urls as _db
from s2sframe.testing import make_database
from tests.conftest import ROOT

SECRET = "Qu3ryS3cret"


@pytest.mark.parametrize("url, masked", [
    ("postgresql://me:pw@h/db", "postgresql://me:***@h/db"),
    (f"postgresql://me@h/db?password={SECRET}", "postgresql://me@h/db?password=***"),
    (f"postgresql://me@h/db?password={SECRET}&sslmode=require&x=1",
     "postgresql://me@h/db?password=***&sslmode=require&x=1"),
    (f"postgresql://me@h/db?sslpassword={SECRET}", "postgresql://me@h/db?sslpassword=***"),
    (f"postgresql://me@h/db?PASSWORD={SECRET}", "postgresql://me@h/db?PASSWORD=***"),
])
def test_mask_url(url, masked):
    assert _db.mask_url(url) == masked
    assert _db.mask_url(sa.make_url(url)) == masked
    assert _db.mask_text(f"error on {url} (boom)") == f"error on {masked} (boom)"


def test_query_password_becomes_the_url_password():
    url = _db.parse_url(f"postgresql://me@h/db?password={SECRET}&sslmode=require")
    assert url.password == SECRET and dict(url.query) == {"sslmode": "require"}
    for text in (repr(url), str(url), _db.mask_url(url)):
        assert SECRET not in text and "me:***@h/db" in text
    # the query one wins, as in SQLAlchemy's drivers
    assert _db.parse_url(f"postgresql://me:other@h/db?password={SECRET}").password == SECRET
    # connectorx is given the password too (it ignores the query)
    assert f"me:{SECRET}@h" in _db.cx_url(url)


def test_mask_text_of_conninfo_and_driver_errors():
    text = f"connection to server failed: host=h password={SECRET} user=me"
    assert SECRET not in _db.mask_text(text)
    url = _db.parse_url(f"postgresql://me@h/db?password={SECRET}")
    assert _db.mask_text(f'FATAL: role "{SECRET}" x', url) == 'FATAL: role "***" x'


def test_unreachable_server_with_query_password():
    url = f"postgresql://someone@127.0.0.1:1/nodb?password={SECRET}"
    with pytest.raises(s2sframe.DatabaseError) as info:
        s2sframe.scan(url)
    assert SECRET not in str(info.value) and "someone:***@127.0.0.1:1/nodb" in str(info.value)
    from s2sframe.process import get_session

    for call in (lambda: get_session(url), lambda: get_session(url, pool_size=1),
                 lambda: s2sframe.copy_database(url, "sqlite:///nowhere.sqlite")):
        with pytest.raises(s2sframe.DatabaseError) as info:
            call()
        assert SECRET not in str(info.value) and "***" in str(info.value)


def test_invalid_urls_are_masked():
    with pytest.raises(s2sframe.DatabaseError) as info:
        s2sframe.scan(f"me:{SECRET}@host/db")
    assert SECRET not in str(info.value)
    with pytest.raises(s2sframe.DatabaseError) as info:
        s2sframe.scan(f"mysql://me@host/db?password={SECRET}")
    assert SECRET not in str(info.value) and "mysql://me:***@host/db" in str(info.value)


@pytest.mark.postgres
def test_query_password_masked_everywhere(pg_url_factory, tmp_path):
    """Trust auth ignores the password: the database is really read with it in the URL."""
    url = sa.make_url(pg_url_factory()).render_as_string(hide_password=False)
    url += f"?password={SECRET}"
    make_database(url, events=1, stations=1, seed=3)
    lf = s2sframe.scan(url)
    assert lf.select("id").collect().height > 0  # connectorx read it
    texts = [lf.explain(), s2sframe.explain(lf.select("id")), repr(lf)]
    with pytest.raises(ValueError) as info:  # already holds data
        make_database(url, events=1, stations=1)
    texts.append(str(info.value))
    with pytest.raises(s2sframe.DatabaseError) as info:
        s2sframe.copy_database(url, url)
    texts.append(str(info.value))
    from s2sframe.process import close_session, get_session

    session = get_session(url)
    texts += [repr(session.get_bind()), repr(session.get_bind().url)]
    close_session(session)
    for text in texts:
        assert SECRET not in text, text
    assert "password" not in texts[0] or "password=***" in texts[0]

    # the s2s command: output and log
    (tmp_path / "p.py").write_text("def main(segment, config):\n    return {'x': segment.id}\n")
    out = tmp_path / "o.parquet"
    proc = subprocess.run(
        [sys.executable, "-m", "s2sframe.cli", "process", "-d", url, "-p", tmp_path / "p.py",
         "--logfile", tmp_path / "run.log", out],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert pl.read_parquet(out).height > 0
    log = (tmp_path / "run.log").read_text()
    assert "***" in log
    assert SECRET not in proc.stdout + proc.stderr + log


def test_sqlite_engines_enforce_foreign_keys(tmp_path):
    """Every engine s2sframe makes on SQLite has foreign keys on (one factory)."""
    url = "sqlite:///" + str(tmp_path / "a.sqlite")
    make_database(url, events=1, stations=1, metadata_only=True)
    from s2sframe.process import close_session, get_session

    session = get_session(url, echo=False)  # engine_args: a new engine
    engines = [_db.get_engine(url), _db.get_engine(url, readonly=True), session.get_bind()]
    for engine in engines:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(sa.exc.IntegrityError):
        with session.get_bind().begin() as conn:
            conn.exec_driver_sql("INSERT INTO channels (id, station_id, location, channel, "
                                 "sample_rate) VALUES (999, 12345, '', 'HHZ', 100)")
    close_session(session)
