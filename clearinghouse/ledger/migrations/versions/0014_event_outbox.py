"""The event outbox: one row per signing call (written in its batch's transaction) and per
sampled refusal, and each event sink's cursor.

Revision ID: 0014
Revises: 0013

Two new tables, empty (issue 17). Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("id", _id(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("gateway_id", _id(), nullable=True),
        sa.Column("signing_record_id", _id(), nullable=True),
        sa.Column("data", sa.String(length=4096), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('signing', 'refusal', 'refusals_suppressed')", name=op.f("ck_event_outbox_kind")),
        sa.CheckConstraint("(kind = 'signing') = (signing_record_id IS NOT NULL)",
                           name=op.f("ck_event_outbox_signing_record_id")),
        sa.ForeignKeyConstraint(["signing_record_id"], ["signing_records.id"],
                                name=op.f("fk_event_outbox_signing_record_id_signing_records")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_outbox")),
        sa.UniqueConstraint("signing_record_id", name=op.f("uq_event_outbox_signing_record_id")),
    )
    op.create_index(op.f("ix_event_outbox_txid_id"), "event_outbox", ["txid", "id"])
    op.create_index(op.f("ix_event_outbox_created_at"), "event_outbox", ["created_at"])
    op.create_table(
        "event_sink_cursors",
        sa.Column("sink", sa.String(length=64), nullable=False),
        sa.Column("last_txid", sa.BigInteger(), nullable=False),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
        sa.Column("sent_total", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sink", name=op.f("pk_event_sink_cursors")),
    )


def downgrade() -> None:
    op.drop_table("event_sink_cursors")
    op.drop_index(op.f("ix_event_outbox_created_at"), table_name="event_outbox")
    op.drop_index(op.f("ix_event_outbox_txid_id"), table_name="event_outbox")
    op.drop_table("event_outbox")
