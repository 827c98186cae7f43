"""A trivial stand-in for /generate-live-payment, to check that the load generator is not the
bottleneck: answers every POST at once with a canned 200 of the daemon's size and shape
(payment, segCreds, a state to send back), on uvloop, with no parsing beyond the HTTP framing.

Usage: python benchmarks/canned_signer.py --port PORT --seconds S
Prints {"ready": true} once listening, and stops by itself after S seconds (or on SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import sys
from typing import cast

PAYMENT_BYTES = 330
"""Serialized Payment of one ticket from the daemon (ticket, sender, signature, params, price)."""
SEG_CREDS_BYTES = 180
STATE_BYTES = 620
"""The daemon's JSON state blob of a running session."""
SIGNATURE_BYTES = 65
SECONDS_MAX = 3600.0
"""The server never outlives a benchmark by more than this, whatever --seconds says."""


def canned_answer() -> bytes:
    body = json.dumps({
        "payment": base64.b64encode(os.urandom(PAYMENT_BYTES)).decode(),
        "segCreds": base64.b64encode(os.urandom(SEG_CREDS_BYTES)).decode(),
        "state": {"State": base64.b64encode(os.urandom(STATE_BYTES)).decode(),
                  "Sig": base64.b64encode(os.urandom(SIGNATURE_BYTES)).decode()},
    }, separators=(",", ":")).encode()
    return (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"x-request-id: canned\r\n\r\n" % len(body)) + body


class CannedProtocol(asyncio.Protocol):
    """Answers each complete request (head + Content-Length body) with ANSWER."""

    ANSWER = canned_answer()

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a TCP connection's (uvloop's is no subclass)

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self._buffer[:end]).lower()
            at = head.find(b"content-length:")
            length = 0 if at < 0 else int(head[at + 15:].split(b"\r\n", 1)[0])
            if len(self._buffer) < end + 4 + length:
                return
            del self._buffer[:end + 4 + length]
            assert self._transport is not None
            self._transport.write(self.ANSWER)


async def serve(port: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def stopped() -> None:
        if not stop.done():
            stop.set_result(None)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopped)
    server = await loop.create_server(CannedProtocol, "127.0.0.1", port)
    print(json.dumps({"ready": True}), flush=True)
    try:
        await asyncio.wait_for(stop, min(seconds, SECONDS_MAX))
    except TimeoutError:
        pass
    finally:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from session_load import new_event_loop

    loop = new_event_loop()
    try:
        loop.run_until_complete(serve(args.port, args.seconds))
    finally:
        loop.close()


if __name__ == "__main__":
    main()
