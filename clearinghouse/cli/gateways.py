"""``clearinghouse gateway …`` and ``clearinghouse signing …``: tenants, keys, credit, kill switch.

Every change is a ledger transaction or an audited row with an actor and a reason. API keys
are shown once, at creation, and stored only as HMAC-SHA256 digests under the server pepper.
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import click

from clearinghouse import ledger
from clearinghouse.api.api_keys import issue_api_key
from clearinghouse.cli.options import (
    actor,
    actor_option,
    config_option,
    database_url,
    database_url_option,
    emit,
    json_option,
    opened_ledger,
    settings,
    translated,
)

reason_option = click.option("--reason", required=True, help="Why, for the audit trail.")
wei = click.IntRange(min=1)


def _wei_text(amount: Fraction | int | None) -> str | None:
    """Exact wei as a decimal string (a fraction keeps its denominator: "7/3")."""
    return None if amount is None else str(amount)


@click.group()
def gateway() -> None:
    """Gateway operators: tenants, their API keys, credit and limits."""


@gateway.command("add")
@click.argument("name")
@click.option("--subject", default=None, help="Usage subject every call with the new key is tagged with.")
@config_option
@database_url_option
@json_option
def gateway_add(name: str, subject: str | None, config_path: Path, database_url_value: str | None,
                as_json: bool) -> None:
    """Create a gateway and its first API key; the key is printed once and never again.

    A new gateway is prepaid with no funds: top it up or give it credit before it can sign.

    \b
    Examples:
      clearinghouse gateway add acme-video
      clearinghouse gateway add acme-video --json | jq -r .api_key
    """
    pepper = _pepper(config_path)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        created = ledger.create_gateway(db, name)
        key_text, key = issue_api_key(db, created.id, pepper, usage_subject=subject)
    emit(as_json, {"gateway_id": created.id, "name": created.name, "api_key_id": key.id, "api_key": key_text},
         [f"gateway {created.id} {created.name!r} created",
          f"API key {key.id} (shown once, store it now): {key_text}",
          "use it as: Authorization: Bearer <key>"])


@gateway.command("add-key")
@click.argument("gateway_id", type=int)
@click.option("--subject", default=None, help="Usage subject every call with this key is tagged with.")
@config_option
@database_url_option
@json_option
def gateway_add_key(gateway_id: int, subject: str | None, config_path: Path, database_url_value: str | None,
                    as_json: bool) -> None:
    """Issue another API key (key rotation, or one per end user with --subject).

    \b
    Examples:
      clearinghouse gateway add-key 3
      clearinghouse gateway add-key 3 --subject user-42
    """
    pepper = _pepper(config_path)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        key_text, key = issue_api_key(db, gateway_id, pepper, usage_subject=subject)
    emit(as_json, {"gateway_id": gateway_id, "api_key_id": key.id, "api_key": key_text},
         [f"API key {key.id} for gateway {gateway_id} (shown once): {key_text}"])


@gateway.command("revoke-key")
@click.argument("api_key_id", type=int)
@config_option
@database_url_option
def gateway_revoke_key(api_key_id: int, config_path: Path, database_url_value: str | None) -> None:
    """Revoke an API key at once; calls with it get 401 from then on.

    \b
    Example:
      clearinghouse gateway revoke-key 7
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        key = ledger.revoke_api_key(db, api_key_id)
    click.echo(f"API key {key.id} ({key.prefix}…) of gateway {key.gateway_id} revoked at {key.revoked_at}")


@gateway.command("list")
@config_option
@database_url_option
@json_option
def gateway_list(config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """List gateways with their keys (prefixes only) and where they stand against their credit.

    \b
    Examples:
      clearinghouse gateway list
      clearinghouse gateway list --json
    """
    now = datetime.now(UTC)
    rows: list[dict[str, object]] = []
    lines = [f"{'id':>4}  {'name':<20} {'status':<9} {'mode':<8} {'available wei':>24}  keys"]
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        for item in ledger.list_gateways(db):
            prefixes = [k.prefix + "…" for k in ledger.list_api_keys(db, item.id) if k.revoked_at is None]
            summary = ledger.spend_summary(db, item.id, now)
            rows.append({
                "id": item.id, "name": item.name, "status": item.status.value, "keys": prefixes,
                "mode": summary.policy.mode.value, "available_wei": _wei_text(summary.available),
                "period_spend_wei": _wei_text(summary.period_spend),
            })
            lines.append(f"{item.id:>4}  {item.name:<20} {item.status.value:<9} {summary.policy.mode.value:<8} "
                         f"{_floor(summary.available):>24}  {', '.join(prefixes) or '-'}")
    emit(as_json, rows, lines)


def _floor(value: Fraction) -> str:
    return str(value.numerator // value.denominator)


@gateway.command("disable")
@click.argument("gateway_id", type=int)
@config_option
@database_url_option
def gateway_disable(gateway_id: int, config_path: Path, database_url_value: str | None) -> None:
    """Disable a gateway: its keys get 403 until it is enabled again.

    \b
    Example:
      clearinghouse gateway disable 3
    """
    _set_status(config_path, database_url_value, gateway_id, ledger.GatewayStatus.DISABLED)


@gateway.command("enable")
@click.argument("gateway_id", type=int)
@config_option
@database_url_option
def gateway_enable(gateway_id: int, config_path: Path, database_url_value: str | None) -> None:
    """Enable a disabled gateway.

    \b
    Example:
      clearinghouse gateway enable 3
    """
    _set_status(config_path, database_url_value, gateway_id, ledger.GatewayStatus.ACTIVE)


def _set_status(config_path: Path, url: str | None, gateway_id: int, status: ledger.GatewayStatus) -> None:
    with opened_ledger(database_url(config_path, url)) as db, translated():
        changed = ledger.set_gateway_status(db, gateway_id, status)
    click.echo(f"gateway {changed.id} {changed.name!r} is {changed.status.value}")


@gateway.command("top-up")
@click.argument("gateway_id", type=int)
@click.option("--wei", "amount_wei", type=wei, required=True, help="Amount received, in wei.")
@reason_option
@actor_option
@config_option
@database_url_option
def gateway_top_up(gateway_id: int, amount_wei: int, reason: str, actor_name: str | None,
                   config_path: Path, database_url_value: str | None) -> None:
    """Record funds received from a gateway (a ledger transaction with actor and reason).

    \b
    Example:
      clearinghouse gateway top-up 3 --wei 50000000000000000 --reason "invoice CH-2026-000042 paid"
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        entry = ledger.top_up(db, gateway_id, amount_wei, actor=actor(actor_name), reason=reason)
    click.echo(f"ledger transaction {entry.id}: gateway {gateway_id} topped up by {amount_wei} wei")


@gateway.command("adjust")
@click.argument("gateway_id", type=int)
@click.option("--wei", "amount", required=True,
              help='Exact wei: positive charges the gateway, negative credits it; "7/3" allowed.')
@reason_option
@actor_option
@config_option
@database_url_option
def gateway_adjust(gateway_id: int, amount: str, reason: str, actor_name: str | None,
                   config_path: Path, database_url_value: str | None) -> None:
    """Record a manual correction (a ledger transaction with actor and reason; nothing is edited).

    \b
    Examples:
      clearinghouse gateway adjust 3 --wei=-1000000000000 --reason "goodwill credit, ticket #812"
      clearinghouse gateway adjust 3 --wei 250 --reason "rounding carried from CH-2026-000041"
    """
    try:
        value = Fraction(amount)
    except (ValueError, ZeroDivisionError) as exc:
        raise click.BadParameter(f"expected an exact wei amount like 250, -3 or 7/3, got {amount!r}") from exc
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        entry = ledger.adjust(db, gateway_id, value, actor=actor(actor_name), reason=reason)
    click.echo(f"ledger transaction {entry.id}: gateway {gateway_id} adjusted by {value} wei")


@gateway.command("set-credit")
@click.argument("gateway_id", type=int)
@click.option("--mode", type=click.Choice([m.value for m in ledger.CreditMode]), required=True)
@click.option("--credit-limit-wei", type=click.IntRange(min=0), default=0, show_default=True,
              help="What a credit gateway may owe.")
@click.option("--quota-wei", type=wei, default=None, help="EV signed per period, at most.")
@click.option("--quota-period", type=click.Choice([p.value for p in ledger.QuotaPeriod]), default="month",
              show_default=True)
@click.option("--subject-quota-wei", type=wei, default=None, help="EV signed per usage subject per period.")
@reason_option
@actor_option
@config_option
@database_url_option
def gateway_set_credit(gateway_id: int, mode: str, credit_limit_wei: int, quota_wei: int | None,
                       quota_period: str, subject_quota_wei: int | None, reason: str, actor_name: str | None,
                       config_path: Path, database_url_value: str | None) -> None:
    """Replace a gateway's credit policy (the old one stays in the audit history).

    \b
    Examples:
      clearinghouse gateway set-credit 3 --mode prepaid --reason "new customer"
      clearinghouse gateway set-credit 3 --mode credit --credit-limit-wei 10000000000000000000 \\
          --quota-wei 5000000000000000000 --reason "enterprise plan"
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        policy = ledger.set_credit_policy(
            db, gateway_id, mode=ledger.CreditMode(mode), credit_limit_wei=credit_limit_wei,
            quota_wei=quota_wei, quota_period=ledger.QuotaPeriod(quota_period),
            subject_quota_wei=subject_quota_wei, actor=actor(actor_name), reason=reason,
        )
    click.echo(f"gateway {gateway_id}: {policy.mode.value}, credit limit {policy.credit_limit_wei} wei, "
               f"quota {policy.quota_wei or 'none'} per {policy.quota_period.value}")


@gateway.command("show")
@click.argument("gateway_id", type=int)
@config_option
@database_url_option
@json_option
def gateway_show(gateway_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """A gateway's status, keys, credit policy and spend in the current period.

    \b
    Example:
      clearinghouse gateway show 3 --json
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        item = ledger.get_gateway(db, gateway_id)
        keys = ledger.list_api_keys(db, gateway_id)
        summary = ledger.spend_summary(db, gateway_id, datetime.now(UTC))
    data = {
        "id": item.id, "name": item.name, "status": item.status.value, "mode": summary.policy.mode.value,
        "credit_limit_wei": summary.policy.credit_limit_wei, "quota_wei": summary.policy.quota_wei,
        "owed_wei": _wei_text(summary.owed), "available_wei": _wei_text(summary.available),
        "period_start": summary.period_start.isoformat(), "period_spend_wei": _wei_text(summary.period_spend),
        "quota_left_wei": _wei_text(summary.quota_left),
        "keys": [{"id": k.id, "prefix": k.prefix, "subject": k.usage_subject, "revoked": k.revoked_at is not None}
                 for k in keys],
    }
    emit(as_json, data, [f"{key:<18} {value}" for key, value in data.items()])


@gateway.command("halt")
@click.argument("gateway_id", type=int)
@reason_option
@actor_option
@config_option
@database_url_option
def gateway_halt(gateway_id: int, reason: str, actor_name: str | None, config_path: Path,
                 database_url_value: str | None) -> None:
    """Stop all signing for one gateway at once (survives restarts) until `gateway resume`.

    \b
    Example:
      clearinghouse gateway halt 3 --reason "suspected key leak"
    """
    _kill_switch(config_path, database_url_value, gateway_id, True, reason, actor_name)


@gateway.command("resume")
@click.argument("gateway_id", type=int)
@reason_option
@actor_option
@config_option
@database_url_option
def gateway_resume(gateway_id: int, reason: str, actor_name: str | None, config_path: Path,
                   database_url_value: str | None) -> None:
    """Let a halted gateway sign again."""
    _kill_switch(config_path, database_url_value, gateway_id, False, reason, actor_name)


@click.group()
def signing() -> None:
    """The global kill switch: stop or resume all signing."""


@signing.command("halt")
@reason_option
@actor_option
@config_option
@database_url_option
def signing_halt(reason: str, actor_name: str | None, config_path: Path, database_url_value: str | None) -> None:
    """Stop all signing for every gateway at once (survives restarts).

    \b
    Example:
      clearinghouse signing halt --reason "deposit investigation"
    """
    _kill_switch(config_path, database_url_value, None, True, reason, actor_name)


@signing.command("resume")
@reason_option
@actor_option
@config_option
@database_url_option
def signing_resume(reason: str, actor_name: str | None, config_path: Path, database_url_value: str | None) -> None:
    """Release the global kill switch."""
    _kill_switch(config_path, database_url_value, None, False, reason, actor_name)


def _kill_switch(config_path: Path, url: str | None, gateway_id: int | None, engaged: bool, reason: str,
                 actor_name: str | None) -> None:
    with opened_ledger(database_url(config_path, url)) as db, translated():
        switch = ledger.set_kill_switch(db, engaged=engaged, actor=actor(actor_name), reason=reason,
                                        gateway_id=gateway_id)
    click.echo(f"signing {'halted' if switch.engaged else 'resumed'} for {switch.scope}: {switch.reason}")


def _pepper(config_path: Path) -> bytes:
    with translated():
        return settings(config_path).api_key_pepper()
