"""The identity tables (private to the ledger, like models.py): apps (a gateway's OAuth clients),
their end users with their allowances, and revoked token ids.

An end user's allowance is exact: ``grant_wei`` is what the app granted (NULL: no allowance, only
the gateway's credit control applies) and ``spent`` the EV signed for the user, a rational like
every spend. ``usage_subject`` (``<client_id>:<external_id>``) is what signing records carry, so
the batch's credit check finds the user's row by the subject it already reads (batch_credit.py).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from clearinghouse.ledger import limits
from clearinghouse.domain.limits import TEXT_ID_LENGTH_MAX
from clearinghouse.ledger.columns import UtcDateTime
from clearinghouse.ledger.models import Base, Hash32, Id, RationalPart, Wei


class AppRow(Base):
    __tablename__ = "apps"
    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"), index=True)
    client_id: Mapped[str] = mapped_column(String(limits.CLIENT_ID_LENGTH_MAX), unique=True)
    name: Mapped[str] = mapped_column(String(limits.APP_NAME_LENGTH_MAX))
    # HMAC-SHA256(pepper, secret), like an API key's digest: a database copy reveals no secret.
    secret_digest: Mapped[bytes] = mapped_column(Hash32, unique=True)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    secret_rotated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class EndUserRow(Base):
    __tablename__ = "end_users"
    __table_args__ = (
        UniqueConstraint("app_id", "external_id"),
        UniqueConstraint("gateway_id", "usage_subject"),
        CheckConstraint("spent_den > 0", name="spent_den"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    app_id: Mapped[int] = mapped_column(Id, ForeignKey("apps.id"))
    gateway_id: Mapped[int] = mapped_column(Id, ForeignKey("gateways.id"))
    external_id: Mapped[str] = mapped_column(String(limits.EXTERNAL_ID_LENGTH_MAX))
    usage_subject: Mapped[str] = mapped_column(String(TEXT_ID_LENGTH_MAX))
    email: Mapped[str | None] = mapped_column(String(limits.EMAIL_LENGTH_MAX))
    active: Mapped[bool] = mapped_column(Boolean)
    grant_wei: Mapped[int | None] = mapped_column(Wei)
    spent_num: Mapped[int] = mapped_column(RationalPart)
    spent_den: Mapped[int] = mapped_column(RationalPart)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class RevokedTokenRow(Base):
    """A token revoked before its expiry (RFC 7009), kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(limits.JTI_LENGTH_MAX), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    revoked_at: Mapped[datetime] = mapped_column(UtcDateTime)
