"""ChainClient against a provisioned anvil devnet: reads, pinned blocks, and translated errors."""

from __future__ import annotations

import logging
import socket

import pytest
from web3 import Web3
from web3.types import RPCEndpoint

from clearinghouse.chain.anvil import mine, start_anvil
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.client import TICKET_BROKER, ChainClient, SenderInfo, checksum_address, contract_id
from clearinghouse.chain.devnet import ProvisionedDevnet, advance_round, transact
from clearinghouse.chain.errors import ChainUnavailable, ContractMismatch
from clearinghouse.errors import ClearinghouseError
from clearinghouse.domain.chain_view import ChainView
from tests.chain.conftest import DEPOSIT_WEI, RESERVE_WEI

INFURA_KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def client(provisioned: ProvisionedDevnet, w3: Web3) -> ChainClient:
    return ChainClient(provisioned.devnet.rpc_url, provisioned.devnet.controller)


def impersonate(w3: Web3, address: str) -> None:
    """Let anvil send from `address` without its key (tests only)."""
    w3.manager.request_blocking(RPCEndpoint("anvil_impersonateAccount"), [address])


def test_reads_match_what_was_provisioned(client: ChainClient, provisioned: ProvisionedDevnet, w3: Web3) -> None:
    sender = provisioned.sender
    assert client.sender_info(sender) == SenderInfo(
        deposit_wei=DEPOSIT_WEI, withdraw_round=0, reserve_wei=RESERVE_WEI, reserve_claimed_in_current_round_wei=0
    )
    assert client.unlock_period() == 2 and client.ticket_validity_period() == 2
    assert client.current_round() == 1
    assert len(client.block_hash_for_round(1)) == 32 and client.block_hash_for_round(1) != bytes(32)
    assert client.block_hash_for_round(2) == bytes(32)
    assert client.transcoder_pool_size() == 1
    addresses = client.contract_addresses()
    devnet = provisioned.devnet
    assert (addresses.ticket_broker, addresses.rounds_manager, addresses.bonding_manager) == (
        devnet.ticket_broker, devnet.rounds_manager, devnet.bonding_manager
    )
    assert client.eth_balance(sender) == w3.eth.get_balance(sender) > 0
    assert client.chain_view(bytes.fromhex(sender[2:])) == ChainView(
        deposit_wei=DEPOSIT_WEI,
        reserve_wei=RESERVE_WEI,
        withdraw_round=0,
        current_round=1,
        last_l1_block=w3.eth.block_number,
        round_block_hashes=((1, client.block_hash_for_round(1)),),
        ticket_validity_period_rounds=2,
    )


def test_l1_block_number_follows_the_header(client: ChainClient, w3: Web3) -> None:
    # anvil with chain id 42161 fills l1BlockNumber (equal to its block number).
    assert w3.eth.get_block("latest")["l1BlockNumber"] == w3.eth.block_number  # type: ignore[typeddict-item]
    before = client.l1_block_number()
    mine(w3, 5)
    assert client.l1_block_number() == before + 5 == w3.eth.block_number


def test_reads_can_be_pinned_to_a_block(client: ChainClient, provisioned: ProvisionedDevnet, w3: Web3) -> None:
    before = w3.eth.block_number
    broker = bind(w3, "TicketBroker", provisioned.devnet.ticket_broker)
    impersonate(w3, provisioned.sender)
    transact(w3, broker.functions.fundDeposit(), provisioned.sender, value_wei=7)
    assert client.sender_info(provisioned.sender).deposit_wei == DEPOSIT_WEI + 7
    assert client.sender_info(provisioned.sender, block=before).deposit_wei == DEPOSIT_WEI
    with pytest.raises(ValueError, match="block must be >= 0"):
        client.current_round(block=-1)


def test_rounds_advance(client: ChainClient, provisioned: ProvisionedDevnet, w3: Web3) -> None:
    assert advance_round(w3, provisioned.devnet) == 2
    assert client.current_round() == 2 and client.block_hash_for_round(2) != bytes(32)
    assert client.chain_view(provisioned.sender).current_round == 2


def test_unlock_sets_withdraw_round(client: ChainClient, provisioned: ProvisionedDevnet, w3: Web3) -> None:
    broker = bind(w3, "TicketBroker", provisioned.devnet.ticket_broker)
    impersonate(w3, provisioned.sender)
    transact(w3, broker.functions.unlock(), provisioned.sender)
    expected = client.current_round() + client.unlock_period()
    assert client.sender_info(provisioned.sender).withdraw_round == expected == 3
    assert client.chain_view(provisioned.sender).withdraw_round == 3
    transact(w3, broker.functions.cancelUnlock(), provisioned.sender)
    assert client.sender_info(provisioned.sender).withdraw_round == 0


def test_claimable_reserve_is_shared_by_the_pool(client: ChainClient, provisioned: ProvisionedDevnet, w3: Web3) -> None:
    sender, first = provisioned.sender, provisioned.orchestrator
    second, outsider = w3.eth.accounts[2], w3.eth.accounts[3]  # type: ignore[misc]
    assert client.claimable_reserve(sender, first) == RESERVE_WEI
    assert client.claimable_reserve(sender, outsider) == 0
    bonding = bind(w3, "BondingManager", provisioned.devnet.bonding_manager)
    transact(w3, bonding.functions.setActiveTranscoder(second, True), provisioned.devnet.owner)
    assert client.transcoder_pool_size() == 2
    assert client.claimable_reserve(sender, first) == client.claimable_reserve(sender, second) == RESERVE_WEI // 2
    assert client.claimed_reserve(sender, first) == 0


def test_bad_addresses_are_value_errors(client: ChainClient) -> None:
    with pytest.raises(ValueError, match="not an address"):
        client.sender_info("0x1234")
    with pytest.raises(ValueError, match="address must be 20 bytes, got 3"):
        client.eth_balance(b"abc")
    assert checksum_address("0x" + "ab" * 20) == Web3.to_checksum_address("0x" + "ab" * 20)


def test_unregistered_contract_is_a_mismatch(provisioned: ProvisionedDevnet, w3: Web3) -> None:
    devnet = provisioned.devnet
    controller = bind(w3, "Controller", devnet.controller)
    transact(w3, controller.functions.setContract(contract_id(TICKET_BROKER), "0x" + "00" * 20), devnet.owner)
    client = ChainClient(devnet.rpc_url, devnet.controller)
    with pytest.raises(ContractMismatch, match=f"Controller {devnet.controller} lists no TicketBroker"):
        client.unlock_period()


def test_a_controller_without_code_is_a_mismatch(provisioned: ProvisionedDevnet, w3: Web3) -> None:
    client = ChainClient(provisioned.devnet.rpc_url, provisioned.sender)  # an account, not a contract
    with pytest.raises(ContractMismatch, match="getContract"):
        client.current_round()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens once the probe is closed


def test_unreachable_rpc_is_unavailable_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    url = f"http://alice:hunter2@127.0.0.1:{port}/v3/{INFURA_KEY}?apikey=qwertyuiop"
    client = ChainClient(url, "0x" + "11" * 20, timeout_s=2.0)
    with caplog.at_level(logging.DEBUG), pytest.raises(ChainUnavailable) as caught:
        client.l1_block_number()
    error = caught.value
    assert isinstance(error, ClearinghouseError) and error.__cause__ is None and error.__suppress_context__
    message = f"{error} {error!r}"
    assert f"at http://127.0.0.1:{port}/v3/***?apikey=*** failed" in message
    for secret in ("alice", "hunter2", INFURA_KEY, "qwertyuiop"):
        assert secret not in message
        assert secret not in caplog.text
    with pytest.raises(ChainUnavailable):
        client.chain_view("0x" + "22" * 20)  # address resolution fails the same way


def test_stopped_anvil_is_unavailable(provisioned: ProvisionedDevnet) -> None:
    # A separate anvil, stopped: the module's own must keep running for the other tests.
    with start_anvil() as other:
        client = ChainClient(other.rpc_url, provisioned.devnet.controller)
        assert client.l1_block_number() >= 0
    with pytest.raises(ChainUnavailable, match=f"at http://127.0.0.1:{other.port} failed"):
        client.l1_block_number()


def test_block_refs_are_the_headers(client: ChainClient, w3: Web3) -> None:
    mine(w3, 2)
    latest = client.block_ref()
    header = w3.eth.get_block("latest")
    assert (latest.number, latest.hash) == (header["number"], bytes(header["hash"]))
    parent = client.block_ref(latest.number - 1)
    assert (parent.number, parent.hash) == (latest.number - 1, bytes(header["parentHash"]))
    with pytest.raises(ChainUnavailable, match=rf"eth_getBlockByNumber\({latest.number + 100}\) at .* failed"):
        client.block_ref(latest.number + 100)


def test_logs_are_filtered_by_topic_and_block_range(
    client: ChainClient, provisioned: ProvisionedDevnet, w3: Web3
) -> None:
    broker = bind(w3, "TicketBroker", provisioned.devnet.ticket_broker)
    deposit_funded = bytes(Web3.keccak(text="DepositFunded(address,uint256)"))
    reserve_funded = bytes(Web3.keccak(text="ReserveFunded(address,uint256)"))
    payer, other = provisioned.devnet.owner, w3.eth.accounts[2]  # type: ignore[misc]
    first = w3.eth.block_number + 1
    receipt = transact(w3, broker.functions.fundDepositAndReserveFor(payer, 3, 4), payer, value_wei=7)
    transact(w3, broker.functions.fundDepositAndReserveFor(other, 5, 6), payer, value_wei=11)
    last = w3.eth.block_number
    payer_topic = bytes(12) + bytes.fromhex(payer[2:])

    both = client.logs(provisioned.devnet.ticket_broker, [[deposit_funded, reserve_funded], payer_topic], first, last)
    deposits = client.logs(provisioned.devnet.ticket_broker, [deposit_funded], first, last)

    assert [(log.topics, int.from_bytes(log.data, "big")) for log in both] == [
        ((deposit_funded, payer_topic), 3), ((reserve_funded, payer_topic), 4)
    ]
    assert both[0].block_number == receipt["blockNumber"] and both[0].block_hash == bytes(receipt["blockHash"])
    assert both[0].transaction_hash == bytes(receipt["transactionHash"]) and both[0].log_index == 0
    assert both[0].address == bytes.fromhex(provisioned.devnet.ticket_broker[2:])
    assert [int.from_bytes(log.data, "big") for log in deposits] == [3, 5]
    assert client.logs(provisioned.devnet.ticket_broker, [deposit_funded, payer_topic], 0, first - 1) == []
    with pytest.raises(ValueError, match="from_block <= to_block"):
        client.logs(provisioned.devnet.ticket_broker, [], last, first)
    with pytest.raises(ValueError, match="from_block <= to_block < from_block \\+ 10000"):
        client.logs(provisioned.devnet.ticket_broker, [], 0, 10_000)
    with pytest.raises(ValueError, match="a topic must be 32 bytes"):
        client.logs(provisioned.devnet.ticket_broker, [b"short"], first, last)
