"""Benchmark of ``s2s show``: the segment switch as a user sees it, in headless Chromium.

On a generated SQLite database of ``--segments`` segments (default 20,100: 100
events x 67 stations x 3 channels, 100 Hz and 20 Hz, 4-minute windows) whose
StationXML copies the real GEOFON responses of ``../shared/fixtures/example.db.sqlite``
when present (see bench_map.py), the viewer runs on 127.0.0.1 and the system
Chromium (Playwright) presses the right arrow ``--switches`` times. The page
measures each switch from the key press to the first paint after the waveform
is drawn (``requestAnimationFrame`` then a task): server time + transfer +
drawing. Reported: median / 90th percentile / max, raw waveform and the
pre-processed view (instrument response removed with ObsPy and the real
responses; every station new to the page is parsed once), key presses back to
back and with ``--dwell`` seconds spent on each segment (during which the viewer
pre-processes the next one), and the server's share. User plots are requested after the waveform is painted and are not in the
switch time.

Run: ``python benchmarks/bench_show.py [--segments N] [--switches N]``. The machine
load (``uptime``) is printed: other programs slow every number alike.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_map import cached_database, inventory_template  # noqa: E402


def ensure_database(segments: int) -> str:
    stations = 67
    events = max(1, math.ceil(segments / (stations * 3)))
    return cached_database("show", events, stations, seed=0)


def run(page, switches: int, pre: bool, dwell: float = 0.0) -> list[dict]:
    if page.locator("#pre").is_checked() != pre:
        page.locator("#pre").set_checked(pre)
    start = int(page.evaluate("window.s2sState.target"))
    page.wait_for_selector(f"body[data-plots-index='{start}']", timeout=60_000)
    page.evaluate("window.s2sState.timings = []")
    for i in range(1, switches + 1):
        page.keyboard.press("ArrowRight")
        page.wait_for_selector(f"body[data-shown-index='{start + i}']", timeout=60_000)
        # user plots of this segment done: the next key press meets an idle server
        page.wait_for_selector(f"body[data-plots-index='{start + i}']", timeout=60_000)
        if dwell:  # a person looking at the segment before moving on
            page.wait_for_timeout(dwell * 1000)
    return page.evaluate("window.s2sState.timings")


def summary(name: str, timings: list[dict]) -> str:
    total = sorted(t["total_ms"] for t in timings)
    server = sorted(t["server_ms"] for t in timings)
    p90 = total[int(0.9 * (len(total) - 1))]
    return (f"{name:<28} switch median {statistics.median(total):6.1f} ms  p90 {p90:6.1f} ms  "
            f"max {max(total):6.1f} ms   (server median {statistics.median(server):5.1f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=20_100)
    parser.add_argument("--switches", type=int, default=60)
    parser.add_argument("--dwell", type=float, default=1.0,
                        help="seconds spent looking at each segment in the last run "
                             "(the next one is pre-processed meanwhile)")
    parser.add_argument("--chromium", default=os.environ.get("S2S_CHROMIUM", "/usr/bin/chromium"))
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from s2sframe.show import show

    url = ensure_database(args.segments)
    print(f"instrument responses: {inventory_template()[1]}")
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    srv = show(url, open_browser=False, config={"segments_selection": {}})
    print(f"database: {srv.viewer.count} segments selected (all), {url}")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            page.goto(srv.url)
            page.wait_for_selector("body[data-plots-index='0']", timeout=60_000)
            raw = run(page, args.switches, pre=False)
            pre = run(page, args.switches, pre=True)
            dwell = run(page, args.switches, pre=True, dwell=args.dwell)
            browser.close()
    finally:
        srv.stop()
    print(summary("raw waveform", raw))
    print(summary("pre-processed, back to back", pre))
    print(summary(f"pre-processed, {args.dwell:g} s look", dwell))
    print("load:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
