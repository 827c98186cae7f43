"""Real brokers and receivers for the event tests: a uniquely named JetStream stream on the
machine's NATS server (deleted afterwards), a NATS server of our own on a free port (for
outages: the shared one is never stopped), and a loopback HTTP receiver of CloudEvents batches
that can be told to fail.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clearinghouse.api.server import serving
from clearinghouse.ledger import Committer, CreditMode, Database, Gateway, create_gateway, set_credit_policy
from tests.events.jetstream import Stream, temporary_stream
from tests.ledger.conftest import CheckAndRecord, SessionDriver, keys_of

WAIT_S = 30.0
"""Any condition a test waits for (a relay draining a backlog) holds well within this."""
POLL_S = 0.02
"""How often a waited-for condition is checked."""
SERVER_START_S = 10.0


def eventually(check: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Wait until ``check()`` holds; fail naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout_s:g} s: {what}")
        time.sleep(POLL_S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class NatsServer:
    """A nats-server of the test's own (JetStream on, store in a temporary directory), which the
    test may stop and start again on the same port with the same store."""

    def __init__(self, store: Path) -> None:
        self.port = free_port()
        self.store = store
        self.url = f"nats://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("nats-server")
        if binary is None:
            pytest.fail("nats-server is not installed")
        self._process = subprocess.Popen([binary, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        eventually(self._answers, f"nats-server on port {self.port} accepting", SERVER_START_S)

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                return sock.recv(4).startswith(b"INFO")
        except OSError:
            return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            process.wait(10)


@pytest.fixture
def stream() -> Iterator[Stream]:
    """A stream of its own on the machine's NATS server, deleted after the test."""
    with temporary_stream() as made:
        yield made


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Receiver:
    """What the loopback receiver got: every POST's content type and JSON body, and the
    statuses it answered; ``fail_next`` POSTs are answered 500."""

    url: str = ""
    posts: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    fail_next: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accepted_events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [event for (_, body), status in zip(self.posts, self.statuses, strict=True)
                    if status == 200 for event in body]


def _receiver_app(receiver: Receiver) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        content_type = dict(scope["headers"]).get(b"content-type", b"").decode()
        with receiver.lock:
            status = 500 if receiver.fail_next > 0 else 200
            receiver.fail_next -= status == 500
            receiver.posts.append((content_type, json.loads(body) if body else []))
            receiver.statuses.append(status)
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status == 200 else b"receiver failing"})

    return app


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A CloudEvents batch receiver on a loopback port (also usable as an alert webhook)."""
    made = Receiver()
    with serving(_receiver_app(made)) as url:
        made.url = url + "/api/v1/events"
        yield made


@pytest.fixture
def credited_gateways(ledger_db: Database) -> list[Gateway]:
    gateways = [create_gateway(ledger_db, "gateway-a"), create_gateway(ledger_db, "gateway-b")]
    for gateway in gateways:
        set_credit_policy(ledger_db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=10**18, actor="t", reason="t")
    return gateways


def sign(db: Database, committer: Committer, gateways: list[Gateway], calls_per_session: int,
         sessions_per_gateway: int = 2) -> list[tuple[int, str, int]]:
    """Sign through ``committer``: interleaved sessions of every gateway, each call waiting
    for the one before (as a gateway's session does). Returns (gateway, StateID, sequence) of
    each signed call in signing order."""
    drivers = [SessionDriver(g.id) for g in gateways for _ in range(sessions_per_gateway)]
    signed = []
    for _ in range(calls_per_session):
        futures = []
        for driver in drivers:
            units = 10
            while driver.tickets_needed(units) < 1:  # the session's balance covers it: bill more
                units += 10
            call = driver.next_call(units)
            futures.append((call, committer.submit(CheckAndRecord(call, keys_of(call)))))
        for (call, future), driver in zip(futures, drivers, strict=True):
            future.result(WAIT_S)
            driver.advance(call)
            signed.append((call.gateway_id, call.session.state_id, call.session.sequence_number))
    return signed

