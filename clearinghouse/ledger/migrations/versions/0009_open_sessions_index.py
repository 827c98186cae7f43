"""Open sessions per gateway: index payment_sessions by (gateway_id, updated_at).

Revision ID: 0009
Revises: 0008

Opening a session counts the gateway's sessions paid within the idle window ([limits]
sessions_per_gateway_max). On the gateway_id index alone that count reads every session the
gateway ever had, which grows by one per stream for months; on (gateway_id, updated_at) it reads
only the open ones. The composite index serves the gateway_id lookups too, so it replaces that
index. Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_payment_sessions_gateway_id_updated_at"), "payment_sessions",
                    ["gateway_id", "updated_at"], unique=False)
    op.drop_index(op.f("ix_payment_sessions_gateway_id"), table_name="payment_sessions")


def downgrade() -> None:
    op.create_index(op.f("ix_payment_sessions_gateway_id"), "payment_sessions", ["gateway_id"], unique=False)
    op.drop_index(op.f("ix_payment_sessions_gateway_id_updated_at"), table_name="payment_sessions")
