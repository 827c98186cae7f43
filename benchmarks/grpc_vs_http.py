"""gRPC against HTTP on one daemon: GeneratePayment calls/s and latency, and SignTickets tickets/s.

Starts `clearinghouse serve` once (SQLite ledger, static chain view, [http] and [grpc] on loopback
ports), then, each from its own client process and for a bounded time:

1. http:  /generate-live-payment through benchmarks/load_generator.py (raw asyncio HTTP/1.1
          keep-alive; `fixed` billing at the ticket EV, so one ticket per call);
2. grpc:  GeneratePayment with the same offers and sessions from a grpc.aio client;
3. tickets: SignTickets of 10 tickets per call (fresh params every 50 calls, unique request ids).

Then the native ticket core's single-thread rate (batches of 100 in this process, with the daemon
idle) and the SignTickets rate as a ratio of it, and `clearinghouse ledger verify`.

Usage: python benchmarks/grpc_vs_http.py [--sessions 16] [--seconds 10]
Prints one JSON line per measurement and a summary line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from load_generator import PARAMS_CALLS_MAX, orchestrator_info  # noqa: E402
from remote_signer import L1_BLOCK, free_port, prepare_ledger, wait_ready, write_config  # noqa: E402

from clearinghouse import pm  # noqa: E402
from clearinghouse.proto import clearinghouse_pb2 as pb  # noqa: E402
from clearinghouse.proto import clearinghouse_pb2_grpc, lp_rpc_pb2  # noqa: E402

CALL_TIMEOUT_S = 10.0
"""A call slower than this is a failure of the run, not a latency sample."""
TICKETS_PER_CALL = 10
TICKET_CALLS_PER_PARAMS = 50
"""SignTickets calls per recipientRandHash: 50 x 10 = 500 nonces, under the 600 cap."""
NATIVE_SECONDS = 2.0
STOP_TIMEOUT_S = 30.0


def summary(samples: list[float], elapsed: float, errors: dict[str, int], unit_per_call: int = 1) -> dict[str, object]:
    ordered = sorted(samples)

    def percentile(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2) if ordered else None

    return {
        "calls": len(samples),
        "errors": errors,
        "calls_per_s": round(len(samples) / elapsed, 1),
        "tickets_per_s": round(len(samples) * unit_per_call / elapsed, 1),
        "p50_ms": percentile(0.50),
        "p99_ms": percentile(0.99),
        "max_ms": percentile(1.0),
    }


async def grpc_payments(target: str, api_key: str, sessions: int, seconds: float) -> dict[str, object]:
    metadata = (("authorization", f"Bearer {api_key}"),)
    samples: list[float] = []
    errors: dict[str, int] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)
        deadline = time.perf_counter() + seconds

        async def session() -> None:
            state: pb.PaymentState | None = None
            calls, info = PARAMS_CALLS_MAX, lp_rpc_pb2.OrchestratorInfo()
            while time.perf_counter() < deadline:
                if calls >= PARAMS_CALLS_MAX:
                    info = lp_rpc_pb2.OrchestratorInfo.FromString(orchestrator_info(L1_BLOCK, int(time.time())))
                    calls, state = 0, None
                request = pb.GeneratePaymentRequest(orchestrator=info, state=state, type="fixed", manifest_id="bench")
                start = time.perf_counter()
                try:
                    answer = await stub.GeneratePayment(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
                    state = answer.state
                except grpc.aio.AioRpcError as error:
                    errors[error.code().name] = errors.get(error.code().name, 0) + 1
                    state = None
                samples.append(time.perf_counter() - start)
                calls += 1

        started = time.perf_counter()
        await asyncio.gather(*(session() for _ in range(sessions)))
        return summary(samples, time.perf_counter() - started, errors)


async def grpc_tickets(target: str, api_key: str, sessions: int, seconds: float) -> dict[str, object]:
    metadata = (("authorization", f"Bearer {api_key}"),)
    samples: list[float] = []
    errors: dict[str, int] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)
        deadline = time.perf_counter() + seconds

        async def session(number: int) -> None:
            calls, info, sent = TICKET_CALLS_PER_PARAMS, lp_rpc_pb2.OrchestratorInfo(), 0
            while time.perf_counter() < deadline:
                if calls >= TICKET_CALLS_PER_PARAMS:
                    info = lp_rpc_pb2.OrchestratorInfo.FromString(orchestrator_info(L1_BLOCK, int(time.time())))
                    calls = 0
                request = pb.SignTicketsRequest(
                    request_id=f"bench-{number}-{sent}-{os.getpid()}", ticket_params=info.ticket_params,
                    price_info=info.price_info, ticket_count=TICKETS_PER_CALL,
                )
                start = time.perf_counter()
                try:
                    await stub.SignTickets(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
                except grpc.aio.AioRpcError as error:
                    errors[error.code().name] = errors.get(error.code().name, 0) + 1
                samples.append(time.perf_counter() - start)
                calls, sent = calls + 1, sent + 1

        started = time.perf_counter()
        await asyncio.gather(*(session(n) for n in range(sessions)))
        return summary(samples, time.perf_counter() - started, errors, TICKETS_PER_CALL)


def native_rate() -> float:
    """Tickets/s of the native core on one thread: batches of 100, for NATIVE_SECONDS."""
    pm.require_native()
    key, recipient, sender = b"\x11" * 32, b"\x73" * 20, b"\x19" * 20
    signed, started = 0, time.perf_counter()
    while time.perf_counter() - started < NATIVE_SECONDS:
        pm.sign_ticket_batch(key, recipient, sender, 105, (2**256 - 1) // 3, b"\x42" * 32, 3500, b"\x41" * 32, 1, 100)
        signed += 100
    return signed / (time.perf_counter() - started)


def client(mode: str, target: str, api_key: str, sessions: int, seconds: float) -> None:
    """The client process of one measurement: prints its JSON line."""
    run = grpc_payments if mode == "grpc" else grpc_tickets
    print(json.dumps(asyncio.run(run(target, api_key, sessions, seconds))))


def measure(mode: str, args: argparse.Namespace, http_port: int, grpc_port: int, api_key: str) -> dict[str, object]:
    if mode == "http":
        command = [sys.executable, str(HERE / "load_generator.py"), "--url", f"http://127.0.0.1:{http_port}",
                   "--api-key", api_key, "--connections", str(args.sessions), "--seconds", str(args.seconds),
                   "--l1-block", str(L1_BLOCK)]
    else:
        command = [sys.executable, __file__, "--client", mode, "--target", f"127.0.0.1:{grpc_port}",
                   "--api-key", api_key, "--sessions", str(args.sessions), "--seconds", str(args.seconds)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=args.seconds + 60)
    result: dict[str, object] = {"measurement": mode, **json.loads(done.stdout.strip().splitlines()[-1])}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--client", choices=["grpc", "tickets"], help=argparse.SUPPRESS)
    parser.add_argument("--target", help=argparse.SUPPRESS)
    parser.add_argument("--api-key", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client(args.client, args.target, args.api_key, args.sessions, args.seconds)
        return
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        http_port, grpc_port = free_port(), free_port()
        database_url = f"sqlite:///{directory / 'ledger.sqlite3'}"
        config = write_config(directory, database_url, http_port)
        with config.open("a") as toml:
            toml.write(f'[grpc]\nhost = "127.0.0.1"\nport = {grpc_port}\n')
        api_key = prepare_ledger(database_url, (directory / "pepper.txt").read_text())
        daemon = subprocess.Popen([sys.executable, "-m", "clearinghouse", "serve", "--config", str(config),
                                   "--log-level", "warning"], stdout=subprocess.DEVNULL)
        try:
            wait_ready(http_port, daemon)
            results = [measure(mode, args, http_port, grpc_port, api_key) for mode in ("http", "grpc", "tickets")]
        finally:
            daemon.send_signal(signal.SIGINT)
            daemon.wait(STOP_TIMEOUT_S)
        native = native_rate()
        verify = subprocess.run([sys.executable, "-m", "clearinghouse", "ledger", "verify", "--config", str(config)],
                                capture_output=True, text=True, check=False)
    for result in results:
        print(json.dumps(result))
    http, over_grpc, tickets = results
    print(json.dumps({
        "grpc_over_http_calls": round(float(str(over_grpc["calls_per_s"])) / float(str(http["calls_per_s"])), 3),
        "sign_tickets_per_s": tickets["tickets_per_s"],
        "native_single_thread_tickets_per_s": round(native, 1),
        "sign_tickets_over_native": round(float(str(tickets["tickets_per_s"])) / native, 3),
        "ledger_verify": verify.stdout.strip().splitlines()[-1] if verify.stdout.strip() else verify.stderr.strip(),
    }))


if __name__ == "__main__":
    main()
