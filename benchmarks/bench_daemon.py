"""Daemons for the signing-path benchmark: configuration, ledger, start, stop, verify.

Owns everything about the `clearinghouse serve` processes a measurement drives: the key files
and TOML (static chain view, loopback ports), the ledger with N gateways that each have credit
and an API key, a scratch PostgreSQL database dropped afterwards, starting a daemon (optionally
under the per-thread profiler of daemon_profile.py), stopping it, and `clearinghouse ledger
verify` on its database. Every process started here is stopped in a ``finally``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from eth_account import Account

from clearinghouse import ledger
from clearinghouse.domain.credit import CreditMode
from clearinghouse.api.api_keys import issue_api_key

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from session_load import CURRENT_ROUND, L1_BLOCK  # noqa: E402

READY_TIMEOUT_S = 60.0
"""A daemon answers /readyz within a few seconds of starting (longer under the profiler and on a
busy VM); a minute means it is broken."""
READY_POLL_S = 0.1
"""Pause between /readyz probes while a daemon starts."""
STOP_TIMEOUT_S = 30.0
"""A graceful stop drains calls in progress (gRPC: at most 10 s) and writes the profile; past
this the daemon is killed, and the run reports it."""
KILL_TIMEOUT_S = 10.0
"""How long to wait for a SIGKILLed daemon to be reaped."""
VERIFY_TIMEOUT_S = 300.0
"""`ledger verify` reads every record; a few hundred thousand take well under a minute."""
ADMIN_CONNECT_TIMEOUT_S = 10
"""Connecting to the local PostgreSQL server to create or drop the scratch database."""

DEPOSIT_WEI = 10**21
"""Deposit and reserve of the static view: far above any face value the run uses."""
CREDIT_LIMIT_WEI = 10**24
"""Each gateway's credit: a run signs well under 10^9 tickets of 35 wei EV."""
SENDER_PASSPHRASE = "bench"
KEYSTORE_KDF_ITERATIONS = 1000
"""A cheap keystore KDF: the daemon decrypts it once at start, and this is a throwaway key."""
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    """A loopback port free at this moment (the daemon binds it a moment later)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Gateway:
    """One gateway of the ledger and the API key its sessions send."""

    gateway_id: int
    api_key: str


@dataclass(slots=True)
class DaemonSpec:
    """What one `serve` process listens on, and the extra [chain.static], [limits] and [events]
    settings it gets."""

    http_port: int
    grpc_port: int | None = None
    chain_static_extra: Sequence[str] = field(default_factory=tuple)
    limits_extra: Sequence[str] = field(default_factory=tuple)
    events_extra: Sequence[str] = field(default_factory=tuple)


def write_key_files(directory: Path) -> None:
    """Sender keystore, passphrase and API-key pepper, shared by every daemon of a run (two
    daemons on one database must sign as one sender and accept the same keys)."""
    key = Account.create().key
    keystore = Account.encrypt(key, SENDER_PASSPHRASE, kdf="pbkdf2", iterations=KEYSTORE_KDF_ITERATIONS)
    for name, text in (("sender.json", json.dumps(keystore)), ("passphrase.txt", SENDER_PASSPHRASE),
                       ("pepper.txt", os.urandom(32).hex())):
        (directory / name).write_text(text)
        (directory / name).chmod(0o600)


def write_config(directory: Path, database_url: str, spec: DaemonSpec) -> Path:
    """A daemon configuration with durable defaults (SQLite synchronous=FULL is the ledger's
    only mode), a static chain view and loopback listeners; returns its path."""
    config = directory / f"daemon-{spec.http_port}.toml"
    grpc = "" if spec.grpc_port is None else f'[grpc]\nhost = "127.0.0.1"\nport = {spec.grpc_port}\n'
    extra = "".join(f"{line}\n" for line in spec.chain_static_extra)
    if spec.limits_extra:
        extra += "[limits]\n" + "".join(f"{line}\n" for line in spec.limits_extra)
    if spec.events_extra:
        extra += "[events]\n" + "".join(f"{line}\n" for line in spec.events_extra)
    config.write_text(f"""database_url = "{database_url}"
[signer]
keystore = "sender.json"
passphrase_file = "passphrase.txt"
[auth]
pepper_file = "pepper.txt"
[http]
host = "127.0.0.1"
port = {spec.http_port}
{grpc}[chain.static]
deposit_wei = "{DEPOSIT_WEI}"
reserve_wei = "{DEPOSIT_WEI}"
withdraw_round = 0
current_round = {CURRENT_ROUND}
last_l1_block = {L1_BLOCK}
{extra}""")
    return config


def prepare_ledger(database_url: str, pepper_hex: str, gateways: int) -> list[Gateway]:
    """Schema at head and ``gateways`` gateways, each in credit mode with CREDIT_LIMIT_WEI and
    one API key."""
    ledger.upgrade_to_head(database_url)
    db = ledger.open_database(database_url)
    try:
        made = []
        for number in range(gateways):
            gateway = ledger.create_gateway(db, f"bench-{number}")
            ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT,
                                     credit_limit_wei=CREDIT_LIMIT_WEI, actor="bench", reason="benchmark")
            key_text, _ = issue_api_key(db, gateway.id, bytes.fromhex(pepper_hex))
            made.append(Gateway(gateway.id, key_text))
        return made
    finally:
        db.dispose()


@contextmanager
def scratch_postgres() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server (user postgres, trust), dropped on exit;
    yields its SQLAlchemy URL."""
    name = f"chbench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=ADMIN_CONNECT_TIMEOUT_S) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=ADMIN_CONNECT_TIMEOUT_S) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(slots=True)
class Daemon:
    """A running `serve` process; ``stop`` is idempotent and says how it ended."""

    process: subprocess.Popen[bytes]
    config: Path
    http_port: int
    grpc_port: int | None
    stderr_path: Path
    stopped: str | None = None

    def stop(self) -> str:
        """SIGINT (a graceful stop that lets the profiler write its file), then SIGKILL after
        STOP_TIMEOUT_S. Returns "exit 0", "exit N" or "killed"."""
        if self.stopped is not None:
            return self.stopped
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(STOP_TIMEOUT_S)
            self.stopped = f"exit {code}"
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(KILL_TIMEOUT_S)
            self.stopped = "killed"
        return self.stopped

    def arm_profiler(self) -> None:
        """Start the per-thread profiler of a daemon started with ``profile_out`` (SIGUSR1, see
        daemon_profile.ARM_SIGNAL)."""
        self.process.send_signal(signal.SIGUSR1)

    def error_lines(self) -> list[str]:
        """The daemon's stderr lines at warning level and above (its log is JSON lines)."""
        if not self.stderr_path.exists():
            return []
        return [line for line in self.stderr_path.read_text(errors="replace").splitlines() if line.strip()]


def start_daemon(config: Path, spec: DaemonSpec, directory: Path, profile_out: Path | None = None,
                 profile_timer: str = "wall") -> Daemon:
    """Start `clearinghouse serve` on ``config`` and wait for /readyz; under the per-thread
    profiler when ``profile_out`` is given. Raises SystemExit when it does not become ready."""
    if profile_out is None:
        command = [sys.executable, "-m", "clearinghouse"]
    else:
        command = [sys.executable, str(HERE / "daemon_profile.py"), "--out", str(profile_out),
                   "--timer", profile_timer, "--"]
    command += ["serve", "--config", str(config), "--log-level", "warning"]
    stderr_path = directory / f"daemon-{spec.http_port}.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, cwd=directory)
    daemon = Daemon(process, config, spec.http_port, spec.grpc_port, stderr_path)
    try:
        wait_ready(daemon)
    except BaseException:
        daemon.stop()
        raise
    return daemon


def wait_ready(daemon: Daemon) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if daemon.process.poll() is not None:
            raise SystemExit(f"daemon exited with {daemon.process.returncode}: {daemon.error_lines()[-5:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{daemon.http_port}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(READY_POLL_S)
    raise SystemExit(f"daemon not ready within {READY_TIMEOUT_S:g} s")


def verify_ledger(config: Path) -> dict[str, object]:
    """`clearinghouse ledger verify` on the config's database: ok (exit 0) or failed, with its
    last line."""
    done = subprocess.run([sys.executable, "-m", "clearinghouse", "ledger", "verify", "--config", str(config)],
                          capture_output=True, text=True, check=False, timeout=VERIFY_TIMEOUT_S,
                          cwd=config.parent)
    lines = (done.stdout.strip() or done.stderr.strip()).splitlines()
    return {"ok": done.returncode == 0, "exit": done.returncode, "last_line": lines[-1] if lines else ""}


@contextmanager
def daemons(directory: Path, database_url: str, specs: Sequence[DaemonSpec], gateways: int,
            profile_out: Path | None = None, profile_timer: str = "wall") -> Iterator[tuple[list[Daemon], list[Gateway]]]:
    """Prepare the ledger, start one daemon per spec on it, yield them with the gateways; on
    exit stop every daemon (even on Ctrl-C). Verification is the caller's, after the stop."""
    write_key_files(directory)
    configs = [write_config(directory, database_url, spec) for spec in specs]
    made = prepare_ledger(database_url, (directory / "pepper.txt").read_text(), gateways)
    running: list[Daemon] = []
    try:
        for config, spec in zip(configs, specs, strict=True):
            running.append(start_daemon(config, spec, directory, profile_out if not running else None,
                                        profile_timer))
        yield running, made
    finally:
        for daemon in running:
            daemon.stop()
