"""Our TicketBroker deposit and reserve over time: the samples the operator dashboard charts.

The deposit monitor reads the position every second or so; storing every read would write a
row per second for a line that is flat almost all the time. ``record_deposit_sample`` writes a
sample only when the deposit or the reserve differs from the newest stored one, or when
DEPOSIT_SAMPLE_INTERVAL_S has passed since it: a flat position costs one row a minute, and
every change is kept at the moment it was seen. The newest sample is read in a read
transaction first, so a refresh that writes nothing never takes the write lock (on SQLite the
signing path's lock); the check is repeated inside the write, so two replicas sampling at once
do not both write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, select

from clearinghouse.domain.limits import BIGINT_MAX
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.limits import (
    DEPOSIT_SAMPLE_INTERVAL_S,
    DEPOSIT_SAMPLES_LISTED_MAX,
)
from clearinghouse.ledger.models import DepositSampleRow, table
from clearinghouse.ledger.repository_checks import check_aware
from clearinghouse.ledger.transactions import reading, writing_connection

_SAMPLES = table(DepositSampleRow)
_NEWEST = select(_SAMPLES).order_by(_SAMPLES.c.observed_at.desc(), _SAMPLES.c.id.desc()).limit(1)


@dataclass(frozen=True, slots=True)
class DepositSample:
    """The deposit and reserve read at ``block_number``, seen at ``observed_at`` (UTC)."""

    id: int
    observed_at: datetime
    block_number: int
    deposit_wei: int
    reserve_wei: int


def record_deposit_sample(
    db: Database, observed_at: datetime, block_number: int, deposit_wei: int, reserve_wei: int
) -> DepositSample | None:
    """Store the position read at ``block_number`` when it differs from the newest sample or
    DEPOSIT_SAMPLE_INTERVAL_S passed since that one; the stored sample, or None when it was not
    due. Raises InvalidLedgerInput for a naive time, a negative or non-int block or amount, or
    an amount wider than a uint256."""
    _check(observed_at, block_number, deposit_wei, reserve_wei)
    with reading(db) as session:
        newest = session.connection().execute(_NEWEST).first()
    if not _due(newest, observed_at, deposit_wei, reserve_wei):
        return None
    values = {"observed_at": observed_at, "block_number": block_number, "deposit_wei": deposit_wei,
              "reserve_wei": reserve_wei}
    with writing_connection(db) as connection:
        if not _due(connection.execute(_NEWEST).first(), observed_at, deposit_wei, reserve_wei):
            return None
        sample_id: int = connection.execute(insert(_SAMPLES).values(values).returning(_SAMPLES.c.id)).scalar_one()
    return DepositSample(sample_id, observed_at, block_number, deposit_wei, reserve_wei)


def deposit_samples_since(
    db: Database, since: datetime, *, limit: int = DEPOSIT_SAMPLES_LISTED_MAX
) -> list[DepositSample]:
    """The samples observed at or after ``since``, oldest first; when there are more than
    ``limit``, the newest ``limit`` of them. Raises InvalidLedgerInput for a naive ``since``
    or a limit outside 1..DEPOSIT_SAMPLES_LISTED_MAX."""
    if since.tzinfo is None:
        raise InvalidLedgerInput(f"since must be a timezone-aware time, got {since.isoformat()}")
    if not 1 <= limit <= DEPOSIT_SAMPLES_LISTED_MAX:
        raise InvalidLedgerInput(f"limit must be in 1..{DEPOSIT_SAMPLES_LISTED_MAX}, got {limit}")
    statement = (
        select(_SAMPLES).where(_SAMPLES.c.observed_at >= since)
        .order_by(_SAMPLES.c.observed_at.desc(), _SAMPLES.c.id.desc()).limit(limit)
    )
    with reading(db) as session:
        rows = session.connection().execute(statement).all()
    return [_sample(row) for row in reversed(rows)]


def newest_deposit_sample(db: Database) -> DepositSample | None:
    """The newest sample, or None before the first."""
    with reading(db) as session:
        row = session.connection().execute(_NEWEST).first()
    return None if row is None else _sample(row)


def _due(newest: Any, observed_at: datetime, deposit_wei: int, reserve_wei: int) -> bool:
    """A sample is due when there is none yet, a value changed, or the interval has passed."""
    if newest is None or (newest.deposit_wei, newest.reserve_wei) != (deposit_wei, reserve_wei):
        return True
    elapsed: timedelta = observed_at - newest.observed_at
    return elapsed.total_seconds() >= DEPOSIT_SAMPLE_INTERVAL_S


def _check(observed_at: datetime, block_number: int, deposit_wei: int, reserve_wei: int) -> None:
    check_aware("observed_at", observed_at)
    for name, value, high in (("block_number", block_number, BIGINT_MAX),
                              ("deposit_wei", deposit_wei, 2**256 - 1), ("reserve_wei", reserve_wei, 2**256 - 1)):
        if type(value) is not int or not 0 <= value <= high:
            raise InvalidLedgerInput(f"{name} must be an int in 0..{high}, got {value!r:.80}")


def _sample(row: Any) -> DepositSample:
    return DepositSample(id=row.id, observed_at=row.observed_at, block_number=row.block_number,
                         deposit_wei=row.deposit_wei, reserve_wei=row.reserve_wei)
