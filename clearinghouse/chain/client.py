"""Read our TicketBroker position and the chain clock over JSON-RPC (spec 04).

``ChainClient(rpc_url, controller)`` resolves TicketBroker, RoundsManager and BondingManager
through ``Controller.getContract(keccak256(name))``, as on Arbitrum One, on first use (so a
daemon can start while the RPC is down) and then keeps the addresses. Every read is one small
typed method; ``chain_view(sender)`` assembles the signer's ``ChainView`` from reads pinned to
one block, with the open rounds' block hashes (read once per round, chain/rounds.py); ``block_ref`` and ``logs`` give the chain watcher block hashes and raw event logs.

Errors from web3, requests and the socket layer are translated where they enter (``_reading``):
ChainUnavailable for transport and JSON-RPC failures, ContractMismatch when the chain answers
but not as our contracts would. The original exception is not chained: its text and its
request object quote the URL path, which can hold an API key (see redact.py).

**Sanity checks**: an RPC can answer and still lie (a broken node, a proxy, another chain). A
read outside the bounds of limits.py raises ImplausibleChainData, a ChainUnavailable whose
message starts with "implausible chain data", so callers treat it exactly like a failed read (retried; the chain
view goes stale and signing stops): a head block that goes back more than
HEAD_REGRESSION_BLOCKS_MAX or forward faster than HEAD_ADVANCE_BLOCKS_PER_S_MAX (plus
HEAD_ADVANCE_SLACK_BLOCKS) since the last plausible head, a block number above
BLOCK_NUMBER_MAX, a wei amount above WEI_SUPPLY_MAX or a word above UINT256_MAX, logs outside
the block range asked for. Each kind of lie is logged once at ERROR when it starts and once when
the answers are plausible again. The first head read is judged by the absolute bounds only: a
daemon that starts behind a lying node anchors on its lie and then refuses the truth, which is
the safe way round (it stops signing; restart it once the node is fixed).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from eth_typing import BlockNumber, ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3Exception
from web3.types import BlockIdentifier, FilterParams, LogReceipt

from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.errors import (
    ChainUnavailable,
    ContractMismatch,
    ImplausibleChainData,
)
from clearinghouse.chain.limits import (
    BLOCK_NUMBER_MAX,
    HEAD_ADVANCE_BLOCKS_PER_S_MAX,
    HEAD_ADVANCE_SLACK_BLOCKS,
    HEAD_REGRESSION_BLOCKS_MAX,
    LOGS_BLOCKS_MAX,
    RPC_REQUEST_TIMEOUT_S,
    TICKET_VALIDITY_ROUNDS_MAX,
    UINT256_MAX,
    WEI_SUPPLY_MAX,
)
from clearinghouse.chain.redact import RpcSecrets, hide_in_library_logs, redact_rpc_url
from clearinghouse.chain.rounds import RoundBlockHashes
from clearinghouse.domain.chain_events import BlockRef
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.money import ADDRESS_BYTES, HASH_BYTES

logger = logging.getLogger(__name__)

IMPLAUSIBLE = "implausible chain data"
"""How every sanity-check failure's message starts (the 503's reason names it)."""

TICKET_BROKER = "TicketBroker"
ROUNDS_MANAGER = "RoundsManager"
BONDING_MANAGER = "BondingManager"




Topic = bytes | list[bytes] | None
"""One position of an eth_getLogs topic filter: a 32-byte value, any of several, or anything."""

Address = str | bytes
"""An account as a 0x-hex string (any case) or its 20 raw bytes."""


def contract_id(name: str) -> bytes:
    """The Controller id of ``name``: keccak256 of its UTF-8 bytes, as on mainnet."""
    return bytes(Web3.keccak(text=name))


@dataclass(frozen=True, slots=True)
class SenderInfo:
    """TicketBroker.getSenderInfo: deposit and unlock state, and the reserve
    (``reserve_wei`` is fundsRemaining). ``withdraw_round`` is 0 when no unlock is pending."""

    deposit_wei: int
    withdraw_round: int
    reserve_wei: int
    reserve_claimed_in_current_round_wei: int


@dataclass(frozen=True, slots=True)
class FeedRound:
    """A Chainlink AggregatorV3 ``latestRoundData()`` answer, as the feed returned it.

    ``answer`` is signed and scaled by the feed's ``decimals``; times are unix seconds.
    """

    round_id: int
    answer: int
    started_at_s: int
    updated_at_s: int
    answered_in_round: int


@dataclass(frozen=True, slots=True)
class RawLog:
    """One event log as eth_getLogs returns it, undecoded (bytes are raw, not hex)."""

    address: bytes
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: bytes
    transaction_hash: bytes
    log_index: int


@dataclass(frozen=True, slots=True)
class ContractAddresses:
    """Where the Controller says our contracts live (EIP-55 addresses)."""

    ticket_broker: ChecksumAddress
    rounds_manager: ChecksumAddress
    bonding_manager: ChecksumAddress


@dataclass(frozen=True, slots=True)
class _Contracts:
    ticket_broker: Contract
    rounds_manager: Contract
    bonding_manager: Contract


class ChainClient:
    """Typed reads of the Livepeer contracts behind one Controller; safe to share between threads.

    Every method raises ChainUnavailable when the RPC does not answer usefully and
    ContractMismatch when a contract is not registered or does not answer our ABI. Address
    arguments that are not 20-byte addresses raise ValueError. Reads take ``block`` (a block
    number) to read at that block instead of the latest.
    """

    def __init__(
        self,
        rpc_url: str,
        controller: Address,
        *,
        timeout_s: float = RPC_REQUEST_TIMEOUT_S,
        clock_s: Callable[[], float] | None = None,
    ) -> None:
        """No I/O here: contracts are resolved on the first read. ``clock_s`` times the head's
        advance (default: a clock that keeps counting while the machine sleeps). Raises
        ValueError for a non-positive ``timeout_s`` or a ``controller`` that is not an address."""
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.redacted_url = redact_rpc_url(rpc_url)
        self._secrets = RpcSecrets(rpc_url)
        hide_in_library_logs(rpc_url)
        # No web3-level retries: callers (LiveChainView) retry with their own bounded backoff,
        # and an outage must surface within one timeout, not after web3's five attempts.
        provider = Web3.HTTPProvider(
            rpc_url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
        )
        self._w3 = Web3(provider)
        self.controller = checksum_address(controller)
        self._lock = threading.Lock()
        self._resolved: _Contracts | None = None
        self._heads = HeadGuard(clock_s or boot_clock_s)
        self._lies = LieLog(self.redacted_url)
        self._round_hashes = RoundBlockHashes(lambda round_, block: self.block_hash_for_round(round_, block=block))

    def contract_addresses(self) -> ContractAddresses:
        """The TicketBroker, RoundsManager and BondingManager the Controller lists (resolved on
        first use, then kept)."""
        contracts = self._contracts()
        return ContractAddresses(
            ticket_broker=contracts.ticket_broker.address,
            rounds_manager=contracts.rounds_manager.address,
            bonding_manager=contracts.bonding_manager.address,
        )

    # ---- TicketBroker -------------------------------------------------------------------------

    def sender_info(self, sender: Address, *, block: int | None = None) -> SenderInfo:
        """getSenderInfo(sender): deposit, withdraw round, reserve and this round's claims."""
        account, at = checksum_address(sender), _block(block)  # argument errors before any I/O
        call = self._contracts().ticket_broker.functions.getSenderInfo(account)
        with self._reading("getSenderInfo"):
            (deposit, withdraw_round), (funds_remaining, claimed) = call.call(block_identifier=at)
        self._lies.check_wei("getSenderInfo", deposit=deposit, reserve=funds_remaining, claimed=claimed)
        return SenderInfo(
            deposit_wei=deposit,
            withdraw_round=withdraw_round,
            reserve_wei=funds_remaining,
            reserve_claimed_in_current_round_wei=claimed,
        )

    def unlock_period(self, *, block: int | None = None) -> int:
        """TicketBroker.unlockPeriod(), in rounds."""
        return self._uint(self._contracts().ticket_broker.functions.unlockPeriod(), block)

    def ticket_validity_period(self, *, block: int | None = None) -> int:
        """TicketBroker.ticketValidityPeriod(), in rounds: 1..TICKET_VALIDITY_ROUNDS_MAX, else the
        answer is implausible (ImplausibleChainData)."""
        rounds = self._uint(self._contracts().ticket_broker.functions.ticketValidityPeriod(), block)
        self._lies.check("ticketValidityPeriod", None if 1 <= rounds <= TICKET_VALIDITY_ROUNDS_MAX else (
            f"ticketValidityPeriod is {rounds} rounds, expected 1..{TICKET_VALIDITY_ROUNDS_MAX}"))
        return rounds

    def claimable_reserve(self, sender: Address, orchestrator: Address, *, block: int | None = None) -> int:
        """claimableReserve(sender, orchestrator): what ``orchestrator`` may still claim from our
        reserve this round, in wei (0 unless it is an active transcoder)."""
        holder, claimant = checksum_address(sender), checksum_address(orchestrator)
        call = self._contracts().ticket_broker.functions.claimableReserve(holder, claimant)
        return self._lies.check_wei("claimableReserve", amount=self._uint(call, block))

    def claimed_reserve(self, sender: Address, orchestrator: Address, *, block: int | None = None) -> int:
        """claimedReserve(sender, orchestrator): what ``orchestrator`` claimed this round, in wei."""
        holder, claimant = checksum_address(sender), checksum_address(orchestrator)
        call = self._contracts().ticket_broker.functions.claimedReserve(holder, claimant)
        return self._lies.check_wei("claimedReserve", amount=self._uint(call, block))

    # ---- RoundsManager, BondingManager --------------------------------------------------------

    def current_round(self, *, block: int | None = None) -> int:
        """RoundsManager.currentRound(): the round the TicketBroker computes unlocks and expiry
        against (it may not be initialized yet)."""
        return self._uint(self._contracts().rounds_manager.functions.currentRound(), block)

    def block_hash_for_round(self, round_: int, *, block: int | None = None) -> bytes:
        """RoundsManager.blockHashForRound(round_): 32 bytes, all zero if never initialized."""
        call = self._contracts().rounds_manager.functions.blockHashForRound(round_)
        at = _block(block)
        with self._reading("blockHashForRound"):
            value: object = call.call(block_identifier=at)
        if not isinstance(value, bytes) or len(value) != HASH_BYTES:
            raise ContractMismatch(f"blockHashForRound({round_}) returned {value!r}, expected {HASH_BYTES} bytes")
        return value

    def open_round_block_hashes(
        self, current_round: int, validity_period_rounds: int, *, block: int | None = None
    ) -> tuple[tuple[int, bytes], ...]:
        """(round, block hash) of each round still open for redemption that the RoundsManager
        initialized, oldest first: read once per round, then kept (chain/rounds.py)."""
        return self._round_hashes.open_rounds(current_round, validity_period_rounds, block=block)

    def transcoder_pool_size(self, *, block: int | None = None) -> int:
        """BondingManager.getTranscoderPoolSize(): the number of active orchestrators."""
        return self._uint(self._contracts().bonding_manager.functions.getTranscoderPoolSize(), block)

    def is_active_transcoder(self, address: Address) -> bool:
        """BondingManager.isActiveTranscoder(address) at the latest block: whether it may redeem
        tickets this round (chain/orchestrators.py caches the answers per round)."""
        account = checksum_address(address)
        call = self._contracts().bonding_manager.functions.isActiveTranscoder(account)
        with self._reading("isActiveTranscoder"):
            value: object = call.call(block_identifier="latest")
        if not isinstance(value, bool):
            raise ContractMismatch(f"isActiveTranscoder({account}) returned {value!r}, expected a bool")
        return value

    # ---- accounts and blocks ------------------------------------------------------------------

    def eth_balance(self, address: Address, *, block: int | None = None) -> int:
        """The ETH balance of ``address`` in wei (the sender's gas money)."""
        account, at = checksum_address(address), _block(block)
        with self._reading("eth_getBalance"):
            balance = int(self._w3.eth.get_balance(account, block_identifier=at))
        return self._lies.check_wei("eth_getBalance", balance=balance)

    def head(self) -> tuple[int, int]:
        """(block number, L1 block number) of the latest block, for reads pinned to it."""
        return self._latest_block()

    def l1_block_number(self) -> int:
        """The L1 block number as of the latest block: Arbitrum's ``l1BlockNumber`` header field
        (anvil with chain id 42161 fills it too), else the block number itself."""
        return self._latest_block()[1]

    def chain_view(self, sender: Address) -> ChainView:
        """The signer's view of ``sender``'s position and of the rounds open for redemption, every
        value read at the latest block."""
        number, l1_block = self._latest_block()
        info = self.sender_info(sender, block=number)
        current_round = self.current_round(block=number)
        validity = self.ticket_validity_period(block=number)
        return ChainView(
            deposit_wei=info.deposit_wei,
            reserve_wei=info.reserve_wei,
            withdraw_round=info.withdraw_round,
            current_round=current_round,
            last_l1_block=l1_block,
            round_block_hashes=self.open_round_block_hashes(current_round, validity, block=number),
            ticket_validity_period_rounds=validity,
        )

    def feed_round(self, feed: Address, *, block: int | None = None) -> FeedRound:
        """``latestRoundData()`` of the Chainlink-shaped feed at ``feed`` (an aggregator proxy or
        the L2 sequencer uptime feed); not resolved through the Controller."""
        call = self._feed(feed).functions.latestRoundData()
        at = _block(block)
        with self._reading("latestRoundData"):
            round_id, answer, started_at, updated_at, answered_in_round = call.call(block_identifier=at)
        return FeedRound(round_id, answer, started_at, updated_at, answered_in_round)

    def feed_decimals(self, feed: Address) -> int:
        """``decimals()`` of the feed at ``feed``: how many decimal places its answers carry."""
        return self._uint(self._feed(feed).functions.decimals(), None)

    def block_ref(self, number: int | None = None) -> BlockRef:
        """Number and hash of block ``number`` (the latest when None). Raises ChainUnavailable
        when the node has no such block (yet, or any more after a reorg shortened the chain)."""
        at, label = _block(number), "latest" if number is None else str(number)
        with self._reading(f"eth_getBlockByNumber({label})"):
            header = self._w3.eth.get_block(at)
        found, block_hash = header.get("number"), header.get("hash")
        if not isinstance(found, int) or not isinstance(block_hash, bytes) or len(block_hash) != HASH_BYTES:
            raise ChainUnavailable(f"block {label} from {self.redacted_url} has number {found!r}, hash {block_hash!r}")
        if number is not None and found != number:
            raise ChainUnavailable(f"asked {self.redacted_url} for block {number}, got block {found}")
        if number is None:
            self._lies.check(HEAD, self._heads.judge(found))
        return BlockRef(number=found, hash=bytes(block_hash))

    def logs(self, address: Address, topics: list[Topic], from_block: int, to_block: int) -> list[RawLog]:
        """eth_getLogs: the logs ``address`` emitted in blocks from_block..to_block (inclusive)
        matching ``topics`` (topic0 first), in chain order.

        Raises ValueError unless 0 <= from_block <= to_block < from_block + LOGS_BLOCKS_MAX and
        every topic is 32 bytes; ChainUnavailable when the node fails or answers malformed logs.
        """
        account = checksum_address(address)
        if not 0 <= from_block <= to_block < from_block + LOGS_BLOCKS_MAX:
            raise ValueError(
                f"need 0 <= from_block <= to_block < from_block + {LOGS_BLOCKS_MAX}, got {from_block}..{to_block}"
            )
        query = FilterParams(
            address=account,
            fromBlock=BlockNumber(from_block),
            toBlock=BlockNumber(to_block),
            topics=[_topic_filter(topic) for topic in topics],
        )
        with self._reading(f"eth_getLogs({from_block}..{to_block})"):
            found = self._w3.eth.get_logs(query)
        logs = [self._raw_log(log) for log in found]
        outside = [log.block_number for log in logs if not from_block <= log.block_number <= to_block]
        self._lies.check("eth_getLogs", None if not outside else (
            f"logs of blocks {outside[:3]} for the range {from_block}..{to_block}"))
        return sorted(logs, key=lambda log: (log.block_number, log.log_index))

    # ---- plumbing -----------------------------------------------------------------------------

    def _raw_log(self, log: LogReceipt) -> RawLog:
        try:
            raw = RawLog(
                address=bytes.fromhex(str(log["address"])[2:]),
                topics=tuple(bytes(topic) for topic in log["topics"]),
                data=bytes(log["data"]),
                block_number=int(log["blockNumber"]),
                block_hash=bytes(log["blockHash"]),
                transaction_hash=bytes(log["transactionHash"]),
                log_index=int(log["logIndex"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ChainUnavailable(f"malformed log from {self.redacted_url}: {type(exc).__name__}: {exc}") from None
        if len(raw.block_hash) != HASH_BYTES or len(raw.transaction_hash) != HASH_BYTES:
            raise ChainUnavailable(f"log from {self.redacted_url} without a mined block: {raw!r}")
        return raw

    def _latest_block(self) -> tuple[int, int]:
        """(block number, L1 block number) of the latest block."""
        with self._reading("eth_getBlockByNumber(latest)"):
            header = self._w3.eth.get_block("latest")
        number = header.get("number")
        if not isinstance(number, int):
            raise ChainUnavailable(f"latest block from {self.redacted_url} has no number")
        l1_block = header.get("l1BlockNumber", number)
        if isinstance(l1_block, str):  # web3 does not format fields it does not know: 0x-hex
            l1_block = int(l1_block, 16)
        if not isinstance(l1_block, int):
            raise ChainUnavailable(f"latest block {number} has l1BlockNumber {l1_block!r}, expected a number")
        self._lies.check(L1_HEAD, _outside_block_range("l1BlockNumber", l1_block))
        self._lies.check(HEAD, self._heads.judge(number))
        return number, l1_block

    def _uint(self, call: ContractFunction, block: int | None) -> int:
        function, at = call.fn_name, _block(block)
        with self._reading(function):
            value: object = call.call(block_identifier=at)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ContractMismatch(f"{function} returned {value!r}, expected a uint256")
        self._lies.check(function, None if value <= UINT256_MAX else f"{function} returned {value}, above 2**256 - 1")
        return value

    def _feed(self, feed: Address) -> Contract:
        # Every AggregatorV3 answers the same ABI; the devnet stand-in's artifact carries it.
        return bind(self._w3, "EthUsdFeedStandIn", checksum_address(feed))

    def _contracts(self) -> _Contracts:
        with self._lock:
            if self._resolved is None:
                self._resolved = self._resolve()
            return self._resolved

    def _resolve(self) -> _Contracts:
        registry = bind(self._w3, "Controller", self.controller)
        addresses: dict[str, ChecksumAddress] = {}
        for name in (TICKET_BROKER, ROUNDS_MANAGER, BONDING_MANAGER):
            with self._reading(f"Controller.getContract({name})"):
                address: str = registry.functions.getContract(contract_id(name)).call()
            if int(address, 16) == 0:
                raise ContractMismatch(f"Controller {self.controller} lists no {name}; is it the right Controller?")
            addresses[name] = Web3.to_checksum_address(address)
        return _Contracts(
            ticket_broker=bind(self._w3, "TicketBroker", addresses[TICKET_BROKER]),
            rounds_manager=bind(self._w3, "RoundsManager", addresses[ROUNDS_MANAGER]),
            bonding_manager=bind(self._w3, "BondingManager", addresses[BONDING_MANAGER]),
        )

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Translate the errors one RPC read can raise into ChainError, with credentials scrubbed."""
        try:
            yield
        except (BadFunctionCallOutput, ContractLogicError) as exc:
            raise ContractMismatch(f"{what} at {self.redacted_url}: {self._secrets.error_detail(exc)}") from None
        except (Web3Exception, OSError, ValueError) as exc:
            # OSError covers requests' errors (RequestException is an IOError) and sockets';
            # ValueError: web3 and eth-abi raise it (or subclasses) for malformed replies.
            raise ChainUnavailable(f"{what} at {self.redacted_url} failed: {self._secrets.error_detail(exc)}") from None


HEAD = "head"
L1_HEAD = "l1 head"


def boot_clock_s() -> float:
    """Seconds on a clock that never goes back and keeps counting through a suspend (Linux
    CLOCK_BOOTTIME; elsewhere the monotonic clock), so a sleeping host's first head after
    waking is not judged too far ahead."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.monotonic() if boottime is None else time.clock_gettime(boottime)


def _outside_block_range(what: str, number: int) -> str | None:
    if 0 <= number <= BLOCK_NUMBER_MAX:
        return None
    return f"{what} {number} is outside 0..{BLOCK_NUMBER_MAX}"


class HeadGuard:
    """The last plausible head block and when it was read; judges each new head against it.

    Thread-safe: the deposit monitor and the chain watcher share one client. A plausible head
    becomes the new anchor (also when it went back, within a reorg's depth); an implausible one
    leaves the anchor alone, so the truth is recognised again when the node stops lying.
    """

    def __init__(self, clock_s: Callable[[], float]) -> None:
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._anchor: tuple[int, float] | None = None

    def judge(self, number: int) -> str | None:
        """None when ``number`` is a plausible head now (and then remember it), else why not."""
        outside = _outside_block_range("head block", number)
        if outside is not None:
            return outside
        with self._lock:
            now_s = self._clock_s()
            if self._anchor is not None:
                last, read_at_s = self._anchor
                elapsed_s = max(0.0, now_s - read_at_s)
                advance_max = HEAD_ADVANCE_SLACK_BLOCKS + int(HEAD_ADVANCE_BLOCKS_PER_S_MAX * elapsed_s)
                if number < last - HEAD_REGRESSION_BLOCKS_MAX:
                    return (f"head block {number} is {last - number} blocks below the last head {last}, "
                            f"expected at most {HEAD_REGRESSION_BLOCKS_MAX} (a reorg's depth)")
                if number > last + advance_max:
                    return (f"head block {number} is {number - last} blocks above the last head {last} "
                            f"read {elapsed_s:.1f} s ago, expected at most {advance_max}")
            self._anchor = (number, now_s)
            return None


class LieLog:
    """Raises ImplausibleChainData (a ChainUnavailable) and logs each kind of lie once: at
    ERROR when it starts, at WARNING when that kind of answer is plausible again."""

    def __init__(self, redacted_url: str) -> None:
        self._redacted_url = redacted_url
        self._lock = threading.Lock()
        self._lying: set[str] = set()

    def check(self, kind: str, problem: str | None) -> None:
        """Raise ImplausibleChainData("implausible chain data: <problem>") unless ``problem`` is None."""
        with self._lock:
            started = problem is not None and kind not in self._lying
            ended = problem is None and kind in self._lying
            if started:
                self._lying.add(kind)
            elif ended:
                self._lying.discard(kind)
        if ended:
            logger.warning("%s from %s is plausible again", kind, self._redacted_url)
        if problem is None:
            return
        message = f"{IMPLAUSIBLE} from {self._redacted_url}: {problem}"
        if started:
            logger.error("%s; treated as a failed read until it is plausible again", message)
        raise ImplausibleChainData(message)

    def check_wei(self, kind: str, **amounts_wei: int) -> int:
        """Check that every amount is in 0..WEI_SUPPLY_MAX; returns the last one (for chaining)."""
        bad = [f"{name} {value} wei" for name, value in amounts_wei.items() if not 0 <= value <= WEI_SUPPLY_MAX]
        self.check(kind, None if not bad else (
            f"{kind} says {', '.join(bad)}, more than the {WEI_SUPPLY_MAX // 10**18} ETH bound on all the ETH there is"))
        return list(amounts_wei.values())[-1]


def checksum_address(address: Address) -> ChecksumAddress:
    """``address`` in EIP-55 form. Raises ValueError unless it is 20 bytes or their 0x-hex."""
    if isinstance(address, bytes):
        if len(address) != ADDRESS_BYTES:
            raise ValueError(f"address must be {ADDRESS_BYTES} bytes, got {len(address)}")
        return Web3.to_checksum_address(address)
    if not Web3.is_address(address):
        raise ValueError(f"not an address: {address!r}")
    return Web3.to_checksum_address(address)


def _topic_filter(topic: Topic) -> str | list[str] | None:
    if topic is None:
        return None
    values = topic if isinstance(topic, list) else [topic]
    for value in values:
        if not isinstance(value, bytes) or len(value) != HASH_BYTES:
            raise ValueError(f"a topic must be {HASH_BYTES} bytes, got {value!r}")
    hexes = ["0x" + value.hex() for value in values]
    return hexes if isinstance(topic, list) else hexes[0]


def _block(block: int | None) -> BlockIdentifier:
    if block is None:
        return "latest"
    if block < 0:
        raise ValueError(f"block must be >= 0, got {block}")
    return BlockNumber(block)
