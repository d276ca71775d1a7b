"""A real local FDSN server for tests and demos: :func:`fdsn_server`.

One HTTP server (``127.0.0.1``, a free port) for the event catalog and the EIDA routing
service, and one per data center with fdsnws-station (text and StationXML, GET and
POST), fdsnws-dataselect (POST, miniSEED), ``/auth`` (EIDA token -> credentials) and
``queryauth`` (HTTP digest authentication). Data: :class:`~s2sframe.testing.fdsn_data.Archive`.

Faults are injected on request with :meth:`FDSNServer.fault`.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from .fdsn_data import Archive, Channel

#: the token accepted by every data center's /auth (write it to a file for ``restricted_data``)
VALID_TOKEN = (
    "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
    '{"valid_until": "2099-01-01T00:00:00Z", "cn": "s2sframe test", "mail": "test@example.org"}\n'
    "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n"
)
_REALM = "FDSN"


@dataclass
class Fault:
    """A fault answered instead of (or on top of) the normal answer; see :meth:`FDSNServer.fault`."""

    service: str
    status: int | None = None
    datacenter: int | None = None
    station: str | None = None
    times: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    mseed: str | None = None
    hits: int = 0


class FDSNServer:
    """The running servers: URLs, the archive, fault injection and request counts."""

    def __init__(self, archive: Archive, *, max_event_days: float | None = None,
                 port: int = 0) -> None:
        self.archive = archive
        self.port = port
        self.max_event_days = max_event_days
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, int | None, str]] = []  # (service, dc, body or query)
        self.credentials = [(f"user{d}", secrets.token_hex(8)) for d in range(archive.datacenters)]
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------------ URLs
    @property
    def event_url(self) -> str:
        """fdsnws-event query URL (FDSN text format)."""
        return self._base(0) + "/fdsnws/event/1/query"

    @property
    def routing_url(self) -> str:
        """EIDA routing service query URL."""
        return self._base(0) + "/eidaws/routing/1/query"

    def dataselect_url(self, dc: int) -> str:
        """fdsnws-dataselect query URL of data center ``dc``."""
        return self._base(dc + 1) + "/fdsnws/dataselect/1/query"

    def station_url(self, dc: int) -> str:
        """fdsnws-station query URL of data center ``dc``."""
        return self._base(dc + 1) + "/fdsnws/station/1/query"

    @property
    def dataselect_urls(self) -> list[str]:
        """fdsnws-dataselect URLs of all data centers."""
        return [self.dataselect_url(d) for d in range(self.archive.datacenters)]

    def _base(self, k: int) -> str:
        host, port = self._servers[k].server_address[:2]
        return f"http://{host}:{port}"

    # ------------------------------------------------------------------ faults
    def fault(self, service: str, status: int | None = None, *, datacenter: int | None = None,
              station: str | None = None, times: int | None = None,
              retry_after: float | None = None, delay: float = 0.0,
              mseed: str | None = None) -> Fault:
        """Inject a fault on ``service`` ('event', 'station', 'dataselect', 'auth', 'routing').

        ``status``: answer this HTTP status (204 and 413 too) instead of data, with a
        Retry-After header if ``retry_after``; ``delay``: wait before answering (slower
        than the client's timeout: a URL error); ``mseed``: 'truncate' (cut the last
        record), 'corrupt' (garbage header), 'outside' (add a record outside the window),
        'shift' (all records outside the window), or 'close' (drop the connection).
        ``datacenter`` / ``station``: only requests of that data center / asking for that
        station code; ``times``: only the first n matching requests (None: all).
        """
        f = Fault(service, status, datacenter, station, times, retry_after, delay, mseed)
        with self._lock:
            self.faults.append(f)
        return f

    def clear_faults(self) -> None:
        """Remove all injected faults."""
        with self._lock:
            self.faults.clear()

    def _match(self, service: str, dc: int | None, stations: set[str]) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.service != service or (f.datacenter is not None and f.datacenter != dc):
                    continue
                if f.station is not None and f.station not in stations:
                    continue
                if f.times is not None and f.hits >= f.times:
                    continue
                f.hits += 1
                return f
        return None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FDSNServer:
        """Start the hub server and one server per data center (threads)."""
        for k in range(self.archive.datacenters + 1):
            handler = type("Handler", (_Handler,), {"fdsn": self, "dc": None if k == 0 else k - 1})
            srv = ThreadingHTTPServer(("127.0.0.1", self.port + k if self.port else 0), handler)
            srv.daemon_threads = True
            th = threading.Thread(target=srv.serve_forever, daemon=True, name=f"fdsn-{k}")
            th.start()
            self._servers.append(srv)
            self._threads.append(th)
        return self

    def stop(self) -> None:
        """Shut the servers down."""
        for srv in self._servers:
            srv.shutdown()
            srv.server_close()

    def count(self, service: str, dc: int | None = None) -> int:
        """Number of requests received for ``service`` (of data center ``dc`` if given)."""
        return sum(1 for s, d, _ in self.requests if s == service and (dc is None or d == dc))


@contextmanager
def fdsn_server(*, events: int = 6, stations: int = 6, datacenters: int = 2, seed: int = 0,
                max_event_days: float | None = None, port: int = 0,
                fast: bool = False) -> Iterator[FDSNServer]:
    """Run a local FDSN server (event, routing, station, dataselect, auth) on 127.0.0.1.

    Parameters
    ----------
    events, stations, datacenters : int
        Size of the catalog, number of stations (4 channels each: three of 100 or
        20 Hz and an ``LHZ`` at 1 Hz), number of data centers (1 to 3; each has its
        own port and networks; network ``ZR`` of data center 0 is restricted).
    seed : int
        Same seed, same data.
    max_event_days : float, optional
        The event service answers 413 to requests longer than this (to test splitting).
    port : int
        0: free ports; otherwise the catalog and routing service listen on ``port`` and
        data center ``k`` on ``port + 1 + k`` (fixed URLs for a demo configuration).
    fast : bool
        Serve the same noise everywhere (no event wavelets), records patched from a
        template: answers from memory at a high rate (benchmarks).

    Yields
    ------
    FDSNServer
        With ``event_url``, ``routing_url``, ``dataselect_urls``, ``archive`` (the data)
        and ``fault(...)`` to inject failures.

    Examples
    --------
    >>> import urllib.request
    >>> with fdsn_server(events=2, stations=3) as server:
    ...     text = urllib.request.urlopen(server.event_url + "?format=text").read().decode()
    >>> len(text.splitlines())  # header + 2 events
    3
    """
    server = FDSNServer(Archive.build(events=events, stations=stations, datacenters=datacenters,
                                      seed=seed, fast=fast), max_event_days=max_event_days,
                         port=port).start()
    try:
        yield server
    finally:
        server.stop()


# ---------------------------------------------------------------------- handler
def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _time(s: str) -> datetime:
    return datetime.fromisoformat(s.strip().rstrip("Z"))


class _Handler(BaseHTTPRequestHandler):
    fdsn: FDSNServer
    dc: int | None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # -------------------------------------------------------------- plumbing
    def _send(self, status: int, body: bytes = b"", ctype: str = "text/plain",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        params = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._route(url.path, params, [])

    def do_POST(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        params: dict[str, str] = {}
        lines: list[list[str]] = []
        for line in body.splitlines():
            line = line.strip()
            if not line:
                continue
            if "=" in line and len(line.split()) == 1:
                k, v = line.split("=", 1)
                params[k.strip()] = v.strip()
            else:
                lines.append(line.split())
        self._body = body
        self._route(url.path, params, lines)

    def _route(self, path: str, params: dict[str, str], lines: list[list[str]]) -> None:
        service = {"/fdsnws/event/1/query": "event", "/eidaws/routing/1/query": "routing",
                   "/fdsnws/station/1/query": "station", "/fdsnws/dataselect/1/query": "dataselect",
                   "/fdsnws/dataselect/1/queryauth": "dataselect",
                   "/fdsnws/dataselect/1/auth": "auth"}.get(path)
        if service is None or ((service in ("event", "routing")) != (self.dc is None)):
            return self._send(404, b"Not found: " + path.encode())
        self.fdsn.requests.append((service, self.dc, getattr(self, "_body", "") or self.path))
        stations = {ln[1] for ln in lines if len(ln) >= 2} | ({params["sta"]} if "sta" in params else set())
        fault = self.fdsn._match(service, self.dc, stations)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.mseed == "close":
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            if fault.status is not None:
                headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
                return self._send(fault.status, b"" if fault.status == 204 else b"Injected fault",
                                  headers=headers)
        try:
            getattr(self, "_" + service)(path, params, lines, fault)
        except (ValueError, KeyError) as exc:
            self._send(400, f"Bad request: {exc}".encode())

    # -------------------------------------------------------------- services
    def _event(self, path: str, p: dict[str, str], lines: list, fault: Fault | None) -> None:
        arch = self.fdsn.archive
        start = _time(p.get("starttime", p.get("start", "1900-01-01")))
        end = _time(p.get("endtime", p.get("end", "2100-01-01")))
        limit = self.fdsn.max_event_days
        if limit is not None and (end - start).total_seconds() > limit * 86400:
            return self._send(413, b"Request too large")

        def ok(e: Any) -> bool:
            checks = [("minlatitude", e.latitude, 1), ("maxlatitude", e.latitude, -1),
                      ("minlongitude", e.longitude, 1), ("maxlongitude", e.longitude, -1),
                      ("minmagnitude", e.magnitude, 1), ("maxmagnitude", e.magnitude, -1),
                      ("mindepth", e.depth_km, 1), ("maxdepth", e.depth_km, -1)]
            for key, val, sign in checks:
                if key in p and (val - float(p[key])) * sign < 0:
                    return False
            return start <= e.time <= end

        rows = [e for e in arch.events if ok(e)]
        if not rows:
            return self._send(204)
        out = ["#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|"
               "ContributorID|MagType|Magnitude|MagAuthor|EventLocationName|EventType"]
        for e in rows:
            out.append(f"{e.event_id}|{_iso(e.time)}|{e.latitude}|{e.longitude}|{e.depth_km}|"
                       f"TEST|TESTCAT|TEST|{e.event_id}|{e.mag_type}|{e.magnitude}|TEST|"
                       f"{e.location_name}|earthquake")
        self._send(200, ("\n".join(out) + "\n").encode())

    def _routing(self, path: str, p: dict[str, str], lines: list, fault: Fault | None) -> None:
        fd = self.fdsn
        blocks = []
        for d in range(fd.archive.datacenters):
            nets = sorted({c.network for c in fd.archive.channels if c.datacenter == d})
            blocks.append(fd.dataselect_url(d) + "\n" + "\n".join(
                f"{n} * * * 1990-01-01T00:00:00 2099-12-31T23:59:59" for n in nets))
        self._send(200, "\n\n".join(blocks).encode())

    def _selected(self, p: dict[str, str], lines: list[list[str]]) -> list[tuple[Channel, list[str]]]:
        arch, dc = self.fdsn.archive, self.dc
        assert dc is not None
        if not lines:
            lines = [[p.get("net", p.get("network", "*")), p.get("sta", p.get("station", "*")),
                      p.get("loc", p.get("location", "*")), p.get("cha", p.get("channel", "*")),
                      p.get("starttime", p.get("start", "*")), p.get("endtime", p.get("end", "*"))]]
        out = []
        for ln in lines:
            if len(ln) != 6:
                raise ValueError(f"invalid line {' '.join(ln)!r}")
            for n, s, loc, c in _expand(ln[:4]):
                for ch in arch.match(n, s, loc, c, dc):
                    out.append((ch, ln))
        return out

    def _station(self, path: str, p: dict[str, str], lines: list, fault: Fault | None) -> None:
        level = p.get("level", "station")
        chans = [c for c, _ in self._selected(p, lines)]
        chans = list({c.index: c for c in chans}.values())
        if not chans:
            return self._send(204)
        if p.get("format", "xml") == "text":
            if level != "channel":
                raise ValueError("only level=channel in text format")
            out = ["#Network|Station|Location|Channel|Latitude|Longitude|Elevation|Depth|"
                   "Azimuth|Dip|SensorDescription|Scale|ScaleFreq|ScaleUnits|SampleRate|"
                   "StartTime|EndTime"]
            for c in chans:
                s = self.fdsn.archive.sensor(c)
                out.append(f"{c.network}|{c.station}|{c.location}|{c.channel}|{c.latitude}|"
                           f"{c.longitude}|{c.elevation}|0.0|{c.azimuth}|{c.dip}|"
                           f"{s['description'] or ''}|{s['scale']}|{s['scale_freq']}|"
                           f"{s['scale_units']}|{c.sample_rate}|{_iso(c.start)}|")
            return self._send(200, ("\n".join(out) + "\n").encode())
        self._send(200, self.fdsn.archive.station_xml(chans, level), "application/xml")

    def _auth(self, path: str, p: dict[str, str], lines: list, fault: Fault | None) -> None:
        if self._body.strip() != VALID_TOKEN.strip():
            return self._send(401, b"Invalid token")
        user, pwd = self.fdsn.credentials[self.dc or 0]
        self._send(200, f"{user}:{pwd}".encode())

    def _authorized(self) -> bool:
        """HTTP digest authentication (RFC 2617, MD5, qop=auth)."""
        header = self.headers.get("Authorization", "")
        if not header.startswith("Digest "):
            return False
        fields = {}
        for part in _split_header(header[7:]):
            k, _, v = part.partition("=")
            fields[k.strip()] = v.strip().strip('"')
        user, pwd = self.fdsn.credentials[self.dc or 0]
        if fields.get("username") != user:
            return False
        ha1 = hashlib.md5(f"{user}:{_REALM}:{pwd}".encode()).hexdigest()  # noqa: S324
        ha2 = hashlib.md5(f"{self.command}:{fields.get('uri', '')}".encode()).hexdigest()  # noqa: S324
        expected = hashlib.md5(":".join([ha1, fields.get("nonce", ""), fields.get("nc", ""),  # noqa: S324
                                         fields.get("cnonce", ""), fields.get("qop", ""), ha2]
                                        ).encode()).hexdigest()
        return secrets.compare_digest(expected, fields.get("response", ""))

    def _dataselect(self, path: str, p: dict[str, str], lines: list, fault: Fault | None) -> None:
        auth = path.endswith("queryauth")
        if auth and not self._authorized():
            nonce = secrets.token_hex(16)
            return self._send(401, b"Unauthorized", headers={
                "WWW-Authenticate": f'Digest realm="{_REALM}", nonce="{nonce}", qop="auth", '
                                    f'algorithm=MD5'})
        arch = self.fdsn.archive
        chunks = []
        for ch, ln in self._selected(p, lines):
            if ch.restricted and not auth:
                continue
            start, end = _time(ln[4]), _time(ln[5])
            recs = arch.records(ch, start, end)
            if fault is not None and fault.mseed and (fault.station in (None, ch.station)):
                recs = _damage(recs, fault.mseed, arch, ch, start, end)
            chunks.extend(recs)
        if not chunks:
            return self._send(204)
        self._send(200, b"".join(chunks), "application/vnd.fdsn.mseed")


def _expand(codes: list[str]) -> list[tuple[str, str, str, str]]:
    from itertools import product

    return list(product(*[c.split(",") for c in codes]))  # type: ignore[arg-type]


def _split_header(value: str) -> list[str]:
    out, cur, quoted = [], "", False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return out + [cur]


def _damage(recs: list[bytes], how: str, arch: Archive, ch: Channel, start: datetime,
            end: datetime) -> list[bytes]:
    from datetime import timedelta

    if how == "truncate" and recs:
        return recs[:-1] + [recs[-1][: len(recs[-1]) // 2]]
    if how == "corrupt" and recs:
        return [b"<html>502 Bad Gateway</html>" + recs[0][28:]] + recs[1:]
    if how == "outside":
        return arch.records(ch, start - timedelta(hours=1), start - timedelta(minutes=59)) + recs
    if how == "shift":
        return arch.records(ch, start - timedelta(hours=1), start - timedelta(minutes=58))
    return recs


def main(argv: list[str] | None = None) -> None:
    """``python -m s2sframe.testing.fdsn_server [--port 8080]``: serve the demo data until Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--stations", type=int, default=12)
    parser.add_argument("--datacenters", type=int, default=2)
    parser.add_argument("--fast", action="store_true", help="noise only, from memory")
    args = parser.parse_args(argv)
    with fdsn_server(events=args.events, stations=args.stations, datacenters=args.datacenters,
                     port=args.port, fast=args.fast) as server:
        print(f"events_url: {server.event_url}\ndata_url: {server.dataselect_urls}\n"
              f"routing: {server.routing_url}\nCtrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":  # pragma: no cover
    main()
