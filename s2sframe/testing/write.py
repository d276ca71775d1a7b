"""Writers of :mod:`s2sframe.testing`: table creation (current or legacy layout) and
bulk inserts into SQLite (executemany) or PostgreSQL (COPY).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL

from ..db.schema import TABLE_ORDER, create_all, metadata, sequence_reset_sql
from ..db.urls import check_exists, create_engine, error_line, is_sqlite, mask_url
from ..exceptions import DatabaseError
from .waveforms import _Waveforms

if TYPE_CHECKING:
    from .plan import _Plan


# --------------------------------------------------------------------------- writing

_TS_FORMAT = "%Y-%m-%d %H:%M:%S%.6f"  # SQLAlchemy's SQLite DATETIME storage format


class _Writer:
    """Bulk inserts through the raw DBAPI connection (SQLite executemany, PostgreSQL COPY)."""

    def __init__(self, engine: sa.engine.Engine, *, unjournaled: bool = False,
                 stale_sequences: bool = False) -> None:
        self.engine = engine
        self.stale_sequences = stale_sequences  # leave the id sequences as stream2segment does
        self.unjournaled = unjournaled  # SQLite file holding only our tables: no journal
        self.sqlite = engine.dialect.name == "sqlite"
        self.postgres = engine.dialect.name == "postgresql"

    def __enter__(self) -> _Writer:
        self.raw = self.engine.raw_connection()
        self.cur = self.raw.cursor()
        if self.sqlite and self.unjournaled:  # a crash could corrupt the file: only ours in it
            self.cur.execute("PRAGMA journal_mode=OFF")
            self.cur.execute("PRAGMA synchronous=OFF")
        # COPY FROM STDIN: psycopg 3 (SQLAlchemy 2.1's default) has cursor.copy(),
        # psycopg2 cursor.copy_expert(); other drivers get executemany.
        self.copy = self.postgres and (
            hasattr(self.cur, "copy") or hasattr(self.cur, "copy_expert")
        )
        self.placeholder = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        return self

    def insert(self, table: str, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        cols = ", ".join(f'"{c}"' for c in frame.columns)
        if self.copy:
            hexa = [  # bytea input format: \\x then hex digits
                pl.concat_str([pl.lit("\\x"), pl.col(c).bin.encode("hex")]).alias(c)
                for c, dtype in frame.schema.items()
                if dtype == pl.Binary
            ]
            text = frame.with_columns(pl.col(pl.Datetime).dt.strftime(_TS_FORMAT), *hexa).write_csv(
                include_header=False
            )
            sql = f'COPY "{table}" ({cols}) FROM STDIN WITH (FORMAT csv)'
            if hasattr(self.cur, "copy_expert"):  # psycopg2
                self.cur.copy_expert(sql, io.StringIO(text))
            else:  # psycopg 3
                with self.cur.copy(sql) as copy:
                    copy.write(text)
            return
        if self.sqlite:
            frame = frame.with_columns(
                pl.col(pl.Datetime).dt.strftime(_TS_FORMAT), pl.col(pl.Boolean).cast(pl.Int64)
            )
        marks = ", ".join([self.placeholder] * frame.width)
        rows = list(zip(*(s.to_list() for s in frame.iter_columns()), strict=True))
        self.cur.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', rows)

    @contextmanager
    def bulk_load(self, table: str) -> Iterator[None]:
        """Load ``table`` with its FOREIGN KEY and UNIQUE constraints lifted (PostgreSQL).

        They are restored identically (same names and definitions) at the end of the
        block, in the same transaction, validating all rows at once: several times
        faster than checking row by row. On error the transaction rolls back.
        """
        if not self.postgres:
            yield
            return
        self.cur.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            f"WHERE conrelid = '\"{table}\"'::regclass AND contype IN ('u', 'f') "
            "ORDER BY contype DESC, conname"
        )
        constraints = self.cur.fetchall()
        for name, _ in constraints:
            self.cur.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
        yield
        for name, definition in constraints:  # UNIQUE first, then FOREIGN KEYs
            self.cur.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')

    def finish(self, tables: list[str]) -> None:
        if self.postgres and not self.stale_sequences:  # explicit ids were written: move
            # the id sequences past them (stream2segment does not: they stay at 1)
            for t in tables:
                self.cur.execute(sequence_reset_sql(t))
        self.raw.commit()
        if self.postgres:  # planner statistics now, not when autovacuum gets to it
            self.cur.execute("ANALYZE " + ", ".join(f'"{t}"' for t in tables))
            self.raw.commit()

    def __exit__(self, exc_type: object, *_: object) -> None:
        try:
            if exc_type is not None:
                self.raw.rollback()
        finally:
            self.cur.close()
            self.raw.close()


def _chunks(height: int, size: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, height, size):
        yield lo, min(lo + size, height)


def _write(writer: _Writer, plan: _Plan, *, metadata_only: bool, legacy: bool) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name in TABLE_ORDER:
        frame = plan.tables[name]
        if name == "events" and legacy:
            frame = frame.drop("event_type")
        if name == "stations":
            xml = [
                plan.inventory_xml(i) if (ok and not metadata_only) else None
                for i, ok in enumerate(plan.sta_has_inventory.tolist())
            ]
            frame = frame.with_columns(inventory_xml=pl.Series(xml, dtype=pl.Binary))
        if name == "segments":
            _write_segments(writer, plan, frame, metadata_only=metadata_only)
        else:
            for lo, hi in _chunks(frame.height, 100_000):
                writer.insert(name, frame.slice(lo, hi - lo))
        counts[name] = frame.height
    writer.finish(list(TABLE_ORDER))
    return counts


def _write_segments(
    writer: _Writer, plan: _Plan, frame: pl.DataFrame, *, metadata_only: bool
) -> None:
    with writer.bulk_load("segments"):
        if metadata_only:
            frame = frame.with_columns(data=pl.lit(None, dtype=pl.Binary))
            for lo, hi in _chunks(frame.height, 100_000):
                writer.insert("segments", frame.slice(lo, hi - lo))
            return
        make = _Waveforms(plan)
        for lo, hi in _chunks(frame.height, 1000):
            blobs = pl.Series([make(i) for i in range(lo, hi)], dtype=pl.Binary)
            writer.insert("segments", frame.slice(lo, hi - lo).with_columns(data=blobs))


# --------------------------------------------------------------------------- database setup


def _legacy_metadata() -> sa.MetaData:
    """The stream2segment tables as written before ``events.event_type`` existed."""
    md = sa.MetaData()
    for name in TABLE_ORDER:
        table = metadata.tables[name]
        if name != "events":
            table.to_metadata(md)
            continue
        columns = [
            sa.Column(
                c.name,
                c.type,
                *(
                    sa.ForeignKey(fk.target_fullname, ondelete=fk.ondelete, onupdate=fk.onupdate)
                    for fk in c.foreign_keys
                ),
                primary_key=c.primary_key,
                nullable=c.nullable,
            )
            for c in table.columns
            if c.name != "event_type"
        ]
        uniques = [
            sa.UniqueConstraint(*(c.name for c in con.columns), name=con.name)
            for con in table.constraints
            if isinstance(con, sa.UniqueConstraint)
        ]
        sa.Table(name, md, *columns, *uniques)
    return md


def _prepare_database(url: URL, *, overwrite: bool, legacy: bool) -> tuple[sa.engine.Engine, bool]:
    """Create empty stream2segment tables in ``url``.

    Return an engine and whether the database is a SQLite file holding nothing else.
    """
    path = url.database or ""
    if is_sqlite(url) and os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    check_exists(url, missing_ok=True)
    engine = create_engine(url, poolclass=sa.pool.NullPool)
    try:
        try:
            names = set(sa.inspect(engine).get_table_names())
        except sa.exc.OperationalError as exc:
            raise DatabaseError(
                f"Cannot connect to {mask_url(url)}: {error_line(exc, url)}"
            ) from None
        ours = [t for t in TABLE_ORDER if t in names]
        private = is_sqlite(url) and names <= set(metadata.tables)
        if ours:
            with engine.connect() as conn:
                filled = [
                    t
                    for t in ours
                    if conn.execute(sa.text(f'SELECT 1 FROM "{t}" LIMIT 1')).first() is not None
                ]
                n_seg = (
                    conn.execute(sa.text('SELECT COUNT(*) FROM "segments"')).scalar_one()
                    if "segments" in ours
                    else 0
                )
            if filled and not overwrite:
                raise ValueError(
                    f"{mask_url(url)} already holds stream2segment data ({n_seg} segments, "
                    f"tables: {', '.join(filled)}): pass overwrite=True to replace it"
                )
            if private:
                engine.dispose()  # nothing else in the file: start a fresh one (no bloat)
                for suffix in ("", "-wal", "-shm", "-journal"):
                    if os.path.exists(path + suffix):
                        os.remove(path + suffix)
            else:
                metadata.drop_all(engine, tables=[metadata.tables[t] for t in ours])
        if legacy:
            _legacy_metadata().create_all(engine)
        else:
            create_all(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine, private
