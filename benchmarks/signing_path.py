"""The durable signing path (issue 14), measured end to end with one reproducible command.

Rows (each starts its own daemons on loopback, stops them, runs `clearinghouse ledger verify`):

  generator   the load generator against a trivial server (canned_signer.py): closed-loop maximum,
              and the open-loop GENERATOR_CHECK_RATE (2x the 2,000 calls/s target) with its p99
  sqlite      one daemon, SQLite (synchronous=FULL), 64 sessions: the open-loop ladder (highest
              rate with achieved >= 97 % of target and p99 <= 20 ms) and the closed-loop maximum;
              the native core's single-thread tickets/s around it, and the ratio
  postgresql  16 gateways x 4 sessions: one daemon, then two daemons on one database (sessions
              split evenly), each on a fresh scratch database: closed loop and ladder; the ratio
  grpc        one daemon with [grpc]: HTTP and gRPC GeneratePayment (closed loop), SignTickets x 10
              tickets per call, the native rate; gRPC / HTTP and SignTickets tickets/s / native
  profile     (or --profile) the SQLite daemon during a closed loop under a per-thread cProfile
              (wall clock, then CPU time), then unprofiled and sampled by py-spy if installed: a
              per-call µs budget by category (daemon_profile.py)

Usage: python benchmarks/signing_path.py [ROW ...] [--quick] [--profile] [--json FILE]
           [--processes N] [--creation-round-block-hash HEX] [--chain-static-setting 'key = value']
Without rows: generator sqlite postgresql grpc. --quick takes ~2 minutes for those four, the full
mode ~5-6 (longer when a faster daemon climbs more ladder steps); the profile row adds ~1.5. PostgreSQL: 127.0.0.1:5432, user postgres, trust auth; scratch databases are dropped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_daemon  # noqa: E402
import daemon_profile  # noqa: E402
from bench_daemon import DaemonSpec, free_port  # noqa: E402
from session_load import CREATION_ROUND_BLOCK_HASH, LoadPool, OfferShape, Target  # noqa: E402

Json = dict[str, Any]
"""A measurement's figures, as they go into the JSON document."""

ROWS = ("generator", "sqlite", "postgresql", "grpc", "profile")
DEFAULT_ROWS = ("generator", "sqlite", "postgresql", "grpc")

SESSIONS = 64
"""The issue's load: 64 concurrent go-livepeer sessions."""
PG_GATEWAYS, PG_SESSIONS_PER_GATEWAY = 16, 4
"""The PostgreSQL load: 16 gateways x 4 sessions = 64 sessions."""
GRPC_SESSIONS = 16
"""Concurrent sessions of the gRPC / HTTP comparison, as grpc_vs_http.py measured "today"."""
P99_MAX_MS = 20.0
"""The issue's latency bound for the open-loop rate."""
ACHIEVED_MIN_FRACTION = 0.97
"""A step passes only if it answered at least 97 % of its target rate: below, it is saturated."""
TARGET_CALLS_PER_S = 2000
GENERATOR_CHECK_RATE = 2 * TARGET_CALLS_PER_S
"""The generator must sustain twice the issue's target against a trivial server."""
LADDER = (25, 50, 100, 150, 200, 250, 350, 500, 750, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000)
"""Open-loop target rates (calls/s), low steps first so today's ~150/s is resolved too; the ladder
stops at the first saturated step, then bisects between the highest pass and the next fail."""
P99_FAILS_MAX = 2
"""Consecutive steps failing on p99 alone after which the ladder stops (higher rates won't pass)."""
SETTLE_S = 0.5
"""Pause between phases: the daemon finishes what the last phase left (at most one call per
session is in flight when a phase ends, and the pool waits for those)."""
NATIVE_BATCH = 100
"""Tickets per sign_ticket_batch call for the native reference rate (ticket_core.py's batch-1t)."""
TOP_FUNCTIONS = 25
"""Functions listed by own time, and by time left in "other", in the profile row's JSON."""
PYSPY_RATE_HZ = 250
"""py-spy samples per second: ~2,500 stacks per 10 s per busy thread, enough for shares of a few
percent; it pauses the daemon briefly per sample, so more would cost throughput."""
PYSPY_MARGIN_S = 1.0
"""The py-spy window starts this long after the load does and ends this long before it."""
PYSPY_SLACK_S = 30.0
"""py-spy attaches, samples for its duration and writes its file; past this slack it is stuck."""
GRPC_CLIENT_SLACK_S = 60.0
"""A gRPC client process ends within its run time plus startup; past this slack it is stuck."""


@dataclass(frozen=True, slots=True)
class Timing:
    """How long each phase runs: --quick or the full mode."""

    closed_s: float
    step_s: float
    refine_steps: int
    warmup_s: float
    native_sample_s: float
    grpc_s: float
    profile_s: float

    @staticmethod
    def of(quick: bool) -> Timing:
        if quick:
            return Timing(closed_s=3.0, step_s=2.0, refine_steps=1, warmup_s=1.0, native_sample_s=0.5,
                          grpc_s=3.0, profile_s=5.0)
        return Timing(closed_s=10.0, step_s=5.0, refine_steps=2, warmup_s=2.0, native_sample_s=1.0,
                      grpc_s=10.0, profile_s=10.0)


@dataclass(frozen=True, slots=True)
class Options:
    timing: Timing
    processes: int
    offer: OfferShape
    chain_static_extra: tuple[str, ...]
    profile_dir: str | None = None
    limits_extra: tuple[str, ...] = ()


def load_average() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


# ---------------------------------------------------------------- the open-loop ladder

def passes(step: Json) -> bool:
    p99 = step["p99_ms"]
    return (float(step["achieved_fraction"] or 0) >= ACHIEVED_MIN_FRACTION
            and p99 is not None and float(p99) <= P99_MAX_MS)


def ladder(pool: LoadPool, timing: Timing) -> Json:
    """Step the rate up LADDER until a step saturates (or P99_FAILS_MAX steps fail on p99), then
    bisect ``refine_steps`` times between the highest passing rate and the lowest failing one."""
    steps: list[Json] = []
    p99_fails = 0
    for rate in LADDER:
        step = _step(pool, rate, timing)
        steps.append(step)
        if float(step["achieved_fraction"] or 0) < ACHIEVED_MIN_FRACTION:
            break
        p99_fails = 0 if step["pass"] else p99_fails + 1
        if p99_fails >= P99_FAILS_MAX:
            break
    for _ in range(timing.refine_steps):
        low, high = _bracket(steps)
        if high is None or high - low < 10:
            break
        steps.append(_step(pool, round((low + high) / 2), timing))
    best = max((float(s["target_per_s"]) for s in steps if s["pass"]), default=None)
    return {"highest_passing_per_s": best, "steps": steps}


def _step(pool: LoadPool, rate: float, timing: Timing) -> Json:
    time.sleep(SETTLE_S)
    step = pool.phase("open", timing.step_s, rate=rate)
    step["pass"] = passes(step)
    step["load_average"] = load_average()
    print(f"    open {rate:>6.0f}/s: achieved {step['calls_per_s']:>7}/s p50 {step['p50_ms']} "
          f"p99 {step['p99_ms']} ms unsent {step['unsent']} errors {step['errors']} "
          f"{'pass' if step['pass'] else 'FAIL'}", flush=True)
    return step


def _bracket(steps: Sequence[Json]) -> tuple[float, float | None]:
    """The highest passing rate and the lowest failing rate above it (None: nothing failed)."""
    rates = [(float(s["target_per_s"]), bool(s["pass"])) for s in steps]
    low = max((rate for rate, ok in rates if ok), default=0.0)
    high = min((rate for rate, ok in rates if not ok and rate > low), default=None)
    return low, high


def closed(pool: LoadPool, seconds: float, label: str = "closed") -> Json:
    time.sleep(SETTLE_S)
    result = pool.phase("closed", seconds)
    result["load_average"] = load_average()
    print(f"    {label}: {result['calls_per_s']}/s p50 {result['p50_ms']} p99 {result['p99_ms']} ms "
          f"errors {result['errors']}", flush=True)
    return result


# ---------------------------------------------------------------- the native reference

def native_rate(sample_s: float, samples: int = 3) -> Json:
    """Tickets/s of sign_ticket_batch, batches of NATIVE_BATCH, one thread: ``samples`` runs of
    ``sample_s`` in this process (the daemon stopped), and their median."""
    from clearinghouse import pm

    pm.require_native()
    rates = []
    for _ in range(samples):
        signed, started = 0, time.perf_counter()
        while time.perf_counter() - started < sample_s:
            pm.sign_ticket_batch(b"\x11" * 32, b"\x73" * 20, b"\x19" * 20, 105, (2**256 - 1) // 3,
                                 b"\x42" * 32, 3500, b"\x41" * 32, 1, NATIVE_BATCH)
            signed += NATIVE_BATCH
        rates.append(signed / (time.perf_counter() - started))
    return {"samples_per_s": [round(r) for r in rates], "median_per_s": round(statistics.median(rates))}


def native_around(options: Options, measure: Callable[[], Json]) -> tuple[Json, float]:
    """Run ``measure`` between two native-rate measurements; returns its result with the native
    figures added, and the median of all native samples (the ratios' denominator)."""
    before = native_rate(options.timing.native_sample_s)
    result = measure()
    after = native_rate(options.timing.native_sample_s)
    samples = [*before["samples_per_s"], *after["samples_per_s"]]
    native = float(statistics.median(samples))
    result["native_single_thread_tickets_per_s"] = {"before": before, "after": after, "median_per_s": round(native)}
    print(f"    native core, one thread, batches of {NATIVE_BATCH}: {round(native)} tickets/s "
          f"(samples {samples})", flush=True)
    return result, native


# ---------------------------------------------------------------- daemon runs

Measure = Callable[[LoadPool, Sequence[bench_daemon.Daemon], Sequence[bench_daemon.Gateway]], Json]


def run_daemons(options: Options, database_url: str, daemon_count: int, gateways: int, sessions_per_gateway: int,
                measure: Measure, *, grpc: bool = False, profile_out: Path | None = None,
                profile_timer: str = "wall") -> Json:
    """Start ``daemon_count`` daemons on one database ("sqlite": a fresh file), drive them with
    one pool whose sessions are dealt evenly over the daemons, stop them, verify the ledger."""
    with tempfile.TemporaryDirectory(prefix="signing-path-") as tmp:
        directory = Path(tmp)
        if database_url == "sqlite":
            database_url = f"sqlite:///{directory / 'ledger.sqlite3'}"
        specs = [DaemonSpec(free_port(), free_port() if grpc else None, options.chain_static_extra, options.limits_extra)
                 for _ in range(daemon_count)]
        with bench_daemon.daemons(directory, database_url, specs, gateways, profile_out,
                                  profile_timer) as (running, made):
            targets = [Target("127.0.0.1", running[n % daemon_count].http_port,
                              made[n // sessions_per_gateway].api_key)
                       for n in range(gateways * sessions_per_gateway)]
            with LoadPool(targets, options.processes, options.offer) as pool:
                pool.phase("closed", options.timing.warmup_s)  # connections, sessions, caches
                if profile_out is not None:
                    running[0].arm_profiler()
                result = measure(pool, running, made)
        return result | _after_stop(running)


def _after_stop(running: Sequence[bench_daemon.Daemon]) -> Json:
    """How the daemons ended, what they logged (warning and above), and the ledger's verdict."""
    lines = [line for daemon in running for line in daemon.error_lines()]
    verify = bench_daemon.verify_ledger(running[0].config)
    stops = [daemon.stopped for daemon in running]
    print(f"    daemons stopped: {stops}; ledger verify: {'ok' if verify['ok'] else 'FAILED'}; "
          f"daemon log lines (warning+): {len(lines)}", flush=True)
    return {"daemon_stops": stops, "daemon_log_lines": len(lines),
            "daemon_log_sample": [line[:400] for line in lines[:5]], "ledger_verify": verify}


def ladder_and_closed(timing: Timing) -> Measure:
    def measure(pool: LoadPool, *_: object) -> Json:
        return {"closed": closed(pool, timing.closed_s), "open": ladder(pool, timing)}
    return measure


# ---------------------------------------------------------------- rows

def row_generator(options: Options) -> Json:
    """The generator against canned_signer.py (its own process): closed-loop maximum with one
    process and with --processes, and GENERATOR_CHECK_RATE open loop with --processes."""
    port = free_port()
    seconds = options.timing.closed_s
    server = subprocess.Popen([sys.executable, str(HERE / "canned_signer.py"), "--port", str(port),
                               "--seconds", str(10 * seconds + 60)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        server.stdout.readline()
        targets = [Target("127.0.0.1", port, "chk_canned")] * SESSIONS
        result: Json = {}
        for processes in sorted({1, options.processes}):
            with LoadPool(targets, processes, options.offer) as pool:
                pool.phase("closed", options.timing.warmup_s)
                result[f"closed_{processes}_process"] = closed(pool, seconds, f"closed, {processes} process(es)")
        with LoadPool(targets, options.processes, options.offer) as pool:
            check = pool.phase("open", options.timing.step_s * 2, rate=GENERATOR_CHECK_RATE)
        check["pass"] = passes(check)
        print(f"    open {GENERATOR_CHECK_RATE}/s: achieved {check['calls_per_s']}/s p99 {check['p99_ms']} ms "
              f"{'pass' if check['pass'] else 'FAIL'}", flush=True)
        return result | {"open_check": check, "load_average": load_average()}
    finally:
        server.terminate()
        server.wait(bench_daemon.STOP_TIMEOUT_S)


def row_sqlite(options: Options) -> Json:
    result, native = native_around(
        options, lambda: run_daemons(options, "sqlite", 1, 1, SESSIONS, ladder_and_closed(options.timing)))
    best = result["open"]["highest_passing_per_s"]
    result["open_over_native"] = None if best is None else round(best / native, 5)
    result["closed_over_native"] = round(result["closed"]["calls_per_s"] / native, 5)
    return result


def row_postgresql(options: Options) -> Json:
    result: Json = {}
    for daemons in (1, 2):
        print(f"  PostgreSQL, {daemons} daemon(s), {PG_GATEWAYS} gateways x {PG_SESSIONS_PER_GATEWAY} sessions",
              flush=True)
        with bench_daemon.scratch_postgres() as url:
            result[f"daemons_{daemons}"] = run_daemons(options, url, daemons, PG_GATEWAYS, PG_SESSIONS_PER_GATEWAY,
                                                       ladder_and_closed(options.timing))
    one, two = result["daemons_1"], result["daemons_2"]
    result["two_over_one_closed"] = round(two["closed"]["calls_per_s"] / one["closed"]["calls_per_s"], 3)
    best_one, best_two = one["open"]["highest_passing_per_s"], two["open"]["highest_passing_per_s"]
    result["two_over_one_open"] = round(best_two / best_one, 3) if best_one and best_two else None
    return result


def row_grpc(options: Options) -> Json:
    def measure(pool: LoadPool, running: Sequence[bench_daemon.Daemon],
                made: Sequence[bench_daemon.Gateway]) -> Json:
        http = closed(pool, options.timing.grpc_s, "http GeneratePayment")
        target = f"127.0.0.1:{running[0].grpc_port}"
        payments = _grpc_client("payments", target, made[0].api_key, options)
        tickets = _grpc_client("tickets", target, made[0].api_key, options)
        return {"http_generate_payment": http, "grpc_generate_payment": payments, "grpc_sign_tickets": tickets}

    result, native = native_around(options, lambda: run_daemons(options, "sqlite", 1, 1, GRPC_SESSIONS,
                                                                measure, grpc=True))
    http, payments, tickets = (result["http_generate_payment"], result["grpc_generate_payment"],
                               result["grpc_sign_tickets"])
    result["grpc_over_http_calls"] = round(payments["calls_per_s"] / http["calls_per_s"], 3)
    result["sign_tickets_over_native"] = round(tickets["tickets_per_s"] / native, 4)
    return result


def _grpc_client(mode: str, target: str, api_key: str, options: Options) -> Json:
    time.sleep(SETTLE_S)
    seconds = options.timing.grpc_s
    done = subprocess.run(
        [sys.executable, str(HERE / "grpc_load.py"), "--mode", mode, "--target", target, "--api-key", api_key,
         "--sessions", str(GRPC_SESSIONS), "--seconds", str(seconds),
         "--creation-round-block-hash", options.offer.creation_round_block_hash_hex],
        capture_output=True, text=True, check=True, timeout=seconds + GRPC_CLIENT_SLACK_S)
    result: Json = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_average"] = load_average()
    print(f"    grpc {mode}: {result['calls_per_s']} calls/s, {result['tickets_per_s']} tickets/s, "
          f"p50 {result['p50_ms']} p99 {result['p99_ms']} ms errors {result['errors']}", flush=True)
    return result


def row_profile(options: Options) -> Json:
    """The SQLite daemon during a closed loop: under per-thread cProfile (wall clock, then CPU
    time), then unprofiled and sampled by py-spy when it is installed (low overhead)."""
    result: Json = {}
    for timer in ("wall", "cpu"):
        result[f"cprofile_{timer}"] = _cprofile_run(options, timer)
    pyspy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    result["pyspy"] = (_pyspy_run(options, pyspy) if pyspy is not None
                       else {"skipped": "py-spy not installed (.venv/bin/pip install py-spy)"})
    return result


def _cprofile_run(options: Options, timer: str) -> Json:
    with tempfile.TemporaryDirectory(prefix="signing-path-profile-") as tmp:
        out = Path(tmp) / "daemon.prof"

        def measure(pool: LoadPool, *_: object) -> Json:
            return {"closed": closed(pool, options.timing.profile_s, f"closed under cProfile ({timer})")}

        run = run_daemons(options, "sqlite", 1, 1, SESSIONS, measure, profile_out=out, profile_timer=timer)
        run["budget"] = daemon_profile.budget(str(out))
        run["top_own_time"] = daemon_profile.top_functions(str(out), TOP_FUNCTIONS)
        run["top_other"] = daemon_profile.unattributed(str(out), TOP_FUNCTIONS)
        if options.profile_dir is not None:
            shutil.copy(out, Path(options.profile_dir) / f"daemon-cprofile-{timer}.prof")
    return run


def _pyspy_run(options: Options, pyspy: str) -> Json:
    """An unprofiled closed loop (the reference for the profilers' overhead), then a longer one
    with py-spy sampling the daemon in its middle for ``profile_s``."""
    seconds = options.timing.profile_s

    def measure(pool: LoadPool, running: Sequence[bench_daemon.Daemon], *_: object) -> Json:
        reference = closed(pool, seconds, "closed, no profiler")
        with tempfile.TemporaryDirectory(prefix="signing-path-pyspy-") as tmp:
            raw = Path(tmp) / "pyspy.txt"
            loaded: Json = {}
            load = threading.Thread(target=lambda: loaded.update(
                closed(pool, seconds + 2 * PYSPY_MARGIN_S, "closed, sampled by py-spy")))
            load.start()
            try:
                time.sleep(SETTLE_S + PYSPY_MARGIN_S)  # the sampling window lies inside the load
                sampled = _pyspy_record(pyspy, running[0].process.pid, seconds, raw)
            finally:
                load.join()
            calls = round(float(loaded["calls_per_s"]) * seconds)
            budget = daemon_profile.pyspy_budget(str(raw), calls, PYSPY_RATE_HZ)
            if options.profile_dir is not None:
                shutil.copy(raw, Path(options.profile_dir) / "daemon-pyspy.txt")
        return {"closed_unprofiled": reference, "closed_sampled": loaded, "pyspy": sampled, "budget": budget}

    return run_daemons(options, "sqlite", 1, 1, SESSIONS, measure)


def _pyspy_record(pyspy: str, pid: int, seconds: float, raw: Path) -> Json:
    done = subprocess.run([pyspy, "record", "--pid", str(pid), "--duration", str(round(seconds)),
                           "--rate", str(PYSPY_RATE_HZ), "--gil", "--format", "raw", "--full-filenames",
                           "--output", str(raw)],
                          capture_output=True, text=True, check=False, timeout=seconds + PYSPY_SLACK_S)
    return {"exit": done.returncode, "said": done.stdout.strip().splitlines()[-2:] + done.stderr.strip().splitlines()[-2:]}


ROW_RUNNERS: dict[str, Callable[[Options], Json]] = {
    "generator": row_generator, "sqlite": row_sqlite, "postgresql": row_postgresql, "grpc": row_grpc,
    "profile": row_profile,
}


# ---------------------------------------------------------------- report

def _fmt(value: object, unit: str = "") -> str:
    return "-" if value is None else f"{value}{unit}"


def _verify(run: Json) -> str:
    return "ok" if run["ledger_verify"]["ok"] else "FAILED"


def summary_lines(doc: Json) -> list[str]:
    """The short human table: one line per figure of the issue's table, plus the checks."""
    rows: dict[str, Json] = doc["rows"]
    lines = ["| measurement | figure |", "|---|---|"]
    if "generator" in rows:
        g = rows["generator"]
        closed_runs = ", ".join(f"{k.split('_')[1]} proc {v['calls_per_s']}/s" for k, v in g.items()
                                if k.startswith("closed_"))
        check = g["open_check"]
        lines.append(f"| generator vs trivial server: closed loop | {closed_runs} |")
        lines.append(f"| generator: open loop {GENERATOR_CHECK_RATE}/s | achieved {check['calls_per_s']}/s, "
                     f"p99 {check['p99_ms']} ms, {'pass' if check['pass'] else 'FAIL'} |")
    if "sqlite" in rows:
        s = rows["sqlite"]
        native = s["native_single_thread_tickets_per_s"]["median_per_s"]
        lines.append(f"| SQLite, 64 sessions: calls/s with p99 <= 20 ms (open loop) | "
                     f"{_fmt(s['open']['highest_passing_per_s'])} |")
        lines.append(f"| SQLite, 64 sessions: closed-loop max | {s['closed']['calls_per_s']}/s, "
                     f"p50 {s['closed']['p50_ms']} ms, p99 {s['closed']['p99_ms']} ms |")
        lines.append(f"| the same / native single-thread ({native} tickets/s) | open {_fmt(s['open_over_native'])}, "
                     f"closed {s['closed_over_native']} |")
    if "postgresql" in rows:
        p = rows["postgresql"]
        for n in (1, 2):
            run = p[f"daemons_{n}"]
            lines.append(f"| PostgreSQL, {n} daemon(s), 16 gateways x 4 sessions: closed loop | "
                         f"{run['closed']['calls_per_s']}/s, p50 {run['closed']['p50_ms']} ms, "
                         f"p99 {run['closed']['p99_ms']} ms; open loop p99 <= 20 ms: "
                         f"{_fmt(run['open']['highest_passing_per_s'])}/s |")
        lines.append(f"| PostgreSQL, two daemons / one | closed {p['two_over_one_closed']}, "
                     f"open {_fmt(p['two_over_one_open'])} |")
    if "grpc" in rows:
        r = rows["grpc"]
        native = r["native_single_thread_tickets_per_s"]["median_per_s"]
        lines.append(f"| gRPC SignTickets x 10: tickets/s / native | {r['grpc_sign_tickets']['tickets_per_s']} / "
                     f"{native} = {r['sign_tickets_over_native']} |")
        lines.append(f"| gRPC GeneratePayment / HTTP (16 sessions) | {r['grpc_generate_payment']['calls_per_s']} / "
                     f"{r['http_generate_payment']['calls_per_s']} = {r['grpc_over_http_calls']} |")
    failures = [f"{name}: {_failed_calls(row)}" for name, row in rows.items()]
    lines.append(f"| calls not answered 200 (errors, timeouts) | {'; '.join(failures)} |")
    verdicts = [f"{name}: {_verify(run)}" for name, run in _daemon_runs(rows)]
    if verdicts:
        lines.append(f"| ledger verify after each daemon run | {'; '.join(verdicts)} |")
    return lines + _budget_lines(rows.get("profile"))


def _failed_calls(node: object) -> int:
    """Every non-200 answer and timeout anywhere in a row's figures (calls a saturated open-loop
    step never sent are not failures: they are in its "unsent")."""
    if isinstance(node, list):
        return sum(_failed_calls(item) for item in node)
    if not isinstance(node, dict):
        return 0
    own = sum(node["errors"].values()) if isinstance(node.get("errors"), dict) else 0
    return own + sum(_failed_calls(value) for key, value in node.items() if key != "errors")


def _daemon_runs(rows: dict[str, Json]) -> list[tuple[str, Json]]:
    runs: list[tuple[str, Json]] = []
    for name in ("sqlite", "grpc"):
        if name in rows:
            runs.append((name, rows[name]))
    if "postgresql" in rows:
        runs += [(f"postgresql x{n}", rows["postgresql"][f"daemons_{n}"]) for n in (1, 2)]
    if "profile" in rows:
        runs += [(f"profile {key}", run) for key, run in rows["profile"].items()
                 if isinstance(run, dict) and "ledger_verify" in run]
    return runs


def _budget_lines(profile: Json | None) -> list[str]:
    if profile is None:
        return []
    budgets = {"cProfile wall": profile["cprofile_wall"]["budget"],
               "cProfile CPU": profile["cprofile_cpu"]["budget"]}
    if "budget" in profile["pyspy"]:
        budgets["py-spy, GIL held"] = profile["pyspy"]["budget"]
    calls = ", ".join(f"{name}: {b['calls']} calls" for name, b in budgets.items())
    lines = ["", f"Per-call budget, µs per signing call summed over all threads ({calls})", "",
             "| category | " + " | ".join(budgets) + " |", "|---|" + "---:|" * len(budgets)]
    names = list(next(iter(budgets.values()))["us_per_call"])
    for name in names:
        lines.append(f"| {name} | " + " | ".join(_fmt(b["us_per_call"].get(name)) for b in budgets.values()) + " |")
    totals = [round(sum(v for v in b["us_per_call"].values() if v), 1) for b in budgets.values()]
    lines.append("| total | " + " | ".join(str(t) for t in totals) + " |")
    rates = [profile["cprofile_wall"]["closed"]["calls_per_s"], profile["cprofile_cpu"]["closed"]["calls_per_s"]]
    if "budget" in profile["pyspy"]:
        rates.append(profile["pyspy"]["closed_sampled"]["calls_per_s"])
        lines.append(f"| closed-loop calls/s while profiled (unprofiled: "
                     f"{profile['pyspy']['closed_unprofiled']['calls_per_s']}) | "
                     + " | ".join(str(r) for r in rates) + " |")
    return lines


def run_info() -> Json:
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(HERE), *args], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    return {"started_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "commit": git("rev-parse", "HEAD"), "package_dirty": bool(git("status", "--porcelain", "--", "clearinghouse")),
            "cores": os.cpu_count(), "load_average_at_start": load_average(), "python": sys.version.split()[0]}


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("rows", nargs="*", metavar="ROW", help=f"rows to measure, of {', '.join(ROWS)} "
                        "(default: all but profile)")
    parser.add_argument("--quick", action="store_true", help="short phases (~2 minutes for the default rows)")
    parser.add_argument("--profile", action="store_true", help="add the profile row")
    parser.add_argument("--json", help="write the JSON document here too")
    parser.add_argument("--profile-dir", help="keep the merged pstats files of the profile row here")
    parser.add_argument("--processes", type=int, default=1,
                        help="load generator processes (one reaches 2x the target on this VM; see the generator row)")
    parser.add_argument("--creation-round-block-hash", default=CREATION_ROUND_BLOCK_HASH.hex(),
                        help="hex of the offers' creation-round block hash (32 bytes)")
    parser.add_argument("--limits-setting", action="append", default=[],
                        help="an extra 'key = value' line for the daemons' [limits] (repeatable)")
    parser.add_argument("--chain-static-setting", action="append", default=[],
                        help="an extra 'key = value' line for the daemons' [chain.static] (repeatable)")
    args = parser.parse_args()
    if args.processes < 1:
        parser.error("--processes must be at least 1")
    unknown = sorted(set(args.rows) - set(ROWS))
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {', '.join(ROWS)}")
    if len(bytes.fromhex(args.creation_round_block_hash)) != 32:
        parser.error("--creation-round-block-hash must be 32 bytes of hex")
    return args


def _stop_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C: as SystemExit, so every ``finally`` stops the daemons,
    the generator workers and the trivial server, and drops the scratch databases."""
    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


def main() -> None:
    _stop_on_sigterm()
    args = arguments()
    rows = list(args.rows or DEFAULT_ROWS) + (["profile"] if args.profile and "profile" not in args.rows else [])
    static = list(args.chain_static_setting)
    if not any(line.split("=")[0].strip() == "current_round_block_hash" for line in static):
        # The signer signs only for its static round with the hash configured for it: the offers'.
        static.append(f'current_round_block_hash = "0x{args.creation_round_block_hash}"')
    options = Options(Timing.of(args.quick), args.processes,
                      OfferShape(creation_round_block_hash_hex=args.creation_round_block_hash),
                      tuple(static), args.profile_dir, tuple(args.limits_setting))
    doc: Json = {"run": run_info() | {"quick": args.quick, "processes": args.processes,
                                                   "rows": rows,
                                                   "timing": {f: getattr(options.timing, f) for f in Timing.__slots__}},
                              "rows": {}}
    if args.profile_dir is not None:
        Path(args.profile_dir).mkdir(parents=True, exist_ok=True)
    for name in rows:
        print(f"== {name}", flush=True)
        started = time.monotonic()
        doc["rows"][name] = ROW_RUNNERS[name](options)
        doc["rows"][name]["row_seconds"] = round(time.monotonic() - started, 1)
        doc["run"]["finished_utc"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        if args.json:  # after every row: a later row's failure keeps what was measured
            Path(args.json).write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc, indent=1))
    print("\n".join(summary_lines(doc)))


if __name__ == "__main__":
    main()
