"""A real TCP proxy on 127.0.0.1 that breaks connections on demand (network faults for tests).

Connections are forwarded to ``target`` byte for byte; :meth:`Proxy.drop_next` closes
the next N accepted connections at once (a server that is down or restarting) and
:meth:`Proxy.cut_next` forwards the next N connections but cuts them once the server
has sent ``after`` bytes (a connection lost in the middle of a query result).
:meth:`Proxy.cut_all` cuts every open connection now (a fail-over).
"""

from __future__ import annotations

import socket
import threading


class Proxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._drop = 0
        self._cut: list[int] = []
        self._open: set[socket.socket] = set()
        self.accepted = self.dropped = self.cut = 0
        self._closed = False
        threading.Thread(target=self._accept, name="tcpproxy", daemon=True).start()

    # -- controls -----------------------------------------------------------------
    def drop_next(self, n: int) -> None:
        with self._lock:
            self._drop += n

    def cut_next(self, n: int, after: int) -> None:
        with self._lock:
            self._cut.extend([after] * n)

    def cut_all(self) -> int:
        with self._lock:
            socks = list(self._open)
        for s in socks:
            _close(s)
        return len(socks)

    def close(self) -> None:
        self._closed = True
        _close(self._server)
        self.cut_all()

    # -- forwarding ---------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                if self._drop:
                    self._drop -= 1
                    self.dropped += 1
                    _close(client)
                    continue
                limit = self._cut.pop(0) if self._cut else None
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, limit), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[: max(limit - sent, 0)])
                    with self._lock:
                        self.cut += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                _close(s)
                with self._lock:
                    self._open.discard(s)


def _close(s: socket.socket) -> None:
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
