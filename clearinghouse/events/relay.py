"""The relay: publishes the outbox to every sink, each from its own cursor, in order, and keeps
the outbox bounded.

One thread per sink runs an asyncio loop: read the rows after the sink's position (ledger/outbox.py,
at most ``batch_max``), publish them as one batch, then move past them; the stored cursor
follows at most CURSOR_SAVE_S later. A batch that fails is retried whole after a backoff
(RETRY_BACKOFF_MIN_S doubling to RETRY_BACKOFF_MAX_S); the cursor moves only past batches the
sink accepted, so a crash publishes the events after the stored cursor again, with the same
ids (at least once; consumers and JetStream drop copies).
On start each sink resumes from its stored cursor. On PostgreSQL a sink is published by one
replica at a time: the one holding its advisory lock (another takes over when that session
ends). The committer wakes the sinks after each
committed batch (``wake``), so an event waits for a poll only when the wake was missed.

One more thread keeps house every HOUSEKEEPING_S: writes the refusals sampled since the last
tick (events/refusals.py), reads each sink's backlog (unsent rows, oldest unsent age; the
metrics and ``admit`` answer from this memory), raises or clears the lag alert, and prunes rows
older than ``retention_s`` that every sink has sent.

``admit`` is the committer's admission: with ``unsent_max`` set, a sink that has more unsent
events refuses new signing calls (``OutboxFull``, 503) rather than let events wait unbounded.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from clearinghouse.alerts import post_alert
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.errors import LedgerError
from clearinghouse.events.cloudevents import to_cloudevent
from clearinghouse.events.limits import (
    CURSOR_SAVE_S,
    HOUSEKEEPING_S,
    OUTBOX_FULL_RETRY_AFTER_S,
    PRUNE_EVERY_S,
    PRUNE_PASSES_MAX,
    RETRY_BACKOFF_MAX_S,
    RETRY_BACKOFF_MIN_S,
    SINK_STOP_TIMEOUT_S,
)
from clearinghouse.events.refusals import RefusalSampler
from clearinghouse.events.sinks import Sink, SinkError
from clearinghouse.ledger import ChainWriterLock, Database
from clearinghouse.ledger.limits import PRUNE_ROWS_MAX
from clearinghouse.ledger.outbox import (
    Backlog,
    Position,
    advance_cursor,
    backlogs,
    prune,
    read_after,
    sink_cursor,
    sink_lock_key,
    write_refusal_events,
)

LOG = logging.getLogger(__name__)


class OutboxFull(SigningRefused):
    """Signing is refused (SIGNER_BUSY) because a sink has more unsent events than the operator
    allows; its own class so the relay's tests can tell it from a full committer queue."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(Refusal.SIGNER_BUSY, message, retry_after_s=retry_after_s)


@dataclass(frozen=True, slots=True)
class RelaySettings:
    """[events]' relay part (config/settings.py builds it)."""

    source: str
    batch_max: int = 500
    poll_s: float = 1.0
    retention_s: float = 7 * 86400.0
    lag_alert_s: float = 300.0
    unsent_max: int | None = None
    alert_webhook_url: str | None = field(default=None, repr=False)


@dataclass(slots=True)
class SinkStatus:
    """What a sink has done, in memory: for metrics, ``events status`` and the alert."""

    name: str
    unsent: int = 0
    oldest_unsent_age_s: float = 0.0
    """As of the last backlog read (at most HOUSEKEEPING_S ago); 0 with nothing unsent."""
    sent_since_start: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None


@dataclass(slots=True)
class _Progress:
    """A sink's place while this relay publishes it: published through ``position``, of which
    ``unsaved`` events are not in the stored cursor yet."""

    position: Position
    unsaved: int = 0
    saved_at_s: float = field(default_factory=time.monotonic)
    saving: asyncio.Task[None] | None = None


class Relay:
    """Publishes the outbox of ``db`` to ``sinks`` (module docstring)."""

    def __init__(self, db: Database, sinks: Sequence[Sink], settings: RelaySettings, *,
                 sender: bytes | None = None, refusals: RefusalSampler | None = None,
                 publish: bool = True, housekeeping: bool = True) -> None:
        """``publish``: run the sinks' threads (False: a daemon whose sinks are published by
        ``clearinghouse events relay`` in a process of its own; its housekeeping still reads their
        backlogs from the stored cursors). ``housekeeping``: write refusals, read backlogs, alert,
        prune (False: that separate relay process, whose daemon does it)."""
        names = [sink.name for sink in sinks]
        if len(set(names)) != len(names):
            raise ValueError(f"sink names must differ, got {names}")
        self._db = db
        self._sinks = list(sinks)
        self._settings = settings
        self._sender = sender
        self._refusals = refusals
        self._publish = publish
        self._housekeeping = housekeeping
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._wakes: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Event]] = {}
        self._status = {sink.name: SinkStatus(sink.name) for sink in sinks}
        self._published: dict[str, Position] = {}
        """Where each sink this relay publishes has got to (ahead of its stored cursor)."""
        self._lock = threading.Lock()
        self.alerting = False
        self.alerts_sent = 0

    def start(self) -> None:
        for sink in self._sinks if self._publish else ():
            self._spawn(f"events-{sink.name}", lambda sink=sink: asyncio.run(self._publish_loop(sink)))
        if self._housekeeping:
            self._spawn("events-housekeeping", self._housekeeping_loop)

    def wait(self) -> None:
        """Block until ``stop`` (from a signal handler or another thread)."""
        while not self._stop.wait(HOUSEKEEPING_S):
            pass

    def _spawn(self, name: str, target: object) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def stop(self) -> None:
        """Stop every thread (each finishes the batch it is publishing) and write the refusals
        sampled since the last tick."""
        self._stop.set()
        self.wake()
        for thread in self._threads:
            thread.join(SINK_STOP_TIMEOUT_S)
        try:
            self._write_refusals()
        except LedgerError as exc:  # stopping goes on: these samples are lost, their counts are not
            LOG.warning("event outbox: the last refusal samples were not written at stop: %s", exc)

    def wake(self) -> None:
        """New rows were committed: every sink looks now (safe from any thread)."""
        with self._lock:
            wakes = list(self._wakes.values())
        for loop, event in wakes:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # that sink's loop has ended
                pass

    def statuses(self) -> list[SinkStatus]:
        with self._lock:
            return [replace(status) for status in self._status.values()]

    def admit(self) -> None:
        """Refuse a signing call while a sink has more than ``unsent_max`` unsent events."""
        limit = self._settings.unsent_max
        if limit is None:
            return
        with self._lock:
            worst = max(self._status.values(), key=lambda s: s.unsent, default=None)
        if worst is not None and worst.unsent > limit:
            raise OutboxFull(
                f"signing paused: event sink {worst.name!r} has {worst.unsent} unsent events, over "
                f"events.unsent_max {limit} (it cannot publish: {worst.last_error or 'falling behind'})",
                OUTBOX_FULL_RETRY_AFTER_S,
            )

    async def _publish_loop(self, sink: Sink) -> None:
        wake = asyncio.Event()
        with self._lock:
            self._wakes[sink.name] = (asyncio.get_running_loop(), wake)
        lock = ChainWriterLock(self._db, sink_lock_key(sink.name))
        progress: _Progress | None = None  # read in the loop: a database down at start is retried
        try:
            backoff_s = RETRY_BACKOFF_MIN_S
            while not self._stop.is_set():
                wake.clear()
                try:
                    if not await asyncio.to_thread(lock.try_acquire):
                        progress = None  # another replica publishes this sink; read its cursor when ours
                        with self._lock:
                            self._published.pop(sink.name, None)
                        await _wait(wake, self._settings.poll_s, self._stop)
                        continue
                    if progress is None:
                        progress = _Progress(await asyncio.to_thread(lambda: sink_cursor(self._db, sink.name).position))
                    published = await self._publish_once(sink, progress)
                    if published and time.monotonic() - progress.saved_at_s >= CURSOR_SAVE_S:
                        self._save_behind(sink.name, progress)
                except (SinkError, LedgerError) as exc:
                    self._failed(sink.name, exc, backoff_s)
                    await _wait(wake, backoff_s, self._stop)
                    backoff_s = min(backoff_s * 2, RETRY_BACKOFF_MAX_S)
                    continue
                backoff_s = RETRY_BACKOFF_MIN_S
                if not published and not await _wait(wake, self._settings.poll_s, self._stop) and progress.unsaved:
                    self._save_behind(sink.name, progress)  # idle for a poll: the cursor catches up
        finally:
            with self._lock:
                self._wakes.pop(sink.name, None)
            if progress is not None and progress.saving is not None:
                await asyncio.wait([progress.saving])
            if progress is not None and progress.unsaved:
                try:
                    await self._save(sink.name, progress)
                except LedgerError as exc:  # they are published again at the next start: copies, not losses
                    LOG.warning("event sink %s: cursor not saved at stop (%d events will be re-sent): %s",
                                sink.name, progress.unsaved, exc)
            await asyncio.to_thread(lock.release)
            await sink.close()

    async def _publish_once(self, sink: Sink, progress: _Progress) -> bool:
        """Publish the next batch after ``progress.position``; False when there was none."""
        entries = await asyncio.to_thread(read_after, self._db, progress.position, self._settings.batch_max)
        if not entries:
            return False
        events = [to_cloudevent(e, source=self._settings.source, sender=self._sender) for e in entries]
        await sink.publish(events)
        progress.position = entries[-1].position
        progress.unsaved += len(entries)
        with self._lock:
            status = self._status[sink.name]
            status.sent_since_start += len(entries)
            status.consecutive_failures = 0
            self._published[sink.name] = progress.position
        return True

    async def _save(self, name: str, progress: _Progress) -> None:
        """Store the cursor: every event through ``progress.position`` was published."""
        position, count = progress.position, progress.unsaved
        await asyncio.to_thread(advance_cursor, self._db, name, position, count)
        progress.unsaved -= count
        progress.saved_at_s = time.monotonic()

    def _save_behind(self, name: str, progress: _Progress) -> None:
        """``_save`` while publishing goes on (one at a time): on SQLite a relay process waits
        for the daemon's write lock to store its cursor, and must not stop publishing meanwhile."""
        if progress.saving is not None and not progress.saving.done():
            return
        progress.saving = asyncio.create_task(self._save_logged(name, progress))

    async def _save_logged(self, name: str, progress: _Progress) -> None:
        try:
            await self._save(name, progress)
        except LedgerError as exc:  # the next save stores it; a crash before re-sends copies only
            LOG.warning("event sink %s: cursor not stored, retrying with the next batch: %s", name, exc)

    def _failed(self, name: str, exc: Exception, backoff_s: float) -> None:
        with self._lock:
            status = self._status[name]
            status.failures += 1
            status.consecutive_failures += 1
            status.last_error = str(exc)[:300]
            count = status.consecutive_failures
        # The first failure and then every tenth: an outage of hours is a handful of lines.
        if count == 1 or count % 10 == 0:
            LOG.warning("event sink %s: batch not published (%d in a row), retrying in %.1f s: %s",
                        name, count, backoff_s, exc)

    def _housekeeping_loop(self) -> None:
        last_prune = 0.0
        while not self._stop.wait(HOUSEKEEPING_S):
            try:
                self._write_refusals()
                self._read_backlogs()
                if time.monotonic() - last_prune >= PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    self._prune()
            except LedgerError as exc:
                LOG.warning("event outbox housekeeping failed, retrying in %g s: %s", HOUSEKEEPING_S, exc)

    def _write_refusals(self) -> None:
        if self._refusals is None:
            return
        rows = self._refusals.flush()
        if not rows:
            return
        try:
            write_refusal_events(self._db, rows)
        except LedgerError:
            self._refusals.restore(rows)
            raise
        self.wake()

    def _read_backlogs(self) -> None:
        with self._lock:
            published = dict(self._published)
        found: list[Backlog] = backlogs(self._db, [sink.name for sink in self._sinks], published)
        now = datetime.now(UTC)
        with self._lock:
            for backlog in found:
                status = self._status[backlog.sink]
                oldest = backlog.oldest_unsent_at
                status.unsent = backlog.unsent
                status.oldest_unsent_age_s = 0.0 if oldest is None else max((now - oldest).total_seconds(), 0.0)
            lagging = [s for s in self._status.values() if s.oldest_unsent_age_s > self._settings.lag_alert_s]
            description = [(s.name, s.unsent, round(s.oldest_unsent_age_s, 1), s.last_error) for s in lagging]
        self._observe_lag(description)

    def _observe_lag(self, lagging: list[tuple[str, int, float, str | None]]) -> None:
        """Raise the alert when a sink's oldest unsent event is older than ``lag_alert_s``, and
        clear it when none is: a log line, and a POST to the health alert webhook when set."""
        firing = bool(lagging)
        if firing == self.alerting:
            return
        self.alerting = firing
        document: dict[str, object] = {
            "alert": "event_outbox_lag", "state": "firing" if firing else "resolved",
            "lag_alert_s": self._settings.lag_alert_s,
            "sinks": [{"sink": n, "unsent": u, "oldest_unsent_age_s": a, "last_error": e} for n, u, a, e in lagging],
        }
        if firing:
            LOG.error("event outbox not draining: %s", "; ".join(
                f"sink {n}: {u} unsent, oldest {a:g} s ({e or 'falling behind'})" for n, u, a, e in lagging))
        else:
            LOG.info("event outbox draining again")
        self.alerts_sent += 1
        if self._settings.alert_webhook_url is not None:
            body = json.dumps(document, separators=(",", ":")).encode()
            post_alert(self._settings.alert_webhook_url, body, what="event outbox alert")

    def _prune(self) -> None:
        before = datetime.now(UTC) - timedelta(seconds=self._settings.retention_s)
        deleted = 0
        for _ in range(PRUNE_PASSES_MAX):
            removed = prune(self._db, [sink.name for sink in self._sinks], before, PRUNE_ROWS_MAX)
            deleted += removed
            if removed < PRUNE_ROWS_MAX or self._stop.is_set():
                break
        if deleted:
            LOG.info("event outbox: pruned %d sent events older than %g s", deleted, self._settings.retention_s)


async def _wait(wake: asyncio.Event, timeout_s: float, stop: threading.Event) -> bool:
    """Until woken (True), ``timeout_s`` passed (False), or stop (``stop`` sets ``wake`` through
    ``Relay.wake``)."""
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(wake.wait(), timeout_s)
    except TimeoutError:
        return False
    return True
