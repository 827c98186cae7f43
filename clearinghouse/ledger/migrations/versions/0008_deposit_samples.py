"""Deposit samples: our TicketBroker deposit and reserve over time, for the operator dashboard.

Revision ID: 0008
Revises: 0007

One new table, empty: samples begin when a monitoring daemon runs this version (the chain's
history is not replayed). Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _wei() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deposit_samples",
        sa.Column("id", _id(), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("deposit_wei", _wei(), nullable=False),
        sa.Column("reserve_wei", _wei(), nullable=False),
        sa.CheckConstraint("block_number >= 0", name=op.f("ck_deposit_samples_block_number")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deposit_samples")),
    )
    op.create_index(op.f("ix_deposit_samples_observed_at"), "deposit_samples", ["observed_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_deposit_samples_observed_at"), table_name="deposit_samples")
    op.drop_table("deposit_samples")
