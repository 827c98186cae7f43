"""``clearinghouse invoice``, ``plan`` and ``fx`` through click: draft → issue → export → void,
with the exit codes and messages an operator sees."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pymupdf
import pytest
from click.testing import CliRunner, Result

from clearinghouse import ledger
from clearinghouse.billing.exports import CSV_HEADER
from clearinghouse.cli import main
from clearinghouse.ledger import sessions as ledger_sessions
from tests.ledger.conftest import SessionDriver


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--database-url", url])


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite ledger with gateway 1 ("gateway-a"): two priced calls in November 2026."""
    database_url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(database_url)
    db = ledger.open_database(database_url)
    try:
        gateway = ledger.create_gateway(db, "gateway-a")
        start = datetime(2026, 11, 1, tzinfo=UTC)
        rate = ledger.record_rate_snapshot(db, ledger.NewRate(Fraction(3000), "manual", start, start, "t", "t"))
        monkeypatch.setattr(ledger_sessions, "utc_now", lambda: datetime(2026, 11, 10, 12, tzinfo=UTC))
        driver = SessionDriver(gateway.id, face_value=10**16)
        for _ in range(2):
            call = driver.next_call(10, rate_snapshot_id=rate.id)
            ledger.record_signing_call(db, call)
            driver.advance(call)
    finally:
        db.dispose()
    return database_url


def test_draft_issue_export_void(url: str, tmp_path: Path) -> None:
    no_plan = run(url, "invoice", "draft", "1", "--month", "2026-11")
    assert no_plan.exit_code == 1 and "no billing plan in force" in no_plan.output
    plan = run(url, "plan", "set", "1", "--kind", "usage_based", "--currency", "EUR", "--markup-bps", "1500",
               "--fixed-fee", "49", "--effective-at", "2026-11-01T00:00:00Z", "--reason", "contract")
    assert plan.exit_code == 0, plan.output
    assert run(url, "fx", "add", "EUR", "0.5", "--as-of", "2026-11-01T00:00:00Z").exit_code == 0

    drafted = run(url, "invoice", "draft", "1", "--month", "2026-11", "--json")
    assert drafted.exit_code == 0, drafted.output
    draft = json.loads(drafted.output)
    assert (draft["status"], draft["number"], draft["total_minor"], draft["lines"]) == ("draft", None, "8350", 3)

    issued = run(url, "invoice", "issue", str(draft["id"]), "--json")
    assert issued.exit_code == 0, issued.output
    number = json.loads(issued.output)["number"]
    assert number == f"CH-{datetime.now(UTC).year}-000001"
    again = run(url, "invoice", "issue", str(draft["id"]))
    assert again.exit_code == 1 and f"already issued as {number}; an invoice is issued only once" in again.output

    exported = {}
    for export_format in ("csv", "json", "pdf"):
        output = tmp_path / f"invoice.{export_format}"
        result = run(url, "invoice", "export", str(draft["id"]), "--format", export_format, "--output", str(output))
        assert result.exit_code == 0, result.output
        exported[export_format] = output.read_bytes()
    assert exported["csv"].startswith(",".join(CSV_HEADER).encode() + b"\r\n" + number.encode())
    assert json.loads(exported["json"])["total_minor"] == "8350"
    assert exported["pdf"].startswith(b"%PDF")
    stripe = run(url, "invoice", "export", str(draft["id"]), "--format", "stripe", "--output", str(tmp_path / "s"))
    assert stripe.exit_code == 2 and "--stripe-customer-id" in stripe.output

    voided = run(url, "invoice", "void", str(draft["id"]), "--reason", "wrong currency", "--json")
    assert voided.exit_code == 0, voided.output
    documents = json.loads(voided.output)
    assert (documents["voided"]["status"], documents["credit_note"]["total_minor"]) == ("void", "-8350")
    assert documents["credit_note"]["credit_note_of"] == draft["id"]
    listed = run(url, "invoice", "list", "--gateway-id", "1")
    assert listed.exit_code == 0, listed.output
    header, *rows = [line.split() for line in listed.output.splitlines()]
    assert header[:3] == ["id", "number", "gateway"]
    by_id = {row[0]: row for row in rows}
    assert by_id["1"][3:] == ["2026-11-01..2026-12-01", "void", "83.50", "EUR", "-"]
    assert by_id["2"][4:] == ["issued", "-83.50", "EUR", "1"]
    listed_json = json.loads(run(url, "invoice", "list", "--gateway-id", "1", "--json").output)
    assert {(str(d["id"]), d["status"], d["number"]) for d in listed_json} == {
        (row[0], row[4], row[1]) for row in rows}
    note_pdf = tmp_path / "credit-note.pdf"
    credit_note_id = str(documents["credit_note"]["id"])
    assert run(url, "invoice", "export", credit_note_id, "--format", "pdf", "--output", str(note_pdf)).exit_code == 0
    with pymupdf.open(note_pdf) as document:
        text = document[0].get_text()
    assert "CREDIT NOTE" in text and f"Credits invoice: {number}" in text


def test_usage_errors_exit_2(url: str) -> None:
    both = run(url, "invoice", "draft", "1", "--month", "2026-11", "--start", "2026-11-01T00:00:00Z")
    assert both.exit_code == 2 and "either --month or --start and --end" in both.output
    bad_fee = run(url, "plan", "set", "1", "--kind", "usage_based", "--fixed-fee", "1e3",
                  "--effective-at", "2026-11-01T00:00:00Z", "--reason", "x")
    assert bad_fee.exit_code == 2 and "not a plain decimal like 12.50" in bad_fee.output
    missing = run(url, "invoice", "paid", "7")
    assert missing.exit_code == 1 and "no invoice with id 7" in missing.output


def test_draft_all_drafts_each_planned_gateway_and_exits_1_when_one_fails(url: str) -> None:
    db = ledger.open_database(url)
    try:
        ledger.create_gateway(db, "no-plan")
        ledger.create_gateway(db, "no-fx-rate")
    finally:
        db.dispose()
    for gateway_id, currency in (("1", "USD"), ("3", "GBP")):
        planned = run(url, "plan", "set", gateway_id, "--kind", "usage_based", "--currency", currency,
                      "--effective-at", "2026-11-01T00:00:00Z", "--reason", "contract")
        assert planned.exit_code == 0, planned.output
    table = run(url, "invoice", "draft", "--all", "--month", "2026-11")
    assert table.exit_code == 1
    assert "gateway 3: " in table.stderr and "GBP" in table.stderr
    header, row, skipped = table.stdout.splitlines()
    assert header.split()[:3] == ["id", "number", "gateway"] and skipped == "skipped (no billing plan): 2"
    drafted = run(url, "invoice", "draft", "--all", "--month", "2026-11", "--json")
    assert drafted.exit_code == 1
    document = json.loads(drafted.stdout)
    assert [d["gateway_id"] for d in document["drafted"]] == [1] and document["skipped_without_plan"] == [2]
    assert [f["gateway_id"] for f in document["failed"]] == [3]
    assert row.split()[:4] == [str(document["drafted"][0]["id"]), "(draft)", "1", "2026-11-01..2026-12-01"]
    assert run(url, "invoice", "draft", "1", "--all", "--month", "2026-11").exit_code == 2


def test_show_prints_the_lines_and_the_stored_document(url: str) -> None:
    run(url, "plan", "set", "1", "--kind", "usage_based", "--currency", "USD", "--effective-at",
        "2026-11-01T00:00:00Z", "--reason", "contract")
    draft = json.loads(run(url, "invoice", "draft", "1", "--month", "2026-11", "--json").output)
    shown = run(url, "invoice", "show", str(draft["id"]))
    document = json.loads(run(url, "invoice", "show", str(draft["id"]), "--json").output)
    assert shown.exit_code == 0, shown.output
    assert document["total_minor"] == draft["total_minor"] and len(document["document"]["lines"]) == draft["lines"]
    fields, lines = shown.stdout.split("\n\n")
    assert dict(line.split(maxsplit=1) for line in fields.splitlines())["total_minor"] == draft["total_minor"]
    assert lines.splitlines()[0].split()[:2] == ["kind", "description"]
    assert len(lines.splitlines()) == 1 + draft["lines"]
    assert run(url, "invoice", "show", "99").exit_code == 1
