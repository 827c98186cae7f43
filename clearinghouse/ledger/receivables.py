"""What gateways owe on issued invoices: the unpaid ones with their documents, for the overdue
book and the receivables metrics (billing/overdue.py reads the due dates out of the documents).

An unpaid invoice is issued, not paid, not void, and not a credit note. Listing is bounded by
``limits.INVOICES_LISTED_MAX``: a clearinghouse with more unpaid invoices than that has a
collection problem no gauge will show better.
"""

from __future__ import annotations

from sqlalchemy import select

from clearinghouse.ledger import limits
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.invoices import InvoiceDocument, InvoiceStatus, invoice_of_row
from clearinghouse.ledger.models import table
from clearinghouse.ledger.billing_rows import InvoiceRow
from clearinghouse.ledger.transactions import reading

_INVOICES = table(InvoiceRow)


def unpaid_invoice_documents(db: Database, *, limit: int = limits.INVOICES_LISTED_MAX) -> list[InvoiceDocument]:
    """Issued, unpaid invoices (not credit notes) with their documents, oldest issue first."""
    statement = (
        select(_INVOICES)
        .where(_INVOICES.c.status == InvoiceStatus.ISSUED.value, _INVOICES.c.credit_note_of.is_(None))
        .order_by(_INVOICES.c.issued_at, _INVOICES.c.id).limit(limit)
    )
    with reading(db) as session:
        rows = session.connection().execute(statement).all()
    return [InvoiceDocument(invoice_of_row(row), bytes(row.content)) for row in rows]
