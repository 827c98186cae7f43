"""ETH/USD rate snapshots with provenance, and the audit trail of pricing unpriced records.

Revision ID: 0005
Revises: 0004

New tables rate_snapshots and rate_assignments, and the foreign key from
signing_records.rate_snapshot_id (a column since 0001, always NULL until now) to
rate_snapshots. SQLite cannot add a foreign key in place: the batch operation copies
signing_records into a new table and back, once. Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _wei() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")


def _rational_part() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(180, 0).with_variant(sa.String(181), "sqlite")


def _audit() -> list[sa.Column[Any]]:
    return [
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rate_snapshots",
        sa.Column("id", _id(), nullable=False),
        sa.Column("usd_per_eth_num", _rational_part(), nullable=False),
        sa.Column("usd_per_eth_den", _rational_part(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("feed_address", sa.LargeBinary(), nullable=True),
        sa.Column("round_id", _wei(), nullable=True),
        sa.Column("valid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        *_audit(),
        sa.CheckConstraint("source IN ('chainlink', 'manual', 'csv')", name=op.f("ck_rate_snapshots_source")),
        sa.CheckConstraint(
            "(source = 'chainlink') = (round_id IS NOT NULL)", name=op.f("ck_rate_snapshots_round_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_snapshots")),
        sa.UniqueConstraint("feed_address", "round_id", name=op.f("uq_rate_snapshots_feed_address_round_id")),
    )
    op.create_index(op.f("ix_rate_snapshots_valid_at"), "rate_snapshots", ["valid_at"])
    op.create_table(
        "rate_assignments",
        sa.Column("id", _id(), nullable=False),
        sa.Column("rate_snapshot_id", _id(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gateway_id", _id(), nullable=True),
        sa.Column("records_priced", sa.BigInteger(), nullable=False),
        *_audit(),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rate_snapshot_id"], ["rate_snapshots.id"],
            name=op.f("fk_rate_assignments_rate_snapshot_id_rate_snapshots"),
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_rate_assignments_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_assignments")),
    )
    with op.batch_alter_table("signing_records") as batch:
        batch.create_foreign_key(
            op.f("fk_signing_records_rate_snapshot_id_rate_snapshots"),
            "rate_snapshots", ["rate_snapshot_id"], ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("signing_records") as batch:
        batch.drop_constraint(op.f("fk_signing_records_rate_snapshot_id_rate_snapshots"), type_="foreignkey")
    op.drop_table("rate_assignments")
    op.drop_index(op.f("ix_rate_snapshots_valid_at"), table_name="rate_snapshots")
    op.drop_table("rate_snapshots")
