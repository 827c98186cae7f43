"""Slow and endless clients on raw sockets: a client trickling its headers or its body, or
connecting and saying nothing, holds one connection slot for a bounded time and never a worker
thread; others keep getting answers (server.py's header guard, http.py's body timeout)."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.api.limits import REQUEST_LINE_BYTES_MAX
from clearinghouse.domain.limits import HttpLimits
from clearinghouse.ledger import Database
from tests.api.client import get, post
from tests.api.conftest import ORCHESTRATOR_B64, PEPPER
from tests.api.fakes import FakePaymentService

PAY = "/generate-live-payment"
TIMEOUT_S = 0.5
LIMITS = HttpLimits(request_header_timeout_s=TIMEOUT_S, request_body_timeout_s=TIMEOUT_S, connections_max=64)
SLOW_CLIENTS = 40
"""Well under connections_max (the cap is what makes room for others), well over the 1 signing thread."""


@dataclass
class Server:
    url: str
    host: str
    port: int
    service: FakePaymentService
    auth: dict[str, str]


def start_server(db: Database, api_key: str, limits: HttpLimits) -> Iterator[Server]:
    service = FakePaymentService()
    app = RemoteSignerApp(service, api_keys=ApiKeyAuthenticator(db, PEPPER), signing_threads=1, limits=limits)
    with serving(app, limits=limits) as url:
        parts = urlsplit(url)
        yield Server(url, parts.hostname or "", parts.port or 0, service, {"Authorization": f"Bearer {api_key}"})
    app.close()


@pytest.fixture
def server(db: Database, api_key: str) -> Iterator[Server]:
    yield from start_server(db, api_key, LIMITS)


def payment_head(server: Server, length: int) -> bytes:
    lines = [f"POST {PAY} HTTP/1.1", "Host: x", f"Authorization: {server.auth['Authorization']}",
             "Content-Type: application/json", f"Content-Length: {length}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Trickler:
    """Sends ``first`` at once, then ``then`` one byte every ``gap_s`` until the server answers
    or closes; records what it answered and when."""

    server: Server
    first: bytes
    then: bytes
    gap_s: float = 0.05
    answer: bytes = b""
    closed_after_s: float | None = None
    thread: threading.Thread = field(init=False)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        with socket.create_connection((self.server.host, self.server.port), timeout=10) as sock:
            sock.settimeout(self.gap_s)
            try:
                sock.sendall(self.first)
                for byte in self.then:
                    try:
                        data = sock.recv(4096)
                    except TimeoutError:
                        sock.sendall(bytes([byte]))
                        continue
                    self.answer += data
                    break
                sock.settimeout(10)
                while data := sock.recv(4096):
                    self.answer += data
            except (ConnectionError, OSError):
                pass
        self.closed_after_s = time.monotonic() - started

    def join(self) -> None:
        self.thread.join(15)
        assert not self.thread.is_alive()


ENDLESS_HEADERS = b"X-Slow: " + b"a" * 100_000
ENDLESS_BODY = b"{" + b" " * 100_000


def slow_header_client(server: Server) -> Trickler:
    return Trickler(server, f"POST {PAY} HTTP/1.1\r\nHost: x\r\n".encode(), ENDLESS_HEADERS)


def slow_body_client(server: Server) -> Trickler:
    return Trickler(server, payment_head(server, 200), ENDLESS_BODY)


def test_headers_trickled_byte_by_byte_are_cut_off_with_408(server: Server) -> None:
    client = slow_header_client(server)
    client.join()
    assert client.answer.startswith(b"HTTP/1.1 408")
    assert client.closed_after_s is not None and TIMEOUT_S <= client.closed_after_s < TIMEOUT_S + 2
    assert server.service.calls == []


def test_a_connection_that_says_nothing_is_closed_after_the_header_timeout(server: Server) -> None:
    started = time.monotonic()
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        answer = sock.recv(4096)
        assert sock.recv(4096) == b""  # closed
    assert answer.startswith(b"HTTP/1.1 408") and TIMEOUT_S <= time.monotonic() - started < TIMEOUT_S + 2


def test_a_kept_alive_connection_gets_the_header_timeout_for_each_request(server: Server) -> None:
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")  # the next request stalls in its headers
        started = time.monotonic()
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408") and time.monotonic() - started < TIMEOUT_S + 2


def test_endless_headers_are_cut_off_with_431_before_they_are_buffered(server: Server) -> None:
    bound = LIMITS.request_header_bytes_max + REQUEST_LINE_BYTES_MAX
    sent, answer = 0, b""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            while sent < 100 * bound and not answer:
                sock.sendall(b"X-Filler: " + b"f" * 1014 + b"\r\n")
                sent += 1026
                if select.select([sock], [], [], 0.002)[0]:
                    answer = sock.recv(4096)
        except (ConnectionError, OSError):
            pass
    assert answer.startswith(b"HTTP/1.1 431")
    assert bound < sent < bound + 64 * 1024  # it stopped reading just past the bound


def raw_get(server: Server, pad: str) -> bytes:
    """GET /healthz with exactly the headers Host: x and X-Pad: <pad>."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: {pad}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while data := sock.recv(4096):
            answer += data
    return answer


def test_headers_just_under_the_bound_are_served_and_just_over_are_431(db: Database, api_key: str) -> None:
    limits = HttpLimits(request_header_bytes_max=2048)
    framing = len("host") + len("x") + len("x-pad") + len("connection") + len("close")
    for server in start_server(db, api_key, limits):
        assert raw_get(server, "p" * (2048 - framing)).startswith(b"HTTP/1.1 200")
        over = raw_get(server, "p" * (2048 - framing + 1))
        assert over.startswith(b"HTTP/1.1 431")
        assert b"request headers are 2049 bytes, at most 2048 allowed" in over


def test_a_body_trickled_byte_by_byte_times_out_with_408_and_nothing_signed(server: Server) -> None:
    client = slow_body_client(server)
    client.join()
    assert client.answer.startswith(b"HTTP/1.1 408") and b"not received within 0.5 s" in client.answer
    assert server.service.calls == []


def test_many_slow_clients_do_not_stop_a_normal_client(server: Server) -> None:
    """40 connections trickling headers and 40 trickling bodies, with one signing thread: every
    normal call in the meantime is answered promptly, and every slow one is cut off in time."""
    slow = [slow_header_client(server) for _ in range(SLOW_CLIENTS // 2)]
    slow += [slow_body_client(server) for _ in range(SLOW_CLIENTS // 2)]
    time.sleep(0.1)
    for _ in range(5):
        started = time.monotonic()
        reply = post(server.url, PAY, {"orchestrator": ORCHESTRATOR_B64}, server.auth)
        assert reply.status == 200, reply.body
        assert time.monotonic() - started < TIMEOUT_S
        assert get(server.url, "/healthz").status == 200
    for client in slow:
        client.join()
        assert client.answer.startswith(b"HTTP/1.1 408")
    assert len(server.service.calls) == 5


def test_a_full_connection_cap_refuses_with_503_then_frees_itself(db: Database, api_key: str) -> None:
    """What the cap does when slow clients fill it: new requests get 503 at once (never hang),
    and the slots come back within the header timeout."""
    limits = HttpLimits(request_header_timeout_s=TIMEOUT_S, connections_max=8)
    for server in start_server(db, api_key, limits):
        slow = [slow_header_client(server) for _ in range(8)]
        time.sleep(0.2)
        assert get(server.url, "/healthz").status == 503
        for client in slow:
            client.join()
        assert get(server.url, "/healthz").status == 200


def test_an_answer_before_the_body_ends_closes_the_connection(server: Server) -> None:
    """Refused before its body was read (a wrong key): the rest of the body cannot keep the
    connection alive byte by byte, because the answer closes it."""
    head = payment_head(server, 1000).replace(server.auth["Authorization"].encode(), b"Bearer wrong")
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(head + b"{")
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 401") and b"connection: close" in answer.lower()
        assert sock.recv(4096) == b""  # closed by the server, not kept alive
