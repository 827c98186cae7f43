"""``clearinghouse reconcile``: billed vs exposure vs actual payouts per gateway and period."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from clearinghouse import ledger
from clearinghouse.cli.options import (
    calendar_month,
    config_option,
    database_url,
    database_url_option,
    emit,
    json_option,
    opened_ledger,
    settings,
    translated,
    utc_time,
)

if TYPE_CHECKING:
    from clearinghouse.billing.reconciliation import ReconciliationReport


@click.command("reconcile")
@click.argument("gateway_id", type=click.IntRange(1), required=False)
@click.option("--all", "all_gateways", is_flag=True, help="Every gateway, oldest first.")
@click.option("--month", callback=calendar_month, default=None, help="A UTC calendar month, e.g. 2026-11.")
@click.option("--start", callback=utc_time, default=None, help="Period start, a whole UTC hour (ISO 8601 with offset).")
@click.option("--end", callback=utc_time, default=None, help="Period end (exclusive), a whole UTC hour.")
@click.option("--current-round", type=click.IntRange(0), default=None,
              help="The chain's current round (with --validity-rounds; else read from [chain]).")
@click.option("--validity-rounds", type=click.IntRange(1), default=None,
              help="The TicketBroker's ticketValidityPeriod, in rounds.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the reports as CSV to this file.")
@config_option
@database_url_option
@json_option
def reconcile(gateway_id: int | None, all_gateways: bool, month: tuple[datetime, datetime] | None,
              start: datetime | None, end: datetime | None,
              current_round: int | None, validity_rounds: int | None, csv_path: Path | None, config_path: Path,
              database_url_value: str | None, as_json: bool) -> None:
    """Reconcile what was billed with the exposure still open and what orchestrators redeemed.

    Flags unmatched redemptions (tickets we have no record of) and face value redeemed outside
    the expected ± 3σ band. Money is exact wei.

    \b
    Examples:
      clearinghouse reconcile 3 --month 2026-11
      clearinghouse reconcile --all --month 2026-11 --csv reconciliation-2026-11.csv
      clearinghouse reconcile 3 --start 2026-11-01T00:00:00Z --end 2026-11-08T00:00:00Z \\
        --current-round 4012 --validity-rounds 2 --json
    """
    from clearinghouse.billing.reconciliation import report_document, reconcile as reconcile_period, reports_csv

    if (gateway_id is None) == (not all_gateways):
        raise click.UsageError("give a GATEWAY_ID or --all (not both)")
    if as_json and csv_path is not None:
        raise click.UsageError("--json and --csv are exclusive")
    period_start, period_end = _period(month, start, end)
    rounds = _rounds(current_round, validity_rounds, config_path)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        gateways = ledger.list_gateways(db) if gateway_id is None else (ledger.get_gateway(db, gateway_id),)
        reports = [reconcile_period(db, g.id, period_start, period_end, *rounds) for g in gateways]
    if csv_path is not None:
        csv_path.write_bytes(reports_csv(reports))
        click.echo(f"wrote {len(reports)} reports to {csv_path}")
        return
    documents = [report_document(r) for r in reports]
    emit(as_json, documents if gateway_id is None else documents[0], [line for r in reports for line in _lines(r)])


def _period(
    month: tuple[datetime, datetime] | None, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    if month is not None:
        if start is not None or end is not None:
            raise click.UsageError("give --month or --start/--end, not both")
        return month
    if start is None or end is None:
        raise click.UsageError("give --month, or both --start and --end")
    return start, end


def _rounds(current_round: int | None, validity_rounds: int | None, config_path: Path) -> tuple[int, int]:
    """The rounds from the options when both are given, else from the chain of [chain]."""
    if current_round is not None and validity_rounds is not None:
        return current_round, validity_rounds
    if current_round is not None or validity_rounds is not None:
        raise click.UsageError("give both --current-round and --validity-rounds, or neither")
    live = settings(config_path).live_chain
    if live is None:
        raise click.UsageError("no [chain] rpc_url configured: give --current-round and --validity-rounds")
    from clearinghouse.chain.client import ChainClient

    client = ChainClient(live.rpc_url, live.controller)
    with translated():
        return client.current_round(), client.ticket_validity_period()


def _lines(report: ReconciliationReport) -> list[str]:
    band = report.band
    expected_wins = float(band.expected_wins)
    ratio = "n/a" if report.paid_to_billed is None else f"{float(report.paid_to_billed):.6g}"
    return [
        f"gateway {report.gateway_id} {report.start.isoformat()}..{report.end.isoformat()}: {report.status.value}",
        f"  billed: {report.tickets_billed} tickets, EV {report.ev_billed_wei} wei, fee {report.fee_billed_wei} wei",
        f"  exposure open: {report.exposure_tickets} tickets, face value {report.exposure_face_value_wei} wei, "
        f"EV {report.exposure_ev_wei} wei",
        f"  actual: {report.redeemed_tickets} redeemed, face value {report.redeemed_face_value_wei} wei, "
        f"paid {report.paid_wei} wei, paid/billed {ratio}",
        f"  band over {band.tickets} settled tickets ({report.open_tickets} still open): expected face value "
        f"{band.expected_face_value_wei} wei, sd {band.sd_wei:.6g} wei, redeemed {band.redeemed_face_value_wei} wei, "
        f"z {'n/a' if band.z_score is None else format(band.z_score, '.3f')}",
        f"  winners: {expected_wins:.6g} expected, {band.redeemed_tickets} redeemed",
        f"  unmatched redemptions observed in the period: {report.unmatched_total}",
    ]
