"""The payment service end to end on a real database: sessions, idempotency, stale states."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction

import pytest

from clearinghouse import ledger, pm
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.refusals import Refusal, SigningRefused, SpendLimit
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer.calls import Caller, PaymentCall, PaymentResult
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.service import PaymentService
from clearinghouse.signer.state import decode_state, encode_state
from tests.signer.builders import (
    KEY,
    L1_BLOCK,
    NOW_NS,
    OPEN_ROUNDS,
    RAND_HASH_A,
    orchestrator_info,
)

S = 1_000_000_000


class Clock:
    """A settable clock in nanoseconds, so billing intervals are exact."""

    def __init__(self) -> None:
        self.now_ns = NOW_NS

    def __call__(self) -> int:
        return self.now_ns


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(ledger_db: ledger.Database, clock: Clock) -> PaymentService:
    chain = ChainView(deposit_wei=10**18, reserve_wei=10**18, withdraw_round=0, current_round=3500,
                      last_l1_block=L1_BLOCK, round_block_hashes=OPEN_ROUNDS)
    return PaymentService(ledger_db, KEY, lambda: chain, PaymentPolicy(), clock_ns=clock)


def funded_gateway(db: ledger.Database, name: str) -> int:
    gateway_id = ledger.create_gateway(db, name).id
    ledger.top_up(db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    return gateway_id


@pytest.fixture
def caller(ledger_db: ledger.Database) -> Caller:
    return Caller(gateway_id=funded_gateway(ledger_db, "gateway-a"), api_key_id=None)


def live_call(previous: PaymentResult | None = None, **overrides: object) -> PaymentCall:
    fields: dict[str, object] = {
        "orchestrator_info": orchestrator_info().SerializeToString(),
        "state": None if previous is None else previous.state,
        "state_signature": None if previous is None else previous.state_signature,
        "manifest_id": "manifest-1",
        "billing_type": "live",
        "in_pixels": 0,
        "app": "",
        "max_price": None,
        "capabilities": None,
    }
    fields.update(overrides)
    return PaymentCall(**fields)  # type: ignore[arg-type]


def nonces(result: PaymentResult) -> list[int]:
    payment = lp_rpc_pb2.Payment.FromString(result.payment)
    return [ticket.sender_nonce for ticket in payment.ticket_sender_params]


def refused(call: Callable[[], object]) -> SigningRefused:
    with pytest.raises(SigningRefused) as info:
        call()
    return info.value


def test_go_livepeer_numbers_and_records(
    service: PaymentService, caller: Caller, clock: Clock, ledger_db: ledger.Database
) -> None:
    first = service.generate_payment(caller, live_call())
    state = decode_state(first.state)
    assert (first.ticket_count, nonces(first), state.balance) == (1, [1], Fraction(5))
    clock.now_ns += 12 * S
    second = service.generate_payment(caller, live_call(first))
    state = decode_state(second.state)
    assert (second.ticket_count, nonces(second), state.balance, state.sequence_number) == (1, [2], 4, 1)
    assert pm.recover_personal_signer(second.state, second.state_signature) == service.address
    assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 2
    assert ledger.verify_ledger(ledger_db).ok


def test_a_retry_gets_the_stored_answer_and_signs_nothing(
    service: PaymentService, caller: Caller, clock: Clock, ledger_db: ledger.Database
) -> None:
    first = service.generate_payment(caller, live_call())
    clock.now_ns += 12 * S
    second = service.generate_payment(caller, live_call(first))
    clock.now_ns += 30 * S
    retried = service.generate_payment(caller, live_call(first))
    assert retried.replayed and not second.replayed
    assert (retried.payment, retried.state, retried.state_signature) == (
        second.payment, second.state, second.state_signature
    )
    assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 2


def test_old_forked_unknown_and_foreign_states_are_stale(
    service: PaymentService, caller: Caller, clock: Clock, ledger_db: ledger.Database
) -> None:
    first = service.generate_payment(caller, live_call())
    clock.now_ns += 12 * S
    second = service.generate_payment(caller, live_call(first))
    clock.now_ns += 12 * S
    service.generate_payment(caller, live_call(second))
    # An older state replayed, and the right sequence with a different request (a fork):
    assert refused(lambda: service.generate_payment(caller, live_call(first))).reason is Refusal.STALE_STATE
    fork = live_call(second, app="other-app")
    assert refused(lambda: service.generate_payment(caller, fork)).reason is Refusal.STALE_STATE
    # A state we signed but never stored, and one of another gateway's sessions:
    unknown = decode_state(first.state)
    blob = encode_state(replace(unknown, state_id="f" * 32))
    forged = live_call(first, state=blob, state_signature=pm.personal_sign(KEY, blob))
    assert refused(lambda: service.generate_payment(caller, forged)).reason is Refusal.STALE_STATE
    other = Caller(gateway_id=funded_gateway(ledger_db, "gateway-b"), api_key_id=None)
    message = refused(lambda: service.generate_payment(other, live_call(second))).message
    assert message == "stale state: no such session for this gateway"
    assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 3


def test_refusals_burn_no_nonce(
    service: PaymentService, caller: Caller, clock: Clock, ledger_db: ledger.Database
) -> None:
    first = service.generate_payment(caller, live_call())
    clock.now_ns += 12 * S
    expensive = orchestrator_info(price_per_unit=1000).SerializeToString()
    refusal = refused(lambda: service.generate_payment(caller, live_call(first, orchestrator_info=expensive)))
    assert refusal.reason is Refusal.PRICE_EXCEEDED
    assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 1
    second = service.generate_payment(caller, live_call(first))
    assert nonces(second) == [2]


def test_no_tickets_needed_records_nothing(
    service: PaymentService, caller: Caller, clock: Clock, ledger_db: ledger.Database
) -> None:
    first = service.generate_payment(caller, live_call())
    clock.now_ns += 1 * S
    # fee 3 wei and a ticket EV of 5 wei (face value 15): the carried balance of 5 covers both.
    cheaper = orchestrator_info(face_value=15).SerializeToString()
    refusal = refused(lambda: service.generate_payment(caller, live_call(first, orchestrator_info=cheaper)))
    assert refusal.reason is Refusal.NO_TICKETS_NEEDED
    head = ledger.get_session_head(ledger_db, decode_state(first.state).state_id)
    assert head is not None and head.sequence_number == 0


def test_refresh_names_the_orchestrator(service: PaymentService, caller: Caller, clock: Clock) -> None:
    soon = orchestrator_info(auth_expiration=NOW_NS // S + 60).SerializeToString()
    refusal = refused(lambda: service.generate_payment(caller, live_call(orchestrator_info=soon)))
    assert refusal.reason is Refusal.REFRESH_SESSION
    assert refusal.orchestrator_url == "https://orch.example:8935"


def test_a_tampered_state_is_a_bad_request(service: PaymentService, caller: Caller) -> None:
    first = service.generate_payment(caller, live_call())
    tampered = live_call(first, state=first.state.replace(b'"Balance":"5"', b'"Balance":"500"'))
    refusal = refused(lambda: service.generate_payment(caller, tampered))
    assert refusal.reason is Refusal.BAD_REQUEST
    assert refusal.message.startswith("invalid sig: signed by 0x")


def test_orchestrator_info_signature_matches_the_spec(service: PaymentService) -> None:
    address, signature = service.orchestrator_info_signature()
    assert address == "0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A"
    assert signature.hex().startswith("c72ccad1173c225d")
    assert service.ready()


def test_the_kill_switch_stops_signing_until_released(
    service: PaymentService, caller: Caller, ledger_db: ledger.Database
) -> None:
    ledger.set_kill_switch(ledger_db, gateway_id=caller.gateway_id, engaged=True, actor="ops", reason="key rotation")
    refusal = refused(lambda: service.generate_payment(caller, live_call()))
    assert refusal.reason is Refusal.SIGNER_UNSAFE
    assert refusal.message == f"signing halted by the operator (gateway:{caller.gateway_id}): key rotation"
    assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 0
    ledger.set_kill_switch(ledger_db, gateway_id=caller.gateway_id, engaged=False, actor="ops", reason="done")
    assert nonces(service.generate_payment(caller, live_call())) == [1]


def test_credit_control_refuses_before_signing_and_a_top_up_lets_it_sign(
    service: PaymentService, ledger_db: ledger.Database
) -> None:
    caller = Caller(gateway_id=ledger.create_gateway(ledger_db, "unfunded").id, api_key_id=None)
    with pytest.raises(SigningRefused) as info:
        service.generate_payment(caller, live_call())
    assert info.value.limit is SpendLimit.BALANCE
    assert "this call needs 35 wei" in str(info.value)
    assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 0
    ledger.top_up(ledger_db, caller.gateway_id, 35, actor="finance", reason="exactly one ticket")
    assert nonces(service.generate_payment(caller, live_call())) == [1]
    with pytest.raises(SigningRefused):
        service.generate_payment(caller, live_call(manifest_id="another-session"))
    assert ledger.verify_ledger(ledger_db).ok
