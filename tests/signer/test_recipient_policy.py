"""Recipient sanity (issue #9): face value, ticket EV and total EV caps, and the optional
active-orchestrator check, on both sides (plan_payment and plan_ticket_batch) and through the
service: a refusal signs nothing and uses no nonce."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest

from clearinghouse import ledger
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer import ChainView, OrchestratorOffer, PaymentPolicy, PaymentRequest, Refusal, SigningRefused
from clearinghouse.signer.decision import TicketPlan, plan_payment, plan_ticket_batch
from clearinghouse.domain.chain_view import RecipientStatus, RecipientVerdict
from clearinghouse.signer.limits import MAX_FACE_VALUE_WEI_DEFAULT
from clearinghouse.signer.calls import Caller, PaymentCall
from clearinghouse.signer.service import PaymentService, tightened
from clearinghouse.signer.tickets import TicketRequest, TicketService
from tests.signer.builders import EV_35_FACE_VALUE, KEY, L1_BLOCK, NOW_NS, ORCH_ADDRESS, RAND_HASH_A, orchestrator_info

LIVE = PaymentRequest("live", manifest_id="manifest-1")
OfferFactory = Callable[..., OrchestratorOffer]


class FakeCheck:
    """A RecipientCheck answering ``status`` and remembering what it was asked."""

    def __init__(self, status: RecipientStatus, detail: str = "") -> None:
        self.status, self.detail = status, detail
        self.asked: list[tuple[bytes, int]] = []

    def __call__(self, address: bytes, round_: int) -> RecipientVerdict:
        self.asked.append((address, round_))
        return RecipientVerdict(self.status, self.detail)


def payment(offer: OrchestratorOffer, chain: ChainView, policy: PaymentPolicy) -> int:
    """Tickets plan_payment would sign for a new live session (raises SigningRefused)."""
    plan = plan_payment(offer, None, LIVE, chain, policy, NOW_NS, new_state_id="s", new_manifest_id="m")
    return plan.ticket_count


def batch(offer: OrchestratorOffer, chain: ChainView, policy: PaymentPolicy, count: int = 1) -> TicketPlan:
    return plan_ticket_batch(offer, count, chain, policy, ledger_last_nonce=0)


def refusal(call: Callable[[], Any]) -> SigningRefused:
    with pytest.raises(SigningRefused) as info:
        call()
    return info.value


Side = Callable[[OrchestratorOffer, ChainView, PaymentPolicy], object]
BOTH_SIDES = [pytest.param(payment, id="plan_payment"), pytest.param(batch, id="plan_ticket_batch")]


# ---- caps -----------------------------------------------------------------------------------

def test_the_face_value_cap_is_unset_by_default_so_it_follows_the_deposit() -> None:
    """Unset means derived from the deposit at signing time (test_offer_checks.py)."""
    assert MAX_FACE_VALUE_WEI_DEFAULT is None and PaymentPolicy().max_face_value_wei is None


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_face_value_above_the_configured_cap_is_refused(
    side: Side, make_offer: OfferFactory, chain: ChainView
) -> None:
    policy = PaymentPolicy(max_face_value_wei=EV_35_FACE_VALUE - 1)
    refused = refusal(lambda: side(make_offer(), chain, policy))
    assert refused.reason is Refusal.PARAMS_REJECTED
    assert f"configured max faceValue {EV_35_FACE_VALUE - 1} wei" in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_face_value_at_the_cap_is_signed(side: Side, make_offer: OfferFactory, chain: ChainView) -> None:
    side(make_offer(), chain, PaymentPolicy(max_face_value_wei=EV_35_FACE_VALUE))


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_the_tighter_of_cap_and_deposit_bound_applies(side: Side, make_offer: OfferFactory, chain: ChainView) -> None:
    policy = PaymentPolicy(max_face_value_wei=10**30)
    poor = replace(chain, deposit_wei=EV_35_FACE_VALUE - 1)
    refused = refusal(lambda: side(make_offer(), poor, policy))
    assert refused.reason is Refusal.PARAMS_REJECTED and "deposit" in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_ticket_ev_above_the_cap_is_refused(side: Side, make_offer: OfferFactory, chain: ChainView) -> None:
    refused = refusal(lambda: side(make_offer(), chain, PaymentPolicy(max_ticket_ev_wei=34)))
    assert refused.reason is Refusal.PARAMS_REJECTED and "max ticket EV 34 wei" in refused.message


def test_total_ev_cap_on_a_payment(make_offer: OfferFactory, chain: ChainView) -> None:
    # A new live session prepays 10 s at 3 wei per unit: 30 wei, one ticket of EV 35.
    assert payment(make_offer(), chain, PaymentPolicy(max_total_ev_wei=35)) == 1
    refused = refusal(lambda: payment(make_offer(), chain, PaymentPolicy(max_total_ev_wei=34)))
    assert refused.reason is Refusal.TOTAL_EV_EXCEEDED


def test_total_ev_cap_on_a_batch(make_offer: OfferFactory, chain: ChainView) -> None:
    assert batch(make_offer(), chain, PaymentPolicy(max_total_ev_wei=70), 2).ticket_count == 2
    refused = refusal(lambda: batch(make_offer(), chain, PaymentPolicy(max_total_ev_wei=70), 3))
    assert refused.reason is Refusal.TOTAL_EV_EXCEEDED


def test_a_non_positive_face_value_cap_is_a_configuration_error() -> None:
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_face_value_wei"):
            PaymentPolicy(max_face_value_wei=bad)


# ---- the recipient check --------------------------------------------------------------------

@pytest.mark.parametrize("side", BOTH_SIDES)
def test_an_active_recipient_is_asked_about_in_the_current_round_and_signed(
    side: Side, make_offer: OfferFactory, chain: ChainView
) -> None:
    check = FakeCheck(RecipientStatus.ACTIVE)
    side(make_offer(), chain, PaymentPolicy(recipient_check=check))
    assert check.asked == [(ORCH_ADDRESS, chain.current_round)]


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_an_inactive_recipient_is_refused(side: Side, make_offer: OfferFactory, chain: ChainView) -> None:
    policy = PaymentPolicy(recipient_check=FakeCheck(RecipientStatus.INACTIVE))
    refused = refusal(lambda: side(make_offer(), chain, policy))
    assert refused.reason is Refusal.PARAMS_REJECTED
    assert f"0x{ORCH_ADDRESS.hex()} is not an active orchestrator in round {chain.current_round}" in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_a_recipient_that_cannot_be_confirmed_is_refused_fail_closed(
    side: Side, make_offer: OfferFactory, chain: ChainView
) -> None:
    check = FakeCheck(RecipientStatus.UNKNOWN, "connection refused")
    refused = refusal(lambda: side(make_offer(), chain, PaymentPolicy(recipient_check=check)))
    assert refused.reason is Refusal.SIGNER_UNSAFE
    assert "cannot confirm orchestrator" in refused.message and "connection refused" in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_chain_health_is_checked_before_the_recipient(side: Side, make_offer: OfferFactory, chain: ChainView) -> None:
    check = FakeCheck(RecipientStatus.ACTIVE)
    refused = refusal(lambda: side(make_offer(), replace(chain, deposit_wei=0), PaymentPolicy(recipient_check=check)))
    assert refused.reason is Refusal.SIGNER_UNSAFE and check.asked == []


def test_an_unconfirmed_recipient_outranks_expired_params(make_offer: OfferFactory, chain: ChainView) -> None:
    """SIGNER_UNSAFE comes before REFRESH_SESSION in Refusal's order."""
    expired = make_offer(expiration_block=L1_BLOCK)
    policy = PaymentPolicy(recipient_check=FakeCheck(RecipientStatus.UNKNOWN))
    assert refusal(lambda: payment(expired, chain, policy)).reason is Refusal.SIGNER_UNSAFE
    assert refusal(lambda: batch(expired, chain, policy)).reason is Refusal.SIGNER_UNSAFE


def test_the_callers_price_ceiling_keeps_the_recipient_check() -> None:
    check = FakeCheck(RecipientStatus.ACTIVE)
    assert tightened(PaymentPolicy(recipient_check=check), Fraction(1)).recipient_check is check


# ---- through the service: a refusal signs nothing and uses no nonce ----------------------------

def funded_caller(db: ledger.Database) -> Caller:
    gateway_id = ledger.create_gateway(db, "gateway-a").id
    ledger.top_up(db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    return Caller(gateway_id=gateway_id, api_key_id=None)


def test_a_refused_recipient_burns_no_nonce(ledger_db: ledger.Database, chain: ChainView) -> None:
    check = FakeCheck(RecipientStatus.INACTIVE)
    service = PaymentService(ledger_db, KEY, lambda: chain, PaymentPolicy(recipient_check=check), clock_ns=lambda: NOW_NS)
    caller = funded_caller(ledger_db)
    call = PaymentCall(orchestrator_info().SerializeToString(), None, None, "manifest-1", "live", 0, "", None, None)
    for status, reason in ((RecipientStatus.INACTIVE, Refusal.PARAMS_REJECTED),
                           (RecipientStatus.UNKNOWN, Refusal.SIGNER_UNSAFE)):
        check.status = status
        assert refusal(lambda: service.generate_payment(caller, call)).reason is reason
        assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 0
    check.status = RecipientStatus.ACTIVE
    result = service.generate_payment(caller, call)
    payment_message = lp_rpc_pb2.Payment.FromString(result.payment)
    assert [ticket.sender_nonce for ticket in payment_message.ticket_sender_params] == [1]
    assert ledger.verify_ledger(ledger_db).ok


def test_a_refused_recipient_burns_no_nonce_in_a_ticket_batch(ledger_db: ledger.Database, chain: ChainView) -> None:
    check = FakeCheck(RecipientStatus.INACTIVE)
    service = TicketService(ledger_db, KEY, lambda: chain, PaymentPolicy(recipient_check=check))
    caller = funded_caller(ledger_db)
    info = orchestrator_info()
    request = TicketRequest("request-1", info.ticket_params.SerializeToString(), None,
                            info.price_info.SerializeToString(), 2)
    for status, reason in ((RecipientStatus.INACTIVE, Refusal.PARAMS_REJECTED),
                           (RecipientStatus.UNKNOWN, Refusal.SIGNER_UNSAFE)):
        check.status = status
        assert refusal(lambda: service.sign_tickets(caller, request)).reason is reason
        assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 0
    check.status = RecipientStatus.ACTIVE
    signed = service.sign_tickets(caller, request)
    assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 2 and not signed.replayed
    assert ledger.verify_ledger(ledger_db).ok


def test_a_ticket_batch_keeps_to_the_configured_tickets_per_call(ledger_db: ledger.Database, chain: ChainView) -> None:
    """[limits] tickets_per_call_max binds SignTickets too: past it nothing is signed, at it all is."""
    service = TicketService(ledger_db, KEY, lambda: chain, PaymentPolicy(), tickets_per_call_max=3)
    caller = funded_caller(ledger_db)
    info = orchestrator_info()
    params, price = info.ticket_params.SerializeToString(), info.price_info.SerializeToString()
    refused = refusal(lambda: service.sign_tickets(caller, TicketRequest("request-1", params, None, price, 4)))
    assert refused.reason is Refusal.TOO_MANY_TICKETS and "exceeds maximum of 3" in refused.message
    assert ledger.last_issued_nonce(ledger_db, RAND_HASH_A) == 0
    assert len(service.sign_tickets(caller, TicketRequest("request-2", params, None, price, 3)).tickets) == 3
    with pytest.raises(ValueError, match="tickets_per_call_max"):
        TicketService(ledger_db, KEY, lambda: chain, PaymentPolicy(), tickets_per_call_max=101)
