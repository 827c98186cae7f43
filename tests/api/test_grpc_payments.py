"""GeneratePayment, GetSignerInfo and GetDepositInfo over a real gRPC server on loopback: whole
sessions checked by the orchestrator of orchestrator.py, sessions that move between HTTP and
gRPC, and every refusal with its reason."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from clearinghouse.api import ApiKeyAuthenticator, issue_api_key
from clearinghouse.api.errors import Reason
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.grpc_server import grpc_serving
from clearinghouse.api.grpc_service import GrpcGateway
from clearinghouse.api.rate_limit import CallRate, RateLimiter
from clearinghouse.ledger import (
    Database,
    create_gateway,
    last_issued_nonce,
    open_database,
    set_gateway_status,
)
from clearinghouse.domain.gateways import GatewayStatus
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import clearinghouse_pb2_grpc, lp_rpc_pb2
from clearinghouse.signer.calls import Caller, PaymentCall, PaymentResult
from tests.api.client import post
from tests.api.conftest import PEPPER, b64
from tests.api.grpc_client import (
    CHAIN_ID,
    HEALTHY_CHAIN,
    TICKET_BROKER,
    TIMEOUT_S,
    GrpcStack,
    error_info,
    failure,
    grpc_stack,
    ticket_signer,
)
from tests.api.orchestrator import UINT256_MAX, Orchestrator, keccak256, recover
from tests.api.test_sessions import (
    S,
    Clock,
    SessionLog,
    check_session,
    live_body,
    lv2v_orchestrator,
    offer,
    signing_records,
)
from tests.signer.builders import L1_BLOCK, OUR_ADDRESS

PAY = "/generate-live-payment"


@pytest.fixture
def stack(db: Database) -> Iterator[GrpcStack]:
    with grpc_stack(db) as running:
        yield running


def pay_request(
    info: lp_rpc_pb2.OrchestratorInfo,
    state: pb.PaymentState | None = None,
    *,
    type: str = "live",
    manifest_id: str = "m-1",
    **fields: Any,
) -> pb.GeneratePaymentRequest:
    return pb.GeneratePaymentRequest(
        orchestrator=info, state=state, type=type, manifest_id=manifest_id, **fields
    )


def pay(stack: GrpcStack, request: pb.GeneratePaymentRequest) -> pb.GeneratePaymentResponse:
    response: pb.GeneratePaymentResponse = stack.stub.GeneratePayment(
        request, metadata=stack.metadata, timeout=TIMEOUT_S
    )
    return response


def accept(
    orchestrator: Orchestrator,
    response: pb.GeneratePaymentResponse,
    info: lp_rpc_pb2.OrchestratorInfo,
    log: SessionLog,
    now_s: int,
) -> None:
    orchestrator.accept(response.payment, response.seg_creds, info, OUR_ADDRESS, L1_BLOCK)
    payment = lp_rpc_pb2.Payment.FromString(response.payment)
    log.nonces.setdefault(payment.ticket_params.recipient_rand_hash, []).extend(
        ticket.sender_nonce for ticket in payment.ticket_sender_params
    )
    log.paid_at_s.append(now_s)
    log.state = {"State": b64(response.state.state), "Sig": b64(response.state.signature)}


def test_signer_info_is_what_an_orchestrator_checks(stack: GrpcStack) -> None:
    info = stack.stub.GetSignerInfo(
        pb.GetSignerInfoRequest(), metadata=stack.metadata, timeout=TIMEOUT_S
    )
    assert info.address == OUR_ADDRESS
    assert info.address_checksummed[2:].lower() == OUR_ADDRESS.hex()
    signed = keccak256(info.address_checksummed.encode())
    assert recover(signed, info.orchestrator_info_signature) == OUR_ADDRESS
    assert (info.chain_id, info.ticket_broker) == (CHAIN_ID, TICKET_BROKER)


def test_an_lv2v_session_of_20_calls_over_grpc_pays_the_orchestrator(stack: GrpcStack) -> None:
    orchestrator, clock, log = lv2v_orchestrator(), stack.clock, SessionLog()
    info = offer(orchestrator, clock)
    state: pb.PaymentState | None = None
    skipped = 0
    for _ in range(20):
        request = pay_request(info, state, type="lv2v", manifest_id="grpc-manifest")
        try:
            response = pay(stack, request)
        except grpc.RpcError as error:
            assert error_info(error).reason == Reason.NO_TICKETS_NEEDED
            skipped += 1
        else:
            accept(orchestrator, response, info, log, clock.now_s)
            state = response.state
        clock.now_ns += 5 * S
    assert skipped <= 5 and len(log.paid_at_s) == 20 - skipped
    check_session(orchestrator, log)
    assert signing_records(stack.db) == len(log.paid_at_s)


def test_a_session_moves_between_http_and_grpc(stack: GrpcStack) -> None:
    orchestrator = Orchestrator(price_per_unit=3, pixels_per_unit=1)
    info = offer(orchestrator, stack.clock)
    first = post(stack.http_url, PAY, live_body(info), stack.http_auth)
    assert first.status == 200, first.body
    orchestrator.accept(
        base64.b64decode(first.json()["payment"]),
        base64.b64decode(first.json()["segCreds"]),
        info,
        OUR_ADDRESS,
        L1_BLOCK,
    )
    http_state = pb.PaymentState(
        state=base64.b64decode(first.json()["state"]["State"]),
        signature=base64.b64decode(first.json()["state"]["Sig"]),
    )
    stack.clock.now_ns += 12 * S
    second = pay(stack, pay_request(info, http_state))
    orchestrator.accept(second.payment, second.seg_creds, info, OUR_ADDRESS, L1_BLOCK)
    stack.clock.now_ns += 12 * S
    grpc_state = {"State": b64(second.state.state), "Sig": b64(second.state.signature)}
    third = post(stack.http_url, PAY, live_body(info, grpc_state), stack.http_auth)
    assert third.status == 200, third.body
    orchestrator.accept(
        base64.b64decode(third.json()["payment"]),
        base64.b64decode(third.json()["segCreds"]),
        info,
        OUR_ADDRESS,
        L1_BLOCK,
    )
    balances = [
        json.loads(blob)["Balance"]
        for blob in (http_state.state, second.state.state, base64.b64decode(third.json()["state"]["State"]))
    ]
    assert balances == ["5", "4", "3"]  # go-livepeer's numbers: 1 ticket of EV 35 per 12 s at 3 wei/s
    # The answer says what the call cost (issue 19): balance 5 + EV 35 - fee 12 s x 3 wei/s = 4.
    assert (second.ticket_count, second.ev_signed_wei, second.fee_wei, second.balance_wei) == (1, "35", "36", "4")
    assert orchestrator.tickets_accepted == 3 and signing_records(stack.db) == 3
    # The HTTP call, retried over gRPC (its answer was lost), gets the stored answer.
    retried = pay(stack, pay_request(info, second.state))
    assert retried.replayed and b64(retried.payment) == third.json()["payment"]
    # Older states are history now, on either transport.
    replay = post(stack.http_url, PAY, live_body(info, first.json()["state"]), stack.http_auth)
    assert replay.status == 409
    code, reason, _ = failure(stack.stub.GeneratePayment, pay_request(info, http_state), metadata=stack.metadata)
    assert (code, reason) == (grpc.StatusCode.ABORTED, Reason.STALE_STATE)
    assert signing_records(stack.db) == 3


def test_a_retried_grpc_call_gets_the_stored_answer(stack: GrpcStack) -> None:
    info = offer(Orchestrator(price_per_unit=3, pixels_per_unit=1), stack.clock)
    first = pay(stack, pay_request(info))
    stack.clock.now_ns += 12 * S
    second = pay(stack, pay_request(info, first.state))
    again = pay(stack, pay_request(info, first.state))
    assert (again.replayed, again.payment, again.state) == (True, second.payment, second.state)
    figures = ("ticket_count", "ev_signed_wei", "fee_wei", "balance_wei")
    assert [getattr(again, name) for name in figures] == [getattr(second, name) for name in figures]
    assert second.ev_signed_wei and second.fee_wei and second.balance_wei
    assert signing_records(stack.db) == 2


def test_deposit_info_of_a_static_chain_view(stack: GrpcStack) -> None:
    info = stack.stub.GetDepositInfo(
        pb.GetDepositInfoRequest(), metadata=stack.metadata, timeout=TIMEOUT_S
    )
    assert info.health_state == pb.HEALTH_STATE_UNMONITORED
    assert info.position.deposit_wei == str(HEALTHY_CHAIN.deposit_wei)
    assert info.position.reserve_wei == str(HEALTHY_CHAIN.reserve_wei)
    assert (info.position.withdraw_round, info.position.current_round) == (0, 3500)
    assert not info.HasField("runway_s") and not info.HasField("exposure")


RefusalCase = Callable[[GrpcStack, Orchestrator], pb.GeneratePaymentRequest]


def _stale(stack: GrpcStack, orchestrator: Orchestrator) -> pb.GeneratePaymentRequest:
    info = offer(orchestrator, stack.clock)
    first = pay(stack, pay_request(info))
    stack.clock.now_ns += 12 * S
    pay(stack, pay_request(info, first.state))
    return pay_request(info, first.state, app="fork")


def _no_tickets(stack: GrpcStack, orchestrator: Orchestrator) -> pb.GeneratePaymentRequest:
    first = pay(stack, pay_request(offer(orchestrator, stack.clock)))  # balance 5 wei
    stack.clock.now_ns += 1 * S  # 3 wei due; a 5-wei EV: max(fee, EV) = 5 is covered
    orchestrator.face_value = 15
    return pay_request(offer(orchestrator, stack.clock), first.state)


def _face_value_too_low(stack: GrpcStack, orchestrator: Orchestrator) -> pb.GeneratePaymentRequest:
    orchestrator.win_prob = UINT256_MAX  # EV = face value
    return pay_request(offer(orchestrator, stack.clock))


def _unlocking(stack: GrpcStack, orchestrator: Orchestrator) -> pb.GeneratePaymentRequest:
    stack.chain.unlock()
    return pay_request(offer(orchestrator, stack.clock))


REFUSALS: dict[Reason, tuple[grpc.StatusCode, RefusalCase]] = {
    Reason.BAD_REQUEST: (
        grpc.StatusCode.INVALID_ARGUMENT,
        lambda s, o: pay_request(offer(o, s.clock), type="vod"),
    ),
    Reason.STALE_STATE: (grpc.StatusCode.ABORTED, _stale),
    Reason.REFRESH_SESSION: (
        grpc.StatusCode.FAILED_PRECONDITION,
        lambda s, o: pay_request(offer(o, s.clock, auth_valid_s=-1)),
    ),
    Reason.PARAMS_REJECTED: (grpc.StatusCode.INVALID_ARGUMENT, _face_value_too_low),
    Reason.PRICE_EXCEEDED: (
        grpc.StatusCode.FAILED_PRECONDITION,
        lambda s, o: pay_request(
            offer(o, s.clock), max_price=pb.MaxPrice(price="1", currency="wei", unit="seconds")
        ),
    ),
    Reason.NO_TICKETS_NEEDED: (grpc.StatusCode.FAILED_PRECONDITION, _no_tickets),
    Reason.TOO_MANY_TICKETS: (
        grpc.StatusCode.OUT_OF_RANGE,
        lambda s, o: pay_request(offer(o, s.clock), type="", in_pixels=10**15),
    ),
    Reason.TOTAL_EV_EXCEEDED: (
        grpc.StatusCode.OUT_OF_RANGE,
        # 30 tickets of EV 1e12 for a 3e13 fee: over go-livepeer's 2e13 maximum total EV.
        lambda s, o: pay_request(
            Orchestrator(
                price_per_unit=3 * 10**12, face_value=10**13, win_prob=UINT256_MAX // 10
            ).offer(OUR_ADDRESS, L1_BLOCK + 40, s.clock.now_s + 3600)
        ),
    ),
    Reason.SIGNER_UNHEALTHY: (grpc.StatusCode.UNAVAILABLE, _unlocking),
}


@pytest.mark.parametrize("reason", list(REFUSALS), ids=str)
def test_a_refused_payment_has_its_reason_and_signs_nothing(stack: GrpcStack, reason: Reason) -> None:
    code, case = REFUSALS[reason]
    orchestrator = Orchestrator(price_per_unit=3, pixels_per_unit=1)
    request = case(stack, orchestrator)
    records = signing_records(stack.db)
    got_code, got_reason, error = failure(stack.stub.GeneratePayment, request, metadata=stack.metadata)
    assert (got_code, got_reason) == (code, reason), error.details()
    assert signing_records(stack.db) == records
    if reason is Reason.REFRESH_SESSION:
        assert error_info(error).metadata["orchestrator_url"] == orchestrator.url


def test_auth_is_checked_first_on_every_method(stack: GrpcStack) -> None:
    calls = {
        "GetSignerInfo": pb.GetSignerInfoRequest(),
        "GeneratePayment": pay_request(offer(Orchestrator(), stack.clock)),
        "GetDepositInfo": pb.GetDepositInfoRequest(),
    }
    for name, request in calls.items():
        method = getattr(stack.stub, name)
        for metadata in ((), (("authorization", "Bearer chk_" + "Z" * 43),), (("authorization", "Basic x"),)):
            code, reason, _ = failure(method, request, metadata=metadata)
            assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, Reason.UNAUTHENTICATED), name
    raw = stack.channel.unary_unary("/clearinghouse.v1.Clearinghouse/GeneratePayment")
    garbage = b"\x0a\xff\xff\xff\xff\x0f"  # field 1, length-delimited, length past the end
    assert failure(raw, garbage)[1] == Reason.UNAUTHENTICATED  # not decoded before auth
    code, reason, error = failure(raw, garbage, metadata=stack.metadata)
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, Reason.BAD_REQUEST)
    assert "malformed GeneratePaymentRequest" in (error.details() or "")
    assert signing_records(stack.db) == 0


def test_a_disabled_gateway_is_refused(stack: GrpcStack) -> None:
    gateway = create_gateway(stack.db, "disabled")
    key, _ = issue_api_key(stack.db, gateway.id, PEPPER)
    set_gateway_status(stack.db, gateway.id, GatewayStatus.DISABLED)
    request = pay_request(offer(Orchestrator(), stack.clock))
    code, reason, _ = failure(
        stack.stub.GeneratePayment, request, metadata=(("authorization", f"Bearer {key}"),)
    )
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, Reason.GATEWAY_DISABLED)


def test_a_gateway_without_funds_is_refused_insufficient_balance(stack: GrpcStack) -> None:
    key, _ = issue_api_key(stack.db, create_gateway(stack.db, "unfunded").id, PEPPER)
    request = pay_request(offer(Orchestrator(price_per_unit=3), stack.clock))
    code, reason, error = failure(
        stack.stub.GeneratePayment, request, metadata=(("authorization", f"Bearer {key}"),)
    )
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.INSUFFICIENT_BALANCE)
    assert "balance" in (error.details() or "") and signing_records(stack.db) == 0
    assert last_issued_nonce(stack.db, request.orchestrator.ticket_params.recipient_rand_hash) == 0


def test_the_rate_limit_is_shared_with_http(db: Database) -> None:
    limiter = RateLimiter(CallRate(calls_per_s=0.001, burst=2), {})
    with grpc_stack(db, rate_limiter=limiter) as stack:
        info = offer(Orchestrator(price_per_unit=3), stack.clock)
        assert post(stack.http_url, PAY, live_body(info), stack.http_auth).status == 200
        pay(stack, pay_request(offer(Orchestrator(price_per_unit=3), stack.clock)))
        code, reason, _ = failure(stack.stub.GeneratePayment, pay_request(info), metadata=stack.metadata)
        assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.RATE_LIMITED)
        assert post(stack.http_url, PAY, live_body(info), stack.http_auth).status == 429


class _Broken:
    """A payment signer whose every call is a bug."""

    def orchestrator_info_signature(self) -> tuple[str, bytes]:
        return "0x" + OUR_ADDRESS.hex(), bytes(65)

    def generate_payment(
        self, caller: Caller, call: PaymentCall, *, deadline_s: float | None = None
    ) -> PaymentResult:
        raise RuntimeError("a bug with a secret in its message")


def test_a_bug_is_internal_and_masked(db: Database, api_key: str) -> None:
    gateway = GatewayService(
        _Broken(), ticket_signer(db), db, chain_id=CHAIN_ID, ticket_broker=lambda: None, static_chain=HEALTHY_CHAIN
    )
    with grpc_serving(GrpcGateway(gateway, ApiKeyAuthenticator(db, PEPPER))) as server:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)
            request = pay_request(offer(Orchestrator(), Clock()))
            code, reason, error = failure(
                stub.GeneratePayment, request, metadata=(("authorization", f"Bearer {api_key}"),)
            )
    assert (code, reason) == (grpc.StatusCode.INTERNAL, Reason.INTERNAL)
    assert "secret" not in (error.details() or "") and "Internal Server Error" in (error.details() or "")


def test_a_database_outage_is_unavailable() -> None:
    down = open_database("postgresql+psycopg://nobody@127.0.0.1:9/nothing")
    try:
        gateway = GatewayService(
            _Broken(), ticket_signer(down), down, chain_id=CHAIN_ID, ticket_broker=lambda: None,
            static_chain=HEALTHY_CHAIN,
        )
        with grpc_serving(GrpcGateway(gateway, ApiKeyAuthenticator(down, PEPPER))) as server:
            with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
                stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)
                code, reason, error = failure(
                    stub.GetSignerInfo,
                    pb.GetSignerInfoRequest(),
                    metadata=(("authorization", "Bearer chk_" + "A" * 43),),
                )
    finally:
        down.dispose()
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, Reason.UNAVAILABLE)
    assert error.details() == "database unavailable (unreachable); retry later"
