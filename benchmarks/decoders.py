"""Worst-case cost per request byte of every decoder an outsider reaches (issue #18).

For each decoder, each input family known to be hard for it (and the ones the cost fuzzer in
tests/fuzz/test_decoder_cost.py climbs toward) is built at 4, 16 and 64 KiB and decoded
--repeat times on this thread's CPU clock; the best time per byte is printed. A linear decoder
keeps the same ns/byte at every size (the last column, 64 KiB ÷ 4 KiB, stays near 1); a quadratic
one multiplies it by the size ratio (16).

    python benchmarks/decoders.py [--repeat 5] [--markdown]

Run against another checkout with PYTHONPATH=<checkout> to compare (decoders missing there are
skipped). Results: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.api.conftest import ORCHESTRATOR_B64  # noqa: E402
from tests.signer.builders import orchestrator_info  # noqa: E402

SIZES = (4 * 1024, 16 * 1024, 64 * 1024)
VALID_INFO = orchestrator_info().SerializeToString()
PAYMENT_PREFIX = b'{"orchestrator":"' + ORCHESTRATOR_B64.encode() + b'","x":'

Family = Callable[[int], bytes]


def repeat_to(unit: bytes, size: int, prefix: bytes = b"") -> bytes:
    return (prefix + unit * (size // len(unit) + 1))[:size]


JSON_FAMILIES: dict[str, Family] = {
    "unterminated escaped quotes": lambda n: repeat_to(b'"\\', n, b"[]" * 9),
    "empty arrays, one left open": lambda n: repeat_to(b"[]", n - 1) + b"[",
    "empty arrays": lambda n: repeat_to(b"[]", n),
    "openings": lambda n: repeat_to(b"[", n),
    "short strings": lambda n: repeat_to(b'"a",', n, b"["),
    "escapes in one string": lambda n: repeat_to(b"\\u00e9", n, b'["') + b'"]',
    "small integers": lambda n: repeat_to(b"1,", n, b"[") + b"1]",
    "long integers": lambda n: repeat_to(b"9" * 4000 + b",", n, b"[") + b"1]",
}
PROTOBUF_FAMILIES: dict[str, Family] = {
    "nested empty messages": lambda n: repeat_to(b"\x0a\x00", n),
    "unknown varint fields": lambda n: repeat_to(b"\x78\x01", n, VALID_INFO),
    "long varints": lambda n: repeat_to(b"\x08" + b"\xff" * 9 + b"\x01", n),
    "valid info then garbage": lambda n: repeat_to(b"\x80", n, VALID_INFO),
}
TEXT_FAMILIES: dict[str, Family] = {
    "many fields": lambda n: repeat_to(b"a=1&", n),
    "percent escapes": lambda n: repeat_to(b"%2", n),
    "separators": lambda n: repeat_to(b"&", n),
    "cookie pairs": lambda n: repeat_to(b"a=b; ", n),
}


def _function(module: str, name: str) -> Callable[..., object] | None:
    try:
        function: Callable[..., object] = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return function


def _decoder(module: str, name: str, *args: object) -> Callable[[bytes], object] | None:
    function = _function(module, name)
    return None if function is None else (lambda data: function(data, *args))


def decoders() -> dict[str, tuple[Callable[[bytes], object] | None, dict[str, Family]]]:
    from clearinghouse.proto import clearinghouse_pb2 as pb

    payloads = "clearinghouse.api.payloads"
    webhook_state = _decoder("clearinghouse.api.webhook", "state_object") or _decoder(
        "clearinghouse.api.webhook", "_state_object")
    v1_parse = _function("clearinghouse.api.v1_http", "parse_message") or _function("clearinghouse.api.v1_http", "_parse")
    return {
        "JSON depth guard (check_json_depth)": (_decoder(payloads, "check_json_depth", "body"), JSON_FAMILIES),
        "spec 02 body (decode_payment_request)": (
            _decoder(payloads, "decode_payment_request"), {k: _prefixed(f) for k, f in JSON_FAMILIES.items()}),
        "webhook state blob (state_object)": (webhook_state, JSON_FAMILIES),
        "/v1 JSON (json_format.Parse)": (
            None if v1_parse is None else (lambda data: v1_parse(pb.GeneratePaymentRequest, data)), JSON_FAMILIES),
        "admin body (parse_admin_body)": (_decoder("clearinghouse.api.admin_http", "parse_admin_body", {"reason"}),
                                          JSON_FAMILIES),
        "OrchestratorInfo (decode_offer)": (_decoder("clearinghouse.signer.wire", "decode_offer"), PROTOBUF_FAMILIES),
        "gRPC GeneratePaymentRequest": (lambda data: pb.GeneratePaymentRequest.FromString(data), PROTOBUF_FAMILIES),
        "dashboard form (parse_form)": (_decoder("clearinghouse.api.dashboard.routes", "parse_form"), TEXT_FAMILIES),
        "admin query (admin_query)": (_scoped("clearinghouse.api.admin_http", "admin_query", {"a"}), TEXT_FAMILIES),
    }


def _prefixed(family: Family) -> Family:
    return lambda n: PAYMENT_PREFIX + family(n - len(PAYMENT_PREFIX))


def _scoped(module: str, name: str, names: set[str]) -> Callable[[bytes], object] | None:
    function = _decoder(module, name, names)
    return None if function is None else (lambda data: function({"query_string": data, "headers": []}))


def cost_ns_per_byte(decode: Callable[[bytes], object], data: bytes, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.thread_time_ns()
        try:
            decode(data)
        except Exception:  # a refusal is an outcome: its cost is what is measured
            pass
        best = min(best, time.thread_time_ns() - started)
    return best / len(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--markdown", action="store_true", help="one table row per decoder's worst family")
    args = parser.parse_args()
    for decoder_name, (decode, families) in decoders().items():
        if decode is None:
            print(f"{decoder_name}: not in this checkout")
            continue
        rows = [(family, [cost_ns_per_byte(decode, make(size), args.repeat) for size in SIZES])
                for family, make in families.items()]
        worst_family, worst = max(rows, key=lambda row: row[1][-1])
        if args.markdown:
            print(f"| {decoder_name} | {worst_family} | " + " | ".join(f"{cost:.1f}" for cost in worst)
                  + f" | {worst[-1] / worst[0]:.2f} |")
            continue
        print(decoder_name)
        for family, costs in rows:
            print(f"  {family:32}" + "".join(f"{cost:10.1f}" for cost in costs) + f"   x{costs[-1] / costs[0]:.2f}")


if __name__ == "__main__":
    main()
