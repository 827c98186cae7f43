"""The event outbox: rows to publish, written in the transaction of what they describe, and
each sink's cursor over them (the relay that publishes them is clearinghouse/events).

A signing call's row is written by its batch (batch_writes.py), with one ``executemany`` for
the batch, in the batch's transaction: committed with the signing record or not at all. The
row names the record; the event's data is read from the record when it is published (records
are immutable, so every publication of an event carries the same data). Refusals have no record:
their sampled rows carry their data (JSON text) and are written in small transactions of their
own (``write_refusal_events``).

Order and no skipped row: each row carries ``txid``, the writing transaction's id on
PostgreSQL (``pg_current_xact_id()``; 0 on SQLite). A sink reads rows after its cursor in
(txid, id) order, and on PostgreSQL only rows of transactions older than the oldest one still
running (``pg_snapshot_xmin``): a transaction that took its ids early but commits late would
otherwise commit rows below a cursor that had already passed them. SQLite has one writer at a
time and commits ids in order. A session's calls lock its row, so their transactions (and
events) follow the session's order on every backend; the calls of one committer follow its
batches' order. With several replicas on PostgreSQL one relay at a time publishes each sink: it
holds the sink's advisory lock (``sink_lock_key``), the others stand by.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)

from clearinghouse.ledger import statements
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import InvariantViolation
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.limits import EVENT_SINK_NAME_MAX
from clearinghouse.ledger.models import GatewayRow, SigningRecordRow, table
from clearinghouse.ledger.billing_rows import RateSnapshotRow
from clearinghouse.ledger.outbox_rows import EventOutboxRow, EventSinkCursorRow
from clearinghouse.ledger.rates import RateSnapshot, snapshot_value
from clearinghouse.ledger.transactions import reading, translated_errors, utc_now, writing_connection
from clearinghouse.ledger.limits import BACKLOG_COUNT_MAX, OUTBOX_PAGE_MAX, PRUNE_ROWS_MAX

_OUTBOX = table(EventOutboxRow)
_CURSORS = table(EventSinkCursorRow)
_RECORDS = table(SigningRecordRow)
_RATES = table(RateSnapshotRow)
_GATEWAYS = table(GatewayRow)


SIGNING, REFUSAL, REFUSALS_SUPPRESSED = "signing", "refusal", "refusals_suppressed"

_PG_TXID = "CAST(CAST(pg_current_xact_id() AS text) AS bigint)"
_PG_HORIZON = text("SELECT CAST(CAST(pg_snapshot_xmin(pg_current_snapshot()) AS text) AS bigint)")


@dataclass(frozen=True, slots=True)
class Position:
    """A place in the outbox's order: (txid, id); (0, 0) is before every row."""

    txid: int
    id: int


START = Position(0, 0)


@dataclass(frozen=True, slots=True)
class EventRecord:
    """The columns of a signing record its event carries, as stored: rationals as their stored
    (reduced) numerator and denominator, so reading a page of them builds no Fraction (the
    relay runs in the signing daemon; its time per event is taken from signing)."""

    id: int
    gateway_id: int
    usage_subject: str | None
    request_id: str | None
    state_id: str
    manifest_id: str
    sequence_number: int
    orchestrator_address: bytes
    recipient: bytes
    recipient_rand_hash: bytes
    pipeline: str | None
    model_id: str | None
    capability: str | None
    billing_type: str
    units: int
    price_per_unit: int
    pixels_per_unit: int
    face_value: int
    win_prob: int
    ticket_count: int
    fee_num: int
    fee_den: int
    ev_signed_num: int
    ev_signed_den: int
    first_nonce: int
    last_nonce: int
    creation_round: int
    rate_snapshot_id: int | None
    created_at: datetime


_EVENT_RECORD_COLUMNS = [_RECORDS.c[name] for name in EventRecord.__dataclass_fields__]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One stored event: for a signing, its record (with the gateway's name and the rate the
    record is priced at, if any); for a refusal, its data as written."""

    position: Position
    kind: str
    gateway_id: int | None
    gateway_name: str | None
    created_at: datetime
    data: str | None
    record: EventRecord | None
    rate: RateSnapshot | None

    @property
    def id(self) -> int:
        return self.position.id


@dataclass(frozen=True, slots=True)
class NewRefusalEvent:
    """A sampled refusal (or a count of suppressed ones) to write: its data is JSON text."""

    kind: str
    gateway_id: int | None
    data: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SinkCursor:
    """How far a sink has published, how many events it has sent, and when it last moved."""

    sink: str
    position: Position
    sent_total: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Backlog:
    """What a sink has not sent yet: how many rows (at most BACKLOG_COUNT_MAX) and when the
    oldest of them was written (None: nothing unsent)."""

    sink: str
    unsent: int
    oldest_unsent_at: datetime | None


_SIGNING_INSERTS: dict[str, statements.DriverStatement] = {}


def write_signing_events(connection: Connection, records: Sequence[tuple[int, int, datetime]]) -> None:
    """The outbox rows of a batch's recorded calls, (gateway id, record id, signed at) each, in
    one ``executemany`` on the batch's transaction; a row that did not land raises."""
    if not records:
        return
    rows = [{"kind": SIGNING, "gateway_id": gateway_id, "signing_record_id": record_id, "created_at": at}
            for gateway_id, record_id, at in records]
    written = statements.execute_many(connection, _signing_insert(connection), rows)
    if written != len(rows) and written != -1:  # -1: a driver that does not count executemany
        raise InvariantViolation(f"{written} of {len(rows)} outbox rows written")


def _signing_insert(connection: Connection) -> statements.DriverStatement:
    dialect = connection.dialect
    known = _SIGNING_INSERTS.get(dialect.name)
    if known is None:
        txid: Any = literal_column(_PG_TXID) if dialect.name == "postgresql" else literal_column("0")
        known = statements.compile_for(insert(_OUTBOX).values(txid=txid), dialect,
                                       ("kind", "gateway_id", "signing_record_id", "created_at"))
        _SIGNING_INSERTS[dialect.name] = known
    return known


def write_refusal_events(db: Database, events: Sequence[NewRefusalEvent]) -> None:
    """Write sampled refusal rows in one transaction of their own."""
    if not events:
        return
    txid: Any = literal_column(_PG_TXID) if db.backend == "postgresql" else literal_column("0")
    rows = [{"kind": e.kind, "gateway_id": e.gateway_id, "data": e.data, "created_at": e.created_at,
             "signing_record_id": None} for e in events]
    with writing_connection(db) as connection:
        connection.execute(insert(_OUTBOX).values(txid=txid), rows)


def _after(position: Position) -> Any:
    return or_(_OUTBOX.c.txid > position.txid, and_(_OUTBOX.c.txid == position.txid, _OUTBOX.c.id > position.id))


def _through(position: Position) -> Any:
    return or_(_OUTBOX.c.txid < position.txid, and_(_OUTBOX.c.txid == position.txid, _OUTBOX.c.id <= position.id))


def _visible(connection: Connection) -> Any:
    """Rows every later read will also see in the same order (module docstring)."""
    if connection.dialect.name != "postgresql":
        return True
    horizon: int = connection.execute(_PG_HORIZON).scalar_one()
    return _OUTBOX.c.txid < horizon


def read_after(db: Database, position: Position, limit: int = OUTBOX_PAGE_MAX) -> list[OutboxEntry]:
    """Up to ``limit`` rows after ``position``, in order, with what their events carry."""
    _check_limit(limit)
    with translated_errors(db), db.engine.connect() as connection:
        query = (select(_OUTBOX).where(_after(position), _visible(connection))
                 .order_by(_OUTBOX.c.txid, _OUTBOX.c.id).limit(limit))
        return _entries(connection, connection.execute(query).all())


def read_range(db: Database, first_id: int, last_id: int | None, limit: int = OUTBOX_PAGE_MAX) -> list[OutboxEntry]:
    """Up to ``limit`` rows with ``first_id`` <= id <= ``last_id`` (None: no end), by id."""
    _check_limit(limit)
    with translated_errors(db), db.engine.connect() as connection:
        query = select(_OUTBOX).where(_OUTBOX.c.id >= first_id)
        if last_id is not None:
            query = query.where(_OUTBOX.c.id <= last_id)
        return _entries(connection, connection.execute(query.order_by(_OUTBOX.c.id).limit(limit)).all())


def newest_position(db: Database) -> Position:
    """The position of the newest row (START when the outbox is empty)."""
    with translated_errors(db), db.engine.connect() as connection:
        row = connection.execute(select(_OUTBOX.c.txid, _OUTBOX.c.id)
                                 .order_by(_OUTBOX.c.txid.desc(), _OUTBOX.c.id.desc()).limit(1)).first()
    return START if row is None else Position(int(row[0]), int(row[1]))


def _entries(connection: Connection, rows: Sequence[Any]) -> list[OutboxEntry]:
    record_ids = [row.signing_record_id for row in rows if row.signing_record_id is not None]
    records: dict[int, EventRecord] = {}
    if record_ids:
        found = connection.execute(
            select(*_EVENT_RECORD_COLUMNS).where(_RECORDS.c.id.in_(bindparam("ids", expanding=True))), {"ids": record_ids})
        records = {row.id: EventRecord(**row._mapping) for row in found}
    rate_ids = sorted({r.rate_snapshot_id for r in records.values() if r.rate_snapshot_id is not None})
    rates = {}
    if rate_ids:
        found = connection.execute(select(_RATES).where(_RATES.c.id.in_(rate_ids)))
        rates = {row.id: snapshot_value(row._mapping) for row in found}
    gateway_ids = sorted({row.gateway_id for row in rows if row.gateway_id is not None})
    names: dict[int, str] = {}
    if gateway_ids:
        found_names = connection.execute(select(_GATEWAYS.c.id, _GATEWAYS.c.name).where(_GATEWAYS.c.id.in_(gateway_ids)))
        names = {int(row.id): str(row.name) for row in found_names}
    entries = []
    for row in rows:
        record = None if row.signing_record_id is None else records[row.signing_record_id]
        rate = None if record is None or record.rate_snapshot_id is None else rates.get(record.rate_snapshot_id)
        entries.append(OutboxEntry(Position(int(row.txid), int(row.id)), row.kind, row.gateway_id,
                                   names.get(row.gateway_id), row.created_at, row.data, record, rate))
    return entries


def sink_cursor(db: Database, sink: str) -> SinkCursor:
    """The sink's cursor (START, nothing sent, for a sink that never sent)."""
    _check_sink(sink)
    with reading(db) as session:
        row = session.execute(select(_CURSORS).where(_CURSORS.c.sink == sink)).first()
    if row is None:
        return SinkCursor(sink, START, 0, None)
    return SinkCursor(sink, Position(int(row.last_txid), int(row.last_id)), int(row.sent_total), row.updated_at)


def advance_cursor(db: Database, sink: str, position: Position, sent: int) -> None:
    """Record that ``sink`` published every row through ``position`` (``sent`` more events).
    Never moves a cursor back: a second relay of the same sink (another replica) that lags
    cannot make the first re-send what it already sent."""
    _check_sink(sink)
    now = utc_now()
    with writing_connection(db) as connection:
        moved = connection.execute(
            update(_CURSORS)
            .where(_CURSORS.c.sink == sink,
                   or_(_CURSORS.c.last_txid < position.txid,
                       and_(_CURSORS.c.last_txid == position.txid, _CURSORS.c.last_id < position.id)))
            .values(last_txid=position.txid, last_id=position.id, sent_total=_CURSORS.c.sent_total + sent,
                    updated_at=now)
        ).rowcount
        if moved == 0 and connection.execute(select(_CURSORS.c.sink).where(_CURSORS.c.sink == sink)).first() is None:
            connection.execute(insert(_CURSORS).values(sink=sink, last_txid=position.txid, last_id=position.id,
                                                       sent_total=sent, updated_at=now))


def backlogs(db: Database, sinks: Iterable[str], published: Mapping[str, Position] | None = None) -> list[Backlog]:
    """Each sink's unsent rows and the age of its oldest one: after its stored cursor, or after
    ``published[sink]`` when given (a relay ahead of the cursor it stores)."""
    answers = []
    for sink in sinks:
        position = (published or {}).get(sink) or sink_cursor(db, sink).position
        with translated_errors(db), db.engine.connect() as connection:
            unsent = select(_OUTBOX.c.id).where(_after(position)).limit(BACKLOG_COUNT_MAX).subquery()
            count = connection.execute(select(func.count()).select_from(unsent)).scalar_one()
            oldest = connection.execute(select(func.min(_OUTBOX.c.created_at)).where(_after(position))
                                        ).scalar_one_or_none()
        answers.append(Backlog(sink, int(count), oldest))
    return answers


def prune(db: Database, sinks: Sequence[str], written_before: datetime, rows_max: int = PRUNE_ROWS_MAX) -> int:
    """Delete up to ``rows_max`` rows written before ``written_before`` that every sink of
    ``sinks`` has published (with no sink, every such row); how many were deleted."""
    _check_limit(rows_max)
    condition = [_OUTBOX.c.created_at < written_before]
    for sink in sinks:
        condition.append(_through(sink_cursor(db, sink).position))
    with writing_connection(db) as connection:
        doomed = select(_OUTBOX.c.id).where(*condition).order_by(_OUTBOX.c.id).limit(rows_max).scalar_subquery()
        deleted: int = connection.execute(delete(_OUTBOX).where(_OUTBOX.c.id.in_(doomed))).rowcount
    return deleted


def outbox_extent(db: Database) -> tuple[int, int | None, int | None]:
    """How many rows the outbox holds, and its lowest and highest id (None when empty)."""
    with translated_errors(db), db.engine.connect() as connection:
        row = connection.execute(select(func.count(), func.min(_OUTBOX.c.id), func.max(_OUTBOX.c.id))).one()
    return int(row[0]), row[1], row[2]


def sink_lock_key(sink: str) -> int:
    """The PostgreSQL advisory lock key one replica holds while it publishes ``sink``: the first
    8 bytes of SHA-256("clearinghouse events sink " + name), as a signed bigint."""
    _check_sink(sink)
    digest = hashlib.sha256(f"clearinghouse events sink {sink}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= max(OUTBOX_PAGE_MAX, PRUNE_ROWS_MAX):
        raise InvalidLedgerInput(f"limit must be in [1, {max(OUTBOX_PAGE_MAX, PRUNE_ROWS_MAX)}], got {limit}")


def _check_sink(sink: str) -> None:
    if not sink or len(sink) > EVENT_SINK_NAME_MAX:
        raise InvalidLedgerInput(f"sink name must be 1-{EVENT_SINK_NAME_MAX} characters, got {sink!r}")
