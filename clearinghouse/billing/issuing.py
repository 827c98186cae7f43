"""Issuing an invoice with its parties and terms frozen into it, and the JSON export that files
on its own (issue 19); between the ledger's stored invoices and billing.invoice_terms.

``issue`` assigns the number in the ledger's transaction and, in the same update, stores the
document rewritten with the number, the issue and due dates, the issuer from the configuration
and the customer from the gateway's billing profile as they are now. A period that has not
ended is issued only when the caller says so (``allow_open_period``), and the document then
says it is partial. The draft's tax rate is kept: if the profile's rate changed since, the
amounts would be wrong, so issuing refuses until the period is drafted again.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime
from typing import Final

from clearinghouse.billing.exports import invoice_json, party_document, terms_document, utc_text
from clearinghouse.billing.invoice_terms import (
    REVERSE_CHARGE_NOTE,
    InvoiceTerms,
    InvoicingSettings,
    Party,
    address_lines,
    issued_terms,
)
from clearinghouse.billing.invoices import InvoiceDraft, InvoiceError
from clearinghouse.billing.money_text import minor_units_text
from clearinghouse.ledger import invoices as stored
from clearinghouse.ledger.billing_profiles import billing_profile
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.gateways import get_gateway

EXPORT_FORMAT: Final = "clearinghouse.invoice-export/1"
"""Names the layout of the JSON export: the identity fields beside the hashed document."""


def current_terms(db: Database, gateway_id: int, settings: InvoicingSettings, *, partial: bool) -> InvoiceTerms:
    """The terms a document of ``gateway_id`` gets now: the configured issuer, the gateway's
    billing profile (its name, 0 % with the reverse-charge note and the configured payment terms
    when it has none). Raises NotFound for an unknown gateway."""
    profile = billing_profile(db, gateway_id)
    if profile is None:
        customer = Party(get_gateway(db, gateway_id).name)
        return InvoiceTerms(settings.issuer, customer, settings.payment_terms_days, 0, REVERSE_CHARGE_NOTE, partial)
    customer = Party(profile.legal_name, address_lines(profile.address), profile.tax_id, profile.email)
    days = settings.payment_terms_days if profile.payment_terms_days is None else profile.payment_terms_days
    note = (profile.tax_note or REVERSE_CHARGE_NOTE) if profile.tax_rate_bps == 0 else None
    return InvoiceTerms(settings.issuer, customer, days, profile.tax_rate_bps, note, partial)


def issue(
    db: Database,
    invoice_id: int,
    settings: InvoicingSettings,
    *,
    allow_open_period: bool,
    actor: str,
    reason: str,
    series: str = stored.DEFAULT_SERIES,
    now: datetime | None = None,
) -> stored.Invoice:
    """Issue the draft ``invoice_id`` (module docstring), at ``now`` (default: the clock's now).

    Raises InvoiceError for a period still open without ``allow_open_period`` (nothing is
    issued, no number used) or a tax rate changed since the draft; the ledger's NotFound and
    LedgerConflict (not a draft) as ``ledger.invoices.issue_invoice``.
    """
    from clearinghouse.billing.invoicing import draft_from_json

    document = stored.invoice_document(db, invoice_id)
    draft = draft_from_json(document.content)
    drafted = draft.terms
    if drafted is None:  # a draft stored before format /2: issued as it was computed
        return stored.issue_invoice(db, invoice_id, actor=actor, reason=reason, series=series, issued_at=now)
    now_terms = current_terms(db, draft.gateway_id, settings, partial=drafted.partial)
    if (now_terms.tax_rate_bps, now_terms.tax_note) != (drafted.tax_rate_bps, drafted.tax_note):
        raise InvoiceError(
            f"gateway {draft.gateway_id}'s tax is now {now_terms.tax_rate_bps} bps, the draft was computed at "
            f"{drafted.tax_rate_bps} bps; draft the period again before issuing"
        )

    def finalize(content: bytes, number: str, issued_at: datetime) -> tuple[bytes, int]:
        if draft_from_json(content) != draft:
            raise InvoiceError(f"invoice {invoice_id} was redrafted while it was being issued; issue it again")
        open_period = draft.period_end > issued_at
        if open_period and not allow_open_period:
            raise InvoiceError(
                f"invoice {invoice_id}'s period ends {utc_text(draft.period_end)}, after now: usage may still be "
                "added to it; issue it with --allow-open-period to bill it as partial, or wait until it ends"
            )
        terms = replace(issued_terms(drafted, now_terms.issuer, now_terms.customer, number, issued_at,
                                     now_terms.payment_terms_days), partial=drafted.partial or open_period)
        issued = replace(draft, terms=terms)
        return invoice_json(issued), issued.total_minor

    return stored.issue_invoice(db, invoice_id, actor=actor, reason=reason, series=series, finalize=finalize,
                                issued_at=now)


def credit_note_terms(terms: InvoiceTerms | None, number: str, issued_at: datetime) -> InvoiceTerms | None:
    """A credit note's terms: the voided invoice's parties and tax, its own number and date,
    due at once (it is money owed to the customer)."""
    if terms is None:
        return None
    return issued_terms(terms, terms.issuer, terms.customer, number, issued_at, 0)


def export_document(row: stored.Invoice, draft: InvoiceDraft, content: bytes) -> bytes:
    """The JSON export: the invoice's identity (number, status, dates, period, currency,
    parties, totals) beside the stored document it was made from, and that document's
    SHA-256 (of its canonical bytes: keys sorted, no spaces, UTF-8, as ``document`` re-encodes).
    """
    terms = draft.terms
    identity: dict[str, object] = {
        "format": EXPORT_FORMAT,
        "invoice_id": row.id,
        "number": row.number,
        "status": row.status.value,
        "credit_note_of": row.credit_note_of,
        "issued_at": None if row.issued_at is None else utc_text(row.issued_at),
        "due_at": None if terms is None or terms.due_at is None else utc_text(terms.due_at),
        "paid_at": None if row.paid_at is None else utc_text(row.paid_at),
        "voided_at": None if row.voided_at is None else utc_text(row.voided_at),
        "gateway_id": row.gateway_id,
        "period_start": utc_text(row.period_start),
        "period_end": utc_text(row.period_end),
        "partial": None if terms is None else terms.partial,
        "currency": row.currency,
        "total": minor_units_text(draft.total_minor, draft.minor_unit_exponent),
        "total_minor": str(draft.total_minor),
        "issuer": None if terms is None else party_document(terms.issuer),
        "customer": None if terms is None else party_document(terms.customer),
        "terms": None if terms is None else terms_document(terms),
        "content_sha256": hashlib.sha256(content).hexdigest(),
        "document": json.loads(content),
    }
    return json.dumps(identity, sort_keys=True, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
