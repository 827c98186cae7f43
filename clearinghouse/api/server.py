"""Serving the ASGI app with uvicorn: in the foreground (``run_server``) or, for tests and
benchmarks, in a background thread on a free loopback port (``serving``); either over HTTPS
when given a certificate chain and its private key (PEM files), else plain HTTP.

uvicorn picks uvloop when installed; the HTTP parser is always httptools (``uvicorn[standard]``
is a dependency), which is how benchmarks/README.md measured it. Proxy headers are not trusted
(no X-Forwarded-For rewriting) and WebSockets are off: the API has none.

What bounds a slow or hostile client (``HttpLimits``, the [limits] settings):

- the connection (connection.py): uvicorn with httptools has no header timeout, no bound on
  header, chunk-framing or trailer bytes and no bound on pipelined requests (its
  ``timeout_keep_alive`` runs only between requests, ``h11_max_incomplete_event_size`` only on
  h11). ``GuardedHttpToolsProtocol`` answers 408 and closes when a request's headers do not end
  within ``request_header_timeout_s`` or the whole request within ``request_timeout_s`` of its
  first byte, 431 past ``request_header_bytes_max`` + REQUEST_LINE_BYTES_MAX bytes of request
  line, headers, chunk framing and trailers, 501 for a transfer coding other than chunked, and
  stops reading a connection with PIPELINED_REQUESTS_MAX requests queued. An ASGI guard would be
  too late: the app is called only once the headers are complete.
- bodies: ``read_body`` (bodies.py) answers 408 after ``request_body_timeout_s`` and 413 past
  ``request_body_bytes_max``; no worker thread is taken before the body is in.
- idle connections: ``keep_alive_s`` between requests.
- connections: at most ``connections_max`` (uvicorn's ``limit_concurrency``); past it every new
  request is answered 503 at once. Slow clients never hold a signing thread (the event loop
  waits for their bytes), only a connection slot, each for a bounded time; a flood of
  connections large enough to fill the cap is for a proxy or firewall in front (per-address
  connection limits), which is where a public deployment terminates TLS anyway.
"""

from __future__ import annotations

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

from clearinghouse.api.connection import (
    CLIENT_GONE_SCOPE_KEY,
    GuardedHttpToolsProtocol,
    guarded_protocol,
)
from clearinghouse.api.limits import SERVER_START_TIMEOUT_S, SERVER_STOP_TIMEOUT_S
from clearinghouse.domain.limits import HttpLimits

__all__ = ["CLIENT_GONE_SCOPE_KEY", "GuardedHttpToolsProtocol", "guarded_protocol", "run_server", "serving"]


TlsFiles = tuple[Path, Path]
"""(PEM certificate chain, PEM private key) of an HTTPS listener."""


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
    sock: socket.socket | None = None,
) -> Iterator[str]:
    """Run ``app`` on a free port of ``host`` in a background thread; yields its base URL
    (``https://`` with ``tls``). ``sock``: a socket already bound (by ``bound_socket``), for an
    app that must know its own URL before it serves (the identity provider's issuer).

    The socket is bound before the thread starts, so the port is ours; on exit the server
    stops (in-flight requests finish) and the thread is joined. Raises RuntimeError when the
    server does not start within SERVER_START_TIMEOUT_S or stop within SERVER_STOP_TIMEOUT_S.
    """
    sock = sock or bound_socket(host)
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


def bound_socket(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a free port of ``host`` (not yet listening), for ``serving``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("server thread exited before it started")
        if time.monotonic() > deadline:
            raise RuntimeError(f"server did not start within {SERVER_START_TIMEOUT_S:g} s")
        time.sleep(0.005)
