"""Requests/s of the HTTP transport alone: the real RemoteSignerApp and server (guarded uvicorn
protocol, API-key authentication from the key cache, spec 02 body decoding) in front of a payment
service that answers at once, so the signing path's own cost (ledger, signatures) is left out and
only what the transport adds to a call is measured.

    python benchmarks/http_transport.py [--seconds 10] [--connections 32] [--runs 3]

Needs wrk (apt-get install wrk). The server runs in this process pinned to CPU 0, wrk on CPU 1.
Prints one JSON line per run per route: /generate-live-payment with a go-livepeer-sized body
(~1.5 KiB: OrchestratorInfo, state, signature) and GET /healthz.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, issue_api_key, serving  # noqa: E402
from clearinghouse.ledger import create_gateway, open_database, upgrade_to_head  # noqa: E402
from tests.api.conftest import ORCHESTRATOR_B64, PEPPER, b64  # noqa: E402
from tests.api.fakes import FakePaymentService  # noqa: E402

WRK_SCRIPT = """wrk.method = "POST"
wrk.body = [[{body}]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
"""


def payment_body() -> str:
    """What go-livepeer sends on a session's second call: orchestrator, state, type, ManifestID."""
    state = {"State": b64(b"{" + b"s" * 380 + b"}"), "Sig": b64(bytes(65))}
    return json.dumps({"orchestrator": ORCHESTRATOR_B64, "state": state, "type": "lv2v", "ManifestID": "abc123"})


def wrk(url: str, seconds: float, connections: int, script: Path | None) -> dict[str, float]:
    command = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    command += ["-s", str(script)] if script else []
    output = subprocess.run(command + [url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {"requests_per_s": rate, "non_2xx": float(errors.group(1)) if errors else 0.0,
            "p50": _latency(output, "50%"), "p99": _latency(output, "99%")}


def _latency(output: str, label: str) -> float:
    """A wrk latency percentile in ms."""
    value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {0})
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.sqlite3"
        upgrade_to_head(url)
        db = open_database(url)
        key, _ = issue_api_key(db, create_gateway(db, "bench").id, PEPPER)
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT.format(body=payment_body(), key=key))
        app = RemoteSignerApp(FakePaymentService(), api_keys=ApiKeyAuthenticator(db, PEPPER))
        with serving(app) as base:
            for run in range(args.runs):
                for route, lua in (("/generate-live-payment", script), ("/healthz", None)):
                    result = wrk(base + route, args.seconds, args.connections, lua)
                    print(json.dumps({"run": run + 1, "route": route, **result}), flush=True)
        app.close()
        db.dispose()


if __name__ == "__main__":
    main()
