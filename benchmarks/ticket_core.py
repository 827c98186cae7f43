"""Throughput of the ticket core against the physical limit and the pure-Python paths.

Measures, in one process and interleaved round by round (so that frequency drift and
neighbours hit every path alike), tickets (or signatures) per second of:

  raw            bare secp256k1_ecdsa_sign_recoverable on one digest, from C, same libsecp256k1
                 build and context the core uses (clearinghouse.pm._native.raw_sign_loop)
  batch-1t       sign_ticket_batch (ticket hash + EIP-191 prefix hash + sign), one thread
  batch-1t-c1    the same with one ticket per call (the per-call overhead)
  batch-2t       sign_ticket_batch on two threads at once
  python         the best pure-Python path: pycryptodome keccak + coincurve sign_recoverable
  eth-account    the reference core: pycryptodome keccak + eth-account sign_message

Usage: python benchmarks/ticket_core.py [--rounds 5] [--seconds 1.0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import coincurve
from Crypto.Hash import keccak

from clearinghouse.pm import _native as native
from clearinghouse.pm import reference

KEY = b"\x11" * 32
TICKET = (b"\x73" * 20, native.private_key_to_address(KEY), 10**15, (2**256 - 1) // 100,
          b"\xf3" * 32, 3500, b"\x41" * 32)
BATCH_SIZE = 100
PERSONAL_PREFIX_32 = b"\x19Ethereum Signed Message:\n32"


def keccak256(data: bytes) -> bytes:
    return keccak.new(digest_bits=256, data=data).digest()


def python_ticket(private_key: coincurve.PrivateKey, nonce: int) -> tuple[bytes, bytes]:
    """One ticket the fastest way pure Python can: no validation, coincurve for the curve."""
    recipient, sender, face_value, win_prob, rand_hash, round_, block_hash = TICKET
    digest = keccak256(
        recipient + sender + face_value.to_bytes(32, "big") + win_prob.to_bytes(32, "big")
        + nonce.to_bytes(32, "big") + rand_hash + round_.to_bytes(32, "big") + block_hash
    )
    signature = private_key.sign_recoverable(keccak256(PERSONAL_PREFIX_32 + digest), hasher=None)
    return digest, signature[:64] + bytes([signature[64] + 27])


def rate(run: Callable[[int], int], seconds: float) -> float:
    """Operations per second of ``run(n)`` (which returns how many it did) over ~``seconds``."""
    run(1)
    start = time.perf_counter()
    run(1)
    calls = max(1, round(seconds / max(time.perf_counter() - start, 1e-9)))
    start = time.perf_counter()
    done = run(calls)
    return done / (time.perf_counter() - start)


def raw(n: int) -> int:
    native.raw_sign_loop(KEY, b"\x22" * 32, n * BATCH_SIZE)
    return n * BATCH_SIZE


def batches(n: int, size: int = BATCH_SIZE) -> int:
    for i in range(n):
        native.sign_ticket_batch(KEY, *TICKET, 1 + (i * size) % 400, size)
    return n * size


def single_ticket_calls(n: int) -> int:
    return batches(n * BATCH_SIZE, size=1)


def two_threads(n: int) -> int:
    per_thread = max(1, n // 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return sum(pool.map(batches, [per_thread, per_thread]))


def python_path(n: int) -> int:
    private_key = coincurve.PrivateKey(KEY)
    for nonce in range(n * 10):
        python_ticket(private_key, nonce)
    return n * 10


def eth_account_path(n: int) -> int:
    for _ in range(n):
        reference.sign_ticket_batch(KEY, *TICKET, 1, 10)
    return n * 10


PATHS: dict[str, Callable[[int], int]] = {
    "raw": raw,
    "batch-1t": batches,
    "batch-1t-c1": single_ticket_calls,
    "batch-2t": two_threads,
    "python": python_path,
    "eth-account": eth_account_path,
}


def check_paths_agree() -> None:
    """The pure-Python path must produce what the core produces, or its rate means nothing."""
    expected = native.sign_ticket_batch(KEY, *TICKET, 7, 1)[0]
    if python_ticket(coincurve.PrivateKey(KEY), 7) != expected:
        raise SystemExit("python path disagrees with the native core")
    if reference.sign_ticket_batch(KEY, *TICKET, 7, 1)[0] != expected:
        raise SystemExit("reference core disagrees with the native core")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="per path per round")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    check_paths_agree()
    samples: dict[str, list[float]] = {name: [] for name in PATHS}
    for round_number in range(args.rounds):
        for name, run in PATHS.items():
            samples[name].append(rate(run, args.seconds))
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)
    median = {name: statistics.median(values) for name, values in samples.items()}
    ratios = {
        "batch-1t / raw (target >= 0.95)": median["batch-1t"] / median["raw"],
        "batch-1t-c1 / raw": median["batch-1t-c1"] / median["raw"],
        "batch-2t / batch-1t (target >= 1.85)": median["batch-2t"] / median["batch-1t"],
        "batch-1t / eth-account (target >= 8)": median["batch-1t"] / median["eth-account"],
        "python / raw": median["python"] / median["raw"],
        "eth-account / raw": median["eth-account"] / median["raw"],
    }
    print(f"{'path':<14}{'median /s':>12}  samples")
    for name, values in samples.items():
        print(f"{name:<14}{median[name]:>12.0f}  " + " ".join(f"{v:.0f}" for v in values))
    for label, value in ratios.items():
        print(f"{label:<40}{value:>8.3f}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": platform.processor() or platform.machine(), "rounds": args.rounds,
                       "seconds": args.seconds, "samples": samples, "median": median,
                       "ratios": ratios}, out, indent=2)


if __name__ == "__main__":
    main()
