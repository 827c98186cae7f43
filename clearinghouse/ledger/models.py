"""The ledger's tables as SQLAlchemy 2.0 typed declarative models (private to this package).

Tables: gateways, api_keys, payment_sessions (authoritative remote-signer state by StateID),
signing_records (one immutable row per signing call), signed_tickets (one row per ticket),
accounts / ledger_transactions / postings (double entry), kill_switches, and credit control:
credit_policies and subject_quotas (append-only: the newest row per gateway or subject is in
force, the older ones are the audit trail), gateway_daily_spends and subject_daily_spends (EV
signed per UTC day, kept by ``record`` so a quota check reads at most a month of rows), and
what the chain watcher saw: chain_events (our sender's TicketBroker logs and NewRound, one row
per log, redemptions matched to their signing record), chain_cursors (how far each watcher got)
and chain_checkpoints (its recent block refs, to find the fork point after a reorg); exposure_rollups
and hourly_usage (kept by ``record``: outstanding exposure, and usage per hour and line key);
first_calls (sessions' first calls by request, so a retried first call gets its stored answer);
and deposit_samples (the deposit and reserve over time, for the operator dashboard). The pricing
and invoicing tables are in ``billing_rows``, the settlement, identity and outbox tables in
``settlement_models``, ``identity_rows`` and ``outbox_rows``; all of them are imported at the end
of this module, so they are on ``Base.metadata`` wherever the models are.

Money columns are exact: wei as NUMERIC(78,0), rationals as numerator/denominator pairs of
NUMERIC(180,0) (see ``limits.RATIONAL_DIGITS_MAX`` for why 78 digits are not enough for a
rational), never floats. Every rule the code enforces is backed by a constraint, and every
constraint has a fixed name from ``NAMING_CONVENTION`` so migrations can refer to it.
These classes never leave the package: the repository modules return frozen dataclasses.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from clearinghouse.domain.limits import (
    ACTOR_LENGTH_MAX,
    LONG_TEXT_ID_LENGTH_MAX,
    REASON_LENGTH_MAX,
    STATE_ID_LENGTH_MAX,
    TEXT_ID_LENGTH_MAX,
)
from clearinghouse.ledger import limits
from clearinghouse.ledger.columns import ExactInteger, FixedBytes, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits at our volume.
Id = BigInteger().with_variant(Integer(), "sqlite")
Wei = ExactInteger(limits.WEI_DIGITS_MAX)
RationalPart = ExactInteger(limits.RATIONAL_DIGITS_MAX)
Address = FixedBytes(20)
Hash32 = FixedBytes(32)


class Base(DeclarativeBase):
    """Declarative base of every ledger table, with the fixed constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class GatewayRow(Base):
    __tablename__ = "gateways"
    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(limits.GATEWAY_NAME_LENGTH_MAX), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(limits.API_KEY_PREFIX_LENGTH_MAX))
    digest: Mapped[bytes] = mapped_column(Hash32, unique=True)
    usage_subject: Mapped[str | None] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class PaymentSessionRow(Base):
    __tablename__ = "payment_sessions"
    __table_args__ = (
        CheckConstraint("billing_type IN ('', 'lv2v', 'live', 'fixed')", name="billing_type"),
        # Counting a gateway's open sessions (paid within the idle window) reads only those.
        Index(None, "gateway_id", "updated_at"),
    )

    state_id: Mapped[str] = mapped_column(String(STATE_ID_LENGTH_MAX), primary_key=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"))
    orchestrator_address: Mapped[bytes] = mapped_column(Address)
    app: Mapped[str] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    billing_type: Mapped[str] = mapped_column(String(8))
    manifest_id: Mapped[str] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    sequence_number: Mapped[int] = mapped_column(BigInteger)
    sender_nonce: Mapped[int] = mapped_column(BigInteger)
    pm_session_id: Mapped[bytes | None] = mapped_column(Hash32)
    balance_num: Mapped[int] = mapped_column(RationalPart)
    balance_den: Mapped[int] = mapped_column(RationalPart)
    initial_price_per_unit: Mapped[int] = mapped_column(BigInteger)
    initial_pixels_per_unit: Mapped[int] = mapped_column(BigInteger)
    last_update_ns: Mapped[int | None] = mapped_column(BigInteger)
    auth_expiry: Mapped[int] = mapped_column(BigInteger)
    auth_id: Mapped[str] = mapped_column(String(LONG_TEXT_ID_LENGTH_MAX))
    state_digest: Mapped[bytes] = mapped_column(Hash32)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SigningRecordRow(Base):
    __tablename__ = "signing_records"
    __table_args__ = (
        UniqueConstraint("state_id", "sequence_number"),
        UniqueConstraint("gateway_id", "request_id"),
        Index(None, "gateway_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"))
    api_key_id: Mapped[int | None] = mapped_column(Id, ForeignKey("api_keys.id"))
    usage_subject: Mapped[str | None] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    request_id: Mapped[str | None] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    request_digest: Mapped[bytes | None] = mapped_column(Hash32)
    state_id: Mapped[str] = mapped_column(
        String(STATE_ID_LENGTH_MAX), ForeignKey("payment_sessions.state_id")
    )
    manifest_id: Mapped[str] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    sequence_number: Mapped[int] = mapped_column(BigInteger)
    app: Mapped[str] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    orchestrator_address: Mapped[bytes] = mapped_column(Address)
    recipient: Mapped[bytes] = mapped_column(Address)
    pipeline: Mapped[str | None] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    model_id: Mapped[str | None] = mapped_column(String(LONG_TEXT_ID_LENGTH_MAX))
    capability: Mapped[str | None] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    billing_type: Mapped[str] = mapped_column(String(8))
    units: Mapped[int] = mapped_column(BigInteger)
    price_per_unit: Mapped[int] = mapped_column(Wei)
    pixels_per_unit: Mapped[int] = mapped_column(Wei)
    fee_num: Mapped[int] = mapped_column(RationalPart)
    fee_den: Mapped[int] = mapped_column(RationalPart)
    ticket_count: Mapped[int] = mapped_column(Integer)
    face_value: Mapped[int] = mapped_column(Wei)
    win_prob: Mapped[int] = mapped_column(Wei)
    ev_signed_num: Mapped[int] = mapped_column(RationalPart)
    ev_signed_den: Mapped[int] = mapped_column(RationalPart)
    first_nonce: Mapped[int] = mapped_column(BigInteger)
    last_nonce: Mapped[int] = mapped_column(BigInteger)
    recipient_rand_hash: Mapped[bytes] = mapped_column(Hash32)
    creation_round: Mapped[int] = mapped_column(BigInteger)
    creation_round_block_hash: Mapped[bytes] = mapped_column(Hash32)
    params_expiration_block: Mapped[int] = mapped_column(BigInteger)
    # NULL: "unpriced", no acceptable rate when it was written (signing never waits for a
    # price feed); an audited rate assignment fills it in (rates.py).
    rate_snapshot_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("rate_snapshots.id"))
    response: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SignedTicketRow(Base):
    __tablename__ = "signed_tickets"
    __table_args__ = (UniqueConstraint("recipient_rand_hash", "sender_nonce"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    signing_record_id: Mapped[int] = mapped_column(Id, ForeignKey("signing_records.id"), index=True)
    recipient_rand_hash: Mapped[bytes] = mapped_column(Hash32)
    sender_nonce: Mapped[int] = mapped_column(BigInteger)
    ticket_hash: Mapped[bytes] = mapped_column(Hash32, unique=True)


class AccountRow(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("kind", "gateway_id"),
        CheckConstraint(
            "kind IN ('gateway_receivable', 'ticket_liability', 'gateway_payments', 'adjustments')",
            name="kind",
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # Unique for global accounts too, where UNIQUE(kind, gateway_id) cannot see NULLs.
    code: Mapped[str] = mapped_column(String(96), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    gateway_id: Mapped[int | None] = mapped_column(Id, ForeignKey("gateways.id"))
    balance_num: Mapped[int] = mapped_column(RationalPart)
    balance_den: Mapped[int] = mapped_column(RationalPart)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LedgerTransactionRow(Base):
    __tablename__ = "ledger_transactions"
    __table_args__ = (CheckConstraint("kind IN ('signing', 'top_up', 'adjustment')", name="kind"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    signing_record_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("signing_records.id"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PostingRow(Base):
    __tablename__ = "postings"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        Id, ForeignKey("ledger_transactions.id"), index=True
    )
    account_id: Mapped[int] = mapped_column(Id, ForeignKey("accounts.id"), index=True)
    amount_num: Mapped[int] = mapped_column(RationalPart)
    amount_den: Mapped[int] = mapped_column(RationalPart)


class KillSwitchRow(Base):
    __tablename__ = "kill_switches"

    # "global" or "gateway:<id>": a primary key, because UNIQUE cannot see a NULL gateway_id.
    scope: Mapped[str] = mapped_column(String(32), primary_key=True)
    gateway_id: Mapped[int | None] = mapped_column(Id, ForeignKey("gateways.id"), unique=True)
    engaged: Mapped[bool] = mapped_column(Boolean)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class CreditPolicyRow(Base):
    __tablename__ = "credit_policies"
    __table_args__ = (
        CheckConstraint("mode IN ('prepaid', 'credit')", name="mode"),
        CheckConstraint("quota_period IN ('month', 'day')", name="quota_period"),
        Index(None, "gateway_id", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"))
    mode: Mapped[str] = mapped_column(String(16))
    credit_limit_wei: Mapped[int] = mapped_column(Wei)
    quota_wei: Mapped[int | None] = mapped_column(Wei)
    quota_period: Mapped[str] = mapped_column(String(8))
    subject_quota_wei: Mapped[int | None] = mapped_column(Wei)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SubjectQuotaRow(Base):
    __tablename__ = "subject_quotas"
    __table_args__ = (Index(None, "gateway_id", "usage_subject", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"))
    usage_subject: Mapped[str] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    # NULL removes the override: the policy's default subject quota applies again.
    quota_wei: Mapped[int | None] = mapped_column(Wei)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class GatewayDailySpendRow(Base):
    __tablename__ = "gateway_daily_spends"

    gateway_id: Mapped[int] = mapped_column(
        Id, ForeignKey("gateways.id"), primary_key=True, autoincrement=False
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    ev_signed_num: Mapped[int] = mapped_column(RationalPart)
    ev_signed_den: Mapped[int] = mapped_column(RationalPart)


class SubjectDailySpendRow(Base):
    __tablename__ = "subject_daily_spends"

    gateway_id: Mapped[int] = mapped_column(
        Id, ForeignKey("gateways.id"), primary_key=True, autoincrement=False
    )
    usage_subject: Mapped[str] = mapped_column(String(TEXT_ID_LENGTH_MAX), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    ev_signed_num: Mapped[int] = mapped_column(RationalPart)
    ev_signed_den: Mapped[int] = mapped_column(RationalPart)


CHAIN_EVENT_KINDS = (
    "'DepositFunded', 'ReserveFunded', 'ReserveClaimed', 'WinningTicketRedeemed', "
    "'WinningTicketTransfer', 'Unlock', 'UnlockCancelled', 'Withdrawal', 'NewRound'"
)


class ChainCursorRow(Base):
    __tablename__ = "chain_cursors"

    name: Mapped[str] = mapped_column(String(limits.CURSOR_NAME_LENGTH_MAX), primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[bytes] = mapped_column(Hash32)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ChainCheckpointRow(Base):
    __tablename__ = "chain_checkpoints"

    cursor_name: Mapped[str] = mapped_column(
        String(limits.CURSOR_NAME_LENGTH_MAX), ForeignKey("chain_cursors.name"), primary_key=True
    )
    block_number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    block_hash: Mapped[bytes] = mapped_column(Hash32)


class ChainEventRow(Base):
    __tablename__ = "chain_events"
    __table_args__ = (
        CheckConstraint(f"kind IN ({CHAIN_EVENT_KINDS})", name="kind"),
        # A redemption carries its recomputed ticket hash and what it paid; nothing else does.
        CheckConstraint(
            "(kind = 'WinningTicketRedeemed') = (ticket_hash IS NOT NULL)", name="ticket_hash"
        ),
        CheckConstraint(
            "(kind = 'WinningTicketRedeemed') = (paid_wei IS NOT NULL)", name="paid_wei"
        ),
        UniqueConstraint("cursor_name", "block_hash", "log_index"),
        Index(None, "cursor_name", "block_number"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    cursor_name: Mapped[str] = mapped_column(
        String(limits.CURSOR_NAME_LENGTH_MAX), ForeignKey("chain_cursors.name")
    )
    kind: Mapped[str] = mapped_column(String(32))
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[bytes] = mapped_column(Hash32)
    transaction_hash: Mapped[bytes] = mapped_column(Hash32)
    log_index: Mapped[int] = mapped_column(BigInteger)
    counterparty: Mapped[bytes | None] = mapped_column(Address)
    amount_wei: Mapped[int | None] = mapped_column(Wei)
    face_value: Mapped[int | None] = mapped_column(Wei)
    win_prob: Mapped[int | None] = mapped_column(Wei)
    sender_nonce: Mapped[int | None] = mapped_column(Wei)
    recipient_rand: Mapped[int | None] = mapped_column(Wei)
    aux_data: Mapped[bytes | None] = mapped_column(LargeBinary)
    ticket_hash: Mapped[bytes | None] = mapped_column(Hash32, index=True)
    signing_record_id: Mapped[int | None] = mapped_column(
        Id, ForeignKey("signing_records.id"), index=True
    )
    paid_wei: Mapped[int | None] = mapped_column(Wei)
    start_round: Mapped[int | None] = mapped_column(BigInteger)
    end_round: Mapped[int | None] = mapped_column(BigInteger)
    deposit_wei: Mapped[int | None] = mapped_column(Wei)
    reserve_wei: Mapped[int | None] = mapped_column(Wei)
    round_number: Mapped[int | None] = mapped_column(BigInteger)
    round_block_hash: Mapped[bytes | None] = mapped_column(Hash32)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)


# Payouts within the monitor's burn window are read by observation time (exposure.paid_since).
Index(None, ChainEventRow.observed_at)


class ExposureRollupRow(Base):
    """Tickets signed per (gateway, recipient, creation round, its block hash): outstanding
    exposure reads the rows of the open rounds whose hash the RoundsManager recorded, instead
    of the signing records (see exposure.py); a ticket with any other hash is never redeemable."""

    __tablename__ = "exposure_rollups"
    __table_args__ = (
        CheckConstraint("tickets >= 0", name="tickets"),
        Index(None, "creation_round"),
    )

    gateway_id: Mapped[int] = mapped_column(
        Id, ForeignKey("gateways.id"), primary_key=True, autoincrement=False
    )
    recipient: Mapped[bytes] = mapped_column(Address, primary_key=True)
    creation_round: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    creation_round_block_hash: Mapped[bytes] = mapped_column(Hash32, primary_key=True)
    tickets: Mapped[int] = mapped_column(BigInteger)
    face_value_wei: Mapped[int] = mapped_column(Wei)
    max_face_value_wei: Mapped[int] = mapped_column(Wei)
    ev_signed_num: Mapped[int] = mapped_column(RationalPart)
    ev_signed_den: Mapped[int] = mapped_column(RationalPart)


class FirstCallRow(Base):
    """A session's first call (no state), keyed by what it asked: a byte-identical first request
    from the same gateway and subject within the retry window gets that session's stored answer
    instead of opening a second session (first_calls.py). The key makes two racing identical
    first calls one: the second waits for the first and reads its answer. ``state_id`` names the
    session without a foreign key: the claim is written before the session's row, in the same
    transaction, so that a racer waits before it signs anything."""

    __tablename__ = "first_calls"

    gateway_id: Mapped[int] = mapped_column(
        Id, ForeignKey("gateways.id"), primary_key=True, autoincrement=False
    )
    request_key: Mapped[bytes] = mapped_column(Hash32, primary_key=True)
    state_id: Mapped[str] = mapped_column(String(STATE_ID_LENGTH_MAX))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class HourlyUsageRow(Base):
    """Usage per UTC hour and line key, kept by ``record`` (hourly_usage.py)."""

    __tablename__ = "hourly_usage"
    __table_args__ = (Index(None, "gateway_id", "hour"), Index(None, "hour"))

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # SHA-256 of the bucket's key columns, which may be NULL and so cannot be UNIQUE themselves.
    bucket_key: Mapped[bytes] = mapped_column(Hash32, unique=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"))
    hour: Mapped[datetime] = mapped_column(UtcDateTime)
    usage_subject: Mapped[str | None] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    pipeline: Mapped[str | None] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    model_id: Mapped[str | None] = mapped_column(String(LONG_TEXT_ID_LENGTH_MAX))
    app: Mapped[str] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    recipient: Mapped[bytes] = mapped_column(Address)
    rate_snapshot_id: Mapped[int | None] = mapped_column(Id, ForeignKey("rate_snapshots.id"))
    calls: Mapped[int] = mapped_column(BigInteger)
    tickets: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(Wei)
    ev_signed_num: Mapped[int] = mapped_column(RationalPart)
    ev_signed_den: Mapped[int] = mapped_column(RationalPart)
    fee_num: Mapped[int] = mapped_column(RationalPart)
    fee_den: Mapped[int] = mapped_column(RationalPart)


def table(model: type[Base]) -> Table:
    """The Core table of a model, for statements that bypass the ORM's unit of work."""
    return Base.metadata.tables[model.__tablename__]


class DepositSampleRow(Base):
    """Our TicketBroker deposit and reserve as the deposit monitor read them, over time
    (deposit_samples.py): what the dashboard charts. Written when a value changed, else at most
    once per ``DEPOSIT_SAMPLE_INTERVAL_S``."""

    __tablename__ = "deposit_samples"
    __table_args__ = (
        CheckConstraint("block_number >= 0", name="block_number"),
        Index(None, "observed_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    block_number: Mapped[int] = mapped_column(BigInteger)
    deposit_wei: Mapped[int] = mapped_column(Wei)
    reserve_wei: Mapped[int] = mapped_column(Wei)


# Registers the settlement tables (migration 0015) on Base.metadata with the rest; they live in
# their own module for size, and every reader of the metadata imports this one.
from clearinghouse.ledger import billing_rows as _billing_rows  # noqa: E402,F401

# The identity tables live in their own module; importing it here puts them on Base.metadata
# wherever the models are (migrations, the schema check, ``table``). So do the outbox's.
from clearinghouse.ledger import identity_rows as _identity_rows  # noqa: E402,F401
from clearinghouse.ledger import outbox_rows as _outbox_rows  # noqa: E402,F401
from clearinghouse.ledger import settlement_models  # noqa: E402,F401  (imports Base from here)
