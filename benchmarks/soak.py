"""Soak: the real daemon at a fixed fraction of its measured capacity for minutes, many gateways.

Sets up `clearinghouse serve` as its own process (static chain view, fresh SQLite ledger in a
temporary directory, loopback only) with ``--gateways`` gateways, each with credit and an API key,
then, from this process:

1. **capacity**: ``--capacity-seconds`` closed-loop at ``--capacity-connections`` concurrent
   sessions (as load_generator.py): calls/s with every connection busy.
2. **soak**: an open-loop paced load at ``--fraction`` of that capacity for ``--minutes``.
   Arrivals come on a fixed schedule whatever the answers take (no coordinated omission: latency
   counts from the scheduled time); each goes to an idle one of ``--sessions`` simulated streams
   spread over the gateways. A stream threads its state from call to call like go-livepeer, takes
   fresh ticket params every PARAMS_CALLS_MAX calls, and ends after a random number of calls
   (SESSION_CALLS_MIN..SESSION_CALLS_MAX), when a new stream with a new offer starts in its place.
   Every answer other than 200 is counted by status (transport failures and timeouts as 0).
3. The daemon's RSS (VmRSS of /proc/<pid>/status) is sampled every RSS_SAMPLE_S throughout.
4. The daemon is stopped, `clearinghouse ledger verify` runs, and the number of signing records
   (and signed tickets: one per call) must equal the number of 200 answers.

Prints one JSON summary and exits 1 when any call was answered other than 200, the ledger does not
verify, the records do not match the 200 answers, or RSS grew past the threshold after warm-up
(``--rss-growth-max-pct`` of the RSS after ``--warmup-s`` of soak, at least RSS_GROWTH_FLOOR_MIB).

Usage: python benchmarks/soak.py [--minutes 10] [--fraction 0.5] [--gateways 20] [--sessions 200]
           [--connections 64] [--capacity-seconds 20] [--capacity-connections 32] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from clearinghouse import ledger
from clearinghouse.domain.credit import CreditMode
from clearinghouse.api.api_keys import issue_api_key

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_generator import CALL_TIMEOUT_S, PARAMS_CALLS_MAX, orchestrator_info  # noqa: E402
from remote_signer import L1_BLOCK, STOP_TIMEOUT_S, free_port, wait_ready, write_config  # noqa: E402

MINUTES_MAX = 240.0
"""A soak is bounded: four hours is past any run this script is meant for; more is a typo."""

SESSION_CALLS_MIN = 20
SESSION_CALLS_MAX = 400
"""A stream lives this many calls (uniform), so sessions keep starting and ending throughout
(~200 calls mean: at 50 calls/s over 200 streams, a new stream every ~4 s)."""

RSS_SAMPLE_S = 5.0
"""Between RSS samples: 120 samples in 10 minutes, enough for a slope, negligible cost."""

RSS_GROWTH_FLOOR_MIB = 16.0
"""Growth allowed whatever the percentage: SQLite's page cache and the allocator's arenas settle
in steps of a few MiB that are not leaks."""

ARRIVALS_QUEUED_MAX_S = 5.0
"""Arrivals waiting for a free connection, in seconds of target rate; past it the daemon is not
keeping up, and further arrivals are counted as dropped instead of piling up without bound."""

TRANSPORT_FAILURE = 0
"""The status recorded for a call that got no HTTP answer (reset, timeout)."""


@dataclass
class Stream:
    """One simulated go-livepeer stream: its gateway's key, offer and the state it threads."""

    api_key: str
    calls_left: int
    info: bytes = b""
    calls_on_params: int = PARAMS_CALLS_MAX
    state: object | None = None

    def body(self) -> bytes:
        if self.calls_on_params >= PARAMS_CALLS_MAX:
            self.info, self.calls_on_params = orchestrator_info(L1_BLOCK, int(time.time())), 0
        body: dict[str, object] = {"orchestrator": base64.b64encode(self.info).decode(), "type": "fixed",
                                   "ManifestID": f"soak-{id(self)}"}
        if self.state is not None:
            body["state"] = self.state
        return json.dumps(body).encode()


@dataclass
class Tally:
    """Answers of one phase."""

    latencies_s: list[float] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    ok: int = 0
    streams_started: int = 0
    dropped: int = 0

    def summary(self, elapsed_s: float) -> dict[str, object]:
        ordered = sorted(self.latencies_s)

        def percentile_ms(p: float) -> float | None:
            return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else None

        return {"seconds": round(elapsed_s, 1), "calls": len(ordered), "ok": self.ok, "errors": self.errors,
                "calls_per_s": round(len(ordered) / elapsed_s, 1), "p50_ms": percentile_ms(0.5),
                "p99_ms": percentile_ms(0.99), "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
                "streams_started": self.streams_started, "arrivals_dropped": self.dropped}


class Connection:
    """One keep-alive HTTP/1.1 connection; requests on it are sequential, any gateway's key."""

    def __init__(self, host: str, port: int) -> None:
        self._host, self._port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, api_key: str) -> tuple[int, bytes]:
        try:
            return await asyncio.wait_for(self._post(body, api_key), CALL_TIMEOUT_S)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
            self.close()
            return TRANSPORT_FAILURE, b""

    async def _post(self, body: bytes, api_key: str) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(
            f"POST /generate-live-payment HTTP/1.1\r\nHost: {self._host}:{self._port}\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self._reader.readline()
        length, close = 0, False
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                close = True
        payload = await self._reader.readexactly(length)
        if close:
            self.close()
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


class Streams:
    """The pool of streams: an idle one for each arrival, replaced when its life is over."""

    def __init__(self, api_keys: list[str], count: int, rng: random.Random, tally: Tally) -> None:
        self._keys, self._rng, self._tally = api_keys, rng, tally
        self._idle = deque(self._new(i) for i in range(count))

    def _new(self, index: int) -> Stream:
        self._tally.streams_started += 1
        return Stream(self._keys[index % len(self._keys)], self._rng.randint(SESSION_CALLS_MIN, SESSION_CALLS_MAX))

    def take(self) -> Stream:
        return self._idle.popleft()  # never empty: streams outnumber connections (checked in main)

    def give_back(self, stream: Stream, status: int, payload: bytes) -> None:
        stream.calls_on_params += 1
        stream.calls_left -= 1
        if status == 200:
            stream.state = json.loads(payload)["state"]
        if status != 200 or stream.calls_left <= 0:  # a failed stream starts over, as a gateway would
            stream = self._new(self._rng.randrange(len(self._keys)))
        self._idle.append(stream)


async def call(connection: Connection, streams: Streams, tally: Tally, since: float) -> None:
    """One call on an idle stream; latency counts from ``since`` (the scheduled time, open loop)."""
    stream = streams.take()
    status, payload = await connection.post(stream.body(), stream.api_key)
    tally.latencies_s.append(time.perf_counter() - since)
    if status == 200:
        tally.ok += 1
    else:
        tally.errors[status] = tally.errors.get(status, 0) + 1
    streams.give_back(stream, status, payload)


async def closed_loop(host: str, port: int, streams: Streams, tally: Tally, connections: int, seconds: float) -> float:
    """Every connection calls back to back until the deadline; returns the elapsed seconds."""
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        connection = Connection(host, port)
        while time.perf_counter() < deadline:
            await call(connection, streams, tally, time.perf_counter())
        connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return time.perf_counter() - started


async def open_loop(host: str, port: int, streams: Streams, tally: Tally, connections: int, rate_per_s: float,
                    seconds: float) -> float:
    """Arrivals at ``rate_per_s`` on a fixed schedule, served by ``connections`` connections."""
    queue: asyncio.Queue[float | None] = asyncio.Queue(maxsize=max(1, int(rate_per_s * ARRIVALS_QUEUED_MAX_S)))

    async def worker() -> None:
        connection = Connection(host, port)
        while (scheduled := await queue.get()) is not None:
            await call(connection, streams, tally, scheduled)
        connection.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    started = time.perf_counter()
    total = int(rate_per_s * seconds)
    for index in range(total):
        scheduled = started + index / rate_per_s
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            queue.put_nowait(scheduled)
        except asyncio.QueueFull:
            tally.dropped += 1
    for _ in workers:
        await queue.put(None)
    await asyncio.gather(*workers)
    return time.perf_counter() - started


def rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


async def sample_rss(pid: int, samples: list[tuple[float, int]], started: float) -> None:
    while True:
        samples.append((round(time.perf_counter() - started, 1), rss_kib(pid)))
        await asyncio.sleep(RSS_SAMPLE_S)


async def run_load(url: str, pid: int, api_keys: list[str], args: argparse.Namespace) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    rng = random.Random(args.seed)
    started = time.perf_counter()
    samples: list[tuple[float, int]] = []
    sampler = asyncio.create_task(sample_rss(pid, samples, started))
    await asyncio.sleep(0)  # the first sample: RSS before any call
    capacity = Tally()
    elapsed = await closed_loop(host, port, Streams(api_keys, args.capacity_connections, rng, capacity), capacity,
                                args.capacity_connections, args.capacity_seconds)
    capacity_summary = capacity.summary(elapsed)
    rate = args.fraction * len(capacity.latencies_s) / elapsed
    soak = Tally()
    soak_started = time.perf_counter() - started
    elapsed = await open_loop(host, port, Streams(api_keys, args.sessions, rng, soak), soak, args.connections,
                              rate, args.minutes * 60)
    samples.append((round(time.perf_counter() - started, 1), rss_kib(pid)))
    sampler.cancel()
    return {"capacity": capacity_summary, "target_calls_per_s": round(rate, 1),
            "soak": soak.summary(elapsed), "rss": rss_summary(samples, soak_started + args.warmup_s, args),
            "ok_total": capacity.ok + soak.ok, "errors_total": sum(capacity.errors.values()) + sum(soak.errors.values())}


def rss_summary(samples: list[tuple[float, int]], warm_at_s: float, args: argparse.Namespace) -> dict[str, object]:
    """RSS at start, after warm-up, at the end, its maximum, and the slope after warm-up."""
    warm = [(t, kib) for t, kib in samples if t >= warm_at_s] or samples[-1:]
    warm_kib, end_kib = warm[0][1], samples[-1][1]
    growth_mib = (end_kib - warm_kib) / 1024
    allowed_mib = max(RSS_GROWTH_FLOOR_MIB, warm_kib / 1024 * args.rss_growth_max_pct / 100)
    return {"start_mib": round(samples[0][1] / 1024, 1), "after_warmup_mib": round(warm_kib / 1024, 1),
            "end_mib": round(end_kib / 1024, 1), "max_mib": round(max(kib for _, kib in samples) / 1024, 1),
            "growth_after_warmup_mib": round(growth_mib, 1), "growth_allowed_mib": round(allowed_mib, 1),
            "slope_after_warmup_mib_per_h": round(slope(warm) * 3600 / 1024, 1), "samples": len(samples),
            "per_minute_mib": per_minute_mib(samples), "ok": growth_mib <= allowed_mib}


def per_minute_mib(samples: list[tuple[float, int]]) -> list[float]:
    """The first RSS sample of each minute of the run, in MiB: the shape of the curve."""
    shape, minute = [], 0
    for t, kib in samples:
        if t >= minute * 60:
            shape.append(round(kib / 1024, 1))
            minute = int(t // 60) + 1
    return shape


def slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of ``points`` (units of y per unit of x); 0 for fewer than two."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread if spread else 0.0


def prepare_ledger(database_url: str, pepper_hex: str, gateways: int) -> list[str]:
    """Schema, ``gateways`` gateways with ample credit, and one API key each (returned)."""
    ledger.upgrade_to_head(database_url)
    db = ledger.open_database(database_url)
    keys = []
    for index in range(gateways):
        gateway = ledger.create_gateway(db, f"soak-{index}")
        ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=10**24,
                                 actor="soak", reason="soak benchmark")
        keys.append(issue_api_key(db, gateway.id, bytes.fromhex(pepper_hex))[0])
    db.dispose()
    return keys


def ledger_counts(database: Path) -> tuple[int, int]:
    """(signing records, signed tickets) in the SQLite ledger."""
    with sqlite3.connect(database) as connection:
        records = connection.execute("SELECT count(*) FROM signing_records").fetchone()[0]
        tickets = connection.execute("SELECT count(*) FROM signed_tickets").fetchone()[0]
    return int(records), int(tickets)


def soak(args: argparse.Namespace, directory: Path) -> dict[str, object]:
    database = directory / "ledger.sqlite3"
    port = free_port()
    config = write_config(directory, f"sqlite:///{database}", port)
    api_keys = prepare_ledger(f"sqlite:///{database}", (directory / "pepper.txt").read_text(), args.gateways)
    log = (directory / "daemon.log").open("wb")
    daemon = subprocess.Popen([sys.executable, "-m", "clearinghouse", "serve", "--config", str(config),
                               "--log-level", "warning"], stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_ready(port, daemon)
        result = asyncio.run(run_load(f"http://127.0.0.1:{port}", daemon.pid, api_keys, args))
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        log.close()
    verify = subprocess.run([sys.executable, "-m", "clearinghouse", "ledger", "verify", "--json", "--config",
                             str(config)], capture_output=True, text=True, check=False, timeout=600)
    records, tickets = ledger_counts(database)
    log_lines = (directory / "daemon.log").read_text(errors="replace").splitlines()
    verdict = {
        "ledger_verify_ok": verify.returncode == 0 and json.loads(verify.stdout or "{}").get("ok") is True,
        "signing_records": records, "signed_tickets": tickets,
        "records_match_ok_answers": records == tickets == result["ok_total"],
        "daemon_exit_code": daemon.returncode, "daemon_log_lines": len(log_lines),
        "daemon_log_tail": log_lines[-5:],
    }
    return {"gateways": args.gateways, "sessions": args.sessions, "connections": args.connections,
            "fraction": args.fraction, "minutes": args.minutes, **result, **verdict}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fraction", type=float, default=0.5, help="of measured capacity, 0 < f <= 1")
    parser.add_argument("--gateways", type=int, default=20)
    parser.add_argument("--sessions", type=int, default=200, help="concurrent streams, > --connections")
    parser.add_argument("--connections", type=int, default=64, help="open-loop concurrency cap")
    parser.add_argument("--capacity-seconds", type=float, default=20.0)
    parser.add_argument("--capacity-connections", type=int, default=32)
    parser.add_argument("--warmup-s", type=float, default=60.0, help="into the soak, before the RSS baseline")
    parser.add_argument("--rss-growth-max-pct", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--json", type=Path, help="also write the summary here")
    args = parser.parse_args()
    if not 0 < args.minutes <= MINUTES_MAX or not 0 < args.fraction <= 1 or args.sessions <= args.connections:
        parser.error(f"need 0 < minutes <= {MINUTES_MAX}, 0 < fraction <= 1 and sessions > connections")
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        summary = soak(args, Path(tmp))
    failed = [name for name, bad in (
        ("error responses", summary["errors_total"] != 0),
        ("ledger verify", not summary["ledger_verify_ok"]),
        ("records != 200 answers", not summary["records_match_ok_answers"]),
        ("rss growth", not summary["rss"]["ok"]),  # type: ignore[index]
    ) if bad]
    summary["failed"] = failed
    text = json.dumps(summary, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
