"""Apps (a gateway's OAuth clients), their end users and allowances, and revoked token ids.

An app is stored by its public client id and the HMAC-SHA256 digest of its secret (computed by
the caller with the server pepper, like an API key's); several apps may belong to one gateway.
An end user belongs to one app, is named by the app's ``external_id`` and bills to the usage
subject ``<client_id>:<external_id>``; its allowance (grant, spent, remaining) is exact wei and
is checked and spent by the signing batch (batch_credit.py), in the transaction of the record.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clearinghouse.ledger import limits
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import LedgerConflict, NotFound
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.identity_rows import AppRow, EndUserRow, RevokedTokenRow
from clearinghouse.ledger.models import GatewayRow
from clearinghouse.ledger.transactions import reading, utc_now, writing
from clearinghouse.domain.gateways import GatewayStatus
from clearinghouse.domain.fields import check_text

SECRET_DIGEST_BYTES = 32  # HMAC-SHA256


@dataclass(frozen=True, slots=True)
class App:
    """An OAuth client of a gateway (never its secret, which is not stored)."""

    id: int
    gateway_id: int
    client_id: str
    name: str
    active: bool
    created_at: datetime
    secret_rotated_at: datetime


@dataclass(frozen=True, slots=True)
class EndUser:
    """An app's end user and its allowance: ``grant_wei`` None means no allowance of its own
    (only the gateway's credit control applies)."""

    id: int
    app_id: int
    gateway_id: int
    external_id: str
    usage_subject: str
    email: str | None
    active: bool
    grant_wei: int | None
    spent: Fraction
    created_at: datetime

    @property
    def remaining(self) -> Fraction | None:
        """What the user may still spend, exactly; None without an allowance."""
        return None if self.grant_wei is None else self.grant_wei - self.spent


@dataclass(frozen=True, slots=True)
class Standing:
    """What a token's first use on a process checks: is its app (and gateway) active, is its
    user (if any) active, was it revoked."""

    app: App | None
    gateway_active: bool
    user: EndUser | None
    revoked: bool


def user_subject(client_id: str, external_id: str) -> str:
    """The usage subject an end user's calls are recorded under."""
    return f"{client_id}:{external_id}"


def create_app(db: Database, gateway_id: int, *, name: str, client_id: str, secret_digest: bytes) -> App:
    """Store a new active app of a gateway. Raises ``NotFound`` for an unknown gateway,
    ``InvalidLedgerInput`` for bad text or digest, ``LedgerConflict`` for a taken client id."""
    check_text("name", name, limits.APP_NAME_LENGTH_MAX)
    check_text("client_id", client_id, limits.CLIENT_ID_LENGTH_MAX)
    _check_digest(secret_digest)
    with writing(db) as session:
        if session.get(GatewayRow, gateway_id) is None:
            raise NotFound(f"no gateway with id {gateway_id}")
        now = utc_now()
        row = AppRow(gateway_id=gateway_id, client_id=client_id, name=name, secret_digest=secret_digest,
                     status=GatewayStatus.ACTIVE.value, created_at=now, secret_rotated_at=now)
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:
            raise LedgerConflict(f"client id {client_id!r} already exists") from exc
        return _app_value(row)


def list_apps(db: Database, gateway_id: int | None = None) -> tuple[App, ...]:
    """Every app (of one gateway), oldest first."""
    statement = select(AppRow).order_by(AppRow.id)
    if gateway_id is not None:
        statement = statement.where(AppRow.gateway_id == gateway_id)
    with reading(db) as session:
        return tuple(_app_value(row) for row in session.scalars(statement))


def get_app(db: Database, client_id: str) -> App:
    """One app by client id. Raises ``NotFound``."""
    with reading(db) as session:
        return _app_value(_app_row(session, client_id))


def authenticate_app(db: Database, client_id: str, secret_digest: bytes) -> App | None:
    """The active app of an active gateway with this client id and secret digest, else None.
    The digests are compared in constant time."""
    with reading(db) as session:
        found = session.execute(
            select(AppRow, GatewayRow.status).join(GatewayRow, GatewayRow.id == AppRow.gateway_id)
            .where(AppRow.client_id == client_id)
        ).one_or_none()
    if found is None or not hmac.compare_digest(found[0].secret_digest, secret_digest):
        return None
    if found[0].status != GatewayStatus.ACTIVE.value or found[1] != GatewayStatus.ACTIVE.value:
        return None
    return _app_value(found[0])


def set_app_active(db: Database, client_id: str, active: bool) -> App:
    """Enable or disable an app (a disabled app's tokens stop working). Raises ``NotFound``."""
    with writing(db) as session:
        row = _app_row(session, client_id)
        row.status = (GatewayStatus.ACTIVE if active else GatewayStatus.DISABLED).value
        return _app_value(row)


def replace_app_secret(db: Database, client_id: str, secret_digest: bytes) -> App:
    """Swap an app's secret digest (the old secret stops working at once). Raises ``NotFound``."""
    _check_digest(secret_digest)
    with writing(db) as session:
        row = _app_row(session, client_id)
        row.secret_digest = secret_digest
        row.secret_rotated_at = utc_now()
        return _app_value(row)


def provision_user(db: Database, app: App, external_id: str, email: str | None) -> EndUser:
    """Create an active end user of ``app`` without an allowance. Raises ``InvalidLedgerInput``
    for bad text, ``LedgerConflict`` when the app already has a user with this external id."""
    _check_user_text(external_id, email)
    with writing(db) as session:
        now = utc_now()
        row = EndUserRow(app_id=app.id, gateway_id=app.gateway_id, external_id=external_id,
                         usage_subject=user_subject(app.client_id, external_id), email=email, active=True,
                         grant_wei=None, spent_num=0, spent_den=1, created_at=now, updated_at=now)
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:
            raise LedgerConflict(f"user {external_id!r} already exists in app {app.client_id}") from exc
        return _user_value(row)


def get_user(db: Database, app: App, external_id: str) -> EndUser:
    """One end user of ``app``. Raises ``NotFound``."""
    with reading(db) as session:
        return _user_value(_user_row(session, app, external_id))


def list_users(db: Database, app: App, *, after_id: int = 0, limit: int = limits.END_USERS_LISTED_MAX
               ) -> tuple[EndUser, ...]:
    """A page of the app's users in id order, after ``after_id`` (the cursor of the page before)."""
    if not 0 < limit <= limits.END_USERS_LISTED_MAX:
        raise InvalidLedgerInput(f"limit: expected 1..{limits.END_USERS_LISTED_MAX}, got {limit}")
    statement = (select(EndUserRow).where(EndUserRow.app_id == app.id, EndUserRow.id > after_id)
                 .order_by(EndUserRow.id).limit(limit))
    with reading(db) as session:
        return tuple(_user_value(row) for row in session.scalars(statement))


def update_user(db: Database, app: App, external_id: str, *, email: str | None = None,
                active: bool | None = None) -> EndUser:
    """Change a user's e-mail and/or active flag. Raises ``NotFound``, ``InvalidLedgerInput``."""
    _check_user_text(external_id, email)
    with writing(db) as session:
        row = _user_row(session, app, external_id)
        if email is not None:
            row.email = email
        if active is not None:
            row.active = active
        row.updated_at = utc_now()
        return _user_value(row)


def grant_allowance(db: Database, app: App, external_id: str, amount_wei: int) -> EndUser:
    """Add ``amount_wei`` (> 0) to the user's grant (a user without one gets one). Row-locked on
    PostgreSQL, so concurrent grants add up. Raises ``NotFound``, ``InvalidLedgerInput``."""
    if type(amount_wei) is not int or amount_wei <= 0:
        raise InvalidLedgerInput(f"amount_wei: expected an int > 0, got {amount_wei!r}")
    with writing(db) as session:
        row = session.scalars(
            select(EndUserRow).where(EndUserRow.app_id == app.id, EndUserRow.external_id == external_id)
            .with_for_update()
        ).one_or_none()
        if row is None:
            raise NotFound(f"no user {external_id!r} in app {app.client_id}")
        row.grant_wei = (row.grant_wei or 0) + amount_wei
        row.updated_at = utc_now()
        return _user_value(row)


def revoke_token(db: Database, jti: str, expires_at: datetime) -> None:
    """Record a token id as revoked until ``expires_at`` (idempotent); drops ids whose tokens
    have expired anyway, so the table holds only live revocations."""
    check_text("jti", jti, limits.JTI_LENGTH_MAX)
    with writing(db) as session:
        now = utc_now()
        session.execute(delete(RevokedTokenRow).where(RevokedTokenRow.expires_at < now))
        if session.get(RevokedTokenRow, jti) is None:
            session.add(RevokedTokenRow(jti=jti, expires_at=expires_at, revoked_at=now))


def token_standing(db: Database, client_id: str, external_id: str | None, jti: str) -> Standing:
    """One read of what decides whether a verified token may be used (see ``Standing``)."""
    with reading(db) as session:
        found = session.execute(
            select(AppRow, GatewayRow.status).join(GatewayRow, GatewayRow.id == AppRow.gateway_id)
            .where(AppRow.client_id == client_id)
        ).one_or_none()
        revoked = session.get(RevokedTokenRow, jti) is not None
        if found is None:
            return Standing(None, False, None, revoked)
        app = _app_value(found[0])
        user = None
        if external_id is not None:
            row = session.scalars(select(EndUserRow).where(
                EndUserRow.app_id == app.id, EndUserRow.external_id == external_id)).one_or_none()
            user = None if row is None else _user_value(row)
        return Standing(app, found[1] == GatewayStatus.ACTIVE.value, user, revoked)


def _check_digest(digest: bytes) -> None:
    if not isinstance(digest, bytes) or len(digest) != SECRET_DIGEST_BYTES:
        raise InvalidLedgerInput(f"secret_digest: expected {SECRET_DIGEST_BYTES} bytes")


def _check_user_text(external_id: str, email: str | None) -> None:
    check_text("external_id", external_id, limits.EXTERNAL_ID_LENGTH_MAX)
    if email is not None:
        check_text("email", email, limits.EMAIL_LENGTH_MAX)


def _app_row(session: Session, client_id: str) -> AppRow:
    row = session.scalars(select(AppRow).where(AppRow.client_id == client_id)).one_or_none()
    if row is None:
        raise NotFound(f"no app with client id {client_id!r}")
    return row


def _user_row(session: Session, app: App, external_id: str) -> EndUserRow:
    row = session.scalars(
        select(EndUserRow).where(EndUserRow.app_id == app.id, EndUserRow.external_id == external_id)
    ).one_or_none()
    if row is None:
        raise NotFound(f"no user {external_id!r} in app {app.client_id}")
    return row


def _app_value(row: AppRow) -> App:
    return App(id=row.id, gateway_id=row.gateway_id, client_id=row.client_id, name=row.name,
               active=row.status == GatewayStatus.ACTIVE.value, created_at=row.created_at,
               secret_rotated_at=row.secret_rotated_at)


def _user_value(row: EndUserRow) -> EndUser:
    return EndUser(id=row.id, app_id=row.app_id, gateway_id=row.gateway_id, external_id=row.external_id,
                   usage_subject=row.usage_subject, email=row.email, active=row.active, grant_wei=row.grant_wei,
                   spent=Fraction(row.spent_num, row.spent_den), created_at=row.created_at)
