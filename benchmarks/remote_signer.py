"""Calls/s and latency of /generate-live-payment through the real daemon, SQLite and PostgreSQL.

For each backend: writes a daemon configuration (keystore, pepper, static chain view, ledger),
creates the schema and a gateway with credit and an API key, starts `clearinghouse serve` as its own
process, drives it from another process with benchmarks/load_generator.py (1 ticket per call,
many concurrent sessions, loopback, bounded time), stops it, and runs `clearinghouse ledger verify`.
With --profile the daemon runs under cProfile and the top functions are printed.

Usage: python benchmarks/remote_signer.py [--backends sqlite,postgresql] [--connections 16]
           [--seconds 10] [--profile]
PostgreSQL: a scratch database on 127.0.0.1:5432 (user postgres, trust auth), dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg
from eth_account import Account

from clearinghouse import ledger
from clearinghouse.domain.credit import CreditMode
from clearinghouse.api.api_keys import issue_api_key

HERE = Path(__file__).resolve().parent
READY_TIMEOUT_S = 30.0
"""The daemon answers /readyz within a few seconds of starting; 30 s means it is broken."""
STOP_TIMEOUT_S = 30.0
L1_BLOCK = 100


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(directory: Path, database_url: str, port: int) -> Path:
    key = Account.create().key
    for name, text in (("sender.json", json.dumps(Account.encrypt(key, "bench", kdf="pbkdf2", iterations=1000))),
                       ("passphrase.txt", "bench"), ("pepper.txt", os.urandom(32).hex())):
        (directory / name).write_text(text)
        (directory / name).chmod(0o600)
    config = directory / "clearinghouse.toml"
    config.write_text(f"""database_url = "{database_url}"
[signer]
keystore = "sender.json"
passphrase_file = "passphrase.txt"
[auth]
pepper_file = "pepper.txt"
[http]
host = "127.0.0.1"
port = {port}
[chain.static]
deposit_wei = "1000000000000000000000"
reserve_wei = "1000000000000000000000"
withdraw_round = 0
current_round = 3500
current_round_block_hash = "0x{'41' * 32}"
last_l1_block = {L1_BLOCK}
""")
    return config


def prepare_ledger(database_url: str, pepper_hex: str) -> str:
    """Schema, one gateway with ample credit, and its API key (returned)."""
    ledger.upgrade_to_head(database_url)
    db = ledger.open_database(database_url)
    gateway = ledger.create_gateway(db, "bench")
    ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=10**24,
                             actor="bench", reason="benchmark")
    key_text, _ = issue_api_key(db, gateway.id, bytes.fromhex(pepper_hex))
    db.dispose()
    return key_text


def wait_ready(port: int, daemon: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            raise SystemExit(f"daemon exited with {daemon.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("daemon not ready in time")


def run_backend(backend: str, database_url: str, args: argparse.Namespace, directory: Path) -> dict[str, object]:
    port = free_port()
    config = write_config(directory, database_url, port)
    api_key = prepare_ledger(database_url, (directory / "pepper.txt").read_text())
    profile = directory / "daemon.prof"
    command = [sys.executable, *(["-m", "cProfile", "-o", str(profile)] if args.profile else []),
               "-m", "clearinghouse", "serve", "--config", str(config), "--log-level", "warning"]
    daemon = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        wait_ready(port, daemon)
        load = subprocess.run(
            [sys.executable, str(HERE / "load_generator.py"), "--url", f"http://127.0.0.1:{port}",
             "--api-key", api_key, "--connections", str(args.connections), "--seconds", str(args.seconds),
             "--l1-block", str(L1_BLOCK)],
            capture_output=True, text=True, check=True, timeout=args.seconds + 60,
        )
    finally:
        # SIGINT, not SIGTERM: uvicorn re-raises the signal after its clean shutdown, and only
        # SIGINT (KeyboardInterrupt) lets cProfile write its file on the way out.
        daemon.send_signal(signal.SIGINT)
        daemon.wait(STOP_TIMEOUT_S)
    verify = subprocess.run([sys.executable, "-m", "clearinghouse", "ledger", "verify", "--config", str(config)],
                            capture_output=True, text=True, check=False)
    result: dict[str, object] = {"backend": backend, **json.loads(load.stdout),
                                 "ledger_verify": verify.stdout.strip().splitlines()[-1]}
    if args.profile:
        pstats.Stats(str(profile)).sort_stats("cumulative").print_stats(25)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    results = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            directory = Path(tmp)
            if backend == "sqlite":
                results.append(run_backend(backend, f"sqlite:///{directory / 'ledger.sqlite3'}", args, directory))
                continue
            name = f"chbench_{uuid.uuid4().hex[:12]}"
            with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as admin:
                admin.execute(f'CREATE DATABASE "{name}"')
            try:
                url = f"postgresql+psycopg://postgres@127.0.0.1/{name}"
                results.append(run_backend(backend, url, args, directory))
            finally:
                with psycopg.connect("postgresql://postgres@127.0.0.1/postgres", autocommit=True) as admin:
                    admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    for result in results:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
