"""The daemon's settlement on autopilot (issue 21): the billing scheduler and the deposit
replenishment policy on background threads of `clearinghouse serve`, and the overdue book the
signing services, the admin API, the metrics and the dashboard share.

Kept out of daemon.py, which wires the transports: this wires the background work that needs
no transport, and everything it imports is loaded only when the daemon starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from clearinghouse import ledger
from clearinghouse.config import Settings

if TYPE_CHECKING:
    from clearinghouse.billing.overdue import OverdueBook
    from clearinghouse.chain.health import DepositHealth
    from clearinghouse.chain.monitor import HealthAlerts

LOG = logging.getLogger("clearinghouse.daemon")


def start_autopilot(
    config: Settings, db: ledger.Database, private_key: bytes, health: Callable[[], DepositHealth] | None,
    stack: ExitStack,
) -> OverdueBook:
    """Start the billing scheduler ([billing] enabled) and, with a live chain, the replenishment
    policy ([replenish] mode other than off), each stopped when ``stack`` closes; returns the
    overdue book, already refreshed once so a restarted daemon refuses an overdue gateway from
    its first call."""
    from clearinghouse.billing.overdue import OverdueBook
    from clearinghouse.billing.scheduler import BillingScheduler
    from clearinghouse.chain.monitor import HealthAlerts

    alerts = HealthAlerts(config.health.alert_webhook_url)
    book = OverdueBook(alert=lambda text: alerts.message("billing", text))
    book.refresh(db, datetime.now(UTC))
    billing = config.billing
    if billing.enabled:
        scheduler = BillingScheduler(db, config.invoicing, overdue=book, alert=lambda text: alerts.message(
            "billing", text), tick_s=billing.tick_s, claim_stale_s=billing.claim_stale_s,
            export_base_url=billing.export_base_url)
        scheduler.start()
        stack.callback(scheduler.stop)
        LOG.info("billing scheduler: a pass every %g s", billing.tick_s)
    _start_replenisher(config, db, private_key, health, alerts, stack)
    return book


def _start_replenisher(
    config: Settings, db: ledger.Database, private_key: bytes, health: Callable[[], DepositHealth] | None,
    alerts: HealthAlerts, stack: ExitStack,
) -> None:
    from clearinghouse.chain.funding import FundingClient
    from clearinghouse.chain.replenish_policy import ReplenishMode
    from clearinghouse.chain.replenishment import Replenisher
    from clearinghouse.pm import private_key_to_address

    policy, live = config.replenish, config.live_chain
    if policy.mode is ReplenishMode.OFF or live is None or health is None:
        return
    sender = "0x" + private_key_to_address(private_key).hex()
    replenisher = Replenisher(db, FundingClient(live.rpc_url, live.controller), sender, private_key, policy, health,
                              alert=lambda text: alerts.message("replenish", text))
    replenisher.start()
    stack.callback(replenisher.stop)
    LOG.info("deposit replenishment: %s, checked every %d s", policy.mode.value, policy.check_s)
