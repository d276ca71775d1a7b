"""Benchmark of ``s2s show``: key press to every plot painted, in headless Chromium.

On a generated SQLite database of ``--segments`` segments (default 20,100: 100
events x 67 stations x 3 channels, 100 Hz and 20 Hz, 4-minute windows) whose
StationXML copies the real GEOFON responses of ``../shared/fixtures/example.db.sqlite``
when present (FIR stages, as real downloads; see bench_map.py), the viewer runs on
127.0.0.1 with the plot module of stream2segment's ``gui.py`` template (below:
band-pass and response removal as pre-processing; the cumulative, signal/noise
spectra and windows plots) and the system Chromium (Playwright) presses the right
arrow ``--switches`` times per run.

Each switch is timed by a script the benchmark adds to the page (so the page's own
code is not trusted to time itself): from the ``keydown`` to the first paint after
the page marks the user plots of that segment drawn (``body[data-plots-index]``,
set after the waveform and then the bottom and right plots are drawn). Reported:
median / 95th percentile / max, and the server's share of the waveform request:

- raw waveform;
- pre-processed (response removed), keys pressed back to back, on stations never
  seen by the page (the run starts past every station visited before);
- pre-processed with ``--dwell`` seconds spent on each segment.

Goals (issue 20): median <= 100 ms raw, <= 150 ms pre-processed, p95 <= 300 ms
pre-processed including stations never seen before.

Run: ``python benchmarks/bench_show.py [--segments N] [--switches N] [--baseline DIR]``;
``--baseline DIR`` also measures another version of the package (``git archive
<commit> | tar -x -C DIR``) in a subprocess, run by run in turn with this one, and
prints the ratios. The machine load (``uptime``) is printed: other programs slow
every number alike.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_map import cached_database, inventory_template  # noqa: E402

STATIONS = 67

#: stream2segment's gui.py template (pre-processing and its first plots), on s2sframe.signal
PLOTS = '''
import numpy as np
from obspy import UTCDateTime

from s2sframe.process import gui
from s2sframe.signal import ampspec, bandpass, cumsumsq, sn_split, triangsmooth


@gui.preprocess
def bandpass_remresp(segment, config):
    """Band-pass, then remove the instrument response (velocity)"""
    trace = segment.stream()[0]
    trace = bandpass(trace, 0.2, 30.0, max_nyquist_ratio=0.9, corners=2)
    trace.remove_response(inventory=segment.inventory(), output="VEL", water_level=60)
    return trace


@gui.plot
def cumulative(segment, config):
    """Normalised cumulative sum of squares"""
    return cumsumsq(segment.stream()[0], normalize=True)


def _sn(segment):
    trace = segment.stream()[0]
    return sn_split(trace, UTCDateTime(segment.arrival_time), [-0.1, 0.9])


@gui.plot("r", xaxis={"type": "log"}, yaxis={"type": "log"})
def sn_spectra(segment, config):
    """Signal and noise spectra"""
    out = []
    for name, trace in zip(("Signal", "Noise"), _sn(segment)):
        df, spec = ampspec(trace, taper_max_percentage=0.05)
        out.append({"x0": 0, "dx": df, "y": triangsmooth(spec, 0.05), "name": name})
    return out


@gui.plot("r")
def sn_windows(segment, config):
    """Signal and noise windows"""
    sig, noi = _sn(segment)
    return [{"x0": t.stats.starttime, "dx": t.stats.delta * 1000, "y": t.data, "name": n}
            for n, t in (("Signal", sig), ("Noise", noi))]
'''

#: added to the page before its own scripts: times key press -> plots of it painted
TIMER = """
window.__bench = [];
document.addEventListener("keydown", ev => {
  if (ev.key === "ArrowRight")  // (runs before the page's own listener)
    window.__bench.push({ t0: performance.now(), t1: null,
                          want: String(window.s2sState.target + 1) });
}, true);
new MutationObserver(() => {
  const last = window.__bench[window.__bench.length - 1];
  if (!last || last.t1 !== null || document.body.dataset.plotsIndex !== last.want) return;
  requestAnimationFrame(() => setTimeout(() => {
    if (last.t1 === null) last.t1 = performance.now();
  }));
}).observe(document, { attributes: true, subtree: true,
                                       attributeFilter: ["data-plots-index"] });
"""


def ensure_database(segments: int) -> str:
    events = max(1, math.ceil(segments / (STATIONS * 3)))
    return cached_database("show", events, STATIONS, seed=0)


def run(page, switches: int, pre: bool, dwell: float = 0.0) -> list[dict]:
    if page.locator("#pre").is_checked() != pre:
        page.locator("#pre").set_checked(pre)
    start = int(page.evaluate("window.s2sState.target"))
    page.wait_for_selector(f"body[data-plots-index='{start}']", timeout=60_000)
    page.evaluate("window.__bench = []")
    out = []
    for i in range(1, switches + 1):
        page.keyboard.press("ArrowRight")
        page.wait_for_function(f"() => {{ const b = window.__bench[{i - 1}]; "
                               f"return b && b.t1 !== null; }}", timeout=60_000)
        if dwell:  # a person looking at the segment before moving on
            page.wait_for_timeout(dwell * 1000)
    bench = page.evaluate("window.__bench")
    server = {t["index"]: t.get("server_ms", math.nan)
              for t in page.evaluate("window.s2sState.timings")}
    for i, b in enumerate(bench, 1):
        out.append({"total_ms": b["t1"] - b["t0"], "server_ms": server.get(start + i, math.nan)})
    return out


def p95(timings: list[dict]) -> float:
    total = sorted(t["total_ms"] for t in timings)
    return total[min(len(total) - 1, round(0.95 * (len(total) - 1)))]


def summary(name: str, timings: list[dict]) -> str:
    total = sorted(t["total_ms"] for t in timings)
    server = [t["server_ms"] for t in timings if t["server_ms"] == t["server_ms"]]
    return (f"{name:<44} median {statistics.median(total):6.1f} ms  p95 {p95(timings):6.1f} ms  "
            f"max {max(total):6.1f} ms  (server, waveform: median "
            f"{statistics.median(server) if server else math.nan:5.1f} ms)")


def phases(page, n: int, dwell: float):
    """(name, timings) of each run, in turn (a generator: two viewers can alternate)."""
    yield "raw waveform", run(page, n, pre=False)
    # back to back on stations never seen: start past those the raw run visited
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(f"body[data-plots-index='{n + 1}']", timeout=60_000)
    page.locator("#pre").set_checked(True)
    page.wait_for_selector(f"body[data-plots-index='{n + 1}']", timeout=60_000)
    for _ in range(3 - (n + 1) % 3):  # to the first channel of a new station
        page.keyboard.press("ArrowRight")
    yield "pre-processed, back to back, new stations", run(page, n, pre=True)
    yield f"pre-processed, {dwell:g} s look", run(page, n, pre=True, dwell=dwell)


def serve(url: str, module: Path, source: str | None):
    """(page address, stop function) of a viewer: this checkout's, in this process, or
    (``source``: a folder holding another version of the package, e.g. ``git archive``
    of an older commit) that version's, in a subprocess."""
    if source is None:
        from s2sframe.show import show

        srv = show(url, pyfile=module, open_browser=False, config={"segments_selection": {}})
        return srv.url, srv.stop
    code = ("import sys; from s2sframe.show import show; srv = show(sys.argv[1], "
            "pyfile=sys.argv[2], open_browser=False, config={'segments_selection': {}}); "
            "print(srv.url, flush=True); sys.stdin.read(); srv.stop()")
    proc = subprocess.Popen([sys.executable, "-c", code, url, str(module)], cwd=source,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": source})
    address = proc.stdout.readline().strip()

    def stop() -> None:
        proc.stdin.close()
        proc.wait(60)

    return address, stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=20_100)
    parser.add_argument("--switches", type=int, default=60)
    parser.add_argument("--dwell", type=float, default=1.0,
                        help="seconds spent looking at each segment in the last run "
                             "(the viewer prepares the next ones meanwhile)")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also measure the s2sframe package in DIR (e.g. `git archive "
                             "7ed72c3 | tar -x -C DIR`), run by run in turn with this one")
    parser.add_argument("--chromium", default=os.environ.get("S2S_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    url = ensure_database(args.segments)
    print(f"instrument responses: {inventory_template()[1]}")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    module = Path(tempfile.mkdtemp()) / "gui_bench.py"
    module.write_text(PLOTS)
    print(f"database: {args.segments} segments, {url}")
    viewers = {"this checkout": serve(url, module, None)}
    if args.baseline:
        viewers = {f"baseline {args.baseline}": serve(url, module, args.baseline), **viewers}
    results: dict[str, list[tuple[str, list[dict]]]] = {name: [] for name in viewers}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True)
            runs = {}
            for name, (address, _stop) in viewers.items():
                page = browser.new_page(viewport={"width": 1400, "height": 860})
                page.add_init_script(TIMER)
                page.goto(address)
                page.wait_for_selector("body[data-plots-index='0']", timeout=60_000)
                runs[name] = phases(page, args.switches, args.dwell)
            for step in zip(*runs.values(), strict=True):  # the viewers in turn, run by run
                for name, result in zip(runs, step, strict=True):
                    results[name].append(result)
            browser.close()
    finally:
        for _address, stop in viewers.values():
            stop()
    for name, res in results.items():
        print(f"-- {name}")
        for phase, timings in res:
            print(summary(phase, timings))
    if args.baseline:
        (_b, base), (_n, new) = results.items()
        print("-- ratios baseline / this checkout (median, p95)")
        for (phase, t0), (_p, t1) in zip(base, new, strict=True):
            m0, m1 = (statistics.median(x["total_ms"] for x in t) for t in (t0, t1))
            q0, q1 = (p95(t) for t in (t0, t1))
            print(f"{phase:<44} median x{m0 / m1:4.2f}  p95 x{q0 / q1:4.2f}")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
