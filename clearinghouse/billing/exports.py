"""Invoice exports (spec 05): canonical JSON and its content hash, CSV, Stripe meter events and
OpenMeter CloudEvents; pure, each returns bytes.

**JSON** (``invoice_json``) is the draft's one serialization: UTF-8, keys sorted, no spaces,
``"format": "clearinghouse.invoice/2"``. Exact rationals are strings as ``Fraction`` writes
them ("617/50", "7"); integers that can outgrow a double (counts, wei, minor units) are
strings; ids are numbers; times are ISO 8601 UTC with a Z; addresses lowercase 0x-hex.
``content_hash`` is SHA-256 of exactly these bytes, so a stored hash verifies an export.
Format /2 (issue 19) adds ``terms`` (issuer, customer, payment terms, tax, partial; number,
issue and due dates once issued) and, beside each exact amount, the same as a decimal string
(``amount_decimal``, ``ev_wei_decimal``, ``fee_wei_decimal``, ``total_decimal``: exact where
the decimal ends within ``DECIMAL_PLACES`` places, else rounded there half to even), so a
reader need not divide 80-digit fractions. A draft without terms is written in format /1, as
documents stored before /2 were, so they still read back byte for byte.

**CSV** (``invoice_csv``): RFC 4180 (CRLF, minimal quoting), UTF-8 without BOM, one row per
line in the draft's order, under this header, which only ever grows at the end::

    invoice_number,gateway_id,period_start,period_end,currency,line,kind,description,
    pipeline,model_id,app,orchestrator,reference,calls,tickets,units,ev_wei,fee_wei,
    amount,amount_minor,amount_exact,amount_decimal,ev_wei_exact,fee_wei_exact

(one line in the file). ``line`` counts from 1; ``kind`` is a ``LineKind``; unknown key parts
and a draft's invoice number are empty. ``ev_wei`` and ``fee_wei`` are rounded down to whole
wei, for reading (the exact rationals are in the JSON). ``amount`` is the amount shown, as a
decimal in major units ("12.34"), ``amount_minor`` the same in minor units ("1234"), and
``amount_exact`` the exact amount in major units as a fraction ("12341/1000"; 0 on the
rounding line), ``amount_decimal`` the exact amount as a decimal (as in the JSON), and
``ev_wei_exact``/``fee_wei_exact`` the exact wei fractions; quantities are 0 on lines that are
not usage. The ``amount`` column adds up
to the invoice total. Text that a spreadsheet would run as a formula (starting with = + - @,
tab or CR) gets a leading ``'``.

**Meter events** carry usage lines only, one event per line: the plan's lines and adjustments
are prices, credits and coupons on the billing platform's side, not usage. Every event's id is
SHA-256 over (system, event name or type, gateway, period, currency, line key), not amounts, so
a re-sent export, even of a redrafted invoice, repeats its ids. Platforms deduplicate ids only
for a while (Stripe for a rolling 24 hours or more): the ids stop retries and double sends, and
the caller still sends an invoice's events once, when it is issued. An event's time is the
period's last whole second; Stripe refuses events older than 35 days, so send them promptly.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Final

from clearinghouse.billing.invoices import (
    FreePlan,
    FxRate,
    InvoiceDraft,
    InvoiceError,
    InvoiceLine,
    InvoiceRate,
    LineKind,
    Plan,
    SubscriptionPlan,
)
from clearinghouse.billing.money_text import decimal_text, minor_units_text
from clearinghouse.billing.invoice_terms import InvoiceTerms, Party
from clearinghouse.billing.limits import EVENT_TEXT_CHARS_MAX, STRIPE_NAME_CHARS_MAX

FORMAT: Final = "clearinghouse.invoice/2"
"""Names the canonical JSON layout; a change to the layout changes it (and so every hash)."""

FORMAT_V1: Final = "clearinghouse.invoice/1"
"""The layout before parties, terms and decimal strings: drafts without terms keep it."""

DECIMAL_PLACES: Final = 18
"""Places of the decimal strings beside exact fractions: whole attowei of a wei amount, and far
below any currency's minor unit."""

CSV_HEADER: Final = (
    "invoice_number", "gateway_id", "period_start", "period_end", "currency", "line", "kind",
    "description", "pipeline", "model_id", "app", "orchestrator", "reference", "calls", "tickets",
    "units", "ev_wei", "fee_wei", "amount", "amount_minor", "amount_exact", "amount_decimal", "ev_wei_exact",
    "fee_wei_exact",
)
"""The CSV columns, in order (see the module docstring); stable: new columns go at the end."""


EVENT_ID_HEX_CHARS: Final = 40
"""160 bits of SHA-256 make a collision between two lines unthinkable and keep ids short."""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def utc_text(moment: datetime) -> str:
    """An aware datetime as ISO 8601 in UTC with a Z: the one way exports write times."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def invoice_json(draft: InvoiceDraft) -> bytes:
    """The draft's canonical JSON (see the module docstring); the same draft, the same bytes."""
    terms = draft.terms
    document: dict[str, object] = {
        "format": FORMAT_V1 if terms is None else FORMAT,
        "gateway_id": draft.gateway_id,
        "period_start": utc_text(draft.period_start),
        "period_end": utc_text(draft.period_end),
        "currency": draft.currency,
        "minor_unit_exponent": draft.minor_unit_exponent,
        "grouping": draft.grouping.value,
        "plan": _plan_document(draft.plan),
        "lines": [_line_document(line, decimals=terms is not None) for line in draft.lines],
        "total": str(draft.total),
        "total_minor": str(draft.total_minor),
        "rates": [_rate_document(rate) for rate in draft.rates],
        "fx": None if draft.fx is None else _fx_document(draft.fx),
    }
    if terms is not None:
        document["terms"] = terms_document(terms)
        document["total_decimal"] = decimal_string(draft.total)
    return _json_bytes(document)


def decimal_string(value: Fraction) -> str:
    """``value`` as a decimal: exact when it ends within DECIMAL_PLACES places, else rounded
    there half to even (the exact fraction is always written beside it)."""
    value = Fraction(value)
    scale: int = 10**DECIMAL_PLACES
    return decimal_text(value if (value * scale).denominator == 1 else Fraction(round(value * scale), scale))


def party_document(party: Party) -> dict[str, object]:
    return {"name": party.name, "address_lines": list(party.address_lines), "tax_id": party.tax_id,
            "email": party.email}


def terms_document(terms: InvoiceTerms) -> dict[str, object]:
    """The ``terms`` object of a /2 document."""
    return {
        "issuer": party_document(terms.issuer),
        "customer": party_document(terms.customer),
        "payment_terms_days": terms.payment_terms_days,
        "tax_rate_bps": terms.tax_rate_bps,
        "tax_note": terms.tax_note,
        "partial": terms.partial,
        "number": terms.number,
        "issued_at": None if terms.issued_at is None else utc_text(terms.issued_at),
        "due_at": None if terms.due_at is None else utc_text(terms.due_at),
    }


def content_hash(draft: InvoiceDraft) -> bytes:
    """SHA-256 of ``invoice_json(draft)``: 32 bytes, stored when the invoice is issued."""
    return hashlib.sha256(invoice_json(draft)).digest()


def _json_bytes(document: object) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _plan_document(plan: Plan) -> dict[str, object]:
    if isinstance(plan, FreePlan):
        return {"kind": "free"}
    if isinstance(plan, SubscriptionPlan):
        return {
            "kind": "subscription",
            "currency": plan.currency,
            "fee": str(Fraction(plan.fee)),
            "included_usage": str(Fraction(plan.included_usage)),
            "overage_markup_bps": plan.overage_markup_bps,
        }
    return {
        "kind": "usage_based",
        "currency": plan.currency,
        "markup_bps": plan.markup_bps,
        "fixed_fee": str(Fraction(plan.fixed_fee)),
    }


def _line_document(line: InvoiceLine, *, decimals: bool) -> dict[str, object]:
    document: dict[str, object] = {
        "kind": line.kind.value,
        "description": line.description,
        "pipeline": line.pipeline,
        "model_id": line.model_id,
        "app": line.app,
        "orchestrator": _address(line.orchestrator),
        "reference": line.reference,
        "calls": str(line.calls),
        "tickets": str(line.tickets),
        "units": str(line.units),
        "ev_wei": str(Fraction(line.ev_wei)),
        "fee_wei": str(Fraction(line.fee_wei)),
        # Only on invoices grouped by end user, so the documents (and hashes) of others are unchanged.
        **({"end_user": line.end_user} if line.end_user is not None else {}),
        "amount": str(line.amount),
        "amount_minor": str(line.amount_minor),
    }
    if decimals:
        document |= {"amount_decimal": decimal_string(line.amount), "ev_wei_decimal": decimal_string(line.ev_wei),
                     "fee_wei_decimal": decimal_string(line.fee_wei)}
    return document


def _rate_document(rate: InvoiceRate) -> dict[str, object]:
    return {
        "rate_snapshot_id": rate.rate_snapshot_id,
        "usd_per_eth": str(Fraction(rate.usd_per_eth)),
        "source": rate.source,
        "valid_at": utc_text(rate.valid_at),
        "round_id": rate.round_id,
    }


def _fx_document(fx: FxRate) -> dict[str, object]:
    return {
        "currency": fx.currency,
        "per_usd": str(Fraction(fx.per_usd)),
        "source": fx.source,
        "as_of": utc_text(fx.as_of),
    }


def _address(orchestrator: bytes | None) -> str | None:
    return None if orchestrator is None else "0x" + orchestrator.hex()


def invoice_csv(draft: InvoiceDraft, invoice_number: str | None = None) -> bytes:
    """The draft as CSV under ``CSV_HEADER`` (see the module docstring); ``invoice_number`` is
    the issued number, None for a draft."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for number, line in enumerate(draft.lines, start=1):
        writer.writerow(
            (
                _cell(invoice_number),
                draft.gateway_id,
                utc_text(draft.period_start),
                utc_text(draft.period_end),
                draft.currency,
                number,
                line.kind.value,
                _cell(line.description),
                _cell(line.pipeline),
                _cell(line.model_id),
                _cell(line.app),
                _address(line.orchestrator) or "",
                _cell(line.reference),
                line.calls,
                line.tickets,
                line.units,
                math.floor(line.ev_wei),
                math.floor(line.fee_wei),
                minor_units_text(line.amount_minor, draft.minor_unit_exponent),
                line.amount_minor,
                str(line.amount),
                decimal_string(line.amount),
                str(Fraction(line.ev_wei)),
                str(Fraction(line.fee_wei)),
            )
        )
    return out.getvalue().encode("utf-8")


def _cell(text: str | None) -> str:
    """Text for a spreadsheet cell: never a formula (OWASP's CSV injection advice)."""
    if text is None:
        return ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def stripe_meter_events(draft: InvoiceDraft, stripe_customer_id: str, event_name: str) -> bytes:
    """Stripe billing meter events as JSON lines, one per usage line whose shown amount is not
    zero: ``{"event_name", "identifier", "payload": {"stripe_customer_id", "value"},
    "timestamp"}``. ``value`` is the line's amount at cost in the invoice currency's minor units
    (a string, as Stripe takes it), for a Stripe price per minor unit that carries any markup.

    Raises InvoiceError for a blank or over-long customer id or event name (Stripe allows 100).
    """
    _check_name("stripe_customer_id", stripe_customer_id, EVENT_TEXT_CHARS_MAX)
    _check_name("event_name", event_name, STRIPE_NAME_CHARS_MAX)
    timestamp_s = _last_second(draft) // _SECOND
    events = []
    for line in _usage(draft):
        if line.amount_minor == 0:
            continue
        events.append(
            {
                "event_name": event_name,
                "identifier": f"ch-{_event_id(draft, line, 'stripe', event_name)}",
                "payload": {"stripe_customer_id": stripe_customer_id, "value": str(line.amount_minor)},
                "timestamp": timestamp_s,
            }
        )
    return _json_lines(events)


def openmeter_events(
    draft: InvoiceDraft, subject: str, *, source: str = "clearinghouse", event_type: str = "livepeer.usage"
) -> bytes:
    """OpenMeter usage events as CloudEvents 1.0 JSON lines, one per usage line: ``specversion``,
    ``id`` (deterministic), ``source``, ``type``, ``subject`` (OpenMeter's customer key),
    ``time`` (the period's last second) and ``data``: the line key, quantities, ``ev_wei`` and
    ``fee_wei`` rounded down to whole wei, ``amount_minor`` and ``currency``, all strings, and
    the period, for meters to aggregate with JSONPath.

    Raises InvoiceError for a blank or over-long subject, source or type.
    """
    for name, value in (("subject", subject), ("source", source), ("event_type", event_type)):
        _check_name(name, value, EVENT_TEXT_CHARS_MAX)
    time = utc_text(_EPOCH + _last_second(draft))
    events = [
        {
            "specversion": "1.0",
            "id": _event_id(draft, line, "openmeter", event_type),
            "source": source,
            "type": event_type,
            "subject": subject,
            "time": time,
            "datacontenttype": "application/json",
            "data": _openmeter_data(draft, line),
        }
        for line in _usage(draft)
    ]
    return _json_lines(events)


def _openmeter_data(draft: InvoiceDraft, line: InvoiceLine) -> dict[str, str | None]:
    return {
        "gateway_id": str(draft.gateway_id),
        "period_start": utc_text(draft.period_start),
        "period_end": utc_text(draft.period_end),
        "pipeline": line.pipeline,
        "model_id": line.model_id,
        "app": line.app,
        "orchestrator": _address(line.orchestrator),
        "calls": str(line.calls),
        "tickets": str(line.tickets),
        "units": str(line.units),
        "ev_wei": str(math.floor(line.ev_wei)),
        "fee_wei": str(math.floor(line.fee_wei)),
        "amount_minor": str(line.amount_minor),
        "currency": draft.currency,
    }


def _usage(draft: InvoiceDraft) -> list[InvoiceLine]:
    return [line for line in draft.lines if line.kind is LineKind.USAGE]


def _last_second(draft: InvoiceDraft) -> timedelta:
    """The start of the period's last whole second, as time since the epoch: an instant inside
    [start, end) for any period of a second or more."""
    return (draft.period_end - _EPOCH - timedelta(microseconds=1)) // _SECOND * _SECOND


def _event_id(draft: InvoiceDraft, line: InvoiceLine, system: str, name: str) -> str:
    """Hex SHA-256 over what identifies a usage line's event; not its amounts, so a redraft of
    the same period keeps its ids."""
    identity = [
        system,
        name,
        draft.gateway_id,
        utc_text(draft.period_start),
        utc_text(draft.period_end),
        draft.currency,
        line.pipeline,
        line.model_id,
        line.app,
        _address(line.orchestrator),
    ]
    return hashlib.sha256(_json_bytes(identity)).hexdigest()[:EVENT_ID_HEX_CHARS]


def _check_name(name: str, value: str, chars_max: int) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > chars_max:
        raise InvoiceError(f"{name} must be non-blank text of at most {chars_max} characters, got {value!r:.80}")


def _json_lines(events: Sequence[Mapping[str, object]]) -> bytes:
    return b"".join(_json_bytes(event) + b"\n" for event in events)
