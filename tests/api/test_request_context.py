"""The request context over real servers: a line logged on a signing thread (HTTP) or a gRPC
server thread carries the request id the client sees and the caller's gateway, and a reused
thread does not carry a previous call's ids."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import pytest

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.grpc_server import GrpcServer
from clearinghouse.api.grpc_service import GrpcGateway
from clearinghouse.ledger import Database
from clearinghouse.domain.gateways import Gateway
from clearinghouse.logs import configure_logging
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import clearinghouse_pb2_grpc
from clearinghouse.signer.calls import Caller, PaymentCall
from tests.api.client import get, post
from tests.api.conftest import ORCHESTRATOR_B64, PEPPER
from tests.api.fakes import FakePaymentService
from tests.api.grpc_client import CHAIN_ID, HEALTHY_CHAIN, TICKET_BROKER, TIMEOUT_S, error_info, ticket_signer
from tests.signer.builders import orchestrator_info

LOG = logging.getLogger("clearinghouse.test.signing")


@dataclass
class LoggingService(FakePaymentService):
    """The fake service, logging from whichever thread runs it; raises ``fail`` when set."""

    threads: list[str] = field(default_factory=list)
    fail: Exception | None = None
    work_may_wait: bool = True  # so the work runs on a signing thread, whose lines are checked

    def payment_work(self, caller: Caller, call: PaymentCall) -> tuple[Caller, PaymentCall]:
        self.threads.append(threading.current_thread().name)
        LOG.info("signing for gateway %d", caller.gateway_id)
        if self.fail is not None:
            raise self.fail
        return super().payment_work(caller, call)

    def ready(self) -> bool:
        self.threads.append(threading.current_thread().name)
        LOG.info("checking readiness")
        return True


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        yield stream
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def logged(stream: io.StringIO, logger: str) -> list[dict[str, object]]:
    return [line for line in map(json.loads, stream.getvalue().splitlines()) if line["logger"] == logger]


def pay_body() -> dict[str, object]:
    return {"orchestrator": ORCHESTRATOR_B64, "type": "live", "ManifestID": "m-1"}


def test_signing_thread_lines_carry_the_request_and_gateway(
    log_stream: io.StringIO, db: Database, gateway: Gateway, auth: dict[str, str]
) -> None:
    service = LoggingService()
    app = RemoteSignerApp(service, api_keys=ApiKeyAuthenticator(db, PEPPER), signing_threads=1)
    with serving(app) as url:
        paid = post(url, "/generate-live-payment", pay_body(), {**auth, "X-Request-Id": "trace-42"})
        ready = get(url, "/readyz")  # the same single signing thread, no gateway this time
    assert (paid.status, ready.status) == (200, 200)
    assert paid.headers["x-request-id"] == "trace-42"
    assert len(set(service.threads)) == 1 and service.threads[0].startswith("signing")
    signing, readiness = logged(log_stream, LOG.name)
    assert (signing["request_id"], signing["gateway_id"]) == ("trace-42", gateway.id)
    assert readiness["request_id"] == ready.headers["x-request-id"] != "trace-42"
    assert "gateway_id" not in readiness


def test_an_unsafe_client_request_id_is_replaced(fake_server: str, auth: dict[str, str]) -> None:
    reply = post(fake_server, "/generate-live-payment", pay_body(), {**auth, "X-Request-Id": "x" * 65})
    assert reply.status == 200
    request_id = reply.headers["x-request-id"]
    assert len(request_id) == 16 and int(request_id, 16) >= 0


@pytest.fixture
def grpc_gateway(db: Database) -> Iterator[tuple[LoggingService, clearinghouse_pb2_grpc.ClearinghouseStub]]:
    service = LoggingService()
    gateway = GatewayService(
        service, ticket_signer(db), db, chain_id=CHAIN_ID, ticket_broker=lambda: TICKET_BROKER,
        static_chain=HEALTHY_CHAIN,
    )
    server = GrpcServer(GrpcGateway(gateway, ApiKeyAuthenticator(db, PEPPER)), "127.0.0.1", 0, threads=1)
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield service, clearinghouse_pb2_grpc.ClearinghouseStub(channel)
    finally:
        server.stop()


def test_grpc_lines_carry_the_call_and_gateway_and_a_reused_thread_starts_clean(
    log_stream: io.StringIO,
    grpc_gateway: tuple[LoggingService, clearinghouse_pb2_grpc.ClearinghouseStub],
    gateway: Gateway,
    api_key: str,
) -> None:
    service, stub = grpc_gateway
    request = pb.GeneratePaymentRequest(orchestrator=orchestrator_info(), type="live", manifest_id="m-1")
    key = ("authorization", f"Bearer {api_key}")
    stub.GeneratePayment(request, metadata=(key, ("x-request-id", "grpc-trace-1")), timeout=TIMEOUT_S)
    service.fail = RuntimeError("bug in the signer")
    with pytest.raises(grpc.RpcError) as failed:
        stub.GeneratePayment(request, metadata=(key,), timeout=TIMEOUT_S)
    assert error_info(failed.value).reason == "INTERNAL"
    assert len(set(service.threads)) == 1  # both calls ran on the one server thread
    first, second = logged(log_stream, LOG.name)
    assert (first["request_id"], first["gateway_id"]) == ("grpc-trace-1", gateway.id)
    assert second["request_id"] != "grpc-trace-1" and second["gateway_id"] == gateway.id
    (internal,) = logged(log_stream, "clearinghouse.api.grpc_service")
    assert (internal["request_id"], internal["gateway_id"]) == (second["request_id"], gateway.id)
    assert "RuntimeError: bug in the signer" in str(internal["exc_info"])
    assert f"(call {second['request_id']})" in str(failed.value.details())
