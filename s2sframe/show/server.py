"""The local HTTP server of ``s2s show``: static pages and a small JSON API over a Viewer.

Security (the server is for the person at this computer only):

- bound to 127.0.0.1; requests whose ``Host`` is not this server's address are
  refused (no DNS rebinding);
- writes (POST) need the session token, a random value made at start and given
  to the page in an ``HttpOnly; SameSite=Strict`` cookie (never in a page, a
  URL or a log), plus the ``X-S2S`` header (other sites cannot send it without
  a CORS pre-flight, which this server never approves) and, when the browser
  sends one, an ``Origin`` equal to this server's: no cross-site request forgery;
- ``readonly`` viewers refuse label writes (403) and open the database read-only;
- error messages never show the database password.
"""

from __future__ import annotations

import hmac
import json
import secrets
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa
import yaml

from ..db import outcomes
from ..db import schema as S
from ..db import urls as _db
from ..db.attributes import ATTRIBUTES
from ..exceptions import DatabaseError, SelectionError
from ..yamlfile import parse_yaml
from .viewer import ReadOnlyError, Viewer, describe, format_selection, parse_selection

__all__ = ["ShowServer"]

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_PAGES = {"/": "index.html", "/index.html": "index.html", "/downloads": "downloads.html",
          "/downloads.html": "downloads.html"}


def _static_files() -> dict[str, bytes]:
    """Every file of the static folder, by URL path (read once: nothing else is served)."""
    root = resources.files("s2sframe.show").joinpath("static")
    files: dict[str, bytes] = {}

    def walk(node: Any, prefix: str) -> None:
        for item in node.iterdir():
            if item.is_dir():
                walk(item, f"{prefix}{item.name}/")
            elif item.name.rsplit(".", 1)[-1] in ("html", "js", "css", "svg"):
                files[f"/static/{prefix}{item.name}"] = item.read_bytes()

    walk(root, "")
    return files


class _Handler(BaseHTTPRequestHandler):
    server: ShowServer
    protocol_version = "HTTP/1.1"

    # -- plumbing --------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        if self.server.verbose:  # method and path only: no headers, no cookie
            sys.stderr.write(f"s2s show: {self.command} {urlsplit(self.path).path} "
                             f"{args[1] if len(args) > 1 else ''}\n")

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None
              ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; style-src 'self' "
                         "'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200) -> None:
        body = json.dumps(data, allow_nan=False, default=str).encode()
        self._send(status, body, "application/json")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": self.server.safe(message)}, status)

    def _host_ok(self) -> bool:
        return self.headers.get("Host", "") in self.server.hosts

    def _write_allowed(self) -> bool:
        cookie = self.headers.get("Cookie", "")
        token = ""
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name == self.server.cookie_name:
                token = value
        origin = self.headers.get("Origin")
        return (hmac.compare_digest(token.encode(), self.server.token.encode())
                and self.headers.get("X-S2S") == "1"
                and (origin is None or origin in self.server.origins)
                and self.headers.get("Content-Type", "").startswith("application/json"))

    # -- GET -------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "unknown Host")
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        page = _PAGES.get(url.path)
        if page is not None:
            cookie = (f"{self.server.cookie_name}={self.server.token}; HttpOnly; "
                      "SameSite=Strict; Path=/")
            return self._send(200, self.server.static[f"/static/{page}"], _TYPES[".html"],
                              {"Set-Cookie": cookie})
        if url.path in self.server.static:
            ext = "." + url.path.rsplit(".", 1)[-1]
            return self._send(200, self.server.static[url.path], _TYPES[ext])
        handler = getattr(self, "get_" + url.path.removeprefix("/api/"), None) \
            if url.path.startswith("/api/") else None
        if handler is None:
            return self._error(HTTPStatus.NOT_FOUND, f"not found: {url.path}")
        self._run(handler, query)

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def _run(self, handler: Any, arg: Any) -> None:
        try:
            result = handler(arg)
        except (SelectionError, ValueError, LookupError, yaml.YAMLError) as exc:
            return self._error(HTTPStatus.BAD_REQUEST, describe(exc) if not isinstance(
                exc, SelectionError | ValueError) else str(exc))
        except ReadOnlyError as exc:
            return self._error(HTTPStatus.FORBIDDEN, str(exc))
        except DatabaseError as exc:
            return self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(exc))
        except Exception as exc:  # noqa: BLE001 - never kill the server thread
            return self._error(HTTPStatus.INTERNAL_SERVER_ERROR, describe(exc))
        self._json(result)

    # -- POST ------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._error(HTTPStatus.FORBIDDEN, "unknown Host")
        if not self._write_allowed():
            return self._error(HTTPStatus.FORBIDDEN, "missing or wrong session token: reload "
                               "the page from the address printed by s2s show")
        length = int(self.headers.get("Content-Length") or 0)
        if length > 5_000_000:
            return self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            return self._error(HTTPStatus.BAD_REQUEST, f"invalid JSON: {exc}")
        path = urlsplit(self.path).path
        handler = getattr(self, "post_" + path.removeprefix("/api/").replace("/", "_"), None) \
            if path.startswith("/api/") else None
        if handler is None:
            return self._error(HTTPStatus.NOT_FOUND, f"not found: {path}")
        self._run(handler, body)

    # -- API -------------------------------------------------------------------------
    @property
    def viewer(self) -> Viewer:
        return self.server.viewer

    def get_init(self, query: dict) -> dict:
        v = self.viewer
        funcs = v.functions
        return {
            "title": _db.mask_url(v.url), "readonly": v.readonly, "count": v.count,
            "selection": format_selection(v.selection),
            "config": yaml.safe_dump(v.config, sort_keys=False) if v.config else "",
            "classes": v.classes(),
            "plots": [p.describe() for p in funcs.plots.values()],
            "preprocess": funcs.preprocess_doc, "frame": v.frame_ids is not None,
            "attributes": list(ATTRIBUTES),
        }

    def get_segment(self, query: dict) -> dict:
        t0 = time.perf_counter()
        out = self.viewer.segment_data(
            int(query.get("index", 0)), preprocessed=query.get("pre") == "1",
            components=query.get("comp") == "1", width=int(query.get("width", 1600)))
        out["server_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return out

    def get_plot(self, query: dict) -> dict:
        segment, _row = self.viewer.segment(int(query.get("index", 0)))
        return self.viewer.plot(segment, query.get("name", ""), query.get("pre") == "1",
                                int(query.get("width", 1600)))

    def get_zoom(self, query: dict) -> dict:
        def num(name: str) -> float | None:
            return float(query[name]) if query.get(name) not in (None, "") else None

        return self.viewer.zoom(query.get("key", ""), num("x0"), num("x1"),
                                int(query.get("width", 1600)))

    def get_classes(self, query: dict) -> list:
        return self.viewer.classes()

    def get_downloads(self, query: dict) -> dict:
        engine = self.viewer.ro_engine
        return {"title": _db.mask_url(self.viewer.url), **outcomes.download_stats(engine),
                "stations": outcomes.station_stats(engine)}

    def get_download_log(self, query: dict) -> dict:
        d = S.downloads
        with self.viewer.ro_engine.connect() as conn:
            row = conn.execute(sa.select(d.c.log, d.c.config)
                               .where(d.c.id == int(query.get("id", -1)))).first()
        if row is None:
            raise LookupError(f"no download with id {query.get('id')}")
        return {"log": row.log or "", "config": row.config or ""}

    def post_selection(self, body: dict) -> dict:
        selection = parse_selection(str(body.get("text", "")))
        count = self.viewer.select(selection)
        return {"count": count, "selection": format_selection(selection)}

    def post_config(self, body: dict) -> dict:
        config = parse_yaml(str(body.get("text", "")), "the configuration") or {}
        if not isinstance(config, dict):
            raise ValueError(f"the configuration must be a mapping (key: value lines), "
                             f"not a {type(config).__name__}")
        self.viewer.set_config(config)
        return {"ok": True}

    def post_label(self, body: dict) -> dict:
        return self.viewer.set_label(int(body["segment_id"]), int(body["class_id"]),
                                     bool(body["value"]))

    def post_classes_add(self, body: dict) -> list:
        return self.viewer.add_class(str(body.get("label", "")), body.get("description") or None)

    def post_classes_delete(self, body: dict) -> list:
        return self.viewer.delete_class(int(body["id"]))


class ShowServer(ThreadingHTTPServer):
    """The viewer's HTTP server on 127.0.0.1 (``port`` 0: a free one).

    ``serve_in_thread()`` runs it in a daemon thread (notebooks, tests);
    ``serve_forever()`` blocks (the command line). ``url`` is the page address.
    """

    daemon_threads = True
    allow_reuse_address = False

    def __init__(self, viewer: Viewer, port: int = 0, verbose: bool = False) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.viewer = viewer
        self.verbose = verbose
        self.token = secrets.token_urlsafe(32)
        self.port = int(self.server_address[1])
        self.cookie_name = f"s2s_show_{self.port}"
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.static = _static_files()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def safe(self, text: str) -> str:
        """``text`` without the database password or the session token."""
        return _db.mask_text(text, self.viewer.url).replace(self.token, "***")

    def serve_in_thread(self) -> ShowServer:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True,
                                        name=f"s2s-show-{self.port}")
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until the server thread ends (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        """Stop serving and close the socket and the viewer."""
        self.shutdown()
        self.server_close()
        self.viewer.close()
