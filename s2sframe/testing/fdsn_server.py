"""A real local FDSN server for tests and demos: :func:`fdsn_server`.

One HTTP server (``127.0.0.1``, a free port) for the event catalog and the EIDA routing
service, and one per data center with fdsnws-station (text and StationXML, GET and
POST), fdsnws-dataselect (POST, miniSEED), ``/auth`` (EIDA token -> credentials) and
``queryauth`` (HTTP digest authentication). Data: :class:`~s2sframe.testing.fdsn_data.Archive`.

Faults are injected on request with :meth:`FDSNServer.fault` (for tests: the faults
themselves live apart, in :mod:`s2sframe.testing.faults`).
"""

from __future__ import annotations

import secrets
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from http.server import ThreadingHTTPServer

from .faults import Fault, FaultList
from .fdsn_data import Archive
from .fdsn_handler import VALID_TOKEN, _Handler  # noqa: F401 - VALID_TOKEN is public


class _Server(ThreadingHTTPServer):
    """An HTTP server that does not print a client hanging up as its own error.

    A client that closes the connection mid-answer (a download's deadline, Ctrl-C, a
    killed run) makes the answer's writes fail with ``BrokenPipeError`` or
    ``ConnectionResetError``: normal for a server, so not printed (any other error is,
    as ``socketserver`` does).
    """

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class FDSNServer:
    """The running servers: URLs, the archive, fault injection and request counts."""

    def __init__(self, archive: Archive, *, max_event_days: float | None = None,
                 port: int = 0, max_event_count: int | None = None,
                 bad_lines: bool = False) -> None:
        self.archive = archive
        self.port = port
        self.max_event_days = max_event_days
        self.max_event_count = max_event_count
        self.bad_lines = bad_lines
        self._faults = FaultList()
        self.requests: list[tuple[str, int | None, str]] = []  # (service, dc, body or query)
        self.credentials = [(f"user{d}", secrets.token_hex(8)) for d in range(archive.datacenters)]
        self._servers: list[_Server] = []
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
        return f"http://{host!s}:{port}"

    # ------------------------------------------------------------------ faults
    def fault(self, service: str, status: int | None = None, *, datacenter: int | None = None,
              station: str | None = None, times: int | None = None,
              retry_after: float | None = None, delay: float = 0.0,
              mseed: str | None = None) -> Fault:
        """Inject a fault on ``service`` ('event', 'station', 'dataselect', 'auth', 'routing').

        ``status``: answer this HTTP status (204 and 413 too) instead of data, with a
        Retry-After header if ``retry_after``; ``delay``: wait before answering (slower
        than the client's timeout: a URL error); ``mseed``: 'truncate' (cut the last
        record of each channel), 'truncate-last' (cut the last record of the response
        only), 'corrupt' (garbage header), 'outside' (add a record outside the window),
        'shift' (all records outside the window), 'rate0' (sample rate 0 in the headers),
        'overcount' (headers claiming more samples than the records hold), 'v3' (the
        records as miniSEED 3), or 'close' (drop the connection).
        ``datacenter`` / ``station``: only requests of that data center / asking for that
        station code; ``times``: only the first n matching requests (None: all).
        """
        return self._faults.add(
            Fault(service, status, datacenter, station, times, retry_after, delay, mseed))

    def clear_faults(self) -> None:
        """Remove all injected faults."""
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """The faults injected (their ``hits``: how many requests each answered)."""
        return self._faults.faults

    def _match(self, service: str, dc: int | None, stations: set[str]) -> Fault | None:
        return self._faults.match(service, dc, stations)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> FDSNServer:
        """Start the hub server and one server per data center (threads)."""
        for k in range(self.archive.datacenters + 1):
            handler = type("Handler", (_Handler,), {"fdsn": self, "dc": None if k == 0 else k - 1})
            try:
                srv = _Server(("127.0.0.1", self.port + k if self.port else 0), handler)
            except OSError:  # e.g. a port in use: the servers started are stopped
                self.stop()
                raise
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
                fast: bool = False, epochs: bool = False, split_routing: bool = False,
                max_event_count: int | None = None,
                bad_lines: bool = False) -> Iterator[FDSNServer]:
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
    epochs, split_routing : bool
        Real-world station shapes (see :meth:`Archive.build
        <s2sframe.testing.fdsn_data.Archive.build>`): stations with two epochs; a routing
        service assigning one station of a network, and a network from a date on, to
        another data center than the rest (both list them, one serves their data).
    max_event_count : int, optional
        The event service answers 413 to requests that would return more events (as
        servers capping their answers do: splitting by magnitude helps).
    bad_lines : bool
        Append lines nobody can store to the catalog (NaN latitude, NaN magnitude, empty
        EventID, a NUL character, year 9999) and to data center 0's station lists.
        Catalogs in ISF format are answered to ``format=isf``.

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
                                      seed=seed, fast=fast, epochs=epochs,
                                      split_routing=split_routing),
                         max_event_days=max_event_days, port=port,
                         max_event_count=max_event_count, bad_lines=bad_lines).start()
    try:
        yield server
    finally:
        server.stop()


_DESCRIPTION = """\
Serve the demo FDSN web services on 127.0.0.1 until Ctrl-C: an event catalog and
the EIDA routing service on PORT, and data center k (fdsnws-station and
fdsnws-dataselect) on PORT + 1 + k. The data are synthetic and the same for the
same arguments. Point `s2s download` at it with the printed events_url and
data_url (see docs/download.md)."""


def main(argv: list[str] | None = None) -> int:
    """``python -m s2sframe.testing``: serve the demo data until Ctrl-C.

    Returns the exit status: 0 after Ctrl-C, 2 if a port is taken (the message names it).
    """
    import argparse
    import errno

    parser = argparse.ArgumentParser(prog="python -m s2sframe.testing",
                                     description=_DESCRIPTION)
    parser.add_argument("--port", type=int, default=8080,
                        help="port of the catalog and routing service; data center k "
                             "listens on PORT + 1 + k (default: %(default)s)")
    parser.add_argument("--events", type=int, default=20,
                        help="number of events in the catalog (default: %(default)s)")
    parser.add_argument("--stations", type=int, default=12,
                        help="number of stations, 4 channels each (default: %(default)s)")
    parser.add_argument("--datacenters", type=int, default=2, choices=(1, 2, 3),
                        help="number of data centers (default: %(default)s)")
    parser.add_argument("--fast", action="store_true",
                        help="serve the same noise everywhere, from memory (benchmarks)")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        try:
            server = stack.enter_context(fdsn_server(
                events=args.events, stations=args.stations, datacenters=args.datacenters,
                port=args.port, fast=args.fast))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            last = args.port + args.datacenters
            print(f"Error: a port from {args.port} to {last} is in use (another server "
                  f"running?): stop it, or choose other ports with --port", file=sys.stderr)
            return 2
        print(f"events_url: {server.event_url}\ndata_url: {server.dataselect_urls}\n"
              f"routing: {server.routing_url}\nCtrl-C to stop", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
