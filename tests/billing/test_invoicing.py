"""Drafting a period from a real ledger: signing calls, a manual rate, a plan, an adjustment →
exact lines and total; unpriced usage, a missing plan or FX rate are refused by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from clearinghouse.billing.exports import content_hash
from clearinghouse.billing.invoices import InvoiceError, LineGrouping, LineKind
from clearinghouse.billing.invoicing import draft_for_period, month_period
from clearinghouse.ledger import Database, NewRate, adjust, create_gateway, record_rate_snapshot, record_signing_call
from clearinghouse.ledger import accounts as ledger_accounts
from clearinghouse.ledger import sessions as ledger_sessions
from clearinghouse.ledger.errors import LedgerConflict
from clearinghouse.ledger.billing_plans import PlanKind, add_fx_rate, list_billing_plans, set_billing_plan
from tests.ledger.conftest import RECIPIENT, SessionDriver

NOVEMBER = month_period("2026-11")
SIGNED_AT = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)
WHO = {"actor": "test", "reason": "test"}


def signed_month(db: Database, monkeypatch: pytest.MonkeyPatch, *, priced: bool = True) -> int:
    """A gateway with two calls of one ticket each, EV 0.01 ETH per ticket, at 3000 USD/ETH."""
    gateway = create_gateway(db, "gateway-a")
    rate = record_rate_snapshot(db, NewRate(Fraction(3000), "manual", NOVEMBER[0], NOVEMBER[0], "test", "test"))
    monkeypatch.setattr(ledger_sessions, "utc_now", lambda: SIGNED_AT)
    driver = SessionDriver(gateway.id, face_value=10**16)
    for _ in range(2):
        call = driver.next_call(10, rate_snapshot_id=rate.id if priced else None)
        record_signing_call(db, call)
        driver.advance(call)
    return gateway.id


def test_a_month_is_drafted_exactly(ledger_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway_id = signed_month(ledger_db, monkeypatch)
    monkeypatch.setattr(ledger_accounts, "utc_now", lambda: SIGNED_AT)
    adjust(ledger_db, gateway_id, Fraction(-(10**15)), actor="ops", reason="outage credit")
    set_billing_plan(ledger_db, gateway_id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=NOVEMBER[0],
                     markup_bps=1500, fixed_fee=Fraction(49), **WHO)

    invoice, draft = draft_for_period(ledger_db, gateway_id, *NOVEMBER, actor="test")

    assert [(line.kind, line.description, line.amount, line.amount_minor) for line in draft.lines] == [
        (LineKind.USAGE, "live-video-to-video / streamdiffusion", Fraction(60), 6000),
        (LineKind.MARKUP, "Markup 15 % on usage", Fraction(9), 900),
        (LineKind.FIXED_FEE, "Fixed fee for the period", Fraction(49), 4900),
        (LineKind.ADJUSTMENT, "outage credit", Fraction(-3), -300),
    ]
    usage = draft.lines[0]
    assert (usage.calls, usage.tickets, usage.units, usage.ev_wei, usage.fee_wei) == (2, 2, 20, 2 * 10**16, 60)
    assert draft.lines[3].reference is not None and draft.lines[3].reference.endswith("rate snapshot 1")
    assert (draft.total, invoice.total_minor, invoice.content_hash) == (115, 11500, content_hash(draft))
    assert draft_for_period(ledger_db, gateway_id, *NOVEMBER, actor="test")[0].id == invoice.id


def test_grouping_by_orchestrator_and_fx(ledger_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway_id = signed_month(ledger_db, monkeypatch)
    set_billing_plan(ledger_db, gateway_id, kind=PlanKind.USAGE_BASED, currency="EUR", effective_at=NOVEMBER[0],
                     **WHO)
    with pytest.raises(InvoiceError, match="no FX rate USD→EUR as of 2026-12-01.*clearinghouse fx add EUR"):
        draft_for_period(ledger_db, gateway_id, *NOVEMBER, actor="test")
    add_fx_rate(ledger_db, "EUR", Fraction("0.92"), source="ECB", as_of=NOVEMBER[0], **WHO)

    _, draft = draft_for_period(ledger_db, gateway_id, *NOVEMBER, actor="test")

    assert [(line.orchestrator, line.amount) for line in draft.lines] == [(None, Fraction("55.2"))]
    _, by_orchestrator = draft_for_period(ledger_db, gateway_id, *NOVEMBER, LineGrouping.ORCHESTRATOR,
                                         actor="test")
    assert [(line.orchestrator, line.amount_minor) for line in by_orchestrator.lines] == [(RECIPIENT, 5520)]


def test_unpriced_usage_and_a_missing_plan_are_refused(ledger_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    gateway_id = signed_month(ledger_db, monkeypatch, priced=False)
    with pytest.raises(InvoiceError, match="no billing plan in force.*clearinghouse plan set"):
        draft_for_period(ledger_db, gateway_id, *NOVEMBER, actor="test")
    set_billing_plan(ledger_db, gateway_id, kind=PlanKind.FREE, currency="USD",
                     effective_at=NOVEMBER[0] - timedelta(days=1), **WHO)
    _, free = draft_for_period(ledger_db, gateway_id, *NOVEMBER, actor="test")
    assert (free.lines, free.total_minor) == ((), 0)
    set_billing_plan(ledger_db, gateway_id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=NOVEMBER[0],
                     **WHO)
    with pytest.raises(InvoiceError, match="has 2 unpriced signing calls.*clearinghouse rate price-unpriced"):
        draft_for_period(ledger_db, gateway_id, *NOVEMBER, actor="test")


def test_a_second_plan_at_the_same_effective_time_is_refused(ledger_db: Database) -> None:
    """Which of two plans effective at one instant applied would be an accident of row ids (#19)."""
    gateway_id = create_gateway(ledger_db, "plans").id
    set_billing_plan(ledger_db, gateway_id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=NOVEMBER[0],
                     **WHO)
    with pytest.raises(LedgerConflict, match=r"already has plan \d+ \(usage_based\) effective at 2026-11-01"):
        set_billing_plan(ledger_db, gateway_id, kind=PlanKind.FREE, currency="USD", effective_at=NOVEMBER[0], **WHO)
    set_billing_plan(ledger_db, gateway_id, kind=PlanKind.FREE, currency="USD", effective_at=NOVEMBER[1], **WHO)
    history = list_billing_plans(ledger_db, gateway_id)
    assert [(plan.kind, plan.effective_at) for plan in history] == [
        (PlanKind.FREE, NOVEMBER[1]), (PlanKind.USAGE_BASED, NOVEMBER[0])]


def test_month_period() -> None:
    assert month_period("2026-12") == (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(InvoiceError, match="month must look like 2026-11"):
        month_period("2026-13")
