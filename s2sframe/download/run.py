"""The download pipeline: events -> data centers -> channels -> segments -> waveforms ->
inventories, logged into a ``downloads`` row (configuration with secrets masked, log,
version). Each step is in the log; the waveform step shows a progress bar.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import sqlalchemy as sa

from ..db import schema
from ..db.urls import is_sqlite, mask_url, parse_url
from ..exceptions import DatabaseError
from . import channels, events, inventory, routing, segments
from .config import DownloadConfig, load, masked_yaml
from .dataselect import Seg
from .dataselect import fetch as fetch_waveforms
from .http import AdaptiveLimit, Client
from .report import DownloadReport
from .rows import Skipped
from .writer import SegmentWriter

log = logging.getLogger("s2sframe.download")
DEFAULT_CONCURRENCY = 8


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

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
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
        with self.lock:  # worker threads may be logging
            n, text = len(self.lines), "\n".join(self.lines)
            warnings, errors = self.warnings(), self.errors()
        self._saved_at = time.monotonic()
        if n == self._saved_lines:
            return
        with self.engine.begin() as conn:
            conn.execute(schema.downloads.update().where(
                schema.downloads.c.id == self.download_id).values(
                log=text, warnings=warnings, errors=errors))
        self._saved_lines = n


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("s2sframe")
    except metadata.PackageNotFoundError:  # pragma: no cover - not installed
        return "0+unknown"


def open_database(dburl: str) -> sa.engine.Engine:
    """Engine of ``dburl`` with the stream2segment tables (created if missing, never altered)."""
    url = parse_url(dburl)
    if is_sqlite(url) and os.path.dirname(url.database or ""):
        os.makedirs(os.path.dirname(url.database or ""), exist_ok=True)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool if is_sqlite(url) else None)
    if is_sqlite(url):
        @sa.event.listens_for(engine, "connect")
        def _fk_on(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()
    try:
        schema.create_all(engine)
    except sa.exc.SQLAlchemyError as exc:
        engine.dispose()
        raise DatabaseError(f"Cannot open {mask_url(url)}: {str(exc).splitlines()[0]}") from None
    return engine


def download(config: str | os.PathLike[str] | Mapping[str, Any] | DownloadConfig, *,
             progress: bool = False, **overrides: Any) -> DownloadReport:
    """Run a download (see :func:`s2sframe.download` for the documentation)."""
    cfg = config if isinstance(config, DownloadConfig) else load(config, **overrides)
    started = time.monotonic()
    engine = open_database(cfg.dburl)
    capture = _Capture()
    log.addHandler(capture)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    report = DownloadReport()
    try:
        with engine.begin() as conn:  # ids written by stream2segment: sequences behind them
            moved = schema.advance_sequences(conn)
        with engine.begin() as conn:
            report.download_id = conn.execute(schema.downloads.insert().values(
                config=masked_yaml(cfg), program_version=f"s2sframe {_version()}",
                log="")).inserted_primary_key[0]
        capture.engine, capture.download_id = engine, report.download_id
        log.info("download %d into %s", report.download_id, mask_url(cfg.dburl))
        if moved:
            log.info("id sequences moved past the ids already written (as stream2segment "
                     "leaves them): %s", ", ".join(f"{t} -> {v}" for t, v in moved.items()))
        capture.save()
        _pipeline(cfg, engine, report, progress, capture.save)
    except KeyboardInterrupt:
        log.error("interrupted by the user: what was downloaded is saved, run again to resume")
        raise
    except events.DownloadFailed as exc:
        log.error("%s", exc)
    finally:
        report.duration_sec = time.monotonic() - started
        report.warnings, report.errors = capture.warnings(), capture.errors()
        log.removeHandler(capture)
        try:
            capture.save()
        finally:
            engine.dispose()
    return report


def _pipeline(cfg: DownloadConfig, engine: sa.engine.Engine, report: DownloadReport,
              progress: bool, save_log: Callable[..., None]) -> None:
    """The steps; ``save_log()`` writes the log so far into the ``downloads`` row (each step,
    and ``save_log(force=False)`` often within the long ones: written every few seconds)."""
    adv = cfg.advanced
    client = Client(max_retries=adv["max_retries"], backoff=adv["backoff"],
                    blocksize=adv["download_blocksize"])
    skipped = Skipped(report.skipped)
    rows = events.fetch(client, cfg.events_url, cfg.event_params, cfg.starttime, cfg.endtime,
                        adv["e_timeout"], skipped)
    report.events = len(rows)
    if not rows:
        log.warning("no event found: nothing to download")
        return
    columns = schema.present_columns(engine)["events"]
    with engine.begin() as conn:
        ev_ids = events.save(conn, cfg.events_url, rows, columns,
                             events.catalog_name(cfg.raw.get("events_url")), skipped)
    save_log()
    with engine.begin() as conn:
        dcs = routing.fetch(client, conn, cfg.data_url, adv["routing_service_url"], adv["s_timeout"])
    save_log()
    with engine.begin() as conn:
        chans = channels.fetch(client, conn, cfg, dcs, adv["s_timeout"], skipped)
    save_log()
    report.channels = len(chans)
    if not chans:
        log.warning("no channel found: nothing to download")
        return
    auths = _authorize(client, cfg, dcs)
    segs = segments.candidates(rows, ev_ids, chans, cfg)
    with engine.connect() as conn:
        todo = segments.to_download(conn, segs, cfg.retry, set(auths))
    report.segments_planned = len(todo)
    cap = adv["max_concurrent_downloads"] or DEFAULT_CONCURRENCY
    limits = {d.id: AdaptiveLimit(cap) for d in dcs}
    if todo:
        _waveforms(client, engine, cfg, dcs, todo, auths, limits, report, progress, save_log)
        save_log()
    if cfg.inventory:
        saved = inventory.fetch(client, engine, cfg.update_metadata, adv["i_timeout"], limits,
                                min(cap * len(dcs), 16), progress,
                                tick=lambda: save_log(force=False))
        save_log()
        report.inventories = saved["saved"]
    for d in dcs:
        if limits[d.id].min_seen < cap:
            log.info("%s asked to slow down: concurrency went down to %d (of %d)", d.host,
                     limits[d.id].min_seen, cap)


def _authorize(client: Client, cfg: DownloadConfig, dcs: list[routing.DataCenter]) -> dict[int, Any]:
    """Data center id -> digest credentials for restricted data (empty: open data only)."""
    from requests.auth import HTTPDigestAuth

    if cfg.restricted_data is None:
        return {}
    if isinstance(cfg.restricted_data, tuple):
        return {d.id: HTTPDigestAuth(*cfg.restricted_data) for d in dcs}
    out = {}
    for d in dcs:
        resp = client.request(d.service_url("dataselect", "auth"), data=cfg.restricted_data,
                              timeout=cfg.advanced["s_timeout"])
        text = (resp.body or b"").decode("utf8", "replace").strip()
        if resp.ok and ":" in text:
            user, pwd = text.split(":", 1)
            out[d.id] = HTTPDigestAuth(user, pwd)
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


def _waveforms(client: Client, engine: sa.engine.Engine, cfg: DownloadConfig,
               dcs: list[routing.DataCenter], todo: list[Seg], auths: dict[int, Any],
               limits: dict[int, AdaptiveLimit], report: DownloadReport, progress: bool,
               save_log: Callable[..., None]) -> None:
    from tqdm.auto import tqdm

    adv = cfg.advanced
    by_id = {d.id: d for d in dcs}
    writer = SegmentWriter(engine, report.download_id or 0, adv["db_buf_size"],
                           Skipped(report.skipped))
    groups = _groups(todo)
    workers = sum(lim.maximum for lim in limits.values())
    log.info("waveforms: %d segment(s) in %d request(s)", len(todo), len(groups))
    save_log()
    bar = tqdm(total=len(todo), unit="seg", disable=not progress, desc="waveforms",
               dynamic_ncols=True)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s2s-dl")
    pending: set[Future] = set()
    errors_seen: set[tuple[str, Any]] = set()
    it = iter(groups)
    try:
        while True:
            while len(pending) < 2 * workers:
                group = next(it, None)
                if group is None:
                    break
                dc = by_id[group[0].datacenter_id]
                auth = auths.get(dc.id)
                url = dc.service_url("dataselect", "queryauth" if auth else "query")
                pending.add(pool.submit(fetch_waveforms, client, url, group, adv["w_timeout"],
                                        limits[dc.id], auth))
            if not pending:
                break
            # a timeout: the log is saved every few seconds even while requests hang
            done, pending = wait(pending, timeout=_Capture.every, return_when=FIRST_COMPLETED)
            for fut in done:
                for group in fut.result():
                    dc = by_id[group[0].datacenter_id]
                    counts = report.counts.setdefault(dc.dataselect_url, Counter())
                    for s in group:
                        code = s.result.get("download_code")
                        counts[code] += 1
                        err = s.result.get("error")
                        if err and (dc.host, code) not in errors_seen:
                            errors_seen.add((dc.host, code))
                            log.warning("%s: segments without data (code %s: %s); reported once "
                                        "per data center and code", dc.host, code, err)
                    writer.add(group, dc.id in auths)
                    bar.update(len(group))
            save_log(force=False)  # between the writer's transactions, never within one
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        writer.flush()
        bar.close()
    pool.shutdown(wait=True)
    log.info("waveforms: %d segment(s) written, %d with data", writer.written, report.with_data)
    if writer.kept:
        log.warning("%d segment(s) with data kept as they were: the new attempt (window "
                    "changed) brought no data; the next run tries again", writer.kept)
