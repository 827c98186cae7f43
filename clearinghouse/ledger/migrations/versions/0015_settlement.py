"""Settlement on autopilot: billing cycles, billing runs, invoice deliveries, funding actions.

Revision ID: 0015
Revises: 0014

Issue 21. Four new tables, empty: a gateway without a billing cycle is invoiced by hand as
before; the scheduler claims each (gateway, period) with an insert into ``billing_runs``, whose
UNIQUE (gateway_id, period_start) makes issuing exactly-once across restarts and replicas;
``invoice_deliveries`` holds every webhook attempt; ``funding_actions`` every replenishment the
policy decided (observed or sent). Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _wei() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")


def _time() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def _audit() -> list[sa.Column[Any]]:
    return [sa.Column("actor", sa.String(length=128), nullable=False),
            sa.Column("reason", sa.String(length=1024), nullable=False),
            sa.Column("changed_at", _time(), nullable=False)]


def upgrade() -> None:
    op.create_table(
        "billing_cycles",
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("cycle", sa.String(length=8), nullable=False),
        sa.Column("length_days", sa.Integer(), nullable=True),
        sa.Column("anchor_at", _time(), nullable=False),
        sa.Column("grace_s", sa.Integer(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2048), nullable=True),
        sa.Column("webhook_secret", sa.String(length=128), nullable=True),
        sa.Column("overdue_policy", sa.String(length=16), nullable=False),
        sa.Column("overdue_stop_after_days", sa.Integer(), nullable=False),
        *_audit(),
        sa.CheckConstraint("cycle IN ('weekly', 'monthly', 'days')", name=op.f("ck_billing_cycles_cycle")),
        sa.CheckConstraint("(cycle = 'days') = (length_days IS NOT NULL)", name=op.f("ck_billing_cycles_length_days")),
        sa.CheckConstraint("length_days IS NULL OR (length_days >= 1 AND length_days <= 366)",
                           name=op.f("ck_billing_cycles_length_range")),
        sa.CheckConstraint("grace_s >= 0 AND grace_s <= 2592000", name=op.f("ck_billing_cycles_grace_s")),
        sa.CheckConstraint("overdue_policy IN ('notify', 'stop_signing')", name=op.f("ck_billing_cycles_overdue_policy")),
        sa.CheckConstraint("overdue_stop_after_days >= 0 AND overdue_stop_after_days <= 365",
                           name=op.f("ck_billing_cycles_overdue_stop_after_days")),
        sa.CheckConstraint("(webhook_url IS NULL) = (webhook_secret IS NULL)", name=op.f("ck_billing_cycles_webhook")),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f("fk_billing_cycles_gateway_id_gateways")),
        sa.PrimaryKeyConstraint("gateway_id", name=op.f("pk_billing_cycles")),
    )
    op.create_table(
        "billing_runs",
        sa.Column("id", _id(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("period_start", _time(), nullable=False),
        sa.Column("period_end", _time(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("invoice_id", _id(), nullable=True),
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.Column("detail", sa.String(length=1024), nullable=True),
        sa.Column("claimed_by", sa.String(length=128), nullable=False),
        sa.Column("claimed_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.CheckConstraint("status IN ('claimed', 'issued', 'held')", name=op.f("ck_billing_runs_status")),
        sa.CheckConstraint("(status = 'issued') = (invoice_id IS NOT NULL)", name=op.f("ck_billing_runs_invoice_id")),
        sa.CheckConstraint("delivery IN ('none', 'pending', 'delivered', 'failed')",
                           name=op.f("ck_billing_runs_delivery")),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f("fk_billing_runs_gateway_id_gateways")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"], name=op.f("fk_billing_runs_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_runs")),
        sa.UniqueConstraint("gateway_id", "period_start", name=op.f("uq_billing_runs_gateway_id_period_start")),
    )
    op.create_index(op.f("ix_billing_runs_status"), "billing_runs", ["status"])
    op.create_table(
        "invoice_deliveries",
        sa.Column("id", _id(), nullable=False),
        sa.Column("invoice_id", _id(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("attempted_at", _time(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("detail", sa.String(length=1024), nullable=True),
        sa.CheckConstraint("attempt >= 1", name=op.f("ck_invoice_deliveries_attempt")),
        sa.CheckConstraint("outcome IN ('sending', 'delivered', 'failed')", name=op.f("ck_invoice_deliveries_outcome")),
        sa.ForeignKeyConstraint(["invoice_id"], ["invoices.id"],
                                name=op.f("fk_invoice_deliveries_invoice_id_invoices")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_deliveries")),
        sa.UniqueConstraint("invoice_id", "attempt", name=op.f("uq_invoice_deliveries_invoice_id_attempt")),
    )
    op.create_table(
        "funding_actions",
        sa.Column("id", _id(), nullable=False),
        sa.Column("window_start", _time(), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("amount_wei", _wei(), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("deposit_wei", _wei(), nullable=False),
        sa.Column("reserve_wei", _wei(), nullable=False),
        sa.Column("eth_balance_wei", _wei(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("detail", sa.String(length=1024), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("finished_at", _time(), nullable=True),
        sa.CheckConstraint("action IN ('fund_deposit', 'fund_reserve')", name=op.f("ck_funding_actions_action")),
        sa.CheckConstraint("mode IN ('observe', 'auto')", name=op.f("ck_funding_actions_mode")),
        sa.CheckConstraint("status IN ('observed', 'sending', 'confirmed', 'failed', 'unconfirmed')",
                           name=op.f("ck_funding_actions_status")),
        sa.CheckConstraint("amount_wei > 0", name=op.f("ck_funding_actions_amount_wei")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_funding_actions")),
        sa.UniqueConstraint("action", "window_start", name=op.f("uq_funding_actions_action_window_start")),
    )
    op.create_index(op.f("ix_funding_actions_created_at"), "funding_actions", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_funding_actions_created_at"), table_name="funding_actions")
    op.drop_table("funding_actions")
    op.drop_table("invoice_deliveries")
    op.drop_index(op.f("ix_billing_runs_status"), table_name="billing_runs")
    op.drop_table("billing_runs")
    op.drop_table("billing_cycles")
