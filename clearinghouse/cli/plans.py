"""``clearinghouse plan`` and ``fx``: a gateway's billing plans (set, list, show) and FX rates
(spec 05). Plans are append-only: a period uses the plan in force at its start."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import click

from clearinghouse.cli.options import (
    actor,
    actor_option,
    config_option,
    database_url,
    database_url_option,
    emit,
    json_option,
    opened_ledger,
    translated,
    utc_time,
)
from clearinghouse.cli.output import Column, fields, table
from clearinghouse.domain.limits import MARKUP_BPS_MAX
from clearinghouse.ledger import billing_plans as plans

_AMOUNT = re.compile(r"\d{1,30}(\.\d{1,18})?")


def _amount(_: click.Context, parameter: click.Parameter, text: str | None) -> Fraction | None:
    """A plain decimal >= 0 ("12.50") as an exact Fraction: money is never a float."""
    if text is None:
        return None
    if not _AMOUNT.fullmatch(text.strip()):
        raise click.BadParameter(f"{text!r:.40} is not a plain decimal like 12.50")
    return Fraction(text.strip())


@click.group("plan")
def plan() -> None:
    """A gateway's billing plan: append-only, the newest in force at a period's start applies.

    \b
    Examples:
      clearinghouse plan list 3
      clearinghouse plan set 3 --kind usage_based --markup-bps 1500 --effective-at 2026-12-01T00:00:00Z \\
        --reason "contract 2026-14"
    """


@plan.command("set")
@click.argument("gateway_id", type=click.IntRange(1))
@click.option("--kind", type=click.Choice([k.value for k in plans.PlanKind]), required=True)
@click.option("--currency", default="USD", show_default=True, help="The invoice currency (ISO 4217).")
@click.option("--effective-at", callback=utc_time, default=None,
              help="From when (ISO 8601 with offset; default: the start of the current UTC month, so this "
                   "month's invoice uses it); a period uses the plan in force at its start.")
@click.option("--markup-bps", type=click.IntRange(0, MARKUP_BPS_MAX), default=0, show_default=True,
              help="Markup on usage (subscription: on usage beyond the included amount).")
@click.option("--fee", callback=_amount, default=None, help="subscription: the fee per period.")
@click.option("--included", callback=_amount, default=None, help="subscription: usage included, in money.")
@click.option("--fixed-fee", callback=_amount, default=None, help="usage_based: a fixed fee per period.")
@click.option("--reason", required=True, help="Why, for the audit trail (e.g. the contract).")
@actor_option
@config_option
@database_url_option
@json_option
def plan_set(gateway_id: int, kind: str, currency: str, effective_at: datetime | None, markup_bps: int,
             fee: Fraction | None, included: Fraction | None, fixed_fee: Fraction | None, reason: str,
             actor_name: str | None, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Set a gateway's billing plan from a time on; earlier periods keep theirs. A second plan
    at the same effective time is refused (see `plan list`).

    \b
    Examples:
      clearinghouse plan set 3 --kind usage_based --markup-bps 1500 --fixed-fee 49 \\
        --effective-at 2026-12-01T00:00:00Z --reason "contract 2026-14"
      clearinghouse plan set 3 --kind subscription --currency EUR --fee 500 --included 400 \\
        --effective-at 2026-12-01T00:00:00Z --reason "EUR subscription"
    """
    if effective_at is None:
        effective_at = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        row = plans.set_billing_plan(
            db, gateway_id, kind=plans.PlanKind(kind), currency=currency, effective_at=effective_at,
            actor=actor(actor_name), reason=reason, markup_bps=markup_bps, fee=fee or Fraction(0),
            included_usage=included or Fraction(0), fixed_fee=fixed_fee or Fraction(0),
        )
    emit(as_json, _plan_document(row), [f"plan {row.id}: gateway {gateway_id} {row.kind} in {row.currency} "
                                        f"from {row.effective_at.isoformat()}"])


@plan.command("list")
@click.argument("gateway_id", type=click.IntRange(1))
@config_option
@database_url_option
@json_option
def plan_list(gateway_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """A gateway's plans, newest effective time first, marking the one in force now.

    \b
    Examples:
      clearinghouse plan list 3
      clearinghouse plan list 3 --json | jq '.[0]'
    """
    from clearinghouse.ledger.transactions import utc_now

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        rows = plans.list_billing_plans(db, gateway_id)
    now = utc_now()
    current = next((row.id for row in rows if row.effective_at <= now), None)
    documents = [_plan_document(row) | {"in_force": row.id == current} for row in rows]
    columns = (Column("id", numeric=True), Column("effective at (UTC)"), Column("kind"), Column("currency"),
               Column("markup bps", numeric=True), Column("fee", numeric=True), Column("included", numeric=True),
               Column("fixed fee", numeric=True), Column("in force"), Column("by"), Column("reason"))
    cells = [(row.id, row.effective_at.isoformat(), row.kind.value, row.currency, row.markup_bps, str(row.fee),
              str(row.included_usage), str(row.fixed_fee), "yes" if row.id == current else "", row.actor, row.reason)
             for row in rows]
    emit(as_json, documents, table(columns, cells) if cells else [f"gateway {gateway_id} has no billing plan"])


@plan.command("show")
@click.argument("plan_id", type=click.IntRange(1))
@config_option
@database_url_option
@json_option
def plan_show(plan_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """One plan with who set it, when and why.

    \b
    Examples:
      clearinghouse plan show 5
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        row = plans.get_billing_plan(db, plan_id)
    document = _plan_document(row)
    emit(as_json, document, fields(list(document.items())))


def _plan_document(row: plans.BillingPlan) -> dict[str, object]:
    return {"id": row.id, "gateway_id": row.gateway_id, "kind": row.kind.value, "currency": row.currency,
            "markup_bps": row.markup_bps, "fee": str(row.fee), "included_usage": str(row.included_usage),
            "fixed_fee": str(row.fixed_fee), "effective_at": row.effective_at.isoformat(), "actor": row.actor,
            "reason": row.reason, "changed_at": row.changed_at.isoformat()}


@click.group("fx")
def fx() -> None:
    """FX rates from USD to invoice currencies, recorded on the invoices that use them.

    \b
    Examples:
      clearinghouse fx add EUR 0.92 --as-of 2026-11-30T00:00:00Z --source "ECB reference rate"
    """


@fx.command("add")
@click.argument("currency")
@click.argument("per_usd", callback=_amount)
@click.option("--as-of", callback=utc_time, required=True, help="From when (ISO 8601 with offset).")
@click.option("--source", default="manual", show_default=True, help="Where the rate comes from.")
@click.option("--reason", default="manual entry", show_default=True, help="For the audit trail.")
@actor_option
@config_option
@database_url_option
@json_option
def fx_add(currency: str, per_usd: Fraction, as_of: datetime, source: str, reason: str, actor_name: str | None,
           config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Enter how many units of CURRENCY one USD buys, exactly (a plain decimal).

    \b
    Examples:
      clearinghouse fx add EUR 0.92 --as-of 2026-11-30T00:00:00Z --source "ECB reference rate"
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        row = plans.add_fx_rate(db, currency, per_usd, source=source, as_of=as_of, actor=actor(actor_name),
                                 reason=reason)
    emit(as_json, {"id": row.id, "currency": row.currency, "per_usd": str(row.per_usd), "source": row.source,
                   "as_of": row.as_of.isoformat()},
         [f"fx {row.id}: 1 USD = {row.per_usd} {row.currency} from {row.as_of.isoformat()}"])


