"""Hourly usage: kept by record per hour and line key, exact, rebuilt when records get a rate,
checked by verify_ledger and filled by the migration from existing records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import update

from clearinghouse.ledger import (
    Database,
    NewRate,
    price_unpriced_records,
    record_rate_snapshot,
    record_signing_call,
    upgrade_to_head,
    verify_ledger,
)
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import sessions as ledger_sessions
from clearinghouse.ledger.hourly_usage import Usage, hourly_usage
from clearinghouse.ledger.models import HourlyUsageRow
from clearinghouse.ledger.schema import downgrade_to
from tests.ledger.conftest import RECIPIENT, SessionDriver

HOUR_10 = datetime(2026, 11, 22, 10, tzinfo=UTC)
DAY = (datetime(2026, 11, 22, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC))


def sign_at(db: Database, driver: SessionDriver, moment: datetime, monkeypatch: pytest.MonkeyPatch,
            **fields: object) -> Usage:
    monkeypatch.setattr(ledger_sessions, "utc_now", lambda: moment)
    call = driver.next_call(10, **fields)
    record_signing_call(db, call)
    driver.advance(call)
    return Usage(1, len(call.tickets), call.units, call.ev_signed, call.fee)


def test_calls_are_summed_exactly_per_hour_and_line_key(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver], monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = new_session(gateway.id, face_value=10**20 + 3, win_prob=2**200, price_per_unit=1_000)
    first = sign_at(ledger_db, alice, HOUR_10 + timedelta(minutes=1), monkeypatch, usage_subject="alice")
    second = sign_at(ledger_db, alice, HOUR_10 + timedelta(minutes=59), monkeypatch, usage_subject="alice")
    later = sign_at(ledger_db, alice, HOUR_10 + timedelta(hours=1), monkeypatch, usage_subject="alice",
                    pipeline="text-to-image")

    rows = hourly_usage(ledger_db, gateway.id, *DAY)
    assert [(r.bucket.hour, r.bucket.pipeline, r.usage) for r in rows] == [
        (HOUR_10, "live-video-to-video", first + second),
        (HOUR_10 + timedelta(hours=1), "text-to-image", later),
    ]
    assert rows[0].usage.ev_wei == first.ev_wei + second.ev_wei and isinstance(rows[0].usage.ev_wei, Fraction)
    assert (rows[0].bucket.usage_subject, rows[0].bucket.recipient, rows[0].bucket.rate_snapshot_id) == (
        "alice", RECIPIENT, None)
    assert hourly_usage(ledger_db, gateway.id, HOUR_10 + timedelta(hours=1), DAY[1])[0].usage == later
    assert hourly_usage(ledger_db, gateway.id + 1, *DAY) == []
    assert verify_ledger(ledger_db).ok


def test_pricing_moves_records_to_their_rates_bucket(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver], monkeypatch: pytest.MonkeyPatch
) -> None:
    driver = new_session(gateway.id)
    usage = sign_at(ledger_db, driver, HOUR_10, monkeypatch)
    usage = usage + sign_at(ledger_db, driver, HOUR_10 + timedelta(minutes=30), monkeypatch)
    rate = record_rate_snapshot(ledger_db, NewRate(Fraction(3000), "manual", HOUR_10, HOUR_10, "test", "rate"))
    price_unpriced_records(ledger_db, rate_snapshot_id=rate.id, start=HOUR_10 + timedelta(minutes=10),
                           end=DAY[1], actor="test", reason="feed down")
    rows = hourly_usage(ledger_db, gateway.id, *DAY)
    assert sorted((r.bucket.rate_snapshot_id or 0, r.usage.calls) for r in rows) == [(0, 1), (rate.id, 1)]
    assert sum((r.usage for r in rows), Usage()) == usage
    assert verify_ledger(ledger_db).ok


def test_verify_ledger_names_a_tampered_row(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver], monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_at(ledger_db, new_session(gateway.id), HOUR_10, monkeypatch)
    with ledger_db.write_engine.begin() as connection:
        connection.execute(update(HourlyUsageRow).values(calls=2))
    (problem,) = verify_ledger(ledger_db).mismatched_hourly_usage
    assert problem.startswith(f"gateway {gateway.id} hour 2026-11-22T10:00:00+00:00 key ")


def test_the_upgrade_fills_the_rows_from_existing_records(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver],
    monkeypatch: pytest.MonkeyPatch, migrated_database_url: str,
) -> None:
    driver = new_session(gateway.id, face_value=10**24 + 1, win_prob=2**200, price_per_unit=10**7)
    for minutes in (0, 5, 70):
        sign_at(ledger_db, driver, HOUR_10 + timedelta(minutes=minutes), monkeypatch, usage_subject="bob")
    before = hourly_usage(ledger_db, None, *DAY)
    downgrade_to(migrated_database_url, "0005")
    upgrade_to_head(migrated_database_url)
    assert hourly_usage(ledger_db, None, *DAY) == before
    assert len(before) == 2 and verify_ledger(ledger_db).ok


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        (HOUR_10 + timedelta(minutes=1), DAY[1], "start must be a whole UTC hour"),
        (datetime(2026, 11, 22, 10), DAY[1], "start must be a whole UTC hour with its offset"),
        (HOUR_10, HOUR_10, "empty period"),
    ],
)
def test_periods_are_whole_hours(ledger_db: Database, start: datetime, end: datetime, problem: str) -> None:
    with pytest.raises(InvalidLedgerInput, match=problem):
        hourly_usage(ledger_db, None, start, end)
