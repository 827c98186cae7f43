"""A session's first call retried (issue #15): the byte-identical first request from the same
gateway within [limits] first_call_retry_window_s gets the stored answer, not a second session;
two identical first calls at once sign once; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from clearinghouse import ledger
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.signer.calls import Caller, PaymentResult
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.limits import FIRST_CALL_RETRY_WINDOW_S
from clearinghouse.signer.service import PaymentService, datetime_of_ns
from tests.signer.builders import KEY, L1_BLOCK, NOW_NS, OPEN_ROUNDS, RAND_HASH_A
from tests.signer.test_service import Clock, funded_gateway, live_call

CHAIN = ChainView(deposit_wei=10**18, reserve_wei=10**18, withdraw_round=0, current_round=3500,
                  last_l1_block=L1_BLOCK, round_block_hashes=OPEN_ROUNDS)
RACE_WAIT_S = 2.0
"""How long the first signer waits, holding its claim, for the second to catch up. With the claim
in place the second cannot (it waits for the first's transaction), so the wait runs out; without
it both sign in this window."""


def service_of(db: ledger.Database, rate_snapshot: Callable[[], int | None] = lambda: None,
               **options: float) -> PaymentService:
    return PaymentService(db, KEY, lambda: CHAIN, PaymentPolicy(), clock_ns=Clock(), rate_snapshot=rate_snapshot,
                          **options)  # type: ignore[arg-type]


def counts(db: ledger.Database) -> tuple[int, int, int]:
    """(sessions, records, tickets): what a retried first call must not add to."""
    with db.engine.connect() as connection:
        return tuple(  # type: ignore[return-value]
            connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
            for name in ("payment_sessions", "signing_records", "signed_tickets")
        )


def test_a_lost_first_answer_retried_gets_the_stored_answer(ledger_db: ledger.Database) -> None:
    service = service_of(ledger_db)
    caller = Caller(gateway_id=funded_gateway(ledger_db, "acme"), api_key_id=None)
    first = service.generate_payment(caller, live_call())
    retried = service.generate_payment(caller, live_call())
    assert retried.replayed and not first.replayed
    assert (retried.payment, retried.seg_creds, retried.state, retried.state_signature) == (
        first.payment, first.seg_creds, first.state, first.state_signature)
    assert counts(ledger_db) == (1, 1, 1)
    assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 1
    assert ledger.verify_ledger(ledger_db).ok


def test_once_the_session_moved_on_the_first_request_again_is_a_stale_replay(ledger_db: ledger.Database) -> None:
    """As for any state: once the client used the answer (called again with its state), sending
    the first request again is a replay (409), not a retry."""
    service = service_of(ledger_db)
    caller = Caller(gateway_id=funded_gateway(ledger_db, "acme"), api_key_id=None)
    first = service.generate_payment(caller, live_call())
    service.generate_payment(caller, live_call(first))
    before = counts(ledger_db)
    with pytest.raises(SigningRefused) as refused:
        service.generate_payment(caller, live_call())
    assert refused.value.reason is Refusal.STALE_STATE and "has moved on to sequence 1" in refused.value.message
    assert counts(ledger_db) == before


def test_a_different_first_request_or_caller_opens_its_own_session(ledger_db: ledger.Database) -> None:
    service = service_of(ledger_db)
    acme = Caller(gateway_id=funded_gateway(ledger_db, "acme"), api_key_id=None)
    bravo = Caller(gateway_id=funded_gateway(ledger_db, "bravo"), api_key_id=None)
    service.generate_payment(acme, live_call())
    assert not service.generate_payment(acme, live_call(manifest_id="manifest-2")).replayed
    assert not service.generate_payment(bravo, live_call()).replayed  # another gateway
    subject = Caller(gateway_id=acme.gateway_id, api_key_id=None, usage_subject="end-user-7")
    assert not service.generate_payment(subject, live_call()).replayed  # another end user of the gateway
    assert counts(ledger_db)[0] == 4


def test_past_the_window_the_same_first_request_opens_a_new_session(ledger_db: ledger.Database) -> None:
    service = service_of(ledger_db)
    caller = Caller(gateway_id=funded_gateway(ledger_db, "acme"), api_key_id=None)
    first = service.generate_payment(caller, live_call())
    an_hour_ago = datetime_of_ns(NOW_NS) - timedelta(hours=1)  # by the service's clock, which stamps claims
    with ledger_db.write_engine.begin() as connection:
        assert connection.execute(text("UPDATE first_calls SET created_at = :t"), {"t": an_hour_ago}).rowcount == 1
    later = service.generate_payment(caller, live_call())
    assert not later.replayed and later.state != first.state
    assert service.generate_payment(caller, live_call()).state == later.state  # the new one is the stored one now
    assert counts(ledger_db)[0] == 2


def test_a_window_of_zero_turns_it_off(ledger_db: ledger.Database) -> None:
    service = service_of(ledger_db, first_call_retry_window_s=0)
    caller = Caller(gateway_id=funded_gateway(ledger_db, "acme"), api_key_id=None)
    service.generate_payment(caller, live_call())
    assert not service.generate_payment(caller, live_call()).replayed
    assert counts(ledger_db)[0] == 2
    with pytest.raises(ValueError, match="first_call_retry_window_s >= 0"):
        service_of(ledger_db, first_call_retry_window_s=-1)
    assert FIRST_CALL_RETRY_WINDOW_S == 60.0


def test_a_refused_first_call_leaves_no_claim_behind(ledger_db: ledger.Database) -> None:
    """Over its credit, the first call signs nothing; after a top-up its retry is decided anew."""
    service = service_of(ledger_db)
    gateway_id = ledger.create_gateway(ledger_db, "prepaid-nothing").id
    caller = Caller(gateway_id=gateway_id, api_key_id=None)
    with pytest.raises(SigningRefused):
        service.generate_payment(caller, live_call())
    assert counts(ledger_db) == (0, 0, 0)
    ledger.top_up(ledger_db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    assert not service.generate_payment(caller, live_call()).replayed
    assert counts(ledger_db) == (1, 1, 1)


class HoldAfterSigning:
    """A rate lookup (called after signing, before recording) that holds the first caller until
    the second arrives too, or RACE_WAIT_S passes: the widest window for a race."""

    def __init__(self) -> None:
        self._arrived = threading.Semaphore(0)
        self.arrivals = 0
        self._lock = threading.Lock()

    def __call__(self) -> int | None:
        with self._lock:
            self.arrivals += 1
        self._arrived.release()
        # Wait for a second arrival (both released means two callers signed at once).
        deadline = datetime.now(UTC) + timedelta(seconds=RACE_WAIT_S)
        while self.arrivals < 2 and datetime.now(UTC) < deadline:
            self._arrived.acquire(timeout=0.05)
        return None


def test_two_identical_first_calls_at_once_sign_once(ledger_db: ledger.Database) -> None:
    hold = HoldAfterSigning()
    service = service_of(ledger_db, rate_snapshot=hold)
    caller = Caller(gateway_id=funded_gateway(ledger_db, "acme"), api_key_id=None)
    answers: list[PaymentResult] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def call() -> None:
        start.wait()
        try:
            answers.append(service.generate_payment(caller, live_call()))
        except BaseException as exc:  # reported below: a thread's exception would vanish
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    assert len(answers) == 2
    assert hold.arrivals == 1, "both calls signed: the second did not wait for the first's claim"
    assert sorted(answer.replayed for answer in answers) == [False, True]
    assert answers[0].state == answers[1].state and answers[0].payment == answers[1].payment
    assert counts(ledger_db) == (1, 1, 1)
    assert ledger.verify_ledger(ledger_db).ok
