"""The deposit monitor: the signer's live chain view, guarded by deposit health, with alerts.

``DepositMonitor(sources, thresholds, alerts, refresh_s=…, stale_after_s=…)`` keeps one
LiveChainView of a ``DepositSnapshot`` (our position on chain, the ledger's outstanding
exposure, the running totals of EV signed and of winning-ticket payouts) refreshed in the
background. It is what PaymentService calls as ``chain_view``: it returns the position's
ChainView, or raises SigningRefused(SIGNER_UNSAFE, reasons) while the health is critical,
which includes the data being stale — also when the RPC answers but the client found its answer
implausible (client.py's sanity checks), since such a read fails like an outage and records no
deposit sample. ``health()`` judges the latest snapshot at its current age
(so a dead RPC turns critical on time, without a refresh to notice it) for /v1/health and the
CLI.

After every refresh attempt the monitor re-judges health; when the state or the set of reasons
changes, ``HealthAlerts`` logs one line (WARNING for warn, ERROR for critical, INFO on recovery)
and, when configured, POSTs the same as JSON to an alert webhook.

The burn rate has two measures, both read from the ledger, so that a daemon's /v1/health and a
one-shot ``clearinghouse health`` give one runway (issue 19). EV signed: the EV the ledger's
hourly usage rows hold from the start of the hour ``burn_window_s`` ago until now, divided by
the time since that hour began (at least BURN_SPAN_MIN_S). Payouts: what winning tickets
redeemed within the last ``burn_window_s`` paid (from the watcher's chain events), divided by
the window. Sources that give no ledger measure (test doubles) fall back to the change of the
running total over the monitor's own samples of the window.

With ``sample_db``, every successful read also records the deposit and reserve in the ledger's
deposit samples (the dashboard's chart; the ledger decides whether one is due). The chart is
not the guard: a failed sample write is logged and the refresh counts as done.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Protocol

from clearinghouse import ledger
from clearinghouse.alerts import post_alert
from clearinghouse.chain.client import ChainClient, checksum_address
from clearinghouse.chain.health import (
    NO_EXPOSURE,
    BurnRate,
    ChainPosition,
    DepositHealth,
    Exposure,
    HealthReason,
    HealthState,
    HealthThresholds,
    ReserveAllocation,
    WatcherLag,
    assess,
)
from clearinghouse.chain.limits import (
    BURN_SAMPLES_MAX,
    BURN_SPAN_MIN_S,
    BURN_WINDOW_S_DEFAULT,
    ORCHESTRATORS_CHECKED_MAX,
)
from clearinghouse.chain.view import LiveChainView
from clearinghouse.chain.watcher import WatcherState, WatcherStatus
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.limits import ALERT_WEBHOOK_TIMEOUT_S
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.errors import LedgerError
from clearinghouse.ledger import Database
from clearinghouse.ledger.hourly_usage import ev_signed_since

LOG = logging.getLogger("clearinghouse.health")


@dataclass(frozen=True, slots=True)
class DepositSnapshot:
    """Everything one refresh reads: the chain position, the exposure as of its current round,
    what the burn rate comes from (EV signed ever; winning-ticket payouts within the burn
    window), and the watcher's state."""

    position: ChainPosition
    exposure: Exposure
    ev_signed_total_wei: Fraction
    paid_in_window_wei: int
    watcher: WatcherLag
    ev_signed_in_window: tuple[datetime, datetime, Fraction] | None = None
    """(from, read at, EV signed in between) from the ledger's hourly usage; None: not read."""


class DepositSources(Protocol):
    """Where a snapshot comes from; one read may raise ChainError or LedgerError (retried)."""

    def snapshot(self) -> DepositSnapshot:
        """Read the chain and the ledger once."""
        ...


class LedgerAndChainSources:
    """The production DepositSources: the chain through ``client``, the ledger through ``db``,
    the watcher's state through ``watcher_lag`` (None: no watcher running)."""

    def __init__(
        self,
        client: ChainClient,
        db: Database,
        sender: bytes,
        *,
        burn_window_s: float,
        watcher_lag: Callable[[], WatcherLag] | None = None,
    ) -> None:
        self._client = client
        self._db = db
        self._sender = checksum_address(sender)
        self.burn_window_s = burn_window_s
        self._watcher_lag = watcher_lag

    def snapshot(self) -> DepositSnapshot:
        """Read the position (pinned to one block) with the open rounds' block hashes, then the
        ledger's exposure of tickets that carry one of those hashes."""
        client, sender = self._client, self._sender
        block, l1_block = client.head()
        info = client.sender_info(sender, block=block)
        current_round = client.current_round(block=block)
        validity = client.ticket_validity_period(block=block)
        open_rounds = client.open_round_block_hashes(current_round, validity, block=block)
        outstanding = ledger.outstanding_exposure(self._db, current_round, validity, dict(open_rounds))
        allocations = tuple(
            ReserveAllocation(
                orchestrator=o.recipient,
                claimable_wei=client.claimable_reserve(sender, o.recipient, block=block),
                claimed_wei=client.claimed_reserve(sender, o.recipient, block=block),
            )
            for o in outstanding.orchestrators[:ORCHESTRATORS_CHECKED_MAX]
        )
        position = ChainPosition(
            block=block,
            l1_block=l1_block,
            deposit_wei=info.deposit_wei,
            reserve_wei=info.reserve_wei,
            reserve_claimed_in_current_round_wei=info.reserve_claimed_in_current_round_wei,
            withdraw_round=info.withdraw_round,
            current_round=current_round,
            ticket_validity_period_rounds=validity,
            transcoder_pool_size=client.transcoder_pool_size(block=block),
            gas_balance_wei=client.eth_balance(sender, block=block),
            allocations=allocations,
            round_block_hashes=open_rounds,
        )
        exposure = Exposure(
            tickets=outstanding.tickets,
            face_value_wei=outstanding.face_value_wei,
            ev_wei=outstanding.ev_wei,
            max_face_value_wei=outstanding.max_face_value_wei,
        )
        now = datetime.now(UTC)
        since, ev_signed = ev_signed_since(self._db, now - timedelta(seconds=self.burn_window_s))
        return DepositSnapshot(
            position=position,
            exposure=exposure,
            ev_signed_total_wei=ledger.ev_signed_total(self._db),
            paid_in_window_wei=ledger.paid_since(self._db, now - timedelta(seconds=self.burn_window_s)),
            watcher=self._watcher_lag() if self._watcher_lag is not None else WatcherLag(),
            ev_signed_in_window=(since, now, ev_signed),
        )


def watcher_lag(status: WatcherStatus, db: Database) -> WatcherLag:
    """The health model's view of the event watcher: how long since it last caught up with the
    confirmed head, its error while failing, and the unmatched redemptions it recorded. A
    watcher on standby (another replica holds the writer lock and records) is not behind."""
    failing = status.consecutive_failures > 0 or status.state is WatcherState.CRASHED
    return WatcherLag(
        behind_s=None if status.state is WatcherState.STANDBY else status.caught_up_age_s,
        unmatched_redemptions=ledger.unmatched_redemption_count(db),
        last_error=status.last_error if failing else None,
    )


class HealthAlerts:
    """Log a line, and POST to ``webhook_url`` when set, whenever the verdict changes."""

    def __init__(self, webhook_url: str | None = None, *, timeout_s: float = ALERT_WEBHOOK_TIMEOUT_S) -> None:
        """Raises ValueError for a webhook URL that is not http(s) or a non-positive timeout."""
        if webhook_url is not None and not webhook_url.startswith(("http://", "https://")):
            raise ValueError("alert webhook URL must be http(s)")
        if timeout_s <= 0:
            raise ValueError(f"alert webhook timeout must be > 0 s, got {timeout_s}")
        self.webhook_url = webhook_url
        self.timeout_s = timeout_s
        self._last: tuple[HealthState, frozenset[HealthReason]] | None = None
        self.sent = 0

    def observe(self, health: DepositHealth) -> bool:
        """Alert if ``health`` differs from the last verdict observed; True when it did. The
        first verdict alerts only when it is not ok."""
        key = (health.state, frozenset(f.reason for f in health.findings))
        previous, self._last = self._last, key
        if key == previous or (previous is None and health.state is HealthState.OK):
            return False
        self._log(health)
        if self.webhook_url is not None:
            self._post(self.webhook_url, health)
        self.sent += 1
        return True

    def _log(self, health: DepositHealth) -> None:
        if health.state is HealthState.OK:
            LOG.info("deposit health ok again")
            return
        level = logging.ERROR if health.state is HealthState.CRITICAL else logging.WARNING
        reasons = "; ".join(f"{f.state.value}: {f.message}" for f in health.findings)
        LOG.log(level, "deposit health %s: %s", health.state.value, reasons)

    def message(self, kind: str, text: str) -> None:
        """POST one operator message, ``{"kind": kind, "message": text}``, to the webhook when set
        (billing and replenishment alerts; the caller has logged it)."""
        if self.webhook_url is not None:
            post_alert(self.webhook_url, json.dumps({"kind": kind, "message": text}).encode(),
                       what=f"{kind} alert", timeout_s=self.timeout_s)
            self.sent += 1

    def _post(self, url: str, health: DepositHealth) -> None:
        body = json.dumps(health_document(health), separators=(",", ":")).encode()
        post_alert(url, body, what="deposit health alert", timeout_s=self.timeout_s)


class DepositMonitor:
    """The signer's ``chain_view``: fresh, healthy chain data or a SIGNER_UNSAFE refusal."""

    def __init__(
        self,
        sources: DepositSources,
        thresholds: HealthThresholds,
        alerts: HealthAlerts,
        *,
        refresh_s: float,
        stale_after_s: float,
        burn_window_s: float = BURN_WINDOW_S_DEFAULT,
        retry_on: tuple[type[Exception], ...],
        clock_s: Callable[[], float] = time.monotonic,
        sample_db: Database | None = None,
    ) -> None:
        """``retry_on``: the errors a snapshot read may raise while a dependency is down
        (ChainError, LedgerError). ``sample_db``: the ledger that keeps the deposit samples
        (None: none kept). Raises ValueError unless 0 < refresh_s < stale_after_s and
        burn_window_s >= BURN_SPAN_MIN_S."""
        if burn_window_s < BURN_SPAN_MIN_S:
            raise ValueError(f"burn_window_s must be >= {BURN_SPAN_MIN_S} s, got {burn_window_s}")
        self.thresholds = thresholds
        self.alerts = alerts
        self.stale_after_s = stale_after_s
        self.burn_window_s = burn_window_s
        self._sources = sources
        self._clock_s = clock_s
        self._sample_db = sample_db
        self._samples: deque[tuple[float, Fraction]] = deque(maxlen=BURN_SAMPLES_MAX)
        self._samples_lock = threading.Lock()
        self._live: LiveChainView[DepositSnapshot] = LiveChainView(
            self._read,
            refresh_s=refresh_s,
            stale_after_s=stale_after_s,
            clock_s=clock_s,
            retry_on=retry_on,
            on_attempt=self.judge,
        )

    def __call__(self) -> ChainView:
        """The latest position for the signer. Raises SigningRefused(SIGNER_UNSAFE) naming every
        critical finding (stale data, no deposit or reserve, unlock, deposit below the largest
        face value in flight)."""
        health = self.health()
        if health.state is HealthState.CRITICAL or health.position is None:
            raise SigningRefused(Refusal.SIGNER_UNSAFE, f"deposit health critical: {health.critical_summary}")
        return health.position.chain_view

    def health(self) -> DepositHealth:
        """The latest snapshot judged at its current age (critical when stale or missing)."""
        latest = self._live.latest()
        error = None if self._live.last_error == "none" else self._live.last_error
        if latest is None:
            return assess(None, NO_EXPOSURE, BurnRate(None, None), self.thresholds,
                          chain_age_s=None, stale_after_s=self.stale_after_s,
                          watcher=WatcherLag(last_error=self._live.last_error), refresh_error=error)
        snapshot, age_s = latest
        return assess(snapshot.position, snapshot.exposure, self._burn_rate(snapshot), self.thresholds,
                      chain_age_s=age_s, stale_after_s=self.stale_after_s, watcher=snapshot.watcher,
                      refresh_error=error)

    def judge(self) -> DepositHealth:
        """Judge now and alert on a change (the refresher calls this after every attempt)."""
        health = self.health()
        self.alerts.observe(health)
        return health

    def refresh(self) -> bool:
        """Read once now (True on success), then judge; for start-up and tests."""
        ok = self._live.refresh()
        self.judge()
        return ok

    def start(self) -> None:
        """Start the background refresher (first read at once)."""
        self._live.start()

    def stop(self) -> bool:
        """Stop the refresher; True when its thread has ended."""
        return self._live.stop()

    def _read(self) -> DepositSnapshot:
        snapshot = self._sources.snapshot()
        with self._samples_lock:
            self._samples.append((self._clock_s(), snapshot.ev_signed_total_wei))
        if self._sample_db is not None:
            self._record_sample(self._sample_db, snapshot.position)
        return snapshot

    def _record_sample(self, db: Database, position: ChainPosition) -> None:
        try:
            ledger.record_deposit_sample(db, datetime.now(UTC), position.block, position.deposit_wei,
                                         position.reserve_wei)
        except LedgerError as exc:  # the message names no password (the ledger masks it)
            LOG.warning("deposit sample at block %d not recorded: %s", position.block, exc)

    def _burn_rate(self, snapshot: DepositSnapshot) -> BurnRate:
        paid = Fraction(snapshot.paid_in_window_wei) / Fraction(self.burn_window_s)
        if snapshot.ev_signed_in_window is not None:
            since, read_at, ev_signed = snapshot.ev_signed_in_window
            span_s = (read_at - since).total_seconds()
            ev_rate = None if span_s < BURN_SPAN_MIN_S else ev_signed / Fraction(span_s)
            return BurnRate(ev_signed_wei_per_s=ev_rate, paid_wei_per_s=paid)
        with self._samples_lock:
            if not self._samples:
                return BurnRate(ev_signed_wei_per_s=None, paid_wei_per_s=paid)
            newest = self._samples[-1]
            horizon = newest[0] - self.burn_window_s
            while self._samples[0][0] < horizon:
                self._samples.popleft()
            oldest = self._samples[0]
        span_s = newest[0] - oldest[0]
        if span_s < BURN_SPAN_MIN_S:
            return BurnRate(ev_signed_wei_per_s=None, paid_wei_per_s=paid)
        ev_rate = (newest[1] - oldest[1]) / Fraction(span_s)
        return BurnRate(ev_signed_wei_per_s=max(Fraction(0), ev_rate), paid_wei_per_s=paid)


def health_document(health: DepositHealth) -> dict[str, object]:
    """``health`` as JSON-ready data: wei as decimal strings (exact, and safe from JavaScript's
    53-bit numbers), EV as its rounded-down wei string."""
    position = health.position
    document: dict[str, object] = {
        "state": health.state.value,
        "findings": [
            {"state": f.state.value, "reason": f.reason.value, "message": f.message} for f in health.findings
        ],
        "chain_age_s": None if health.chain_age_s is None else round(health.chain_age_s, 3),
        "runway_s": None if health.runway_s is None else round(health.runway_s),
        "exposure": {
            "tickets": health.exposure.tickets,
            "face_value_wei": str(health.exposure.face_value_wei),
            "ev_wei": str(int(health.exposure.ev_wei)),
            "max_face_value_wei": str(health.exposure.max_face_value_wei),
        },
        "burn": {
            "ev_signed_wei_per_s": _rate(health.burn.ev_signed_wei_per_s),
            "paid_wei_per_s": _rate(health.burn.paid_wei_per_s),
        },
        "watcher": {
            "behind_s": health.watcher.behind_s,
            "unmatched_redemptions": health.watcher.unmatched_redemptions,
            "last_error": health.watcher.last_error,
        },
    }
    if position is not None:
        document["chain"] = {
            "block": position.block,
            "l1_block": position.l1_block,
            "current_round": position.current_round,
            "deposit_wei": str(position.deposit_wei),
            "reserve_wei": str(position.reserve_wei),
            "reserve_share_wei": str(position.reserve_share_wei),
            "withdraw_round": position.withdraw_round,
            "transcoder_pool_size": position.transcoder_pool_size,
            "gas_balance_wei": str(position.gas_balance_wei),
            "ticket_validity_period_rounds": position.ticket_validity_period_rounds,
            "open_rounds": [
                {"round": round_, "block_hash": "0x" + block_hash.hex()} for round_, block_hash in position.round_block_hashes
            ],
            "reserve_allocations": [
                {"orchestrator": "0x" + a.orchestrator.hex(), "claimable_wei": str(a.claimable_wei),
                 "claimed_wei": str(a.claimed_wei)}
                for a in position.allocations
            ],
        }
    return document


def _rate(rate: Fraction | None) -> str | None:
    return None if rate is None else str(int(rate))
