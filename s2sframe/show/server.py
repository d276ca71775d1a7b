"""The local web server of ``s2s show``: static pages and a small JSON API over a Viewer.

HTTP is parsed by uvicorn (its ``h11`` protocol: a strict, pure-Python HTTP/1.1
parser; request framing, bodies and keep-alive are its business) and routed by
Starlette (routes, cookies, query strings). This module holds the routes and the
security model:

- bound to 127.0.0.1 (``SO_REUSEADDR``: ``--port N`` works again right after a
  restart); requests whose ``Host`` is not this server's address are refused
  (no DNS rebinding);
- writes (POST) need the session token, a random value made at start and given
  to the page in an ``HttpOnly; SameSite=Strict`` cookie (never in a page, a
  URL or a log), plus the ``X-S2S`` header (other sites cannot send it without
  a CORS pre-flight, which this server never approves) and, when the browser
  sends one, an ``Origin`` equal to this server's: no cross-site request forgery.
  A refused or oversized POST is answered with ``Connection: close`` and its
  body is never read, let alone parsed as a request;
- every answer carries a strict Content-Security-Policy (nothing but this
  server's own scripts), ``nosniff`` and ``frame-ancestors 'none'``;
- ``readonly`` viewers refuse label writes (403) and open the database read-only;
- error messages never show the database password or the token.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import secrets
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

import sqlalchemy as sa
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..db import outcomes, schema
from ..db import urls as _db
from ..db.attributes import ATTRIBUTES
from ..exceptions import DatabaseError, SelectionError
from ..yamlfile import parse_yaml
from .viewer import ReadOnlyError, Viewer, describe, format_selection, parse_selection

__all__ = ["MAX_BODY", "ShowServer"]

#: Largest POST body accepted (bytes): the API takes short JSON objects only.
MAX_BODY = 1_000_000

_TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
          "css": "text/css; charset=utf-8", "svg": "image/svg+xml",
          "json": "application/json"}
_PAGES = {"/": "index.html", "/index.html": "index.html", "/downloads": "downloads.html",
          "/downloads.html": "downloads.html"}
_SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy",
     b"default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
     b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
]


def _static_files() -> dict[str, bytes]:
    """Every file of the static folder, by URL path (read once: nothing else is served)."""
    root = resources.files("s2sframe.show").joinpath("static")
    files: dict[str, bytes] = {}

    def walk(node: Any, prefix: str) -> None:
        for item in node.iterdir():
            if item.is_dir():
                walk(item, f"{prefix}{item.name}/")
            elif item.name.rsplit(".", 1)[-1] in _TYPES:
                files[f"/static/{prefix}{item.name}"] = item.read_bytes()

    walk(root, "")
    return files


def _listen(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:``port`` (0: a free one), address reuse on.

    ``SO_REUSEADDR`` lets a restarted viewer bind the port its previous run left
    in TIME_WAIT (Linux still refuses a port another socket listens on).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


class _Guard:
    """ASGI middleware: refuse foreign ``Host`` headers, add the security headers, log."""

    def __init__(self, app: ASGIApp, server: ShowServer) -> None:
        self.app = app
        self.server = server

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        status = 0

        async def send_secure(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  *_SECURITY_HEADERS]}
            await send(message)

        response = self.refuse(scope["headers"])
        if response is not None:  # answered unread: the connection then closes
            await response(scope, receive, send_secure)
        else:
            await self.app(scope, receive, send_secure)
        if self.server.verbose:  # method, path and status only: no query, header or cookie
            sys.stderr.write(f"s2s show: {scope['method']} {scope['path']} {status}\n")


    def refuse(self, headers: list[tuple[bytes, bytes]]) -> Response | None:
        """The answer to a request refused on its headers alone, or None.

        A foreign ``Host`` (DNS rebinding), and request bodies framed by
        ``Transfer-Encoding`` (never sent by the page; with a ``Content-Length``
        too it is a smuggling attempt, RFC 9112 6.3).
        """
        names = [k for k, _v in headers]
        hosts = [v.decode("latin-1") for k, v in headers if k == b"host"]
        if len(hosts) != 1 or hosts[0] not in self.server.hosts:
            return self.server.error(403, "unknown Host", close=True)
        if b"transfer-encoding" in names:
            if b"content-length" in names:
                return self.server.error(400, "both Content-Length and Transfer-Encoding",
                                         close=True)
            return self.server.error(411, "a request body needs a Content-Length", close=True)
        return None


class ShowServer:
    """The viewer's web server on 127.0.0.1 (``port`` 0: a free one).

    ``serve_in_thread()`` runs it in a daemon thread (notebooks, tests, the
    command line, which then ``wait()`` s); ``stop()`` ends it. ``url`` is the
    page address.
    """

    def __init__(self, viewer: Viewer, port: int = 0, verbose: bool = False) -> None:
        self.viewer = viewer
        self.verbose = verbose
        self.token = secrets.token_urlsafe(32)
        self._socket = _listen(port)
        self.port = int(self._socket.getsockname()[1])
        self.cookie_name = f"s2s_show_{self.port}"
        self.hosts = {f"127.0.0.1:{self.port}", f"localhost:{self.port}"}
        self.origins = {f"http://{h}" for h in self.hosts}
        self.static = _static_files()
        self.api = _Api(self)
        self.app = self._make_app()
        self._started = threading.Event()
        self._uvicorn = uvicorn.Server(uvicorn.Config(
            self.app, http="h11", ws="none", lifespan="on", loop="asyncio",
            interface="asgi3", proxy_headers=False, server_header=False,
            log_config=None, log_level="warning" if verbose else "error", access_log=False,
            timeout_keep_alive=5, timeout_graceful_shutdown=3,
            h11_max_incomplete_event_size=64 * 1024))
        self._thread: threading.Thread | None = None

    # -- the application -------------------------------------------------------------
    def _make_app(self) -> Starlette:
        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            self._started.set()
            yield

        async def not_found(request: Request, exc: Exception) -> Response:
            code = exc.status_code if isinstance(exc, HTTPException) else 404
            what = "not found" if code == 404 else "method not allowed"
            return self.error(code, f"{what}: {request.url.path}")

        routes = [
            *(Route(path, self._page, methods=["GET"]) for path in _PAGES),
            Route("/static/{path:path}", self._static, methods=["GET"]),
            Route("/api/{name:path}", self._get, methods=["GET"]),
            Route("/api/{name:path}", self._post, methods=["POST"]),
        ]
        return Starlette(routes=routes, lifespan=lifespan,
                         exception_handlers={404: not_found, 405: not_found},
                         middleware=[Middleware(_Guard, server=self)])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def safe(self, text: str) -> str:
        """``text`` without the database password or the session token."""
        return _db.mask_text(text, self.viewer.url).replace(self.token, "***")

    def json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None
             ) -> Response:
        body = json.dumps(data, allow_nan=False, default=str).encode()
        return Response(body, status, headers=headers, media_type=_TYPES["json"])

    def error(self, status: int, message: str, close: bool = False) -> Response:
        """A JSON ``{"error": message}`` answer (``close``: end the connection after it)."""
        return self.json({"error": self.safe(message)}, status,
                         {"Connection": "close"} if close else None)

    async def _page(self, request: Request) -> Response:
        cookie = f"{self.cookie_name}={self.token}; HttpOnly; SameSite=Strict; Path=/"
        return Response(self.static[f"/static/{_PAGES[request.url.path]}"],
                        media_type=_TYPES["html"], headers={"Set-Cookie": cookie})

    async def _static(self, request: Request) -> Response:
        content = self.static.get(request.url.path)
        if content is None:
            return self.error(404, f"not found: {request.url.path}")
        return Response(content, media_type=_TYPES[request.url.path.rsplit(".", 1)[-1]])

    async def _get(self, request: Request) -> Response:
        handler = getattr(self.api, "get_" + request.path_params["name"], None)
        if handler is None:
            return self.error(404, f"not found: {request.url.path}")
        return await run_in_threadpool(self._run, handler, dict(request.query_params))

    def _write_allowed(self, request: Request) -> bool:
        token = request.cookies.get(self.cookie_name, "")
        origin = request.headers.get("origin")
        return (hmac.compare_digest(token.encode(), self.token.encode())
                and request.headers.get("x-s2s") == "1"
                and (origin is None or origin in self.origins)
                and request.headers.get("content-type", "").startswith("application/json"))

    async def _post(self, request: Request) -> Response:
        if not self._write_allowed(request):
            return self.error(403, "missing or wrong session token: reload the page from "
                                   "the address printed by s2s show", close=True)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return self.error(413, f"request body too large (at most {MAX_BODY} bytes)",
                              close=True)
        data = bytearray()
        async for chunk in request.stream():  # chunked bodies have no length: count
            data += chunk
            if len(data) > MAX_BODY:
                return self.error(413, f"request body too large (at most {MAX_BODY} bytes)",
                                  close=True)
        try:
            body = json.loads(bytes(data) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            return self.error(400, f"invalid JSON: {exc}")
        name = request.path_params["name"].replace("/", "_")
        handler = getattr(self.api, "post_" + name, None)
        if handler is None:
            return self.error(404, f"not found: {request.url.path}")
        return await run_in_threadpool(self._run, handler, body)

    def _run(self, handler: Callable[[dict], Any], arg: dict) -> Response:
        try:
            return self.json(handler(arg))
        except (SelectionError, ValueError, LookupError, yaml.YAMLError) as exc:
            return self.error(400, str(exc) if isinstance(exc, SelectionError | ValueError)
                              else describe(exc))
        except ReadOnlyError as exc:
            return self.error(403, str(exc))
        except DatabaseError as exc:
            return self.error(503, str(exc))
        except Exception as exc:  # noqa: BLE001 - an answer, never a dead request
            return self.error(500, describe(exc))

    # -- running ---------------------------------------------------------------------
    def serve_in_thread(self) -> ShowServer:
        """Serve in a daemon thread; return when the server answers requests."""
        self._thread = threading.Thread(target=self._uvicorn.run,
                                        kwargs={"sockets": [self._socket]}, daemon=True,
                                        name=f"s2s-show-{self.port}")
        self._thread.start()
        while not self._started.wait(0.05):
            if not self._thread.is_alive():
                raise RuntimeError("the s2s show server did not start")
        return self

    def serve_forever(self) -> None:
        """Serve until ``stop()`` is called or Ctrl-C."""
        if self._thread is None:
            self.serve_in_thread()
        self.wait()

    def wait(self) -> None:
        """Block until the server thread ends (Ctrl-C raises KeyboardInterrupt here)."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self) -> None:
        """Stop serving and close the socket and the viewer."""
        self._uvicorn.should_exit = True
        if self._thread is not None:
            self._thread.join(30)
        self._socket.close()
        self.viewer.close()


class _Api:
    """The JSON API: ``get_<name>(query)`` answers ``GET /api/<name>``, ``post_<a>_<b>(body)``
    answers ``POST /api/<a>/<b>``. Runs in worker threads; raises for 4xx/5xx answers."""

    def __init__(self, server: ShowServer) -> None:
        self.server = server

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
            components=query.get("comp") == "1", width=int(query.get("width", 1600)),
            plots=[p for p in query.get("plots", "").split(",") if p])
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
        stats = outcomes.download_stats(engine)
        stats["datacenters"] = {k: _db.mask_text(str(v)) for k, v in stats["datacenters"].items()}
        return {"title": _db.mask_url(self.viewer.url), **stats,
                "stations": outcomes.station_stats(engine)}

    def get_download_log(self, query: dict) -> dict:
        d = schema.downloads
        with self.viewer.ro_engine.connect() as conn:
            row = conn.execute(sa.select(d.c.log, d.c.config)
                               .where(d.c.id == int(query.get("id", -1)))).first()
        if row is None:
            raise LookupError(f"no download with id {query.get('id')}")
        # stored as written (stream2segment keeps the database password, tokens...)
        return {"log": _db.mask_log(row.log or ""), "config": _db.mask_config(row.config or "")}

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

