"""Deposit health as a pure judgement: each threshold on both sides of its line."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from clearinghouse.chain.health import (
    NO_EXPOSURE,
    BurnRate,
    ChainPosition,
    Exposure,
    HealthReason,
    HealthState,
    HealthThresholds,
    WatcherLag,
    assess,
)

ETHER = 10**18
THRESHOLDS = HealthThresholds(
    deposit_face_value_multiple_warn=10, gas_balance_warn_wei=10**16, runway_warn_s=3600.0, watcher_lag_warn_s=60.0
)
POSITION = ChainPosition(
    block=100, l1_block=100, deposit_wei=10 * ETHER, reserve_wei=2 * ETHER, reserve_claimed_in_current_round_wei=0,
    withdraw_round=0, current_round=5, ticket_validity_period_rounds=2, transcoder_pool_size=2,
    gas_balance_wei=ETHER,
)
EXPOSURE = Exposure(tickets=3, face_value_wei=3 * 10**17, ev_wei=Fraction(3, 1000), max_face_value_wei=10**17)
NO_BURN = BurnRate(None, None)


def judge(position: ChainPosition | None = POSITION, exposure: Exposure = EXPOSURE, burn: BurnRate = NO_BURN,
          age_s: float | None = 1.0, watcher: WatcherLag | None = None) -> tuple[HealthState, set[HealthReason]]:
    health = assess(position, exposure, burn, THRESHOLDS, chain_age_s=age_s, stale_after_s=30.0, watcher=watcher)
    return health.state, {f.reason for f in health.findings}


def test_a_well_funded_sender_is_ok() -> None:
    assert judge() == (HealthState.OK, set())
    assert judge(exposure=NO_EXPOSURE) == (HealthState.OK, set())


@pytest.mark.parametrize(
    ("name", "below", "state", "reason", "at_line"),
    [
        ("deposit_wei", 0, HealthState.CRITICAL, HealthReason.NO_DEPOSIT, None),
        ("deposit_wei", 10**17 - 1, HealthState.CRITICAL, HealthReason.DEPOSIT_BELOW_MAX_FACE_VALUE, None),
        ("deposit_wei", 10**18 - 1, HealthState.WARN, HealthReason.DEPOSIT_LOW, 10**18),
        ("reserve_wei", 0, HealthState.CRITICAL, HealthReason.NO_RESERVE, None),
        ("reserve_wei", 2 * 10**17 - 1, HealthState.WARN, HealthReason.RESERVE_SHARE_LOW, 2 * 10**17),
        ("withdraw_round", 7, HealthState.CRITICAL, HealthReason.UNLOCK_IN_PROGRESS, 0),
        ("gas_balance_wei", 10**16 - 1, HealthState.WARN, HealthReason.GAS_BALANCE_LOW, 10**16),
    ],
)
def test_each_line_is_crossed_by_one_wei(
    name: str, below: int, state: HealthState, reason: HealthReason, at_line: int | None
) -> None:
    assert judge(replace(POSITION, **{name: below})) == (state, {reason})
    if at_line is not None:
        assert judge(replace(POSITION, **{name: at_line})) == (HealthState.OK, set())


def test_deposit_of_exactly_the_max_face_value_is_only_a_warning() -> None:
    state, reasons = judge(replace(POSITION, deposit_wei=10**17))
    assert (state, reasons) == (HealthState.WARN, {HealthReason.DEPOSIT_LOW})


def test_claims_this_round_count_toward_the_reserve_share() -> None:
    # (fundsRemaining + claimedInCurrentRound) / poolSize, spec 04.
    low = replace(POSITION, reserve_wei=10**17, reserve_claimed_in_current_round_wei=10**17)
    assert low.reserve_share_wei == 10**17
    assert judge(low) == (HealthState.OK, set())
    assert replace(POSITION, transcoder_pool_size=0).reserve_share_wei == 0


def test_stale_or_missing_chain_data_is_critical() -> None:
    assert judge(age_s=30.0)[0] is HealthState.OK
    assert judge(age_s=30.1) == (HealthState.CRITICAL, {HealthReason.CHAIN_DATA_STALE})
    assert judge(None, age_s=None) == (HealthState.CRITICAL, {HealthReason.CHAIN_DATA_STALE})


def test_ev_outstanding_above_the_deposit_warns() -> None:
    exposure = replace(EXPOSURE, ev_wei=Fraction(10 * ETHER) + Fraction(1, 3))
    assert judge(exposure=exposure) == (HealthState.WARN, {HealthReason.EV_OUTSTANDING_ABOVE_DEPOSIT})


def test_runway_is_deposit_over_the_faster_burn() -> None:
    burn = BurnRate(ev_signed_wei_per_s=Fraction(10 * ETHER, 7200), paid_wei_per_s=Fraction(ETHER, 7200))
    health = assess(POSITION, EXPOSURE, burn, THRESHOLDS, chain_age_s=0.0, stale_after_s=30.0)
    assert health.runway_s == 7200.0 and health.state is HealthState.OK
    faster = BurnRate(ev_signed_wei_per_s=Fraction(ETHER, 7200), paid_wei_per_s=Fraction(10 * ETHER, 3599))
    health = assess(POSITION, EXPOSURE, faster, THRESHOLDS, chain_age_s=0.0, stale_after_s=30.0)
    assert health.runway_s == pytest.approx(3599.0)
    assert {f.reason for f in health.findings} == {HealthReason.RUNWAY_SHORT}
    assert assess(POSITION, EXPOSURE, BurnRate(Fraction(0), None), THRESHOLDS, chain_age_s=0.0,
                  stale_after_s=30.0).runway_s is None


def test_watcher_lag_and_unmatched_redemptions_warn() -> None:
    assert judge(watcher=WatcherLag(behind_s=60.0)) == (HealthState.OK, set())
    state, reasons = judge(watcher=WatcherLag(behind_s=61.0, last_error="eth_getLogs failed"))
    assert (state, reasons) == (HealthState.WARN, {HealthReason.WATCHER_BEHIND})
    assert judge(watcher=WatcherLag(unmatched_redemptions=1)) == (HealthState.WARN, {HealthReason.UNMATCHED_REDEMPTIONS})


def test_findings_are_worst_first_and_the_summary_names_only_critical_ones() -> None:
    position = replace(POSITION, withdraw_round=7, gas_balance_wei=0, reserve_wei=0)
    health = assess(position, EXPOSURE, NO_BURN, THRESHOLDS, chain_age_s=0.0, stale_after_s=30.0)
    assert [f.state for f in health.findings] == [HealthState.CRITICAL, HealthState.CRITICAL, HealthState.WARN]
    assert "unlock in progress" in health.critical_summary and "no reserve" in health.critical_summary
    assert "gas" not in health.critical_summary


@pytest.mark.parametrize(
    "change",
    [{"deposit_face_value_multiple_warn": 0}, {"gas_balance_warn_wei": -1}, {"runway_warn_s": -1.0},
     {"watcher_lag_warn_s": 0.0}],
)
def test_thresholds_refuse_nonsense(change: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        replace(THRESHOLDS, **change)
