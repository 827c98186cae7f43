"""Gateways (tenants) and their API keys: create, disable, authenticate, revoke, rotate.

A gateway is created together with its four ledger accounts, so signing never has to create
an account under load. API keys are stored only as their HMAC-SHA256 digest (computed by the
caller with the server pepper) and a short display prefix; lookup is by the unique digest.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clearinghouse.ledger import limits
from clearinghouse.domain.limits import TEXT_ID_LENGTH_MAX
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import DuplicateGatewayName, NotFound
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import AccountRow, ApiKeyRow, GatewayRow
from clearinghouse.ledger.transactions import reading, utc_now, writing
from clearinghouse.ledger.values import AccountKind
from clearinghouse.domain.gateways import ApiKey, AuthenticatedKey, Gateway, GatewayStatus
from clearinghouse.domain.fields import check_text

API_KEY_DIGEST_BYTES = 32  # HMAC-SHA256


def create_gateway(db: Database, name: str) -> Gateway:
    """Create an active gateway and its accounts in one transaction.

    Raises ``DuplicateGatewayName`` if the name is taken, ``InvalidLedgerInput`` for an empty
    name or one longer than ``limits.GATEWAY_NAME_LENGTH_MAX``.
    """
    check_text("name", name, limits.GATEWAY_NAME_LENGTH_MAX)
    with writing(db) as session:
        now = utc_now()
        row = GatewayRow(name=name, status=GatewayStatus.ACTIVE.value, created_at=now)
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:  # the only unique column of a new gateway is its name
            raise DuplicateGatewayName(f"a gateway named {name!r} already exists") from exc
        for kind in AccountKind:
            session.add(
                AccountRow(
                    code=account_code(kind, row.id),
                    kind=kind.value,
                    gateway_id=row.id,
                    balance_num=0,
                    balance_den=1,
                    created_at=now,
                )
            )
        return gateway_value(row)


def set_gateway_status(db: Database, gateway_id: int, status: GatewayStatus) -> Gateway:
    """Enable or disable a gateway. Raises ``NotFound`` for an unknown id."""
    with writing(db) as session:
        row = _gateway_row(session, gateway_id)
        row.status = GatewayStatus(status).value
        return gateway_value(row)


def get_gateway(db: Database, gateway_id: int) -> Gateway:
    """Return one gateway. Raises ``NotFound`` for an unknown id."""
    with reading(db) as session:
        return gateway_value(_gateway_row(session, gateway_id))


def list_gateways(db: Database) -> tuple[Gateway, ...]:
    """Return every gateway, oldest first."""
    with reading(db) as session:
        rows = session.scalars(select(GatewayRow).order_by(GatewayRow.id))
        return tuple(gateway_value(row) for row in rows)


def create_api_key(
    db: Database, gateway_id: int, *, prefix: str, digest: bytes, usage_subject: str | None = None
) -> ApiKey:
    """Store a new API key of a gateway by its display prefix and HMAC-SHA256 digest.

    ``usage_subject`` tags every call made with the key (a gateway's own end user).
    Raises ``NotFound`` for an unknown gateway, ``InvalidLedgerInput`` for a digest that is
    not 32 bytes or over-long text, ``LedgerConflict`` if the digest already exists.
    """
    _check_new_key(prefix, digest, usage_subject)
    with writing(db) as session:
        _gateway_row(session, gateway_id)
        row = ApiKeyRow(
            gateway_id=gateway_id,
            prefix=prefix,
            digest=digest,
            usage_subject=usage_subject,
            created_at=utc_now(),
        )
        session.add(row)
        session.flush()
        return _api_key_value(row)


def revoke_api_key(db: Database, api_key_id: int) -> ApiKey:
    """Revoke a key (idempotent: a revoked key keeps its first revocation time).

    Raises ``NotFound`` for an unknown id.
    """
    with writing(db) as session:
        row = session.get(ApiKeyRow, api_key_id)
        if row is None:
            raise NotFound(f"no API key with id {api_key_id}")
        if row.revoked_at is None:
            row.revoked_at = utc_now()
        return _api_key_value(row)


def replace_api_keys(
    db: Database,
    gateway_id: int,
    *,
    prefix: str,
    digest: bytes,
    usage_subject: str | None,
    revoke_key_id: int | None = None,
) -> tuple[ApiKey, tuple[ApiKey, ...]]:
    """Store a new API key and revoke old ones of the same gateway in one transaction.

    Revokes key ``revoke_key_id``, or every unrevoked key of the gateway when it is None. One
    transaction, so a crash leaves either the old keys or the new one, never neither nor both.
    Returns the new key and the keys revoked. Raises ``NotFound`` for an unknown gateway or
    when ``revoke_key_id`` is not an unrevoked key of this gateway, and what
    ``create_api_key`` raises for the new key.
    """
    _check_new_key(prefix, digest, usage_subject)
    with writing(db) as session:
        # Row-locks the gateway on PostgreSQL, so two rotations of one gateway take turns and
        # the second revokes the first's new key instead of leaving both live.
        if session.get(GatewayRow, gateway_id, with_for_update=True) is None:
            raise NotFound(f"no gateway with id {gateway_id}")
        old = _revocable_keys(session, gateway_id, revoke_key_id)
        now = utc_now()
        for row in old:
            row.revoked_at = now
        new = ApiKeyRow(
            gateway_id=gateway_id, prefix=prefix, digest=digest, usage_subject=usage_subject, created_at=now
        )
        session.add(new)
        session.flush()
        return _api_key_value(new), tuple(_api_key_value(row) for row in old)


def _revocable_keys(session: Session, gateway_id: int, key_id: int | None) -> list[ApiKeyRow]:
    query = select(ApiKeyRow).where(ApiKeyRow.gateway_id == gateway_id, ApiKeyRow.revoked_at.is_(None))
    if key_id is None:
        return list(session.scalars(query.order_by(ApiKeyRow.id)))
    row = session.scalars(query.where(ApiKeyRow.id == key_id)).one_or_none()
    if row is None:
        raise NotFound(f"gateway {gateway_id} has no unrevoked API key with id {key_id}")
    return [row]


def list_api_keys(db: Database, gateway_id: int) -> tuple[ApiKey, ...]:
    """Return a gateway's keys (revoked ones included), oldest first."""
    with reading(db) as session:
        rows = session.scalars(
            select(ApiKeyRow).where(ApiKeyRow.gateway_id == gateway_id).order_by(ApiKeyRow.id)
        )
        return tuple(_api_key_value(row) for row in rows)


def authenticate_api_key(db: Database, digest: bytes) -> AuthenticatedKey | None:
    """Return the unrevoked key with this digest and its gateway, or None.

    The gateway may be disabled: the caller decides between 401 (None) and 403 (disabled).
    """
    with reading(db) as session:
        found = session.execute(
            select(ApiKeyRow, GatewayRow)
            .join(GatewayRow, GatewayRow.id == ApiKeyRow.gateway_id)
            .where(ApiKeyRow.digest == digest, ApiKeyRow.revoked_at.is_(None))
        ).one_or_none()
        if found is None:
            return None
        return AuthenticatedKey(key=_api_key_value(found[0]), gateway=gateway_value(found[1]))


def _check_new_key(prefix: str, digest: bytes, usage_subject: str | None) -> None:
    check_text("prefix", prefix, limits.API_KEY_PREFIX_LENGTH_MAX)
    if usage_subject is not None:
        check_text("usage_subject", usage_subject, TEXT_ID_LENGTH_MAX)
    if not isinstance(digest, bytes) or len(digest) != API_KEY_DIGEST_BYTES:
        raise InvalidLedgerInput(
            f"digest: expected {API_KEY_DIGEST_BYTES} bytes, got {len(digest)} "
            f"({type(digest).__name__})"
        )


def account_code(kind: AccountKind, gateway_id: int) -> str:
    """The unique code of a gateway's account, e.g. ``gateway:7:ticket_liability``."""
    return f"gateway:{gateway_id}:{kind.value}"


def gateway_value(row: GatewayRow) -> Gateway:
    return Gateway(
        id=row.id, name=row.name, status=GatewayStatus(row.status), created_at=row.created_at
    )


def _gateway_row(session: Session, gateway_id: int) -> GatewayRow:
    row = session.get(GatewayRow, gateway_id)
    if row is None:
        raise NotFound(f"no gateway with id {gateway_id}")
    return row


def _api_key_value(row: ApiKeyRow) -> ApiKey:
    return ApiKey(
        id=row.id,
        gateway_id=row.gateway_id,
        prefix=row.prefix,
        usage_subject=row.usage_subject,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )
