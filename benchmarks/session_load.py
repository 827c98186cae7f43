"""The load generator of the signing-path benchmark: go-livepeer-shaped remote-signer sessions,
closed loop or paced open loop, in one or more worker processes of their own.

A session is what a go-livepeer gateway runs per stream and orchestrator: it POSTs
/generate-live-payment on its own keep-alive connection with the orchestrator's offer (`fixed`
billing at a price equal to the ticket EV, so every call signs exactly one ticket) and sends back
the state the previous call returned, so at most one call is in flight per session. Its offer's
creation round is the static chain view's current round, the creation-round block hash is
configurable, and it takes fresh ticket params (a new recipientRandHash, the same session state)
every PARAMS_CALLS_MAX calls, before a signer asks for fresh ones.

Closed loop: every session sends its next call as soon as the previous one is answered.
Open loop: the sessions are paced to a total target rate. Session i of n sends its k-th call at
the intended time start + (i/n + k) * n/rate, so arrivals interleave evenly across sessions and
processes. Latency is measured from the intended time, not from when the call went out: a session
stuck behind a slow call sends its backlog late, and that lateness is counted (no coordinated
omission). At the end of a phase a session sends nothing more; calls it was due to send and had
not sent are reported as unsent, each with the lower bound (phase end - intended time) of its
latency counted in the percentiles.

Worker protocol (this file run as a script, used by ``LoadPool``): the first stdin line is a JSON
``WorkerSetup``; every following line is a phase {"mode": "open"|"closed", "rate": total calls/s
of all workers, "seconds": s, "start_at": time.monotonic() value} answered with one JSON line; an
empty line or EOF ends the worker. CLOCK_MONOTONIC is shared by the processes of one machine,
so the workers start a phase together.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

CURRENT_ROUND = 3500
"""The static chain view's current round (bench_daemon writes it); every offer's creation round
equals it, so a signer that checks the creation round against its chain view accepts them."""
L1_BLOCK = 100
"""The static view's last L1 block; offers expire EXPIRATION_BLOCKS after it."""
CREATION_ROUND_BLOCK_HASH = bytes([0x41]) * 32
"""Default creation-round block hash of the offers (--creation-round-block-hash overrides it, for
a signer that checks it against the chain view)."""
PARAMS_CALLS_MAX = 400
"""Calls on one recipientRandHash before the session takes fresh params: below the 500 at which
a signer may ask for a refresh and the 600-nonce cap, as go-livepeer refreshes well before both."""
CALL_TIMEOUT_S = 10.0
"""A call slower than this is a failure of the run (counted as "timeout"), not a latency sample;
the connection is dropped and the session starts again on a new one."""
PHASE_SLACK_S = CALL_TIMEOUT_S + 5.0
"""The pool waits this long past a phase's end for every worker's answer."""
WORKER_START_TIMEOUT_S = 30.0
"""A worker imports, connects nothing yet, and says ready within a second or two."""
EV_35_FACE_VALUE = 105
"""Face value 105 wei at win probability 1/3: ticket EV 35 wei, the offer's price per unit."""
WIN_PROB_THIRD = (2**256 - 1) // 3
PRICE_PER_UNIT_WEI = 35
AUTH_TOKEN_LIFETIME_S = 10**8
"""The orchestrator's auth token outlives any run, so no call is refused for a lapsed token."""
EXPIRATION_BLOCKS = 10**9
"""Ticket params expire this many L1 blocks after the static view's last block: never in a run."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one session calls: a daemon's HTTP port and a gateway's API key."""

    host: str
    port: int
    api_key: str


@dataclass(frozen=True, slots=True)
class OfferShape:
    """What the sessions' offers carry: consistent with the daemons' static chain view."""

    creation_round: int = CURRENT_ROUND
    creation_round_block_hash_hex: str = CREATION_ROUND_BLOCK_HASH.hex()
    l1_block: int = L1_BLOCK
    params_calls_max: int = PARAMS_CALLS_MAX


@dataclass(frozen=True, slots=True)
class WorkerSetup:
    """A worker's sessions (their global indexes among ``sessions_total``) and offer shape."""

    targets: list[Target]
    first_index: int
    stride: int
    sessions_total: int
    offer: OfferShape


def minimal_big_endian(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def orchestrator_info(setup: OfferShape) -> bytes:
    """A serialized offer with fresh random ticket params, priced at the ticket EV."""
    from clearinghouse.proto import lp_rpc_pb2  # imported here: the trivial server does without it

    info = lp_rpc_pb2.OrchestratorInfo(transcoder="https://orchestrator.invalid:8935", address=b"\x73" * 20)
    info.price_info.pricePerUnit = PRICE_PER_UNIT_WEI
    info.price_info.pixelsPerUnit = 1
    params = info.ticket_params
    params.recipient = b"\x73" * 20
    params.face_value = minimal_big_endian(EV_35_FACE_VALUE)
    params.win_prob = minimal_big_endian(WIN_PROB_THIRD)
    params.recipient_rand_hash = os.urandom(32)
    params.seed = os.urandom(32)
    params.expiration_block = minimal_big_endian(setup.l1_block + EXPIRATION_BLOCKS)
    params.expiration_params.creation_round = setup.creation_round
    params.expiration_params.creation_round_block_hash = bytes.fromhex(setup.creation_round_block_hash_hex)
    info.auth_token.token = b"token"
    info.auth_token.session_id = "bench"
    info.auth_token.expiration = int(time.time()) + AUTH_TOKEN_LIFETIME_S
    return bytes(info.SerializeToString())


class HttpConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 client connection, one request at a time, parsed by hand: the
    cheapest client asyncio allows, so the generator's cores go to the daemon."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self._transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a TCP connection's (uvloop's is no subclass)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("connection closed by the server"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self._waiter is None or self._waiter.done():
            return
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self._buffer[:end]).lower()
        length = _content_length(head)
        if len(self._buffer) < end + 4 + length:
            return
        body = bytes(self._buffer[end + 4:end + 4 + length])
        del self._buffer[:end + 4 + length]
        self._waiter.set_result((int(head[9:12]), body, b"connection: close" in head))

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes, bool]]:
        if self._transport is None:
            raise ConnectionError("not connected")
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(data)
        return self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _content_length(head: bytes) -> int:
    """The Content-Length of a lower-cased response head (0 without one: the daemon always
    sends it, and never a chunked body)."""
    at = head.find(b"content-length:")
    if at < 0:
        return 0
    line_end = head.find(b"\r\n", at)
    return int(head[at + len(b"content-length:"):line_end if line_end >= 0 else len(head)])


class Session:
    """One go-livepeer-like session: its connection, offer, state and counters."""

    def __init__(self, target: Target, setup: WorkerSetup, index: int) -> None:
        self.target, self.setup, self.index = target, setup, index
        self._head = (f"POST /generate-live-payment HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
                      f"Authorization: Bearer {target.api_key}\r\nContent-Type: application/json\r\n").encode()
        self._connection: HttpConnection | None = None
        self._state: object | None = None
        self._info_b64 = ""
        self._calls_on_params = setup.offer.params_calls_max
        self._manifest_id = f"bench-{index}"

    async def call(self) -> int:
        """One call; returns its HTTP status (0 for a broken connection). Raises TimeoutError."""
        if self._calls_on_params >= self.setup.offer.params_calls_max:
            self._info_b64 = base64.b64encode(orchestrator_info(self.setup.offer)).decode()
            self._calls_on_params = 0
        body: dict[str, object] = {"orchestrator": self._info_b64, "type": "fixed", "ManifestID": self._manifest_id}
        if self._state is not None:
            body["state"] = self._state
        data = json.dumps(body).encode()
        try:
            connection = await self._connected()
            answer = connection.request(self._head + b"Content-Length: %d\r\n\r\n" % len(data) + data)
            status, payload, close = await asyncio.wait_for(answer, CALL_TIMEOUT_S)
        except (ConnectionError, OSError):
            self._drop()
            return 0
        except TimeoutError:
            self._drop()
            raise
        self._calls_on_params += 1
        self._answered(status, payload)
        if close:
            self._drop()
        return status

    def _answered(self, status: int, payload: bytes) -> None:
        if status == 200:
            self._state = json.loads(payload)["state"]
        elif status == 480:  # refresh: go-livepeer fetches a new offer and keeps its state
            self._calls_on_params = self.setup.offer.params_calls_max
        elif status == 409:  # stale state: go-livepeer would start a new session
            self._state = None

    async def _connected(self) -> HttpConnection:
        if self._connection is None or self._connection.lost:
            _, protocol = await asyncio.get_running_loop().create_connection(
                HttpConnection, self.target.host, self.target.port)
            self._connection = protocol
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        self._drop()


@dataclass(slots=True)
class PhaseTally:
    """What one worker saw in a phase: latencies in µs, statuses, unsent calls."""

    latencies_us: list[int]
    statuses: dict[str, int]
    unsent: int = 0
    last_answer_s: float = 0.0

    def count(self, status: str) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1


async def closed_session(session: Session, end_s: float, tally: PhaseTally) -> None:
    while time.monotonic() < end_s:
        sent = time.monotonic()
        await _timed_call(session, sent, tally)


async def paced_session(session: Session, start_s: float, end_s: float, interval_s: float,
                        offset_s: float, tally: PhaseTally) -> None:
    """Send at start + offset + k*interval until end; late sends are timed from the schedule."""
    intended = start_s + offset_s
    while intended < end_s:
        now = time.monotonic()
        if now >= end_s:  # behind schedule at the end: the rest were never sent
            missed = math.ceil((end_s - intended) / interval_s)
            tally.unsent += missed
            tally.latencies_us.extend(int((now - intended - k * interval_s) * 1e6) for k in range(missed))
            return
        if intended > now:
            await asyncio.sleep(intended - now)
        await _timed_call(session, intended, tally)
        intended += interval_s


async def _timed_call(session: Session, since_s: float, tally: PhaseTally) -> None:
    try:
        status = await session.call()
    except TimeoutError:
        tally.count("timeout")
        return
    done = time.monotonic()
    tally.latencies_us.append(int((done - since_s) * 1e6))
    tally.last_answer_s = max(tally.last_answer_s, done)
    tally.count(str(status))


async def run_phase(sessions: Sequence[Session], phase: dict[str, Any]) -> dict[str, object]:
    start_s, seconds = phase["start_at"], phase["seconds"]
    end_s = start_s + seconds
    tally = PhaseTally([], {})
    if start_s > time.monotonic():
        await asyncio.sleep(start_s - time.monotonic())
    if phase["mode"] == "closed":
        work = [closed_session(session, end_s, tally) for session in sessions]
    else:
        total, rate = sessions[0].setup.sessions_total, phase["rate"]
        interval = total / rate
        work = [paced_session(session, start_s, end_s, interval, session.index / total * interval, tally)
                for session in sessions]
    await asyncio.gather(*work)
    return asdict(tally)


async def serve_phases(setup: WorkerSetup) -> None:
    sessions = [Session(target, setup, setup.first_index + n * setup.stride)
                for n, target in enumerate(setup.targets)]
    loop = asyncio.get_running_loop()
    print(json.dumps({"ready": True}), flush=True)
    try:
        while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
            print(json.dumps(await run_phase(sessions, json.loads(line))), flush=True)
    finally:
        for session in sessions:
            session.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop (installed with uvicorn[standard]) when importable: its loop costs the generator
    less CPU per call than asyncio's; timers have 1 ms resolution, which the latency includes."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def worker_main() -> None:
    raw = json.loads(sys.stdin.readline())
    raw["targets"] = [Target(**target) for target in raw["targets"]]
    raw["offer"] = OfferShape(**raw["offer"])
    loop = new_event_loop()
    try:
        loop.run_until_complete(serve_phases(WorkerSetup(**raw)))
    finally:
        loop.close()


class LoadPool:
    """``processes`` worker processes sharing ``targets`` (one session each, dealt round robin);
    runs phases on all of them at once and merges their answers. Use as a context manager: the
    workers are ended on exit, even on Ctrl-C."""

    def __init__(self, targets: Sequence[Target], processes: int, offer: OfferShape) -> None:
        self._targets, self._offer = list(targets), offer
        self._processes = max(1, min(processes, len(self._targets)))
        self._workers: list[subprocess.Popen[str]] = []

    def __enter__(self) -> LoadPool:
        try:
            for number in range(self._processes):
                self._workers.append(self._start_worker(number))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _start_worker(self, number: int) -> subprocess.Popen[str]:
        setup = WorkerSetup(targets=self._targets[number::self._processes], first_index=number,
                            stride=self._processes, sessions_total=len(self._targets), offer=self._offer)
        worker = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert worker.stdin is not None and worker.stdout is not None
        worker.stdin.write(json.dumps(asdict(setup)) + "\n")
        worker.stdin.flush()
        if json.loads(_read_line(worker, WORKER_START_TIMEOUT_S)).get("ready") is not True:
            raise RuntimeError("load worker did not start")
        return worker

    def phase(self, mode: str, seconds: float, rate: float = 0.0, lead_s: float = 0.3) -> dict[str, object]:
        """Run one phase on every worker, starting ``lead_s`` from now; merged figures."""
        start_at = time.monotonic() + lead_s
        for worker in self._workers:
            assert worker.stdin is not None
            # The total rate: each session's interval is sessions_total / rate, whatever its worker.
            command = {"mode": mode, "seconds": seconds, "rate": rate, "start_at": start_at}
            worker.stdin.write(json.dumps(command) + "\n")
            worker.stdin.flush()
        tallies = [json.loads(_read_line(worker, lead_s + seconds + PHASE_SLACK_S)) for worker in self._workers]
        return merge(tallies, mode, seconds, rate, start_at, len(self._targets), self._processes)

    def close(self) -> None:
        for worker in self._workers:
            if worker.poll() is None:
                try:
                    assert worker.stdin is not None
                    worker.stdin.close()
                    worker.wait(5)
                except (OSError, subprocess.TimeoutExpired):
                    worker.kill()
                    worker.wait()
        self._workers = []


def _read_line(worker: subprocess.Popen[str], timeout_s: float) -> str:
    """One stdout line of ``worker`` within ``timeout_s`` (a stuck worker fails the run)."""
    import selectors

    assert worker.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(worker.stdout, selectors.EVENT_READ)
        if not selector.select(timeout_s):
            raise TimeoutError(f"load worker silent for {timeout_s:g} s")
    line = worker.stdout.readline()
    if not line:
        raise RuntimeError(f"load worker ended (exit {worker.wait()})")
    return line


def percentile_ms(ordered: Sequence[int], fraction: float) -> float | None:
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000, 2)


def merge(tallies: Sequence[dict[str, Any]], mode: str, seconds: float, rate: float, start_at: float,
          sessions: int, processes: int) -> dict[str, object]:
    """One phase's figures over all workers. Closed loop: calls answered ÷ (last answer - start).
    Open loop: answered calls ÷ the phase's length, against the target."""
    latencies = sorted(us for tally in tallies for us in tally["latencies_us"])
    statuses: dict[str, int] = {}
    for tally in tallies:
        for status, count in tally["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    ok = statuses.get("200", 0)
    last = max(float(tally["last_answer_s"]) for tally in tallies)
    elapsed = max(last - start_at, 1e-9) if mode == "closed" else seconds
    result: dict[str, object] = {
        "mode": mode, "sessions": sessions, "processes": processes, "seconds": round(elapsed, 2),
        "calls_ok": ok, "errors": {status: n for status, n in statuses.items() if status != "200"},
        "unsent": sum(int(tally["unsent"]) for tally in tallies),
        "calls_per_s": round(ok / elapsed, 1),
        "p50_ms": percentile_ms(latencies, 0.50), "p90_ms": percentile_ms(latencies, 0.90),
        "p99_ms": percentile_ms(latencies, 0.99), "p999_ms": percentile_ms(latencies, 0.999),
        "max_ms": percentile_ms(latencies, 1.0),
    }
    if mode == "open":
        result["target_per_s"] = rate
        result["achieved_fraction"] = round(ok / seconds / rate, 3) if rate else None
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help="run as a LoadPool worker (stdin protocol)")
    args = parser.parse_args()
    if not args.worker:
        parser.error("this module is driven by signing_path.py; run that")
    worker_main()


if __name__ == "__main__":
    main()
