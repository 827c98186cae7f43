"""What the dashboard shows of settlement on autopilot: receivables and overdue amounts per
gateway (from the billing scheduler's overdue book), and the replenishment policy's funding
actions (from the ledger), as ready-to-print rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from clearinghouse.api.dashboard.views import Amount, moment_text
from clearinghouse.billing.invoices import minor_unit_exponent
from clearinghouse.billing.money_text import minor_units_text
from clearinghouse.billing.overdue import OverdueBook
from clearinghouse.ledger.funding_actions import FundingRecord


@dataclass(frozen=True, slots=True)
class ReceivableView:
    gateway_id: int
    gateway: str
    currency: str
    open: str
    overdue: str
    overdue_invoices: int
    stopped_by: str | None
    """The overdue invoice signing is stopped for, when it is."""


@dataclass(frozen=True, slots=True)
class FundingView:
    at: str
    action: str
    mode: str
    status: str
    amount: Amount
    reason: str
    tx_hash: str | None


def receivable_views(book: OverdueBook, gateway_names: Mapping[int, str]) -> list[ReceivableView]:
    """One row per gateway and currency with something unpaid."""
    rows = []
    for receivable in book.receivables():
        exponent = minor_unit_exponent(receivable.currency)
        stop = book.stop_of(receivable.gateway_id)
        rows.append(ReceivableView(
            receivable.gateway_id, gateway_names.get(receivable.gateway_id, f"#{receivable.gateway_id}"),
            receivable.currency, minor_units_text(receivable.open_minor, exponent, thousands=True),
            minor_units_text(receivable.overdue_minor, exponent, thousands=True), receivable.overdue_invoices,
            None if stop is None else f"{stop.number}, {stop.days_overdue} days overdue"))
    return rows


def funding_views(records: Iterable[FundingRecord]) -> list[FundingView]:
    return [FundingView(moment_text(record.created_at), record.action, record.mode.value, record.status.value,
                        Amount.of(record.amount_wei), record.reason, record.tx_hash) for record in records]
