"""gRPC clients of the signing-path benchmark, each run as its own process: closed-loop sessions
calling clearinghouse.v1 GeneratePayment (one ticket per call, the state threaded from call to
call, fresh params every PARAMS_CALLS_MAX calls) or SignTickets (TICKETS_PER_CALL tickets per
call, unique request ids, fresh params every TICKET_CALLS_PER_PARAMS calls).

Usage: python benchmarks/grpc_load.py --mode payments|tickets --target HOST:PORT --api-key KEY
           [--sessions 16] [--seconds 10] [--creation-round-block-hash HEX]
Prints one JSON line: calls, errors by gRPC status, calls/s, tickets/s, p50/p99/max in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

import grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from session_load import CREATION_ROUND_BLOCK_HASH, PARAMS_CALLS_MAX, OfferShape, orchestrator_info  # noqa: E402

from clearinghouse.proto import clearinghouse_pb2 as pb  # noqa: E402
from clearinghouse.proto import clearinghouse_pb2_grpc, lp_rpc_pb2  # noqa: E402

CALL_TIMEOUT_S = 10.0
"""A call slower than this is a failure of the run (DEADLINE_EXCEEDED), not a latency sample."""
TICKETS_PER_CALL = 10
TICKET_CALLS_PER_PARAMS = PARAMS_CALLS_MAX // TICKETS_PER_CALL
"""SignTickets calls per recipientRandHash: 40 x 10 = 400 nonces, as the HTTP sessions."""


def percentile_ms(ordered: list[float], fraction: float) -> float | None:
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 2) if ordered else None


def summary(samples: list[float], elapsed_s: float, errors: dict[str, int], tickets_per_call: int) -> dict[str, object]:
    ordered = sorted(samples)
    ok = len(samples) - sum(errors.values())
    return {"calls_ok": ok, "errors": errors, "seconds": round(elapsed_s, 2),
            "calls_per_s": round(ok / elapsed_s, 1), "tickets_per_s": round(ok * tickets_per_call / elapsed_s, 1),
            "p50_ms": percentile_ms(ordered, 0.50), "p99_ms": percentile_ms(ordered, 0.99),
            "max_ms": percentile_ms(ordered, 1.0)}


async def payments_session(stub: clearinghouse_pb2_grpc.ClearinghouseStub, metadata: tuple[tuple[str, str], ...],
                           offer: OfferShape, number: int, deadline: float, samples: list[float],
                           errors: dict[str, int]) -> None:
    state: pb.PaymentState | None = None
    calls, info = PARAMS_CALLS_MAX, lp_rpc_pb2.OrchestratorInfo()
    while time.perf_counter() < deadline:
        if calls >= PARAMS_CALLS_MAX:  # fresh params, the same session state (as go-livepeer)
            info, calls = lp_rpc_pb2.OrchestratorInfo.FromString(orchestrator_info(offer)), 0
        request = pb.GeneratePaymentRequest(orchestrator=info, state=state, type="fixed",
                                            manifest_id=f"grpc-{number}")
        start = time.perf_counter()
        try:
            state = (await stub.GeneratePayment(request, metadata=metadata, timeout=CALL_TIMEOUT_S)).state
        except grpc.aio.AioRpcError as error:
            errors[error.code().name] = errors.get(error.code().name, 0) + 1
            state = None
        samples.append(time.perf_counter() - start)
        calls += 1


async def tickets_session(stub: clearinghouse_pb2_grpc.ClearinghouseStub, metadata: tuple[tuple[str, str], ...],
                          offer: OfferShape, number: int, deadline: float, samples: list[float],
                          errors: dict[str, int]) -> None:
    calls, info, sent = TICKET_CALLS_PER_PARAMS, lp_rpc_pb2.OrchestratorInfo(), 0
    while time.perf_counter() < deadline:
        if calls >= TICKET_CALLS_PER_PARAMS:
            info, calls = lp_rpc_pb2.OrchestratorInfo.FromString(orchestrator_info(offer)), 0
        request = pb.SignTicketsRequest(request_id=f"bench-{number}-{sent}-{os.getpid()}",
                                        ticket_params=info.ticket_params, price_info=info.price_info,
                                        ticket_count=TICKETS_PER_CALL)
        start = time.perf_counter()
        try:
            await stub.SignTickets(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            errors[error.code().name] = errors.get(error.code().name, 0) + 1
        samples.append(time.perf_counter() - start)
        calls, sent = calls + 1, sent + 1


async def run(mode: str, target: str, api_key: str, sessions: int, seconds: float, offer: OfferShape) -> dict[str, object]:
    metadata = (("authorization", f"Bearer {api_key}"),)
    samples: list[float] = []
    errors: dict[str, int] = {}
    session = payments_session if mode == "payments" else tickets_session
    async with grpc.aio.insecure_channel(target) as channel:
        stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)  # type: ignore[no-untyped-call]  # generated, untyped
        started = time.perf_counter()
        await asyncio.gather(*(session(stub, metadata, offer, n, started + seconds, samples, errors)
                               for n in range(sessions)))
        elapsed = time.perf_counter() - started
    return {"mode": mode, "sessions": sessions,
            **summary(samples, elapsed, errors, 1 if mode == "payments" else TICKETS_PER_CALL)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["payments", "tickets"], required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--creation-round-block-hash", default=CREATION_ROUND_BLOCK_HASH.hex())
    args = parser.parse_args()
    offer = OfferShape(creation_round_block_hash_hex=args.creation_round_block_hash)
    print(json.dumps(asyncio.run(run(args.mode, args.target, args.api_key, args.sessions, args.seconds, offer))))


if __name__ == "__main__":
    main()
