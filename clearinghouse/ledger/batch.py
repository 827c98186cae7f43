"""One batch of signing calls in one write transaction: what each call reads, checks and writes.

The committer (committer.py) runs the calls of a batch one after another in a single
transaction, each in a savepoint of its own. ``Batch`` first reads what all of them need in a
handful of statements — the engaged kill switches, the sessions' heads (locked on PostgreSQL,
in StateID order), on PostgreSQL the recipientRandHashes' advisory locks (in key order), the
highest nonce under each hash, the gateways' credit positions (batch_credit.py), the open
sessions of gateways about to open one, and the stored records of the request ids — and then
hands each call a ``CallLedger``: the questions a signing call asks of the ledger (head, kill
switch, idempotency lookup, last nonce, open sessions, credit check, record), answered from
memory that includes every earlier call of the batch that succeeded. A call
whose keys were not announced is served by reading on demand, so correctness never depends on
the prefetch.

Per call only the rows that carry a uniqueness rule are written: the session head, the signing
record and its tickets. On SQLite they are written at once, inside the call's savepoint, on the
driver's cursor (statements.py); a unique constraint that refuses them (another replica got there
first) rolls back that savepoint only; the call then answers as a retry would (the stored
record) or is refused (``DuplicateTicket``, ``StaleSession``). On PostgreSQL, where each
statement is a round trip, they are held back with the call's stage and written for all calls
in one round trip (batch_rows.py); if a constraint refuses one there, the batch runs again
writing them per call as on SQLite. A call's savepoint is opened by its first statement, after
the earlier calls' held-back rows are written, so what it reads includes them. Everything that
only adds up — postings and account balances, the day spends, hourly usage and exposure
rollups — is staged per call and written once per batch, aggregated (batch_writes.py), after
the last call. A call that fails after staging has its stage dropped with its savepoint.

Lock order, as on every path: session rows, then recipientRandHash advisory locks, then the
gateways' account rows (taken last, by the batch writes); so lockers never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, text

from clearinghouse.ledger import statements
from clearinghouse.ledger.batch_rows import CallRows, call_rows, reserve_record_ids, write_rows
from clearinghouse.ledger.call_writes import write_call
from clearinghouse.ledger.control import GLOBAL_SCOPE, switch_value
from clearinghouse.ledger.batch_credit import GatewayCredit, Spend, credit_of, load_credit
from clearinghouse.ledger.first_calls import claim_first_call
from clearinghouse.ledger.errors import (
    DuplicateTicket,
    IdempotencyConflict,
    InvariantViolation,
    LedgerConflict,
    StaleSession,
)
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import KillSwitchRow, PaymentSessionRow, SignedTicketRow, SigningRecordRow, table
from clearinghouse.ledger.records import record_columns, record_value, session_value
from clearinghouse.ledger.values import KillSwitch, RecordOutcome, RecordResult, SigningRecord
from clearinghouse.domain.sessions import SessionHead
from clearinghouse.domain.tickets import SignedTicket, SigningCall

_SESSIONS = table(PaymentSessionRow)
_RECORDS = table(SigningRecordRow)
_TICKETS = table(SignedTicketRow)
_SWITCHES = table(KillSwitchRow)

_ENGAGED = select(_SWITCHES).where(_SWITCHES.c.engaged.is_(True))
_HEADS = (
    select(_SESSIONS)
    .where(_SESSIONS.c.state_id.in_(bindparam("state_ids", expanding=True)))
    .order_by(_SESSIONS.c.state_id)
    .with_for_update()
)
_LAST_NONCES = (
    select(_TICKETS.c.recipient_rand_hash, func.max(_TICKETS.c.sender_nonce))
    .where(_TICKETS.c.recipient_rand_hash.in_(bindparam("hashes", expanding=True)))
    .group_by(_TICKETS.c.recipient_rand_hash)
)
# One statement takes every advisory lock of the batch, in key order (the subquery's order is
# the order the function runs in), so two batches taking overlapping sets never deadlock.
_NONCE_LOCKS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(CAST(:keys AS bigint[])) AS k ORDER BY 1) AS sorted"
)
_OPEN_SESSIONS = (
    select(_SESSIONS.c.gateway_id, func.count(), func.min(_SESSIONS.c.updated_at))
    .where(
        _SESSIONS.c.gateway_id.in_(bindparam("gateway_ids", expanding=True)),
        _SESSIONS.c.updated_at >= bindparam("since"),
    )
    .group_by(_SESSIONS.c.gateway_id)
)
_BY_SEQUENCE = (_RECORDS.c.state_id == bindparam("state_id")) & (_RECORDS.c.sequence_number == bindparam("sequence_number"))
_BY_REQUEST = (_RECORDS.c.gateway_id == bindparam("gateway_id")) & (_RECORDS.c.request_id == bindparam("request_id"))
_RECORD_BY_SEQUENCE = select(_RECORDS).where(_BY_SEQUENCE).limit(1)
_RECORD_BY_SEQUENCE_OR_REQUEST = select(_RECORDS).where(or_(_BY_SEQUENCE, _BY_REQUEST)).limit(1)
# Per gateway, so both backends use the (gateway_id, request_id) unique index: a row-value IN
# over pairs made SQLite scan every signing record (a fifth of the committer's time under SignTickets).
_RECORDS_BY_REQUEST = select(_RECORDS).where(
    _RECORDS.c.gateway_id == bindparam("gateway_id"),
    _RECORDS.c.request_id.in_(bindparam("request_ids", expanding=True)),
)
_HEAD_BY_ID = select(_SESSIONS).where(_SESSIONS.c.state_id == bindparam("key_state_id"))


@dataclass(frozen=True, slots=True)
class CallKeys:
    """What a signing call will touch, known before it reaches the committer.

    ``now`` is the call's one clock reading (timezone-aware): its credit period, and the
    moment its record is stamped with. ``opens_session_since`` is set for a call that may open
    a session: the gateway's open sessions (moved at or after it) are counted for it.
    """

    state_id: str
    gateway_id: int
    usage_subject: str | None
    recipient_rand_hash: bytes | None
    now: datetime
    opens_session_since: datetime | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class _Head:
    """A session's head as the batch knows it, with when it last moved (None: no head)."""

    value: SessionHead | None
    moved_at: datetime | None


@dataclass(slots=True)
class _OpenSessions:
    count: int
    least_recent: datetime | None
    since: datetime


@dataclass(frozen=True, slots=True)
class StagedCall:
    """What a recorded call adds once its savepoint is released: its record and the sums it
    moves, written per batch by batch_writes.py."""

    call: SigningCall
    record_id: int
    at: datetime


@dataclass(slots=True)
class _Stage:
    """A call's effects on the batch's memory, applied only when the call succeeds."""

    head: tuple[str, _Head] | None = None
    last_nonce: tuple[bytes, int] | None = None
    opened: tuple[int, datetime | None] | None = None
    spend: Spend | None = None
    staged: StagedCall | None = None
    request_record: tuple[tuple[int, str], SigningRecord] | None = None
    rows: CallRows | None = None


class RowsRefused(Exception):
    """A constraint refused the held-back rows of the batch's calls (batch_rows.py): the batch
    must run again writing each call's rows in its own savepoint."""


@dataclass(slots=True)
class Batch:
    """The shared memory of one batch's transaction (see the module docstring)."""

    connection: Connection
    postgresql: bool
    halts: list[KillSwitch]
    record_ids: list[int]
    """Ids reserved for the records of held-back rows; empty when each call writes its own."""
    heads: dict[str, _Head] = field(default_factory=dict)
    last_nonces: dict[bytes, int] = field(default_factory=dict)
    credits: dict[int, GatewayCredit] = field(default_factory=dict)
    open_sessions: dict[int, _OpenSessions] = field(default_factory=dict)
    request_records: dict[tuple[int, str], SigningRecord | None] = field(default_factory=dict)
    staged: list[StagedCall] = field(default_factory=list)
    spends: list[Spend] = field(default_factory=list)
    held_rows: list[CallRows] = field(default_factory=list)

    @classmethod
    def open(
        cls, connection: Connection, keys: Sequence[CallKeys], *, lock_accounts: bool, hold_rows: bool = False
    ) -> Batch:
        """Read what the calls of ``keys`` need (module docstring); ``lock_accounts`` locks the
        gateways' account rows from the start (a batch run again after its credit moved).
        ``hold_rows`` (PostgreSQL only): the calls' rows are held back and written together by
        ``write_held_rows`` (batch_rows.py), with record ids reserved now."""
        postgresql = connection.dialect.name == "postgresql"
        halts = [switch_value(row) for row in connection.execute(_ENGAGED)]
        # Reversed, so that popping hands them out in the order the calls record.
        record_ids = reserve_record_ids(connection, len(keys))[::-1] if hold_rows and postgresql and keys else []
        batch = cls(connection, postgresql, halts, record_ids)
        batch._prefetch(keys, lock_accounts)
        return batch

    def write_held_rows(self) -> None:
        """Write the held-back rows of the calls accepted so far; ``RowsRefused`` when a
        constraint refuses one (the transaction is then aborted)."""
        rows, self.held_rows = self.held_rows, []
        try:
            write_rows(self.connection, rows)
        except Exception as exc:
            if _is_integrity_error(self.connection, exc):
                raise RowsRefused(str(exc)) from exc
            raise

    def ledger_for(self, keys: CallKeys, savepoint: str) -> CallLedger:
        """The view one call of the batch works through."""
        return CallLedger(self, keys, savepoint)

    def accept(self, ledger: CallLedger) -> None:
        """Apply a call's stage once its savepoint was released."""
        stage = ledger.stage
        if stage.head is not None:
            state_id, head = stage.head
            self.heads[state_id] = head
        if stage.last_nonce is not None:
            rand_hash, nonce = stage.last_nonce
            self.last_nonces[rand_hash] = max(nonce, self.last_nonces.get(rand_hash, 0))
        if stage.opened is not None:
            gateway_id, previous_move = stage.opened
            self._count_opened(gateway_id, previous_move)
        if stage.spend is not None:
            credit_of(self.credits, stage.spend.gateway_id).add(
                stage.spend.usage_subject, stage.spend.amount, stage.spend.at.date()
            )
            self.spends.append(stage.spend)
        if stage.staged is not None:
            self.staged.append(stage.staged)
        if stage.request_record is not None:
            key, record = stage.request_record
            self.request_records[key] = record
        if stage.rows is not None:
            self.held_rows.append(stage.rows)

    def _count_opened(self, gateway_id: int, previous_move: datetime | None) -> None:
        """A session moved now: it counts as open from now on if it was not counted before."""
        known = self.open_sessions.get(gateway_id)
        if known is None:
            return
        if previous_move is None or previous_move < known.since:
            known.count += 1

    def _prefetch(self, keys: Sequence[CallKeys], lock_accounts: bool) -> None:
        if not keys:
            return
        connection = self.connection
        state_ids = sorted({k.state_id for k in keys})
        for row in connection.execute(_HEADS, {"state_ids": state_ids}):
            self.heads[row.state_id] = _Head(session_value(row._mapping), row.updated_at)
        for state_id in state_ids:
            self.heads.setdefault(state_id, _Head(None, None))
        hashes = sorted({k.recipient_rand_hash for k in keys if k.recipient_rand_hash is not None})
        if hashes:
            if self.postgresql:
                connection.execute(_NONCE_LOCKS, {"keys": sorted({_lock_key(h) for h in hashes})})
            self.last_nonces = {h: 0 for h in hashes}
            for row in connection.execute(_LAST_NONCES, {"hashes": hashes}):
                self.last_nonces[bytes(row[0])] = int(row[1] or 0)
        moments = [k.now for k in keys]
        self.credits = load_credit(connection, ((k.gateway_id, k.usage_subject) for k in keys), moments, lock=lock_accounts)
        self._prefetch_open_sessions(keys)
        self._prefetch_requests(keys)

    def _prefetch_open_sessions(self, keys: Sequence[CallKeys]) -> None:
        opening = [k for k in keys if k.opens_session_since is not None]
        if not opening:
            return
        # The earliest window of the batch: a session moved within it counts for every call, so a
        # call a few milliseconds later may see one session too many (refused, never overcounted).
        since = min(k.opens_session_since for k in opening if k.opens_session_since is not None)
        gateway_ids = sorted({k.gateway_id for k in opening})
        rows = self.connection.execute(_OPEN_SESSIONS, {"gateway_ids": gateway_ids, "since": since})
        found = {row[0]: _OpenSessions(int(row[1]), row[2], since) for row in rows}
        for gateway_id in gateway_ids:
            self.open_sessions[gateway_id] = found.get(gateway_id, _OpenSessions(0, None, since))

    def _prefetch_requests(self, keys: Sequence[CallKeys]) -> None:
        pairs = sorted({(k.gateway_id, k.request_id) for k in keys if k.request_id is not None})
        if not pairs:
            return
        by_gateway: dict[int, list[str]] = {}
        for gateway_id, request_id in pairs:
            self.request_records[(gateway_id, request_id)] = None
            by_gateway.setdefault(gateway_id, []).append(request_id)
        for gateway_id, request_ids in by_gateway.items():
            key = {"gateway_id": gateway_id, "request_ids": request_ids}
            for row in self.connection.execute(_RECORDS_BY_REQUEST, key):
                self.request_records[(row.gateway_id, row.request_id)] = record_value(row._mapping)


class CallLedger:
    """One call's view of its batch: a session's head, locked for the batch's transaction.

    The methods are those the signing services use, in their order: ``signing_halt``, ``head``,
    ``find_record`` / ``find_request_record``, ``last_issued_nonce``, ``open_sessions``,
    ``check_spend``, ``record``. Only ``record`` writes.
    """

    def __init__(self, batch: Batch, keys: CallKeys, savepoint: str) -> None:
        self._batch = batch
        self._keys = keys
        self._savepoint = savepoint
        self.stage = _Stage()
        # What check_spend allowed in this call: (gateway, subject, EV at most).
        self._allowed: tuple[int, str | None, Fraction] | None = None
        self._savepoint_open = False

    def _connection(self) -> Connection:
        """The batch's connection for a statement of this call: the earlier calls' held-back
        rows are written first (so the statement sees them), and the call's savepoint is opened
        before its first statement (a call that needs none, the usual one, costs no round trip)."""
        batch = self._batch
        if batch.held_rows:
            batch.write_held_rows()
        if not self._savepoint_open:
            statements.execute_sql(batch.connection, f"SAVEPOINT {self._savepoint}")
            self._savepoint_open = True
        return batch.connection

    def release(self) -> None:
        """The call succeeded: release its savepoint, if it opened one."""
        if self._savepoint_open:
            statements.execute_sql(self._batch.connection, f"RELEASE SAVEPOINT {self._savepoint}")

    def roll_back(self) -> None:
        """The call was refused: undo its statements (its savepoint only; its stage is dropped)."""
        if not self._savepoint_open:
            return
        connection, savepoint = self._batch.connection, self._savepoint
        if self._batch.postgresql:  # one round trip for both
            statements.execute_sql(connection, f"ROLLBACK TO SAVEPOINT {savepoint}; RELEASE SAVEPOINT {savepoint}")
        else:
            statements.execute_sql(connection, f"ROLLBACK TO SAVEPOINT {savepoint}")
            statements.execute_sql(connection, f"RELEASE SAVEPOINT {savepoint}")

    @property
    def keys(self) -> CallKeys:
        return self._keys

    @property
    def head(self) -> SessionHead | None:
        """The stored head of the call's session (after the batch's earlier calls), or None."""
        return self._head().value

    def signing_halt(self, gateway_id: int) -> KillSwitch | None:
        """The engaged kill switch that stops this gateway's signing (global first), or None;
        read in the batch's transaction, so a switch engaged before the batch began is seen."""
        scope = f"gateway:{gateway_id}"
        for wanted in (GLOBAL_SCOPE, scope):
            for switch in self._batch.halts:
                if switch.scope == wanted:
                    return switch
        return None

    def find_record(self, sequence_number: int) -> SigningRecord | None:
        """The record of this session's call with that sequence number, if one exists."""
        key = {"state_id": self._keys.state_id, "sequence_number": sequence_number}
        row = self._connection().execute(_RECORD_BY_SEQUENCE, key).first()
        return None if row is None else record_value(row._mapping)

    def find_request_record(self, gateway_id: int, request_id: str) -> SigningRecord | None:
        """The gateway's record with this request id (an earlier call of the batch included)."""
        pair = (gateway_id, request_id)
        if pair not in self._batch.request_records:
            row = self._connection().execute(
                select(_RECORDS).where(_BY_REQUEST), {"gateway_id": gateway_id, "request_id": request_id}
            ).first()
            self._batch.request_records[pair] = None if row is None else record_value(row._mapping)
        return self._batch.request_records[pair]

    def claim_first_call(self, gateway_id: int, request_key: bytes, window_s: float) -> SigningRecord | None:
        """For a session's first call (no stored head): the record of the identical first call
        this gateway made within ``window_s`` of this call's time, else None after claiming
        ``request_key`` for this session, in the call's savepoint (so a refusal drops the claim).
        An identical first call earlier in the same batch is found too: its claim and record are
        in this transaction. See ``first_calls.claim_first_call`` (its errors too)."""
        return claim_first_call(self._connection(), gateway_id=gateway_id, request_key=request_key,
                                state_id=self._keys.state_id, now=self._keys.now, window_s=window_s)

    def last_issued_nonce(self, recipient_rand_hash: bytes) -> int:
        """The highest nonce ever signed under this recipientRandHash by any session, or 0."""
        batch = self._batch
        if recipient_rand_hash not in batch.last_nonces:
            if batch.postgresql:
                self._connection().execute(_NONCE_LOCKS, {"keys": [_lock_key(recipient_rand_hash)]})
            rows = self._connection().execute(_LAST_NONCES, {"hashes": [recipient_rand_hash]}).all()
            batch.last_nonces[recipient_rand_hash] = (rows[0][1] or 0) if rows else 0
        return batch.last_nonces[recipient_rand_hash]

    def open_sessions(self, gateway_id: int, since: datetime) -> tuple[int, datetime | None]:
        """How many of the gateway's sessions moved at or after ``since`` (the batch's earlier
        calls included), and when the least recent of them moved. With the batch's window
        earlier than ``since`` by the time between the calls, the count errs high, never low."""
        batch = self._batch
        known = batch.open_sessions.get(gateway_id)
        if known is None or known.since > since:
            row = self._connection().execute(_OPEN_SESSIONS, {"gateway_ids": [gateway_id], "since": since}).first()
            known = _OpenSessions(0, None, since) if row is None else _OpenSessions(row[1], row[2], since)
            batch.open_sessions[gateway_id] = known
        return known.count, known.least_recent

    def check_spend(self, gateway_id: int, usage_subject: str | None, spend_wei: Fraction, now: datetime) -> None:
        """Refuse, before signing, a call whose EV would break the gateway's credit control,
        counting what the batch's earlier calls spent (INSUFFICIENT_BALANCE, see batch_credit.py).
        A later ``record`` must book the same gateway and subject and at most ``spend_wei``."""
        self._credit(gateway_id, usage_subject, now).check(usage_subject, spend_wei, now)
        self._allowed = (gateway_id, usage_subject, spend_wei)

    def _credit(self, gateway_id: int, usage_subject: str | None, now: datetime) -> GatewayCredit:
        """The gateway's position in the batch, read now if the call's keys did not announce it
        (or its subject); ``NotFound`` for a gateway without accounts."""
        batch = self._batch
        known = batch.credits.get(gateway_id)
        if known is None:
            batch.credits.update(load_credit(self._connection(), [(gateway_id, usage_subject)], [now], lock=False))
        elif usage_subject is not None and usage_subject not in known.subjects:
            fresh = load_credit(self._connection(), [(gateway_id, usage_subject)], [now], lock=False)
            if gateway_id in fresh:
                known.subjects.add(usage_subject)
                known.subject_quotas.update(fresh[gateway_id].subject_quotas)
                known.subject_day_spends.update(fresh[gateway_id].subject_day_spends)
                known.allowances.update(fresh[gateway_id].allowances)
        return credit_of(batch.credits, gateway_id)

    def record(self, call: SigningCall) -> RecordOutcome:
        """Write the call's head, record and tickets (staging its sums), or return the stored
        record of a retry. Raises ``IdempotencyConflict`` (same key, different request),
        ``StaleSession`` (the head does not follow the stored one), ``InvariantViolation`` (the
        balance is not old + EV − fee, or a write did not land), ``DuplicateTicket``. Nothing of
        the call is written on any error."""
        if call.session.state_id != self._keys.state_id:
            raise InvalidLedgerInput(
                f"call is for session {call.session.state_id!r}, the batch locked {self._keys.state_id!r}"
            )
        if self.stage.staged is not None:
            raise InvariantViolation(f"session {self._keys.state_id!r}: one call records once")
        head = self._head()
        if head.value is not None and call.session.sequence_number <= head.value.sequence_number:
            existing = self._existing(call)
            if existing is not None:
                return existing
        self._check_allowed(call)
        check_transition(head.value, call)
        at = self._keys.now if call.signed_at is None else call.signed_at
        self._credit(call.gateway_id, call.usage_subject, at)
        columns = record_columns(call, at)
        if self._batch.record_ids:
            record_id = self._batch.record_ids.pop()
            self.stage.rows = call_rows(head.value, call, columns | {"id": record_id}, at)
        else:
            try:
                record_id = write_call(self._connection(), head.value, call, columns, at)
            except Exception as exc:
                if not _is_integrity_error(self._batch.connection, exc):
                    raise
                return self._after_conflict(call, exc)
        self._stage(call, head, record_id, at)
        return RecordOutcome(RecordResult.CREATED, record_value(columns | {"id": record_id}))

    def _head(self) -> _Head:
        batch, state_id = self._batch, self._keys.state_id
        if state_id not in batch.heads:
            row = self._connection().execute(_HEAD_BY_ID.with_for_update(), {"key_state_id": state_id}).first()
            batch.heads[state_id] = _Head(None, None) if row is None else _Head(session_value(row._mapping), row.updated_at)
        return batch.heads[state_id]

    def _stage(self, call: SigningCall, head: _Head, record_id: int, at: datetime) -> None:
        stage = self.stage
        stage.head = (call.session.state_id, _Head(call.session, at))
        rand_hash = call.tickets[-1].recipient_rand_hash
        stage.last_nonce = (rand_hash, call.tickets[-1].sender_nonce)
        stage.opened = (call.gateway_id, head.moved_at)
        stage.spend = Spend(call.gateway_id, call.usage_subject, call.ev_signed, at, self._allowed is not None)
        stage.staged = StagedCall(call, record_id, at)
        if call.request_id is not None:
            record = record_value(record_columns(call, at) | {"id": record_id})
            stage.request_record = ((call.gateway_id, call.request_id), record)

    def _existing(self, call: SigningCall) -> RecordOutcome | None:
        key: dict[str, Any] = {"state_id": self._keys.state_id, "sequence_number": call.session.sequence_number}
        if call.request_id is None:
            statement = _RECORD_BY_SEQUENCE
        else:
            statement = _RECORD_BY_SEQUENCE_OR_REQUEST
            key |= {"gateway_id": call.gateway_id, "request_id": call.request_id}
        row = self._connection().execute(statement, key).first()
        if row is None:
            return None
        if row.gateway_id != call.gateway_id:
            raise StaleSession(f"session {self._keys.state_id!r} belongs to another gateway")
        both = row.request_digest is not None and call.request_digest is not None
        if both and row.request_digest != call.request_digest:
            raise IdempotencyConflict(
                f"session {self._keys.state_id!r} sequence {row.sequence_number} "
                f"(request id {row.request_id!r}) was recorded for a different request"
            )
        return RecordOutcome(RecordResult.EXISTS, record_value(row._mapping))

    def _after_conflict(self, call: SigningCall, exc: Exception) -> RecordOutcome:
        """A unique constraint refused the record: undo the call's writes (its savepoint only),
        then answer as a retry would, or name the rule a concurrent writer made it break."""
        statements.execute_sql(self._connection(), f"ROLLBACK TO SAVEPOINT {self._savepoint}")
        raced = self._existing(call)
        if raced is not None:
            return raced
        raise self._classify_conflict(call) from exc

    def _classify_conflict(self, call: SigningCall) -> LedgerConflict:
        duplicates = _issued_tickets(self._connection(), call.tickets)
        if duplicates:
            pairs = (f"(0x{t.recipient_rand_hash.hex()}, {t.sender_nonce})" for t in duplicates)
            return DuplicateTicket("tickets already issued (recipientRandHash, nonce): " + ", ".join(pairs))
        stored = self._connection().execute(_HEAD_BY_ID, {"key_state_id": self._keys.state_id}).first()
        if self._head().value is None and stored is not None:
            return StaleSession(f"session {self._keys.state_id!r} was created concurrently")
        return LedgerConflict(f"session {self._keys.state_id!r}: the database refused the record")

    def _check_allowed(self, call: SigningCall) -> None:
        """A call checked by ``check_spend`` must book what was checked, never more."""
        if self._allowed is None:
            return
        gateway_id, subject, spend = self._allowed
        if (call.gateway_id, call.usage_subject) != (gateway_id, subject) or call.ev_signed > spend:
            raise InvariantViolation(
                f"session {self._keys.state_id!r}: checked gateway {gateway_id} subject {subject!r} "
                f"for {spend} wei, recording gateway {call.gateway_id} subject "
                f"{call.usage_subject!r} for {call.ev_signed} wei"
            )


def check_transition(old: SessionHead | None, call: SigningCall) -> None:
    """The new head must follow the stored one: same owner and fixed fields, the next
    sequence number, and the balance old + EV signed − fee (else ``InvariantViolation``)."""
    new = call.session
    old_balance = Fraction(0) if old is None else old.balance
    expected_balance = old_balance + call.ev_signed - call.fee
    if old is not None:
        if old.gateway_id != new.gateway_id:
            raise StaleSession(f"session {new.state_id!r} belongs to another gateway")
        if new.sequence_number != old.sequence_number + 1:
            raise StaleSession(
                f"session {new.state_id!r}: expected sequence {old.sequence_number + 1}, got {new.sequence_number}"
            )
        fixed = ("orchestrator_address", "app", "billing_type", "initial_price_per_unit", "initial_pixels_per_unit")
        changed = [name for name in fixed if getattr(old, name) != getattr(new, name)]
        if changed:
            raise StaleSession(f"session {new.state_id!r}: fields changed: {', '.join(changed)}")
    if new.balance != expected_balance:
        raise InvariantViolation(
            f"session {new.state_id!r}: expected balance {expected_balance} (old + EV signed - fee), got {new.balance}"
        )


def _is_integrity_error(connection: Connection, exc: Exception) -> bool:
    dbapi = connection.dialect.loaded_dbapi
    return isinstance(exc, dbapi.IntegrityError)


def _lock_key(recipient_rand_hash: bytes) -> int:
    """The advisory lock key of a recipientRandHash: its first 8 bytes as a signed bigint."""
    return int.from_bytes(recipient_rand_hash[:8], "big", signed=True)


def _issued_tickets(connection: Connection, tickets: tuple[SignedTicket, ...]) -> list[SignedTicket]:
    first, last = tickets[0], tickets[-1]
    rows = connection.execute(
        select(_TICKETS.c.recipient_rand_hash, _TICKETS.c.sender_nonce, _TICKETS.c.ticket_hash).where(
            or_(
                (_TICKETS.c.recipient_rand_hash == first.recipient_rand_hash)
                & _TICKETS.c.sender_nonce.between(first.sender_nonce, last.sender_nonce),
                _TICKETS.c.ticket_hash.in_([t.ticket_hash for t in tickets]),
            )
        )
    )
    return [SignedTicket(bytes(row.recipient_rand_hash), row.sender_nonce, bytes(row.ticket_hash)) for row in rows]
