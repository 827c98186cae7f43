"""One thread pool per kind of blocking work (api/pools.py), over real servers: the /v1 JSON
routes and the gRPC server run the clearinghouse.v1 operations on the same gateway-call
threads, and a route run outside the app is refused rather than given threads of its own."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import grpc
import pytest
from google.protobuf import json_format

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.api.errors import InternalError
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.grpc_server import GrpcServer
from clearinghouse.api.grpc_service import GrpcGateway
from clearinghouse.api.pools import Pools, pools_of
from clearinghouse.api.v1_http import V1Routes
from clearinghouse.ledger import Database
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import clearinghouse_pb2_grpc
from clearinghouse.signer.calls import Caller, PaymentCall
from tests.api.client import post
from tests.api.conftest import PEPPER
from tests.api.fakes import FakePaymentService
from tests.api.grpc_client import CHAIN_ID, HEALTHY_CHAIN, TICKET_BROKER, TIMEOUT_S, ticket_signer
from tests.signer.builders import orchestrator_info


@dataclass
class ThreadRecordingService(FakePaymentService):
    """The fake service, noting the thread each payment is planned on."""

    threads: list[str] = field(default_factory=list)

    def payment_work(self, caller: Caller, call: PaymentCall) -> tuple[Caller, PaymentCall]:
        self.threads.append(threading.current_thread().name)
        return super().payment_work(caller, call)


def test_v1_and_grpc_share_the_gateway_call_threads(db: Database, api_key: str, auth: dict[str, str]) -> None:
    service = ThreadRecordingService()
    gateway = GatewayService(service, ticket_signer(db), db, chain_id=CHAIN_ID,
                             ticket_broker=lambda: TICKET_BROKER, static_chain=HEALTHY_CHAIN)
    keys = ApiKeyAuthenticator(db, PEPPER)
    pools = Pools.sized(gateway_call_threads=1)
    app = RemoteSignerApp(service, api_keys=keys, v1=V1Routes(gateway, keys), pools=pools)
    server = GrpcServer(GrpcGateway(gateway, keys), "127.0.0.1", 0, pool=pools.gateway_calls)
    request = pb.GeneratePaymentRequest(orchestrator=orchestrator_info(), type="live", manifest_id="m-1")
    server.start()
    try:
        with serving(app) as url:
            reply = post(url, "/v1/generate-payment", json_format.MessageToDict(request), auth)
        with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)
            stub.GeneratePayment(request, metadata=(("authorization", f"Bearer {api_key}"),), timeout=TIMEOUT_S)
    finally:
        server.stop()
        pools.close()
    assert reply.status == 200
    assert len(service.threads) == 2 and len(set(service.threads)) == 1
    assert service.threads[0].startswith("gateway-calls")


def test_a_route_outside_the_app_has_no_threads() -> None:
    with pytest.raises(InternalError):
        pools_of({"type": "http", "path": "/v1/usage"})
