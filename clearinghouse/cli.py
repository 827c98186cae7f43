"""The ``clearinghouse`` command line.

Commands are thin: they parse options, call the layer that owns the work, and print. Exit
codes: 0 success, 1 the work failed (message on stderr), 2 bad usage (click's own).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import click
from eth_account import Account

from clearinghouse import __version__, ledger, pm
from clearinghouse.config import load_settings
from clearinghouse.errors import ClearinghouseError
from clearinghouse.limits import TICKETS_PER_BATCH_MAX
from clearinghouse.pm.ev import ticket_ev

DEMO_TICKETS_MAX = 1_000_000
"""A demo is a smoke test and a rough rate; a million tickets is ~30 s on one core."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="clearinghouse")
def main() -> None:
    """Signs Livepeer PM tickets for many gateways, meters them and invoices them."""


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What a demo run signed and how fast."""

    implementation: str
    sender: bytes
    tickets: int
    seconds: float
    ev_signed_wei: Fraction


def run_demo(tickets: int, batch: int) -> DemoResult:
    """Signs ``tickets`` demo tickets with a throwaway key, verifying every one.

    Raises ClearinghouseError if any ticket fails verification (it never should).
    """
    key = bytes(Account.create().key)
    sender = pm.private_key_to_address(key)
    recipient, rand_hash, block_hash = secrets.token_bytes(20), secrets.token_bytes(32), secrets.token_bytes(32)
    face_value, win_prob, creation_round = 10**15, ((1 << 256) - 1) // 100, 3500
    signed: list[tuple[bytes, bytes]] = []
    start = time.perf_counter()
    for first in range(1, tickets + 1, batch):
        count = min(batch, tickets + 1 - first)
        signed += pm.sign_ticket_batch(
            key, recipient, sender, face_value, win_prob, rand_hash, creation_round, block_hash,
            first, count,
        )
    seconds = time.perf_counter() - start
    for nonce, (digest, signature) in enumerate(signed, start=1):
        expected = pm.ticket_hash(
            recipient, sender, face_value, win_prob, nonce, rand_hash, creation_round, block_hash
        )
        if digest != expected or not pm.verify_personal_signature(digest, signature, sender):
            raise ClearinghouseError(f"demo ticket with nonce {nonce} failed verification")
    return DemoResult(pm.IMPLEMENTATION, sender, tickets, seconds,
                      ticket_ev(face_value, win_prob) * tickets)


@main.command()
@click.option("--tickets", type=click.IntRange(1, DEMO_TICKETS_MAX), default=20_000,
              show_default=True, help="How many tickets to sign.")
@click.option("--batch", type=click.IntRange(1, TICKETS_PER_BATCH_MAX), default=100,
              show_default=True, help="Tickets per sign_ticket_batch call.")
def demo(tickets: int, batch: int) -> None:
    """Sign and verify demo tickets with a throwaway key; print the rate.

    \b
    Examples:
      clearinghouse demo
      clearinghouse demo --tickets 100000 --batch 10
      CLEARINGHOUSE_NO_EXTENSIONS=1 clearinghouse demo --tickets 500
    """
    try:
        pm.require_native()
        result = run_demo(tickets, batch)
    except ClearinghouseError as exc:
        raise click.ClickException(str(exc)) from exc
    ev = result.ev_signed_wei
    click.echo(f"ticket core:    {result.implementation}")
    click.echo(f"sender:         0x{result.sender.hex()} (throwaway key)")
    click.echo(f"tickets signed: {result.tickets} in batches of {batch}, every one verified")
    click.echo(f"rate:           {result.tickets / result.seconds:,.0f} tickets/s on one thread")
    click.echo(f"EV signed:      {ev.numerator // ev.denominator} wei (floor of the exact rational)")


CONFIG_OPTION = click.option(
    "--config", "config_path", type=click.Path(path_type=Path), default=Path("clearinghouse.toml"),
    show_default=True, help="Configuration file (TOML).",
)
DATABASE_URL_OPTION = click.option(
    "--database-url", envvar="CLEARINGHOUSE_DATABASE_URL", default=None,
    help="Overrides the configuration's database_url (env CLEARINGHOUSE_DATABASE_URL).",
)


def _database_url(config_path: Path, database_url: str | None) -> str:
    """The database URL from the option or environment, else from the configuration file."""
    if database_url:
        return database_url
    if not config_path.exists():
        raise click.ClickException(f"no --database-url given and no configuration at {config_path}")
    return load_settings(config_path).database_url


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@CONFIG_OPTION
@DATABASE_URL_OPTION
def db_upgrade(config_path: Path, database_url: str | None) -> None:
    """Create or migrate the ledger schema to this version's head.

    \b
    Examples:
      clearinghouse db upgrade --database-url sqlite:///clearinghouse.sqlite3
      CLEARINGHOUSE_DATABASE_URL=postgresql+psycopg://ch@db/ch clearinghouse db upgrade
    """
    url = _database_url(config_path, database_url)
    try:
        revision = ledger.upgrade_to_head(url)
    except ClearinghouseError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{ledger.mask_url(url)} is at revision {revision}")


@main.group("ledger")
def ledger_group() -> None:
    """Ledger checks."""


@ledger_group.command("verify")
@CONFIG_OPTION
@DATABASE_URL_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def ledger_verify(config_path: Path, database_url: str | None, as_json: bool) -> None:
    """Prove postings sum to zero per transaction and balances equal their postings.

    Exits 1 when any check fails, listing the offending ids.

    \b
    Examples:
      clearinghouse ledger verify --database-url sqlite:///clearinghouse.sqlite3
      clearinghouse ledger verify --json
    """
    url = _database_url(config_path, database_url)
    database = ledger.open_database(url)
    try:
        ledger.check_database_current(database)
        report = ledger.verify_ledger(database)
    except ClearinghouseError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps({
            "ok": report.ok,
            "transactions_checked": report.transactions_checked,
            "accounts_checked": report.accounts_checked,
            "unbalanced_transaction_ids": list(report.unbalanced_transaction_ids),
            "mismatched_account_ids": list(report.mismatched_account_ids),
            "unbooked_record_ids": list(report.unbooked_record_ids),
            "mismatched_spend_days": list(report.mismatched_spend_days),
        }))
    else:
        click.echo(f"checked {report.transactions_checked} transactions and {report.accounts_checked} accounts")
        for label, ids in (("unbalanced transactions", report.unbalanced_transaction_ids),
                           ("accounts not equal to their postings", report.mismatched_account_ids),
                           ("signing records without a ledger transaction", report.unbooked_record_ids),
                           ("spend rollups not equal to their records", report.mismatched_spend_days)):
            if ids:
                click.echo(f"{label}: {', '.join(map(str, ids))}", err=True)
    if not report.ok:
        raise SystemExit(1)
    if not as_json:
        click.echo("ledger ok")
