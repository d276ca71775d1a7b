"""Benchmark of ``s2s download`` against the local FDSN server, and ObsPy's MassDownloader.

The server (``python -m s2sframe.testing --fast``) runs in its own process and
answers from memory (template records patched per channel and window), as 3 data centers.
Each client runs in its own process; we measure its wall time, CPU time (user + system,
all threads) and peak RSS. Two sizes show whether memory stays flat with the number of
segments. Then, on the first events, ObsPy's MassDownloader fetches the same event
windows into files (what users would use instead), side by side with s2sframe.

    python benchmarks/bench_download.py             # ~20,000 segments
    python benchmarks/bench_download.py --quick     # ~2,000 segments
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _free_port(span: int) -> int:
    for base in range(18080, 30000, 10):
        ok = True
        for p in range(base, base + span):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", p)) == 0:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free ports")


def _serve(port: int, events: int, stations: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-m", "s2sframe.testing", "--fast",
                             "--port", str(port), "--events", str(events), "--stations",
                             str(stations), "--datacenters", "3"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/fdsnws/event/1/query?format=text")
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server did not start")


def _events(port: int) -> list[tuple[str, datetime, float, float]]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/fdsnws/event/1/query?format=text").read()
    out = []
    for line in text.decode().splitlines()[1:]:
        c = line.split("|")
        out.append((c[0], datetime.fromisoformat(c[1]), float(c[2]), float(c[3])))
    return out


def _child(args: list[str]) -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True,
                         text=True, check=False)
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def _usage(t0: float, r0: resource.struct_rusage, segments: int) -> dict:
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {"segments": segments, "wall": time.monotonic() - t0, "cpu": cpu,
            "rss_mb": r1.ru_maxrss / 1024}


def run_s2s(port: int, end: str, db: str) -> dict:
    """Child process: one s2sframe download (fresh SQLite database)."""
    import s2sframe

    base = f"http://127.0.0.1:{port}"
    cfg = {"dburl": "sqlite:///" + db, "starttime": "2021-01-01", "endtime": end,
           "events_url": base + "/fdsnws/event/1/query",
           "data_url": [f"http://127.0.0.1:{port + 1 + k}/fdsnws/dataselect/1/query" for k in range(3)],
           "channel": ["HH?", "BH?"], "search_radius": {"min": 0, "max": 20},
           "time_window": [-1, 3], "inventory": True,
           "advanced_settings": {"db_buf_size": 500}}
    t0, r0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    report = s2sframe.download(cfg)
    return _usage(t0, r0, report.with_data)


def run_obspy(port: int, end: str, folder: str) -> dict:
    """Child process: ObsPy's MassDownloader, one call per event (event windows into files)."""
    import logging

    from obspy import UTCDateTime
    from obspy.clients.fdsn import Client
    from obspy.clients.fdsn.mass_downloader import CircularDomain, MassDownloader, Restrictions

    logging.getLogger("obspy.clients.fdsn.mass_downloader").setLevel(logging.ERROR)
    providers = [Client(f"http://127.0.0.1:{port + 1 + k}", _discover_services=False)
                 for k in range(3)]
    events = [e for e in _events(port) if e[1] <= datetime.fromisoformat(end)]
    t0, r0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    mdl = MassDownloader(providers=providers)
    for ev_id, t, lat, lon in events:
        start = UTCDateTime(t) + 60  # about the P arrival - 1 minute at regional distances
        mdl.download(CircularDomain(latitude=lat, longitude=lon, minradius=0, maxradius=20),
                     Restrictions(starttime=start, endtime=start + 240, channel_priorities=["HH?", "BH?"],
                                  location_priorities=["", "00"], reject_channels_with_gaps=False,
                                  minimum_length=0.0, sanitize=False),
                     mseed_storage=os.path.join(folder, ev_id), stationxml_storage=os.path.join(folder, "xml"),
                     threads_per_client=8, print_report=False)
    xml = os.path.join(folder, "xml")
    files = sum(len(fs) for root, _dirs, fs in os.walk(folder) if root != xml)
    return _usage(t0, r0, files)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", choices=["s2s", "obspy"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--end")
    parser.add_argument("--path")
    parser.add_argument("--no-obspy", action="store_true")
    args = parser.parse_args()
    if args.child == "s2s":
        print(json.dumps(run_s2s(args.port, args.end, args.path)))
        return
    if args.child == "obspy":
        print(json.dumps(run_obspy(args.port, args.end, args.path)))
        return
    events, stations = (12, 56) if args.quick else (100, 67)  # x 3 channels each
    port = _free_port(5)
    server = _serve(port, events, stations)
    try:
        evs = _events(port)
        tmp = tempfile.mkdtemp(prefix="bench_dl_")
        print(f"load: {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} cores; server: "
              f"{events} events, {stations} stations x 3 channels, 3 data centers (own process)")
        sizes = [len(evs) // 4, len(evs)]
        rows = []
        for n in sizes:
            end = (evs[n - 1][1] + timedelta(seconds=1)).isoformat()
            res = _child(["--child", "s2s", "--port", str(port), "--end", end,
                          "--path", os.path.join(tmp, f"s2s{n}.sqlite")])
            rows.append(("s2sframe", n, res))
        if not args.no_obspy:
            n = max(2, len(evs) // 10)
            end = (evs[n - 1][1] + timedelta(seconds=1)).isoformat()
            res = _child(["--child", "s2s", "--port", str(port), "--end", end,
                          "--path", os.path.join(tmp, f"s2s_small{n}.sqlite")])
            rows.append(("s2sframe", n, res))
            res = _child(["--child", "obspy", "--port", str(port), "--end", end,
                          "--path", os.path.join(tmp, f"obspy{n}")])
            rows.append(("obspy MassDownloader", n, res))
        print(f"{'client':<22}{'events':>7}{'segments':>10}{'wall s':>9}{'seg/s':>9}"
              f"{'CPU s/1000 seg':>16}{'peak RSS MB':>13}")
        for name, n, r in rows:
            seg = max(r["segments"], 1)
            print(f"{name:<22}{n:>7}{r['segments']:>10}{r['wall']:>9.1f}{seg / r['wall']:>9.0f}"
                  f"{1000 * r['cpu'] / seg:>16.2f}{r['rss_mb']:>13.0f}")
        a, b = rows[0][2], rows[1][2]
        print(f"peak RSS ratio {b['segments'] / max(a['segments'], 1):.1f}x segments: "
              f"{b['rss_mb'] / a['rss_mb']:.2f}x memory")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
