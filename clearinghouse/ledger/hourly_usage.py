"""Usage per hour and line key: what invoices, usage reports and reconciliation read (spec 05).

``record`` adds every call to the row of its bucket: (gateway, UTC hour, usage subject,
pipeline, model, app, recipient, rate snapshot). A month's invoice for a gateway then reads a
few thousand rows however many millions of records the month holds. The bucket's columns may be
NULL (no subject, no rate yet…), which a UNIQUE constraint cannot see, so each row carries
``bucket_key``: the SHA-256 of its key, unique.

Rows are derived data. ``rebuild_hours`` recomputes a gateway's hours from the signing records
(used when unpriced records get a rate, which moves them between buckets), and
``hourly_usage_mismatches`` (run by ``verify_ledger``) names every row that differs from them.
Amounts are exact rationals added in Python (SQLite keeps these columns as decimal text).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.orm import Session

from clearinghouse.ledger import limits
from clearinghouse.ledger.engine import Database
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import HourlyUsageRow, SigningRecordRow, table
from clearinghouse.ledger.rollups import add_to_rows
from clearinghouse.ledger.transactions import reading

HOUR = timedelta(hours=1)

_ROWS = table(HourlyUsageRow)
_RECORDS = table(SigningRecordRow)
@dataclass(frozen=True, slots=True)
class Bucket:
    """What a usage row is counted under; None where the record had no value."""

    gateway_id: int
    hour: datetime
    usage_subject: str | None
    pipeline: str | None
    model_id: str | None
    app: str
    recipient: bytes
    rate_snapshot_id: int | None

    @property
    def key(self) -> bytes:
        """SHA-256 of the canonical JSON of the bucket: its unique key in the table."""
        canonical = [self.gateway_id, self.hour.isoformat(), self.usage_subject, self.pipeline, self.model_id,
                     self.app, self.recipient.hex(), self.rate_snapshot_id]
        return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).digest()


@dataclass(frozen=True, slots=True)
class Usage:
    """Counted usage: calls, tickets, units, EV signed and fee, exact wei."""

    calls: int = 0
    tickets: int = 0
    units: int = 0
    ev_wei: Fraction = Fraction(0)
    fee_wei: Fraction = Fraction(0)

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.calls + other.calls, self.tickets + other.tickets, self.units + other.units,
                     self.ev_wei + other.ev_wei, self.fee_wei + other.fee_wei)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One bucket and what it counted."""

    bucket: Bucket
    usage: Usage


def hour_of(moment: datetime) -> datetime:
    """The UTC hour ``moment`` falls in."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def count_usages(connection: Connection, usages: Mapping[Bucket, Usage]) -> None:
    """Add a batch's recorded calls to their buckets' rows, a few statements for all
    (rollups.py). The caller holds the gateways' account locks, so the read-then-write cannot
    lose an update."""
    buckets = {(bucket.key,): bucket for bucket in usages}
    add_to_rows(connection, _ROWS, ("bucket_key",), {key: usages[bucket] for key, bucket in buckets.items()},
                stored=_usage, columns=_usage_columns, new_row=lambda key: _bucket_columns(buckets[key]))


def ev_signed_since(db: Database, since: datetime) -> tuple[datetime, Fraction]:
    """EV signed for every gateway from the start of ``since``'s hour on, and that start: the
    burn rate's EV measure for the deposit monitor and ``clearinghouse health`` alike (one
    source, so both give one runway). Reads the hourly rows of the span, a handful per hour."""
    start = hour_of(since)
    statement = select(_ROWS.c.ev_signed_num, _ROWS.c.ev_signed_den).where(_ROWS.c.hour >= start)
    with reading(db) as session:
        rows = session.connection().execute(statement).all()
    return start, sum((Fraction(int(row.ev_signed_num), int(row.ev_signed_den)) for row in rows), Fraction(0))


def hourly_usage(
    db: Database, gateway_id: int | None, start: datetime, end: datetime, *, limit: int = limits.USAGE_ROWS_MAX
) -> list[UsageRow]:
    """The usage rows of the whole hours in [start, end), of one gateway or all, by hour.

    Raises InvalidLedgerInput unless start and end are whole UTC hours with start < end, or
    when the period holds more than ``limit`` rows (ask for a shorter one).
    """
    check_hour_period(start, end)
    where = [_ROWS.c.hour >= start, _ROWS.c.hour < end]
    if gateway_id is not None:
        where.append(_ROWS.c.gateway_id == gateway_id)
    statement = select(_ROWS).where(*where).order_by(_ROWS.c.hour, _ROWS.c.id).limit(limit + 1)
    with reading(db) as session:
        rows = [_row(row._mapping) for row in session.connection().execute(statement)]
    if len(rows) > limit:
        raise InvalidLedgerInput(f"over {limit} usage rows in {start.isoformat()}..{end.isoformat()}; ask for less")
    return rows


class UsageGrouping(StrEnum):
    """How usage is broken down: by end user (usage subject), pipeline and model, app,
    orchestrator (ticket recipient), UTC day, or gateway."""

    SUBJECT = "subject"
    PIPELINE_MODEL = "pipeline_model"
    APP = "app"
    ORCHESTRATOR = "orchestrator"
    DAY = "day"
    GATEWAY = "gateway"


def grouped_usage(
    db: Database, gateway_id: int | None, start: datetime, end: datetime, group_by: UsageGrouping
) -> list[tuple[tuple[str, ...], Usage]]:
    """Usage in the whole hours [start, end) of one gateway (or all), summed per group, in group
    order. A group is a tuple of strings ("" where the records had no value; an orchestrator as
    0x-hex, a day as YYYY-MM-DD). Raises as ``hourly_usage``."""
    totals: dict[tuple[str, ...], Usage] = {}
    for row in hourly_usage(db, gateway_id, start, end):
        group = _group(row.bucket, group_by)
        totals[group] = totals.get(group, Usage()) + row.usage
    return sorted(totals.items())


def _group(bucket: Bucket, group_by: UsageGrouping) -> tuple[str, ...]:
    match group_by:
        case UsageGrouping.SUBJECT:
            return (bucket.usage_subject or "",)
        case UsageGrouping.PIPELINE_MODEL:
            return (bucket.pipeline or "", bucket.model_id or "")
        case UsageGrouping.APP:
            return (bucket.app,)
        case UsageGrouping.ORCHESTRATOR:
            return ("0x" + bucket.recipient.hex(),)
        case UsageGrouping.DAY:
            return (bucket.hour.date().isoformat(),)
        case UsageGrouping.GATEWAY:
            return (str(bucket.gateway_id),)


def rebuild_hours(connection: Connection, gateway_id: int | None, start: datetime, end: datetime) -> None:
    """Recompute the rows of the hours touching [start, end) from the signing records."""
    first, after = hour_of(start), hour_of(end - timedelta(microseconds=1)) + HOUR
    where = [_ROWS.c.hour >= first, _ROWS.c.hour < after]
    record_where = [_RECORDS.c.created_at >= first, _RECORDS.c.created_at < after]
    if gateway_id is not None:
        where.append(_ROWS.c.gateway_id == gateway_id)
        record_where.append(_RECORDS.c.gateway_id == gateway_id)
    connection.execute(delete(_ROWS).where(*where))
    rebuilt = _sum_records(connection.execute(_record_select().where(*record_where)))
    if rebuilt:
        connection.execute(insert(_ROWS), [_bucket_columns(b) | _usage_columns(u) for b, u in rebuilt.items()])


def hourly_usage_mismatches(session: Session) -> tuple[str, ...]:
    """Every usage row that differs from its signing records, as readable keys; streams the
    records in batches."""
    records = session.connection().execute(
        _record_select().execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
    )
    expected = _sum_records(records)
    stored = {row.bucket: row.usage for row in (_row(r._mapping) for r in session.connection().execute(select(_ROWS)))}
    differing = [bucket for bucket in expected.keys() | stored.keys() if expected.get(bucket) != stored.get(bucket)]
    differing.sort(key=lambda b: (b.gateway_id, b.hour, b.key))
    return tuple(f"gateway {b.gateway_id} hour {b.hour.isoformat()} key {b.key.hex()[:16]}" for b in differing)


def bucket_of(record: Any, hour: datetime) -> Bucket:
    """The bucket of a signing record's columns (a row mapping or a record_columns dict)."""
    return Bucket(
        gateway_id=record["gateway_id"], hour=hour, usage_subject=record["usage_subject"],
        pipeline=record["pipeline"], model_id=record["model_id"], app=record["app"],
        recipient=bytes(record["recipient"]), rate_snapshot_id=record["rate_snapshot_id"],
    )


def _record_select() -> Any:
    return select(
        _RECORDS.c.gateway_id, _RECORDS.c.created_at, _RECORDS.c.usage_subject, _RECORDS.c.pipeline,
        _RECORDS.c.model_id, _RECORDS.c.app, _RECORDS.c.recipient, _RECORDS.c.rate_snapshot_id,
        _RECORDS.c.ticket_count, _RECORDS.c.units, _RECORDS.c.ev_signed_num, _RECORDS.c.ev_signed_den,
        _RECORDS.c.fee_num, _RECORDS.c.fee_den,
    )


def _sum_records(rows: Iterable[Any]) -> dict[Bucket, Usage]:
    totals: dict[Bucket, Usage] = {}
    for row in rows:
        record = row._mapping
        bucket = bucket_of(record, hour_of(record["created_at"]))
        usage = Usage(1, record["ticket_count"], record["units"],
                      Fraction(int(record["ev_signed_num"]), int(record["ev_signed_den"])),
                      Fraction(int(record["fee_num"]), int(record["fee_den"])))
        totals[bucket] = totals.get(bucket, Usage()) + usage
    return totals


def check_hour_period(start: datetime, end: datetime) -> None:
    """Raise InvalidLedgerInput unless [start, end) is whole UTC hours and non-empty: usage is
    kept per hour, so only such a period can be answered exactly."""
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None or hour_of(moment) != moment:
            raise InvalidLedgerInput(f"{name} must be a whole UTC hour with its offset, got {moment.isoformat()}")
    if not start < end:
        raise InvalidLedgerInput(f"empty period: {start.isoformat()} is not before {end.isoformat()}")


def _bucket_columns(bucket: Bucket) -> dict[str, Any]:
    return {
        "bucket_key": bucket.key, "gateway_id": bucket.gateway_id, "hour": bucket.hour,
        "usage_subject": bucket.usage_subject, "pipeline": bucket.pipeline, "model_id": bucket.model_id,
        "app": bucket.app, "recipient": bucket.recipient, "rate_snapshot_id": bucket.rate_snapshot_id,
    }


def _usage_columns(usage: Usage) -> dict[str, int]:
    return {
        "calls": usage.calls, "tickets": usage.tickets, "units": usage.units,
        "ev_signed_num": usage.ev_wei.numerator, "ev_signed_den": usage.ev_wei.denominator,
        "fee_num": usage.fee_wei.numerator, "fee_den": usage.fee_wei.denominator,
    }


def _usage(row: Any) -> Usage:
    return Usage(
        row["calls"], row["tickets"], row["units"],
        Fraction(int(row["ev_signed_num"]), int(row["ev_signed_den"])),
        Fraction(int(row["fee_num"]), int(row["fee_den"])),
    )


def _row(row: Any) -> UsageRow:
    return UsageRow(bucket_of(row, row["hour"].astimezone(UTC)), _usage(row))
