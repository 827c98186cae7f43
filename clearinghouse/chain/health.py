"""Deposit health: is it safe to sign, and how long until it is not (spec 04).

Pure: ``assess`` takes what was read from the chain (``ChainPosition``), what the ledger says is
still redeemable (``Exposure``), how fast money leaves (``BurnRate``) and how the event watcher
is doing (``WatcherLag``), and returns a ``DepositHealth``: a state, every reason for it, and
the numbers behind them. The monitor (monitor.py) does the reading, the alerting and the
refusing; nothing here does I/O.

States, worst first. **critical** stops signing (HTTP 503 with the reasons): no deposit; the
deposit below the largest face value still in flight (one win would not be paid in full);
no reserve; an unlock in progress (mainnet refuses redemptions once it completes, and
orchestrators refuse an unlocking sender); chain data stale. **warn** alerts the operator and
keeps signing: the deposit under ``deposit_face_value_multiple_warn`` × the largest face value
in flight; the EV still outstanding larger than the deposit; a reserve share per active
orchestrator under the largest face value in flight; gas money under
``gas_balance_warn_wei``; runway under ``runway_warn_s``; the watcher behind or failing;
redeemed tickets with no signing record (a key leak or a lost record: signing on cannot make
that worse, but someone must look now).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from fractions import Fraction

from clearinghouse.chain.limits import (
    DEPOSIT_FACE_VALUE_MULTIPLE_WARN_DEFAULT,
    GAS_BALANCE_WARN_WEI_DEFAULT,
    RUNWAY_WARN_S_DEFAULT,
    WATCHER_LAG_WARN_S_DEFAULT,
)
from clearinghouse.domain.chain_view import ChainView


class HealthState(StrEnum):
    """Closed, in precedence order: the worst reason decides."""

    CRITICAL = "critical"
    WARN = "warn"
    OK = "ok"


_SEVERITY = {HealthState.OK: 0, HealthState.WARN: 1, HealthState.CRITICAL: 2}


class HealthReason(StrEnum):
    """Why the state is not ok; a closed set so alerts and dashboards can key on it."""

    NO_DEPOSIT = "no_deposit"
    DEPOSIT_BELOW_MAX_FACE_VALUE = "deposit_below_max_face_value"
    NO_RESERVE = "no_reserve"
    UNLOCK_IN_PROGRESS = "unlock_in_progress"
    CHAIN_DATA_STALE = "chain_data_stale"
    DEPOSIT_LOW = "deposit_low"
    EV_OUTSTANDING_ABOVE_DEPOSIT = "ev_outstanding_above_deposit"
    RESERVE_SHARE_LOW = "reserve_share_low"
    GAS_BALANCE_LOW = "gas_balance_low"
    RUNWAY_SHORT = "runway_short"
    WATCHER_BEHIND = "watcher_behind"
    UNMATCHED_REDEMPTIONS = "unmatched_redemptions"


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """Where warn begins; the critical lines are fixed by the protocol, not configurable."""

    deposit_face_value_multiple_warn: int = DEPOSIT_FACE_VALUE_MULTIPLE_WARN_DEFAULT
    gas_balance_warn_wei: int = GAS_BALANCE_WARN_WEI_DEFAULT
    runway_warn_s: float = RUNWAY_WARN_S_DEFAULT
    watcher_lag_warn_s: float = WATCHER_LAG_WARN_S_DEFAULT

    def __post_init__(self) -> None:
        if self.deposit_face_value_multiple_warn < 1:
            raise ValueError(
                f"deposit_face_value_multiple_warn must be >= 1, got {self.deposit_face_value_multiple_warn}"
            )
        if self.gas_balance_warn_wei < 0 or self.runway_warn_s < 0 or self.watcher_lag_warn_s <= 0:
            raise ValueError("gas_balance_warn_wei and runway_warn_s must be >= 0, watcher_lag_warn_s > 0")


@dataclass(frozen=True, slots=True)
class ReserveAllocation:
    """What one orchestrator may still claim from our reserve this round, and has claimed."""

    orchestrator: bytes
    claimable_wei: int
    claimed_wei: int


@dataclass(frozen=True, slots=True)
class ChainPosition:
    """Our TicketBroker position and the chain clock, every value read at ``block``."""

    block: int
    l1_block: int
    deposit_wei: int
    reserve_wei: int
    reserve_claimed_in_current_round_wei: int
    withdraw_round: int
    current_round: int
    ticket_validity_period_rounds: int
    transcoder_pool_size: int
    gas_balance_wei: int
    allocations: tuple[ReserveAllocation, ...] = ()
    round_block_hashes: tuple[tuple[int, bytes], ...] = ()
    """(round, block hash) the RoundsManager recorded for each open round it initialized."""

    @property
    def chain_view(self) -> ChainView:
        """What the signer's sender-side checks need."""
        return ChainView(
            deposit_wei=self.deposit_wei,
            reserve_wei=self.reserve_wei,
            withdraw_round=self.withdraw_round,
            current_round=self.current_round,
            last_l1_block=self.l1_block,
            round_block_hashes=self.round_block_hashes,
            ticket_validity_period_rounds=self.ticket_validity_period_rounds,
        )

    @property
    def reserve_share_wei(self) -> int:
        """Spec 04's per-orchestrator allocation before claims: (fundsRemaining +
        claimedInCurrentRound) / poolSize; 0 with no active orchestrator."""
        if self.transcoder_pool_size == 0:
            return 0
        return (self.reserve_wei + self.reserve_claimed_in_current_round_wei) // self.transcoder_pool_size


@dataclass(frozen=True, slots=True)
class Exposure:
    """Tickets signed and still redeemable (creationRound + ticketValidityPeriod > current round,
    creationRound not after it, and the block hash the RoundsManager recorded for it), less those
    already redeemed: the liability the deposit and reserve back. A ticket that can never be
    redeemed is no liability, so it cannot push health to critical (issue #15)."""

    tickets: int
    face_value_wei: int
    ev_wei: Fraction
    max_face_value_wei: int


NO_EXPOSURE = Exposure(tickets=0, face_value_wei=0, ev_wei=Fraction(0), max_face_value_wei=0)


@dataclass(frozen=True, slots=True)
class BurnRate:
    """How fast the deposit is expected to drain, in wei per second: the larger of the EV signed
    and the winning-ticket payouts over the monitor's window (None: not measured yet)."""

    ev_signed_wei_per_s: Fraction | None
    paid_wei_per_s: Fraction | None

    @property
    def wei_per_s(self) -> Fraction | None:
        rates = [rate for rate in (self.ev_signed_wei_per_s, self.paid_wei_per_s) if rate is not None]
        return max(rates) if rates else None


@dataclass(frozen=True, slots=True)
class WatcherLag:
    """The event watcher as the health model sees it; None fields: not known (no watcher)."""

    behind_s: float | None = None
    unmatched_redemptions: int = 0
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason the state is not ok, with its own severity and a message for people."""

    state: HealthState
    reason: HealthReason
    message: str


@dataclass(frozen=True, slots=True)
class DepositHealth:
    """The verdict and everything it was made from."""

    state: HealthState
    findings: tuple[Finding, ...]
    position: ChainPosition | None
    exposure: Exposure
    burn: BurnRate
    runway_s: float | None
    chain_age_s: float | None
    watcher: WatcherLag = field(default_factory=WatcherLag)

    @property
    def critical_summary(self) -> str:
        """The critical findings' messages, for a refusal; empty when not critical."""
        return "; ".join(f.message for f in self.findings if f.state is HealthState.CRITICAL)


def assess(
    position: ChainPosition | None,
    exposure: Exposure,
    burn: BurnRate,
    thresholds: HealthThresholds,
    *,
    chain_age_s: float | None,
    stale_after_s: float,
    watcher: WatcherLag | None = None,
    refresh_error: str | None = None,
) -> DepositHealth:
    """Judge the deposit. ``position`` None or ``chain_age_s`` over ``stale_after_s``: stale,
    critical, with ``refresh_error`` (why the last refresh failed: the RPC down, implausible
    chain data) in its message. The state is the worst finding's (ok with none)."""
    watcher = watcher or WatcherLag()
    findings: list[Finding] = []
    if position is None or chain_age_s is None or chain_age_s > stale_after_s:
        age = "never read" if chain_age_s is None else f"last read {chain_age_s:.1f} s ago"
        why = f" (last error: {refresh_error})" if refresh_error else ""
        findings.append(_critical(HealthReason.CHAIN_DATA_STALE,
                                  f"chain data stale: {age}, expected at most {stale_after_s:g} s{why}"))
    runway_s = _runway_s(position, burn)
    if position is not None:
        findings += _deposit_findings(position, exposure, thresholds)
        findings += _reserve_findings(position, exposure)
        findings += _account_findings(position, runway_s, thresholds)
    findings += _watcher_findings(watcher, thresholds)
    state = max((f.state for f in findings), key=_SEVERITY.__getitem__, default=HealthState.OK)
    findings.sort(key=lambda f: -_SEVERITY[f.state])
    return DepositHealth(state, tuple(findings), position, exposure, burn, runway_s, chain_age_s, watcher)


def _deposit_findings(position: ChainPosition, exposure: Exposure, thresholds: HealthThresholds) -> list[Finding]:
    deposit, max_face = position.deposit_wei, exposure.max_face_value_wei
    if deposit <= 0:
        return [_critical(HealthReason.NO_DEPOSIT, f"no deposit: deposit is {deposit} wei")]
    findings = []
    if deposit < max_face:
        findings.append(_critical(
            HealthReason.DEPOSIT_BELOW_MAX_FACE_VALUE,
            f"deposit {deposit} wei is below the largest face value in flight, {max_face} wei",
        ))
    elif deposit < thresholds.deposit_face_value_multiple_warn * max_face:
        findings.append(_warn(
            HealthReason.DEPOSIT_LOW,
            f"deposit {deposit} wei is below {thresholds.deposit_face_value_multiple_warn} × the largest "
            f"face value in flight ({max_face} wei)",
        ))
    if exposure.ev_wei > deposit:
        findings.append(_warn(
            HealthReason.EV_OUTSTANDING_ABOVE_DEPOSIT,
            f"EV of the {exposure.tickets} tickets still redeemable ({int(exposure.ev_wei)} wei) "
            f"exceeds the deposit ({deposit} wei)",
        ))
    return findings


def _reserve_findings(position: ChainPosition, exposure: Exposure) -> list[Finding]:
    findings = []
    if position.reserve_wei <= 0:
        findings.append(_critical(HealthReason.NO_RESERVE, f"no reserve: reserve is {position.reserve_wei} wei"))
    elif position.reserve_share_wei < exposure.max_face_value_wei:
        findings.append(_warn(
            HealthReason.RESERVE_SHARE_LOW,
            f"reserve share per active orchestrator {position.reserve_share_wei} wei (reserve "
            f"{position.reserve_wei} wei / pool size {position.transcoder_pool_size}) is below the largest "
            f"face value in flight, {exposure.max_face_value_wei} wei",
        ))
    if position.withdraw_round != 0:
        findings.append(_critical(
            HealthReason.UNLOCK_IN_PROGRESS,
            f"unlock in progress: deposit and reserve withdrawable at round {position.withdraw_round} "
            f"(current round {position.current_round}); cancel it to sign again",
        ))
    return findings


def _account_findings(position: ChainPosition, runway_s: float | None, thresholds: HealthThresholds) -> list[Finding]:
    findings = []
    if position.gas_balance_wei < thresholds.gas_balance_warn_wei:
        findings.append(_warn(
            HealthReason.GAS_BALANCE_LOW,
            f"sender gas balance {position.gas_balance_wei} wei is below {thresholds.gas_balance_warn_wei} wei",
        ))
    if runway_s is not None and runway_s < thresholds.runway_warn_s:
        findings.append(_warn(
            HealthReason.RUNWAY_SHORT,
            f"runway {runway_s / 3600:.1f} h at the current burn rate, below {thresholds.runway_warn_s / 3600:g} h",
        ))
    return findings


def _watcher_findings(watcher: WatcherLag, thresholds: HealthThresholds) -> list[Finding]:
    findings = []
    if watcher.behind_s is not None and watcher.behind_s > thresholds.watcher_lag_warn_s:
        error = f" (last error: {watcher.last_error})" if watcher.last_error else ""
        findings.append(_warn(
            HealthReason.WATCHER_BEHIND,
            f"chain events last applied {watcher.behind_s:.0f} s ago, expected within "
            f"{thresholds.watcher_lag_warn_s:g} s{error}",
        ))
    if watcher.unmatched_redemptions > 0:
        findings.append(_warn(
            HealthReason.UNMATCHED_REDEMPTIONS,
            f"{watcher.unmatched_redemptions} redeemed tickets have no signing record: a key leak or a lost record",
        ))
    return findings


def _runway_s(position: ChainPosition | None, burn: BurnRate) -> float | None:
    """Seconds until the deposit is gone at the burn rate; None when unknown or nothing burns.
    A float because it is a duration shown to people, computed from exact wei."""
    rate = burn.wei_per_s
    if position is None or rate is None or rate <= 0:
        return None
    return float(Fraction(position.deposit_wei) / rate)


def _critical(reason: HealthReason, message: str) -> Finding:
    return Finding(HealthState.CRITICAL, reason, message)


def _warn(reason: HealthReason, message: str) -> Finding:
    return Finding(HealthState.WARN, reason, message)
