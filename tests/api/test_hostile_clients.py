"""Hostile clients on raw sockets against a real server (issue #18): no request stalls the event
loop, grows the process without bound, or gets a 500 — the quadratic JSON pre-scan, trailer
floods, a request whose parts each stay inside their timeouts, pipelining floods, transfer codings
Go refuses, and clients that hang up before their answer."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import pytest

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.api.dashboard import DashboardRoutes
from clearinghouse.api.limits import PARSE_SLICE_BYTES, PIPELINED_REQUESTS_MAX, REQUEST_LINE_BYTES_MAX
from clearinghouse.domain.limits import HttpLimits
from clearinghouse.ledger import Database
from clearinghouse.signer.calls import Caller, PaymentCall
from tests.api.client import get
from tests.api.conftest import ORCHESTRATOR_B64, PEPPER
from tests.api.fakes import FakePaymentService

PAY = "/generate-live-payment"
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
TIMEOUT_S = 1.0
LIMITS = HttpLimits(request_header_timeout_s=TIMEOUT_S, request_body_timeout_s=TIMEOUT_S, connections_max=64)
ADMIN_TOKEN = "t" * 64


class SlowService(FakePaymentService):
    """Answers after ``delay_s``: the client can hang up while its call is being signed."""

    delay_s = 0.3

    def payment_work(self, caller: Caller, call: PaymentCall) -> tuple[Caller, PaymentCall]:
        time.sleep(self.delay_s)  # on a signing thread, as the real service's work is
        return super().payment_work(caller, call)


@dataclass
class Server:
    url: str
    host: str
    port: int
    service: FakePaymentService
    auth: str

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=10)


@pytest.fixture
def server(db: Database, api_key: str) -> Iterator[Server]:
    service = SlowService()
    app = RemoteSignerApp(service, api_keys=ApiKeyAuthenticator(db, PEPPER), limits=LIMITS,
                          dashboard=DashboardRoutes(db, ADMIN_TOKEN))
    with serving(app, limits=LIMITS) as url:
        parts = urlsplit(url)
        yield Server(url, parts.hostname or "", parts.port or 0, service, f"Bearer {api_key}")
    app.close()


def head(server: Server, path: str = PAY, *, length: int | None = None, extra: str = "") -> bytes:
    framing = f"Content-Length: {length}\r\n" if length is not None else "Transfer-Encoding: chunked\r\n"
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {server.auth}\r\n"
            f"Content-Type: application/json\r\n{framing}{extra}\r\n").encode()


def read_all(sock: socket.socket) -> bytes:
    answer = b""
    try:
        while data := sock.recv(65536):
            answer += data
    except OSError:
        pass
    return answer


def payment_body() -> bytes:
    return json.dumps({"orchestrator": ORCHESTRATOR_B64}).encode()


# 1. The JSON depth pre-scan


def test_a_body_that_made_the_depth_scan_quadratic_is_answered_at_once(server: Server) -> None:
    """24 KiB of unterminated escaped quotes took the old pre-scan ~6 s on the event loop (64 KiB:
    30-77 s), during which /healthz waited too; now the body is refused as JSON in milliseconds."""
    body = b"[]" * 9 + b'"\\' * 12_000
    health: list[float] = []

    def probe() -> None:
        time.sleep(0.05)  # while the body is being decoded
        started = time.monotonic()
        assert get(server.url, "/healthz").status == 200
        health.append(time.monotonic() - started)

    prober = threading.Thread(target=probe)
    started = time.monotonic()
    with server.connect() as sock:
        prober.start()
        sock.sendall(head(server, length=len(body)) + body)
        answer = sock.recv(4096)
    elapsed = time.monotonic() - started
    prober.join(15)
    assert answer.startswith(b"HTTP/1.1 400") and b"not valid JSON" in answer
    assert elapsed < 1.0 and health and health[0] < 1.0
    assert server.service.calls == []


# 2. Trailers and the whole request's time


def test_a_trailer_flood_is_cut_off_with_431_before_it_is_buffered(server: Server) -> None:
    """An unauthenticated chunked login whose trailer is one endless field: the parser built its
    value by concatenation, with no bound, for as long as the client kept sending."""
    bound = LIMITS.request_header_bytes_max + REQUEST_LINE_BYTES_MAX
    login = (b"POST /dashboard/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
             b"Transfer-Encoding: chunked\r\n\r\n5\r\ntoken\r\n0\r\nX-Flood: ")
    sent, answer = 0, b""
    with server.connect() as sock:
        sock.sendall(login)
        sock.settimeout(0.002)
        try:
            while sent < 64 * bound and not answer:
                sock.sendall(b"f" * 1024)
                sent += 1024
                try:
                    answer = sock.recv(4096)
                except TimeoutError:
                    pass
        except OSError:
            pass
        sock.settimeout(10)
        answer += read_all(sock)
    assert answer.startswith(b"HTTP/1.1 431") and b"trailers too large" in answer
    assert sent < bound + 16 * PARSE_SLICE_BYTES + 256 * 1024  # it stopped reading near the bound


def test_a_small_trailer_is_accepted_and_ignored(server: Server) -> None:
    body = payment_body()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\nX-Checksum: abc\r\n\r\n"
    with server.connect() as sock:
        sock.sendall(head(server) + chunked)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert len(server.service.calls) == 1


def test_a_request_is_bounded_in_total_even_when_each_part_is_in_time(server: Server) -> None:
    """Headers in 0.8 s and a body in 0.8 s each stay within their own 1 s timeout; the whole
    request is cut at request_timeout_s (1 s) from its first byte, as the README promises."""
    body = payment_body()
    whole = head(server, length=len(body)) + body
    parts = [whole[:20], whole[20:len(whole) - len(body)], body[:10], body[10:]]

    def send_slowly(sock: socket.socket) -> None:
        try:
            for part, pause_s in zip(parts, (0.0, 0.8, 0.05, 0.8)):
                time.sleep(pause_s)
                sock.sendall(part)
        except OSError:
            pass

    started = time.monotonic()  # before the connection opens: its clock starts there
    with server.connect() as sock:
        sender = threading.Thread(target=send_slowly, args=(sock,))
        sender.start()
        answer = sock.recv(4096)
        answered_s = time.monotonic() - started
        sender.join(5)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"request (headers, body and trailers) not received within 1 s" in answer
    assert TIMEOUT_S <= answered_s < TIMEOUT_S + 0.5
    assert server.service.calls == []


# 3. Pipelining


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_a_pipelining_flood_stays_bounded_and_every_request_is_answered_in_order(server: Server) -> None:
    """50,000 pipelined GET /healthz sent at once: the server stops reading while
    PIPELINED_REQUESTS_MAX wait, so memory stays flat (uvicorn resumed reading after every
    answer and queued all of them: ~1.5 KiB each), and all are answered, in order."""
    count = 50_000
    before = rss_bytes()
    peak = before
    answers = bytearray()
    with server.connect() as sock:
        sender = threading.Thread(target=sock.sendall, args=(HEALTHZ * count,))
        sender.start()
        while answers.count(b"HTTP/1.1 200") < count:
            data = sock.recv(1 << 20)
            assert data, f"closed after {answers.count(b'HTTP/1.1 200')} answers"
            answers += data
            peak = max(peak, rss_bytes())
            time.sleep(0.001)  # a slow reader: the server must not read ahead meanwhile
        sender.join(10)
    assert answers.count(b"HTTP/1.1 ") == count
    assert peak - before < 40 * 2**20, f"RSS grew by {(peak - before) / 2**20:.0f} MiB"
    assert PIPELINED_REQUESTS_MAX * 1.5 * 1024 < 40 * 2**20  # the bound the assertion leaves room for


# 6. Transfer codings


@pytest.mark.parametrize("codings", [
    ["gzip, chunked"], ["identity, chunked"], ["chunked, chunked"], ["gzip", "chunked"], ["gzip"], ["chunked, gzip"],
])
def test_transfer_codings_go_refuses_are_501(server: Server, codings: list[str]) -> None:
    fields = "".join(f"Transfer-Encoding: {coding}\r\n" for coding in codings)
    request = (f"POST {PAY} HTTP/1.1\r\nHost: x\r\nAuthorization: {server.auth}\r\n{fields}\r\n").encode()
    with server.connect() as sock:
        sock.sendall(request + b"2\r\n{}\r\n0\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 501"), answer[:100]
    assert b"only Transfer-Encoding: chunked is accepted" in answer
    assert server.service.calls == []


def test_plain_chunked_in_any_case_is_read(server: Server) -> None:
    body = payment_body()
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    with server.connect() as sock:
        sock.sendall(head(server).replace(b"chunked", b"CHUNKED") + chunked)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")


# 7. Clients that hang up


@pytest.mark.parametrize("pipelined", [False, True], ids=["alone", "with a pipelined request behind"])
def test_a_client_that_half_closes_costs_one_info_line(
    server: Server, caplog: pytest.LogCaptureFixture, pipelined: bool,
) -> None:
    """The call is signed and recorded while the client is gone; its answer cannot be sent.
    With a request pipelined behind it, uvicorn marked only that one disconnected and wrote the
    first answer to the closed transport: an ERROR traceback ("the handler is closed")."""
    body = payment_body()
    with caplog.at_level(logging.INFO):
        with server.connect() as sock:
            sock.sendall(head(server, length=len(body)) + body + (HEALTHZ if pipelined else b""))
            sock.shutdown(socket.SHUT_WR)
            assert read_all(sock) == b""  # uvicorn closes on EOF
        deadline = time.monotonic() + 5
        while not [r for r in caplog.records if "closed its connection" in r.getMessage()]:
            assert time.monotonic() < deadline, "no line about the dropped answer"
            time.sleep(0.02)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    gone = [r for r in caplog.records if "closed its connection" in r.getMessage()]
    assert len(gone) == 1 and gone[0].levelno == logging.INFO
    if server.service.calls:  # signed while the client was gone: recorded, a retry gets it
        assert "closed its connection before the 200 answer was sent" in gone[0].getMessage()
    else:  # the close came before the body was read: nothing was done
        assert "closed its connection before its body was read" in gone[0].getMessage()


def test_a_login_form_is_still_read_and_answered(server: Server) -> None:
    """The guards leave an ordinary form login alone (a wrong token: 403)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request("POST", "/dashboard/login", urlencode({"token": "wrong"}),
                           {"Content-Type": "application/x-www-form-urlencoded"})
        assert connection.getresponse().status == 403
    finally:
        connection.close()
