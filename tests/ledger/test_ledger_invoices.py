"""Stored invoices: the draft → issued → paid / void lifecycle, gapless numbers, a database that
refuses to change an issued document, credit notes; plans and FX rates in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from clearinghouse.billing.exports import content_hash, invoice_json
from clearinghouse.billing.invoices import InvoiceDraft, UsageBasedPlan, draft_invoice
from clearinghouse.billing.invoicing import draft_from_json, stored_draft, void_with_credit_note
from clearinghouse.ledger import Database, LedgerConflict, NotFound, create_gateway
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.invoices import (
    Invoice,
    InvoiceStatus,
    get_invoice,
    invoice_document,
    issue_invoice,
    list_invoices,
    mark_paid,
    save_draft,
)
from clearinghouse.ledger.billing_plans import (
    PlanKind,
    add_fx_rate,
    billing_plan_in_force,
    fx_rate_in_force,
    set_billing_plan,
)

NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
DECEMBER = (datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
WHO = {"actor": "test", "reason": "test"}


def a_draft(gateway_id: int, period: tuple[datetime, datetime] = NOVEMBER, fixed_fee: int = 49) -> InvoiceDraft:
    return draft_invoice(gateway_id=gateway_id, period_start=period[0], period_end=period[1], currency="USD",
                         plan=UsageBasedPlan("USD", fixed_fee=Fraction(fixed_fee)), buckets=(), rates=())


def saved(db: Database, draft: InvoiceDraft) -> Invoice:
    return save_draft(db, gateway_id=draft.gateway_id, period_start=draft.period_start,
                      period_end=draft.period_end, currency=draft.currency, content=invoice_json(draft),
                      total_minor=draft.total_minor, **WHO)


def test_lifecycle_from_draft_to_paid(ledger_db: Database, gateway: Gateway) -> None:
    first = saved(ledger_db, a_draft(gateway.id, fixed_fee=10))
    redraft = a_draft(gateway.id)
    draft = saved(ledger_db, redraft)
    assert (draft.id, draft.status, draft.number, draft.total_minor) == (first.id, InvoiceStatus.DRAFT, None, 4900)
    assert draft.content_hash == content_hash(redraft)

    issued = issue_invoice(ledger_db, draft.id, **WHO)
    year = issued.issued_at.year if issued.issued_at else 0
    assert (issued.status, issued.number) == (InvoiceStatus.ISSUED, f"CH-{year}-000001")
    assert invoice_document(ledger_db, draft.id).content == invoice_json(redraft)
    assert issued.content_hash == content_hash(redraft)
    with pytest.raises(LedgerConflict, match=f"already issued as CH-{year}-000001; an invoice is issued only once"):
        issue_invoice(ledger_db, draft.id, **WHO)
    with pytest.raises(LedgerConflict, match="already has invoice CH-.* void it before drafting"):
        saved(ledger_db, redraft)

    paid_at = datetime(2026, 12, 10, tzinfo=UTC)
    paid = mark_paid(ledger_db, draft.id, paid_at=paid_at, **WHO)
    assert (paid.status, paid.paid_at, paid.number) == (InvoiceStatus.PAID, paid_at, issued.number)
    with pytest.raises(LedgerConflict, match="is paid; only an issued invoice can be paid"):
        mark_paid(ledger_db, draft.id, paid_at=paid_at, **WHO)
    with pytest.raises(LedgerConflict, match="is paid; only an issued invoice can be voided"):
        void_with_credit_note(ledger_db, draft.id, **WHO)
    with pytest.raises(NotFound, match="no invoice with id 999"):
        issue_invoice(ledger_db, 999, **WHO)


def test_numbers_are_sequential_without_gaps(ledger_db: Database, gateway: Gateway) -> None:
    other = create_gateway(ledger_db, "gateway-b")
    drafts = [saved(ledger_db, a_draft(g, p)) for g, p in ((gateway.id, NOVEMBER), (other.id, NOVEMBER),
                                                           (gateway.id, DECEMBER))]
    numbers = [issue_invoice(ledger_db, drafts[0].id, **WHO).number]
    with pytest.raises(LedgerConflict):  # a refused issue takes no number
        issue_invoice(ledger_db, drafts[0].id, **WHO)
    with pytest.raises(InvalidLedgerInput, match="series must be"):
        issue_invoice(ledger_db, drafts[1].id, actor="test", reason="test", series="ch 2026")
    numbers += [issue_invoice(ledger_db, d.id, **WHO).number for d in drafts[1:]]
    year = datetime.now(UTC).year
    assert numbers == [f"CH-{year}-00000{n}" for n in (1, 2, 3)]
    assert [i.number for i in list_invoices(ledger_db, gateway_id=gateway.id)] == [numbers[2], numbers[0]]


def test_the_database_refuses_changing_or_deleting_an_issued_invoice(ledger_db: Database, gateway: Gateway) -> None:
    draft = saved(ledger_db, a_draft(gateway.id))
    issue_invoice(ledger_db, draft.id, **WHO)
    statements = [
        "UPDATE invoices SET content = content || content WHERE id = :id",
        "UPDATE invoices SET total_minor = 1 WHERE id = :id",
        "UPDATE invoices SET number = 'CH-1999-000001' WHERE id = :id",
        "UPDATE invoices SET status = 'draft', number = NULL, issued_at = NULL WHERE id = :id",
        "DELETE FROM invoices WHERE id = :id",
    ]
    for statement in statements:
        with pytest.raises(IntegrityError, match="not a draft"):
            with ledger_db.write_engine.begin() as connection:
                connection.execute(text(statement), {"id": draft.id})
    assert get_invoice(ledger_db, draft.id).total_minor == 4900
    with ledger_db.write_engine.begin() as connection:  # lifecycle columns may change, a draft may go
        connection.execute(text("UPDATE invoices SET reason = 'noted' WHERE id = :id"), {"id": draft.id})
    other = saved(ledger_db, a_draft(gateway.id, DECEMBER))
    with ledger_db.write_engine.begin() as connection:
        connection.execute(text("DELETE FROM invoices WHERE id = :id"), {"id": other.id})
    assert [i.id for i in list_invoices(ledger_db)] == [draft.id]


def test_void_issues_a_credit_note_and_keeps_the_document(ledger_db: Database, gateway: Gateway) -> None:
    original = a_draft(gateway.id)
    draft = saved(ledger_db, original)
    issued = issue_invoice(ledger_db, draft.id, **WHO)
    with pytest.raises(LedgerConflict, match="is draft; only an issued invoice can be voided"):
        void_with_credit_note(ledger_db, saved(ledger_db, a_draft(gateway.id, DECEMBER)).id, **WHO)

    voided, credit = void_with_credit_note(ledger_db, draft.id, actor="ops", reason="wrong plan")

    assert (voided.status, voided.number, voided.reason) == (InvoiceStatus.VOID, issued.number, "wrong plan")
    assert invoice_document(ledger_db, draft.id).content == invoice_json(original)
    assert (credit.status, credit.credit_note_of, credit.total_minor) == (InvoiceStatus.ISSUED, draft.id, -4900)
    assert credit.number is not None and credit.number.endswith("-000002")
    _, credit_draft = stored_draft(ledger_db, credit.id)
    assert [(line.kind, line.amount_minor) for line in credit_draft.lines] == [
        (line.kind, -line.amount_minor) for line in original.lines]
    assert credit.content_hash == content_hash(credit_draft)
    assert draft_from_json(invoice_json(credit_draft)) == credit_draft
    with pytest.raises(LedgerConflict, match="is a credit note; only an issued invoice can be voided"):
        void_with_credit_note(ledger_db, credit.id, **WHO)
    with pytest.raises(LedgerConflict, match="is void"):
        void_with_credit_note(ledger_db, draft.id, **WHO)


def test_the_plan_in_force_is_the_newest_at_the_period_start(ledger_db: Database, gateway: Gateway) -> None:
    assert billing_plan_in_force(ledger_db, gateway.id, NOVEMBER[0]) is None
    set_billing_plan(ledger_db, gateway.id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=NOVEMBER[0],
                     markup_bps=1500, fixed_fee=Fraction(49), **WHO)
    set_billing_plan(ledger_db, gateway.id, kind=PlanKind.SUBSCRIPTION, currency="EUR",
                     effective_at=NOVEMBER[0] + timedelta(days=14), fee=Fraction(500), included_usage=Fraction(400),
                     **WHO)
    november = billing_plan_in_force(ledger_db, gateway.id, NOVEMBER[0])
    december = billing_plan_in_force(ledger_db, gateway.id, DECEMBER[0])
    assert november is not None and (november.kind, november.markup_bps, november.fixed_fee) == (
        PlanKind.USAGE_BASED, 1500, 49)
    assert december is not None and (december.kind, december.currency, december.fee, december.included_usage) == (
        PlanKind.SUBSCRIPTION, "EUR", 500, 400)
    with pytest.raises(InvalidLedgerInput, match="a free plan has no fee"):
        set_billing_plan(ledger_db, gateway.id, kind=PlanKind.FREE, currency="USD", effective_at=NOVEMBER[0],
                         fee=Fraction(1), **WHO)
    with pytest.raises(InvalidLedgerInput, match="exact int or Fraction"):
        set_billing_plan(ledger_db, gateway.id, kind=PlanKind.USAGE_BASED, currency="USD",
                         effective_at=NOVEMBER[0], fixed_fee=0.5, **WHO)  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="no gateway with id 999"):
        set_billing_plan(ledger_db, 999, kind=PlanKind.FREE, currency="USD", effective_at=NOVEMBER[0], **WHO)


def test_fx_rates_in_force(ledger_db: Database) -> None:
    add_fx_rate(ledger_db, "EUR", Fraction("0.92"), source="ECB", as_of=NOVEMBER[0], **WHO)
    add_fx_rate(ledger_db, "EUR", Fraction("0.93"), source="ECB", as_of=DECEMBER[0], **WHO)
    at_end = fx_rate_in_force(ledger_db, "EUR", NOVEMBER[1] - timedelta(seconds=1))
    assert at_end is not None and at_end.per_usd == Fraction(92, 100)
    assert fx_rate_in_force(ledger_db, "GBP", DECEMBER[1]) is None
    with pytest.raises(InvalidLedgerInput, match="converts USD to another currency"):
        add_fx_rate(ledger_db, "USD", Fraction(1), source="x", as_of=NOVEMBER[0], **WHO)
