"""Deploy our contracts to a local chain and drive its rounds: the devnet.

deploy_devnet() deploys the Controller, RoundsManager, BondingManager, TicketBroker and the two
Chainlink-shaped feeds from contracts/build, registers each in the Controller under
keccak256(name) exactly as Arbitrum One's Controller does, initializes round 1 and returns
the addresses. running_devnet() does the same on a fresh anvil it starts and stops.

Rounds on the devnet follow the block number (see contracts/src/RoundsManager.sol):
mine_to_next_round() mines up to the next round's first block, advance_round() also
initializes that round.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxParams, Wei

from clearinghouse.chain.anvil import AnvilOptions, mine, start_anvil
from clearinghouse.chain.artifacts import bind, load_artifact
from clearinghouse.errors import ClearinghouseError

TICKET_BROKER = "TicketBroker"
ROUNDS_MANAGER = "RoundsManager"
BONDING_MANAGER = "BondingManager"
ETH_USD_FEED = "EthUsdPriceFeed"
"""Controller name of the ETH/USD feed: ours; Arbitrum One's Controller does not list feeds."""
SEQUENCER_UPTIME_FEED = "SequencerUptimeFeed"
"""Controller name of the L2 sequencer uptime feed: ours, as for ETH_USD_FEED."""

TX_RECEIPT_TIMEOUT_S = 10.0
"""anvil mines each transaction at once; a receipt later than this means the node is stuck."""

DEFAULT_ETH_USD_ANSWER = 3_000 * 10**8
"""3,000 USD per ETH with the feed's 8 decimals: a plausible price for invoices on the devnet."""


class DevnetError(ClearinghouseError):
    """Deploying to or driving the devnet failed (a transaction reverted, bad parameters)."""


@dataclass(frozen=True, slots=True)
class DevnetParams:
    """Protocol parameters of a devnet; unlock and validity periods default to mainnet's.

    round_length_blocks defaults to 1,000, not mainnet's 6,377: advance_round() then mines a
    round in ~0.1 s, while a round still holds far more transactions than a test sends.
    """

    round_length_blocks: int = 1_000
    unlock_period_rounds: int = 2
    ticket_validity_period_rounds: int = 2
    eth_usd_answer: int = DEFAULT_ETH_USD_ANSWER


@dataclass(frozen=True, slots=True)
class Devnet:
    """Where a deployed devnet lives. `owner` owns the Controller and both feeds."""

    chain_id: int
    rpc_url: str
    owner: ChecksumAddress
    controller: ChecksumAddress
    ticket_broker: ChecksumAddress
    rounds_manager: ChecksumAddress
    bonding_manager: ChecksumAddress
    eth_usd_feed: ChecksumAddress
    sequencer_uptime_feed: ChecksumAddress
    params: DevnetParams


def contract_id(name: str) -> bytes:
    """The Controller id of `name`: keccak256 of its UTF-8 bytes, as on mainnet."""
    return bytes(Web3.keccak(text=name))


def deploy_devnet(rpc_url: str, params: DevnetParams | None = None) -> Devnet:
    """Deploy and register every devnet contract on the node at `rpc_url`, then open round 1.

    The node must have an unlocked account (anvil's first account deploys and owns
    everything). Raises DevnetError on bad params, a reverted transaction, or when round 1
    is no longer current once deployment is done (round length too short).
    """
    params = params or DevnetParams()
    _check_params(params)
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": TX_RECEIPT_TIMEOUT_S}))
    owner = w3.eth.accounts[0]
    controller = _deploy(w3, owner, "Controller")
    addresses = {
        ROUNDS_MANAGER: _deploy(w3, owner, "RoundsManager", controller, params.round_length_blocks),
        BONDING_MANAGER: _deploy(w3, owner, "BondingManager", controller),
        TICKET_BROKER: _deploy(
            w3, owner, "TicketBroker", controller, params.unlock_period_rounds, params.ticket_validity_period_rounds
        ),
        ETH_USD_FEED: _deploy(w3, owner, "EthUsdFeedStandIn", params.eth_usd_answer),
        SEQUENCER_UPTIME_FEED: _deploy(w3, owner, "SequencerUptimeFeedStandIn"),
    }
    registry = bind(w3, "Controller", controller)
    for name, address in addresses.items():
        transact(w3, registry.functions.setContract(contract_id(name), address), owner)
    devnet = Devnet(
        chain_id=w3.eth.chain_id,
        rpc_url=rpc_url,
        owner=owner,
        controller=controller,
        ticket_broker=addresses[TICKET_BROKER],
        rounds_manager=addresses[ROUNDS_MANAGER],
        bonding_manager=addresses[BONDING_MANAGER],
        eth_usd_feed=addresses[ETH_USD_FEED],
        sequencer_uptime_feed=addresses[SEQUENCER_UPTIME_FEED],
        params=params,
    )
    round_ = initialize_round(w3, devnet)
    if round_ != 1:
        raise DevnetError(
            f"deployment ended in round {round_}, expected 1: round length {params.round_length_blocks} is too short"
        )
    return devnet


@contextmanager
def running_devnet(params: DevnetParams | None = None, anvil_options: AnvilOptions | None = None) -> Iterator[Devnet]:
    """Start anvil, deploy the devnet to it, yield it, and stop anvil on exit."""
    with start_anvil(anvil_options) as anvil:
        yield deploy_devnet(anvil.rpc_url, params)


def initialize_round(w3: Web3, devnet: Devnet) -> int:
    """Initialize the current round (anyone may) and return its number.

    Raises DevnetError (with the revert reason) when the round is already initialized.
    """
    rounds = bind(w3, "RoundsManager", devnet.rounds_manager)
    receipt = transact(w3, rounds.functions.initializeRound(), devnet.owner)
    (event,) = rounds.events.NewRound().process_receipt(receipt)
    round_: int = event["args"]["round"]
    return round_


def mine_to_next_round(w3: Web3, devnet: Devnet) -> int:
    """Mine empty blocks up to and including the first block of the round after the latest
    block's; return that round, which is now current but not yet initialized.

    Mines at most one round length of blocks. Views (eth_call) see the latest block, so the
    new round is current for readers, and the next transaction lands inside it.
    """
    rounds = bind(w3, "RoundsManager", devnet.rounds_manager)
    head = w3.eth.block_number
    target_round = _round_of_block(rounds, head) + 1
    mine(w3, _first_block_of_round(rounds, target_round) - head)
    return target_round


def advance_round(w3: Web3, devnet: Devnet) -> int:
    """Move to the next round (mine_to_next_round), initialize it and return its number."""
    target_round = mine_to_next_round(w3, devnet)
    round_ = initialize_round(w3, devnet)
    if round_ != target_round:
        raise DevnetError(f"advanced to round {round_}, expected {target_round}")
    return round_


def transact(w3: Web3, call: ContractFunction, sender: ChecksumAddress, value_wei: int = 0) -> Any:
    """Send `call` from the unlocked account `sender` and return its receipt.

    Raises DevnetError naming the function when the transaction reverts (the revert reason
    is in the message) or is mined with status 0.
    """
    try:
        tx_hash = call.transact(TxParams({"from": sender, "value": Wei(value_wei)}))
    except Exception as exc:  # web3 raises several unrelated types for a revert
        raise DevnetError(f"{call.fn_name} from {sender} failed: {_reason(exc)}") from exc
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=TX_RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise DevnetError(f"{call.fn_name} from {sender} was mined with status {receipt['status']}, expected 1")
    return receipt


def _deploy(w3: Web3, owner: ChecksumAddress, artifact_name: str, *args: Any) -> ChecksumAddress:
    artifact = load_artifact(artifact_name)
    factory: type[Contract] = w3.eth.contract(abi=list(artifact.abi), bytecode=HexBytes(artifact.bytecode))
    try:
        tx_hash = factory.constructor(*args).transact({"from": owner})
    except Exception as exc:  # web3 raises several unrelated types for a revert
        raise DevnetError(f"deploying {artifact_name}{args} failed: {_reason(exc)}") from exc
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=TX_RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1 or receipt["contractAddress"] is None:
        raise DevnetError(f"deploying {artifact_name} was mined with status {receipt['status']}, expected 1")
    address: ChecksumAddress = receipt["contractAddress"]
    return address


def _reason(exc: Exception) -> str:
    # web3's revert errors carry (message, revert data) in args; the message is what matters.
    return str(exc.args[0]) if exc.args else repr(exc)


def _check_params(params: DevnetParams) -> None:
    for field in ("round_length_blocks", "ticket_validity_period_rounds"):
        value = getattr(params, field)
        if value < 1:
            raise DevnetError(f"{field} must be at least 1, got {value}")
    if params.unlock_period_rounds < 0:
        raise DevnetError(f"unlock_period_rounds must be at least 0, got {params.unlock_period_rounds}")


def _round_of_block(rounds: Contract, block: int) -> int:
    base_round: int = rounds.functions.lastRoundLengthUpdateRound().call()
    base_block: int = rounds.functions.lastRoundLengthUpdateStartBlock().call()
    length: int = rounds.functions.roundLength().call()
    return base_round + (block - base_block) // length


def _first_block_of_round(rounds: Contract, round_: int) -> int:
    base_round: int = rounds.functions.lastRoundLengthUpdateRound().call()
    base_block: int = rounds.functions.lastRoundLengthUpdateStartBlock().call()
    length: int = rounds.functions.roundLength().call()
    return base_block + (round_ - base_round) * length
