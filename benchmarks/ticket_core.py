"""Throughput of the ticket core against the physical limit and the pure-Python paths.

Measures, in one process, tickets (or signatures) per second of:

  raw            bare secp256k1_ecdsa_sign_recoverable on one digest, from C, same libsecp256k1
                 build and context the core uses (clearinghouse.pm._native.raw_sign_loop)
  batch-1t       sign_ticket_batch (ticket hash + EIP-191 prefix hash + sign), one thread
  batch-1t-c1    the same with one ticket per call (the per-call overhead)
  batch-2t       sign_ticket_batch on two threads at once
  raw-2t         the raw loop on two threads: what two cores of this machine deliver right now
  python         the best pure-Python path: pycryptodome keccak + coincurve sign_recoverable
  eth-account    the reference core: pycryptodome keccak + eth-account sign_message

Each ratio is the median over N pairs of back-to-back measurements of its two paths (0.2 s each,
order alternating), which cancels the drift of a shared 2-core VM far better than medians of
separate runs.

Usage: python benchmarks/ticket_core.py [--pairs 15] [--seconds 0.2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
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


def raw_two_threads(n: int) -> int:
    per_thread = max(1, n // 2)
    with ThreadPoolExecutor(max_workers=2) as pool:
        return sum(pool.map(raw, [per_thread, per_thread]))


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
    "raw-2t": raw_two_threads,
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


RATIOS: list[tuple[str, str, str, float | None]] = [
    # (numerator path, denominator path, label, target)
    ("batch-1t", "raw", "batch-1t / raw", 0.95),
    ("batch-1t-c1", "raw", "batch-1t-c1 / raw", None),
    ("batch-2t", "batch-1t", "batch-2t / batch-1t", 1.85),
    ("raw-2t", "raw", "raw-2t / raw (the machine)", None),
    ("batch-1t", "eth-account", "batch-1t / eth-account", 8.0),
    ("python", "raw", "python / raw", None),
    ("eth-account", "raw", "eth-account / raw", None),
]


def paired_ratio(numerator: str, denominator: str, pairs: int, seconds: float) -> tuple[float, list[float]]:
    """Median over ``pairs`` of rate(numerator) / rate(denominator), each pair measured back to
    back for ``seconds`` per side, so that drift and neighbours affect both sides alike."""
    ratios = []
    for index in range(pairs):
        # Alternate which side goes first, so a trend within a pair cancels too.
        first, second = (numerator, denominator) if index % 2 == 0 else (denominator, numerator)
        rates = {first: rate(PATHS[first], seconds), second: rate(PATHS[second], seconds)}
        ratios.append(rates[numerator] / rates[denominator])
    return statistics.median(ratios), ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15, help="paired measurements per ratio")
    parser.add_argument("--seconds", type=float, default=0.2, help="per side of a pair")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    check_paths_agree()
    absolute = {name: rate(run, 1.0) for name, run in PATHS.items()}
    print(f"{'path':<14}{'per second (one 1 s run, for scale)':>38}")
    for name, value in absolute.items():
        print(f"{name:<14}{value:>38.0f}")
    results = {}
    for numerator, denominator, label, target in RATIOS:
        median, samples = paired_ratio(numerator, denominator, args.pairs, args.seconds)
        results[label] = {"median": median, "target": target, "samples": samples}
        verdict = "" if target is None else ("  meets target" if median >= target else f"  BELOW target {target}")
        spread = f"[{min(samples):.3f} .. {max(samples):.3f}]"
        print(f"{label:<26}{median:>8.3f}  {spread}{verdict}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"machine": platform.processor() or platform.machine(), "pairs": args.pairs,
                       "seconds": args.seconds, "absolute": absolute, "ratios": results}, out, indent=2)


if __name__ == "__main__":
    main()
