"""What our sender's TicketBroker and the RoundsManager said on chain, decoded (spec 04, 05).

The chain watcher decodes logs into ``ChainEvent`` values, the ledger records them and matches
redemptions to signing records; the monitor and reconciliation read them back. Values are
checked when constructed and raise ``InvalidLedgerInput``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum

from clearinghouse.domain import limits
from clearinghouse.domain.ev import WIN_PROB_DENOMINATOR
from clearinghouse.domain.fields import check_bytes, check_int
from clearinghouse.errors import InvalidLedgerInput


class ChainEventKind(StrEnum):
    """The TicketBroker events of our sender and the RoundsManager's NewRound (spec 04);
    the values are the Solidity event names."""

    DEPOSIT_FUNDED = "DepositFunded"
    RESERVE_FUNDED = "ReserveFunded"
    RESERVE_CLAIMED = "ReserveClaimed"
    WINNING_TICKET_REDEEMED = "WinningTicketRedeemed"
    WINNING_TICKET_TRANSFER = "WinningTicketTransfer"
    UNLOCK = "Unlock"
    UNLOCK_CANCELLED = "UnlockCancelled"
    WITHDRAWAL = "Withdrawal"
    NEW_ROUND = "NewRound"


_UINT256_FIELDS = (
    "amount_wei",
    "face_value",
    "win_prob",
    "sender_nonce",
    "recipient_rand",
    "deposit_wei",
    "reserve_wei",
)


_ROUND_FIELDS = ("round_number", "start_round", "end_round")


EVENT_FIELDS: dict[ChainEventKind, frozenset[str]] = {
    ChainEventKind.DEPOSIT_FUNDED: frozenset({"amount_wei"}),
    ChainEventKind.RESERVE_FUNDED: frozenset({"amount_wei"}),
    ChainEventKind.RESERVE_CLAIMED: frozenset({"counterparty", "amount_wei"}),
    ChainEventKind.WINNING_TICKET_REDEEMED: frozenset(
        {
            "counterparty",
            "face_value",
            "win_prob",
            "sender_nonce",
            "recipient_rand",
            "aux_data",
            "ticket_hash",
        }
    ),
    ChainEventKind.WINNING_TICKET_TRANSFER: frozenset({"counterparty", "amount_wei"}),
    ChainEventKind.UNLOCK: frozenset({"start_round", "end_round"}),
    ChainEventKind.UNLOCK_CANCELLED: frozenset(),
    ChainEventKind.WITHDRAWAL: frozenset({"deposit_wei", "reserve_wei"}),
    ChainEventKind.NEW_ROUND: frozenset({"round_number", "round_block_hash"}),
}
"""The decoded values each kind carries; every other optional field of a ChainEvent is None."""


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block by number and header hash: where a chain cursor stands, or a checkpoint, as the
    chain client reads it and the ledger stores it."""

    number: int
    hash: bytes

    def __post_init__(self) -> None:
        check_int("number", self.number, 0, limits.BIGINT_MAX)
        check_bytes("hash", self.hash, 32)


@dataclass(frozen=True, slots=True)
class ChainEvent:
    """One log of a ChainEventKind, decoded: where it is on chain and what it says.

    ``counterparty`` is the recipient (WinningTicketRedeemed, WinningTicketTransfer) or the
    claimant (ReserveClaimed); ``amount_wei`` the amount of a funding, claim or transfer;
    ``deposit_wei``/``reserve_wei`` what a Withdrawal paid out; ``ticket_hash`` the hash the
    watcher recomputed from a redemption's fields (spec 05). Exactly the fields of
    ``EVENT_FIELDS[kind]`` are set. Amounts and ticket fields are uint256, rounds at most
    2**63 − 1 (BIGINT); anything else raises ``InvalidLedgerInput``.
    """

    kind: ChainEventKind
    block_number: int
    block_hash: bytes
    transaction_hash: bytes
    log_index: int
    counterparty: bytes | None = None
    amount_wei: int | None = None
    face_value: int | None = None
    win_prob: int | None = None
    sender_nonce: int | None = None
    recipient_rand: int | None = None
    aux_data: bytes | None = None
    ticket_hash: bytes | None = None
    start_round: int | None = None
    end_round: int | None = None
    deposit_wei: int | None = None
    reserve_wei: int | None = None
    round_number: int | None = None
    round_block_hash: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, ChainEventKind):
            raise InvalidLedgerInput(f"kind: expected a ChainEventKind, got {self.kind!r}")
        check_int("block_number", self.block_number, 0, limits.BIGINT_MAX)
        check_int("log_index", self.log_index, 0, limits.BIGINT_MAX)
        check_bytes("block_hash", self.block_hash, 32)
        check_bytes("transaction_hash", self.transaction_hash, 32)
        expected = EVENT_FIELDS[self.kind]
        present = {name for name in _OPTIONAL_EVENT_FIELDS if getattr(self, name) is not None}
        if present != expected:
            raise InvalidLedgerInput(
                f"{self.kind.value}: expected fields {sorted(expected)}, got {sorted(present)}"
            )
        for name in present.intersection(_UINT256_FIELDS):
            check_int(name, getattr(self, name), 0, WIN_PROB_DENOMINATOR)
        for name in present.intersection(_ROUND_FIELDS):
            check_int(name, getattr(self, name), 0, limits.BIGINT_MAX)
        for name, length in (("counterparty", 20), ("ticket_hash", 32), ("round_block_hash", 32)):
            if name in present:
                check_bytes(name, getattr(self, name), length)
        if self.aux_data is not None and (
            not isinstance(self.aux_data, bytes) or len(self.aux_data) > limits.AUX_DATA_BYTES_MAX
        ):
            raise InvalidLedgerInput(
                f"aux_data: expected at most {limits.AUX_DATA_BYTES_MAX} bytes, "
                f"got {self.aux_data!r}"
            )


_OPTIONAL_EVENT_FIELDS = tuple(field.name for field in fields(ChainEvent) if field.default is None)


@dataclass(frozen=True, slots=True)
class ChainCursor:
    """How far a chain watcher has recorded: every event up to and including this block."""

    name: str
    block_number: int
    block_hash: bytes
    updated_at: datetime

    @property
    def ref(self) -> BlockRef:
        return BlockRef(self.block_number, self.block_hash)


@dataclass(frozen=True, slots=True)
class Redemption:
    """A WinningTicketRedeemed of our sender, matched to its signing record when we have one.

    ``gateway_id`` and ``signing_record_id`` are None for a ticket we have no record of (spec
    05: a serious alarm, a key leak or a lost record). ``paid_wei`` is what the recipient got:
    face value from the deposit, or the deposit's rest plus a reserve share, or 0.
    """

    event_id: int
    ticket_hash: bytes
    recipient: bytes
    face_value: int
    win_prob: int
    sender_nonce: int
    paid_wei: int
    block_number: int
    transaction_hash: bytes
    log_index: int
    gateway_id: int | None
    signing_record_id: int | None


@dataclass(frozen=True, slots=True)
class GatewayPayout:
    """What orchestrators actually got for one gateway's tickets: the tickets redeemed, their
    face value and what was paid (less than face value when deposit and reserve ran short)."""

    gateway_id: int
    tickets_redeemed: int
    face_value_wei: int
    paid_wei: int


@dataclass(frozen=True, slots=True)
class SenderFlows:
    """Our sender's TicketBroker position as its recorded events tell it, in wei.

    Exact only when the cursor's scan began before the sender's first funding; the monitor
    compares it with getSenderInfo. ``withdraw_round`` is the latest Unlock's end round, 0 when
    none is in progress (UnlockCancelled; a Withdrawal leaves it set, as the contract does).
    """

    deposit_funded_wei: int
    reserve_funded_wei: int
    paid_wei: int
    reserve_claimed_wei: int
    withdrawn_deposit_wei: int
    withdrawn_reserve_wei: int
    tickets_redeemed: int
    withdraw_round: int

    @property
    def deposit_wei(self) -> int:
        """Funded − paid from the deposit (transfers less their reserve claims) − withdrawn."""
        paid_from_deposit = self.paid_wei - self.reserve_claimed_wei
        return self.deposit_funded_wei - paid_from_deposit - self.withdrawn_deposit_wei

    @property
    def reserve_wei(self) -> int:
        """Funded − claimed by orchestrators − withdrawn."""
        return self.reserve_funded_wei - self.reserve_claimed_wei - self.withdrawn_reserve_wei
