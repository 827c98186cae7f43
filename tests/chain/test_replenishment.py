"""The replenishment policy on a real anvil devnet: burning the deposit below its low-water mark
(a winning ticket redeemed by the orchestrator) triggers one funding transaction within the
per-transaction and per-day caps, recorded with its reason; observe mode only logs and records;
an unlock in progress or stale chain data stops it."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from clearinghouse import ledger, pm
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.client import ChainClient
from clearinghouse.chain.devnet import ProvisionedDevnet, transact
from clearinghouse.chain.funding import FundingClient
from clearinghouse.chain.monitor import LedgerAndChainSources
from clearinghouse.chain.replenish_policy import ReplenishMode, ReplenishPolicy
from clearinghouse.chain.replenishment import Replenisher
from clearinghouse.ledger.funding_actions import FundingMode, FundingStatus, funding_history
from tests.chain.conftest import DEPOSIT_WEI
from tests.chain.test_monitor import Clock, monitor_of, set_unlock

ETH = 10**18
WIN_ALWAYS = 2**256 - 1
NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)
POLICY = ReplenishPolicy(
    mode=ReplenishMode.AUTO, deposit_floor_wei=DEPOSIT_WEI, deposit_cap_wei=DEPOSIT_WEI, low_water_percent=90,
    per_tx_max_wei=4 * ETH // 10, per_day_max_wei=6 * ETH // 10, gas_reserve_wei=ETH // 20, check_s=300,
)
"""Target 2 ETH (nothing burns in these tests, so the floor is the target), low water 1.8 ETH;
at most 0.4 ETH a transaction and 0.6 ETH a day."""


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ledger.Database]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(url)
    database = ledger.open_database(url)
    yield database
    database.dispose()


@pytest.fixture(scope="module")
def sender_key(provisioned: ProvisionedDevnet) -> bytes:
    passphrase = provisioned.passphrase_path.read_text().strip()
    return bytes(Account.decrypt(provisioned.keystore_path.read_text(), passphrase))


class World:
    def __init__(self, provisioned: ProvisionedDevnet, db: ledger.Database, w3: Web3, key: bytes,
                 policy: ReplenishPolicy) -> None:
        devnet = provisioned.devnet
        self.provisioned, self.w3, self.key = provisioned, w3, key
        self.chain_clock, self.clock = Clock(), _WallClock(NOW)
        sources = LedgerAndChainSources(ChainClient(devnet.rpc_url, devnet.controller), db,
                                        bytes.fromhex(provisioned.sender[2:]), burn_window_s=3600)
        self.monitor = monitor_of(sources, clock=self.chain_clock)
        self.funding = FundingClient(devnet.rpc_url, devnet.controller)
        self.replenisher = Replenisher(db, self.funding, provisioned.sender, key, policy, self.monitor.health,
                                       clock=self.clock)

    def deposit(self) -> int:
        return self.funding.position(self.provisioned.sender).deposit_wei

    def burn(self, face_value_wei: int) -> None:
        """The orchestrator redeems a winning ticket of ``face_value_wei``: the deposit pays it."""
        devnet, orchestrator = self.provisioned.devnet, self.provisioned.orchestrator
        rounds = bind(self.w3, "RoundsManager", devnet.rounds_manager)
        creation_round = rounds.functions.currentRound().call()
        block_hash = bytes(rounds.functions.blockHashForRound(creation_round).call())
        rand = int.from_bytes(secrets.token_bytes(32), "big")
        rand_hash = bytes(Web3.keccak(rand.to_bytes(32, "big")))
        nonce = secrets.randbelow(2**32) + 1
        ((_, signature),) = pm.sign_ticket_batch(
            self.key, bytes.fromhex(orchestrator[2:]), bytes.fromhex(self.provisioned.sender[2:]), face_value_wei,
            WIN_ALWAYS, rand_hash, creation_round, block_hash, nonce, 1)
        ticket = (orchestrator, self.provisioned.sender, face_value_wei, WIN_ALWAYS, nonce, rand_hash,
                  creation_round.to_bytes(32, "big") + block_hash)
        broker = bind(self.w3, "TicketBroker", devnet.ticket_broker)
        transact(self.w3, broker.functions.redeemWinningTicket(ticket, signature, rand), orchestrator)
        self.monitor.refresh()


class _WallClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def world(provisioned: ProvisionedDevnet, db: ledger.Database, w3: Web3, key: bytes,
          policy: ReplenishPolicy = POLICY) -> World:
    made = World(provisioned, db, w3, key, policy)
    made.monitor.refresh()
    return made


def test_a_deposit_burnt_below_low_water_is_funded_within_the_caps(
    provisioned: ProvisionedDevnet, db: ledger.Database, w3: Web3, sender_key: bytes
) -> None:
    it = world(provisioned, db, w3, sender_key)
    assert it.replenisher.tick() is None  # 2 ETH: above the 1.8 ETH mark
    it.burn(ETH // 2)
    assert it.deposit() == DEPOSIT_WEI - ETH // 2

    record = it.replenisher.tick()

    assert record is not None and record.amount_wei == 4 * ETH // 10  # 0.5 ETH short, 0.4 ETH per transaction
    assert it.deposit() == DEPOSIT_WEI - ETH // 10
    (done,) = funding_history(db)
    assert (done.mode, done.status, done.action) == (FundingMode.AUTO, FundingStatus.CONFIRMED, "fund_deposit")
    assert done.tx_hash is not None and w3.eth.get_transaction_receipt(done.tx_hash)["status"] == 1
    assert "below its low-water mark 1.8 ETH" in done.reason and done.deposit_wei == DEPOSIT_WEI - ETH // 2

    it.monitor.refresh()
    it.burn(ETH // 2)  # 1.4 ETH: 0.6 ETH short, but 0.4 ETH was sent today of the 0.6 ETH a day
    it.clock.now += timedelta(seconds=POLICY.check_s)
    second = it.replenisher.tick()
    assert second is not None and second.amount_wei == 2 * ETH // 10
    it.monitor.refresh()
    it.clock.now += timedelta(seconds=POLICY.check_s)
    assert it.replenisher.tick() is None  # the day's cap is spent
    assert it.deposit() == DEPOSIT_WEI - ETH + 6 * ETH // 10
    it.clock.now += timedelta(days=1)
    assert it.replenisher.tick() is not None  # a new UTC day, a new cap


def test_observe_mode_only_logs_and_records_what_it_would_do(
    provisioned: ProvisionedDevnet, db: ledger.Database, w3: Web3, sender_key: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    it = world(provisioned, db, w3, sender_key, replace(POLICY, mode=ReplenishMode.OBSERVE))
    it.burn(ETH // 2)
    nonce = w3.eth.get_transaction_count(provisioned.sender)
    with caplog.at_level(logging.WARNING, logger="clearinghouse.chain.replenishment"):
        record = it.replenisher.tick()
    assert record is not None and record.status is FundingStatus.OBSERVED and record.tx_hash is None
    assert w3.eth.get_transaction_count(provisioned.sender) == nonce and it.deposit() == DEPOSIT_WEI - ETH // 2
    assert any("observe only, nothing sent): would deposit" in line and "fundDeposit 0.4 ETH" in line
               for line in caplog.messages), caplog.messages
    assert it.replenisher.tick() is None  # once per window
    (observed,) = funding_history(db)
    assert observed.mode is FundingMode.OBSERVE


def test_an_unlock_in_progress_or_stale_chain_data_stops_it(
    provisioned: ProvisionedDevnet, db: ledger.Database, w3: Web3, sender_key: bytes
) -> None:
    it = world(provisioned, db, w3, sender_key)
    it.burn(ETH // 2)
    set_unlock(provisioned, w3, "unlock")
    it.monitor.refresh()
    nonce = w3.eth.get_transaction_count(provisioned.sender)
    assert it.replenisher.tick() is None
    set_unlock(provisioned, w3, "cancelUnlock")
    it.monitor.refresh()
    it.chain_clock.now_s += 11.0  # the monitor's data is now older than its 10 s staleness bound
    assert it.replenisher.tick() is None
    assert w3.eth.get_transaction_count(provisioned.sender) == nonce + 1  # only the test's cancelUnlock
    assert funding_history(db) == []
    it.monitor.refresh()  # fresh again: now it funds
    assert it.replenisher.tick() is not None

