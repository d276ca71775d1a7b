"""Helpers of the viewer tests: a generated database, a plot module, an HTTP client with the cookie."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from s2sframe.testing import make_database

PLOTS = '''
import numpy as np
from s2sframe.show import gui


@gui.preprocess
def demean(segment, config):
    """Remove the mean (fast: no response removal)"""
    stream = segment.stream()
    for trace in stream:
        trace.data = trace.data - trace.data.mean()
    return stream


@gui.plot
def cumulative(segment, config):
    """Normalised cumulative energy"""
    trace = segment.stream()[0]
    trace.data = np.cumsum(trace.data.astype(float) ** 2)
    trace.data /= trace.data[-1]
    return trace


@gui.plot("r", xaxis={"type": "log"}, yaxis={"type": "log"})
def spectrum(segment, config):
    """Amplitude spectrum"""
    trace = segment.stream()[0]
    trace.data[:] = 0  # in place: must not leak into other plots
    return {"x0": 0, "dx": 0.1, "y": np.arange(1.0, 50.0), "name": "amplitude"}


@gui.plot("r")
def broken(segment, config):
    """Always fails"""
    raise ValueError("broken on purpose: " + str(config.get("reason", "no reason")))
'''


def build(url: str) -> str:
    """A 27-segment database (3 events x 3 stations x 3 components): gaps, no data, labels."""
    make_database(url, events=3, stations=3, channels_per_station=3, seed=3)
    return url


def plot_module(folder: Path) -> Path:
    path = folder / "plots.py"
    path.write_text(PLOTS)
    return path


class Client:
    """Talks to a ShowServer as the page does (cookie from GET /, X-S2S header on POST)."""

    def __init__(self, url: str) -> None:
        self.base = url.rstrip("/")
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port
        self.cookie = ""

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        data = None if body is None else json.dumps(body).encode()
        hdrs = {"Host": f"{self.host}:{self.port}"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        content = resp.read()
        out = resp.status, resp.headers, content  # case-insensitive names
        conn.close()
        return out

    def page(self) -> tuple[bytes, str]:
        status, headers, content = self.request("GET", "/")
        assert status == 200
        self.cookie = headers["Set-Cookie"].split(";", 1)[0]
        return content, headers["Set-Cookie"]

    def get(self, path: str, **params: Any) -> tuple[int, Any]:
        q = ("?" + urlencode(params)) if params else ""
        status, _h, content = self.request("GET", "/api/" + path + q)
        return status, json.loads(content)

    def post(self, path: str, body: dict, *, cookie: bool = True, header: bool = True,
             origin: str | None = None) -> tuple[int, Any]:
        hdrs = {}
        if cookie:
            hdrs["Cookie"] = self.cookie
        if header:
            hdrs["X-S2S"] = "1"
        if origin is not None:
            hdrs["Origin"] = origin
        status, _h, content = self.request("POST", "/api/" + path, body, hdrs)
        return status, json.loads(content)
