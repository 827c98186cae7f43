"""Billing plans and FX rates as stored (spec 05): the repository; append-only.

``set_billing_plan`` adds a row effective from a time (a second plan at the same time is
refused: it would silently win); the plan of a period is the newest row effective at or before
the period's *start*, so a change made in the middle of a month applies from the next period on,
and a redraft of an old period still finds the plan it was billed under. ``fx_rate_in_force`` is
the same for FX rates. Invoices themselves are in ``invoices``.

Errors: InvalidLedgerInput, NotFound, LedgerConflict (a second plan at the same time).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import insert, select

from clearinghouse.domain.limits import MARKUP_BPS_MAX
from clearinghouse.ledger import limits
from clearinghouse.ledger.billing_rows import BillingPlanRow, FxRateRow
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import LedgerConflict, NotFound
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import table
from clearinghouse.ledger.repository_checks import (
    check_audit,
    check_aware,
    check_currency,
    check_exact_amount,
    check_gateway,
)
from clearinghouse.ledger.transactions import reading, utc_now, writing_connection
from clearinghouse.domain.fields import check_text

_PLANS = table(BillingPlanRow)
_FX = table(FxRateRow)


class PlanKind(StrEnum):
    """How a gateway is billed (billing.invoices' FreePlan, SubscriptionPlan, UsageBasedPlan)."""

    FREE = "free"
    SUBSCRIPTION = "subscription"
    USAGE_BASED = "usage_based"


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
        check_gateway(connection, gateway_id, lock=True)  # two plans set at once see each other
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
    check_aware("at", at)
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
    check_currency(currency)
    if currency == "USD":
        raise InvalidLedgerInput("an FX rate converts USD to another currency, got USD")
    check_exact_amount("per_usd", per_usd)
    if per_usd == 0:
        raise InvalidLedgerInput(f"per_usd must be > 0, got {per_usd}")
    check_text("source", source, limits.FX_SOURCE_LENGTH_MAX)
    check_aware("as_of", as_of)
    check_audit(actor, reason)
    values = {"currency": currency, **_rational("per_usd", Fraction(per_usd)), "source": source, "as_of": as_of,
              "actor": actor, "reason": reason, "created_at": utc_now()}
    with writing_connection(db) as connection:
        fx_id: int = connection.execute(insert(_FX).values(values).returning(_FX.c.id)).scalar_one()
    return _fx(values | {"id": fx_id})


def fx_rate_in_force(db: Database, currency: str, at: datetime) -> FxRate | None:
    """The newest rate to ``currency`` as of ``at`` or before (the later row wins a tie), or None."""
    check_aware("at", at)
    statement = (
        select(_FX).where(_FX.c.currency == currency, _FX.c.as_of <= at)
        .order_by(_FX.c.as_of.desc(), _FX.c.id.desc()).limit(1)
    )
    with reading(db) as session:
        row = session.connection().execute(statement).first()
    return None if row is None else _fx(row._mapping)


def _check_plan(plan: BillingPlan) -> None:
    check_currency(plan.currency)
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
        check_exact_amount(name, getattr(plan, name))
    for name in unused:
        if getattr(plan, name) != 0:
            raise InvalidLedgerInput(f"a {plan.kind} plan has no {name}, got {getattr(plan, name)}")
    check_aware("effective_at", plan.effective_at)
    check_audit(plan.actor, plan.reason)


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
