"""Overdue invoices and their consequence for signing (issue 21): the in-memory book the signing
path consults, and the receivables the metrics and the dashboard show.

An invoice is **overdue** once it is issued, unpaid, and its due date (``terms.due_at`` frozen
into its document at issue; a document made before due dates existed has none and is never
overdue) has passed. Per gateway, the billing cycle's policy decides what follows: ``notify``
logs and alerts once per invoice; ``stop_signing`` also refuses the gateway's signing calls once
an invoice is ``overdue_stop_after_days`` days past due, with a SigningRefused(INVOICE_OVERDUE)
that names the invoice (483 on the remote-signer routes, INSUFFICIENT_BALANCE 402 on /v1 and
RESOURCE_EXHAUSTED on gRPC, like every credit refusal).

**The signing path stays cheap**: ``OverdueBook.check`` is one dict lookup under no lock (the
dict is replaced whole, never mutated in place). The book is rebuilt by ``refresh`` (the billing
scheduler's every tick, ``billing.tick_s``) and ``lift`` drops a gateway's stop at once when
``record_payment`` marks its invoice paid in this process (the admin API's route). A payment
recorded by another process (the `clearinghouse invoice paid` command, another replica) lifts
the stop at that daemon's next refresh: within ``billing.tick_s`` seconds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from clearinghouse.ledger.billing_cycles import OverduePolicy, billing_cycles
from clearinghouse.ledger.engine import Database
from clearinghouse.domain.refusals import SpendLimit, over_limit
from clearinghouse.ledger.invoices import Invoice, mark_paid
from clearinghouse.ledger.receivables import unpaid_invoice_documents

LOG = logging.getLogger("clearinghouse.billing.overdue")


@dataclass(frozen=True, slots=True)
class OverdueStop:
    """Why a gateway is refused: its oldest invoice past the policy's days."""

    gateway_id: int
    invoice_id: int
    number: str
    due_at: datetime
    days_overdue: int

    @property
    def message(self) -> str:
        return (f"gateway {self.gateway_id}'s invoice {self.number} (id {self.invoice_id}) was due "
                f"{self.due_at.isoformat()} and is {self.days_overdue} days overdue: signing is stopped until it "
                "is paid")


@dataclass(frozen=True, slots=True)
class Receivable:
    """What one gateway owes in one currency on unpaid invoices, and how much of it is overdue
    (minor units: cents), with its count of overdue invoices."""

    gateway_id: int
    currency: str
    open_minor: int
    overdue_minor: int
    overdue_invoices: int


Alert = Callable[[str], None]


class OverdueBook:
    """The per-gateway overdue state in memory (module docstring); safe to share between threads."""

    def __init__(self, alert: Alert | None = None) -> None:
        self._stops: Mapping[int, OverdueStop] = {}
        self._receivables: tuple[Receivable, ...] = ()
        self._notified: frozenset[int] = frozenset()
        self._alert = alert

    def check(self, gateway_id: int) -> None:
        """Refuse (INVOICE_OVERDUE) naming the invoice when ``gateway_id`` is stopped."""
        stop = self._stops.get(gateway_id)
        if stop is not None:
            raise over_limit(SpendLimit.OVERDUE_INVOICE, stop.message)

    def stop_of(self, gateway_id: int) -> OverdueStop | None:
        return self._stops.get(gateway_id)

    def receivables(self) -> tuple[Receivable, ...]:
        """Per gateway and currency, as of the last refresh."""
        return self._receivables

    def lift(self, gateway_id: int) -> None:
        """Serve ``gateway_id`` again now (its overdue invoice was paid); the next refresh puts
        the stop back only if another of its invoices is still past the policy's days."""
        stops = dict(self._stops)
        if stops.pop(gateway_id, None) is not None:
            self._stops = stops
            LOG.info("gateway %d: overdue stop lifted, an invoice was paid", gateway_id)

    def refresh(self, db: Database, now: datetime) -> None:
        """Rebuild the stops and the receivables from the ledger as of ``now``; alert once per
        invoice that becomes overdue."""
        policies = {cycle.gateway_id: cycle for cycle in billing_cycles(db)}
        stops: dict[int, OverdueStop] = {}
        totals: dict[tuple[int, str], list[int]] = {}
        notified = set()
        for document in unpaid_invoice_documents(db):
            invoice, due_at = document.invoice, _due_at(document.content)
            total = totals.setdefault((invoice.gateway_id, invoice.currency), [0, 0, 0])
            total[0] += invoice.total_minor
            if due_at is None or now <= due_at:  # due today is not late yet
                continue
            total[1] += invoice.total_minor
            total[2] += 1
            notified.add(invoice.id)
            if invoice.id not in self._notified:
                self._notify(invoice, due_at, now)
            cycle = policies.get(invoice.gateway_id)
            days = (now - due_at) // timedelta(days=1)
            if (cycle is not None and cycle.overdue_policy is OverduePolicy.STOP_SIGNING
                    and days >= cycle.overdue_stop_after_days and invoice.gateway_id not in stops):
                stops[invoice.gateway_id] = OverdueStop(invoice.gateway_id, invoice.id, invoice.number or "?",
                                                        due_at, days)
        self._stops, self._notified = stops, frozenset(notified)
        self._receivables = tuple(Receivable(gateway, currency, *values)
                                  for (gateway, currency), values in sorted(totals.items()))

    def _notify(self, invoice: Invoice, due_at: datetime, now: datetime) -> None:
        message = (f"gateway {invoice.gateway_id}'s invoice {invoice.number} (id {invoice.id}, {invoice.total_minor} "
                   f"minor units of {invoice.currency}) is overdue: it was due {due_at.isoformat()}, now is "
                   f"{now.isoformat()}")
        LOG.warning("%s", message)
        if self._alert is not None:
            self._alert(message)


def record_payment(
    db: Database, invoice_id: int, *, paid_at: datetime, actor: str, reason: str, book: OverdueBook | None = None
) -> Invoice:
    """Mark the issued invoice paid (ledger.invoices.mark_paid, same errors) and, with this
    process's ``book``, lift its gateway's overdue stop at once."""
    invoice = mark_paid(db, invoice_id, paid_at=paid_at, actor=actor, reason=reason)
    if book is not None:
        book.lift(invoice.gateway_id)
    return invoice


def _due_at(content: bytes) -> datetime | None:
    terms = json.loads(content).get("terms")
    if not terms or terms.get("due_at") is None:
        return None
    return datetime.fromisoformat(terms["due_at"])
