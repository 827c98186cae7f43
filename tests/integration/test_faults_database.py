"""Faults (issue #9): the ledger database down, full or read-only while gateways are paying.

- **Down**: a real `clearinghouse serve` on a PRIVATE PostgreSQL cluster (initdb'd here on a free
  port, never the shared server). Clients sign over keep-alive HTTP; the cluster is stopped with
  ``pg_ctl stop -m immediate`` (a crash: in-flight commits die wherever they are). While it is
  down every payment call is 503 "database unavailable" (never 500), /healthz stays 200 and
  /readyz is 503. The cluster is started again and signing resumes in the same daemon process.
- **Full**: SQLite with ``PRAGMA max_page_count`` at the file's current size, so the next page a
  signing write needs fails with a real SQLITE_FULL. The signer here is in-process (the pragma
  lives on each connection, which a subprocess's pool would not see) behind a real uvicorn.
- **Read-only**: PostgreSQL with ``ALTER DATABASE … SET default_transaction_read_only = on`` on
  a database of the private cluster; psycopg reports it as an InternalError, which the ledger
  must map to DatabaseUnavailable(READ_ONLY), not let through as a 500.

In every case nothing is half-written: afterwards ``check_ledger`` finds every ticket a client
received recorded exactly once with the same hash, and `ledger verify` passes.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
import random
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, text

from clearinghouse import ledger
from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.ledger.errors import DatabaseFault
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.signer.service import PaymentService
from tests.cli.conftest import PEPPER_HEX, SENDER_KEY, write_daemon_config
from tests.integration.conftest import (
    CREATION_ROUND,
    CREATION_ROUND_BLOCK_HASH,
    LAST_L1_BLOCK,
    Daemons,
    KeepAliveClient,
    ReceivedTickets,
    TransportError,
    check_ledger,
    free_port,
    offer,
    payment_body,
    provision_gateway,
)

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/nonexistent"))
PG_USER = "postgres"
PG_START_TIMEOUT_S = 30
"""pg_ctl start -w: a fresh cluster on a tmp dir starts in about a second."""
CREDIT_LIMIT_WEI = 10**18
WORKERS = 8
"""Concurrent sessions signing while the database goes away."""
UP_BEFORE_STOP_S = 1.0
DOWN_S = 2.0
"""How long the cluster stays down: many calls meet it, each answered 503."""
AFTER_START_S = 1.5
"""Load after the cluster is back, so every client is seen to recover."""
RETRY_PAUSE_S = 0.05
RUN_TIMEOUT_S = 60.0
RECOVERY_TIMEOUT_S = 30.0
"""The first signature after the database is back: pool_pre_ping reconnects at the next call."""
STATIC_CHAIN = ChainView(deposit_wei=10**18, reserve_wei=10**18, withdraw_round=0, current_round=CREATION_ROUND,
                         last_l1_block=LAST_L1_BLOCK, round_block_hashes=((CREATION_ROUND, CREATION_ROUND_BLOCK_HASH),))
"""The same position tests.cli.conftest.write_daemon_config gives a daemon."""

requires_postgres_binaries = pytest.mark.skipif(not (PG_BIN / "initdb").exists(), reason="no PostgreSQL binaries")


# ---- a private PostgreSQL cluster ------------------------------------------------------------


class PrivateCluster:
    """initdb + pg_ctl on a tmp dir owned by the postgres user, on a free loopback port."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="clearinghouse-faults-pg-"))
        self.data = self.directory / "data"
        self.port = free_port()
        shutil.chown(self.directory, PG_USER, PG_USER)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *command: str) -> None:
        result = subprocess.run(["runuser", "-u", PG_USER, "--", *command], capture_output=True, text=True,
                                timeout=PG_START_TIMEOUT_S + 10)
        assert result.returncode == 0, f"{command[0]} failed: {result.stdout}\n{result.stderr}"

    def init(self) -> None:
        self._run(str(PG_BIN / "initdb"), "-D", str(self.data), "-A", "trust", "-U", PG_USER, "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l",
                  str(self.directory / "server.log"), "-w", "-t", str(PG_START_TIMEOUT_S), "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def create_database(self, name: str) -> str:
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={PG_USER} dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run(["runuser", "-u", PG_USER, "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data),
                            "-m", "immediate", "stop"], capture_output=True, timeout=30)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    private = PrivateCluster()
    try:
        private.init()
        private.start()
        yield private
    finally:
        private.remove()


# ---- HTTP helpers ------------------------------------------------------------------------------


def get_status(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def pay(port: int, api_key: str, body: bytes) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/generate-live-payment", body=body,
                           headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read() or b"{}")
    finally:
        connection.close()


@dataclass
class Outcomes:
    """What the clients saw."""

    statuses: Counter[int] = field(default_factory=Counter)
    messages_503: Counter[str] = field(default_factory=Counter)
    stale_after_503: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)
    ok_after_restart: int = 0


async def session_loop(worker: int, port: int, api_key: str, rng: random.Random, stop: asyncio.Event,
                       received: ReceivedTickets, outcomes: Outcomes, back: asyncio.Event) -> None:
    """Sessions of calls; a 503 is retried with the same state (byte for byte), a 409 right after
    a 503 (the commit landed, its answer was lost) starts a new session, as a gateway would."""
    client = KeepAliveClient(port, api_key)
    session = 0
    try:
        while not stop.is_set():
            session += 1
            info, state, failed = offer(rng), None, False
            for _ in range(rng.randint(3, 30)):
                if stop.is_set():
                    return
                while True:
                    try:
                        status, answer = await client.post("/generate-live-payment",
                                                           payment_body(info, f"db-{worker}-{session}", state))
                    except TransportError as exc:
                        outcomes.unexpected[f"transport: {exc}"] += 1
                        return
                    outcomes.statuses[status] += 1
                    if status != 503 or stop.is_set():
                        break
                    failed = True
                    outcomes.messages_503[json.loads(answer)["error"]["message"]] += 1
                    await asyncio.sleep(RETRY_PAUSE_S)
                if status == 200:
                    fields = json.loads(answer)
                    received.add(fields["payment"])
                    state, failed = fields["state"], False
                    outcomes.ok_after_restart += back.is_set()
                elif status == 409 and failed:
                    outcomes.stale_after_503 += 1
                    break
                elif status == 503:
                    return
                else:
                    outcomes.unexpected[f"{status} {answer[:200]!r}"] += 1
                    return
    finally:
        client.close()


# ---- database down ----------------------------------------------------------------------------


@requires_postgres_binaries
def test_postgres_down_mid_traffic_is_503_and_signing_resumes_without_a_restart(
    tmp_path: Path, daemons: Daemons, cluster: PrivateCluster
) -> None:
    started = time.monotonic()
    database_url = cluster.create_database("clearinghouse")
    api_key = provision_gateway(database_url, CREDIT_LIMIT_WEI)
    port = free_port()
    config = write_daemon_config(tmp_path, port)
    daemon = daemons.launch(config, port, CLEARINGHOUSE_DATABASE_URL=database_url)
    received, outcomes = ReceivedTickets(), Outcomes()
    probes: dict[str, int] = {}
    messages: dict[str, str] = {}

    async def run() -> None:
        rng, stop, back = random.Random(20261123), asyncio.Event(), asyncio.Event()
        workers = [asyncio.create_task(session_loop(n, port, api_key, random.Random(rng.random()), stop, received,
                                                    outcomes, back)) for n in range(WORKERS)]
        try:
            await asyncio.sleep(UP_BEFORE_STOP_S)
            await asyncio.to_thread(cluster.stop, "immediate")
            await asyncio.sleep(DOWN_S)
            probes["healthz"] = await asyncio.to_thread(get_status, port, "/healthz")
            probes["readyz"] = await asyncio.to_thread(get_status, port, "/readyz")
            probes["pay"], answer = await asyncio.to_thread(pay, port, api_key, payment_body(offer(rng), "probe", None))
            messages["pay"] = answer["error"]["message"]
            await asyncio.to_thread(cluster.start)
            back.set()
            await asyncio.sleep(AFTER_START_S)
        finally:
            stop.set()
            await asyncio.gather(*workers)

    asyncio.run(asyncio.wait_for(run(), RUN_TIMEOUT_S))
    assert daemon.running(), f"the daemon died with the database:\n{daemon.log_tail()}"
    assert daemon.starts == 1
    assert (probes["healthz"], probes["readyz"], probes["pay"]) == (200, 503, 503), probes
    assert messages["pay"].startswith("database unavailable"), messages
    assert not outcomes.unexpected, f"unexpected answers: {dict(outcomes.unexpected)}"
    assert 500 not in outcomes.statuses and outcomes.statuses[503] > 0, outcomes.statuses
    assert all(m.startswith("database unavailable") for m in outcomes.messages_503), outcomes.messages_503
    assert outcomes.ok_after_restart > 0, "no call signed after the database came back"
    daemon.stop()
    counts = check_ledger(database_url, received)
    print(f"\ndatabase down: {WORKERS} clients, answers {dict(outcomes.statuses)}, 409 after a 503 "
          f"{outcomes.stale_after_503}, signed after restart {outcomes.ok_after_restart}; ledger "
          f"{counts.tickets_recorded} tickets ({counts.recorded_not_received} never received), verify ok; "
          f"{time.monotonic() - started:.1f} s")


# ---- database full / read-only: an in-process signer behind a real HTTP server ----------------


@contextmanager
def signer_server(database_url: str) -> Iterator[tuple[int, ledger.Database]]:
    """A real RemoteSignerApp on loopback over ``database_url``; yields its port and database."""
    db = ledger.open_database(database_url)
    try:
        service = PaymentService(db, SENDER_KEY, lambda: STATIC_CHAIN, PaymentPolicy())
        app = RemoteSignerApp(service, api_keys=ApiKeyAuthenticator(db, bytes.fromhex(PEPPER_HEX)))
        with serving(app) as url:
            yield int(url.rsplit(":", 1)[1].rstrip("/")), db
    finally:
        db.dispose()


@dataclass
class Session:
    """One gateway session driven call by call."""

    port: int
    api_key: str
    received: ReceivedTickets
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    info: bytes = b""
    state: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.info = offer(self.rng)

    def call(self) -> tuple[int, dict[str, Any]]:
        status, answer = pay(self.port, self.api_key, payment_body(self.info, "faults", self.state))
        if status == 200:
            self.received.add(answer["payment"])
            self.state = answer["state"]
        return status, answer


def refused_while(session: Session, caplog: pytest.LogCaptureFixture, fault: DatabaseFault, calls: int = 3) -> None:
    """``calls`` calls in a row are 503 "database unavailable", logged with the fault's name."""
    for _ in range(calls):
        status, answer = session.call()
        assert status == 503 and answer["error"]["message"].startswith("database unavailable"), (status, answer)
    logged = [r.getMessage() for r in caplog.records if "unavailable" in r.getMessage()]
    assert any(f"unavailable ({fault.value})" in line for line in logged), logged


def signed_tickets(db: ledger.Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM signed_tickets")).scalar_one())


def test_sqlite_full_is_503_nothing_half_written_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    database_url = f"sqlite:///{tmp_path / 'full.sqlite3'}"
    api_key = provision_gateway(database_url, CREDIT_LIMIT_WEI)
    received = ReceivedTickets()
    page_count_max: list[int | None] = [None]

    def limit_pages(dbapi_connection: Any, _record: object) -> None:
        if page_count_max[0] is not None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {page_count_max[0]}")

    with signer_server(database_url) as (port, db):
        event.listen(db.engine, "connect", limit_pages)
        session = Session(port, api_key, received)
        assert session.call()[0] == 200
        with db.engine.connect() as connection:  # checkpoint the WAL: the file holds every page in use
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            page_count_max[0] = int(connection.exec_driver_sql("PRAGMA page_count").scalar_one())
        db.engine.dispose()  # every new connection gets the limit
        before = signed_tickets(db)
        full_calls = 0
        while True:  # a call or two may still fit in free pages; then it is full
            status, _ = session.call()
            full_calls += 1
            if status == 503 or full_calls > 50:
                break
            assert status == 200
        assert status == 503, "the database never filled up"
        refused_while(session, caplog, DatabaseFault.FULL)
        during, limit_pages_count = signed_tickets(db), page_count_max[0]
        page_count_max[0] = 2**31 - 1  # the operator frees space
        db.engine.dispose()
        assert session.call()[0] == 200, "signing did not resume once space was freed"
    counts = check_ledger(database_url, received)
    assert during == before + full_calls - 1, "a refused call left tickets behind"
    print(f"\nSQLite full at {limit_pages_count} pages: {full_calls - 1} calls fitted, then 503; "
          f"ledger {counts.tickets_recorded} tickets, verify ok")


@requires_postgres_binaries
def test_postgres_read_only_is_503_nothing_half_written_and_recovers(
    cluster: PrivateCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    database_url = cluster.create_database("readonly")
    api_key = provision_gateway(database_url, CREDIT_LIMIT_WEI)
    received = ReceivedTickets()

    def read_only(on: bool) -> None:
        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user={PG_USER} dbname=postgres",
                             autocommit=True) as connection:
            connection.execute(f"ALTER DATABASE readonly SET default_transaction_read_only = {'on' if on else 'off'}")

    with signer_server(database_url) as (port, db):
        session = Session(port, api_key, received)
        assert session.call()[0] == 200
        before = signed_tickets(db)
        read_only(True)
        db.engine.dispose()  # the setting applies to new sessions
        refused_while(session, caplog, DatabaseFault.READ_ONLY)
        assert signed_tickets(db) == before
        read_only(False)
        db.engine.dispose()
        assert session.call()[0] == 200, "signing did not resume once writes were allowed"
    check_ledger(database_url, received)


def test_the_ledger_names_each_fault() -> None:
    """The SQLSTATE / SQLite codes map to the fault the message names (no server needed)."""
    from clearinghouse.ledger.transactions import _fault

    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            self.sqlstate = sqlstate

    import sqlite3

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    assert _fault(full) is DatabaseFault.FULL
    assert _fault(PgError("25006")) is DatabaseFault.READ_ONLY
    assert _fault(PgError("53100")) is DatabaseFault.FULL
    assert _fault(PgError("57P01")) is DatabaseFault.UNREACHABLE
    assert _fault(PgError("23505")) is None  # a unique violation is a conflict, not a fault

