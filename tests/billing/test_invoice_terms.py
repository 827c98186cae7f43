"""Invoices that stand on their own (issue 19): parties, payment terms and tax in the document
and its hash, issuing an open period, the JSON export's identity, readable usage lines."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest

from clearinghouse.billing.exports import content_hash, decimal_string, invoice_json
from clearinghouse.billing.invoice_terms import REVERSE_CHARGE_NOTE, InvoiceTerms, Party, TermsError
from clearinghouse.billing.invoices import LineKind, UsageBucket
from clearinghouse.billing.invoicing import draft_from_json
from tests.billing.test_invoices import RATES, golden_draft

ISSUER = Party("Livepeer Clearinghouse GmbH", ("Musterstrasse 1", "10115 Berlin", "Germany"), "DE123456789",
               "billing@clearinghouse.example")
CUSTOMER = Party("Acme Streaming Ltd", ("1 Main Street", "London EC1A 1AA"), "GB987654321", "ap@acme.example")
VAT_19 = InvoiceTerms(ISSUER, CUSTOMER, 14, 1900, None, partial=False)
REVERSE_CHARGE = InvoiceTerms(ISSUER, CUSTOMER, 30, 0, REVERSE_CHARGE_NOTE, partial=False)

GOLDEN_VAT_HASH = "2baafbb4890540a4f21dc88dea0e7da43b7771ced8e50da5c54e10611c37cb5c"
"""SHA-256 of the golden draft at 19 % VAT with both parties (format /2)."""


def test_a_taxed_invoice_has_one_tax_line_on_the_exact_subtotal() -> None:
    draft = golden_draft(terms=VAT_19)
    untaxed = golden_draft()
    tax = [line for line in draft.lines if line.kind is LineKind.TAX]
    kinds = [line.kind for line in draft.lines if line.kind is not LineKind.ROUNDING]
    assert kinds == [*(line.kind for line in untaxed.lines if line.kind is not LineKind.ROUNDING), LineKind.TAX]
    assert len(tax) == 1 and tax[0].amount == untaxed.total * Fraction(19, 100)
    assert tax[0].description == "Tax (VAT) 19 % of the subtotal 18.58"
    assert tax[0].amount_minor == 353  # 3.531015416…, rounded once
    assert draft.total == untaxed.total * Fraction(119, 100)
    assert draft.total_minor == round(draft.total * 100)  # the total is the exact total rounded once


def test_golden_documents_carry_parties_terms_and_tax_and_their_hash_covers_them() -> None:
    document = json.loads(invoice_json(golden_draft(terms=VAT_19)))
    assert document["format"] == "clearinghouse.invoice/2"
    assert document["terms"] == {
        "issuer": {"name": "Livepeer Clearinghouse GmbH", "address_lines": ["Musterstrasse 1", "10115 Berlin",
                                                                           "Germany"],
                   "tax_id": "DE123456789", "email": "billing@clearinghouse.example"},
        "customer": {"name": "Acme Streaming Ltd", "address_lines": ["1 Main Street", "London EC1A 1AA"],
                     "tax_id": "GB987654321", "email": "ap@acme.example"},
        "payment_terms_days": 14, "tax_rate_bps": 1900, "tax_note": None, "partial": False,
        "number": None, "issued_at": None, "due_at": None,
    }
    assert [line["kind"] for line in document["lines"]][-2:] == ["tax", "rounding"]
    assert document["total_decimal"] == decimal_string(Fraction(document["total"]))
    reverse = json.loads(invoice_json(golden_draft(terms=REVERSE_CHARGE)))
    assert reverse["terms"]["tax_note"].startswith("Reverse charge")
    assert all(line["kind"] != "tax" for line in reverse["lines"])
    hashes = {content_hash(golden_draft(terms=terms)) for terms in (
        VAT_19, REVERSE_CHARGE, replace(VAT_19, customer=replace(CUSTOMER, name="Acme Streaming Limited")),
        replace(VAT_19, issuer=replace(ISSUER, tax_id="DE000000000")), replace(VAT_19, payment_terms_days=30),
        replace(VAT_19, partial=True))}
    assert len(hashes) == 6, "every party, term and the partial flag is covered by the hash"


def test_a_golden_document_reads_back_byte_for_byte() -> None:
    issued_at = datetime(2026, 6, 2, 9, 30, tzinfo=UTC)
    terms = replace(VAT_19, number="CH-2026-000042", issued_at=issued_at, due_at=issued_at + timedelta(days=14))
    for draft in (golden_draft(terms=terms), golden_draft(terms=REVERSE_CHARGE), golden_draft()):
        assert draft_from_json(invoice_json(draft)) == draft


def test_golden_vat_document_bytes_are_pinned() -> None:
    # A change here changes every /2 hash: bump exports.FORMAT with it.
    content = invoice_json(golden_draft(terms=VAT_19))
    assert hashlib.sha256(content).hexdigest() == GOLDEN_VAT_HASH, content.decode()


def test_terms_refuse_what_cannot_go_on_an_invoice() -> None:
    with pytest.raises(TermsError, match="tax note"):
        InvoiceTerms(ISSUER, CUSTOMER, 30, 1900, REVERSE_CHARGE_NOTE, partial=False)
    with pytest.raises(TermsError, match="tax rate"):
        InvoiceTerms(ISSUER, CUSTOMER, 30, 10_001, None, partial=False)
    with pytest.raises(TermsError, match="set together"):
        InvoiceTerms(ISSUER, CUSTOMER, 30, 1900, None, partial=False, number="CH-2026-000001")
    with pytest.raises(TermsError, match="e-mail"):
        Party("Acme", email="not an address")


def test_usage_lines_name_what_the_records_know() -> None:
    only_pipeline = UsageBucket("live-video-to-video", None, None, None, RATES[0].rate_snapshot_id, 1, 1, 1,
                                Fraction(10**15), Fraction(10**15))
    nothing = replace(only_pipeline, pipeline=None)
    draft = golden_draft(buckets=(only_pipeline, nothing))
    assert [line.description for line in draft.lines if line.kind is LineKind.USAGE] == [
        "live-video-to-video", "Usage (pipeline and model not reported)"]


def test_decimal_strings_are_exact_where_they_end_and_rounded_half_even_at_18_places() -> None:
    assert decimal_string(Fraction(201, 200)) == "1.005"
    assert decimal_string(Fraction(10**15, 3)) == "333333333333333.333333333333333333"
    assert decimal_string(Fraction(-5, 6)) == "-0.833333333333333333"
    assert decimal_string(Fraction(7)) == "7"
