"""The planner follows domain.refusals.PRECEDENCE where it used to depart from it: the chain
guard is read only after the request's own checks, a SignTickets batch checks its params and
count where the table puts them, and the configured ticket cap comes before the total EV."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clearinghouse import ledger
from clearinghouse.domain.refusals import PRECEDENCE, Refusal, SigningRefused
from clearinghouse.signer import ChainView, OrchestratorOffer, PaymentPolicy, PaymentRequest
from clearinghouse.signer.calls import Caller, PaymentCall
from clearinghouse.signer.decision import plan_payment, plan_ticket_batch
from clearinghouse.signer.service import PaymentService
from tests.signer.builders import KEY, NOW_NS, orchestrator_info

LIVE = PaymentRequest("live", manifest_id="m")
# A first live call pays 10 s: at 9 wei/s with 35-wei tickets, 3 tickets and 105 wei of EV.
THREE_TICKETS = {"price_per_unit": 9}
CAPPED = {"tickets_per_call_max": 2, "policy": PaymentPolicy(max_total_ev_wei=50)}


class StaleGuard:
    """The chain guard of a signer whose chain data is stale; counts its reads."""

    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> ChainView:
        self.reads += 1
        raise SigningRefused(Refusal.SIGNER_UNSAFE, "chain data stale: never read")


def refusal(call: Callable[[], Any]) -> SigningRefused:
    with pytest.raises(SigningRefused) as info:
        call()
    return info.value


def pay(offer: OrchestratorOffer, chain: Callable[[], ChainView] | ChainView, request: PaymentRequest = LIVE,
        **options: Any) -> object:
    policy = options.pop("policy", PaymentPolicy())
    return plan_payment(offer, None, request, chain, policy, NOW_NS, new_state_id="s", new_manifest_id="m",
                        **options)


def first(*reasons: Refusal) -> Refusal:
    return min(reasons, key=PRECEDENCE.index)


def test_a_bad_request_outranks_the_chain_guard(make_offer: Callable[..., OrchestratorOffer]) -> None:
    guard = StaleGuard()
    refused = refusal(lambda: pay(make_offer(), guard, PaymentRequest("bogus")))
    assert refused.reason is first(Refusal.BAD_REQUEST, Refusal.SIGNER_UNSAFE) is Refusal.BAD_REQUEST
    assert guard.reads == 0  # never asked: the request alone decided
    assert refusal(lambda: pay(make_offer(), guard)).reason is Refusal.SIGNER_UNSAFE
    assert guard.reads == 1


def test_a_bad_ticket_count_outranks_the_chain_guard(make_offer: Callable[..., OrchestratorOffer]) -> None:
    guard = StaleGuard()
    refused = refusal(lambda: plan_ticket_batch(make_offer(), 0, guard, PaymentPolicy(), ledger_last_nonce=0))
    assert refused.reason is Refusal.BAD_REQUEST and guard.reads == 0


@pytest.mark.parametrize("params", [{"face_value": 0}, {"win_prob": 0}])
def test_the_chain_guard_outranks_params_that_never_pay(
    make_offer: Callable[..., OrchestratorOffer], chain: ChainView, params: dict[str, int]
) -> None:
    offer = make_offer(**params)
    refused = refusal(lambda: plan_ticket_batch(offer, 1, StaleGuard(), PaymentPolicy(), ledger_last_nonce=0))
    assert refused.reason is first(Refusal.SIGNER_UNSAFE, Refusal.PARAMS_REJECTED) is Refusal.SIGNER_UNSAFE
    healthy = refusal(lambda: plan_ticket_batch(offer, 1, chain, PaymentPolicy(), ledger_last_nonce=0))
    assert healthy.reason is Refusal.PARAMS_REJECTED and "never pays" in healthy.message


def test_the_ticket_cap_outranks_the_total_ev(make_offer: Callable[..., OrchestratorOffer], chain: ChainView) -> None:
    offer = make_offer(**THREE_TICKETS)
    assert refusal(lambda: pay(offer, chain, policy=CAPPED["policy"])).reason is Refusal.TOTAL_EV_EXCEEDED
    refused = refusal(lambda: pay(offer, chain, **CAPPED))
    assert refused.reason is first(Refusal.TOO_MANY_TICKETS, Refusal.TOTAL_EV_EXCEEDED) is Refusal.TOO_MANY_TICKETS
    assert refused.message == "numTickets 3 exceeds maximum of 2"
    batch = refusal(lambda: plan_ticket_batch(offer, 3, chain, ledger_last_nonce=0, **CAPPED))
    assert batch.reason is Refusal.TOO_MANY_TICKETS and batch.message == "ticket_count 3 exceeds maximum of 2"


def test_the_service_applies_its_configured_cap_before_the_total_ev(
    ledger_db: ledger.Database, chain: ChainView
) -> None:
    service = PaymentService(ledger_db, KEY, lambda: chain, PaymentPolicy(max_total_ev_wei=50), clock_ns=lambda: NOW_NS,
                             tickets_per_call_max=2)
    gateway_id = ledger.create_gateway(ledger_db, "gateway-a").id
    ledger.top_up(ledger_db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    info = orchestrator_info(**THREE_TICKETS).SerializeToString()
    call = PaymentCall(info, None, None, "manifest-1", "live", 0, "", None, None)
    refused = refusal(lambda: service.generate_payment(Caller(gateway_id=gateway_id, api_key_id=None), call))
    assert (refused.reason, refused.message) == (Refusal.TOO_MANY_TICKETS, "numTickets 3 exceeds maximum of 2")
    assert ledger.verify_ledger(ledger_db).ok
