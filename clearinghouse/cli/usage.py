"""``clearinghouse usage``: what was signed, for finance, per gateway or all, grouped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from clearinghouse.cli.options import (
    calendar_month,
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

GROUPINGS = ("subject", "pipeline_model", "app", "orchestrator", "day", "gateway")


@click.command("usage")
@click.option("--gateway-id", type=click.IntRange(1), default=None, help="One gateway (default: all).")
@click.option("--month", callback=calendar_month, default=None, help="A calendar month (UTC), e.g. 2026-11.")
@click.option("--start", callback=utc_time, default=None, help="Whole UTC hour, ISO 8601 (with --end).")
@click.option("--end", callback=utc_time, default=None, help="Whole UTC hour, exclusive.")
@click.option("--group-by", type=click.Choice(GROUPINGS), default="subject", show_default=True)
@config_option
@database_url_option
@json_option
def usage(gateway_id: int | None, month: tuple[datetime, datetime] | None, start: datetime | None,
          end: datetime | None, group_by: str, config_path: Path, database_url_value: str | None,
          as_json: bool) -> None:
    """Calls, tickets, units, EV signed (what gateways are billed) and fees per group, exact wei.

    Reads the hourly usage rows, so any month answers at once however many records it holds.
    The table shows whole wei (floors); --json has the exact rationals too.

    \b
    Examples:
      clearinghouse usage --month 2026-11 --group-by gateway
      clearinghouse usage --gateway-id 3 --start 2026-11-01T00:00:00Z --end 2026-11-08T00:00:00Z --group-by day --json
    """
    from clearinghouse.ledger.hourly_usage import UsageGrouping, grouped_usage

    if (month is None) == (start is None or end is None) or (month is not None and (start or end)):
        raise click.UsageError("give either --month or both --start and --end")
    first, after = month if month is not None else (start, end)
    if first is None or after is None:  # unreachable after the check above; narrows the types
        raise click.UsageError("give either --month or both --start and --end")
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        groups = grouped_usage(db, gateway_id, first, after, UsageGrouping(group_by))
    rows = [
        {"group": list(key), "calls": u.calls, "tickets": u.tickets, "units": u.units,
         "ev_signed_wei": str(u.ev_wei), "ev_signed_wei_floor": str(int(u.ev_wei)),
         "fee_wei": str(u.fee_wei), "fee_wei_floor": str(int(u.fee_wei))}
        for key, u in groups
    ]
    columns = (Column(group_by), Column("calls", numeric=True), Column("tickets", numeric=True),
               Column("units", numeric=True), Column("EV signed wei", numeric=True), Column("fee wei", numeric=True))
    cells = [("/".join(key) or "(none)", u.calls, u.tickets, u.units, int(u.ev_wei), int(u.fee_wei))
             for key, u in groups]
    emit(as_json, {"start": first.isoformat(), "end": after.isoformat(), "group_by": group_by, "groups": rows},
         table(columns, cells) if cells else ["no usage in this period"])
