"""Shared fixtures: a database written by stream2segment (../shared/fixtures) and PostgreSQL.

PostgreSQL runs on 127.0.0.1:5432 (user postgres, trust auth) unless
``S2S_TEST_PGURL`` says otherwise. Tests create and drop their own databases.
When ``CI`` is set and the server is unreachable, PostgreSQL tests fail instead
of being skipped.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlalchemy.orm

from tests import smalldb

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
EXAMPLE_DB = FIXTURES / "example.db.sqlite"
PG_ADMIN_URL = os.environ.get("S2S_TEST_PGURL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytest_plugins = ["tests.hangwatch"]


def example_stationxml() -> list[tuple[str, bytes]]:
    """``("NET.STA", decompressed StationXML)`` of every station of the example database
    that has one (real GEOFON documents), in id order; [] without the fixtures."""
    if not EXAMPLE_DB.is_file():
        return []
    import gzip
    import sqlite3

    query = ("SELECT network || '.' || station, inventory_xml FROM stations "
             "WHERE inventory_xml IS NOT NULL ORDER BY id")
    with contextlib.closing(sqlite3.connect(f"file:{EXAMPLE_DB}?mode=ro", uri=True)) as con:
        return [(name, gzip.decompress(blob)) for name, blob in con.execute(query)]


@contextlib.contextmanager
def popen(args: list[str], env: dict[str, str], **kwargs) -> Iterator[subprocess.Popen]:
    """A subprocess (in the project folder, stderr piped; ``kwargs`` go to Popen) that is
    killed if the test fails while it runs."""
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE, **kwargs)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


@pytest.fixture(scope="session")
def example_db() -> Path:
    """Path of a database written by stream2segment itself (read-only, never copied here).

    Only for tests whose point is compatibility with what stream2segment wrote (its
    schema, real GEOFON miniSEED and StationXML, its derived values); every other test
    builds its database with :mod:`s2sframe.testing`.
    """
    return stream2segment_database(EXAMPLE_DB)


def stream2segment_database(path: Path) -> Path:
    """``path``, or skip the test saying what the file is and why it is missing."""
    if not path.is_file():
        pytest.skip(f"{path} not found: this file is a database written by stream2segment "
                    "itself (real GEOFON data), which this repository does not ship; the "
                    "tests of compatibility with it are skipped (see README.md)")
    return path


@pytest.fixture(scope="session")
def example_url(example_db: Path) -> str:
    return "sqlite:///" + str(example_db)


@pytest.fixture(scope="session")
def pg_admin() -> sa.engine.Engine:
    """Engine on the PostgreSQL maintenance database (AUTOCOMMIT)."""
    engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
    except Exception as exc:  # noqa: BLE001
        msg = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {str(exc).splitlines()[0]}"
        if IN_CI:
            pytest.fail(msg + " (CI=true: PostgreSQL tests must run)")
        pytest.skip(msg)
    return engine


def _drop(admin: sa.engine.Engine, name: str) -> None:
    with admin.connect() as conn:
        conn.execute(
            sa.text(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = :n and pid <> pg_backend_pid()"
            ),
            {"n": name},
        )
        conn.execute(sa.text(f'drop database if exists "{name}"'))


@pytest.fixture
def pg_url_factory(pg_admin: sa.engine.Engine) -> Iterator[Callable[[], str]]:
    """Factory of fresh, empty PostgreSQL databases; all dropped at teardown."""
    created: list[str] = []

    def make() -> str:
        name = "s2stest_" + uuid.uuid4().hex[:12]
        with pg_admin.connect() as conn:
            conn.execute(sa.text(f'create database "{name}"'))
        created.append(name)
        return pg_admin.url.set(database=name).render_as_string(hide_password=False)

    yield make
    sa.orm.close_all_sessions()
    for name in created:
        _drop(pg_admin, name)


@pytest.fixture
def sqlite_url_factory(tmp_path: Path) -> Callable[[], str]:
    """Factory of fresh SQLite database URLs in a temporary folder."""
    counter = iter(range(10**6))

    def make() -> str:
        return "sqlite:///" + str(tmp_path / f"db{next(counter)}.sqlite")

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url_factory(request: pytest.FixtureRequest) -> Callable[[], str]:
    """Factory of fresh empty databases, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url_factory")
    return request.getfixturevalue("pg_url_factory")


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def new_pg_database(request: pytest.FixtureRequest) -> str:
    """URL of a new empty PostgreSQL database, dropped at the teardown of ``request``."""
    admin = request.getfixturevalue("pg_admin")
    name = "s2stest_" + uuid.uuid4().hex[:12]
    with admin.connect() as conn:
        conn.execute(sa.text(f'create database "{name}"'))

    def drop() -> None:
        sa.orm.close_all_sessions()
        _drop(admin, name)

    request.addfinalizer(drop)
    return admin.url.set(database=name).render_as_string(hide_password=False)


def _make(request: pytest.FixtureRequest, tmp_path_factory, legacy: bool) -> str:
    if request.param == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "small.sqlite")
    else:
        url = new_pg_database(request)
    smalldb.build(url, legacy=legacy).dispose()
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def small_url(request, tmp_path_factory) -> str:
    return _make(request, tmp_path_factory, legacy=False)


@pytest.fixture(scope="module", params=BACKENDS)
def legacy_url(request, tmp_path_factory) -> str:
    return _make(request, tmp_path_factory, legacy=True)


@pytest.fixture(scope="module")
def demo_server(request: pytest.FixtureRequest):
    """The demo FDSN server of a test module: ``fdsn_server(**DEMO_SERVER)`` (a dict the
    module defines), for the whole module."""
    from s2sframe.testing.fdsn_server import fdsn_server

    with fdsn_server(**getattr(request.module, "DEMO_SERVER", {})) as srv:
        yield srv


@pytest.fixture
def demo(demo_server):
    """:func:`demo_server` without injected faults before and after the test."""
    demo_server.clear_faults()
    yield demo_server
    demo_server.clear_faults()
