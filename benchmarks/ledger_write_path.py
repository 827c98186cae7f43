"""The ledger's share of one signing call: PaymentService.generate_payment, in process, one thread.

Each call signs one ticket for one gateway on one session (the state returned by the previous
call is sent back, like a go-livepeer gateway), so it exercises the whole write path: the kill
switch read, the session lock, the head check, the last-nonce read, credit control, and the record
(head, signing record, ticket, postings, balances, per-day spend rows) in one transaction.
No HTTP and no threads: beyond signing and encoding the state, the time is the ledger's.

Usage: python benchmarks/ledger_write_path.py [DATABASE_URL] [--calls 300] [--profile]
Without a URL a fresh SQLite file in a temporary directory is used. The schema is upgraded to
head and a fresh gateway (credit mode, 1 ETH limit) is created on every run, so a PostgreSQL
database can be reused. Prints the backend, ms per call and calls/s; --profile adds the top
of a cProfile run of the same calls.

Recorded 2026-11-22 (python-svc, 2 cores, other sessions loading the machine: load ~1.2; median
of 3 interleaved runs, 300 calls each; PostgreSQL 127.0.0.1 on the same machine):

| ledger write path                                        | SQLite ms/call | PostgreSQL ms/call |
|----------------------------------------------------------|---------------:|-------------------:|
| ORM unit of work, savepoint, kill switch in its own txn  |   9.1 (110/s)  |   13.6 (74/s)      |
| + Core statements, no savepoint, rows not read back      |   3.9          |    9.1             |
| + accounts read once, no idempotency query past the head |   3.4          |    7.7             |
| + kill switch read in the signing transaction (all)      |   3.0 (334/s)  |    5.6 (177/s)     |

Per call: 20 statements (two BEGINs, a SAVEPOINT and its RELEASE) before, 14 (one BEGIN). On
SQLite about 1–1.5 ms of what is left is the commit's fsync (synchronous=FULL; measured by
rerunning with synchronous=OFF), and about 1 ms is the service outside the ledger (signing,
state encoding).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load_generator import orchestrator_info  # noqa: E402

from clearinghouse import ledger  # noqa: E402
from clearinghouse.domain.credit import CreditMode
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.signer.calls import Caller, PaymentCall
from clearinghouse.signer.service import PaymentService  # noqa: E402

WARMUP_CALLS = 20
"""Calls before timing: pools connect, statement caches fill, the session row exists."""

PROFILE_LINES_MAX = 30
"""Rows of the cProfile table printed with --profile."""

CREDIT_LIMIT_WEI = 10**18
"""Far above what the run spends, so credit control checks every call and refuses none."""


def main() -> None:
    args = _arguments()
    url = args.url or f"sqlite:///{tempfile.mkdtemp()}/ledger.sqlite3"
    ledger.upgrade_to_head(url)
    db = ledger.open_database(url)
    call = _caller(db)
    for _ in range(WARMUP_CALLS):
        call()
    profile = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profile is not None:
        profile.enable()
    for _ in range(args.calls):
        call()
    if profile is not None:
        profile.disable()
    elapsed_s = time.perf_counter() - started
    print(
        f"{db.backend}: {elapsed_s / args.calls * 1000:.2f} ms per call, "
        f"{args.calls / elapsed_s:.0f} calls/s ({args.calls} calls, 1 ticket each)"
    )
    if profile is not None:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(PROFILE_LINES_MAX)
    db.dispose()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", nargs="?", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--calls", type=int, default=300, help="timed calls (default 300)")
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of the timed calls"
    )
    return parser.parse_args()


def _caller(db: ledger.Database) -> Callable[[], None]:
    """A closure making one call on one session, feeding each answer's state into the next."""
    gateway = ledger.create_gateway(db, f"bench-{os.getpid()}-{time.time_ns()}")
    ledger.set_credit_policy(
        db,
        gateway.id,
        mode=CreditMode.CREDIT,
        credit_limit_wei=CREDIT_LIMIT_WEI,
        actor="benchmark",
        reason="ledger write path benchmark",
    )
    chain = ChainView(10**18, 10**18, 0, 3500, 100, round_block_hashes=((3500, b"\x41" * 32),))
    service = PaymentService(db, b"\x11" * 32, lambda: chain, PaymentPolicy())
    caller = Caller(gateway.id, None)
    info = orchestrator_info(100, int(time.time()))
    state: bytes | None = None
    signature: bytes | None = None

    def call() -> None:
        nonlocal state, signature
        request = PaymentCall(info, state, signature, "m", "fixed", 0, "", None, None)
        result = service.generate_payment(caller, request)
        state, signature = result.state, result.state_signature

    return call


if __name__ == "__main__":
    main()
