"""HTTP for the download: streaming reads with a size cap and a total deadline, bounded
retries with backoff, Retry-After, and a concurrency limit per data center that adapts
(halved on 429/503/timeouts, grown back by one every ``limit`` successes: additive
increase, multiplicative decrease) and gives up on a data center that keeps failing.

What is bounded, whatever the server does:

- **time**: each attempt has a total deadline (``deadline``, default
  ``max(10 x timeout, 60 s)``) from sending the request to the last byte, enforced by
  a watchdog thread that shuts the socket down: a server sending one byte a second is
  cut off at the deadline (the ``timeout`` itself bounds each wait for a byte);
- **size**: a response is read in blocks and given up as soon as its bytes received or
  its bytes after decompression (gzip, deflate: decoded here, block by block) exceed
  ``max_bytes``; a gzip bomb costs at most ``max_bytes`` of memory;
- **retries**: transient failures (429, 5xx, timeouts, dropped connections) are retried
  ``max_retries`` times; a refused connection, an unknown host, a response over the
  cap or past the deadline are not (they are answered at once);
- **dead data centers**: after :data:`DEAD_AFTER` URL errors in a row from one data
  center, its :class:`AdaptiveLimit` refuses every further request at once (code -1,
  "data center unreachable"), so a dead node costs seconds, not hours;
- **Ctrl-C**: :meth:`Client.abort` cuts every request in flight and wakes every wait.

A concurrency slot is always given back (``finally``), and an unexpected exception
while reading (a bug, a hostile header, ``MemoryError``) fails that request only
(``kind="error"``), never the run nor the other threads.
"""

from __future__ import annotations

import email.utils
import logging
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.auth import HTTPDigestAuth

from ..exceptions import describe_error

log = logging.getLogger("s2sframe.download")

#: statuses worth retrying within a run (transient)
TRANSIENT = frozenset({429, 500, 502, 503, 504})
#: statuses that mean "slow down"
SLOW_DOWN = frozenset({429, 503})
URL_ERROR = -1  # stream2segment's download code of URL errors (timeouts, no connection)
#: the status given to a response larger than the cap (HTTP's "Payload Too Large"):
#: a waveform request is split in two on it, a single segment is saved with this code
TOO_LARGE = 413
#: URL errors retried within a request (the others fail at once)
RETRIED_KINDS = frozenset({"timeout", "connection"})
#: consecutive URL errors (attempts) after which a data center is given up for the run
DEAD_AFTER = 10
ABORTED = "aborted by the user"


@dataclass
class Response:
    """Outcome of one request: ``status`` is the HTTP status, -1 (URL error) or 413
    (response over the size cap). ``kind`` says what failed: None (an HTTP answer),
    'timeout', 'connection' (dropped, reset), 'refused', 'dns', 'deadline',
    'too_large', 'dead' (data center given up), 'aborted' (Ctrl-C) or 'error'."""

    status: int
    body: bytes | None
    error: str | None = None
    attempts: int = 1
    kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and 200 <= self.status < 300


class AdaptiveLimit:
    """A concurrency limit for one data center: ``acquire``/``release`` around each request.

    It also counts URL errors in a row (any answer from the server resets the count):
    after ``dead_after`` of them the data center is *dead* for the run (``dead`` says
    why) and :meth:`acquire` refuses at once.
    """

    def __init__(self, maximum: int, initial: int | None = None, *, name: str = "",
                 dead_after: int = DEAD_AFTER) -> None:
        self.maximum = max(1, maximum)
        self.limit = min(self.maximum, initial or self.maximum)
        self.active = 0
        self.successes = 0
        self.paused_until = 0.0
        self.min_seen = self.limit
        self.name = name
        self.dead_after = dead_after
        self.failures = 0  # URL errors in a row
        self.dead: str | None = None
        self._cond = threading.Condition()

    def acquire(self, abort: threading.Event | None = None) -> bool:
        """Take a slot (waiting for one); False, at once, if the data center is dead or
        ``abort`` is set."""
        with self._cond:
            while True:
                if self.dead is not None or (abort is not None and abort.is_set()):
                    return False
                wait = self.paused_until - time.monotonic()
                if wait <= 0 and self.active < self.limit:
                    self.active += 1
                    return True
                self._cond.wait(timeout=min(max(wait, 0.05), 0.5) if wait > 0 else 0.5)

    def release(self, *, slow_down: bool = False, retry_after: float | None = None,
                url_error: str | None = None) -> None:
        """Give the slot back; ``url_error``: the attempt got no answer (why)."""
        with self._cond:
            self.active -= 1
            if url_error is not None:
                self.failures += 1
                if self.dead is None and self.failures >= self.dead_after:
                    self.dead = f"{self.failures} URL errors in a row (last: {url_error})"
                    log.warning("%s: %s: its remaining requests are not sent (code -1, URL "
                                "error); the next run retries them (retry_url_err)",
                                self.name or "data center", self.dead)
            else:
                self.failures = 0
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
    if secs != secs:  # NaN
        return None
    return min(max(secs, 0.0), 60.0)


def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of ``url``, default ports filled in.

    Examples
    --------
    >>> origin("http://user:pw@Example.org/fdsnws")
    ('http', 'example.org', 80)
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, (parts.hostname or "").lower(), port


class DigestAuth(HTTPDigestAuth):
    """HTTP digest credentials answered only to the origin (scheme, host, port) they are
    for: a redirect to another host or port gets its 401 back unanswered."""

    def __init__(self, username: str, password: str, for_url: str) -> None:
        super().__init__(username, password)
        self.origin = origin(for_url)

    def handle_401(self, r: requests.Response, **kwargs: Any) -> requests.Response:
        if origin(r.url) != self.origin:
            return r
        if r._content is False:  # type: ignore[attr-defined]  # requests' "not read yet"
            r._content = b""  # type: ignore[attr-defined]  # a 401's body is never read
        return super().handle_401(r, **kwargs)


# ------------------------------------------------------------------ deadlines and Ctrl-C
class _Tracker:
    """One attempt in flight: its deadline and (once it has one) its connection."""

    __slots__ = ("conn", "deadline", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.conn: Any = None
        self.expired = False


_CURRENT = threading.local()  # the tracker of this thread's attempt


def _cut(tracker: _Tracker) -> None:
    sock = getattr(tracker.conn, "sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns at once
        except OSError:
            pass


class _Watchdog:
    """One thread that cuts the connection of any attempt past its deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active: set[_Tracker] = set()
        self._thread: threading.Thread | None = None

    def add(self, tracker: _Tracker) -> None:
        with self._cond:
            self._active.add(tracker)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="s2s-http-watchdog")
                self._thread.start()
            self._cond.notify()

    def remove(self, tracker: _Tracker) -> None:
        with self._cond:  # never cut after this: the connection may serve another request
            self._active.discard(tracker)

    def cut_all(self) -> None:
        with self._cond:
            for t in self._active:
                t.expired = True
                _cut(t)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                nearest = None
                for t in self._active:
                    if t.expired:
                        continue
                    if t.deadline <= now:
                        t.expired = True
                        _cut(t)
                    elif nearest is None or t.deadline < nearest:
                        nearest = t.deadline
                self._cond.wait(timeout=None if nearest is None else nearest - now + 0.01)


def _tracking(base: type) -> type:
    class Pool(base):  # type: ignore[valid-type, misc]
        def _get_conn(self, timeout: float | None = None) -> Any:
            conn = super()._get_conn(timeout)
            tracker = getattr(_CURRENT, "tracker", None)
            if tracker is not None:
                tracker.conn = conn
            return conn

    Pool.__name__ = "Tracked" + base.__name__
    return Pool


_POOLS = {"http": _tracking(urllib3.HTTPConnectionPool),
          "https": _tracking(urllib3.HTTPSConnectionPool)}


class _Adapter(HTTPAdapter):
    """requests' adapter whose connection pools tell the watchdog which connection an
    attempt uses (so that it can cut it)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        manager.pool_classes_by_scheme = dict(_POOLS)
        return manager


# ------------------------------------------------------------------ bodies
class _TooLarge(Exception):
    pass


class _Body:
    """The bytes of a response, decoded (gzip, deflate) block by block, never more than
    ``cap`` bytes received nor ``cap`` bytes decoded."""

    def __init__(self, encoding: str, cap: int) -> None:
        self.cap = cap
        self.received = 0
        self.size = 0
        self.parts: list[bytes] = []
        enc = encoding.strip().lower()
        if enc in ("", "identity"):
            self._z: Any = None
        elif enc in ("gzip", "x-gzip"):
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif enc == "deflate":
            self._z = zlib.decompressobj(zlib.MAX_WBITS)
        else:
            raise ValueError(f"unsupported Content-Encoding {encoding!r}")
        self._raw_deflate = enc == "deflate"
        self._first = True

    def _append(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.cap:
            raise _TooLarge
        if data:
            self.parts.append(data)

    def feed(self, raw: bytes) -> None:
        self.received += len(raw)
        if self.received > self.cap:
            raise _TooLarge
        if self._z is None:
            self._append(raw)
            return
        data = raw
        while data:
            try:
                out = self._z.decompress(data, self.cap - self.size + 1)
            except zlib.error:
                if self._raw_deflate and self._first:  # deflate without zlib header
                    self._z, self._first = zlib.decompressobj(-zlib.MAX_WBITS), False
                    continue
                raise
            self._first = False
            self._append(out)
            data = self._z.unconsumed_tail
            if self._z.eof:  # gzip members may follow each other
                data = self._z.unused_data + data
                if not data:
                    break
                self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def bytes(self) -> bytes:
        if self._z is not None:
            self._append(self._z.flush())
        return b"".join(self.parts)


# ------------------------------------------------------------------ the client
def default_deadline(timeout: float) -> float:
    """Total seconds one attempt may take: ``max(10 x timeout, 60)``.

    Examples
    --------
    >>> default_deadline(3), default_deadline(30)
    (60.0, 300.0)
    """
    return max(10.0 * timeout, 60.0)


class Client:
    """Thread-safe HTTP client (one ``requests.Session`` per thread).

    ``deadline``: total seconds of one attempt (None: :func:`default_deadline` of its
    timeout). ``max_bytes``: default size cap of a response (received and decoded).
    ``on_response(url, response)`` is called after each request (progress bars).
    """

    def __init__(self, *, max_retries: int = 3, backoff: float = 1.0, blocksize: int = 1 << 20,
                 user_agent: str = "s2sframe", deadline: float | None = None,
                 max_bytes: int = 1 << 30,
                 on_response: Callable[[str, Response], None] | None = None) -> None:
        self.max_retries = max_retries
        self.backoff = backoff
        self.blocksize = blocksize if 0 < blocksize <= 1 << 24 else 1 << 24
        self.user_agent = user_agent
        self.deadline = deadline
        self.max_bytes = max_bytes
        self.on_response = on_response
        self.aborted = threading.Event()
        self._watchdog = _Watchdog()
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        sess = getattr(self._local, "session", None)
        if sess is None:
            sess = self._local.session = requests.Session()
            sess.headers["User-Agent"] = self.user_agent
            sess.headers["Accept-Encoding"] = "gzip, deflate"
            adapter = _Adapter()
            sess.mount("http://", adapter)
            sess.mount("https://", adapter)
            with self._lock:
                self._sessions.append(sess)
        return sess

    def abort(self) -> None:
        """Ctrl-C: cut every request in flight, wake every wait; later requests fail at once."""
        self.aborted.set()
        self._watchdog.cut_all()

    def close(self) -> None:
        """Close the connections of every thread's session."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for sess in sessions:
            sess.close()

    def request(self, url: str, *, data: str | bytes | None = None, timeout: float = 30.0,
                auth: Any = None, limit: AdaptiveLimit | None = None,
                params: dict[str, Any] | None = None,
                max_bytes: int | None = None) -> Response:
        """GET (or POST ``data``) ``url`` with retries on transient failures."""
        resp = self._request(url, data, timeout, auth, limit, params, max_bytes)
        if self.on_response is not None:
            self.on_response(url, resp)
        return resp

    def _request(self, url: str, data: str | bytes | None, timeout: float, auth: Any,
                 limit: AdaptiveLimit | None, params: dict[str, Any] | None,
                 max_bytes: int | None) -> Response:
        attempt = 0
        while True:
            attempt += 1
            if self.aborted.is_set():
                return Response(URL_ERROR, None, ABORTED, attempt, "aborted")
            if limit is not None and not limit.acquire(self.aborted):
                if self.aborted.is_set():
                    return Response(URL_ERROR, None, ABORTED, attempt, "aborted")
                return Response(URL_ERROR, None, f"data center unreachable: {limit.dead}",
                                attempt, "dead")
            raw = _Raw(URL_ERROR, None, "not sent", None, "error")
            try:
                raw = self._once(url, data, timeout, auth, params, max_bytes or self.max_bytes)
            finally:  # the slot is given back whatever happened
                if limit is not None:
                    slow = raw.status in SLOW_DOWN or raw.kind in ("timeout", "deadline")
                    url_error = raw.error if raw.status == URL_ERROR else None
                    limit.release(slow_down=slow, retry_after=retry_after_seconds(raw.retry_after),
                                  url_error=url_error)
            if self.aborted.is_set():
                return Response(URL_ERROR, None, ABORTED, attempt, "aborted")
            transient = raw.status in TRANSIENT or raw.kind in RETRIED_KINDS
            if not transient or attempt > self.max_retries:
                return Response(raw.status, raw.body, raw.error, attempt, raw.kind)
            wait = retry_after_seconds(raw.retry_after)
            self.aborted.wait(wait if wait is not None else self.backoff * 2 ** (attempt - 1))

    def _once(self, url: str, data: str | bytes | None, timeout: float, auth: Any,
              params: dict[str, Any] | None, max_bytes: int) -> _Raw:
        sess = self._session()
        deadline = self.deadline if self.deadline is not None else default_deadline(timeout)
        tracker = _Tracker(time.monotonic() + deadline)
        _CURRENT.tracker = tracker
        self._watchdog.add(tracker)
        try:
            method = "POST" if data is not None else "GET"
            with sess.request(method, url, data=data, params=params, timeout=timeout, auth=auth,
                              stream=True) as r:
                tracker.conn = getattr(r.raw, "_connection", None) or tracker.conn
                if r.status_code >= 400:
                    return _Raw(r.status_code, None, f"HTTP {r.status_code} {_short(r.reason)}",
                                r.headers.get("Retry-After"), None)
                body = _Body(r.headers.get("Content-Encoding", ""), max_bytes)
                while True:
                    if tracker.expired:
                        raise _Expired
                    chunk = r.raw.read(self.blocksize, decode_content=False)
                    if not chunk:
                        break
                    body.feed(chunk)
                if tracker.expired:  # cut: what was read may be incomplete
                    raise _Expired
                return _Raw(r.status_code, body.bytes(), None, None, None)
        except _TooLarge:
            return _Raw(TOO_LARGE, None, f"response larger than {_mb(max_bytes)} (the size cap): "
                                         "not read further", None, "too_large")
        except Exception as exc:  # noqa: BLE001 - any failure fails this request only
            if self.aborted.is_set():
                return _Raw(URL_ERROR, None, ABORTED, None, "aborted")
            if tracker.expired or isinstance(exc, _Expired):
                return _Raw(URL_ERROR, None, f"no complete response within {deadline:g} s "
                                             "(the total deadline of a request)", None, "deadline")
            kind = _kind(exc)
            return _Raw(URL_ERROR, None, describe_error(exc, _short(exc)), None, kind)
        finally:
            self._watchdog.remove(tracker)
            _CURRENT.tracker = None


class _Expired(Exception):
    pass


@dataclass
class _Raw:
    status: int
    body: bytes | None
    error: str | None
    retry_after: str | None
    kind: str | None


def _kind(exc: BaseException) -> str:
    """What a failure was: 'refused', 'dns', 'timeout', 'connection' or 'error'."""
    if isinstance(exc, requests.Timeout | socket.timeout | TimeoutError):
        return "timeout"
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "refused"
        if isinstance(cur, socket.gaierror | urllib3.exceptions.NameResolutionError):
            return "dns"
        if isinstance(cur, urllib3.exceptions.MaxRetryError) and cur.reason is not None:
            cur = cur.reason
            continue
        cur = cur.__cause__ or cur.__context__ or (cur.args[0] if cur.args and isinstance(
            cur.args[0], BaseException) else None)
    if isinstance(exc, requests.ConnectionError | urllib3.exceptions.ProtocolError
                  | ConnectionError | requests.exceptions.ChunkedEncodingError):
        return "connection"
    return "error"


def _mb(n: int) -> str:
    return f"{n / 1e6:g} MB"


def _short(exc: Any) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
