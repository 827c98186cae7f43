"""EV signed per UTC day, per gateway and per usage subject: what quotas are checked against.

``record`` adds every call's EV signed to its day's rows (``add_day_spends``), under the
gateway's account locks, so the rows of one gateway have a single writer at a time. A quota
check sums the rows of its period through the primary key: at most 31 rows for a month, however
many calls it held. The rows are derived data; ``spend_mismatches`` (run by ``verify_ledger``)
rebuilds them from ``signing_records`` and names every day that differs.

Amounts are exact rationals (numerator/denominator columns). They are added in Python,
because on SQLite the columns are decimal text that SQL cannot add exactly.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import date
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, Table, bindparam, select
from sqlalchemy.orm import Session

from clearinghouse.ledger import limits
from clearinghouse.ledger.models import (
    GatewayDailySpendRow,
    SigningRecordRow,
    SubjectDailySpendRow,
    table,
)
from clearinghouse.ledger.rollups import add_to_rows

SpendRow = GatewayDailySpendRow | SubjectDailySpendRow


def _in_period(days: Table) -> Select[Any]:
    """The amounts of one owner's day rows (a gateway, or a gateway's subject) in [first, after)."""
    owner = [c == bindparam(f"key_{c.name}") for c in days.primary_key.columns if c.name != "day"]
    period = (days.c.day >= bindparam("first"), days.c.day < bindparam("after"))
    return select(days.c.ev_signed_num, days.c.ev_signed_den).where(*owner, *period)


_GATEWAY_DAYS = table(GatewayDailySpendRow)
_SUBJECT_DAYS = table(SubjectDailySpendRow)
_GATEWAY_DAY_KEY = ("gateway_id", "day")
_SUBJECT_DAY_KEY = ("gateway_id", "usage_subject", "day")
_GATEWAY_IN_PERIOD = _in_period(_GATEWAY_DAYS)
_SUBJECT_IN_PERIOD = _in_period(_SUBJECT_DAYS)


def add_day_spends(
    connection: Connection,
    gateway_days: Mapping[tuple[int, date], Fraction],
    subject_days: Mapping[tuple[int, str, date], Fraction],
) -> None:
    """Add a batch's EV signed to its day rows: the gateways' (keyed (gateway, day)) and the
    usage subjects' (keyed (gateway, subject, day)), a few statements for all (rollups.py).

    The caller holds the gateways' account locks: no other writer touches these rows, so the
    read-then-write cannot lose an update.
    """
    add_to_rows(connection, _GATEWAY_DAYS, _GATEWAY_DAY_KEY, gateway_days, stored=_stored_total, columns=_columns,
                new_row=_row_of(_GATEWAY_DAY_KEY))
    add_to_rows(connection, _SUBJECT_DAYS, _SUBJECT_DAY_KEY, subject_days, stored=_stored_total, columns=_columns,
                new_row=_row_of(_SUBJECT_DAY_KEY))


def gateway_spend(connection: Connection, gateway_id: int, first: date, after: date) -> Fraction:
    """The gateway's EV signed on the days [first, after)."""
    period = {"key_gateway_id": gateway_id, "first": first, "after": after}
    rows = connection.execute(_GATEWAY_IN_PERIOD, period)
    return sum((Fraction(row.ev_signed_num, row.ev_signed_den) for row in rows), Fraction(0))


def subject_spend(
    connection: Connection, gateway_id: int, usage_subject: str, first: date, after: date
) -> Fraction:
    """One usage subject's EV signed on the days [first, after)."""
    key = {"key_gateway_id": gateway_id, "key_usage_subject": usage_subject}
    rows = connection.execute(_SUBJECT_IN_PERIOD, key | {"first": first, "after": after})
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


def _columns(amount: Fraction) -> dict[str, int]:
    return {"ev_signed_num": amount.numerator, "ev_signed_den": amount.denominator}


def _row_of(names: tuple[str, ...]) -> Callable[[tuple[Any, ...]], dict[str, Any]]:
    """A new day row's key columns, from its key."""
    return lambda key: dict(zip(names, key, strict=True))


def _stored_total(row: RowMapping) -> Fraction:
    return Fraction(int(row["ev_signed_num"]), int(row["ev_signed_den"]))


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
