"""DepositMonitor on a real anvil devnet and a real SQLite ledger: guard, alerts, staleness, burn."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from fractions import Fraction
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from web3 import Web3

from clearinghouse import ledger
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.client import ChainClient
from clearinghouse.chain.devnet import ProvisionedDevnet, transact
from clearinghouse.chain.errors import ChainError
from clearinghouse.chain.health import (
    NO_EXPOSURE,
    HealthReason,
    HealthState,
    HealthThresholds,
    WatcherLag,
)
from clearinghouse.chain.monitor import (
    DepositMonitor,
    DepositSnapshot,
    HealthAlerts,
    LedgerAndChainSources,
    health_document,
)
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.errors import LedgerError
from tests.chain.conftest import DEPOSIT_WEI, RESERVE_WEI
from tests.chain.test_client import impersonate

BURN_WINDOW_S = 600.0


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ledger.Database]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(url)
    database = ledger.open_database(url)
    yield database
    database.dispose()


@pytest.fixture
def sources(provisioned: ProvisionedDevnet, db: ledger.Database, w3: Web3) -> LedgerAndChainSources:
    client = ChainClient(provisioned.devnet.rpc_url, provisioned.devnet.controller)
    sender = bytes.fromhex(provisioned.sender[2:])
    return LedgerAndChainSources(client, db, sender, burn_window_s=BURN_WINDOW_S)


class Clock:
    """A settable monotonic clock, so staleness and burn windows need no sleeping."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def monitor_of(sources: object, alerts: HealthAlerts | None = None, clock: Clock | None = None) -> DepositMonitor:
    return DepositMonitor(
        sources,  # type: ignore[arg-type]
        HealthThresholds(gas_balance_warn_wei=10**16),
        alerts or HealthAlerts(),
        refresh_s=1.0,
        stale_after_s=10.0,
        burn_window_s=BURN_WINDOW_S,
        retry_on=(ChainError, LedgerError),
        clock_s=clock or Clock(),
    )


def set_unlock(provisioned: ProvisionedDevnet, w3: Web3, function: str) -> None:
    impersonate(w3, provisioned.sender)
    broker = bind(w3, "TicketBroker", provisioned.devnet.ticket_broker)
    transact(w3, getattr(broker.functions, function)(), provisioned.sender)


def test_a_funded_sender_reads_as_ok_and_signing_sees_its_position(
    sources: LedgerAndChainSources, provisioned: ProvisionedDevnet, w3: Web3
) -> None:
    snapshot = sources.snapshot()
    position = snapshot.position
    assert (position.deposit_wei, position.reserve_wei, position.withdraw_round) == (DEPOSIT_WEI, RESERVE_WEI, 0)
    assert (position.current_round, position.ticket_validity_period_rounds, position.transcoder_pool_size) == (1, 2, 1)
    assert position.gas_balance_wei == w3.eth.get_balance(provisioned.sender)
    assert position.reserve_share_wei == RESERVE_WEI
    assert snapshot.exposure == NO_EXPOSURE and snapshot.ev_signed_total_wei == 0 and snapshot.paid_in_window_wei == 0

    monitor = monitor_of(sources)
    assert monitor.refresh()
    assert monitor.health().state is HealthState.OK
    view = monitor()
    assert (view.deposit_wei, view.reserve_wei, view.current_round) == (DEPOSIT_WEI, RESERVE_WEI, 1)
    assert view.last_l1_block == w3.eth.block_number


class AlertReceiver(BaseHTTPRequestHandler):
    bodies: list[dict[str, object]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers["Content-Length"])
        AlertReceiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return


@pytest.fixture
def alert_url() -> Iterator[str]:
    AlertReceiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), AlertReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()


def test_unlock_stops_signing_with_an_alert_and_cancelling_resumes(
    sources: LedgerAndChainSources, provisioned: ProvisionedDevnet, w3: Web3, alert_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monitor = monitor_of(sources, HealthAlerts(alert_url))
    monitor.refresh()
    assert AlertReceiver.bodies == []  # a healthy start is not news

    set_unlock(provisioned, w3, "unlock")
    with caplog.at_level(logging.ERROR, logger="clearinghouse.health"):
        monitor.refresh()
    with pytest.raises(SigningRefused) as refused:
        monitor()
    assert refused.value.reason is Refusal.SIGNER_UNSAFE
    assert "unlock in progress: deposit and reserve withdrawable at round 3" in str(refused.value)
    assert "deposit health critical" in caplog.text
    (alert,) = AlertReceiver.bodies
    assert alert["state"] == "critical"
    assert [f["reason"] for f in alert["findings"]] == ["unlock_in_progress"]  # type: ignore[attr-defined]
    assert alert["chain"]["withdraw_round"] == 3  # type: ignore[index]

    monitor.refresh()
    assert len(AlertReceiver.bodies) == 1  # the same verdict again is not a new alert

    set_unlock(provisioned, w3, "cancelUnlock")
    monitor.refresh()
    assert monitor().withdraw_round == 0
    assert [b["state"] for b in AlertReceiver.bodies] == ["critical", "ok"]


def test_stale_data_refuses_and_a_dead_rpc_never_raises(
    sources: LedgerAndChainSources, db: ledger.Database, provisioned: ProvisionedDevnet
) -> None:
    clock = Clock()
    monitor = monitor_of(sources, clock=clock)
    monitor.refresh()
    clock.now_s += 10.0
    assert monitor().deposit_wei == DEPOSIT_WEI
    clock.now_s += 0.5
    with pytest.raises(SigningRefused, match=r"chain data stale: last read 10.5 s ago, expected at most 10 s"):
        monitor()
    health = monitor.health()
    assert health.state is HealthState.CRITICAL and health.position is not None  # still reports what it knew

    dead = ChainClient("http://user:hunter2@127.0.0.1:9/key", provisioned.devnet.controller, timeout_s=0.5)
    blind = monitor_of(LedgerAndChainSources(dead, db, bytes(20), burn_window_s=BURN_WINDOW_S))
    assert not blind.refresh()
    health = blind.health()
    assert [f.reason for f in health.findings] == [HealthReason.CHAIN_DATA_STALE]
    assert health.watcher.last_error is not None and "hunter2" not in health.watcher.last_error
    with pytest.raises(SigningRefused, match="chain data stale: never read"):
        blind()


class ScriptedSources:
    """A fake DepositSources replaying set snapshots: only for the burn-rate arithmetic, which
    needs ledger totals at chosen times that a real ledger cannot be made to have."""

    def __init__(self, base: DepositSnapshot) -> None:
        self.snapshot_now = base

    def snapshot(self) -> DepositSnapshot:
        return self.snapshot_now


def test_runway_comes_from_the_ev_signing_rate_over_the_window(sources: LedgerAndChainSources) -> None:
    base = sources.snapshot()
    position = replace(base.position, deposit_wei=3_600_000)
    # No ledger measure: the monitor's own samples of the running total (the fallback).
    scripted = ScriptedSources(replace(base, position=position, ev_signed_total_wei=Fraction(0),
                                       ev_signed_in_window=None))
    clock = Clock()
    monitor = monitor_of(scripted, clock=clock)
    monitor.refresh()
    assert monitor.health().runway_s is None  # one sample is no rate

    clock.now_s += 9.0
    scripted.snapshot_now = replace(scripted.snapshot_now, ev_signed_total_wei=Fraction(9_000))
    monitor.refresh()
    assert monitor.health().burn.ev_signed_wei_per_s is None  # under BURN_SPAN_MIN_S

    clock.now_s += 1.0
    scripted.snapshot_now = replace(scripted.snapshot_now, ev_signed_total_wei=Fraction(10_000))
    monitor.refresh()
    health = monitor.health()
    assert health.burn.ev_signed_wei_per_s == 1_000
    assert health.runway_s == 3_600.0
    assert HealthReason.RUNWAY_SHORT in {f.reason for f in health.findings}  # 1 h < the 24 h default

    scripted.snapshot_now = replace(scripted.snapshot_now, paid_in_window_wei=int(BURN_WINDOW_S) * 2_000)
    monitor.refresh()
    assert monitor.health().runway_s == 1_800.0  # payouts burn faster: they decide


def test_a_one_shot_reading_and_a_running_daemon_give_one_runway(
    sources: LedgerAndChainSources, db: ledger.Database
) -> None:
    """`clearinghouse health` reads once; the daemon's /v1/health has read for a while. Both take
    the EV burn from the ledger's hourly usage, so they agree (issue 19)."""
    from tests.ledger.conftest import SessionDriver

    gateway = ledger.create_gateway(db, "burner")
    for _ in range(3):  # three sessions' first calls, a ticket of EV 0.01 ETH each
        ledger.record_signing_call(db, SessionDriver(gateway.id, face_value=10**16).next_call(10))
    one_shot = monitor_of(sources)
    one_shot.refresh()
    clock = Clock()
    daemon = monitor_of(sources, clock=clock)
    for _ in range(3):
        daemon.refresh()
        clock.now_s += 5.0
    once, running = one_shot.health(), daemon.health()
    assert once.runway_s is not None and running.runway_s is not None
    assert once.runway_s == pytest.approx(running.runway_s, rel=1e-3)
    assert once.burn.ev_signed_wei_per_s is not None and once.burn.ev_signed_wei_per_s > 0


def test_the_health_document_is_exact_json(sources: LedgerAndChainSources) -> None:
    snapshot = sources.snapshot()
    monitor = monitor_of(ScriptedSources(replace(
        snapshot, watcher=WatcherLag(behind_s=1.0, unmatched_redemptions=2),
        position=replace(snapshot.position, deposit_wei=2**200),
    )))
    monitor.refresh()
    document = json.loads(json.dumps(health_document(monitor.health())))
    assert document["chain"]["deposit_wei"] == str(2**200)
    assert document["state"] == "warn"
    assert document["watcher"]["unmatched_redemptions"] == 2
