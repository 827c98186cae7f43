"""``clearinghouse rate``: manual entry, CSV import (all or nothing), listing, audited pricing."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from clearinghouse import ledger
from clearinghouse.cli import main


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["rate", *args, "--database-url", url])


def migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(url)
    return url


def test_add_list_and_refusals(tmp_path: Path) -> None:
    url = migrated(tmp_path)
    added = run(url, "add", "3012.55", "--valid-at", "2026-11-01T01:00:00+01:00", "--reason", "ECB", "--json")
    assert added.exit_code == 0, added.output
    document = json.loads(added.output)
    assert (document["usd_per_eth"], document["source"], document["valid_at"]) == (
        "3012.55", "manual", "2026-11-01T00:00:00+00:00")
    refused = run(url, "add", "3e3", "--valid-at", "2026-11-01T00:00:00Z", "--reason", "x")
    assert refused.exit_code == 2 and "not a plain decimal like 3012.55" in refused.output
    naive = run(url, "add", "3000", "--valid-at", "2026-11-01T00:00:00", "--reason", "x")
    assert naive.exit_code == 2 and "has no UTC offset" in naive.output
    listed = run(url, "list")
    assert listed.output.splitlines() == [
        "id  USD/ETH  valid at                   source  feed  reason",
        " 1  3012.55  2026-11-01T00:00:00+00:00  manual  -     ECB",
    ]


def test_an_import_is_all_or_nothing(tmp_path: Path) -> None:
    url = migrated(tmp_path)
    table = tmp_path / "rates.csv"
    table.write_text("valid_at,usd_per_eth,reason\n2026-11-01T00:00:00Z,3000,\n2026-11-02T00:00:00Z,-1,oops\n")
    failed = run(url, "import", str(table))
    assert failed.exit_code == 1 and "line 3: rate '-1' is not a plain decimal" in failed.output
    assert json.loads(run(url, "list", "--json").output) == []
    table.write_text("valid_at,usd_per_eth,reason\n2026-11-01T00:00:00Z,3000,\n2026-11-02T00:00:00Z,3100.25,close\n")
    imported = run(url, "import", str(table))
    assert imported.exit_code == 0 and "imported 2 rates" in imported.output
    rates = json.loads(run(url, "list", "--json").output)
    assert [(r["usd_per_eth"], r["reason"]) for r in rates] == [("3100.25", "close"), ("3000", "import rates.csv")]


def test_pricing_needs_a_known_rate_and_reports_what_it_priced(tmp_path: Path) -> None:
    url = migrated(tmp_path)
    period = ["--start", "2026-11-01T00:00:00Z", "--end", "2026-12-01T00:00:00Z", "--reason", "feed down"]
    unknown = run(url, "price-unpriced", "--rate-id", "7", *period)
    assert unknown.exit_code == 1 and "no rate snapshot with id 7" in unknown.output
    run(url, "add", "3000", "--valid-at", "2026-11-01T00:00:00Z", "--reason", "ECB")
    priced = run(url, "price-unpriced", "--rate-id", "1", *period, "--json")
    assert priced.exit_code == 0 and json.loads(priced.output) == {"assignment_id": 1, "records_priced": 0}
