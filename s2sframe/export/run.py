"""An export's run: batches of whole groups through the map engine, saved as crash-safe parts.

::

    members (segments of each group, in group order) ─► batches of whole groups
      ─► engine run (:class:`~s2sframe.engine.run.MapRun`, one for all batches: workers
         keep their database engines and parsed inventories) ─► the batch's results
      ─► ``part(results)`` (the export's: arrays stacked, metadata) ─► a part file
    finish: the export streams the parts into its files, which replace the old ones

A batch holds a bounded number of samples (:data:`BATCH_BYTES`), so the parent's
memory does not grow with the export. The output (:class:`Output`) is owned by
the run (one run per path), described by a manifest (database, segments,
options: another export on the same path is refused), resumed from its parts
after a kill (groups whose segments are in the parts are not processed again),
and recognised as finished (its files unchanged since): nothing to do.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import polars as pl
from sqlalchemy.engine import URL

from ..db import urls as _db
from ..engine.loop import BatchTally
from ..engine.owner import OutputFiles, differences, ids_fingerprint
from ..engine.run import MapRun, resolve_workers
from ..exceptions import OutputError
from .groups import with_columns

#: Samples (bytes of float32) of one batch, at most (estimated): the parent holds a few
#: copies of them while it stacks and saves a batch.
BATCH_BYTES = 32 * 2**20
ERROR = "s2s_error"


@dataclass
class Job:
    """What an export runs through the engine.

    ``func`` (picklable) is called on every segment with ``return_dtypes=dtypes`` (on
    the rows of the ``keys`` of :func:`~.groups.prepare`); ``part(results)``: a batch's
    results (members in group order, with the ``__x_group`` of each, and the
    attributes ``columns``, read from the database while the workers compute the next
    batch) to the frame saved as one part.
    """

    name: str
    func: Callable[[Any], Any]
    dtypes: dict[str, pl.DataType]
    columns: tuple[str, ...]
    part: Callable[[pl.DataFrame], pl.DataFrame]
    segment_bytes: float = 4 * 100.0 * 600  # estimated bytes of samples per segment


class Output:
    """The files of an export at a path: lock, manifest, parts, products.

    ``files``: the :class:`~s2sframe.engine.owner.OutputFiles` of the export's main
    file (its lock, manifest and part folder are beside it); ``products``: every
    file the export writes (recorded with their sizes when finished).
    """

    def __init__(self, main: Path, products: Callable[[], list[Path]],
                 manifest: dict[str, Any], label: Path | None = None) -> None:
        self.files = OutputFiles(main)
        self.main = main
        self.products = products
        self.manifest = manifest
        self.label = label or main  # what messages call the output

    def open(self, overwrite: bool) -> bool:
        """Own the output; True if it is already finished (same manifest, files unchanged)."""
        return self.files.own(lambda: self._open(overwrite))

    def _open(self, overwrite: bool) -> bool:
        files = self.files
        existing = [p for p in self.products() if p.exists()]
        if overwrite:
            files.clear()
            for p in existing:
                p.unlink(missing_ok=True)
            existing = []
        old = files.read_manifest()
        if files.parts.exists() or existing:
            if old is None:
                what = existing[0].name if existing else "partial results"
                raise OutputError(
                    f"{self.label} holds files not written by this export ({what}): pass "
                    "overwrite=True to replace them, or choose another path")
            diff = differences(old, self.manifest)
            if diff:
                raise OutputError(
                    f"{self.label} was written by a different export:\n  " + "\n  ".join(diff)
                    + "\nPass overwrite=True to replace it, or choose another path")
            if old.get("products"):
                if old["products"] == self._identities():
                    files.parts.remove()
                    return True
                if not files.parts.exists():
                    raise OutputError(
                        f"{self.label} changed since this export wrote it: pass "
                        "overwrite=True to write it again, or choose another path")
        files.write_manifest(self.manifest)
        files.parts.create()
        return False

    def _identities(self) -> dict[str, list[int] | None]:
        out: dict[str, list[int] | None] = {}
        for p in self.products():
            try:
                st = p.stat()
                out[p.name] = [st.st_size, st.st_mtime_ns]
            except FileNotFoundError:
                out[p.name] = None
        return out

    def done_ids(self) -> pl.Series:
        return self.files.parts.column("id")

    def write(self, key: int, frame: pl.DataFrame) -> None:
        self.files.parts.write(frame, key, compression="uncompressed")  # temporary: speed

    def parts(self) -> list[Path]:
        return self.files.parts.paths()

    def finish(self, written: Sequence[tuple[Path, Path]]) -> None:
        """Move the written temporary files over their targets; record them as finished."""
        for tmp, target in written:
            os.replace(tmp, target)
        for stale in set(self.products()) - {t for _, t in written}:
            stale.unlink(missing_ok=True)  # e.g. chunks of an earlier, larger export
        self.files.write_manifest({**self.manifest, "products": self._identities()})
        self.files.parts.remove()

    def close(self) -> None:
        self.files.release()


class MemoryParts:
    """Parts kept in memory (an export without files: :func:`~s2sframe.export.waveforms`)."""

    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []

    def done_ids(self) -> pl.Series:
        return pl.Series("id", [], dtype=pl.Int64)

    def write(self, key: int, frame: pl.DataFrame) -> None:
        self.frames.append(frame)


def manifest(producer: str, url: URL, members: pl.DataFrame,
             settings: dict[str, Any]) -> dict[str, Any]:
    """What identifies an export: producer, database (masked), segments, options."""
    return {"producer": producer, "database": _db.mask_url(url),
            "segments": ids_fingerprint(members.get_column("id").to_numpy()),
            "settings": settings}


def run(keys: pl.DataFrame, members: pl.DataFrame, job: Job, sink: Output | MemoryParts, *,
        url: URL, workers: int | None, chunksize: int | None,
        progress: bool) -> tuple[BatchTally, float]:
    """Process the groups of ``members`` not in ``sink`` yet, batch by batch, into ``sink``;
    the counts of segments (``done``, ``failed``: with an error, ``resumed``) and the seconds."""
    tally = BatchTally()
    done = sink.done_ids()
    if len(done):
        finished = members.filter(pl.col("id").is_in(done.implode())).get_column("group")
        todo = members.filter(~pl.col("group").is_in(finished.unique().implode()))
        tally.resumed = members.height - todo.height
        members = todo
    nworkers = resolve_workers(workers)
    width = max(nworkers, 1)
    by_memory = max(1, int(BATCH_BYTES // max(job.segment_bytes, 1)))
    if chunksize is None:
        chunksize = max(1, min(500, by_memory // (width * 4), -(-members.height // (width * 4))))
    per_batch = max(chunksize, min(by_memory, chunksize * width * 4))  # 4 tasks per worker
    from tqdm.auto import tqdm

    bar = tqdm(total=members.height + tally.resumed, initial=tally.resumed, unit="seg",
               desc=job.name, disable=not progress, dynamic_ncols=True, smoothing=0.05)
    t0 = perf_counter()
    mapper = MapRun(job.func, workers=workers, chunksize=chunksize, errors="record",
                     return_dtypes=job.dtypes, dburl=url, error_column=ERROR,
                     total=members.height)
    def save(out: pl.DataFrame, key: int) -> None:
        sink.write(key, job.part(with_columns(out, url, job.columns)))

    # a batch is stacked and saved in a thread while the workers compute the next one
    saver = cf.ThreadPoolExecutor(1, thread_name_prefix="s2s-export-save")
    saving: cf.Future | None = None
    try:
        for batch in _batches(members, per_batch):
            frame = keys[batch.get_column("pos").to_numpy()].with_columns(
                batch.get_column("group").alias("__x_group"),
                batch.get_column("orientation").alias("__x_orientation"))
            out = mapper.map(frame, progress=False)
            tally.done += out.height
            tally.failed += int(out.get_column(ERROR).is_not_null().sum())
            if saving is not None:
                saving.result()  # at most one batch waits to be saved
            saving = saver.submit(save, out, int(batch.get_column("group")[0]))
            bar.update(out.height)
        if saving is not None:
            saving.result()
    finally:
        saver.shutdown(wait=True)  # a batch being saved is saved whole (or not at all)
        mapper.close()
        bar.close()
    return tally, perf_counter() - t0


def _batches(members: pl.DataFrame, rows: int) -> Iterator[pl.DataFrame]:
    """Slices of ``members`` (sorted by group) of about ``rows`` rows, cut between groups."""
    groups = members.get_column("group").to_numpy()
    start, n = 0, len(groups)
    while start < n:
        end = min(n, start + rows)
        while end < n and groups[end] == groups[end - 1]:
            end += 1
        yield members.slice(start, end - start)
        start = end


def summary(name: str, counts: tuple[BatchTally, float], written: str, progress: bool) -> None:
    """Print the export's summary line (with ``progress``)."""
    if not progress:
        return
    tally, seconds = counts
    rate = tally.done / seconds if seconds > 0 else 0.0
    line = (f"{name}: {written}; {tally.done} segments processed "
            f"({tally.failed} failed or skipped) in {seconds:.1f} s ({rate:.0f}/s)")
    if tally.resumed:
        line += f"; {tally.resumed} done by a previous run"
    print(line, file=sys.stderr)
