"""Crash safety (issues #4, #14 and #17): SIGKILL the daemon at random points under load, restart, check.

Clients drive many sessions concurrently over keep-alive HTTP, each continuing from the state
its last answer carried. A call that dies with the daemon is retried byte for byte once the
daemon is back: the daemon answers it from the ledger if it had committed it, or signs it now;
a 409 (stale state) starts a fresh session, as a gateway would. Afterwards every ticket any
client received must be in the ledger with the same hash, no (recipientRandHash, nonce) twice,
and the ledger must verify. The daemon publishes its events to a JetStream stream of the test's
own on the machine's NATS server while it is killed: afterwards every signing record appears in
the stream exactly once after deduplication by event id, every call a client was answered is
among them, and each session's events are in order.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from clearinghouse import ledger

from tests.cli.conftest import write_daemon_config
from tests.events.jetstream import Stream, temporary_stream
from tests.integration.conftest import (
    DaemonProcess,
    Daemons,
    KeepAliveClient,
    ReceivedTickets,
    TransportError,
    check_ledger,
    free_port,
    offer,
    payment_body,
    provision_gateway,
)

SEED = 20261122
KILLS = 30
WORKERS = 32
"""Concurrent sessions, one keep-alive connection each: enough that every kill finds batches of
many calls in flight in the committer (queued, signed and uncommitted, or committed unanswered)."""
CUT_PER_KILL_MIN = 4
"""Calls cut by the average kill at least: what shows the kills met batches of many calls."""
SESSION_CALLS_MIN, SESSION_CALLS_MAX = 3, 30
"""Calls per session before it ends (well under the 600-nonce cap)."""
UP_BEFORE_KILL_S = (0.3, 0.9)
"""How long the daemon serves before the next SIGKILL (uniform, seeded)."""
DOWN_AFTER_KILL_S = (0.0, 0.3)
"""How long it stays down, so clients also meet refused connections."""
FINAL_RUN_S = 1.0
"""Load after the last restart, so every client is seen to recover."""
RETRY_PAUSE_S = 0.05
"""Pause before retrying a call whose connection failed (the daemon may still be down)."""
RUN_TIMEOUT_S = 240.0
"""The whole kill-and-restart run; beyond this the test fails instead of hanging."""
CREDIT_LIMIT_WEI = 10**18
"""Far more than the run signs: credit control is the two-daemon test's subject."""
DRAIN_TIMEOUT_S = 60.0
"""After the load stops, the relay publishes the backlog the kills left within this."""
DRAIN_POLL_S = 0.2


@dataclass
class Stats:
    calls_ok: int = 0
    tickets_received: int = 0
    sessions: int = 0
    calls_cut: int = 0
    """Calls whose connection broke: the daemon died under them, or the kept-alive connection
    they were sent on had died with it."""
    refused_attempts: int = 0
    """Attempts that found no daemon listening (it was down)."""
    stale_after_failure: int = 0
    timeouts: int = 0
    retried_ok: list[tuple[tuple[bytes, int], datetime]] = field(default_factory=list)
    """A ticket of each call that succeeded on a retry, and when that retry was sent."""
    unexpected: Counter[str] = field(default_factory=Counter)


async def run_session(client: KeepAliveClient, rng: random.Random, name: str, stop: asyncio.Event,
                      received: ReceivedTickets, stats: Stats) -> None:
    """One session: up to a random number of calls, each from the state the last one returned."""
    info, state, calls, failed = offer(rng), None, rng.randint(SESSION_CALLS_MIN, SESSION_CALLS_MAX), False
    stats.sessions += 1
    while calls > 0 and not stop.is_set():
        sent_at = datetime.now(UTC)
        try:
            status, answer = await client.post("/generate-live-payment", payment_body(info, name, state))
        except TransportError as exc:
            stats.refused_attempts += exc.refused
            stats.calls_cut += not (exc.refused or failed)
            failed = True
            await asyncio.sleep(RETRY_PAUSE_S)
            continue  # the same call again, with the same state
        except TimeoutError:
            stats.timeouts += 1
            return
        if status == 200:
            fields = json.loads(answer)
            keys = received.add(fields["payment"])
            stats.tickets_received += len(keys)
            stats.calls_ok += 1
            if failed:
                stats.retried_ok.append((keys[0], sent_at))
            state, calls, failed = fields["state"], calls - 1, False
        elif status == 409 and failed:
            stats.stale_after_failure += 1  # committed, answer lost: start over like a gateway
            return
        else:
            stats.unexpected[f"{status} {answer[:200]!r}"] += 1
            return


def answered_from_ledger(database_url: str, retried_ok: list[tuple[tuple[bytes, int], datetime]]) -> int:
    """How many retried calls got an answer committed before the retry was sent: the daemon
    had recorded the call, was killed before answering, and the retry got the stored answer."""
    db = ledger.open_database(database_url)
    try:
        with db.engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT t.recipient_rand_hash, t.sender_nonce, r.created_at FROM signed_tickets t "
                "JOIN signing_records r ON r.id = t.signing_record_id")).all()
    finally:
        db.dispose()
    created = {(bytes(rand_hash), int(nonce)): _utc(at) for rand_hash, nonce, at in rows}
    return sum(created[key] < sent_at for key, sent_at in retried_ok)


def _utc(value: datetime | str) -> datetime:
    """SQLite returns the UTC timestamp as naive text."""
    at = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


async def drive(worker: int, port: int, api_key: str, rng: random.Random, stop: asyncio.Event,
                received: ReceivedTickets, stats: Stats) -> None:
    client = KeepAliveClient(port, api_key)
    try:
        session = 0
        while not stop.is_set():
            session += 1
            await run_session(client, rng, f"crash-{worker}-{session}", stop, received, stats)
    finally:
        client.close()


async def kill_and_restart(daemon: DaemonProcess, rng: random.Random) -> list[float]:
    """KILLS times: let it serve, SIGKILL it, keep it down a moment, start it; restart times."""
    restart_s: list[float] = []
    for _ in range(KILLS):
        await asyncio.sleep(rng.uniform(*UP_BEFORE_KILL_S))
        daemon.kill()
        await asyncio.sleep(rng.uniform(*DOWN_AFTER_KILL_S))
        daemon.start()
        restart_s.append(await asyncio.to_thread(daemon.wait_ready))
    await asyncio.sleep(FINAL_RUN_S)
    return restart_s


async def crash_run(daemon: DaemonProcess, api_key: str, received: ReceivedTickets,
                    stats: Stats) -> list[float]:
    rng = random.Random(SEED)
    stop = asyncio.Event()
    workers = [asyncio.create_task(drive(n, daemon.port, api_key, random.Random(rng.random()), stop,
                                         received, stats)) for n in range(WORKERS)]
    try:
        restart_s = await kill_and_restart(daemon, rng)
    finally:
        stop.set()
        outcomes = await asyncio.gather(*workers, return_exceptions=True)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise failures[0]
    return restart_s


def signing_records(database_url: str) -> int:
    db = ledger.open_database(database_url)
    try:
        with db.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM signing_records")).scalar_one())
    finally:
        db.dispose()


def wait_for_events(stream: Stream, records: int) -> list[dict[str, object]]:
    """The stream's events once the relay published one per signing record (deduplicated)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        events = [event for _, event, _ in stream.messages()]
        if len({event["id"] for event in events}) >= records or time.monotonic() > deadline:
            return events
        time.sleep(DRAIN_POLL_S)


def check_events(events: list[dict[str, object]], records: int, received: ReceivedTickets) -> int:
    """Every signing record exactly once after deduplication, every received ticket in one of
    them, each session's events in order; returns the copies JetStream or the relay sent again."""
    first: dict[object, dict[str, object]] = {}
    for event in events:
        first.setdefault(event["id"], event)
    data = [event["data"] for event in first.values()]
    record_ids = [d["record_id"] for d in data]  # type: ignore[index]
    assert len(record_ids) == len(set(record_ids)) == records, (len(record_ids), len(set(record_ids)), records)
    covered = {(bytes.fromhex(d["pm_session_id"][2:]), nonce)  # type: ignore[index]
               for d in data for nonce in range(d["first_nonce"], d["last_nonce"] + 1)}  # type: ignore[index]
    missing = [key for key in received.tickets if key not in covered]
    assert not missing, f"{len(missing)} received tickets in no event, e.g. {missing[:3]}"
    sequences: dict[object, list[int]] = {}
    for d in data:
        sequences.setdefault(d["session_id"], []).append(d["sequence_number"])  # type: ignore[index]
    assert all(s == sorted(s) for s in sequences.values()), "a session's events out of order"
    return len(events) - len(first)


def test_sigkill_loses_no_received_ticket_and_issues_no_nonce_twice(tmp_path: Path, daemons: Daemons) -> None:
    started = time.monotonic()
    port = free_port()
    config = write_daemon_config(tmp_path, port)
    database_url = f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}"
    api_key = provision_gateway(database_url, CREDIT_LIMIT_WEI)
    received, stats = ReceivedTickets(), Stats()
    with temporary_stream() as stream:
        with config.open("a") as out:
            out.write(f'\n[events]\nnats_url = "{stream.url}"\nnats_subject_prefix = "{stream.prefix}"\n'
                      "poll_s = 0.1\n")
        daemon = daemons.launch(config, port)
        restart_s = asyncio.run(asyncio.wait_for(crash_run(daemon, api_key, received, stats), RUN_TIMEOUT_S))
        records = signing_records(database_url)
        events = wait_for_events(stream, records)
        assert daemon.stop() == 0, f"daemon did not stop cleanly:\n{daemon.log_tail()}"
        copies = check_events(events, records, received)
    counts = check_ledger(database_url, received)
    from_ledger = answered_from_ledger(database_url, stats.retried_ok)

    print(f"\ncrash test: seed {SEED}, {KILLS} SIGKILLs (restarts took {min(restart_s):.1f}-"
          f"{max(restart_s):.1f} s), {WORKERS} concurrent clients, {stats.sessions} sessions, "
          f"{time.monotonic() - started:.1f} s\n"
          f"  payments received {received.payments} ({stats.tickets_received} tickets, "
          f"{counts.tickets_received} distinct), every one in the ledger with the same ticket hash\n"
          f"  calls cut by a kill {stats.calls_cut}: retried and answered {len(stats.retried_ok)} "
          f"(from the ledger, committed before the kill: {from_ledger}), answered 409 "
          f"{stats.stale_after_failure}; attempts refused while down {stats.refused_attempts}\n"
          f"  ledger: {counts.tickets_recorded} tickets ({counts.recorded_not_received} never received), "
          f"no (recipientRandHash, nonce) twice, verify ok\n"
          f"  events: {records} signing records, each in the stream exactly once after deduplication "
          f"({len(events)} messages, {copies} copies), every received ticket in one")
    assert not stats.unexpected, f"unexpected answers: {dict(stats.unexpected)}"
    assert stats.timeouts == 0, f"{stats.timeouts} calls hung for more than the call timeout"
    assert daemon.starts == KILLS + 1 and received.payments > 0
    assert stats.calls_cut >= CUT_PER_KILL_MIN * KILLS, f"only {stats.calls_cut} calls in flight at {KILLS} kills"
