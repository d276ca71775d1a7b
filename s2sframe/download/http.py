"""HTTP for the download: streaming reads, bounded retries with backoff, Retry-After,
and a concurrency limit per data center that adapts (halved on 429/503/timeouts, grown
back by one every ``limit`` successes: additive increase, multiplicative decrease).
"""

from __future__ import annotations

import email.utils
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

#: statuses worth retrying within a run (transient)
TRANSIENT = frozenset({429, 500, 502, 503, 504})
#: statuses that mean "slow down"
SLOW_DOWN = frozenset({429, 503})
URL_ERROR = -1  # stream2segment's download code of URL errors (timeouts, no connection)


@dataclass
class Response:
    """Outcome of one request: ``status`` is the HTTP status or -1 (URL error)."""

    status: int
    body: bytes | None
    error: str | None = None
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 300


class AdaptiveLimit:
    """A concurrency limit for one host: ``acquire``/``release`` around each request."""

    def __init__(self, maximum: int, initial: int | None = None) -> None:
        self.maximum = max(1, maximum)
        self.limit = min(self.maximum, initial or self.maximum)
        self.active = 0
        self.successes = 0
        self.paused_until = 0.0
        self.min_seen = self.limit
        self._cond = threading.Condition()

    def acquire(self) -> None:
        with self._cond:
            while True:
                wait = self.paused_until - time.monotonic()
                if wait <= 0 and self.active < self.limit:
                    self.active += 1
                    return
                self._cond.wait(timeout=max(wait, 0.05) if wait > 0 else 0.5)

    def release(self, *, slow_down: bool = False, retry_after: float | None = None) -> None:
        with self._cond:
            self.active -= 1
            if slow_down:
                self.limit = max(1, self.limit // 2)
                self.min_seen = min(self.min_seen, self.limit)
                self.successes = 0
                if retry_after:
                    self.paused_until = max(self.paused_until, time.monotonic() + retry_after)
            else:
                self.successes += 1
                if self.successes >= self.limit and self.limit < self.maximum:
                    self.limit += 1
                    self.successes = 0
            self._cond.notify_all()


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds of a Retry-After header (delta seconds or HTTP date), capped at 60 s."""
    if not value:
        return None
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        secs = (when - datetime.now(UTC)).total_seconds()
    return min(max(secs, 0.0), 60.0)


class Client:
    """Thread-safe HTTP client (one ``requests.Session`` per thread)."""

    def __init__(self, *, max_retries: int = 3, backoff: float = 1.0, blocksize: int = 1 << 20,
                 user_agent: str = "s2sframe") -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.blocksize = blocksize if blocksize > 0 else 1 << 24
        self.user_agent = user_agent
        self._local = threading.local()

    def _session(self) -> requests.Session:
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = self._local.session = requests.Session()
            sess.headers["User-Agent"] = self.user_agent
        return sess

    def request(self, url: str, *, data: str | bytes | None = None, timeout: float = 30.0,
                auth: Any = None, limit: AdaptiveLimit | None = None,
                params: dict[str, Any] | None = None) -> Response:
        """GET (or POST ``data``) ``url`` with retries on transient failures."""
        attempt = 0
        while True:
            attempt += 1
            if limit is not None:
                limit.acquire()
            resp = self._once(url, data, timeout, auth, params)
            wait = retry_after_seconds(resp.retry_after)
            slow = resp.status in SLOW_DOWN or resp.status == URL_ERROR
            if limit is not None:
                limit.release(slow_down=slow, retry_after=wait)
            transient = resp.status in TRANSIENT or resp.status == URL_ERROR
            if not transient or attempt > self.max_retries:
                return Response(resp.status, resp.body, resp.error, attempt)
            time.sleep(wait if wait is not None else self.backoff * 2 ** (attempt - 1))

    def _once(self, url: str, data: str | bytes | None, timeout: float, auth: Any,
              params: dict[str, Any] | None) -> _Raw:
        sess = self._session()
        try:
            method = "POST" if data is not None else "GET"
            with sess.request(method, url, data=data, params=params, timeout=timeout, auth=auth,
                              stream=True) as r:
                chunks = []
                deadline = time.monotonic() + max(timeout * 10, 60.0)
                for chunk in r.iter_content(self.blocksize):
                    chunks.append(chunk)
                    if time.monotonic() > deadline:
                        raise requests.Timeout("reading the response took too long")
                body = b"".join(chunks)
                if r.status_code >= 400:
                    return _Raw(r.status_code, None, f"HTTP {r.status_code} {r.reason}",
                                r.headers.get("Retry-After"))
                return _Raw(r.status_code, body, None, None)
        except requests.RequestException as exc:
            return _Raw(URL_ERROR, None, f"{type(exc).__name__}: {_short(exc)}", None)


@dataclass
class _Raw:
    status: int
    body: bytes | None
    error: str | None
    retry_after: str | None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
