"""``clearinghouse billing-cycle``: when a gateway is invoiced by the daemon's billing scheduler,
where its invoices are delivered, what follows when they are overdue, and the runs so far
(issue 21)."""

from __future__ import annotations

import secrets
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from clearinghouse.ledger.billing_cycles import BillingCycle

WEBHOOK_SECRET_BYTES = 32
"""The delivery secret: 256 random bits, shown once as 64 hex digits."""


@click.group("billing-cycle")
def billing_cycle() -> None:
    """A gateway's billing cycle: the daemon drafts, issues and delivers its invoices.

    \b
    Examples:
      clearinghouse billing-cycle set 3 --cycle monthly --anchor 2026-12-01T00:00:00Z --reason "contract"
      clearinghouse billing-cycle runs --gateway-id 3
    """


@billing_cycle.command("set")
@click.argument("gateway_id", type=click.IntRange(1))
@click.option("--cycle", "kind", type=click.Choice(["weekly", "monthly", "days"]), required=True,
              help="weekly, monthly on the anchor's day (1..28), or every --length-days days.")
@click.option("--anchor", callback=utc_time, required=True, help="Start of the first period, a whole UTC hour.")
@click.option("--length-days", type=click.IntRange(1, 366), default=None, help="With --cycle days: its length.")
@click.option("--grace-s", type=click.IntRange(0, 30 * 86_400), default=3600, show_default=True,
              help="Seconds after a period ends before it is invoiced, so late records are on it.")
@click.option("--webhook-url", default=None, help="Deliver each issued invoice here (a new signing secret is "
                                                   "printed once).")
@click.option("--overdue-policy", type=click.Choice(["notify", "stop_signing"]), default="notify",
              show_default=True, help="What follows an overdue invoice.")
@click.option("--stop-after-days", type=click.IntRange(0, 365), default=7, show_default=True,
              help="With stop_signing: days past due before signing stops.")
@click.option("--reason", required=True, help="Why, for the audit trail.")
@actor_option
@config_option
@database_url_option
@json_option
def set_cycle(gateway_id: int, kind: str, anchor: datetime, length_days: int | None, grace_s: int,
              webhook_url: str | None, overdue_policy: str, stop_after_days: int, reason: str,
              actor_name: str | None, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Set a gateway's billing cycle, delivery webhook and overdue policy (replaces the last).

    The currency comes from the gateway's plan (`plan set`), the payment terms from its billing
    profile (`gateway set-billing-profile`) or [invoice]. With --webhook-url a new delivery secret
    is generated and printed once: the receiver checks X-Clearinghouse-Signature with it.

    \b
    Examples:
      clearinghouse billing-cycle set 3 --cycle weekly --anchor 2026-11-02T00:00:00Z --grace-s 7200 --reason "weekly"
      clearinghouse billing-cycle set 4 --cycle monthly --anchor 2026-12-01T00:00:00Z \\
        --webhook-url https://billing.acme.example/hooks --overdue-policy stop_signing --stop-after-days 14 \\
        --reason "contract 2026-14"
    """
    from clearinghouse.billing.cycles import Cycle
    from clearinghouse.ledger.billing_cycles import BillingCycle, CycleKind, OverduePolicy, set_billing_cycle

    if webhook_url is not None and not webhook_url.startswith(("https://", "http://")):
        raise click.UsageError("--webhook-url must be an http(s) URL")
    secret = None if webhook_url is None else secrets.token_hex(WEBHOOK_SECRET_BYTES)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        Cycle(kind, anchor, length_days)  # refuses an anchor that is not a whole hour or day 29..31
        cycle = set_billing_cycle(db, BillingCycle(
            gateway_id=gateway_id, cycle=CycleKind(kind), length_days=length_days, anchor_at=anchor, grace_s=grace_s,
            webhook_url=webhook_url, webhook_secret=secret, overdue_policy=OverduePolicy(overdue_policy),
            overdue_stop_after_days=stop_after_days, actor=actor(actor_name), reason=reason, changed_at=anchor))
    document = _document(cycle)
    lines = [f"billing cycle of gateway {gateway_id} set", *fields(list(document.items()))]
    if secret is not None:
        document["webhook_secret"] = secret
        lines.append(f"webhook secret  {secret}  (shown once: give it to the receiver)")
    emit(as_json, document, lines)


@billing_cycle.command("show")
@click.argument("gateway_id", type=click.IntRange(1))
@config_option
@database_url_option
@json_option
def show_cycle(gateway_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """A gateway's billing cycle (the delivery secret is never shown again).

    \b
    Examples:
      clearinghouse billing-cycle show 3
      clearinghouse billing-cycle show 3 --json | jq .overdue_policy
    """
    from clearinghouse.ledger.billing_cycles import billing_cycle as stored_cycle

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        cycle = stored_cycle(db, gateway_id)
    if cycle is None:
        raise click.ClickException(f"gateway {gateway_id} has no billing cycle: it is invoiced by hand")
    document = _document(cycle)
    emit(as_json, document, fields(list(document.items())))


@billing_cycle.command("remove")
@click.argument("gateway_id", type=click.IntRange(1))
@config_option
@database_url_option
def remove_cycle(gateway_id: int, config_path: Path, database_url_value: str | None) -> None:
    """Stop invoicing a gateway automatically; its runs and invoices stay.

    \b
    Examples:
      clearinghouse billing-cycle remove 3
    """
    from clearinghouse.ledger.billing_cycles import remove_billing_cycle

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        removed = remove_billing_cycle(db, gateway_id)
    click.echo(f"gateway {gateway_id}: billing cycle removed" if removed else f"gateway {gateway_id} had no cycle")


@billing_cycle.command("runs")
@click.option("--gateway-id", type=click.IntRange(1), default=None, help="Only this gateway's runs.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@config_option
@database_url_option
@json_option
def list_runs(gateway_id: int | None, limit: int, config_path: Path, database_url_value: str | None,
              as_json: bool) -> None:
    """Periods the scheduler claimed, newest first: issued (with the invoice and its delivery),
    held back (and why), or claimed (in progress, or its daemon died: taken over later).

    \b
    Examples:
      clearinghouse billing-cycle runs --gateway-id 3
      clearinghouse billing-cycle runs --json | jq '.[] | select(.status == "held")'
    """
    from clearinghouse.ledger.billing_cycles import billing_runs

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        runs = billing_runs(db, gateway_id=gateway_id, limit=limit)
    documents = [{"gateway_id": run.gateway_id, "period_start": run.period_start.isoformat(),
                  "period_end": run.period_end.isoformat(), "status": run.status.value, "invoice_id": run.invoice_id,
                  "delivery": run.delivery.value, "detail": run.detail, "claimed_by": run.claimed_by}
                 for run in runs]
    rows = [(d["gateway_id"], f"{d['period_start']}..{d['period_end']}", d["status"], d["invoice_id"], d["delivery"],
             d["detail"]) for d in documents]
    emit(as_json, documents, table((Column("gateway"), Column("period"), Column("status"), Column("invoice"),
                                    Column("delivery"), Column("detail")), rows) if rows else ["no runs yet"])


def _document(cycle: BillingCycle) -> dict[str, object]:
    return {"gateway_id": cycle.gateway_id, "cycle": cycle.cycle.value, "length_days": cycle.length_days,
            "anchor_at": cycle.anchor_at.isoformat(), "grace_s": cycle.grace_s, "webhook_url": cycle.webhook_url,
            "overdue_policy": cycle.overdue_policy.value, "overdue_stop_after_days": cycle.overdue_stop_after_days,
            "actor": cycle.actor, "reason": cycle.reason, "changed_at": cycle.changed_at.isoformat()}
