"""Recording signing calls: atomic writes, idempotency, duplicate tickets, session transitions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from clearinghouse.ledger import (
    AccountKind,
    CallLedger,
    Database,
    DuplicateTicket,
    IdempotencyConflict,
    InvariantViolation,
    RecordResult,
    StaleSession,
    create_gateway,
    find_signing_record,
    gateway_accounts,
    get_session_head,
    last_issued_nonce,
    ledger_transactions,
    commit_calls,
    record_signing_call,
    signed_tickets,
    verify_ledger,
)
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import PostingRow, SignedTicketRow, SigningRecordRow

from tests.ledger.conftest import LedgerStep, in_batch, keys_of

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver


def _counts(db: Database) -> tuple[int, int, int]:
    with db.engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.scalar(select(func.count()).select_from(table))
            for table in (SigningRecordRow, SignedTicketRow, PostingRow)
        )


def test_go_livepeer_sequence_is_recorded_exactly(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    first = driver.next_call(units=10)
    outcome = record_signing_call(ledger_db, first)
    driver.advance(first)
    second = driver.next_call(units=12)
    record_signing_call(ledger_db, second)

    assert outcome.result is RecordResult.CREATED
    assert (outcome.record.ticket_count, outcome.record.fee, outcome.record.ev_signed) == (
        1,
        Fraction(30),
        Fraction(35),
    )
    head = get_session_head(ledger_db, driver.state_id)
    assert head is not None
    assert (head.sequence_number, head.sender_nonce, head.balance) == (1, 2, Fraction(4))
    stored = find_signing_record(ledger_db, state_id=driver.state_id, sequence_number=1)
    assert stored is not None and (stored.first_nonce, stored.last_nonce) == (2, 2)
    assert [t.sender_nonce for t in signed_tickets(ledger_db, stored.id)] == [2]
    assert last_issued_nonce(ledger_db, driver.recipient_rand_hash) == 2
    assert last_issued_nonce(ledger_db, b"\x00" * 32) == 0
    accounts = gateway_accounts(ledger_db, gateway.id)
    assert accounts[AccountKind.RECEIVABLE].balance == 70
    assert accounts[AccountKind.TICKET_LIABILITY].balance == -70


def test_retry_returns_stored_record_and_writes_nothing(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    call = driver.next_call(request_digest=b"\x01" * 32)
    created = record_signing_call(ledger_db, call)
    before = _counts(ledger_db)

    # The retry signed again in memory (new tickets, new response); the stored result wins.
    retry = driver.next_call(request_digest=b"\x01" * 32, response=b"other bytes")
    again = record_signing_call(ledger_db, retry)

    assert again.result is RecordResult.EXISTS
    assert again.record == created.record
    assert again.record.response == call.response
    assert _counts(ledger_db) == before


def test_retry_with_different_request_is_refused(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    record_signing_call(ledger_db, driver.next_call(request_digest=b"\x01" * 32))

    with pytest.raises(IdempotencyConflict, match="different request"):
        record_signing_call(ledger_db, driver.next_call(request_digest=b"\x02" * 32))


def test_request_id_is_an_idempotency_key_per_gateway(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    created = record_signing_call(ledger_db, new_session(gateway.id).next_call(request_id="req-1"))
    before = _counts(ledger_db)

    again = record_signing_call(ledger_db, new_session(gateway.id).next_call(request_id="req-1"))
    other_gateway = create_gateway(ledger_db, "gateway-b")
    elsewhere = record_signing_call(
        ledger_db, new_session(other_gateway.id).next_call(request_id="req-1")
    )

    assert again.result is RecordResult.EXISTS and again.record.id == created.record.id
    assert _counts(ledger_db)[0] == before[0] + 1
    assert elsewhere.result is RecordResult.CREATED


def test_reused_nonce_raises_and_writes_nothing(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    first = new_session(gateway.id)
    record_signing_call(ledger_db, first.next_call())
    before = _counts(ledger_db)
    # A second session sent to the same recipientRandHash starting again at nonce 1.
    clash = new_session(gateway.id, recipient_rand_hash=first.recipient_rand_hash)

    with pytest.raises(DuplicateTicket, match=r"\(0x[0-9a-f]{64}, 1\)"):
        record_signing_call(ledger_db, clash.next_call())

    assert _counts(ledger_db) == before
    assert get_session_head(ledger_db, clash.state_id) is None
    assert verify_ledger(ledger_db).ok


def test_stale_head_is_refused(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    first = driver.next_call()
    record_signing_call(ledger_db, first)
    driver.advance(first)
    second = driver.next_call()
    skipped = replace(second, session=replace(second.session, sequence_number=5))

    with pytest.raises(StaleSession, match="expected sequence 1, got 5"):
        record_signing_call(ledger_db, skipped)


def test_session_of_another_gateway_is_refused(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    first = driver.next_call()
    record_signing_call(ledger_db, first)
    driver.advance(first)
    thief = create_gateway(ledger_db, "gateway-b")
    stolen = driver.next_call()
    stolen = replace(
        stolen, gateway_id=thief.id, session=replace(stolen.session, gateway_id=thief.id)
    )

    with pytest.raises(StaleSession, match="another gateway"):
        record_signing_call(ledger_db, stolen)


def test_wrong_balance_is_an_invariant_violation(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    call = new_session(gateway.id).next_call()
    wrong = replace(call, session=replace(call.session, balance=call.session.balance + 1))

    with pytest.raises(InvariantViolation, match="old \\+ EV signed - fee"):
        record_signing_call(ledger_db, wrong)
    assert _counts(ledger_db) == (0, 0, 0)


def test_inconsistent_tickets_are_rejected_before_any_write(
    gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    call = new_session(gateway.id).next_call()
    gap = (call.tickets[0], replace(call.tickets[0], sender_nonce=3))

    with pytest.raises(InvalidLedgerInput, match="consecutive nonces"):
        replace(call, tickets=gap)
    with pytest.raises(InvalidLedgerInput, match="expected 1..100, got 0"):
        replace(call, tickets=())


def test_exception_inside_lock_rolls_everything_back(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)

    call = driver.next_call()

    def record_then_crash(lock: CallLedger) -> None:
        lock.record(call)
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        in_batch(ledger_db, keys_of(call), record_then_crash)

    assert _counts(ledger_db) == (0, 0, 0)
    assert ledger_transactions(ledger_db, gateway_id=gateway.id) == ()


def test_lock_offers_head_and_idempotency_lookup(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    call = driver.next_call()
    record_signing_call(ledger_db, call)

    def look(lock: CallLedger) -> None:
        assert lock.head == call.session
        found = lock.find_record(0)
        assert found is not None and found.response == call.response
        assert lock.find_record(1) is None
        assert lock.last_issued_nonce(driver.recipient_rand_hash) == call.tickets[-1].sender_nonce

    in_batch(ledger_db, keys_of(call), look)


def test_retry_by_another_gateway_gets_nothing(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    record_signing_call(ledger_db, driver.next_call())
    other = create_gateway(ledger_db, "gateway-b")
    call = driver.next_call()
    foreign = replace(call, gateway_id=other.id, session=replace(call.session, gateway_id=other.id))

    with pytest.raises(StaleSession, match="belongs to another gateway"):
        record_signing_call(ledger_db, foreign)


def test_a_conflict_rolls_back_only_its_call(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    first = new_session(gateway.id)
    record_signing_call(ledger_db, first.next_call())
    before = _counts(ledger_db)
    clash = new_session(gateway.id, recipient_rand_hash=first.recipient_rand_hash)
    clashing, fine = clash.next_call(), new_session(gateway.id).next_call()

    outcomes = commit_calls(ledger_db, [LedgerStep(keys_of(c), lambda lock, c=c: lock.record(c)) for c in (clashing, fine)])

    assert isinstance(outcomes[0].error, DuplicateTicket)
    assert outcomes[1].result().result is RecordResult.CREATED
    assert _counts(ledger_db) == (before[0] + 1, before[1] + len(fine.tickets), before[2] + 2)
    assert get_session_head(ledger_db, clash.state_id) is None
    assert verify_ledger(ledger_db).ok
