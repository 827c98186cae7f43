"""``clearinghouse db`` and ``clearinghouse ledger``: the schema and the ledger's own checks."""

from __future__ import annotations

import json
from pathlib import Path

import click

from clearinghouse import ledger
from clearinghouse.cli.options import (
    config_option,
    database_url,
    database_url_option,
    json_option,
    opened_ledger,
    translated,
)

@click.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@config_option
@database_url_option
def db_upgrade(config_path: Path, database_url_value: str | None) -> None:
    """Create or migrate the ledger schema to this version's head.

    \b
    Examples:
      clearinghouse db upgrade --database-url sqlite:///clearinghouse.sqlite3
      CLEARINGHOUSE_DATABASE_URL=postgresql+psycopg://ch@db/ch clearinghouse db upgrade
    """
    url = database_url(config_path, database_url_value)
    with translated():
        revision = ledger.upgrade_to_head(url)
    click.echo(f"{ledger.mask_url(url)} is at revision {revision}")


@click.group("ledger")
def ledger_group() -> None:
    """Ledger checks."""


@ledger_group.command("verify")
@config_option
@database_url_option
@json_option
def ledger_verify(config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Prove postings sum to zero per transaction and balances equal their postings.

    Exits 1 when any check fails, listing the offending ids.

    \b
    Examples:
      clearinghouse ledger verify --database-url sqlite:///clearinghouse.sqlite3
      clearinghouse ledger verify --json
    """
    with opened_ledger(database_url(config_path, database_url_value)) as database, translated():
        report = ledger.verify_ledger(database)
    if as_json:
        click.echo(json.dumps({
            "ok": report.ok,
            "transactions_checked": report.transactions_checked,
            "accounts_checked": report.accounts_checked,
            "unbalanced_transaction_ids": list(report.unbalanced_transaction_ids),
            "mismatched_account_ids": list(report.mismatched_account_ids),
            "unbooked_record_ids": list(report.unbooked_record_ids),
            "mismatched_spend_days": list(report.mismatched_spend_days),
            "mismatched_exposure_rollups": list(report.mismatched_exposure_rollups),
            "mismatched_hourly_usage": list(report.mismatched_hourly_usage),
        }))
    else:
        click.echo(f"checked {report.transactions_checked} transactions and {report.accounts_checked} accounts")
        for label, ids in (("unbalanced transactions", report.unbalanced_transaction_ids),
                           ("accounts not equal to their postings", report.mismatched_account_ids),
                           ("signing records without a ledger transaction", report.unbooked_record_ids),
                           ("spend rollups not equal to their records", report.mismatched_spend_days),
                           ("exposure rollups not equal to their records", report.mismatched_exposure_rollups),
                           ("hourly usage rows not equal to their records", report.mismatched_hourly_usage)):
            if ids:
                click.echo(f"{label}: {', '.join(map(str, ids))}", err=True)
    if not report.ok:
        raise SystemExit(1)
    if not as_json:
        click.echo("ledger ok")
