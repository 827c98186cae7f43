"""Invoicing a gateway's period from the ledger (spec 05): the service between the ledger's
stored usage, plans, rates and invoices and the pure ``draft_invoice``.

``draft_for_period`` reads what the ledger knows about [start, end) (whole UTC hours; a
calendar month by default, see ``month_period``) and stores the computed draft:

- usage: the hourly usage rows, one ``UsageBucket`` each, the orchestrator being the ticket
  recipient; every rate snapshot they use, as ``InvoiceRate``. Usage without a rate is refused
  for a paid plan, with the number of calls, until ``clearinghouse rate price-unpriced``;
- the plan in force at the period's start (a change made mid-period applies from the next
  period on) and, for a currency other than USD, the FX rate in force at the period's end;
- adjustments posted to the gateway's receivable in [start, end), converted from wei at the
  ETH/USD rate in force when each was posted (and the FX rate above).

Stored documents are the canonical JSON of ``exports.invoice_json``; ``draft_from_json``
reads one back and proves the round trip byte for byte, so exports of an issued invoice come
from the issued document, never from a recomputation. ``void_with_credit_note`` voids an issued
invoice with a credit note: the same document with every amount negated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Final

from clearinghouse.billing.exports import (
    invoice_csv,
    invoice_json,
    openmeter_events,
    stripe_meter_events,
)
from clearinghouse.billing.invoices import (
    WEI_PER_ETH,
    Adjustment,
    FreePlan,
    FxRate,
    InvoiceDraft,
    InvoiceError,
    InvoiceLine,
    InvoiceRate,
    LineGrouping,
    LineKind,
    Plan,
    SubscriptionPlan,
    UsageBasedPlan,
    UsageBucket,
    draft_invoice,
)
from clearinghouse.billing.invoice_terms import (
    DEFAULT_ISSUER_NAME,
    InvoiceTerms,
    InvoicingSettings,
    Party,
)
from clearinghouse.billing.issuing import credit_note_terms, current_terms
from clearinghouse.ledger import invoices as stored
from clearinghouse.ledger import billing_plans as plans
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import LedgerConflict
from clearinghouse.ledger.hourly_usage import UsageRow, hourly_usage
from clearinghouse.ledger.rates import RateSnapshot, rate_in_force, rate_snapshot
from clearinghouse.billing.limits import ADJUSTMENT_TEXT_CHARS_MAX


DEFAULT_STRIPE_EVENT_NAME: Final = "livepeer_usage"
"""The Stripe meter's event name when none is given: one meter for every gateway's usage."""

EXPORT_FORMATS: Final = ("csv", "json", "pdf", "stripe", "openmeter")


def export_invoice(
    db: Database,
    invoice_id: int,
    export_format: str,
    *,
    issuer_name: str | None = None,
    stripe_customer_id: str | None = None,
    event_name: str = DEFAULT_STRIPE_EVENT_NAME,
    subject: str | None = None,
) -> tuple[stored.Invoice, bytes]:
    """The stored invoice in ``export_format`` (one of EXPORT_FORMATS), made from its stored
    document. A credit note prints as one, naming the invoice it voids. The JSON export is the
    document with its identity beside it (``issuing.export_document``). The PDF names the parties
    frozen into the document; ``issuer_name`` only names the issuer of a document made before
    parties were (format /1).

    Raises NotFound, LedgerConflict for a PDF of a draft (a printed invoice has a number), and
    InvoiceError for an unknown format or Stripe events without a customer id.
    """
    from clearinghouse.billing.issuing import export_document
    from clearinghouse.billing.pdf import invoice_pdf
    from clearinghouse.ledger.gateways import get_gateway

    if export_format not in EXPORT_FORMATS:
        raise InvoiceError(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {export_format!r}")
    document = stored.invoice_document(db, invoice_id)
    row, draft = document.invoice, draft_from_json(document.content)
    customer = get_gateway(db, row.gateway_id).name
    if export_format == "json":
        return row, export_document(row, draft, document.content)
    if export_format == "csv":
        return row, invoice_csv(draft, row.number)
    if export_format == "stripe":
        if stripe_customer_id is None:
            raise InvoiceError("Stripe meter events need the gateway's Stripe customer id")
        return row, stripe_meter_events(draft, stripe_customer_id, event_name)
    if export_format == "openmeter":
        return row, openmeter_events(draft, subject or customer)
    if row.number is None or row.issued_at is None:
        raise LedgerConflict(f"invoice {invoice_id} is a draft; issue it before printing it")
    voided = None if row.credit_note_of is None else stored.get_invoice(db, row.credit_note_of).number
    issuer = Party(issuer_name or DEFAULT_ISSUER_NAME) if draft.terms is None else draft.terms.issuer
    billed = Party(customer) if draft.terms is None else draft.terms.customer
    return row, invoice_pdf(draft, issuer, billed, row.number, row.issued_at, credit_note_for=voided)


def month_period(month: str) -> tuple[datetime, datetime]:
    """The calendar month "YYYY-MM" as [first instant, first instant of the next month) in UTC.

    Raises InvoiceError for text that is not a month.
    """
    try:
        start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise InvoiceError(f"month must look like 2026-11, got {month!r:.20}") from None
    if (start.year, start.month) == (9999, 12):  # its end, 10000-01-01, is no datetime
        raise InvoiceError(f"month must end by 9999-12-31, got {month!r:.20}")
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def draft_for_period(
    db: Database,
    gateway_id: int,
    start: datetime,
    end: datetime,
    grouping: LineGrouping = LineGrouping.PIPELINE_MODEL,
    *,
    actor: str,
    settings: InvoicingSettings = InvoicingSettings(),
    now: datetime | None = None,
) -> tuple[stored.Invoice, InvoiceDraft]:
    """Compute the draft of ``gateway_id`` for [start, end) and store it, replacing the
    period's previous draft (see the module docstring); returns the stored row and the draft.
    The draft carries its terms (billing.issuing.current_terms): the issuer of ``settings``,
    the gateway's billing profile and tax, and ``partial`` when ``end`` is after ``now``.

    Raises InvoiceError when the gateway has no plan in force, the period has unpriced usage
    under a paid plan, an FX or ETH/USD rate it needs is missing, or ``draft_invoice`` refuses
    the inputs; the ledger's errors for an unknown gateway, a period that is not whole hours,
    or an invoice already issued for the period (LedgerConflict).
    """
    plan_row = plans.billing_plan_in_force(db, gateway_id, start)
    if plan_row is None:
        raise InvoiceError(
            f"gateway {gateway_id} has no billing plan in force at {start.isoformat()}; "
            "set one with `clearinghouse plan set`"
        )
    plan, currency = _plan(plan_row), plan_row.currency
    fx = _fx(db, currency, end)
    fiat_per_usd = Fraction(1) if fx is None else fx.per_usd
    rows = hourly_usage(db, gateway_id, start, end)
    if not isinstance(plan, FreePlan):
        _refuse_unpriced(rows, gateway_id, start, end)
    buckets = [_bucket(row) for row in rows]
    partial = end > (now or datetime.now(UTC))
    terms = current_terms(db, gateway_id, settings, partial=partial)
    snapshot_ids = sorted({b.rate_snapshot_id for b in buckets if b.rate_snapshot_id is not None})
    draft = draft_invoice(
        gateway_id=gateway_id, period_start=start, period_end=end, currency=currency, plan=plan,
        buckets=buckets, rates=[_invoice_rate(rate_snapshot(db, i)) for i in snapshot_ids], fx=fx,
        grouping=grouping, adjustments=_adjustments(db, gateway_id, start, end, currency, fiat_per_usd),
        terms=terms,
    )
    invoice = stored.save_draft(
        db, gateway_id=gateway_id, period_start=draft.period_start, period_end=draft.period_end,
        currency=currency, content=invoice_json(draft), total_minor=draft.total_minor, actor=actor,
        reason=f"draft, lines grouped by {draft.grouping}" + (" (period still open: partial)" if partial else ""),
    )
    return invoice, draft


def stored_draft(db: Database, invoice_id: int) -> tuple[stored.Invoice, InvoiceDraft]:
    """The stored invoice ``invoice_id`` and its document read back (``draft_from_json``).

    Raises NotFound for an unknown invoice, InvoiceError for a document this code cannot read.
    """
    document = stored.invoice_document(db, invoice_id)
    return document.invoice, draft_from_json(document.content)


def void_with_credit_note(
    db: Database, invoice_id: int, *, actor: str, reason: str
) -> tuple[stored.Invoice, stored.Invoice]:
    """Void the issued invoice ``invoice_id`` and issue its credit note (``credit_note``) in one
    transaction; returns (the voided invoice, the credit note).

    Raises the ledger's NotFound, or LedgerConflict unless the invoice is issued and not a
    credit note; InvoiceError for a stored document this code cannot read.
    """
    invoice, draft = stored_draft(db, invoice_id)
    credit = credit_note(draft)

    def numbered(number: str, issued_at: datetime) -> bytes:
        return invoice_json(replace(credit, terms=credit_note_terms(credit.terms, number, issued_at)))

    return stored.void_invoice(
        db, invoice_id, original_hash=invoice.content_hash, credit_note_content=numbered,
        credit_note_total_minor=credit.total_minor, actor=actor, reason=reason,
    )


def credit_note(draft: InvoiceDraft) -> InvoiceDraft:
    """The credit note of ``draft``: the same lines, quantities and provenance with every amount
    (exact and shown) and the total negated. Half-to-even rounding is symmetric, so the
    negated amounts are still the exact ones rounded once."""
    lines = tuple(replace(line, amount=-line.amount, amount_minor=-line.amount_minor) for line in draft.lines)
    return replace(draft, lines=lines, total=-draft.total, total_minor=-draft.total_minor)


def draft_from_json(content: bytes) -> InvoiceDraft:
    """The draft whose canonical JSON (``exports.invoice_json``) is ``content``.

    Raises InvoiceError unless ``content`` is such a document and serializes back to exactly
    the same bytes (so nothing was lost or reinterpreted on the way).
    """
    try:
        document = json.loads(content)
        draft = InvoiceDraft(
            gateway_id=document["gateway_id"],
            period_start=_time(document["period_start"]),
            period_end=_time(document["period_end"]),
            currency=document["currency"],
            minor_unit_exponent=document["minor_unit_exponent"],
            grouping=LineGrouping(document["grouping"]),
            plan=_plan_from(document["plan"]),
            lines=tuple(_line(line) for line in document["lines"]),
            total=Fraction(document["total"]),
            total_minor=int(document["total_minor"]),
            rates=tuple(_rate(rate) for rate in document["rates"]),
            fx=None if document["fx"] is None else _fx_from(document["fx"]),
            terms=_terms_from(document["terms"]) if "terms" in document else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise InvoiceError(f"stored invoice document cannot be read: {exc!r:.200}") from exc
    if invoice_json(draft) != content:
        raise InvoiceError("stored invoice document does not serialize back to the same bytes")
    return draft


def _plan(row: plans.BillingPlan) -> Plan:
    if row.kind is plans.PlanKind.FREE:
        return FreePlan()
    if row.kind is plans.PlanKind.SUBSCRIPTION:
        return SubscriptionPlan(row.currency, row.fee, row.included_usage, row.markup_bps)
    return UsageBasedPlan(row.currency, row.markup_bps, row.fixed_fee)


def _fx(db: Database, currency: str, end: datetime) -> FxRate | None:
    if currency == "USD":
        return None
    rate = plans.fx_rate_in_force(db, currency, end)
    if rate is None:
        raise InvoiceError(
            f"no FX rate USD→{currency} as of {end.isoformat()}; add one with `clearinghouse fx add {currency} ...`"
        )
    return FxRate(currency, rate.per_usd, rate.source, rate.as_of)


def _refuse_unpriced(rows: Sequence[UsageRow], gateway_id: int, start: datetime, end: datetime) -> None:
    calls = sum(row.usage.calls for row in rows if row.bucket.rate_snapshot_id is None)
    if calls:
        raise InvoiceError(
            f"gateway {gateway_id} has {calls} unpriced signing calls in {start.isoformat()}..{end.isoformat()} "
            "(no ETH/USD rate when signed); price them with `clearinghouse rate price-unpriced` first"
        )


def _bucket(row: UsageRow) -> UsageBucket:
    bucket, usage = row.bucket, row.usage
    return UsageBucket(
        pipeline=bucket.pipeline or None, model_id=bucket.model_id or None, app=bucket.app or None,
        orchestrator=bucket.recipient, rate_snapshot_id=bucket.rate_snapshot_id, calls=usage.calls,
        tickets=usage.tickets, units=usage.units, ev_wei=usage.ev_wei, fee_wei=usage.fee_wei,
        end_user=bucket.usage_subject or None,
    )


def _invoice_rate(snapshot: RateSnapshot) -> InvoiceRate:
    return InvoiceRate(snapshot.id, snapshot.usd_per_eth, snapshot.source, snapshot.valid_at, snapshot.round_id)


def _adjustments(
    db: Database, gateway_id: int, start: datetime, end: datetime, currency: str, fiat_per_usd: Fraction
) -> list[Adjustment]:
    adjustments = []
    for posted in stored.gateway_adjustments(db, gateway_id, start, end):
        snapshot = rate_in_force(db, posted.created_at)
        if snapshot is None:
            raise InvoiceError(
                f"adjustment {posted.transaction_id} of {posted.created_at.isoformat()} has no ETH/USD rate "
                "in force; add one with `clearinghouse rate add`"
            )
        amount = posted.amount_wei * snapshot.usd_per_eth / WEI_PER_ETH * fiat_per_usd
        reference = f"ledger transaction {posted.transaction_id}, rate snapshot {snapshot.id}"
        adjustments.append(Adjustment(posted.reason[:ADJUSTMENT_TEXT_CHARS_MAX], amount, currency, reference))
    return adjustments


def _time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no offset")
    return moment


def _plan_from(document: Mapping[str, Any]) -> Plan:
    kind = document["kind"]
    if kind == "free":
        return FreePlan()
    if kind == "subscription":
        return SubscriptionPlan(document["currency"], Fraction(document["fee"]),
                                Fraction(document["included_usage"]), document["overage_markup_bps"])
    if kind == "usage_based":
        return UsageBasedPlan(document["currency"], document["markup_bps"], Fraction(document["fixed_fee"]))
    raise ValueError(f"unknown plan kind {kind!r}")


def _line(document: Mapping[str, Any]) -> InvoiceLine:
    orchestrator = document["orchestrator"]
    return InvoiceLine(
        kind=LineKind(document["kind"]), description=document["description"], amount=Fraction(document["amount"]),
        amount_minor=int(document["amount_minor"]), pipeline=document["pipeline"], model_id=document["model_id"],
        app=document["app"], orchestrator=None if orchestrator is None else bytes.fromhex(orchestrator[2:]),
        reference=document["reference"], calls=int(document["calls"]), tickets=int(document["tickets"]),
        units=int(document["units"]), ev_wei=Fraction(document["ev_wei"]), fee_wei=Fraction(document["fee_wei"]),
        end_user=document.get("end_user"),
    )


def _rate(document: Mapping[str, Any]) -> InvoiceRate:
    return InvoiceRate(document["rate_snapshot_id"], Fraction(document["usd_per_eth"]), document["source"],
                       _time(document["valid_at"]), document["round_id"])


def _fx_from(document: Mapping[str, Any]) -> FxRate:
    return FxRate(document["currency"], Fraction(document["per_usd"]), document["source"], _time(document["as_of"]))


def _party_from(document: Mapping[str, Any]) -> Party:
    return Party(document["name"], tuple(document["address_lines"]), document["tax_id"], document["email"])


def _terms_from(document: Mapping[str, Any]) -> InvoiceTerms:
    def moment(name: str) -> datetime | None:
        return None if document[name] is None else _time(document[name])

    return InvoiceTerms(
        issuer=_party_from(document["issuer"]), customer=_party_from(document["customer"]),
        payment_terms_days=document["payment_terms_days"], tax_rate_bps=document["tax_rate_bps"],
        tax_note=document["tax_note"], partial=document["partial"], number=document["number"],
        issued_at=moment("issued_at"), due_at=moment("due_at"),
    )
