"""The /v1/ JSON routes: the gRPC methods over HTTP on the same service, state store and ledger,
with the same reason strings and the HTTP statuses of errors.REASON_STATUS."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from google.protobuf import json_format

from clearinghouse.api import issue_api_key
from clearinghouse.domain.limits import REQUEST_BODY_BYTES_MAX, REQUEST_HEADER_BYTES_MAX
from clearinghouse.ledger import Database, create_gateway
from clearinghouse.proto import clearinghouse_pb2 as pb
from tests.api.client import Reply, get, request
from tests.api.conftest import PEPPER
from tests.api.grpc_client import TIMEOUT_S, GrpcStack, grpc_stack
from tests.api.orchestrator import Orchestrator
from tests.api.test_grpc_payments import pay, pay_request
from tests.api.test_grpc_tickets import tickets_request
from tests.api.test_sessions import S, offer, signing_records
from tests.signer.builders import L1_BLOCK, OUR_ADDRESS


@pytest.fixture
def stack(db: Database) -> Iterator[GrpcStack]:
    with grpc_stack(db) as running:
        yield running


def body(message: Any) -> dict[str, Any]:
    document: dict[str, Any] = json_format.MessageToDict(message)
    return document


def call(stack: GrpcStack, method: str, path: str, payload: dict[str, Any] | None = None, **headers: str) -> Reply:
    return request(stack.http_url, method, path, payload, {**stack.http_auth, **headers})


def reason(reply: Reply) -> tuple[int, str]:
    return reply.status, reply.json()["error"]["reason"]


def test_the_openapi_document_describes_every_route(stack: GrpcStack) -> None:
    document = get(stack.http_url, "/v1/openapi.json").json()  # no key needed
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {
        "/v1/signer-info", "/v1/generate-payment", "/v1/sign-tickets", "/v1/deposit", "/v1/usage", "/v1/openapi.json",
    }
    schemas = document["components"]["schemas"]
    refs = set()

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"].rsplit("/", 1)[1])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(document)
    assert refs <= set(schemas) and "net.OrchestratorInfo" in schemas
    assert "INSUFFICIENT_BALANCE" in schemas["Error"]["properties"]["error"]["properties"]["reason"]["enum"]


def test_signer_info_and_deposit_equal_the_grpc_answers(stack: GrpcStack) -> None:
    for path, method, empty in (
        ("/v1/signer-info", stack.stub.GetSignerInfo, pb.GetSignerInfoRequest()),
        ("/v1/deposit", stack.stub.GetDepositInfo, pb.GetDepositInfoRequest()),
    ):
        reply = call(stack, "GET", path)
        assert reply.status == 200, reply.body
        expected = json_format.MessageToDict(
            method(empty, metadata=stack.metadata, timeout=TIMEOUT_S), always_print_fields_with_no_presence=True
        )
        assert reply.json() == expected


def test_a_session_over_json_continues_over_grpc(stack: GrpcStack) -> None:
    orchestrator = Orchestrator(price_per_unit=3)
    info = offer(orchestrator, stack.clock)
    first = call(stack, "POST", "/v1/generate-payment", body(pay_request(info)))
    assert first.status == 200, first.body
    answer = json_format.ParseDict(first.json(), pb.GeneratePaymentResponse())
    orchestrator.accept(answer.payment, answer.seg_creds, info, OUR_ADDRESS, L1_BLOCK)
    stack.clock.now_ns += 12 * S
    second = pay(stack, pay_request(info, answer.state))
    orchestrator.accept(second.payment, second.seg_creds, info, OUR_ADDRESS, L1_BLOCK)
    stale = call(stack, "POST", "/v1/generate-payment", body(pay_request(info, answer.state, app="fork")))
    assert reason(stale) == (409, "STALE_STATE")
    assert signing_records(stack.db) == 2


def test_sign_tickets_and_usage_over_json(stack: GrpcStack) -> None:
    info = offer(Orchestrator(price_per_unit=3), stack.clock)
    started = stack.clock.now_ns // 10**9 - 1  # the service's one clock stamps the records
    first = call(stack, "POST", "/v1/sign-tickets", body(tickets_request(info, "json-1", count=3)))
    assert first.status == 200, first.body
    assert [t["senderNonce"] for t in first.json()["tickets"]] == [1, 2, 3]
    again = call(stack, "POST", "/v1/sign-tickets", body(tickets_request(info, "json-1", count=3)))
    assert again.json()["replayed"] is True and again.json()["payment"] == first.json()["payment"]
    reused = call(stack, "POST", "/v1/sign-tickets", body(tickets_request(info, "json-1", count=4)))
    assert reason(reused) == (409, "REQUEST_ID_REUSED")
    usage = call(stack, "GET", f"/v1/usage?startUnixS={started}&endUnixS={started + 3600}")
    assert usage.status == 200, usage.body
    assert (usage.json()["calls"], usage.json()["tickets"]) == ("1", "3")  # int64 as proto3 JSON strings
    assert reason(call(stack, "GET", f"/v1/usage?start_unix_s={started}&end_unix_s={started}")) == (400, "BAD_REQUEST")
    hour = started // 3600 * 3600
    days = call(stack, "GET", f"/v1/usage?startUnixS={hour}&endUnixS={hour + 7200}&groupBy=USAGE_GROUPING_DAY")
    assert days.status == 200, days.body
    (group,) = days.json()["groups"]
    assert (group["calls"], group["tickets"], len(group["key"])) == ("1", "3", 1)


def test_errors_use_http_statuses_and_the_grpc_reasons(stack: GrpcStack) -> None:
    info = offer(Orchestrator(price_per_unit=3), stack.clock)
    key, _ = issue_api_key(stack.db, create_gateway(stack.db, "unfunded").id, PEPPER)
    unfunded = request(stack.http_url, "POST", "/v1/generate-payment", body(pay_request(info)),
                       {"Authorization": f"Bearer {key}"})
    assert reason(unfunded) == (402, "INSUFFICIENT_BALANCE")
    refresh = call(stack, "POST", "/v1/generate-payment", body(pay_request(offer(Orchestrator(), stack.clock, -1))))
    assert reason(refresh) == (422, "REFRESH_SESSION")
    assert refresh.json()["error"]["orchestratorUrl"] == Orchestrator().url
    assert reason(request(stack.http_url, "GET", "/v1/deposit")) == (401, "UNAUTHENTICATED")
    assert reason(call(stack, "POST", "/v1/sign-tickets", b"{not json")) == (400, "BAD_REQUEST")  # type: ignore[arg-type]
    assert reason(call(stack, "POST", "/v1/sign-tickets", {"ticketCount": "many"})) == (400, "BAD_REQUEST")
    too_large = call(stack, "POST", "/v1/sign-tickets", b"{" + b" " * 70_000 + b"}")  # type: ignore[arg-type]
    assert reason(too_large) == (413, "PAYLOAD_TOO_LARGE")
    huge_header = call(stack, "GET", "/v1/deposit", **{"X-Filler": "x" * 17_000})
    assert reason(huge_header) == (431, "HEADERS_TOO_LARGE")
    stack.chain.unlock()
    unhealthy = call(stack, "POST", "/v1/generate-payment", body(pay_request(info)))
    assert reason(unhealthy) == (503, "SIGNER_UNHEALTHY")
    assert signing_records(stack.db) == 0


def test_transport_errors_under_v1_name_their_reason(stack: GrpcStack, monkeypatch: pytest.MonkeyPatch) -> None:
    assert reason(call(stack, "GET", "/v1/nope")) == (404, "NOT_FOUND")
    assert reason(call(stack, "GET", "/v1/generate-payment")) == (405, "METHOD_NOT_ALLOWED")
    too_big = request(stack.http_url, "POST", "/v1/generate-payment", b"{" + b" " * REQUEST_BODY_BYTES_MAX + b"}",
                      {**stack.http_auth, "Content-Type": "application/json"})
    assert reason(too_big) == (413, "PAYLOAD_TOO_LARGE")
    big_header = call(stack, "GET", "/v1/deposit", **{"X-Big": "b" * REQUEST_HEADER_BYTES_MAX})
    assert reason(big_header) == (431, "HEADERS_TOO_LARGE")
    monkeypatch.setattr("clearinghouse.api.bodies.REQUEST_BODY_TIMEOUT_S", 0.2)
    parts = urlsplit(stack.http_url)
    auth = "".join(f"{name}: {value}\r\n" for name, value in stack.http_auth.items())
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(f"POST /v1/generate-payment HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 100\r\n\r\n{{".encode())
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 408") and b'"reason":"REQUEST_TIMEOUT"' in answer
    assert get(stack.http_url, "/nope").json() == {"error": {"message": "no route GET /nope"}}  # spec 02's body
