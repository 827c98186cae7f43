"""The long fuzz run (issues #9, #18): the properties of tests/fuzz/ for a time budget instead of the
suite's fixed example counts, on one fresh stack (real HTTP and gRPC servers on loopback over a
migrated SQLite ledger, see tests/fuzz/conftest.py). The ``cost_*`` targets (test_decoder_cost.py)
time every decoder an outsider reaches on inputs built to be slow and fail on a cost per byte
that grows with the input; given longer, their search climbs further toward each worst case.

    python benchmarks/fuzz_long.py --minutes 5 [--targets payment_json,state_blob] [--seed 1]

The budget is shared equally by the targets; each runs hypothesis (random, not derandomized, no
example database) in rounds of --round-examples until its share is spent. Prints, per target,
the examples tried and the time, then any failure with its shrunk input; exits 1 on a failure.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzz import (  # noqa: E402
    test_admin,
    test_dashboard,
    test_decoder_cost,
    test_grpc,
    test_remote_signer,
    test_v1_json,
)
from tests.fuzz.conftest import FuzzStack, fuzz_stack  # noqa: E402

Target = tuple[Callable[[FuzzStack], st.SearchStrategy[Any]], Callable[[FuzzStack, Any], None]]
TARGETS: dict[str, Target] = {
    **test_remote_signer.TARGETS, **test_grpc.TARGETS, **test_v1_json.TARGETS, **test_admin.TARGETS,
    **test_dashboard.TARGETS, **test_decoder_cost.TARGETS,
}


def run_target(stack: FuzzStack, name: str, target: Target, budget_s: float, round_examples: int,
               rng: random.Random) -> tuple[int, float, str | None]:
    """Fuzz one target until ``budget_s`` is spent: (examples tried, seconds, failure or None)."""
    strategy_of, check = target
    tried = 0

    def property_(example: Any) -> None:
        nonlocal tried
        tried += 1
        check(stack, example)

    started = time.monotonic()
    while time.monotonic() - started < budget_s:
        test = settings(max_examples=round_examples, deadline=None, database=None, derandomize=False,
                        suppress_health_check=list(HealthCheck))(given(strategy_of(stack))(property_))
        try:
            seed(rng.getrandbits(64))(test)()
        except Exception:  # a failing property (hypothesis re-raises it after shrinking)
            return tried, time.monotonic() - started, traceback.format_exc(limit=3)
    return tried, time.monotonic() - started, None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="total budget, shared by the targets")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated subset of: " + ", ".join(TARGETS))
    parser.add_argument("--round-examples", type=int, default=100, help="examples per hypothesis round")
    parser.add_argument("--seed", type=int, default=None, help="seed of the rounds' seeds (default: random)")
    args = parser.parse_args()
    names = [name for name in args.targets.split(",") if name]
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}")
    master_seed = args.seed if args.seed is not None else random.SystemRandom().getrandbits(32)
    rng = random.Random(master_seed)
    logging.disable(logging.CRITICAL)  # a server's logged 500 shows up as the property's failure
    budget_s = args.minutes * 60 / len(names)
    print(f"fuzzing {len(names)} targets for {args.minutes:g} min ({budget_s:.0f} s each), seed {master_seed}")
    failures: list[tuple[str, str]] = []
    total = 0
    with tempfile.TemporaryDirectory(prefix="clearinghouse-fuzz-long-") as directory, \
            fuzz_stack(Path(directory)) as stack:
        for name in names:
            tried, spent_s, failure = run_target(stack, name, TARGETS[name], budget_s, args.round_examples, rng)
            total += tried
            status = "FAILED" if failure else "ok"
            print(f"{name:28} {tried:7d} examples {spent_s:6.0f} s {tried / max(spent_s, 1e-9):7.0f}/s  {status}",
                  flush=True)
            if failure:
                failures.append((name, failure))
    print(f"total {total} examples, {len(failures)} failing targets")
    for name, failure in failures:
        print(f"\n--- {name} ---\n{failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
