"""The HTTP request handler of :mod:`s2sframe.testing.fdsn_server`: the FDSN web services
(event, station, dataselect, routing, /auth, queryauth), and the faults of
:mod:`s2sframe.testing.faults` answered on request."""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlparse

from .faults import Fault, damage
from .fdsn_data import Channel
from .fdsn_formats import BAD_EVENT_LINES, BAD_STATION_LINES, isf_bulletin

#: the token accepted by every data center's /auth (write it to a file for ``restricted_data``)
VALID_TOKEN = (
    "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
    '{"valid_until": "2099-01-01T00:00:00Z", "cn": "s2sframe test", "mail": "test@example.org"}\n'
    "-----BEGIN PGP SIGNATURE-----\nabc\n-----END PGP SIGNATURE-----\n"
)
_REALM = "FDSN"


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%f")


def _time(s: str) -> datetime:
    return datetime.fromisoformat(s.strip().rstrip("Z"))


class _Handler(BaseHTTPRequestHandler):
    fdsn: Any  # the FDSNServer this handler answers for
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
        cap = self.fdsn.max_event_count
        if cap is not None and len(rows) > cap:
            return self._send(413, b"Request too large: more events than the server answers")
        if p.get("format") == "isf":
            return self._send(200, isf_bulletin(rows).encode())
        out = ["#EventID|Time|Latitude|Longitude|Depth/km|Author|Catalog|Contributor|"
               "ContributorID|MagType|Magnitude|MagAuthor|EventLocationName|EventType"]
        for e in rows:
            out.append(f"{e.event_id}|{_iso(e.time)}|{e.latitude}|{e.longitude}|{e.depth_km}|"
                       f"TEST|TESTCAT|TEST|{e.event_id}|{e.mag_type}|{e.magnitude}|TEST|"
                       f"{e.location_name}|earthquake")
        if self.fdsn.bad_lines:
            out.extend(BAD_EVENT_LINES)
        self._send(200, ("\n".join(out) + "\n").encode())

    def _routing(self, path: str, p: dict[str, str], lines: list, fault: Fault | None) -> None:
        fd = self.fdsn
        blocks = [fd.dataselect_url(d) + "\n" + "\n".join(rules) for d, rules in fd.archive.routes()]
        self._send(200, "\n\n".join(blocks).encode())

    def _selected(self, p: dict[str, str], lines: list[list[str]], *,
                  listed: bool = False) -> list[tuple[Channel, list[str]]]:
        """Channels (epochs) matching the request lines; ``listed``: those the station
        service lists, else those whose waveforms this data center serves (one epoch per
        channel and line: the one operating at the line's start)."""
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
            start, end = (None if t == "*" else _time(t) for t in ln[4:6])
            seen: set[tuple[str, str, str, str]] = set()
            for n, s, loc, c in _expand(ln[:4]):
                for ch in arch.match(n, s, loc, c, dc, listed=listed, start=start, end=end):
                    if not listed and arch.change is not None:  # epochs: one per channel
                        if ch.nslc in seen:
                            continue
                        seen.add(ch.nslc)
                    out.append((ch, ln))
        return out

    def _station(self, path: str, p: dict[str, str], lines: list, fault: Fault | None) -> None:
        level = p.get("level", "station")
        chans = [c for c, _ in self._selected(p, lines, listed=True)]
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
                           f"{s['scale_units']}|{c.sample_rate}|{_iso(c.start)}|"
                           f"{_iso(c.end) if c.end else ''}")
            if self.fdsn.bad_lines and self.dc == 0:
                out.extend(BAD_STATION_LINES)
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
                recs = damage(recs, fault.mseed, arch, ch, start, end)
            chunks.extend(recs)
        if not chunks:
            return self._send(204)
        if fault is not None and fault.mseed == "truncate-last":
            chunks[-1] = chunks[-1][: len(chunks[-1]) // 2]
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
