"""Two daemon processes on one PostgreSQL ledger (issue #4): nonces, credit, records.

Both daemons run the same configuration except the port. One gateway may owe only
``CREDIT_TICKETS`` tickets of EV. Many sessions run concurrently; each sends call n to daemon
n % 2, passing along the state the other daemon returned, and half of them share an offer (one
recipientRandHash) with other sessions, so both processes sign under the same recipientRandHash
at once. A 409 "concurrent signing" (the other process took that nonce first; nothing of ours
left) is retried with the same state. Every session ends once both daemons have refused it with
483. Afterwards: no (recipientRandHash, nonce) twice, EV signed within the credit limit, no call
signed after a 483 was seen, every ticket received is recorded (and every one recorded was
received), and the ledger verifies.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.cli.conftest import write_daemon_config
from tests.integration.conftest import (
    TICKET_EV_WEI,
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

SEED = 20261123
CREDIT_TICKETS = 300
"""Tickets (35 wei of EV each) the gateway's credit limit covers."""
WORKERS = 12
"""Concurrent sessions; each worker holds one keep-alive connection to each daemon."""
SHARED_OFFERS = 3
"""Offers (recipientRandHashes) that several sessions use at once."""
SESSION_CALLS_MIN, SESSION_CALLS_MAX = 4, 24
REFUSALS_PER_SESSION = 2
"""A session ends after this many 483s: one from each daemon."""
CONCURRENT_RETRIES_MAX = 50
"""409 "concurrent signing" retries of one call before the test calls it livelock."""
RUN_TIMEOUT_S = 40.0
"""The whole run; beyond this the test fails instead of hanging."""


@dataclass
class Stats:
    calls_per_daemon: Counter[int] = field(default_factory=Counter)
    calls_ok: int = 0
    sessions: int = 0
    refused_483: int = 0
    concurrent_409: int = 0
    first_refusal_at: float | None = None
    signed_after_refusal: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)

    def refused(self, now: float) -> None:
        self.refused_483 += 1
        if self.first_refusal_at is None or now < self.first_refusal_at:
            self.first_refusal_at = now


async def run_session(clients: tuple[KeepAliveClient, KeepAliveClient], info: bytes, name: str,
                      calls: int, received: ReceivedTickets, stats: Stats) -> bool:
    """One session alternating daemons; returns True once it has been refused for credit."""
    stats.sessions += 1
    state, n, refusals, concurrent = None, 0, 0, 0
    while calls > 0:
        daemon = n % 2
        n += 1
        stats.calls_per_daemon[daemon] += 1
        sent_at = time.monotonic()
        status, answer = await clients[daemon].post("/generate-live-payment", payment_body(info, name, state))
        if status == 200:
            fields = json.loads(answer)
            received.add(fields["payment"])
            stats.calls_ok += 1
            if stats.first_refusal_at is not None and sent_at > stats.first_refusal_at:
                stats.signed_after_refusal += 1
            state, calls, concurrent = fields["state"], calls - 1, 0
        elif status == 483:
            stats.refused(time.monotonic())
            refusals += 1
            if refusals == REFUSALS_PER_SESSION:
                return True
        elif status == 409 and b"concurrent signing" in answer and concurrent < CONCURRENT_RETRIES_MAX:
            stats.concurrent_409 += 1
            concurrent += 1
        else:
            stats.unexpected[f"daemon {daemon}: {status} {answer[:200]!r}"] += 1
            return True
    return False


async def drive(worker: int, ports: tuple[int, int], api_key: str, rng: random.Random,
                shared: list[bytes], received: ReceivedTickets, stats: Stats) -> None:
    """Sessions one after another until one is refused for credit."""
    clients = (KeepAliveClient(ports[0], api_key), KeepAliveClient(ports[1], api_key))
    try:
        for session in range(CREDIT_TICKETS):  # each session signs at least once or ends the loop
            info = rng.choice(shared) if rng.random() < 0.5 else offer(rng)
            calls = rng.randint(SESSION_CALLS_MIN, SESSION_CALLS_MAX)
            if await run_session(clients, info, f"two-{worker}-{session}", calls, received, stats):
                return
    finally:
        for client in clients:
            client.close()


async def concurrent_run(ports: tuple[int, int], api_key: str, received: ReceivedTickets, stats: Stats) -> None:
    rng = random.Random(SEED)
    shared = [offer(rng) for _ in range(SHARED_OFFERS)]
    await asyncio.gather(*(drive(n, ports, api_key, random.Random(rng.random()), shared, received, stats)
                           for n in range(WORKERS)))


def test_two_daemons_share_one_postgresql_ledger_without_duplicates_or_overspend(
    postgresql_url: str, tmp_path: Path, daemons: Daemons
) -> None:
    started = time.monotonic()
    ports = (free_port(), free_port())
    config_a = write_daemon_config(tmp_path, ports[0])
    config_b = tmp_path / "clearinghouse-b.toml"  # same directory: same keystore, pepper, policy
    config_b.write_text(config_a.read_text().replace(f"port = {ports[0]}\n", f"port = {ports[1]}\n"))
    credit_limit_wei = CREDIT_TICKETS * int(TICKET_EV_WEI)
    api_key = provision_gateway(postgresql_url, credit_limit_wei)
    for config, port in ((config_a, ports[0]), (config_b, ports[1])):
        daemons.launch(config, port, CLEARINGHOUSE_DATABASE_URL=postgresql_url)
    received, stats = ReceivedTickets(), Stats()

    try:
        asyncio.run(asyncio.wait_for(concurrent_run(ports, api_key, received, stats), RUN_TIMEOUT_S))
    except TransportError as exc:
        logs = "\n".join(d.log_tail() for d in daemons.started)
        raise AssertionError(f"a daemon dropped a connection: {exc}\n{logs}") from exc
    daemons.kill_all()  # nothing is in flight; the checks below read the database alone
    counts = check_ledger(postgresql_url, received)

    print(f"\ntwo daemons on PostgreSQL: seed {SEED}, {WORKERS} concurrent clients, {stats.sessions} sessions "
          f"({SHARED_OFFERS} recipientRandHashes shared), {time.monotonic() - started:.1f} s\n"
          f"  calls to daemon A {stats.calls_per_daemon[0]}, to daemon B {stats.calls_per_daemon[1]}; "
          f"payments received {received.payments}, 409 concurrent signing (retried) {stats.concurrent_409}\n"
          f"  credit limit {credit_limit_wei} wei = {CREDIT_TICKETS} tickets; EV signed {counts.ev_signed_wei} wei "
          f"in {counts.tickets_recorded} tickets; 483 refusals {stats.refused_483}, signed after the first 483 "
          f"{stats.signed_after_refusal}\n"
          f"  ledger: every received ticket recorded, no (recipientRandHash, nonce) twice, verify ok")
    assert not stats.unexpected, f"unexpected answers: {dict(stats.unexpected)}"
    assert min(stats.calls_per_daemon[0], stats.calls_per_daemon[1]) > 0
    # Sessions sharing a recipientRandHash queue for nonces (advisory lock), so none loses a race.
    assert stats.concurrent_409 == 0, f"{stats.concurrent_409} calls lost a nonce race"
    assert counts.ev_signed_wei <= credit_limit_wei, f"overspent: {counts.ev_signed_wei} > {credit_limit_wei}"
    assert stats.refused_483 > 0 and stats.signed_after_refusal == 0
    assert counts.recorded_not_received == 0, "a ticket was recorded that no client received"
    # Every call costs exactly one ticket's EV, so a refusal means the limit is used up exactly.
    assert counts.tickets_recorded == CREDIT_TICKETS, f"{counts.tickets_recorded} tickets signed, limit allows {CREDIT_TICKETS}"
