"""Benchmark of the exports: segments per second and the parent's peak memory, by size.

On generated stream2segment databases (those of ``bench_map.py``: SQLite, real Steim2
miniSEED at 100 Hz and 20 Hz, 4-minute windows, 40 stations x 3 channels) with at
least ``--sizes`` segments with valid data (default 20,000 and 100,000), with
``--workers`` processes (default 2), each measurement in a fresh Python process
(worker pool started and warmed up before timing), side by side:

- **map_w1**: ``df.s2s.map_segments(w1)`` (decode + max |x|): the engine's floor;
- **seisbench**: ``df.s2s.to_seisbench(folder, window=(10, 50))`` (3-component
  traces, 60 s around the P arrival, files written);
- **seisbench_50hz**: the same resampled to 50 Hz;
- **waveforms**: ``df.s2s.waveforms(window=(10, 50), output=file.parquet)``;
- **asdf** (``--asdf``, first size only): ``df.s2s.to_asdf(file.h5)`` (whole segments).

Printed: segments/s, the export/map_w1 time ratio, the parent's RSS before the run
and its peak (sampled every 10 ms), and the peak growth from the first size to the
others (flat: the parent holds one batch of samples at a time).

Usage::

    python benchmarks/bench_export.py [--sizes 20000,100000] [--workers 2] [--asdf]
                                      [--methods map_w1,seisbench,waveforms]

Databases are cached under benchmarks/_data/ (git-ignored), outputs written to a
temporary folder and removed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from bench_map import PeakRSS, ensure_database, w1  # noqa: E402

METHODS = ("map_w1", "seisbench", "seisbench_50hz", "waveforms", "asdf")


def child(method: str, url: str, workers: int) -> dict:
    """One measurement, in this (fresh) process."""
    import s2sframe
    from s2sframe.engine.run import shutdown_workers

    df = s2sframe.scan(url).filter(s2sframe.where({"has_valid_data": "true"})).select(
        "id").collect()
    t0 = time.perf_counter()
    df.head(8 * workers).s2s.map_segments(w1, workers=workers, progress=False, chunksize=2,
                                          dburl=url)
    startup = time.perf_counter() - t0
    out_dir = Path(tempfile.mkdtemp(prefix="bench_export_"))
    common = {"workers": workers, "progress": False, "dburl": url}
    try:
        with PeakRSS() as rss:
            t0 = time.perf_counter()
            if method == "map_w1":
                out = df.s2s.map_segments(w1, **common)
            elif method.startswith("seisbench"):
                rate = 50.0 if method.endswith("50hz") else None
                out = df.s2s.to_seisbench(out_dir / "ds", window=(10, 50), sampling_rate=rate,
                                          **common)
            elif method == "waveforms":
                out = df.s2s.waveforms(window=(10, 50), output=out_dir / "w.parquet",
                                       **common).select("s2s_error").collect()
            else:
                out = df.s2s.to_asdf(out_dir / "a.h5", **common)
            seconds = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out_dir.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(out_dir, ignore_errors=True)
        shutdown_workers()
    mb = 1024 * 1024
    return {"n": df.height, "seconds": seconds, "startup": startup,
            "errors": int(out.get_column("s2s_error").is_not_null().sum()),
            "rss_before_mb": rss.start / mb, "rss_peak_mb": rss.peak / mb,
            "output_mb": size / mb}


def run_child(method: str, url: str, workers: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", method, "--url", url, "--workers", str(workers)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if out.returncode:
        raise RuntimeError(f"{method} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="20000,100000",
                    help="comma-separated minimum numbers of segments with valid data")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--asdf", action="store_true", help="also to_asdf, at the first size")
    ap.add_argument("--methods", default=",".join(m for m in METHODS if m != "asdf"),
                    help="comma-separated methods to measure (map_w1 always)")
    ap.add_argument("--child", choices=METHODS)
    ap.add_argument("--url")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.url, args.workers)))
        return
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; "
          f"{args.workers} worker processes", flush=True)
    results: dict[tuple[int, str], dict] = {}
    for k, size in enumerate(sizes):
        url = ensure_database(size)
        chosen = {"map_w1", *args.methods.split(",")}
        methods = [m for m in METHODS if m in chosen and m != "asdf" or (
            m == "asdf" and args.asdf and k == 0)]
        print(f"\n{size} segments wanted ({url}):", flush=True)
        for method in methods:
            r = results[size, method] = run_child(method, url, args.workers)
            base = results[size, "map_w1"]
            print(f"  {method:15s} {r['n']:>7} segments in {r['seconds']:7.1f} s = "
                  f"{r['n'] / r['seconds']:6.0f}/s ({r['seconds'] / base['seconds']:4.2f}x "
                  f"map_w1's time), {r['errors']} errors; parent RSS {r['rss_before_mb']:.0f} "
                  f"MB before, peak {r['rss_peak_mb']:.0f} MB; output {r['output_mb']:.0f} MB",
                  flush=True)
    if len(sizes) > 1:
        print(f"\nparent peak RSS growth from {sizes[0]} segments:")
        for method in METHODS:
            if (sizes[0], method) not in results:
                continue
            first = results[sizes[0], method]
            for size in sizes[1:]:
                if (size, method) in results:
                    r = results[size, method]
                    print(f"  {method:15s} x{r['n'] / first['n']:.1f} segments: peak "
                          f"{first['rss_peak_mb']:.0f} -> {r['rss_peak_mb']:.0f} MB "
                          f"({r['rss_peak_mb'] / first['rss_peak_mb']:.2f}x)")
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
