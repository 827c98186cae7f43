"""``clearinghouse invoice``: draft, issue, pay, void and export a gateway's fiat invoices
(spec 05); plans and FX rates are ``cli/plans.py``'s."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from clearinghouse.billing.invoicing import DEFAULT_STRIPE_EVENT_NAME
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
    utc_time,
)
from clearinghouse.cli.output import Column, fields, progress, table
from clearinghouse.errors import ClearinghouseError
from clearinghouse.ledger import invoices as stored
from clearinghouse.ledger import billing_plans as plans

if TYPE_CHECKING:
    from clearinghouse.billing.invoice_terms import InvoicingSettings
    from clearinghouse.billing.invoices import LineGrouping
    from clearinghouse.ledger import Database

EXPORT_FORMATS = ("csv", "json", "pdf", "stripe", "openmeter")
"""The Stripe meter's event name when none is given: one meter for every gateway's usage."""

@click.group("invoice")
def invoice() -> None:
    """Fiat invoices per gateway and period: draft, issue, paid, void, list, show, export,
    deliveries.

    \b
    Examples:
      clearinghouse invoice draft --all --month 2026-11
      clearinghouse invoice list --gateway-id 3
    """


@invoice.command("draft")
@click.argument("gateway_id", type=click.IntRange(1), required=False)
@click.option("--all", "all_gateways", is_flag=True,
              help="Every gateway with a billing plan in force at the period's start, disabled ones too.")
@click.option("--month", default=None, help="Calendar month YYYY-MM (default: the current month so far, UTC).")
@click.option("--start", callback=utc_time, default=None, help="Period start, a whole UTC hour (with --end).")
@click.option("--end", callback=utc_time, default=None, help="Period end, exclusive, a whole UTC hour.")
@click.option("--group-by", "grouping", type=click.Choice(["pipeline_model", "app", "orchestrator", "end_user"]),
              default="pipeline_model", show_default=True, help="How usage is split into lines.")
@actor_option
@config_option
@database_url_option
@json_option
def invoice_draft(gateway_id: int | None, all_gateways: bool, month: str | None, start: datetime | None,
                  end: datetime | None, grouping: str, actor_name: str | None, config_path: Path,
                  database_url_value: str | None, as_json: bool) -> None:
    """Compute a gateway's invoice for a period and store it as the period's draft.

    A redraft replaces the draft. A period that has not ended (the current month, the default)
    is drafted as it stands and marked partial. Usage without an ETH/USD rate is refused until priced. With
    --all, every gateway with a billing plan is drafted (a progress bar on a terminal): one
    that fails is reported and the others still drafted, and the exit code is 1; gateways
    without a plan are skipped and listed.

    \b
    Examples:
      clearinghouse invoice draft 3 --month 2026-11
      clearinghouse invoice draft 3 --start 2026-11-01T00:00:00Z --end 2026-11-15T00:00:00Z --group-by app
      clearinghouse invoice draft --all --month 2026-11 --json
    """
    from clearinghouse.billing import invoicing
    from clearinghouse.billing.invoices import LineGrouping

    if (gateway_id is None) == (not all_gateways):
        raise click.UsageError("give a GATEWAY_ID or --all (not both)")
    period_start, period_end = _period(month, start, end)
    terms = _invoicing(config_path)
    with opened_ledger(database_url(config_path, database_url_value)) as db:
        if gateway_id is None:
            _draft_all(db, period_start, period_end, LineGrouping(grouping), actor(actor_name), terms, as_json)
            return
        with translated():
            row, draft = invoicing.draft_for_period(db, gateway_id, period_start, period_end,
                                                    LineGrouping(grouping), actor=actor(actor_name), settings=terms)
    partial = draft.terms is not None and draft.terms.partial
    emit(as_json, _document(row) | {"lines": len(draft.lines), "partial": partial},
         [f"{_line(row)}, {len(draft.lines)} lines" + (" (partial: the period has not ended)" if partial else "")])


def _invoicing(config_path: Path) -> InvoicingSettings:
    """The configuration's [invoice] (issuer, payment terms); its defaults without a file, as
    when only --database-url is given."""
    from clearinghouse.billing.invoice_terms import InvoicingSettings

    return settings(config_path).invoicing if config_path.exists() else InvoicingSettings()


def _draft_all(db: Database, start: datetime, end: datetime, grouping: LineGrouping, who: str,
               terms: InvoicingSettings, as_json: bool) -> None:
    """Draft every planned gateway's invoice; exit 1 after the others when any failed."""
    from clearinghouse.billing import invoicing
    from clearinghouse.ledger import list_gateways

    drafted: list[dict[str, object]] = []
    skipped: list[int] = []
    failed: list[dict[str, object]] = []
    with translated():
        gateways = list_gateways(db)
    with progress("invoice draft", "gateways") as bar:
        for done, item in enumerate(gateways):
            bar.update(done, len(gateways))
            try:
                if plans.billing_plan_in_force(db, item.id, start) is None:
                    skipped.append(item.id)
                    continue
                row, draft = invoicing.draft_for_period(db, item.id, start, end, grouping, actor=who, settings=terms)
            except ClearinghouseError as exc:
                failed.append({"gateway_id": item.id, "error": str(exc)})
                continue
            drafted.append(_document(row) | {"lines": len(draft.lines)})
        bar.update(len(gateways), len(gateways))
    emit(as_json, {"drafted": drafted, "skipped_without_plan": skipped, "failed": failed},
         [*(_invoice_table(drafted) or ["no invoices drafted"]),
          f"skipped (no billing plan): {', '.join(map(str, skipped)) or 'none'}"])
    for failure in failed:
        click.echo(f"gateway {failure['gateway_id']}: {failure['error']}", err=True)
    if failed:
        raise SystemExit(1)


def _period(month: str | None, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    from clearinghouse.billing.invoicing import month_period

    if month is not None and (start is not None or end is not None):
        raise click.UsageError("give either --month or --start and --end")
    if month is None and (start is None) != (end is None):
        raise click.UsageError("--start and --end go together")
    if start is not None and end is not None:
        return start, end
    if month is None:
        month = datetime.now(UTC).strftime("%Y-%m")
    with translated():
        return month_period(month)


@invoice.command("issue")
@click.argument("invoice_id", type=click.IntRange(1))
@click.option("--series", default=stored.DEFAULT_SERIES, show_default=True, help="The numbering series.")
@click.option("--reason", default="issued", show_default=True, help="For the audit trail.")
@click.option("--allow-open-period", is_flag=True,
              help="Issue although the period has not ended; the invoice then says it is partial.")
@actor_option
@config_option
@database_url_option
@json_option
def invoice_issue(invoice_id: int, series: str, reason: str, allow_open_period: bool, actor_name: str | None,
                  config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Issue a draft: give it the next number (CH-2026-000042), a due date, the issuer of
    [invoice] and the gateway's billing profile, and freeze its document.

    A period that has not ended is refused unless --allow-open-period is given.

    \b
    Examples:
      clearinghouse invoice issue 17
      clearinghouse invoice issue 18 --allow-open-period --reason "mid-month termination"
    """
    from clearinghouse.billing.issuing import issue

    terms = _invoicing(config_path)
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        row = issue(db, invoice_id, terms, allow_open_period=allow_open_period, actor=actor(actor_name),
                    reason=reason, series=series)
    emit(as_json, _document(row), [_line(row)])


@invoice.command("paid")
@click.argument("invoice_id", type=click.IntRange(1))
@click.option("--paid-at", callback=utc_time, default=None, help="When it was paid (default: now).")
@click.option("--reason", default="payment received", show_default=True, help="E.g. the bank reference.")
@actor_option
@config_option
@database_url_option
@json_option
def invoice_paid(invoice_id: int, paid_at: datetime | None, reason: str, actor_name: str | None,
                 config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Record that an issued invoice was paid.

    A gateway stopped over this invoice (overdue policy stop_signing) is served again by a running
    daemon at its next billing pass, within [billing] tick_s.

    \b
    Examples:
      clearinghouse invoice paid 17 --paid-at 2026-12-10T00:00:00Z --reason "SEPA ref 8812"
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        row = stored.mark_paid(db, invoice_id, paid_at=paid_at or datetime.now(UTC), actor=actor(actor_name),
                               reason=reason)
    emit(as_json, _document(row), [_line(row)])


@invoice.command("void")
@click.argument("invoice_id", type=click.IntRange(1))
@click.option("--reason", required=True, help="Why it is void, for the audit trail.")
@actor_option
@config_option
@database_url_option
@json_option
def invoice_void(invoice_id: int, reason: str, actor_name: str | None, config_path: Path,
                 database_url_value: str | None, as_json: bool) -> None:
    """Void an issued invoice: its document stays; a credit note negating it is issued.

    \b
    Examples:
      clearinghouse invoice void 17 --reason "wrong plan applied"
    """
    from clearinghouse.billing.invoicing import void_with_credit_note

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        voided, credit = void_with_credit_note(db, invoice_id, actor=actor(actor_name), reason=reason)
    emit(as_json, {"voided": _document(voided), "credit_note": _document(credit)}, [_line(voided), _line(credit)])


@invoice.command("list")
@click.option("--gateway-id", type=click.IntRange(1), default=None, help="Only this gateway's invoices.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@config_option
@database_url_option
@json_option
def invoice_list(gateway_id: int | None, limit: int, config_path: Path, database_url_value: str | None,
                 as_json: bool) -> None:
    """Invoices and credit notes, newest period first.

    \b
    Examples:
      clearinghouse invoice list --gateway-id 3
      clearinghouse invoice list --json | jq '.[] | select(.status == "issued") | .number'
    """
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        rows = stored.list_invoices(db, gateway_id=gateway_id, limit=limit)
    documents = [_document(row) for row in rows]
    emit(as_json, documents, _invoice_table(documents) or ["no invoices yet"])


@invoice.command("show")
@click.argument("invoice_id", type=click.IntRange(1))
@config_option
@database_url_option
@json_option
def invoice_show(invoice_id: int, config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """One invoice or credit note: its status, totals and lines (--json: with its stored document).

    \b
    Examples:
      clearinghouse invoice show 17
      clearinghouse invoice show 17 --json | jq .document.lines
    """
    from clearinghouse.billing.invoices import minor_unit_exponent
    from clearinghouse.billing.money_text import minor_units_text

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        stored_document = stored.invoice_document(db, invoice_id)
    row, content = stored_document.invoice, json.loads(stored_document.content)
    exponent = minor_unit_exponent(row.currency)
    lines = table((Column("kind"), Column("description"), Column("calls", numeric=True),
                   Column("tickets", numeric=True), Column(f"amount {row.currency}", numeric=True)),
                  [(line["kind"], line["description"], line["calls"], line["tickets"],
                    minor_units_text(int(line["amount_minor"]), exponent, thousands=True))
                   for line in content["lines"]])
    emit(as_json, _document(row) | {"document": content},
         [*fields([(key, value) for key, value in _document(row).items()]), "", *lines])


@invoice.command("deliveries")
@click.option("--gateway-id", type=click.IntRange(1), default=None, help="Only this gateway's invoices.")
@click.option("--invoice-id", type=click.IntRange(1), default=None, help="Only this invoice.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@config_option
@database_url_option
@json_option
def invoice_deliveries(gateway_id: int | None, invoice_id: int | None, limit: int, config_path: Path,
                       database_url_value: str | None, as_json: bool) -> None:
    """Webhook deliveries of issued invoices: every attempt, where it went, when, and how it ended.

    \b
    Examples:
      clearinghouse invoice deliveries --gateway-id 3
      clearinghouse invoice deliveries --invoice-id 17 --json
    """
    from clearinghouse.ledger.billing_cycles import delivery_attempts
    from clearinghouse.chain.redact import redact_rpc_url

    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        attempts = delivery_attempts(db, invoice_id=invoice_id, gateway_id=gateway_id, limit=limit)
    documents = [{"invoice_id": a.invoice_id, "number": a.number, "gateway_id": a.gateway_id, "attempt": a.attempt,
                  "url": redact_rpc_url(a.url), "attempted_at": a.attempted_at.isoformat(), "outcome": a.outcome.value,
                  "http_status": a.http_status, "detail": a.detail} for a in attempts]
    rows = [(d["number"], d["gateway_id"], d["attempt"], _short(str(d["attempted_at"])), d["outcome"],
             d["http_status"], d["url"]) for d in documents]
    emit(as_json, documents, table((Column("invoice"), Column("gateway", numeric=True), Column("attempt", numeric=True),
                                    Column("at"), Column("outcome"), Column("status", numeric=True), Column("url")),
                                   rows) if rows else ["no deliveries yet"])


@invoice.command("export")
@click.argument("invoice_id", type=click.IntRange(1))
@click.option("--format", "export_format", type=click.Choice(EXPORT_FORMATS), required=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
@click.option("--issuer-name", default=None,
              help="PDF of an invoice made before parties were frozen into it: who issued it.")
@click.option("--stripe-customer-id", default=None, help="stripe: the gateway's Stripe customer (required).")
@click.option("--event-name", default=DEFAULT_STRIPE_EVENT_NAME, show_default=True, help="stripe: the meter.")
@click.option("--subject", default=None, help="openmeter: the customer key (default: the gateway's name).")
@config_option
@database_url_option
def invoice_export(invoice_id: int, export_format: str, output: Path, issuer_name: str | None,
                   stripe_customer_id: str | None, event_name: str, subject: str | None, config_path: Path,
                   database_url_value: str | None) -> None:
    """Write an invoice as CSV, its canonical JSON, a PDF, Stripe meter events or OpenMeter events.

    JSON is the stored document with its number, status, dates, period, parties and SHA-256
    beside it; a PDF needs an issued invoice and names the parties frozen into it.

    \b
    Examples:
      clearinghouse invoice export 17 --format pdf --output CH-2026-000042.pdf
      clearinghouse invoice export 17 --format stripe --stripe-customer-id cus_Q1 --output meter.jsonl
    """
    from clearinghouse.billing.invoicing import export_invoice

    if export_format == "stripe" and stripe_customer_id is None:
        raise click.UsageError("--format stripe needs --stripe-customer-id")
    with opened_ledger(database_url(config_path, database_url_value)) as db, translated():
        _, data = export_invoice(db, invoice_id, export_format, issuer_name=issuer_name,
                                 stripe_customer_id=stripe_customer_id, event_name=event_name, subject=subject)
    output.write_bytes(data)
    click.echo(f"wrote {len(data)} bytes of {export_format} to {output}")


def _invoice_table(documents: list[dict[str, object]]) -> list[str]:
    """Invoice documents (``_document``) as a table; [] for none."""
    from clearinghouse.billing.invoices import minor_unit_exponent
    from clearinghouse.billing.money_text import minor_units_text

    if not documents:
        return []
    columns = (Column("id", numeric=True), Column("number"), Column("gateway", numeric=True), Column("period (UTC)"),
               Column("status"), Column("total", numeric=True), Column("currency"), Column("credit note of"))
    return table(columns, [
        (d["id"], d["number"] or "(draft)", d["gateway_id"],
         f"{_short(str(d['period_start']))}..{_short(str(d['period_end']))}", d["status"],
         minor_units_text(int(str(d["total_minor"])), minor_unit_exponent(str(d["currency"])), thousands=True),
         d["currency"], d["credit_note_of"])
        for d in documents
    ])


def _short(iso_time: str) -> str:
    """A period bound as 2026-11-01, or 2026-11-15T12:00 when it is not a midnight (always UTC)."""
    moment = datetime.fromisoformat(iso_time).astimezone(UTC)
    return moment.strftime("%Y-%m-%d" if (moment.hour, moment.minute) == (0, 0) else "%Y-%m-%dT%H:%M")


def _line(row: stored.Invoice) -> str:
    from clearinghouse.billing.invoices import minor_unit_exponent
    from clearinghouse.billing.money_text import minor_units_text

    total = minor_units_text(row.total_minor, minor_unit_exponent(row.currency), thousands=True)
    kind = "credit note" if row.credit_note_of is not None else "invoice"
    credits = "" if row.credit_note_of is None else f" of invoice {row.credit_note_of}"
    return (f"{kind} {row.id}{credits} {row.number or '(draft)'}: gateway {row.gateway_id} "
            f"{row.period_start.isoformat()}..{row.period_end.isoformat()} {row.status} {row.currency} {total}")


def _document(row: stored.Invoice) -> dict[str, object]:
    return {
        "id": row.id, "gateway_id": row.gateway_id, "number": row.number, "status": row.status.value,
        "period_start": row.period_start.isoformat(), "period_end": row.period_end.isoformat(),
        "currency": row.currency, "total_minor": str(row.total_minor), "content_hash": row.content_hash.hex(),
        "credit_note_of": row.credit_note_of,
        "issued_at": None if row.issued_at is None else row.issued_at.isoformat(),
        "paid_at": None if row.paid_at is None else row.paid_at.isoformat(),
        "voided_at": None if row.voided_at is None else row.voided_at.isoformat(),
    }
