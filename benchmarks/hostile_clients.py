"""Two hostile clients of issue #18 against a running server, before and after: the quadratic
JSON body (``[]`` × 9, then ``"\\`` repeated) and a pipelining flood.

    python benchmarks/hostile_clients.py [--pipelined 200000]

Starts the real app and server (``serving()``, a payment service that answers at once) in this
process, so the RSS it reports includes the server's. Prints how long each quadratic body took to
be answered and, for the flood, how long all answers took and how much the RSS grew at its peak
and after. Run from another checkout (``cd before && python benchmarks/hostile_clients.py``) to
compare; results in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, issue_api_key, serving  # noqa: E402
from clearinghouse.ledger import create_gateway, open_database, upgrade_to_head  # noqa: E402
from tests.api.conftest import PEPPER  # noqa: E402
from tests.api.fakes import FakePaymentService  # noqa: E402


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def quadratic_body(host: str, port: int, key: str, pairs: int) -> None:
    body = b"[]" * 9 + b'"\\' * pairs
    head = f"POST /generate-live-payment HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
    with socket.create_connection((host, port)) as sock:
        started = time.monotonic()
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        answer = sock.recv(200)
        print(f"quadratic body of {len(body)} bytes: answered in {time.monotonic() - started:.3f} s "
              f"({answer[:12].decode()})")


def pipelining_flood(host: str, port: int, count: int) -> None:
    before = peak = rss_bytes()
    answered = 0
    with socket.create_connection((host, port)) as sock:
        sender = threading.Thread(target=sock.sendall, args=(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * count,))
        started = time.monotonic()
        sender.start()
        while answered < count and (data := sock.recv(1 << 20)):
            answered += data.count(b"HTTP/1.1 ")
            peak = max(peak, rss_bytes())
        sender.join()
    print(f"{count} pipelined GET /healthz: {answered} answered in {time.monotonic() - started:.1f} s; "
          f"RSS +{(peak - before) / 2**20:.0f} MiB at peak, +{(rss_bytes() - before) / 2**20:.0f} MiB after")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelined", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.sqlite3"
        upgrade_to_head(url)
        db = open_database(url)
        key, _ = issue_api_key(db, create_gateway(db, "bench").id, PEPPER)
        app = RemoteSignerApp(FakePaymentService(), api_keys=ApiKeyAuthenticator(db, PEPPER))
        with serving(app) as base:
            parts = urlsplit(base)
            host, port = parts.hostname or "", parts.port or 0
            for pairs in (8_000, 32_000):
                quadratic_body(host, port, key, pairs)
            pipelining_flood(host, port, args.pipelined)
        app.close()
        db.dispose()


if __name__ == "__main__":
    main()
