"""What a run is doing besides processing segments, on the progress bar and in the log.

Starting the worker processes takes a second, up to tens of seconds on a loaded
machine; a read on PostgreSQL waits as long as another session holds a lock on a
table it reads. Neither moves the progress bar: :class:`Status` says it, as the
bar's postfix (``starting 4 workers...``) and in the log, and :class:`LockWatch`
looks in ``pg_locks`` for the lock waits of the run's sessions.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

logger = logging.getLogger("s2sframe")

#: Seconds a lock wait lasts before it is shown (short waits are normal); also the
#: seconds without progress after which pg_locks is looked at.
LOCK_REPORT_AFTER = 3.0
#: Seconds between two looks at pg_locks while the run makes no progress.
LOCK_POLL = 2.0


class Status:
    """The state of a run shown beside its progress: ``show(text)``, ``show("")`` clears.

    Each new text is logged (``log``, at INFO, prefixed by the run's name) and put on
    the progress bar ``bar`` (a tqdm bar, also set later: :attr:`bar`).
    """

    def __init__(self, name: str, bar: Any = None, log: logging.Logger = logger) -> None:
        self.name = name
        self.bar = bar
        self.log = log
        self.text = ""
        self._lock = threading.Lock()
        #: when the run last moved (a chunk came back, workers started); and whether
        #: workers are starting (nothing reads the database meanwhile)
        self.moved_at = time.monotonic()
        self.starting = False

    def moved(self) -> None:
        self.moved_at = time.monotonic()

    def show(self, text: str, log: str | None = None) -> None:
        """Show ``text`` (log ``log`` instead of it, if given; "" logs nothing)."""
        with self._lock:
            if text == self.text and log is None:
                return
            self.text = text
            if self.bar is not None:
                self.bar.set_postfix_str(text, refresh=True)
            message = text if log is None else log
            if message:  # the bar shows it: terminal handlers may skip it (s2s_status)
                self.log.info("%s: %s", self.name, message, extra={"s2s_status": True})


class LockWatch:
    """A thread showing, on ``status``, the lock waits of the run's database sessions.

    PostgreSQL only (the sessions whose ``application_name`` is the workers'); a
    context manager: the thread runs inside the ``with`` block. It looks at
    pg_locks (a short connection) only while the run makes no progress (no chunk
    back for :data:`LOCK_REPORT_AFTER` seconds, workers not starting): a run that
    moves opens no connection for it.
    """

    def __init__(self, url: URL, status: Status, application_name: str) -> None:
        self.url = url
        self.status = status
        self.application_name = application_name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since: dict[int, float] = {}  # pid -> when first seen waiting (PostgreSQL < 14)
        self._shown = ""

    def __enter__(self) -> LockWatch:
        self.status.moved()
        if self.url.get_backend_name() == "postgresql":
            self._thread = threading.Thread(target=self._run, name="s2s-lock-watch", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._show("")

    def _run(self) -> None:
        from ..db import urls as _db

        engine = _db.create_engine(self.url, readonly=True, poolclass=sa.pool.NullPool,
                                   connect_args={"application_name": "s2sframe lock watch"})
        try:
            while not self._stop.wait(LOCK_POLL):
                status = self.status
                stalled = (not status.starting
                           and time.monotonic() - status.moved_at >= LOCK_REPORT_AFTER)
                if not stalled:
                    if self._shown:  # the run moves again: the lock is gone
                        self._show("")
                    continue
                try:
                    self.check(engine)
                except Exception:  # noqa: BLE001 - a look that fails never stops the run
                    logger.debug("pg_locks not readable", exc_info=True)
        finally:
            engine.dispose()

    def check(self, engine: Any) -> None:
        from ..db.lockwaits import describe_waits, lock_waits

        with engine.connect() as conn:
            waits = lock_waits(conn, self.application_name)
        now = time.monotonic()
        self._since = {w.pid: self._since.get(w.pid, now) for w in waits}
        long = [w for w in waits if (w.seconds if w.seconds is not None
                                     else now - self._since[w.pid]) >= LOCK_REPORT_AFTER]
        self._show(describe_waits(long) if long else "")

    def _show(self, text: str) -> None:
        if text != self._shown:
            ended = f"no longer {self._shown}" if self._shown and not text else None
            self._shown = text
            self.status.show(text, log=ended)

