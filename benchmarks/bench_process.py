"""W3: stream2segment's processing template run by ``process(...)``, side by side.

stream2segment's own ``paramtable.py`` and ``paramtable.yaml``, as its ``s2s init``
writes them (``main(segment, config)``: band-pass filter, response removal, spectra,
signal-to-noise ratios, cumulative energy and its times, double-event detection on
the segment's siblings, per segment; its ``snr_threshold`` set to 0, as the generated
waveforms are mostly noise), run on the
segments with valid data and no gaps (the template's own selection) of a generated
database (``bench_map.py``'s W2 database of ``--shape`` EVENTS x STATIONS, real GEOFON
responses) by:

- stream2segment's ``process(main, dburl, ..., outfile=CSV, multi_process=N)``, in
  ``--s2s-python`` (a Python where stream2segment is installed);
- s2sframe's ``process`` with the same files, the imports' ``stream2segment`` made
  ``s2sframe`` (the migration of docs/migrating.md; and ``np.mat`` made
  ``np.asmatrix`` under NumPy 2, which removed it);
- with ``--baseline DIR``, s2sframe's ``process`` of the sources in DIR
  (``git archive COMMIT | tar -x -C DIR``).

Each run is a fresh process, the methods in turns (load from elsewhere hits them
alike), best CPU of ``--repeat``. CPU seconds are those of the run's whole process
tree (the process and every child it waited for: pool workers are reaped at the end),
from ``getrusage(RUSAGE_CHILDREN)``; a run is killed after ``--timeout`` seconds. The
CSV tables are compared with stream2segment's: the same segments, every numeric column
equal within rtol 1e-6.

Usage::

    python benchmarks/bench_process.py --s2s-python /tmp/s2s-venv/bin/python
                                       [--shape 3x200] [--workers 2] [--repeat 2]
                                       [--baseline DIR]
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: the child's program: the template's main run by ``process`` of the given package
RUNNER = """
import sys, yaml
sys.path.insert(0, {folder!r})
import paramtable
from {package}.process import process
with open({config!r}) as f:
    config = yaml.safe_load(f)
process(paramtable.main, {dburl!r}, segments_selection={selection!r}, config=config,
        outfile={outfile!r}, multi_process={workers}, verbose=False, logfile=False)
"""
SELECTION = {"has_valid_data": "true", "maxgap_numsamples": "[-0.5, 0.5]"}


def templates(s2s_python: str, folder: Path) -> None:
    """stream2segment's paramtable files (``s2s init``) in ``folder/s2s`` and, migrated,
    in ``folder/ours`` (for s2sframe and its baseline)."""
    init = folder / "init"
    s2s = Path(s2s_python).parent / "s2s"  # its command, next to its Python
    subprocess.run([str(s2s), "init", str(init)], check=True, capture_output=True, input=b"")
    # the generated waveforms' signal-to-noise ratios are ~1.2-1.6: below the template's
    # threshold (3) every segment would be skipped before most of the work
    config = re.sub(r"^snr_threshold:.*$", "snr_threshold: 0",
                    (init / "paramtable.yaml").read_text(), count=1, flags=re.M)
    for name in ("s2s", "ours"):
        (folder / name).mkdir()
        (folder / name / "paramtable.yaml").write_text(config)
    code = (init / "paramtable.py").read_text()
    (folder / "s2s" / "paramtable.py").write_text(code)
    migrated = re.sub(r"^(\s*from\s+)stream2segment\b", r"\1s2sframe", code,
                      flags=re.M).replace("np.mat(", "np.asmatrix(")
    (folder / "ours" / "paramtable.py").write_text(migrated)  # also the baseline's


def run(method: str, python: str, folder: Path, dburl: str, workers: int,
        baseline: str | None, timeout: float) -> dict:
    """One run of ``method`` in a fresh process (killed after ``timeout`` seconds): wall
    and CPU seconds, the CSV path."""
    name = "s2s" if method == "s2s" else "ours"
    outfile = folder / f"{method}.csv"
    outfile.unlink(missing_ok=True)
    code = RUNNER.format(folder=str(folder / name),
                         package="stream2segment" if method == "s2s" else "s2sframe",
                         config=str(folder / name / "paramtable.yaml"), dburl=dburl,
                         selection=SELECTION, outfile=str(outfile), workers=workers)
    env = dict(os.environ)
    if method == "base":
        env["PYTHONPATH"] = str(baseline)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    out = subprocess.run([python, "-c", code], cwd=str(folder), env=env, timeout=timeout,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if out.returncode:
        raise RuntimeError(f"{method} failed:\n{out.stderr.decode(errors='replace')[-3000:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return {"wall": wall, "cpu": cpu, "csv": outfile}


def read_table(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """(header, rows by their first column) of a CSV file written by ``process``."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return [], {}
    header, body = rows[0], rows[1:]
    return header, {r[0]: r for r in body}


def compare(ours: Path, theirs: Path) -> str:
    """How the table of ``ours`` compares with stream2segment's."""
    h1, r1 = read_table(ours)
    h2, r2 = read_table(theirs)
    if not h1 or not h2:
        return "no table written (every segment failed or was skipped)"
    if h1 != h2:
        return f"columns differ: {h1} vs {h2}"
    if set(r1) != set(r2):
        return f"segments differ: {len(r1)} vs {len(r2)} rows, {len(set(r1) ^ set(r2))} not in both"
    worst, cells = 0.0, 0
    for key, row in r1.items():
        for a, b in zip(row, r2[key], strict=True):
            try:
                x, y = float(a), float(b)
            except ValueError:
                if a != b:
                    return f"segment {key}: {a!r} vs {b!r}"
                continue
            cells += 1
            if math.isnan(x) and math.isnan(y):
                continue
            if not math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-300):
                worst = max(worst, abs(x - y) / max(abs(y), 1e-300))
    state = "equal" if worst == 0 else f"max relative difference {worst:.1e}"
    return f"{len(r1)} rows x {len(h1)} columns, {cells} numbers: {state} (rtol 1e-6)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--s2s-python", required=True,
                    help="a Python that imports stream2segment")
    ap.add_argument("--shape", default="3x200", help="EVENTSxSTATIONS of the database")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=3600,
                    help="seconds after which a run is killed (and the benchmark fails)")
    ap.add_argument("--baseline", default=None,
                    help="also s2sframe's process of the sources in this folder")
    args = ap.parse_args()
    sys.path.insert(0, str(HERE))
    from bench_map import ensure_w2_database

    events, stations = (int(x) for x in args.shape.lower().split("x"))
    dburl = ensure_w2_database(events, stations)
    baseline = str(Path(args.baseline).resolve()) if args.baseline else None
    if baseline and not (Path(baseline) / "s2sframe" / "process" / "funclib").is_dir():
        sys.exit(f"{baseline}: s2sframe sources without s2sframe.process.funclib (before "
                 "stream2segment's imports were kept): the template cannot run there")
    methods = ["ours"] + (["base"] if baseline else []) + ["s2s"]
    with tempfile.TemporaryDirectory(prefix="s2s-bench-process-") as tmp:
        folder = Path(tmp)
        templates(args.s2s_python, folder)
        load = os.getloadavg()[0]
        runs: dict[str, list[dict]] = {m: [] for m in methods}
        for _ in range(args.repeat):
            for method in methods:
                python = args.s2s_python if method == "s2s" else sys.executable
                runs[method].append(run(method, python, folder, dburl, args.workers, baseline,
                                          args.timeout))
        best = {m: min(r, key=lambda x: x["cpu"]) for m, r in runs.items()}
        labels = {"ours": "s2sframe process",
                  "base": f"s2sframe process of {Path(baseline or '').name}",
                  "s2s": "stream2segment process"}
        print(f"W3: stream2segment's paramtable template, {args.shape} database "
              f"({dburl.rsplit('/', 1)[-1]}), multi_process={args.workers}, best CPU of "
              f"{args.repeat} (load average {load:.1f} before, {os.getloadavg()[0]:.1f} after)")
        print(f"{'method':<40}{'wall s':>8}{'CPU s':>8}")
        for m in methods:
            print(f"{labels[m]:<40}{best[m]['wall']:>8.2f}{best[m]['cpu']:>8.2f}")
        for m in methods[:-1]:
            print(f"{labels[m]} vs stream2segment: CPU {best['s2s']['cpu'] / best[m]['cpu']:.1f}x, "
                  f"wall {best['s2s']['wall'] / best[m]['wall']:.1f}x; table: "
                  f"{compare(best[m]['csv'], best['s2s']['csv'])}")


if __name__ == "__main__":
    main()
