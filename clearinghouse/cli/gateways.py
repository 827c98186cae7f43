"""``clearinghouse gateway …`` and ``clearinghouse signing …``: tenants, keys, credit, kill switch.

Every change is a ledger transaction or an audited row with an actor and a reason. API keys
are shown once, at creation, and stored only as HMAC-SHA256 digests under the server pepper.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import click

from clearinghouse import ledger
from clearinghouse.domain.credit import CreditMode, CreditPolicy, QuotaPeriod
from clearinghouse.domain.gateways import ApiKey, GatewayStatus
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
from clearinghouse.cli.billing_profiles import set_billing_profile, show_billing_profile
from clearinghouse.cli.output import Column, fields, table

reason_option = click.option("--reason", required=True, help="Why, for the audit trail.")
wei = click.IntRange(min=1)


def _wei_text(amount: Fraction | int | None) -> str | None:
    """Exact wei as a decimal string (a fraction keeps its denominator: "7/3")."""
    return None if amount is None else str(amount)


@click.group()
def gateway() -> None:
    """Gateway operators: tenants, their API keys, credit and limits.

    \b
    Examples:
      clearinghouse gateway add acme-video
      clearinghouse gateway list --json
    """


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
    from clearinghouse.api.api_keys import issue_api_key  # loads gRPC's status codes: not for `gateway list`

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
    """Issue another API key, e.g. one per end user with --subject (to swap keys: rotate-key).

    \b
    Examples:
      clearinghouse gateway add-key 3
      clearinghouse gateway add-key 3 --subject user-42
    """
    from clearinghouse.api.api_keys import issue_api_key  # loads gRPC's status codes: not for `gateway list`

    pepper = _pepper(config_path)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        key_text, key = issue_api_key(db, gateway_id, pepper, usage_subject=subject)
    emit(as_json, {"gateway_id": gateway_id, "api_key_id": key.id, "api_key": key_text},
         [f"API key {key.id} for gateway {gateway_id} (shown once): {key_text}"])


@gateway.command("revoke-key")
@click.argument("api_key_id", type=int)
@config_option
@database_url_option
@json_option
def gateway_revoke_key(api_key_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Revoke an API key; a running daemon refuses it (401) within 2 s (its key cache).

    \b
    Examples:
      clearinghouse gateway revoke-key 7
      clearinghouse gateway revoke-key 7 --json
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        key = ledger.revoke_api_key(db, api_key_id)
    emit(as_json, _key_document(key),
         [f"API key {key.id} ({key.prefix}…) of gateway {key.gateway_id} revoked at {key.revoked_at}"])


@gateway.command("rotate-key")
@click.argument("gateway_id", type=int)
@click.option("--key-id", type=click.IntRange(min=1), default=None,
              help="Replace only this key (the new one keeps its subject); default: every unrevoked key.")
@click.option("--subject", default=None, help="Usage subject of the new key (default: see above).")
@config_option
@database_url_option
@json_option
def gateway_rotate_key(gateway_id: int, key_id: int | None, subject: str | None, config_path: Path,
                       database_url_value: str | None, as_json: bool) -> None:
    """Issue a new API key and revoke the old one(s) in one database transaction.

    Without --key-id every unrevoked key of the gateway is revoked and the new key has --subject
    (none if omitted); with --key-id only that key is, and the new key keeps its subject unless
    --subject is given. Either both happen or neither: a failure leaves the old keys working.
    The new key is printed once. A running daemon caches authenticated keys for 2 s
    (API_KEY_CACHE_TTL_S), so an old key may still sign for up to 2 s after the swap.

    \b
    Examples:
      clearinghouse gateway rotate-key 3
      clearinghouse gateway rotate-key 3 --key-id 7
      clearinghouse gateway rotate-key 3 --json | jq -r .api_key
    """
    from clearinghouse.api.api_keys import rotate_api_key  # loads gRPC's status codes: not for `gateway list`

    pepper = _pepper(config_path)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        key_text, new, revoked = rotate_api_key(db, gateway_id, pepper, key_id=key_id, usage_subject=subject)
    revoked_text = ", ".join(f"{k.id} ({k.prefix}…)" for k in revoked) or "none"
    emit(as_json, {"gateway_id": gateway_id, "api_key_id": new.id, "api_key": key_text,
                   "subject": new.usage_subject, "revoked": [_key_document(k) for k in revoked]},
         [f"API key {new.id} for gateway {gateway_id} (shown once, store it now): {key_text}",
          f"revoked API keys: {revoked_text}"])


@gateway.command("keys")
@click.argument("gateway_id", type=int)
@config_option
@database_url_option
@json_option
def gateway_keys(gateway_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """A gateway's API keys, revoked ones included: id, prefix, subject, created, revoked.

    Only the display prefix of a key is ever shown; the key itself is not stored.

    \b
    Examples:
      clearinghouse gateway keys 3
      clearinghouse gateway keys 3 --json | jq '.[] | select(.revoked_at == null) | .id'
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        ledger.get_gateway(db, gateway_id)
        keys = ledger.list_api_keys(db, gateway_id)
    emit(as_json, [_key_document(k) for k in keys], _key_table(keys) or ["no API keys"])


def _key_document(key: ApiKey) -> dict[str, object]:
    return {"id": key.id, "gateway_id": key.gateway_id, "prefix": key.prefix, "subject": key.usage_subject,
            "created_at": key.created_at.isoformat(), "revoked": key.revoked_at is not None,
            "revoked_at": None if key.revoked_at is None else key.revoked_at.isoformat()}


def _key_table(keys: tuple[ApiKey, ...]) -> list[str]:
    if not keys:
        return []
    columns = (Column("id", numeric=True), Column("prefix"), Column("subject"), Column("created"),
               Column("revoked"))
    return table(columns, [(k.id, k.prefix + "…", k.usage_subject, _minute(k.created_at),
                            None if k.revoked_at is None else _minute(k.revoked_at)) for k in keys])


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


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
    from clearinghouse.ledger.overview import gateway_overviews  # no SQLAlchemy on SQLite: fast start

    rows: list[dict[str, object]] = []
    cells: list[tuple[object, ...]] = []
    with translated():
        overviews = gateway_overviews(database_url(config_path, database_url_value), datetime.now(UTC))
    for item in overviews:
        prefixes = [prefix + "…" for prefix in item.key_prefixes]
        rows.append({
            "id": item.id, "name": item.name, "status": item.status.value, "keys": prefixes,
            "mode": item.mode.value, "available_wei": _wei_text(item.available),
            "period_spend_wei": _wei_text(item.period_spend),
        })
        cells.append((item.id, item.name, item.status.value, item.mode.value, _floor(item.available),
                      ", ".join(prefixes) or None))
    columns = (Column("id", numeric=True), Column("name"), Column("status"), Column("mode"),
               Column("available wei", numeric=True), Column("keys"))
    emit(as_json, rows, table(columns, cells) if cells else ["no gateways yet"])


def _floor(value: Fraction) -> str:
    return str(value.numerator // value.denominator)


@gateway.command("disable")
@click.argument("gateway_id", type=int)
@config_option
@database_url_option
@json_option
def gateway_disable(gateway_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Disable a gateway: its keys get 403 (within 2 s on a running daemon) until it is enabled.

    \b
    Examples:
      clearinghouse gateway disable 3
      clearinghouse gateway disable 3 --json
    """
    _set_status(config_path, database_url_value, gateway_id, GatewayStatus.DISABLED, as_json)


@gateway.command("enable")
@click.argument("gateway_id", type=int)
@config_option
@database_url_option
@json_option
def gateway_enable(gateway_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Enable a disabled gateway.

    \b
    Examples:
      clearinghouse gateway enable 3
    """
    _set_status(config_path, database_url_value, gateway_id, GatewayStatus.ACTIVE, as_json)


def _set_status(config_path: Path, url: str | None, gateway_id: int, status: GatewayStatus,
                as_json: bool) -> None:
    with opened_ledger(database_url(config_path, url)) as db, translated():
        changed = ledger.set_gateway_status(db, gateway_id, status)
    emit(as_json, {"id": changed.id, "name": changed.name, "status": changed.status.value},
         [f"gateway {changed.id} {changed.name!r} is {changed.status.value}"])


@gateway.command("top-up")
@click.argument("gateway_id", type=int)
@click.option("--wei", "amount_wei", type=wei, required=True, help="Amount received, in wei.")
@reason_option
@actor_option
@config_option
@database_url_option
@json_option
def gateway_top_up(gateway_id: int, amount_wei: int, reason: str, actor_name: str | None,
                   config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Record funds received from a gateway (a ledger transaction with actor and reason).

    \b
    Examples:
      clearinghouse gateway top-up 3 --wei 50000000000000000 --reason "invoice CH-2026-000042 paid"
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        entry = ledger.top_up(db, gateway_id, amount_wei, actor=actor(actor_name), reason=reason)
    emit(as_json, {"transaction_id": entry.id, "gateway_id": gateway_id, "amount_wei": str(amount_wei)},
         [f"ledger transaction {entry.id}: gateway {gateway_id} topped up by {amount_wei} wei"])


@gateway.command("adjust")
@click.argument("gateway_id", type=int)
@click.option("--wei", "amount", required=True,
              help='Exact wei: positive charges the gateway, negative credits it; "7/3" allowed.')
@reason_option
@actor_option
@config_option
@database_url_option
@json_option
def gateway_adjust(gateway_id: int, amount: str, reason: str, actor_name: str | None,
                   config_path: Path, database_url_value: str | None, as_json: bool) -> None:
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
    emit(as_json, {"transaction_id": entry.id, "gateway_id": gateway_id, "amount_wei": str(value)},
         [f"ledger transaction {entry.id}: gateway {gateway_id} adjusted by {value} wei"])


@dataclass(frozen=True, slots=True)
class LimitChanges:
    """What an operator asked to change in a credit policy; None: keep the current value."""

    mode: CreditMode | None
    credit_limit_wei: int | None
    quota_wei: int | None
    no_quota: bool
    quota_period: QuotaPeriod | None
    subject_quota_wei: int | None
    no_subject_quota: bool

    def merged(self, current: CreditPolicy, actor_name: str, reason: str) -> CreditPolicy:
        """These changes over ``current``. Raises UsageError for contradictions (a quota and
        --no-quota, a credit limit on a prepaid gateway)."""
        for value, cleared, name in ((self.quota_wei, self.no_quota, "quota"),
                                     (self.subject_quota_wei, self.no_subject_quota, "subject-quota")):
            if value is not None and cleared:
                raise click.UsageError(f"give --{name}-wei or --no-{name}, not both")
        mode = self.mode or current.mode
        if mode is CreditMode.PREPAID and self.credit_limit_wei:
            raise click.UsageError("a prepaid gateway has no credit limit: add --mode credit")
        # A prepaid gateway has no credit, so moving to prepaid drops the limit it had.
        kept_limit = 0 if mode is CreditMode.PREPAID else current.credit_limit_wei
        return replace(
            current, mode=mode, actor=actor_name, reason=reason,
            credit_limit_wei=kept_limit if self.credit_limit_wei is None else self.credit_limit_wei,
            quota_wei=None if self.no_quota else _kept(self.quota_wei, current.quota_wei),
            quota_period=self.quota_period or current.quota_period,
            subject_quota_wei=None if self.no_subject_quota else _kept(self.subject_quota_wei,
                                                                       current.subject_quota_wei),
        )

    def empty(self) -> bool:
        """True when nothing would change."""
        return (self.mode, self.credit_limit_wei, self.quota_wei, self.quota_period, self.subject_quota_wei) == (
            None, None, None, None, None) and not (self.no_quota or self.no_subject_quota)


def _kept(given: int | None, current: int | None) -> int | None:
    return current if given is None else given


@gateway.command("set-limits")
@click.argument("gateway_id", type=int)
@click.option("--mode", type=click.Choice([m.value for m in CreditMode]), default=None,
              help="prepaid: may spend what it paid; credit: may owe up to the credit limit.")
@click.option("--credit-limit-wei", type=click.IntRange(min=0), default=None, help="What a credit gateway may owe.")
@click.option("--quota-wei", type=wei, default=None, help="EV signed per period, at most.")
@click.option("--no-quota", is_flag=True, help="Remove the quota.")
@click.option("--quota-period", type=click.Choice([p.value for p in QuotaPeriod]), default=None,
              help="The UTC calendar period the quotas count over.")
@click.option("--subject-quota-wei", type=wei, default=None, help="EV signed per usage subject per period.")
@click.option("--no-subject-quota", is_flag=True, help="Remove the per-subject quota.")
@reason_option
@actor_option
@config_option
@database_url_option
@json_option
def gateway_set_limits(gateway_id: int, mode: str | None, credit_limit_wei: int | None, quota_wei: int | None,
                       no_quota: bool, quota_period: str | None, subject_quota_wei: int | None,
                       no_subject_quota: bool, reason: str, actor_name: str | None, config_path: Path,
                       database_url_value: str | None, as_json: bool) -> None:
    """Change a gateway's limits: mode, credit limit, quota per month or day, per-subject quota.

    Options left out keep their current values (a new gateway starts prepaid with no quotas);
    --no-quota and --no-subject-quota remove a quota. Switching to prepaid drops the credit
    limit. Each change is a new policy row with actor and reason; the old one stays in the
    audit history. Signing calls in flight finish under the old limits.

    \b
    Examples:
      clearinghouse gateway set-limits 3 --mode credit --credit-limit-wei 10000000000000000000 \\
          --reason "enterprise plan"
      clearinghouse gateway set-limits 3 --quota-wei 5000000000000000000 --quota-period day --reason "trial"
      clearinghouse gateway set-limits 3 --no-quota --subject-quota-wei 10000000000000000 --reason "per user"
    """
    changes = LimitChanges(
        mode=None if mode is None else CreditMode(mode), credit_limit_wei=credit_limit_wei,
        quota_wei=quota_wei, no_quota=no_quota,
        quota_period=None if quota_period is None else QuotaPeriod(quota_period),
        subject_quota_wei=subject_quota_wei, no_subject_quota=no_subject_quota,
    )
    if changes.empty():
        raise click.UsageError("nothing to change: give at least one of the limit options (see --help)")
    _set_limits(config_path, database_url_value, gateway_id, changes, reason, actor_name, as_json)


@gateway.command("set-credit", hidden=True)
@click.argument("gateway_id", type=int)
@click.option("--mode", type=click.Choice([m.value for m in CreditMode]), required=True)
@click.option("--credit-limit-wei", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--quota-wei", type=wei, default=None)
@click.option("--quota-period", type=click.Choice([p.value for p in QuotaPeriod]), default="month",
              show_default=True)
@click.option("--subject-quota-wei", type=wei, default=None)
@reason_option
@actor_option
@config_option
@database_url_option
@json_option
def gateway_set_credit(gateway_id: int, mode: str, credit_limit_wei: int, quota_wei: int | None,
                       quota_period: str, subject_quota_wei: int | None, reason: str, actor_name: str | None,
                       config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Deprecated: use set-limits. Replaces the whole policy (omitted options reset).

    \b
    Examples:
      clearinghouse gateway set-limits 3 --mode prepaid --no-quota --no-subject-quota --reason "new customer"
    """
    click.echo("set-credit is deprecated: use `clearinghouse gateway set-limits`", err=True)
    # The old command replaced everything: every option is explicit, so nothing is merged.
    changes = LimitChanges(
        mode=CreditMode(mode), credit_limit_wei=credit_limit_wei, quota_wei=quota_wei,
        no_quota=quota_wei is None, quota_period=QuotaPeriod(quota_period),
        subject_quota_wei=subject_quota_wei, no_subject_quota=subject_quota_wei is None,
    )
    _set_limits(config_path, database_url_value, gateway_id, changes, reason, actor_name, as_json)


def _set_limits(config_path: Path, url: str | None, gateway_id: int, changes: LimitChanges, reason: str,
                actor_name: str | None, as_json: bool) -> None:
    who = actor(actor_name)
    with opened_ledger(database_url(config_path, url)) as db, translated():
        before, after = ledger.update_credit_policy(db, gateway_id, lambda current: changes.merged(current, who, reason))
    emit(as_json, {"gateway_id": gateway_id, "before": _policy_document(before), "after": _policy_document(after)},
         [f"gateway {gateway_id} limits (was → now):",
          *fields([(label, f"{was} → {now}") for (label, was), (_, now)
                   in zip(_policy_fields(before), _policy_fields(after), strict=True)])])


def _policy_document(policy: CreditPolicy) -> dict[str, object]:
    return {"mode": policy.mode.value, "credit_limit_wei": policy.credit_limit_wei, "quota_wei": policy.quota_wei,
            "quota_period": policy.quota_period.value, "subject_quota_wei": policy.subject_quota_wei,
            "actor": policy.actor, "reason": policy.reason,
            "changed_at": None if policy.changed_at is None else policy.changed_at.isoformat()}


def _policy_fields(policy: CreditPolicy) -> list[tuple[str, object]]:
    return [("  mode", policy.mode.value), ("  credit limit wei", policy.credit_limit_wei),
            ("  quota wei", policy.quota_wei or "none"), ("  quota period", policy.quota_period.value),
            ("  subject quota wei", policy.subject_quota_wei or "none")]


@gateway.command("show")
@click.argument("gateway_id", type=int)
@config_option
@database_url_option
@json_option
def gateway_show(gateway_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """A gateway's status, keys, credit policy and spend in the current period.

    \b
    Examples:
      clearinghouse gateway show 3
      clearinghouse gateway show 3 --json | jq .available_wei
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        item = ledger.get_gateway(db, gateway_id)
        keys = ledger.list_api_keys(db, gateway_id)
        summary = ledger.spend_summary(db, gateway_id, datetime.now(UTC))
    policy = summary.policy
    data: dict[str, object] = {
        "id": item.id, "name": item.name, "status": item.status.value, "mode": policy.mode.value,
        "credit_limit_wei": policy.credit_limit_wei, "quota_wei": policy.quota_wei,
        "quota_period": policy.quota_period.value, "subject_quota_wei": policy.subject_quota_wei,
        "owed_wei": _wei_text(summary.owed), "available_wei": _wei_text(summary.available),
        "period_start": summary.period_start.isoformat(), "period_spend_wei": _wei_text(summary.period_spend),
        "quota_left_wei": _wei_text(summary.quota_left),
    }
    lines = fields([(key, value) for key, value in data.items()])
    emit(as_json, data | {"keys": [_key_document(k) for k in keys]},
         [*lines, "", *(_key_table(keys) or ["no API keys"])])


@gateway.command("halt")
@click.argument("gateway_id", type=int)
@reason_option
@actor_option
@config_option
@database_url_option
@json_option
def gateway_halt(gateway_id: int, reason: str, actor_name: str | None, config_path: Path,
                 database_url_value: str | None, as_json: bool) -> None:
    """Stop all signing for one gateway at once (survives restarts) until `gateway resume`.

    \b
    Examples:
      clearinghouse gateway halt 3 --reason "suspected key leak"
    """
    _kill_switch(config_path, database_url_value, gateway_id, True, reason, actor_name, as_json)


@gateway.command("resume")
@click.argument("gateway_id", type=int)
@reason_option
@actor_option
@config_option
@database_url_option
@json_option
def gateway_resume(gateway_id: int, reason: str, actor_name: str | None, config_path: Path,
                   database_url_value: str | None, as_json: bool) -> None:
    """Let a halted gateway sign again.

    \b
    Examples:
      clearinghouse gateway resume 3 --reason "key rotated"
    """
    _kill_switch(config_path, database_url_value, gateway_id, False, reason, actor_name, as_json)


@click.group()
def signing() -> None:
    """The global kill switch: stop or resume all signing.

    \b
    Examples:
      clearinghouse signing halt --reason "deposit investigation"
      clearinghouse signing resume --reason "deposit topped up"
    """


@signing.command("halt")
@reason_option
@actor_option
@config_option
@database_url_option
@json_option
def signing_halt(reason: str, actor_name: str | None, config_path: Path, database_url_value: str | None,
                 as_json: bool) -> None:
    """Stop all signing for every gateway at once (survives restarts).

    \b
    Examples:
      clearinghouse signing halt --reason "deposit investigation"
    """
    _kill_switch(config_path, database_url_value, None, True, reason, actor_name, as_json)


@signing.command("resume")
@reason_option
@actor_option
@config_option
@database_url_option
@json_option
def signing_resume(reason: str, actor_name: str | None, config_path: Path, database_url_value: str | None,
                   as_json: bool) -> None:
    """Release the global kill switch.

    \b
    Examples:
      clearinghouse signing resume --reason "deposit topped up"
    """
    _kill_switch(config_path, database_url_value, None, False, reason, actor_name, as_json)


def _kill_switch(config_path: Path, url: str | None, gateway_id: int | None, engaged: bool, reason: str,
                 actor_name: str | None, as_json: bool) -> None:
    with opened_ledger(database_url(config_path, url)) as db, translated():
        switch = ledger.set_kill_switch(db, engaged=engaged, actor=actor(actor_name), reason=reason,
                                        gateway_id=gateway_id)
    emit(as_json, {"scope": switch.scope, "gateway_id": switch.gateway_id, "engaged": switch.engaged,
                   "actor": switch.actor, "reason": switch.reason, "changed_at": switch.changed_at.isoformat()},
         [f"signing {'halted' if switch.engaged else 'resumed'} for {switch.scope}: {switch.reason}"])


def _pepper(config_path: Path) -> bytes:
    with translated():
        return settings(config_path).api_key_pepper()


# The billing profile's commands live in their own module (this one is at its size limit).
gateway.add_command(set_billing_profile)
gateway.add_command(show_billing_profile)
