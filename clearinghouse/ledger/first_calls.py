"""A session's first call, remembered by what it asked, so a retried first call is answered once.

A remote-signer session's first call carries no state, so its retry (the client lost the answer
and sends the byte-identical request again) looks like a new session: without this, it would
open a second session and sign a second set of tickets, and the gateway would be billed for
tickets it never received. ``claim_first_call`` runs in the signing transaction of every first
call, before anything is signed:

- a claim of the same (gateway, request key) made within the window: the earlier call's record
  (the caller answers with it; nothing is signed), unless that session has moved on since: then
  the client has used the answer and this is a replay, refused like any stale state
  (StaleSession, 409);
- none, or an older one: this call's claim is written (or the old one taken over) and None
  returned; the claim commits with the call's record, or rolls back with a refusal.

Race-safe on the primary key (gateway_id, request_key): two identical first calls at once
cannot both claim. On PostgreSQL the second one's INSERT … ON CONFLICT DO NOTHING waits for the
first transaction, then finds its committed claim; taking over an old claim locks its row
(SELECT … FOR UPDATE), so a racer re-reads it once the first commits. On SQLite the signing
transaction's BEGIN IMMEDIATE already makes them one after the other.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from clearinghouse.ledger.errors import InvariantViolation, StaleSession
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import FirstCallRow, PaymentSessionRow, SigningRecordRow, table
from clearinghouse.ledger.records import record_value
from clearinghouse.ledger.values import SigningRecord

_CLAIMS = table(FirstCallRow)
_RECORDS = table(SigningRecordRow)
_SESSIONS = table(PaymentSessionRow)
# The key's parameters are not named like columns: the UPDATE would take them as values to SET.
_KEY = (_CLAIMS.c.gateway_id == bindparam("key_gateway_id")) & (_CLAIMS.c.request_key == bindparam("key_request_key"))
_CLAIM = select(_CLAIMS.c.state_id, _CLAIMS.c.created_at).where(_KEY)
_CLAIM_FOR_UPDATE = _CLAIM.with_for_update()
_TAKE_OVER = update(_CLAIMS).where(_KEY).values(state_id=bindparam("new_state_id"), created_at=bindparam("now"))
_FIRST_RECORD = select(_RECORDS).where(
    (_RECORDS.c.state_id == bindparam("state_id")) & (_RECORDS.c.sequence_number == 0)
).limit(1)
_HEAD_SEQUENCE = select(_SESSIONS.c.sequence_number).where(_SESSIONS.c.state_id == bindparam("state_id"))

REQUEST_KEY_BYTES = 32


def claim_first_call(
    connection: Connection,
    *,
    gateway_id: int,
    request_key: bytes,
    state_id: str,
    now: datetime,
    window_s: float,
) -> SigningRecord | None:
    """The record of the same first call claimed within ``window_s`` before ``now``, or None
    after claiming it for ``state_id`` (see the module docstring).

    Raises InvalidLedgerInput for a request key that is not 32 bytes or a negative window,
    StaleSession when the claimed session has moved past its first call, and InvariantViolation
    when a claim within the window has no record (they commit together).
    """
    if len(request_key) != REQUEST_KEY_BYTES or window_s < 0:
        raise InvalidLedgerInput(
            f"need a {REQUEST_KEY_BYTES}-byte request key and window_s >= 0, got {len(request_key)} bytes, {window_s}"
        )
    key = {"key_gateway_id": gateway_id, "key_request_key": request_key}
    since = now - timedelta(seconds=window_s)
    claimed = connection.execute(_CLAIM_FOR_UPDATE, key).first()
    if claimed is None:
        row = {"gateway_id": gateway_id, "request_key": request_key, "state_id": state_id, "created_at": now}
        if _insert(connection, row):
            return None
        # A racing identical first call claimed it and committed while this one waited.
        claimed = connection.execute(_CLAIM, key).one()
    if claimed.created_at >= since:
        return _record_of(connection, claimed.state_id)
    connection.execute(_TAKE_OVER, key | {"new_state_id": state_id, "now": now})
    return None


def _insert(connection: Connection, row: dict[str, object]) -> bool:
    """Insert the claim unless the key exists (waiting for a transaction that is writing it);
    True when this one was written."""
    dialect = connection.dialect.name
    insert = postgresql.insert(_CLAIMS) if dialect == "postgresql" else sqlite.insert(_CLAIMS)
    statement = insert.on_conflict_do_nothing(index_elements=["gateway_id", "request_key"])
    # RETURNING, not rowcount: the drivers do not all report a row count for ON CONFLICT.
    return connection.execute(statement.returning(_CLAIMS.c.state_id), row).first() is not None


def _record_of(connection: Connection, state_id: str) -> SigningRecord:
    row = connection.execute(_FIRST_RECORD, {"state_id": state_id}).first()
    if row is None:
        raise InvariantViolation(f"first call of session {state_id!r} is claimed but has no record")
    sequence: int = connection.execute(_HEAD_SEQUENCE, {"state_id": state_id}).scalar_one()
    if sequence != 0:
        raise StaleSession(
            f"this first call was answered and its session has moved on to sequence {sequence}; "
            "use the state returned by the last call"
        )
    return record_value(row._mapping)
