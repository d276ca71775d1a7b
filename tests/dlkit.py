"""Helpers of the download tests: a configuration for the demo FDSN server, segment rows."""

from __future__ import annotations

import sqlalchemy as sa


def config(server, dburl: str, **kw) -> dict:
    """A download configuration of ``server``'s catalog and data centers into ``dburl``;
    ``kw`` replaces keys."""
    cfg = {"dburl": dburl, "starttime": "2021-01-01", "endtime": "2021-02-01",
           "events_url": server.event_url, "data_url": server.dataselect_urls,
           "channel": ["HH?", "BH?"], "search_radius": {"min": 0, "max": 8},
           "time_window": [-1, 3], "inventory": False,
           "advanced_settings": {"max_retries": 1, "backoff": 0.05, "w_timeout": 5}}
    cfg.update(kw)
    return cfg


def segments(url: str) -> list[sa.Row]:
    """Every segment with its channel, station epoch, event and data center."""
    eng = sa.create_engine(url)
    q = sa.text("select s.download_code, s.data, s.request_start, s.request_end, "
                "s.datacenter_id, s.data_seed_id, st.network, st.station, st.start_time, "
                "st.end_time, st.latitude, c.location, c.channel, e.event_id as eid, "
                "e.time as etime, d.dataselect_url from segments s join channels c on "
                "c.id = s.channel_id join stations st on st.id = c.station_id join events e "
                "on e.id = s.event_id join data_centers d on d.id = s.datacenter_id")
    with eng.connect() as conn:
        rows = conn.execute(q).all()
    eng.dispose()
    return rows
