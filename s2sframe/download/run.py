"""The download pipeline: events -> data centers -> channels -> segments -> waveforms ->
inventories, logged into a ``downloads`` row (configuration with secrets masked, log,
version). Each step is in the log and has a progress bar.

A run owns its database (:class:`~s2sframe.db.locks.DatabaseLock`: a second download on
the same database is refused at once). Every write is one short transaction, run again
on transient errors (a dropped connection, SQLite's ``database is locked``); on SQLite
the file is in WAL mode while the run writes (readers never block it). A run that fails
records why (step, error type, message) as the last line of its log, counted in
``downloads.errors``, and raises; Ctrl-C cuts the requests in flight, writes what is
complete and records the interruption.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ..db import schema
from ..db.locks import DOWNLOAD_LOCK, DatabaseLock
from ..db.retry import attempts, transaction
from ..db.urls import (
    download_engine,
    is_sqlite,
    mask_text,
    mask_url,
    mask_web_url,
    parse_url,
    sqlite_rollback_journal,
    sqlite_wal,
)
from ..exceptions import describe_error
from . import channels, events, inventory, routing, segments
from .config import ConfigError, DownloadConfig, load, masked_yaml
from .dataselect import Seg
from .dataselect import fetch as fetch_waveforms
from .events import DownloadFailed
from .http import ABORTED, URL_ERROR, AdaptiveLimit, Client, Response
from .report import DownloadReport
from .rows import Skipped, transaction_once
from .writer import SegmentWriter

log = logging.getLogger("s2sframe.download")
DEFAULT_CONCURRENCY = 8
#: the name of the per-database lock of a download run
LOCK_NAME = DOWNLOAD_LOCK


class _MaskSecrets(logging.Filter):
    """Every message of the download's logger with URL passwords (``user:pw@``) masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = mask_text(text)
        if masked != text or record.args:
            record.msg, record.args = masked, ()
        return True


if not any(isinstance(f, _MaskSecrets) for f in log.filters):
    log.addFilter(_MaskSecrets())


class _Capture(logging.Handler):
    """Keeps the run's log for the ``downloads`` row and counts warnings and errors.

    :meth:`save` writes the lines and counts so far into the row, in a short transaction of
    its own: the pipeline calls it from the main thread between its own transactions (at
    each step, and every ``every`` seconds at most during the long steps), so the row holds
    the log even after a SIGKILL, and no write waits on another (SQLite has one writer).
    ``emit`` itself never writes: a log line costs no database round trip.
    """

    every = 3.0  # seconds between two saves within a step

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.counts: Counter = Counter()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s: %(message)s"))
        self.engine: sa.engine.Engine | None = None
        self.download_id: int | None = None
        self._saved_lines = -1
        self._saved_at = time.monotonic()
        self._lines_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = self.format(record)
        with self._lines_lock:
            self.lines.append(line)
            self.counts[record.levelno] += 1

    def warnings(self) -> int:
        return self.counts[logging.WARNING]

    def errors(self) -> int:
        return self.counts[logging.ERROR] + self.counts[logging.CRITICAL]

    def save(self, force: bool = True) -> None:
        """Write the log and counts into the ``downloads`` row: now if ``force``, else only
        if there are new lines and ``every`` seconds have passed since the last save."""
        if self.engine is None or self.download_id is None:
            return
        if not force and time.monotonic() - self._saved_at < self.every:
            return
        with self._lines_lock:  # worker threads may be logging
            n, text = len(self.lines), "\n".join(self.lines)
            warnings, errors = self.warnings(), self.errors()
        self._saved_at = time.monotonic()
        if n == self._saved_lines:
            return
        row = schema.downloads.c.id == self.download_id
        transaction(self.engine, lambda conn: conn.execute(schema.downloads.update().where(
            row).values(log=text, warnings=warnings, errors=errors)))
        self._saved_lines = n


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("s2sframe")
    except metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "0+unknown"


def _engine(dburl: str) -> sa.engine.Engine:
    """The download's engine (:func:`s2sframe.db.urls.download_engine`)."""
    return download_engine(parse_url(dburl))


def _create_tables(engine: sa.engine.Engine) -> None:
    try:
        transaction(engine, schema.metadata.create_all)
    except sa.exc.SQLAlchemyError as exc:
        from ..exceptions import DatabaseError

        raise DatabaseError(f"Cannot open {mask_url(engine.url)}: {_first_line(exc)}") from None


def open_database(dburl: str) -> sa.engine.Engine:
    """Engine of ``dburl`` with the stream2segment tables (created if missing, never altered)."""
    engine = _engine(dburl)
    try:
        _create_tables(engine)
    except BaseException:
        engine.dispose()
        raise
    return engine


def _first_line(exc: BaseException) -> str:
    """``Type: first line`` of an error: no SQL, no parameters, passwords masked."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return mask_text(describe_error(orig, lines[0] if lines else ""))[:500]


class _Atomic:
    """Sections Ctrl-C does not cut in two: a KeyboardInterrupt arriving inside one is
    raised when the (outermost) section ends. A write and its bookkeeping (e.g. the
    segments written and removed from the writer's buffer) are one section: an interrupt
    between the commit and the bookkeeping would write the same rows again."""

    def __init__(self) -> None:
        self.depth = 0
        self.interrupted = False

    def check(self) -> None:
        """Raise the KeyboardInterrupt that arrived during the section, now."""
        if self.interrupted:
            self.interrupted = False
            raise KeyboardInterrupt

    @contextmanager
    def section(self) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            if self.depth == 0 and self.interrupted:
                self.interrupted = False
                raise KeyboardInterrupt


@contextmanager
def _interrupts(client: Client, exit_on_second: bool, atomic: _Atomic) -> Iterator[None]:
    """While the run goes on in the main thread: Ctrl-C cuts every request in flight at once
    (:meth:`Client.abort`), then does what it did before (by default: KeyboardInterrupt,
    which the run handles: what is complete is written), at the end of the ``atomic``
    section it arrives in, if any; with ``exit_on_second``, a second Ctrl-C ends the
    process at once (exit code 130), whatever the run is doing.

    "At once" even when the main thread is busy in C code (e.g. SQLite waiting for a
    lock): a watcher thread reads the signal numbers Python's C-level handler writes to
    its wakeup file descriptor (:func:`signal.set_wakeup_fd`) as each signal arrives.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGINT)
    rfd, wfd = os.pipe()
    os.set_blocking(wfd, False)

    def watch() -> None:
        count = 0
        while True:
            data = os.read(rfd, 64)
            if not data:
                return
            count += data.count(bytes([signal.SIGINT]))
            if count:
                client.abort()
            if count >= 2 and exit_on_second:
                os.write(2, b"\nError: interrupted again: exiting now\n")
                os._exit(130)

    def handler(signum: int, frame: Any) -> None:
        client.abort()
        if atomic.depth:
            atomic.interrupted = True
            return
        if callable(before):
            before(signum, frame)
        elif before != signal.SIG_IGN:
            raise KeyboardInterrupt

    watcher = threading.Thread(target=watch, daemon=True, name="s2s-dl-interrupts")
    watcher.start()
    old_fd = signal.set_wakeup_fd(wfd, warn_on_full_buffer=False)
    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        signal.set_wakeup_fd(old_fd)
        os.close(wfd)  # the watcher reads the end of the pipe and returns
        watcher.join(5)
        os.close(rfd)


class _Run:
    """One download run: its configuration, database, client, report and current step."""

    def __init__(self, cfg: DownloadConfig, engine: sa.engine.Engine, progress: bool) -> None:
        self.cfg = cfg
        self.engine = engine
        self.progress = progress
        self.report = DownloadReport()
        self.capture = _Capture()
        self.step = "database"
        adv = cfg.advanced
        self.client = Client(max_retries=adv.max_retries, backoff=adv.backoff,
                             blocksize=adv.download_blocksize,
                             deadline=adv.request_deadline, on_response=self._on_response)
        self.lock: DatabaseLock | None = None
        self.atomic = _Atomic()
        self.skipped = Skipped(self.report.skipped)  # rows that cannot be stored
        self._bar: Any = None  # the progress bar of a step counting requests
        self._failed: dict[str, str] = {}  # URL -> error of the step's failed requests

    # ---- helpers
    def write(self, func: Callable[[sa.Connection], Any]) -> Any:
        """``func(conn)`` in one transaction, retried on transient errors (logged), the
        rows it refuses counted once."""
        return transaction_once(self.engine, func, self.skipped, on_retry=self._db_retry)

    def _db_retry(self, exc: BaseException, attempt: int, wait: float) -> None:
        log.warning("database write failed (%s): trying again in %.1f s (attempt %d of %d)",
                    _first_line(exc), wait, attempt + 1, attempts())

    def save_log(self, force: bool = True) -> None:
        self.capture.save(force)

    def max_bytes(self, service: str) -> int:
        return self.cfg.advanced.max_bytes(service)

    def timeout(self, service: str) -> float:
        return self.cfg.advanced.timeout(service)

    def _on_response(self, url: str, resp: Response) -> None:
        if not resp.ok and resp.status != 204:
            self._failed[url] = resp.error or f"HTTP {resp.status}"
        if self._bar is not None:
            self._bar.update(1)

    @contextmanager
    def _step(self, name: str, bar: dict[str, Any] | None = None,
              service: str = "stations") -> Iterator[None]:
        """Step ``name``: recorded (a failure names it), its log saved at the end;
        ``bar``: a progress bar counting its requests (tqdm arguments); ``service``: whose
        size cap bounds the responses of the step's requests."""
        from tqdm.auto import tqdm

        if self.lock is not None:
            self.lock.check()
        self.step = name
        self._failed = {}
        self.client.max_bytes = self.max_bytes(service)
        if bar is not None:
            self._bar = tqdm(desc=name, disable=not self.progress, dynamic_ncols=True, **bar)
        try:
            yield
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
        self.save_log()

    # ---- the pipeline
    def run(self) -> None:
        cfg, adv = self.cfg, self.cfg.advanced
        with self._step("events", {"unit": "request"}, "events"):
            rows = events.fetch(self.client, cfg.events_url, cfg.event_params, cfg.starttime,
                                cfg.endtime, self.timeout("events"), self.skipped)
            self.report.events = len(rows)
            if not rows:
                log.warning("no event found: nothing to download")
                return
            columns = schema.present_columns(self.engine)["events"]
            name = events.catalog_name(cfg.events_catalog)
            ev_ids = self.write(lambda conn: events.save(conn, cfg.events_url, rows, columns,
                                                         name, self.skipped))
        with self._step("data centers"):
            dcs = self.write(lambda conn: routing.fetch(
                self.client, conn, cfg.data_url, adv.routing_service_url,
                self.timeout("stations")))
        with self._step("channels", {"unit": "data center", "total": len(dcs)}):
            chans = self.write(lambda conn: channels.fetch(self.client, conn, cfg, dcs,
                                                           self.timeout("stations"),
                                                           self.skipped))
            failed = dict(self._failed)
            self.report.channels = len(chans)
            if not chans:
                if failed and len(failed) >= len(dcs):
                    raise DownloadFailed("no channel: every station service failed ("
                                         + "; ".join(f"{u}: {e}" for u, e in failed.items())
                                         + ")")
                log.warning("no channel found: nothing to download")
                return
        cap = adv.max_concurrent_downloads or DEFAULT_CONCURRENCY
        limits = {d.id: AdaptiveLimit(cap, name=mask_web_url(d.host)) for d in dcs}
        with self._step("segments"):
            auths = _authorize(self.client, cfg, dcs, self.timeout("stations"))
            segs = segments.candidates(rows, ev_ids, chans, cfg)
            with self.engine.connect() as conn:
                todo = segments.to_download(conn, segs, cfg.retry, set(auths))
            self.report.segments_planned = len(todo)
        if todo:
            with self._step("waveforms", service="waveforms"):
                self._waveforms(dcs, todo, auths, limits)
        if cfg.inventory:
            with self._step("inventories", service="inventories"), self.atomic.section():
                def tick() -> None:  # after each station: Ctrl-C is raised there only
                    self.save_log(force=False)
                    self.atomic.check()

                saved = inventory.fetch(self.client, self.engine, cfg.update_metadata,
                                        self.timeout("inventories"), limits,
                                        min(cap * len(dcs), 16), self.progress, tick=tick,
                                        max_bytes=self.max_bytes("inventories"),
                                        write=self.write,
                                        station_urls={d.id: d.station_url for d in dcs})
                self.report.inventories = saved["saved"]
        for d in dcs:
            if limits[d.id].min_seen < cap:
                log.info("%s asked to slow down: concurrency went down to %d (of %d)", d.host,
                         limits[d.id].min_seen, cap)

    def _waveforms(self, dcs: list[routing.DataCenter], todo: list[Seg], auths: dict[int, Any],
                   limits: dict[int, AdaptiveLimit]) -> None:
        from tqdm.auto import tqdm

        adv, report = self.cfg.advanced, self.report
        by_id = {d.id: d for d in dcs}
        writer = SegmentWriter(self.engine, report.download_id or 0, adv.db_buf_size,
                               self.skipped, write=self.write)
        groups = _groups(todo)
        workers = sum(lim.maximum for lim in limits.values())
        log.info("waveforms: %d segment(s) in %d request(s)", len(todo), len(groups))
        self.save_log()
        per_dc = Counter(s.datacenter_id for s in todo)
        bars = {dc_id: tqdm(total=n, unit="seg", disable=not self.progress, position=k,
                            desc=f"waveforms {_short_host(by_id[dc_id].host)}",
                            dynamic_ncols=True, leave=True)
                for k, (dc_id, n) in enumerate(sorted(per_dc.items()))}
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s2s-dl")
        pending: dict[Future, list[Seg]] = {}
        timeout, max_bytes = self.timeout("waveforms"), self.max_bytes("waveforms")
        it = iter(groups)
        outcomes = _Outcomes(by_id, report, writer, bars, auths)
        record, outcome = outcomes.record, outcomes.outcome

        try:
            # Ctrl-C is raised at one point of the loop only (check): inside wait() it
            # could leave a future's lock held (CPython's _AcquireFutures), and the pool
            # would then wait forever; the requests are cut at once anyway
            with self.atomic.section():
                while True:
                    while len(pending) < 2 * workers:
                        group = next(it, None)
                        if group is None:
                            break
                        dc = by_id[group[0].datacenter_id]
                        auth = auths.get(dc.id)
                        url = dc.service_url("dataselect", "queryauth" if auth else "query")
                        pending[pool.submit(_fetch, self.client, url, group, timeout,
                                            limits[dc.id], auth, max_bytes)] = group
                    if not pending:
                        break
                    # a timeout: the log is saved every few seconds even while requests hang
                    done, _ = wait(pending, timeout=_Capture.every, return_when=FIRST_COMPLETED)
                    for fut in done:
                        record(outcome(fut, pending.pop(fut)))
                    self.save_log(force=False)  # between the writer's transactions
                    self.atomic.check()
        except KeyboardInterrupt:
            self.client.abort()  # Ctrl-C outside the main thread's handler (e.g. a notebook)
            pool.shutdown(wait=True, cancel_futures=True)  # quick: requests are cut
            kept = 0
            with self.atomic.section():
                for fut in [f for f in pending if f.done() and not f.cancelled()]:
                    groups_done = outcome(fut, pending[fut])
                    if not any(s.result.get("error") == ABORTED for g in groups_done for s in g):
                        record(groups_done)  # complete before Ctrl-C: written
                        kept += 1
            log.info("waveforms: Ctrl-C: %d more complete request(s) written, %d cut off",
                     kept, len(pending) - kept)
            raise
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        finally:
            with self.atomic.section():
                writer.flush()
            for bar in bars.values():
                bar.close()
        pool.shutdown(wait=True)
        for d in dcs:
            if limits[d.id].dead:
                log.warning("%s: given up for this run (%s)", d.host, limits[d.id].dead)
        log.info("waveforms: %d segment(s) written, %d with data", writer.written,
                 report.with_data)
        if writer.kept:
            log.warning("%d segment(s) with data kept as they were: the new attempt (window "
                        "changed) brought no data; the next run tries again", writer.kept)


class _Outcomes:
    """The outcomes of the waveform requests: counted in the report (errors logged once
    per data center and code), written, shown on the progress bars."""

    def __init__(self, by_id: dict[int, routing.DataCenter], report: DownloadReport,
                 writer: SegmentWriter, bars: dict[int, Any], auths: dict[int, Any]) -> None:
        self.by_id, self.report, self.writer = by_id, report, writer
        self.bars, self.auths = bars, auths
        self.errors_seen: set[tuple[str, Any]] = set()

    def record(self, groups_done: list[list[Seg]]) -> None:
        """Count, write and show the segments of ``groups_done`` (those cut by Ctrl-C: not)."""
        for group in groups_done:
            if any(s.result.get("error") == ABORTED for s in group):
                continue  # cut by Ctrl-C: not an outcome (asked again by the next run)
            dc = self.by_id[group[0].datacenter_id]
            counts = self.report.counts.setdefault(mask_web_url(dc.dataselect_url), Counter())
            for s in group:
                code = s.result.get("download_code")
                counts[code] += 1
                err = s.result.get("error")
                if err and (dc.host, code) not in self.errors_seen:
                    self.errors_seen.add((dc.host, code))
                    log.warning("%s: segments without data (code %s: %s); reported once "
                                "per data center and code", dc.host, code, err)
            self.writer.add(group, dc.id in self.auths)
            self.bars[dc.id].update(len(group))

    def outcome(self, fut: Future, group: list[Seg]) -> list[list[Seg]]:
        """The groups a request answered; a request that raised: its segments as URL errors."""
        try:
            return fut.result()
        except Exception as exc:  # noqa: BLE001 - a failed request, not a failed run
            log.error("%s: request of %d segment(s) failed unexpectedly (%s): recorded "
                      "as URL error (-1)", self.by_id[group[0].datacenter_id].host, len(group),
                      _first_line(exc))
            for s in group:
                s.result = {"download_code": URL_ERROR, "error": _first_line(exc)}
            return [group]


def _fetch(client: Client, url: str, group: list[Seg], timeout: float, limit: AdaptiveLimit,
           auth: Any, max_bytes: int) -> list[list[Seg]]:
    return fetch_waveforms(client, url, group, timeout, limit, auth, max_bytes=max_bytes)


def _short_host(host: str) -> str:
    return mask_web_url(host).split("://", 1)[-1]


def download(config: str | os.PathLike[str] | Mapping[str, Any] | DownloadConfig, *,
             progress: bool = False, exit_on_second_interrupt: bool = False,
             **overrides: Any) -> DownloadReport:
    """Run a download (see :func:`s2sframe.download` for the documentation).

    ``exit_on_second_interrupt`` (the ``s2s download`` command): a second Ctrl-C ends the
    process at once (code 130) instead of raising KeyboardInterrupt again.
    """
    cfg = config if isinstance(config, DownloadConfig) else load(config, **overrides)
    started = time.monotonic()
    engine = _engine(cfg.dburl)
    run = _Run(cfg, engine, progress)
    report, capture = run.report, run.capture
    lock = DatabaseLock(engine, LOCK_NAME, "another download", mask_url(engine.url))
    wal = False
    try:
        lock.acquire()  # before creating tables: two first runs on one database never race
        run.lock = lock
        log.addHandler(capture)
        if log.level == logging.NOTSET or log.level > logging.INFO:
            log.setLevel(logging.INFO)
        if is_sqlite(engine.url):
            wal = sqlite_wal(engine)
            if not wal:
                log.warning("SQLite: WAL mode not available (another program holds the file, "
                            "or its file system does not allow it): other programs reading "
                            "the database may delay the download's writes")
        _create_tables(engine)
        # ids written by stream2segment: sequences behind them (moved under the run's lock)
        moved = run.write(schema.advance_sequences)
        def new_row(conn: sa.Connection) -> int:
            return schema.inserted_id(conn.execute(schema.downloads.insert().values(
                config=masked_yaml(cfg), program_version=f"s2sframe {_version()}", log="")))

        report.download_id = run.write(new_row)
        capture.engine, capture.download_id = engine, report.download_id
        log.info("download %d into %s", report.download_id, mask_url(engine.url))
        if moved:
            log.info("id sequences moved past the ids already written (as stream2segment "
                     "leaves them): %s", ", ".join(f"{t} -> {v}" for t, v in moved.items()))
        run.save_log()
        with _interrupts(run.client, exit_on_second_interrupt, run.atomic):
            run.run()
        report.status = "completed"
    except KeyboardInterrupt:
        report.status, report.failure = "interrupted", f"interrupted at step {run.step!r}"
        log.error("download %s interrupted by the user at step %r: what was downloaded is "
                  "saved, run again to resume", report.download_id, run.step)
        raise
    except Exception as exc:
        report.status = "failed"
        report.failure = f"{run.step}: {_first_line(exc)}"
        if report.download_id is None:  # before the run began (e.g. the database)
            raise
        log.error("download %d FAILED at step %r: %s", report.download_id, run.step,
                  _first_line(exc))
        note = f"(download {report.download_id} failed at step {run.step!r}; recorded in its " \
               "downloads row)"
        if isinstance(exc, DownloadFailed | ConfigError):  # e.g. no catalog: exit 2
            exc.add_note(note)
            raise
        failed = DownloadFailed(f"download {report.download_id} failed at step {run.step!r}: "
                                f"{_first_line(exc)}")
        failed.add_note(note)
        raise failed from exc
    finally:
        run.client.abort()  # nothing may still run: threads left would keep the process
        run.client.close()
        report.duration_sec = time.monotonic() - started
        if report.status == "completed":
            if report.counts:
                log.info("outcome per data center (segments):\n%s", report.table_text(),
                         extra={"console": False})
            log.info("download %d completed in %.1f s", report.download_id,
                     report.duration_sec)
        report.warnings, report.errors = capture.warnings(), capture.errors()
        log.removeHandler(capture)
        try:
            capture.save()
        except Exception as exc:  # noqa: BLE001 - the database may be what failed
            log.error("the log of download %s could not be saved: %s", report.download_id,
                      _first_line(exc))
        finally:
            if wal and not sqlite_rollback_journal(engine):
                log.info("SQLite: the database stays in WAL mode (another program has it "
                         "open): its -wal and -shm files are part of it while open")
            lock.release()
            engine.dispose()
    return report


def _authorize(client: Client, cfg: DownloadConfig, dcs: list[routing.DataCenter],
               timeout: float) -> dict[int, Any]:
    """Data center id -> digest credentials for restricted data (empty: open data only).
    The credentials are answered to that data center's host and port only."""
    from .http import DigestAuth

    if cfg.restricted_data is None:
        return {}
    if isinstance(cfg.restricted_data, tuple):
        return {d.id: DigestAuth(*cfg.restricted_data, for_url=d.dataselect_url) for d in dcs}
    out = {}
    for d in dcs:
        resp = client.request(d.service_url("dataselect", "auth"), data=cfg.restricted_data,
                              timeout=timeout, max_bytes=1 << 16)
        text = (resp.body or b"").decode("utf8", "replace").strip()
        if resp.ok and ":" in text:
            user, pwd = text.split(":", 1)
            out[d.id] = DigestAuth(user, pwd, for_url=d.dataselect_url)
        else:
            log.warning("%s: unable to acquire credentials for restricted data (%s): "
                        "downloading open data only", d.host, resp.error or "invalid answer")
    if out:
        log.info("restricted data: credentials from %d of %d data center(s)", len(out), len(dcs))
    return out


def _groups(todo: list[Seg]) -> list[list[Seg]]:
    """One request per (data center, window), most recent first, data centers interleaved."""
    by_key: dict[tuple, list[Seg]] = {}
    seen: dict[tuple, int] = {}
    for s in sorted(todo, key=lambda s: (s.request_start, s.request_end), reverse=True):
        # a channel once per request: two events may give it the same window (rare)
        base = (s.datacenter_id, s.request_start, s.request_end)
        k = seen.setdefault((*base, s.seed_id), -1) + 1
        seen[(*base, s.seed_id)] = k
        by_key.setdefault((*base, k), []).append(s)
    per_dc: dict[int, list[list[Seg]]] = {}
    for key, group in by_key.items():
        per_dc.setdefault(key[0], []).append(group)
    out: list[list[Seg]] = []
    queues = list(per_dc.values())
    for k in range(max(len(q) for q in queues)):
        out.extend(q[k] for q in queues if k < len(q))
    return out
