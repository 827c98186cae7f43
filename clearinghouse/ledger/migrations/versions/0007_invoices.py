"""Billing plans, FX rates, invoices and their numbering; issued invoices made immutable.

Revision ID: 0007
Revises: 0006

New tables billing_plans and fx_rates (append-only), invoices and invoice_sequences, and a
trigger on invoices that refuses, whatever the client, changing the document (content, hash,
number, period, gateway, currency, total, credit_note_of) of an invoice that is no longer a
draft, moving it back to draft, or deleting it: the issued document never changes (spec 05).
SQLite and PostgreSQL write triggers differently, so each dialect gets its own SQL. A later
batch migration that rebuilds ``invoices`` on SQLite drops the trigger and must recreate it.
Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# The columns of an issued invoice's document; a change to any of them is refused.
_DOCUMENT_COLUMNS = (
    "content", "content_hash", "number", "gateway_id", "period_start", "period_end", "currency",
    "total_minor", "credit_note_of",
)
_REFUSED = "invoice is not a draft: its document cannot change and it cannot be deleted"

_SQLITE_TRIGGERS = (
    f"""
    CREATE TRIGGER invoices_document_immutable BEFORE UPDATE ON invoices
    FOR EACH ROW WHEN OLD.status <> 'draft' AND (
        NEW.status = 'draft' OR {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in _DOCUMENT_COLUMNS)}
    )
    BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END
    """,
    f"""
    CREATE TRIGGER invoices_never_deleted BEFORE DELETE ON invoices
    FOR EACH ROW WHEN OLD.status <> 'draft'
    BEGIN SELECT RAISE(ABORT, '{_REFUSED}'); END
    """,
)

# ERRCODE 23000 (integrity_constraint_violation): drivers report it as an IntegrityError, which
# the ledger translates to LedgerConflict like any other refused write.
_POSTGRESQL_TRIGGERS = (
    f"""
    CREATE FUNCTION invoices_refuse_document_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF OLD.status = 'draft' THEN
            RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END IF;
        IF TG_OP = 'DELETE' OR NEW.status = 'draft' OR
            {" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in _DOCUMENT_COLUMNS)} THEN
            RAISE EXCEPTION 'invoice %: {_REFUSED}', OLD.id USING ERRCODE = '23000';
        END IF;
        RETURN NEW;
    END
    $$
    """,
    """
    CREATE TRIGGER invoices_document_immutable BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoices_refuse_document_change()
    """,
)


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rational_part() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(180, 0).with_variant(sa.String(181), "sqlite")


def _rational(name: str) -> list[sa.Column[Any]]:
    return [
        sa.Column(f"{name}_num", _rational_part(), nullable=False),
        sa.Column(f"{name}_den", _rational_part(), nullable=False),
    ]


def _audit() -> list[sa.Column[Any]]:
    return [
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
    ]


def _gateway_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f(f"fk_{table}_gateway_id_gateways"))


def upgrade() -> None:
    op.create_table(
        "billing_plans",
        sa.Column("id", _id(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("markup_bps", sa.Integer(), nullable=False),
        *_rational("fee"), *_rational("included"), *_rational("fixed_fee"),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        *_audit(),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('free', 'subscription', 'usage_based')", name=op.f("ck_billing_plans_kind")),
        sa.CheckConstraint("markup_bps >= 0 AND markup_bps <= 100000", name=op.f("ck_billing_plans_markup_bps")),
        _gateway_fk("billing_plans"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_plans")),
    )
    op.create_index(op.f("ix_billing_plans_gateway_id_effective_at"), "billing_plans", ["gateway_id", "effective_at"])
    op.create_table(
        "fx_rates",
        sa.Column("id", _id(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        *_rational("per_usd"),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        *_audit(),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("currency <> 'USD'", name=op.f("ck_fx_rates_currency")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fx_rates")),
    )
    op.create_index(op.f("ix_fx_rates_currency_as_of"), "fx_rates", ["currency", "as_of"])
    _create_invoices()
    op.create_table(
        "invoice_sequences",
        sa.Column("issuer_prefix", sa.String(length=32), nullable=False),
        sa.Column("next_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("issuer_prefix", name=op.f("pk_invoice_sequences")),
    )
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_TRIGGERS if dialect == "sqlite" else _POSTGRESQL_TRIGGERS:
        op.execute(statement)


def _create_invoices() -> None:
    op.create_table(
        "invoices",
        sa.Column("id", _id(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("content_hash", sa.LargeBinary(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("credit_note_of", _id(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=True),
        *_audit(),
        sa.CheckConstraint("status IN ('draft', 'issued', 'paid', 'void')", name=op.f("ck_invoices_status")),
        sa.CheckConstraint("(status = 'draft') = (number IS NULL)", name=op.f("ck_invoices_number")),
        sa.CheckConstraint("(status = 'draft') = (issued_at IS NULL)", name=op.f("ck_invoices_issued_at")),
        sa.CheckConstraint("(status = 'paid') = (paid_at IS NOT NULL)", name=op.f("ck_invoices_paid_at")),
        sa.CheckConstraint("(status = 'void') = (voided_at IS NOT NULL)", name=op.f("ck_invoices_voided_at")),
        _gateway_fk("invoices"),
        sa.ForeignKeyConstraint(
            ["credit_note_of"], ["invoices.id"], name=op.f("fk_invoices_credit_note_of_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint("credit_note_of", name=op.f("uq_invoices_credit_note_of")),
    )
    op.create_index(op.f("ix_invoices_gateway_id_period_start"), "invoices", ["gateway_id", "period_start"])
    draft = sa.text("status = 'draft'")
    op.create_index(
        "ix_invoices_one_draft_per_period", "invoices", ["gateway_id", "period_start", "period_end"],
        unique=True, sqlite_where=draft, postgresql_where=draft,
    )


def downgrade() -> None:
    # Dropping a table drops its triggers on both backends; PostgreSQL's function stays behind.
    op.drop_table("invoice_sequences")
    op.drop_index("ix_invoices_one_draft_per_period", table_name="invoices")
    op.drop_index(op.f("ix_invoices_gateway_id_period_start"), table_name="invoices")
    op.drop_table("invoices")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION invoices_refuse_document_change()")
    op.drop_index(op.f("ix_fx_rates_currency_as_of"), table_name="fx_rates")
    op.drop_table("fx_rates")
    op.drop_index(op.f("ix_billing_plans_gateway_id_effective_at"), table_name="billing_plans")
    op.drop_table("billing_plans")
