"""Invoices as stored (spec 05): the repository; it never computes an invoice
(``clearinghouse.billing`` does) and never reads the documents it stores. The plans and FX
rates invoices are priced under are in ``billing_plans``.

**Invoice lifecycle**: draft → issued → paid, or issued → void. A draft is recomputable:
``save_draft`` replaces the gateway's draft for the same period (the row keeps its id). Issuing
assigns the next gapless number of its series and year (``CH-2026-000042``, from
invoice_sequences, under a row lock in the issuing transaction) and freezes the document. The
stored ``content`` is the canonical JSON the billing layer made and ``content_hash`` its
SHA-256; a trigger (migration 0007) refuses changing either, the number, period, gateway,
currency or total of a non-draft, and deleting it, whatever client tries. A void never edits
the document: ``void_invoice`` adds a credit note, itself issued with its own number, whose
content the caller derives from the original (``credit_note_of`` links them).

``actor`` and ``reason`` on an invoice are those of its latest lifecycle change; a credit note
keeps the void's. Errors: InvalidLedgerInput, NotFound, LedgerConflict (a refused transition).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from clearinghouse.domain.limits import BIGINT_MAX
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import limits
from clearinghouse.ledger.billing_rows import InvoiceRow, InvoiceSequenceRow
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import InvariantViolation, LedgerConflict, NotFound
from clearinghouse.ledger.models import (
    AccountRow,
    LedgerTransactionRow,
    PostingRow,
    table,
)
from clearinghouse.ledger.repository_checks import (
    check_audit,
    check_aware,
    check_currency,
    check_gateway,
)
from clearinghouse.ledger.transactions import reading, utc_now, writing_connection
from clearinghouse.ledger.values import AccountKind, TransactionKind

DEFAULT_SERIES = "CH"
"""The issuer's invoice series: numbers read CH-2026-000042."""

_SERIES = re.compile(r"[A-Z][A-Z0-9]{0,%d}" % (limits.INVOICE_SERIES_LENGTH_MAX - 1))
_INVOICES = table(InvoiceRow)
_SEQUENCES = table(InvoiceSequenceRow)


class InvoiceStatus(StrEnum):
    """Where an invoice is in its lifecycle, in lifecycle order."""

    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


@dataclass(frozen=True, slots=True)
class Invoice:
    """A stored invoice or credit note, without its document (``invoice_document`` has it)."""

    id: int
    gateway_id: int
    period_start: datetime
    period_end: datetime
    currency: str
    status: InvoiceStatus
    number: str | None
    content_hash: bytes
    total_minor: int
    credit_note_of: int | None
    created_at: datetime
    issued_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    actor: str
    reason: str


@dataclass(frozen=True, slots=True)
class InvoiceDocument:
    """An invoice and its stored canonical JSON."""

    invoice: Invoice
    content: bytes


@dataclass(frozen=True, slots=True)
class GatewayAdjustment:
    """An adjustment posted to a gateway's receivable: positive charges it, negative credits it."""

    transaction_id: int
    amount_wei: Fraction
    actor: str
    reason: str
    created_at: datetime


def gateway_adjustments(db: Database, gateway_id: int, start: datetime, end: datetime) -> list[GatewayAdjustment]:
    """Adjustments posted to ``gateway_id``'s receivable in [start, end), oldest first."""
    _check_period(start, end)
    transactions, postings, accounts = table(LedgerTransactionRow), table(PostingRow), table(AccountRow)
    statement = (
        select(transactions.c.id, transactions.c.actor, transactions.c.reason, transactions.c.created_at,
               postings.c.amount_num, postings.c.amount_den)
        .join(postings, postings.c.transaction_id == transactions.c.id)
        .join(accounts, accounts.c.id == postings.c.account_id)
        .where(transactions.c.kind == TransactionKind.ADJUSTMENT.value,
               transactions.c.created_at >= start, transactions.c.created_at < end,
               accounts.c.gateway_id == gateway_id, accounts.c.kind == AccountKind.RECEIVABLE.value)
        .order_by(transactions.c.id, postings.c.id)
    )
    with reading(db) as session:
        rows = session.connection().execute(statement).all()
    return [
        GatewayAdjustment(row.id, Fraction(int(row.amount_num), int(row.amount_den)), row.actor, row.reason,
                          row.created_at)
        for row in rows
    ]


def save_draft(
    db: Database,
    *,
    gateway_id: int,
    period_start: datetime,
    period_end: datetime,
    currency: str,
    content: bytes,
    total_minor: int,
    actor: str,
    reason: str,
) -> Invoice:
    """Store the draft of ``gateway_id`` for [period_start, period_end), replacing the draft of
    that period if there is one (same id). ``content`` is the canonical JSON; its SHA-256 is
    stored beside it.

    Raises LedgerConflict when the period already has an issued or paid invoice (void it
    first); InvalidLedgerInput for bad values (see ``_check_document``); NotFound for an
    unknown gateway.
    """
    _check_period(period_start, period_end)
    check_currency(currency)
    _check_document(content, total_minor)
    check_audit(actor, reason)
    values = {
        "gateway_id": gateway_id, "period_start": period_start, "period_end": period_end, "currency": currency,
        "status": InvoiceStatus.DRAFT.value, "content": content, "content_hash": hashlib.sha256(content).digest(),
        "total_minor": total_minor, "created_at": utc_now(), "actor": actor, "reason": reason,
    }
    with writing_connection(db) as connection:
        check_gateway(connection, gateway_id)
        same_period = (_INVOICES.c.gateway_id == gateway_id, _INVOICES.c.period_start == period_start,
                       _INVOICES.c.period_end == period_end, _INVOICES.c.credit_note_of.is_(None))
        rows = connection.execute(select(_INVOICES.c.id, _INVOICES.c.status, _INVOICES.c.number)
                                  .where(*same_period).with_for_update()).all()
        for row in rows:
            if row.status in (InvoiceStatus.ISSUED, InvoiceStatus.PAID):
                raise LedgerConflict(
                    f"gateway {gateway_id} already has invoice {row.number} ({row.status}) for this period; "
                    "void it before drafting the period again"
                )
        draft = next((row.id for row in rows if row.status == InvoiceStatus.DRAFT), None)
        if draft is None:
            draft = connection.execute(insert(_INVOICES).values(values).returning(_INVOICES.c.id)).scalar_one()
        else:
            connection.execute(update(_INVOICES).where(_INVOICES.c.id == draft).values(values))
        return invoice_of_row(_locked(connection, draft))


Finalize = Callable[[bytes, str, datetime], tuple[bytes, int]]
"""(the draft's document, the number, the issue time) -> (the issued document, its total in
minor units): how the billing layer writes the number, dates and parties into the document."""


def issue_invoice(
    db: Database, invoice_id: int, *, actor: str, reason: str, series: str = DEFAULT_SERIES,
    finalize: Finalize | None = None, issued_at: datetime | None = None,
) -> Invoice:
    """Issue the draft ``invoice_id``: give it the next number of ``series`` and the current
    year, and freeze its document; one transaction, so a failure leaves no gap. ``issued_at``
    is now unless given (the billing scheduler passes its own clock's time). ``finalize``,
    when given, makes the issued document from the draft's, with the number and issue time
    this transaction assigns; it is stored with its hash in the same update.

    Raises NotFound for an unknown invoice; LedgerConflict when it is not a draft (an invoice
    is issued once); InvalidLedgerInput for a bad series or an empty actor or reason;
    InvariantViolation when the stored hash is not the stored content's.
    """
    _check_series(series)
    check_audit(actor, reason)
    with writing_connection(db) as connection:
        row = _locked(connection, invoice_id)
        if row.status != InvoiceStatus.DRAFT:
            raise LedgerConflict(
                f"invoice {invoice_id} is already {row.status} as {row.number}; an invoice is issued only once"
            )
        if hashlib.sha256(row.content).digest() != row.content_hash:
            raise InvariantViolation(f"invoice {invoice_id}: stored content does not match its stored hash")
        if issued_at is None:
            issued_at = utc_now()
        check_aware("issued_at", issued_at)
        number = _next_number(connection, series, issued_at.year)
        document: dict[str, object] = {}
        if finalize is not None:
            content, total_minor = finalize(bytes(row.content), number, issued_at)
            _check_document(content, total_minor)
            document = {"content": content, "content_hash": hashlib.sha256(content).digest(),
                        "total_minor": total_minor}
        connection.execute(update(_INVOICES).where(_INVOICES.c.id == invoice_id).values(
            status=InvoiceStatus.ISSUED.value, number=number, issued_at=issued_at, actor=actor, reason=reason,
            **document))
        return invoice_of_row(_locked(connection, invoice_id))


def mark_paid(db: Database, invoice_id: int, *, paid_at: datetime, actor: str, reason: str) -> Invoice:
    """Record that the issued invoice ``invoice_id`` was paid at ``paid_at``.

    Raises NotFound for an unknown invoice; LedgerConflict unless it is issued (not a draft,
    already paid or void); InvalidLedgerInput for a naive time or an empty actor or reason.
    """
    check_aware("paid_at", paid_at)
    check_audit(actor, reason)
    with writing_connection(db) as connection:
        row = _locked(connection, invoice_id)
        if row.status != InvoiceStatus.ISSUED:
            raise LedgerConflict(f"invoice {invoice_id} is {row.status}; only an issued invoice can be paid")
        connection.execute(update(_INVOICES).where(_INVOICES.c.id == invoice_id).values(
            status=InvoiceStatus.PAID.value, paid_at=paid_at, actor=actor, reason=reason))
        return invoice_of_row(_locked(connection, invoice_id))


def void_invoice(
    db: Database,
    invoice_id: int,
    *,
    original_hash: bytes,
    credit_note_content: bytes | Callable[[str, datetime], bytes],
    credit_note_total_minor: int,
    actor: str,
    reason: str,
    series: str = DEFAULT_SERIES,
) -> tuple[Invoice, Invoice]:
    """Void the issued invoice ``invoice_id`` and issue its credit note in one transaction;
    returns (the voided invoice, the credit note). ``credit_note_content`` is the credit note's
    canonical JSON, derived by the caller from the invoice whose hash is ``original_hash``, or
    a function of the credit note's number and issue time that makes it.

    Raises NotFound for an unknown invoice; LedgerConflict unless it is an issued invoice (not
    a draft, paid, void or a credit note itself) whose stored hash is ``original_hash``;
    InvalidLedgerInput for bad values.
    """
    _check_series(series)
    if isinstance(credit_note_content, bytes):
        _check_document(credit_note_content, credit_note_total_minor)
    check_audit(actor, reason)
    with writing_connection(db) as connection:
        row = _locked(connection, invoice_id)
        if row.status != InvoiceStatus.ISSUED or row.credit_note_of is not None:
            what = "a credit note" if row.credit_note_of is not None else str(row.status)
            raise LedgerConflict(f"invoice {invoice_id} is {what}; only an issued invoice can be voided")
        if row.content_hash != original_hash:
            raise LedgerConflict(f"invoice {invoice_id}: the credit note was derived from another document")
        now = utc_now()
        number = _next_number(connection, series, now.year)
        content = credit_note_content if isinstance(credit_note_content, bytes) else credit_note_content(number, now)
        _check_document(content, credit_note_total_minor)
        credit_note = {
            "gateway_id": row.gateway_id, "period_start": row.period_start, "period_end": row.period_end,
            "currency": row.currency, "status": InvoiceStatus.ISSUED.value,
            "number": number, "content": content,
            "content_hash": hashlib.sha256(content).digest(), "total_minor": credit_note_total_minor,
            "credit_note_of": invoice_id, "created_at": now, "issued_at": now, "actor": actor, "reason": reason,
        }
        credit_id: int = connection.execute(insert(_INVOICES).values(credit_note).returning(_INVOICES.c.id)).scalar_one()
        connection.execute(update(_INVOICES).where(_INVOICES.c.id == invoice_id).values(
            status=InvoiceStatus.VOID.value, voided_at=now, actor=actor, reason=reason))
        return invoice_of_row(_locked(connection, invoice_id)), invoice_of_row(_locked(connection, credit_id))


def get_invoice(db: Database, invoice_id: int) -> Invoice:
    """The invoice ``invoice_id`` without its document; NotFound when there is none."""
    return invoice_document(db, invoice_id).invoice


def invoice_document(db: Database, invoice_id: int) -> InvoiceDocument:
    """The invoice ``invoice_id`` and its stored canonical JSON; NotFound when there is none."""
    with reading(db) as session:
        row = session.connection().execute(select(_INVOICES).where(_INVOICES.c.id == invoice_id)).first()
    if row is None:
        raise NotFound(f"no invoice with id {invoice_id}")
    return InvoiceDocument(invoice_of_row(row), bytes(row.content))


def list_invoices(
    db: Database, *, gateway_id: int | None = None, limit: int = limits.INVOICES_LISTED_MAX
) -> list[Invoice]:
    """Invoices and credit notes, newest period first (then newest row), of one gateway or all."""
    if not 1 <= limit <= limits.INVOICES_LISTED_MAX:
        raise InvalidLedgerInput(f"limit must be in 1..{limits.INVOICES_LISTED_MAX}, got {limit}")
    columns = [column for column in _INVOICES.c if column.name != "content"]
    statement = select(*columns).order_by(_INVOICES.c.period_start.desc(), _INVOICES.c.id.desc()).limit(limit)
    if gateway_id is not None:
        statement = statement.where(_INVOICES.c.gateway_id == gateway_id)
    with reading(db) as session:
        return [invoice_of_row(row) for row in session.connection().execute(statement)]


def _next_number(connection: Connection, series: str, year: int) -> str:
    """Take the next number of ``series``-``year`` under a row lock: the sequence row is
    created if missing (without a race: ON CONFLICT DO NOTHING), locked, then advanced."""
    prefix = f"{series}-{year:04d}"
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(dialect_insert(_SEQUENCES).values(issuer_prefix=prefix, next_number=1)
                       .on_conflict_do_nothing(index_elements=["issuer_prefix"]))
    where = _SEQUENCES.c.issuer_prefix == prefix
    number: int = connection.execute(select(_SEQUENCES.c.next_number).where(where).with_for_update()).scalar_one()
    connection.execute(update(_SEQUENCES).where(where).values(next_number=number + 1))
    return f"{prefix}-{number:06d}"


def _locked(connection: Connection, invoice_id: int) -> Any:
    row = connection.execute(select(_INVOICES).where(_INVOICES.c.id == invoice_id).with_for_update()).first()
    if row is None:
        raise NotFound(f"no invoice with id {invoice_id}")
    return row


def _check_series(series: str) -> None:
    if not isinstance(series, str) or not _SERIES.fullmatch(series):
        raise InvalidLedgerInput(
            f"series must be 1..{limits.INVOICE_SERIES_LENGTH_MAX} capital letters or digits, got {series!r:.40}"
        )


def _check_document(content: bytes, total_minor: int) -> None:
    if not isinstance(content, bytes) or not 0 < len(content) <= limits.INVOICE_CONTENT_BYTES_MAX:
        raise InvalidLedgerInput(f"content must be 1..{limits.INVOICE_CONTENT_BYTES_MAX} bytes")
    if isinstance(total_minor, bool) or not isinstance(total_minor, int) or abs(total_minor) > BIGINT_MAX:
        raise InvalidLedgerInput(f"total_minor must be an int within ±{BIGINT_MAX}, got {total_minor!r}")


def _check_period(start: datetime, end: datetime) -> None:
    check_aware("start", start)
    check_aware("end", end)
    if not start < end:
        raise InvalidLedgerInput(f"empty period: start {start.isoformat()} is not before end {end.isoformat()}")


def invoice_of_row(row: Any) -> Invoice:
    """The stored invoice of an ``invoices`` row (any mapping-like result row with its columns)."""
    return Invoice(
        id=row.id, gateway_id=row.gateway_id, period_start=row.period_start, period_end=row.period_end,
        currency=row.currency, status=InvoiceStatus(row.status), number=row.number,
        content_hash=bytes(row.content_hash), total_minor=row.total_minor, credit_note_of=row.credit_note_of,
        created_at=row.created_at, issued_at=row.issued_at, paid_at=row.paid_at, voided_at=row.voided_at,
        actor=row.actor, reason=row.reason,
    )
