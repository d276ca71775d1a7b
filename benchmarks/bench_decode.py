"""Benchmark of s2sframe's decoders against plain ObsPy, measured side by side in one run.

1. miniSEED -> Stream, per segment: ``obspy.read(io.BytesIO(data), format="MSEED")``
   vs ObsPy's reader without plugin dispatch (``obspy.io.mseed.core._read_mseed``)
   vs ``s2sframe.decode.read_mseed``, on ~2,000 generated 4-minute Steim2 segments
   (half 100 Hz, half 20 Hz, 512-byte records). Every result is first checked equal
   to ``obspy.read``'s. Also ``read_mseed`` in a thread pool (libmseed releases the GIL).
2. ``trace.remove_response(inventory, output="ACC")`` with a plain ObsPy inventory vs
   one from ``read_inventory`` (memoized responses), on the real inventory of the
   example database when ``../shared/fixtures`` is present, else on
   ``obspy.read_inventory()``'s example, for 20 Hz and 100 Hz 4-minute traces.
3. StationXML -> Inventory, per document (the GEOFON ones of the example database,
   ObsPy's example inventory, the larger real documents of ObsPy's and pyasdf's test
   data): ``obspy.read_inventory`` vs ``s2sframe.decode.parse_stationxml`` (responses
   read on first use) vs loading it from a run's folder of shared inventories
   (``s2sframe.decode.invshare``: what a worker does with a station another worker of
   the run has parsed); each also with one response read, and with all. Median of
   ``--repeat`` x 3 interleaved runs; every result is checked equal to ObsPy's.

Timings are the best of ``--repeat`` interleaved runs (the machine may be shared). Usage::

    python benchmarks/bench_decode.py [--segments 2000] [--repeat 3] [--threads N]
                                      [--parts mseed,response,stationxml]
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import obspy
from obspy import Stream, Trace, UTCDateTime
from obspy.io.mseed.core import _read_mseed

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from s2sframe.decode import read_inventory, read_mseed  # noqa: E402

EXAMPLE_DB = ROOT.parent / "shared" / "fixtures" / "example.db.sqlite"


def make_segment(rate: float, seed: int) -> bytes:
    """A 4-minute Steim2 segment of noise-like data (AR(1) noise + microseism)."""
    rng = np.random.default_rng(seed)
    n = int(240 * rate)
    noise = rng.normal(0, 40, n)
    ar = np.empty(n)
    acc = 0.0
    for i in range(0, n, 1000):  # cheap AR(1): x = 0.9 x + noise, block-wise
        block = noise[i : i + 1000]
        filt = np.empty_like(block)
        for j, v in enumerate(block):
            acc = 0.9 * acc + v
            filt[j] = acc
        ar[i : i + 1000] = filt
    t = np.arange(n) / rate
    data = ar + 2000 * np.sin(2 * np.pi * 0.15 * t + seed)
    start = UTCDateTime(2017, 9, 8, 4, 58, 49.095) + seed * 3.21
    trace = Trace(
        data.astype(np.int32),
        header={
            "network": "GE",
            "station": f"S{seed % 100:02d}",
            "channel": "BHZ",
            "sampling_rate": rate,
            "starttime": start,
        },
    )
    buf = io.BytesIO()
    Stream([trace]).write(buf, format="MSEED", encoding="STEIM2", reclen=512)
    return buf.getvalue()


def best_time(func: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - t0)
    return best


def check_equal(blobs: Sequence[bytes]) -> None:
    for data in blobs:
        expected = obspy.read(io.BytesIO(data), format="MSEED")
        got = read_mseed(data)
        assert len(got) == len(expected)
        for a, b in zip(expected, got, strict=True):
            assert a.stats == b.stats and a.data.dtype == b.data.dtype
            assert np.array_equal(a.data, b.data)


def bench_mseed(n_segments: int, repeat: int, threads: int) -> None:
    print(f"Generating {n_segments} 4-minute Steim2 segments...", flush=True)
    groups = {
        "100 Hz": [make_segment(100.0, i) for i in range(n_segments // 2)],
        "20 Hz": [make_segment(20.0, i) for i in range(n_segments - n_segments // 2)],
    }
    groups["all"] = groups["100 Hz"] + groups["20 Hz"]
    check_equal(groups["all"])  # also warms up every code path
    decoders: dict[str, Callable[[bytes], object]] = {
        "obspy.read": lambda d: obspy.read(io.BytesIO(d), format="MSEED"),
        "_read_mseed": _read_mseed,
        "read_mseed": read_mseed,
    }
    print()
    print("miniSEED -> obspy.Stream (segments per second per core; microseconds per segment)")
    head = f"{'segments':<10}{'n':>6}{'KB/seg':>8}"
    head += "".join(f"{name:>22}" for name in decoders)
    head += f"{'read_mseed, ' + str(threads) + ' thr':>22}{'speed-up':>10}"
    print(head)
    print("-" * len(head))
    with ThreadPoolExecutor(threads) as pool:
        for label, blobs in groups.items():
            runs: dict[str, Callable[[], object]] = {
                name: (lambda f=func, bs=blobs: [f(b) for b in bs])
                for name, func in decoders.items()
            }
            runs["threads"] = lambda bs=blobs: list(pool.map(read_mseed, bs, chunksize=64))
            secs = dict.fromkeys(runs, float("inf"))
            for _ in range(repeat):  # interleaved, so that load changes hit all alike
                for name, run in runs.items():
                    t0 = time.perf_counter()
                    run()
                    secs[name] = min(secs[name], time.perf_counter() - t0)
            row = f"{label:<10}{len(blobs):>6}{np.mean([len(b) for b in blobs]) / 1024:>8.1f}"
            for name in runs:
                rate, usec = len(blobs) / secs[name], secs[name] / len(blobs) * 1e6
                row += f"{rate:>12,.0f}/s {usec:>5.0f}us"
            row += f"{secs['obspy.read'] / secs['read_mseed']:>9.1f}x"
            print(row, flush=True)
    print("(speed-up: obspy.read / read_mseed, one thread)")


def inventory_and_traces() -> tuple[str, bytes, list[Trace]]:
    """(label, StationXML bytes, traces to deconvolve)."""
    traces: list[Trace] = []
    if EXAMPLE_DB.is_file():
        con = sqlite3.connect(f"file:{EXAMPLE_DB}?mode=ro", uri=True)
        data, xml = con.execute(
            "select s.data, st.inventory_xml from segments s join channels c "
            "on s.channel_id = c.id join stations st on st.id = c.station_id where s.id = 2"
        ).fetchone()
        con.close()
        traces.append(read_mseed(data)[0])
        label = "example database, GE.MTE (segment 2 + synthetic)"
    else:
        buf = io.BytesIO()
        obspy.read_inventory().write(buf, format="STATIONXML")
        xml = gzip.compress(buf.getvalue())
        label = "obspy.read_inventory() example"
    inventory = obspy.read_inventory(io.BytesIO(gzip.decompress(xml)))
    rng = np.random.default_rng(0)
    for rate in (20.0, 100.0):  # synthetic 4-minute traces on channels of the inventory
        for net in inventory:
            for sta in net:
                chans = [c for c in sta if c.sample_rate == rate and c.response is not None]
                chans = [c for c in chans if c.response.response_stages]
                if chans:
                    cha = chans[0]
                    start = cha.start_date + 86400
                    header = {
                        "network": net.code,
                        "station": sta.code,
                        "location": cha.location_code,
                        "channel": cha.code,
                        "sampling_rate": rate,
                        "starttime": start,
                    }
                    data = np.cumsum(rng.normal(0, 30, int(240 * rate))).astype(np.int32)
                    traces.append(Trace(data, header=header))
                    break
            else:
                continue
            break
    return label, xml, traces


def bench_response(repeat: int) -> None:
    label, xml, traces = inventory_and_traces()
    plain = obspy.read_inventory(io.BytesIO(gzip.decompress(xml)))
    cached = read_inventory(xml)
    print()
    print(f'trace.remove_response(inventory, output="ACC") -- inventory: {label}')
    head = (
        f"{'trace':<34}{'uncached':>12}{'cached':>12}{'1st cached':>12}{'speed-up':>10}{'equal':>7}"
    )
    print(head)
    print("-" * len(head))
    n_plain, n_cached = 5, 50
    traces[0].copy().remove_response(plain, output="ACC")  # warm-up (imports)
    for trace in traces:
        first = time.perf_counter()
        out_cached = trace.copy().remove_response(cached, output="ACC").data
        first = time.perf_counter() - first
        t_plain = (
            best_time(
                lambda tr=trace, n=n_plain: [
                    tr.copy().remove_response(plain, output="ACC") for _ in range(n)
                ],
                repeat,
            )
            / n_plain
        )
        t_cached = (
            best_time(
                lambda tr=trace, n=n_cached: [
                    tr.copy().remove_response(cached, output="ACC") for _ in range(n)
                ],
                repeat,
            )
            / n_cached
        )
        same = np.array_equal(out_cached, trace.copy().remove_response(plain, output="ACC").data)
        name = f"{trace.id} {trace.stats.sampling_rate:g} Hz {trace.stats.npts}"
        print(
            f"{name:<34}{t_plain * 1e3:>9.1f} ms{t_cached * 1e3:>9.2f} ms{first * 1e3:>9.1f} ms"
            f"{t_plain / t_cached:>9.0f}x{('yes' if same else 'NO'):>7}"
        )
    print("(cached: steady state, same channel and length; 1st cached: the evaluating call)")


#: real documents of installed test data (package, path in it), if installed
CORPUS = [
    ("obspy", "core/tests/data/IM_IL31__BHZ.xml"),
    ("obspy", "io/arclink/tests/data/gols_station.xml"),
    ("obspy", "core/tests/data/Modified_IRIS_response_level_station.xml"),
    ("obspy", "io/stationxml/tests/data/full_random_stationxml.xml"),
    ("obspy", "core/tests/data/hydrophone_response_PA.xml"),
    ("obspy", "signal/tests/data/BW_RTSH.xml"),
    ("obspy", "core/tests/data/IU_ANMO_BH.xml"),
    ("pyasdf", "tests/data/big_station.xml"),
    ("pyasdf", "tests/data/II.ABKT.xml"),
    ("pyasdf", "tests/data/small_sample_data_set/TA.POKR..BH_.xml"),
]


def stationxml_documents() -> list[tuple[str, bytes]]:
    """``(label, StationXML)``: the example database's stations (GEOFON), ObsPy's
    example inventory, and the larger real documents of ObsPy's and pyasdf's test data."""
    import importlib

    from bench_map import example_stationxml

    out = [(name, gzip.decompress(blob)) for name, blob in example_stationxml()]
    buf = io.BytesIO()
    obspy.read_inventory().write(buf, format="STATIONXML")
    out.append(("obspy example", buf.getvalue()))
    for package, path in CORPUS:
        try:
            root = Path(importlib.import_module(package).__file__ or "").parent
        except ImportError:
            continue
        if (root / path).is_file():
            out.append((f"{package}:{Path(path).stem}", (root / path).read_bytes()))
    return out


def _read_all(inventory: obspy.Inventory) -> None:
    """Read every response of an inventory (no-op for ObsPy's)."""
    for network in inventory:
        for station in network:
            for channel in station:
                load = getattr(channel.response, "load", None)
                if load is not None:
                    load()


def bench_stationxml(repeat: int) -> None:
    import warnings

    from s2sframe.decode.invshare import SharedInventories

    print()
    print("StationXML -> Inventory (ms, median of 3 x --repeat interleaved runs; '+1': and "
          "one response read; 'all': and every response read)")
    head = (f"{'document':<34}{'ObsPy':>8}{'lazy':>7}{'+1':>7}{'all':>7}{'shared':>7}"
            f"{'+1':>7}{'ObsPy/lazy':>11}{'/+1':>6}{'/all':>6}{'/shared':>8}{'CPU ratio':>10}")
    print(head)
    print("-" * len(head))
    store = SharedInventories.create()
    try:
        for key, (label, xml) in enumerate(stationxml_documents()):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                bench_document(store, key, label, xml, repeat)
    finally:
        store.remove()
    print("(lazy: s2sframe.decode.parse_stationxml, responses read on first use; shared: "
          "loaded from the run's shared inventories, what a worker does with a station "
          "another one has read; CPU ratio: ObsPy/lazy in process time, median)")


def bench_document(store: object, key: int, label: str, xml: bytes, repeat: int) -> None:
    from s2sframe.decode import parse_stationxml

    store.get_or_read(key, lambda x=xml: parse_stationxml(x))  # type: ignore[attr-defined]
    reference = obspy.read_inventory(io.BytesIO(xml))
    assert store.get_or_read(key, lambda: (None, 0))[0] == reference  # type: ignore[attr-defined]
    assert parse_stationxml(xml)[0] == reference
    first = next(((i, j, k) for i, n in enumerate(reference) for j, s in enumerate(n)
                  for k, c in enumerate(s) if c.response is not None), None)
    ways = {
        "obspy": lambda x=xml: obspy.read_inventory(io.BytesIO(x)),
        "lazy": lambda x=xml: parse_stationxml(x)[0],
        "shared": lambda k=key: store.get_or_read(k, lambda: (None, 0))[0],  # type: ignore[attr-defined]
    }
    times: dict[str, list[float]] = {f"{w}{r}": [] for w in ways for r in ("", "+1", "all")}
    cpu: dict[str, list[float]] = {w: [] for w in ways}  # process time: less load-bound
    for _ in range(3 * repeat):  # interleaved: load from elsewhere hits all alike
        for way, func in ways.items():
            inv = None  # the last one freed outside the timers (no gc.collect(): after one,
            # a short parse runs ~2x slower, allocating again the memory it gave back)
            c0, t0 = time.process_time(), time.perf_counter()
            inv = func()
            t1, c1 = time.perf_counter(), time.process_time()
            cpu[way].append(c1 - c0)
            if first is not None:  # read one response
                inv[first[0]][first[1]][first[2]].response.response_stages  # noqa: B018
            t2 = time.perf_counter()
            _read_all(inv)
            t3 = time.perf_counter()
            times[way].append(t1 - t0)
            times[way + "+1"].append(t2 - t0)
            times[way + "all"].append(t3 - t0)
    med = {k: float(np.median(v)) * 1e3 for k, v in times.items()}
    print(f"{label + f' ({len(xml) // 1024} KiB)':<34}"
          + "".join(f"{med[k]:>{8 if k == 'obspy' else 7}.{1 if med[k] >= 10 else 2}f}"
                    for k in ("obspy", "lazy", "lazy+1", "lazyall", "shared", "shared+1"))
          + f"{med['obspy'] / med['lazy']:>10.1f}x{med['obspy'] / med['lazy+1']:>5.1f}x"
          + f"{med['obspy'] / med['lazyall']:>5.1f}x{med['obspy'] / med['shared']:>7.1f}x"
          + f"{np.median(cpu['obspy']) / np.median(cpu['lazy']):>9.1f}x", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--segments", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--parts", default="mseed,response,stationxml",
                        help="comma-separated parts to run (default: all)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    print(
        f"python {sys.version.split()[0]}, obspy {obspy.__version__}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
    )
    if "mseed" in parts:
        bench_mseed(args.segments, args.repeat, args.threads)
    if "response" in parts:
        bench_response(args.repeat)
    if "stationxml" in parts:
        bench_stationxml(args.repeat)


if __name__ == "__main__":
    main()
