"""The ledger committer (group commit): batches, savepoints, bounds, and what a failed commit does.

Real threads, real SQLite files and PostgreSQL. Each test makes the moment it needs with events
(a call that waits inside its batch), never with sleeps; every wait is bounded by WAIT_S.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text

from clearinghouse.domain.credit import CreditMode
from clearinghouse.domain.gateways import Gateway
from clearinghouse.domain.refusals import SigningRefused
from clearinghouse.errors import InvalidLedgerInput, LedgerError
from clearinghouse.ledger import (
    CallKeys,
    CallLedger,
    Committer,
    Database,
    RecordResult,
    commit_calls,
    get_session_head,
    set_credit_policy,
    verify_ledger,
)
from clearinghouse.ledger.models import SigningRecordRow
from tests.ledger.conftest import CheckAndRecord, LedgerStep, keys_of

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

WAIT_S = 10.0


def _records(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {SigningRecordRow.__tablename__}")).scalar_one())


def _blocking(keys: CallKeys, entered: threading.Event, release: threading.Event) -> LedgerStep:
    """A call that holds its batch open until ``release`` (what a slow batch looks like)."""

    def hold(ledger: CallLedger) -> None:
        entered.set()
        assert release.wait(WAIT_S)

    return LedgerStep(keys, hold)


def _credit(db: Database, gateway: Gateway) -> None:
    set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=10**18, actor="t", reason="t")


def test_calls_queued_while_a_batch_commits_form_the_next_batch(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _credit(ledger_db, gateway)
    committer = Committer(ledger_db)
    entered, release = threading.Event(), threading.Event()
    first = committer.submit(_blocking(CallKeys("hold", gateway.id, None, None, datetime.now(UTC)), entered, release))
    assert entered.wait(WAIT_S)
    calls = [new_session(gateway.id).next_call() for _ in range(5)]
    queued = [committer.submit(CheckAndRecord(call, keys_of(call))) for call in calls]
    assert committer.queued == 5  # nothing of them ran while the first batch was open
    release.set()

    first.result(WAIT_S)
    assert [future.result(WAIT_S).result for future in queued] == [RecordResult.CREATED] * 5
    committer.close()
    assert (committer.batches, committer.calls) == (2, 6)
    assert verify_ledger(ledger_db).ok


def test_a_refused_call_rolls_back_only_itself(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _credit(ledger_db, gateway)
    before, refused, after = (new_session(gateway.id).next_call() for _ in range(3))

    def record_then_refuse(ledger: CallLedger) -> None:
        ledger.record(refused)  # written in its savepoint, then rolled back with it
        raise LedgerError("refused after writing")

    outcomes = commit_calls(ledger_db, [
        CheckAndRecord(before, keys_of(before)), LedgerStep(keys_of(refused), record_then_refuse),
        CheckAndRecord(after, keys_of(after)),
    ])

    assert [type(o.error).__name__ if o.error else "ok" for o in outcomes] == ["ok", "LedgerError", "ok"]
    assert _records(ledger_db) == 2
    assert get_session_head(ledger_db, refused.session.state_id) is None
    assert verify_ledger(ledger_db).ok


def test_a_failed_commit_fails_every_call_of_the_batch(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    """A constraint checked only at COMMIT refuses the batch: no call of it is answered as done."""
    if ledger_db.backend != "postgresql":
        pytest.skip("SQLite checks every constraint at the statement, so its COMMIT cannot refuse a batch")
    with ledger_db.engine.begin() as connection:
        connection.execute(text(
            "CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.usage_subject = 'refuse-at-commit' THEN RAISE EXCEPTION 'refused at commit'; "
            "END IF; RETURN NEW; END $$"
        ))
        connection.execute(text(
            "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON signing_records "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()"
        ))
    _credit(ledger_db, gateway)
    calls = [new_session(gateway.id).next_call() for _ in range(3)]
    calls[1] = new_session(gateway.id).next_call(usage_subject="refuse-at-commit")
    committer = Committer(ledger_db)
    futures: list[Future[Any]] = []
    entered, release = threading.Event(), threading.Event()
    futures.append(committer.submit(_blocking(keys_of(calls[0]), entered, release)))
    assert entered.wait(WAIT_S)
    futures += [committer.submit(CheckAndRecord(call, keys_of(call))) for call in calls]
    release.set()
    futures[0].result(WAIT_S)  # the first batch (the blocking call alone) committed

    errors = [future.exception(WAIT_S) for future in futures[1:]]
    committer.close()

    assert all(isinstance(error, LedgerError) for error in errors), errors
    assert _records(ledger_db) == 0
    assert verify_ledger(ledger_db).ok


def test_a_full_queue_refuses_at_once_and_signs_nothing(ledger_db: Database, gateway: Gateway) -> None:
    committer = Committer(ledger_db, queue_max=1)
    entered, release = threading.Event(), threading.Event()
    keys = CallKeys("hold", gateway.id, None, None, datetime.now(UTC))
    running = committer.submit(_blocking(keys, entered, release))
    assert entered.wait(WAIT_S)
    queued = committer.submit(LedgerStep(keys, lambda ledger: "queued"))

    with pytest.raises(SigningRefused, match="signing queue full") as busy:
        committer.submit(LedgerStep(keys, lambda ledger: "refused"))
    assert busy.value.retry_after_s >= 1
    release.set()
    assert (running.result(WAIT_S), queued.result(WAIT_S)) == (None, "queued")
    committer.close()
    with pytest.raises(SigningRefused, match="shutting down"):
        committer.submit(LedgerStep(keys, lambda ledger: "after close"))


def test_a_call_cancelled_while_queued_never_runs(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _credit(ledger_db, gateway)
    committer = Committer(ledger_db)
    entered, release = threading.Event(), threading.Event()
    running = committer.submit(_blocking(CallKeys("hold", gateway.id, None, None, datetime.now(UTC)), entered, release))
    assert entered.wait(WAIT_S)
    call = new_session(gateway.id).next_call()
    queued = committer.submit(CheckAndRecord(call, keys_of(call)))

    assert queued.cancel()  # the caller gave up (an HTTP client went away)
    release.set()
    running.result(WAIT_S)
    committer.close()

    assert _records(ledger_db) == 0 and committer.calls == 1


def test_one_gateways_batches_on_two_connections_run_side_by_side_on_postgresql(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    """Credit is checked on an unlocked read and the accounts locked only to write: a batch
    waiting in the middle of a call does not hold the gateway's other sessions (another daemon)."""
    if ledger_db.backend != "postgresql":
        pytest.skip("SQLite has one writer for the whole database, by design")
    _credit(ledger_db, gateway)
    slow, fast = new_session(gateway.id).next_call(), new_session(gateway.id).next_call()
    checked, release = threading.Event(), threading.Event()

    def check_then_wait(ledger: CallLedger) -> Any:
        ledger.check_spend(gateway.id, None, slow.ev_signed, datetime.now(UTC))
        checked.set()
        assert release.wait(WAIT_S)
        return ledger.record(slow)

    holder = threading.Thread(target=commit_calls, args=(ledger_db, [LedgerStep(keys_of(slow), check_then_wait)]))
    holder.start()
    try:
        assert checked.wait(WAIT_S)
        (outcome,) = commit_calls(ledger_db, [CheckAndRecord(fast, keys_of(fast))])
        assert outcome.result().result is RecordResult.CREATED
    finally:
        release.set()
        holder.join(WAIT_S)
    assert _records(ledger_db) == 2
    assert verify_ledger(ledger_db).ok


def test_a_row_refused_when_the_batch_writes_reruns_it_with_a_savepoint_per_call_on_postgresql(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    """PostgreSQL writes a batch's rows after its last call. When a constraint refuses one there
    (another transaction created the same new session meanwhile, under no lock this batch took),
    the batch runs again with each call's rows in its own savepoint: the raced call answers as
    its retry would, the batch's other call is recorded, nothing is recorded twice."""
    if ledger_db.backend != "postgresql":
        pytest.skip("SQLite writes each call's rows in its savepoint, under the database's one write lock")
    raced = new_session(gateway.id).next_call(request_digest=b"\x01" * 32)
    other = new_session(gateway.id).next_call()
    recorded, release = threading.Event(), threading.Event()
    attempts: list[RecordResult] = []

    def record_then_wait(ledger: CallLedger) -> Any:
        outcome = ledger.record(raced)
        attempts.append(outcome.result)
        recorded.set()
        assert release.wait(WAIT_S)
        return outcome

    # Announced without its recipientRandHash: the batch takes no advisory lock the racer waits on.
    unlocked = CallKeys(raced.session.state_id, gateway.id, None, None, datetime.now(UTC))
    with ThreadPoolExecutor(max_workers=1) as holder:
        batch = holder.submit(commit_calls, ledger_db, [
            LedgerStep(unlocked, record_then_wait), LedgerStep(keys_of(other), lambda ledger: ledger.record(other)),
        ])
        try:
            assert recorded.wait(WAIT_S)
            (first,) = commit_calls(ledger_db, [LedgerStep(keys_of(raced), lambda ledger: ledger.record(raced))])
        finally:
            release.set()
        raced_outcome, other_outcome = (outcome.result() for outcome in batch.result(WAIT_S))

    assert first.result().result is RecordResult.CREATED
    assert attempts == [RecordResult.CREATED, RecordResult.EXISTS]  # held back, refused, run again
    assert raced_outcome.result is RecordResult.EXISTS and raced_outcome.record == first.result().record
    assert other_outcome.result is RecordResult.CREATED
    assert _records(ledger_db) == 2
    assert verify_ledger(ledger_db).ok


def test_limits_are_checked(ledger_db: Database) -> None:
    with pytest.raises(InvalidLedgerInput, match="batch_max"):
        Committer(ledger_db, batch_max=0)
    with pytest.raises(InvalidLedgerInput, match="queue_max"):
        Committer(ledger_db, queue_max=10**9)


def test_a_dying_committer_thread_fails_its_queued_calls_and_the_next_call_starts_another(
    ledger_db: Database, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An interrupt kills the thread: the calls it held are answered with it, none waits forever."""
    monkeypatch.setattr(threading, "excepthook", lambda args: None)  # the thread's death is expected
    committer = Committer(ledger_db)
    keys = CallKeys("hold", gateway.id, None, None, datetime.now(UTC))
    entered, release = threading.Event(), threading.Event()

    def interrupted(ledger: CallLedger) -> None:
        entered.set()
        assert release.wait(WAIT_S)
        raise SystemExit(3)

    dying = committer.submit(LedgerStep(keys, interrupted))
    assert entered.wait(WAIT_S)
    queued = committer.submit(LedgerStep(keys, lambda ledger: "queued"))
    release.set()

    assert isinstance(dying.exception(WAIT_S), SystemExit)
    assert isinstance(queued.exception(WAIT_S), SystemExit)
    assert committer.submit(LedgerStep(keys, lambda ledger: "next")).result(WAIT_S) == "next"
    committer.close()
