"""Credit control: credit policies, per-subject quota overrides, daily spend per gateway/subject.

Revision ID: 0002
Revises: 0001

Only new tables, so nothing existing is rebuilt. Gateways that exist already get no policy
row: they are prepaid without quotas (``clearinghouse.ledger.credit.default_policy``) until an
operator sets one. Their daily spend rows are filled from ``signing_records``, so a quota set
later counts the calls recorded before this upgrade. Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# gateway_id, usage_subject, EV signed numerator and denominator (decimal text on SQLite,
# NUMERIC on PostgreSQL), created_at.
_RecordSpend = tuple[int, str | None, str | Decimal, str | Decimal, datetime]


def _id() -> sa.types.TypeEngine[Any]:
    # SQLite auto-increments only an INTEGER PRIMARY KEY.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _wei() -> sa.types.TypeEngine[Any]:
    # SQLite's NUMERIC affinity rounds integers past 64 bits to REAL: store decimal text there.
    return sa.Numeric(78, 0).with_variant(sa.String(79), "sqlite")


def _rational_part() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(180, 0).with_variant(sa.String(181), "sqlite")


def _audit_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "credit_policies",
        sa.Column("id", _id(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("credit_limit_wei", _wei(), nullable=False),
        sa.Column("quota_wei", _wei(), nullable=True),
        sa.Column("quota_period", sa.String(length=8), nullable=False),
        sa.Column("subject_quota_wei", _wei(), nullable=True),
        *_audit_columns(),
        sa.CheckConstraint("mode IN ('prepaid', 'credit')", name=op.f("ck_credit_policies_mode")),
        sa.CheckConstraint(
            "quota_period IN ('month', 'day')", name=op.f("ck_credit_policies_quota_period")
        ),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_credit_policies_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_policies")),
    )
    op.create_index(
        op.f("ix_credit_policies_gateway_id_id"), "credit_policies", ["gateway_id", "id"]
    )
    op.create_table(
        "subject_quotas",
        sa.Column("id", _id(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("usage_subject", sa.String(length=128), nullable=False),
        sa.Column("quota_wei", _wei(), nullable=True),
        *_audit_columns(),
        sa.ForeignKeyConstraint(
            ["gateway_id"], ["gateways.id"], name=op.f("fk_subject_quotas_gateway_id_gateways")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_quotas")),
    )
    op.create_index(
        op.f("ix_subject_quotas_gateway_id_usage_subject_id"),
        "subject_quotas",
        ["gateway_id", "usage_subject", "id"],
    )
    gateway_spends = op.create_table(
        "gateway_daily_spends",
        sa.Column("gateway_id", _id(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("ev_signed_num", _rational_part(), nullable=False),
        sa.Column("ev_signed_den", _rational_part(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.id"],
            name=op.f("fk_gateway_daily_spends_gateway_id_gateways"),
        ),
        sa.PrimaryKeyConstraint("gateway_id", "day", name=op.f("pk_gateway_daily_spends")),
    )
    subject_spends = op.create_table(
        "subject_daily_spends",
        sa.Column("gateway_id", _id(), autoincrement=False, nullable=False),
        sa.Column("usage_subject", sa.String(length=128), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("ev_signed_num", _rational_part(), nullable=False),
        sa.Column("ev_signed_den", _rational_part(), nullable=False),
        sa.ForeignKeyConstraint(
            ["gateway_id"],
            ["gateways.id"],
            name=op.f("fk_subject_daily_spends_gateway_id_gateways"),
        ),
        sa.PrimaryKeyConstraint(
            "gateway_id", "usage_subject", "day", name=op.f("pk_subject_daily_spends")
        ),
    )
    _backfill_daily_spends(gateway_spends, subject_spends)


def _backfill_daily_spends(gateway_spends: sa.Table, subject_spends: sa.Table) -> None:
    """Sum the EV signed of existing records per gateway/subject and UTC day, exactly.

    Rationals are stored as numerator/denominator text on SQLite, so they are added here in
    Python, streaming the records; one upgrade, not a hot path.
    """
    records = sa.table(
        "signing_records",
        sa.column("gateway_id", sa.BigInteger()),
        sa.column("usage_subject", sa.String()),
        sa.column("ev_signed_num", sa.String()),
        sa.column("ev_signed_den", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    per_gateway: dict[tuple[int, date], Fraction] = defaultdict(Fraction)
    per_subject: dict[tuple[int, str, date], Fraction] = defaultdict(Fraction)
    rows = op.get_bind().execute(sa.select(records))
    for row in rows:
        gateway_id, subject, num, den, created_at = cast(_RecordSpend, tuple(row))
        day = _utc_day(created_at)
        amount = Fraction(int(num), int(den))
        per_gateway[(gateway_id, day)] += amount
        if subject is not None:
            per_subject[(gateway_id, subject, day)] += amount
    as_text = op.get_bind().dialect.name == "sqlite"
    if per_gateway:
        op.bulk_insert(
            gateway_spends,
            [_spend(total, as_text, gateway_id=g, day=d) for (g, d), total in per_gateway.items()],
        )
    if per_subject:
        op.bulk_insert(
            subject_spends,
            [
                _spend(total, as_text, gateway_id=g, usage_subject=s, day=d)
                for (g, s, d), total in per_subject.items()
            ],
        )


def _utc_day(created_at: datetime) -> date:
    # SQLite keeps UTC as naive text (columns.UtcDateTime); PostgreSQL returns an aware time.
    if created_at.tzinfo is None:
        return created_at.date()
    return created_at.astimezone(UTC).date()


def _spend(total: Fraction, as_text: bool, **key: object) -> dict[str, object]:
    # SQLite's columns are decimal text (NUMERIC affinity would round big ints to REAL).
    num, den = total.numerator, total.denominator
    values = (str(num), str(den)) if as_text else (num, den)
    return key | {"ev_signed_num": values[0], "ev_signed_den": values[1]}


def downgrade() -> None:
    op.drop_table("subject_daily_spends")
    op.drop_table("gateway_daily_spends")
    op.drop_index(
        op.f("ix_subject_quotas_gateway_id_usage_subject_id"), table_name="subject_quotas"
    )
    op.drop_table("subject_quotas")
    op.drop_index(op.f("ix_credit_policies_gateway_id_id"), table_name="credit_policies")
    op.drop_table("credit_policies")
