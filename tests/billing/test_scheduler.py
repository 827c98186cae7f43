"""The billing scheduler on a real ledger with a controllable clock: a week and a month of cycles
across restarts issue each invoice exactly once (two schedulers on one PostgreSQL database
included), the grace period lets a late record onto its invoice, unpriced usage is held back."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import text

from clearinghouse.billing.invoice_terms import InvoicingSettings
from clearinghouse.billing.scheduler import BillingScheduler
from clearinghouse.billing.limits import HELD_RETRY_S
from clearinghouse.billing.invoicing import stored_draft
from clearinghouse.ledger import Database, open_database
from clearinghouse.ledger.billing_cycles import CycleKind, RunStatus, billing_runs
from clearinghouse.ledger.invoices import InvoiceStatus, list_invoices
from clearinghouse.ledger.rates import price_unpriced_records
from tests.billing.scheduling import Clock, billed_gateway, sign_usage

WEEK_ANCHOR = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
MONTH_ANCHOR = datetime(2026, 11, 1, tzinfo=UTC)


def issued(db: Database, gateway_id: int) -> list[tuple[datetime, datetime]]:
    rows = list_invoices(db, gateway_id=gateway_id)
    assert all(row.status is InvoiceStatus.ISSUED for row in rows)
    return sorted((row.period_start, row.period_end) for row in rows)


def test_a_month_of_cycles_across_restarts_issues_each_invoice_once(migrated_database_url: str) -> None:
    db = open_database(migrated_database_url)
    weekly = billed_gateway(db, "weekly", CycleKind.WEEKLY, WEEK_ANCHOR)
    monthly = billed_gateway(db, "monthly", CycleKind.MONTHLY, MONTH_ANCHOR)
    every_ten_days = billed_gateway(db, "ten-days", CycleKind.DAYS, MONTH_ANCHOR, length_days=10)
    clock = Clock(MONTH_ANCHOR)
    end = datetime(2026, 12, 2, 6, tzinfo=UTC)
    ticks = 0
    while clock.now <= end:
        if ticks % 10 == 0:  # a restart: a new scheduler with its own engine, nothing carried over
            db.dispose()
            db = open_database(migrated_database_url)
            scheduler = BillingScheduler(db, InvoicingSettings(), clock=clock, replica=f"life-{ticks}")
        scheduler.tick()
        clock.now += timedelta(hours=6)
        ticks += 1

    weeks = [(WEEK_ANCHOR + timedelta(days=7 * i), WEEK_ANCHOR + timedelta(days=7 * (i + 1))) for i in range(4)]
    assert issued(db, weekly) == weeks
    assert issued(db, monthly) == [(MONTH_ANCHOR, datetime(2026, 12, 1, tzinfo=UTC))]
    assert issued(db, every_ten_days) == [(MONTH_ANCHOR + timedelta(days=10 * i), MONTH_ANCHOR + timedelta(days=10 * (i + 1)))
                                          for i in range(3)]
    runs = billing_runs(db)
    assert len(runs) == 4 + 1 + 3 and {run.status for run in runs} == {RunStatus.ISSUED}
    # Issued at the scheduler's clock: the first weekly invoice at the first tick past close + grace.
    first = min(list_invoices(db, gateway_id=weekly), key=lambda row: row.period_start)
    assert first.issued_at == datetime(2026, 11, 9, 6, tzinfo=UTC) and first.actor == "billing-scheduler"
    db.dispose()


def test_two_schedulers_on_one_postgresql_database_issue_each_invoice_once(postgresql_url: str) -> None:
    from clearinghouse.ledger import upgrade_to_head

    upgrade_to_head(postgresql_url)
    setup = open_database(postgresql_url)
    gateways = [billed_gateway(setup, f"gateway-{i}", CycleKind.WEEKLY, WEEK_ANCHOR, grace_s=0) for i in range(4)]
    clock = Clock(datetime(2026, 11, 30, 1, tzinfo=UTC))  # four weeks are due for each gateway at once
    replicas = [open_database(postgresql_url) for _ in range(2)]
    schedulers = [BillingScheduler(db, InvoicingSettings(), clock=clock, replica=f"replica-{i}")
                  for i, db in enumerate(replicas)]
    start = threading.Barrier(2)
    reports = []

    def run(scheduler: BillingScheduler) -> None:
        start.wait()
        reports.append(scheduler.tick())

    threads = [threading.Thread(target=run, args=(scheduler,)) for scheduler in schedulers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert sum(report.issued for report in reports) == 16
    for gateway_id in gateways:
        assert len(issued(setup, gateway_id)) == 4
    with setup.engine.connect() as connection:
        per_period = connection.execute(text(
            "SELECT count(*) FROM billing_runs GROUP BY gateway_id, period_start")).scalars().all()
    assert per_period == [1] * 16
    for db in (*replicas, setup):
        db.dispose()


def test_a_record_arriving_inside_the_grace_period_is_on_the_invoice(
    ledger_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_id = billed_gateway(ledger_db, "late-records", CycleKind.WEEKLY, WEEK_ANCHOR, grace_s=2 * 3600)
    close = WEEK_ANCHOR + timedelta(days=7)
    clock = Clock(close + timedelta(minutes=30))
    scheduler = BillingScheduler(ledger_db, InvoicingSettings(), clock=clock)

    assert scheduler.tick().issued == 0  # closed, but inside its grace
    sign_usage(ledger_db, monkeypatch, gateway_id, close - timedelta(minutes=1))  # recorded late
    clock.now = close + timedelta(hours=2)
    assert scheduler.tick().issued == 1

    (invoice,) = list_invoices(ledger_db, gateway_id=gateway_id)
    _, draft = stored_draft(ledger_db, invoice.id)
    assert [(line.kind.value, line.calls, line.amount) for line in draft.lines] == [
        ("usage", 1, Fraction(30)), ("fixed_fee", 0, Fraction(10))]
    assert invoice.total_minor == 4000


def test_unpriced_usage_is_held_back_and_alerted_then_issued_once_priced(
    ledger_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_id = billed_gateway(ledger_db, "unpriced", CycleKind.WEEKLY, WEEK_ANCHOR)
    sign_usage(ledger_db, monkeypatch, gateway_id, WEEK_ANCHOR + timedelta(days=1), priced=False)
    alerts: list[str] = []
    clock = Clock(WEEK_ANCHOR + timedelta(days=7, hours=1))
    scheduler = BillingScheduler(ledger_db, InvoicingSettings(), clock=clock, alert=alerts.append)

    assert scheduler.tick().held == 1
    assert list_invoices(ledger_db, gateway_id=gateway_id) == []
    (run,) = billing_runs(ledger_db, gateway_id=gateway_id)
    assert run.status is RunStatus.HELD and "1 unpriced signing calls" in (run.detail or "")
    assert len(alerts) == 1 and "held back" in alerts[0] and "unpriced" in alerts[0]

    clock.now += timedelta(seconds=HELD_RETRY_S)
    assert scheduler.tick().held == 1 and len(alerts) == 1  # tried again, still unpriced, not re-alerted
    price_unpriced_records(ledger_db, rate_snapshot_id=1, start=WEEK_ANCHOR, end=WEEK_ANCHOR + timedelta(days=7),
                           actor="test", reason="test")
    clock.now += timedelta(seconds=HELD_RETRY_S)
    assert scheduler.tick().issued == 1
    assert issued(ledger_db, gateway_id) == [(WEEK_ANCHOR, WEEK_ANCHOR + timedelta(days=7))]


def test_a_period_invoiced_by_hand_is_recorded_not_billed_again(ledger_db: Database) -> None:
    from clearinghouse.billing.invoicing import draft_for_period
    from clearinghouse.billing.issuing import issue

    gateway_id = billed_gateway(ledger_db, "by-hand", CycleKind.WEEKLY, WEEK_ANCHOR, grace_s=0)
    close = WEEK_ANCHOR + timedelta(days=7)
    draft, _ = draft_for_period(ledger_db, gateway_id, WEEK_ANCHOR, close, actor="finance", now=close)
    by_hand = issue(ledger_db, draft.id, InvoicingSettings(), allow_open_period=False, actor="finance",
                    reason="early", now=close)

    assert BillingScheduler(ledger_db, InvoicingSettings(), clock=Clock(close)).tick().issued == 0

    assert [row.id for row in list_invoices(ledger_db, gateway_id=gateway_id)] == [by_hand.id]
    (run,) = billing_runs(ledger_db, gateway_id=gateway_id)
    assert (run.status, run.invoice_id, run.detail) == (RunStatus.ISSUED, by_hand.id, "the period was already invoiced")
