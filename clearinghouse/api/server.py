"""Serving the ASGI app with uvicorn: in the foreground (``run_server``) or, for tests and
benchmarks, in a background thread on a free loopback port (``serving``); either over HTTPS
when given a certificate chain and its private key (PEM files), else plain HTTP.

uvicorn picks uvloop and httptools when they are installed (``uvicorn[standard]``), which is
how benchmarks/README.md measured it; without them it falls back to asyncio and h11. Proxy
headers are not trusted (no X-Forwarded-For rewriting) and WebSockets are off: the API has none.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn

from clearinghouse.api.limits import (
    CONNECTIONS_MAX,
    KEEP_ALIVE_S,
    REQUEST_HEADER_BYTES_MAX,
)

SERVER_START_TIMEOUT_S = 10.0
"""A loopback server that has not started within 10 s never will; the test should fail."""
SERVER_STOP_TIMEOUT_S = 10.0
"""How long stopping may take: in-flight calls finish (each is bounded), then the thread ends."""


TlsFiles = tuple[Path, Path]
"""(PEM certificate chain, PEM private key) of an HTTPS listener."""


def _config(app: Any, host: str, port: int, tls: TlsFiles | None = None, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "loop": "auto",
        "http": "auto",
        "ws": "none",
        "lifespan": "on",
        "proxy_headers": False,
        "server_header": False,
        "limit_concurrency": CONNECTIONS_MAX,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "h11_max_incomplete_event_size": REQUEST_HEADER_BYTES_MAX,
        "access_log": False,
    }
    if tls is not None:
        options.update(ssl_certfile=str(tls[0]), ssl_keyfile=str(tls[1]))
    options.update(overrides)
    return uvicorn.Config(app, host=host, port=port, **options)


def run_server(
    app: Any, host: str, port: int, *, log_level: str = "info", access_log: bool = False,
    tls: TlsFiles | None = None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM (blocks), over HTTPS with ``tls``. Access logging is
    off by default: it costs ~10 % of throughput and request lines are in the ledger anyway.
    uvicorn's lines go to the root logger (logs.configure_logging installs its handler).
    Raises OSError or ssl.SSLError when the TLS files cannot be loaded."""
    # log_config=None: uvicorn's own dictConfig would replace the handler configure_logging set.
    server = uvicorn.Server(_config(app, host, port, tls, log_config=None, log_level=log_level,
                                    access_log=access_log))
    server.run()


@contextmanager
def serving(app: Any, *, host: str = "127.0.0.1", tls: TlsFiles | None = None) -> Iterator[str]:
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
    server = uvicorn.Server(_config(app, host, port, tls, log_config=None, log_level="warning"))
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
