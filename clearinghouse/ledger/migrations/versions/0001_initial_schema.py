"""Initial schema: gateways, API keys, sessions, signing records, tickets, postings, kill switch.

Revision ID: 0001
Revises: (none)

Must run on SQLite and PostgreSQL: alter tables inside ``op.batch_alter_table``.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[Any]:
    # SQLite auto-increments only an INTEGER PRIMARY KEY.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _wei() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")


def _rational_part() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(180, 0).with_variant(sa.String(181), "sqlite")


def _utc() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "gateways",
        sa.Column("id", _id(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_gateways_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateways")),
        sa.UniqueConstraint("name", name=op.f("uq_gateways_name")),
    )
    op.create_table(
        "accounts",
        sa.Column("id", _id(), nullable=False),
        sa.Column("code", sa.String(length=96), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("gateway_id", _id(), nullable=True),
        sa.Column("balance_num", _rational_part(), nullable=False),
        sa.Column("balance_den", _rational_part(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('gateway_receivable', 'ticket_liability', 'gateway_payments', 'adjustments')",
            name=op.f("ck_accounts_kind"),
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_accounts_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("code", name=op.f("uq_accounts_code")),
        sa.UniqueConstraint("kind", "gateway_id", name=op.f("uq_accounts_kind_gateway_id")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", _id(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.LargeBinary(), nullable=False),
        sa.Column("usage_subject", sa.String(length=128), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_api_keys_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("digest", name=op.f("uq_api_keys_digest")),
    )
    op.create_index(op.f("ix_api_keys_gateway_id"), "api_keys", ["gateway_id"], unique=False)
    op.create_table(
        "kill_switches",
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("gateway_id", _id(), nullable=True),
        sa.Column("engaged", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("changed_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_kill_switches_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("scope", name=op.f("pk_kill_switches")),
        sa.UniqueConstraint("gateway_id", name=op.f("uq_kill_switches_gateway_id")),
    )
    op.create_table(
        "payment_sessions",
        sa.Column("state_id", sa.String(length=64), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("orchestrator_address", sa.LargeBinary(), nullable=False),
        sa.Column("app", sa.String(length=128), nullable=False),
        sa.Column("billing_type", sa.String(length=8), nullable=False),
        sa.Column("manifest_id", sa.String(length=128), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("sender_nonce", sa.BigInteger(), nullable=False),
        sa.Column("pm_session_id", sa.LargeBinary(), nullable=True),
        sa.Column("balance_num", _rational_part(), nullable=False),
        sa.Column("balance_den", _rational_part(), nullable=False),
        sa.Column("initial_price_per_unit", sa.BigInteger(), nullable=False),
        sa.Column("initial_pixels_per_unit", sa.BigInteger(), nullable=False),
        sa.Column("last_update_ns", sa.BigInteger(), nullable=True),
        sa.Column("auth_expiry", sa.BigInteger(), nullable=False),
        sa.Column("auth_id", sa.String(length=256), nullable=False),
        sa.Column("state_digest", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "billing_type IN ('', 'lv2v', 'live', 'fixed')",
            name=op.f("ck_payment_sessions_billing_type"),
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_payment_sessions_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("state_id", name=op.f("pk_payment_sessions")),
    )
    op.create_index(
        op.f("ix_payment_sessions_gateway_id"), "payment_sessions", ["gateway_id"], unique=False
    )
    op.create_table(
        "signing_records",
        sa.Column("id", _id(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("api_key_id", _id(), nullable=True),
        sa.Column("usage_subject", sa.String(length=128), nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("request_digest", sa.LargeBinary(), nullable=True),
        sa.Column("state_id", sa.String(length=64), nullable=False),
        sa.Column("manifest_id", sa.String(length=128), nullable=False),
        sa.Column("sequence_number", sa.BigInteger(), nullable=False),
        sa.Column("app", sa.String(length=128), nullable=False),
        sa.Column("orchestrator_address", sa.LargeBinary(), nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("pipeline", sa.String(length=128), nullable=True),
        sa.Column("model_id", sa.String(length=256), nullable=True),
        sa.Column("capability", sa.String(length=128), nullable=True),
        sa.Column("billing_type", sa.String(length=8), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("price_per_unit", _wei(), nullable=False),
        sa.Column("pixels_per_unit", _wei(), nullable=False),
        sa.Column("fee_num", _rational_part(), nullable=False),
        sa.Column("fee_den", _rational_part(), nullable=False),
        sa.Column("ticket_count", sa.Integer(), nullable=False),
        sa.Column("face_value", _wei(), nullable=False),
        sa.Column("win_prob", _wei(), nullable=False),
        sa.Column("ev_signed_num", _rational_part(), nullable=False),
        sa.Column("ev_signed_den", _rational_part(), nullable=False),
        sa.Column("first_nonce", sa.BigInteger(), nullable=False),
        sa.Column("last_nonce", sa.BigInteger(), nullable=False),
        sa.Column("recipient_rand_hash", sa.LargeBinary(), nullable=False),
        sa.Column("creation_round", sa.BigInteger(), nullable=False),
        sa.Column("creation_round_block_hash", sa.LargeBinary(), nullable=False),
        sa.Column("params_expiration_block", sa.BigInteger(), nullable=False),
        sa.Column("rate_snapshot_id", sa.BigInteger(), nullable=True),
        sa.Column("response", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"], ["api_keys.id"], name=op.f("fk_signing_records_api_key_id_api_keys")
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_signing_records_gateway_id_gateways")
        ),
        sa.ForeignKeyConstraint(
            ["state_id"],
            ["payment_sessions.state_id"],
            name=op.f("fk_signing_records_state_id_payment_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_records")),
        sa.UniqueConstraint(
            "gateway_id", "request_id", name=op.f("uq_signing_records_gateway_id_request_id")
        ),
        sa.UniqueConstraint(
            "state_id", "sequence_number", name=op.f("uq_signing_records_state_id_sequence_number")
        ),
    )
    op.create_index(
        op.f("ix_signing_records_gateway_id_created_at"),
        "signing_records",
        ["gateway_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "ledger_transactions",
        sa.Column("id", _id(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("signing_record_id", _id(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('signing', 'top_up', 'adjustment')", name=op.f("ck_ledger_transactions_kind")
        ),
        sa.ForeignKeyConstraint(
            ["signing_record_id"],
            ["signing_records.id"],
            name=op.f("fk_ledger_transactions_signing_record_id_signing_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_transactions")),
        sa.UniqueConstraint(
            "signing_record_id", name=op.f("uq_ledger_transactions_signing_record_id")
        ),
    )
    op.create_table(
        "signed_tickets",
        sa.Column("id", _id(), nullable=False),
        sa.Column("signing_record_id", _id(), nullable=False),
        sa.Column("recipient_rand_hash", sa.LargeBinary(), nullable=False),
        sa.Column("sender_nonce", sa.BigInteger(), nullable=False),
        sa.Column("ticket_hash", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["signing_record_id"],
            ["signing_records.id"],
            name=op.f("fk_signed_tickets_signing_record_id_signing_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signed_tickets")),
        sa.UniqueConstraint(
            "recipient_rand_hash",
            "sender_nonce",
            name=op.f("uq_signed_tickets_recipient_rand_hash_sender_nonce"),
        ),
        sa.UniqueConstraint("ticket_hash", name=op.f("uq_signed_tickets_ticket_hash")),
    )
    op.create_index(
        op.f("ix_signed_tickets_signing_record_id"),
        "signed_tickets",
        ["signing_record_id"],
        unique=False,
    )
    op.create_table(
        "postings",
        sa.Column("id", _id(), nullable=False),
        sa.Column("transaction_id", _id(), nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("amount_num", _rational_part(), nullable=False),
        sa.Column("amount_den", _rational_part(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_postings_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["ledger_transactions.id"],
            name=op.f("fk_postings_transaction_id_ledger_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
    )
    op.create_index(op.f("ix_postings_account_id"), "postings", ["account_id"], unique=False)
    op.create_index(
        op.f("ix_postings_transaction_id"), "postings", ["transaction_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_postings_transaction_id"), table_name="postings")
    op.drop_index(op.f("ix_postings_account_id"), table_name="postings")
    op.drop_table("postings")
    op.drop_index(op.f("ix_signed_tickets_signing_record_id"), table_name="signed_tickets")
    op.drop_table("signed_tickets")
    op.drop_table("ledger_transactions")
    op.drop_index(op.f("ix_signing_records_gateway_id_created_at"), table_name="signing_records")
    op.drop_table("signing_records")
    op.drop_index(op.f("ix_payment_sessions_gateway_id"), table_name="payment_sessions")
    op.drop_table("payment_sessions")
    op.drop_table("kill_switches")
    op.drop_index(op.f("ix_api_keys_gateway_id"), table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("accounts")
    op.drop_table("gateways")
