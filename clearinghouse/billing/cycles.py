"""Billing periods of a gateway's cycle, and which of them are ready to invoice; pure, no I/O.

A cycle starts at its anchor (a whole UTC hour) and repeats: every 7 days (weekly), every
calendar month on the anchor's day of the month and hour (monthly; days 1..28, so every month
has it), or every N days (days). A period [start, end) is *due* once ``end + grace`` has passed:
the grace lets records signed near the end, still in a committer batch or a replica's queue,
reach the ledger before the invoice is drafted.

``due_periods`` answers at most PERIODS_DUE_MAX periods, the most recent ones: a daemon that was
down for a while catches up on what it missed, while an anchor years in the past (a typo) costs
a bounded loop, not millions of invoices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from clearinghouse.billing.invoices import InvoiceError
from clearinghouse.billing.limits import MONTHLY_ANCHOR_DAY_MAX, PERIODS_DUE_MAX


WEEK: Final = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Cycle:
    """The shape of a gateway's billing cycle (ledger.billing_cycles.CycleKind's values)."""

    kind: str
    anchor_at: datetime
    length_days: int | None = None

    def __post_init__(self) -> None:
        anchor = self.anchor_at
        if anchor.tzinfo is None or anchor.utcoffset() != timedelta(0):
            raise InvoiceError(f"a cycle's anchor must be a UTC time, got {anchor.isoformat()}")
        if (anchor.minute, anchor.second, anchor.microsecond) != (0, 0, 0):
            raise InvoiceError(f"a cycle's anchor must be a whole hour (periods are whole hours), "
                               f"got {anchor.isoformat()}")
        if self.kind not in ("weekly", "monthly", "days"):
            raise InvoiceError(f"cycle must be weekly, monthly or days, got {self.kind!r:.20}")
        if self.kind == "monthly" and anchor.day > MONTHLY_ANCHOR_DAY_MAX:
            raise InvoiceError(f"a monthly cycle's anchor day must be 1..{MONTHLY_ANCHOR_DAY_MAX}, got {anchor.day}")
        if (self.kind == "days") != (self.length_days is not None):
            raise InvoiceError("a custom cycle (days) needs its length in days, and only it has one")
        if self.length_days is not None and self.length_days < 1:
            raise InvoiceError(f"a custom cycle lasts at least 1 day, got {self.length_days}")

    def period_at(self, index: int) -> tuple[datetime, datetime]:
        """Period number ``index`` (0: the one starting at the anchor)."""
        return self._start(index), self._start(index + 1)

    def _start(self, index: int) -> datetime:
        if self.kind == "monthly":
            months = self.anchor_at.month - 1 + index
            return self.anchor_at.replace(year=self.anchor_at.year + months // 12, month=months % 12 + 1)
        step = WEEK if self.kind == "weekly" else timedelta(days=self.length_days or 0)
        return self.anchor_at + index * step

    def index_ending_by(self, moment: datetime) -> int:
        """How many periods have ended at or before ``moment`` (0 before the first ends)."""
        if moment < self.anchor_at:
            return 0
        if self.kind == "monthly":
            months = (moment.year - self.anchor_at.year) * 12 + moment.month - self.anchor_at.month
            return months if self._start(months) <= moment else months - 1
        step = WEEK if self.kind == "weekly" else timedelta(days=self.length_days or 0)
        return (moment - self.anchor_at) // step


def due_periods(cycle: Cycle, grace_s: int, now: datetime) -> list[tuple[datetime, datetime]]:
    """The periods of ``cycle`` whose end plus ``grace_s`` is at or before ``now``, oldest first,
    the most recent PERIODS_DUE_MAX of them (module docstring)."""
    ended = cycle.index_ending_by(now - timedelta(seconds=grace_s))
    return [cycle.period_at(index) for index in range(max(0, ended - PERIODS_DUE_MAX), ended)]
