"""Run `clearinghouse` under cProfile in every thread, and turn the profile into a per-call µs
budget by category.

`python -m cProfile` sees only the main thread, but the daemon signs and writes the ledger on its
worker threads. As a launcher (`daemon_profile.py --out FILE --timer wall|cpu -- serve ...`) this
module gives the main thread and every thread started afterwards a profiler of its own from the
moment it is armed (ARM_SIGNAL, sent once the daemon is warm; --armed: from the start), runs the
CLI, and on exit (SIGINT: uvicorn's graceful stop joins the worker threads first) merges the
profiles of the main thread and of every finished thread into one pstats file. ``--timer cpu``
measures each thread's CPU time (time.thread_time: waits for the GIL, locks, fsync and the network
cost nothing), ``wall`` its elapsed time (they do).

``budget`` attributes the merged profile to CATEGORIES without double counting: each function's
own time (tottime) goes to the category of the nearest enclosing root function, found by walking
the caller edges and splitting a function with several callers in proportion to the time each
edge brought it (gprof's assumption). Time under no root is "other". Dividing by the number of
``PaymentService.payment_work`` calls gives µs per call. After a rewrite, adapt the roots in
CATEGORIES: each names (file suffix, function name) as pstats prints them.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Function = tuple[str, int, str]
"""A pstats key: (file name, first line, function name)."""

SHARE_ITERATIONS_MAX = 500
"""Passes of the share fixed point: call chains are tens deep, cycles short; it settles in far
fewer, and a bound keeps a pathological profile from looping."""
SHARE_TOLERANCE = 1e-9

TIMERS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.thread_time}

CALL_COUNTER = ("signer/service.py", "payment_work")
"""The function called once per signing call: its call count is the budget's denominator
(``generate_payment`` before group commit; the HTTP route now calls ``payment_work`` and awaits
the committer's batch)."""


@dataclass(frozen=True, slots=True)
class Category:
    """A row of the budget: the functions whose time (and that of everything they call, unless a
    nested root claims it) belongs to it."""

    name: str
    roots: tuple[tuple[str, str], ...]


# Order matters only for reading; nesting decides attribution (the nearest root wins). A root
# name ending in "*" matches by prefix; "*" alone matches every function of the file. Cython
# functions (the native core) make no profiler events: their time is the own time of the Python
# function that calls them, which is why "sign" names the callers of sign_ticket_batch and
# personal_sign, and the encoding functions those callers call are roots of their own.
CATEGORIES: tuple[Category, ...] = (
    Category("HTTP/ASGI (uvicorn protocol, app, routing, auth cache, metrics, logging context)", (
        ("uvicorn/protocols/http/httptools_impl.py", "*"),
        ("uvicorn/protocols/utils.py", "*"),
        ("clearinghouse/api/server.py", "connection_made"),
        ("clearinghouse/api/server.py", "connection_lost"),
        ("clearinghouse/api/server.py", "data_received"),
        ("clearinghouse/api/server.py", "on_message_begin"),
        ("clearinghouse/api/server.py", "on_headers_complete"),
        ("clearinghouse/api/http.py", "*"),
        ("clearinghouse/api/api_keys.py", "*"),
        ("clearinghouse/api/metrics.py", "*"),
        ("clearinghouse/api/requests.py", "*"),
    )),
    Category("decode (request JSON, base64, offer protobuf, request digest)", (
        ("clearinghouse/api/payloads.py", "decode_payment_request"),
        ("clearinghouse/signer/wire.py", "decode_offer"),
        ("clearinghouse/signer/wire.py", "decode_capabilities"),
        ("clearinghouse/signer/service.py", "_request_digest"),
    )),
    Category("state check (state blob JSON, signer recovery, head check)", (
        ("clearinghouse/signer/service.py", "_open_previous"),
        ("clearinghouse/signer/service.py", "_check_head"),
    )),
    Category("plan (price, EV, nonces, chain view, policy)", (
        ("clearinghouse/signer/service.py", "_plan"),
        ("clearinghouse/signer/service.py", "_continued"),
        ("clearinghouse/signer/service.py", "tightened"),
    )),
    Category("sign (native: ticket batch, SegData and state signatures)", (
        ("clearinghouse/signer/ledger_signer.py", "_sign_tickets_on"),
        ("clearinghouse/signer/service.py", "_sign"),
        ("clearinghouse/signer/service.py", "sign_payment"),
        ("clearinghouse/signer/service.py", "_segment_signature"),
    )),
    Category("encode (Payment, SegData, state, record, stored and HTTP answers)", (
        ("clearinghouse/signer/wire.py", "build_payment"),
        ("clearinghouse/signer/wire.py", "build_seg_data"),
        ("clearinghouse/signer/state.py", "encode_state"),
        ("clearinghouse/signer/service.py", "_signing_call"),
        ("clearinghouse/signer/service.py", "_encode_response"),
        ("clearinghouse/api/payloads.py", "payment_body"),
        ("~", "<method 'SerializeToString'*"),
    )),
    Category("database statements (ledger code, SQLAlchemy, driver)", (
        ("clearinghouse/ledger/sessions.py", "*"),
        ("clearinghouse/ledger/transactions.py", "*"),
        ("clearinghouse/ledger/batch.py", "*"),
        ("clearinghouse/ledger/batch_credit.py", "*"),
        ("clearinghouse/ledger/batch_writes.py", "*"),
        ("clearinghouse/ledger/statements.py", "*"),
        ("sqlalchemy/engine/base.py", "execute"),
    )),
    Category("commit (COMMIT: SQLite fsync / PostgreSQL round trip)", (
        ("sqlalchemy/engine/base.py", "commit"),
        ("~", "<method 'commit' of 'sqlite3.Connection' objects>"),
        ("psycopg/connection.py", "commit"),
    )),
    Category("service glue (payment_work and the committer's batch loop, clock, rate snapshot)", (
        ("clearinghouse/signer/service.py", "generate_payment"),
        ("clearinghouse/signer/service.py", "payment_work"),
        ("clearinghouse/signer/service.py", "__call__"),
        ("clearinghouse/ledger/committer.py", "*"),
    )),
    Category("event loop (uvloop's C: sockets, HTTP parsing; seen by py-spy only)", (
        ("asyncio/runners.py", "run"),
    )),
    Category("wait: locks (SQLite writer turn, pools)", (
        ("~", "<method 'acquire' of '_thread.lock' objects>"),
    )),
    Category("idle: worker threads waiting for work", (
        ("~", "<method 'get' of '_queue.SimpleQueue' objects>"),
        ("threading.py", "wait"),
    )),
)
OTHER = "other (startup, logging, context, threads)"


# ---------------------------------------------------------------- the launcher (daemon side)

ARM_SIGNAL = signal.SIGUSR1
"""Sent by the benchmark once the daemon is warm: profiling starts then, so startup (imports,
migrations check, mapper configuration) and warm-up calls stay out of the per-call budget."""

_ARMED = threading.Event()
_PROFILES: list[tuple[threading.Thread, cProfile.Profile]] = []
_PROFILES_LOCK = threading.Lock()


def _thread_hook(timer: Callable[[], float]) -> Callable[..., Any]:
    """The threading.setprofile hook of every new thread: once armed, on the thread's next
    event, swap itself for a profiler of that thread's own (cProfile keeps one stack per Profile,
    so threads cannot share one). Until then it only checks the flag."""

    def hook(*_: object) -> None:
        if not _ARMED.is_set():
            return
        sys.setprofile(None)
        profile = cProfile.Profile(timer)
        with _PROFILES_LOCK:
            _PROFILES.append((threading.current_thread(), profile))
        profile.enable()

    return hook


def launch(out: str, timer_name: str, argv: Sequence[str], armed: bool) -> None:
    """Run the clearinghouse CLI with ``argv`` under per-thread profilers, armed now or at
    ARM_SIGNAL; write the merged profile to ``out`` on the way out."""
    from clearinghouse.cli import main as cli_main

    timer = TIMERS[timer_name]
    main_profile = cProfile.Profile(timer)

    def arm(*_: object) -> None:
        if not _ARMED.is_set():
            _ARMED.set()
            main_profile.enable()  # the main thread (event loop) runs signal handlers

    signal.signal(ARM_SIGNAL, arm)
    threading.setprofile(_thread_hook(timer))
    sys.argv = ["clearinghouse", *argv]
    if armed:
        arm()
    try:
        cli_main()
    except SystemExit:
        pass
    finally:
        main_profile.disable()
        threading.setprofile(None)
        _write(out, main_profile)


def _write(out: str, main_profile: cProfile.Profile) -> None:
    """Merge the main thread's profile with those of finished threads. A thread still running
    (a daemon thread of the chain view or rate book) is skipped: reading a profile its thread is
    still writing is not safe, and such threads do no per-call work."""
    stats = pstats.Stats(main_profile)
    with _PROFILES_LOCK:
        finished = [profile for thread, profile in _PROFILES if not thread.is_alive()]
        skipped = len(_PROFILES) - len(finished)
    for profile in finished:
        stats.add(profile)
    stats.dump_stats(out)
    print(f"profile: main thread + {len(finished)} threads merged, {skipped} still running skipped",
          file=sys.stderr)


# ---------------------------------------------------------------- the budget (benchmark side)

def _name_matches(name: str, pattern: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern


def _matches(function: Function, roots: Sequence[tuple[str, str]]) -> bool:
    filename, _, name = function
    return any(filename.endswith(suffix) and _name_matches(name, pattern) for suffix, pattern in roots)


def _root_category(function: Function) -> str | None:
    for category in CATEGORIES:
        if _matches(function, category.roots):
            return category.name
    return None


def _shares(raw: Mapping[Function, Any]) -> dict[Function, dict[str, float]]:
    """For each function, the fraction of its time each category owns (see the module doc).

    A root owns itself; any other function takes its callers' shares weighted by the time each
    caller edge brought it. Call cycles (SQLAlchemy re-enters execute for BEGIN) make this a
    fixed point, found by iterating until no share moves by more than SHARE_TOLERANCE."""
    roots = {function: _root_category(function) for function in raw}
    edges: dict[Function, list[tuple[Function, float]]] = {}
    for function, entry in raw.items():
        if roots[function] is not None:
            continue
        weights = [(caller, edge[3]) for caller, edge in entry[4].items() if caller != function and caller in raw]
        total = sum(weight for _, weight in weights)
        if total > 0:
            edges[function] = [(caller, weight / total) for caller, weight in weights]
    shares: dict[Function, dict[str, float]] = {
        function: ({root: 1.0} if root is not None else {}) for function, root in roots.items()}
    for _ in range(SHARE_ITERATIONS_MAX):
        moved = 0.0
        for function, callers in edges.items():
            new: dict[str, float] = {}
            for caller, fraction in callers:
                for name, share in shares[caller].items():
                    new[name] = new.get(name, 0.0) + share * fraction
            old = shares[function]
            moved = max(moved, *(abs(new.get(k, 0.0) - old.get(k, 0.0)) for k in {*new, *old}), 0.0)
            shares[function] = new
        if moved < SHARE_TOLERANCE:
            break
    return shares


def budget(profile_path: str) -> dict[str, object]:
    """µs per signing call by category (the categories' total is the profiled time ÷ calls)."""
    raw: Mapping[Function, Any] = pstats.Stats(profile_path).stats  # type: ignore[attr-defined]
    shares = _shares(raw)
    totals: dict[str, float] = {category.name: 0.0 for category in CATEGORIES} | {OTHER: 0.0}
    for function, (_, _, tottime, _, _) in raw.items():
        owned = shares.get(function, {})
        for name, fraction in owned.items():
            totals[name] += tottime * fraction
        totals[OTHER] += tottime * (1.0 - sum(owned.values()))
    calls = _signing_calls(raw)
    per_call = {name: round(seconds / calls * 1e6, 1) if calls else None for name, seconds in totals.items()}
    return {"calls": calls, "us_per_call": per_call,
            "roots": {category.name: [f"{suffix}:{name}" for suffix, name in category.roots]
                      for category in CATEGORIES}}


def unattributed(profile_path: str, count: int) -> list[dict[str, object]]:
    """The ``count`` functions whose own time went most to "other": where to add a root."""
    raw: Mapping[Function, Any] = pstats.Stats(profile_path).stats  # type: ignore[attr-defined]
    shares = _shares(raw)
    calls = _signing_calls(raw) or 1
    rest = {function: entry[2] * (1.0 - sum(shares.get(function, {}).values())) for function, entry in raw.items()}
    ranked = sorted(rest.items(), key=lambda item: item[1], reverse=True)[:count]
    return [{"function": _function_text(function), "other_us_per_call": round(seconds / calls * 1e6, 1)}
            for function, seconds in ranked]


def _function_text(function: Function) -> str:
    filename, line, name = function
    return name if filename == "~" else f"{filename}:{line}({name})"


def _signing_calls(raw: Mapping[Function, Any]) -> int:
    return sum(entry[1] for function, entry in raw.items()
               if function[2] == CALL_COUNTER[1] and function[0].endswith(CALL_COUNTER[0]))


def top_functions(profile_path: str, count: int) -> list[dict[str, object]]:
    """The ``count`` functions with the most own time, µs per signing call, for the report."""
    raw: Mapping[Function, Any] = pstats.Stats(profile_path).stats  # type: ignore[attr-defined]
    calls = _signing_calls(raw) or 1
    ranked = sorted(raw.items(), key=lambda item: item[1][2], reverse=True)[:count]
    return [{"function": f"{_function_text(function)}", "calls_per_call": round(entry[1] / calls, 2),
             "own_us_per_call": round(entry[2] / calls * 1e6, 1), "cum_us_per_call": round(entry[3] / calls * 1e6, 1)}
            for function, entry in ranked]


# ---------------------------------------------------------------- py-spy samples (benchmark side)

PYSPY_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")
"""A frame of py-spy's raw output: "function (file:line)"."""


def _frame_key(frame: str) -> Function:
    match = PYSPY_FRAME.match(frame.strip())
    if match is None:
        return ("~", 0, frame.strip())
    # py-spy qualifies methods with their class ("PaymentService.generate_payment"); pstats not.
    return (match["file"], 0, match["name"].rsplit(".", 1)[-1])


def pyspy_budget(raw_path: str, calls: int, rate_hz: int) -> dict[str, object]:
    """µs per signing call by category from py-spy's raw samples of the thread holding the GIL
    (``py-spy record --gil --format raw``): the interpreter time a call costs, the resource every
    thread of the daemon shares. Work done with the GIL released (the native signing loop, SQLite
    statements and fsync, socket I/O in uvloop) is not in it. Each sample goes to the category of
    the deepest root on its stack: no gprof assumption, and no instrumentation cost inflating
    call-heavy code. ``calls``: signing calls answered while sampling."""
    totals: dict[str, float] = {category.name: 0.0 for category in CATEGORIES} | {OTHER: 0.0}
    samples = 0
    with open(raw_path) as raw:
        for line in raw:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = [_frame_key(frame) for frame in stack.split(";")]
            category = next((c for c in map(_root_category, reversed(frames)) if c is not None), OTHER)
            totals[category] += int(count) / rate_hz
            samples += int(count)
    per_call = {name: round(seconds / calls * 1e6, 1) if calls else None for name, seconds in totals.items()}
    return {"calls": calls, "samples": samples, "rate_hz": rate_hz, "us_per_call": per_call}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="merged pstats file to write")
    parser.add_argument("--timer", choices=sorted(TIMERS), default="wall")
    parser.add_argument("--armed", action="store_true",
                        help=f"profile from the start instead of from the first {ARM_SIGNAL.name}")
    parser.add_argument("argv", nargs=argparse.REMAINDER, help="-- then the clearinghouse CLI arguments")
    args = parser.parse_args()
    argv = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    launch(args.out, args.timer, argv, args.armed)


if __name__ == "__main__":
    main()
