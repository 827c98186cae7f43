"""A local anvil chain: find the pinned binary, start it on a free loopback port, stop it.

anvil comes from the npm package ``@foundry-rs/anvil`` pinned in ``contracts/package.json``
(``npm ci --prefix contracts`` installs it; its per-platform sub-package ships the binary, so
nothing downloads at run time). ``CLEARINGHOUSE_ANVIL_BIN`` overrides the path.

Also owns the anvil-only JSON-RPC calls the devnet and the tests use: state snapshots
(``evm_snapshot`` / ``evm_revert``) and mining (``anvil_mine``).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from web3 import Web3
from web3.types import RPCEndpoint

from clearinghouse.chain.artifacts import CONTRACTS_DIR
from clearinghouse.chain.errors import ChainError
from clearinghouse.chain.limits import (
    ANVIL_BLOCKS_PER_MINE_MAX,
    ANVIL_LOG_TAIL_BYTES_MAX,
    ANVIL_POLL_INTERVAL_S,
    ANVIL_PROBE_TIMEOUT_S,
    ANVIL_RPC_TIMEOUT_S,
    ANVIL_START_ATTEMPTS_MAX,
    ANVIL_START_TIMEOUT_S,
    ANVIL_STOP_TIMEOUT_S,
)

ANVIL_BIN_ENV = "CLEARINGHOUSE_ANVIL_BIN"
"""Environment variable naming an anvil binary to use instead of the npm-installed one."""

ARBITRUM_ONE_CHAIN_ID = 42161
"""The devnet uses Arbitrum One's chain id so signed transactions look like production ones."""

DEVNET_MNEMONIC = "test test test test test test test test test test test junk"
"""anvil's well-known development mnemonic, passed explicitly so account addresses never move."""

DEVNET_ACCOUNT_COUNT = 10
DEVNET_ACCOUNT_BALANCE_ETH = 10_000

ANVIL_HARDFORK = "cancun"
"""anvil's default (prague) makes every mined block cost more as the chain grows (1,000 blocks:
0.6-4 s, 6,377 blocks > 15 s); cancun mines 1,000 blocks in ~0.05 s. Arbitrum One runs cancun
opcodes, and our contracts target shanghai, so nothing we deploy can tell the difference."""

ANVIL_STATES_KEPT = 256
"""States anvil keeps for historical reads (--prune-history): state at up to 256 blocks back
stays readable (confirmation depths), older state is dropped so mining stays linear."""


_PACKAGE_BINARIES = {
    ("Linux", "x86_64"): "@foundry-rs/anvil-linux-amd64/bin/anvil",
    ("Linux", "aarch64"): "@foundry-rs/anvil-linux-arm64/bin/anvil",
    ("Darwin", "x86_64"): "@foundry-rs/anvil-darwin-amd64/bin/anvil",
    ("Darwin", "arm64"): "@foundry-rs/anvil-darwin-arm64/bin/anvil",
}


# The probe goes to 127.0.0.1: an HTTP proxy from the environment must never see it.
_LOOPBACK_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class AnvilError(ChainError):
    """anvil is not installed, did not start, or refused an anvil-specific request."""


@dataclass(frozen=True, slots=True)
class AnvilOptions:
    """How to start anvil; the defaults are the devnet's."""

    chain_id: int = ARBITRUM_ONE_CHAIN_ID
    accounts: int = DEVNET_ACCOUNT_COUNT
    balance_eth: int = DEVNET_ACCOUNT_BALANCE_ETH
    mnemonic: str = DEVNET_MNEMONIC
    port: int | None = None
    """A fixed loopback port (e.g. to restart a node where clients expect it); None picks a free one."""


def anvil_binary() -> Path:
    """Return the anvil executable: ``$CLEARINGHOUSE_ANVIL_BIN`` or the npm-installed one.

    Raises AnvilError naming ``npm ci --prefix contracts`` when the binary is missing, and
    naming the variable when it points at something that is not an executable file.
    """
    override = os.environ.get(ANVIL_BIN_ENV)
    if override:
        path = Path(override)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise AnvilError(f"{ANVIL_BIN_ENV}={override!r} is not an executable file")
        return path
    key = (platform.system(), platform.machine())
    relative = _PACKAGE_BINARIES.get(key)
    if relative is None:
        raise AnvilError(
            f"no @foundry-rs/anvil binary package for {key[0]}/{key[1]}; "
            f"expected one of {sorted(_PACKAGE_BINARIES)}; set {ANVIL_BIN_ENV}"
        )
    # The checkout this package was installed from (editable installs), else the one the
    # command runs in (a regular `pip install .` leaves the package in site-packages).
    candidates = [CONTRACTS_DIR / "node_modules" / relative, Path.cwd() / "contracts" / "node_modules" / relative]
    for path in candidates:
        if path.is_file():
            return path
    raise AnvilError(
        f"anvil not found at {candidates[0]} or {candidates[1]}; run `npm ci --prefix contracts` "
        f"in the checkout (or set {ANVIL_BIN_ENV} to an anvil binary)"
    )


class Anvil:
    """A running anvil process on 127.0.0.1; use as a context manager or call stop().

    Create with :func:`start_anvil`.
    """

    def __init__(self, process: subprocess.Popen[bytes], log: IO[bytes], port: int, chain_id: int) -> None:
        self._process = process
        self._log = log
        self.port = port
        self.chain_id = chain_id
        self.rpc_url = f"http://127.0.0.1:{port}"

    def web3(self) -> Web3:
        """A Web3 connected to this node (HTTP, bounded request timeout)."""
        provider = Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": ANVIL_RPC_TIMEOUT_S})
        return Web3(provider)

    def is_running(self) -> bool:
        return self._process.poll() is None

    def log_tail(self) -> str:
        """The last ANVIL_LOG_TAIL_BYTES_MAX bytes anvil printed (for error messages)."""
        self._log.seek(0, os.SEEK_END)
        size = self._log.tell()
        self._log.seek(max(0, size - ANVIL_LOG_TAIL_BYTES_MAX))
        return self._log.read().decode(errors="replace").strip() or "(no output)"

    def stop(self) -> None:
        """Terminate anvil (SIGTERM, then SIGKILL after ANVIL_STOP_TIMEOUT_S); idempotent."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=ANVIL_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._log.close()

    def __enter__(self) -> Anvil:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_anvil(options: AnvilOptions | None = None) -> Anvil:
    """Start anvil on a free loopback port and return once it answers JSON-RPC.

    Raises AnvilError when the binary is missing, when anvil exits during start-up (its output
    is quoted), or when it does not answer eth_chainId with the expected chain id within
    ANVIL_START_TIMEOUT_S. Retries a port taken by someone else up to ANVIL_START_ATTEMPTS_MAX.
    """
    options = options or AnvilOptions()
    binary = anvil_binary()
    failures: list[str] = []
    for _ in range(ANVIL_START_ATTEMPTS_MAX):
        port = options.port or _free_loopback_port()
        log = tempfile.TemporaryFile()  # owned by the Anvil below, closed by its stop()
        process = subprocess.Popen(
            _command(binary, port, options), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
        anvil = Anvil(process, log, port, options.chain_id)
        try:
            _wait_until_ready(anvil)
        except AnvilError as exc:
            failures.append(str(exc))
            anvil.stop()
            continue
        return anvil
    raise AnvilError(f"anvil did not start in {ANVIL_START_ATTEMPTS_MAX} attempts: " + " | ".join(failures))


def _command(binary: Path, port: int, options: AnvilOptions) -> list[str]:
    return [
        str(binary),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--chain-id", str(options.chain_id),
        "--accounts", str(options.accounts),
        "--balance", str(options.balance_eth),
        "--mnemonic", options.mnemonic,
        "--hardfork", ANVIL_HARDFORK,
        "--prune-history", str(ANVIL_STATES_KEPT),
    ]  # fmt: skip


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_until_ready(anvil: Anvil) -> None:
    deadline = time.monotonic() + ANVIL_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not anvil.is_running():
            raise AnvilError(f"anvil exited during start-up on port {anvil.port}: {anvil.log_tail()}")
        chain_id = _probe_chain_id(anvil.rpc_url)
        if chain_id is not None:
            if chain_id != anvil.chain_id:
                raise AnvilError(f"node on port {anvil.port} reports chain id {chain_id}, expected {anvil.chain_id}")
            return
        time.sleep(ANVIL_POLL_INTERVAL_S)
    raise AnvilError(f"anvil on port {anvil.port} did not answer JSON-RPC within {ANVIL_START_TIMEOUT_S} s")


def _probe_chain_id(rpc_url: str) -> int | None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}).encode()
    request = urllib.request.Request(rpc_url, data=body, headers={"Content-Type": "application/json"})
    try:
        with _LOOPBACK_OPENER.open(request, timeout=ANVIL_PROBE_TIMEOUT_S) as response:
            reply: Any = json.load(response)
        return int(reply["result"], 16)
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError, KeyError, TypeError):
        return None  # not up yet, or not answering like a node: keep polling until the deadline


def snapshot(w3: Web3) -> str:
    """Take an anvil state snapshot and return its id (for :func:`revert`)."""
    snapshot_id: str = w3.manager.request_blocking(RPCEndpoint("evm_snapshot"), [])
    return snapshot_id


def revert(w3: Web3, snapshot_id: str) -> None:
    """Restore the chain to `snapshot_id`; anvil then forgets it and every later snapshot.

    Raises AnvilError when anvil does not know the snapshot.
    """
    if not w3.manager.request_blocking(RPCEndpoint("evm_revert"), [snapshot_id]):
        raise AnvilError(f"anvil has no snapshot {snapshot_id!r} (a snapshot can be reverted to only once)")


def dump_state(w3: Web3) -> str:
    """anvil's whole chain state (accounts, storage, blocks) as an opaque string for load_state."""
    state: str = w3.manager.request_blocking(RPCEndpoint("anvil_dumpState"), [])
    return state


def load_state(w3: Web3, state: str) -> None:
    """Load a dump_state() result into a fresh anvil (block number and contracts included).

    Raises AnvilError when anvil refuses it.
    """
    if not w3.manager.request_blocking(RPCEndpoint("anvil_loadState"), [state]):
        raise AnvilError("anvil refused to load the state dump")


def mine(w3: Web3, blocks: int = 1) -> None:
    """Mine `blocks` empty blocks at once (1 ≤ blocks ≤ ANVIL_BLOCKS_PER_MINE_MAX)."""
    if not 1 <= blocks <= ANVIL_BLOCKS_PER_MINE_MAX:
        raise ValueError(f"blocks must be in 1..{ANVIL_BLOCKS_PER_MINE_MAX}, got {blocks}")
    w3.manager.request_blocking(RPCEndpoint("anvil_mine"), [hex(blocks)])
