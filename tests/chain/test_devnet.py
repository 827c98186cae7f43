"""Deploying the devnet: registry, parameters, round 1 and round control."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web3 import Web3

from clearinghouse.chain.anvil import Anvil
from clearinghouse.chain.artifacts import ArtifactError, bind, load_artifact
from clearinghouse.chain.devnet import (
    BONDING_MANAGER,
    ETH_USD_FEED,
    ROUNDS_MANAGER,
    SEQUENCER_UPTIME_FEED,
    TICKET_BROKER,
    Devnet,
    DevnetError,
    DevnetParams,
    advance_round,
    contract_id,
    deploy_devnet,
    initialize_round,
    mine_to_next_round,
)

PARAMS = DevnetParams(round_length_blocks=50, unlock_period_rounds=3, ticket_validity_period_rounds=4)


@pytest.fixture
def devnet(anvil: Anvil, w3: Web3) -> Iterator[Devnet]:
    yield deploy_devnet(anvil.rpc_url, PARAMS)


def test_contract_ids_are_keccak_of_the_name() -> None:
    # Spec 04 gives keccak256("TicketBroker") as the id Arbitrum One's Controller uses.
    assert contract_id(TICKET_BROKER).hex() == "bd1aa3e8d2464256d7fd3dcf645c16418d5d8c51d971f1ad7d57e7b1b5eee239"


def test_every_contract_is_registered_in_the_controller(w3: Web3, devnet: Devnet) -> None:
    controller = bind(w3, "Controller", devnet.controller)
    expected = {
        TICKET_BROKER: devnet.ticket_broker,
        ROUNDS_MANAGER: devnet.rounds_manager,
        BONDING_MANAGER: devnet.bonding_manager,
        ETH_USD_FEED: devnet.eth_usd_feed,
        SEQUENCER_UPTIME_FEED: devnet.sequencer_uptime_feed,
    }
    for name, address in expected.items():
        assert controller.functions.getContract(contract_id(name)).call() == address, name
    assert len(set(expected.values()) | {devnet.controller}) == 6
    assert controller.functions.owner().call() == devnet.owner == w3.eth.accounts[0]


def test_parameters_and_round_one(w3: Web3, devnet: Devnet) -> None:
    assert devnet.chain_id == 42161 and devnet.params == PARAMS
    broker = bind(w3, "TicketBroker", devnet.ticket_broker)
    assert broker.functions.unlockPeriod().call() == 3
    assert broker.functions.ticketValidityPeriod().call() == 4
    rounds = bind(w3, "RoundsManager", devnet.rounds_manager)
    assert rounds.functions.roundLength().call() == 50
    assert rounds.functions.currentRound().call() == 1
    assert rounds.functions.currentRoundInitialized().call() is True
    assert rounds.functions.blockHashForRound(1).call() != bytes(32)
    feed = bind(w3, "EthUsdFeedStandIn", devnet.eth_usd_feed)
    assert feed.functions.latestRoundData().call()[1] == PARAMS.eth_usd_answer


def test_round_control(w3: Web3, devnet: Devnet) -> None:
    rounds = bind(w3, "RoundsManager", devnet.rounds_manager)
    assert advance_round(w3, devnet) == 2
    assert mine_to_next_round(w3, devnet) == 3
    assert rounds.functions.currentRound().call() == 3
    assert rounds.functions.currentRoundInitialized().call() is False
    assert initialize_round(w3, devnet) == 3
    with pytest.raises(DevnetError, match="round already initialized"):
        initialize_round(w3, devnet)


def test_round_length_too_short_for_deployment_is_refused(anvil: Anvil, w3: Web3) -> None:
    with pytest.raises(DevnetError, match="deployment ended in round [2-9]\\d*, expected 1"):
        deploy_devnet(anvil.rpc_url, DevnetParams(round_length_blocks=2))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (DevnetParams(round_length_blocks=0), "round_length_blocks must be at least 1, got 0"),
        (DevnetParams(ticket_validity_period_rounds=0), "ticket_validity_period_rounds must be at least 1, got 0"),
        (DevnetParams(unlock_period_rounds=-1), "unlock_period_rounds must be at least 0, got -1"),
    ],
)
def test_bad_params_are_refused_before_deploying(anvil: Anvil, w3: Web3, params: DevnetParams, message: str) -> None:
    with pytest.raises(DevnetError, match=message):
        deploy_devnet(anvil.rpc_url, params)
    assert w3.eth.block_number == 0


def test_missing_artifact_names_the_build_command(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match=r"node contracts/build\.mjs"):
        load_artifact("TicketBroker", directory=tmp_path)


def test_malformed_artifact_is_refused(tmp_path: Path) -> None:
    directory = tmp_path
    (directory / "Broken.json").write_text('{"abi": [], "bytecode": "0xzz"}')
    with pytest.raises(ArtifactError, match="'bytecode' is not hex"):
        load_artifact("Broken", directory=directory)
