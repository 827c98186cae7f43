"""Real brokers and receivers for the event tests: a uniquely named JetStream stream on the
machine's NATS server (deleted afterwards), a NATS server of our own on a free port (for
outages: the shared one is never stopped), and a loopback HTTP receiver of CloudEvents batches
that can be told to fail.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nats
import pytest

from clearinghouse.api.server import serving
from clearinghouse.ledger import CallKeys, Committer, CreditMode, Database, Gateway, create_gateway, set_credit_policy
from tests.ledger.conftest import CheckAndRecord, SessionDriver, keys_of

SHARED_NATS_URL = "nats://127.0.0.1:4222"
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


@dataclass
class Stream:
    """A JetStream stream of this test: its name, server and subject prefix."""

    url: str
    name: str
    prefix: str

    def messages(self) -> list[tuple[str, dict[str, Any], str]]:
        """Every stored message in stream order: (Nats-Msg-Id, CloudEvent, subject)."""
        return asyncio.run(self._messages())

    async def _messages(self) -> list[tuple[str, dict[str, Any], str]]:
        client = await nats.connect(self.url, connect_timeout=5)
        try:
            jetstream = client.jetstream()
            info = await jetstream.stream_info(self.name)
            found = []
            for sequence in range(info.state.first_seq, info.state.last_seq + 1):
                message = await jetstream.get_msg(self.name, sequence)
                headers = message.headers or {}
                found.append((headers.get("Nats-Msg-Id", ""), json.loads(message.data or b"{}"), message.subject))
            return found
        finally:
            await client.close()

    def count(self) -> int:
        async def count() -> int:
            client = await nats.connect(self.url, connect_timeout=5)
            try:
                return int((await client.jetstream().stream_info(self.name)).state.messages)
            finally:
                await client.close()
        return asyncio.run(count())


async def _create_stream(url: str, name: str, prefix: str) -> None:
    client = await nats.connect(url, connect_timeout=5)
    try:
        await client.jetstream().add_stream(name=name, subjects=[f"{prefix}.>"], duplicate_window=600.0)
    finally:
        await client.close()


async def _delete_stream(url: str, name: str) -> None:
    client = await nats.connect(url, connect_timeout=5)
    try:
        await client.jetstream().delete_stream(name)
    finally:
        await client.close()


@pytest.fixture
def stream() -> Iterator[Stream]:
    """A stream of its own on the machine's NATS server, deleted after the test."""
    token = secrets.token_hex(6)
    made = Stream(SHARED_NATS_URL, f"CHTEST_{token}", f"chtest.{token}")
    asyncio.run(_create_stream(made.url, made.name, made.prefix))
    try:
        yield made
    finally:
        asyncio.run(_delete_stream(made.url, made.name))


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


__all__ = ["CallKeys", "eventually", "sign"]
