"""Serving the ASGI app with uvicorn: in the foreground (``run_server``) or, for tests and
benchmarks, in a background thread on a free loopback port (``serving``); either over HTTPS
when given a certificate chain and its private key (PEM files), else plain HTTP.

uvicorn picks uvloop when installed; the HTTP parser is always httptools (``uvicorn[standard]``
is a dependency), which is how benchmarks/README.md measured it. Proxy headers are not trusted
(no X-Forwarded-For rewriting) and WebSockets are off: the API has none.

What bounds a slow or hostile client (``HttpLimits``, the [limits] settings):

- headers: uvicorn with httptools has no header timeout and no header size limit (its
  ``timeout_keep_alive`` runs only between requests, ``h11_max_incomplete_event_size`` only on
  h11), so a client trickling header bytes held its connection forever and could make the
  process buffer without bound. ``GuardedHttpToolsProtocol`` closes a connection whose request
  headers do not end within ``request_header_timeout_s`` of the request's first byte (or of the
  connection's opening) with 408, and one that sends more than ``request_header_bytes_max`` +
  REQUEST_LINE_BYTES_MAX bytes of request line and headers with 431. An ASGI guard would be too
  late: the app is called only once the headers are complete.
- bodies: ``read_body`` (http.py) answers 408 after ``request_body_timeout_s`` and 413 past
  ``request_body_bytes_max``; no worker thread is taken before the body is in.
- idle connections: ``keep_alive_s`` between requests.
- connections: at most ``connections_max`` (uvicorn's ``limit_concurrency``); past it every new
  request is answered 503 at once. Slow clients never hold a signing thread (the event loop
  waits for their bytes), only a connection slot, each for a bounded time; a flood of
  connections large enough to fill the cap is for a proxy or firewall in front (per-address
  connection limits), which is where a public deployment terminates TLS anyway.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from clearinghouse.api.limits import REQUEST_LINE_BYTES_MAX, HttpLimits

SERVER_START_TIMEOUT_S = 10.0
"""A loopback server that has not started within 10 s never will; the test should fail."""
SERVER_STOP_TIMEOUT_S = 10.0
"""How long stopping may take: in-flight calls finish (each is bounded), then the thread ends."""


TlsFiles = tuple[Path, Path]
"""(PEM certificate chain, PEM private key) of an HTTPS listener."""


def _closing_answer(status_line: str, message: str) -> bytes:
    """A complete plain-text answer that closes the connection (the app never saw the request)."""
    body = message.encode("ascii")
    head = (f"HTTP/1.1 {status_line}\r\ncontent-type: text/plain; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


_TIMEOUT_408 = _closing_answer("408 Request Timeout", "request headers not received in time")
_TOO_LARGE_431 = _closing_answer("431 Request Header Fields Too Large", "request headers too large")


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size bound on each request's headers.

    The deadline runs from the connection's opening (for its first request) or from the first
    byte of each later request (``on_message_begin``) to ``on_headers_complete``; the bytes
    counted are those received while a request's headers are incomplete. Subclassed per
    configuration by ``guarded_protocol``; ``header_bytes_max`` counts request line and framing.
    """

    header_timeout_s: float = HttpLimits().request_header_timeout_s
    header_bytes_max: int = HttpLimits().request_header_bytes_max + REQUEST_LINE_BYTES_MAX

    _header_timer: asyncio.TimerHandle | None = None
    _awaiting_headers = True
    _header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # Checked after parsing: a chunk that completes the headers may carry body bytes too.
        if self._awaiting_headers and self._header_bytes > self.header_bytes_max:
            self._refuse(_TOO_LARGE_431)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._awaiting_headers:  # a later request on a kept-alive connection
            self._awaiting_headers, self._header_bytes = True, 0
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._refuse, _TIMEOUT_408)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _refuse(self, answer: bytes) -> None:
        self._cancel_header_timer()
        if not self.transport.is_closing():
            self.transport.write(answer)
            self.transport.close()


def guarded_protocol(limits: HttpLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with ``limits``' header bounds."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {
        "header_timeout_s": limits.request_header_timeout_s,
        "header_bytes_max": limits.request_header_bytes_max + REQUEST_LINE_BYTES_MAX,
    })


def _config(
    app: Any, host: str, port: int, tls: TlsFiles | None = None, limits: HttpLimits | None = None,
    **overrides: Any,
) -> uvicorn.Config:
    limits = limits or HttpLimits()
    options: dict[str, Any] = {
        "loop": "auto",
        "http": guarded_protocol(limits),
        "ws": "none",
        "lifespan": "on",
        "proxy_headers": False,
        "server_header": False,
        "limit_concurrency": limits.connections_max,
        "timeout_keep_alive": limits.keep_alive_s,
        "h11_max_incomplete_event_size": limits.request_header_bytes_max,
        "access_log": False,
    }
    if tls is not None:
        options.update(ssl_certfile=str(tls[0]), ssl_keyfile=str(tls[1]))
    options.update(overrides)
    return uvicorn.Config(app, host=host, port=port, **options)


def run_server(
    app: Any, host: str, port: int, *, log_level: str = "info", access_log: bool = False,
    tls: TlsFiles | None = None, limits: HttpLimits | None = None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (blocks), over HTTPS with ``tls``, within ``limits``
    (connections, keep-alive, header size and time; default: the constants). Access logging is
    off by default: it costs ~10 % of throughput and request lines are in the ledger anyway.
    uvicorn's lines go to the root logger (logs.configure_logging installs its handler).
    Raises OSError or ssl.SSLError when the TLS files cannot be loaded."""
    # log_config=None: uvicorn's own dictConfig would replace the handler configure_logging set.
    server = uvicorn.Server(_config(app, host, port, tls, limits, log_config=None, log_level=log_level,
                                    access_log=access_log))
    # uvicorn handles SIGINT/SIGTERM with a graceful shutdown, then raises the signal again
    # against the handlers it found: with the defaults a stop that was asked for and done would
    # end in exit 143 (or click's "Aborted!"), which supervisors read as a crash. A handler
    # that does nothing makes a requested, completed stop exit 0.
    stop_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, _stopped_already) for sig in stop_signals}
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped_already(signum: int, frame: FrameType | None) -> None:
    """The signal uvicorn raises again after its graceful shutdown: nothing is left to do."""


@contextmanager
def serving(
    app: Any, *, host: str = "127.0.0.1", tls: TlsFiles | None = None, limits: HttpLimits | None = None,
) -> Iterator[str]:
    """Run ``app`` on a free port of ``host`` in a background thread; yields its base URL
    (``https://`` with ``tls``).

    The socket is bound before the thread starts, so the port is ours; on exit the server
    stops (in-flight requests finish) and the thread is joined. Raises RuntimeError when the
    server does not start within SERVER_START_TIMEOUT_S or stop within SERVER_STOP_TIMEOUT_S.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(_config(app, host, port, tls, limits, log_config=None, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"{'https' if tls else 'http'}://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(SERVER_STOP_TIMEOUT_S)
        sock.close()
        if thread.is_alive():
            raise RuntimeError(
                f"server on port {port} did not stop within {SERVER_STOP_TIMEOUT_S:g} s"
            )


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server thread exited before it started")
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not start within {SERVER_START_TIMEOUT_S:g} s")
        time.sleep(0.005)
