"""Deploy our contracts to a local chain and drive its rounds: the devnet.

deploy_devnet() deploys the Controller, RoundsManager, BondingManager, TicketBroker and the two
Chainlink-shaped feeds from contracts/build, registers each in the Controller under
keccak256(name) exactly as Arbitrum One's Controller does, initializes round 1 and returns
the addresses. running_devnet() does the same on a fresh anvil it starts and stops.

Rounds on the devnet follow the block number (see contracts/src/RoundsManager.sol):
mine_to_next_round() mines up to the next round's first block, advance_round() also
initializes that round.

provision_devnet() turns a running anvil into a devnet the daemon can use: contracts, a new
sender key in an encrypted keystore, its deposit and reserve, an active orchestrator, and the
daemon's configuration file. An operator's existing configuration (``clearinghouse init``) is
used instead with deploy_devnet(), point_config_at_devnet() and fund_sender(): the same
deployment and funding for the operator's own sender key.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import tomlkit
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from hexbytes import HexBytes
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import TxParams, Wei

from clearinghouse.chain.anvil import Anvil, AnvilOptions, mine, start_anvil
from clearinghouse.chain.artifacts import bind, load_artifact
from clearinghouse.chain.client import BONDING_MANAGER as BONDING_MANAGER
from clearinghouse.chain.client import ROUNDS_MANAGER as ROUNDS_MANAGER
from clearinghouse.chain.client import TICKET_BROKER as TICKET_BROKER
from clearinghouse.chain.client import ChainClient
from clearinghouse.chain.client import contract_id as contract_id
from clearinghouse.chain.errors import ChainError
from clearinghouse.chain.limits import DEVNET_REFRESH_S, DEVNET_STALE_AFTER_S, TX_RECEIPT_TIMEOUT_S

ETH_USD_FEED = "EthUsdPriceFeed"
"""Controller name of the ETH/USD feed: ours; Arbitrum One's Controller does not list feeds."""
SEQUENCER_UPTIME_FEED = "SequencerUptimeFeed"
"""Controller name of the L2 sequencer uptime feed: ours, as for ETH_USD_FEED."""


DEFAULT_ETH_USD_ANSWER = 3_000 * 10**8
"""3,000 USD per ETH with the feed's 8 decimals: a plausible price for invoices on the devnet."""


class DevnetError(ChainError):
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


# ---- provisioning: a devnet the daemon can run against ------------------------------------

DEVNET_DEPOSIT_WEI = 10**18
"""1 ETH: thousands of devnet tickets at typical face values before the deposit runs dry."""

DEVNET_RESERVE_WEI = 10**18
"""1 ETH: lets a single active orchestrator claim face values up to 1 ETH from the reserve."""

SENDER_GAS_WEI = 10**18
"""ETH the sender keeps for gas: covers thousands of funding transactions at devnet prices."""

PASSPHRASE_BYTES = 32
"""Random bytes behind the keystore passphrase: beyond any guessing, as for the pepper."""

PEPPER_BYTES = 32
"""API-key pepper length: HMAC-SHA256's output size (config.PEPPER_BYTES_MIN)."""

DEVNET_HTTP_PORT = 8935
"""go-livepeer's default HTTP port, where gateways look for a remote signer by default."""


CONFIG_FILE = "clearinghouse.toml"
KEYSTORE_FILE = "sender-keystore.json"
PASSPHRASE_FILE = "passphrase.txt"
PEPPER_FILE = "pepper.txt"
ADMIN_TOKEN_FILE = "admin-token.txt"
ADMIN_TOKEN_BYTES = 32
"""The operator token's random bytes, at config.ADMIN_TOKEN_BYTES_MIN: 256 bits, like the pepper."""
DATABASE_FILE = "clearinghouse.sqlite3"


@dataclass(frozen=True, slots=True)
class ProvisionedDevnet:
    """A devnet with a funded sender and the daemon's configuration for it.

    ``devnet`` holds the RPC URL and every contract address; ``orchestrator`` is an anvil dev
    account (its key is anvil's well-known one) marked active in the BondingManager.
    """

    devnet: Devnet
    directory: Path
    config_path: Path
    keystore_path: Path
    passphrase_path: Path
    pepper_path: Path
    admin_token_path: Path
    database_url: str
    sender: ChecksumAddress
    orchestrator: ChecksumAddress


def provision_devnet(
    directory: Path,
    anvil: Anvil,
    *,
    deposit_wei: int = DEVNET_DEPOSIT_WEI,
    reserve_wei: int = DEVNET_RESERVE_WEI,
    params: DevnetParams | None = None,
    http_port: int = DEVNET_HTTP_PORT,
    grpc_port: int | None = None,
) -> ProvisionedDevnet:
    """Deploy the devnet on the running ``anvil``, create and fund a new sender, and write the
    daemon's files into ``directory`` (created 0700 if missing).

    Writes a scrypt keystore of a fresh key, its random passphrase and a random API-key pepper
    (each 0600, created so, never briefly readable by others), funds the sender with ETH from
    anvil's first account, calls fundDepositAndReserve(deposit_wei, reserve_wei) signed by the
    sender's own key, marks anvil's second account an active orchestrator, and writes
    ``clearinghouse.toml`` last. Raises DevnetError when a file already exists there (nothing
    is overwritten), an amount is negative, or a transaction fails.
    """
    if deposit_wei < 0 or reserve_wei < 0:
        raise DevnetError(f"deposit_wei and reserve_wei must be >= 0, got {deposit_wei} and {reserve_wei}")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in (KEYSTORE_FILE, PASSPHRASE_FILE, PEPPER_FILE, ADMIN_TOKEN_FILE, CONFIG_FILE):
        if (directory / name).exists():  # checked early to skip the deployment; O_EXCL decides
            raise DevnetError(f"{directory / name} already exists; provision into an empty directory")
    sender = Account.create()
    passphrase = secrets.token_urlsafe(PASSPHRASE_BYTES)
    # The key is on disk before it is funded: a crash after funding cannot lose the money.
    keystore = Account.encrypt(sender.key, passphrase, kdf="scrypt")
    _write_new_file(directory / KEYSTORE_FILE, json.dumps(keystore))
    _write_new_file(directory / PASSPHRASE_FILE, passphrase + "\n")
    _write_new_file(directory / PEPPER_FILE, secrets.token_hex(PEPPER_BYTES) + "\n")
    _write_new_file(directory / ADMIN_TOKEN_FILE, secrets.token_hex(ADMIN_TOKEN_BYTES) + "\n")
    devnet = deploy_devnet(anvil.rpc_url, params)
    orchestrator = fund_sender(anvil, devnet, sender, deposit_wei=deposit_wei, reserve_wei=reserve_wei)
    provisioned = ProvisionedDevnet(
        devnet=devnet,
        directory=directory,
        config_path=directory / CONFIG_FILE,
        keystore_path=directory / KEYSTORE_FILE,
        passphrase_path=directory / PASSPHRASE_FILE,
        pepper_path=directory / PEPPER_FILE,
        admin_token_path=directory / ADMIN_TOKEN_FILE,
        database_url=f"sqlite:///{directory.resolve() / DATABASE_FILE}",
        sender=sender.address,
        orchestrator=orchestrator,
    )
    _write_new_file(provisioned.config_path, _config_text(provisioned, http_port, grpc_port))
    return provisioned


def fund_sender(anvil: Anvil, devnet: Devnet, sender: LocalAccount, *, deposit_wei: int = DEVNET_DEPOSIT_WEI,
                reserve_wei: int = DEVNET_RESERVE_WEI) -> ChecksumAddress:
    """Make the devnet payable by ``sender``: mark anvil's second account an active orchestrator,
    send the sender ETH for the amounts and gas from anvil's first account, and call
    fundDepositAndReserve(deposit_wei, reserve_wei) signed by the sender's own key. Returns the
    orchestrator. Raises DevnetError when an amount is negative or a transaction fails."""
    if deposit_wei < 0 or reserve_wei < 0:
        raise DevnetError(f"deposit_wei and reserve_wei must be >= 0, got {deposit_wei} and {reserve_wei}")
    w3 = anvil.web3()
    orchestrator = list(w3.eth.accounts)[1]  # web3 types accounts as a 1-tuple
    bonding = bind(w3, "BondingManager", devnet.bonding_manager)
    transact(w3, bonding.functions.setActiveTranscoder(orchestrator, True), devnet.owner)
    _send_eth(w3, devnet.owner, sender.address, deposit_wei + reserve_wei + SENDER_GAS_WEI)
    broker = bind(w3, "TicketBroker", devnet.ticket_broker)
    funding = broker.functions.fundDepositAndReserve(deposit_wei, reserve_wei)
    _transact_signed(w3, funding, sender, deposit_wei + reserve_wei)
    return orchestrator


def point_config_at_devnet(config_path: Path, devnet: Devnet, *, grpc_port: int | None) -> None:
    """Rewrite the [chain], [rates] and (with ``grpc_port``) [grpc] tables of the operator's
    configuration at ``config_path`` for ``devnet``, and drop [chain.static]; every other table,
    key and comment stays as the operator wrote it. The file is replaced atomically, keeping
    its mode. Raises DevnetError when it cannot be read, parsed or written."""
    try:
        document = tomlkit.parse(config_path.read_text(encoding="utf-8"))
    except (OSError, tomlkit.exceptions.ParseError) as exc:
        raise DevnetError(f"cannot read the configuration {config_path}: {exc}") from exc
    chain = document.setdefault("chain", tomlkit.table())
    chain.pop("static", None)
    chain.update(_live_chain_values(devnet))
    rates = document.setdefault("rates", tomlkit.table())
    rates.update(aggregator=devnet.eth_usd_feed, sequencer_uptime_feed=devnet.sequencer_uptime_feed,
                 sequencer_grace_s=0)
    if grpc_port is not None:
        grpc = document.setdefault("grpc", tomlkit.table())
        grpc.update(host="127.0.0.1", port=grpc_port, ticket_broker=devnet.ticket_broker)
    _replace_file(config_path, tomlkit.dumps(document))


def _live_chain_values(devnet: Devnet) -> dict[str, object]:
    # The devnet is a few hundred blocks: scan it all. anvil mines a block only per transaction,
    # so waiting for confirmations would hold the latest events back until the next transaction.
    return {"rpc_url": devnet.rpc_url, "controller": devnet.controller, "refresh_s": DEVNET_REFRESH_S,
            "stale_after_s": DEVNET_STALE_AFTER_S, "start_block": 0, "confirmations": 0,
            "watch_poll_s": DEVNET_REFRESH_S}


def _replace_file(path: Path, text: str) -> None:
    """Write ``text`` to a new file beside ``path`` (mkstemp: 0600) given ``path``'s mode, then
    rename it over ``path``: a reader sees the old file or the new one, never half of one."""
    try:
        mode = path.stat().st_mode & 0o777
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(text)
            os.chmod(temporary, mode)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as exc:
        raise DevnetError(f"cannot rewrite the configuration {path}: {exc.strerror}") from exc


def _write_new_file(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 from the start (O_EXCL: never replace an existing file)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise DevnetError(f"{path} already exists; provision into an empty directory") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(text)


def _send_eth(w3: Web3, source: ChecksumAddress, to: ChecksumAddress, value_wei: int) -> None:
    tx_hash = w3.eth.send_transaction(TxParams({"from": source, "to": to, "value": Wei(value_wei)}))
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=TX_RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise DevnetError(f"sending {value_wei} wei from {source} to {to} was mined with status {receipt['status']}")


def _transact_signed(w3: Web3, call: ContractFunction, account: LocalAccount, value_wei: int) -> None:
    """Send ``call`` signed by ``account``'s key (the node does not hold it), as production will."""
    try:
        nonce = w3.eth.get_transaction_count(account.address)
        tx = call.build_transaction(TxParams({"from": account.address, "value": Wei(value_wei), "nonce": nonce}))
    except Exception as exc:  # web3 raises several unrelated types for a revert in estimateGas
        raise DevnetError(f"{call.fn_name} from {account.address} failed: {_reason(exc)}") from exc
    # eth-account types the transaction as a plain dict; web3 builds a TxParams TypedDict.
    signed = account.sign_transaction(cast(dict[str, Any], tx))
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=TX_RECEIPT_TIMEOUT_S)
    if receipt["status"] != 1:
        raise DevnetError(
            f"{call.fn_name} from {account.address} was mined with status {receipt['status']}, expected 1"
        )


def _config_text(provisioned: ProvisionedDevnet, http_port: int, grpc_port: int | None) -> str:
    """clearinghouse.toml: [chain.static] is the chain as provisioned, [chain] the live source,
    [rates] the devnet's ETH/USD stand-in feed, [grpc] when a gRPC port is given."""
    devnet = provisioned.devnet
    view = ChainClient(devnet.rpc_url, devnet.controller).chain_view(provisioned.sender)
    block_hash = view.block_hash_for_round(view.current_round)
    if block_hash is None:
        raise DevnetError(f"round {view.current_round} is not initialized: [chain.static] needs its block hash")
    return f"""\
# Written by clearinghouse devnet provisioning for the anvil devnet at {devnet.rpc_url}.
# Sender {provisioned.sender}; active orchestrator {provisioned.orchestrator}.
database_url = {_toml_string(provisioned.database_url)}

[signer]
keystore = {_toml_string(KEYSTORE_FILE)}
passphrase_file = {_toml_string(PASSPHRASE_FILE)}

[auth]
pepper_file = {_toml_string(PEPPER_FILE)}

[http]
host = "127.0.0.1"
port = {http_port}

# The operator token of the finance API (/admin/v1/) and the dashboard's login (/dashboard).
[admin]
token_file = {_toml_string(ADMIN_TOKEN_FILE)}

{tomlkit.dumps({"chain": _live_chain_values(devnet)})}
[rates]
aggregator = {_toml_string(devnet.eth_usd_feed)}
sequencer_uptime_feed = {_toml_string(devnet.sequencer_uptime_feed)}
# The devnet's sequencer feed reports "up since deployment": no grace period to wait out.
sequencer_grace_s = 0

{_grpc_section(grpc_port, devnet.ticket_broker)}[chain.static]
deposit_wei = {view.deposit_wei}
reserve_wei = {view.reserve_wei}
withdraw_round = {view.withdraw_round}
current_round = {view.current_round}
current_round_block_hash = "0x{block_hash.hex()}"
last_l1_block = {view.last_l1_block}
"""


def _grpc_section(port: int | None, ticket_broker: str) -> str:
    """[grpc] on loopback when a port is given (the `devnet` command's), else nothing."""
    if port is None:
        return ""
    return f"""[grpc]
host = "127.0.0.1"
port = {port}
ticket_broker = {_toml_string(ticket_broker)}

"""


def _toml_string(text: str) -> str:
    # json.dumps(ensure_ascii=False) is a TOML basic string: both escape the quote, the
    # backslash and control characters alike (\n, \uXXXX). Only DEL, which TOML forbids raw,
    # json leaves raw.
    if "\x7f" in text:
        raise DevnetError(f"cannot write {text!r} into TOML: it contains DEL")
    return json.dumps(text, ensure_ascii=False)
