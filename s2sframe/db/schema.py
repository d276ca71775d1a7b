"""SQLAlchemy Core tables of the stream2segment 3.x database layout.

The same :data:`metadata` serves to create new databases (:func:`create_all`)
and to read existing ones. Existing databases are matched **by column name**;
:func:`present_columns` reflects which columns a database really has, so that
older files lacking optional columns (e.g. ``events.event_type``) still work.

:data:`RELATIONS` is the one map of how the tables related to a segment are
joined (attribute prefixes ``event.``, ``channel.``, ``station.``...);
:data:`TABLE_ORDER` the one foreign-key order in which tables are written.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()



def _fk(target: str) -> sa.ForeignKey:
    """A foreign key to ``target`` that cascades deletes and updates."""
    return sa.ForeignKey(target, ondelete="CASCADE", onupdate="CASCADE")


downloads = sa.Table(
    "downloads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_time", sa.DateTime, server_default=sa.func.current_timestamp()),
    sa.Column("log", sa.String),
    sa.Column("warnings", sa.Integer, server_default=sa.text("0")),
    sa.Column("errors", sa.Integer, server_default=sa.text("0")),
    sa.Column("config", sa.String),
    sa.Column("program_version", sa.String),
)

web_services = sa.Table(
    "web_services",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String),
    sa.Column("type", sa.String),
    sa.Column("url", sa.String, nullable=False),
    sa.UniqueConstraint("url", name="url_uc"),
)

data_centers = sa.Table(
    "data_centers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("station_url", sa.String, nullable=False),
    sa.Column("dataselect_url", sa.String, nullable=False),
    sa.Column("organization_name", sa.String),
    sa.UniqueConstraint("station_url", "dataselect_url", name="sta_data_uc"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "webservice_id", sa.Integer, _fk("web_services.id"), nullable=False
    ),
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("time", sa.DateTime, nullable=False),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("depth_km", sa.Float, nullable=False),
    sa.Column("author", sa.String),
    sa.Column("catalog", sa.String),
    sa.Column("contributor", sa.String),
    sa.Column("contributor_id", sa.String),
    sa.Column("mag_type", sa.String),
    sa.Column("magnitude", sa.Float, nullable=False),
    sa.Column("mag_author", sa.String),
    sa.Column("event_location_name", sa.String),
    sa.Column("event_type", sa.String),
    sa.UniqueConstraint("webservice_id", "event_id", name="ws_eventid_uc"),
)

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "datacenter_id", sa.Integer, _fk("data_centers.id"), nullable=False
    ),
    sa.Column("network", sa.String, nullable=False),
    sa.Column("station", sa.String, nullable=False),
    sa.Column("latitude", sa.Float, nullable=False),
    sa.Column("longitude", sa.Float, nullable=False),
    sa.Column("elevation", sa.Float),
    sa.Column("site_name", sa.String),
    sa.Column("start_time", sa.DateTime, nullable=False),
    sa.Column("end_time", sa.DateTime),
    sa.Column("inventory_xml", sa.LargeBinary),
    sa.UniqueConstraint("network", "station", "start_time", name="net_sta_stime_uc"),
)

channels = sa.Table(
    "channels",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("station_id", sa.Integer, _fk("stations.id"), nullable=False),
    sa.Column("location", sa.String, nullable=False),
    sa.Column("channel", sa.String, nullable=False),
    sa.Column("depth", sa.Float),
    sa.Column("azimuth", sa.Float),
    sa.Column("dip", sa.Float),
    sa.Column("sensor_description", sa.String),
    sa.Column("scale", sa.Float),
    sa.Column("scale_freq", sa.Float),
    sa.Column("scale_units", sa.String),
    sa.Column("sample_rate", sa.Float, nullable=False),
    sa.UniqueConstraint("station_id", "location", "channel", name="net_sta_loc_cha_uc"),
)

segments = sa.Table(
    "segments",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.Integer, _fk("events.id"), nullable=False),
    sa.Column("channel_id", sa.Integer, _fk("channels.id"), nullable=False),
    sa.Column(
        "datacenter_id", sa.Integer, _fk("data_centers.id"), nullable=False
    ),
    sa.Column("data_seed_id", sa.String),
    sa.Column("event_distance_deg", sa.Float, nullable=False),
    sa.Column("data", sa.LargeBinary),
    sa.Column("download_code", sa.Integer),
    sa.Column("start_time", sa.DateTime),
    sa.Column("arrival_time", sa.DateTime, nullable=False),
    sa.Column("end_time", sa.DateTime),
    sa.Column("sample_rate", sa.Float),
    sa.Column("maxgap_numsamples", sa.Float),
    sa.Column("download_id", sa.Integer, _fk("downloads.id"), nullable=False),
    sa.Column("request_start", sa.DateTime, nullable=False),
    sa.Column("request_end", sa.DateTime, nullable=False),
    sa.Column("queryauth", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("channel_id", "event_id", name="chaid_evtid_uc"),
)

classes = sa.Table(
    "classes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("label", sa.String),
    sa.Column("description", sa.String),
    sa.UniqueConstraint("label", name="class_label_uc"),
)

class_labellings = sa.Table(
    "class_labellings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("segment_id", sa.Integer, _fk("segments.id"), nullable=False),
    sa.Column("class_id", sa.Integer, _fk("classes.id"), nullable=False),
    sa.Column("is_hand_labelled", sa.Boolean, server_default=sa.true()),
    sa.Column("annotator", sa.String),
    sa.UniqueConstraint("segment_id", "class_id", name="seg_class_uc"),
)

@dataclass(frozen=True)
class Relation:
    """A table related to segments, named by its attribute prefix (``"station"``...).

    Attributes
    ----------
    name : str
        The attribute prefix.
    table : sqlalchemy.Table
        The related table.
    on : sqlalchemy.ColumnElement
        Join condition with ``segments`` (or with the table of ``via``).
    via : str or None
        The relation joined first (stations are reached through channels).
    fk : str
        The foreign key column of ``segments`` leading to it (through ``via``).
    """

    name: str
    table: sa.Table
    on: sa.ColumnElement
    via: str | None
    fk: str


#: attribute prefix -> how it is joined to segments, in join order.
RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in (
        Relation("event", events, events.c.id == segments.c.event_id, None, "event_id"),
        Relation("channel", channels, channels.c.id == segments.c.channel_id, None, "channel_id"),
        Relation("station", stations, stations.c.id == channels.c.station_id, "channel",
                 "channel_id"),
        Relation("datacenter", data_centers, data_centers.c.id == segments.c.datacenter_id,
                 None, "datacenter_id"),
        Relation("download", downloads, downloads.c.id == segments.c.download_id, None,
                 "download_id"),
    )
}


def relations_closure(names: set[str] | frozenset[str]) -> list[str]:
    """``names`` plus the relations they are joined through, in join order."""
    wanted = set(names)
    for name in names:
        via = RELATIONS[name].via
        while via is not None:
            wanted.add(via)
            via = RELATIONS[via].via
    return [r for r in RELATIONS if r in wanted]


#: The stream2segment tables in foreign-key order (referenced tables first).
TABLE_ORDER: tuple[str, ...] = (
    "web_services", "data_centers", "downloads", "events", "stations", "channels",
    "segments", "classes", "class_labellings",
)


def sequence_reset_sql(table: str) -> str:
    """PostgreSQL statement moving the id sequence of ``table`` past its largest id.

    Needed after inserting rows with explicit ids (the next default id is
    ``max(id) + 1``, or 1 in an empty table).

    Examples
    --------
    >>> print(sequence_reset_sql("events"))
    SELECT setval(pg_get_serial_sequence('"events"', 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM "events"
    """
    if table not in metadata.tables:
        raise ValueError(f"not a stream2segment table: {table!r}")
    return (f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
            f'COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) FROM "{table}"')


def advance_sequences(conn: sa.Connection, tables: tuple[str, ...] = TABLE_ORDER,
                      lock_timeout_sec: float = 60.0) -> dict[str, int]:
    """PostgreSQL: move every id sequence of ``tables`` that is behind ``max(id)`` past it.

    stream2segment inserts explicit ids and never advances the sequences: in a database it
    wrote (or extended), the next default id may be one already taken. This brings each
    sequence of the existing ``tables`` to ``max(id)`` (never backwards) in the caller's
    transaction, holding a ``SHARE ROW EXCLUSIVE`` lock on those tables until it commits:
    concurrent inserts wait, and two programs doing this at once take turns. A writer
    holding the tables longer than ``lock_timeout_sec`` makes it fail (``OperationalError``).
    Other databases (SQLite: ``max(id) + 1`` is the next id) are left untouched.

    Returns
    -------
    dict of str to int
        The tables whose sequence was moved, and the value it was moved to.
    """
    if conn.dialect.name != "postgresql":
        return {}
    names = [t for t in tables if t in metadata.tables]
    present = set(conn.execute(sa.text(
        "select table_name from information_schema.tables where table_schema = "
        "current_schema() and table_name = any(:n)"), {"n": names}).scalars())
    names = [t for t in names if t in present]
    if not names:
        return {}
    conn.execute(sa.text(f"SET LOCAL lock_timeout = '{int(lock_timeout_sec * 1000)}ms'"))
    conn.execute(sa.text("LOCK TABLE " + ", ".join(f'"{t}"' for t in names)
                         + " IN SHARE ROW EXCLUSIVE MODE"))
    moved = {}
    for t in names:
        seq = conn.execute(sa.text("select pg_get_serial_sequence(:t, 'id')"),
                           {"t": f'"{t}"'}).scalar()
        if seq is None:  # an id without a sequence: nothing to move
            continue
        top = conn.execute(sa.text(f'select max(id) from "{t}"')).scalar()
        last, called = conn.execute(sa.text(f"select last_value, is_called from {seq}")).one()
        if top is not None and top >= (last + 1 if called else last):
            conn.execute(sa.text("select setval(:s, :v, true)"), {"s": seq, "v": int(top)})
            moved[t] = int(top)
    return moved


def inserted_id(result: sa.CursorResult[Any]) -> int:
    """The primary key of the one row an ``INSERT`` of ``result`` wrote."""
    key = result.inserted_primary_key
    if key is None:  # pragma: no cover - every table has an integer primary key
        raise ValueError("the statement inserted no row with a primary key")
    return int(key[0])


#: Columns a database may lack (written by older stream2segment versions).
OPTIONAL_COLUMNS: dict[str, frozenset[str]] = {"events": frozenset({"event_type"})}


def present_columns(bind: sa.engine.Engine | sa.engine.Connection) -> dict[str, frozenset[str]]:
    """Return, for each stream2segment table, the column names really in the database.

    Tables absent from the database map to an empty set.
    """
    if bind.dialect.name == "postgresql":  # one catalog query instead of one per table
        found: dict[str, set[str]] = {name: set() for name in metadata.tables}
        query = sa.text(
            "select table_name, column_name from information_schema.columns "
            "where table_schema = current_schema() and table_name = any(:names)"
        )
        with bind.engine.connect() as conn:
            for table, column in conn.execute(query, {"names": list(metadata.tables)}):
                found[table].add(column)
        return {name: frozenset(cols) for name, cols in found.items()}
    insp = sa.inspect(bind)
    existing = set(insp.get_table_names())
    out: dict[str, frozenset[str]] = {}
    for name in metadata.tables:
        if name in existing:
            out[name] = frozenset(c["name"] for c in insp.get_columns(name))
        else:
            out[name] = frozenset()
    return out


def missing_required(present: dict[str, frozenset[str]]) -> list[str]:
    """Return ``table.column`` names required by s2sframe but absent from ``present``."""
    missing = []
    for name, table in metadata.tables.items():
        optional = OPTIONAL_COLUMNS.get(name, frozenset())
        for col in table.columns:
            if col.name not in present.get(name, ()) and col.name not in optional:
                missing.append(f"{name}.{col.name}")
    return missing


def create_all(bind: sa.engine.Engine) -> None:
    """Create the stream2segment tables that do not exist yet in ``bind``."""
    metadata.create_all(bind)
