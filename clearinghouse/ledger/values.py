"""The ledger's own rows and results: frozen dataclasses and closed enums, no ORM.

The values every layer shares (session heads, signing calls, credit policies, chain events)
are in ``clearinghouse.domain``; these are what only the ledger's functions return: the stored
record of a signing call, accounts and postings, the books' verification report, the kill switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction

from clearinghouse.domain.chain_events import ChainCursor, ChainEvent, Redemption
from clearinghouse.domain.sessions import BillingType


class AccountKind(StrEnum):
    """Per-gateway accounts; a positive posting is a debit, a negative one a credit."""

    RECEIVABLE = "gateway_receivable"  # what the gateway owes (negative: prepaid credit)
    TICKET_LIABILITY = "ticket_liability"  # expected value of tickets signed for it
    PAYMENTS = "gateway_payments"  # money received from the gateway (top-ups)
    ADJUSTMENTS = "adjustments"  # the other side of manual corrections


class TransactionKind(StrEnum):
    SIGNING = "signing"
    TOP_UP = "top_up"
    ADJUSTMENT = "adjustment"


class RecordResult(StrEnum):
    """Outcome of recording a signing call, in precedence order."""

    CREATED = "created"
    EXISTS = "exists"  # an idempotent retry: the stored record is returned, nothing written


@dataclass(frozen=True, slots=True)
class SigningRecord:
    """The immutable record of one signing call, as stored."""

    id: int
    gateway_id: int
    api_key_id: int | None
    usage_subject: str | None
    request_id: str | None
    request_digest: bytes | None
    state_id: str
    manifest_id: str
    sequence_number: int
    app: str
    orchestrator_address: bytes
    recipient: bytes
    pipeline: str | None
    model_id: str | None
    capability: str | None
    billing_type: BillingType
    units: int
    price_per_unit: int
    pixels_per_unit: int
    fee: Fraction
    ticket_count: int
    face_value: int
    win_prob: int
    ev_signed: Fraction
    first_nonce: int
    last_nonce: int
    recipient_rand_hash: bytes
    creation_round: int
    creation_round_block_hash: bytes
    params_expiration_block: int
    rate_snapshot_id: int | None
    response: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    result: RecordResult
    record: SigningRecord


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    code: str
    kind: AccountKind
    gateway_id: int | None
    balance: Fraction


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    amount: Fraction


@dataclass(frozen=True, slots=True)
class LedgerTransaction:
    id: int
    kind: TransactionKind
    actor: str
    reason: str
    signing_record_id: int | None
    created_at: datetime
    postings: tuple[Posting, ...]


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """What ``verify_ledger`` checked and every id that failed a check."""

    transactions_checked: int
    accounts_checked: int
    unbalanced_transaction_ids: tuple[int, ...]
    mismatched_account_ids: tuple[int, ...]
    unbooked_record_ids: tuple[int, ...]  # signing records without their ledger transaction
    # Daily spend rows (credit control) not equal to their records, e.g. "gateway 3 2026-11-22".
    mismatched_spend_days: tuple[str, ...]
    # Exposure rollup rows not equal to their records, e.g. "gateway 3 recipient 0x… round 12".
    mismatched_exposure_rollups: tuple[str, ...] = ()
    # Hourly usage rows not equal to their records, e.g. "gateway 3 hour 2026-11-22T10:00:00+00:00 key …".
    mismatched_hourly_usage: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (
            self.unbalanced_transaction_ids
            or self.mismatched_account_ids
            or self.unbooked_record_ids
            or self.mismatched_spend_days
            or self.mismatched_exposure_rollups
            or self.mismatched_hourly_usage
        )


@dataclass(frozen=True, slots=True)
class KillSwitch:
    """Whether signing is stopped, globally (``gateway_id`` None) or for one gateway."""

    scope: str
    gateway_id: int | None
    engaged: bool
    actor: str
    reason: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class RecordedChainEvent:
    """A stored chain event: for a redemption, also what it paid (``paid_wei``, the amount of
    its WinningTicketTransfer, 0 when nothing was paid) and the signing record its ticket hash
    matched (None: no record of that ticket)."""

    id: int
    event: ChainEvent
    paid_wei: int | None
    signing_record_id: int | None
    observed_at: datetime


@dataclass(frozen=True, slots=True)
class AppliedBatch:
    """What ``apply_chain_events`` did: ``inserted`` new events, ``already_recorded`` events it
    had (a replay), the cursor it left, and the redemptions it inserted (matched or not)."""

    cursor: ChainCursor
    inserted: int
    already_recorded: int
    redemptions: tuple[Redemption, ...]
