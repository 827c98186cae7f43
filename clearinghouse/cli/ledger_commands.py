"""``clearinghouse db`` and ``clearinghouse ledger``: the schema and the ledger's own checks."""

from __future__ import annotations

from pathlib import Path

import click

from clearinghouse import ledger
from clearinghouse.cli.options import (
    config_option,
    database_url,
    database_url_option,
    emit,
    json_option,
    opened_ledger,
    translated,
)


@click.group()
def db() -> None:
    """Database schema.

    \b
    Examples:
      clearinghouse db upgrade --config clearinghouse.toml
    """


@db.command("upgrade")
@config_option
@database_url_option
@json_option
def db_upgrade(config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Create or migrate the ledger schema to this version's head.

    \b
    Examples:
      clearinghouse db upgrade --database-url sqlite:///clearinghouse.sqlite3
      CLEARINGHOUSE_DATABASE_URL=postgresql+psycopg://ch@db/ch clearinghouse db upgrade
    """
    url = database_url(config_path, database_url_value)
    with translated():
        revision = ledger.upgrade_to_head(url)
    emit(as_json, {"database_url": ledger.mask_url(url), "revision": revision},
         [f"{ledger.mask_url(url)} is at revision {revision}"])


@click.group("ledger")
def ledger_group() -> None:
    """Ledger checks.

    \b
    Examples:
      clearinghouse ledger verify --config clearinghouse.toml
    """


FINDINGS = (
    ("unbalanced_transaction_ids", "unbalanced transactions"),
    ("mismatched_account_ids", "accounts not equal to their postings"),
    ("unbooked_record_ids", "signing records without a ledger transaction"),
    ("mismatched_spend_days", "spend rollups not equal to their records"),
    ("mismatched_exposure_rollups", "exposure rollups not equal to their records"),
    ("mismatched_hourly_usage", "hourly usage rows not equal to their records"),
)
"""The verification report's lists of offenders, and how each is named to a person."""


@ledger_group.command("verify")
@config_option
@database_url_option
@json_option
def ledger_verify(config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Prove postings sum to zero per transaction and balances equal their postings.

    Also checks the spend, exposure and hourly usage rollups against the records they sum.
    Exits 1 when any check fails, listing the offending ids (on stderr; in the JSON document
    with --json). It runs as a few set-based queries with no steps to count, so it shows no
    progress bar.

    \b
    Examples:
      clearinghouse ledger verify --database-url sqlite:///clearinghouse.sqlite3
      clearinghouse ledger verify --json
    """
    with opened_ledger(database_url(config_path, database_url_value)) as database, translated():
        report = ledger.verify_ledger(database)
    offenders = {name: list(getattr(report, name)) for name, _ in FINDINGS}
    summary = f"checked {report.transactions_checked} transactions and {report.accounts_checked} accounts"
    emit(as_json, {"ok": report.ok, "transactions_checked": report.transactions_checked,
                   "accounts_checked": report.accounts_checked} | offenders,
         [summary, "ledger ok"] if report.ok else [summary])
    if not as_json:
        for name, label in FINDINGS:
            if offenders[name]:
                click.echo(f"{label}: {', '.join(map(str, offenders[name]))}", err=True)
    if not report.ok:
        raise SystemExit(1)
