"""Exposure keyed by the creation round's block hash, recomputed; first calls by request.

Revision ID: 0010
Revises: 0009

Issue #15. ``exposure_rollups`` gains ``creation_round_block_hash`` in its key, so the deposit
monitor counts only tickets that carry the hash the RoundsManager recorded for their round
(ledger/exposure.py): a ticket signed for a round in the future, or with a made-up hash, can never
be redeemed and must not hold health at critical. The table is rebuilt and recomputed from
``signing_records``, so rows stored before this revision are keyed by the hash they were signed
with, and those no redemption can ever match simply stop counting.

``first_calls`` (new) remembers each session's first call by (gateway, request key): a first
call retried byte for byte within ``[limits] first_call_retry_window_s`` gets the stored answer
instead of opening a second session; its primary key is the lookup's index, and it makes two
racing identical first calls wait for one another (ledger/first_calls.py). Starts empty: a
first call made before the upgrade is older than any retry window anyway.

Must run on SQLite and PostgreSQL. The recomputation streams the records, so memory grows with
the number of rollup keys (open and past rounds × gateways × orchestrators), not with records.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ROWS_PER_BATCH = 10_000
"""Records read per round trip while recomputing (ledger.limits.VERIFY_BATCH_ROWS_MAX's size)."""

# gateway_id, recipient, creation_round, block hash, ticket_count, face_value, EV numerator,
# denominator (decimal text on SQLite, NUMERIC on PostgreSQL).
_Record = tuple[int, bytes, int, bytes, int, str | Decimal, str | Decimal, str | Decimal]
_Totals = dict[tuple[Any, ...], tuple[int, int, int, Fraction]]


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _wei() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")


def _rational_part() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(180, 0).with_variant(sa.String(181), "sqlite")


def upgrade() -> None:
    _drop_rollups()
    rollups = _create_rollups(with_block_hash=True)
    _recompute(rollups, with_block_hash=True)
    op.create_table(
        "first_calls",
        sa.Column("gateway_id", _id(), autoincrement=False, nullable=False),
        sa.Column("request_key", sa.LargeBinary(), nullable=False),
        sa.Column("state_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f("fk_first_calls_gateway_id_gateways")),
        sa.PrimaryKeyConstraint("gateway_id", "request_key", name=op.f("pk_first_calls")),
    )


def downgrade() -> None:
    op.drop_table("first_calls")
    _drop_rollups()
    rollups = _create_rollups(with_block_hash=False)
    _recompute(rollups, with_block_hash=False)


def _drop_rollups() -> None:
    op.drop_index(op.f("ix_exposure_rollups_creation_round"), table_name="exposure_rollups")
    op.drop_table("exposure_rollups")


def _create_rollups(*, with_block_hash: bool) -> sa.Table:
    key = ["gateway_id", "recipient", "creation_round"] + (["creation_round_block_hash"] if with_block_hash else [])
    block_hash = [sa.Column("creation_round_block_hash", sa.LargeBinary(), nullable=False)] if with_block_hash else []
    rollups = op.create_table(
        "exposure_rollups",
        sa.Column("gateway_id", _id(), autoincrement=False, nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("creation_round", sa.BigInteger(), autoincrement=False, nullable=False),
        *block_hash,
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.Column("face_value_wei", _wei(), nullable=False),
        sa.Column("max_face_value_wei", _wei(), nullable=False),
        sa.Column("ev_signed_num", _rational_part(), nullable=False),
        sa.Column("ev_signed_den", _rational_part(), nullable=False),
        sa.CheckConstraint("tickets >= 0", name=op.f("ck_exposure_rollups_tickets")),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f("fk_exposure_rollups_gateway_id_gateways")),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_exposure_rollups")),
    )
    op.create_index(op.f("ix_exposure_rollups_creation_round"), "exposure_rollups", ["creation_round"])
    return rollups


def _recompute(rollups: sa.Table, *, with_block_hash: bool) -> None:
    """Sum every record into its rollup key exactly, in Python (SQLite keeps the numbers as text)."""
    records = sa.table(
        "signing_records",
        sa.column("gateway_id", sa.BigInteger()),
        sa.column("recipient", sa.LargeBinary()),
        sa.column("creation_round", sa.BigInteger()),
        sa.column("creation_round_block_hash", sa.LargeBinary()),
        sa.column("ticket_count", sa.Integer()),
        sa.column("face_value", sa.String()),
        sa.column("ev_signed_num", sa.String()),
        sa.column("ev_signed_den", sa.String()),
    )
    totals: _Totals = {}
    # On the statement, not the connection: a connection's options would stay on for the DDL after.
    rows = op.get_bind().execute(sa.select(records).execution_options(yield_per=_ROWS_PER_BATCH))
    for row in rows:
        gateway_id, recipient, creation_round, block_hash, count, face, num, den = cast(_Record, tuple(row))
        key: tuple[Any, ...] = (gateway_id, bytes(recipient), creation_round)
        if with_block_hash:
            key += (bytes(block_hash),)
        tickets, face_sum, face_max, ev = totals.get(key, (0, 0, 0, Fraction(0)))
        face_value = int(face)
        totals[key] = (tickets + count, face_sum + count * face_value, max(face_max, face_value),
                       ev + Fraction(int(num), int(den)))
    if totals:
        op.bulk_insert(rollups, [_row(key, total, with_block_hash) for key, total in totals.items()])


def _row(key: tuple[Any, ...], total: tuple[int, int, int, Fraction], with_block_hash: bool) -> dict[str, Any]:
    convert = str if op.get_bind().dialect.name == "sqlite" else int
    tickets, face_sum, face_max, ev = total
    row: dict[str, Any] = {
        "gateway_id": key[0], "recipient": key[1], "creation_round": key[2], "tickets": tickets,
        "face_value_wei": convert(face_sum), "max_face_value_wei": convert(face_max),
        "ev_signed_num": convert(ev.numerator), "ev_signed_den": convert(ev.denominator),
    }
    if with_block_hash:
        row["creation_round_block_hash"] = key[3]
    return row
