"""Billing plans, FX rates and invoices as stored (spec 05): the repository; it never computes
an invoice (``clearinghouse.billing`` does) and never reads the documents it stores.

**Plans and FX rates are append-only.** ``set_billing_plan`` adds a row effective from a time
(a second plan at the same time is refused: it would silently win);
the plan of a period is the newest row effective at or before the period's *start*, so a
change made in the middle of a month applies from the next period on, and a redraft of an old
period still finds the plan it was billed under. ``fx_rate_in_force`` is the same for FX rates.

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

from clearinghouse.ledger import limits
from clearinghouse.limits import ACTOR_LENGTH_MAX, BIGINT_MAX, REASON_LENGTH_MAX
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import InvariantViolation, LedgerConflict, NotFound
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import (
    AccountRow,
    BillingPlanRow,
    FxRateRow,
    GatewayRow,
    InvoiceRow,
    InvoiceSequenceRow,
    LedgerTransactionRow,
    PostingRow,
    table,
)
from clearinghouse.ledger.transactions import reading, utc_now, writing_connection
from clearinghouse.ledger.values import AccountKind, TransactionKind
from clearinghouse.domain.fields import check_text

MARKUP_BPS_MAX = 100_000
"""As billing.invoices.MARKUP_BPS_MAX (and the table's CHECK): over 1,000 % is a slip of units."""

DEFAULT_SERIES = "CH"
"""The issuer's invoice series: numbers read CH-2026-000042."""

_CURRENCY = re.compile(r"[A-Z]{3}")
_SERIES = re.compile(r"[A-Z][A-Z0-9]{0,%d}" % (limits.INVOICE_SERIES_LENGTH_MAX - 1))
_PLANS = table(BillingPlanRow)
_FX = table(FxRateRow)
_INVOICES = table(InvoiceRow)
_SEQUENCES = table(InvoiceSequenceRow)
_GATEWAYS = table(GatewayRow)


class PlanKind(StrEnum):
    """How a gateway is billed (billing.invoices' FreePlan, SubscriptionPlan, UsageBasedPlan)."""

    FREE = "free"
    SUBSCRIPTION = "subscription"
    USAGE_BASED = "usage_based"


class InvoiceStatus(StrEnum):
    """Where an invoice is in its lifecycle, in lifecycle order."""

    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"


@dataclass(frozen=True, slots=True)
class BillingPlan:
    """A stored plan. ``markup_bps`` is a subscription's overage markup or a usage-based plan's
    markup; ``fee`` and ``included_usage`` are a subscription's, ``fixed_fee`` a usage-based
    plan's; all money in ``currency``'s major units, exact; unused amounts are 0."""

    id: int
    gateway_id: int
    kind: PlanKind
    currency: str
    markup_bps: int
    fee: Fraction
    included_usage: Fraction
    fixed_fee: Fraction
    effective_at: datetime
    actor: str
    reason: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class FxRate:
    """A stored FX rate: units of ``currency`` per USD, from ``as_of`` on."""

    id: int
    currency: str
    per_usd: Fraction
    source: str
    as_of: datetime
    actor: str
    reason: str
    created_at: datetime


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


def set_billing_plan(
    db: Database,
    gateway_id: int,
    *,
    kind: PlanKind,
    currency: str,
    effective_at: datetime,
    actor: str,
    reason: str,
    markup_bps: int = 0,
    fee: Fraction = Fraction(0),
    included_usage: Fraction = Fraction(0),
    fixed_fee: Fraction = Fraction(0),
) -> BillingPlan:
    """Add a plan for ``gateway_id`` in force from ``effective_at`` (see the module docstring).

    Raises InvalidLedgerInput for an unknown kind or currency code, a markup outside
    0..MARKUP_BPS_MAX, an amount that is negative or not exact, an amount the kind does not
    use (a free plan's fee, a subscription's fixed fee…), a naive time or an empty actor or
    reason; NotFound for an unknown gateway; LedgerConflict when the gateway already has a plan
    effective at exactly ``effective_at`` (which one wins would be an accident of ids).
    """
    plan = BillingPlan(
        id=0, gateway_id=gateway_id, kind=PlanKind(kind), currency=currency, markup_bps=markup_bps,
        fee=fee, included_usage=included_usage, fixed_fee=fixed_fee, effective_at=effective_at,
        actor=actor, reason=reason, changed_at=utc_now(),
    )
    _check_plan(plan)
    values = {
        "gateway_id": gateway_id, "kind": plan.kind.value, "currency": currency, "markup_bps": markup_bps,
        **_rational("fee", fee), **_rational("included", included_usage), **_rational("fixed_fee", fixed_fee),
        "effective_at": effective_at, "actor": actor, "reason": reason, "changed_at": plan.changed_at,
    }
    with writing_connection(db) as connection:
        _check_gateway(connection, gateway_id, lock=True)  # two plans set at once see each other
        same = connection.execute(select(_PLANS.c.id, _PLANS.c.kind).where(
            _PLANS.c.gateway_id == gateway_id, _PLANS.c.effective_at == effective_at)).first()
        if same is not None:
            raise LedgerConflict(
                f"gateway {gateway_id} already has plan {same.id} ({same.kind}) effective at "
                f"{effective_at.isoformat()}; choose another effective time (see `clearinghouse plan list`)"
            )
        plan_id: int = connection.execute(insert(_PLANS).values(values).returning(_PLANS.c.id)).scalar_one()
    return _plan(values | {"id": plan_id})


def billing_plan_in_force(db: Database, gateway_id: int, at: datetime) -> BillingPlan | None:
    """The newest plan of ``gateway_id`` effective at or before ``at`` (the later row wins a
    tie), or None when none is."""
    _check_aware("at", at)
    statement = (
        select(_PLANS).where(_PLANS.c.gateway_id == gateway_id, _PLANS.c.effective_at <= at)
        .order_by(_PLANS.c.effective_at.desc(), _PLANS.c.id.desc()).limit(1)
    )
    with reading(db) as session:
        row = session.connection().execute(statement).first()
    return None if row is None else _plan(row._mapping)


def list_billing_plans(db: Database, gateway_id: int) -> list[BillingPlan]:
    """Every plan of ``gateway_id``, newest effective time first: its billing history."""
    statement = (select(_PLANS).where(_PLANS.c.gateway_id == gateway_id)
                 .order_by(_PLANS.c.effective_at.desc(), _PLANS.c.id.desc()))
    with reading(db) as session:
        return [_plan(row._mapping) for row in session.connection().execute(statement)]


def get_billing_plan(db: Database, plan_id: int) -> BillingPlan:
    """The plan ``plan_id``; NotFound when there is none."""
    with reading(db) as session:
        row = session.connection().execute(select(_PLANS).where(_PLANS.c.id == plan_id)).first()
    if row is None:
        raise NotFound(f"no billing plan with id {plan_id}")
    return _plan(row._mapping)


def add_fx_rate(
    db: Database, currency: str, per_usd: Fraction, *, source: str, as_of: datetime, actor: str, reason: str
) -> FxRate:
    """Store how many units of ``currency`` one USD buys from ``as_of`` on.

    Raises InvalidLedgerInput for USD or a code that is not three capital letters, a rate that
    is not a positive exact number, a naive time, or an empty source, actor or reason.
    """
    _check_currency(currency)
    if currency == "USD":
        raise InvalidLedgerInput("an FX rate converts USD to another currency, got USD")
    _check_amount("per_usd", per_usd)
    if per_usd == 0:
        raise InvalidLedgerInput(f"per_usd must be > 0, got {per_usd}")
    check_text("source", source, limits.FX_SOURCE_LENGTH_MAX)
    _check_aware("as_of", as_of)
    _check_audit(actor, reason)
    values = {"currency": currency, **_rational("per_usd", Fraction(per_usd)), "source": source, "as_of": as_of,
              "actor": actor, "reason": reason, "created_at": utc_now()}
    with writing_connection(db) as connection:
        fx_id: int = connection.execute(insert(_FX).values(values).returning(_FX.c.id)).scalar_one()
    return _fx(values | {"id": fx_id})


def fx_rate_in_force(db: Database, currency: str, at: datetime) -> FxRate | None:
    """The newest rate to ``currency`` as of ``at`` or before (the later row wins a tie), or None."""
    _check_aware("at", at)
    statement = (
        select(_FX).where(_FX.c.currency == currency, _FX.c.as_of <= at)
        .order_by(_FX.c.as_of.desc(), _FX.c.id.desc()).limit(1)
    )
    with reading(db) as session:
        row = session.connection().execute(statement).first()
    return None if row is None else _fx(row._mapping)


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
    _check_currency(currency)
    _check_document(content, total_minor)
    _check_audit(actor, reason)
    values = {
        "gateway_id": gateway_id, "period_start": period_start, "period_end": period_end, "currency": currency,
        "status": InvoiceStatus.DRAFT.value, "content": content, "content_hash": hashlib.sha256(content).digest(),
        "total_minor": total_minor, "created_at": utc_now(), "actor": actor, "reason": reason,
    }
    with writing_connection(db) as connection:
        _check_gateway(connection, gateway_id)
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
    _check_audit(actor, reason)
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
        _check_aware("issued_at", issued_at)
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
    _check_aware("paid_at", paid_at)
    _check_audit(actor, reason)
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
    _check_audit(actor, reason)
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


def _check_gateway(connection: Connection, gateway_id: int, *, lock: bool = False) -> None:
    statement = select(_GATEWAYS.c.id).where(_GATEWAYS.c.id == gateway_id)
    if connection.execute(statement.with_for_update() if lock else statement).first() is None:
        raise NotFound(f"no gateway with id {gateway_id}")


def _check_plan(plan: BillingPlan) -> None:
    _check_currency(plan.currency)
    if isinstance(plan.markup_bps, bool) or not isinstance(plan.markup_bps, int) or not (
        0 <= plan.markup_bps <= MARKUP_BPS_MAX
    ):
        raise InvalidLedgerInput(f"markup_bps must be an int in 0..{MARKUP_BPS_MAX}, got {plan.markup_bps!r}")
    unused = {
        PlanKind.FREE: ("markup_bps", "fee", "included_usage", "fixed_fee"),
        PlanKind.SUBSCRIPTION: ("fixed_fee",),
        PlanKind.USAGE_BASED: ("fee", "included_usage"),
    }[plan.kind]
    for name in ("fee", "included_usage", "fixed_fee"):
        _check_amount(name, getattr(plan, name))
    for name in unused:
        if getattr(plan, name) != 0:
            raise InvalidLedgerInput(f"a {plan.kind} plan has no {name}, got {getattr(plan, name)}")
    _check_aware("effective_at", plan.effective_at)
    _check_audit(plan.actor, plan.reason)


def _check_amount(name: str, value: Fraction) -> None:
    # Money is exact: a float here would already have rounded an amount somewhere upstream.
    if isinstance(value, bool) or not isinstance(value, int | Fraction) or value < 0:
        raise InvalidLedgerInput(f"{name} must be an exact int or Fraction >= 0, got {value!r}")
    value = Fraction(value)
    if max(abs(value.numerator), value.denominator) >= 10**limits.RATIONAL_DIGITS_MAX:
        raise InvalidLedgerInput(f"{name} has over {limits.RATIONAL_DIGITS_MAX} digits")


def _check_currency(currency: str) -> None:
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise InvalidLedgerInput(f"currency must be an ISO 4217 code like EUR, got {currency!r:.20}")


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


def _check_audit(actor: str, reason: str) -> None:
    check_text("actor", actor, ACTOR_LENGTH_MAX)
    check_text("reason", reason, REASON_LENGTH_MAX)


def _check_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidLedgerInput(f"{name} must be a timezone-aware datetime, got {value!r}")


def _check_period(start: datetime, end: datetime) -> None:
    _check_aware("start", start)
    _check_aware("end", end)
    if not start < end:
        raise InvalidLedgerInput(f"empty period: start {start.isoformat()} is not before end {end.isoformat()}")


def _rational(name: str, value: Fraction) -> dict[str, int]:
    value = Fraction(value)
    return {f"{name}_num": value.numerator, f"{name}_den": value.denominator}


def _fraction(row: Any, name: str) -> Fraction:
    return Fraction(int(row[f"{name}_num"]), int(row[f"{name}_den"]))


def _plan(row: Any) -> BillingPlan:
    return BillingPlan(
        id=row["id"], gateway_id=row["gateway_id"], kind=PlanKind(row["kind"]), currency=row["currency"],
        markup_bps=row["markup_bps"], fee=_fraction(row, "fee"), included_usage=_fraction(row, "included"),
        fixed_fee=_fraction(row, "fixed_fee"), effective_at=row["effective_at"], actor=row["actor"],
        reason=row["reason"], changed_at=row["changed_at"],
    )


def _fx(row: Any) -> FxRate:
    return FxRate(
        id=row["id"], currency=row["currency"], per_usd=_fraction(row, "per_usd"), source=row["source"],
        as_of=row["as_of"], actor=row["actor"], reason=row["reason"], created_at=row["created_at"],
    )


def invoice_of_row(row: Any) -> Invoice:
    """The stored invoice of an ``invoices`` row (any mapping-like result row with its columns)."""
    return Invoice(
        id=row.id, gateway_id=row.gateway_id, period_start=row.period_start, period_end=row.period_end,
        currency=row.currency, status=InvoiceStatus(row.status), number=row.number,
        content_hash=bytes(row.content_hash), total_minor=row.total_minor, credit_note_of=row.credit_note_of,
        created_at=row.created_at, issued_at=row.issued_at, paid_at=row.paid_at, voided_at=row.voided_at,
        actor=row.actor, reason=row.reason,
    )
