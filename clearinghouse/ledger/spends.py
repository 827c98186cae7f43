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
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, Insert, Select, Table, Update, bindparam, insert, select, update
from sqlalchemy.orm import Session

from clearinghouse.ledger import limits
from clearinghouse.ledger.models import (
    GatewayDailySpendRow,
    SigningRecordRow,
    SubjectDailySpendRow,
    table,
)

SpendRow = GatewayDailySpendRow | SubjectDailySpendRow


@dataclass(frozen=True, slots=True)
class _DayStatements:
    """The prepared statements on one table of day rows, keyed by its primary key."""

    select: Select[Any]
    insert: Insert
    update: Update
    in_period: Select[Any]


def _day_statements(days: Table) -> _DayStatements:
    # WHERE parameters are named key_<column>: an UPDATE takes any parameter named like a
    # column as a value to SET, so the key's parameters must not be.
    key = [c == bindparam(f"key_{c.name}") for c in days.primary_key.columns]
    amount = (days.c.ev_signed_num, days.c.ev_signed_den)
    owner = [c == bindparam(f"key_{c.name}") for c in days.primary_key.columns if c.name != "day"]
    period = (days.c.day >= bindparam("first"), days.c.day < bindparam("after"))
    return _DayStatements(
        select=select(*amount).where(*key),
        insert=insert(days),
        update=update(days).where(*key),
        in_period=select(*amount).where(*owner, *period),
    )


_GATEWAY_DAY = _day_statements(table(GatewayDailySpendRow))
_SUBJECT_DAY = _day_statements(table(SubjectDailySpendRow))


def count_spend(
    connection: Connection,
    gateway_id: int,
    usage_subject: str | None,
    ev_signed: Fraction,
    day: date,
) -> None:
    """Add a recorded call's EV signed to its day's rows (the gateway's, and its subject's).

    The caller holds the gateway's account locks: no other writer touches these rows, so the
    read-then-write cannot lose an update.
    """
    gateway_key = {"gateway_id": gateway_id, "day": day}
    _add_to_day(connection, _GATEWAY_DAY, gateway_key, ev_signed)
    if usage_subject is not None:
        subject_key = gateway_key | {"usage_subject": usage_subject}
        _add_to_day(connection, _SUBJECT_DAY, subject_key, ev_signed)


def add_subject_spend(
    connection: Connection, gateway_id: int, usage_subject: str, ev_signed: Fraction, day: date
) -> None:
    """Add EV signed to one usage subject's day row only (the gateway's row is counted apart,
    by ``count_spend`` with no subject). The caller holds the gateway's account locks."""
    _add_to_day(connection, _SUBJECT_DAY, {"gateway_id": gateway_id, "day": day, "usage_subject": usage_subject},
                ev_signed)


def gateway_spend(connection: Connection, gateway_id: int, first: date, after: date) -> Fraction:
    """The gateway's EV signed on the days [first, after)."""
    period = {"key_gateway_id": gateway_id, "first": first, "after": after}
    rows = connection.execute(_GATEWAY_DAY.in_period, period)
    return sum((Fraction(row.ev_signed_num, row.ev_signed_den) for row in rows), Fraction(0))


def subject_spend(
    connection: Connection, gateway_id: int, usage_subject: str, first: date, after: date
) -> Fraction:
    """One usage subject's EV signed on the days [first, after)."""
    key = {"key_gateway_id": gateway_id, "key_usage_subject": usage_subject}
    rows = connection.execute(_SUBJECT_DAY.in_period, key | {"first": first, "after": after})
    return sum((Fraction(row.ev_signed_num, row.ev_signed_den) for row in rows), Fraction(0))


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


def _add_to_day(
    connection: Connection, statements: _DayStatements, key: dict[str, Any], amount: Fraction
) -> None:
    where = {f"key_{name}": value for name, value in key.items()}
    stored = connection.execute(statements.select, where).first()
    if stored is None:
        connection.execute(statements.insert, key | _columns(amount))
    else:
        total = Fraction(stored.ev_signed_num, stored.ev_signed_den) + amount
        connection.execute(statements.update, where | _columns(total))


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
