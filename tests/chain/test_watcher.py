"""ChainWatcher against a real anvil devnet: events recorded exactly, redemptions matched to
their gateway, confirmations, restarts, reorgs (anvil snapshot/revert), outages and standby.

Tickets are signed by broker_chain's known sender key and recorded in the ledger the way the
signer records them (a signing call whose ticket hash is ``pm.ticket_hash`` of the same
fields), so the watcher's recomputed hash must find the record.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator

import pytest
from web3 import Web3

from clearinghouse import pm
from clearinghouse.chain.anvil import mine, revert, snapshot
from clearinghouse.chain.client import ChainClient
from clearinghouse.chain.devnet import ProvisionedDevnet
from clearinghouse.chain.errors import ChainUnavailable
from clearinghouse.chain.watcher import (
    ARGUMENTS,
    ChainWatcher,
    PollResult,
    WatcherState,
    event_abis,
)
from clearinghouse.ledger import (
    Database,
    chain_cursor,
    create_gateway,
    gateway_payouts,
    open_database,
    recorded_chain_events,
    record_signing_call,
    redeemed_ticket_hashes,
    redemptions,
    sender_flows,
    unmatched_redemptions,
    upgrade_to_head,
)
from clearinghouse.domain.chain_events import ChainEventKind, GatewayPayout
from clearinghouse.domain.tickets import SignedTicket
from tests.chain.test_client import closed_port
from tests.contracts.broker_chain import SENDER, WIN_ALWAYS, BrokerChain, Redemption, rand_hash
from tests.ledger.conftest import SessionDriver

WAIT_S = 10.0
"""Longest a test waits for the watcher thread to reach a state (it takes ~0.1 s)."""

SPEC_04_TOPICS = {
    ChainEventKind.DEPOSIT_FUNDED: "5159e237d952190e68d5215430f305831be7c9c8776d1377c76679ae4773413f",
    ChainEventKind.RESERVE_FUNDED: "b52b99b9e83551fcbd069b559cc3e823e2a1a3bad8ece46561ea77524394c850",
    ChainEventKind.RESERVE_CLAIMED: "5c2b394723f408a40a60335e24b71829642e35f350cebe2036a96a66e895ea98",
    ChainEventKind.WINNING_TICKET_REDEEMED: "c389eb51ed006dbf2528507f010efdf5225ea596e1e1741d74f550dab1925ee7",
    ChainEventKind.WINNING_TICKET_TRANSFER: "8b87351a208c06e3ceee59d80725fd77a23b4129e1b51ca231fc89b40712649c",
    ChainEventKind.UNLOCK: "f7870c5b224cbc19873599e46ccfc7103934650509b1af0c3ce90138377c2004",
    ChainEventKind.UNLOCK_CANCELLED: "fa044b7b93a40365dc68049797c2eb06918523d694e5d56e406cac3eb35578e5",
    ChainEventKind.WITHDRAWAL: "df273cb619d95419a9cd0ec88123a0538c85064229baa6363788f743fff90deb",
    ChainEventKind.NEW_ROUND: "22f2fc17c5daf07db2379b3a03a8ef20a183f761097a58fce219c8a14619e786",
}


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def open_migrated(url: str) -> Database:
    upgrade_to_head(url)
    return open_database(url)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    database = open_migrated(sqlite_url)
    yield database
    database.dispose()


@pytest.fixture
def chain(provisioned: ProvisionedDevnet, w3: Web3) -> BrokerChain:
    """broker_chain's sender funded with ETH (reverted after the test with the rest)."""
    broker_chain = BrokerChain(provisioned.devnet)
    broker_chain.fund_keys()
    return broker_chain


@pytest.fixture
def client(provisioned: ProvisionedDevnet) -> ChainClient:
    return ChainClient(provisioned.devnet.rpc_url, provisioned.devnet.controller)


def watcher_for(client: ChainClient, db: Database, **options: object) -> ChainWatcher:
    settings: dict[str, object] = {"start_block": 0, "confirmations": 0, "poll_s": 0.05} | options
    return ChainWatcher(client, db, SENDER, **settings)  # type: ignore[arg-type]


def catch_up(watcher: ChainWatcher) -> PollResult:
    for _ in range(10):
        result = watcher.poll_once()
        if result.caught_up:
            return result
    raise AssertionError("watcher did not catch up in 10 polls")


def recorded_ticket(db: Database, gateway_id: int, chain: BrokerChain, recipient: str, face_value: int,
                    recipient_rand: int) -> Redemption:
    """A winning ticket signed by the sender, and its signing record in the ledger."""
    creation_round = chain.current_round()
    block_hash = bytes(chain.rounds.functions.blockHashForRound(creation_round).call())
    redemption = chain.ticket(face_value, recipient=recipient, recipient_rand=recipient_rand)
    hash_ = pm.ticket_hash(
        bytes.fromhex(recipient[2:]), bytes.fromhex(SENDER[2:]), face_value, WIN_ALWAYS, 1,
        rand_hash(recipient_rand), creation_round, block_hash,
    )
    assert hash_ == redemption.hash  # the signer's hash is the contract's
    driver = SessionDriver(gateway_id, face_value=face_value, win_prob=WIN_ALWAYS,
                           recipient_rand_hash=rand_hash(recipient_rand))
    record_signing_call(db, driver.next_call(
        units=10, recipient=bytes.fromhex(recipient[2:]), creation_round=creation_round,
        creation_round_block_hash=block_hash, tickets=(SignedTicket(rand_hash(recipient_rand), 1, hash_),),
    ))
    return redemption


def test_event_topics_are_spec_04s() -> None:
    abis = event_abis("TicketBroker", [k for k in ChainEventKind if k is not ChainEventKind.NEW_ROUND])
    abis |= event_abis("RoundsManager", [ChainEventKind.NEW_ROUND])
    assert {abi.kind: topic.hex() for topic, abi in abis.items()} == SPEC_04_TOPICS
    assert set(ARGUMENTS) == set(ChainEventKind)


def test_funding_and_unlock_events_are_recorded_exactly(
    chain: BrokerChain, client: ChainClient, db: Database
) -> None:
    broker = chain.broker.functions
    chain.fund(3 * 10**18 + 1, 7)
    chain.as_key(broker.unlock())
    chain.as_key(broker.cancelUnlock())
    chain.as_key(broker.fundReserve(), 5)
    chain.as_key(broker.unlock())
    watcher = watcher_for(client, db)

    result = catch_up(watcher)

    events = [r.event for r in recorded_chain_events(db, watcher.cursor_name)]
    assert [(e.kind, e.amount_wei, e.start_round, e.end_round, e.round_number) for e in events] == [
        (ChainEventKind.NEW_ROUND, None, None, None, 1),  # the devnet's first round
        (ChainEventKind.DEPOSIT_FUNDED, 3 * 10**18 + 1, None, None, None),
        (ChainEventKind.RESERVE_FUNDED, 7, None, None, None),
        (ChainEventKind.UNLOCK, None, 1, 3, None),
        (ChainEventKind.UNLOCK_CANCELLED, None, None, None, None),
        (ChainEventKind.RESERVE_FUNDED, 5, None, None, None),
        (ChainEventKind.UNLOCK, None, 1, 3, None),
    ]
    assert events[0].round_block_hash == client.block_hash_for_round(1)
    assert result == PollResult(client.block_ref().number, client.block_ref().number, 7, 0, caught_up=True)
    flows, info = sender_flows(db, watcher.cursor_name), client.sender_info(SENDER)
    assert (flows.deposit_wei, flows.reserve_wei, flows.withdraw_round) == (
        info.deposit_wei, info.reserve_wei, info.withdraw_round
    ) == (3 * 10**18 + 1, 12, 3)


def test_redemptions_are_matched_to_their_gateway_with_what_they_paid(
    chain: BrokerChain, client: ChainClient, db: Database, provisioned: ProvisionedDevnet,
    caplog: pytest.LogCaptureFixture,
) -> None:
    orchestrator = provisioned.orchestrator  # active, alone in the pool: it may claim the whole reserve
    gateway = create_gateway(db, "gateway-a")
    chain.fund(1_000, 300)
    unknown = chain.ticket(100, recipient=orchestrator, nonce=5, recipient_rand=777)
    from_deposit = recorded_ticket(db, gateway.id, chain, orchestrator, 600, recipient_rand=1)
    from_reserve = recorded_ticket(db, gateway.id, chain, orchestrator, 900, recipient_rand=2)
    for redemption in (unknown, from_deposit, from_reserve):
        chain.redeem(redemption)
    watcher = watcher_for(client, db)

    with caplog.at_level(logging.ERROR):
        catch_up(watcher)

    # 600 from the deposit; then the deposit's last 300 and the whole reserve (300) for 900.
    assert [(r.ticket_hash, r.paid_wei, r.gateway_id) for r in redemptions(db, gateway_id=gateway.id)] == [
        (from_deposit.hash, 600, gateway.id), (from_reserve.hash, 600, gateway.id)
    ]
    assert gateway_payouts(db) == {gateway.id: GatewayPayout(gateway.id, 2, 1_500, 1_200)}
    (alarm,) = unmatched_redemptions(db)
    assert (alarm.ticket_hash, alarm.paid_wei, alarm.sender_nonce, alarm.gateway_id) == (unknown.hash, 100, 5, None)
    assert f"redeemed ticket 0x{unknown.hash.hex()} has no signing record: key leak or lost record" in caplog.text
    assert redeemed_ticket_hashes(db, [from_deposit.hash, from_reserve.hash]) == {from_deposit.hash, from_reserve.hash}
    flows, info = sender_flows(db, watcher.cursor_name), client.sender_info(SENDER)
    assert (flows.deposit_wei, flows.reserve_wei, flows.paid_wei, flows.reserve_claimed_wei) == (
        info.deposit_wei, info.reserve_wei, 1_300, 300
    ) == (0, 0, 1_300, 300)


def test_an_event_waits_for_its_confirmations(chain: BrokerChain, client: ChainClient, db: Database, w3: Web3) -> None:
    watcher = watcher_for(client, db, confirmations=3)
    catch_up(watcher)
    chain.fund(10, 0)
    funded_at = w3.eth.block_number

    for _ in range(2):
        mine(w3)
        assert watcher.poll_once().cursor_block == w3.eth.block_number - 3 < funded_at
    assert sender_flows(db, watcher.cursor_name).deposit_funded_wei == 0
    assert watcher.status().lag_blocks == 0
    mine(w3)

    assert watcher.poll_once() == PollResult(funded_at + 3, funded_at, 2, 0, caught_up=True)  # with ReserveFunded(0)
    assert sender_flows(db, watcher.cursor_name).deposit_funded_wei == 10


def test_a_new_watcher_resumes_from_the_cursor(chain: BrokerChain, client: ChainClient, db: Database) -> None:
    chain.fund(10, 20)
    catch_up(watcher_for(client, db))
    cursor = chain_cursor(db, f"ticket_broker:{SENDER}")

    restarted = watcher_for(client, db, start_block=0)
    assert restarted.poll_once().applied == 0
    chain.fund(1, 2)
    assert catch_up(restarted).applied == 2

    resumed = chain_cursor(db, restarted.cursor_name)
    assert cursor is not None and resumed is not None and resumed.block_number > cursor.block_number
    flows = sender_flows(db, restarted.cursor_name)
    assert (flows.deposit_funded_wei, flows.reserve_funded_wei) == (11, 22)


def test_a_reorg_that_removes_a_redemption_is_undone(
    chain: BrokerChain, client: ChainClient, db: Database, provisioned: ProvisionedDevnet, w3: Web3,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway = create_gateway(db, "gateway-a")
    chain.fund(1_000, 0)
    ticket = recorded_ticket(db, gateway.id, chain, provisioned.orchestrator, 600, recipient_rand=1)
    watcher = watcher_for(client, db)
    fork_point = catch_up(watcher).head_block
    before_redemption = snapshot(w3)
    chain.redeem(ticket)
    catch_up(watcher)
    assert gateway_payouts(db)[gateway.id].paid_wei == 600

    revert(w3, before_redemption)
    mine(w3, 3)  # another branch, longer than the one with the redemption
    with caplog.at_level(logging.WARNING):
        result = watcher.poll_once()

    assert (result.undone, result.applied, result.cursor_block) == (2, 0, fork_point + 3)
    assert f"reorg: undid 2 events above block {fork_point}" in caplog.text
    assert gateway_payouts(db) == {} and redemptions(db) == []
    chain.redeem(ticket)  # redeemed again on this branch: recorded once
    catch_up(watcher)
    assert gateway_payouts(db) == {gateway.id: GatewayPayout(gateway.id, 1, 600, 600)}


def test_a_reorg_past_every_checkpoint_rescans_from_the_start_block(
    chain: BrokerChain, client: ChainClient, db: Database, w3: Web3
) -> None:
    start = w3.eth.block_number + 1
    before_funding = snapshot(w3)
    chain.fund(10, 0)
    watcher = watcher_for(client, db, start_block=start)
    catch_up(watcher)
    revert(w3, before_funding)
    chain.fund(0, 4)
    mine(w3, 2)

    result = watcher.poll_once()

    assert (result.undone, result.applied, result.caught_up) == (2, 2, True)  # the branch's own funding
    flows = sender_flows(db, watcher.cursor_name)
    assert (flows.deposit_funded_wei, flows.reserve_funded_wei) == (0, 4)


def test_an_rpc_outage_degrades_the_status_and_a_good_client_recovers(
    provisioned: ProvisionedDevnet, client: ChainClient, db: Database
) -> None:
    port = closed_port()
    dead = ChainClient(f"http://127.0.0.1:{port}/v3/0123456789abcdef0123456789abcdef", provisioned.devnet.controller,
                       timeout_s=1.0)
    with pytest.raises(ChainUnavailable):
        watcher_for(dead, db).poll_once()
    failing = watcher_for(dead, db)
    failing.start()
    try:
        eventually(lambda: failing.status().consecutive_failures >= 2)
    finally:
        assert failing.stop() is True
    status = failing.status()
    assert (status.state, status.cursor_block, status.last_success_age_s) == (WatcherState.STOPPED, None, None)
    assert status.last_error is not None
    assert re.search(rf"at http://127\.0\.0\.1:{port}/v3/\*\*\* failed", status.last_error)

    working = watcher_for(client, db)
    working.start()
    try:
        eventually(lambda: working.status().caught_up_age_s is not None)
        status = working.status()
        assert (status.state, status.lag_blocks, status.consecutive_failures) == (WatcherState.RUNNING, 0, 0)
        assert status.cursor_block == client.block_ref().number
    finally:
        assert working.stop() is True


def test_a_bug_ends_the_thread_and_the_status_says_so(
    client: ChainClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    watcher = watcher_for(client, db)

    def broken() -> PollResult:
        raise KeyError("a bug")

    monkeypatch.setattr(watcher, "poll_once", broken)
    watcher.start()
    eventually(lambda: watcher.status().state is WatcherState.CRASHED)
    assert watcher.stop() is True
    assert watcher.status().last_error == "chain watcher crashed (see log)"


def test_a_second_watcher_on_postgresql_stands_by(
    client: ChainClient, postgresql_url: str, w3: Web3
) -> None:
    first_db, second_db = open_migrated(postgresql_url), open_database(postgresql_url)
    first, second = watcher_for(client, first_db), watcher_for(client, second_db)
    try:
        first.start()
        eventually(lambda: first.status().state is WatcherState.RUNNING)
        second.start()
        eventually(lambda: second.status().state is WatcherState.STANDBY)
        assert first.stop() is True
        eventually(lambda: second.status().state is WatcherState.RUNNING)
        eventually(lambda: second.status().caught_up_age_s is not None)
    finally:
        first.stop()
        second.stop()
        first_db.dispose()
        second_db.dispose()


def test_settings_are_checked(client: ChainClient, db: Database) -> None:
    for bad in ({"confirmations": -1}, {"batch_blocks_max": 0}, {"poll_s": 0}, {"start_block": -1}):
        with pytest.raises(ValueError):
            watcher_for(client, db, **bad)
