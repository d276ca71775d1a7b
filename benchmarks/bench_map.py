"""Benchmark of ``map_segments`` against a raw loop and the stream2segment way, side by side.

On a generated stream2segment database (SQLite, real Steim2 miniSEED at 100 Hz and
20 Hz, 4-minute windows, gzipped multi-channel StationXML whose responses are copies
of the real GEOFON ones of ``../shared/fixtures/example.db.sqlite`` when present,
else of ObsPy's example inventory: the output says which) with
at least ``--segments`` segments with valid data (default 20,000), with ``--workers``
processes (default 2) everywhere:

- **W1**: decode the waveform and return max |x|.
  * ``map_segments``: ``df.s2s.map_segments(w1)`` on the frame of valid segments;
  * *raw limit*: a hand-written loop: ``SELECT id, data`` over id ranges of ~500
    segments handed to the processes as they free up (sqlite3) and the fastest
    decoder (pymseed straight to NumPy);
  * *ORM*: stream2segment's way: SQLAlchemy ORM Segment objects, ``obspy.read``.
- **W2**: ``trace.remove_response(inventory, output="ACC")`` then PGA.
  * ``map_segments`` as above (each StationXML parsed once per run, responses read
    on first use, evaluated fast and memoized by ``s2sframe.decode``);
  * *ORM*: the same ObsPy calls on ORM objects (inventory parsed once per station
    per process, as stream2segment caches it on the Station object), on a sample
    of ``--orm-sample`` segments because it is slow: all the segments of the first
    stations, so that per-station costs weigh as much as in a full run.

W2's PGA values of map_segments and of the ORM way are compared on the sample (rtol
1e-9): responses are evaluated by s2sframe's fast path (``s2sframe.fast_response``),
equal to evalresp to rounding. Then per-call figures of the response evaluation and
of the whole ``remove_response`` (evalresp vs the fast path, interleaved, memo off)
for 100 Hz, 20 Hz, 200 Hz and short-FIR channels (``--percall-only``: just those).

Each measurement runs in a fresh Python process, best of ``--repeat`` runs made in
turns (so that load from other programs hits every method alike); worker pools
are started and warmed up (imports, first calls) before timing, for every method
(start-up, ~1-3 s, is reported apart). W2 of
``map_segments`` is also measured on the ORM sample, for a like-for-like ratio. Peak RSS is that of the
parent process only (sampled every 10 ms during the run). ``--rss-sizes`` also
measures the parent's peak RSS of W1 at other database sizes (flatness).

``--w2 3x70,30x8`` instead compares W2 alone on databases of EVENTS x STATIONS (x 3
channels, real GEOFON StationXML of 21 channels per station): few events and many
stations (inventories parsed for a few segments each: not amortised) and many events
per station. Every segment with valid data, ``--workers`` processes each:
``map_segments``, the ORM way above, and stream2segment's own
``imap(multi_process=True)`` (its Pool of ``--workers`` processes) when
``stream2segment`` is importable by ``--s2s-python`` (default: this Python; install it
in a throwaway virtual environment of its own), else said so. Printed per method:
wall and CPU seconds (the process, its workers and their children), peak RSS of the
parent and of the largest worker (sampled every 20 ms), PGA equality (rtol 1e-9) with
stream2segment's (or the ORM's) values, and for map_segments how many workers loky
restarted for memory ("A worker was restarted ..."). Memory is in MiB, decimal MB in
parentheses (the worst of the runs). ``--baseline FOLDER`` also measures, in the same
turns, the map_segments of the s2sframe sources in FOLDER (another commit:
``git archive COMMIT | tar -x -C FOLDER``), imported from there by this same script.

Usage::

    python benchmarks/bench_map.py [--segments 20000] [--workers 2]
                                   [--orm-sample 400] [--rss-sizes 20000,100000]
    python benchmarks/bench_map.py --w2 3x70,30x8 [--s2s-python /tmp/s2s-venv/bin/python]
                                   [--baseline /tmp/inv-base]

Databases are cached under benchmarks/_data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "_data"
STATIONS = 40  # x 3 channels; ~83% of generated segments have valid data
#: columns of the frame given to map_segments: what a processing function typically reads
COLUMNS = [
    "id", "seed_id", "event_id", "event.magnitude", "event.depth_km", "event_distance_deg",
    "arrival_time", "station.id", "station.network", "station.station", "channel.channel",
    "sample_rate",
]


# ------------------------------------------------------------------------ database
EXAMPLE_DB = ROOT.parent / "shared" / "fixtures" / "example.db.sqlite"


@functools.cache
def inventory_template() -> tuple[bytes | None, str]:
    """(StationXML whose responses the generated stations copy, description).

    The real GEOFON StationXML of the stream2segment example database (GE.MTE: STS-2
    responses with FIR decimation stages, as in real downloads) when the shared
    fixtures are present; else None (ObsPy's example responses, much cheaper to
    evaluate, which makes W2 unrealistically fast for every method)."""
    for name, blob in example_stationxml()[:1]:
        return blob, f"real GEOFON responses of {name} (with FIR stages) from {EXAMPLE_DB}"
    return None, f"ObsPy's example responses ({EXAMPLE_DB} not found)"


def example_stationxml() -> list[tuple[str, bytes]]:
    """``("NET.STA", stored (gzipped) StationXML)`` of the example database's stations
    that have one, in id order; [] without the shared fixtures."""
    if not EXAMPLE_DB.is_file():
        return []
    import sqlite3

    con = sqlite3.connect(f"file:{EXAMPLE_DB}?mode=ro", uri=True)
    try:
        return con.execute("SELECT network || '.' || station, inventory_xml FROM stations "
                           "WHERE inventory_xml IS NOT NULL ORDER BY id").fetchall()
    finally:
        con.close()


def ensure_database(with_data: int) -> str:
    """URL of a cached database with at least ``with_data`` segments with valid data."""
    events = math.ceil(with_data / 0.8 / (STATIONS * 3))
    return cached_database("map", events, STATIONS, seed=0)


def cached_database(prefix: str, events: int, stations: int, seed: int) -> str:
    """URL of a database of ``events x stations x 3`` segments generated once under
    ``_data/`` (responses: :func:`inventory_template`)."""
    from s2sframe.testing import make_database

    template, _ = inventory_template()
    DATA.mkdir(exist_ok=True)
    suffix = "_geofon" if template is not None else ""
    path = DATA / f"{prefix}_{events}x{stations}x3{suffix}.sqlite"
    if not path.exists():
        tmp = path.with_suffix(".tmp.sqlite")
        tmp.unlink(missing_ok=True)
        print(f"generating {events * stations * 3} segments in {path} ...", file=sys.stderr)
        make_database(f"sqlite:///{tmp}", events=events, stations=stations,
                      channels_per_station=3, seed=seed, inventory_template=template)
        tmp.rename(path)
    return f"sqlite:///{path}"


def valid_ids(url: str) -> list[int]:
    import sqlite3

    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        return [r[0] for r in con.execute(_VALID_SQL.format(cols="id") + " ORDER BY id")]
    finally:
        con.close()


def station_sample(url: str, size: int, stations: int = 4) -> list[int]:
    """``size`` valid segments from ``stations`` stations (alternately 100 Hz and 20 Hz):
    per-station costs (parsing the StationXML) weigh on the sample about as much as on
    a full run, and both sample rates are represented."""
    import sqlite3

    con = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        sql = (_VALID_SQL.format(cols="segments.id").replace(
            "FROM segments", "FROM segments JOIN channels ON channels.id = segments.channel_id")
            + " AND channels.station_id = ? ORDER BY segments.id LIMIT ?")
        out: list[int] = []
        for sta in range(1, stations + 1):
            out += [r[0] for r in con.execute(sql, (sta, size // stations))]
        return sorted(out)
    finally:
        con.close()


_VALID_SQL = (
    "SELECT {cols} FROM segments WHERE data IS NOT NULL AND length(data) > 0 "
    "AND download_code IS NOT NULL AND download_code != -2"
)


# ------------------------------------------------------------------ the functions
def w1(segment):
    """Decode + max |x|."""
    return float(max(np.abs(tr.data).max() for tr in segment.stream()))


def w2(segment):
    """Response removal to acceleration + PGA."""
    trace = segment.stream()[0]
    trace.remove_response(segment.inventory(), output="ACC")
    return float(np.abs(trace.data).max())


# --------------------------------------------------------------- raw and ORM loops
def _raw_task(path: str, low: int, high: int) -> int:
    import sqlite3

    import pymseed

    con = sqlite3.connect(path)
    n = 0
    for _sid, data in con.execute(_VALID_SQL.format(cols="id, data") + " AND id BETWEEN ? AND ?",
                                  (low, high)):
        traces = pymseed.MS3TraceList.from_buffer(data, unpack_data=True)
        peak = 0
        for tid in traces:
            for seg in tid:
                peak = max(peak, int(np.abs(seg.np_datasamples).max()))
        n += 1
    con.close()
    return n


@functools.cache
def _orm_models():
    import sqlalchemy as sa  # noqa: F401
    from sqlalchemy.orm import DeclarativeBase, relationship

    from s2sframe.db import schema as S

    class Base(DeclarativeBase):
        pass

    class Station(Base):
        __table__ = S.stations

    class Channel(Base):
        __table__ = S.channels
        station = relationship(Station)

    class Segment(Base):
        __table__ = S.segments
        channel = relationship(Channel)

    return Segment


def _orm_task(url: str, ids: list[int], workload: str) -> tuple[int, dict[int, float]]:
    import gzip
    import io

    import obspy
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    Segment = _orm_models()
    engine = sa.create_engine(url)
    inventories: dict[int, obspy.Inventory] = {}
    pgas: dict[int, float] = {}
    n = 0
    with Session(engine) as session:
        for start in range(0, len(ids), 500):
            query = session.query(Segment).filter(Segment.id.in_(ids[start:start + 500]))
            for seg in query:
                stream = obspy.read(io.BytesIO(seg.data))
                if workload == "w1":
                    float(max(np.abs(tr.data).max() for tr in stream))
                else:
                    station = seg.channel.station
                    if not station.inventory_xml:  # stream2segment skips the segment
                        n += 1
                        continue
                    inv = inventories.get(station.id)
                    if inv is None:
                        xml = gzip.decompress(station.inventory_xml)
                        inv = inventories[station.id] = obspy.read_inventory(
                            io.BytesIO(xml), format="STATIONXML")
                    trace = stream[0]
                    trace.remove_response(inv, output="ACC")
                    pgas[seg.id] = float(np.abs(trace.data).max())
                n += 1
    return n, pgas


def _warm(url: str, ids: list[int], method: str) -> int:
    """Import and run everything once in a worker, so that timings exclude start-up."""
    import obspy.signal.invsim  # noqa: F401 - what remove_response imports on first use

    if method == "raw_w1":
        _raw_task(url.removeprefix("sqlite:///"), ids[0], ids[-1])
    else:
        _orm_task(url, ids, method[-2:])
    return os.getpid()


# ------------------------------------------------------------------ measurements
class PeakRSS:
    """Peak resident memory of this process, sampled in a thread."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def child(method: str, url: str, workers: int, sample: int) -> dict:
    """One measurement, in this (fresh) process."""
    import concurrent.futures as cf
    import multiprocessing

    mb = 1024 * 1024
    if method.startswith("ours"):
        import polars as pl

        import s2sframe
        import s2sframe.engine.namespace  # noqa: F401 - registers df.s2s
        from s2sframe.engine.run import shutdown_workers

        df = (s2sframe.scan(url).filter(s2sframe.where({"has_valid_data": "true"}))
              .select(COLUMNS).collect())
        if sample:
            df = df.filter(pl.col("id").is_in(station_sample(url, sample)))
        func = w1 if method == "ours_w1" else w2
        t0 = time.perf_counter()
        # start the pool and warm every worker up (imports, first calls)
        df.head(8 * workers).s2s.map_segments(func, workers=workers, progress=False,
                                              chunksize=2)
        startup = time.perf_counter() - t0
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            out = df.s2s.map_segments(func, workers=workers, progress=False)
            seconds = time.perf_counter() - t0
        shutdown_workers()
        values = {}
        if method == "ours_w2" and sample:
            values = dict(zip(map(str, out.get_column("id").to_list()),
                              out.get_column("w2").to_list(), strict=True))
        return {"n": df.height, "seconds": seconds, "startup": startup, "values": values,
                "errors": int(out.get_column("s2s_error").is_not_null().sum()),
                "rss_before_mb": rss.start / mb, "rss_peak_mb": rss.peak / mb,
                "frame_mb": df.estimated_size() / mb,
                "pl_dtype": str(out.schema[func.__name__])}
    ids = valid_ids(url)
    if method.startswith("orm") and sample:
        ids = station_sample(url, sample)
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        t0 = time.perf_counter()
        warm = ids[:2]
        list(pool.map(_warm, [url] * 4 * workers, [warm] * 4 * workers, [method] * 4 * workers))
        startup = time.perf_counter() - t0
        parts = np.array_split(np.array(ids), workers)
        t0 = time.perf_counter()
        values: dict[str, float] = {}
        if method == "raw_w1":
            # id ranges of ~500 segments handed out as workers free up: no worker idles
            # while another finishes a larger share (what a fair limit needs on a noisy machine)
            path = url.removeprefix("sqlite:///")
            ranges = np.array_split(np.array(ids), max(workers, len(ids) // 500))
            futs = [pool.submit(_raw_task, path, int(p[0]), int(p[-1])) for p in ranges]
            n = sum(f.result() for f in futs)
        else:
            futs = [pool.submit(_orm_task, url, p.tolist(), method[-2:]) for p in parts]
            n = 0
            for f in futs:
                count, pgas = f.result()
                n += count
                values.update({str(k): v for k, v in pgas.items()})
        seconds = time.perf_counter() - t0
    return {"n": n, "seconds": seconds, "startup": startup, "values": values}


def _percall_responses() -> list[tuple[str, object, float]]:
    """(label, ObsPy response, sampling rate) of the channel types timed per call."""
    import gzip
    import io
    import warnings

    import obspy

    out = []
    template, _ = inventory_template()
    if EXAMPLE_DB.is_file():
        import sqlite3

        con = sqlite3.connect(f"file:{EXAMPLE_DB}?mode=ro", uri=True)
        try:
            blobs = [r[0] for r in con.execute("SELECT inventory_xml FROM stations ORDER BY id")]
        finally:
            con.close()
        mte = obspy.read_inventory(io.BytesIO(gzip.decompress(blobs[0])))
        rue = obspy.read_inventory(io.BytesIO(gzip.decompress(blobs[1])))
        for code, label in (("HHZ", "100 Hz GE.MTE..HHZ (FIRs 3000->100 Hz)"),
                            ("BHZ", "20 Hz GE.MTE..BHZ (FIRs 3000->20 Hz)")):
            cha = mte.select(channel=code)[0][0][0]
            out.append((label, cha.response, cha.sample_rate))
        cha = [c for c in rue.select(channel="HHZ")[0][0] if c.sample_rate == 80][0]
        out.append(("80 Hz GE.RUE..HHZ 2000 (short FIRs, 32-36 taps)", cha.response, 80.0))
    root = Path(obspy.__file__).parent / "core" / "tests" / "data"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xm = obspy.read_inventory(str(root / "XM.05.xml"))
    cha = xm.select(channel="HHE")[0][0][0]
    out.append(("200 Hz XM.05..HHE (ObsPy test data)", cha.response, 200.0))
    inv = obspy.read_inventory()
    cha = inv.select(station="RJOB", channel="EHZ")[0][0][-1]
    out.append(("100 Hz BW.RJOB..EHZ (ObsPy example, no FIR)", cha.response, 100.0))
    return out


def percall(repeat: int) -> list[dict]:
    """Per-call times of ObsPy's evalresp and of the fast path, interleaved."""
    import warnings

    import obspy
    from obspy.core.inventory.response import Response
    from obspy.signal.util import _npts2nfft

    from s2sframe import fast_response
    from s2sframe.decode import fastresp, set_response_cache_size

    set_response_cache_size(0)  # no memo: every call evaluates
    rows = []
    for label, response, rate in _percall_responses():
        npts = int(240 * rate)
        nfft = _npts2nfft(npts)
        fast = fast_response(response)
        data = (np.random.default_rng(0).normal(0, 1000, npts)).astype(np.int32)
        trace = obspy.Trace(data, {"sampling_rate": rate})
        plans: dict = {}
        times: dict[str, list[float]] = {k: [] for k in ("eval_obspy", "eval_fast",
                                                         "rr_obspy", "rr_fast")}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fastresp.evalresp_response(response, plans, 1 / rate, nfft, "ACC", None, None, True)
            warm = trace.copy()
            warm.stats.response = fast
            warm.remove_response(output="ACC")  # builds the plan
            for _ in range(repeat):
                t0 = time.perf_counter()
                Response.get_evalresp_response(response, 1 / rate, nfft, output="ACC",
                                               hide_sensitivity_mismatch_warning=True)
                t1 = time.perf_counter()
                fastresp.evalresp_response(response, plans, 1 / rate, nfft, "ACC",
                                           None, None, True)
                t2 = time.perf_counter()
                tr = trace.copy()
                tr.stats.response = response
                tr.remove_response(output="ACC")
                t3 = time.perf_counter()
                tr = trace.copy()
                tr.stats.response = fast
                tr.remove_response(output="ACC")
                t4 = time.perf_counter()
                for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                    times[key].append(dt * 1e3)
        stats = fastresp.fast_response_stats(reset=True)
        rows.append({"label": label, "nfft": nfft, **{k: min(v) for k, v in times.items()},
                     "fallbacks": stats.reasons})
    return rows


def run_child(method: str, url: str, workers: int, sample: int = 0) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, "--url", url, "--workers", str(workers),
         "--orm-sample", str(sample)],
        capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode:
        raise RuntimeError(f"{method} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------- W2 side by side
def ensure_w2_database(events: int, stations: int) -> str:
    """URL of a cached database of ``events x stations x 3`` segments (GEOFON responses)."""
    return cached_database("w2", events, stations, seed=1)


def w2_s2s(segment, config):
    """W2 for stream2segment (its functions take the config too; its imap yields the
    results only: the segment id comes with them)."""
    trace = segment.stream()[0]
    trace.remove_response(segment.inventory(), output="ACC")
    return segment.id, float(np.abs(trace.data).max())


class TreeUsage:
    """CPU seconds of this process and all its descendants (live or reaped), and peak
    RSS of this process and of its largest descendant, sampled every 20 ms."""

    def __init__(self) -> None:
        import psutil

        self.psutil = psutil
        self.proc = psutil.Process()
        self.peak_parent = self.peak_worker = 0
        self.cpu_live: dict[int, float] = {}  # descendants seen: last CPU seconds read
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        self.peak_parent = max(self.peak_parent, self.proc.memory_info().rss)
        for child in self.proc.children(recursive=True):
            try:
                with child.oneshot():
                    t = child.cpu_times()
                    self.peak_worker = max(self.peak_worker, child.memory_info().rss)
                self.cpu_live[child.pid] = t.user + t.system
            except self.psutil.Error:
                pass

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self._sample()

    def cpu(self) -> float:
        import resource

        own = resource.getrusage(resource.RUSAGE_SELF)
        reaped = resource.getrusage(resource.RUSAGE_CHILDREN)
        live = 0.0
        for child in self.proc.children(recursive=True):
            try:
                t = child.cpu_times()
                live += t.user + t.system
            except self.psutil.Error:
                pass
        return own.ru_utime + own.ru_stime + reaped.ru_utime + reaped.ru_stime + live

    def __enter__(self) -> TreeUsage:
        self._sample()
        self.peak_worker = 0
        self.cpu0, self.t0 = self.cpu(), time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.seconds = time.perf_counter() - self.t0
        self.cpu_seconds = self.cpu() - self.cpu0


def w2_child(method: str, url: str, workers: int) -> dict:
    """One W2 measurement of ``method`` on every valid segment, in this (fresh) process."""
    mib = 1024 * 1024
    ids = valid_ids(url)
    restarts = 0
    if method == "ours":
        import logging

        import polars as pl

        import s2sframe
        import s2sframe.engine.namespace  # noqa: F401 - registers df.s2s
        from s2sframe.engine.run import shutdown_workers

        class Count(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                nonlocal restarts
                restarts += "worker was restarted" in record.getMessage()

        for name in ("", "loky", "concurrent.futures"):
            logging.getLogger(name).addHandler(Count())
        df = (s2sframe.scan(url).filter(pl.col("id").is_in(ids)).select(COLUMNS).collect())
        df.head(2 * workers).s2s.map_segments(w2, workers=workers, progress=False, chunksize=1)
        import warnings

        with warnings.catch_warnings(record=True) as caught, TreeUsage() as usage:
            warnings.simplefilter("always")
            out = df.s2s.map_segments(w2, workers=workers, progress=False)
        restarts += sum("worker was restarted" in str(w.message) for w in caught)
        shutdown_workers()
        values = dict(zip(out.get_column("id").to_list(), out.get_column("w2").to_list(),
                          strict=True))
    elif method == "s2s":
        from stream2segment.process import imap

        values = {}
        with TreeUsage() as usage:
            for seg_id, pga in imap(w2_s2s, url, ids, multi_process=workers,
                                    skip_exceptions=[Exception]):
                values[int(seg_id)] = pga
    else:  # the ORM way, one share of the segments per process (spawned, warmed up)
        import concurrent.futures as cf
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        values = {}
        with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            list(pool.map(_warm, [url] * 2 * workers, [ids[:2]] * 2 * workers,
                          ["orm_w2"] * 2 * workers))
            with TreeUsage() as usage:
                parts = np.array_split(np.array(ids), workers)
                for f in [pool.submit(_orm_task, url, p.tolist(), "w2") for p in parts]:
                    values.update(f.result()[1])
    return {"n": len(ids), "seconds": usage.seconds, "cpu": usage.cpu_seconds,
            "parent_mib": usage.peak_parent / mib, "worker_mib": usage.peak_worker / mib,
            "restarts": restarts, "values": {str(k): v for k, v in values.items()
                                             if v is not None}}


def w2_compare(shapes: str, workers: int, repeat: int, s2s_python: str,
               baseline: str | None = None) -> None:
    """W2 of map_segments, the ORM way and stream2segment side by side (see ``--w2``)."""
    probe = subprocess.run([s2s_python, "-c", "import stream2segment.process"],
                           capture_output=True, text=True)
    methods = (["ours"] + (["base"] if baseline else []) + ["orm"]
               + (["s2s"] if probe.returncode == 0 else []))
    if probe.returncode:
        print(f"stream2segment is not importable by {s2s_python}: measured without it "
              "(install stream2segment in a virtual environment of its own and pass its "
              "python with --s2s-python)")
    print(f"instrument responses: {inventory_template()[1]}")
    for shape in shapes.split(","):
        events, stations = (int(x) for x in shape.lower().split("x"))
        url = ensure_w2_database(events, stations)
        runs: dict[str, list[dict]] = {m: [] for m in methods}
        load = os.getloadavg()[0]
        for _ in range(repeat):  # interleaved: load from elsewhere hits every method
            for method in methods:
                python = s2s_python if method == "s2s" else sys.executable
                root = baseline if method == "base" else str(ROOT)  # s2sframe from there
                out = subprocess.run(
                    [python, __file__, "--child", f"w2_{'ours' if method == 'base' else method}",
                     "--url", url, "--workers", str(workers)],
                    capture_output=True, text=True, cwd=root,
                    env={**os.environ, "PYTHONPATH": root})
                if out.returncode:
                    raise RuntimeError(f"W2 {method} failed:\n{out.stderr[-3000:]}")
                runs[method].append(json.loads(out.stdout.strip().splitlines()[-1]))
        best = {m: min(r, key=lambda x: x["cpu"]) for m, r in runs.items()}
        print(f"\nW2 on {events} events x {stations} stations x 3 channels "
              f"({best['ours']['n']} segments with valid data), {workers} processes, best "
              f"CPU of {repeat} (load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after)")
        print(f"{'method':<34}{'wall s':>8}{'CPU s':>8}{'parent MiB (MB)':>17}"
              f"{'worker MiB (MB)':>17}{'restarts':>10}")
        labels = {"ours": "map_segments",
                  "base": f"map_segments of {Path(baseline or '').name}",
                  "orm": "ORM + obspy (stream2segment's way)",
                  "s2s": "stream2segment imap(multi_process)"}
        for m in methods:
            r = best[m]
            worker = max(x["worker_mib"] for x in runs[m])  # memory: the worst run
            print(f"{labels[m]:<34}{r['seconds']:>8.2f}{r['cpu']:>8.2f}"
                  f"{_mib_mb(max(x['parent_mib'] for x in runs[m])):>17}{_mib_mb(worker):>17}"
                  f"{max(x['restarts'] for x in runs[m]):>10}")
        ours = best["ours"]
        for m in methods[1:]:
            r = best[m]
            common = sorted(set(ours["values"]) & set(r["values"]))
            close = sum(math.isclose(ours["values"][k], r["values"][k], rel_tol=1e-9)
                        for k in common)
            print(f"map_segments vs {labels[m]}: CPU {r['cpu'] / ours['cpu']:.1f}x, wall "
                  f"{r['seconds'] / ours['seconds']:.1f}x; PGA {close}/{len(common)} equal "
                  f"within rtol 1e-9")


def _mib_mb(mib: float) -> str:
    """``"253 (265)"``: MiB, and decimal MB in parentheses."""
    return f"{mib:.0f} ({mib * 1.048576:.0f})"


# ------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--segments", type=int, default=20_000,
                    help="minimum number of segments with valid data")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--orm-sample", type=int, default=800,
                    help="segments of the W2 ORM sample (W1 ORM uses all)")
    ap.add_argument("--rss-sizes", default="",
                    help="comma-separated sizes at which to measure W1 parent peak RSS too")
    ap.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    ap.add_argument("--percall-only", action="store_true",
                    help="only the per-call response figures (no database)")
    ap.add_argument("--w2", default="",
                    help="only W2 side by side on EVENTSxSTATIONS databases, e.g. 3x70,30x8")
    ap.add_argument("--s2s-python", default=sys.executable,
                    help="Python that imports stream2segment (for --w2)")
    ap.add_argument("--baseline", default=None,
                    help="for --w2: also map_segments of the s2sframe in this folder (e.g. "
                         "an older commit: git archive COMMIT | tar -x -C FOLDER)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child == "percall":
        print(json.dumps(percall(args.repeat * 3)))
        return
    if args.child and args.child.startswith("w2_"):
        print(json.dumps(w2_child(args.child[3:], args.url, args.workers)))
        return
    if args.w2:
        w2_compare(args.w2, args.workers, args.repeat, args.s2s_python,
                   args.baseline and str(Path(args.baseline).resolve()))
        return
    if args.child:
        print(json.dumps(child(args.child, args.url, args.workers, args.orm_sample)))
        return
    if args.percall_only:
        print_percall(args.repeat)
        return

    url = ensure_database(args.segments)
    w = args.workers
    print(f"database: {url.removeprefix('sqlite:///')} ({len(valid_ids(url))} segments with "
          f"valid data), {w} worker processes, best of {args.repeat}; load average before: "
          f"{os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(f"instrument responses: {inventory_template()[1]}")
    plan = [("ours_w1", 0), ("raw_w1", 0), ("orm_w1", 0), ("ours_w2", 0),
            ("ours_w2_sample", args.orm_sample), ("orm_w2", args.orm_sample)]
    runs: dict[str, list[dict]] = {m: [] for m, _ in plan}
    for rep in range(args.repeat):  # interleaved, so that load from elsewhere hits all
        for method, sample in plan:
            if method == "ours_w2" and rep:  # long and stable: once is enough
                continue
            print(f"run {rep + 1}/{args.repeat}: {method} ...", file=sys.stderr)
            runs[method].append(run_child(method.removesuffix("_sample"), url, w, sample))
    res = {m: min(r, key=lambda x: x["seconds"]) for m, r in runs.items()}
    rate = {k: v["n"] / v["seconds"] for k, v in res.items()}

    print(f"\nmap_segments benchmark: {res['ours_w1']['n']} segments with valid data, "
          f"{w} processes each, SQLite, best of {args.repeat}\n")
    print(f"{'':<4}{'method':<40}{'segments':>9}{'seconds':>9}{'seg/s':>8}  ratio (goal)")
    rows = [
        ("W1", "map_segments", "ours_w1", ""),
        ("W1", "raw loop (sqlite3 + pymseed)", "raw_w1",
         f"map_segments/raw = {rate['ours_w1'] / rate['raw_w1']:.2f} (>= 0.9)"),
        ("W1", "ORM + obspy.read (stream2segment)", "orm_w1",
         f"map_segments/ORM = {rate['ours_w1'] / rate['orm_w1']:.1f}x (>= 3)"),
        ("W2", "map_segments (all segments)", "ours_w2",
         f"map_segments/ORM = {rate['ours_w2'] / rate['orm_w2']:.1f}x (>= 10)"),
        ("W2", "map_segments (ORM sample)", "ours_w2_sample",
         f"map_segments/ORM = {rate['ours_w2_sample'] / rate['orm_w2']:.1f}x (>= 10)"),
        ("W2", "ORM + obspy (stream2segment, sample)", "orm_w2", ""),
    ]
    for wl, label, key, ratio in rows:
        r = res[key]
        print(f"{wl:<4}{label:<40}{r['n']:>9}{r['seconds']:>9.2f}{rate[key]:>8.0f}  {ratio}")
    paired = sorted(o["n"] / o["seconds"] / (r["n"] / r["seconds"])
                    for o, r in zip(runs["ours_w1"], runs["raw_w1"], strict=True))
    print(f"W1 map_segments/raw run by run (each pair run back to back; this machine is "
          f"noisy): median {paired[len(paired) // 2]:.2f}, range {paired[0]:.2f}-{paired[-1]:.2f} "
          f"over {len(paired)} pairs")
    print(f"\nworker pool start-up (not in the timings): map_segments "
          f"{res['ours_w1']['startup']:.2f} s, raw {res['raw_w1']['startup']:.2f} s")
    ours, orm = res["ours_w2_sample"]["values"], res["orm_w2"]["values"]
    common = sorted(set(ours) & set(orm))
    close = sum(1 for k in common if math.isclose(ours[k], orm[k], rel_tol=1e-9, abs_tol=0))
    worst = max((abs(ours[k] - orm[k]) / abs(orm[k]) for k in common if orm[k]), default=0.0)
    print(f"W2 PGA of map_segments vs ORM (sample): {close}/{len(common)} equal within "
          f"rtol 1e-9 (max relative difference {worst:.1e}; ORM computed {len(orm)})")
    for key in ("ours_w1", "ours_w2"):
        peak = max(r["rss_peak_mb"] for r in runs[key])
        r = res[key]
        print(f"{key}: parent RSS {r['rss_before_mb']:.0f} MB before the run, peak {peak:.0f} MB "
              f"(goal <= 300); frame of {len(COLUMNS)} columns {r['frame_mb']:.1f} MB; "
              f"{r['errors']} segments recorded as errors")

    print_percall(args.repeat)
    sizes = [int(s) for s in args.rss_sizes.split(",") if s.strip()]
    if sizes:
        print(f"\nW1 parent peak RSS by database size ({w} processes):")
        for size in sizes:
            u = ensure_database(size)
            r = run_child("ours_w1", u, w)
            print(f"  {r['n']:>7} segments: before {r['rss_before_mb']:.0f} MB, peak "
                  f"{r['rss_peak_mb']:.0f} MB (+{r['rss_peak_mb'] - r['rss_before_mb']:.0f} MB), "
                  f"{r['n'] / r['seconds']:.0f} seg/s")


def print_percall(repeat: int) -> None:
    out = subprocess.run([sys.executable, __file__, "--child", "percall", "--repeat", str(repeat)],
                         capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode:
        raise RuntimeError(f"percall failed:\n{out.stderr}")
    rows = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"\nper call, 4-minute segments, output ACC, best of {repeat * 3} interleaved "
          f"(load average {os.getloadavg()[0]:.1f}): ms")
    print(f"{'channel':<52}{'nfft':>7}{'evalresp':>10}{'fast':>8}{'ratio':>7}"
          f"{'remove_response ObsPy':>23}{'fast':>8}{'ratio':>7}")
    for r in rows:
        print(f"{r['label']:<52}{r['nfft']:>7}{r['eval_obspy']:>10.2f}{r['eval_fast']:>8.2f}"
              f"{r['eval_obspy'] / r['eval_fast']:>6.1f}x{r['rr_obspy']:>23.2f}"
              f"{r['rr_fast']:>8.2f}{r['rr_obspy'] / r['rr_fast']:>6.1f}x"
              + (f"  evalresp used: {r['fallbacks']}" if r["fallbacks"] else ""))


if __name__ == "__main__":
    main()
