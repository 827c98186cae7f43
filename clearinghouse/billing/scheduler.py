"""The billing scheduler (issue 21): at each cycle's close plus its grace, draft and issue the
gateway's invoice, deliver it by webhook, and keep the overdue book current; on a background
thread of the daemon, or driven tick by tick with a controllable clock in tests.

**Exactly once.** Each (gateway, period) is claimed by inserting its row in ``billing_runs``
(UNIQUE (gateway_id, period_start)); a restart or a second replica on the same database loses
the insert and does nothing (ledger/billing_cycles.py). Behind that, the ledger itself refuses a
second issued invoice for a period (``save_draft``), so even a stale claim taken over while its
first owner was still issuing cannot bill twice: the loser finds the issued invoice and records it.

**Held back.** A period the billing layer refuses to draft (usage unpriced at close, no plan in
force, an FX rate missing) is ``held`` with the reason, alerted once, and tried again every
HELD_RETRY_S, so it is issued once the operator fixed the cause (`clearinghouse rate
price-unpriced`), never issued wrong.

**Delivery.** An issued run of a gateway with a webhook is ``pending`` until an attempt gets a
2xx (billing/delivery.py); attempts are claimed by number, recorded with their outcome, and
retried with backoff across ticks, so restarts neither lose nor repeat them.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from clearinghouse.billing.cycles import Cycle, due_periods
from clearinghouse.billing.delivery import delivery_body, post_invoice, retry_delay_s
from clearinghouse.billing.invoice_terms import InvoicingSettings, TermsError
from clearinghouse.billing.invoices import InvoiceError
from clearinghouse.billing.limits import (
    BILLING_TICK_S_DEFAULT,
    CLAIM_STALE_S_DEFAULT,
    DELIVERY_ATTEMPTS_MAX,
    DELIVERY_TIMEOUT_S,
    HELD_RETRY_S,
    STOP_JOIN_S,
)
from clearinghouse.billing.invoicing import draft_for_period, export_invoice
from clearinghouse.billing.issuing import issue
from clearinghouse.billing.overdue import Alert, OverdueBook
from clearinghouse.ledger import billing_cycles as runs
from clearinghouse.ledger.billing_cycles import BillingCycle, BillingRun, Delivery, DeliveryOutcome, RunStatus
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import LedgerConflict
from clearinghouse.errors import LedgerError
from clearinghouse.ledger.invoices import InvoiceStatus, list_invoices
from clearinghouse.chain.view import BackgroundThread

LOG = logging.getLogger("clearinghouse.billing.scheduler")

ACTOR: Final = "billing-scheduler"
"""The actor of every invoice the scheduler drafts and issues."""


@dataclass(slots=True)
class TickReport:
    """What one tick did, for logs and tests."""

    issued: int = 0
    held: int = 0
    delivered: int = 0
    failed_attempts: int = 0


def replica_name() -> str:
    """Who claims: host and process, so `invoice runs` tells which daemon issued what."""
    return f"{socket.gethostname()}:{os.getpid()}"[:128]


class BillingScheduler:
    """Issues, delivers and watches invoices (module docstring); ``tick`` is one pass."""

    def __init__(
        self,
        db: Database,
        invoicing: InvoicingSettings,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        overdue: OverdueBook | None = None,
        alert: Alert | None = None,
        replica: str | None = None,
        tick_s: float = BILLING_TICK_S_DEFAULT,
        claim_stale_s: float = CLAIM_STALE_S_DEFAULT,
        export_base_url: str | None = None,
    ) -> None:
        if not tick_s > 0 or not claim_stale_s > 0:
            raise ValueError(f"tick_s and claim_stale_s must be > 0, got {tick_s}, {claim_stale_s}")
        self._db, self._invoicing, self._clock = db, invoicing, clock
        self.overdue = overdue or OverdueBook(alert)
        self._alert = alert
        self._replica = replica or replica_name()
        self._tick_s, self._claim_stale_s = tick_s, claim_stale_s
        self._export_base_url = export_base_url
        self._background = BackgroundThread("billing-scheduler", self._run, stop_join_s=STOP_JOIN_S)

    def tick(self) -> TickReport:
        """Invoice every due period, retry held and stale runs, deliver, refresh the overdue book."""
        now, report = self._clock(), TickReport()
        cycles = {cycle.gateway_id: cycle for cycle in runs.billing_cycles(self._db)}
        for cycle in cycles.values():
            self._invoice_due(cycle, now, report)
        self._retry(cycles, now, report)
        self._deliver(cycles, now, report)
        self.overdue.refresh(self._db, now)
        return report

    def start(self) -> None:
        """Tick now and then every ``tick_s`` on a daemon thread until ``stop``."""
        self._background.start()

    def stop(self) -> None:
        self._background.stop()

    def _run(self) -> None:
        while True:
            try:
                report = self.tick()
                if report.issued or report.held or report.delivered:
                    LOG.info("billing tick: %d issued, %d held, %d delivered", report.issued, report.held,
                             report.delivered)
            except LedgerError as exc:  # the database down: the next tick tries again
                LOG.warning("billing tick failed: %s", exc)
            except (InvoiceError, TermsError) as exc:  # a stored document this code cannot read: a person must
                LOG.error("billing tick failed: %s", exc)
            if self._background.stopping.wait(self._tick_s):
                return

    def _invoice_due(self, cycle: BillingCycle, now: datetime, report: TickReport) -> None:
        try:
            shape = Cycle(cycle.cycle.value, cycle.anchor_at, cycle.length_days)
        except InvoiceError as exc:
            LOG.error("gateway %d: billing cycle unusable: %s", cycle.gateway_id, exc)
            return
        due = due_periods(shape, cycle.grace_s, now)
        if not due:
            return
        known = {run.period_start for run in runs.billing_runs(self._db, gateway_id=cycle.gateway_id)
                 if run.period_start >= due[0][0]}
        for start, end in due:
            if start in known:
                continue
            run = runs.claim_run(self._db, cycle.gateway_id, start, end, claimed_by=self._replica, now=now)
            if run is not None:  # None: another replica (or an earlier life of this one) has it
                self._issue(run, cycle, now, report)

    def _retry(self, cycles: dict[int, BillingCycle], now: datetime, report: TickReport) -> None:
        stale = now - timedelta(seconds=self._claim_stale_s)
        held_before = now - timedelta(seconds=HELD_RETRY_S)
        for run in runs.billing_runs(self._db, statuses=(RunStatus.HELD, RunStatus.CLAIMED)):
            cycle = cycles.get(run.gateway_id)
            waited = run.claimed_at <= stale if run.status is RunStatus.CLAIMED else (
                run.finished_at is not None and run.finished_at <= held_before)
            if cycle is None or not waited:
                continue
            taken = runs.reclaim_run(self._db, run, claimed_by=self._replica, now=now)
            if taken is not None:
                self._issue(taken, cycle, now, report, held_before=run.status is RunStatus.HELD)

    def _issue(self, run: BillingRun, cycle: BillingCycle, now: datetime, report: TickReport,
               *, held_before: bool = False) -> None:
        delivery = Delivery.PENDING if cycle.webhook_url else Delivery.NONE
        period = f"{run.period_start.isoformat()}..{run.period_end.isoformat()}"
        try:
            draft, _ = draft_for_period(self._db, run.gateway_id, run.period_start, run.period_end, actor=ACTOR,
                                        settings=self._invoicing, now=now)
            invoice = issue(self._db, draft.id, self._invoicing, allow_open_period=False, actor=ACTOR,
                            reason=f"{cycle.cycle.value} billing cycle, period {period}", now=now)
        except (InvoiceError, TermsError) as exc:
            runs.finish_run(self._db, run.id, status=RunStatus.HELD, now=now, detail=str(exc))
            report.held += 1
            if not held_before:
                self._tell(f"gateway {run.gateway_id}'s invoice for {period} is held back: {exc}")
            return
        except LedgerConflict as exc:  # issued meanwhile, by hand or by a replica that took a stale claim
            invoice_id = self._issued_already(run)
            if invoice_id is None:
                runs.finish_run(self._db, run.id, status=RunStatus.HELD, now=now, detail=str(exc))
                report.held += 1
                return
            runs.finish_run(self._db, run.id, status=RunStatus.ISSUED, now=now, invoice_id=invoice_id,
                            detail="the period was already invoiced")
            return
        runs.finish_run(self._db, run.id, status=RunStatus.ISSUED, now=now, invoice_id=invoice.id, delivery=delivery)
        report.issued += 1
        LOG.info("gateway %d: issued invoice %s for %s", run.gateway_id, invoice.number, period)

    def _issued_already(self, run: BillingRun) -> int | None:
        for invoice in list_invoices(self._db, gateway_id=run.gateway_id):
            if ((invoice.period_start, invoice.period_end) == (run.period_start, run.period_end)
                    and invoice.credit_note_of is None and invoice.status in (InvoiceStatus.ISSUED, InvoiceStatus.PAID)):
                return invoice.id
        return None

    def _deliver(self, cycles: dict[int, BillingCycle], now: datetime, report: TickReport) -> None:
        for run in runs.billing_runs(self._db, statuses=(RunStatus.ISSUED,), deliveries=(Delivery.PENDING,)):
            cycle = cycles.get(run.gateway_id)
            if run.invoice_id is None:
                continue
            if cycle is None or cycle.webhook_url is None or cycle.webhook_secret is None:
                runs.set_run_delivery(self._db, run.id, Delivery.FAILED)
                self._tell(f"invoice {run.invoice_id} of gateway {run.gateway_id}: no delivery webhook any more")
                continue
            self._attempt(run, run.invoice_id, cycle.webhook_url, cycle.webhook_secret, now, report)

    def _attempt(self, run: BillingRun, invoice_id: int, url: str, secret: str, now: datetime,
                 report: TickReport) -> None:
        attempts = runs.delivery_attempts(self._db, invoice_id=invoice_id, limit=DELIVERY_ATTEMPTS_MAX + 1)
        if any(attempt.outcome is DeliveryOutcome.DELIVERED for attempt in attempts):
            runs.set_run_delivery(self._db, run.id, Delivery.DELIVERED)
            return
        if attempts:
            last = attempts[0]
            in_flight = last.outcome is DeliveryOutcome.SENDING and now < last.attempted_at + timedelta(
                seconds=2 * DELIVERY_TIMEOUT_S)
            if in_flight or now < last.attempted_at + timedelta(seconds=retry_delay_s(len(attempts))):
                return
            if len(attempts) >= DELIVERY_ATTEMPTS_MAX:
                runs.set_run_delivery(self._db, run.id, Delivery.FAILED)
                self._tell(f"invoice {invoice_id} of gateway {run.gateway_id}: delivery failed after "
                           f"{len(attempts)} attempts ({last.detail})")
                return
        number = len(attempts) + 1
        attempt_id = runs.claim_delivery_attempt(self._db, invoice_id, number, url, now=now)
        if attempt_id is None:
            return
        try:
            _, export = export_invoice(self._db, invoice_id, "json")
        except InvoiceError as exc:  # a document this code cannot read: recorded, retried, then alerted
            runs.finish_delivery_attempt(self._db, attempt_id, DeliveryOutcome.FAILED, http_status=None,
                                         detail=str(exc))
            report.failed_attempts += 1
            return
        result = post_invoice(url, secret, delivery_body(export, invoice_id, self._export_base_url),
                              delivery_id=f"{invoice_id}-{number}", now=now)
        outcome = DeliveryOutcome.DELIVERED if result.delivered else DeliveryOutcome.FAILED
        runs.finish_delivery_attempt(self._db, attempt_id, outcome, http_status=result.http_status,
                                     detail=result.detail)
        if result.delivered:
            runs.set_run_delivery(self._db, run.id, Delivery.DELIVERED)
            report.delivered += 1
        else:
            report.failed_attempts += 1
            LOG.warning("invoice %d: delivery attempt %d failed: %s", invoice_id, number, result.detail)

    def _tell(self, message: str) -> None:
        LOG.warning("%s", message)
        if self._alert is not None:
            self._alert(message)
