"""Whole-daemon tests: `clearinghouse serve` subprocesses driven over keep-alive HTTP.

Owns what the crash test and the two-daemon test share:

- ``DaemonProcess`` and the ``daemons`` fixture: start, SIGKILL, restart and stop a daemon
  subprocess; every process a test starts is killed and reaped at teardown, even on failure.
- ``KeepAliveClient``: one HTTP/1.1 keep-alive connection over asyncio streams (like
  ``benchmarks/load_generator.py``) that turns every connection failure into ``TransportError``.
- ``offer`` and ``payment_body``: a seeded OrchestratorInfo with fixed billing at price = ticket
  EV (35 wei), so every call signs exactly one ticket, and the request that carries it.
- ``ReceivedTickets``: what the clients actually received, decoded from each ``payment``.
- ``check_ledger``: every received ticket is recorded with the same ticket hash, no
  (recipientRandHash, nonce) is recorded twice, ``verify_ledger`` and ``ledger verify`` pass.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import pytest
from sqlalchemy import text

from clearinghouse import ledger, pm
from clearinghouse.domain.credit import CreditMode
from clearinghouse.api.api_keys import issue_api_key
from clearinghouse.domain.ev import ticket_ev
from clearinghouse.proto import lp_rpc_pb2
from tests.cli.conftest import PEPPER_HEX, SENDER_KEY, clearinghouse

SENDER = pm.private_key_to_address(SENDER_KEY)

READY_TIMEOUT_S = 30.0
"""A daemon not ready this long after start (imports, key decryption, schema check) is broken."""
READY_POLL_S = 0.05
"""Pause between /readyz probes while a daemon starts."""
STOP_TIMEOUT_S = 10.0
"""SIGTERM lets in-flight calls finish; a daemon still running after this is SIGKILLed."""
CALL_TIMEOUT_S = 10.0
"""No call takes this long on loopback; one that does is a hang, counted and failed on."""
PROBE_TIMEOUT_S = 1.0
"""One /readyz probe."""
LOG_TAIL_LINES = 30
"""Daemon log lines shown when a daemon fails to start."""
REPORT_EXAMPLES_MAX = 5
"""Offending tickets named in an assertion message."""

# The offer: fixed billing, price 35 wei per unit, a ticket of EV 105 x 1/3 = 35 wei exactly
# (2**256 - 1 is divisible by 3), so each call owes 35 wei and signs one ticket.
PRICE_PER_UNIT_WEI = 35
FACE_VALUE_WEI = 105
WIN_PROB_THIRD = (2**256 - 1) // 3
TICKET_EV_WEI = ticket_ev(FACE_VALUE_WEI, WIN_PROB_THIRD)
ORCHESTRATOR_ADDRESS = b"\x73" * 20
# Must match the static chain view of tests.cli.conftest.write_daemon_config.
CREATION_ROUND = 3500
CREATION_ROUND_BLOCK_HASH = b"\x41" * 32
LAST_L1_BLOCK = 20_000_000


def free_port() -> int:
    """A loopback port free right now (the daemon binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def daemon_environment(**extra: str) -> dict[str, str]:
    """This process's environment without CLEARINGHOUSE_* settings, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLEARINGHOUSE_")}
    return base | extra


class DaemonProcess:
    """One `clearinghouse serve` subprocess on a fixed port; may be killed and started again.

    Output of every run is appended to ``log_path``, shown when the daemon fails to start.
    """

    def __init__(self, config: Path, port: int, log_path: Path, env: dict[str, str]) -> None:
        self.config, self.port, self.log_path, self._env = config, port, log_path, env
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def start(self) -> None:
        if self.running():
            raise RuntimeError(f"daemon on port {self.port} is already running")
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "clearinghouse", "serve", "--config", str(self.config),
                 "--log-level", "warning"],
                env=self._env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C to pytest must not reach it before teardown
            )
        self.starts += 1

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def wait_ready(self) -> float:
        """Block until /readyz answers 200; return the seconds it took. RuntimeError if the
        process exits or is not ready within READY_TIMEOUT_S, with the log's tail."""
        started = time.monotonic()
        while time.monotonic() - started < READY_TIMEOUT_S:
            if not self.running():
                raise RuntimeError(f"daemon on port {self.port} exited:\n{self.log_tail()}")
            if self._ready():
                return time.monotonic() - started
            time.sleep(READY_POLL_S)
        raise RuntimeError(f"daemon on port {self.port} not ready in {READY_TIMEOUT_S:g} s:\n{self.log_tail()}")

    def _ready(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=PROBE_TIMEOUT_S)
        try:
            connection.request("GET", "/readyz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, in-flight calls die wherever they are."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(STOP_TIMEOUT_S)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; returns the exit code."""
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._process.returncode

    def log_tail(self) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:])


class Daemons:
    """Launches daemons for one test and remembers them so teardown can kill them all."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self.started: list[DaemonProcess] = []

    def launch(self, config: Path, port: int, **env: str) -> DaemonProcess:
        """Start a daemon and wait until it is ready."""
        log_path = self._directory / f"daemon-{port}.log"
        daemon = DaemonProcess(config, port, log_path, daemon_environment(**env))
        self.started.append(daemon)
        daemon.start()
        daemon.wait_ready()
        return daemon

    def kill_all(self) -> None:
        for daemon in self.started:
            daemon.kill()


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Daemons]:
    """Start daemons through this; every one still running at teardown is SIGKILLed."""
    pool = Daemons(tmp_path)
    try:
        yield pool
    finally:
        pool.kill_all()


def provision_gateway(database_url: str, credit_limit_wei: int) -> str:
    """Migrate the ledger, add a gateway with a credit limit and return a new API key for it."""
    ledger.upgrade_to_head(database_url)
    db = ledger.open_database(database_url)
    try:
        gateway = ledger.create_gateway(db, "integration")
        ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT,
                                 credit_limit_wei=credit_limit_wei, actor="test", reason="integration test")
        key_text, _ = issue_api_key(db, gateway.id, bytes.fromhex(PEPPER_HEX))
    finally:
        db.dispose()
    return key_text


def minimal_big_endian(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def offer(rng: random.Random) -> bytes:
    """A serialized OrchestratorInfo with fresh (seeded) ticket params; one ticket per call."""
    info = lp_rpc_pb2.OrchestratorInfo(transcoder="https://orchestrator.invalid:8935", address=ORCHESTRATOR_ADDRESS)
    info.price_info.pricePerUnit = PRICE_PER_UNIT_WEI
    info.price_info.pixelsPerUnit = 1
    params = info.ticket_params
    params.recipient = ORCHESTRATOR_ADDRESS
    params.face_value = minimal_big_endian(FACE_VALUE_WEI)
    params.win_prob = minimal_big_endian(WIN_PROB_THIRD)
    params.recipient_rand_hash = rng.randbytes(32)
    params.seed = rng.randbytes(32)
    params.expiration_block = minimal_big_endian(LAST_L1_BLOCK + 10**9)
    params.expiration_params.creation_round = CREATION_ROUND
    params.expiration_params.creation_round_block_hash = CREATION_ROUND_BLOCK_HASH
    info.auth_token.token = b"token"
    info.auth_token.session_id = "integration"
    info.auth_token.expiration = int(time.time()) + 10**8
    return info.SerializeToString()


def payment_body(info: bytes, manifest_id: str, state: dict[str, str] | None) -> bytes:
    """A /generate-live-payment body; byte-identical for a retry of the same call."""
    body: dict[str, object] = {"orchestrator": base64.b64encode(info).decode(), "type": "fixed",
                               "ManifestID": manifest_id}
    if state is not None:
        body["state"] = state
    return json.dumps(body).encode()


class TransportError(Exception):
    """The connection failed before a whole answer arrived (refused, reset, closed mid-answer);
    ``refused`` when nothing was listening, so the request never reached a daemon."""

    def __init__(self, message: str, *, refused: bool) -> None:
        super().__init__(message)
        self.refused = refused


class KeepAliveClient:
    """One keep-alive HTTP/1.1 connection to one daemon, reopened after a failure."""

    def __init__(self, port: int, api_key: str) -> None:
        self.port = port
        self._auth = f"Authorization: Bearer {api_key}\r\n".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        """Send one request, read the whole answer. TransportError on any connection failure,
        TimeoutError after CALL_TIMEOUT_S (the connection is closed either way)."""
        try:
            return await asyncio.wait_for(self._exchange(path, body), CALL_TIMEOUT_S)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError) as exc:
            self.close()
            raise TransportError(f"{type(exc).__name__}: {exc}",
                                 refused=isinstance(exc, ConnectionRefusedError)) from exc
        except TimeoutError:
            self.close()
            raise

    async def _exchange(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        reader, writer = self._reader, self._writer
        assert reader is not None
        writer.write(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % (path.encode(), self.port) + self._auth
                     + b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed before the status line")
        length, close = 0, False
        while (line := await reader.readline()) != b"\r\n":
            if not line:
                raise ConnectionResetError("connection closed in the headers")
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        payload = await reader.readexactly(length)
        if close:
            self.close()
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass(frozen=True, slots=True)
class ReceivedTicket:
    recipient_rand_hash: bytes
    nonce: int
    signature: bytes
    ticket_hash: bytes
    ev_wei: Fraction


@dataclass
class ReceivedTickets:
    """Every ticket the clients received, keyed by (recipientRandHash, nonce).

    Receiving the same key twice is fine only with the same ticket and signature (a retried
    call answered from the ledger); anything else is two different tickets under one nonce.
    """

    tickets: dict[tuple[bytes, int], ReceivedTicket] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    payments: int = 0

    def add(self, payment_b64: str) -> list[tuple[bytes, int]]:
        """Decode one answer's ``payment``, keep its tickets; return their keys."""
        payment = lp_rpc_pb2.Payment.FromString(base64.b64decode(payment_b64, validate=True))
        params = payment.ticket_params
        face_value = int.from_bytes(params.face_value, "big")
        win_prob = int.from_bytes(params.win_prob, "big")
        keys = []
        for sender_params in payment.ticket_sender_params:
            ticket = ReceivedTicket(
                recipient_rand_hash=params.recipient_rand_hash,
                nonce=sender_params.sender_nonce,
                signature=sender_params.sig,
                ticket_hash=pm.ticket_hash(
                    params.recipient, payment.sender, face_value, win_prob, sender_params.sender_nonce,
                    params.recipient_rand_hash, payment.expiration_params.creation_round,
                    payment.expiration_params.creation_round_block_hash,
                ),
                ev_wei=ticket_ev(face_value, win_prob),
            )
            key = (ticket.recipient_rand_hash, ticket.nonce)
            keys.append(key)
            earlier = self.tickets.setdefault(key, ticket)
            if earlier != ticket:
                self.conflicts.append(f"{describe(key)}: received two different tickets")
        self.payments += 1
        return keys


def describe(key: tuple[bytes, int]) -> str:
    return f"(recipientRandHash {key[0].hex()[:16]}…, nonce {key[1]})"


@dataclass(frozen=True, slots=True)
class LedgerCounts:
    tickets_recorded: int
    tickets_received: int
    recorded_not_received: int
    ev_signed_wei: Fraction


def check_ledger(database_url: str, received: ReceivedTickets) -> LedgerCounts:
    """Assert the ledger holds every received ticket exactly once and verifies; count it."""
    assert not received.conflicts, f"one nonce, two tickets: {received.conflicts[:REPORT_EXAMPLES_MAX]}"
    bad_signatures = [describe(key) for key, t in received.tickets.items()
                      if not pm.verify_personal_signature(t.ticket_hash, t.signature, SENDER)]
    assert not bad_signatures, f"tickets not signed by the sender: {bad_signatures[:REPORT_EXAMPLES_MAX]}"
    db = ledger.open_database(database_url)
    try:
        with db.engine.connect() as connection:
            duplicates = connection.execute(text(
                "SELECT recipient_rand_hash, sender_nonce, count(*) FROM signed_tickets "
                "GROUP BY recipient_rand_hash, sender_nonce HAVING count(*) > 1")).all()
            rows = connection.execute(text(
                "SELECT recipient_rand_hash, sender_nonce, ticket_hash FROM signed_tickets")).all()
            ev_rows = connection.execute(text("SELECT ev_signed_num, ev_signed_den FROM signing_records")).all()
        report = ledger.verify_ledger(db)
    finally:
        db.dispose()
    assert not duplicates, f"(recipientRandHash, nonce) recorded twice: {duplicates[:REPORT_EXAMPLES_MAX]}"
    recorded = {(bytes(rand_hash), int(nonce)): bytes(ticket_hash) for rand_hash, nonce, ticket_hash in rows}
    missing = [describe(key) for key in received.tickets if key not in recorded]
    assert not missing, f"{len(missing)} received tickets missing from the ledger: {missing[:REPORT_EXAMPLES_MAX]}"
    different = [describe(key) for key, t in received.tickets.items() if recorded[key] != t.ticket_hash]
    assert not different, f"ledger ticket hash differs from the one received: {different[:REPORT_EXAMPLES_MAX]}"
    assert report.ok, f"verify_ledger failed: {report}"
    result = clearinghouse("ledger", "verify", "--database-url", database_url)
    assert result.returncode == 0, f"`clearinghouse ledger verify` exited {result.returncode}: {result.stderr}"
    return LedgerCounts(
        tickets_recorded=len(recorded),
        tickets_received=len(received.tickets),
        recorded_not_received=len(recorded.keys() - received.tickets.keys()),
        ev_signed_wei=sum((Fraction(int(num), int(den)) for num, den in ev_rows), Fraction(0)),
    )
