"""The committer's PostgreSQL batch, in process: round trips per batch and where their time goes.

A scratch database on the local server (127.0.0.1:5432, user postgres, trust; dropped after) with
16 gateways in credit mode and 4 sessions each, like the `postgresql` row of signing_path.py.
Each batch holds one call of each of ``--batch`` sessions (check the spend, record one ticket),
committed by ``commit_calls`` in this thread, the committer's own function: no HTTP, no signing,
so the time is the ledger's and the server's. psycopg's ``Connection.wait`` (every wait for the
server: a statement's answer, a pipeline's sync, COMMIT) is counted and timed, and each wait is
filed under the statement that caused it (a pipeline's sync under "pipeline").

Usage: python benchmarks/pg_batch.py [--batches 60] [--batch 48] [--top 25]
Prints calls/s, per batch: waits on the server, µs waiting, µs in Python; the CPU time per call
of this process and of the server's processes (less disturbed than wall time on a shared
machine); then the waits by statement (count and µs per batch).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_daemon import prepare_ledger, scratch_postgres  # noqa: E402

from clearinghouse import ledger  # noqa: E402
from tests.ledger.conftest import CheckAndRecord, SessionDriver, keys_of  # noqa: E402

GATEWAYS = 16
SESSIONS_PER_GATEWAY = 4
WARMUP_BATCHES = 5
"""Batches before timing: the pool connects, prepared statements and caches fill, heads exist."""


class _Waits:
    """psycopg's waits for the server, counted and timed, by the statement that caused them."""

    def __init__(self) -> None:
        self.label = "other"
        self.count: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)

    def reset(self) -> None:
        self.count.clear()
        self.seconds.clear()

    @contextmanager
    def installed(self) -> Iterator[None]:
        connection_wait = psycopg.Connection.wait
        cursor_execute, cursor_executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany
        pipeline_sync = psycopg.Pipeline.sync
        waits = self

        def wait(conn: Any, gen: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return connection_wait(conn, gen, *args, **kwargs)
            finally:
                waits.count[waits.label] += 1
                waits.seconds[waits.label] += time.perf_counter() - started

        def labelled(run: Any) -> Any:
            def execute(cursor: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
                text = query if isinstance(query, str) else str(query)
                in_pipeline = cursor.connection._pipeline is not None
                # The first words, numbers folded (SAVEPOINT call_7 and call_8 are one row).
                waits.label = "pipeline" if in_pipeline else re.sub(r"\d+", "N", " ".join(text.split()[:4])[:60])
                return run(cursor, query, *args, **kwargs)
            return execute

        def sync(pipeline: Any) -> Any:
            waits.label = "pipeline"
            return pipeline_sync(pipeline)

        psycopg.Connection.wait = wait  # type: ignore[method-assign]
        psycopg.Cursor.execute = labelled(cursor_execute)  # type: ignore[method-assign]
        psycopg.Cursor.executemany = labelled(cursor_executemany)  # type: ignore[method-assign]
        psycopg.Pipeline.sync = sync  # type: ignore[method-assign]
        try:
            yield
        finally:
            psycopg.Connection.wait = connection_wait  # type: ignore[method-assign]
            psycopg.Cursor.execute, psycopg.Cursor.executemany = cursor_execute, cursor_executemany  # type: ignore[method-assign]
            psycopg.Pipeline.sync = pipeline_sync  # type: ignore[method-assign]


def _server_cpu_s(url: str) -> float:
    """CPU seconds (user + system) of the server processes serving the scratch database: the
    pool's connections, which stay the same after the warm-up (procfs, clock ticks)."""
    name = url.rsplit("/", 1)[1]
    admin_url = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        pids = [row[0] for row in admin.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,))]
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def _run(db: ledger.Database, sessions: list[SessionDriver], batches: int, batch: int) -> None:
    start = 0
    for _ in range(batches):
        chosen = [sessions[(start + i) % len(sessions)] for i in range(batch)]
        start += batch
        calls = [session.next_call(units=1) for session in chosen]  # fee = EV: one ticket a call
        outcomes = ledger.commit_calls(db, [CheckAndRecord(call, keys_of(call)) for call in calls])
        for session, call, outcome in zip(chosen, calls, outcomes, strict=True):
            outcome.result()
            session.advance(call)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--batch", type=int, default=48, help="calls per batch (at most 64: one per session)")
    parser.add_argument("--top", type=int, default=25, help="statements listed")
    args = parser.parse_args()
    if not 1 <= args.batch <= GATEWAYS * SESSIONS_PER_GATEWAY:
        parser.error(f"--batch must be in [1, {GATEWAYS * SESSIONS_PER_GATEWAY}]")
    with scratch_postgres() as url:
        gateways = prepare_ledger(url, "00" * 32, GATEWAYS)
        db = ledger.open_database(url)
        try:
            sessions = [SessionDriver(g.gateway_id, price_per_unit=35) for g in gateways for _ in range(SESSIONS_PER_GATEWAY)]
            _run(db, sessions, WARMUP_BATCHES, args.batch)
            waits = _Waits()
            server_cpu_s = _server_cpu_s(url)
            with waits.installed():
                started_cpu, started = time.process_time(), time.perf_counter()
                _run(db, sessions, args.batches, args.batch)
                elapsed_s, cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
            server_cpu_s = _server_cpu_s(url) - server_cpu_s
            verdict = ledger.verify_ledger(db)
        finally:
            db.dispose()
    calls = args.batches * args.batch
    waited_s = sum(waits.seconds.values())
    per_batch = 1e6 / args.batches
    print(f"{calls} calls in {args.batches} batches of {args.batch}: {calls / elapsed_s:.0f} calls/s; "
          f"ledger verify {'ok' if verdict.ok else 'FAILED'}")
    print(f"per batch: {sum(waits.count.values()) / args.batches:.1f} waits on the server, "
          f"{waited_s * per_batch:.0f} µs waiting, {(elapsed_s - waited_s) * per_batch:.0f} µs elsewhere "
          f"(this process's CPU {cpu_s * per_batch:.0f} µs); per call {elapsed_s * 1e6 / calls:.0f} µs")
    print(f"CPU per call: this process {cpu_s * 1e6 / calls:.0f} µs, the server's processes "
          f"{server_cpu_s * 1e6 / calls:.0f} µs (10 ms ticks), together {(cpu_s + server_cpu_s) * 1e6 / calls:.0f} µs")
    print("| statement (first words) | waits per batch | µs per batch | µs per wait |")
    print("|---|---:|---:|---:|")
    ranked = sorted(waits.seconds.items(), key=lambda item: -item[1])[: args.top]
    for label, seconds in ranked:
        count = waits.count[label]
        print(f"| `{label}` | {count / args.batches:.1f} | {seconds * per_batch:.0f} | {seconds * 1e6 / count:.0f} |")


if __name__ == "__main__":
    main()
