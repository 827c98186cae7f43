"""Issuing freezes the parties, dates and terms into the document its hash covers; an open
period needs saying so; the JSON export files on its own (issue 19). SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest

from clearinghouse.billing.invoice_terms import InvoicingSettings, Party
from clearinghouse.billing.invoices import InvoiceError, LineKind
from clearinghouse.billing.invoicing import draft_for_period, export_invoice, month_period, stored_draft
from clearinghouse.billing.invoicing import void_with_credit_note
from clearinghouse.billing.issuing import issue
from clearinghouse.ledger import Database, create_gateway
from clearinghouse.ledger.billing_profiles import set_billing_profile
from clearinghouse.ledger.billing_plans import PlanKind, set_billing_plan
from tests.billing.test_invoicing import NOVEMBER, WHO, signed_month

SETTINGS = InvoicingSettings(Party("Clearinghouse Operator GmbH", ("Musterstrasse 1", "10115 Berlin"), "DE123456789",
                                   "billing@operator.example"), payment_terms_days=30)


def planned(db: Database, monkeypatch: pytest.MonkeyPatch) -> int:
    gateway_id = signed_month(db, monkeypatch)
    set_billing_plan(db, gateway_id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=NOVEMBER[0], **WHO)
    set_billing_profile(db, gateway_id, legal_name="Acme Video Ltd", address="1 Main Street\nLondon",
                        tax_id="GB987654321", email="ap@acme.example", tax_rate_bps=2000, payment_terms_days=14,
                        **WHO)
    return gateway_id


def test_issuing_freezes_number_dates_and_parties_into_the_hashed_document(
    ledger_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_id = planned(ledger_db, monkeypatch)
    row, draft = draft_for_period(ledger_db, gateway_id, *NOVEMBER, actor="test", settings=SETTINGS)
    assert draft.terms is not None and draft.terms.customer.name == "Acme Video Ltd" and not draft.terms.partial
    assert [line.kind for line in draft.lines] == [LineKind.USAGE, LineKind.TAX]  # 60 USD + 20 % VAT

    set_billing_profile(ledger_db, gateway_id, legal_name="Acme Video Limited", tax_rate_bps=2000, **WHO)
    issued = issue(ledger_db, row.id, SETTINGS, allow_open_period=False, actor="test", reason="issued")

    stored, document = stored_draft(ledger_db, row.id)
    terms = document.terms
    assert terms is not None and terms.number == issued.number and terms.issued_at == issued.issued_at
    assert terms.customer == Party("Acme Video Limited")  # as the profile is at issue time
    assert terms.issuer == SETTINGS.issuer and terms.payment_terms_days == 30  # the profile's terms went with it
    assert terms.due_at == issued.issued_at + timedelta(days=30)  # type: ignore[operator]
    assert issued.total_minor == 7200
    _, exported = export_invoice(ledger_db, row.id, "json")
    identity = json.loads(exported)
    assert {key: identity[key] for key in ("format", "number", "status", "currency", "partial", "total")} == {
        "format": "clearinghouse.invoice-export/1", "number": issued.number, "status": "issued", "currency": "USD",
        "partial": False, "total": "72.00"}
    assert identity["issuer"]["name"] == "Clearinghouse Operator GmbH"
    assert identity["customer"]["name"] == "Acme Video Limited"
    assert (identity["period_start"], identity["period_end"]) == ("2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")
    canonical = json.dumps(identity["document"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert hashlib.sha256(canonical.encode()).hexdigest() == identity["content_sha256"] == stored.content_hash.hex()
    _, pdf = export_invoice(ledger_db, row.id, "pdf")
    assert pdf.startswith(b"%PDF")

    _, credit = void_with_credit_note(ledger_db, row.id, actor="test", reason="wrong customer")
    _, credit_document = stored_draft(ledger_db, credit.id)
    assert credit_document.terms is not None and credit_document.terms.number == credit.number != issued.number


def test_an_open_period_is_issued_only_when_asked_and_then_says_partial(
    ledger_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_id = create_gateway(ledger_db, "open-period").id
    now = datetime.now(UTC)
    period = month_period(now.strftime("%Y-%m"))
    set_billing_plan(ledger_db, gateway_id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=period[0],
                     fixed_fee=10, **WHO)
    row, draft = draft_for_period(ledger_db, gateway_id, *period, actor="test", settings=SETTINGS)
    assert draft.terms is not None and draft.terms.partial

    with pytest.raises(InvoiceError, match="after now.*--allow-open-period"):
        issue(ledger_db, row.id, SETTINGS, allow_open_period=False, actor="test", reason="issued")
    issued = issue(ledger_db, row.id, SETTINGS, allow_open_period=True, actor="test", reason="issued")

    assert issued.number is not None and issued.number.endswith("-000001")  # the refusal used no number
    _, document = stored_draft(ledger_db, row.id)
    assert document.terms is not None and document.terms.partial


def test_a_tax_rate_changed_since_the_draft_is_refused_at_issue(
    ledger_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway_id = planned(ledger_db, monkeypatch)
    row, _ = draft_for_period(ledger_db, gateway_id, *NOVEMBER, actor="test", settings=SETTINGS)
    set_billing_profile(ledger_db, gateway_id, legal_name="Acme Video Ltd", tax_rate_bps=0, **WHO)
    with pytest.raises(InvoiceError, match="tax is now 0 bps.*draft the period again"):
        issue(ledger_db, row.id, SETTINGS, allow_open_period=False, actor="test", reason="issued")
