"""The ledger's pricing and invoicing tables (private to this package): rate_snapshots and
rate_assignments (ETH/USD rates with provenance, audited pricing), billing_plans and fx_rates
(append-only, the newest in force), billing_profiles (who invoices are addressed to), invoices
(draft → issued → paid | void; issued ones are immutable, enforced by triggers) and
invoice_sequences. ``models`` imports this module, so the tables are on ``Base.metadata``
wherever the models are.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clearinghouse.domain.limits import MARKUP_BPS_MAX, PAYMENT_TERMS_DAYS_MAX, TAX_RATE_BPS_MAX
from clearinghouse.ledger import limits
from clearinghouse.domain.limits import ACTOR_LENGTH_MAX, REASON_LENGTH_MAX
from clearinghouse.ledger.columns import UtcDateTime
from clearinghouse.ledger.models import Address, Base, Hash32, Id, RationalPart, Wei


class RateSnapshotRow(Base):
    """One ETH/USD rate with its provenance; never changed once written (rates.py)."""

    __tablename__ = "rate_snapshots"
    __table_args__ = (
        CheckConstraint("source IN ('chainlink', 'manual', 'csv')", name="source"),
        CheckConstraint("(source = 'chainlink') = (round_id IS NOT NULL)", name="round_id"),
        UniqueConstraint("feed_address", "round_id"),
        Index(None, "valid_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    usd_per_eth_num: Mapped[int] = mapped_column(RationalPart)
    usd_per_eth_den: Mapped[int] = mapped_column(RationalPart)
    source: Mapped[str] = mapped_column(String(16))
    feed_address: Mapped[bytes | None] = mapped_column(Address)
    round_id: Mapped[int | None] = mapped_column(Wei)
    valid_at: Mapped[datetime] = mapped_column(UtcDateTime)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))


class RateAssignmentRow(Base):
    """The audit trail of pricing unpriced signing records after the fact (rates.py)."""

    __tablename__ = "rate_assignments"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    rate_snapshot_id: Mapped[int] = mapped_column(Id, ForeignKey("rate_snapshots.id"))
    period_start: Mapped[datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime)
    gateway_id: Mapped[int | None] = mapped_column(Id, ForeignKey("gateways.id"))
    records_priced: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BillingPlanRow(Base):
    """A gateway's billing plan from ``effective_at`` on; append-only (invoices.py): the plan
    of a period is the newest row effective at or before the period's start."""

    __tablename__ = "billing_plans"
    __table_args__ = (
        CheckConstraint("kind IN ('free', 'subscription', 'usage_based')", name="kind"),
        CheckConstraint(f"markup_bps >= 0 AND markup_bps <= {MARKUP_BPS_MAX}", name="markup_bps"),
        Index(None, "gateway_id", "effective_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"))
    kind: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    markup_bps: Mapped[int] = mapped_column(Integer)
    fee_num: Mapped[int] = mapped_column(RationalPart)
    fee_den: Mapped[int] = mapped_column(RationalPart)
    included_num: Mapped[int] = mapped_column(RationalPart)
    included_den: Mapped[int] = mapped_column(RationalPart)
    fixed_fee_num: Mapped[int] = mapped_column(RationalPart)
    fixed_fee_den: Mapped[int] = mapped_column(RationalPart)
    effective_at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FxRateRow(Base):
    """Units of ``currency`` one USD buys, from ``as_of`` on; never changed once written."""

    __tablename__ = "fx_rates"
    __table_args__ = (
        CheckConstraint("currency <> 'USD'", name="currency"),
        Index(None, "currency", "as_of"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    currency: Mapped[str] = mapped_column(String(3))
    per_usd_num: Mapped[int] = mapped_column(RationalPart)
    per_usd_den: Mapped[int] = mapped_column(RationalPart)
    source: Mapped[str] = mapped_column(String(limits.FX_SOURCE_LENGTH_MAX))
    as_of: Mapped[datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BillingProfileRow(Base):
    """Who a gateway's invoices are addressed to, its tax rate and payment terms (migration
    0012); one row per gateway, replaced by ``set_billing_profile`` with actor and reason."""

    __tablename__ = "billing_profiles"
    __table_args__ = (
        CheckConstraint(f"tax_rate_bps >= 0 AND tax_rate_bps <= {TAX_RATE_BPS_MAX}", name="tax_rate_bps"),
        CheckConstraint(f"payment_terms_days >= 0 AND payment_terms_days <= {PAYMENT_TERMS_DAYS_MAX}", name="payment_terms_days"),
    )

    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(limits.PROFILE_TEXT_LENGTH_MAX))
    address: Mapped[str | None] = mapped_column(String(limits.ADDRESS_LENGTH_MAX))
    tax_id: Mapped[str | None] = mapped_column(String(limits.PROFILE_TEXT_LENGTH_MAX))
    email: Mapped[str | None] = mapped_column(String(limits.PROFILE_TEXT_LENGTH_MAX))
    tax_rate_bps: Mapped[int] = mapped_column(Integer)
    tax_note: Mapped[str | None] = mapped_column(String(limits.PROFILE_TEXT_LENGTH_MAX))
    payment_terms_days: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class InvoiceRow(Base):
    """One invoice or credit note: its canonical JSON, hash and lifecycle (invoices.py). A
    trigger (migration 0007) refuses changing the document of, or deleting, a non-draft."""

    __tablename__ = "invoices"
    __table_args__ = (
        CheckConstraint("status IN ('draft', 'issued', 'paid', 'void')", name="status"),
        CheckConstraint("(status = 'draft') = (number IS NULL)", name="number"),
        CheckConstraint("(status = 'draft') = (issued_at IS NULL)", name="issued_at"),
        CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name="paid_at"),
        CheckConstraint("(status = 'void') = (voided_at IS NOT NULL)", name="voided_at"),
        Index(None, "gateway_id", "period_start"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"))
    period_start: Mapped[datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(8))
    number: Mapped[str | None] = mapped_column(String(limits.INVOICE_NUMBER_LENGTH_MAX), unique=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    content_hash: Mapped[bytes] = mapped_column(Hash32)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    # One credit note per voided invoice: UNIQUE, and NULL on every ordinary invoice.
    credit_note_of: Mapped[int | None] = mapped_column(Id, ForeignKey("invoices.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    issued_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    voided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))


# A gateway's period has at most one draft: a redraft replaces it (invoices.save_draft).
Index(
    "ix_invoices_one_draft_per_period", InvoiceRow.gateway_id, InvoiceRow.period_start, InvoiceRow.period_end,
    unique=True, sqlite_where=InvoiceRow.status == "draft", postgresql_where=InvoiceRow.status == "draft",
)


class InvoiceSequenceRow(Base):
    """The next invoice number of a series and year (``CH-2026``), taken under a row lock in
    the issuing transaction, so numbers have no gaps."""

    __tablename__ = "invoice_sequences"

    issuer_prefix: Mapped[str] = mapped_column(String(limits.INVOICE_NUMBER_LENGTH_MAX), primary_key=True)
    next_number: Mapped[int] = mapped_column(BigInteger)
