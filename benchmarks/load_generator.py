"""Load generator for /generate-live-payment: many concurrent remote-signer sessions, bounded in time.

Runs in its own process (so it does not share the daemon's GIL) and speaks HTTP/1.1 keep-alive over
raw asyncio streams, the cheapest client Python has, so that most of the machine goes to the daemon.
Each connection drives one session at a time: it sends the state the previous call returned, like
a go-livepeer gateway. The OrchestratorInfo asks for `fixed` billing at a price equal to the ticket
EV (35 wei), so every call signs exactly one ticket; a session takes fresh ticket params (a new
recipientRandHash) every PARAMS_CALLS_MAX calls, before the signer asks for a refresh.

Usage: python benchmarks/load_generator.py --url http://127.0.0.1:PORT --api-key KEY
           [--connections 32] [--seconds 10] [--l1-block N] [--config clearinghouse.toml]

The offers carry creation round 3500 with block hash 0x41…41 (the tests' static chain view);
the signer refuses any other round (issue 15), so against a live chain, such as a devnet, give
``--config`` with the daemon's configuration: the current round, its block hash and the L1
block are then read from its chain.
Prints one JSON line: calls, errors by status, calls/s, p50/p90/p99/max latency in ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import time
from urllib.parse import urlsplit

from clearinghouse.proto import lp_rpc_pb2

PARAMS_CALLS_MAX = 400
"""Calls per recipientRandHash before a session refreshes its params: below the nonce 500 at
which the signer answers 480 for fresh ones (go-livepeer v0.9.2; signer.limits.SENDER_NONCE_REFRESH_AT)."""

CALL_TIMEOUT_S = 10.0
"""A call slower than this is a failure of the run, not a latency sample."""

EV_35_FACE_VALUE = 105
WIN_PROB_THIRD = (2**256 - 1) // 3


def minimal_big_endian(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


STATIC_ROUND = (3500, b"\x41" * 32)
"""(creation round, its block hash) of the tests' and benchmarks' static chain view."""


def orchestrator_info(l1_block: int, now_s: int, offer_round: tuple[int, bytes] = STATIC_ROUND) -> bytes:
    """An offer with fresh random ticket params: price 35 wei per fixed unit, ticket EV 35 wei."""
    info = lp_rpc_pb2.OrchestratorInfo(transcoder="https://orchestrator.invalid:8935", address=b"\x73" * 20)
    info.price_info.pricePerUnit = 35
    info.price_info.pixelsPerUnit = 1
    params = info.ticket_params
    params.recipient = b"\x73" * 20
    params.face_value = minimal_big_endian(EV_35_FACE_VALUE)
    params.win_prob = minimal_big_endian(WIN_PROB_THIRD)
    params.recipient_rand_hash = os.urandom(32)
    params.seed = os.urandom(32)
    params.expiration_block = minimal_big_endian(l1_block + 10**9)
    params.expiration_params.creation_round = offer_round[0]
    params.expiration_params.creation_round_block_hash = offer_round[1]
    info.auth_token.token = b"token"
    info.auth_token.session_id = "bench"
    info.auth_token.expiration = now_s + 10**8
    return info.SerializeToString()


class Connection:
    """One keep-alive HTTP/1.1 connection; requests on it are sequential."""

    def __init__(self, host: str, port: int, api_key: str) -> None:
        self._host, self._port = host, port
        self._head = (
            f"POST /generate-live-payment HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {api_key}\r\nContent-Type: application/json\r\n"
        ).encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        assert self._reader is not None
        self._writer.write(self._head + b"Content-Length: %d\r\n\r\n" % len(body) + body)
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
            self._writer.close()
            self._writer = None
        return int(status_line.split()[1]), payload


async def drive(connection: Connection, l1_block: int, deadline: float, samples: list[float],
                errors: dict[int, int], offer_round: tuple[int, bytes] = STATIC_ROUND) -> None:
    """Run sessions on one connection until the deadline."""
    state: dict[str, str] | None = None
    calls_on_params = PARAMS_CALLS_MAX
    info = b""
    while time.perf_counter() < deadline:
        if calls_on_params >= PARAMS_CALLS_MAX:
            info, calls_on_params = orchestrator_info(l1_block, int(time.time()), offer_round), 0
        body = {"orchestrator": base64.b64encode(info).decode(), "type": "fixed", "ManifestID": "bench"}
        if state is not None:
            body["state"] = state  # type: ignore[assignment]
        start = time.perf_counter()
        status, payload = await asyncio.wait_for(connection.post(json.dumps(body).encode()), CALL_TIMEOUT_S)
        samples.append(time.perf_counter() - start)
        calls_on_params += 1
        if status == 200:
            state = json.loads(payload)["state"]
        else:
            errors[status] = errors.get(status, 0) + 1
            state = None


async def run(url: str, api_key: str, connections: int, seconds: float, l1_block: int,
              offer_round: tuple[int, bytes] = STATIC_ROUND) -> dict[str, object]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    samples: list[float] = []
    errors: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    await asyncio.gather(*(
        drive(Connection(host, port, api_key), l1_block, deadline, samples, errors, offer_round)
        for _ in range(connections)
    ))
    elapsed = time.perf_counter() - started
    ordered = sorted(samples)

    def percentile(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 2)

    return {
        "connections": connections,
        "seconds": round(elapsed, 2),
        "calls": len(samples),
        "errors": errors,
        "calls_per_s": round(len(samples) / elapsed, 1),
        "p50_ms": percentile(0.50),
        "p90_ms": percentile(0.90),
        "p99_ms": percentile(0.99),
        "max_ms": round(ordered[-1] * 1000, 2) if ordered else None,
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2) if ordered else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--l1-block", type=int, default=20_000_000)
    parser.add_argument("--config", default=None, help="the daemon's configuration: offer its chain's current round")
    args = parser.parse_args()
    l1_block, offer_round = args.l1_block, STATIC_ROUND
    if args.config is not None:
        l1_block, offer_round = chain_round(args.config)
    print(json.dumps(asyncio.run(run(args.url, args.api_key, args.connections, args.seconds, l1_block, offer_round))))


def chain_round(config_path: str) -> tuple[int, tuple[int, bytes]]:
    """(L1 block, (current round, its block hash)) of the configuration's chain: read through its
    RPC URL and Controller, or its [chain.static] view."""
    from pathlib import Path

    from clearinghouse.chain.client import ChainClient
    from clearinghouse.config import load_settings

    settings = load_settings(Path(config_path))
    if settings.live_chain is None:
        view = settings.static_chain
        assert view is not None  # a configuration has a live or a static chain view
        return view.last_l1_block, (view.current_round, dict(view.round_block_hashes)[view.current_round])
    client = ChainClient(settings.live_chain.rpc_url, settings.live_chain.controller)
    block, l1_block = client.head()
    current = client.current_round(block=block)
    hashes = dict(client.open_round_block_hashes(current, 1, block=block))
    return l1_block, (current, hashes[current])


if __name__ == "__main__":
    main()
