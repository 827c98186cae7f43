"""The daemon on a real anvil devnet: tickets it signs are redeemed by an orchestrator on our
TicketBroker, and the deposit, exposure, per-gateway payouts and the signing guard follow.

Each test gets its own anvil, devnet, ledger and `clearinghouse serve` subprocess, configured to
refresh fast (0.2 s) and go stale soon (2 s) so the guard's effects show within seconds. The
orchestrator is anvil's second account, active in the BondingManager and unlocked on anvil, so
it redeems the way go-livepeer's redeemer would: redeemWinningTicket(ticket, sig, rand).
Tickets are signed with winProb 2^256 − 2 (they win unless keccak(sig ‖ rand) is the one
losing value) at a price just under their EV, so every call signs exactly one.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from clearinghouse import ledger
from clearinghouse.domain.chain_events import GatewayPayout
from clearinghouse.domain.credit import CreditMode
from clearinghouse.api.api_keys import issue_api_key
from clearinghouse.chain.anvil import Anvil, AnvilOptions, dump_state, load_state, mine, revert, snapshot, start_anvil
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.devnet import DevnetError, DevnetParams, ProvisionedDevnet, advance_round, provision_devnet, transact
from clearinghouse.proto import lp_rpc_pb2
from tests.cli.conftest import clearinghouse
from tests.integration.conftest import Daemons, DaemonProcess, free_port

ETHER = 10**18
DEPOSIT_WEI = ETHER
RESERVE_WEI = ETHER
WIN_ALMOST_ALWAYS = 2**256 - 2
PARAMS = DevnetParams(round_length_blocks=200)
"""Short rounds: advancing one mines 200 blocks in well under a second."""
WAIT_S = 15.0
"""The daemon refreshes every 0.2 s and the watcher polls every 0.2 s: anything not seen within
15 s is not coming."""
POLL_S = 0.1


@dataclass
class ChainDaemon:
    """One test's world: anvil (replaceable, for the outage test), the devnet, the daemon."""

    anvil: Anvil
    provisioned: ProvisionedDevnet
    daemon: DaemonProcess
    api_key: str
    gateway_id: int

    @property
    def w3(self) -> Web3:
        return self.anvil.web3()

    @property
    def sender(self) -> bytes:
        return bytes.fromhex(self.provisioned.sender[2:])

    @property
    def orchestrator(self) -> str:
        return self.provisioned.orchestrator

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, Any]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
        try:
            headers = {"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"}
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            return answer.status, json.loads(answer.read() or b"{}")
        finally:
            connection.close()

    def health(self) -> dict[str, Any]:
        status, document = self.request("GET", "/v1/health")
        assert status == 200, document
        return document

    def payouts(self) -> dict[int, GatewayPayout]:
        db = ledger.open_database(self.provisioned.database_url)
        try:
            return ledger.gateway_payouts(db)
        finally:
            db.dispose()


@dataclass(frozen=True)
class SignedTicket:
    """A ticket the daemon signed, with what the orchestrator needs to redeem it."""

    ticket: tuple[Any, ...]
    signature: bytes
    recipient_rand: int


def config_for_tests(path: Path) -> None:
    """Fast refresh, polling and staleness, and EV and face value limits that allow ETH-sized
    tickets (the devnet configuration already waits for no confirmations)."""
    text = path.read_text()
    for setting, value in (("refresh_s", "0.2"), ("watch_poll_s", "0.2"), ("stale_after_s", "2.0")):
        text, count = re.subn(rf"^{setting} = .*$", f"{setting} = {value}", text, flags=re.MULTILINE)
        assert count == 1, f"devnet config has no single {setting}"
    text += ('\n[policy]\nmax_ticket_ev_wei = "10000000000000000000"\nmax_total_ev_wei = "10000000000000000000"\n'
             f'max_face_value_wei = "{DEPOSIT_WEI}"\n')
    path.write_text(text)


@pytest.fixture
def world(tmp_path: Path, daemons: Daemons) -> Iterator[ChainDaemon]:
    anvil = start_anvil(AnvilOptions(port=free_port()))
    holder: list[Anvil] = [anvil]
    try:
        port = free_port()
        provisioned = provision_devnet(tmp_path / "devnet", anvil, deposit_wei=DEPOSIT_WEI, reserve_wei=RESERVE_WEI,
                                       params=PARAMS, http_port=port)
        config_for_tests(provisioned.config_path)
        ledger.upgrade_to_head(provisioned.database_url)
        db = ledger.open_database(provisioned.database_url)
        try:
            gateway = ledger.create_gateway(db, "chain-test")
            ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=100 * ETHER,
                                     actor="test", reason="integration")
            pepper = bytes.fromhex(provisioned.pepper_path.read_text().strip())
            api_key, _ = issue_api_key(db, gateway.id, pepper)
        finally:
            db.dispose()
        daemon = daemons.launch(provisioned.config_path, port)
        world = ChainDaemon(anvil, provisioned, daemon, api_key, gateway.id)
        yield world
        holder.append(world.anvil)
    finally:
        for node in holder:
            node.stop()


def sign(world: ChainDaemon, face_value_wei: int) -> SignedTicket:
    """One /generate-live-payment call for a one-ticket payment to the orchestrator; asserts 200."""
    status, answer = sign_call(world, face_value_wei)
    assert status == 200, answer
    return answer["ticket"]  # type: ignore[no-any-return]


def sign_call(world: ChainDaemon, face_value_wei: int) -> tuple[int, dict[str, Any]]:
    """One call; the answer carries the decoded SignedTicket under "ticket" when it succeeded."""
    w3 = world.w3
    rounds = bind(w3, "RoundsManager", world.provisioned.devnet.rounds_manager)
    creation_round = rounds.functions.currentRound().call()
    block_hash = bytes(rounds.functions.blockHashForRound(creation_round).call())
    rand = int.from_bytes(secrets.token_bytes(32), "big")
    rand_hash = bytes(Web3.keccak(rand.to_bytes(32, "big")))
    recipient = bytes.fromhex(world.orchestrator[2:])
    info = lp_rpc_pb2.OrchestratorInfo(transcoder="https://orchestrator.invalid:8935", address=recipient)
    info.price_info.pricePerUnit = face_value_wei - 1  # just under the EV: one ticket per call
    info.price_info.pixelsPerUnit = 1
    params = info.ticket_params
    params.recipient = recipient
    params.face_value = face_value_wei.to_bytes(32, "big").lstrip(b"\0")
    params.win_prob = WIN_ALMOST_ALWAYS.to_bytes(32, "big")
    params.recipient_rand_hash = rand_hash
    params.seed = secrets.token_bytes(32)
    params.expiration_block = (w3.eth.block_number + 10**6).to_bytes(8, "big").lstrip(b"\0")
    params.expiration_params.creation_round = creation_round
    params.expiration_params.creation_round_block_hash = block_hash
    info.auth_token.token = secrets.token_bytes(16)
    info.auth_token.session_id = "chain-test"
    info.auth_token.expiration = int(time.time()) + 3600
    body = json.dumps({"orchestrator": base64.b64encode(info.SerializeToString()).decode(), "type": "fixed",
                       "ManifestID": secrets.token_hex(8)}).encode()
    status, answer = world.request("POST", "/generate-live-payment", body)
    if status != 200:
        return status, answer
    payment = lp_rpc_pb2.Payment.FromString(base64.b64decode(answer["payment"]))
    (ticket_params,) = payment.ticket_sender_params
    ticket = (world.orchestrator, world.provisioned.sender, face_value_wei, WIN_ALMOST_ALWAYS,
              ticket_params.sender_nonce, rand_hash, creation_round.to_bytes(32, "big") + block_hash)
    return status, answer | {"ticket": SignedTicket(ticket, ticket_params.sig, rand)}


def redeem(world: ChainDaemon, signed: SignedTicket) -> Any:
    broker = bind(world.w3, "TicketBroker", world.provisioned.devnet.ticket_broker)
    call = broker.functions.redeemWinningTicket(signed.ticket, signed.signature, signed.recipient_rand)
    return transact(world.w3, call, world.orchestrator)


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S:g} s: {what}")
        time.sleep(POLL_S)


def test_a_redeemed_ticket_reaches_the_deposit_the_exposure_and_the_gateway_payout(world: ChainDaemon) -> None:
    face = 10**17
    first, second = sign(world, face), sign(world, face)

    def exposure_is(tickets: int) -> bool:
        exposure = world.health()["exposure"]
        return (exposure["tickets"], exposure["face_value_wei"]) == (tickets, str(tickets * face))

    eventually(lambda: exposure_is(2), "both tickets in the exposure at the next refresh")

    redeem(world, first)
    eventually(lambda: world.gateway_id in world.payouts(), "the watcher matches the redemption to the gateway")
    assert world.payouts()[world.gateway_id] == GatewayPayout(world.gateway_id, 1, face, face)
    eventually(lambda: world.health()["chain"]["deposit_wei"] == str(DEPOSIT_WEI - face), "deposit read again")
    eventually(lambda: exposure_is(1), "the redeemed ticket leaves the exposure")
    assert world.health()["state"] in ("ok", "warn")
    db = ledger.open_database(world.provisioned.database_url)
    try:  # the devnet's Chainlink stand-in priced every record at the rate in force
        assert ledger.unpriced_record_count(db, datetime.now(UTC) - timedelta(hours=1), datetime.now(UTC)) == 0
    finally:
        db.dispose()
    redeem(world, second)
    eventually(lambda: world.payouts()[world.gateway_id].tickets_redeemed == 2, "the second redemption is seen")
    eventually(lambda: exposure_is(0), "no ticket outstanding")


def test_a_ticket_beyond_the_deposit_takes_the_orchestrators_pool_share_of_the_reserve(world: ChainDaemon) -> None:
    w3, devnet = world.w3, world.provisioned.devnet
    other = list(w3.eth.accounts)[2]
    bonding = bind(w3, "BondingManager", devnet.bonding_manager)
    transact(w3, bonding.functions.setActiveTranscoder(other, True), devnet.owner)  # pool size 2
    face = 9 * 10**17
    first, second = sign(world, face), sign(world, face)
    redeem(world, first)
    redeem(world, second)  # deposit left 0.1 ETH: that, plus at most reserve / 2 = 0.5 ETH
    share = RESERVE_WEI // 2
    expected = GatewayPayout(world.gateway_id, 2, 2 * face, face + (DEPOSIT_WEI - face) + share)
    eventually(lambda: world.payouts().get(world.gateway_id) == expected, f"payouts {expected}")

    def reserve_claimed() -> bool:
        chain = world.health().get("chain", {})
        return chain.get("reserve_wei") == str(RESERVE_WEI - share) and chain.get("deposit_wei") == "0"

    eventually(reserve_claimed, "deposit 0 and reserve down by the orchestrator's share")
    allocations = world.health()["chain"]["reserve_allocations"]
    assert allocations == [{"orchestrator": world.orchestrator.lower(), "claimable_wei": "0", "claimed_wei": str(share)}]
    health = world.health()
    assert health["state"] == "critical"
    assert "no_deposit" in {f["reason"] for f in health["findings"]}
    status, answer = sign_call(world, 10**15)
    assert status == 503 and "no deposit" in answer["error"]["message"]


def test_unlock_stops_signing_with_503_and_cancelling_resumes(world: ChainDaemon) -> None:
    sign(world, 10**15)
    config = str(world.provisioned.config_path)
    unlocked = clearinghouse("deposit", "unlock", "--yes", "--config", config)
    assert unlocked.returncode == 0, unlocked.stderr

    def refused() -> bool:
        status, answer = sign_call(world, 10**15)
        return status == 503 and "unlock in progress" in answer["error"]["message"]

    eventually(refused, "signing refused with 503 while the unlock is in progress")
    cancelled = clearinghouse("deposit", "cancel-unlock", "--yes", "--config", config)
    assert cancelled.returncode == 0, cancelled.stderr
    eventually(lambda: sign_call(world, 10**15)[0] == 200, "signing again after cancel-unlock")


def test_an_expired_ticket_reverts_and_leaves_the_exposure(world: ChainDaemon) -> None:
    signed = sign(world, 10**16)
    eventually(lambda: world.health()["exposure"]["tickets"] == 1, "the ticket in the exposure")
    for _ in range(2):  # ticketValidityPeriod
        advance_round(world.w3, world.provisioned.devnet)
    eventually(lambda: world.health()["exposure"]["tickets"] == 0, "expired tickets leave the exposure")
    with pytest.raises(DevnetError, match="execution reverted: ticket is expired"):
        redeem(world, signed)


def test_a_reorg_that_removes_a_redemption_is_undone(world: ChainDaemon) -> None:
    face = 10**16
    signed = sign(world, face)
    before = snapshot(world.w3)
    redeem(world, signed)
    eventually(lambda: world.gateway_id in world.payouts(), "the redemption is seen")
    revert(world.w3, before)
    mine(world.w3, 3)  # a different chain, longer than the one that held the redemption
    eventually(lambda: world.gateway_id not in world.payouts(), "the reorged-out redemption is undone")
    eventually(lambda: world.health()["exposure"]["tickets"] == 1, "the ticket is outstanding again")
    redeem(world, signed)  # and it can still be redeemed on the surviving chain
    eventually(lambda: world.gateway_id in world.payouts(), "the new redemption is seen")


def test_a_dead_rpc_stops_signing_reads_go_on_and_it_recovers(world: ChainDaemon) -> None:
    sign(world, 10**15)
    state = dump_state(world.w3)
    port = world.anvil.port
    world.anvil.stop()

    def stale_refusal() -> bool:
        status, answer = sign_call_without_chain(world)
        return status == 503 and "chain data stale" in answer["error"]["message"]

    eventually(stale_refusal, "signing refused as stale once the RPC is gone")
    assert world.request("GET", "/healthz")[0] == 200
    assert world.health()["state"] == "critical"
    world.anvil = start_anvil(AnvilOptions(port=port))
    load_state(world.w3, state)
    eventually(lambda: sign_call(world, 10**15)[0] == 200, "signing again once the RPC is back")
    assert world.health()["state"] in ("ok", "warn")


def sign_call_without_chain(world: ChainDaemon) -> tuple[int, dict[str, Any]]:
    """A payment call made while anvil is down: params from the last known round."""
    info = lp_rpc_pb2.OrchestratorInfo(transcoder="https://orchestrator.invalid:8935",
                                       address=bytes.fromhex(world.orchestrator[2:]))
    info.price_info.pricePerUnit = 10**15 - 1
    info.price_info.pixelsPerUnit = 1
    params = info.ticket_params
    params.recipient = bytes.fromhex(world.orchestrator[2:])
    params.face_value = (10**15).to_bytes(8, "big").lstrip(b"\0")
    params.win_prob = WIN_ALMOST_ALWAYS.to_bytes(32, "big")
    params.recipient_rand_hash = secrets.token_bytes(32)
    params.seed = secrets.token_bytes(32)
    params.expiration_block = (10**9).to_bytes(8, "big").lstrip(b"\0")
    params.expiration_params.creation_round = 1
    params.expiration_params.creation_round_block_hash = b"\x01" * 32
    info.auth_token.token = b"token"
    info.auth_token.session_id = "chain-test"
    info.auth_token.expiration = int(time.time()) + 3600
    body = json.dumps({"orchestrator": base64.b64encode(info.SerializeToString()).decode(), "type": "fixed",
                       "ManifestID": secrets.token_hex(8)}).encode()
    return world.request("POST", "/generate-live-payment", body)
