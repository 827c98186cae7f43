"""The chain watcher: records our sender's TicketBroker events and NewRound in the ledger.

``ChainWatcher(client, db, sender, …)`` scans the chain in block ranges with eth_getLogs —
DepositFunded, ReserveFunded, ReserveClaimed, WinningTicketRedeemed, WinningTicketTransfer,
Unlock, UnlockCancelled and Withdrawal of the TicketBroker with topic1 = our sender, and every
NewRound of the RoundsManager — and records each range in one ledger transaction
(``ledger.apply_chain_events``), which also moves its cursor (``ticket_broker:<sender>``). So it
resumes where it stopped after a restart and records nothing twice.

- **Confirmations**: a block is scanned once ``confirmations`` blocks are mined on top of it.
- **Redemptions** get their ticket hash recomputed from the event (spec 05), which the ledger
  matches to the signing record, and so to the gateway. One that matches nothing is logged at
  ERROR (a key leak or a lost record) and recorded; the watcher goes on.
- **Reorgs**: each poll first checks the cursor's block hash against the chain. On a mismatch
  it walks the stored checkpoints newest first to the first one still on the chain, undoes
  every event above it (``ledger.rewind_chain_events``) and scans again from there; when none
  matches, it starts over from ``start_block``.
- **Lies**: the client refuses implausible heads and logs outside the range asked for
  (client.py); an event whose amount exceeds limits.WEI_SUPPLY_MAX is refused here. Either
  fails the whole range before anything of it is recorded, like an outage.
- **Outages**: ``start()`` runs a thread that polls every ``poll_s`` and, after a ChainError or
  a LedgerError, retries with ``view.backoff_s``; ``status()`` says how far behind it is and
  why (for the health model). Any other exception is a bug: it is logged and ends the thread,
  and ``status()`` says so.
- **One writer**: on PostgreSQL the thread holds ``ledger.ChainWriterLock`` (an advisory lock)
  while it writes, so a second daemon on the same database stays on standby; on SQLite the
  cursor compare-and-set of ``apply_chain_events`` keeps two writers from recording a range twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_typing import ABIEvent
from eth_utils.abi import event_abi_to_log_topic

from clearinghouse import ledger, pm
from clearinghouse.chain.artifacts import load_artifact
from clearinghouse.chain.client import (
    IMPLAUSIBLE,
    Address,
    ChainClient,
    RawLog,
    checksum_address,
)
from clearinghouse.chain.errors import (
    ChainError,
    ContractMismatch,
    ImplausibleChainData,
)
from clearinghouse.chain.limits import (
    BATCH_BLOCKS_DEFAULT,
    CONFIRMATIONS_DEFAULT,
    CONFIRMATIONS_MAX,
    LOGS_BLOCKS_MAX,
    WATCH_POLL_S_DEFAULT,
    WEI_SUPPLY_MAX,
)
from clearinghouse.chain.redact import shortened
from clearinghouse.chain.view import BackgroundThread, backoff_s
from clearinghouse.domain.chain_events import (
    BlockRef,
    ChainCursor,
    ChainEvent,
    ChainEventKind,
    Redemption,
)
from clearinghouse.domain.money import HASH_BYTES
from clearinghouse.errors import LedgerError

logger = logging.getLogger(__name__)

Kind = ChainEventKind

BROKER_KINDS = (
    Kind.DEPOSIT_FUNDED,
    Kind.RESERVE_FUNDED,
    Kind.RESERVE_CLAIMED,
    Kind.WINNING_TICKET_REDEEMED,
    Kind.WINNING_TICKET_TRANSFER,
    Kind.UNLOCK,
    Kind.UNLOCK_CANCELLED,
    Kind.WITHDRAWAL,
)
"""TicketBroker events recorded; in each the sender (or reserve holder) is the first topic."""

ARGUMENTS: dict[Kind, dict[str, str]] = {
    Kind.DEPOSIT_FUNDED: {"amount": "amount_wei"},
    Kind.RESERVE_FUNDED: {"amount": "amount_wei"},
    Kind.RESERVE_CLAIMED: {"claimant": "counterparty", "amount": "amount_wei"},
    Kind.WINNING_TICKET_REDEEMED: {
        "recipient": "counterparty",
        "faceValue": "face_value",
        "winProb": "win_prob",
        "senderNonce": "sender_nonce",
        "recipientRand": "recipient_rand",
        "auxData": "aux_data",
    },
    Kind.WINNING_TICKET_TRANSFER: {"recipient": "counterparty", "amount": "amount_wei"},
    Kind.UNLOCK: {"startRound": "start_round", "endRound": "end_round"},
    Kind.UNLOCK_CANCELLED: {},
    Kind.WITHDRAWAL: {"deposit": "deposit_wei", "reserve": "reserve_wei"},
    Kind.NEW_ROUND: {"round": "round_number", "blockHash": "round_block_hash"},
}
"""Event argument → ChainEvent field; the sender topic is implied by the cursor."""

WEI_FIELDS = ("amount_wei", "deposit_wei", "reserve_wei")
"""ChainEvent fields that move ETH: none can exceed the supply (a ticket's face value can, so it
is not checked: the contract pays at most the deposit and the reserve)."""


class WatcherState(StrEnum):
    """What the watcher thread is doing."""

    IDLE = "idle"  # not started
    RUNNING = "running"  # polling (possibly failing: see consecutive_failures)
    STANDBY = "standby"  # another process holds the writer lock; retrying every poll_s
    STOPPED = "stopped"
    CRASHED = "crashed"  # a bug ended the thread (logged); nothing is recorded any more


@dataclass(frozen=True, slots=True)
class PollResult:
    """What one poll did. ``cursor_block`` is None while nothing is recorded; ``caught_up``
    when the cursor reached the head less the confirmations."""

    head_block: int
    cursor_block: int | None
    applied: int
    undone: int
    caught_up: bool


@dataclass(frozen=True, slots=True)
class WatcherStatus:
    """The watcher as the health model sees it.

    ``lag_blocks`` is how far the cursor is behind the head less the confirmations (0: caught
    up); ``caught_up_age_s`` the seconds since it last was, so how stale payouts and exposure
    may be; ``last_success_age_s`` the seconds since a poll last succeeded. None: not yet
    known. ``last_error`` is the latest failure (RPC URL redacted), kept after a recovery.
    """

    state: WatcherState
    cursor_block: int | None
    head_block: int | None
    lag_blocks: int | None
    last_success_age_s: float | None
    caught_up_age_s: float | None
    consecutive_failures: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class EventAbi:
    """How to decode one event's log: its kind and its arguments' names and ABI types."""

    kind: Kind
    topics: tuple[tuple[str, str], ...]  # (name, type) of the indexed arguments, topic1 on
    data: tuple[tuple[str, str], ...]  # (name, type) of the others, ABI-encoded in the data


class ChainWatcher:
    """Records one sender's chain events in the ledger; ``poll_once`` by hand or ``start()``."""

    def __init__(
        self,
        client: ChainClient,
        db: ledger.Database,
        sender: Address,
        *,
        start_block: int,
        confirmations: int = CONFIRMATIONS_DEFAULT,
        poll_s: float = WATCH_POLL_S_DEFAULT,
        batch_blocks_max: int = BATCH_BLOCKS_DEFAULT,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        """No I/O but reading the contract ABIs. ``start_block`` is the first block scanned when
        there is no cursor yet: at or before the sender's first funding for exact totals.

        Raises ValueError for a bad sender, a negative start_block, confirmations outside
        0..CONFIRMATIONS_MAX, a non-positive poll_s or batch_blocks_max outside 1..LOGS_BLOCKS_MAX.
        """
        if not 0 <= confirmations <= CONFIRMATIONS_MAX:
            raise ValueError(f"confirmations must be in 0..{CONFIRMATIONS_MAX}, got {confirmations}")
        if not 1 <= batch_blocks_max <= LOGS_BLOCKS_MAX:
            raise ValueError(f"batch_blocks_max must be in 1..{LOGS_BLOCKS_MAX}, got {batch_blocks_max}")
        if poll_s <= 0 or start_block < 0:
            raise ValueError(f"need poll_s > 0 and start_block >= 0, got {poll_s} and {start_block}")
        self.sender = checksum_address(sender)
        self.cursor_name = f"ticket_broker:{self.sender}"
        self.start_block = start_block
        self.confirmations = confirmations
        self.poll_s = poll_s
        self.batch_blocks_max = batch_blocks_max
        self._client = client
        self._db = db
        self._clock_s = clock_s
        self._sender_bytes = bytes.fromhex(self.sender[2:])
        self._broker_events = event_abis("TicketBroker", BROKER_KINDS)
        self._round_events = event_abis("RoundsManager", (Kind.NEW_ROUND,))
        self._guard = threading.Lock()
        self._state = WatcherState.IDLE
        self._head: int | None = None
        self._cursor: int | None = None
        self._last_success_s: float | None = None
        self._caught_up_s: float | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._background = BackgroundThread("chain-watcher", self._run)

    # ---- one poll -----------------------------------------------------------------------------

    def poll_once(self) -> PollResult:
        """Undo a reorg if the cursor's block left the chain, then record the next range of at
        most batch_blocks_max confirmed blocks. Raises ChainError when the RPC fails and
        LedgerError when the database does (or ``ChainCursorMoved``: another writer)."""
        head = self._client.block_ref()
        cursor = ledger.chain_cursor(self._db, self.cursor_name)
        if cursor is not None and cursor.block_number > head.number:
            # A node behind a load balancer, or a chain shortened by a reorg: wait until the
            # chain reaches our cursor again, then the hash check below tells which.
            logger.warning("chain head %d is below our cursor %d; waiting", head.number, cursor.block_number)
            return self._succeeded(PollResult(head.number, cursor.block_number, 0, 0, caught_up=False))
        undone = 0
        if cursor is not None:
            undone, cursor = self._undo_reorg_under(cursor)
        first = self.start_block if cursor is None else cursor.block_number + 1
        safe = head.number - self.confirmations
        last = min(safe, first + self.batch_blocks_max - 1)
        if last < first:
            return self._succeeded(
                PollResult(head.number, None if cursor is None else cursor.block_number, 0, undone, caught_up=True)
            )
        # The range's last header is read before its logs: if a reorg lands in between, the
        # cursor keeps the old branch's hash and the next poll undoes and rescans the range.
        upto = self._client.block_ref(last)
        batch = ledger.apply_chain_events(
            self._db,
            self.cursor_name,
            self._events(first, last),
            upto=upto,
            previous=None if cursor is None else cursor.ref,
        )
        for redemption in batch.redemptions:
            if redemption.signing_record_id is None:
                _log_unmatched(redemption)
        return self._succeeded(PollResult(head.number, last, batch.inserted, undone, caught_up=last == safe))

    def _undo_reorg_under(self, cursor: ChainCursor) -> tuple[int, ChainCursor | None]:
        """When the cursor's block left the chain, rewind to the newest checkpoint still on it
        (or to nothing). Returns the events undone and the cursor now stored."""
        now_there = self._client.block_ref(cursor.block_number)
        if now_there.hash == cursor.block_hash:
            return 0, cursor
        fork: BlockRef | None = None
        for checkpoint in ledger.checkpoints(self._db, self.cursor_name):
            if checkpoint.number < cursor.block_number and self._on_chain(checkpoint):
                fork = checkpoint
                break
        undone = ledger.rewind_chain_events(self._db, self.cursor_name, fork)
        logger.warning(
            "reorg: undid %d events above block %d (block %d is now 0x%s, we had recorded 0x%s)",
            undone,
            self.start_block - 1 if fork is None else fork.number,
            cursor.block_number,
            now_there.hash.hex(),
            cursor.block_hash.hex(),
        )
        return undone, ledger.chain_cursor(self._db, self.cursor_name)

    def _on_chain(self, checkpoint: BlockRef) -> bool:
        return self._client.block_ref(checkpoint.number).hash == checkpoint.hash

    def _events(self, first: int, last: int) -> list[ChainEvent]:
        addresses = self._client.contract_addresses()
        sender_topic = bytes(HASH_BYTES - len(self._sender_bytes)) + self._sender_bytes
        broker_logs = self._client.logs(
            addresses.ticket_broker, [list(self._broker_events), sender_topic], first, last
        )
        round_logs = self._client.logs(addresses.rounds_manager, [list(self._round_events)], first, last)
        for log in broker_logs:
            if log.topics[1:2] != (sender_topic,):  # an RPC that ignored the filter
                raise ContractMismatch(
                    f"log {log.log_index} of block {log.block_number} is not {self.sender}'s"
                )
        return [
            *(self._decoded(self._broker_events, log) for log in broker_logs),
            *(self._decoded(self._round_events, log) for log in round_logs),
        ]

    def _decoded(self, abis: dict[bytes, EventAbi], log: RawLog) -> ChainEvent:
        abi = abis.get(log.topics[0]) if log.topics else None
        if abi is None or len(log.topics) != 1 + len(abi.topics):
            raise ContractMismatch(f"log {log.log_index} of block {log.block_number} is not an event we asked for")
        try:
            arguments = _arguments(abi, log)
        except DecodingError as exc:
            raise ContractMismatch(
                f"{abi.kind.value} log {log.log_index} of block {log.block_number} does not decode: {exc}"
            ) from None
        fields = {field: arguments[name] for name, field in ARGUMENTS[abi.kind].items()}
        too_large = {field: fields[field] for field in WEI_FIELDS if fields.get(field, 0) > WEI_SUPPLY_MAX}
        if too_large:
            raise ImplausibleChainData(
                f"{IMPLAUSIBLE}: {abi.kind.value} log {log.log_index} of block {log.block_number} moves "
                f"{too_large} wei, more than the {WEI_SUPPLY_MAX // 10**18} ETH bound on all the ETH there is"
            )
        if abi.kind is Kind.WINNING_TICKET_REDEEMED:
            fields["ticket_hash"] = self._ticket_hash(fields)
        return ChainEvent(
            kind=abi.kind,
            block_number=log.block_number,
            block_hash=log.block_hash,
            transaction_hash=log.transaction_hash,
            log_index=log.log_index,
            **fields,
        )

    def _ticket_hash(self, fields: dict[str, Any]) -> bytes:
        """The TicketBroker's getTicketHash of the redeemed ticket: keccak256 of recipient ‖
        sender ‖ faceValue ‖ winProb ‖ senderNonce ‖ recipientRandHash ‖ auxData (spec 01),
        with recipientRandHash = keccak256(recipientRand as 32 bytes). The same bytes
        pm.ticket_hash hashes for the tickets we sign, but for any field values: a ticket we
        did not sign (a nonce past uint32, odd auxData) still gets the hash the chain used."""
        recipient_rand_hash = pm.keccak256(fields["recipient_rand"].to_bytes(32, "big"))
        preimage = b"".join(
            (
                fields["counterparty"],
                self._sender_bytes,
                fields["face_value"].to_bytes(32, "big"),
                fields["win_prob"].to_bytes(32, "big"),
                fields["sender_nonce"].to_bytes(32, "big"),
                recipient_rand_hash,
                fields["aux_data"],
            )
        )
        return pm.keccak256(preimage)

    # ---- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start polling in a thread (first poll at once). Raises RuntimeError if started twice."""
        self._background.start()

    def stop(self) -> bool:
        """Stop polling and wait up to view.STOP_JOIN_TIMEOUT_S; True when the thread ended."""
        return self._background.stop()

    def status(self) -> WatcherStatus:
        """A snapshot of how the watcher is doing (no I/O)."""
        with self._guard:
            now_s = self._clock_s()
            lag = None
            if self._head is not None:
                recorded = self.start_block - 1 if self._cursor is None else self._cursor
                lag = max(0, self._head - self.confirmations - recorded)
            return WatcherStatus(
                state=self._state,
                cursor_block=self._cursor,
                head_block=self._head,
                lag_blocks=lag,
                last_success_age_s=None if self._last_success_s is None else now_s - self._last_success_s,
                caught_up_age_s=None if self._caught_up_s is None else now_s - self._caught_up_s,
                consecutive_failures=self._failures,
                last_error=self._last_error,
            )

    def _run(self) -> None:
        writer = ledger.ChainWriterLock(self._db)
        try:
            stopping = self._background.stopping
            while not stopping.is_set():
                stopping.wait(self._step(writer))
        except Exception:  # a bug: stop recording rather than record wrongly; status says so
            logger.exception("chain watcher crashed; chain events are no longer recorded")
            self._set_state(WatcherState.CRASHED, "chain watcher crashed (see log)")
        finally:
            writer.release()
        self._set_state(WatcherState.STOPPED)

    def _step(self, writer: ledger.ChainWriterLock) -> float:
        """One turn of the thread; returns the seconds to wait before the next."""
        try:
            if not writer.try_acquire():
                self._set_state(WatcherState.STANDBY)
                return self.poll_s
            self._set_state(WatcherState.RUNNING)
            result = self.poll_once()
        except (ChainError, LedgerError) as exc:
            failures = self._failed(exc)
            wait_s = backoff_s(failures, self.poll_s)
            log = logger.warning if failures == 1 else logger.debug
            log("chain watcher poll failed (attempt %d, next in %.2f s): %s", failures, wait_s, self._last_error)
            return wait_s
        # Catching up: go on at once, one batch at a time, checking for stop() in between.
        return self.poll_s if result.caught_up else 0.0

    def _succeeded(self, result: PollResult) -> PollResult:
        with self._guard:
            if self._failures:
                logger.warning("chain watcher polled again after %d failed attempts", self._failures)
            now_s = self._clock_s()
            self._head, self._cursor = result.head_block, result.cursor_block
            self._last_success_s, self._failures = now_s, 0
            if result.caught_up:
                self._caught_up_s = now_s
        return result

    def _failed(self, exc: Exception) -> int:
        text = str(exc)  # ChainError and LedgerError messages hold no credentials
        with self._guard:
            self._failures += 1
            self._last_error = shortened(text)
            return self._failures

    def _set_state(self, state: WatcherState, error: str | None = None) -> None:
        with self._guard:
            if self._state is not WatcherState.CRASHED:
                self._state = state
            if error is not None:
                self._last_error = error


def _log_unmatched(redemption: Redemption) -> None:
    logger.error(
        "redeemed ticket 0x%s has no signing record: key leak or lost record "
        "(block %d, transaction 0x%s, recipient 0x%s, face value %d wei, paid %d wei)",
        redemption.ticket_hash.hex(),
        redemption.block_number,
        redemption.transaction_hash.hex(),
        redemption.recipient.hex(),
        redemption.face_value,
        redemption.paid_wei,
    )


def event_abis(contract: str, kinds: Iterable[Kind]) -> dict[bytes, EventAbi]:
    """topic0 → how to decode it, for the events ``kinds`` of ``contract``'s ABI. Raises
    ArtifactError when the artifact is missing, ContractMismatch when it lacks an event."""
    found: dict[bytes, EventAbi] = {}
    wanted = {kind.value: kind for kind in kinds}
    for item in load_artifact(contract).abi:
        if item.get("type") != "event" or item.get("name") not in wanted:
            continue
        inputs = item["inputs"]
        topic0 = bytes(event_abi_to_log_topic(cast(ABIEvent, item)))  # the artifact's JSON, checked by name
        found[topic0] = EventAbi(
            kind=wanted.pop(item["name"]),
            topics=tuple((i["name"], i["type"]) for i in inputs if i["indexed"]),
            data=tuple((i["name"], i["type"]) for i in inputs if not i["indexed"]),
        )
    if wanted:
        raise ContractMismatch(f"{contract}'s ABI has no event {sorted(wanted)}")
    return found


def _arguments(abi: EventAbi, log: RawLog) -> dict[str, Any]:
    """The log's arguments by name, addresses as 20 raw bytes. Raises DecodingError."""
    decoded = [
        (name, type_, abi_decode([type_], topic)[0])
        for (name, type_), topic in zip(abi.topics, log.topics[1:], strict=True)
    ]
    data = abi_decode([type_ for _, type_ in abi.data], log.data)
    decoded += [(name, type_, value) for (name, type_), value in zip(abi.data, data, strict=True)]
    return {name: bytes.fromhex(value[2:]) if type_ == "address" else value for name, type_, value in decoded}
