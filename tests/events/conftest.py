"""Real brokers and receivers for the event tests: a uniquely named JetStream stream on the
machine's NATS server (deleted afterwards), a NATS server of our own on a free port (for
outages: the shared one is never stopped), and a loopback HTTP receiver of CloudEvents batches
that can be told to fail (receiver.py).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from clearinghouse.ledger import Committer, Database, create_gateway, set_credit_policy
from clearinghouse.domain.credit import CreditMode
from clearinghouse.domain.gateways import Gateway
from tests.events.jetstream import Stream, temporary_stream
from tests.events.receiver import Receiver, receiver
from tests.ledger.conftest import CheckAndRecord, SessionDriver, keys_of

WAIT_S = 60.0
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


__all__ = ["Receiver", "receiver"]
