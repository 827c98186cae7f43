"""ETH/USD rate snapshots with provenance, and pricing the records written without one (spec 05).

A snapshot is written once and never changed: the rate as an exact rational, its source
(``chainlink``, ``manual``, ``csv``), for Chainlink the feed address and roundId (a second read
of the same round returns the stored snapshot), when the source set it (``valid_at``) and when
we learned it (``observed_at``), and who recorded it and why.

Signing never waits for a price: a signing record written while no acceptable rate exists has
``rate_snapshot_id`` NULL, "unpriced". ``price_unpriced_records`` is the one way to give such
records a rate after the fact: an explicit command, one transaction, with its own audit row
(rate_assignments). Records that already have a rate are never repriced.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import limits
from clearinghouse.ledger.billing_rows import RateAssignmentRow, RateSnapshotRow
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import NotFound
from clearinghouse.ledger.hourly_usage import rebuild_hours
from clearinghouse.ledger.models import SigningRecordRow, table
from clearinghouse.ledger.repository_checks import (
    check_audit,
    check_aware,
    check_gateway,
)
from clearinghouse.ledger.transactions import reading, utc_now, writing_connection

RATE_SOURCES = ("chainlink", "manual", "csv")

_SNAPSHOTS = table(RateSnapshotRow)
_RECORDS = table(SigningRecordRow)
_ASSIGNMENTS = table(RateAssignmentRow)


@dataclass(frozen=True, slots=True)
class RateSnapshot:
    """One stored ETH/USD rate (USD per ETH, exact) and its provenance."""

    id: int
    usd_per_eth: Fraction
    source: str
    feed_address: bytes | None
    round_id: int | None
    valid_at: datetime
    observed_at: datetime
    actor: str
    reason: str


@dataclass(frozen=True, slots=True)
class RateAssignment:
    """An audited pricing of unpriced records: which rate, which records, who and why."""

    id: int
    rate_snapshot_id: int
    period_start: datetime
    period_end: datetime
    gateway_id: int | None
    records_priced: int
    actor: str
    reason: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewRate:
    """A rate to store; see ``record_rate_snapshots`` for what is checked."""

    usd_per_eth: Fraction
    source: str
    valid_at: datetime
    observed_at: datetime
    actor: str
    reason: str
    feed_address: bytes | None = None
    round_id: int | None = None


def record_rate_snapshot(db: Database, rate: NewRate) -> RateSnapshot:
    """Store one rate, or return the stored snapshot of the same Chainlink (feed, round)."""
    return record_rate_snapshots(db, [rate])[0]


def record_rate_snapshots(db: Database, rates: Sequence[NewRate]) -> list[RateSnapshot]:
    """Store ``rates`` in one transaction (all or none), in order; a Chainlink (feed, round)
    already stored is returned as stored, not written again.

    Raises InvalidLedgerInput, naming the rate's position, for a rate that is not a positive
    Fraction or too large to store, an unknown source, a Chainlink rate without its feed and
    round (or another source with them), a naive time, an empty actor or reason, or more than
    ``limits.RATES_PER_IMPORT_MAX`` rates.
    """
    if not 1 <= len(rates) <= limits.RATES_PER_IMPORT_MAX:
        raise InvalidLedgerInput(f"store 1..{limits.RATES_PER_IMPORT_MAX} rates at once, got {len(rates)}")
    for position, rate in enumerate(rates, start=1):
        try:
            _check_snapshot(rate)
        except InvalidLedgerInput as exc:
            raise InvalidLedgerInput(f"rate {position}: {exc}") from None
    with writing_connection(db) as connection:
        return [_insert_snapshot(connection, rate) for rate in rates]


def _insert_snapshot(connection: Connection, rate: NewRate) -> RateSnapshot:
    if rate.source == "chainlink":
        stored = _by_round(connection, rate.feed_address, rate.round_id)
        if stored is not None:
            return stored
    values = {
        "usd_per_eth_num": rate.usd_per_eth.numerator, "usd_per_eth_den": rate.usd_per_eth.denominator,
        "source": rate.source, "feed_address": rate.feed_address, "round_id": rate.round_id,
        "valid_at": rate.valid_at, "observed_at": rate.observed_at, "actor": rate.actor, "reason": rate.reason,
    }
    snapshot_id: int = connection.execute(insert(_SNAPSHOTS).values(values).returning(_SNAPSHOTS.c.id)).scalar_one()
    return snapshot_value(values | {"id": snapshot_id})


def rate_snapshot(db: Database, snapshot_id: int) -> RateSnapshot:
    """The snapshot ``snapshot_id``; NotFound when there is none."""
    with reading(db) as session:
        row = session.connection().execute(select(_SNAPSHOTS).where(_SNAPSHOTS.c.id == snapshot_id)).first()
    if row is None:
        raise NotFound(f"no rate snapshot with id {snapshot_id}")
    return snapshot_value(row._mapping)


def rate_in_force(
    db: Database, at: datetime, *, sources: Collection[str] = RATE_SOURCES
) -> RateSnapshot | None:
    """The newest snapshot from ``sources`` valid at or before ``at`` (the latest recorded wins
    a tie), or None."""
    check_aware("at", at)
    unknown = set(sources) - set(RATE_SOURCES)
    if unknown or not sources:
        raise InvalidLedgerInput(f"sources must be some of {', '.join(RATE_SOURCES)}, got {sorted(sources)}")
    statement = (
        select(_SNAPSHOTS).where(_SNAPSHOTS.c.valid_at <= at, _SNAPSHOTS.c.source.in_(list(sources)))
        .order_by(_SNAPSHOTS.c.valid_at.desc(), _SNAPSHOTS.c.id.desc()).limit(1)
    )
    with reading(db) as session:
        row = session.connection().execute(statement).first()
    return None if row is None else snapshot_value(row._mapping)


def rate_snapshots(db: Database, *, limit: int = limits.RATES_LISTED_MAX) -> list[RateSnapshot]:
    """The newest ``limit`` snapshots by valid time, newest first."""
    if not 1 <= limit <= limits.RATES_LISTED_MAX:
        raise InvalidLedgerInput(f"limit must be in 1..{limits.RATES_LISTED_MAX}, got {limit}")
    statement = select(_SNAPSHOTS).order_by(_SNAPSHOTS.c.valid_at.desc(), _SNAPSHOTS.c.id.desc()).limit(limit)
    with reading(db) as session:
        return [snapshot_value(row._mapping) for row in session.connection().execute(statement)]


def unpriced_record_count(db: Database, start: datetime, end: datetime, gateway_id: int | None = None) -> int:
    """How many signing records created in [start, end) have no rate yet."""
    statement = select(func.count()).select_from(_RECORDS).where(*_unpriced(start, end, gateway_id))
    with reading(db) as session:
        return int(session.connection().execute(statement).scalar_one())


def price_unpriced_records(
    db: Database,
    *,
    rate_snapshot_id: int,
    start: datetime,
    end: datetime,
    actor: str,
    reason: str,
    gateway_id: int | None = None,
) -> RateAssignment:
    """Give every unpriced record created in [start, end) (of one gateway, or all) the rate
    ``rate_snapshot_id``, and record who did it and why, in one transaction.

    Raises NotFound for an unknown snapshot or gateway, InvalidLedgerInput for an empty period,
    a naive time, or an empty actor or reason.
    """
    where = _unpriced(start, end, gateway_id)
    check_audit(actor, reason)
    with writing_connection(db) as connection:
        if connection.execute(select(_SNAPSHOTS.c.id).where(_SNAPSHOTS.c.id == rate_snapshot_id)).first() is None:
            raise NotFound(f"no rate snapshot with id {rate_snapshot_id}")
        if gateway_id is not None:
            check_gateway(connection, gateway_id)
        priced: int = connection.execute(
            update(_RECORDS).where(*where).values(rate_snapshot_id=rate_snapshot_id)
        ).rowcount
        if priced:
            rebuild_hours(connection, gateway_id, start, end)  # the records moved to priced buckets
        assignment = RateAssignment(
            id=0, rate_snapshot_id=rate_snapshot_id, period_start=start, period_end=end,
            gateway_id=gateway_id, records_priced=priced, actor=actor, reason=reason, created_at=utc_now(),
        )
        values = {name: getattr(assignment, name) for name in RateAssignment.__slots__ if name != "id"}
        assignment_id: int = connection.execute(
            insert(_ASSIGNMENTS).values(values).returning(_ASSIGNMENTS.c.id)
        ).scalar_one()
    return replace(assignment, id=assignment_id)


def _unpriced(start: datetime, end: datetime, gateway_id: int | None) -> list[Any]:
    check_aware("start", start)
    check_aware("end", end)
    if not start < end:
        raise InvalidLedgerInput(f"empty period: start {start.isoformat()} is not before end {end.isoformat()}")
    where = [_RECORDS.c.rate_snapshot_id.is_(None), _RECORDS.c.created_at >= start, _RECORDS.c.created_at < end]
    if gateway_id is not None:
        where.append(_RECORDS.c.gateway_id == gateway_id)
    return where


def _by_round(connection: Connection, feed_address: bytes | None, round_id: int | None) -> RateSnapshot | None:
    statement = select(_SNAPSHOTS).where(_SNAPSHOTS.c.feed_address == feed_address, _SNAPSHOTS.c.round_id == round_id)
    row = connection.execute(statement).first()
    return None if row is None else snapshot_value(row._mapping)


def _check_snapshot(rate: NewRate) -> None:
    value = rate.usd_per_eth
    if not isinstance(value, Fraction) or value <= 0:
        raise InvalidLedgerInput(f"usd_per_eth must be a positive Fraction, got {value!r}")
    if max(value.numerator, value.denominator) >= 10**limits.RATIONAL_DIGITS_MAX:
        raise InvalidLedgerInput(f"usd_per_eth {value} has over {limits.RATIONAL_DIGITS_MAX} digits")
    if rate.source not in RATE_SOURCES:
        raise InvalidLedgerInput(f"source must be one of {', '.join(RATE_SOURCES)}, got {rate.source!r}")
    chainlink = rate.source == "chainlink"
    has_round = rate.feed_address is not None and rate.round_id is not None
    if chainlink != has_round or (not chainlink and rate.feed_address is not None):
        raise InvalidLedgerInput("a chainlink rate needs its feed_address and round_id; other sources have neither")
    if rate.feed_address is not None and len(rate.feed_address) != 20:
        raise InvalidLedgerInput(f"feed_address must be 20 bytes, got {len(rate.feed_address)}")
    if rate.round_id is not None and not 0 < rate.round_id < 2**80:
        raise InvalidLedgerInput(f"round_id must be a positive uint80, got {rate.round_id}")
    check_aware("valid_at", rate.valid_at)
    check_aware("observed_at", rate.observed_at)
    check_audit(rate.actor, rate.reason)


def snapshot_value(row: Any) -> RateSnapshot:
    return RateSnapshot(
        id=row["id"],
        usd_per_eth=Fraction(int(row["usd_per_eth_num"]), int(row["usd_per_eth_den"])),
        source=row["source"],
        feed_address=None if row["feed_address"] is None else bytes(row["feed_address"]),
        round_id=None if row["round_id"] is None else int(row["round_id"]),
        valid_at=row["valid_at"],
        observed_at=row["observed_at"],
        actor=row["actor"],
        reason=row["reason"],
    )
