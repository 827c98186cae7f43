"""The deposit replenishment policy's settings and targets (chain/replenishment.py applies
them); pure and import-free, so the configuration reads the defaults without loading web3."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction
from typing import Final

ETH: Final = 10**18


class ReplenishMode(StrEnum):
    OFF = "off"
    OBSERVE = "observe"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class ReplenishPolicy:
    """The [replenish] settings (chain/replenishment.py says what each does); the defaults suit a
    small clearinghouse and only observe."""

    mode: ReplenishMode = ReplenishMode.OBSERVE
    runway_target_s: int = 7 * 86_400
    low_water_percent: int = 50
    deposit_floor_wei: int = ETH // 10
    deposit_cap_wei: int = 10 * ETH
    reserve_target_wei: int = 0
    per_tx_max_wei: int = ETH
    per_day_max_wei: int = 2 * ETH
    gas_reserve_wei: int = ETH // 20
    check_s: int = 300

    def __post_init__(self) -> None:
        if not 1 <= self.low_water_percent <= 100:
            raise ValueError(f"low_water_percent must be in 1..100, got {self.low_water_percent}")
        if not 0 < self.deposit_floor_wei <= self.deposit_cap_wei:
            raise ValueError("deposit_floor_wei must be > 0 and at most deposit_cap_wei")
        if self.per_tx_max_wei <= 0 or self.per_day_max_wei < self.per_tx_max_wei:
            raise ValueError("per_tx_max_wei must be > 0 and per_day_max_wei at least per_tx_max_wei")
        if self.runway_target_s <= 0 or self.check_s <= 0 or self.gas_reserve_wei < 0 or self.reserve_target_wei < 0:
            raise ValueError("runway_target_s and check_s must be > 0, gas_reserve_wei and reserve_target_wei >= 0")


def deposit_target_wei(policy: ReplenishPolicy, burn_wei_per_s: Fraction | None) -> int:
    """The burn rate × the runway target, within the floor and the cap."""
    wanted = 0 if burn_wei_per_s is None else int(burn_wei_per_s * policy.runway_target_s)
    return min(max(wanted, policy.deposit_floor_wei), policy.deposit_cap_wei)
