"""Issue #15, the pure part: an orchestrator's creation round and its block hash are checked
against our own chain view before anything is signed, and the face value cap follows the
deposit by default; on both sides (plan_payment and plan_ticket_batch). Each refusal names the
field and what was expected."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from clearinghouse.signer import ChainView, OrchestratorOffer, PaymentPolicy, PaymentRequest, Refusal, SigningRefused
from clearinghouse.signer.decision import plan_payment, plan_ticket_batch
from clearinghouse.signer.limits import MAX_FACE_VALUE_DEPOSIT_DIVISOR
from clearinghouse.signer.offer_checks import CREATION_ROUND_BLOCK_HASH_FIELD, CREATION_ROUND_FIELD
from tests.signer.builders import BLOCK_HASH, CREATION_ROUND, L1_BLOCK, NOW_NS, WIN_PROB_THIRD

OfferFactory = Callable[..., OrchestratorOffer]
OTHER_HASH = bytes.fromhex("77" * 32)
OLDER_HASH = bytes.fromhex("66" * 32)
POLICY = PaymentPolicy()


def chain_at(current_round: int, hashes: dict[int, bytes], validity: int = 2, deposit_wei: int = 10**18) -> ChainView:
    return ChainView(deposit_wei=deposit_wei, reserve_wei=10**18, withdraw_round=0, current_round=current_round,
                     last_l1_block=L1_BLOCK, round_block_hashes=tuple(sorted(hashes.items())),
                     ticket_validity_period_rounds=validity)


def payment(offer: OrchestratorOffer, chain: ChainView, policy: PaymentPolicy = POLICY) -> int:
    request = PaymentRequest("live", manifest_id="m")
    return plan_payment(offer, None, request, chain, policy, NOW_NS, new_state_id="s", new_manifest_id="m").ticket_count


def batch(offer: OrchestratorOffer, chain: ChainView, policy: PaymentPolicy = POLICY) -> int:
    return plan_ticket_batch(offer, 1, chain, policy, ledger_last_nonce=0).ticket_count


BOTH_SIDES = [pytest.param(payment, id="plan_payment"), pytest.param(batch, id="plan_ticket_batch")]
Side = Callable[..., int]


def refusal(call: Callable[[], Any]) -> SigningRefused:
    with pytest.raises(SigningRefused) as info:
        call()
    return info.value


# ---- creation round and block hash ------------------------------------------------------------

@pytest.mark.parametrize("side", BOTH_SIDES)
def test_the_current_and_the_previous_open_round_are_signed(side: Side, make_offer: OfferFactory) -> None:
    chain = chain_at(CREATION_ROUND + 1, {CREATION_ROUND: BLOCK_HASH, CREATION_ROUND + 1: OTHER_HASH})
    assert side(make_offer(), chain) >= 1
    assert side(make_offer(creation_round=CREATION_ROUND + 1, creation_round_block_hash=OTHER_HASH), chain) >= 1


@pytest.mark.parametrize("side", BOTH_SIDES)
@pytest.mark.parametrize("ahead", [1, 999_996_501])
def test_a_creation_round_in_the_future_is_refused(side: Side, make_offer: OfferFactory, ahead: int) -> None:
    """Issue #15's attack uses round 1,000,000,001: a ticket that can never be redeemed."""
    offer = make_offer(creation_round=CREATION_ROUND + ahead)
    refused = refusal(lambda: side(offer, chain_at(CREATION_ROUND, {CREATION_ROUND: BLOCK_HASH})))
    assert refused.reason is Refusal.PARAMS_REJECTED
    assert (f"{CREATION_ROUND_FIELD} {CREATION_ROUND + ahead} is after the current round {CREATION_ROUND}"
            in refused.message)
    assert f"expected a round in {CREATION_ROUND - 1}..{CREATION_ROUND}" in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_a_creation_round_past_the_validity_window_asks_for_fresh_params(side: Side, make_offer: OfferFactory) -> None:
    """creationRound + ticketValidityPeriod must be > currentRound: at 3502 with a period of 2,
    round 3500 is expired (the TicketBroker reverts "ticket is expired"); fresh params help."""
    chain = chain_at(CREATION_ROUND + 2, {CREATION_ROUND + 1: OLDER_HASH, CREATION_ROUND + 2: OTHER_HASH})
    refused = refusal(lambda: side(make_offer(), chain))
    assert refused.reason is Refusal.REFRESH_SESSION
    assert f"{CREATION_ROUND_FIELD} {CREATION_ROUND} is expired" in refused.message
    assert f"ticketValidityPeriod (2) must be > the current round {CREATION_ROUND + 2}" in refused.message
    assert f"expected a round in {CREATION_ROUND + 1}..{CREATION_ROUND + 2}" in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_a_block_hash_other_than_the_recorded_one_is_refused(side: Side, make_offer: OfferFactory) -> None:
    offer = make_offer(creation_round_block_hash=OTHER_HASH)
    refused = refusal(lambda: side(offer, chain_at(CREATION_ROUND, {CREATION_ROUND: BLOCK_HASH})))
    assert refused.reason is Refusal.PARAMS_REJECTED
    assert (f"{CREATION_ROUND_BLOCK_HASH_FIELD} 0x{OTHER_HASH.hex()} is not the block hash the RoundsManager "
            f"recorded for round {CREATION_ROUND}: expected 0x{BLOCK_HASH.hex()}") in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_a_round_the_rounds_manager_has_not_initialized_is_refused(side: Side, make_offer: OfferFactory) -> None:
    """The current round before initializeRound: no hash recorded, the contract would revert."""
    chain = chain_at(CREATION_ROUND, {CREATION_ROUND - 1: OLDER_HASH})
    refused = refusal(lambda: side(make_offer(), chain))
    assert refused.reason is Refusal.PARAMS_REJECTED
    assert f"{CREATION_ROUND_FIELD} {CREATION_ROUND} has no block hash recorded" in refused.message
    assert f"of {CREATION_ROUND - 1}" in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_a_view_that_knows_no_round_signs_nothing(side: Side, make_offer: OfferFactory) -> None:
    """Fail closed: a ChainView built without hashes (the default) refuses every ticket."""
    chain = ChainView(deposit_wei=10**18, reserve_wei=10**18, withdraw_round=0, current_round=CREATION_ROUND,
                      last_l1_block=L1_BLOCK)
    refused = refusal(lambda: side(make_offer(), chain))
    assert refused.reason is Refusal.PARAMS_REJECTED and "none (no round of the open ones is initialized)" in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_a_static_view_signs_only_its_configured_round(side: Side, make_offer: OfferFactory) -> None:
    """[chain.static]: the configured round with its configured hash is the only open round."""
    static = chain_at(CREATION_ROUND + 1, {CREATION_ROUND + 1: OTHER_HASH}, validity=1)
    assert side(make_offer(creation_round=CREATION_ROUND + 1, creation_round_block_hash=OTHER_HASH), static) >= 1
    refused = refusal(lambda: side(make_offer(), static))
    assert refused.reason is Refusal.REFRESH_SESSION
    assert f"expected a round in {CREATION_ROUND + 1}..{CREATION_ROUND + 1}" in refused.message


def test_earlier_refusals_keep_their_precedence(make_offer: OfferFactory) -> None:
    """A chain unsafe to sign on is reported before anything about the params."""
    chain = replace(chain_at(CREATION_ROUND, {}), deposit_wei=0)
    assert refusal(lambda: payment(make_offer(creation_round=10**9), chain)).reason is Refusal.SIGNER_UNSAFE


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ticket_validity_period_rounds": 0}, "ticket_validity_period_rounds must be >= 1"),
        ({"round_block_hashes": ((CREATION_ROUND + 1, BLOCK_HASH),)}, "is not open"),
        ({"round_block_hashes": ((CREATION_ROUND - 5, BLOCK_HASH),)}, "is not open"),
        ({"round_block_hashes": ((CREATION_ROUND, bytes(32)),)}, "must be 32 non-zero bytes"),
        ({"round_block_hashes": ((CREATION_ROUND, b"\x01" * 31),)}, "must be 32 non-zero bytes"),
    ],
)
def test_a_chain_view_with_impossible_rounds_cannot_be_made(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        replace(chain_at(CREATION_ROUND, {}), **fields)


# ---- face value cap derived from the deposit ----------------------------------------------------

@pytest.mark.parametrize("side", BOTH_SIDES)
def test_face_value_is_capped_at_a_tenth_of_the_deposit_by_default(side: Side, make_offer: OfferFactory) -> None:
    deposit = 10**18
    cap = deposit // MAX_FACE_VALUE_DEPOSIT_DIVISOR
    chain = chain_at(CREATION_ROUND, {CREATION_ROUND: BLOCK_HASH}, deposit_wei=deposit)
    at_cap = make_offer(face_value=cap, win_prob=WIN_PROB_THIRD // 10**15)
    assert side(at_cap, chain) >= 1
    above = make_offer(face_value=cap + 1, win_prob=WIN_PROB_THIRD // 10**15)
    refused = refusal(lambda: side(above, chain))
    assert refused.reason is Refusal.PARAMS_REJECTED
    assert (f"ticket faceValue {cap + 1} wei > max faceValue {cap} wei: deposit {deposit} wei / 10, the default "
            "while [policy] max_face_value_wei is unset") in refused.message


@pytest.mark.parametrize("side", BOTH_SIDES)
def test_the_operator_may_raise_the_face_value_cap_up_to_the_deposit(side: Side, make_offer: OfferFactory) -> None:
    """Overridable: [policy] max_face_value_wei replaces the default; deposit / multiplier stays."""
    deposit = 10**18
    chain = chain_at(CREATION_ROUND, {CREATION_ROUND: BLOCK_HASH}, deposit_wei=deposit)
    whole = make_offer(face_value=deposit, win_prob=WIN_PROB_THIRD // 10**16)
    assert side(whole, chain, PaymentPolicy(max_face_value_wei=deposit)) >= 1
    refused = refusal(lambda: side(make_offer(face_value=deposit + 1, win_prob=WIN_PROB_THIRD // 10**16), chain,
                                   PaymentPolicy(max_face_value_wei=2 * deposit)))
    assert refused.reason is Refusal.PARAMS_REJECTED and f"max faceValue {deposit} wei (deposit" in refused.message


def test_one_winning_ticket_at_the_default_cap_cannot_make_health_critical_by_itself() -> None:
    """The reasoning of MAX_FACE_VALUE_DEPOSIT_DIVISOR, as arithmetic: after one win at the cap
    the deposit still covers the largest face value signed against it (critical is deposit <
    largest face value in flight)."""
    from clearinghouse.chain.limits import DEPOSIT_FACE_VALUE_MULTIPLE_WARN_DEFAULT

    for deposit in (10, 10**18, 10**18 + 9, 3 * 10**17 + 1):
        cap = deposit // MAX_FACE_VALUE_DEPOSIT_DIVISOR
        assert deposit - cap >= cap
        assert deposit >= DEPOSIT_FACE_VALUE_MULTIPLE_WARN_DEFAULT * cap  # no warning before the win
