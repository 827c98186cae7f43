"""Group commit: one thread is the signing path's writer and commits calls in batches.

Signing calls (HTTP remote-signer and /v1, gRPC GeneratePayment and SignTickets) do everything
that needs no database first, in their own threads, then hand the committer a ``LedgerWork``:
the keys it will touch (``CallKeys``) and a function that takes a ``CallLedger`` and checks,
signs and records. The committer keeps a bounded queue. Whenever it is free it takes every
queued call, up to ``batch_max``, and runs them in one write transaction (``commit_calls``):

    BEGIN (IMMEDIATE on SQLite) → read for the whole batch (batch.py)
    → per call: the work (kill switch, head, nonces, credit, sign, record) in a savepoint
      that its first statement opens: RELEASE, or ROLLBACK TO the savepoint when the call is
      refused or conflicts (a call that ran no statement has nothing to undo)
    → on PostgreSQL, the calls' held-back rows in one round trip (batch_rows.py)
    → write the batch's sums (batch_writes.py) → COMMIT (one fsync for the batch)
    → answer every call

So a batch forms while the previous one commits, and a call arriving at an idle committer is
run at once: no delay is added to wait for company. A call is answered only after the COMMIT
that holds its record; when the transaction fails, every call of the batch gets the error and
nothing of it is sent. A refused call (its own exception) rolls back only its savepoint.

Bounded: past ``queue_max`` waiting calls ``submit`` refuses (SIGNER_BUSY) at once (the
transports answer 503 with Retry-After, or RESOURCE_EXHAUSTED); a queued call whose caller gave
up (its future cancelled) is dropped before its batch starts, having signed nothing.

On PostgreSQL a batch's credit was checked on an unlocked read; if another process moved a
gateway's position meanwhile so that a call no longer fits (batch_writes.py), the batch is
rolled back and run again with the accounts locked from the start; a deadlock or serialization
failure is retried the same way, and a constraint that refuses the held-back rows runs the batch
again with each call's rows written in its own savepoint; at most BATCH_ATTEMPTS_MAX times in all.

The thread starts with the first call and ends after COMMITTER_IDLE_EXIT_S without work (the next
call starts it again). Each batch takes a connection from the pool and returns it, so a
connection the pool replaced (the database restarted, ``Database.dispose``) is never reused.
"""

from __future__ import annotations

import contextvars
import copy
import logging
import threading
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc

from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.errors import InvalidLedgerInput, LedgerError
from clearinghouse.ledger import limits
from clearinghouse.ledger.batch import Batch, CallKeys, CallLedger, RowsRefused
from clearinghouse.ledger.batch_writes import write_batch
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import (
    DatabaseFault,
    DatabaseUnavailable,
    InvariantViolation,
)
from clearinghouse.ledger.transactions import translated_errors, writer_turn

LOG = logging.getLogger(__name__)

T_co = TypeVar("T_co", covariant=True)
T = TypeVar("T")

_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
"""serialization_failure and deadlock_detected: the batch did nothing; run it again."""


class LedgerWork(Protocol[T_co]):
    """One signing call's database part: what it touches, and the function that does it."""

    @property
    def keys(self) -> CallKeys: ...

    def __call__(self, ledger: CallLedger, /) -> T_co: ...


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    """A call's result in a committed batch: its value, or the exception that refused it."""

    value: T | None = None
    error: BaseException | None = None

    def result(self) -> T:
        """The value, or raise the call's exception."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class _CreditMoved(Exception):
    """Another writer moved a gateway's credit position under an unlocked batch: run it locked."""


class _Retry(Exception):
    """The database aborted the batch (deadlock, serialization failure): run it again."""


def commit_calls(db: Database, works: Sequence[LedgerWork[Any]], *, outbox: bool = True) -> list[Outcome[Any]]:
    """Run ``works`` as one batch in the calling thread and commit it; one outcome per work.

    What the committer does with each batch it takes; also the way to record calls directly
    (tools, tests). Raises ``DatabaseUnavailable`` (or another ``LedgerError``) when the batch
    as a whole failed: then nothing of it was committed. ``outbox``: write each recorded call's
    event row (ledger/outbox.py) in the batch.
    """
    if not works:
        return []
    with translated_errors(db), db.write_engine.connect() as connection:
        return _commit_with_retries(db, connection, works, outbox)


def _commit_with_retries(
    db: Database, connection: Connection, works: Sequence[LedgerWork[Any]], outbox: bool
) -> list[Outcome[Any]]:
    lock_accounts = db.backend == "sqlite"  # SQLite's write lock covers them anyway: never verify
    hold_rows = db.backend == "postgresql"
    for attempt in range(limits.BATCH_ATTEMPTS_MAX):
        try:
            return _commit_once(db, connection, works, lock_accounts=lock_accounts, hold_rows=hold_rows, outbox=outbox)
        except _CreditMoved:
            LOG.info("batch of %d calls: a gateway's credit moved meanwhile; running it again locked", len(works))
            lock_accounts = True
        except RowsRefused as exc:
            LOG.info("batch of %d calls: a constraint refused a call's rows (%s); running it again, each call's "
                     "rows in its own savepoint", len(works), exc)
            hold_rows = False
        except _Retry as exc:
            LOG.info("batch of %d calls aborted by the database (%s); running it again (attempt %d)",
                     len(works), exc, attempt + 2)
            lock_accounts = True
    raise DatabaseUnavailable(
        f"database {db.masked_url} unavailable ({DatabaseFault.BUSY.value}): a batch of {len(works)} calls "
        f"could not commit in {limits.BATCH_ATTEMPTS_MAX} attempts",
        DatabaseFault.BUSY,
    )


def _commit_once(
    db: Database, connection: Connection, works: Sequence[LedgerWork[Any]], *, lock_accounts: bool, hold_rows: bool,
    outbox: bool,
) -> list[Outcome[Any]]:
    with writer_turn(db), translated_errors(db):
        try:
            keys = [work.keys for work in works]
            batch = Batch.open(connection, keys, lock_accounts=lock_accounts, hold_rows=hold_rows)
            outcomes = [_run_call(batch, work, number) for number, work in enumerate(works)]
            batch.write_held_rows()
            if not write_batch(connection, batch, verify_credit=not lock_accounts, outbox=outbox):
                raise _CreditMoved
            connection.commit()
        except BaseException as exc:
            _roll_back(connection)
            if _retryable(exc):
                raise _Retry(type(exc).__name__) from exc
            raise
    return outcomes


def _run_call(batch: Batch, work: LedgerWork[Any], number: int) -> Outcome[Any]:
    """One call in its savepoint (opened by its first statement, if any: ``CallLedger``):
    applied to the batch when the work returns, rolled back (the call alone) when it raises
    anything but a database failure."""
    ledger = batch.ledger_for(work.keys, f"call_{number}")
    try:
        value = work(ledger)
    except Exception as exc:
        if _batch_failure(batch.connection, exc):
            raise
        ledger.roll_back()
        if isinstance(exc, InvariantViolation):
            LOG.error("session %s: invariant broken, call refused and rolled back: %s", work.keys.state_id, exc)
        return Outcome(error=exc)
    ledger.release()
    batch.accept(ledger)
    return Outcome(value=value)


def _batch_failure(connection: Connection, exc: Exception) -> bool:
    """Whether ``exc`` is the database failing (the batch cannot go on), not the call refused;
    ``RowsRefused`` too: the batch runs again with each call's rows in its savepoint."""
    if isinstance(exc, DatabaseUnavailable | RowsRefused | sa_exc.OperationalError | sa_exc.InterfaceError):
        return True
    dbapi = connection.dialect.loaded_dbapi
    if isinstance(exc, dbapi.OperationalError | dbapi.InterfaceError):
        return True
    return _retryable(exc)


def _retryable(exc: BaseException) -> bool:
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    return getattr(orig, "sqlstate", None) in _RETRYABLE_SQLSTATES


def _roll_back(connection: Connection) -> None:
    try:
        connection.rollback()
    except Exception:  # the connection is gone: closing it lets the pool replace it
        LOG.warning("rollback failed; discarding the connection", exc_info=True)
        connection.invalidate()


@dataclass(frozen=True, slots=True)
class _InContext:
    """A work run in the context it was submitted from, so the lines it logs from the
    committer's thread carry its request and gateway ids (clearinghouse.logs)."""

    work: LedgerWork[Any]
    context: contextvars.Context

    @property
    def keys(self) -> CallKeys:
        return self.work.keys

    def __call__(self, ledger: CallLedger, /) -> Any:
        return self.context.run(self.work, ledger)


@dataclass(frozen=True, slots=True)
class CommitterStats:
    """What the committer has done since it was made: for the operator's metrics."""

    queued: int
    """Calls waiting for a batch now."""
    batches: int
    """Batches committed (a failed batch is not counted)."""
    calls: int
    """Calls in those batches (refused ones included: they were answered by a committed batch)."""
    largest_batch: int
    failed_batches: int
    """Batches whose transaction failed: every call of them got the error."""


@dataclass(slots=True)
class _Item:
    work: LedgerWork[Any]
    future: Future[Any]


class Committer:
    """The signing path's single writer (module docstring); safe to submit to from any thread."""

    def __init__(
        self,
        db: Database,
        *,
        queue_max: int = limits.SIGNING_QUEUE_MAX,
        batch_max: int = limits.SIGNING_BATCH_MAX,
        outbox: bool = True,
        admission: Callable[[], None] | None = None,
        committed: Callable[[], None] | None = None,
    ) -> None:
        """Raises ``InvalidLedgerInput`` unless 1 <= batch_max <= SIGNING_BATCH_MAX_CEILING and
        1 <= queue_max <= SIGNING_QUEUE_MAX_CEILING. ``outbox``: write each recorded call's event
        row in its batch. ``admission`` is asked before each call is queued and raises
        SigningRefused(SIGNER_BUSY) to refuse it (the event outbox past its configured maximum); ``committed``
        is called after each committed batch (it wakes the event relay), from the committer's
        thread, and must not block."""
        if not 1 <= batch_max <= limits.SIGNING_BATCH_MAX_CEILING:
            raise InvalidLedgerInput(f"batch_max must be in [1, {limits.SIGNING_BATCH_MAX_CEILING}], got {batch_max}")
        if not 1 <= queue_max <= limits.SIGNING_QUEUE_MAX_CEILING:
            raise InvalidLedgerInput(f"queue_max must be in [1, {limits.SIGNING_QUEUE_MAX_CEILING}], got {queue_max}")
        self._db = db
        self._queue_max = queue_max
        self._batch_max = batch_max
        self._outbox = outbox
        self._admission = admission
        self._committed = committed
        self._queue: deque[_Item] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        self.batches = 0
        self.calls = 0
        self.largest_batch = 0
        self.failed_batches = 0

    @property
    def queued(self) -> int:
        """Calls waiting for a batch (not counting the batch being committed)."""
        return len(self._queue)

    def stats(self) -> CommitterStats:
        """A snapshot of the counters (read from memory: for a metrics scrape)."""
        return CommitterStats(self.queued, self.batches, self.calls, self.largest_batch, self.failed_batches)

    def submit(self, work: LedgerWork[T]) -> Future[T]:
        """Queue a call; its future holds the work's value or exception once its batch committed
        (or ``DatabaseUnavailable`` when the batch failed). Refuses (SIGNER_BUSY) when the queue
        is full, the committer is closed or its admission refuses: nothing was done."""
        if self._admission is not None:
            self._admission()
        future: Future[T] = Future()
        with self._wake:
            if self._closed:
                raise SigningRefused(Refusal.SIGNER_BUSY, "the signer is shutting down; retry on another replica",
                                     retry_after_s=limits.LEDGER_BUSY_RETRY_AFTER_S)
            if len(self._queue) >= self._queue_max:
                raise SigningRefused(
                    Refusal.SIGNER_BUSY,
                    f"signing queue full ({self._queue_max} calls waiting); retry in "
                    f"{limits.LEDGER_BUSY_RETRY_AFTER_S} s",
                    retry_after_s=limits.LEDGER_BUSY_RETRY_AFTER_S,
                )
            self._queue.append(_Item(_InContext(work, contextvars.copy_context()), future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="ledger-committer", daemon=True)
                self._thread.start()
            self._wake.notify()
        return future

    def run(self, work: LedgerWork[T]) -> T:
        """``submit`` and wait for the answer (raises what the call raised)."""
        return self.submit(work).result()

    def close(self) -> None:
        """Refuse new calls, commit the queued ones, and stop the thread."""
        with self._wake:
            self._closed = True
            thread = self._thread
            self._wake.notify()
        if thread is not None:
            thread.join(limits.COMMITTER_STOP_TIMEOUT_S)
        if self.batches:
            LOG.info("committer closed: %d calls in %d batches (%.1f calls per batch, largest %d)",
                     self.calls, self.batches, self.calls / self.batches, self.largest_batch)

    def _serve(self) -> None:
        try:
            while (items := self._next_batch()) is not None:
                live = [item for item in items if item.future.set_running_or_notify_cancel()]
                if live:
                    self._commit(live)
        except BaseException as exc:
            # The thread is dying (an interrupt): no queued call may wait for it forever, and
            # the next submit must start a new thread.
            with self._wake:
                orphans, self._queue = list(self._queue), deque()
                self._thread = None
            _fail([item for item in orphans if item.future.set_running_or_notify_cancel()], exc)
            raise

    def _next_batch(self) -> list[_Item] | None:
        """The next batch, waiting for a call; None when the thread should end (idle or closed)."""
        with self._wake:
            while not self._queue:
                if self._closed or not self._wake.wait(limits.COMMITTER_IDLE_EXIT_S):
                    if not self._queue:
                        self._thread = None
                        return None
            count = min(len(self._queue), self._batch_max)
            return [self._queue.popleft() for _ in range(count)]

    def _commit(self, items: list[_Item]) -> None:
        """Commit one batch on a connection of the pool and answer its calls. A connection per
        batch (a pool checkout, microseconds) rather than one kept open: a connection the pool
        replaced (the operator restarted the database, ``Database.dispose``) is never reused."""
        try:
            outcomes = commit_calls(self._db, [item.work for item in items], outbox=self._outbox)
        except BaseException as exc:
            self.failed_batches += 1
            if not isinstance(exc, LedgerError):
                LOG.exception("a batch of %d calls failed; none of them was committed", len(items))
            _fail(items, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self.batches += 1
        self.calls += len(items)
        self.largest_batch = max(self.largest_batch, len(items))
        if self._committed is not None:
            self._committed()
        for item, outcome in zip(items, outcomes, strict=True):
            if outcome.error is not None:
                item.future.set_exception(outcome.error)
            else:
                item.future.set_result(outcome.value)


def _fail(items: list[_Item], exc: BaseException) -> None:
    for item in items:
        item.future.set_exception(_copy(exc))


def _copy(exc: BaseException) -> BaseException:
    """A copy of a batch's failure for each of its calls: each caller raises its own object
    (a shared one would collect every caller's traceback)."""
    try:
        duplicate = copy.copy(exc)
    except Exception:  # an exception that cannot be copied is shared; it still names the failure
        return exc
    duplicate.__cause__ = exc.__cause__ or exc
    return duplicate
