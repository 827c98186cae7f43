"""Faults (issue #9): a chain RPC that answers but lies. A real `clearinghouse serve` reads a real
anvil through a lying JSON-RPC proxy (a loopback HTTP server in this test that forwards every
request to anvil and rewrites the answers a test picks). Each lie must be treated like a failed
read: signing stops with 503 "chain data stale … implausible chain data", /v1/health is critical,
nothing of the lie is recorded (no deposit sample, no chain event), and once the proxy tells the
truth again signing resumes without a restart.

The lies: the head block far ahead (more than Arbitrum could mine since the last read), the head
far behind (deeper than any reorg the watcher handles), a deposit above the total ETH supply, a
gas balance that is not even a uint256, and a DepositFunded event moving more ETH than exists.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from clearinghouse import ledger
from clearinghouse.domain.chain_events import ChainEventKind
from clearinghouse.domain.credit import CreditMode
from clearinghouse.api.api_keys import issue_api_key
from clearinghouse.chain.anvil import AnvilOptions, mine, start_anvil
from clearinghouse.chain.devnet import initialize_round, provision_devnet
from clearinghouse.chain.limits import HEAD_REGRESSION_BLOCKS_MAX, WEI_SUPPLY_MAX
from tests.cli.conftest import clearinghouse
from tests.integration.conftest import Daemons, free_port
from tests.integration.test_chain_daemon import (
    DEPOSIT_WEI,
    ETHER,
    PARAMS,
    RESERVE_WEI,
    ChainDaemon,
    config_for_tests,
    eventually,
    sign_call,
)

FACE_VALUE_WEI = 10**15
FORWARD_LIE_BLOCKS = 10**9
"""Far more than Arbitrum could mine between two reads 0.2 s apart (or in 7,000 years)."""
PROXY_TIMEOUT_S = 10.0
"""One forwarded request to anvil."""
LIE_WEI = 10**12 * ETHER
"""A trillion ETH: a uint256, but more than all the ETH there is."""
NOT_A_UINT256 = "0x1" + "0" * 64
"""2**256: one past the largest uint256."""
SENDER_INFO_SELECTOR = "0x" + Web3.keccak(text="getSenderInfo(address)")[:4].hex().removeprefix("0x")
DEPOSIT_FUNDED_TOPIC = "0x" + Web3.keccak(text="DepositFunded(address,uint256)").hex().removeprefix("0x")

Lie = Callable[[dict[str, Any], Any], Any]
"""(request, truthful result) → the result the proxy sends instead."""


class LyingProxy:
    """A JSON-RPC proxy on loopback: forwards to ``upstream``; ``lie`` rewrites answers."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.lie: Lie | None = None
        self.lies_told = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                answer = proxy.forward(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="lying-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def forward(self, body: bytes) -> bytes:
        request = urllib.request.Request(self.upstream, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=PROXY_TIMEOUT_S) as answer:
            replies = json.loads(answer.read())
        asked = json.loads(body)
        lie = self.lie
        if lie is not None:
            pairs = zip(asked, replies) if isinstance(asked, list) else [(asked, replies)]
            for call, reply in pairs:
                if "result" in reply:
                    told = lie(call, reply["result"])
                    if told is not reply["result"]:
                        reply["result"] = told
                        self.lies_told += 1
        return json.dumps(replies).encode()


def latest_head(rewrite: Callable[[int], int]) -> Lie:
    """Rewrite the number of the latest block (eth_getBlockByNumber("latest"), eth_blockNumber)."""
    def lie(call: dict[str, Any], result: Any) -> Any:
        if call.get("method") == "eth_getBlockByNumber" and call["params"][0] == "latest" and result:
            return result | {"number": hex(rewrite(int(result["number"], 16)))}
        if call.get("method") == "eth_blockNumber":
            return hex(rewrite(int(result, 16)))
        return result
    return lie


def deposit_of(deposit_wei: int) -> Lie:
    """getSenderInfo answers ``deposit_wei`` (the other words as they are)."""
    def lie(call: dict[str, Any], result: Any) -> Any:
        if call.get("method") == "eth_call" and str(call["params"][0].get("data", call["params"][0].get("input", ""))
                                                     ).startswith(SENDER_INFO_SELECTOR):
            return "0x" + f"{deposit_wei:064x}" + result[2 + 64:]
        return result
    return lie


def balance_of(value_hex: str) -> Lie:
    def lie(call: dict[str, Any], result: Any) -> Any:
        return value_hex if call.get("method") == "eth_getBalance" else result
    return lie


def deposit_funded_amount(amount_wei: int) -> Lie:
    """Every DepositFunded log in eth_getLogs answers moves ``amount_wei``."""
    def lie(call: dict[str, Any], result: Any) -> Any:
        if call.get("method") != "eth_getLogs":
            return result
        return [log | {"data": "0x" + f"{amount_wei:064x}"} if log["topics"][0] == DEPOSIT_FUNDED_TOPIC else log
                for log in result]
    return lie


@pytest.fixture
def proxy_world(tmp_path: Path, daemons: Daemons, request: pytest.FixtureRequest) -> Iterator[tuple[ChainDaemon, LyingProxy]]:
    """anvil, the devnet, the proxy in front of anvil and a daemon reading the chain through it.
    ``@pytest.mark.parametrize("proxy_world", [blocks], indirect=True)`` mines that many blocks
    (and opens the round they reach) before the daemon starts."""
    anvil = start_anvil(AnvilOptions(port=free_port()))
    proxy = LyingProxy(anvil.rpc_url)
    proxy.start()
    try:
        port = free_port()
        provisioned = provision_devnet(tmp_path / "devnet", anvil, deposit_wei=DEPOSIT_WEI, reserve_wei=RESERVE_WEI,
                                       params=PARAMS, http_port=port)
        config_for_tests(provisioned.config_path)
        blocks = getattr(request, "param", 0)
        if blocks:
            mine(anvil.web3(), blocks)
            initialize_round(anvil.web3(), provisioned.devnet)
        ledger.upgrade_to_head(provisioned.database_url)
        db = ledger.open_database(provisioned.database_url)
        try:
            gateway = ledger.create_gateway(db, "faults")
            ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=100 * ETHER,
                                     actor="test", reason="integration")
            pepper = bytes.fromhex(provisioned.pepper_path.read_text().strip())
            api_key, _ = issue_api_key(db, gateway.id, pepper)
        finally:
            db.dispose()
        daemon = daemons.launch(provisioned.config_path, port, CLEARINGHOUSE_RPC_URL=proxy.url)
        world = ChainDaemon(anvil, provisioned, daemon, api_key, gateway.id)
        eventually(lambda: sign_call(world, FACE_VALUE_WEI)[0] == 200, "signing through the truthful proxy")
        yield world, proxy
    finally:
        proxy.stop()
        anvil.stop()


def refused_as_implausible(world: ChainDaemon) -> Callable[[], bool]:
    def check() -> bool:
        status, answer = sign_call(world, FACE_VALUE_WEI)
        message = answer.get("error", {}).get("message", "")
        return status == 503 and "chain data stale" in message and "implausible chain data" in message
    return check


def lie_then_truth(world: ChainDaemon, proxy: LyingProxy, lie: Lie) -> float:
    """Tell ``lie`` until signing is refused for it, check the health and /healthz, then tell the
    truth until signing works again; returns the seconds the recovery took."""
    proxy.lie = lie
    eventually(refused_as_implausible(world), "signing refused: chain data stale, implausible")
    health = world.health()
    assert health["state"] == "critical"
    assert "chain_data_stale" in {finding["reason"] for finding in health["findings"]}
    assert world.request("GET", "/healthz")[0] == 200
    assert proxy.lies_told > 0
    proxy.lie = None
    started = time.monotonic()
    eventually(lambda: sign_call(world, FACE_VALUE_WEI)[0] == 200, "signing again once the proxy tells the truth")
    assert world.health()["state"] in ("ok", "warn")
    return time.monotonic() - started


def deposit_samples(world: ChainDaemon) -> list[ledger.DepositSample]:
    db = ledger.open_database(world.provisioned.database_url)
    try:
        return ledger.deposit_samples_since(db, datetime.now(UTC) - timedelta(hours=1))
    finally:
        db.dispose()


def test_a_head_far_ahead_is_refused_and_the_truth_recovers(proxy_world: tuple[ChainDaemon, LyingProxy]) -> None:
    world, proxy = proxy_world
    recovery_s = lie_then_truth(world, proxy, latest_head(lambda number: number + FORWARD_LIE_BLOCKS))
    heads = {sample.block_number for sample in deposit_samples(world)}
    assert max(heads) < FORWARD_LIE_BLOCKS, f"a lying head was recorded with a deposit sample: {sorted(heads)}"
    print(f"\nhead +{FORWARD_LIE_BLOCKS} blocks: refused; signing again {recovery_s:.1f} s after the truth")


@pytest.mark.parametrize("proxy_world", [HEAD_REGRESSION_BLOCKS_MAX + 2_000], indirect=True)
def test_a_head_far_behind_is_refused_and_the_truth_recovers(proxy_world: tuple[ChainDaemon, LyingProxy]) -> None:
    world, proxy = proxy_world
    behind = HEAD_REGRESSION_BLOCKS_MAX + 1_000
    recovery_s = lie_then_truth(world, proxy, latest_head(lambda number: number - behind))
    head = world.w3.eth.block_number
    lowest = min(sample.block_number for sample in deposit_samples(world))
    assert lowest > head - behind, f"a deposit sample at block {lowest} of the lying head (real head {head})"
    print(f"\nhead -{behind} blocks: refused; signing again {recovery_s:.1f} s after the truth")


def test_a_deposit_above_the_eth_supply_is_refused_and_never_sampled(
    proxy_world: tuple[ChainDaemon, LyingProxy],
) -> None:
    world, proxy = proxy_world
    recovery_s = lie_then_truth(world, proxy, deposit_of(LIE_WEI))
    samples = deposit_samples(world)
    assert samples and all(sample.deposit_wei <= WEI_SUPPLY_MAX for sample in samples), samples
    assert world.health()["chain"]["deposit_wei"] == str(DEPOSIT_WEI)
    print(f"\ndeposit {LIE_WEI} wei: refused, never sampled; signing again {recovery_s:.1f} s after the truth")


def test_a_balance_that_is_not_a_uint256_is_refused(proxy_world: tuple[ChainDaemon, LyingProxy]) -> None:
    world, proxy = proxy_world
    recovery_s = lie_then_truth(world, proxy, balance_of(NOT_A_UINT256))
    assert int(world.health()["chain"]["gas_balance_wei"]) <= WEI_SUPPLY_MAX
    print(f"\ngas balance 2**256: refused; signing again {recovery_s:.1f} s after the truth")


def test_an_event_moving_more_than_the_eth_supply_is_never_recorded(
    proxy_world: tuple[ChainDaemon, LyingProxy],
) -> None:
    world, proxy = proxy_world
    cursor_name = f"ticket_broker:{world.provisioned.sender}"
    before = len(chain_events(world, cursor_name))
    proxy.lie = deposit_funded_amount(LIE_WEI)
    funded = clearinghouse("deposit", "fund", "0.01ETH", "--yes", "--config", str(world.provisioned.config_path))
    assert funded.returncode == 0, funded.stderr  # the CLI talks to anvil itself, not through the proxy

    def watcher_refuses() -> bool:
        status = world.health()["watcher"]
        return "implausible chain data" in (status.get("last_error") or "")

    eventually(watcher_refuses, "the watcher refuses the lying DepositFunded log")
    time.sleep(1.0)  # several more watcher polls, all told the lie
    assert len(chain_events(world, cursor_name)) == before, "an event of the lying range was recorded"
    proxy.lie = None
    eventually(lambda: len(chain_events(world, cursor_name)) == before + 1, "the true DepositFunded is recorded")
    (funded_event,) = chain_events(world, cursor_name)[before:]
    assert funded_event.event.kind is ChainEventKind.DEPOSIT_FUNDED
    assert funded_event.event.amount_wei == ETHER // 100


def chain_events(world: ChainDaemon, cursor_name: str) -> list[ledger.RecordedChainEvent]:
    db = ledger.open_database(world.provisioned.database_url)
    try:
        return ledger.recorded_chain_events(db, cursor_name)
    finally:
        db.dispose()
