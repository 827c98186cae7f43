"""The signer's per-call limits: open sessions per gateway and tickets per call, on both sides of
each line, on SQLite and PostgreSQL; and how each transport answers them."""

from __future__ import annotations

import threading
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import update

from clearinghouse import ledger
from clearinghouse.api import (
    ApiKeyAuthenticator,
    RemoteSignerApp,
    issue_api_key,
    serving,
)
from clearinghouse.api.errors import Reason, v1_answer
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.refusals import Refusal, SigningRefused, sessions_exhausted
from clearinghouse.ledger.models import PaymentSessionRow, table
from clearinghouse.signer.calls import Caller, PaymentResult
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.service import (
    SESSION_IDLE_S,
    PaymentService,
    datetime_of_ns,
)
from tests.api.client import post
from tests.api.conftest import PEPPER, b64
from tests.signer.builders import KEY, L1_BLOCK, NOW_NS, OPEN_ROUNDS, orchestrator_info
from tests.signer.test_service import Clock, funded_gateway, live_call

CHAIN = ChainView(deposit_wei=10**18, reserve_wei=10**18, withdraw_round=0, current_round=3500,
                  last_l1_block=L1_BLOCK, round_block_hashes=OPEN_ROUNDS)


def service_of(db: ledger.Database, **limits: int | float) -> PaymentService:
    return PaymentService(db, KEY, lambda: CHAIN, PaymentPolicy(), clock_ns=Clock(), **limits)  # type: ignore[arg-type]


def signed(db: ledger.Database) -> int:
    """Tickets in the ledger: what a refusal must not have added to."""
    with db.engine.connect() as connection:
        count: int = connection.exec_driver_sql("SELECT count(*) FROM signed_tickets").scalar_one()
        return count


def rand_hash(index: int) -> bytes:
    return bytes([index]) * 32  # distinct first 8 bytes: distinct PostgreSQL nonce locks


def new_session(service: PaymentService, caller: Caller, index: int) -> PaymentResult:
    """A first call: its own orchestrator params, so sessions do not queue on one nonce lock."""
    info = orchestrator_info(recipient_rand_hash=rand_hash(index))
    return service.generate_payment(caller, live_call(orchestrator_info=info.SerializeToString()))


def test_sessions_up_to_the_cap_open_and_the_next_is_refused_having_signed_nothing(
    ledger_db: ledger.Database,
) -> None:
    service = service_of(ledger_db, sessions_per_gateway_max=3)
    caller = Caller(funded_gateway(ledger_db, "gateway-a"), None)
    sessions = [new_session(service, caller, index) for index in range(1, 4)]  # just under: all open
    before = signed(ledger_db)
    with pytest.raises(SigningRefused) as info:
        new_session(service, caller, 4)
    assert signed(ledger_db) == before
    assert "too many open sessions: gateway" in str(info.value) and "at most 3 allowed" in str(info.value)
    assert 1 <= info.value.retry_after_s <= SESSION_IDLE_S
    # Existing sessions keep working, and the cap is per gateway.
    continued = service.generate_payment(caller, live_call(sessions[0], orchestrator_info=orchestrator_info(
        recipient_rand_hash=rand_hash(1)).SerializeToString()))
    assert continued.ticket_count >= 0 and not continued.replayed
    other = Caller(funded_gateway(ledger_db, "gateway-b"), None)
    assert new_session(service, other, 5).ticket_count == 1


def test_a_session_idle_for_the_window_no_longer_counts(ledger_db: ledger.Database) -> None:
    service = service_of(ledger_db, sessions_per_gateway_max=1, session_idle_s=60)
    caller = Caller(funded_gateway(ledger_db, "gateway-a"), None)
    new_session(service, caller, 1)
    with pytest.raises(SigningRefused):
        new_session(service, caller, 2)
    sessions = table(PaymentSessionRow)
    # The first session was last paid 61 s ago, by the service's clock (one clock for the path).
    with ledger_db.engine.begin() as connection:
        connection.execute(update(sessions).values(updated_at=datetime_of_ns(NOW_NS) - timedelta(seconds=61)))
    assert new_session(service, caller, 2).ticket_count == 1


def test_racing_new_sessions_cannot_pass_the_cap(ledger_db: ledger.Database) -> None:
    """Counted under the gateway's account lock: of 6 concurrent first calls with room for 3,
    exactly 3 open (PostgreSQL runs them in parallel; SQLite's write lock serializes)."""
    service = service_of(ledger_db, sessions_per_gateway_max=3)
    caller = Caller(funded_gateway(ledger_db, "gateway-a"), None)
    barrier, outcomes = threading.Barrier(6), []

    def open_one(index: int) -> None:
        barrier.wait()
        try:
            new_session(service, caller, index)
            outcomes.append("opened")
        except SigningRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=open_one, args=(index,)) for index in range(1, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == ["opened"] * 3 + ["refused"] * 3
    assert signed(ledger_db) == 3


@pytest.mark.parametrize(("price_per_unit", "tickets"), [(6, 2), (9, 3)])
def test_tickets_per_call_cap_on_both_sides_of_the_line(
    ledger_db: ledger.Database, price_per_unit: int, tickets: int
) -> None:
    """A first live call pays 10 s: at 6 wei/s with 35-wei tickets that is 2 tickets, at 9, 3."""
    service = service_of(ledger_db, tickets_per_call_max=2)
    caller = Caller(funded_gateway(ledger_db, "gateway-a"), None)
    call = live_call(orchestrator_info=orchestrator_info(price_per_unit=price_per_unit).SerializeToString())
    if tickets <= 2:
        assert service.generate_payment(caller, call).ticket_count == tickets
        return
    with pytest.raises(SigningRefused) as info:
        service.generate_payment(caller, call)
    assert info.value.reason is Refusal.TOO_MANY_TICKETS
    assert info.value.message == "numTickets 3 exceeds maximum of 2"
    assert signed(ledger_db) == 0


@pytest.mark.parametrize("limits", [{"tickets_per_call_max": 0}, {"tickets_per_call_max": 101},
                                    {"sessions_per_gateway_max": 0}, {"session_idle_s": 0}])
def test_the_service_refuses_limits_out_of_range(ledger_db: ledger.Database, limits: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        service_of(ledger_db, **limits)


def test_v1_and_grpc_name_it_rate_limited() -> None:
    answer = v1_answer(sessions_exhausted(7, 3, 3, 42))
    assert answer is not None and answer.reason is Reason.RATE_LIMITED
    assert (answer.grpc_code, answer.http_status) == (grpc.StatusCode.RESOURCE_EXHAUSTED, 429)


def test_http_answers_429_with_retry_after_and_existing_sessions_keep_paying(db: ledger.Database) -> None:
    service = service_of(db, sessions_per_gateway_max=1)
    gateway_id = funded_gateway(db, "acme")
    key, _ = issue_api_key(db, gateway_id, PEPPER)
    headers = {"Authorization": f"Bearer {key}"}
    app = RemoteSignerApp(service, api_keys=ApiKeyAuthenticator(db, PEPPER))

    def body(state: dict[str, object] | None = None, manifest_id: str = "m") -> dict[str, object]:
        return {"orchestrator": b64(orchestrator_info().SerializeToString()), "ManifestID": manifest_id,
                "type": "live", "inPixels": 0, "state": state or {"State": None, "Sig": None}}

    with serving(app) as url:
        first = post(url, "/generate-live-payment", body(), headers)
        assert first.status == 200, first.body
        # Another stream (a byte-identical first call would be a retry, answered from storage).
        refused = post(url, "/generate-live-payment", body(manifest_id="m2"), headers)
        assert refused.status == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert "too many open sessions" in refused.message
        continued = post(url, "/generate-live-payment", body(first.json()["state"]), headers)
        assert continued.status in (200, 482), continued.body
    app.close()
