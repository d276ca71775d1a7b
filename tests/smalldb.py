"""A small hand-made stream2segment database with the edge cases scan() must handle.

Rows are chosen so that tests can state expected values exactly: the first
segment has NULL data, times and codes (connectorx type inference), strings
hold quotes, backslashes, SQL and unicode, one download has a run_time without
microseconds (as SQLite's CURRENT_TIMESTAMP writes it).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from s2sframe.db import schema as S

HOSTILE = ["O'Higgins", "'; DROP TABLE segments; --", "back\\slash\\", "Zürich ✓ 東京", 'dq"uote']

T0 = dt.datetime(2020, 1, 1, 0, 0, 0)


def _ins(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    for row in rows:
        conn.execute(table.insert().values(**row))


def build(url: str, legacy: bool = False) -> sa.engine.Engine:
    """Create the small database at ``url``; ``legacy`` drops events.event_type."""
    engine = sa.create_engine(url)
    S.create_all(engine)
    ts = T0
    with engine.begin() as conn:
        _ins(conn, S.web_services, [{"id": 1, "name": "emsc", "type": "event",
                                                "url": "http://ws/event"}])
        _ins(conn, S.data_centers, [
            {"id": 1, "station_url": "http://dc1/station", "dataselect_url": "http://dc1/dataselect",
             "organization_name": "DC one"},
            {"id": 2, "station_url": "http://dc2/station", "dataselect_url": "http://dc2/dataselect"},
        ])
        if engine.dialect.name == "sqlite":  # CURRENT_TIMESTAMP style, no microseconds
            conn.execute(sa.text("insert into downloads (id, run_time, config) values "
                                 "(1, '2020-01-01 00:00:00', 'a: 1')"))
        else:
            _ins(conn, S.downloads, [{"id": 1, "run_time": T0, "config": "a: 1"}])
        _ins(conn, S.downloads, [{"id": 2, "run_time": T0 + dt.timedelta(days=1,
                                             microseconds=5)}])
        _ins(conn, S.events, [
            {"id": 1, "webservice_id": 1, "event_id": "ev1", "time": ts, "latitude": 10.0,
             "longitude": 20.0, "depth_km": 10.0, "magnitude": 4.0, "mag_type": "ML",
             "event_type": None, "event_location_name": HOSTILE[0]},
            {"id": 2, "webservice_id": 1, "event_id": "ev2", "time": ts + dt.timedelta(hours=1),
             "latitude": -5.5, "longitude": 100.0, "depth_km": 33.0, "magnitude": 4.5,
             "mag_type": "Mw", "event_type": "earthquake", "event_location_name": HOSTILE[1]},
            {"id": 3, "webservice_id": 1, "event_id": "ev3",
             "time": ts + dt.timedelta(days=2, microseconds=250000), "latitude": 0.0,
             "longitude": 0.0, "depth_km": 5.0, "magnitude": 5.0, "mag_type": "mb",
             "event_type": "earthquake", "event_location_name": HOSTILE[2]},
        ])
        _ins(conn, S.stations, [
            {"id": 1, "datacenter_id": 1, "network": "GE", "station": "AAA", "latitude": 1.0,
             "longitude": 2.0, "start_time": dt.datetime(2010, 1, 1), "inventory_xml": b"\x1f\x8bxx",
             "site_name": HOSTILE[3]},
            {"id": 2, "datacenter_id": 2, "network": "FR", "station": "BBB", "latitude": 3.0,
             "longitude": 4.0, "start_time": dt.datetime(2011, 1, 1), "inventory_xml": None,
             "site_name": HOSTILE[4]},
            {"id": 3, "datacenter_id": 1, "network": "GE", "station": "CCC", "latitude": 5.0,
             "longitude": 6.0, "start_time": dt.datetime(2012, 1, 1), "inventory_xml": b"",
             "end_time": dt.datetime(2030, 1, 1)},
        ])
        _ins(conn, S.channels, [
            {"id": 1, "station_id": 1, "location": "", "channel": "HHZ", "sample_rate": 100.0},
            {"id": 2, "station_id": 2, "location": "00", "channel": "BHN", "sample_rate": 20.0,
             "sensor_description": "GURALP CMG-40T"},
            {"id": 3, "station_id": 3, "location": "", "channel": "EHE", "sample_rate": 50.0},
        ])
        rs = ts + dt.timedelta(minutes=1)
        re_ = rs + dt.timedelta(seconds=240)
        seg = []
        specs = [
            # id, event, channel, data, code, start offset, end offset, seed, maxgap, queryauth
            (1, 1, 1, None, None, None, None, None, None, False),
            (2, 1, 2, b"abc", 200, 0.5, 239.0, "FR.BBB.00.BHN", 0.0, False),
            (3, 1, 3, b"", 204, None, None, None, None, False),
            (4, 2, 1, b"defg", -2, -1.0, 245.25, "GE.AAA..HHZ", 1.5, True),
            (5, 2, 2, b"xyz", 200, 10.0, 200.0, None, 0.25, False),
            (6, 3, 1, b"q", -200, 0.0, 240.0, "GE.AAA..HHZ", -0.5, False),
            (7, 3, 3, None, 500, None, None, None, None, False),
        ]
        for sid, ev, ch, data, code, so, eo, seed, gap, qa in specs:
            seg.append({
                "id": sid, "event_id": ev, "channel_id": ch,
                "datacenter_id": 1 if ch != 2 else 2, "download_id": 1 if sid < 5 else 2,
                "data_seed_id": seed, "event_distance_deg": 10.0 * sid, "data": data,
                "download_code": code,
                "start_time": None if so is None else rs + dt.timedelta(seconds=so),
                "end_time": None if eo is None else rs + dt.timedelta(seconds=eo),
                "arrival_time": rs + dt.timedelta(seconds=60 + sid),
                "request_start": rs, "request_end": re_,
                "sample_rate": None if data is None else 100.0,
                "maxgap_numsamples": gap, "queryauth": qa,
            })
        _ins(conn, S.segments, seg)
        _ins(conn, S.classes, [{"id": 1, "label": "good", "description": "ok"},
                                          {"id": 2, "label": "bad", "description": "no"}])
        _ins(conn, S.class_labellings, [
            {"segment_id": 2, "class_id": 1}, {"segment_id": 2, "class_id": 2},
            {"segment_id": 4, "class_id": 1},
        ])
        if legacy:
            conn.execute(sa.text("alter table events drop column event_type"))
    return engine


def table_counts(engine: sa.engine.Engine) -> dict[str, int]:
    """Row count of every stream2segment table."""
    with engine.connect() as conn:
        return {
            name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in S.metadata.tables.items()
        }
