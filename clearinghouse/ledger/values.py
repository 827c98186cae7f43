"""The values the ledger takes and returns: frozen dataclasses and closed enums, no ORM.

``SessionHead`` is the authoritative remote-signer state of one session (spec 02's
RemotePaymentState, keyed by StateID). ``SigningCall`` is what the signing service hands the
ledger after signing in memory; the ledger derives fee and EV signed from it exactly, so the
billed amounts cannot disagree with the tickets. Inputs are checked when constructed and raise
``InvalidLedgerInput`` saying what was expected and what was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from enum import StrEnum
from fractions import Fraction

from clearinghouse.ledger import limits
from clearinghouse.ledger.errors import InvalidLedgerInput
from clearinghouse.pm.ev import EV_DENOMINATOR, ticket_ev

# EV = faceValue × winProb / (2**256 − 1): winProb is a fraction of the uint256 range.
WIN_PROB_DENOMINATOR = EV_DENOMINATOR  # also the bound of a uint256 ticket field
# Sender nonces are uint32 in the state blob and on chain.
UINT32_MAX = 2**32 - 1


class GatewayStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class BillingType(StrEnum):
    """Spec 02's ``type``: the unit a session is billed in."""

    PIXELS = ""
    LV2V = "lv2v"
    LIVE = "live"
    FIXED = "fixed"


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


class CreditMode(StrEnum):
    """How a gateway pays: funds first (prepaid), or owes up to a credit limit (credit)."""

    PREPAID = "prepaid"
    CREDIT = "credit"


class QuotaPeriod(StrEnum):
    """The calendar period (UTC) a spend quota applies to."""

    MONTH = "month"
    DAY = "day"


def period_days(period: QuotaPeriod, now: datetime) -> tuple[date, date]:
    """The UTC days [first, after last) of the calendar ``period`` that contains ``now``."""
    today = now.astimezone(UTC).date()
    if period is QuotaPeriod.DAY:
        return today, date.fromordinal(today.toordinal() + 1)
    first = today.replace(day=1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, after


class RecordResult(StrEnum):
    """Outcome of recording a signing call, in precedence order."""

    CREATED = "created"
    EXISTS = "exists"  # an idempotent retry: the stored record is returned, nothing written


@dataclass(frozen=True, slots=True)
class Gateway:
    id: int
    name: str
    status: GatewayStatus
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: int
    gateway_id: int
    prefix: str
    usage_subject: str | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class AuthenticatedKey:
    """A live API key and the gateway it belongs to."""

    key: ApiKey
    gateway: Gateway


@dataclass(frozen=True, slots=True)
class SessionHead:
    """The authoritative state of one remote-signer session after its latest call.

    Spec 02's RemotePaymentState field by field, except: ``pm_session_id`` is the
    recipientRandHash as 32 bytes (None for Go's ""), ``last_update_ns`` is LastUpdate in
    nanoseconds since the epoch (None before the first payment), ``billing_type`` is Type,
    and ``state_digest`` is a digest of the signed state blob this head was sent out as.
    SequenceNumber is bounded by BIGINT (2**63 − 1), not uint64: we number states from 0.
    """

    state_id: str
    gateway_id: int
    orchestrator_address: bytes
    app: str
    billing_type: BillingType
    manifest_id: str
    sequence_number: int
    sender_nonce: int
    pm_session_id: bytes | None
    balance: Fraction
    initial_price_per_unit: int
    initial_pixels_per_unit: int
    last_update_ns: int | None
    auth_expiry: int
    auth_id: str
    state_digest: bytes

    def __post_init__(self) -> None:
        _check_text("state_id", self.state_id, limits.STATE_ID_LENGTH_MAX, empty_ok=False)
        _check_text("app", self.app, limits.TEXT_ID_LENGTH_MAX)
        _check_text("manifest_id", self.manifest_id, limits.TEXT_ID_LENGTH_MAX)
        _check_text("auth_id", self.auth_id, limits.LONG_TEXT_ID_LENGTH_MAX)
        _check_int("sequence_number", self.sequence_number, 0, limits.BIGINT_MAX)
        _check_int("sender_nonce", self.sender_nonce, 0, UINT32_MAX)
        _check_int("initial_price_per_unit", self.initial_price_per_unit, 1, limits.BIGINT_MAX)
        _check_int("initial_pixels_per_unit", self.initial_pixels_per_unit, 1, limits.BIGINT_MAX)
        _check_int("auth_expiry", self.auth_expiry, -limits.BIGINT_MAX - 1, limits.BIGINT_MAX)
        if self.last_update_ns is not None:
            _check_int("last_update_ns", self.last_update_ns, 0, limits.BIGINT_MAX)
        if not isinstance(self.balance, Fraction):
            raise InvalidLedgerInput(f"balance: expected a Fraction, got {self.balance!r}")

    @property
    def initial_price(self) -> Fraction:
        """Wei per unit at the session's start; every fee of the session uses it."""
        return Fraction(self.initial_price_per_unit, self.initial_pixels_per_unit)


@dataclass(frozen=True, slots=True)
class SignedTicket:
    recipient_rand_hash: bytes
    sender_nonce: int
    ticket_hash: bytes


@dataclass(frozen=True, slots=True)
class SigningCall:
    """One signing call to record: the tickets signed and the session head they lead to.

    Nonces must be consecutive, all for one recipientRandHash equal to the new head's
    PMSessionID, and end at the head's sender nonce.
    """

    gateway_id: int
    api_key_id: int | None
    usage_subject: str | None
    request_id: str | None
    request_digest: bytes | None
    session: SessionHead
    recipient: bytes
    pipeline: str | None
    model_id: str | None
    capability: str | None
    units: int
    price_per_unit: int
    pixels_per_unit: int
    face_value: int
    win_prob: int
    tickets: tuple[SignedTicket, ...]
    creation_round: int
    creation_round_block_hash: bytes
    params_expiration_block: int
    rate_snapshot_id: int | None
    response: bytes
    signed_at: datetime | None = None
    """The call's one clock reading, stamped on its record and rows; None: the batch's."""
    _ev_signed: Fraction = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.signed_at is not None and self.signed_at.tzinfo is None:
            raise InvalidLedgerInput(f"signed_at: expected a timezone-aware datetime, got {self.signed_at!r}")
        if self.gateway_id != self.session.gateway_id:
            raise InvalidLedgerInput(
                f"session belongs to gateway {self.session.gateway_id}, "
                f"call is for gateway {self.gateway_id}"
            )
        _check_text("request_id", self.request_id, limits.TEXT_ID_LENGTH_MAX, none_ok=True)
        _check_text("usage_subject", self.usage_subject, limits.TEXT_ID_LENGTH_MAX, none_ok=True)
        _check_int("units", self.units, 1, limits.BIGINT_MAX)
        _check_int("price_per_unit", self.price_per_unit, 1, WIN_PROB_DENOMINATOR)
        _check_int("pixels_per_unit", self.pixels_per_unit, 1, WIN_PROB_DENOMINATOR)
        _check_int("face_value", self.face_value, 1, WIN_PROB_DENOMINATOR)
        _check_int("win_prob", self.win_prob, 1, WIN_PROB_DENOMINATOR)
        _check_int("creation_round", self.creation_round, 0, limits.BIGINT_MAX)
        _check_int("params_expiration_block", self.params_expiration_block, 0, limits.BIGINT_MAX)
        if len(self.response) > limits.RESPONSE_BYTES_MAX:
            raise InvalidLedgerInput(
                f"response: expected at most {limits.RESPONSE_BYTES_MAX} bytes, "
                f"got {len(self.response)}"
            )
        _check_tickets(self.tickets, self.session)
        # Computed once: the committer reads it several times per call (checks, rows, sums).
        object.__setattr__(self, "_ev_signed", len(self.tickets) * ticket_ev(self.face_value, self.win_prob))

    @property
    def fee(self) -> Fraction:
        """Spec 02 step 7: the session's initial price × units, exact wei."""
        return self.session.initial_price * self.units

    @property
    def ev_signed(self) -> Fraction:
        """Number of tickets × faceValue × winProb / (2**256 − 1), exact wei."""
        return self._ev_signed


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
class CreditPolicy:
    """A gateway's credit control, as set by an operator (``actor``, ``reason``, ``changed_at``).

    ``credit_limit_wei`` is what a credit gateway may owe (0 for prepaid: it may spend only its
    funds). ``quota_wei`` caps the EV signed per ``quota_period`` (None: no quota);
    ``subject_quota_wei`` caps each usage subject's EV signed per period unless a
    ``SubjectQuota`` overrides it. ``changed_at`` is None for the default of a gateway that
    never had a policy set.
    """

    gateway_id: int
    mode: CreditMode
    credit_limit_wei: int
    quota_wei: int | None
    quota_period: QuotaPeriod
    subject_quota_wei: int | None
    actor: str
    reason: str
    changed_at: datetime | None

    def __post_init__(self) -> None:
        if not isinstance(self.mode, CreditMode) or not isinstance(self.quota_period, QuotaPeriod):
            raise InvalidLedgerInput(
                f"mode, quota_period: expected a CreditMode and a QuotaPeriod, "
                f"got {self.mode!r}, {self.quota_period!r}"
            )
        _check_int("credit_limit_wei", self.credit_limit_wei, 0, WIN_PROB_DENOMINATOR)
        if self.mode is CreditMode.PREPAID and self.credit_limit_wei != 0:
            raise InvalidLedgerInput(
                f"credit_limit_wei: a prepaid gateway has no credit, got {self.credit_limit_wei}"
            )
        for name in ("quota_wei", "subject_quota_wei"):
            value = getattr(self, name)
            if value is not None:
                _check_int(name, value, 0, WIN_PROB_DENOMINATOR)
        check_text("actor", self.actor, limits.ACTOR_LENGTH_MAX)
        check_text("reason", self.reason, limits.REASON_LENGTH_MAX)


@dataclass(frozen=True, slots=True)
class SubjectQuota:
    """An override of the default subject quota for one usage subject of a gateway.

    ``quota_wei`` None removes the override (the policy's ``subject_quota_wei`` applies).
    """

    gateway_id: int
    usage_subject: str
    quota_wei: int | None
    actor: str
    reason: str
    changed_at: datetime

    def __post_init__(self) -> None:
        check_text("usage_subject", self.usage_subject, limits.TEXT_ID_LENGTH_MAX)
        if self.quota_wei is not None:
            _check_int("quota_wei", self.quota_wei, 0, WIN_PROB_DENOMINATOR)
        check_text("actor", self.actor, limits.ACTOR_LENGTH_MAX)
        check_text("reason", self.reason, limits.REASON_LENGTH_MAX)


@dataclass(frozen=True, slots=True)
class SpendSummary:
    """Where a gateway stands against its credit control at ``now`` (for the CLI and API).

    ``owed`` is the receivable balance (negative: prepaid funds left); ``available`` is what
    it may still sign for before its balance or credit limit refuses; ``quota_left`` is None
    without a quota. Amounts are exact wei.
    """

    gateway_id: int
    policy: CreditPolicy
    owed: Fraction
    available: Fraction
    period_start: date
    period_spend: Fraction
    quota_left: Fraction | None


def check_text(name: str, value: str, length_max: int) -> None:
    """Raise ``InvalidLedgerInput`` unless ``value`` is a str of 1..``length_max`` characters."""
    _check_text(name, value, length_max, empty_ok=False)


def _check_text(
    name: str, value: str | None, length_max: int, *, empty_ok: bool = True, none_ok: bool = False
) -> None:
    if value is None and none_ok:
        return
    if not isinstance(value, str):
        raise InvalidLedgerInput(f"{name}: expected a str, got {type(value).__name__}")
    length_min = 0 if empty_ok else 1
    if not length_min <= len(value) <= length_max:
        raise InvalidLedgerInput(
            f"{name}: expected {length_min}..{length_max} characters, got {len(value)}"
        )


def _check_int(name: str, value: int, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise InvalidLedgerInput(f"{name}: expected an int in [{low}, {high}], got {value!r}")


def _check_tickets(tickets: tuple[SignedTicket, ...], head: SessionHead) -> None:
    count = len(tickets)
    if not 1 <= count <= limits.TICKETS_PER_RECORD_MAX:
        raise InvalidLedgerInput(
            f"tickets: expected 1..{limits.TICKETS_PER_RECORD_MAX}, got {count}"
        )
    first = tickets[0].sender_nonce
    nonces = [t.sender_nonce for t in tickets]
    if nonces != list(range(first, first + count)) or first < 1:
        raise InvalidLedgerInput(f"tickets: expected consecutive nonces from >= 1, got {nonces}")
    if nonces[-1] != head.sender_nonce:
        raise InvalidLedgerInput(
            f"tickets: expected the last nonce to equal the session's sender nonce "
            f"{head.sender_nonce}, got {nonces[-1]}"
        )
    if any(not isinstance(t.ticket_hash, bytes) or len(t.ticket_hash) != 32 for t in tickets):
        raise InvalidLedgerInput("tickets: expected every ticket hash to be 32 bytes")
    hashes = {t.recipient_rand_hash for t in tickets}
    if hashes != {head.pm_session_id}:
        raise InvalidLedgerInput(
            "tickets: expected every recipientRandHash to equal the session's PMSessionID"
        )


# ---- chain events (recorded by the chain watcher; see chain_events.py) ------------------------


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
    """A block by number and header hash: where a chain cursor stands, or a checkpoint.

    The ledger's own value (it takes no chain-adapter types); the chain client's
    ``clearinghouse.chain.client.BlockRef`` has the same two fields.
    """

    number: int
    hash: bytes

    def __post_init__(self) -> None:
        _check_int("number", self.number, 0, limits.BIGINT_MAX)
        _check_bytes("hash", self.hash, 32)


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
        _check_int("block_number", self.block_number, 0, limits.BIGINT_MAX)
        _check_int("log_index", self.log_index, 0, limits.BIGINT_MAX)
        _check_bytes("block_hash", self.block_hash, 32)
        _check_bytes("transaction_hash", self.transaction_hash, 32)
        expected = EVENT_FIELDS[self.kind]
        present = {name for name in _OPTIONAL_EVENT_FIELDS if getattr(self, name) is not None}
        if present != expected:
            raise InvalidLedgerInput(
                f"{self.kind.value}: expected fields {sorted(expected)}, got {sorted(present)}"
            )
        for name in present.intersection(_UINT256_FIELDS):
            _check_int(name, getattr(self, name), 0, WIN_PROB_DENOMINATOR)
        for name in present.intersection(_ROUND_FIELDS):
            _check_int(name, getattr(self, name), 0, limits.BIGINT_MAX)
        for name, length in (("counterparty", 20), ("ticket_hash", 32), ("round_block_hash", 32)):
            if name in present:
                _check_bytes(name, getattr(self, name), length)
        if self.aux_data is not None and (
            not isinstance(self.aux_data, bytes) or len(self.aux_data) > limits.AUX_DATA_BYTES_MAX
        ):
            raise InvalidLedgerInput(
                f"aux_data: expected at most {limits.AUX_DATA_BYTES_MAX} bytes, "
                f"got {self.aux_data!r}"
            )


_OPTIONAL_EVENT_FIELDS = tuple(field.name for field in fields(ChainEvent) if field.default is None)


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
class AppliedBatch:
    """What ``apply_chain_events`` did: ``inserted`` new events, ``already_recorded`` events it
    had (a replay), the cursor it left, and the redemptions it inserted (matched or not)."""

    cursor: ChainCursor
    inserted: int
    already_recorded: int
    redemptions: tuple[Redemption, ...]


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


def _check_bytes(name: str, value: object, length: int) -> None:
    if not isinstance(value, bytes) or len(value) != length:
        raise InvalidLedgerInput(f"{name}: expected {length} bytes, got {value!r}")
