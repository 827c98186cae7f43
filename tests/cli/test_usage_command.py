"""``clearinghouse usage``: groups from the hourly rows, exact wei, one gateway or all."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from clearinghouse import ledger
from clearinghouse.cli.usage import usage
from clearinghouse.ledger import sessions as ledger_sessions
from tests.ledger.conftest import SessionDriver

NOON = datetime(2026, 11, 3, 12, tzinfo=UTC)


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(usage, [*args, "--database-url", url])


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ledger with two gateways: alice's 2 calls on 3 Nov, bob's 1 call on 4 Nov."""
    location = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(location)
    db = ledger.open_database(location)
    try:
        for name, moments, subject in (("alice", [NOON, NOON + timedelta(minutes=5)], "user-1"),
                                       ("bob", [NOON + timedelta(days=1)], None)):
            driver = SessionDriver(ledger.create_gateway(db, name).id)
            for moment in moments:
                monkeypatch.setattr(ledger_sessions, "utc_now", lambda moment=moment: moment)
                call = driver.next_call(10, usage_subject=subject)
                ledger.record_signing_call(db, call)
                driver.advance(call)
    finally:
        db.dispose()
    return location


def test_a_month_by_gateway_and_by_day(url: str) -> None:
    result = run(url, "--month", "2026-11", "--group-by", "gateway", "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert (document["start"], document["end"]) == ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")
    assert [(g["group"], g["calls"]) for g in document["groups"]] == [(["1"], 2), (["2"], 1)]
    ev = Fraction(document["groups"][0]["ev_signed_wei"])
    assert ev > 0 and document["groups"][0]["ev_signed_wei_floor"] == str(int(ev))
    days = json.loads(run(url, "--month", "2026-11", "--group-by", "day", "--json").output)["groups"]
    assert [(g["group"], g["calls"]) for g in days] == [(["2026-11-03"], 2), (["2026-11-04"], 1)]


def test_one_gateway_by_subject_over_hours(url: str) -> None:
    result = run(url, "--gateway-id", "1", "--start", "2026-11-03T12:00:00Z", "--end", "2026-11-03T13:00:00Z")
    assert result.exit_code == 0, result.output
    assert [line.split() for line in result.output.splitlines()] == [
        ["subject", "calls", "tickets", "units", "EV", "signed", "wei", "fee", "wei"],
        ["user-1", "2", "2", "20", "70", "60"],
    ]
    document = json.loads(run(url, "--gateway-id", "1", "--start", "2026-11-03T12:00:00Z",
                              "--end", "2026-11-03T13:00:00Z", "--json").output)
    assert [(g["group"], g["calls"], g["ev_signed_wei_floor"]) for g in document["groups"]] == [(["user-1"], 2, "70")]


def test_bad_periods_are_refused(url: str) -> None:
    assert "give either --month or both --start and --end" in run(url).output
    assert "is not a month like 2026-11" in run(url, "--month", "11/2026").output
    partial = run(url, "--start", "2026-11-03T12:30:00Z", "--end", "2026-11-03T13:00:00Z")
    assert partial.exit_code == 1 and "start must be a whole UTC hour" in partial.output
    assert "no usage in this period" in run(url, "--month", "2026-10").output
