"""Issue #15 on a real anvil devnet with our contracts: trust nothing an orchestrator offers.

Each test gets its own anvil, devnet (1 ETH deposit, 1 ETH reserve, 200-block rounds), SQLite
ledger, two gateways and a `clearinghouse serve` subprocess refreshing its chain view every 0.2 s,
with the default face value cap (a tenth of the deposit). Every refusal is checked to sign
nothing: no ticket row, no signing record, no session, no nonce.

The attack, as reported: an OrchestratorInfo whose params carry creation round 1,000,000,001
and a face value equal to the whole deposit. Before the fix one ticket was signed, it counted as
exposure forever, and after the next honest payout health went critical for every gateway.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from web3 import Web3

from clearinghouse import ledger
from clearinghouse.domain.credit import CreditMode
from clearinghouse.api.api_keys import issue_api_key
from clearinghouse.chain.anvil import Anvil, AnvilOptions, start_anvil
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.devnet import DevnetParams, ProvisionedDevnet, advance_round, provision_devnet, transact
from clearinghouse.proto import lp_rpc_pb2
from tests.integration.conftest import Daemons, DaemonProcess, free_port
from tests.ledger.conftest import SessionDriver

ETHER = 10**18
DEPOSIT_WEI = ETHER
HOSTILE_ROUND = 1_000_000_001
WIN_ALMOST_ALWAYS = 2**256 - 2
ORCHESTRATOR_URL = "https://orchestrator.invalid:8935"
WAIT_S = 15.0
"""The daemon refreshes every 0.2 s: what it has not seen within 15 s is not coming."""
POLL_S = 0.1


@dataclass
class World:
    anvil: Anvil
    provisioned: ProvisionedDevnet
    daemon: DaemonProcess
    keys: dict[str, str]
    gateway_ids: dict[str, int]

    @property
    def w3(self) -> Web3:
        return self.anvil.web3()

    @property
    def orchestrator(self) -> bytes:
        return bytes.fromhex(self.provisioned.orchestrator[2:])

    def request(self, method: str, path: str, gateway: str = "a", body: bytes | None = None
                ) -> tuple[int, dict[str, Any], dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.daemon.port, timeout=10)
        try:
            headers = {"Authorization": f"Bearer {self.keys[gateway]}", "Content-Type": "application/json"}
            connection.request(method, path, body=body, headers=headers)
            answer = connection.getresponse()
            headers_ = {name.lower(): value for name, value in answer.getheaders()}
            return answer.status, json.loads(answer.read() or b"{}"), headers_
        finally:
            connection.close()

    def health(self) -> dict[str, Any]:
        status, document, _ = self.request("GET", "/v1/health")
        assert status == 200, document
        return document

    def rounds(self) -> Any:
        return bind(self.w3, "RoundsManager", self.provisioned.devnet.rounds_manager)

    def current_round(self) -> int:
        round_: int = self.rounds().functions.currentRound().call()
        return round_

    def block_hash(self, round_: int) -> bytes:
        return bytes(self.rounds().functions.blockHashForRound(round_).call())

    def signed(self) -> tuple[int, int, int, int]:
        """(ticket rows, signing records, sessions, highest nonce): what a refusal must not change."""
        db = ledger.open_database(self.provisioned.database_url)
        try:
            with db.engine.connect() as connection:
                tickets, records, sessions = (
                    connection.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
                    for name in ("signed_tickets", "signing_records", "payment_sessions"))
                nonce = connection.execute(text("SELECT coalesce(max(sender_nonce), 0) FROM signed_tickets")).scalar_one()
            return tickets, records, sessions, nonce
        finally:
            db.dispose()


@dataclass(frozen=True)
class Offer:
    info: bytes
    recipient_rand: int
    creation_round: int
    block_hash: bytes
    face_value_wei: int
    win_prob: int


def offer(world: World, face_value_wei: int, *, creation_round: int | None = None, block_hash: bytes | None = None,
          win_prob: int = WIN_ALMOST_ALWAYS, price_per_unit: int | None = None) -> Offer:
    """OrchestratorInfo from the devnet's orchestrator, for the current round and its recorded hash
    unless told otherwise; priced just under one ticket's EV, so each call signs one ticket."""
    round_ = world.current_round() if creation_round is None else creation_round
    block_hash = world.block_hash(round_) if block_hash is None else block_hash
    rand = int.from_bytes(secrets.token_bytes(32), "big")
    info = lp_rpc_pb2.OrchestratorInfo(transcoder=ORCHESTRATOR_URL, address=world.orchestrator)
    ev = face_value_wei * win_prob // (2**256 - 1)
    info.price_info.pricePerUnit = price_per_unit or max(1, ev - 1)
    info.price_info.pixelsPerUnit = 1
    params = info.ticket_params
    params.recipient = world.orchestrator
    params.face_value = face_value_wei.to_bytes(32, "big").lstrip(b"\0")
    params.win_prob = win_prob.to_bytes(32, "big").lstrip(b"\0")
    params.recipient_rand_hash = bytes(Web3.keccak(rand.to_bytes(32, "big")))
    params.seed = secrets.token_bytes(32)
    params.expiration_block = (world.w3.eth.block_number + 10**6).to_bytes(8, "big").lstrip(b"\0")
    params.expiration_params.creation_round = round_
    params.expiration_params.creation_round_block_hash = block_hash
    info.auth_token.token = secrets.token_bytes(16)
    info.auth_token.session_id = "hostile-test"
    info.auth_token.expiration = int(time.time()) + 3600
    return Offer(info.SerializeToString(), rand, round_, block_hash, face_value_wei, win_prob)


def payment_body(the_offer: Offer, manifest_id: str, state: dict[str, str] | None = None) -> bytes:
    body: dict[str, Any] = {"orchestrator": base64.b64encode(the_offer.info).decode(), "type": "fixed",
                            "ManifestID": manifest_id}
    if state is not None:
        body["state"] = state
    return json.dumps(body).encode()


def pay(world: World, the_offer: Offer, gateway: str = "a", state: dict[str, str] | None = None
        ) -> tuple[int, dict[str, Any], dict[str, str]]:
    return world.request("POST", "/generate-live-payment", gateway, payment_body(the_offer, "m-" + gateway, state))


def redeem(world: World, the_offer: Offer, answer: dict[str, Any]) -> None:
    """The orchestrator redeems the call's one ticket, as go-livepeer's redeemer would."""
    payment = lp_rpc_pb2.Payment.FromString(base64.b64decode(answer["payment"]))
    (ticket,) = payment.ticket_sender_params
    params = payment.ticket_params
    rand_hash = bytes(params.recipient_rand_hash)
    aux = the_offer.creation_round.to_bytes(32, "big") + the_offer.block_hash
    signed = (world.provisioned.orchestrator, world.provisioned.sender, the_offer.face_value_wei, the_offer.win_prob,
              ticket.sender_nonce, rand_hash, aux)
    broker = bind(world.w3, "TicketBroker", world.provisioned.devnet.ticket_broker)
    call = broker.functions.redeemWinningTicket(signed, ticket.sig, the_offer.recipient_rand)
    transact(world.w3, call, world.provisioned.orchestrator)


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT_S:g} s: {what}")
        time.sleep(POLL_S)


def configure(path: Path) -> None:
    """Fast refresh and staleness, EV limits for ETH-sized tickets; the face value cap stays the
    default (deposit / 10)."""
    text_ = path.read_text()
    for setting, value in (("refresh_s", "0.2"), ("watch_poll_s", "0.2"), ("stale_after_s", "2.0")):
        text_, count = re.subn(rf"^{setting} = .*$", f"{setting} = {value}", text_, flags=re.MULTILINE)
        assert count == 1, f"devnet config has no single {setting}"
    text_ += '\n[policy]\nmax_ticket_ev_wei = "10000000000000000000"\nmax_total_ev_wei = "10000000000000000000"\n'
    path.write_text(text_)


@pytest.fixture
def world(tmp_path: Path, daemons: Daemons) -> Iterator[World]:
    anvil = start_anvil(AnvilOptions(port=free_port()))
    try:
        port = free_port()
        provisioned = provision_devnet(tmp_path / "devnet", anvil, deposit_wei=DEPOSIT_WEI, reserve_wei=ETHER,
                                       params=DevnetParams(round_length_blocks=200), http_port=port)
        configure(provisioned.config_path)
        ledger.upgrade_to_head(provisioned.database_url)
        db = ledger.open_database(provisioned.database_url)
        keys, ids = {}, {}
        try:
            pepper = bytes.fromhex(provisioned.pepper_path.read_text().strip())
            for name in ("a", "b"):
                gateway = ledger.create_gateway(db, f"gateway-{name}")
                ledger.set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=100 * ETHER,
                                         actor="test", reason="integration")
                keys[name], _ = issue_api_key(db, gateway.id, pepper)
                ids[name] = gateway.id
        finally:
            db.dispose()
        yield World(anvil, provisioned, daemons.launch(provisioned.config_path, port), keys, ids)
    finally:
        anvil.stop()


def refused(world: World, the_offer: Offer, status: int, *message_parts: str, gateway: str = "a") -> dict[str, str]:
    """The call is answered ``status`` with a message naming each part, and signs nothing."""
    before = world.signed()
    got, answer, headers = pay(world, the_offer, gateway)
    assert got == status, answer
    for part in message_parts:
        assert part in answer["error"]["message"], answer
    assert world.signed() == before, "a refusal signed something or used a nonce"
    return headers


def test_the_poisoning_attack_signs_nothing_and_other_gateways_keep_signing(world: World) -> None:
    """Fails before the fix: the hostile call was signed, and after one honest payout the
    deposit was below "the largest face value in flight", so gateway b got 503."""
    # A record such an attack left in the ledger before the signer refused it: it must not count.
    db = ledger.open_database(world.provisioned.database_url)
    try:
        leftover = SessionDriver(world.gateway_ids["a"], face_value=DEPOSIT_WEI, win_prob=2**200, price_per_unit=10)
        ledger.record_signing_call(db, leftover.next_call(1, creation_round=HOSTILE_ROUND, recipient=world.orchestrator))
    finally:
        db.dispose()
    # The attack itself: refused, naming the field and the expected value.
    hostile = offer(world, DEPOSIT_WEI, creation_round=HOSTILE_ROUND, block_hash=secrets.token_bytes(32),
                    win_prob=2**200)
    current = world.current_round()
    refused(world, hostile, 400,
            f"ticket_params.expiration_params.creation_round {HOSTILE_ROUND} is after the current round {current}",
            f"expected a round in 1..{current}")
    # An honest payout: the deposit drops by the ticket's face value.
    face = 5 * 10**16
    honest = offer(world, face)
    status, answer, _ = pay(world, honest)
    assert status == 200, answer
    redeem(world, honest, answer)
    eventually(lambda: world.health().get("chain", {}).get("deposit_wei") == str(DEPOSIT_WEI - face),
               "the daemon reads the deposit after the payout")
    health = world.health()
    assert health["state"] in ("ok", "warn"), health["findings"]
    assert int(health["exposure"]["max_face_value_wei"]) <= face, health["exposure"]
    # And every gateway keeps signing.
    status, answer, _ = pay(world, offer(world, 10**15), gateway="b")
    assert status == 200, answer


def test_a_wrong_block_hash_and_rounds_outside_the_window_sign_nothing(world: World) -> None:
    assert world.current_round() == 1
    recorded = world.block_hash(1)
    wrong = secrets.token_bytes(32)
    refused(world, offer(world, 10**15, block_hash=wrong), 400,
            f"creation_round_block_hash 0x{wrong.hex()} is not the block hash the RoundsManager recorded for round 1",
            f"expected 0x{recorded.hex()}")
    refused(world, offer(world, 10**15, creation_round=2, block_hash=recorded), 400,
            "creation_round 2 is after the current round 1")
    advance_round(world.w3, world.provisioned.devnet)
    advance_round(world.w3, world.provisioned.devnet)
    eventually(lambda: world.health().get("chain", {}).get("current_round") == 3, "the daemon sees round 3")
    # Round 1 + ticketValidityPeriod (2) is not > 3: the TicketBroker would say "ticket is expired".
    headers = refused(world, offer(world, 10**15, creation_round=1, block_hash=recorded), 480,
                      "creation_round 1 is expired", "expected a round in 2..3")
    assert headers.get("livepeer-orchestrator-url") == ORCHESTRATOR_URL
    # The round before the current one is still open.
    status, answer, _ = pay(world, offer(world, 10**15, creation_round=2))
    assert status == 200, answer


def test_face_value_defaults_to_a_tenth_of_the_deposit(world: World) -> None:
    cap = DEPOSIT_WEI // 10
    refused(world, offer(world, cap + 1), 400,
            f"ticket faceValue {cap + 1} wei > max faceValue {cap} wei: deposit {DEPOSIT_WEI} wei / 10")
    status, answer, _ = pay(world, offer(world, cap))
    assert status == 200, answer


def test_a_session_is_asked_to_refresh_before_nonce_500(world: World) -> None:
    """go-livepeer v0.9.2 (#4028): 480 with Livepeer-Orchestrator-URL once the next nonce under
    the recipientRandHash would reach 500; calls of ~100 tickets never pass 600."""
    face, win_prob = 10**15, (2**256 - 1) // 1000
    ev = face * win_prob // (2**256 - 1)
    hundred = offer(world, face, win_prob=win_prob, price_per_unit=99 * ev + ev // 2)  # ~100 tickets a call
    state: dict[str, str] | None = None
    last_nonce = 0
    for _ in range(10):
        before = world.signed()
        status, answer, headers = pay(world, hundred, state=state)
        if status != 200:
            break
        payment = lp_rpc_pb2.Payment.FromString(base64.b64decode(answer["payment"]))
        nonces = [ticket.sender_nonce for ticket in payment.ticket_sender_params]
        assert nonces[0] == last_nonce + 1 and nonces[0] < 500 and nonces[-1] <= 600
        last_nonce, state = nonces[-1], answer["state"]
    else:
        raise AssertionError("no refresh within 10 calls")
    assert status == 480, answer
    assert last_nonce + 1 >= 500 and "expected below 500" in answer["error"]["message"]
    assert headers.get("livepeer-orchestrator-url") == ORCHESTRATOR_URL
    assert world.signed() == before


def test_a_lost_first_answer_retried_gets_the_stored_answer(world: World) -> None:
    first_offer = offer(world, 10**15)
    body = payment_body(first_offer, "stream-1")
    status, first, _ = world.request("POST", "/generate-live-payment", "a", body)
    assert status == 200, first
    after_first = world.signed()
    status, retried, _ = world.request("POST", "/generate-live-payment", "a", body)
    assert status == 200 and retried == first
    assert world.signed() == after_first == (1, 1, 1, 1)
    # The stored state carries on as the session's head.
    status, next_answer, _ = world.request("POST", "/generate-live-payment", "a",
                                           payment_body(first_offer, "stream-1", first["state"]))
    assert status in (200, 482), next_answer
