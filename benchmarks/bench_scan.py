"""Benchmark of s2sframe.scan() against the alternatives, measured side by side in one run.

On a generated metadata-only stream2segment database (default 1,000,000 segments):

1. full collect of 16 columns spanning segment, event, station, channel and
   ``missing_data_sec`` with ``s2sframe.scan``;
2. the same rows through one hand-written connectorx query (derived value in SQL);
3. the same rows the stream2segment way: SQLAlchemy ORM objects, reading
   ``seg.event.magnitude``, ``seg.channel.station.network``, ...;
4. a filter keeping about 1% of the rows (pushdown);

each in its own fresh Python process (so peak memory is per method), best of
``--repeat`` runs for timings. Usage::

    python benchmarks/bench_scan.py [--segments 1000000] [--backend sqlite|postgresql|both]

Generated databases are cached under benchmarks/_data/ (git-ignored); PostgreSQL
databases are named s2sbench_<segments> and kept for reruns (``--drop`` removes them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "_data"
PG_ADMIN = os.environ.get("S2S_BENCH_PGURL", "postgresql://postgres@127.0.0.1:5432/postgres")

COLUMNS = [
    "id", "event_id", "channel_id", "download_code", "start_time", "end_time",
    "arrival_time", "event_distance_deg", "event.magnitude", "event.time",
    "event.latitude", "event.longitude", "station.network", "station.station",
    "channel.channel", "missing_data_sec",
]


def _shape(segments: int) -> dict[str, int]:
    stations = 334 if segments >= 100_000 else 34
    events = max(1, round(segments / (stations * 3)))
    return {"events": events, "stations": stations, "channels_per_station": 3}


def ensure_database(backend: str, segments: int) -> str:
    import sqlalchemy as sa

    from s2sframe.testing import make_database

    shape = _shape(segments)
    n = shape["events"] * shape["stations"] * 3
    if backend == "sqlite":
        DATA.mkdir(exist_ok=True)
        path = DATA / f"meta_{n}.sqlite"
        url = f"sqlite:///{path}"
        if not path.exists():
            t0 = time.perf_counter()
            make_database(url, metadata_only=True, seed=1, **shape)
            print(f"# generated {url} in {time.perf_counter() - t0:.1f} s", flush=True)
        return url
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    name = f"s2sbench_{n}"
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        exists = conn.execute(sa.text("select 1 from pg_database where datname=:n"), {"n": name})
        if exists.first() is None:
            conn.execute(sa.text(f'create database "{name}"'))
            t0 = time.perf_counter()
            make_database(url, metadata_only=True, seed=1, **shape)
            print(f"# generated PostgreSQL {name} in {time.perf_counter() - t0:.1f} s", flush=True)
    return url


# ---------------------------------------------------------------- child runs
def run_s2sframe(url: str, filtered: str | None) -> int:
    import s2sframe

    lf = s2sframe.scan(url)
    if filtered:
        lf = lf.filter(s2sframe.where(json.loads(filtered)))
    return lf.select(COLUMNS).collect().height


def run_connectorx(url: str, filtered: str | None) -> int:
    import connectorx as cx

    from s2sframe.db import urls as _db

    u = _db.parse_url(url)
    if _db.is_sqlite(u):
        missing = ("((julianday(s.request_end) - julianday(s.request_start)) - "
                   "(julianday(s.end_time) - julianday(s.start_time))) * 86400.0")
        conn = "sqlite://" + u.database
    else:
        missing = ("EXTRACT(EPOCH FROM (s.request_end - s.request_start)) - "
                   "EXTRACT(EPOCH FROM (s.end_time - s.start_time))")
        conn = _db.cx_url(u)
    query = (
        "SELECT s.id, s.event_id, s.channel_id, s.download_code, s.start_time, s.end_time, "
        "s.arrival_time, s.event_distance_deg, e.magnitude, e.time, e.latitude, e.longitude, "
        f"st.network, st.station, c.channel, {missing} AS missing_data_sec "
        "FROM segments s JOIN events e ON e.id = s.event_id "
        "JOIN channels c ON c.id = s.channel_id JOIN stations st ON st.id = c.station_id"
    )
    return cx.read_sql(conn, query, return_type="polars").height


def run_orm(url: str, filtered: str | None) -> int:
    """The stream2segment way: ORM objects with lazy relationships, attributes read in Python."""
    import sqlalchemy as sa
    from sqlalchemy import orm

    from s2sframe.db import schema as S

    reg = orm.registry()

    class Event:
        pass

    class Station:
        pass

    class Channel:
        pass

    class Segment:
        @property
        def missing_data_sec(self):
            if self.start_time is None or self.end_time is None:
                return None
            return ((self.request_end - self.request_start)
                    - (self.end_time - self.start_time)).total_seconds()

    reg.map_imperatively(Event, S.events)
    reg.map_imperatively(Station, S.stations)
    reg.map_imperatively(Channel, S.channels, properties={"station": orm.relationship(Station)})
    reg.map_imperatively(Segment, S.segments, properties={
        "event": orm.relationship(Event), "channel": orm.relationship(Channel),
        "data": orm.deferred(S.segments.c.data)})
    engine = sa.create_engine(url)
    n = 0
    rows = []
    with orm.Session(engine) as session:
        for seg in session.query(Segment).yield_per(10_000):
            row = (seg.id, seg.event_id, seg.channel_id, seg.download_code, seg.start_time,
                   seg.end_time, seg.arrival_time, seg.event_distance_deg, seg.event.magnitude,
                   seg.event.time, seg.event.latitude, seg.event.longitude,
                   seg.channel.station.network, seg.channel.station.station,
                   seg.channel.channel, seg.missing_data_sec)
            rows.append(row)
            n += 1
    return n


def child(method: str, url: str, filtered: str | None) -> None:
    import resource

    import connectorx  # noqa: F401 - imports are not what we measure
    import pyarrow  # noqa: F401 - imported by connectorx's first read of any kind

    try:
        import psycopg  # noqa: F401 - SQLAlchemy's PostgreSQL driver
    except ImportError:
        pass
    import sqlalchemy.orm  # noqa: F401

    import s2sframe  # noqa: F401

    fn = {"s2sframe": run_s2sframe, "connectorx": run_connectorx, "orm": run_orm}[method]
    t0 = time.perf_counter()
    rows = fn(url, filtered)
    elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "rows": rows, "peak_mb": peak_mb}))


def _run_child(method: str, url: str, filtered: str | None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, "--url", url]
        + (["--filtered", filtered] if filtered else []),
        capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{method} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(runs: dict[str, tuple[str, str | None]], url: str, repeat: int) -> dict[str, dict]:
    """Best of ``repeat`` runs of each method, interleaved (A B C A B C) against noise."""
    best: dict[str, dict] = {}
    for _ in range(repeat):
        for name, (method, filtered) in runs.items():
            res = _run_child(method, url, filtered)
            if name not in best or res["seconds"] < best[name]["seconds"]:
                best[name] = res
    return best


def one_percent_filters(url: str) -> dict[str, str]:
    """Two selections keeping about 1% of the segments: by magnitude, by station."""
    import polars as pl

    import s2sframe

    df = s2sframe.scan(url).select("event.magnitude", "station.netsta_code").collect()
    q = df["event.magnitude"].quantile(0.99, interpolation="lower")
    by_sta = df.group_by("station.netsta_code").len().sort("station.netsta_code")
    per_station = by_sta["len"].mean()
    k = max(1, round(0.01 * df.height / per_station))
    stations = by_sta["station.netsta_code"].head(k).str.split(".").list.get(1).to_list()
    out = {
        "event.magnitude": json.dumps({"event.magnitude": f">={q}"}),
        "station.station": json.dumps({"station.station": " ".join(stations)}),
    }
    for sel in out.values():
        lf = s2sframe.scan(url).filter(s2sframe.where(json.loads(sel)))
        n = lf.select(pl.len()).collect().item()
        print(f"# 1% filter {sel} keeps {n} rows ({100 * n / df.height:.2f}%)")
    return out


def bench(backend: str, segments: int, repeat: int, orm: bool) -> None:
    from s2sframe import mask_url

    url = ensure_database(backend, segments)
    print(f"\n## {backend}: {mask_url(url)}", flush=True)
    flt = one_percent_filters(url)
    res = measure({
        "s2sframe full collect": ("s2sframe", None),
        "connectorx hand-written query": ("connectorx", None),
        "s2sframe 1% filter (event.magnitude)": ("s2sframe", flt["event.magnitude"]),
        "s2sframe 1% filter (station.station)": ("s2sframe", flt["station.station"]),
    }, url, repeat)
    if orm:
        res.update(measure({"SQLAlchemy ORM objects (stream2segment way)": ("orm", None)}, url, 1))
    print(f"{'method':46s} {'rows':>9s} {'seconds':>8s} {'peak MB':>8s}")
    for name, r in res.items():
        print(f"{name:46s} {r['rows']:9d} {r['seconds']:8.2f} {r['peak_mb']:8.0f}")
    full = res["s2sframe full collect"]["seconds"]
    cx_t = res["connectorx hand-written query"]["seconds"]
    print(f"ratio s2sframe / connectorx query: {full / cx_t:.2f}   (goal <= 1.0)")
    for what in ("event.magnitude", "station.station"):
        ratio = res[f"s2sframe 1% filter ({what})"]["seconds"] / full
        print(f"ratio 1% filter ({what}) / full: {ratio:.3f}  (goal <= 0.10)")
    if orm:
        orm_t = res["SQLAlchemy ORM objects (stream2segment way)"]["seconds"]
        print(f"speed-up vs ORM objects:           {orm_t / full:.1f}x  (goal >= 8x)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--segments", type=int, default=1_000_000)
    p.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--no-orm", action="store_true", help="skip the (slow) ORM measurement")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--filtered", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        child(a.child, a.url, a.filtered)
        return
    backends = ["sqlite", "postgresql"] if a.backend == "both" else [a.backend]
    for b in backends:
        bench(b, a.segments, a.repeat, not a.no_orm)


if __name__ == "__main__":
    main()
