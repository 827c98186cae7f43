"""Identity for SaaS builders: apps (a gateway's OAuth clients), end users with their allowances,
revoked token ids.

Revision ID: 0013
Revises: 0012

Three new tables, empty: nothing existing changes, and a gateway without apps signs as before
(issue 16). Must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _exact(digits: int) -> sa.types.TypeEngine[Any]:
    """The ledger's ExactInteger: NUMERIC on PostgreSQL, decimal text on SQLite."""
    return sa.Numeric(digits, 0).with_variant(sa.String(digits + 1), "sqlite")


def _utc() -> sa.types.TypeEngine[Any]:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", _id(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("client_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret_digest", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("secret_rotated_at", _utc(), nullable=False),
        sa.CheckConstraint("status IN ('active', 'disabled')", name=op.f("ck_apps_status")),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f("fk_apps_gateway_id_gateways")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apps")),
        sa.UniqueConstraint("client_id", name=op.f("uq_apps_client_id")),
        sa.UniqueConstraint("secret_digest", name=op.f("uq_apps_secret_digest")),
    )
    op.create_index(op.f("ix_apps_gateway_id"), "apps", ["gateway_id"])
    op.create_table(
        "end_users",
        sa.Column("id", _id(), nullable=False),
        sa.Column("app_id", _id(), nullable=False),
        sa.Column("gateway_id", _id(), nullable=False),
        sa.Column("external_id", sa.String(length=96), nullable=False),
        sa.Column("usage_subject", sa.String(length=128), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("grant_wei", _exact(78), nullable=True),
        sa.Column("spent_num", _exact(180), nullable=False),
        sa.Column("spent_den", _exact(180), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint("spent_den > 0", name=op.f("ck_end_users_spent_den")),
        sa.ForeignKeyConstraint(["app_id"], ["apps.id"], name=op.f("fk_end_users_app_id_apps")),
        sa.ForeignKeyConstraint(["gateway_id"], ["gateways.id"], name=op.f("fk_end_users_gateway_id_gateways")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_end_users")),
        sa.UniqueConstraint("app_id", "external_id", name=op.f("uq_end_users_app_id_external_id")),
        sa.UniqueConstraint("gateway_id", "usage_subject", name=op.f("uq_end_users_gateway_id_usage_subject")),
    )
    op.create_table(
        "revoked_tokens",
        sa.Column("jti", sa.String(length=64), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("jti", name=op.f("pk_revoked_tokens")),
    )
    op.create_index(op.f("ix_revoked_tokens_expires_at"), "revoked_tokens", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_revoked_tokens_expires_at"), table_name="revoked_tokens")
    op.drop_table("revoked_tokens")
    op.drop_table("end_users")
    op.drop_index(op.f("ix_apps_gateway_id"), table_name="apps")
    op.drop_table("apps")
