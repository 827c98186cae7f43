"""The replenishment decision on its own (pure): targets from the burn rate within the floor and
cap, the low-water mark, the per-transaction and per-day caps, the gas reserve, and the critical
reasons that stop it while the fixable ones do not."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from clearinghouse.chain.funding import FundingAction, Position
from clearinghouse.chain.health import NO_EXPOSURE, BurnRate, ChainPosition, DepositHealth, HealthThresholds, assess
from clearinghouse.chain.replenish_policy import ReplenishPolicy, deposit_target_wei
from clearinghouse.chain.replenishment import decide

ETH = 10**18
POLICY = ReplenishPolicy(deposit_floor_wei=ETH, deposit_cap_wei=5 * ETH, low_water_percent=50,
                         per_tx_max_wei=2 * ETH, per_day_max_wei=3 * ETH, gas_reserve_wei=ETH // 10,
                         runway_target_s=1000)


def position(deposit: int, reserve: int = ETH, eth: int = 100 * ETH, withdraw_round: int = 0) -> Position:
    sender = "0x" + "11" * 20
    return Position(sender, sender, 1, 10, 2, deposit, reserve, withdraw_round, eth)  # type: ignore[arg-type]


def health(deposit: int, *, age_s: float = 1.0, burn: Fraction | None = None, withdraw_round: int = 0) -> DepositHealth:
    chain = ChainPosition(block=1, l1_block=1, deposit_wei=deposit, reserve_wei=ETH,
                          reserve_claimed_in_current_round_wei=0, withdraw_round=withdraw_round, current_round=10,
                          ticket_validity_period_rounds=2, transcoder_pool_size=1, gas_balance_wei=100 * ETH)
    return assess(chain, NO_EXPOSURE, BurnRate(burn, None), HealthThresholds(), chain_age_s=age_s, stale_after_s=10)


def test_the_target_follows_the_burn_rate_within_the_floor_and_the_cap() -> None:
    assert deposit_target_wei(POLICY, None) == ETH
    assert deposit_target_wei(POLICY, Fraction(2 * ETH, 1000)) == 2 * ETH
    assert deposit_target_wei(POLICY, Fraction(ETH, 1)) == 5 * ETH


def test_below_low_water_it_tops_up_within_each_cap() -> None:
    burn = Fraction(4 * ETH, 1000)  # target 4 ETH, low water 2 ETH
    assert decide(POLICY, health(2 * ETH, burn=burn), position(2 * ETH), 0).action is None  # at the mark
    decision = decide(POLICY, health(ETH, burn=burn), position(ETH), 0)
    assert (decision.action, decision.amount_wei) == (FundingAction.FUND_DEPOSIT, 2 * ETH)  # 3 short, 2 per tx
    assert decide(POLICY, health(ETH, burn=burn), position(ETH), 2 * ETH).amount_wei == ETH  # the day's cap
    assert decide(POLICY, health(ETH, burn=burn), position(ETH), 3 * ETH).action is None
    gas_bound = decide(POLICY, health(ETH, burn=burn), position(ETH, eth=ETH // 2), 0)
    assert gas_bound.amount_wei == ETH // 2 - ETH // 10  # the gas reserve stays


def test_an_empty_deposit_is_funded_but_an_unlock_or_stale_data_stops_it() -> None:
    assert decide(POLICY, health(0), position(0), 0).amount_wei == ETH  # critical, and funding fixes it
    unlocking = decide(POLICY, health(0, withdraw_round=12), position(0, withdraw_round=12), 0)
    assert unlocking.action is None and "unlock in progress" in unlocking.reason
    stale = decide(POLICY, health(0, age_s=11), position(0), 0)
    assert stale.action is None and "chain data stale" in stale.reason


def test_the_reserve_is_managed_only_with_a_target() -> None:
    managed = replace(POLICY, reserve_target_wei=2 * ETH)
    assert decide(POLICY, health(5 * ETH), position(5 * ETH, reserve=0), 0).action is None
    decision = decide(managed, health(5 * ETH), position(5 * ETH, reserve=ETH // 2), 0)
    assert (decision.action, decision.amount_wei) == (FundingAction.FUND_RESERVE, 3 * ETH // 2)


@pytest.mark.parametrize("fields", [
    {"low_water_percent": 0}, {"deposit_floor_wei": 0}, {"deposit_floor_wei": 6 * ETH},
    {"per_day_max_wei": ETH}, {"check_s": 0},
])
def test_inconsistent_policies_are_refused(fields: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        replace(POLICY, **fields)
