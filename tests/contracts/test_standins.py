"""Controller, RoundsManager, BondingManager and the two Chainlink-shaped feeds."""

from __future__ import annotations

from web3 import Web3

from clearinghouse.chain.devnet import contract_id
from tests.contracts.broker_chain import SENDER, BrokerChain, decoded_events

TOPIC_NEW_ROUND = "0x22f2fc17c5daf07db2379b3a03a8ef20a183f761097a58fce219c8a14619e786"
SOMEONE = Web3.to_checksum_address("0x" + "ab" * 20)


def test_controller_registry_is_owner_only(chain: BrokerChain) -> None:
    key = contract_id("Minter")
    assert chain.controller.functions.getContract(key).call() == "0x" + "00" * 20
    call = chain.controller.functions.setContract(key, SOMEONE)
    assert chain.revert_reason(call, sender=SENDER) == "caller is not the Controller owner"
    chain.as_owner(call)
    assert chain.controller.functions.getContract(key).call() == SOMEONE


def test_broker_resolves_the_rounds_manager_through_the_controller(chain: BrokerChain) -> None:
    chain.as_owner(chain.controller.functions.setContract(contract_id("RoundsManager"), "0x" + "00" * 20))
    call = chain.broker.functions.getSenderInfo(SENDER)
    assert chain.revert_reason(call) == "RoundsManager is not registered in the Controller"


def test_initialize_round_records_the_previous_block_hash(chain: BrokerChain) -> None:
    round_ = chain.enter_uninitialized_round()
    assert chain.rounds.functions.currentRoundInitialized().call() is False
    assert chain.rounds.functions.blockHashForRound(round_).call() == bytes(32)
    receipt = chain.as_owner(chain.rounds.functions.initializeRound())
    previous = chain.w3.eth.get_block(receipt["blockNumber"] - 1)["hash"]
    assert decoded_events(chain.rounds, receipt, "NewRound") == [{"round": round_, "blockHash": previous}]
    assert "0x" + bytes(receipt["logs"][0]["topics"][0]).hex() == TOPIC_NEW_ROUND
    assert receipt["logs"][0]["topics"][1] == round_.to_bytes(32, "big")
    assert chain.rounds.functions.blockHashForRound(round_).call() == previous
    assert chain.rounds.functions.currentRoundInitialized().call() is True
    reason = chain.revert_reason(chain.rounds.functions.initializeRound())
    assert reason == "round already initialized"


def test_rounds_follow_the_block_number(chain: BrokerChain) -> None:
    length = chain.rounds.functions.roundLength().call()
    assert length == 100
    start = chain.rounds.functions.currentRoundStartBlock().call()
    round_ = chain.current_round()
    assert chain.advance_round() == round_ + 1
    assert chain.rounds.functions.currentRoundStartBlock().call() == start + length
    assert chain.rounds.functions.lastInitializedRound().call() == round_ + 1


def test_set_round_length_keeps_the_current_round(chain: BrokerChain) -> None:
    round_ = chain.current_round()
    start = chain.rounds.functions.currentRoundStartBlock().call()
    chain.as_owner(chain.rounds.functions.setRoundLength(1000))
    assert chain.current_round() == round_
    assert chain.rounds.functions.currentRoundStartBlock().call() == start
    assert chain.advance_round() == round_ + 1
    assert chain.rounds.functions.currentRoundStartBlock().call() == start + 1000


def test_active_transcoder_set_and_pool_size(chain: BrokerChain) -> None:
    bonding = chain.bonding.functions
    assert bonding.getTranscoderPoolSize().call() == 0
    assert chain.revert_reason(bonding.setActiveTranscoder(SOMEONE, True), sender=SENDER) == (
        "caller is not the Controller owner"
    )
    chain.activate(SOMEONE, SENDER)
    assert bonding.isActiveTranscoder(SOMEONE).call() is True
    assert bonding.getTranscoderPoolSize().call() == 2
    assert chain.revert_reason(bonding.setActiveTranscoder(SOMEONE, True), sender=chain.owner) == (
        "transcoder is already active"
    )
    chain.as_owner(bonding.setActiveTranscoder(SOMEONE, False))
    assert bonding.isActiveTranscoder(SOMEONE).call() is False
    assert bonding.getTranscoderPoolSize().call() == 1


def test_eth_usd_feed_fresh_stale_and_zero(chain: BrokerChain) -> None:
    feed = chain.eth_usd.functions
    assert feed.decimals().call() == 8
    round_id, answer, started_at, updated_at, answered_in = feed.latestRoundData().call()
    assert (round_id, answer, answered_in) == (1, 3000 * 10**8, 1)
    receipt = chain.as_owner(feed.setAnswer(2500 * 10**8))
    now = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert feed.latestRoundData().call() == [2, 2500 * 10**8, now, now, 2]
    chain.as_owner(feed.setRoundData(7, 0, 1_000, 1_000, 6))  # zero answer, stale, answeredInRound behind
    assert feed.latestRoundData().call() == [7, 0, 1_000, 1_000, 6]
    assert feed.getRoundData(2).call()[1] == 2500 * 10**8
    assert chain.revert_reason(feed.getRoundData(3)) == "No data present"
    assert chain.revert_reason(feed.setAnswer(1), sender=SENDER) == "caller is not the feed owner"


def test_sequencer_feed_started_at_moves_only_on_a_status_change(chain: BrokerChain) -> None:
    feed = chain.sequencer.functions
    assert feed.decimals().call() == 0
    _, status, up_since, _, _ = feed.latestRoundData().call()
    assert status == 0
    receipt = chain.as_owner(feed.setStatus(1))
    down_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    chain.w3.manager.request_blocking("evm_increaseTime", [60])
    chain.as_owner(feed.setStatus(1))
    _, status, started_at, updated_at, _ = feed.latestRoundData().call()
    assert (status, started_at) == (1, down_at)
    assert updated_at >= down_at + 60
    assert up_since <= down_at
    assert chain.revert_reason(feed.setStatus(2), sender=chain.owner) == "status must be 0 (up) or 1 (down)"
