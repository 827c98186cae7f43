"""The open rounds' RoundsManager block hashes (issue #15): read once per round, kept in a bounded
cache, a round not initialized asked again; on a real anvil devnet, and through the deposit
monitor, where they decide which tickets the exposure counts and which params the signer takes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from web3 import Web3

from clearinghouse import ledger
from clearinghouse.chain.client import ChainClient
from clearinghouse.chain.anvil import Anvil
from clearinghouse.chain.devnet import DevnetParams, ProvisionedDevnet, deploy_devnet, initialize_round, mine_to_next_round
from clearinghouse.chain.errors import ChainUnavailable, ImplausibleChainData
from clearinghouse.chain.limits import TICKET_VALIDITY_ROUNDS_MAX
from clearinghouse.chain.monitor import LedgerAndChainSources
from clearinghouse.chain.rounds import RoundBlockHashes
from tests.ledger.conftest import SessionDriver

HASH_A = bytes.fromhex("aa" * 32)


class Reads:
    """A fake RoundsManager: a hash per initialized round, counting the reads."""

    def __init__(self, hashes: dict[int, bytes]) -> None:
        self.hashes = hashes
        self.asked: list[int] = []

    def __call__(self, round_: int, block: int | None) -> bytes:
        self.asked.append(round_)
        return self.hashes.get(round_, bytes(32))


def test_each_round_is_read_once_and_an_uninitialized_one_again() -> None:
    reads = Reads({9: HASH_A})
    rounds = RoundBlockHashes(reads)
    assert rounds.open_rounds(10, 2) == ((9, HASH_A),)
    assert rounds.open_rounds(10, 2) == ((9, HASH_A),)
    assert reads.asked == [9, 10, 10]  # round 10 is not initialized: asked each time
    reads.hashes[10] = bytes.fromhex("bb" * 32)
    assert rounds.open_rounds(10, 2) == ((9, HASH_A), (10, reads.hashes[10]))
    assert rounds.open_rounds(11, 2) == ((10, reads.hashes[10]),)
    assert reads.asked == [9, 10, 10, 10, 11]


def test_the_cache_is_bounded_and_rounds_start_at_1() -> None:
    reads = Reads({round_: bytes([round_]) * 32 for round_ in range(1, 20)})
    rounds = RoundBlockHashes(reads, entries_max=3)
    assert rounds.open_rounds(1, 5) == ((1, bytes([1]) * 32),)  # no round 0 or below
    for current in range(2, 12):
        rounds.open_rounds(current, 1)
    reads.asked.clear()
    rounds.open_rounds(11, 3)  # 9, 10, 11 still kept
    assert reads.asked == []
    rounds.open_rounds(5, 1)  # long dropped: read again
    assert reads.asked == [5]
    with pytest.raises(ValueError):
        RoundBlockHashes(reads, entries_max=0)
    with pytest.raises(ValueError):
        rounds.open_rounds(5, 0)


def test_on_the_devnet_a_new_round_counts_once_initialized(provisioned: ProvisionedDevnet, w3: Web3) -> None:
    client = ChainClient(provisioned.devnet.rpc_url, provisioned.devnet.controller)
    first = client.block_hash_for_round(1)
    assert client.open_round_block_hashes(1, 2) == ((1, first),)
    assert mine_to_next_round(w3, provisioned.devnet) == 2
    assert client.open_round_block_hashes(2, 2) == ((1, first),)  # round 2 current, not initialized
    initialize_round(w3, provisioned.devnet)
    second = client.block_hash_for_round(2)
    assert second not in (first, bytes(32))
    assert client.open_round_block_hashes(2, 2) == ((1, first), (2, second))
    view = client.chain_view(bytes.fromhex(provisioned.sender[2:]))
    assert (view.current_round, view.ticket_validity_period_rounds) == (2, 2)
    assert view.round_block_hashes == ((1, first), (2, second))


def test_an_rpc_that_cannot_answer_fails_the_read() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = ChainClient(url, "0x" + "11" * 20, timeout_s=1.0)
    with pytest.raises(ChainUnavailable):
        client.open_round_block_hashes(5, 2)


def test_an_implausible_validity_period_fails_the_read(anvil: Anvil, w3: Web3) -> None:
    """A lying node must not make the monitor read thousands of rounds: above the bound, the
    answer is implausible and the snapshot fails (signing stops, fail closed)."""
    devnet = deploy_devnet(anvil.rpc_url, DevnetParams(ticket_validity_period_rounds=TICKET_VALIDITY_ROUNDS_MAX + 1))
    client = ChainClient(devnet.rpc_url, devnet.controller)
    with pytest.raises(ImplausibleChainData, match=f"ticketValidityPeriod is {TICKET_VALIDITY_ROUNDS_MAX + 1}"):
        client.ticket_validity_period()


def test_the_monitor_counts_only_tickets_with_a_recorded_hash(
    provisioned: ProvisionedDevnet, w3: Web3, tmp_path: Path
) -> None:
    """A record of an unredeemable ticket (as a signer before issue #15 could write) is in the
    ledger; the snapshot's exposure leaves it out, and the signer's view names the open rounds."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(url)
    db = ledger.open_database(url)
    try:
        client = ChainClient(provisioned.devnet.rpc_url, provisioned.devnet.controller)
        recorded = client.block_hash_for_round(1)
        gateway = ledger.create_gateway(db, "g")
        honest = SessionDriver(gateway.id, face_value=1_000, win_prob=2**255, price_per_unit=500)
        call = honest.next_call(1, creation_round=1, creation_round_block_hash=recorded)
        ledger.record_signing_call(db, call)
        poisoned = SessionDriver(gateway.id, face_value=10**18, win_prob=2**200, price_per_unit=10)
        ledger.record_signing_call(db, poisoned.next_call(1, creation_round=1_000_000_001))
        ledger.record_signing_call(db, SessionDriver(gateway.id, face_value=10**18, win_prob=2**200, price_per_unit=10)
                                   .next_call(1, creation_round=1, creation_round_block_hash=HASH_A))
        sources = LedgerAndChainSources(client, db, bytes.fromhex(provisioned.sender[2:]), burn_window_s=600.0)
        snapshot = sources.snapshot()
        assert snapshot.exposure.tickets == len(call.tickets)
        assert snapshot.exposure.max_face_value_wei == 1_000
        assert snapshot.position.chain_view.round_block_hashes == ((1, recorded),)
    finally:
        db.dispose()
