"""Fault injection for tests: a hostile HTTP server in front of the demo FDSN server.

Kept out of the package, with the tests that use it (the demo kit
:mod:`~s2sframe.testing.fdsn_server`, shipped to users, serves correct data; this
module only breaks it). :class:`HostileFront` listens on 127.0.0.1 and forwards
every request to one port of the demo server (the event hub or a data center), except
those a rule catches, which get a hostile answer instead:

==============  =====================================================================
``slow``        the real answer at ``rate`` bytes per second (headers at once)
``hang``        the request is read, then nothing is ever sent
``close``       the connection is closed without an answer
``reset``       the connection is reset (TCP RST)
``partial``     the real answer's headers, half its body, then the connection closed
``status``      HTTP ``status`` (e.g. 500, 503 with ``retry_after``) instead of data
``html``        an HTML error page with status 200 (as some proxies answer)
``gzip_bomb``   ``size`` zero bytes, gzip-compressed (~1/1000 of that on the wire),
                sent with ``Content-Encoding: gzip``
``gzip_file``   the real answer gzip-compressed, *without* ``Content-Encoding``
``huge``        ``size`` bytes of garbage with status 200, streamed
``redirect``    ``307`` to ``location``
``challenge``   ``401`` with an HTTP digest challenge (the credentials sent are recorded)
==============  =====================================================================

:func:`refused_url` gives a URL where nothing listens (connection refused) and
:class:`DeadServer` one that accepts connections and never answers (a dead node).
:meth:`HostileFront.chaos` draws a fault at random for a share of the requests
(the soak test).

Examples
--------
>>> import urllib.request
>>> from s2sframe.testing import fdsn_server
>>> with fdsn_server(events=2, stations=3) as server, HostileFront(server.event_url) as front:
...     rule = front.add("status", status=503, times=1)
...     try:
...         urllib.request.urlopen(front.url("/fdsnws/event/1/query?format=text"))
...     except urllib.error.HTTPError as err:
...         print(err.code)
...     text = urllib.request.urlopen(front.url("/fdsnws/event/1/query?format=text")).read()
503
"""

from __future__ import annotations

import gzip
import http.client
import random
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["DeadServer", "HostileFront", "Rule", "refused_url"]

FAULTS = ("slow", "hang", "close", "reset", "partial", "status", "html", "gzip_bomb",
          "gzip_file", "huge", "redirect", "challenge")
_SERVICES = {"/fdsnws/event/1/query": "event", "/eidaws/routing/1/query": "routing",
             "/fdsnws/station/1/query": "station", "/fdsnws/dataselect/1/query": "dataselect",
             "/fdsnws/dataselect/1/queryauth": "dataselect", "/fdsnws/dataselect/1/auth": "auth"}
HTML = (b"<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body>"
        b"<h1>Service Unavailable</h1><p>The server is temporarily unable to service your "
        b"request.</p></body></html>\n")


@dataclass
class Rule:
    """A fault for the requests of ``service`` ('event', 'station' (also inventories),
    'dataselect', 'auth', 'routing'; None: any) whose body or query mentions ``match``
    (None: any), the first ``times`` of them (None: all), each with ``probability``."""

    fault: str
    service: str | None = None
    match: str | None = None
    times: int | None = None
    probability: float = 1.0
    status: int = 500
    retry_after: float | None = None
    rate: float = 1.0  # bytes per second (slow)
    size: int = 1 << 30  # bytes (gzip_bomb, huge)
    location: str = ""  # redirect
    #: challenge: the WWW-Authenticate header
    header: str = 'Digest realm="FDSN", nonce="0123456789abcdef", qop="auth", algorithm=MD5'
    hits: int = 0


@dataclass
class _Request:
    service: str | None
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@lru_cache(maxsize=4)
def gzip_bomb(size: int) -> bytes:
    """``size`` zero bytes gzip-compressed: gzip members of 1 MiB of zeros one after the
    other (a valid gzip stream, ~1/1000 of ``size``, built at once)."""
    block = 1 << 20
    member = gzip.compress(bytes(block), compresslevel=9, mtime=0)
    rest = size % block
    return member * (size // block) + (gzip.compress(bytes(rest), mtime=0) if rest else b"")


def refused_url(path: str = "/fdsnws/dataselect/1/query") -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


class DeadServer:
    """A port that accepts connections (the kernel's backlog) and never answers: every
    request waits for its timeout. ``url(path)`` gives a URL on it."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self._sock.getsockname()[1]

    def url(self, path: str = "/fdsnws/dataselect/1/query") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> DeadServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HostileFront:
    """A hostile HTTP server forwarding to the host and port of ``upstream`` (a URL of
    the demo server); ``url(path)`` is the same path through this front.

    :meth:`add` a :class:`Rule` (or ``add(fault, **rule fields)``); :meth:`chaos` draws
    faults at random; ``requests`` lists what was received (service, path, body,
    headers); ``stop()`` (or the ``with`` block's end) shuts it down and ends any
    answer still being sent.
    """

    def __init__(self, upstream: str, *, seed: int = 0) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rules: list[Rule] = []
        self.requests: list[_Request] = []
        self.stopped = threading.Event()
        self._chaos: tuple[float, tuple[Rule, ...]] | None = None
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        handler = type("Handler", (_Handler,), {"front": self})
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"hostile-{self.port}")
        self._thread.start()

    def url(self, path_or_url: str) -> str:
        """``path_or_url`` (a path, or a URL of the upstream) through this front."""
        parts = urlsplit(path_or_url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, rule: Rule | str, **fields: Any) -> Rule:
        if isinstance(rule, str):
            rule = Rule(rule, **fields)
        if rule.fault not in FAULTS:
            raise ValueError(f"unknown fault {rule.fault!r}: one of {', '.join(FAULTS)}")
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        """No more faults: every request is forwarded."""
        with self._lock:
            self.rules.clear()
            self._chaos = None

    def chaos(self, share: float, rules: list[Rule]) -> None:
        """Answer ``share`` of the requests (drawn with this front's seed) with one of
        ``rules`` (drawn too; their ``service``/``match`` still apply)."""
        with self._lock:
            self._chaos = (share, tuple(rules))

    def count(self, service: str | None = None) -> int:
        return sum(1 for r in self.requests if service is None or r.service == service)

    def _pick(self, req: _Request) -> Rule | None:
        text = req.body.decode("latin1") + " " + req.path

        def applies(rule: Rule) -> bool:
            return ((rule.service is None or rule.service == req.service)
                    and (rule.match is None or rule.match in text)
                    and (rule.times is None or rule.hits < rule.times))

        with self._lock:
            for rule in self.rules:
                if applies(rule) and (rule.probability >= 1
                                      or self._rng.random() < rule.probability):
                    rule.hits += 1
                    return rule
            if self._chaos is not None and self._rng.random() < self._chaos[0]:
                candidates = [r for r in self._chaos[1] if applies(r)]
                if candidates:
                    rule = self._rng.choice(candidates)
                    rule.hits += 1
                    return rule
        return None

    def forward(self, method: str, path: str, body: bytes,
                headers: dict[str, str]) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            keep = {k: v for k, v in headers.items()
                    if k.lower() in ("content-type", "authorization", "user-agent")}
            conn.request(method, path, body=body if method == "POST" else None, headers=keep)
            resp = conn.getresponse()
            data = resp.read()
            hdrs = [(k, v) for k, v in resp.getheaders()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection",
                                         "date", "server")]
            return resp.status, hdrs, data
        finally:
            conn.close()

    def stop(self) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HostileFront:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up on a hostile answer are the point


class _Handler(BaseHTTPRequestHandler):
    front: HostileFront
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802
        self._handle(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._handle(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _handle(self, body: bytes) -> None:
        front = self.front
        service = _SERVICES.get(urlsplit(self.path).path)
        req = _Request(service, self.path, body, dict(self.headers.items()))
        with front._lock:
            front.requests.append(req)
        rule = front._pick(req)
        try:
            if rule is None:
                status, headers, data = front.forward(self.command, self.path, body, req.headers)
                return self._send(status, data, headers)
            getattr(self, "_" + rule.fault)(rule, body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    # ---- plumbing
    def _head(self, status: int, headers: list[tuple[str, str]], length: int | None) -> None:
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", str(length))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()

    def _send(self, status: int, data: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        self._head(status, headers or [("Content-Type", "text/plain")], len(data))
        self.wfile.write(data)

    def _real(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        return self.front.forward(self.command, self.path, body, dict(self.headers.items()))

    def _wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the front stops or the client goes away (False then)."""
        end = time.monotonic() + seconds
        while not self.front.stopped.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return True
            ready, _, _ = select.select([self.connection], [], [], min(left, 0.2))
            if ready:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False  # the client closed the connection
                except OSError:
                    return False
        return False

    # ---- faults
    def _slow(self, rule: Rule, body: bytes) -> None:
        status, headers, data = self._real(body)
        self._head(status, headers, len(data))
        self.wfile.flush()
        step = max(1, int(rule.rate // 10) or 1)
        for k in range(0, len(data), step):
            if not self._wait(step / rule.rate):
                self.close_connection = True
                return
            self.wfile.write(data[k:k + step])
            self.wfile.flush()

    def _hang(self, rule: Rule, body: bytes) -> None:
        self._wait(1e9)
        self.close_connection = True

    def _close(self, rule: Rule, body: bytes) -> None:
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _reset(self, rule: Rule, body: bytes) -> None:
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _partial(self, rule: Rule, body: bytes) -> None:
        status, headers, data = self._real(body)
        self._head(status, headers, len(data))
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)

    def _status(self, rule: Rule, body: bytes) -> None:
        headers = [("Content-Type", "text/plain")]
        if rule.retry_after is not None:
            headers.append(("Retry-After", f"{rule.retry_after:g}"))
        self._send(rule.status, b"" if rule.status == 204 else b"Injected fault", headers)

    def _html(self, rule: Rule, body: bytes) -> None:
        self._send(200, HTML, [("Content-Type", "text/html; charset=utf-8")])

    def _gzip_bomb(self, rule: Rule, body: bytes) -> None:
        self._send(200, gzip_bomb(rule.size), [("Content-Type", "application/octet-stream"),
                                               ("Content-Encoding", "gzip")])

    def _gzip_file(self, rule: Rule, body: bytes) -> None:
        status, headers, data = self._real(body)
        self._send(status, gzip.compress(data, mtime=0), [("Content-Type", "application/gzip")])

    def _huge(self, rule: Rule, body: bytes) -> None:
        self._head(200, [("Content-Type", "application/vnd.fdsn.mseed")], rule.size)
        block = bytes(range(256)) * 256
        left = rule.size
        while left > 0 and not self.front.stopped.is_set():
            n = min(left, len(block))
            self.wfile.write(block[:n])
            left -= n

    def _redirect(self, rule: Rule, body: bytes) -> None:
        self._send(307, b"", [("Location", rule.location), ("Content-Type", "text/plain")])

    def _challenge(self, rule: Rule, body: bytes) -> None:
        self._send(401, b"Unauthorized", [("WWW-Authenticate", rule.header),
                                          ("Content-Type", "text/plain")])
