"""``clearinghouse reconcile``: one gateway or all, a month or a period, text, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clearinghouse import ledger
from clearinghouse.billing.reconciliation import CSV_HEADER
from clearinghouse.cli import main
from clearinghouse.ledger.hourly_usage import HOUR, hour_of
from clearinghouse.domain.ev import EV_DENOMINATOR
from tests.cli.conftest import write_daemon_config
from tests.ledger.conftest import SessionDriver

ONE_FIFTH = EV_DENOMINATOR // 5
ROUNDS = ("--current-round", "4002", "--validity-rounds", "2")  # SessionDriver signs in round 4000


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, ["reconcile", *args, "--database-url", url])


def period() -> tuple[str, str]:
    hour = hour_of(datetime.now(UTC))
    return "--start=" + (hour - HOUR).isoformat(), "--end=" + (hour + HOUR).isoformat()


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A SQLite ledger with two gateways; gateway 1 signed two calls, gateway 2 none."""
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(url)
    db = ledger.open_database(url)
    try:
        first = ledger.create_gateway(db, "gateway-a")
        ledger.create_gateway(db, "gateway-b")
        driver = SessionDriver(first.id, face_value=1000, win_prob=ONE_FIFTH)
        for _ in range(2):
            call = driver.next_call(units=100)
            ledger.record_signing_call(db, call)
            driver.advance(call)
    finally:
        db.dispose()
    return url


def test_json_for_one_gateway(url: str) -> None:
    result = run(url, "1", *period(), *ROUNDS, "--json")

    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["gateway_id"], document["status"], document["current_round"]) == (1, "ok", 4002)
    assert document["billed"]["tickets"] == 3 and document["billed"]["ev_wei"] == "600"
    assert document["band"]["expected_face_value_wei"] == "600" and document["band"]["settled_tickets"] == 3
    assert document["actual"] == {"redeemed_tickets": 0, "redeemed_face_value_wei": "0", "paid_wei": "0",
                                  "paid_to_billed": "0"}


def test_csv_for_all_gateways(url: str, tmp_path: Path) -> None:
    target = tmp_path / "reconciliation.csv"
    result = run(url, "--all", *period(), *ROUNDS, "--csv", str(target))

    assert result.exit_code == 0, result.output
    assert f"wrote 2 reports to {target}" in result.output
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert list(rows[0]) == list(CSV_HEADER)
    assert [(r["gateway_id"], r["tickets_billed"], r["ev_billed_wei"]) for r in rows] == [
        ("1", "3", "600"), ("2", "0", "0")]
    assert rows[1]["paid_to_billed"] == "" and rows[1]["z_score"] == ""


def test_text_for_a_month(url: str) -> None:
    result = run(url, "2", "--month", "2026-12", *ROUNDS)

    assert result.exit_code == 0, result.output
    assert result.output.startswith("gateway 2 2026-12-01T00:00:00+00:00..2027-01-01T00:00:00+00:00: ok\n")
    assert "billed: 0 tickets" in result.output


@pytest.mark.parametrize(("args", "message"), [
    (("--month", "2026-11", *ROUNDS), "give a GATEWAY_ID or --all"),
    (("1", "--all", "--month", "2026-11", *ROUNDS), "give a GATEWAY_ID or --all"),
    (("1", *ROUNDS), "give --month, or both --start and --end"),
    (("1", "--month", "2026-13", *ROUNDS), "expected YYYY-MM"),
    (("1", "--month", "2026-11", "--start", "2026-11-01T00:00:00Z", *ROUNDS), "not both"),
    (("1", "--month", "2026-11", "--current-round", "5"), "give both --current-round and --validity-rounds"),
    (("1", "--month", "2026-11", "--json", "--csv", "x.csv", *ROUNDS), "exclusive"),
])
def test_usage_errors(url: str, args: tuple[str, ...], message: str) -> None:
    result = run(url, *args)
    assert result.exit_code == 2 and message in result.output


def test_ledger_refusals_exit_1(url: str) -> None:
    unknown = run(url, "9", "--month", "2026-11", *ROUNDS)
    assert unknown.exit_code == 1 and "9" in unknown.output
    half_hour = run(url, "1", "--start", "2026-11-01T00:30:00Z", "--end", "2026-11-02T00:00:00Z", *ROUNDS)
    assert half_hour.exit_code == 1 and "whole UTC hour" in half_hour.output


def test_rounds_come_from_the_chain_or_the_options(url: str, tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)  # a static chain view: no rpc_url to read rounds from
    result = run(url, "1", "--month", "2026-11", "--config", str(config))
    assert result.exit_code == 2 and "give --current-round and --validity-rounds" in result.output
