"""Remote-signer sessions: load-and-lock the head, then record a signing call atomically.

The signing service does, inside one ``locked_session`` block (one database transaction):
lock the head (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` write
lock), check idempotency with ``find_record``, ``check_spend`` against the gateway's credit
control (which locks its account rows until commit), sign in memory, then ``record`` the call —
session head, signing record, one row per ticket and the balanced postings — and commit
before it answers. A retry of an already recorded (StateID, SequenceNumber) or request id
returns the stored record (``RecordResult.EXISTS``) and writes nothing; a ticket whose
(recipientRandHash, nonce) or hash was issued before raises ``DuplicateTicket`` and writes
nothing (the unique constraints of ``signed_tickets`` are the last line of defence).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from fractions import Fraction

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clearinghouse.ledger.accounts import lock_gateway_accounts, post
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
from clearinghouse.ledger.models import PaymentSessionRow, SignedTicketRow, SigningRecordRow
from clearinghouse.ledger.records import record_row, record_value, session_value, write_head
from clearinghouse.ledger.spends import count_spend
from clearinghouse.ledger.transactions import reading, utc_now, writing
from clearinghouse.ledger.values import (
    AccountKind,
    RecordOutcome,
    RecordResult,
    SessionHead,
    SignedTicket,
    SigningCall,
    SigningRecord,
    TransactionKind,
)


class SessionLock:
    """A session's head, locked for the duration of one write transaction."""

    def __init__(self, session: Session, state_id: str, row: PaymentSessionRow | None) -> None:
        self._session = session
        self._state_id = state_id
        self._row = row
        # What check_spend allowed in this transaction: (gateway, subject, EV at most).
        self._allowed: tuple[int, str | None, Fraction] | None = None

    @property
    def head(self) -> SessionHead | None:
        """The stored head, or None for a session that has never been recorded."""
        return None if self._row is None else session_value(self._row)

    def find_record(self, sequence_number: int) -> SigningRecord | None:
        """The record of this session's call with that sequence number, if one exists."""
        row = self._session.scalars(
            select(SigningRecordRow).where(
                SigningRecordRow.state_id == self._state_id,
                SigningRecordRow.sequence_number == sequence_number,
            )
        ).one_or_none()
        return None if row is None else record_value(row)

    def last_issued_nonce(self, recipient_rand_hash: bytes) -> int:
        """The highest nonce ever signed under this recipientRandHash by any session, or 0."""
        return _last_issued_nonce(self._session, recipient_rand_hash)

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
        check_spend(self._session, gateway_id, usage_subject, spend_wei, now)
        self._allowed = (gateway_id, usage_subject, spend_wei)

    def record(self, call: SigningCall) -> RecordOutcome:
        """Write the call's head, record, tickets and postings; or return the stored record.

        Raises ``IdempotencyConflict`` when the idempotency key was used by a different
        request (different ``request_digest``), ``StaleSession`` when the new head does not
        follow the stored one (sequence, owner, orchestrator, app, type, initial price),
        ``InvariantViolation`` when the new balance is not old + EV signed − fee, and
        ``DuplicateTicket`` when a ticket was issued before. Nothing is written on any error.
        """
        if call.session.state_id != self._state_id:
            raise InvalidLedgerInput(
                f"call is for session {call.session.state_id!r}, lock holds {self._state_id!r}"
            )
        existing = self._existing(call)
        if existing is not None:
            return existing
        self._check_allowed(call)
        _check_transition(self._row, call)
        head_before = self._row
        try:
            with self._session.begin_nested():
                row = self._insert(call)
        except IntegrityError as exc:
            self._row = head_before
            # A concurrent writer recorded the same call first: answer as a retry would.
            raced = self._existing(call)
            if raced is not None:
                return raced
            raise self._classify_conflict(call) from exc
        self._post(call, row)
        return RecordOutcome(RecordResult.CREATED, record_value(row))

    def _existing(self, call: SigningCall) -> RecordOutcome | None:
        key = SigningRecordRow.state_id == self._state_id
        key = key & (SigningRecordRow.sequence_number == call.session.sequence_number)
        if call.request_id is not None:
            by_request = (SigningRecordRow.gateway_id == call.gateway_id) & (
                SigningRecordRow.request_id == call.request_id
            )
            key = or_(key, by_request)
        row = self._session.scalars(select(SigningRecordRow).where(key).limit(1)).first()
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
        return RecordOutcome(RecordResult.EXISTS, record_value(row))

    def _insert(self, call: SigningCall) -> SigningRecordRow:
        now = utc_now()
        self._row = write_head(self._session, self._row, call.session, now)
        row = record_row(call, now)
        self._session.add(row)
        self._session.flush()
        self._session.add_all(
            SignedTicketRow(
                signing_record_id=row.id,
                recipient_rand_hash=t.recipient_rand_hash,
                sender_nonce=t.sender_nonce,
                ticket_hash=t.ticket_hash,
            )
            for t in call.tickets
        )
        self._session.flush()
        return row

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

    def _post(self, call: SigningCall, record: SigningRecordRow) -> None:
        accounts = lock_gateway_accounts(self._session, call.gateway_id)
        ev_signed = call.ev_signed
        post(
            self._session,
            TransactionKind.SIGNING,
            actor=f"gateway:{call.gateway_id}",
            reason=f"signing session {self._state_id} sequence {call.session.sequence_number}",
            postings=[
                (accounts[AccountKind.RECEIVABLE], ev_signed),
                (accounts[AccountKind.TICKET_LIABILITY], -ev_signed),
            ],
            signing_record_id=record.id,
        )
        count_spend(
            self._session, call.gateway_id, call.usage_subject, ev_signed, record.created_at.date()
        )

    def _classify_conflict(self, call: SigningCall) -> LedgerConflict:
        """Name the rule a concurrent writer made this insert break (savepoint rolled back)."""
        duplicates = _issued_tickets(self._session, call.tickets)
        if duplicates:
            pairs = (f"(0x{t.recipient_rand_hash.hex()}, {t.sender_nonce})" for t in duplicates)
            return DuplicateTicket(
                "tickets already issued (recipientRandHash, nonce): " + ", ".join(pairs)
            )
        created = self._session.get(PaymentSessionRow, self._state_id) is not None
        if self._row is None and created:
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
    with writing(db) as session:
        row = session.scalars(
            select(PaymentSessionRow)
            .where(PaymentSessionRow.state_id == state_id)
            .with_for_update()
        ).one_or_none()
        yield SessionLock(session, state_id, row)


def record_signing_call(db: Database, call: SigningCall) -> RecordOutcome:
    """Lock the call's session and record it in one transaction (see ``SessionLock.record``)."""
    with locked_session(db, call.session.state_id) as lock:
        return lock.record(call)


def get_session_head(db: Database, state_id: str) -> SessionHead | None:
    """Return the stored head of a session without locking it, or None."""
    with reading(db) as session:
        row = session.get(PaymentSessionRow, state_id)
        return None if row is None else session_value(row)


def find_signing_record(
    db: Database, *, state_id: str, sequence_number: int
) -> SigningRecord | None:
    """Return the record of one (StateID, SequenceNumber), or None."""
    with reading(db) as session:
        row = session.scalars(
            select(SigningRecordRow).where(
                SigningRecordRow.state_id == state_id,
                SigningRecordRow.sequence_number == sequence_number,
            )
        ).one_or_none()
        return None if row is None else record_value(row)


def last_issued_nonce(db: Database, recipient_rand_hash: bytes) -> int:
    """The highest nonce ever signed under this recipientRandHash, or 0 if none."""
    with reading(db) as session:
        return _last_issued_nonce(session, recipient_rand_hash)


def signed_tickets(db: Database, signing_record_id: int) -> tuple[SignedTicket, ...]:
    """Return the tickets of one signing record in nonce order."""
    with reading(db) as session:
        rows = session.scalars(
            select(SignedTicketRow)
            .where(SignedTicketRow.signing_record_id == signing_record_id)
            .order_by(SignedTicketRow.sender_nonce)
        )
        return tuple(
            SignedTicket(r.recipient_rand_hash, r.sender_nonce, r.ticket_hash) for r in rows
        )


def _check_transition(row: PaymentSessionRow | None, call: SigningCall) -> None:
    new = call.session
    old_balance = Fraction(0) if row is None else Fraction(row.balance_num, row.balance_den)
    expected_balance = old_balance + call.ev_signed - call.fee
    if row is not None:
        old = session_value(row)
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


def _last_issued_nonce(session: Session, recipient_rand_hash: bytes) -> int:
    highest = session.scalar(
        select(func.max(SignedTicketRow.sender_nonce)).where(
            SignedTicketRow.recipient_rand_hash == recipient_rand_hash
        )
    )
    return highest or 0


def _issued_tickets(session: Session, tickets: tuple[SignedTicket, ...]) -> list[SignedTicket]:
    first, last = tickets[0], tickets[-1]
    rows = session.scalars(
        select(SignedTicketRow).where(
            or_(
                (SignedTicketRow.recipient_rand_hash == first.recipient_rand_hash)
                & SignedTicketRow.sender_nonce.between(first.sender_nonce, last.sender_nonce),
                SignedTicketRow.ticket_hash.in_([t.ticket_hash for t in tickets]),
            )
        )
    )
    return [SignedTicket(r.recipient_rand_hash, r.sender_nonce, r.ticket_hash) for r in rows]
