"""EV signed per UTC day, per gateway and per usage subject: what quotas are checked against.

``record`` adds every call's EV signed to its day's rows (``count_spend``), under the
gateway's account locks, so the rows of one gateway have a single writer at a time. A quota
check sums the rows of its period through the primary key: at most 31 rows for a month, however
many calls it held. The rows are derived data; ``spend_mismatches`` (run by ``verify_ledger``)
rebuilds them from ``signing_records`` and names every day that differs.

Amounts are exact rationals (numerator/denominator columns). They are added in Python,
because on SQLite the columns are decimal text that SQL cannot add exactly.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from clearinghouse.ledger import limits
from clearinghouse.ledger.models import (
    GatewayDailySpendRow,
    SigningRecordRow,
    SubjectDailySpendRow,
)
from clearinghouse.ledger.values import QuotaPeriod

SpendRow = GatewayDailySpendRow | SubjectDailySpendRow


def count_spend(
    session: Session, gateway_id: int, usage_subject: str | None, ev_signed: Fraction, day: date
) -> None:
    """Add a recorded call's EV signed to its day's rows (the gateway's, and its subject's).

    The caller holds the gateway's account locks: no other writer touches these rows, so the
    read-then-write cannot lose an update.
    """
    gateway_row = session.get(GatewayDailySpendRow, (gateway_id, day))
    if gateway_row is None:
        session.add(GatewayDailySpendRow(gateway_id=gateway_id, day=day, **_columns(ev_signed)))
    else:
        _add(gateway_row, ev_signed)
    if usage_subject is None:
        return
    subject_row = session.get(SubjectDailySpendRow, (gateway_id, usage_subject, day))
    if subject_row is None:
        key = {"gateway_id": gateway_id, "usage_subject": usage_subject, "day": day}
        session.add(SubjectDailySpendRow(**key, **_columns(ev_signed)))
    else:
        _add(subject_row, ev_signed)


def period_days(period: QuotaPeriod, now: datetime) -> tuple[date, date]:
    """The UTC days [first, after last) of the calendar ``period`` that contains ``now``."""
    today = now.astimezone(UTC).date()
    if period is QuotaPeriod.DAY:
        return today, date.fromordinal(today.toordinal() + 1)
    first = today.replace(day=1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, after


def gateway_spend(session: Session, gateway_id: int, first: date, after: date) -> Fraction:
    """The gateway's EV signed on the days [first, after)."""
    rows = session.execute(
        select(GatewayDailySpendRow.ev_signed_num, GatewayDailySpendRow.ev_signed_den).where(
            GatewayDailySpendRow.gateway_id == gateway_id,
            GatewayDailySpendRow.day >= first,
            GatewayDailySpendRow.day < after,
        )
    )
    return sum((Fraction(num, den) for num, den in rows), Fraction(0))


def subject_spend(
    session: Session, gateway_id: int, usage_subject: str, first: date, after: date
) -> Fraction:
    """One usage subject's EV signed on the days [first, after)."""
    rows = session.execute(
        select(SubjectDailySpendRow.ev_signed_num, SubjectDailySpendRow.ev_signed_den).where(
            SubjectDailySpendRow.gateway_id == gateway_id,
            SubjectDailySpendRow.usage_subject == usage_subject,
            SubjectDailySpendRow.day >= first,
            SubjectDailySpendRow.day < after,
        )
    )
    return sum((Fraction(num, den) for num, den in rows), Fraction(0))


def spend_mismatches(session: Session) -> tuple[str, ...]:
    """Every day row that differs from the sum of its signing records, as readable keys.

    Streams the records ``limits.VERIFY_BATCH_ROWS_MAX`` at a time; keys look like
    ``gateway 3 2026-11-22`` or ``gateway 3 subject 'alice' 2026-11-22``.
    """
    expected: dict[tuple[int, str | None, date], Fraction] = defaultdict(Fraction)
    records = session.execute(
        select(
            SigningRecordRow.gateway_id,
            SigningRecordRow.usage_subject,
            SigningRecordRow.created_at,
            SigningRecordRow.ev_signed_num,
            SigningRecordRow.ev_signed_den,
        ).execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
    )
    for gateway_id, subject, created_at, num, den in records:
        amount = Fraction(num, den)
        expected[(gateway_id, None, created_at.date())] += amount
        if subject is not None:
            expected[(gateway_id, subject, created_at.date())] += amount
    stored: dict[tuple[int, str | None, date], Fraction] = {}
    for row in session.scalars(select(GatewayDailySpendRow)):
        stored[(row.gateway_id, None, row.day)] = _total(row)
    for subject_row in session.scalars(select(SubjectDailySpendRow)):
        key = (subject_row.gateway_id, subject_row.usage_subject, subject_row.day)
        stored[key] = _total(subject_row)
    differing = {
        key for key in expected.keys() | stored.keys() if expected.get(key) != stored.get(key)
    }
    return tuple(_describe(key) for key in sorted(differing, key=_sort_key))


def _add(row: SpendRow, amount: Fraction) -> None:
    row.ev_signed_num, row.ev_signed_den = _columns(_total(row) + amount).values()


def _columns(amount: Fraction) -> dict[str, int]:
    return {"ev_signed_num": amount.numerator, "ev_signed_den": amount.denominator}


def _total(row: SpendRow) -> Fraction:
    return Fraction(row.ev_signed_num, row.ev_signed_den)


def _sort_key(key: tuple[int, str | None, date]) -> tuple[int, str, date]:
    gateway_id, subject, day = key
    return gateway_id, "" if subject is None else f"~{subject}", day


def _describe(key: tuple[int, str | None, date]) -> str:
    gateway_id, subject, day = key
    who = (
        f"gateway {gateway_id}" if subject is None else f"gateway {gateway_id} subject {subject!r}"
    )
    return f"{who} {day.isoformat()}"
