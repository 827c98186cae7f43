"""Read-only queries of the clearinghouse.v1 API: a gateway's usage over a period, and the
signing record a request id names.

``gateway_usage`` sums the gateway's signing records created in [start, end), read through the
(gateway_id, created_at) index ``VERIFY_BATCH_ROWS_MAX`` rows at a time, so memory stays bounded
however busy the period was. It reads the records rather than the per-day spend rollups because
a period may start and end at any second, and because it reports more than EV (calls, tickets,
fees, face value, per usage subject). Amounts are added as exact rationals in Python: on SQLite
the columns are decimal text that SQL cannot add exactly.

``find_request_record`` is the idempotency lookup of SignTickets: UNIQUE(gateway_id,
request_id) makes it at most one record.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from sqlalchemy import select

from clearinghouse.ledger import limits
from clearinghouse.ledger.engine import Database
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import SigningRecordRow, table
from clearinghouse.ledger.records import record_value
from clearinghouse.ledger.transactions import reading
from clearinghouse.ledger.values import SigningRecord

_RECORDS = table(SigningRecordRow)


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """What was signed: calls, tickets, EV signed (billed) and fees (reported), exact wei."""

    calls: int = 0
    tickets: int = 0
    ev_signed: Fraction = Fraction(0)
    fee: Fraction = Fraction(0)
    face_value_wei: int = 0

    def plus(self, tickets: int, ev_signed: Fraction, fee: Fraction, face_value_wei: int) -> UsageTotals:
        """These totals with one more call."""
        return UsageTotals(
            calls=self.calls + 1,
            tickets=self.tickets + tickets,
            ev_signed=self.ev_signed + ev_signed,
            fee=self.fee + fee,
            face_value_wei=self.face_value_wei + face_value_wei,
        )


@dataclass(frozen=True, slots=True)
class GatewayUsage:
    """One gateway's usage over [start, end): in total, and per usage subject (sorted)."""

    gateway_id: int
    start: datetime
    end: datetime
    total: UsageTotals
    subjects: tuple[tuple[str, UsageTotals], ...]


def gateway_usage(db: Database, gateway_id: int, start: datetime, end: datetime) -> GatewayUsage:
    """Sum the gateway's signing records created in [start, end).

    Raises ``InvalidLedgerInput`` for naive datetimes or ``end <= start``, and
    ``DatabaseUnavailable`` when the database cannot be read. An unknown gateway has no usage.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidLedgerInput(f"expected timezone-aware datetimes, got {start!r} and {end!r}")
    if end <= start:
        raise InvalidLedgerInput(f"expected start < end, got {start.isoformat()} and {end.isoformat()}")
    row = SigningRecordRow
    statement = (
        select(
            row.usage_subject,
            row.ticket_count,
            row.face_value,
            row.ev_signed_num,
            row.ev_signed_den,
            row.fee_num,
            row.fee_den,
        )
        .where(row.gateway_id == gateway_id, row.created_at >= start, row.created_at < end)
        .execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
    )
    total = UsageTotals()
    subjects: dict[str, UsageTotals] = defaultdict(UsageTotals)
    with reading(db) as session:
        for subject, tickets, face_value, ev_num, ev_den, fee_num, fee_den in session.execute(statement):
            amounts = (tickets, Fraction(ev_num, ev_den), Fraction(fee_num, fee_den), tickets * face_value)
            total = total.plus(*amounts)
            if subject is not None:
                subjects[subject] = subjects[subject].plus(*amounts)
    return GatewayUsage(gateway_id, start, end, total, tuple(sorted(subjects.items())))


def find_request_record(db: Database, gateway_id: int, request_id: str) -> SigningRecord | None:
    """The gateway's signing record with this request id, or None."""
    statement = select(_RECORDS).where(
        _RECORDS.c.gateway_id == gateway_id, _RECORDS.c.request_id == request_id
    )
    with reading(db) as session:
        row = session.connection().execute(statement).first()
        return None if row is None else record_value(row._mapping)
