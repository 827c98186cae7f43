"""plan_payment: go-livepeer's numbers, every billing type, every refusal, nonces, precedence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.signer import (
    ChainView,
    MaxPrice,
    OrchestratorOffer,
    PaymentPlan,
    PaymentPolicy,
    PaymentRequest,
    Refusal,
    RemotePaymentState,
    SigningRefused,
    decode_offer,
    plan_payment,
)
from clearinghouse.signer.limits import NONCES_PER_RECIPIENT_RAND_HASH_MAX, SENDER_NONCE_REFRESH_AT, TICKETS_PER_CALL_MAX
from tests.signer.builders import (
    L1_BLOCK,
    NOW_NS,
    NOW_S,
    OPEN_ROUNDS,
    ORCH_ADDRESS,
    RAND_HASH_A,
    RAND_HASH_B,
    orchestrator_info,
)

S = 1_000_000_000
LIVE = PaymentRequest("live", manifest_id="manifest-1")
LV2V_PIXELS_PER_S = 1280 * 720 * 30
DEFAULT_POLICY = PaymentPolicy()
HEALTHY = ChainView(
    deposit_wei=10**18,
    reserve_wei=10**18,
    withdraw_round=0,
    current_round=3500,
    last_l1_block=L1_BLOCK,
    round_block_hashes=OPEN_ROUNDS,
)

OfferFactory = Callable[..., OrchestratorOffer]


def plan(
    offer: OrchestratorOffer,
    previous: RemotePaymentState | None = None,
    request: PaymentRequest = LIVE,
    *,
    now_ns: int = NOW_NS,
    chain: ChainView = HEALTHY,
    policy: PaymentPolicy = DEFAULT_POLICY,
    ledger_last_nonce: int = 0,
) -> PaymentPlan:
    return plan_payment(
        offer,
        previous,
        request,
        chain,
        policy,
        now_ns,
        new_state_id="new-state",
        new_manifest_id="new-manifest",
        ledger_last_nonce=ledger_last_nonce,
    )


def refusal(call: Callable[[], Any]) -> SigningRefused:
    with pytest.raises(SigningRefused) as refused:
        call()
    return refused.value


def test_go_livepeer_numbers_live_session(make_offer: OfferFactory) -> None:
    offer = make_offer()
    first = plan(offer)
    assert (first.units, first.fee_wei, first.ev_wei, first.ticket_count) == (
        10,
        Fraction(30),
        Fraction(35),
        1,
    )
    assert first.first_nonce == 1 and list(first.nonces) == [1]
    assert first.state.balance == 5
    second = plan(offer, first.state, now_ns=NOW_NS + 12 * S)
    assert (second.units, second.fee_wei, second.ticket_count) == (12, Fraction(36), 1)
    assert second.first_nonce == 2
    assert second.state.balance == 4
    assert second.previous_balance_wei == 5


def test_new_session_state_fields(make_offer: OfferFactory) -> None:
    result = plan(make_offer(), request=PaymentRequest("live", app="studio"))
    assert result.state == RemotePaymentState(
        state_id="new-state",
        pm_session_id="0x" + RAND_HASH_A.hex(),
        last_update_ns=NOW_NS,
        orchestrator_address=ORCH_ADDRESS,
        app="studio",
        auth_expiry=0,
        sender_nonce=1,
        balance=Fraction(5),
        initial_price_per_unit=3,
        initial_pixels_per_unit=1,
        type="live",
        sequence_number=0,
        auth_id="",
    )
    assert result.manifest_id == "new-manifest"


def test_continuing_session_advances_sequence_and_keeps_identity(make_offer: OfferFactory) -> None:
    first = plan(make_offer())
    continued = replace(first.state, auth_id="gw-1", auth_expiry=NOW_S + 60)
    second = plan(make_offer(), continued, now_ns=NOW_NS + 12 * S)
    assert second.state.sequence_number == 1
    assert second.state.state_id == "new-state"
    assert (second.state.auth_id, second.state.auth_expiry) == ("gw-1", NOW_S + 60)
    assert second.state.last_update_ns == NOW_NS + 12 * S
    assert second.manifest_id == "manifest-1"


@pytest.mark.parametrize(
    ("request_", "overrides", "units", "fee", "count", "balance"),
    [
        (
            PaymentRequest("lv2v"),
            {"price_per_unit": 1, "pixels_per_unit": 1000, "face_value": 3 * 10**6},
            60 * LV2V_PIXELS_PER_S,
            Fraction(1_658_880),
            2,
            Fraction(341_120),
        ),
        (PaymentRequest("live"), {}, 10, Fraction(30), 1, Fraction(5)),
        (PaymentRequest("fixed"), {"price_per_unit": 100}, 1, Fraction(100), 3, Fraction(5)),
        (PaymentRequest("", in_pixels=1000), {}, 1000, Fraction(3000), 86, Fraction(10)),
    ],
    ids=["lv2v", "live", "fixed", "inPixels"],
)
def test_first_call_of_each_billing_type(
    make_offer: OfferFactory,
    request_: PaymentRequest,
    overrides: dict[str, Any],
    units: int,
    fee: Fraction,
    count: int,
    balance: Fraction,
) -> None:
    result = plan(make_offer(**overrides), request=request_)
    assert (result.units, result.fee_wei, result.ticket_count, result.state.balance) == (
        units,
        fee,
        count,
        balance,
    )
    assert result.state.type == request_.billing_type


def test_fee_uses_the_initial_price_when_the_orchestrator_lowers_it(
    make_offer: OfferFactory,
) -> None:
    first = plan(make_offer())
    second = plan(make_offer(price_per_unit=2), first.state, now_ns=NOW_NS + 12 * S)
    assert second.fee_wei == 36


def test_482_when_the_balance_covers_the_call(make_offer: OfferFactory) -> None:
    first = plan(make_offer())
    rich = replace(first.state, balance=Fraction(100))
    refused = refusal(lambda: plan(make_offer(), rich, now_ns=NOW_NS + S))
    assert refused.reason is Refusal.NO_TICKETS_NEEDED
    assert "no tickets: balance 100.000 wei covers fee 3.000 wei" in refused.message


def test_482_when_the_ticket_ev_is_zero(make_offer: OfferFactory) -> None:
    assert refusal(lambda: plan(make_offer(win_prob=0))).reason is Refusal.NO_TICKETS_NEEDED


def test_balance_exactly_ev_needs_no_ticket_but_one_wei_less_does(make_offer: OfferFactory) -> None:
    state = replace(plan(make_offer()).state, balance=Fraction(35))
    assert (
        refusal(lambda: plan(make_offer(), state, now_ns=NOW_NS + S)).reason
        is Refusal.NO_TICKETS_NEEDED
    )
    poorer = replace(state, balance=Fraction(34))
    assert plan(make_offer(), poorer, now_ns=NOW_NS + S).ticket_count == 1


def test_100_tickets_pass_and_101_are_refused(make_offer: OfferFactory) -> None:
    assert (
        plan(make_offer(price_per_unit=3500), request=PaymentRequest("fixed")).ticket_count == 100
    )
    refused = refusal(
        lambda: plan(make_offer(price_per_unit=3501), request=PaymentRequest("fixed"))
    )
    assert refused.reason is Refusal.TOO_MANY_TICKETS
    assert refused.message == "numTickets 101 exceeds maximum of 100"


@pytest.mark.parametrize(
    ("request_", "policy", "source"),
    [
        (
            PaymentRequest("live", max_price=MaxPrice("2.5", "wei", "seconds")),
            PaymentPolicy(),
            "request maxPrice",
        ),
        (LIVE, PaymentPolicy(max_price=Fraction(2)), "configured maximum price"),
        (
            PaymentRequest("live", max_price=MaxPrice("2", "wei", "seconds")),
            PaymentPolicy(max_price=Fraction(1)),
            "configured maximum price",
        ),
    ],
)
def test_481_price_above_a_ceiling(
    make_offer: OfferFactory, request_: PaymentRequest, policy: PaymentPolicy, source: str
) -> None:
    refused = refusal(lambda: plan(make_offer(), request=request_, policy=policy))
    assert refused.reason is Refusal.PRICE_EXCEEDED
    assert f"orchestrator price 3.000 exceeds {source} ceiling" in refused.message


def test_price_equal_to_the_ceilings_is_accepted(make_offer: OfferFactory) -> None:
    request = PaymentRequest("live", max_price=MaxPrice("3", "wei", "seconds"))
    assert (
        plan(
            make_offer(), request=request, policy=PaymentPolicy(max_price=Fraction(3))
        ).ticket_count
        == 1
    )


def test_481_when_the_orchestrator_raises_its_price_mid_session(make_offer: OfferFactory) -> None:
    first = plan(make_offer())
    refused = refusal(
        lambda: plan(make_offer(price_per_unit=4), first.state, now_ns=NOW_NS + 12 * S)
    )
    assert refused.reason is Refusal.PRICE_EXCEEDED
    assert "initial session price ceiling 3.000" in refused.message


@pytest.mark.parametrize(
    ("seconds_left", "refresh"), [(179, True), (180, False), (3600, False), (-5, True)]
)
def test_480_auth_token_within_three_minutes(
    make_offer: OfferFactory, seconds_left: int, refresh: bool
) -> None:
    offer = make_offer(auth_expiration=NOW_S + seconds_left)
    if refresh:
        refused = refusal(lambda: plan(offer))
        assert refused.reason is Refusal.REFRESH_SESSION
        assert "auth token expires at" in refused.message
    else:
        assert plan(offer).ticket_count == 1


def test_auth_refresh_point_is_exclusive_at_nanosecond_resolution(make_offer: OfferFactory) -> None:
    offer = make_offer(auth_expiration=NOW_S + 180)
    assert plan(offer, now_ns=NOW_NS).ticket_count == 1
    assert refusal(lambda: plan(offer, now_ns=NOW_NS + 1)).reason is Refusal.REFRESH_SESSION


@pytest.mark.parametrize(("blocks_left", "refresh"), [(-3, True), (0, True), (1, True), (2, False)])
def test_480_ticket_params_expired(
    make_offer: OfferFactory, blocks_left: int, refresh: bool
) -> None:
    offer = make_offer(expiration_block=L1_BLOCK + blocks_left)
    if refresh:
        refused = refusal(lambda: plan(offer))
        assert refused.reason is Refusal.REFRESH_SESSION
        assert f"ticket params expire at L1 block {L1_BLOCK + blocks_left}" in refused.message
    else:
        assert plan(offer).ticket_count == 1


def test_nonces_continue_under_the_same_recipient_rand_hash(make_offer: OfferFactory) -> None:
    state = replace(plan(make_offer()).state, sender_nonce=41)
    result = plan(make_offer(), state, now_ns=NOW_NS + 12 * S)
    assert result.first_nonce == 42 and result.state.sender_nonce == 42


def test_nonces_restart_at_one_under_a_new_recipient_rand_hash(make_offer: OfferFactory) -> None:
    state = replace(plan(make_offer()).state, sender_nonce=41)
    result = plan(make_offer(recipient_rand_hash=RAND_HASH_B), state, now_ns=NOW_NS + 12 * S)
    assert result.first_nonce == 1
    assert result.state.pm_session_id == "0x" + RAND_HASH_B.hex()
    assert result.state.sender_nonce == 1


def test_ledger_nonce_prevents_reuse_after_a_state_replay(make_offer: OfferFactory) -> None:
    result = plan(make_offer(), ledger_last_nonce=7)
    assert result.first_nonce == 8 and result.state.sender_nonce == 8


@pytest.mark.parametrize(
    ("state_nonce", "ledger_nonce", "allowed"),
    [(498, 0, True), (499, 0, False), (600, 0, False), (0, 499, False), (498, 12, True)],
)
def test_refresh_once_the_next_nonce_would_reach_500(
    make_offer: OfferFactory, state_nonce: int, ledger_nonce: int, allowed: bool
) -> None:
    """go-livepeer v0.9.2 (#4028): 480 with the orchestrator's URL to refetch from, at 500, so
    even a call of 100 tickets stays below the orchestrators' 600."""
    state = replace(plan(make_offer()).state, sender_nonce=state_nonce, balance=Fraction(0))
    request = PaymentRequest("fixed", manifest_id="m")
    offer = make_offer(price_per_unit=36)  # 36 wei at 35 wei a ticket: two tickets
    state = replace(state, type="fixed", initial_price_per_unit=36)
    if allowed:
        planned = plan(offer, state, request, ledger_last_nonce=ledger_nonce)
        assert (planned.first_nonce, planned.state.sender_nonce) == (499, 500)
    else:
        refused = refusal(lambda: plan(offer, state, request, ledger_last_nonce=ledger_nonce))
        assert refused.reason is Refusal.REFRESH_SESSION
        next_nonce = max(state_nonce, ledger_nonce) + 1
        assert f"the next nonce for recipientRandHash {offer.pm_session_id} would be {next_nonce}" in refused.message
        assert "expected below 500" in refused.message


def test_a_refreshed_recipient_rand_hash_starts_again_at_nonce_1(make_offer: OfferFactory) -> None:
    state = replace(plan(make_offer()).state, sender_nonce=590)
    fresh = plan(make_offer(recipient_rand_hash=RAND_HASH_B), state)
    assert fresh.first_nonce == 1


@pytest.mark.parametrize(
    ("chain_change", "message"),
    [
        ({"deposit_wei": 0}, "no sender deposit"),
        ({"reserve_wei": 0}, "no sender reserve"),
        ({"withdraw_round": 3501}, "unlock at round 3501"),
        ({"withdraw_round": 3500}, "unlock at round 3500"),
    ],
)
def test_signer_unsafe(
    make_offer: OfferFactory, chain_change: dict[str, int], message: str
) -> None:
    refused = refusal(lambda: plan(make_offer(), chain=replace(HEALTHY, **chain_change)))
    assert refused.reason is Refusal.SIGNER_UNSAFE
    assert message in refused.message


def test_unlock_two_rounds_away_is_still_safe(make_offer: OfferFactory) -> None:
    assert plan(make_offer(), chain=replace(HEALTHY, withdraw_round=3502)).ticket_count == 1


@pytest.mark.parametrize(
    ("overrides", "chain", "policy", "message"),
    [
        (
            {"face_value": 35, "win_prob": 2**256 - 1},
            HEALTHY,
            PaymentPolicy(),
            "ticket faceValue too low",
        ),
        (
            {},
            HEALTHY,
            PaymentPolicy(max_ticket_ev_wei=34),
            "ticket EV 35.00000 wei > max ticket EV 34 wei",
        ),
        (
            {},
            replace(HEALTHY, deposit_wei=104),
            PaymentPolicy(max_face_value_wei=10**30),  # spec 01's own rule, past our default cap
            "ticket faceValue 105 wei > max faceValue 104 wei (deposit 104 / multiplier 1)",
        ),
        (
            {},
            replace(HEALTHY, deposit_wei=210),
            PaymentPolicy(deposit_multiplier=3, max_face_value_wei=10**30),
            "max faceValue 70 wei",
        ),
        (
            {},
            replace(HEALTHY, deposit_wei=1049),
            PaymentPolicy(),
            "ticket faceValue 105 wei > max faceValue 104 wei: deposit 1049 wei / 10, the default while "
            "[policy] max_face_value_wei is unset",
        ),
    ],
)
def test_params_rejected(
    make_offer: OfferFactory,
    overrides: dict[str, Any],
    chain: ChainView,
    policy: PaymentPolicy,
    message: str,
) -> None:
    refused = refusal(lambda: plan(make_offer(**overrides), chain=chain, policy=policy))
    assert refused.reason is Refusal.PARAMS_REJECTED
    assert message in refused.message


def test_total_ev_limit(make_offer: OfferFactory) -> None:
    refused = refusal(lambda: plan(make_offer(), policy=PaymentPolicy(max_total_ev_wei=34)))
    assert refused.reason is Refusal.TOTAL_EV_EXCEEDED
    assert (
        "total ticket EV 35.00000 wei for 1 tickets > max total ticket EV 34 wei" in refused.message
    )


@pytest.mark.parametrize(
    ("state_change", "request_", "message"),
    [
        ({"orchestrator_address": b"\x01" * 20}, LIVE, "orchestratorAddress mismatch"),
        ({"app": "other"}, LIVE, "app mismatch: state has 'other', request has ''"),
        (
            {},
            PaymentRequest("lv2v", manifest_id="m"),
            "job type mismatch: state has 'live', request has 'lv2v'",
        ),
        ({}, PaymentRequest("live"), "missing manifestID"),
        ({"initial_pixels_per_unit": 0}, LIVE, "invalid initial price in state"),
        ({}, PaymentRequest("video", manifest_id="m"), "invalid job type"),
    ],
)
def test_bad_requests_against_the_state(
    make_offer: OfferFactory, state_change: dict[str, Any], request_: PaymentRequest, message: str
) -> None:
    state = replace(plan(make_offer()).state, **state_change)
    refused = refusal(lambda: plan(make_offer(), state, request_, now_ns=NOW_NS + S))
    assert refused.reason is Refusal.BAD_REQUEST
    assert message in refused.message


def test_a_state_without_type_takes_the_request_type(make_offer: OfferFactory) -> None:
    state = replace(plan(make_offer()).state, type="")
    assert plan(make_offer(), state, PaymentRequest("fixed", manifest_id="m")).state.type == "fixed"


def _offer_from(**overrides: Any) -> OrchestratorOffer:
    return decode_offer(orchestrator_info(**overrides).SerializeToString())


# One call per refusal, each also failing every check listed after it, so the reported reason
# must be the earliest one: the enum order is the evaluation order.
PRECEDENCE_CASES: list[tuple[Refusal, dict[str, Any]]] = [
    (Refusal.BAD_REQUEST, {"request": PaymentRequest("bogus")}),
    (Refusal.SIGNER_UNSAFE, {"chain": replace(HEALTHY, deposit_wei=0)}),
    (Refusal.REFRESH_SESSION, {"offer": {"auth_expiration": NOW_S}}),
    (
        Refusal.PARAMS_REJECTED,
        {"policy": PaymentPolicy(max_ticket_ev_wei=1, max_total_ev_wei=1, max_price=Fraction(1))},
    ),
    (Refusal.PRICE_EXCEEDED, {"policy": PaymentPolicy(max_price=Fraction(1), max_total_ev_wei=1)}),
    (Refusal.NO_TICKETS_NEEDED, {"balance": Fraction(10**6)}),
    (
        Refusal.TOO_MANY_TICKETS,
        {"offer": {"price_per_unit": 3501}, "request": PaymentRequest("fixed", manifest_id="m")},
    ),
    (Refusal.TOTAL_EV_EXCEEDED, {"policy": PaymentPolicy(max_total_ev_wei=34)}),
]


def test_precedence_cases_cover_every_refusal_in_enum_order() -> None:
    # STALE_STATE is the service's: it compares the state with the stored head, before planning.
    # NONCES_EXHAUSTED cannot happen here: the refresh at nonce 500 (REFRESH_SESSION) comes
    # first and a call signs at most 100 tickets (next test); plan_ticket_batch reaches it.
    # The rest are decided around the planner: the overdue stop before it, the request id, the
    # open-session cap, credit, the queue, the deadline and the database in the committer.
    elsewhere = (Refusal.STALE_STATE, Refusal.NONCES_EXHAUSTED, Refusal.INVOICE_OVERDUE, Refusal.REQUEST_ID_REUSED,
                 Refusal.SESSIONS_EXHAUSTED, Refusal.INSUFFICIENT_BALANCE, Refusal.SIGNER_BUSY,
                 Refusal.DEADLINE_EXCEEDED, Refusal.DATABASE_UNAVAILABLE)
    decided_here = [reason for reason in Refusal if reason not in elsewhere]
    assert [reason for reason, _ in PRECEDENCE_CASES] == decided_here


@pytest.mark.parametrize("nonce", [0, 1, 400, 498, 499, 500, 599, 600])
def test_a_payment_never_signs_past_nonce_600(make_offer: OfferFactory, nonce: int) -> None:
    """The most tickets a call may sign, from the last nonce the refresh allows, stay within
    the orchestrators' 600: the refresh at 500 leaves room for a whole call."""
    assert SENDER_NONCE_REFRESH_AT - 1 + TICKETS_PER_CALL_MAX <= NONCES_PER_RECIPIENT_RAND_HASH_MAX
    offer = make_offer(price_per_unit=35 * TICKETS_PER_CALL_MAX)
    state = replace(plan(make_offer()).state, type="fixed", sender_nonce=nonce, balance=Fraction(0),
                    initial_price_per_unit=offer.price_per_unit)
    try:
        planned = plan(offer, state, PaymentRequest("fixed", manifest_id="m"))
    except SigningRefused as refused:
        assert refused.reason is Refusal.REFRESH_SESSION and nonce + 1 >= SENDER_NONCE_REFRESH_AT
        return
    assert planned.ticket_count == TICKETS_PER_CALL_MAX
    assert planned.state.sender_nonce == nonce + TICKETS_PER_CALL_MAX <= NONCES_PER_RECIPIENT_RAND_HASH_MAX


@pytest.mark.parametrize("index", range(len(PRECEDENCE_CASES)))
def test_the_earliest_failing_check_wins(index: int) -> None:
    # Combine this case with every later one: the result must still be this case's reason.
    combined: dict[str, Any] = {}
    for _, case in reversed(PRECEDENCE_CASES[index:]):
        combined.update(case)
    offer = _offer_from(**combined.get("offer", {}))
    previous = replace(
        plan(_offer_from()).state,
        type="",
        initial_price_per_unit=offer.price_per_unit,
        balance=combined.get("balance", Fraction(0)),
    )
    request = combined.get("request", LIVE)
    refused = refusal(
        lambda: plan(
            offer,
            previous,
            request,
            now_ns=NOW_NS + S,
            chain=combined.get("chain", HEALTHY),
            policy=combined.get("policy", PaymentPolicy()),
            ledger_last_nonce=combined.get("ledger_last_nonce", 0),
        )
    )
    assert refused.reason is PRECEDENCE_CASES[index][0], refused.message


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=30 * S), min_size=1, max_size=12))
def test_live_session_balance_arithmetic(gaps_ns: list[int]) -> None:
    offer = _offer_from()
    result = plan(offer)
    state, now_ns, nonce = result.state, NOW_NS, result.state.sender_nonce
    for gap in gaps_ns:
        now_ns += gap
        try:
            step = plan(offer, state, now_ns=now_ns)
        except SigningRefused as refused:
            assert refused.reason is Refusal.NO_TICKETS_NEEDED
            continue
        assert step.first_nonce == nonce + 1
        assert step.state.balance == state.balance + step.ticket_count * step.ev_wei - step.fee_wei
        assert state.balance + step.ticket_count * step.ev_wei >= max(step.fee_wei, step.ev_wei)
        assert state.balance + (step.ticket_count - 1) * step.ev_wei < max(
            step.fee_wei, step.ev_wei
        )
        state, nonce = step.state, step.state.sender_nonce
