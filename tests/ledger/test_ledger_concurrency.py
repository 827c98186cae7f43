"""Sessions under concurrency: a second batch touching a session waits for the first to commit.

Real threads on real connections, each committing batches of its own (as separate daemons do).
Every wait is bounded (``WAIT_S``) so a broken lock fails the test instead of hanging it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from clearinghouse.ledger import (
    CallKeys,
    CallLedger,
    Database,
    RecordOutcome,
    RecordResult,
    commit_calls,
    ledger_transactions,
    record_signing_call,
    verify_ledger,
)
from clearinghouse.domain.gateways import Gateway
from tests.ledger.conftest import LedgerStep, keys_of

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

WAIT_S = 5.0  # upper bound of any wait in these tests
BLOCKED_S = 0.3  # how long the second caller must stay blocked to count as waiting


def _in_batch(db: Database, keys: CallKeys, run: Callable[[CallLedger], Any]) -> Any:
    """``run`` as the only call of a batch of its own; its value (or its exception)."""
    return commit_calls(db, [LedgerStep(keys, run)])[0].result()


def _session_keys(state_id: str, gateway_id: int) -> CallKeys:
    return CallKeys(state_id, gateway_id, None, None, datetime.now(UTC))


def _hold_lock(
    db: Database, keys: CallKeys, locked: threading.Event, release: threading.Event
) -> None:
    def hold(ledger: CallLedger) -> None:
        locked.set()
        release.wait(WAIT_S)

    _in_batch(db, keys, hold)


def test_second_locker_waits_for_the_first(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    first = driver.next_call()
    record_signing_call(ledger_db, first)
    driver.advance(first)
    locked, release, acquired = threading.Event(), threading.Event(), threading.Event()
    keys = _session_keys(driver.state_id, gateway.id)
    holder = threading.Thread(target=_hold_lock, args=(ledger_db, keys, locked, release))
    holder.start()
    assert locked.wait(WAIT_S)
    outcomes: list[object] = []
    call = driver.next_call()

    def record(ledger: CallLedger) -> None:
        acquired.set()
        outcomes.append(ledger.record(call).result)

    def second_call() -> None:
        _in_batch(ledger_db, keys_of(call), record)

    waiter = threading.Thread(target=second_call)
    waiter.start()
    try:
        assert not acquired.wait(BLOCKED_S), "the second call did not wait for the lock"
    finally:
        release.set()
        holder.join(WAIT_S)
    waiter.join(WAIT_S)
    assert acquired.is_set() and outcomes == [RecordResult.CREATED]


def test_racing_calls_on_one_head_record_exactly_one(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    first = driver.next_call()
    record_signing_call(ledger_db, first)
    driver.advance(first)
    # Both callers built on the same head but signed different requests (different digests).
    calls = [driver.next_call(request_digest=bytes([i]) * 32) for i in (1, 2)]
    results: list[object] = []
    start = threading.Barrier(2, timeout=WAIT_S)

    def call(index: int) -> None:
        start.wait()
        try:
            results.append(record_signing_call(ledger_db, calls[index]).result)
        except Exception as exc:  # noqa: BLE001 — the test inspects which error it was
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=call, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert sorted(map(str, results)) == ["IdempotencyConflict", "created"]


def test_other_sessions_are_not_blocked_on_postgresql(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    if ledger_db.backend != "postgresql":
        pytest.skip("SQLite has one write lock for the whole database, by design")
    busy, free = new_session(gateway.id), new_session(gateway.id)
    for driver in (busy, free):
        record_signing_call(ledger_db, driver.next_call())
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_lock, args=(ledger_db, _session_keys(busy.state_id, gateway.id),
                                                       locked, release))
    holder.start()
    try:
        assert locked.wait(WAIT_S)
        started = time.monotonic()
        head = _in_batch(ledger_db, _session_keys(free.state_id, gateway.id), lambda ledger: ledger.head)
        assert head is not None
        assert time.monotonic() - started < BLOCKED_S
    finally:
        release.set()
        holder.join(WAIT_S)


def test_racing_first_calls_of_a_new_session_record_once(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    # No head row to lock yet: on PostgreSQL the second insert waits on the first's primary
    # key, fails when it commits, and that call's savepoint is rolled back and re-read.
    driver = new_session(gateway.id)
    call = driver.next_call(request_digest=b"\x01" * 32)
    recorded, release = threading.Event(), threading.Event()
    created: list[RecordOutcome] = []

    def record_and_wait(ledger: CallLedger) -> None:
        created.append(ledger.record(call))
        recorded.set()
        release.wait(WAIT_S)

    def first() -> None:
        _in_batch(ledger_db, keys_of(call), record_and_wait)

    holder = threading.Thread(target=first)
    holder.start()
    try:
        assert recorded.wait(WAIT_S)
        racer = ThreadPoolExecutor(max_workers=1)
        second = racer.submit(record_signing_call, ledger_db, call)
        time.sleep(BLOCKED_S)
    finally:
        release.set()
        holder.join(WAIT_S)
    outcome = second.result(WAIT_S)
    racer.shutdown()

    assert outcome.result is RecordResult.EXISTS and outcome.record == created[0].record
    assert verify_ledger(ledger_db).ok
    assert len(ledger_transactions(ledger_db, gateway_id=gateway.id)) == 1
