"""Receivables, overdue amounts and automatic funding as the operator sees them: Prometheus gauges
per gateway and the dashboard's two sections, over a real ledger and real HTTP."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

from clearinghouse.api import ApiKeyAuthenticator
from clearinghouse.api.dashboard import DashboardRoutes
from clearinghouse.api.metrics import Metrics
from clearinghouse.billing.invoice_terms import InvoicingSettings
from clearinghouse.billing.scheduler import BillingScheduler
from clearinghouse.ledger import Database
from clearinghouse.ledger.billing_cycles import CycleKind, OverduePolicy
from clearinghouse.ledger.funding_actions import FundingMode, NewFunding, claim_funding_action
from tests.api.conftest import PEPPER
from tests.api.fakes import FakePaymentService
from tests.api.test_dashboard import TOKEN, get, login, session_cookie
from tests.billing.scheduling import Clock, billed_gateway

ANCHOR = datetime(2026, 11, 2, tzinfo=UTC)


def overdue_ledger(db: Database) -> BillingScheduler:
    """Two gateways with weekly invoices (10 and 20 USD) due on issue; "late" stops after 2 days
    overdue. The first week's invoices end up 10 days overdue, the second week's just issued."""
    billed_gateway(db, "late", CycleKind.WEEKLY, ANCHOR, grace_s=0, overdue=OverduePolicy.STOP_SIGNING,
                   stop_after_days=2)
    billed_gateway(db, "notified", CycleKind.WEEKLY, ANCHOR, grace_s=0, fixed_fee=20)
    clock = Clock(ANCHOR + timedelta(days=7))
    scheduler = BillingScheduler(db, InvoicingSettings(payment_terms_days=0), clock=clock)
    scheduler.tick()
    clock.now += timedelta(days=10)
    scheduler.tick()
    return scheduler


def test_receivables_and_overdue_per_gateway_are_gauges(db: Database) -> None:
    book = overdue_ledger(db).overdue
    text = Metrics(overdue=book).exposition().decode()
    assert 'clearinghouse_receivable_minor{currency="USD",gateway_id="1"} 2000.0' in text
    assert 'clearinghouse_overdue_minor{currency="USD",gateway_id="1"} 1000.0' in text
    assert 'clearinghouse_receivable_minor{currency="USD",gateway_id="2"} 4000.0' in text
    assert 'clearinghouse_overdue_invoices{gateway_id="2"} 1.0' in text
    assert 'clearinghouse_signing_stopped_overdue{gateway_id="1"} 1.0' in text
    assert 'clearinghouse_signing_stopped_overdue{gateway_id="2"} 0.0' in text  # notify only


def test_the_dashboard_shows_receivables_and_automatic_funding(
    db: Database, fake_service: FakePaymentService, serve: Callable[..., AbstractContextManager[str]]
) -> None:
    book = overdue_ledger(db).overdue
    claim_funding_action(db, NewFunding(
        window_start=ANCHOR, action="fund_deposit", mode=FundingMode.AUTO, amount_wei=4 * 10**17,
        reason="deposit 1.5 ETH is below its low-water mark 1.8 ETH", deposit_wei=15 * 10**17,
        reserve_wei=5 * 10**17, eth_balance_wei=10**19), now=ANCHOR)
    routes = DashboardRoutes(db, TOKEN, overdue=book)
    with serve(fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER), dashboard=routes) as url:
        page = get(url, "/dashboard", session_cookie(login(url))).body.decode()
    receivables = page[page.index('id="receivables-table"'):page.index('id="funding"')]
    assert 'data-gateway-id="1"' in receivables and "40.00" in receivables and "10.00" in receivables
    assert "stopped</span> CH-2026-000001, 10 days overdue" in receivables
    funding = page[page.index('id="funding-table"'):]
    assert "fund_deposit" in funding and "below its low-water mark 1.8 ETH" in funding and "sending" in funding
