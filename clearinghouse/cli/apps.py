"""``clearinghouse app …``, ``clearinghouse user …`` and ``clearinghouse oidc …``: apps (a gateway's
OAuth clients), their end users and allowances, and the token signing keys.

An app's secret is shown once, at creation or rotation, and stored only as its HMAC-SHA256 digest
under the server pepper. A change made here reaches running daemons within STANDING_RECHECK_S
(5 s: they re-read an app's and a user's standing that often); a user deactivated here is refused
by the next signing batch of every daemon at once.
"""

from __future__ import annotations

from pathlib import Path

import click

from clearinghouse.cli.options import (
    config_option,
    database_url,
    database_url_option,
    emit,
    json_option,
    opened_ledger,
    settings,
    translated,
)
from clearinghouse.cli.output import Column, table


@click.group()
def app() -> None:
    """Apps: a gateway's OAuth clients (client id + secret), several per gateway.

    \b
    Examples:
      clearinghouse app add 1 my-saas
      clearinghouse app list --json
    """


@app.command("add")
@click.argument("gateway_id", type=int)
@click.argument("name")
@config_option
@database_url_option
@json_option
def app_add(gateway_id: int, name: str, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Create an app of a gateway; its client secret is printed once and never again.

    \b
    Examples:
      clearinghouse app add 1 my-saas
      clearinghouse app add 1 my-saas --json | jq -r .client_secret
    """
    from clearinghouse.identity.service import register_app

    pepper = _pepper(config_path)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        created, secret = register_app(db, pepper, gateway_id, name)
    emit(as_json, {"client_id": created.client_id, "client_secret": secret, "gateway_id": gateway_id, "name": name},
         [f"app {created.client_id} {name!r} of gateway {gateway_id} created",
          f"client secret (shown once, store it now): {secret}"])


@app.command("list")
@click.option("--gateway", "gateway_id", type=int, default=None, help="Only this gateway's apps.")
@config_option
@database_url_option
@json_option
def app_list(gateway_id: int | None, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Every app (never a secret).

    \b
    Examples:
      clearinghouse app list
      clearinghouse app list --gateway 1 --json
    """
    from clearinghouse.ledger.identity import list_apps

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        apps = list_apps(db, gateway_id)
    rows = [{"client_id": a.client_id, "gateway_id": a.gateway_id, "name": a.name, "active": a.active,
             "created_at": a.created_at.isoformat(), "secret_rotated_at": a.secret_rotated_at.isoformat()}
            for a in apps]
    emit(as_json, rows, table(
        [Column("client id"), Column("gateway", numeric=True), Column("name"), Column("active"), Column("created")],
        [[r["client_id"], r["gateway_id"], r["name"], "yes" if r["active"] else "no", r["created_at"]] for r in rows]))


@app.command("rotate-secret")
@click.argument("client_id")
@config_option
@database_url_option
@json_option
def app_rotate_secret(client_id: str, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Give an app a new secret (printed once); the old one stops working at once.

    \b
    Examples:
      clearinghouse app rotate-secret app_Q2x…
    """
    from clearinghouse.identity.service import rotate_secret

    pepper = _pepper(config_path)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        rotated, secret = rotate_secret(db, pepper, client_id)
    emit(as_json, {"client_id": rotated.client_id, "client_secret": secret},
         [f"app {rotated.client_id}: new client secret (shown once, store it now): {secret}"])


@app.command("disable")
@click.argument("client_id")
@config_option
@database_url_option
def app_disable(client_id: str, config_path: Path, database_url_value: str | None) -> None:
    """Disable an app: no new tokens; its tokens and its users' stop working.

    \b
    Examples:
      clearinghouse app disable app_Q2x…
    """
    _set_active(client_id, False, config_path, database_url_value)


@app.command("enable")
@click.argument("client_id")
@config_option
@database_url_option
def app_enable(client_id: str, config_path: Path, database_url_value: str | None) -> None:
    """Enable a disabled app again.

    \b
    Examples:
      clearinghouse app enable app_Q2x…
    """
    _set_active(client_id, True, config_path, database_url_value)


@click.group()
def user() -> None:
    """An app's end users and their allowances (exact wei).

    \b
    Examples:
      clearinghouse user list app_Q2x…
      clearinghouse user grant app_Q2x… alice 1000000000000
    """


@user.command("list")
@click.argument("client_id")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@click.option("--after", type=click.IntRange(min=0), default=0, help="The last id of the page before.")
@config_option
@database_url_option
@json_option
def user_list(client_id: str, limit: int, after: int, config_path: Path, database_url_value: str | None,
              as_json: bool) -> None:
    """A page of an app's users with their allowances.

    \b
    Examples:
      clearinghouse user list app_Q2x…
      clearinghouse user list app_Q2x… --after 100 --json
    """
    from clearinghouse.ledger.identity import get_app, list_users

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        users = list_users(db, get_app(db, client_id), after_id=after, limit=limit)
    rows = [{"id": u.id, "external_id": u.external_id, "email": u.email, "active": u.active,
             "grant_wei": None if u.grant_wei is None else str(u.grant_wei), "spent_wei": str(u.spent),
             "remaining_wei": None if u.remaining is None else str(u.remaining)} for u in users]
    emit(as_json, rows, table(
        [Column("id", numeric=True), Column("external id"), Column("active"), Column("grant wei", numeric=True),
         Column("spent wei", numeric=True), Column("remaining wei", numeric=True)],
        [[r["id"], r["external_id"], "yes" if r["active"] else "no", r["grant_wei"], r["spent_wei"],
          r["remaining_wei"]] for r in rows]))


@user.command("add")
@click.argument("client_id")
@click.argument("external_id")
@click.option("--email", default=None)
@config_option
@database_url_option
def user_add(client_id: str, external_id: str, email: str | None, config_path: Path,
             database_url_value: str | None) -> None:
    """Provision an end user of an app (no allowance: only the gateway's credit applies).

    \b
    Examples:
      clearinghouse user add app_Q2x… alice --email alice@example.com
    """
    from clearinghouse.ledger.identity import get_app, provision_user

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        created = provision_user(db, get_app(db, client_id), external_id, email)
    click.echo(f"user {created.external_id!r} of app {client_id} provisioned (usage subject {created.usage_subject})")


@user.command("grant")
@click.argument("client_id")
@click.argument("external_id")
@click.argument("amount_wei", type=click.IntRange(min=1))
@config_option
@database_url_option
def user_grant(client_id: str, external_id: str, amount_wei: int, config_path: Path,
               database_url_value: str | None) -> None:
    """Add AMOUNT_WEI to a user's allowance.

    \b
    Examples:
      clearinghouse user grant app_Q2x… alice 1000000000000
    """
    from clearinghouse.ledger.identity import get_app, grant_allowance

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        granted = grant_allowance(db, get_app(db, client_id), external_id, amount_wei)
    click.echo(f"user {external_id!r}: granted {granted.grant_wei} wei, spent {granted.spent} wei, "
               f"remaining {granted.remaining} wei")


@user.command("deactivate")
@click.argument("client_id")
@click.argument("external_id")
@config_option
@database_url_option
def user_deactivate(client_id: str, external_id: str, config_path: Path, database_url_value: str | None) -> None:
    """Deactivate a user: its tokens stop working, its calls are refused.

    \b
    Examples:
      clearinghouse user deactivate app_Q2x… alice
    """
    from clearinghouse.ledger.identity import get_app, update_user

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        update_user(db, get_app(db, client_id), external_id, active=False)
    click.echo(f"user {external_id!r} of app {client_id} deactivated")


@click.group()
def oidc() -> None:
    """The ES256 keys tokens are signed with ([oidc] signing_keys_file, mode 0600).

    \b
    Examples:
      clearinghouse oidc init-keys
      clearinghouse oidc rotate-key
    """


@oidc.command("init-keys")
@config_option
def oidc_init_keys(config_path: Path) -> None:
    """Create the key file with its first key (refuses to overwrite one).

    \b
    Examples:
      clearinghouse oidc init-keys --config clearinghouse.toml
    """
    from clearinghouse.identity.keys import create_key_file

    with translated():
        kid = create_key_file(_keys_file(config_path))
    click.echo(f"signing key {kid} created")


@oidc.command("rotate-key")
@config_option
def oidc_rotate_key(config_path: Path) -> None:
    """Add a new current key; the previous one still verifies (and is published) until the next
    rotation, so rotate no more often than the longest token lifetime. Daemons pick it up within
    KEY_FILE_CHECK_S.

    \b
    Examples:
      clearinghouse oidc rotate-key
    """
    from clearinghouse.identity.keys import rotate_key_file

    with translated():
        kid, dropped = rotate_key_file(_keys_file(config_path))
    click.echo(f"signing key {kid} is current" + (f"; dropped {', '.join(dropped)}" if dropped else ""))


@oidc.command("keys")
@config_option
@json_option
def oidc_keys(config_path: Path, as_json: bool) -> None:
    """The key ids in the file, oldest first; the last one signs.

    \b
    Examples:
      clearinghouse oidc keys --json
    """
    from clearinghouse.identity.keys import key_ids

    with translated():
        kids = key_ids(_keys_file(config_path))
    emit(as_json, list(kids), [f"{kid}{'  (current)' if i == len(kids) - 1 else ''}" for i, kid in enumerate(kids)])


def _keys_file(config_path: Path) -> Path:
    config = settings(config_path)
    if config.oidc is None:
        raise click.ClickException(f"{config_path} has no [oidc] section: set issuer and signing_keys_file")
    return config.oidc.signing_keys_file


def _pepper(config_path: Path) -> bytes:
    with translated():
        return settings(config_path).api_key_pepper()


def _set_active(client_id: str, active: bool, config_path: Path, database_url_value: str | None) -> None:
    from clearinghouse.ledger.identity import set_app_active

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        changed = set_app_active(db, client_id, active)
    click.echo(f"app {changed.client_id} {'enabled' if changed.active else 'disabled'}")
