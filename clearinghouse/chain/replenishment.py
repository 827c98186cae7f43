"""The deposit replenishment policy (issue 21): keep the TicketBroker deposit (and, when asked,
the reserve) funded from the sender's own ETH, within limits, with every action recorded.

**Targets.** The deposit target is the measured burn rate (the deposit monitor's: the larger of
the EV signed and the winning tickets paid, per second) times ``runway_target_s``, never below
``deposit_floor_wei`` nor above ``deposit_cap_wei`` (the floor alone while nothing has been
measured). The low-water mark is ``low_water_percent`` of the target: below it, the deposit is
topped up to the target. The reserve has a fixed target, ``reserve_target_wei`` (0: not
managed): it backs orchestrators when the deposit runs out, it is not spent day to day.

**Limits.** One transaction sends at most ``per_tx_max_wei``; all automatic transactions of a
UTC day together at most ``per_day_max_wei`` (unconfirmed ones count: they may have been mined);
and the sender keeps at least ``gas_reserve_wei`` of ETH after the value and the most the gas
can cost, so it can always pay for the next unlock or withdrawal.

**Never** while the deposit health is critical for a reason funding cannot fix: an unlock in
progress (funding would cancel an unlock the operator started on purpose) or stale chain data
(the position is not known). A deposit or reserve that is empty or below the largest face value
is exactly what funding fixes, so those do not stop it.

**Modes.** ``off``; ``observe`` (the default): decide, record the decision as ``observed``, log
and alert what would be sent, send nothing; ``auto``: also plan and send through the funding
path (chain/funding.py) and record the hash and outcome. Each funding window of ``check_s``
(observing: of an hour at least, OBSERVE_WINDOW_S) acts at most once per action, whatever the
number of replicas (ledger/funding_actions.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from clearinghouse.chain.errors import ChainError
from clearinghouse.chain.funding import (
    FundingAction,
    FundingClient,
    FundingUnconfirmed,
    Position,
    format_eth,
)
from clearinghouse.chain.health import DepositHealth, HealthReason, HealthState
from clearinghouse.chain.replenish_policy import ReplenishMode, ReplenishPolicy, deposit_target_wei
from clearinghouse.ledger.engine import Database
from clearinghouse.errors import LedgerError
from clearinghouse.ledger.funding_actions import (
    FundingMode,
    FundingRecord,
    FundingStatus,
    NewFunding,
    claim_funding_action,
    finish_funding_action,
    funded_since,
)
from clearinghouse.chain.limits import OBSERVE_WINDOW_S, STOP_JOIN_S
from clearinghouse.chain.view import BackgroundThread

LOG = logging.getLogger("clearinghouse.chain.replenishment")


UNFIXABLE: Final = frozenset({HealthReason.UNLOCK_IN_PROGRESS, HealthReason.CHAIN_DATA_STALE})
"""Critical reasons funding cannot fix: while one holds, nothing is funded."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What to fund now and why; ``action`` None with ``reason`` saying why nothing is funded."""

    action: FundingAction | None
    amount_wei: int
    reason: str


def decide(
    policy: ReplenishPolicy, health: DepositHealth, position: Position, funded_today_wei: int
) -> Decision:
    """The replenishment ``position`` needs now under ``policy``; pure (module docstring).
    ``position`` is the funding path's fresh read; ``health`` the monitor's verdict."""
    blockers = [f.message for f in health.findings if f.state is HealthState.CRITICAL and f.reason in UNFIXABLE]
    if position.unlock_in_progress:
        blockers.append(f"unlock in progress (withdrawal from round {position.withdraw_round})")
    if blockers:
        return Decision(None, 0, "not funding while " + "; ".join(blockers))
    target = deposit_target_wei(policy, health.burn.wei_per_s)
    low_water = target * policy.low_water_percent // 100
    if position.deposit_wei < low_water:
        action, short = FundingAction.FUND_DEPOSIT, target - position.deposit_wei
        why = (f"deposit {format_eth(position.deposit_wei)} ETH is below its low-water mark {format_eth(low_water)} ETH "
               f"({policy.low_water_percent} % of the {format_eth(target)} ETH target)")
    elif position.reserve_wei < policy.reserve_target_wei:
        action, short = FundingAction.FUND_RESERVE, policy.reserve_target_wei - position.reserve_wei
        why = (f"reserve {format_eth(position.reserve_wei)} ETH is below its target "
               f"{format_eth(policy.reserve_target_wei)} ETH")
    else:
        return Decision(None, 0, "deposit and reserve at or above their marks")
    spendable = position.eth_balance_wei - policy.gas_reserve_wei
    amount = min(short, policy.per_tx_max_wei, policy.per_day_max_wei - funded_today_wei, spendable)
    if amount <= 0:
        return Decision(None, 0, f"{why}, but the per-day cap ({format_eth(policy.per_day_max_wei)} ETH, "
                                 f"{format_eth(funded_today_wei)} ETH sent today) or the gas reserve "
                                 f"({format_eth(policy.gas_reserve_wei)} ETH of {format_eth(position.eth_balance_wei)} "
                                 "ETH) leaves nothing to send")
    return Decision(action, amount, f"{why}: {action.function} {format_eth(amount)} ETH")


class Replenisher:
    """Applies the policy once per ``tick`` (the daemon's settlement thread calls it)."""

    def __init__(
        self,
        db: Database,
        funding: FundingClient,
        sender: str,
        private_key: bytes,
        policy: ReplenishPolicy,
        health: Callable[[], DepositHealth],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        alert: Callable[[str], None] | None = None,
    ) -> None:
        self._db, self._funding, self._sender, self._key = db, funding, sender, private_key
        self.policy, self._health, self._clock, self._alert = policy, health, clock, alert
        self._background = BackgroundThread("replenisher", self._run, stop_join_s=STOP_JOIN_S)

    def start(self) -> None:
        """Check every ``policy.check_s`` on a daemon thread until ``stop`` (first check after one
        interval: the monitor has read the chain by then)."""
        self._background.start()

    def stop(self) -> None:
        self._background.stop()

    def _run(self) -> None:
        while not self._background.stopping.wait(self.policy.check_s):
            try:
                self.tick()
            except (ChainError, LedgerError) as exc:  # the RPC or the database down: next check
                LOG.warning("replenishment check failed: %s", exc)

    def tick(self) -> FundingRecord | None:
        """Decide and act once; the record of what was done, or None when nothing was."""
        if self.policy.mode is ReplenishMode.OFF:
            return None
        now, health = self._clock(), self._health()
        if any(f.reason in UNFIXABLE and f.state is HealthState.CRITICAL for f in health.findings):
            LOG.info("replenishment: not funding while deposit health is %s (%s)", health.state.value,
                     health.critical_summary)
            return None  # stale data: not even the position is worth reading
        position = self._funding.position(self._sender)
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        decision = decide(self.policy, health, position, funded_since(self._db, day))
        if decision.action is None:
            LOG.debug("replenishment: %s", decision.reason)
            return None
        return self._act(decision.action, decision, position, now)

    def _act(self, action: FundingAction, decision: Decision, position: Position, now: datetime) -> FundingRecord | None:
        mode = FundingMode.AUTO if self.policy.mode is ReplenishMode.AUTO else FundingMode.OBSERVE
        window_s = self.policy.check_s if mode is FundingMode.AUTO else max(self.policy.check_s, OBSERVE_WINDOW_S)
        window = datetime.fromtimestamp(now.timestamp() // window_s * window_s, UTC)
        record = claim_funding_action(self._db, NewFunding(
            window_start=window, action=action.value, mode=mode, amount_wei=decision.amount_wei,
            reason=decision.reason, deposit_wei=position.deposit_wei, reserve_wei=position.reserve_wei,
            eth_balance_wei=position.eth_balance_wei), now=now)
        if record is None:
            return None  # another replica acts in this window
        if mode is FundingMode.OBSERVE:
            self._tell(f"replenishment (observe only, nothing sent): would {decision.reason}")
            return record
        return self._send(record, action, decision, now)

    def _send(self, record: FundingRecord, action: FundingAction, decision: Decision, now: datetime) -> FundingRecord:
        try:
            plan = self._funding.plan(self._sender, action, decision.amount_wei)
            left = plan.before.eth_balance_wei - plan.transaction.max_cost_wei
            if left < self.policy.gas_reserve_wei:
                raise ChainError(f"sending would leave {format_eth(left)} ETH, under the gas reserve "
                                 f"{format_eth(self.policy.gas_reserve_wei)} ETH")
            result = self._funding.send(plan, self._key)
        except FundingUnconfirmed as exc:
            finish_funding_action(self._db, record.id, FundingStatus.UNCONFIRMED, now=now, tx_hash=exc.tx_hash,
                                  detail=str(exc))
            self._tell(f"replenishment unconfirmed: {exc}")
        except ChainError as exc:
            finish_funding_action(self._db, record.id, FundingStatus.FAILED, now=now, detail=str(exc))
            self._tell(f"replenishment failed, nothing funded: {exc}")
        else:
            finish_funding_action(self._db, record.id, FundingStatus.CONFIRMED, now=now, tx_hash=result.tx_hash,
                                  detail=f"block {result.block_number}, deposit now "
                                         f"{format_eth(result.after.deposit_wei)} ETH")
            self._tell(f"replenishment sent: {decision.reason} in {result.tx_hash}")
        return record

    def _tell(self, message: str) -> None:
        LOG.warning("%s", message)
        if self._alert is not None:
            self._alert(message)
