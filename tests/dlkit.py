"""Helpers of the download tests: a configuration for the demo FDSN server, segment rows,
queries, waiting for a running download (the demo server itself: the ``demo_server`` and
``demo`` fixtures of conftest)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa


def config(server, dburl: str, **kw) -> dict:
    """A download configuration of ``server``'s catalog and data centers into ``dburl``;
    ``kw`` replaces keys (``advanced_settings`` is merged key by key)."""
    cfg = {"dburl": dburl, "starttime": "2021-01-01", "endtime": "2021-02-01",
           "events_url": server.event_url, "data_url": server.dataselect_urls,
           "channel": ["HH?", "BH?"], "search_radius": {"min": 0, "max": 8},
           "time_window": [-1, 3], "inventory": False,
           "advanced_settings": {"max_retries": 1, "backoff": 0.05, "w_timeout": 5}}
    adv = kw.pop("advanced_settings", None)
    cfg.update(kw)
    if adv:
        cfg["advanced_settings"] = {**cfg["advanced_settings"], **adv}
    return cfg


def query(url: str, sql: str, **params) -> list[sa.Row]:
    """The rows of ``sql`` (bound ``params``) on the database at ``url``."""
    eng = sa.create_engine(url)
    try:
        with eng.connect() as conn:
            return conn.execute(sa.text(sql), params).all()
    finally:
        eng.dispose()


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


class PeakRss:
    """The peak resident memory (MB) of one running process, read from its ``VmHWM``
    (the high-water mark of the program it runs) each time :meth:`poll` is called.

    Not ``ru_maxrss`` from ``wait4``: on Linux a child's ``ru_maxrss`` starts from its
    parent's size at fork (``exec`` keeps the larger), so a process started by a large
    pytest worker reports the worker's size, not its own. Polled often while the process
    runs, only growth in its last poll interval goes unseen."""

    def __init__(self, pid: int) -> None:
        self.pid, self.mb = pid, 0.0

    def poll(self) -> float:
        """Read ``VmHWM`` now (nothing once the process has ended); the peak so far."""
        try:
            with open(f"/proc/{self.pid}/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        self.mb = max(self.mb, int(line.split()[1]) / 1024)
        except OSError:
            pass
        return self.mb


def wait_until(url: str, sql: str, proc: Any, limit: float = 90) -> None:
    """Until ``sql`` (one value) is true on the database at ``url``, while the process
    ``proc`` (a Popen) runs: AssertionError with its stderr if it ended, or after
    ``limit`` seconds."""
    eng = sa.create_engine(url)
    deadline = time.monotonic() + limit
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"the process ended ({proc.returncode}) before "
                                     f"{sql!r}: {proc.stderr.read() if proc.stderr else ''}")
            try:
                with eng.connect() as conn:
                    if conn.execute(sa.text(sql)).scalar():
                        return
            except sa.exc.SQLAlchemyError:
                pass  # no table yet
            time.sleep(0.05)
    finally:
        eng.dispose()
    raise AssertionError(f"{sql!r} still false after {limit} s")
