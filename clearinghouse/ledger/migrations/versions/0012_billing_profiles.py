"""Billing profiles: who a gateway's invoices are addressed to, its tax rate and payment terms.

Revision ID: 0012
Revises: 0010

One new table, empty: a gateway without a profile is invoiced under its name, at 0 % tax with
the reverse-charge note, on the configured payment terms (issue 19). Numbered 0012 because
0011 is taken by issue 16's migration: whichever lands second re-points its ``down_revision``
at the other. Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "billing_profiles",
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("legal_name", sa.String(length=256), nullable=False),
        sa.Column("address", sa.String(length=2048), nullable=True),
        sa.Column("tax_id", sa.String(length=256), nullable=True),
        sa.Column("email", sa.String(length=256), nullable=True),
        sa.Column("tax_rate_bps", sa.Integer(), nullable=False),
        sa.Column("tax_note", sa.String(length=256), nullable=True),
        sa.Column("payment_terms_days", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=1024), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("tax_rate_bps >= 0 AND tax_rate_bps <= 10000",
                           name=op.f("ck_billing_profiles_tax_rate_bps")),
        sa.CheckConstraint("payment_terms_days >= 0 AND payment_terms_days <= 365",
                           name=op.f("ck_billing_profiles_payment_terms_days")),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f("fk_billing_profiles_gateway_id_gateways")),
        sa.PrimaryKeyConstraint("gateway_id", name=op.f("pk_billing_profiles")),
    )


def downgrade() -> None:
    op.drop_table("billing_profiles")
