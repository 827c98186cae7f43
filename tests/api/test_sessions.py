"""End to end: real server, real PaymentService on a SQLite file, an orchestrator checking
every payment (orchestrator.py), and clients shaped like go-livepeer and the Python SDK."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import pytest

from clearinghouse.api import ApiKeyAuthenticator, issue_api_key
from clearinghouse.ledger import (
    Database,
    create_gateway,
    last_issued_nonce,
    open_database,
    top_up,
    upgrade_to_head,
)
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.signer.goformat import parse_rat_string
from clearinghouse.signer.service import PaymentService
from tests.api.client import Reply, get, post
from tests.api.conftest import PEPPER, b64
from tests.api.orchestrator import UINT256_MAX, Orchestrator, keccak256, recover
from tests.signer.builders import KEY, L1_BLOCK, NOW_NS, OPEN_ROUNDS, OUR_ADDRESS

S = 1_000_000_000
PAY = "/generate-live-payment"
LV2V_PIXELS_PER_S = 1280 * 720 * 30
AUTH_REFRESH_S = 180


class Clock:
    """The signer's clock, advanced by the tests so billed seconds are exact."""

    def __init__(self) -> None:
        self.now_ns = NOW_NS

    def __call__(self) -> int:
        return self.now_ns

    @property
    def now_s(self) -> int:
        return self.now_ns // S


@dataclass
class Signer:
    url: str
    clock: Clock
    db: Database
    auth: dict[str, str]


@pytest.fixture(params=["sqlite", "postgresql"])
def signer_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """The signer's ledger: this test's SQLite file, or a migrated PostgreSQL schema."""
    if request.param == "sqlite":
        yield request.getfixturevalue("db")
        return
    url: str = request.getfixturevalue("postgresql_url")
    upgrade_to_head(url)
    database = open_database(url)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def signer(
    signer_db: Database, serve: Callable[..., AbstractContextManager[str]]
) -> Iterator[Signer]:
    """A real PaymentService behind a real server, with one gateway and its API key."""
    clock = Clock()
    chain = ChainView(
        deposit_wei=10**18,
        reserve_wei=10**18,
        withdraw_round=0,
        current_round=3500,
        last_l1_block=L1_BLOCK,
        round_block_hashes=OPEN_ROUNDS,
    )
    service = PaymentService(signer_db, KEY, lambda: chain, PaymentPolicy(), clock_ns=clock)
    gateway_id = create_gateway(signer_db, "acme").id
    top_up(signer_db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    key_text, _ = issue_api_key(signer_db, gateway_id, PEPPER)
    with serve(service, api_keys=ApiKeyAuthenticator(signer_db, PEPPER)) as url:
        yield Signer(url, clock, signer_db, {"Authorization": f"Bearer {key_text}"})


def lv2v_orchestrator() -> Orchestrator:
    """1 wei per 10^6 pixels (27.648 wei/s of lv2v), ticket EV ~100 wei: 1-2 tickets a call."""
    return Orchestrator(
        price_per_unit=1,
        pixels_per_unit=1_000_000,
        face_value=100_000,
        win_prob=UINT256_MAX // 1000,
    )


def signing_records(db: Database) -> int:
    with db.engine.connect() as connection:
        count: int = connection.exec_driver_sql("SELECT count(*) FROM signing_records").scalar_one()
        return count


@dataclass
class SessionLog:
    """What a client saw over a session."""

    statuses: list[int] = field(default_factory=list)
    nonces: dict[bytes, list[int]] = field(default_factory=dict)
    paid_at_s: list[int] = field(default_factory=list)
    state: dict[str, Any] | None = None


def accept(
    orchestrator: Orchestrator,
    reply: Reply,
    info: lp_rpc_pb2.OrchestratorInfo,
    log: SessionLog,
    clock: Clock,
) -> None:
    body = reply.json()
    payment = base64.b64decode(body["payment"], validate=True)
    orchestrator.accept(
        payment, base64.b64decode(body["segCreds"], validate=True), info, OUR_ADDRESS, L1_BLOCK
    )
    decoded = lp_rpc_pb2.Payment.FromString(payment)
    log.nonces.setdefault(decoded.ticket_params.recipient_rand_hash, []).extend(
        ticket.sender_nonce for ticket in decoded.ticket_sender_params
    )
    log.paid_at_s.append(clock.now_s)
    log.state = body["state"]


def check_session(orchestrator: Orchestrator, log: SessionLog) -> None:
    """Nonces start at 1 and run on per recipientRandHash; the balance is EV credited - fees."""
    for nonces in log.nonces.values():
        assert nonces == list(range(1, len(nonces) + 1))
    assert log.state is not None
    state = json.loads(base64.b64decode(log.state["State"]))
    billed_s = 60 + log.paid_at_s[-1] - log.paid_at_s[0]  # 60 s preload, then time since
    fees = (
        Fraction(orchestrator.price_per_unit, orchestrator.pixels_per_unit)
        * LV2V_PIXELS_PER_S
        * billed_s
    )
    assert parse_rat_string(state["Balance"]) == orchestrator.credited_ev - fees


def offer(
    orchestrator: Orchestrator, clock: Clock, auth_valid_s: int = 3600
) -> lp_rpc_pb2.OrchestratorInfo:
    return orchestrator.offer(
        OUR_ADDRESS, L1_BLOCK + 40, clock.now_s + AUTH_REFRESH_S + auth_valid_s
    )


def check_orchestrator_info_signature(reply: Reply) -> None:
    """What an orchestrator checks of OrchestratorRequest.address/sig."""
    assert reply.status == 200, reply.body
    address, signature = reply.json()["address"], reply.json()["signature"]
    assert address[2:].lower() == OUR_ADDRESS.hex() and address != address.lower()  # EIP-55
    assert recover(keccak256(address.encode()), bytes.fromhex(signature[2:])) == OUR_ADDRESS


def test_go_livepeer_shaped_client_completes_20_calls_across_a_refresh(signer: Signer) -> None:
    auth = signer.auth
    orchestrator, clock, log = lv2v_orchestrator(), signer.clock, SessionLog()
    headers = {**auth, "Content-Type": "application/json"}
    check_orchestrator_info_signature(post(signer.url, "/sign-orchestrator-info", None, headers))
    info = offer(orchestrator, clock, auth_valid_s=48)  # the token needs refreshing after ~10 calls
    capabilities = lp_rpc_pb2.Capabilities(bitstring=[1], version="0.9.1")
    state: dict[str, Any] = {"State": None, "Sig": None}
    refreshes = 0
    for _ in range(20):
        body = {
            "state": state,
            "orchestrator": b64(info.SerializeToString()),
            "ManifestID": "go-manifest",
            "inPixels": 0,
            "type": "lv2v",
            "capabilities": b64(capabilities.SerializeToString()),
        }
        reply = post(signer.url, PAY, body, headers)
        if reply.status == 480:
            assert reply.headers["livepeer-orchestrator-url"] == orchestrator.url
            refreshes += 1
            info = offer(orchestrator, clock)
            body["orchestrator"] = b64(info.SerializeToString())
            reply = post(signer.url, PAY, body, headers)
        log.statuses.append(reply.status)
        if reply.status == 200:
            accept(orchestrator, reply, info, log, clock)
            state = reply.json()["state"]
            seg = lp_rpc_pb2.SegData.FromString(base64.b64decode(reply.json()["segCreds"]))
            assert seg.manifestId == b"go-manifest" and seg.capabilities == capabilities
        else:
            assert reply.status == 482 and reply.json()["state"] == state, reply.body
        clock.now_ns += 5 * S
    assert refreshes == 1 and len(log.nonces) == 2
    assert set(log.statuses) <= {200, 482} and log.statuses.count(200) >= 15
    check_session(orchestrator, log)
    assert signing_records(signer.db) == log.statuses.count(200)


def test_sdk_shaped_client_completes_20_calls(signer: Signer) -> None:
    auth = signer.auth
    orchestrator, clock, log = lv2v_orchestrator(), signer.clock, SessionLog()
    check_orchestrator_info_signature(post(signer.url, "/sign-orchestrator-info", {}, auth))
    info = offer(orchestrator, clock)
    for _ in range(20):
        body: dict[str, Any] = {
            "orchestrator": b64(info.SerializeToString()),
            "type": "lv2v",
            "ManifestID": "sdk-manifest",
        }
        if log.state is not None:
            body["state"] = log.state
        reply = post(signer.url, PAY, body, auth)
        log.statuses.append(reply.status)
        if reply.status == 200:
            accept(orchestrator, reply, info, log, clock)
        else:
            assert reply.status == 482, reply.body  # the SDK skips this cycle
        clock.now_ns += 5 * S
    assert set(log.statuses) <= {200, 482} and log.statuses.count(200) >= 15
    check_session(orchestrator, log)


def live_body(
    info: lp_rpc_pb2.OrchestratorInfo, state: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orchestrator": b64(info.SerializeToString()),
        "type": "live",
        "ManifestID": "m-1",
        **extra,
    }
    if state is not None:
        body["state"] = state
    return body


def test_go_livepeer_numbers_over_http(signer: Signer) -> None:
    """Price 3 wei/s, EV 35: first call 1 ticket and balance 5; after 12 s 1 ticket, balance 4."""
    auth = signer.auth
    orchestrator = Orchestrator(price_per_unit=3, pixels_per_unit=1)
    info = offer(orchestrator, signer.clock)
    first = post(signer.url, PAY, live_body(info), auth)
    orchestrator.accept(
        base64.b64decode(first.json()["payment"]),
        base64.b64decode(first.json()["segCreds"]),
        info,
        OUR_ADDRESS,
        L1_BLOCK,
    )
    signer.clock.now_ns += 12 * S
    second = post(signer.url, PAY, live_body(info, first.json()["state"]), auth)
    orchestrator.accept(
        base64.b64decode(second.json()["payment"]),
        base64.b64decode(second.json()["segCreds"]),
        info,
        OUR_ADDRESS,
        L1_BLOCK,
    )
    balances = [
        json.loads(base64.b64decode(reply.json()["state"]["State"]))["Balance"]
        for reply in (first, second)
    ]
    assert balances == ["5", "4"] and orchestrator.tickets_accepted == 2


def test_refused_calls_sign_nothing(signer: Signer) -> None:
    auth = signer.auth
    orchestrator = Orchestrator(price_per_unit=3, pixels_per_unit=1)
    info = offer(orchestrator, signer.clock)
    rand_hash = info.ticket_params.recipient_rand_hash
    first = post(signer.url, PAY, live_body(info), auth).json()
    signer.clock.now_ns += 12 * S
    second = post(signer.url, PAY, live_body(info, first["state"]), auth)
    assert second.status == 200
    records = signing_records(signer.db)
    tampered_state = json.loads(base64.b64decode(second.json()["state"]["State"]))
    tampered_state["Balance"] = "1000000"
    tampered = {
        "State": b64(json.dumps(tampered_state, separators=(",", ":")).encode()),
        "Sig": second.json()["state"]["Sig"],
    }
    other = Orchestrator(address=bytes(19) + b"\x01")
    cases: list[tuple[dict[str, Any], dict[str, str], int, str]] = [
        (
            live_body(info, first["state"], app="fork"),
            auth,
            409,
            "stale state",
        ),  # replay of an old state
        (live_body(info, tampered), auth, 400, "invalid"),
        (
            live_body(offer(other, signer.clock), second.json()["state"]),
            auth,
            400,
            "orchestratorAddress mismatch",
        ),
        (live_body(info, second.json()["state"], ManifestID=""), auth, 400, "missing manifestID"),
        ({**live_body(info), "orchestrator": "bm90IHByb3RvYnVm"}, auth, 400, "protobuf"),
        ({**live_body(info), "type": "vod"}, auth, 400, "invalid job type"),
        ({**live_body(info), "type": "", "inPixels": 10**15}, auth, 400, "exceeds maximum of 100"),
        (
            live_body(info),
            {"Authorization": "Bearer chk_" + "Z" * 43},
            401,
            "unknown or revoked API key",
        ),
    ]
    for body, headers, status, message in cases:
        reply = post(signer.url, PAY, body, headers)
        assert (reply.status, message in reply.message) == (status, True), (
            body.get("type"),
            reply.body,
        )
    assert signing_records(signer.db) == records
    assert last_issued_nonce(signer.db, rand_hash) == 2


def test_parallel_reuse_of_one_state_signs_once(signer: Signer) -> None:
    auth = signer.auth
    orchestrator = Orchestrator(price_per_unit=3, pixels_per_unit=1)
    info = offer(orchestrator, signer.clock)
    first = post(signer.url, PAY, live_body(info), auth).json()
    signer.clock.now_ns += 12 * S
    replies: list[Reply] = []
    bodies = [
        live_body(info, first["state"], app=""),
        live_body(info, first["state"], ManifestID="m-2"),
    ] * 4

    def call(body: dict[str, Any]) -> None:
        replies.append(post(signer.url, PAY, body, auth))

    threads = [threading.Thread(target=call, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted({reply.status for reply in replies}) == [200, 409]
    signed = {reply.json()["payment"] for reply in replies if reply.status == 200}
    assert len(signed) == 1  # retries of the winning request got its stored answer
    assert signing_records(signer.db) == 2
    assert last_issued_nonce(signer.db, info.ticket_params.recipient_rand_hash) == 2


def test_482_returns_the_unchanged_state(signer: Signer) -> None:
    auth = signer.auth
    orchestrator = Orchestrator(price_per_unit=3, pixels_per_unit=1)
    info = offer(orchestrator, signer.clock)
    first = post(signer.url, PAY, live_body(info), auth).json()  # balance 5 wei
    signer.clock.now_ns += 1 * S  # 3 wei due; fresh params with a 5-wei EV: max(fee, EV) = 5
    orchestrator.face_value = 15
    reply = post(
        signer.url, PAY, live_body(offer(orchestrator, signer.clock), first["state"]), auth
    )
    assert reply.status == 482 and reply.json()["state"] == first["state"]
    assert signing_records(signer.db) == 1


def test_a_gateway_without_funds_gets_483_and_nothing_signed(signer: Signer) -> None:
    key_text, _ = issue_api_key(signer.db, create_gateway(signer.db, "unfunded").id, PEPPER)
    info = offer(Orchestrator(price_per_unit=3, pixels_per_unit=1), signer.clock)
    reply = post(signer.url, PAY, live_body(info), {"Authorization": f"Bearer {key_text}"})
    assert reply.status == 483 and "balance" in reply.message, reply.body
    assert signing_records(signer.db) == 0


def test_readyz_on_the_real_service(signer: Signer) -> None:
    assert get(signer.url, "/readyz").json() == {"status": "ready"}
