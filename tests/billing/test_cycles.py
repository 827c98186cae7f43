"""Billing periods of weekly, monthly and custom cycles, and which are due after their grace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clearinghouse.billing.cycles import Cycle, due_periods
from clearinghouse.billing.limits import PERIODS_DUE_MAX
from clearinghouse.billing.invoices import InvoiceError

JAN_31 = datetime(2026, 1, 31, tzinfo=UTC)


def test_monthly_periods_keep_the_anchor_day_and_hour_across_years() -> None:
    cycle = Cycle("monthly", datetime(2026, 11, 15, 6, tzinfo=UTC))
    assert [cycle.period_at(i)[0].isoformat() for i in range(3)] == [
        "2026-11-15T06:00:00+00:00", "2026-12-15T06:00:00+00:00", "2027-01-15T06:00:00+00:00"]


@pytest.mark.parametrize(("now", "due"), [
    (datetime(2026, 12, 15, 6, 59, tzinfo=UTC), 0),  # the first period ended, its hour of grace has not
    (datetime(2026, 12, 15, 7, tzinfo=UTC), 1),
    (datetime(2027, 2, 15, 7, tzinfo=UTC), 3),
])
def test_a_period_is_due_once_its_end_and_grace_have_passed(now: datetime, due: int) -> None:
    cycle = Cycle("monthly", datetime(2026, 11, 15, 6, tzinfo=UTC))
    assert len(due_periods(cycle, 3600, now)) == due


def test_weekly_and_custom_periods_tile_time_without_gaps() -> None:
    for cycle in (Cycle("weekly", datetime(2026, 11, 2, tzinfo=UTC)),
                  Cycle("days", datetime(2026, 11, 2, tzinfo=UTC), length_days=10)):
        periods = due_periods(cycle, 0, datetime(2027, 1, 1, tzinfo=UTC))
        assert all(a[1] == b[0] for a, b in zip(periods, periods[1:], strict=False))
        assert periods[-1][1] <= datetime(2027, 1, 1, tzinfo=UTC) < periods[-1][1] + (periods[-1][1] - periods[-1][0])


def test_an_anchor_long_ago_yields_a_bounded_catch_up() -> None:
    cycle = Cycle("weekly", datetime(2000, 1, 3, tzinfo=UTC))
    periods = due_periods(cycle, 0, datetime(2026, 11, 2, tzinfo=UTC))
    assert len(periods) == PERIODS_DUE_MAX and periods[-1][1] <= datetime(2026, 11, 2, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "anchor", "length", "message"), [
    ("monthly", JAN_31, None, "anchor day must be 1..28"),
    ("weekly", datetime(2026, 11, 2, 0, 30, tzinfo=UTC), None, "whole hour"),
    ("days", datetime(2026, 11, 2, tzinfo=UTC), None, "needs its length"),
    ("weekly", datetime(2026, 11, 2, tzinfo=UTC), 7, "only it has one"),
    ("yearly", datetime(2026, 11, 2, tzinfo=UTC), None, "weekly, monthly or days"),
    ("weekly", datetime(2026, 11, 2), None, "UTC time"),
])
def test_cycles_that_cannot_tile_whole_hours_are_refused(kind: str, anchor: datetime, length: int | None,
                                                          message: str) -> None:
    with pytest.raises(InvoiceError, match=message):
        Cycle(kind, anchor, length)


def test_due_periods_never_include_one_that_has_not_ended() -> None:
    cycle = Cycle("days", datetime(2026, 11, 2, tzinfo=UTC), length_days=1)
    now = datetime(2026, 11, 5, 12, tzinfo=UTC)
    assert all(end + timedelta(seconds=0) <= now for _, end in due_periods(cycle, 0, now))
