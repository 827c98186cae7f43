"""The tables of settlement on autopilot (migration 0015), on the ledger's declarative base:

- billing_cycles: a gateway's billing cycle (weekly, monthly on an anchor day, or a custom
  number of days), the grace after a period's end before it is invoiced, the delivery webhook
  and the overdue policy; one row per gateway, replaced with actor and reason;
- billing_runs: one row per (gateway, period) the scheduler invoiced or tried to. The UNIQUE
  (gateway_id, period_start) key is what makes issuing exactly-once across restarts and
  replicas: a replica that loses the insert does nothing;
- invoice_deliveries: every webhook attempt and its outcome, UNIQUE (invoice_id, attempt) so two
  replicas never send the same attempt;
- funding_actions: what the replenishment policy did or, observing, would have done, UNIQUE
  (action, window_start) so one funding window acts once whatever the number of replicas.

Kept apart from models.py for size; models.py imports this module so ``Base.metadata`` always
holds every table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clearinghouse.ledger import limits
from clearinghouse.domain.limits import ACTOR_LENGTH_MAX, REASON_LENGTH_MAX
from clearinghouse.ledger.columns import UtcDateTime
from clearinghouse.ledger.models import Base, Id, Wei


class BillingCycleRow(Base):
    """When a gateway is invoiced, where the invoice goes, and what follows when it is late."""

    __tablename__ = "billing_cycles"
    __table_args__ = (
        CheckConstraint("cycle IN ('weekly', 'monthly', 'days')", name="cycle"),
        CheckConstraint("(cycle = 'days') = (length_days IS NOT NULL)", name="length_days"),
        CheckConstraint("length_days IS NULL OR (length_days >= 1 AND length_days <= 366)", name="length_range"),
        CheckConstraint("grace_s >= 0 AND grace_s <= 2592000", name="grace_s"),
        CheckConstraint("overdue_policy IN ('notify', 'stop_signing')", name="overdue_policy"),
        CheckConstraint("overdue_stop_after_days >= 0 AND overdue_stop_after_days <= 365",
                        name="overdue_stop_after_days"),
        CheckConstraint("(webhook_url IS NULL) = (webhook_secret IS NULL)", name="webhook"),
    )

    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"), primary_key=True)
    cycle: Mapped[str] = mapped_column(String(8))
    length_days: Mapped[int | None] = mapped_column(Integer)
    anchor_at: Mapped[datetime] = mapped_column(UtcDateTime)
    grace_s: Mapped[int] = mapped_column(Integer)
    webhook_url: Mapped[str | None] = mapped_column(String(limits.URL_LENGTH_MAX))
    webhook_secret: Mapped[str | None] = mapped_column(String(limits.WEBHOOK_SECRET_LENGTH_MAX))
    overdue_policy: Mapped[str] = mapped_column(String(16))
    overdue_stop_after_days: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BillingRunRow(Base):
    """One period of one gateway the scheduler claimed: issued, held back (unpriced usage or
    another reason the draft was refused), or still claimed (in progress, or its replica died)."""

    __tablename__ = "billing_runs"
    __table_args__ = (
        UniqueConstraint("gateway_id", "period_start"),
        CheckConstraint("status IN ('claimed', 'issued', 'held')", name="status"),
        CheckConstraint("(status = 'issued') = (invoice_id IS NOT NULL)", name="invoice_id"),
        CheckConstraint("delivery IN ('none', 'pending', 'delivered', 'failed')", name="delivery"),
        Index(None, "status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"))
    period_start: Mapped[datetime] = mapped_column(UtcDateTime)
    period_end: Mapped[datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(8))
    invoice_id: Mapped[int | None] = mapped_column(Id, ForeignKey("invoices.id"))
    delivery: Mapped[str] = mapped_column(String(10))
    detail: Mapped[str | None] = mapped_column(String(REASON_LENGTH_MAX))
    claimed_by: Mapped[str] = mapped_column(String(ACTOR_LENGTH_MAX))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class InvoiceDeliveryRow(Base):
    """One webhook attempt for one invoice: where, when, and how it ended."""

    __tablename__ = "invoice_deliveries"
    __table_args__ = (
        UniqueConstraint("invoice_id", "attempt"),
        CheckConstraint("attempt >= 1", name="attempt"),
        CheckConstraint("outcome IN ('sending', 'delivered', 'failed')", name="outcome"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(Id, ForeignKey("invoices.id"))
    attempt: Mapped[int] = mapped_column(Integer)
    url: Mapped[str] = mapped_column(String(limits.URL_LENGTH_MAX))
    attempted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    outcome: Mapped[str] = mapped_column(String(10))
    http_status: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[str | None] = mapped_column(String(REASON_LENGTH_MAX))


class FundingActionRow(Base):
    """A replenishment the policy decided: observed only, or sent and how it ended."""

    __tablename__ = "funding_actions"
    __table_args__ = (
        UniqueConstraint("action", "window_start"),
        CheckConstraint("action IN ('fund_deposit', 'fund_reserve')", name="action"),
        CheckConstraint("mode IN ('observe', 'auto')", name="mode"),
        CheckConstraint("status IN ('observed', 'sending', 'confirmed', 'failed', 'unconfirmed')", name="status"),
        CheckConstraint("amount_wei > 0", name="amount_wei"),
        Index(None, "created_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime)
    action: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12))
    amount_wei: Mapped[int] = mapped_column(Wei)
    reason: Mapped[str] = mapped_column(String(REASON_LENGTH_MAX))
    deposit_wei: Mapped[int] = mapped_column(Wei)
    reserve_wei: Mapped[int] = mapped_column(Wei)
    eth_balance_wei: Mapped[int] = mapped_column(Wei)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    detail: Mapped[str | None] = mapped_column(String(REASON_LENGTH_MAX))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
