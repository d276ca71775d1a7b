"""``s2s show``'s HTTP server against raw sockets: smuggling, oversized and malformed requests.

Each test writes bytes to a socket of the real server and reads what comes back
until the server closes the connection (a last request with ``Connection: close``
makes it do so when it keeps the connection): every answer is counted, none
waited for with a sleep.
"""

from __future__ import annotations

import json
import logging
import socket

import pytest

from s2sframe.show import show
from s2sframe.show.server import MAX_BODY
from tests.showkit import Client, build


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = show(build("sqlite:///" + str(tmp_path_factory.mktemp("http") / "http.sqlite")),
               open_browser=False, annotator="http-test")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def cookie(server) -> str:
    c = Client(server.url)
    c.page()
    return c.cookie


def host(server) -> str:
    return f"127.0.0.1:{server.port}"


def exchange(server, data: bytes | list[bytes], timeout: float = 60) -> list[tuple[int, dict, bytes]]:
    """Send ``data`` (parts sent one after the other), read until the server closes: the answers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        for part in [data] if isinstance(data, bytes) else data:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):  # the server closed first
                break
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return parse_responses(received)


def parse_responses(data: bytes) -> list[tuple[int, dict, bytes]]:
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete answer: {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        # no Content-Length: the body ends with the connection
        length = int(headers.get("content-length", len(rest)))
        out.append((status, headers, rest[:length]))
        data = rest[length:]
    return out


def last(server) -> bytes:
    """A request that must be answered 404, after which the server closes the connection."""
    return (f"GET /api/sentinel HTTP/1.1\r\nHost: {host(server)}\r\n"
            f"Connection: close\r\n\r\n").encode()


def smuggled(server) -> bytes:
    return f"GET /api/classes HTTP/1.1\r\nHost: {host(server)}\r\n\r\n".encode()


def post(server, body: bytes, headers: str = "", cookie: str = "") -> bytes:
    extra = (f"Cookie: {cookie}\r\nX-S2S: 1\r\nContent-Type: application/json\r\n"
             if cookie else "")
    return (f"POST /api/selection HTTP/1.1\r\nHost: {host(server)}\r\n{extra}{headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def statuses(answers) -> list[int]:
    return [a[0] for a in answers]


# ------------------------------------------------------------------------ smuggling
def test_refused_post_body_is_never_parsed_as_a_request(server):
    """The old server answered 403 without reading the body, then answered the GET in it."""
    answers = exchange(server, post(server, smuggled(server)) + last(server))
    assert answers[0][0] == 403 and "session token" in json.loads(answers[0][2])["error"]
    assert answers[0][1]["connection"] == "close"
    assert 200 not in statuses(answers) and len(answers) == 1


@pytest.mark.parametrize("why", ["no token", "no header", "foreign origin", "text/plain"])
def test_every_refused_post_closes_the_connection(server, cookie, why):
    headers = {"no token": "X-S2S: 1\r\nContent-Type: application/json\r\n",
               "no header": f"Cookie: {cookie}\r\nContent-Type: application/json\r\n",
               "foreign origin": f"Cookie: {cookie}\r\nX-S2S: 1\r\nOrigin: http://evil.example"
                                 f"\r\nContent-Type: application/json\r\n",
               "text/plain": f"Cookie: {cookie}\r\nX-S2S: 1\r\nContent-Type: text/plain\r\n"}
    answers = exchange(server, post(server, smuggled(server), headers[why]) + last(server))
    assert statuses(answers) == [403]


def test_accepted_post_then_pipelined_requests(server, cookie):
    """A body is read by its length: what follows it is the next request, answered in turn."""
    body = json.dumps({"text": "has_valid_data: true"}).encode()
    answers = exchange(server, post(server, body, cookie=cookie) + smuggled(server)
                       + last(server))
    assert statuses(answers) == [200, 200, 404]
    assert json.loads(answers[0][2])["count"] > 0
    assert isinstance(json.loads(answers[1][2]), list)


def test_content_length_and_transfer_encoding_together_are_refused(server, cookie):
    """CL.TE / TE.CL smuggling: a request with both framings is refused and the connection closed."""
    chunked = b"0\r\n\r\n" + smuggled(server)
    request = (f"POST /api/selection HTTP/1.1\r\nHost: {host(server)}\r\nCookie: {cookie}\r\n"
               f"X-S2S: 1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
               f"Content-Length: {len(chunked)}\r\n\r\n").encode() + chunked
    answers = exchange(server, request + last(server))
    assert statuses(answers) == [400] and answers[0][1]["connection"] == "close"


def test_chunked_request_bodies_are_refused(server, cookie):
    body = json.dumps({"text": ""}).encode()
    request = (f"POST /api/selection HTTP/1.1\r\nHost: {host(server)}\r\nCookie: {cookie}\r\n"
               f"X-S2S: 1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
               f"\r\n\r\n{len(body):x}\r\n").encode() + body + b"\r\n0\r\n\r\n"
    answers = exchange(server, request + smuggled(server) + last(server))
    assert statuses(answers) == [411]


# ------------------------------------------------------------------------ oversized
def test_oversized_body_is_refused_unread(server, cookie):
    """413 from the headers alone: the server closes without waiting for the 50 MB."""
    request = (f"POST /api/selection HTTP/1.1\r\nHost: {host(server)}\r\nCookie: {cookie}\r\n"
               f"X-S2S: 1\r\nContent-Type: application/json\r\n"
               f"Content-Length: {50 * MAX_BODY}\r\n\r\n").encode() + b"{" * 1000
    answers = exchange(server, request)
    assert statuses(answers) == [413] and answers[0][1]["connection"] == "close"


def test_oversized_headers_and_url_are_refused(server):
    big_header = (f"GET /api/classes HTTP/1.1\r\nHost: {host(server)}\r\n"
                  f"X-Big: {'a' * 200_000}\r\n\r\n").encode()
    big_url = (f"GET /api/classes?x={'a' * 200_000} HTTP/1.1\r\nHost: {host(server)}"
               f"\r\n\r\n").encode()
    for request in (big_header, big_url):
        answers = exchange(server, request)
        assert len(answers) == 1 and 400 <= answers[0][0] < 500


# ------------------------------------------------------------------------ malformed
#: (bare LF line ends and obs-folds are tolerated by h11 as RFC 9112 allows: not listed)
MALFORMED = {
    "garbage": b"HELLO THERE\r\n\r\n",
    "http/0.9": b"GET /\r\n\r\n",
    "no Host": b"GET /api/classes HTTP/1.1\r\n\r\n",
    "two Hosts": b"GET /api/classes HTTP/1.1\r\nHost: {h}\r\nHost: evil.example\r\n\r\n",
    "bad length": b"POST /api/selection HTTP/1.1\r\nHost: {h}\r\nContent-Length: abc\r\n\r\n",
    "two lengths": b"POST /api/selection HTTP/1.1\r\nHost: {h}\r\nContent-Length: 2\r\n"
                   b"Content-Length: 30\r\n\r\n{}",
    "negative length": b"POST /api/selection HTTP/1.1\r\nHost: {h}\r\nContent-Length: -5\r\n\r\n",
    "header without colon": b"GET /api/classes HTTP/1.1\r\nHost: {h}\r\nNoColonHere\r\n\r\n",
    "space before colon": b"GET /api/classes HTTP/1.1\r\nHost : {h}\r\n\r\n",
    "binary target": b"GET /\xff\xfe HTTP/1.1\r\nHost: {h}\r\n\r\n",
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_requests_get_an_error_never_data(server, name, caplog):
    request = MALFORMED[name].replace(b"{h}", host(server).encode())
    with caplog.at_level(logging.WARNING):
        answers = exchange(server, request + last(server))
    assert answers and 400 <= answers[0][0] < 500
    assert 200 not in statuses(answers)  # nothing of /api/classes leaks
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert Client(server.url).get("classes")[0] == 200  # and the server lives on


def test_bad_json_and_unknown_paths(server, cookie):
    for body in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        answers = exchange(server, post(server, body, "Connection: close\r\n", cookie=cookie))
        assert statuses(answers) == [400] and "invalid JSON" in json.loads(answers[0][2])["error"]
    answers = exchange(server, f"DELETE /api/classes HTTP/1.1\r\nHost: {host(server)}\r\n"
                               f"Connection: close\r\n\r\n".encode())
    assert statuses(answers) == [405]
    answers = exchange(server, last(server))
    assert statuses(answers) == [404] and json.loads(answers[0][2]) == {
        "error": "not found: /api/sentinel"}


def test_a_stalled_request_does_not_block_others(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as stalled:
        stalled.sendall(f"POST /api/selection HTTP/1.1\r\nHost: {host(server)}\r\n"
                        f"Content-Length: 100\r\n\r\n{{".encode())
        assert Client(server.url).get("classes")[0] == 200


# ------------------------------------------------------------------------ the command
def start_cli(url: str, *args: str):
    """``s2s show`` in a subprocess: (process, the address it printed)."""
    import os
    import re
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "s2sframe.cli", "show", "-d", url,
                             "--no-browser", *args], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stderr.readline()
    match = re.search(r"open (http://127\.0\.0\.1:(\d+)/)", line)
    if not match:
        proc.kill()
        raise AssertionError(line + proc.communicate(timeout=60)[1])
    return proc, match.group(1), int(match.group(2))


def stop_cli(proc) -> str:
    """Ctrl-C, then the rest of stderr."""
    import signal

    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode in (0, 1, -signal.SIGINT), (proc.returncode, err)
    return err


def close_from_server(port: int) -> None:
    """A request the server answers and then closes first: its side keeps TIME_WAIT."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(f"GET /api/classes HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                     f"Connection: close\r\n\r\n".encode())
        while sock.recv(65536):
            pass


def test_port_is_free_again_right_after_a_restart(tmp_path):
    """--port N works right after the previous run on N stopped (address reuse)."""
    url = build("sqlite:///" + str(tmp_path / "port.sqlite"))
    proc, _url, port = start_cli(url)
    try:
        close_from_server(port)
    finally:
        stop_cli(proc)
    proc, address, again = start_cli(url, "--port", str(port))
    try:
        assert again == port and Client(address).get("classes")[0] == 200
    finally:
        stop_cli(proc)


def test_dropped_requests_leave_no_traceback(tmp_path):
    """A browser dropping a request mid-answer (reset connection) prints nothing on stderr."""
    import struct

    url = build("sqlite:///" + str(tmp_path / "drop.sqlite"))
    proc, address, port = start_cli(url)
    try:
        for _ in range(10):
            sock = socket.create_connection(("127.0.0.1", port), timeout=60)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(f"GET /api/segment?index=0&width=8000 HTTP/1.1\r\n"
                         f"Host: 127.0.0.1:{port}\r\n\r\n".encode())
            assert sock.recv(1)  # the answer is being written: drop it (RST)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        assert Client(address).get("classes")[0] == 200
    finally:
        err = stop_cli(proc)
    assert "Traceback" not in err and "Error" not in err, err
