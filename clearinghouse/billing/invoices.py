"""Invoice drafts (spec 05, issue #6): from a gateway's priced usage and its plan to invoice
lines and a total, exactly; pure, no I/O.

Inputs are what the ledger already knows: ``UsageBucket``s (usage pre-summed per line key and
ETH/USD rate snapshot), the snapshots themselves (``InvoiceRate``), the gateway's ``Plan``, an
``FxRate`` when the invoice currency is not USD, and ``Adjustment``s. ``draft_invoice`` returns
an ``InvoiceDraft``; exports.py serializes it (its canonical JSON and ``content_hash``, stored
when the invoice is issued) and pdf.py prints it.

Money stays exact. A bucket's fiat amount is ``ev_wei × usd_per_eth / 10**18 × per_usd`` as a
``Fraction``; lines, markups, fees and the total are exact too. The only rounding is to the
currency's minor unit (``MINOR_UNIT_EXPONENTS``), half to even:

- each line shows its exact amount rounded once (``amount_minor``);
- the invoice total is the exact total rounded once (``total_minor``), never a sum of rounded
  lines;
- when the rounded lines do not add up to that total, a ``rounding`` line carries the
  difference (its exact amount is 0), so the lines shown always add up to the total shown.

Half to even, because it is unbiased: ties (an exact half cent, as a 2.5 % markup on 0.20
makes) go up as often as down, where half-up would round every tie in our favour. It is also
what ``round()`` does on a ``Fraction``, exactly.

Lines, in this order: subscription; usage, one per (pipeline, model_id) and, by ``grouping``,
app or orchestrator, sorted by key with unknown (None) parts last; allowance; markup; fixed
fee; adjustments in the order given; rounding. Plan lines appear only when their exact amount
is not zero. A free plan bills nothing: its draft has only the adjustments given. Credits may
exceed charges, making the total negative; whether to issue such an invoice is the caller's call.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from types import MappingProxyType
from typing import Final

from clearinghouse.billing.invoice_terms import InvoiceTerms
from clearinghouse.billing.invoice_terms import Party as Party  # the parties' home since #19
from clearinghouse.errors import ClearinghouseError, InvariantViolation
from clearinghouse.domain.limits import MARKUP_BPS_MAX
from clearinghouse.billing.limits import INVOICE_LINES_MAX, TEXT_CHARS_MAX
from clearinghouse.billing.money_text import minor_units_text, money_text, percent_text

MINOR_UNIT_EXPONENTS: Final[Mapping[str, int]] = MappingProxyType(
    {"USD": 2, "EUR": 2, "GBP": 2, "CHF": 2, "CAD": 2, "AUD": 2, "JPY": 0}
)
"""ISO 4217 minor units of the currencies we invoice in (cents, or none for the yen). A
currency missing here is refused rather than guessed: BHD has 3 decimals, CLF 4."""

WEI_PER_ETH: Final = 10**18
"""Wei in one ether, by definition: a USD-per-ETH rate divided by it is USD per wei."""

BPS_PER_UNIT: Final = 10_000
"""Basis points in 1 (100 %), by definition."""


ORCHESTRATOR_BYTES: Final = 20
"""An orchestrator is named by its Ethereum address, 20 bytes."""

_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


class InvoiceError(ClearinghouseError, ValueError):
    """The inputs cannot make an invoice; the message names the input and what was expected."""


class LineGrouping(StrEnum):
    """How usage is split into lines: always by pipeline and model, optionally further."""

    PIPELINE_MODEL = "pipeline_model"
    APP = "app"
    ORCHESTRATOR = "orchestrator"
    END_USER = "end_user"  # the usage subject: an app's end user is ``<client_id>:<external_id>``


class LineKind(StrEnum):
    """What a line charges for; closed, in the order lines appear."""

    SUBSCRIPTION = "subscription"
    USAGE = "usage"
    ALLOWANCE = "allowance"
    MARKUP = "markup"
    FIXED_FEE = "fixed_fee"
    ADJUSTMENT = "adjustment"
    TAX = "tax"
    ROUNDING = "rounding"


def _check_text(name: str, value: str | None, *, none_ok: bool) -> None:
    if value is None:
        if not none_ok:
            raise InvoiceError(f"{name} is required")
        return
    if not isinstance(value, str) or not value.strip() or len(value) > TEXT_CHARS_MAX:
        raise InvoiceError(f"{name} must be non-blank text of at most {TEXT_CHARS_MAX} characters, got {value!r:.80}")


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvoiceError(f"{name} must be an int >= 0, got {value!r}")


def _check_exact(name: str, value: Fraction, *, negative_ok: bool = False) -> None:
    # Money is exact: a float here would already have rounded an amount somewhere upstream.
    if isinstance(value, bool) or not isinstance(value, int | Fraction):
        raise InvoiceError(f"{name} must be an exact int or Fraction, got {type(value).__name__} {value!r}")
    if value < 0 and not negative_ok:
        raise InvoiceError(f"{name} must be >= 0, got {value}")


def _check_aware(name: str, value: datetime) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvoiceError(f"{name} must be a timezone-aware datetime, got {value!r}")


def _check_bps(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MARKUP_BPS_MAX:
        raise InvoiceError(f"{name} must be an int in 0..{MARKUP_BPS_MAX} basis points, got {value!r}")


def minor_unit_exponent(currency: str) -> int:
    """The number of decimals of ``currency``'s minor unit. Raises InvoiceError for a code that
    is not three capital letters or not in ``MINOR_UNIT_EXPONENTS``."""
    if not isinstance(currency, str) or not _CURRENCY_CODE.fullmatch(currency):
        raise InvoiceError(f"currency must be an ISO 4217 code like EUR, got {currency!r:.20}")
    if currency not in MINOR_UNIT_EXPONENTS:
        raise InvoiceError(f"unknown currency {currency}; invoices support {', '.join(MINOR_UNIT_EXPONENTS)}")
    return MINOR_UNIT_EXPONENTS[currency]


@dataclass(frozen=True, slots=True)
class UsageBucket:
    """Usage summed over one line key (pipeline, model, app, orchestrator) and one ETH/USD rate
    snapshot: the ledger's rollup. ``rate_snapshot_id`` None is an unpriced bucket, which a
    paid plan refuses. ``ev_wei`` (billed) and ``fee_wei`` (reported) are exact wei."""

    pipeline: str | None
    model_id: str | None
    app: str | None
    orchestrator: bytes | None
    rate_snapshot_id: int | None
    calls: int
    tickets: int
    units: int
    ev_wei: Fraction
    fee_wei: Fraction
    end_user: str | None = None
    """The usage subject (an app's end user, or a key's or header's subject)."""

    def __post_init__(self) -> None:
        for name in ("pipeline", "model_id", "app", "end_user"):
            _check_text(name, getattr(self, name), none_ok=True)
        if self.orchestrator is not None and (
            not isinstance(self.orchestrator, bytes) or len(self.orchestrator) != ORCHESTRATOR_BYTES
        ):
            raise InvoiceError(f"orchestrator must be {ORCHESTRATOR_BYTES} bytes, got {self.orchestrator!r:.60}")
        for name in ("calls", "tickets", "units"):
            _check_count(name, getattr(self, name))
        _check_exact("ev_wei", self.ev_wei)
        _check_exact("fee_wei", self.fee_wei)


@dataclass(frozen=True, slots=True)
class InvoiceRate:
    """An ETH/USD rate snapshot used by buckets, with the provenance printed on the invoice."""

    rate_snapshot_id: int
    usd_per_eth: Fraction
    source: str
    valid_at: datetime
    round_id: int | None = None

    def __post_init__(self) -> None:
        _check_count("rate_snapshot_id", self.rate_snapshot_id)
        _check_exact("usd_per_eth", self.usd_per_eth)
        if self.usd_per_eth == 0:
            raise InvoiceError(f"rate snapshot {self.rate_snapshot_id}: usd_per_eth must be > 0")
        _check_text("source", self.source, none_ok=False)
        _check_aware("valid_at", self.valid_at)
        if self.round_id is not None:
            _check_count("round_id", self.round_id)


@dataclass(frozen=True, slots=True)
class FxRate:
    """How many units of ``currency`` one USD buys, where that came from and when."""

    currency: str
    per_usd: Fraction
    source: str
    as_of: datetime

    def __post_init__(self) -> None:
        minor_unit_exponent(self.currency)
        if self.currency == "USD":
            raise InvoiceError("an FX rate converts USD to another currency, got USD")
        _check_exact("per_usd", self.per_usd)
        if self.per_usd == 0:
            raise InvoiceError(f"FX rate USD→{self.currency} must be > 0")
        _check_text("source", self.source, none_ok=False)
        _check_aware("as_of", self.as_of)


@dataclass(frozen=True, slots=True)
class Adjustment:
    """A credit (negative ``amount``) or charge in the invoice currency's major units."""

    description: str
    amount: Fraction
    currency: str
    reference: str | None = None

    def __post_init__(self) -> None:
        _check_text("description", self.description, none_ok=False)
        _check_exact("amount", self.amount, negative_ok=True)
        if self.amount == 0:
            raise InvoiceError(f"adjustment {self.description!r} has amount 0")
        minor_unit_exponent(self.currency)
        _check_text("reference", self.reference, none_ok=True)


@dataclass(frozen=True, slots=True)
class FreePlan:
    """Metered and limited by quota, never billed: no plan or usage lines."""


@dataclass(frozen=True, slots=True)
class SubscriptionPlan:
    """A flat ``fee`` per invoice period that includes usage worth ``included_usage`` at cost
    (EV × rate × FX, in ``currency``); usage beyond it is billed at cost × (1 + markup).

    The allowance is money, not wei, so it does not depend on which rate snapshot priced which
    call, nor on the order of lines. Both amounts are in ``currency``'s major units. The fee is
    charged once per invoice whatever the period's length: prorating is the caller's choice.
    """

    currency: str
    fee: Fraction
    included_usage: Fraction
    overage_markup_bps: int = 0

    def __post_init__(self) -> None:
        minor_unit_exponent(self.currency)
        _check_exact("fee", self.fee)
        _check_exact("included_usage", self.included_usage)
        _check_bps("overage_markup_bps", self.overage_markup_bps)


@dataclass(frozen=True, slots=True)
class UsageBasedPlan:
    """Usage at cost × (1 + markup), plus an optional ``fixed_fee`` per invoice period (in
    ``currency``'s major units, charged once per invoice)."""

    currency: str
    markup_bps: int = 0
    fixed_fee: Fraction = Fraction(0)

    def __post_init__(self) -> None:
        minor_unit_exponent(self.currency)
        _check_bps("markup_bps", self.markup_bps)
        _check_exact("fixed_fee", self.fixed_fee)


Plan = FreePlan | SubscriptionPlan | UsageBasedPlan


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One line: exact ``amount`` in the invoice currency's major units and the amount shown,
    ``amount_minor``. Usage lines carry their key and quantities; other lines have None parts
    and zero quantities. ``reference`` is an adjustment's."""

    kind: LineKind
    description: str
    amount: Fraction
    amount_minor: int
    pipeline: str | None = None
    model_id: str | None = None
    app: str | None = None
    orchestrator: bytes | None = None
    reference: str | None = None
    calls: int = 0
    tickets: int = 0
    units: int = 0
    ev_wei: Fraction = Fraction(0)
    fee_wei: Fraction = Fraction(0)
    end_user: str | None = None
    """A usage line's end user (usage subject) when the invoice is grouped by end user."""


@dataclass(frozen=True, slots=True)
class InvoiceDraft:
    """A computed invoice: what ``exports.invoice_json`` serializes and ``content_hash`` hashes.

    Invariants, checked on construction (InvariantViolation): the exact line amounts add up to
    ``total``; ``total_minor`` is ``total`` rounded once; the shown amounts add up to it.
    """

    gateway_id: int
    period_start: datetime
    period_end: datetime
    currency: str
    minor_unit_exponent: int
    grouping: LineGrouping
    plan: Plan
    lines: tuple[InvoiceLine, ...]
    total: Fraction
    total_minor: int
    rates: tuple[InvoiceRate, ...]
    fx: FxRate | None
    terms: InvoiceTerms | None = None
    """Parties, payment terms, tax and completeness (format /2); None in a /1 document."""

    def __post_init__(self) -> None:
        exact = sum((line.amount for line in self.lines), Fraction(0))
        shown = sum(line.amount_minor for line in self.lines)
        rounded = to_minor_units(self.total, self.minor_unit_exponent)
        if exact != self.total or not shown == rounded == self.total_minor:
            raise InvariantViolation(
                f"invoice lines add up to {exact} ({shown} minor units), expected total {self.total} "
                f"({rounded} minor units, stated {self.total_minor})"
            )


def to_minor_units(amount: Fraction, exponent: int) -> int:
    """``amount`` (major units) in minor units, rounded half to even: the one rounding."""
    scale: int = 10**exponent  # ** on ints is typed Any; pin it
    return round(Fraction(amount) * scale)


def draft_invoice(
    *,
    gateway_id: int,
    period_start: datetime,
    period_end: datetime,
    currency: str,
    plan: Plan,
    buckets: Sequence[UsageBucket],
    rates: Sequence[InvoiceRate],
    fx: FxRate | None = None,
    grouping: LineGrouping = LineGrouping.PIPELINE_MODEL,
    adjustments: Sequence[Adjustment] = (),
    terms: InvoiceTerms | None = None,
) -> InvoiceDraft:
    """The invoice of ``gateway_id`` for [period_start, period_end) (see the module docstring).

    Raises InvoiceError for start >= end or naive datetimes; an unknown currency; a plan,
    adjustment or FX rate in another currency than ``currency`` (or a missing FX rate for a
    currency other than USD, or one given for USD); a bucket without a rate or with a rate
    snapshot missing from ``rates``; two different rates with one snapshot id; and more than
    ``INVOICE_LINES_MAX`` lines. A free plan ignores ``buckets``, which then need no rate.
    With ``terms`` at a tax rate above 0, a tax line of the exact subtotal times the rate
    follows the adjustments.
    """
    _check_count("gateway_id", gateway_id)
    if grouping not in tuple(LineGrouping):
        raise InvoiceError(f"grouping must be one of {', '.join(LineGrouping)}, got {grouping!r}")
    _check_aware("period_start", period_start)
    _check_aware("period_end", period_end)
    if period_start >= period_end:
        raise InvoiceError(
            f"period must have start < end, got [{period_start.isoformat()}, {period_end.isoformat()})"
        )
    exponent = minor_unit_exponent(currency)
    fiat_per_usd = _fiat_per_usd(currency, plan, fx, adjustments)
    usage: tuple[InvoiceLine, ...] = ()
    used: tuple[InvoiceRate, ...] = ()
    if not isinstance(plan, FreePlan):
        priced, used = _price(buckets, rates, fiat_per_usd)
        usage = _usage_lines(priced, LineGrouping(grouping), exponent)
    usage_total = sum((line.amount for line in usage), Fraction(0))
    head, tail = _plan_lines(plan, usage_total, exponent)
    charged = (*head, *usage, *tail, *(_adjustment_line(a, exponent) for a in adjustments))
    charged = (*charged, *_tax_line(terms, sum((line.amount for line in charged), Fraction(0)), exponent))
    if len(charged) >= INVOICE_LINES_MAX:  # >= leaves room for the rounding line
        raise InvoiceError(f"invoice would have {len(charged)} lines, more than {INVOICE_LINES_MAX - 1}")
    total = sum((line.amount for line in charged), Fraction(0))
    total_minor = to_minor_units(total, exponent)
    difference = total_minor - sum(line.amount_minor for line in charged)
    rounding = () if difference == 0 else (_rounding_line(difference),)
    return InvoiceDraft(
        gateway_id=gateway_id,
        period_start=period_start.astimezone(UTC),
        period_end=period_end.astimezone(UTC),
        currency=currency,
        minor_unit_exponent=exponent,
        grouping=LineGrouping(grouping),
        plan=plan,
        lines=(*charged, *rounding),
        total=total,
        total_minor=total_minor,
        rates=used,
        fx=fx,
        terms=terms,
    )


def _fiat_per_usd(currency: str, plan: Plan, fx: FxRate | None, adjustments: Sequence[Adjustment]) -> Fraction:
    """Invoice currency per USD; refuses every input in another currency."""
    if currency == "USD" and fx is not None:
        raise InvoiceError(f"invoice is in USD, but an FX rate to {fx.currency} was given")
    if currency != "USD" and (fx is None or fx.currency != currency):
        got = "none" if fx is None else f"one to {fx.currency}"
        raise InvoiceError(f"invoice in {currency} needs an FX rate USD→{currency}, got {got}")
    if not isinstance(plan, FreePlan) and plan.currency != currency:
        raise InvoiceError(f"plan is in {plan.currency}, invoice in {currency}")
    for adjustment in adjustments:
        if adjustment.currency != currency:
            raise InvoiceError(
                f"adjustment {adjustment.description!r} is in {adjustment.currency}, invoice in {currency}"
            )
    return Fraction(1) if fx is None else Fraction(fx.per_usd)


def _price(
    buckets: Sequence[UsageBucket], rates: Sequence[InvoiceRate], fiat_per_usd: Fraction
) -> tuple[list[tuple[UsageBucket, Fraction]], tuple[InvoiceRate, ...]]:
    """Each bucket with its exact amount in the invoice currency, and the snapshots used (sorted
    by id). Refuses unpriced buckets, unknown snapshots and one id given with two rates."""
    by_id: dict[int, InvoiceRate] = {}
    for rate in rates:
        if by_id.setdefault(rate.rate_snapshot_id, rate) != rate:
            raise InvoiceError(f"rate snapshot {rate.rate_snapshot_id} is given twice with different values")
    priced = []
    for bucket in buckets:
        if bucket.rate_snapshot_id is None:
            raise InvoiceError(f"usage {_bucket_name(bucket)} has no ETH/USD rate; price it before invoicing")
        snapshot = by_id.get(bucket.rate_snapshot_id)
        if snapshot is None:
            raise InvoiceError(
                f"usage {_bucket_name(bucket)} uses rate snapshot {bucket.rate_snapshot_id}, which was not given"
            )
        usd_per_wei = Fraction(snapshot.usd_per_eth) / WEI_PER_ETH
        priced.append((bucket, Fraction(bucket.ev_wei) * usd_per_wei * fiat_per_usd))
    used = sorted({bucket.rate_snapshot_id for bucket, _ in priced if bucket.rate_snapshot_id is not None})
    return priced, tuple(by_id[snapshot_id] for snapshot_id in used)


def _bucket_name(bucket: UsageBucket) -> str:
    return f"pipeline {bucket.pipeline!r}, model {bucket.model_id!r}, app {bucket.app!r}"


_Key = tuple[str | None, str | None, str | None, bytes | None, str | None]


def _usage_lines(
    priced: list[tuple[UsageBucket, Fraction]], grouping: LineGrouping, exponent: int
) -> tuple[InvoiceLine, ...]:
    groups: dict[_Key, list[tuple[UsageBucket, Fraction]]] = defaultdict(list)
    for bucket, amount in priced:
        app = bucket.app if grouping is LineGrouping.APP else None
        orchestrator = bucket.orchestrator if grouping is LineGrouping.ORCHESTRATOR else None
        end_user = bucket.end_user if grouping is LineGrouping.END_USER else None
        groups[(bucket.pipeline, bucket.model_id, app, orchestrator, end_user)].append((bucket, amount))
    lines = []
    for key in sorted(groups, key=_key_order):
        members = [bucket for bucket, _ in groups[key]]
        amount = sum((amount for _, amount in groups[key]), Fraction(0))
        lines.append(
            InvoiceLine(
                kind=LineKind.USAGE,
                description=_usage_description(key, grouping),
                amount=amount,
                amount_minor=to_minor_units(amount, exponent),
                pipeline=key[0],
                model_id=key[1],
                app=key[2],
                orchestrator=key[3],
                calls=sum(b.calls for b in members),
                tickets=sum(b.tickets for b in members),
                units=sum(b.units for b in members),
                ev_wei=sum((Fraction(b.ev_wei) for b in members), Fraction(0)),
                fee_wei=sum((Fraction(b.fee_wei) for b in members), Fraction(0)),
                end_user=key[4],
            )
        )
    return tuple(lines)


def _key_order(key: _Key) -> tuple[tuple[bool, str], ...]:
    """Known parts in code-point order, unknown (None) after them; addresses compare as hex."""
    parts = (*key[:3], None if key[3] is None else key[3].hex(), key[4])
    return tuple((part is None, part or "") for part in parts)


def _usage_description(key: _Key, grouping: LineGrouping) -> str:
    pipeline, model_id, app, orchestrator, end_user = key
    # Name what the records know: "live-video-to-video" when only the call type told the pipeline.
    if pipeline is None and model_id is None:
        text = "Usage (pipeline and model not reported)"
    else:
        text = " / ".join(part for part in (pipeline, model_id) if part is not None)
    if grouping is LineGrouping.APP:
        text += f", app {app or 'unknown'}"
    elif grouping is LineGrouping.ORCHESTRATOR:
        text += f", orchestrator {'unknown' if orchestrator is None else '0x' + orchestrator.hex()}"
    elif grouping is LineGrouping.END_USER:
        text += f", end user {end_user or 'not attributed'}"
    return text


def _plan_lines(
    plan: Plan, usage_total: Fraction, exponent: int
) -> tuple[tuple[InvoiceLine, ...], tuple[InvoiceLine, ...]]:
    """The plan's lines before the usage lines (subscription) and after them."""
    if isinstance(plan, FreePlan):
        return (), ()
    if isinstance(plan, SubscriptionPlan):
        included = min(usage_total, Fraction(plan.included_usage))
        head = _plan_line(LineKind.SUBSCRIPTION, "Subscription fee for the period", Fraction(plan.fee), exponent)
        allowance = _plan_line(
            LineKind.ALLOWANCE,
            f"Usage included in the subscription (up to {plan.currency} {money_text(plan.included_usage, exponent)})",
            -included,
            exponent,
        )
        markup = _plan_line(
            LineKind.MARKUP,
            f"Markup {percent_text(plan.overage_markup_bps)} on usage beyond the included amount",
            (usage_total - included) * Fraction(plan.overage_markup_bps, BPS_PER_UNIT),
            exponent,
        )
        return head, (*allowance, *markup)
    markup = _plan_line(
        LineKind.MARKUP,
        f"Markup {percent_text(plan.markup_bps)} on usage",
        usage_total * Fraction(plan.markup_bps, BPS_PER_UNIT),
        exponent,
    )
    fixed = _plan_line(LineKind.FIXED_FEE, "Fixed fee for the period", Fraction(plan.fixed_fee), exponent)
    return (), (*markup, *fixed)


def _plan_line(kind: LineKind, description: str, amount: Fraction, exponent: int) -> tuple[InvoiceLine, ...]:
    """The line, or nothing when its exact amount is zero."""
    if amount == 0:
        return ()
    amount_minor = to_minor_units(amount, exponent)
    return (InvoiceLine(kind=kind, description=description, amount=amount, amount_minor=amount_minor),)


def _tax_line(terms: InvoiceTerms | None, subtotal: Fraction, exponent: int) -> tuple[InvoiceLine, ...]:
    if terms is None or terms.tax_rate_bps == 0:
        return ()
    shown = minor_units_text(to_minor_units(subtotal, exponent), exponent)  # for reading; the amount is exact
    description = f"Tax (VAT) {percent_text(terms.tax_rate_bps)} of the subtotal {shown}"
    return _plan_line(LineKind.TAX, description, subtotal * Fraction(terms.tax_rate_bps, BPS_PER_UNIT), exponent)


def _adjustment_line(adjustment: Adjustment, exponent: int) -> InvoiceLine:
    amount = Fraction(adjustment.amount)
    return InvoiceLine(
        kind=LineKind.ADJUSTMENT,
        description=adjustment.description,
        amount=amount,
        amount_minor=to_minor_units(amount, exponent),
        reference=adjustment.reference,
    )


def _rounding_line(difference_minor: int) -> InvoiceLine:
    return InvoiceLine(
        kind=LineKind.ROUNDING,
        description="Rounding adjustment (the total is rounded once)",
        amount=Fraction(0),
        amount_minor=difference_minor,
    )


