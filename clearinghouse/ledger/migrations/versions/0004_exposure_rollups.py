"""Exposure rollups: tickets signed per (gateway, recipient, creation round); payouts by time.

Revision ID: 0004
Revises: 0003

One new table, filled from the existing signing_records so the exposure the deposit monitor
reads after the upgrade counts the calls recorded before it; and an index on
chain_events.observed_at for the payouts within the burn window. Must run on SQLite and
PostgreSQL.
"""

from __future__ import annotations

from fractions import Fraction
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


# gateway_id, recipient, creation_round, ticket_count, face_value, EV numerator, denominator
# (decimal text on SQLite, NUMERIC on PostgreSQL).
_Record = tuple[int, bytes, int, int, str | Decimal, str | Decimal, str | Decimal]


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _wei() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")


def _rational_part() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(180, 0).with_variant(sa.String(181), "sqlite")


def upgrade() -> None:
    rollups = op.create_table(
        "exposure_rollups",
        sa.Column("gateway_id", _id(), autoincrement=False, nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("creation_round", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.Column("face_value_wei", _wei(), nullable=False),
        sa.Column("max_face_value_wei", _wei(), nullable=False),
        sa.Column("ev_signed_num", _rational_part(), nullable=False),
        sa.Column("ev_signed_den", _rational_part(), nullable=False),
        sa.CheckConstraint("tickets >= 0", name=op.f("ck_exposure_rollups_tickets")),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_exposure_rollups_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint(
            "gateway_id", "recipient", "creation_round", name=op.f("pk_exposure_rollups")
        ),
    )
    op.create_index(
        op.f("ix_exposure_rollups_creation_round"), "exposure_rollups", ["creation_round"]
    )
    _backfill(rollups)
    op.create_index(op.f("ix_chain_events_observed_at"), "chain_events", ["observed_at"])


def _backfill(rollups: sa.Table) -> None:
    """Sum the existing records per key exactly, in Python (SQLite keeps the numbers as text)."""
    records = sa.table(
        "signing_records",
        sa.column("gateway_id", sa.BigInteger()),
        sa.column("recipient", sa.LargeBinary()),
        sa.column("creation_round", sa.BigInteger()),
        sa.column("ticket_count", sa.Integer()),
        sa.column("face_value", sa.String()),
        sa.column("ev_signed_num", sa.String()),
        sa.column("ev_signed_den", sa.String()),
    )
    totals: dict[tuple[int, bytes, int], tuple[int, int, int, Fraction]] = {}
    for row in op.get_bind().execute(sa.select(records)):
        gateway_id, recipient, creation_round, count, face, num, den = cast(_Record, tuple(row))
        key = (gateway_id, bytes(recipient), creation_round)
        tickets, face_sum, face_max, ev = totals.get(key, (0, 0, 0, Fraction(0)))
        face_value = int(face)
        totals[key] = (tickets + count, face_sum + count * face_value, max(face_max, face_value),
                       ev + Fraction(int(num), int(den)))
    if not totals:
        return
    as_text = op.get_bind().dialect.name == "sqlite"
    convert = str if as_text else int
    op.bulk_insert(rollups, [
        {
            "gateway_id": g, "recipient": r, "creation_round": n, "tickets": t,
            "face_value_wei": convert(f), "max_face_value_wei": convert(m),
            "ev_signed_num": convert(ev.numerator), "ev_signed_den": convert(ev.denominator),
        }
        for (g, r, n), (t, f, m, ev) in totals.items()
    ])


def downgrade() -> None:
    op.drop_index(op.f("ix_chain_events_observed_at"), table_name="chain_events")
    op.drop_index(op.f("ix_exposure_rollups_creation_round"), table_name="exposure_rollups")
    op.drop_table("exposure_rollups")
