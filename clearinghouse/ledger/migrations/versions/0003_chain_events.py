"""Chain events: what the chain watcher saw of our sender, its cursors and checkpoints.

Revision ID: 0003
Revises: 0002

Only new tables: chain_cursors (how far each watcher recorded), chain_checkpoints (its recent
block refs, for finding the fork point after a reorg) and chain_events (one row per log of our
sender's TicketBroker events and the RoundsManager's NewRound; a redemption carries its
recomputed ticket hash, the signing record it matched and what it paid). Must run on SQLite
and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_KINDS = (
    "'DepositFunded', 'ReserveFunded', 'ReserveClaimed', 'WinningTicketRedeemed', "
    "'WinningTicketTransfer', 'Unlock', 'UnlockCancelled', 'Withdrawal', 'NewRound'"
)


def _id() -> sa.types.TypeEngine[Any]:
    # SQLite auto-increments only an INTEGER PRIMARY KEY.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _wei() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")


def _cursor_name() -> sa.types.TypeEngine[Any]:
    return sa.String(length=96)


def upgrade() -> None:
    op.create_table(
        "chain_cursors",
        sa.Column("name", _cursor_name(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_chain_cursors")),
    )
    op.create_table(
        "chain_checkpoints",
        sa.Column("cursor_name", _cursor_name(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("block_hash", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cursor_name"],
            ["chain_cursors.name"],
            name=op.f("fk_chain_checkpoints_cursor_name_chain_cursors"),
        ),
        sa.PrimaryKeyConstraint("cursor_name", "block_number", name=op.f("pk_chain_checkpoints")),
    )
    op.create_table(
        "chain_events",
        sa.Column("id", _id(), nullable=False),
        sa.Column("cursor_name", _cursor_name(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.LargeBinary(), nullable=False),
        sa.Column("transaction_hash", sa.LargeBinary(), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.Column("counterparty", sa.LargeBinary(), nullable=True),
        sa.Column("amount_wei", _wei(), nullable=True),
        sa.Column("face_value", _wei(), nullable=True),
        sa.Column("win_prob", _wei(), nullable=True),
        sa.Column("sender_nonce", _wei(), nullable=True),
        sa.Column("recipient_rand", _wei(), nullable=True),
        sa.Column("aux_data", sa.LargeBinary(), nullable=True),
        sa.Column("ticket_hash", sa.LargeBinary(), nullable=True),
        sa.Column("signing_record_id", _id(), nullable=True),
        sa.Column("paid_wei", _wei(), nullable=True),
        sa.Column("start_round", sa.BigInteger(), nullable=True),
        sa.Column("end_round", sa.BigInteger(), nullable=True),
        sa.Column("deposit_wei", _wei(), nullable=True),
        sa.Column("reserve_wei", _wei(), nullable=True),
        sa.Column("round_number", sa.BigInteger(), nullable=True),
        sa.Column("round_block_hash", sa.LargeBinary(), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"kind IN ({_KINDS})", name=op.f("ck_chain_events_kind")),
        sa.CheckConstraint(
            "(kind = 'WinningTicketRedeemed') = (ticket_hash IS NOT NULL)",
            name=op.f("ck_chain_events_ticket_hash"),
        ),
        sa.CheckConstraint(
            "(kind = 'WinningTicketRedeemed') = (paid_wei IS NOT NULL)",
            name=op.f("ck_chain_events_paid_wei"),
        ),
        sa.ForeignKeyConstraint(
            ["cursor_name"],
            ["chain_cursors.name"],
            name=op.f("fk_chain_events_cursor_name_chain_cursors"),
        ),
        sa.ForeignKeyConstraint(
            ["signing_record_id"],
            ["signing_records.id"],
            name=op.f("fk_chain_events_signing_record_id_signing_records"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_events")),
        sa.UniqueConstraint(
            "cursor_name",
            "block_hash",
            "log_index",
            name=op.f("uq_chain_events_cursor_name_block_hash_log_index"),
        ),
    )
    op.create_index(
        op.f("ix_chain_events_cursor_name_block_number"),
        "chain_events",
        ["cursor_name", "block_number"],
    )
    op.create_index(op.f("ix_chain_events_ticket_hash"), "chain_events", ["ticket_hash"])
    op.create_index(
        op.f("ix_chain_events_signing_record_id"), "chain_events", ["signing_record_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_chain_events_signing_record_id"), table_name="chain_events")
    op.drop_index(op.f("ix_chain_events_ticket_hash"), table_name="chain_events")
    op.drop_index(op.f("ix_chain_events_cursor_name_block_number"), table_name="chain_events")
    op.drop_table("chain_events")
    op.drop_table("chain_checkpoints")
    op.drop_table("chain_cursors")
