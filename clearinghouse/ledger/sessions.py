"""Remote-signer sessions: reading heads, records and tickets; recording one signed call.

Signing calls are recorded by the committer (committer.py), in batches: each call's head,
record and tickets are written in its savepoint through ``CallLedger`` (batch.py), which also
answers the questions a call asks first (kill switch, head, idempotency, last nonce, open
sessions, credit). ``record_signing_call`` records one already-signed call in a batch of its
own, in the calling thread: what tools and tests use to put a call in the ledger. A retry of an
already recorded (StateID, SequenceNumber) or request id returns the stored record
(``RecordResult.EXISTS``) and writes nothing; a ticket whose (recipientRandHash, nonce) or hash
was issued before raises ``DuplicateTicket`` and writes nothing (the unique constraints of
``signed_tickets`` are the last line of defence).

The readers here each open a read transaction of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, select

from clearinghouse.ledger.batch import CallKeys, CallLedger
from clearinghouse.ledger.committer import commit_calls
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.models import PaymentSessionRow, SignedTicketRow, SigningRecordRow, table
from clearinghouse.ledger.records import record_value, session_value
from clearinghouse.ledger.transactions import reading, utc_now
from clearinghouse.ledger.values import RecordOutcome, SigningRecord
from clearinghouse.domain.sessions import SessionHead
from clearinghouse.domain.tickets import SignedTicket, SigningCall

_SESSIONS = table(PaymentSessionRow)
_RECORDS = table(SigningRecordRow)
_TICKETS = table(SignedTicketRow)

_HEAD = select(_SESSIONS).where(_SESSIONS.c.state_id == bindparam("key_state_id"))
_RECORD_BY_SEQUENCE = (
    select(_RECORDS)
    .where((_RECORDS.c.state_id == bindparam("state_id")) & (_RECORDS.c.sequence_number == bindparam("sequence_number")))
    .limit(1)
)
_LAST_NONCE = select(func.max(_TICKETS.c.sender_nonce)).where(
    _TICKETS.c.recipient_rand_hash == bindparam("recipient_rand_hash")
)
_TICKETS_OF_RECORD = (
    select(_TICKETS.c.recipient_rand_hash, _TICKETS.c.sender_nonce, _TICKETS.c.ticket_hash)
    .where(_TICKETS.c.signing_record_id == bindparam("signing_record_id"))
    .order_by(_TICKETS.c.sender_nonce)
)


@dataclass(frozen=True, slots=True)
class _RecordCall:
    """The work of recording one already-signed call (``record_signing_call``)."""

    call: SigningCall
    keys: CallKeys

    def __call__(self, ledger: CallLedger) -> RecordOutcome:
        return ledger.record(self.call)


def record_signing_call(db: Database, call: SigningCall) -> RecordOutcome:
    """Record one signed call in a batch of its own, in the calling thread (``CallLedger.record``:
    same outcomes and errors). Its rows are stamped ``call.signed_at``, or now."""
    keys = CallKeys(
        state_id=call.session.state_id,
        gateway_id=call.gateway_id,
        usage_subject=call.usage_subject,
        recipient_rand_hash=call.tickets[0].recipient_rand_hash,
        now=call.signed_at or utc_now(),
        request_id=call.request_id,
    )
    (outcome,) = commit_calls(db, [_RecordCall(call, keys)])
    result: RecordOutcome = outcome.result()
    return result


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
        highest: int | None = session.connection().execute(
            _LAST_NONCE, {"recipient_rand_hash": recipient_rand_hash}
        ).scalar()
        return highest or 0


def signed_tickets(db: Database, signing_record_id: int) -> tuple[SignedTicket, ...]:
    """Return the tickets of one signing record in nonce order."""
    with reading(db) as session:
        rows = session.connection().execute(
            _TICKETS_OF_RECORD, {"signing_record_id": signing_record_id}
        )
        return tuple(SignedTicket(row.recipient_rand_hash, row.sender_nonce, row.ticket_hash) for row in rows)

