"""What the chain watcher saw: our sender's TicketBroker events and NewRound, by cursor.

A chain cursor (``chain_cursors``, named e.g. ``ticket_broker:<sender>``) says how far its
watcher has recorded; ``apply_chain_events`` records one scanned block range in one write
transaction — the events, the cursor moved to the range's last block and a checkpoint of it —
and only if the stored cursor is still where the range was scanned from (a compare-and-set, so
two watchers cannot both record a range). Replaying a range already recorded changes nothing.

Each WinningTicketRedeemed is matched to the signing record whose ticket has the hash the
watcher recomputed from the event (``signed_tickets.ticket_hash``, spec 05), so each gateway's
actual payouts are known, and gets ``paid_wei``: the amount of the WinningTicketTransfer of the
same redemption — in the same transaction, to the same recipient, the nearest preceding
transfer not yet paired (the TicketBroker emits ReserveClaimed?, WinningTicketTransfer (only
when it pays something), then WinningTicketRedeemed) — or 0 when nothing was paid.

After a reorg the watcher finds the newest checkpoint still on the chain and
``rewind_chain_events`` undoes everything above it. ``ChainWriterLock`` lets one watcher per
PostgreSQL database write (a session advisory lock); on SQLite the compare-and-set suffices.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, text, update
from sqlalchemy import exc as sa_exc

from clearinghouse.ledger import limits
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import ChainCursorMoved, NotFound
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import (
    ChainCheckpointRow,
    ChainCursorRow,
    ChainEventRow,
    SignedTicketRow,
    SigningRecordRow,
    table,
)
from clearinghouse.ledger.transactions import reading, translated_errors, utc_now, writing
from clearinghouse.ledger.values import AppliedBatch, RecordedChainEvent
from clearinghouse.domain.chain_events import (
    BlockRef,
    ChainCursor,
    ChainEvent,
    ChainEventKind,
    GatewayPayout,
    Redemption,
    SenderFlows,
)
from clearinghouse.domain.fields import check_text

_CURSORS = table(ChainCursorRow)
_CHECKPOINTS = table(ChainCheckpointRow)
_EVENTS = table(ChainEventRow)
_TICKETS = table(SignedTicketRow)
_RECORDS = table(SigningRecordRow)

_REDEEMED = ChainEventKind.WINNING_TICKET_REDEEMED
_TRANSFER = ChainEventKind.WINNING_TICKET_TRANSFER
_EVENT_VALUE_COLUMNS = tuple(
    column.name
    for column in _EVENTS.columns
    if column.name
    not in ("id", "cursor_name", "kind", "paid_wei", "signing_record_id", "observed_at")
)
_REDEMPTIONS = (
    select(_EVENTS, _RECORDS.c.gateway_id)
    .select_from(_EVENTS.outerjoin(_RECORDS, _EVENTS.c.signing_record_id == _RECORDS.c.id))
    .where(_EVENTS.c.kind == _REDEEMED.value)
    .order_by(_EVENTS.c.block_number, _EVENTS.c.log_index, _EVENTS.c.id)
)

_FLOW_COLUMNS: dict[ChainEventKind, tuple[tuple[str, str], ...]] = {
    ChainEventKind.DEPOSIT_FUNDED: (("deposit_funded_wei", "amount_wei"),),
    ChainEventKind.RESERVE_FUNDED: (("reserve_funded_wei", "amount_wei"),),
    ChainEventKind.RESERVE_CLAIMED: (("reserve_claimed_wei", "amount_wei"),),
    ChainEventKind.WINNING_TICKET_TRANSFER: (("paid_wei", "amount_wei"),),
    ChainEventKind.WITHDRAWAL: (
        ("withdrawn_deposit_wei", "deposit_wei"),
        ("withdrawn_reserve_wei", "reserve_wei"),
    ),
}
"""Which SenderFlows sum each kind adds to, from which column."""

WRITER_LOCK_KEY = 0x636C_6561_7268_6F75
"""PostgreSQL advisory lock key of the chain-event writer: a constant (ASCII "clearhou"), the
same in every process, so at most one watcher per database holds it."""

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:key)")


def apply_chain_events(
    db: Database,
    cursor_name: str,
    events: Sequence[ChainEvent],
    *,
    upto: BlockRef,
    previous: BlockRef | None,
) -> AppliedBatch:
    """Record the events of blocks (previous.number, upto.number] and move the cursor to ``upto``.

    ``previous`` is the stored cursor the range was scanned from (None for the first range).
    In one write transaction: insert the events (unique per cursor by block hash and log
    index), match redemptions to signing records, pair transfers, move the cursor and keep a
    checkpoint of ``upto`` (the newest ``limits.CHECKPOINTS_KEPT``). When the cursor is already
    at ``upto`` with these events recorded, nothing is written (a replay: ``inserted`` is 0).

    Raises ``ChainCursorMoved`` when the stored cursor is neither ``previous`` nor (for a
    replay) ``upto``; ``InvalidLedgerInput`` for more than ``limits.CHAIN_EVENTS_PER_BATCH_MAX``
    events, an event outside the range, an empty range or a bad cursor name.
    """
    check_text("cursor_name", cursor_name, limits.CURSOR_NAME_LENGTH_MAX)
    ordered = _checked_batch(events, upto, previous)
    now = utc_now()
    with writing(db) as session:
        connection = session.connection()
        stored = _locked_cursor(connection, cursor_name)
        stored_ref = None if stored is None else stored.ref
        if stored is not None and stored_ref == upto:
            return _replayed(connection, stored, ordered)
        if stored_ref != previous:
            raise ChainCursorMoved(
                f"chain cursor {cursor_name!r} is at {_describe(stored_ref)}, "
                f"expected {_describe(previous)} (another watcher, or a rewind)"
            )
        if stored is None:
            _insert_cursor(connection, cursor_name, upto, now)
        # Nothing above the cursor is ever stored, so every event of the range is new here.
        redeemed = _insert_events(connection, cursor_name, ordered, now)
        cursor = _move_cursor(connection, cursor_name, upto, now)
        return AppliedBatch(cursor, len(ordered), 0, redeemed)


def rewind_chain_events(db: Database, cursor_name: str, to: BlockRef | None) -> int:
    """Undo every event of ``cursor_name`` above block ``to.number``, drop the checkpoints above
    it and set the cursor to ``to``; with ``to`` None undo everything and remove the cursor (its
    watcher starts over from its start block). One write transaction; returns how many events
    were undone.

    Raises ``NotFound`` when there is no such cursor (unless ``to`` is None: nothing to undo)
    and ``InvalidLedgerInput`` unless ``to`` is one of its checkpoints: only for a block it
    recorded is it known that the events below it are that block's branch.
    """
    with writing(db) as session:
        connection = session.connection()
        stored = _locked_cursor(connection, cursor_name)
        if stored is None:
            if to is None:
                return 0
            raise NotFound(f"no chain cursor named {cursor_name!r}")
        if to is not None and to not in _checkpoints(connection, cursor_name):
            raise InvalidLedgerInput(
                f"cannot rewind chain cursor {cursor_name!r} (at block {stored.block_number}) "
                f"to {_describe(to)}: not one of its checkpoints"
            )
        above = -1 if to is None else to.number
        mine = _EVENTS.c.cursor_name == cursor_name
        undone = connection.execute(
            delete(_EVENTS).where(mine, _EVENTS.c.block_number > above)
        ).rowcount
        connection.execute(
            delete(_CHECKPOINTS).where(
                _CHECKPOINTS.c.cursor_name == cursor_name, _CHECKPOINTS.c.block_number > above
            )
        )
        if to is None:
            connection.execute(delete(_CURSORS).where(_CURSORS.c.name == cursor_name))
        else:
            _move_cursor(connection, cursor_name, to, utc_now())
        return int(undone)


def chain_cursor(db: Database, name: str) -> ChainCursor | None:
    """The cursor ``name``, or None before its first batch (or after a full rewind)."""
    with reading(db) as session:
        row = session.connection().execute(select(_CURSORS).where(_CURSORS.c.name == name)).first()
        return None if row is None else _cursor_value(row._mapping)


def checkpoints(db: Database, name: str) -> list[BlockRef]:
    """The recorded block refs of cursor ``name``, newest first (at most CHECKPOINTS_KEPT)."""
    with reading(db) as session:
        return _checkpoints(session.connection(), name)


def recorded_chain_events(
    db: Database,
    cursor_name: str,
    *,
    since_block: int = 0,
    limit: int = limits.REDEMPTIONS_LISTED_MAX,
) -> list[RecordedChainEvent]:
    """The events of ``cursor_name`` from block ``since_block`` on, in chain order, at most
    ``limit`` (1..REDEMPTIONS_LISTED_MAX, else ``InvalidLedgerInput``)."""
    _check_limit(limit)
    with reading(db) as session:
        rows = session.connection().execute(
            select(_EVENTS)
            .where(_EVENTS.c.cursor_name == cursor_name, _EVENTS.c.block_number >= since_block)
            .order_by(_EVENTS.c.block_number, _EVENTS.c.log_index)
            .limit(limit)
        )
        return [_recorded_value(row._mapping) for row in rows]


def redemptions(
    db: Database,
    *,
    gateway_id: int | None = None,
    since_block: int = 0,
    limit: int = limits.REDEMPTIONS_LISTED_MAX,
) -> list[Redemption]:
    """Redeemed tickets of our sender from block ``since_block`` on, in chain order, at most
    ``limit`` (1..REDEMPTIONS_LISTED_MAX, else ``InvalidLedgerInput``); only those of
    ``gateway_id`` when given."""
    _check_limit(limit)
    statement = _REDEMPTIONS.where(_EVENTS.c.block_number >= since_block)
    if gateway_id is not None:
        statement = statement.where(_RECORDS.c.gateway_id == gateway_id)
    statement = statement.limit(limit)
    with reading(db) as session:
        return [_redemption_value(row._mapping) for row in session.connection().execute(statement)]


def unmatched_redemptions(
    db: Database, *, limit: int = limits.REDEMPTIONS_LISTED_MAX
) -> list[Redemption]:
    """Redeemed tickets of our sender that match no signing record (spec 05: a serious alarm,
    a key leak or a lost record), in chain order, at most ``limit``."""
    _check_limit(limit)
    statement = _REDEMPTIONS.where(_EVENTS.c.signing_record_id.is_(None)).limit(limit)
    with reading(db) as session:
        return [_redemption_value(row._mapping) for row in session.connection().execute(statement)]


def unmatched_redemption_count(db: Database) -> int:
    """How many redeemed tickets of our sender match no signing record (the health alarm)."""
    statement = (
        select(func.count())
        .select_from(_EVENTS)
        .where(_EVENTS.c.kind == _REDEEMED.value, _EVENTS.c.signing_record_id.is_(None))
    )
    with reading(db) as session:
        return int(session.connection().execute(statement).scalar_one())


def gateway_payouts(db: Database) -> dict[int, GatewayPayout]:
    """Per gateway with a redeemed ticket: tickets redeemed, their face value and what was paid.

    Sums in Python (SQLite keeps wei as decimal text), streaming the matched redemptions
    ``limits.VERIFY_BATCH_ROWS_MAX`` rows at a time.
    """
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    statement = (
        select(_RECORDS.c.gateway_id, _EVENTS.c.face_value, _EVENTS.c.paid_wei)
        .select_from(_EVENTS.join(_RECORDS, _EVENTS.c.signing_record_id == _RECORDS.c.id))
        .where(_EVENTS.c.kind == _REDEEMED.value)
        .execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
    )
    with reading(db) as session:
        for row in session.execute(statement):
            total = totals[row.gateway_id]
            total[0] += 1
            total[1] += row.face_value
            total[2] += row.paid_wei
    return {
        gateway_id: GatewayPayout(gateway_id, tickets, face_value, paid)
        for gateway_id, (tickets, face_value, paid) in sorted(totals.items())
    }


def redeemed_ticket_hashes(db: Database, hashes: Collection[bytes]) -> frozenset[bytes]:
    """Which of ``hashes`` the watcher saw redeemed (at most TICKET_HASHES_PER_LOOKUP_MAX)."""
    if len(hashes) > limits.TICKET_HASHES_PER_LOOKUP_MAX:
        raise InvalidLedgerInput(
            f"hashes: expected at most {limits.TICKET_HASHES_PER_LOOKUP_MAX}, got {len(hashes)}"
        )
    if not hashes:
        return frozenset()
    with reading(db) as session:
        found = session.connection().execute(
            select(_EVENTS.c.ticket_hash).where(_EVENTS.c.ticket_hash.in_(list(hashes)))
        )
        return frozenset(row.ticket_hash for row in found)


def sender_flows(db: Database, cursor_name: str) -> SenderFlows:
    """Sum the TicketBroker events recorded under ``cursor_name`` (see ``SenderFlows``)."""
    sums: dict[str, int] = defaultdict(int)
    tickets, withdraw_round = 0, 0
    statement = (
        select(_EVENTS)
        .where(
            _EVENTS.c.cursor_name == cursor_name,
            _EVENTS.c.kind != ChainEventKind.NEW_ROUND.value,
        )
        .order_by(_EVENTS.c.block_number, _EVENTS.c.log_index)
        .execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
    )
    with reading(db) as session:
        for row in session.execute(statement):
            kind = ChainEventKind(row.kind)
            if kind in _FLOW_COLUMNS:
                for name, column in _FLOW_COLUMNS[kind]:
                    sums[name] += row._mapping[column]
            if kind is _REDEEMED:
                tickets += 1
            elif kind is ChainEventKind.UNLOCK:
                withdraw_round = row.end_round
            elif kind is ChainEventKind.UNLOCK_CANCELLED:
                withdraw_round = 0
    return SenderFlows(
        deposit_funded_wei=sums["deposit_funded_wei"],
        reserve_funded_wei=sums["reserve_funded_wei"],
        paid_wei=sums["paid_wei"],
        reserve_claimed_wei=sums["reserve_claimed_wei"],
        withdrawn_deposit_wei=sums["withdrawn_deposit_wei"],
        withdrawn_reserve_wei=sums["withdrawn_reserve_wei"],
        tickets_redeemed=tickets,
        withdraw_round=withdraw_round,
    )


class ChainWriterLock:
    """The right to write chain events for one database, held by at most one watcher.

    On PostgreSQL a session advisory lock (WRITER_LOCK_KEY) on a connection of its own, kept
    open while held: if that connection breaks, the server frees the lock, and the next
    ``try_acquire`` notices and tries again. On SQLite there is nothing to hold:
    ``apply_chain_events``'s compare-and-set keeps two writers from recording one range twice.
    Use from one thread.
    """

    def __init__(self, db: Database, key: int = WRITER_LOCK_KEY) -> None:
        """``key``: the advisory lock's (a signed 64-bit integer); the event relay holds one per
        sink with the same mechanics (ledger/outbox.py ``sink_lock_key``)."""
        self._db = db
        self._key = key
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        """True when this process holds the lock (taking it now if free), False when another
        session holds it. Raises ``DatabaseUnavailable`` when the database cannot be reached."""
        if self._db.backend != "postgresql":
            return True
        if self._connection is not None and self._still_held(self._connection):
            return True
        with translated_errors(self._db):
            connection = self._db.engine.connect()
            try:
                connection.execution_options(isolation_level="AUTOCOMMIT")
                acquired = bool(connection.scalar(_TRY_LOCK, {"key": self._key}))
            except BaseException:
                connection.invalidate()
                raise
        if acquired:
            self._connection = connection
        else:
            connection.close()
        return acquired

    def release(self) -> None:
        """Give the lock up (if held) by closing its connection for good: the server ends the
        session, which frees the lock even if an unlock statement could not be sent."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.invalidate()
            connection.close()

    def _still_held(self, connection: Connection) -> bool:
        try:
            connection.exec_driver_sql("SELECT 1")
        except sa_exc.DBAPIError:
            self.release()
            return False
        return True


# ---- plumbing -----------------------------------------------------------------------------------


def _checked_batch(
    events: Sequence[ChainEvent], upto: BlockRef, previous: BlockRef | None
) -> list[ChainEvent]:
    if len(events) > limits.CHAIN_EVENTS_PER_BATCH_MAX:
        raise InvalidLedgerInput(
            f"events: expected at most {limits.CHAIN_EVENTS_PER_BATCH_MAX}, got {len(events)}"
        )
    low = -1 if previous is None else previous.number
    if upto.number <= low:
        raise InvalidLedgerInput(f"upto: expected a block above {low}, got {upto.number}")
    for event in events:
        if not low < event.block_number <= upto.number:
            raise InvalidLedgerInput(
                f"{event.kind.value} at block {event.block_number} is outside the batch's blocks "
                f"({low}, {upto.number}]"
            )
    return sorted(events, key=lambda event: (event.block_number, event.log_index))


def _paid_wei(ordered: Sequence[ChainEvent]) -> list[int | None]:
    """What each redemption paid (None for other events): the amount of the nearest preceding
    unpaired WinningTicketTransfer in its transaction to its recipient, else 0. Nearest-first
    also pairs right when a recipient contract redeems another ticket from inside its payout."""
    unpaired: dict[tuple[bytes, bytes | None], list[int]] = defaultdict(list)
    paid: list[int | None] = []
    for event in ordered:
        transfers = unpaired[(event.transaction_hash, event.counterparty)]
        if event.kind is _TRANSFER and event.amount_wei is not None:
            transfers.append(event.amount_wei)
        if event.kind is _REDEEMED:
            paid.append(transfers.pop() if transfers else 0)
        else:
            paid.append(None)
    return paid


def _locked_cursor(connection: Connection, name: str) -> ChainCursor | None:
    # FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock.
    locked = select(_CURSORS).where(_CURSORS.c.name == name).with_for_update()
    row = connection.execute(locked).first()
    return None if row is None else _cursor_value(row._mapping)


def _insert_cursor(connection: Connection, name: str, at: BlockRef, now: datetime) -> None:
    columns = {"name": name, "block_number": at.number, "block_hash": at.hash, "updated_at": now}
    try:
        connection.execute(insert(_CURSORS), columns)
    except sa_exc.IntegrityError as exc:
        raise ChainCursorMoved(
            f"chain cursor {name!r} was created meanwhile by another watcher"
        ) from exc


def _move_cursor(connection: Connection, name: str, to: BlockRef, now: datetime) -> ChainCursor:
    """Set the cursor to ``to``, keep ``to`` as a checkpoint and drop all but the newest
    CHECKPOINTS_KEPT."""
    connection.execute(
        update(_CURSORS)
        .where(_CURSORS.c.name == name)
        .values(block_number=to.number, block_hash=to.hash, updated_at=now)
    )
    mine = _CHECKPOINTS.c.cursor_name == name
    connection.execute(delete(_CHECKPOINTS).where(mine, _CHECKPOINTS.c.block_number == to.number))
    connection.execute(
        insert(_CHECKPOINTS),
        {"cursor_name": name, "block_number": to.number, "block_hash": to.hash},
    )
    oldest_kept = connection.scalar(
        select(_CHECKPOINTS.c.block_number)
        .where(mine)
        .order_by(_CHECKPOINTS.c.block_number.desc())
        .offset(limits.CHECKPOINTS_KEPT - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        connection.execute(
            delete(_CHECKPOINTS).where(mine, _CHECKPOINTS.c.block_number < oldest_kept)
        )
    return ChainCursor(name=name, block_number=to.number, block_hash=to.hash, updated_at=now)


def _checkpoints(connection: Connection, name: str) -> list[BlockRef]:
    rows = connection.execute(
        select(_CHECKPOINTS.c.block_number, _CHECKPOINTS.c.block_hash)
        .where(_CHECKPOINTS.c.cursor_name == name)
        .order_by(_CHECKPOINTS.c.block_number.desc())
    )
    return [BlockRef(row.block_number, row.block_hash) for row in rows]


def _replayed(
    connection: Connection, stored: ChainCursor, ordered: Sequence[ChainEvent]
) -> AppliedBatch:
    """A batch for the range the cursor already ends with: every event must be recorded."""
    recorded: set[tuple[bytes, int]] = set()
    if ordered:
        rows = connection.execute(
            select(_EVENTS.c.block_hash, _EVENTS.c.log_index).where(
                _EVENTS.c.cursor_name == stored.name,
                _EVENTS.c.block_number.between(ordered[0].block_number, stored.block_number),
            )
        )
        recorded = {(row.block_hash, row.log_index) for row in rows}
    missing = [e for e in ordered if (e.block_hash, e.log_index) not in recorded]
    if missing:
        raise ChainCursorMoved(
            f"chain cursor {stored.name!r} already recorded up to {_describe(stored.ref)} "
            f"without {len(missing)} of these events"
        )
    return AppliedBatch(stored, 0, len(ordered), ())


def _insert_events(
    connection: Connection, name: str, ordered: Sequence[ChainEvent], now: datetime
) -> tuple[Redemption, ...]:
    """Insert the events, redemptions matched and paired; return the redemptions."""
    if not ordered:
        return ()
    hashes = [e.ticket_hash for e in ordered if e.ticket_hash is not None]
    matches = _matching_records(connection, hashes)
    rows = [
        _event_columns(event, name, paid_wei, matches.get(event.ticket_hash or b""), now)
        for event, paid_wei in zip(ordered, _paid_wei(ordered), strict=True)
    ]
    returning = insert(_EVENTS).returning(_EVENTS.c.id, sort_by_parameter_order=True)
    ids = [row.id for row in connection.execute(returning, rows)]
    return tuple(
        _redemption_value(row | {"id": event_id, "gateway_id": _gateway_of(matches, row)})
        for event_id, row in zip(ids, rows, strict=True)
        if row["kind"] == _REDEEMED.value
    )


def _matching_records(connection: Connection, hashes: list[bytes]) -> dict[bytes, tuple[int, int]]:
    """ticket hash → (signing record id, gateway id) for the hashes we signed."""
    if not hashes:
        return {}
    rows = connection.execute(
        select(_TICKETS.c.ticket_hash, _TICKETS.c.signing_record_id, _RECORDS.c.gateway_id)
        .select_from(_TICKETS.join(_RECORDS, _TICKETS.c.signing_record_id == _RECORDS.c.id))
        .where(_TICKETS.c.ticket_hash.in_(hashes))
    )
    return {row.ticket_hash: (row.signing_record_id, row.gateway_id) for row in rows}


def _gateway_of(matches: dict[bytes, tuple[int, int]], row: dict[str, Any]) -> int | None:
    match = matches.get(row["ticket_hash"] or b"")
    return None if match is None else match[1]


def _event_columns(
    event: ChainEvent, name: str, paid_wei: int | None, match: tuple[int, int] | None, now: datetime
) -> dict[str, Any]:
    return {column: getattr(event, column) for column in _EVENT_VALUE_COLUMNS} | {
        "cursor_name": name,
        "kind": event.kind.value,
        "paid_wei": paid_wei,
        "signing_record_id": None if match is None else match[0],
        "observed_at": now,
    }


def _event_value(row: Any) -> ChainEvent:
    values = {column: row[column] for column in _EVENT_VALUE_COLUMNS}
    return ChainEvent(kind=ChainEventKind(row["kind"]), **values)


def _recorded_value(row: Any) -> RecordedChainEvent:
    return RecordedChainEvent(
        id=row["id"],
        event=_event_value(row),
        paid_wei=row["paid_wei"],
        signing_record_id=row["signing_record_id"],
        observed_at=row["observed_at"],
    )


def _redemption_value(row: Any) -> Redemption:
    return Redemption(
        event_id=row["id"],
        ticket_hash=row["ticket_hash"],
        recipient=row["counterparty"],
        face_value=row["face_value"],
        win_prob=row["win_prob"],
        sender_nonce=row["sender_nonce"],
        paid_wei=row["paid_wei"],
        block_number=row["block_number"],
        transaction_hash=row["transaction_hash"],
        log_index=row["log_index"],
        gateway_id=row["gateway_id"],
        signing_record_id=row["signing_record_id"],
    )


def _cursor_value(row: Any) -> ChainCursor:
    return ChainCursor(
        name=row["name"],
        block_number=row["block_number"],
        block_hash=row["block_hash"],
        updated_at=row["updated_at"],
    )


def _check_limit(limit: int) -> None:
    if type(limit) is not int or not 1 <= limit <= limits.REDEMPTIONS_LISTED_MAX:
        raise InvalidLedgerInput(
            f"limit: expected an int in [1, {limits.REDEMPTIONS_LISTED_MAX}], got {limit!r}"
        )


def _describe(ref: BlockRef | None) -> str:
    return "no cursor" if ref is None else f"block {ref.number} (0x{ref.hash.hex()})"
