"""The event outbox: rows written in the signing batch's transaction, read in order after a
sink's cursor, cursors that never move back, pruning only what every sink sent; SQLite and
PostgreSQL (PostgreSQL's late-committing transaction included)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import text

from clearinghouse.ledger import CallLedger, Committer, Database, commit_calls
from clearinghouse.domain.credit import CreditMode
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import LedgerError
from clearinghouse.ledger import set_credit_policy
from clearinghouse.ledger.outbox import (
    START,
    NewRefusalEvent,
    OutboxEntry,
    Position,
    advance_cursor,
    backlogs,
    prune,
    read_after,
    sink_cursor,
    write_refusal_events,
)
from tests.ledger.conftest import CheckAndRecord, LedgerStep, keys_of

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

WAIT_S = 60.0
"""On PostgreSQL a row waits for every older transaction on the server to end, other sessions' too."""


def _credit(db: Database, gateway: Gateway) -> None:
    set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=10**18, actor="t", reason="t")


def _settled(db: Database, position: Position, rows: int, limit: int = 1000) -> list[OutboxEntry]:
    """The rows after ``position`` once ``rows`` of them are readable: on PostgreSQL a row is read
    only once every older transaction on the server ended (other databases' included)."""
    deadline = time.monotonic() + WAIT_S
    while len(entries := read_after(db, position, limit)) < min(rows, limit) and time.monotonic() < deadline:
        time.sleep(0.01)
    return entries


def _outbox_rows(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM event_outbox")).scalar_one())


def test_each_recorded_call_gets_one_row_in_its_batch_and_a_refused_one_none(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _credit(ledger_db, gateway)
    first, refused, last = (new_session(gateway.id).next_call() for _ in range(3))

    def record_then_refuse(ledger: CallLedger) -> None:
        ledger.record(refused)
        raise LedgerError("refused after writing")

    outcomes = commit_calls(ledger_db, [CheckAndRecord(first, keys_of(first)),
                                        LedgerStep(keys_of(refused), record_then_refuse),
                                        CheckAndRecord(last, keys_of(last))])
    entries = _settled(ledger_db, START, 2)

    assert [e.record.id for e in entries if e.record] == [outcomes[0].result().record.id,
                                                          outcomes[2].result().record.id]
    assert [e.record.state_id for e in entries if e.record] == [first.session.state_id, last.session.state_id]
    assert all(e.kind == "signing" and e.gateway_name == "gateway-a" for e in entries)


def test_without_the_outbox_a_batch_writes_no_row(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _credit(ledger_db, gateway)
    call = new_session(gateway.id).next_call()
    commit_calls(ledger_db, [CheckAndRecord(call, keys_of(call))], outbox=False)
    assert _outbox_rows(ledger_db) == 0


def test_a_failed_batch_leaves_no_row(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    """The outbox row fails with its batch: a batch whose last write fails leaves none."""
    _credit(ledger_db, gateway)
    call = new_session(gateway.id).next_call()
    with ledger_db.engine.begin() as connection:  # the outbox insert itself is refused
        connection.execute(text("DROP INDEX ix_event_outbox_created_at"))
        connection.execute(text("ALTER TABLE event_outbox RENAME TO event_outbox_gone"))
    try:
        outcomes = commit_calls(ledger_db, [CheckAndRecord(call, keys_of(call))])
    except LedgerError:
        outcomes = []
    finally:
        with ledger_db.engine.begin() as connection:
            connection.execute(text("ALTER TABLE event_outbox_gone RENAME TO event_outbox"))
    assert outcomes == []
    with ledger_db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM signing_records")).scalar_one() == 0


def test_a_cursor_resumes_and_never_moves_back(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _credit(ledger_db, gateway)
    calls = [new_session(gateway.id).next_call() for _ in range(5)]
    commit_calls(ledger_db, [CheckAndRecord(call, keys_of(call)) for call in calls])
    page = _settled(ledger_db, START, 5, limit=3)
    advance_cursor(ledger_db, "nats", page[-1].position, len(page))
    advance_cursor(ledger_db, "nats", page[0].position, 1)  # a lagging second relay

    cursor = sink_cursor(ledger_db, "nats")
    rest = read_after(ledger_db, cursor.position)
    assert (cursor.position, cursor.sent_total) == (page[-1].position, 3)
    assert len(rest) == 2 and rest[0].id > page[-1].id
    assert sink_cursor(ledger_db, "http").position == START
    assert [b.unsent for b in backlogs(ledger_db, ["nats", "http"])] == [2, 5]


def test_prune_deletes_only_old_rows_every_sink_sent(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _credit(ledger_db, gateway)
    calls = [new_session(gateway.id).next_call() for _ in range(4)]
    commit_calls(ledger_db, [CheckAndRecord(call, keys_of(call)) for call in calls])
    entries = _settled(ledger_db, START, 4)
    advance_cursor(ledger_db, "nats", entries[2].position, 3)
    advance_cursor(ledger_db, "http", entries[1].position, 2)
    future = datetime.now(UTC) + timedelta(hours=1)

    assert prune(ledger_db, ["nats", "http"], datetime.now(UTC) - timedelta(hours=1)) == 0  # too young
    assert prune(ledger_db, ["nats", "http"], future) == 2  # what both sent
    assert [e.id for e in read_after(ledger_db, START)] == [entries[2].id, entries[3].id]


def test_refusal_rows_carry_their_data(ledger_db: Database, gateway: Gateway) -> None:
    at = datetime.now(UTC)
    write_refusal_events(ledger_db, [NewRefusalEvent("refusal", gateway.id, '{"reason": "RATE_LIMITED"}', at),
                                     NewRefusalEvent("refusal", None, '{"reason": "UNAUTHENTICATED"}', at)])
    entries = _settled(ledger_db, START, 2)
    assert [(e.kind, e.gateway_id, e.data) for e in entries] == [
        ("refusal", gateway.id, '{"reason": "RATE_LIMITED"}'), ("refusal", None, '{"reason": "UNAUTHENTICATED"}')]


def test_a_transaction_committing_late_is_not_skipped_on_postgresql(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    """A batch that wrote its row first but commits after a later batch: a cursor that passed
    the later one would skip it. The relay reads only rows of finished transactions' era."""
    if ledger_db.backend != "postgresql":
        return  # SQLite has one writer: ids commit in order
    _credit(ledger_db, gateway)
    slow, fast = new_session(gateway.id).next_call(), new_session(gateway.id).next_call()
    recorded, release = threading.Event(), threading.Event()

    def record_and_wait(ledger: CallLedger) -> object:
        answer = ledger.record(slow)
        recorded.set()
        assert release.wait(WAIT_S)
        return answer

    committer = Committer(ledger_db)
    pending = committer.submit(LedgerStep(keys_of(slow), record_and_wait))
    assert recorded.wait(WAIT_S)
    commit_calls(ledger_db, [CheckAndRecord(fast, keys_of(fast))])
    seen_early = read_after(ledger_db, START)  # the fast batch committed; the slow one runs
    release.set()
    pending.result(WAIT_S)
    committer.close()
    seen_after = _settled(ledger_db, START, 2)

    assert seen_early == []  # held back until the slow transaction ended
    assert [e.record.state_id for e in seen_after if e.record] == [slow.session.state_id, fast.session.state_id]
