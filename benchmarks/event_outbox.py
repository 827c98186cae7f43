"""The event outbox's cost (issue 17): signing throughput with the outbox on vs off, measured in
the same run at the group-commit rates of benchmarks/signing_path.py, and the relay's lag.

Per backend (SQLite: one daemon, 64 sessions; PostgreSQL: one daemon, 16 gateways x 4 sessions),
daemons are started in turn with ``[events] enabled = false`` (the reference, "off"), with the
outbox on and a NATS JetStream sink published by a relay thread in the daemon (``relay =
"thread"``), and the same published by the daemon's relay child process (the default, ``relay =
"process"``), to a stream of this run's own on the machine's NATS server
(127.0.0.1:4222; deleted afterwards), ROUNDS times each, in that order, so drift on the shared
machine hits all alike. Each run: warm-up, then the closed-loop maximum (64 sessions, each
sending its next call as soon as the last is answered). The ratios are each mode's median rate
over the median "off" rate (target >= 0.90).

Lag, on the "on" runs: /metrics is read every METRICS_POLL_S during the closed loop, for the
NATS sink's unsent events and the age of its oldest; after the load stops, the time until the
sink has sent everything (drain). Finally the stream must hold one message per signing record.

The "committer" rows isolate the write: in this process, batches of COMMITTER_BATCH calls
(8 gateways x 8 sessions, one call each per batch, prepared before the clock starts) committed
with ``commit_calls(..., outbox=False)`` and ``outbox=True`` alternately, TRIALS times
COMMITTER_BATCHES batches per side, on SQLite and PostgreSQL; the ratio of the medians. No relay
runs there: what is measured is the outbox rows' share of the batch transaction alone.

Usage: python benchmarks/event_outbox.py [sqlite] [postgresql] [committer] [--quick] [--json FILE]
           [--processes N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_daemon  # noqa: E402
from bench_daemon import DaemonSpec, free_port  # noqa: E402
from session_load import CREATION_ROUND_BLOCK_HASH, LoadPool, OfferShape, Target  # noqa: E402

Json = dict[str, Any]

NATS_URL = "nats://127.0.0.1:4222"
ROUNDS = 3
"""Off/on pairs per backend: the median of each side is compared."""
SESSIONS = 64
PG_GATEWAYS, PG_SESSIONS_PER_GATEWAY = 16, 4
METRICS_POLL_S = 0.2
DRAIN_TIMEOUT_S = 60.0
_UNSENT = re.compile(r'^clearinghouse_events_unsent\{sink="nats"\} (\S+)$', re.M)
_AGE = re.compile(r'^clearinghouse_events_oldest_unsent_age_seconds\{sink="nats"\} (\S+)$', re.M)


def _sink_gauges(port: int) -> tuple[float, float] | None:
    """(unsent, oldest unsent age s) of the NATS sink from the daemon's /metrics."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    unsent, age = _UNSENT.search(text), _AGE.search(text)
    return None if unsent is None or age is None else (float(unsent.group(1)), float(age.group(1)))


class LagSampler:
    """Reads the sink's gauges every METRICS_POLL_S in a thread while the load runs, and (with
    ``stream``) the lag as published: signing records in the ledger less messages in the stream,
    read back to back (the gauges count from the stored cursor, which a relay process may store
    late when it waits for SQLite's write lock)."""

    def __init__(self, port: int, database_url: str | None = None, stream: str | None = None,
                 stream_before: int = 0) -> None:
        self._port = port
        self._stream_before = stream_before
        self._database_url = database_url
        self._stream = stream
        self._stop = threading.Event()
        self.samples: list[tuple[float, float]] = []
        self.published_lag: list[int] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LagSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        db = None
        if self._database_url is not None and self._stream is not None:
            from clearinghouse import ledger

            db = ledger.open_database(self._database_url)
        try:
            while not self._stop.wait(METRICS_POLL_S):
                gauges = _sink_gauges(self._port)
                if gauges is not None:
                    self.samples.append(gauges)
                if db is not None and self._stream is not None:
                    records = _records_of(db)
                    published = asyncio.run(_stream("count", self._stream)) - self._stream_before
                    self.published_lag.append(records - published)
        finally:
            if db is not None:
                db.dispose()


def _drain_s(port: int) -> float | None:
    """Seconds from the end of the load until the sink has nothing unsent (None: not within
    DRAIN_TIMEOUT_S). The gauges are refreshed once a second by the relay's housekeeping."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_TIMEOUT_S:
        gauges = _sink_gauges(port)
        if gauges is not None and gauges[0] == 0:
            return round(time.monotonic() - started, 2)
        time.sleep(METRICS_POLL_S)
    return None


async def _stream(action: str, name: str, prefix: str = "") -> int:
    import nats

    client = await nats.connect(NATS_URL, connect_timeout=5)
    try:
        jetstream = client.jetstream()
        if action == "create":
            await jetstream.add_stream(name=name, subjects=[f"{prefix}.>"], duplicate_window=600.0)
            return 0
        if action == "count":
            return int((await jetstream.stream_info(name)).state.messages)
        await jetstream.delete_stream(name)
        return 0
    finally:
        await client.close()


MODES = ("off", "thread", "process")
"""Outbox off; on with the relay a thread of the daemon; on with the relay the daemon's child process."""


def one_run(database_url: str, gateways: int, sessions_per_gateway: int, mode: str, prefix: str, stream: str,
            processes: int, closed_s: float, warmup_s: float) -> Json:
    outbox = mode != "off"
    # A source per run: each run's fresh ledger numbers its events from 1 again.
    events = ([f'nats_url = "{NATS_URL}"', f'nats_subject_prefix = "{prefix}"',
               f'source = "urn:bench:{secrets.token_hex(4)}"'] if outbox else ["enabled = false"])
    if mode == "thread":
        events += ['relay = "thread"']
    with tempfile.TemporaryDirectory(prefix="event-outbox-") as tmp:
        directory = Path(tmp)
        if database_url == "sqlite":
            database_url = f"sqlite:///{directory / 'ledger.sqlite3'}"
        static = (f'current_round_block_hash = "0x{CREATION_ROUND_BLOCK_HASH.hex()}"',)
        spec = DaemonSpec(free_port(), chain_static_extra=static, events_extra=events)
        stream_before = asyncio.run(_stream("count", stream))  # earlier runs' messages
        with bench_daemon.daemons(directory, database_url, [spec], gateways) as (running, made):
            targets = [Target("127.0.0.1", spec.http_port, made[n // sessions_per_gateway].api_key)
                       for n in range(gateways * sessions_per_gateway)]
            with LoadPool(targets, processes, OfferShape()) as pool:
                pool.phase("closed", warmup_s)
                sampler = LagSampler(spec.http_port, database_url if outbox else None, stream if outbox else None,
                                     stream_before)
                with sampler as lag:
                    result = pool.phase("closed", closed_s)
                drain = _drain_s(spec.http_port) if outbox else None
            config = running[0].config
        verify = bench_daemon.verify_ledger(config)
        records = _records(database_url)
    result = {key: result[key] for key in ("calls_per_s", "p50_ms", "p99_ms", "errors")}
    result |= {"mode": mode, "outbox": outbox, "signing_records": records, "ledger_verify_ok": verify["ok"]}
    if outbox:
        result |= {"max_published_lag_events": max(lag.published_lag, default=None),
                   "max_unsent": max((u for u, _ in lag.samples), default=None),
                   "max_oldest_unsent_age_s": max((a for _, a in lag.samples), default=None),
                   "drain_after_load_s": drain}
    print(f"    outbox {mode:8s}: {result['calls_per_s']}/s p99 {result['p99_ms']} ms "
          f"errors {result['errors']}" + (f"; lag: records - stream max {result['max_published_lag_events']}, "
                                          f"gauges: max unsent {result['max_unsent']}, max oldest age "
                                          f"{result['max_oldest_unsent_age_s']} s, drained {drain} s after"
                                          if outbox else ""), flush=True)
    return result


def _records(database_url: str) -> int:
    from clearinghouse import ledger

    db = ledger.open_database(database_url)
    try:
        return _records_of(db)
    finally:
        db.dispose()


def _records_of(db: Any) -> int:
    from sqlalchemy import text

    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM signing_records")).scalar_one())


def backend(name: str, args: argparse.Namespace, closed_s: float, warmup_s: float) -> Json:
    token = secrets.token_hex(6)
    stream, prefix = f"CHBENCH_{token}", f"chbench.{token}"
    asyncio.run(_stream("create", stream, prefix))
    runs: list[Json] = []
    try:
        for _ in range(ROUNDS):
            for mode in MODES:
                if name == "sqlite":
                    runs.append(one_run("sqlite", 1, SESSIONS, mode, prefix, stream, args.processes, closed_s,
                                        warmup_s))
                else:
                    with bench_daemon.scratch_postgres() as url:
                        runs.append(one_run(url, PG_GATEWAYS, PG_SESSIONS_PER_GATEWAY, mode, prefix, stream,
                                            args.processes, closed_s, warmup_s))
        published = asyncio.run(_stream("count", stream))
    finally:
        asyncio.run(_stream("delete", stream))
    medians = {mode: statistics.median(r["calls_per_s"] for r in runs if r["mode"] == mode) for mode in MODES}
    signed_on = sum(r["signing_records"] for r in runs if r["outbox"])
    result = {"runs": runs, "median_per_s": medians,
              "over_off": {mode: round(medians[mode] / medians["off"], 3) for mode in MODES[1:]},
              "stream_messages": published, "signing_records_with_outbox": signed_on}
    print(f"  {name}: medians {medians}; over off {result['over_off']}; stream holds {published} "
          f"messages for {signed_on} signing records of the outbox runs", flush=True)
    return result


COMMITTER_BATCH = 64
COMMITTER_BATCHES = 20
TRIALS = 7


def committer_rows(quick: bool) -> Json:
    """Outbox off vs on in the committer alone, per backend (module docstring)."""
    sys.path.insert(0, str(HERE.parent))
    from clearinghouse import ledger
    from clearinghouse.domain.credit import CreditMode
    from tests.ledger.conftest import CheckAndRecord, SessionDriver, keys_of

    from clearinghouse.ledger import batch_writes

    # The outbox insert's own time inside each "on" batch: a share of the same batches' time, so
    # unlike the on/off rates it does not move with the machine's load between trials.
    insert_s = [0.0]
    write_signing_events = batch_writes.write_signing_events

    def timed_write(*args: Any) -> None:
        started = time.perf_counter()
        write_signing_events(*args)
        insert_s[0] += time.perf_counter() - started

    batch_writes.write_signing_events = timed_write  # type: ignore[assignment]
    result: Json = {}
    trials, batches = (3, 10) if quick else (TRIALS, COMMITTER_BATCHES)
    with tempfile.TemporaryDirectory(prefix="outbox-committer-") as tmp, bench_daemon.scratch_postgres() as pg:
        for name, url in (("sqlite", f"sqlite:///{tmp}/ledger.sqlite3"), ("postgresql", pg)):
            ledger.upgrade_to_head(url)
            db = ledger.open_database(url)
            try:
                drivers = []
                for number in range(8):
                    gateway = ledger.create_gateway(db, f"bench-{number}")
                    ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=10**24,
                                             actor="bench", reason="benchmark")
                    drivers += [SessionDriver(gateway.id) for _ in range(COMMITTER_BATCH // 8)]
                rates: dict[bool, list[float]] = {False: [], True: []}
                insert_s[0], on_s = 0.0, 0.0
                for trial in range(trials):
                    for outbox in ((False, True) if trial % 2 == 0 else (True, False)):
                        spent_s = 0.0
                        for _ in range(batches):
                            calls = [driver.next_call(100) for driver in drivers]
                            works = [CheckAndRecord(call, keys_of(call)) for call in calls]
                            started = time.perf_counter()
                            outcomes = ledger.commit_calls(db, works, outbox=outbox)
                            spent_s += time.perf_counter() - started
                            for driver, call, outcome in zip(drivers, calls, outcomes, strict=True):
                                outcome.result()
                                driver.advance(call)
                        rates[outbox].append(round(batches * COMMITTER_BATCH / spent_s, 1))
                        on_s += spent_s if outbox else 0.0
            finally:
                db.dispose()
            off, on = statistics.median(rates[False]), statistics.median(rates[True])
            share = round(insert_s[0] / on_s, 4)
            result[name] = {"off_per_s": rates[False], "on_per_s": rates[True], "off_median_per_s": off,
                            "on_median_per_s": on, "on_over_off": round(on / off, 3),
                            "outbox_insert_share_of_batch_time": share}
            print(f"  committer, {name}: outbox on / off = {on} / {off} calls/s = {round(on / off, 3)} "
                  f"(off {rates[False]}, on {rates[True]}); the outbox insert is {share:.2%} of the "
                  f"on batches' time", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", nargs="*", help="committer, sqlite, postgresql (default: all three)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--processes", type=int, default=1)
    args = parser.parse_args()
    if set(args.rows) - {"sqlite", "postgresql", "committer"}:
        parser.error("rows are sqlite, postgresql and committer")
    closed_s, warmup_s = (4.0, 1.0) if args.quick else (10.0, 2.0)
    document = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "closed_s": closed_s}
    for name in args.rows or ["committer", "sqlite", "postgresql"]:
        if name == "committer":
            print(f"committer: batches of {COMMITTER_BATCH} calls, outbox off and on alternately", flush=True)
            document[name] = committer_rows(args.quick)
            continue
        print(f"{name}: {ROUNDS} x (outbox off, outbox on), closed loop {closed_s:g} s", flush=True)
        document[name] = backend(name, args, closed_s, warmup_s)
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n")


if __name__ == "__main__":
    main()
