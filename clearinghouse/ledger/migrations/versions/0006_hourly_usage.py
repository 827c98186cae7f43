"""Hourly usage: calls, tickets, units, EV signed and fee per UTC hour and line key.

Revision ID: 0006
Revises: 0005

One new table, filled from the existing signing_records with the same bucketing the ledger
uses from now on (``clearinghouse.ledger.hourly_usage``), so invoices, usage reports and
reconciliation read rows instead of scanning records. Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import sqlalchemy as sa
from alembic import op

from clearinghouse.ledger.hourly_usage import Bucket, hour_of

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _wei() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")


def _rational_part() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(180, 0).with_variant(sa.String(181), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hourly_usage",
        sa.Column("id", _id(), nullable=False),
        sa.Column("bucket_key", sa.LargeBinary(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("usage_subject", sa.String(length=128), nullable=True),
        sa.Column("pipeline", sa.String(length=128), nullable=True),
        sa.Column("model_id", sa.String(length=256), nullable=True),
        sa.Column("app", sa.String(length=128), nullable=False),
        sa.Column("recipient", sa.LargeBinary(), nullable=False),
        sa.Column("rate_snapshot_id", _id(), nullable=True),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("tickets", sa.BigInteger(), nullable=False),
        sa.Column("units", _wei(), nullable=False),
        sa.Column("ev_signed_num", _rational_part(), nullable=False),
        sa.Column("ev_signed_den", _rational_part(), nullable=False),
        sa.Column("fee_num", _rational_part(), nullable=False),
        sa.Column("fee_den", _rational_part(), nullable=False),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f("fk_hourly_usage_gateway_id_gateways")),
        sa.ForeignKeyConstraint(
            ["rate_snapshot_id"], ["rate_snapshots.id"], name=op.f("fk_hourly_usage_rate_snapshot_id_rate_snapshots")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hourly_usage")),
        sa.UniqueConstraint("bucket_key", name=op.f("uq_hourly_usage_bucket_key")),
    )
    op.create_index(op.f("ix_hourly_usage_gateway_id_hour"), "hourly_usage", ["gateway_id", "hour"])
    op.create_index(op.f("ix_hourly_usage_hour"), "hourly_usage", ["hour"])
    _backfill()


def _backfill() -> None:
    """Sum the existing records per bucket exactly, in Python (SQLite keeps numbers as text);
    the bucket key is the ledger's own (``Bucket.key``), so later calls add to these rows."""
    records = sa.table(
        "signing_records",
        sa.column("created_at", sa.DateTime(timezone=True)),
        *(sa.column(name) for name in (
            "gateway_id", "usage_subject", "pipeline", "model_id", "app", "recipient",
            "rate_snapshot_id", "ticket_count", "units", "ev_signed_num", "ev_signed_den", "fee_num", "fee_den",
        )),
    )
    totals: dict[Bucket, list[Any]] = {}
    for row in op.get_bind().execute(sa.select(records)):
        r = row._mapping
        bucket = Bucket(r["gateway_id"], hour_of(_utc(r["created_at"])), r["usage_subject"], r["pipeline"],
                        r["model_id"], r["app"], bytes(r["recipient"]), r["rate_snapshot_id"])
        total = totals.setdefault(bucket, [0, 0, 0, Fraction(0), Fraction(0)])
        total[0] += 1
        total[1] += int(r["ticket_count"])
        total[2] += int(r["units"])
        total[3] += Fraction(int(r["ev_signed_num"]), int(r["ev_signed_den"]))
        total[4] += Fraction(int(r["fee_num"]), int(r["fee_den"]))
    if not totals:
        return
    convert = str if op.get_bind().dialect.name == "sqlite" else int
    rows = sa.table("hourly_usage", sa.column("hour", sa.DateTime(timezone=True)), *(sa.column(name) for name in (
        "bucket_key", "gateway_id", "usage_subject", "pipeline", "model_id", "app", "recipient",
        "rate_snapshot_id", "calls", "tickets", "units", "ev_signed_num", "ev_signed_den", "fee_num", "fee_den",
    )))
    op.bulk_insert(rows, [
        {
            "bucket_key": b.key, "gateway_id": b.gateway_id, "hour": _stored_hour(b.hour), "usage_subject": b.usage_subject,
            "pipeline": b.pipeline, "model_id": b.model_id, "app": b.app, "recipient": b.recipient,
            "rate_snapshot_id": b.rate_snapshot_id, "calls": calls, "tickets": tickets, "units": convert(units),
            "ev_signed_num": convert(ev.numerator), "ev_signed_den": convert(ev.denominator),
            "fee_num": convert(fee.numerator), "fee_den": convert(fee.denominator),
        }
        for b, (calls, tickets, units, ev, fee) in totals.items()
    ])


def _utc(moment: datetime) -> datetime:
    # SQLite keeps UTC as naive text (columns.UtcDateTime); PostgreSQL returns an aware time.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _stored_hour(hour: datetime) -> datetime:
    # As columns.UtcDateTime stores it: naive UTC on SQLite, aware on PostgreSQL.
    return hour.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else hour


def downgrade() -> None:
    op.drop_index(op.f("ix_hourly_usage_hour"), table_name="hourly_usage")
    op.drop_index(op.f("ix_hourly_usage_gateway_id_hour"), table_name="hourly_usage")
    op.drop_table("hourly_usage")
