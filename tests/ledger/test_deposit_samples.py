"""Deposit samples on both backends: written on a change or once per interval, read by window;
the deposit monitor records them and survives failing to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import text

from clearinghouse.chain.health import NO_EXPOSURE, ChainPosition, HealthThresholds, WatcherLag
from clearinghouse.chain.monitor import DepositMonitor, DepositSnapshot, HealthAlerts
from clearinghouse.ledger import (
    DEPOSIT_SAMPLE_INTERVAL_S,
    Database,
    deposit_samples_since,
    newest_deposit_sample,
    record_deposit_sample,
)
from clearinghouse.errors import InvalidLedgerInput, LedgerError

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEPOSIT_WEI = 2**200 + 7
"""Wider than 64 bits: must come back exact from SQLite's text and PostgreSQL's NUMERIC."""
RESERVE_WEI = 5 * 10**18


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_flat_position_is_written_once_per_interval(ledger_db: Database) -> None:
    written = [
        record_deposit_sample(ledger_db, at(second), 100 + second, DEPOSIT_WEI, RESERVE_WEI)
        for second in range(0, 181)  # a 1 s refresh loop for three minutes
    ]
    stored = [sample for sample in written if sample is not None]
    assert [sample.observed_at for sample in stored] == [at(0), at(60), at(120), at(180)]
    assert deposit_samples_since(ledger_db, T0) == stored
    assert stored[0].deposit_wei == DEPOSIT_WEI and stored[0].block_number == 100


def test_every_change_is_written_at_once(ledger_db: Database) -> None:
    assert record_deposit_sample(ledger_db, at(0), 1, DEPOSIT_WEI, RESERVE_WEI) is not None
    assert record_deposit_sample(ledger_db, at(1), 2, DEPOSIT_WEI, RESERVE_WEI) is None
    changed_deposit = record_deposit_sample(ledger_db, at(2), 3, DEPOSIT_WEI - 1, RESERVE_WEI)
    changed_reserve = record_deposit_sample(ledger_db, at(3), 4, DEPOSIT_WEI - 1, RESERVE_WEI + 1)
    assert changed_deposit is not None and changed_reserve is not None
    assert record_deposit_sample(ledger_db, at(3 + DEPOSIT_SAMPLE_INTERVAL_S - 1), 5, DEPOSIT_WEI - 1,
                                 RESERVE_WEI + 1) is None
    newest = newest_deposit_sample(ledger_db)
    assert newest == changed_reserve
    assert (newest.deposit_wei, newest.reserve_wei) == (DEPOSIT_WEI - 1, RESERVE_WEI + 1)


def test_a_window_reads_oldest_first_and_a_limit_keeps_the_newest(ledger_db: Database) -> None:
    for minute in range(10):
        record_deposit_sample(ledger_db, at(minute * 60), minute, DEPOSIT_WEI + minute, RESERVE_WEI)
    window = deposit_samples_since(ledger_db, at(5 * 60))
    assert [s.block_number for s in window] == [5, 6, 7, 8, 9]
    assert [s.block_number for s in deposit_samples_since(ledger_db, T0, limit=3)] == [7, 8, 9]
    assert deposit_samples_since(ledger_db, at(3600)) == []
    assert all(s.observed_at.tzinfo is UTC for s in window)


def test_nothing_recorded_reads_as_none(ledger_db: Database) -> None:
    assert newest_deposit_sample(ledger_db) is None
    assert deposit_samples_since(ledger_db, T0) == []


@pytest.mark.parametrize(
    ("observed_at", "block", "deposit", "reserve", "match"),
    [
        (T0.replace(tzinfo=None), 1, 1, 1, "timezone-aware"),
        (T0, -1, 1, 1, "block_number"),
        (T0, 1, -1, 1, "deposit_wei"),
        (T0, 1, 1, 2**256, "reserve_wei"),
        (T0, 1, True, 1, "deposit_wei"),
    ],
)
def test_bad_samples_are_refused(
    ledger_db: Database, observed_at: datetime, block: int, deposit: int, reserve: int, match: str
) -> None:
    with pytest.raises(InvalidLedgerInput, match=match):
        record_deposit_sample(ledger_db, observed_at, block, deposit, reserve)
    assert newest_deposit_sample(ledger_db) is None


def test_bad_reads_are_refused(ledger_db: Database) -> None:
    with pytest.raises(InvalidLedgerInput, match="timezone-aware"):
        deposit_samples_since(ledger_db, T0.replace(tzinfo=None))
    with pytest.raises(InvalidLedgerInput, match="limit"):
        deposit_samples_since(ledger_db, T0, limit=0)


class FixedSources:
    """The chain as the monitor sees it: one position, changed by the test (the ledger is real)."""

    def __init__(self, deposit_wei: int) -> None:
        self.deposit_wei = deposit_wei
        self.block = 500

    def snapshot(self) -> DepositSnapshot:
        self.block += 1
        position = ChainPosition(block=self.block, l1_block=1, deposit_wei=self.deposit_wei, reserve_wei=RESERVE_WEI,
                                 reserve_claimed_in_current_round_wei=0, withdraw_round=0, current_round=1,
                                 ticket_validity_period_rounds=2, transcoder_pool_size=1, gas_balance_wei=10**18)
        return DepositSnapshot(position, NO_EXPOSURE, Fraction(0), 0, WatcherLag())


def monitor_of(sources: FixedSources, db: Database) -> DepositMonitor:
    return DepositMonitor(sources, HealthThresholds(), HealthAlerts(), refresh_s=1.0, stale_after_s=10.0,
                          retry_on=(LedgerError,), sample_db=db)


def test_the_deposit_monitor_samples_each_change_and_not_each_refresh(ledger_db: Database) -> None:
    sources = FixedSources(10**19)
    monitor = monitor_of(sources, ledger_db)
    assert all(monitor.refresh() for _ in range(3))
    sources.deposit_wei -= 10**17  # a winning ticket paid
    assert monitor.refresh()
    samples = deposit_samples_since(ledger_db, datetime.now(UTC) - timedelta(minutes=1))
    assert [(s.block_number, s.deposit_wei, s.reserve_wei) for s in samples] == [
        (501, 10**19, RESERVE_WEI), (504, 10**19 - 10**17, RESERVE_WEI)]


def test_a_failed_sample_write_does_not_fail_the_refresh(
    ledger_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with ledger_db.write_engine.begin() as connection:
        connection.execute(text("DROP TABLE deposit_samples"))
    monitor = monitor_of(FixedSources(10**19), ledger_db)
    assert monitor.refresh()
    assert monitor.health().position is not None and monitor().deposit_wei == 10**19
    assert "deposit sample at block 501 not recorded" in caplog.text
