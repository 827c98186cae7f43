"""PostgreSQL: the rows a batch's recorded calls write, held back and sent in one round trip.

On PostgreSQL every statement is a round trip to the server (0.05–0.4 ms on this project's
2-core machine under load), and writing each call's head, record and tickets at once cost a
batch of 48 calls ~190 of its ~340 waits on the server (benchmarks/pg_batch.py, 2026-12-08).
So a call's rows are not written when it records: the record's id is one the batch reserved
from the table's sequence when it opened (``reserve_record_ids``), the rows are kept with the
call's stage, and ``write_rows`` sends those of every recorded call in one pipeline (one
``executemany`` per table, one sync) — before the batch's sums, or before any later call of the
batch reads the database, so such a read sees every earlier call's rows as it would otherwise.

What the rows rely on is unchanged: the heads they move were locked by the batch (FOR UPDATE),
the nonces by the recipientRandHashes' advisory locks, and unique constraints back both. When one
refuses a row anyway (another replica inserted the same new session, or signed the same ticket),
``write_rows`` raises the driver's IntegrityError, and the committer runs the batch again writing
each call's rows in its own savepoint (call_writes.py), where the refusal rolls back that call
alone and is answered as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, text, update

from clearinghouse.ledger import statements
from clearinghouse.ledger.call_writes import sample_head
from clearinghouse.ledger.errors import InvariantViolation
from clearinghouse.ledger.models import PaymentSessionRow, SignedTicketRow, SigningRecordRow, table
from clearinghouse.ledger.records import head_moves, new_head_columns
from clearinghouse.domain.sessions import SessionHead
from clearinghouse.domain.tickets import SigningCall

_SESSIONS = table(PaymentSessionRow)
_RECORDS = table(SigningRecordRow)
_TICKETS = table(SignedTicketRow)

_RESERVE_RECORD_IDS = text(
    "SELECT nextval(pg_get_serial_sequence('signing_records', 'id')) FROM generate_series(1, :count)"
)
_TICKET_COLUMNS = ("signing_record_id", "recipient_rand_hash", "sender_nonce", "ticket_hash")


@dataclass(frozen=True, slots=True)
class CallRows:
    """One recorded call's rows: its head (a new row, or the stored one moved), its record (with
    its reserved id) and its tickets, as column values keyed by bind name."""

    state_id: str
    new_head: dict[str, Any] | None
    moved_head: dict[str, Any] | None
    record: dict[str, Any]
    tickets: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class _Statements:
    insert_head: statements.DriverStatement
    move_head: statements.DriverStatement
    insert_record: statements.DriverStatement
    insert_ticket: statements.DriverStatement


_COMPILED: dict[str, _Statements] = {}


def reserve_record_ids(connection: Connection, count: int) -> list[int]:
    """``count`` ids of the signing records' sequence, for records the batch may write (an id
    left unused is a gap, as a rolled-back insert leaves)."""
    return [int(row[0]) for row in connection.execute(_RESERVE_RECORD_IDS, {"count": count})]


def call_rows(old: SessionHead | None, call: SigningCall, record: dict[str, Any], at: datetime) -> CallRows:
    """The rows of ``call`` over the stored head ``old`` (None: a new session); ``record`` holds
    every column of its signing record, its id included."""
    head = call.session
    new_head = new_head_columns(head, at) if old is None else None
    moved = None if old is None else head_moves(head, at) | {"key_state_id": head.state_id}
    tickets = tuple(
        {"signing_record_id": record["id"], "recipient_rand_hash": t.recipient_rand_hash,
         "sender_nonce": t.sender_nonce, "ticket_hash": t.ticket_hash}
        for t in call.tickets
    )
    return CallRows(head.state_id, new_head, moved, record, tickets)


def write_rows(connection: Connection, rows: Sequence[CallRows]) -> None:
    """Write ``rows`` in one pipeline; each is checked to have landed (``InvariantViolation``
    otherwise). A constraint that refuses one raises the driver's IntegrityError: the
    transaction is then aborted, and the caller rolls it back."""
    if not rows:
        return
    compiled = _statements(connection)
    new_heads = [r.new_head for r in rows if r.new_head is not None]
    moved_heads = [r.moved_head for r in rows if r.moved_head is not None]
    tickets = [ticket for r in rows for ticket in r.tickets]
    raw = connection.connection.dbapi_connection
    written = []
    with raw.pipeline():  # type: ignore[union-attr]
        for statement, values in ((compiled.insert_head, new_heads), (compiled.move_head, moved_heads),
                                  (compiled.insert_record, [r.record for r in rows]),
                                  (compiled.insert_ticket, tickets)):
            cursor: Any = raw.cursor()  # type: ignore[union-attr]
            if values:
                cursor.executemany(statement.sql, [statement.parameters(v) for v in values])
            written.append((cursor, len(values)))
    for (cursor, expected), name in zip(written, ("new heads", "moved heads", "records", "tickets"), strict=True):
        if expected and cursor.rowcount != expected:
            raise InvariantViolation(f"a batch wrote {cursor.rowcount} of its {expected} {name}")


def _statements(connection: Connection) -> _Statements:
    dialect = connection.dialect
    known = _COMPILED.get(dialect.name)
    if known is None:
        sample = _sample_columns()
        known = _Statements(
            insert_head=statements.compile_for(insert(_SESSIONS), dialect, sample["new_head"]),
            move_head=statements.compile_for(
                update(_SESSIONS).where(_SESSIONS.c.state_id == bindparam("key_state_id")), dialect,
                sample["moved_head"],
            ),
            insert_record=statements.compile_for(insert(_RECORDS), dialect, [c.name for c in _RECORDS.columns]),
            insert_ticket=statements.compile_for(insert(_TICKETS), dialect, _TICKET_COLUMNS),
        )
        _COMPILED[dialect.name] = known
    return known


def _sample_columns() -> dict[str, tuple[str, ...]]:
    """The column names the head statements bind (from a head of the right shape)."""
    head, now = sample_head(), datetime.now(UTC)
    return {"new_head": tuple(new_head_columns(head, now)), "moved_head": tuple(head_moves(head, now))}
