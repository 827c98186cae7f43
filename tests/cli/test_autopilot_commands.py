"""``clearinghouse billing-cycle``, ``invoice deliveries`` and ``deposit history`` through click:
what an operator sets and reads of settlement on autopilot, with its refusals."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clearinghouse import ledger
from clearinghouse.billing.invoice_terms import InvoicingSettings
from clearinghouse.billing.scheduler import BillingScheduler
from clearinghouse.cli import main
from clearinghouse.ledger.funding_actions import FundingMode, NewFunding, claim_funding_action
from clearinghouse.ledger.billing_plans import PlanKind, set_billing_plan
from tests.billing.scheduling import PLAN_FROM, Clock
from tests.cli.conftest import write_daemon_config

ANCHOR = datetime(2026, 11, 2, tzinfo=UTC)
REFUSING_RECEIVER = "http://127.0.0.1:9/hooks?token=hunter2"
"""Nothing listens on the discard port of loopback: every attempt fails at once, offline."""


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(main, [*args, "--database-url", url])


@pytest.fixture
def url(tmp_path: Path) -> str:
    database_url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(database_url)
    db = ledger.open_database(database_url)
    try:
        gateway = ledger.create_gateway(db, "gateway-a")
        set_billing_plan(db, gateway.id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=PLAN_FROM,
                         fixed_fee=Fraction(25), actor="t", reason="t")
    finally:
        db.dispose()
    return database_url


def test_set_show_and_the_runs_of_a_billing_cycle(url: str) -> None:
    bad = run(url, "billing-cycle", "set", "1", "--cycle", "monthly", "--anchor", "2026-11-30T00:00:00Z",
              "--reason", "r")
    assert bad.exit_code == 1 and "anchor day must be 1..28" in bad.output
    half_hour = run(url, "billing-cycle", "set", "1", "--cycle", "weekly", "--anchor", "2026-11-02T00:30:00Z",
                    "--reason", "r")
    assert half_hour.exit_code == 1 and "whole hour" in half_hour.output
    done = run(url, "billing-cycle", "set", "1", "--cycle", "weekly", "--anchor", "2026-11-02T00:00:00Z",
               "--webhook-url", REFUSING_RECEIVER, "--overdue-policy", "stop_signing",
               "--stop-after-days", "3", "--reason", "contract", "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.output)
    secret = document["webhook_secret"]
    assert len(secret) == 64 and document["overdue_policy"] == "stop_signing"

    shown = run(url, "billing-cycle", "show", "1", "--json")
    assert shown.exit_code == 0 and secret not in shown.output  # shown once, never again
    assert json.loads(shown.output)["webhook_url"] == REFUSING_RECEIVER

    db = ledger.open_database(url)
    try:
        BillingScheduler(db, InvoicingSettings(), clock=Clock(ANCHOR + timedelta(days=7, hours=1))).tick()
    finally:
        db.dispose()
    runs = run(url, "billing-cycle", "runs", "--gateway-id", "1", "--json")
    assert [(r["status"], r["delivery"]) for r in json.loads(runs.output)] == [("issued", "pending")]
    listed = run(url, "invoice", "deliveries", "--gateway-id", "1", "--json")
    assert listed.exit_code == 0, listed.output
    (attempt,) = json.loads(listed.output)
    assert (attempt["number"], attempt["attempt"], attempt["outcome"]) == ("CH-2026-000001", 1, "failed")
    assert attempt["attempted_at"] == "2026-11-09T01:00:00+00:00" and "hunter2" not in listed.output
    assert "unreachable" in attempt["detail"]
    assert run(url, "billing-cycle", "remove", "1").output.strip() == "gateway 1: billing cycle removed"


def test_deposit_history_lists_what_the_policy_did(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    url = f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}"
    ledger.upgrade_to_head(url)
    db = ledger.open_database(url)
    try:
        claim_funding_action(db, NewFunding(
            window_start=ANCHOR, action="fund_deposit", mode=FundingMode.OBSERVE, amount_wei=4 * 10**17,
            reason="deposit 1.5 ETH is below its low-water mark 1.8 ETH", deposit_wei=15 * 10**17,
            reserve_wei=5 * 10**17, eth_balance_wei=10**19), now=ANCHOR)
    finally:
        db.dispose()
    result = CliRunner().invoke(main, ["deposit", "history", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "observe  observed     fund_deposit  0.4 ETH  -" in result.output
    assert "below its low-water mark 1.8 ETH" in result.output
    as_json = json.loads(CliRunner().invoke(main, ["deposit", "history", "--config", str(config), "--json"]).output)
    assert as_json[0]["amount_wei"] == "400000000000000000" and as_json[0]["mode"] == "observe"
