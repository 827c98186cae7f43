"""The rows one signing call writes in its savepoint: its session head, its signing record and
the record's tickets, on the driver's cursor (statements.py). SQLite always writes them here; a
PostgreSQL batch holds them back and writes those of all its calls at once (batch_rows.py), and
comes here only when it runs again because a constraint refused one of them.

On SQLite each is one statement in the process (microseconds). On PostgreSQL each statement is
a round trip to the server, which on this project's 2-core machine costs 0.1–0.4 ms under load,
so the call's writes go in one: the head's UPDATE (or INSERT) and one statement that inserts the
record and, from the id it returns, the tickets (a data-modifying WITH over arrays), sent
together in psycopg's pipeline mode. Either way every write is checked to have landed; a unique
constraint that refuses one raises the driver's IntegrityError for the caller (batch.py) to
answer from its savepoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, bindparam, insert, update

from clearinghouse.ledger import statements
from clearinghouse.ledger.errors import InvariantViolation
from clearinghouse.ledger.models import PaymentSessionRow, SignedTicketRow, SigningRecordRow, table
from clearinghouse.ledger.records import head_moves, new_head_columns
from clearinghouse.domain.sessions import BillingType, SessionHead
from clearinghouse.domain.tickets import SigningCall

_SESSIONS = table(PaymentSessionRow)
_RECORDS = table(SigningRecordRow)
_TICKETS = table(SignedTicketRow)


@dataclass(frozen=True, slots=True)
class _Writes:
    """The per-call statements of one dialect, compiled once."""

    insert_head: statements.DriverStatement
    move_head: statements.DriverStatement
    insert_record: statements.DriverStatement
    """SQLite: the record alone (its id is the cursor's lastrowid). PostgreSQL: the record and its
    tickets in one statement, returning the record's id once per ticket written."""
    insert_tickets: statements.DriverStatement
    pipelined: bool


_WRITES: dict[str, _Writes] = {}

_RECORD_COLUMNS = tuple(column.name for column in _RECORDS.columns if column.name != "id")
_TICKET_ARRAYS = ("ticket_recipient_rand_hashes", "ticket_sender_nonces", "ticket_hashes")
_RECORD_AND_TICKETS = (
    "WITH record AS ({record}) "
    "INSERT INTO signed_tickets (signing_record_id, recipient_rand_hash, sender_nonce, ticket_hash) "
    "SELECT record.id, ticket.recipient_rand_hash, ticket.sender_nonce, ticket.ticket_hash FROM record, "
    "unnest(%(ticket_recipient_rand_hashes)s::bytea[], %(ticket_sender_nonces)s::bigint[], "
    "%(ticket_hashes)s::bytea[]) AS ticket(recipient_rand_hash, sender_nonce, ticket_hash) "
    "RETURNING signing_record_id"
)


def _writes(connection: Connection) -> _Writes:
    dialect = connection.dialect
    known = _WRITES.get(dialect.name)
    if known is not None:
        return known
    head_shape = sample_head()
    now = datetime.now(UTC)
    move = update(_SESSIONS).where(_SESSIONS.c.state_id == bindparam("key_state_id"))
    pipelined = dialect.name == "postgresql"
    if pipelined:
        record = statements.compile_for(insert(_RECORDS).returning(_RECORDS.c.id), dialect, _RECORD_COLUMNS)
        record = statements.DriverStatement(
            _RECORD_AND_TICKETS.format(record=record.sql), record.names + _TICKET_ARRAYS, record.processors,
            positional=False,
        )
    else:
        record = statements.compile_for(insert(_RECORDS), dialect, _RECORD_COLUMNS)
    written = _Writes(
        insert_head=statements.compile_for(insert(_SESSIONS), dialect, new_head_columns(head_shape, now)),
        move_head=statements.compile_for(move, dialect, head_moves(head_shape, now)),
        insert_record=record,
        insert_tickets=statements.compile_for(
            insert(_TICKETS), dialect, ("signing_record_id", "recipient_rand_hash", "sender_nonce", "ticket_hash")
        ),
        pipelined=pipelined,
    )
    _WRITES[dialect.name] = written
    return written


def write_call(
    connection: Connection, old: SessionHead | None, call: SigningCall, columns: dict[str, Any], at: datetime
) -> int:
    """Write the call's head, record and tickets; the record's id. Every write is checked to
    have landed (``InvariantViolation`` otherwise); a refused one raises the driver's error."""
    writes = _writes(connection)
    if old is None:
        head, head_values = writes.insert_head, new_head_columns(call.session, at)
    else:
        head = writes.move_head
        head_values = head_moves(call.session, at) | {"key_state_id": call.session.state_id}
    if writes.pipelined:
        head_rows, record_id, tickets_written = _write_in_one_round_trip(connection, writes, head, head_values, call, columns)
    else:
        head_rows, record_id, tickets_written = _write_one_by_one(connection, writes, head, head_values, call, columns)
    state_id = call.session.state_id
    if head_rows != 1:
        raise InvariantViolation(f"session {state_id!r}: head write changed {head_rows} rows, not 1")
    if not isinstance(record_id, int) or record_id <= 0:
        raise InvariantViolation(f"session {state_id!r}: the signing record got no id ({record_id!r})")
    if tickets_written != len(call.tickets):
        raise InvariantViolation(f"session {state_id!r}: {tickets_written} of {len(call.tickets)} ticket rows written")
    return record_id


def _write_one_by_one(
    connection: Connection, writes: _Writes, head: statements.DriverStatement, head_values: dict[str, Any],
    call: SigningCall, columns: dict[str, Any],
) -> tuple[int, object, int]:
    """SQLite: three statements in the process; the record's id is the cursor's lastrowid."""
    head_rows: int = statements.execute(connection, head, head_values).rowcount
    record_id = statements.execute(connection, writes.insert_record, columns).lastrowid
    tickets = [
        {"signing_record_id": record_id, "recipient_rand_hash": t.recipient_rand_hash,
         "sender_nonce": t.sender_nonce, "ticket_hash": t.ticket_hash}
        for t in call.tickets
    ]
    return head_rows, record_id, statements.execute_many(connection, writes.insert_tickets, tickets)


def _write_in_one_round_trip(
    connection: Connection, writes: _Writes, head: statements.DriverStatement, head_values: dict[str, Any],
    call: SigningCall, columns: dict[str, Any],
) -> tuple[int, object, int]:
    """PostgreSQL: the head's statement and the record-with-tickets statement sent together
    (pipeline mode); the driver raises a refusal of either when the pipeline syncs."""
    raw = connection.connection.dbapi_connection
    arrays = {
        "ticket_recipient_rand_hashes": [t.recipient_rand_hash for t in call.tickets],
        "ticket_sender_nonces": [t.sender_nonce for t in call.tickets],
        "ticket_hashes": [t.ticket_hash for t in call.tickets],
    }
    with raw.pipeline():  # type: ignore[union-attr]
        head_cursor = raw.cursor()  # type: ignore[union-attr]
        head_cursor.execute(head.sql, head.parameters(head_values))
        record_cursor = raw.cursor()  # type: ignore[union-attr]
        record_cursor.execute(writes.insert_record.sql, writes.insert_record.parameters(columns | arrays))
    ids = {row[0] for row in record_cursor.fetchall()}
    record_id = ids.pop() if len(ids) == 1 else None
    return head_cursor.rowcount, record_id, record_cursor.rowcount


def sample_head() -> SessionHead:
    """A head of the right shape, to name the columns the statements bind (values unused)."""
    return SessionHead(
        state_id="x", gateway_id=1, orchestrator_address=bytes(20), app="", billing_type=BillingType.FIXED,
        manifest_id="", sequence_number=0, sender_nonce=0, pm_session_id=None, balance=Fraction(0),
        initial_price_per_unit=1, initial_pixels_per_unit=1, last_update_ns=None, auth_expiry=0, auth_id="",
        state_digest=bytes(32),
    )
