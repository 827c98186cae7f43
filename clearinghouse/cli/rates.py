"""``clearinghouse rate``: the manual ETH/USD rate table and pricing records written without a rate."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import click

from clearinghouse import ledger
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
from clearinghouse.cli.output import Column, table

RATE_DECIMALS_SHOWN = 18
"""Rates are shown exactly when they have at most 18 decimals (every rate entered here has);
a Chainlink answer has 8."""


@click.group("rate")
def rate() -> None:
    """ETH/USD rates with provenance: enter, import, list; price unpriced records.

    \b
    Examples:
      clearinghouse rate add 3012.55 --valid-at 2026-11-01T00:00:00Z --reason "ECB reference, 1 Nov"
      clearinghouse rate list --limit 5
    """


def _rate_text(_: click.Context, __: click.Parameter, text: str) -> Fraction:
    from clearinghouse.billing.rates import parse_usd_per_eth

    try:
        return parse_usd_per_eth(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@rate.command("add")
@click.argument("usd_per_eth", callback=_rate_text)
@click.option("--valid-at", required=True, callback=utc_time,
              help="When the rate applies from: ISO 8601 with its offset, e.g. 2026-11-01T00:00:00Z.")
@click.option("--reason", required=True, help="Where the rate comes from, for the audit trail.")
@actor_option
@config_option
@database_url_option
@json_option
def rate_add(usd_per_eth: Fraction, valid_at: datetime, reason: str, actor_name: str | None, config_path: Path,
             database_url_value: str | None, as_json: bool) -> None:
    """Enter one ETH/USD rate by hand: an exact decimal, USD per ETH.

    \b
    Examples:
      clearinghouse rate add 3012.55 --valid-at 2026-11-01T00:00:00Z --reason "ECB reference, 1 Nov"
    """
    new = ledger.NewRate(usd_per_eth, "manual", valid_at, datetime.now(UTC), actor(actor_name), reason)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        snapshot = ledger.record_rate_snapshot(db, new)
    emit(as_json, _document(snapshot), [_line(snapshot)])


@rate.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--reason", default=None, help="For rows without a reason column (default: the file name).")
@actor_option
@config_option
@database_url_option
@json_option
def rate_import(csv_file: Path, reason: str | None, actor_name: str | None, config_path: Path,
                database_url_value: str | None, as_json: bool) -> None:
    """Import a rate table: CSV with the header valid_at,usd_per_eth[,reason]; all rows or none.

    \b
    Examples:
      clearinghouse rate import rates-2026-11.csv
    """
    from clearinghouse.billing.rates import parse_rate_csv
    from clearinghouse.billing.limits import RATE_CSV_BYTES_MAX

    with csv_file.open("rb") as handle:
        data = handle.read(RATE_CSV_BYTES_MAX + 1)
    try:
        rows = parse_rate_csv(data)
    except ValueError as exc:
        raise click.ClickException(f"{csv_file}: {exc}") from None
    now, who = datetime.now(UTC), actor(actor_name)
    default_reason = reason or f"import {csv_file.name}"
    new = [ledger.NewRate(row.usd_per_eth, "csv", row.valid_at, now, who, row.reason or default_reason)
           for row in rows]
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        stored = ledger.record_rate_snapshots(db, new)
    emit(as_json, [_document(s) for s in stored], [f"imported {len(stored)} rates from {csv_file}"])


@rate.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@config_option
@database_url_option
@json_option
def rate_list(limit: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """The newest rates by valid time, with their provenance.

    \b
    Examples:
      clearinghouse rate list --limit 5
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        snapshots = ledger.rate_snapshots(db, limit=limit)
    columns = (Column("id", numeric=True), Column("USD/ETH", numeric=True), Column("valid at"), Column("source"),
               Column("feed"), Column("reason"))
    rows = [(s.id, _decimal(s.usd_per_eth), s.valid_at.isoformat(), s.source, _feed(s), s.reason) for s in snapshots]
    emit(as_json, [_document(s) for s in snapshots], table(columns, rows) if rows else ["no rates yet"])


@rate.command("price-unpriced")
@click.option("--rate-id", type=click.IntRange(1), required=True, help="The rate snapshot to apply.")
@click.option("--start", required=True, callback=utc_time, help="Records created at or after (ISO 8601, offset).")
@click.option("--end", required=True, callback=utc_time, help="… and before this time.")
@click.option("--gateway-id", type=click.IntRange(1), default=None, help="Only this gateway's records.")
@click.option("--reason", required=True, help="Why these records get this rate, for the audit trail.")
@actor_option
@config_option
@database_url_option
@json_option
def rate_price_unpriced(rate_id: int, start: datetime, end: datetime, gateway_id: int | None, reason: str,
                        actor_name: str | None, config_path: Path, database_url_value: str | None,
                        as_json: bool) -> None:
    """Give the records signed without an acceptable rate in [start, end) the rate --rate-id.

    Records that have a rate keep it. The change is one transaction with its own audit row.

    \b
    Examples:
      clearinghouse rate price-unpriced --rate-id 12 --start 2026-11-03T00:00:00Z \\
        --end 2026-11-04T00:00:00Z --reason "Chainlink feed stale 3 Nov; ECB reference"
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        assignment = ledger.price_unpriced_records(db, rate_snapshot_id=rate_id, start=start, end=end,
                                                   gateway_id=gateway_id, actor=actor(actor_name), reason=reason)
    emit(as_json, {"assignment_id": assignment.id, "records_priced": assignment.records_priced},
         [f"priced {assignment.records_priced} records with rate {rate_id} (assignment {assignment.id})"])


def _decimal(value: Fraction) -> str:
    """Exact when the denominator divides 10^RATE_DECIMALS_SHOWN, else the fraction itself."""
    scaled = value * 10**RATE_DECIMALS_SHOWN
    if scaled.denominator != 1:
        return str(value)
    return format(Decimal(scaled.numerator).scaleb(-RATE_DECIMALS_SHOWN).normalize(), "f")


def _feed(snapshot: ledger.RateSnapshot) -> str | None:
    return None if snapshot.feed_address is None else f"0x{snapshot.feed_address.hex()} round {snapshot.round_id}"


def _line(snapshot: ledger.RateSnapshot) -> str:
    feed = "" if snapshot.feed_address is None else f" feed {_feed(snapshot)}"
    return (f"rate {snapshot.id}: {_decimal(snapshot.usd_per_eth)} USD/ETH from {snapshot.valid_at.isoformat()} "
            f"({snapshot.source}{feed}; {snapshot.reason})")


def _document(snapshot: ledger.RateSnapshot) -> dict[str, object]:
    return {
        "id": snapshot.id,
        "usd_per_eth": _decimal(snapshot.usd_per_eth),
        "source": snapshot.source,
        "feed_address": None if snapshot.feed_address is None else "0x" + snapshot.feed_address.hex(),
        "round_id": None if snapshot.round_id is None else str(snapshot.round_id),
        "valid_at": snapshot.valid_at.isoformat(),
        "observed_at": snapshot.observed_at.isoformat(),
        "actor": snapshot.actor,
        "reason": snapshot.reason,
    }
