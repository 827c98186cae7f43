"""Remote-signer sessions: load-and-lock the head, then record a signing call atomically.

The signing service does, inside one ``locked_session`` block (one database transaction):
lock the head (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` write
lock), read the kill switch (``signing_halt``), check idempotency with ``find_record``,
``check_spend`` against the gateway's credit control (which locks its account rows until
commit), for a new session count the gateway's open sessions (``open_sessions``, under the same
account lock), sign in memory, then ``record`` the call — session head, signing record, one row per
ticket and the balanced postings — and commit before it answers. A retry of an already
recorded (StateID, SequenceNumber) or request id returns the stored record
(``RecordResult.EXISTS``) and writes nothing; a ticket whose (recipientRandHash, nonce) or hash
was issued before raises ``DuplicateTicket`` and writes nothing (the unique constraints of
``signed_tickets`` are the last line of defence).

This is the hot path, so it is written with prepared Core statements on one connection: no
ORM unit of work, no savepoint, no row read back after it was written. When a unique
constraint refuses the record (a concurrent writer got there first), the whole transaction is
rolled back and the conflict is classified by fresh reads; the lock then writes nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from clearinghouse.ledger.accounts import lock_gateway_accounts, post
from clearinghouse.ledger.control import halt_in_force
from clearinghouse.ledger.credit import check_spend
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import (
    DuplicateTicket,
    IdempotencyConflict,
    InvalidLedgerInput,
    InvariantViolation,
    LedgerConflict,
    StaleSession,
)
from clearinghouse.ledger.exposure import count_exposure
from clearinghouse.ledger.first_calls import claim_first_call
from clearinghouse.ledger.hourly_usage import Bucket, Usage, count_usage, hour_of
from clearinghouse.ledger.models import PaymentSessionRow, SignedTicketRow, SigningRecordRow, table
from clearinghouse.ledger.records import (
    head_moves,
    new_head_columns,
    record_columns,
    record_value,
    session_value,
)
from clearinghouse.ledger.spends import count_spend
from clearinghouse.ledger.transactions import reading, utc_now, writing_connection
from clearinghouse.ledger.values import (
    Account,
    AccountKind,
    KillSwitch,
    RecordOutcome,
    RecordResult,
    SessionHead,
    SignedTicket,
    SigningCall,
    SigningRecord,
    TransactionKind,
)

_SESSIONS = table(PaymentSessionRow)
_RECORDS = table(SigningRecordRow)
_TICKETS = table(SignedTicketRow)

# The key's parameter is not named like a column: an UPDATE would take it as a value to SET.
_HEAD = select(_SESSIONS).where(_SESSIONS.c.state_id == bindparam("key_state_id"))
_HEAD_FOR_UPDATE = _HEAD.with_for_update()
_INSERT_HEAD = insert(_SESSIONS)
_MOVE_HEAD = update(_SESSIONS).where(_SESSIONS.c.state_id == bindparam("key_state_id"))
_BY_SEQUENCE = (_RECORDS.c.state_id == bindparam("state_id")) & (
    _RECORDS.c.sequence_number == bindparam("sequence_number")
)
_BY_REQUEST = (_RECORDS.c.gateway_id == bindparam("gateway_id")) & (
    _RECORDS.c.request_id == bindparam("request_id")
)
_RECORD_BY_SEQUENCE = select(_RECORDS).where(_BY_SEQUENCE).limit(1)
_RECORD_BY_SEQUENCE_OR_REQUEST = select(_RECORDS).where(or_(_BY_SEQUENCE, _BY_REQUEST)).limit(1)
_INSERT_RECORD = insert(_RECORDS).returning(_RECORDS.c.id)
_INSERT_TICKET = insert(_TICKETS)
_NONCE_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_LAST_NONCE = select(func.max(_TICKETS.c.sender_nonce)).where(
    _TICKETS.c.recipient_rand_hash == bindparam("recipient_rand_hash")
)
# A range scan of the (gateway_id, updated_at) index (migration 0009): it reads the open sessions
# only, however many the gateway ever had; it runs once per new session, not per call.
_OPEN_SESSIONS = select(func.count(), func.min(_SESSIONS.c.updated_at)).where(
    (_SESSIONS.c.gateway_id == bindparam("gateway_id")) & (_SESSIONS.c.updated_at >= bindparam("since"))
)
_TICKETS_OF_RECORD = (
    select(_TICKETS.c.recipient_rand_hash, _TICKETS.c.sender_nonce, _TICKETS.c.ticket_hash)
    .where(_TICKETS.c.signing_record_id == bindparam("signing_record_id"))
    .order_by(_TICKETS.c.sender_nonce)
)


class SessionLock:
    """A session's head, locked for the duration of one write transaction."""

    def __init__(self, connection: Connection, state_id: str, head: SessionHead | None) -> None:
        self._connection = connection
        self._state_id = state_id
        self._head = head
        # What check_spend allowed in this transaction: (gateway, subject, EV at most).
        self._allowed: tuple[int, str | None, Fraction] | None = None
        # The accounts check_spend locked, so record books against them without reading them
        # again; None once record moved their balances.
        self._accounts: dict[AccountKind, Account] | None = None
        # A conflict rolled the transaction back: what was checked in it no longer holds.
        self._rolled_back = False

    @property
    def head(self) -> SessionHead | None:
        """The stored head, or None for a session that has never been recorded."""
        return self._head

    def signing_halt(self, gateway_id: int) -> KillSwitch | None:
        """The engaged kill switch that stops this gateway's signing (global first), or None.

        Read in this transaction, so a switch engaged before the lock was taken is seen, and
        the check costs no transaction of its own.
        """
        return halt_in_force(self._connection, gateway_id)

    def find_record(self, sequence_number: int) -> SigningRecord | None:
        """The record of this session's call with that sequence number, if one exists."""
        key = {"state_id": self._state_id, "sequence_number": sequence_number}
        row = self._connection.execute(_RECORD_BY_SEQUENCE, key).first()
        return None if row is None else record_value(row._mapping)

    def last_issued_nonce(self, recipient_rand_hash: bytes) -> int:
        """The highest nonce ever signed under this recipientRandHash by any session, or 0.

        On PostgreSQL this first takes a transaction-scoped advisory lock on the hash, so two
        sessions sharing an orchestrator's ticket params (a gateway reusing one OrchestratorInfo
        for several streams) queue for nonces instead of both taking the next one and one losing
        to the unique constraint. Lock order: session row, then this, then the gateway's accounts
        (check_spend, record), on every path, so lockers never deadlock. SQLite's single writer
        already serializes.
        """
        if self._connection.dialect.name == "postgresql":
            key = int.from_bytes(recipient_rand_hash[:8], "big", signed=True)
            self._connection.execute(_NONCE_LOCK, {"key": key})
        return _last_issued_nonce(self._connection, recipient_rand_hash)

    def claim_first_call(self, gateway_id: int, request_key: bytes, window_s: float) -> SigningRecord | None:
        """For a session's first call (no stored head): the record of the identical first call
        this gateway made within ``window_s``, else None after claiming ``request_key`` for this
        session, so a racing identical call waits and then gets this one's answer. See
        ``first_calls.claim_first_call`` (its errors too); call it before planning, so the racer
        holds no other lock yet."""
        self._require_not_rolled_back()
        return claim_first_call(self._connection, gateway_id=gateway_id, request_key=request_key,
                                state_id=self._state_id, now=utc_now(), window_s=window_s)

    def check_spend(
        self, gateway_id: int, usage_subject: str | None, spend_wei: Fraction, now: datetime
    ) -> None:
        """Refuse, before signing, a call whose EV would break the gateway's credit control.

        Locks the gateway's account rows until this transaction ends (after the session row:
        the same order as ``record``, so lockers never deadlock), so racing calls of one
        gateway cannot both spend the last funds. Raises ``SpendRefused(limit, message)`` for
        the first limit broken in ``SpendLimit`` order (balance, credit limit, quota, subject
        quota), ``InvalidLedgerInput`` for a negative spend or naive ``now``, ``NotFound`` for
        an unknown gateway. Writes nothing; a later ``record`` in this lock must book the same
        gateway and subject and at most ``spend_wei`` (else ``InvariantViolation``).
        """
        self._require_not_rolled_back()
        self._accounts = check_spend(self._connection, gateway_id, usage_subject, spend_wei, now)
        self._allowed = (gateway_id, usage_subject, spend_wei)

    def open_sessions(self, gateway_id: int, since: datetime) -> tuple[int, datetime | None]:
        """How many of the gateway's sessions moved at or after ``since``, and when the least
        recent of them last moved (None when there are none).

        Locks the gateway's account rows first (the lock check_spend and record take, in the same
        order: after the session row and the nonce lock), so two calls opening sessions for one
        gateway count one after the other and cannot both take the last place; on SQLite the
        write lock already serializes them. Raises ``NotFound`` for a gateway without accounts.
        """
        self._require_not_rolled_back()
        lock_gateway_accounts(self._connection, gateway_id)
        row = self._connection.execute(_OPEN_SESSIONS, {"gateway_id": gateway_id, "since": since}).one()
        count: int = row[0]
        least_recent: datetime | None = row[1]
        return count, least_recent

    def record(self, call: SigningCall) -> RecordOutcome:
        """Write the call's head, record, tickets and postings; or return the stored record.

        Raises ``IdempotencyConflict`` when the idempotency key was used by a different
        request (different ``request_digest``), ``StaleSession`` when the new head does not
        follow the stored one (sequence, owner, orchestrator, app, type, initial price),
        ``InvariantViolation`` when the new balance is not old + EV signed − fee, and
        ``DuplicateTicket`` when a ticket was issued before. Nothing is written on any error.
        After a concurrent writer's conflict (returned as EXISTS or raised) the transaction
        has been rolled back, and a further ``record`` or ``check_spend`` in this lock raises
        ``InvariantViolation``.
        """
        self._require_not_rolled_back()
        if call.session.state_id != self._state_id:
            raise InvalidLedgerInput(
                f"call is for session {call.session.state_id!r}, lock holds {self._state_id!r}"
            )
        existing = self._existing(call) if self._may_be_recorded(call) else None
        if existing is not None:
            return existing
        self._check_allowed(call)
        _check_transition(self._head, call)
        now = utc_now()
        columns = record_columns(call, now)
        try:
            record_id = self._insert(call, columns, now)
        except IntegrityError as exc:
            return self._after_conflict(call, exc)
        self._head = call.session
        self._post(call, record_id, now)
        return RecordOutcome(RecordResult.CREATED, record_value(columns | {"id": record_id}))

    def _may_be_recorded(self, call: SigningCall) -> bool:
        """Whether a stored record may answer this call, so looking for one is worth a query.

        Records reference their session's row, and the head moves with every record: a
        (StateID, SequenceNumber) past the head, or of a session without a head, has no
        record. A request id may have been used by any session, so it is always looked up.
        """
        if call.request_id is not None:
            return True
        head = self._head
        return head is not None and call.session.sequence_number <= head.sequence_number

    def _existing(self, call: SigningCall) -> RecordOutcome | None:
        key: dict[str, Any] = {
            "state_id": self._state_id,
            "sequence_number": call.session.sequence_number,
        }
        if call.request_id is None:
            statement = _RECORD_BY_SEQUENCE
        else:
            statement = _RECORD_BY_SEQUENCE_OR_REQUEST
            key |= {"gateway_id": call.gateway_id, "request_id": call.request_id}
        row = self._connection.execute(statement, key).first()
        if row is None:
            return None
        if row.gateway_id != call.gateway_id:
            raise StaleSession(f"session {self._state_id!r} belongs to another gateway")
        both = row.request_digest is not None and call.request_digest is not None
        if both and row.request_digest != call.request_digest:
            raise IdempotencyConflict(
                f"session {self._state_id!r} sequence {row.sequence_number} "
                f"(request id {row.request_id!r}) was recorded for a different request"
            )
        return RecordOutcome(RecordResult.EXISTS, record_value(row._mapping))

    def _insert(self, call: SigningCall, columns: dict[str, Any], now: datetime) -> int:
        if self._head is None:
            self._connection.execute(_INSERT_HEAD, new_head_columns(call.session, now))
        else:
            moves = head_moves(call.session, now)
            self._connection.execute(_MOVE_HEAD, moves | {"key_state_id": self._state_id})
        record_id: int = self._connection.execute(_INSERT_RECORD, columns).scalar_one()
        tickets = [
            {
                "signing_record_id": record_id,
                "recipient_rand_hash": t.recipient_rand_hash,
                "sender_nonce": t.sender_nonce,
                "ticket_hash": t.ticket_hash,
            }
            for t in call.tickets
        ]
        self._connection.execute(_INSERT_TICKET, tickets)
        return record_id

    def _after_conflict(self, call: SigningCall, exc: IntegrityError) -> RecordOutcome:
        """A unique constraint refused the record: undo it all, then answer as a retry would.

        PostgreSQL refuses every statement after a violation until the transaction ends, so the
        whole transaction is rolled back (cheaper than a savepoint around every record); the
        connection then reads in a fresh transaction what the concurrent writer committed.
        """
        self._connection.rollback()
        self._rolled_back = True
        raced = self._existing(call)
        if raced is not None:
            return raced
        raise self._classify_conflict(call) from exc

    def _require_not_rolled_back(self) -> None:
        if self._rolled_back:
            raise InvariantViolation(
                f"session {self._state_id!r}: this transaction was rolled back after a "
                "conflict; nothing more may be checked or recorded in it"
            )

    def _check_allowed(self, call: SigningCall) -> None:
        """A call checked by ``check_spend`` must book what was checked, never more."""
        if self._allowed is None:
            return
        gateway_id, subject, spend = self._allowed
        if (call.gateway_id, call.usage_subject) != (gateway_id, subject) or call.ev_signed > spend:
            raise InvariantViolation(
                f"session {self._state_id!r}: checked gateway {gateway_id} subject {subject!r} "
                f"for {spend} wei, recording gateway {call.gateway_id} subject "
                f"{call.usage_subject!r} for {call.ev_signed} wei"
            )

    def _post(self, call: SigningCall, record_id: int, now: datetime) -> None:
        accounts = self._accounts
        if accounts is None:
            accounts = lock_gateway_accounts(self._connection, call.gateway_id)
        self._accounts = None
        ev_signed = call.ev_signed
        post(
            self._connection,
            TransactionKind.SIGNING,
            actor=f"gateway:{call.gateway_id}",
            reason=f"signing session {self._state_id} sequence {call.session.sequence_number}",
            postings=[
                (accounts[AccountKind.RECEIVABLE], ev_signed),
                (accounts[AccountKind.TICKET_LIABILITY], -ev_signed),
            ],
            signing_record_id=record_id,
        )
        count_spend(self._connection, call.gateway_id, call.usage_subject, ev_signed, now.date())
        count_usage(self._connection, _bucket(call, now), Usage(
            1, len(call.tickets), call.units, ev_signed, call.fee
        ))
        count_exposure(
            self._connection,
            gateway_id=call.gateway_id,
            recipient=call.recipient,
            creation_round=call.creation_round,
            creation_round_block_hash=call.creation_round_block_hash,
            tickets=len(call.tickets),
            face_value_wei=call.face_value,
            ev_signed=ev_signed,
        )

    def _classify_conflict(self, call: SigningCall) -> LedgerConflict:
        """Name the rule a concurrent writer made this insert break (after the rollback)."""
        duplicates = _issued_tickets(self._connection, call.tickets)
        if duplicates:
            pairs = (f"(0x{t.recipient_rand_hash.hex()}, {t.sender_nonce})" for t in duplicates)
            return DuplicateTicket(
                "tickets already issued (recipientRandHash, nonce): " + ", ".join(pairs)
            )
        head = self._connection.execute(_HEAD, {"key_state_id": self._state_id}).first()
        if self._head is None and head is not None:
            return StaleSession(f"session {self._state_id!r} was created concurrently")
        return LedgerConflict(f"session {self._state_id!r}: the database refused the record")


@contextmanager
def locked_session(db: Database, state_id: str) -> Iterator[SessionLock]:
    """Open a write transaction holding the session's head locked; commit on normal exit.

    On PostgreSQL the head row is locked with ``SELECT … FOR UPDATE``, so a second call on the
    same session waits; calls on other sessions run in parallel. On SQLite the transaction
    starts with ``BEGIN IMMEDIATE`` and holds the database's single write lock. Any exception
    rolls the whole transaction back.
    """
    with writing_connection(db) as connection:
        row = connection.execute(_HEAD_FOR_UPDATE, {"key_state_id": state_id}).first()
        head = None if row is None else session_value(row._mapping)
        yield SessionLock(connection, state_id, head)


def record_signing_call(db: Database, call: SigningCall) -> RecordOutcome:
    """Lock the call's session and record it in one transaction (see ``SessionLock.record``)."""
    with locked_session(db, call.session.state_id) as lock:
        return lock.record(call)


def get_session_head(db: Database, state_id: str) -> SessionHead | None:
    """Return the stored head of a session without locking it, or None."""
    with reading(db) as session:
        row = session.connection().execute(_HEAD, {"key_state_id": state_id}).first()
        return None if row is None else session_value(row._mapping)


def find_signing_record(
    db: Database, *, state_id: str, sequence_number: int
) -> SigningRecord | None:
    """Return the record of one (StateID, SequenceNumber), or None."""
    key = {"state_id": state_id, "sequence_number": sequence_number}
    with reading(db) as session:
        row = session.connection().execute(_RECORD_BY_SEQUENCE, key).first()
        return None if row is None else record_value(row._mapping)


def last_issued_nonce(db: Database, recipient_rand_hash: bytes) -> int:
    """The highest nonce ever signed under this recipientRandHash, or 0 if none."""
    with reading(db) as session:
        return _last_issued_nonce(session.connection(), recipient_rand_hash)


def signed_tickets(db: Database, signing_record_id: int) -> tuple[SignedTicket, ...]:
    """Return the tickets of one signing record in nonce order."""
    with reading(db) as session:
        rows = session.connection().execute(
            _TICKETS_OF_RECORD, {"signing_record_id": signing_record_id}
        )
        return tuple(SignedTicket(row.recipient_rand_hash, row.sender_nonce, row.ticket_hash) for row in rows)


def _check_transition(old: SessionHead | None, call: SigningCall) -> None:
    new = call.session
    old_balance = Fraction(0) if old is None else old.balance
    expected_balance = old_balance + call.ev_signed - call.fee
    if old is not None:
        if old.gateway_id != new.gateway_id:
            raise StaleSession(f"session {new.state_id!r} belongs to another gateway")
        if new.sequence_number != old.sequence_number + 1:
            raise StaleSession(
                f"session {new.state_id!r}: expected sequence {old.sequence_number + 1}, "
                f"got {new.sequence_number}"
            )
        fixed = (
            "orchestrator_address",
            "app",
            "billing_type",
            "initial_price_per_unit",
            "initial_pixels_per_unit",
        )
        changed = [name for name in fixed if getattr(old, name) != getattr(new, name)]
        if changed:
            raise StaleSession(f"session {new.state_id!r}: fields changed: {', '.join(changed)}")
    if new.balance != expected_balance:
        raise InvariantViolation(
            f"session {new.state_id!r}: expected balance {expected_balance} "
            f"(old + EV signed - fee), got {new.balance}"
        )


def _last_issued_nonce(connection: Connection, recipient_rand_hash: bytes) -> int:
    key = {"recipient_rand_hash": recipient_rand_hash}
    highest: int | None = connection.execute(_LAST_NONCE, key).scalar()
    return highest or 0


def _issued_tickets(
    connection: Connection, tickets: tuple[SignedTicket, ...]
) -> list[SignedTicket]:
    first, last = tickets[0], tickets[-1]
    rows = connection.execute(
        select(_TICKETS.c.recipient_rand_hash, _TICKETS.c.sender_nonce, _TICKETS.c.ticket_hash)
        .where(
            or_(
                (_TICKETS.c.recipient_rand_hash == first.recipient_rand_hash)
                & _TICKETS.c.sender_nonce.between(first.sender_nonce, last.sender_nonce),
                _TICKETS.c.ticket_hash.in_([t.ticket_hash for t in tickets]),
            )
        )
    )
    return [SignedTicket(row.recipient_rand_hash, row.sender_nonce, row.ticket_hash) for row in rows]


def _bucket(call: SigningCall, now: datetime) -> Bucket:
    return Bucket(
        gateway_id=call.gateway_id, hour=hour_of(now), usage_subject=call.usage_subject,
        pipeline=call.pipeline, model_id=call.model_id, app=call.session.app, recipient=call.recipient,
        rate_snapshot_id=call.rate_snapshot_id,
    )
