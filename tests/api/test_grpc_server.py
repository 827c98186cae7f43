"""The gRPC server around the service: deadlines, graceful shutdown, health, reflection, TLS."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from clearinghouse.api import ApiKeyAuthenticator
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.grpc_server import GrpcServer, GrpcTls
from clearinghouse.api.grpc_service import SERVICE_NAME, GrpcGateway
from clearinghouse.ledger import Database, last_issued_nonce
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import clearinghouse_pb2_grpc, lp_rpc_pb2
from tests.api.conftest import PEPPER
from tests.api.grpc_client import (
    CHAIN_ID,
    HEALTHY_CHAIN,
    TIMEOUT_S,
    GrpcStack,
    grpc_stack,
    ticket_signer,
)
from tests.api.orchestrator import Orchestrator
from tests.api.test_sessions import offer, signing_records
from tests.api.test_grpc_payments import pay_request

LOCK_HELD_S = 1.0
"""How long a test holds the SQLite write turn: long past the short deadlines below."""


def _held_writer_lock(db: Database) -> threading.Lock:
    lock = db.writer_lock
    assert lock is not None, "SQLite ledgers serialize writers on a process lock"
    assert lock.acquire(timeout=TIMEOUT_S)
    return lock


def test_a_call_whose_deadline_passed_while_waiting_signs_nothing(db: Database) -> None:
    with grpc_stack(db) as stack:
        info = offer(Orchestrator(price_per_unit=3), stack.clock)
        rand_hash = info.ticket_params.recipient_rand_hash
        lock = _held_writer_lock(db)
        try:
            with pytest.raises(grpc.RpcError) as raised:
                stack.stub.GeneratePayment(pay_request(info), metadata=stack.metadata, timeout=0.3)
            assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            time.sleep(LOCK_HELD_S)
        finally:
            lock.release()
        # The timed-out call holds the write turn until its transaction ends, so this call runs
        # after it: had the first signed, these nonces would not start at 1.
        paid = stack.stub.GeneratePayment(pay_request(info), metadata=stack.metadata, timeout=TIMEOUT_S)
        assert [t.sender_nonce for t in _tickets(paid.payment)] == [1]
        assert signing_records(db) == 1 and last_issued_nonce(db, rand_hash) == 1


def _tickets(payment: bytes) -> list[lp_rpc_pb2.TicketSenderParams]:
    return list(lp_rpc_pb2.Payment.FromString(payment).ticket_sender_params)


def test_shutdown_finishes_calls_in_progress_and_refuses_new_ones(db: Database) -> None:
    with grpc_stack(db) as stack:
        info = offer(Orchestrator(price_per_unit=3), stack.clock)
        outcome: dict[str, object] = {}

        def call() -> None:
            try:
                outcome["paid"] = stack.stub.GeneratePayment(
                    pay_request(info), metadata=stack.metadata, timeout=TIMEOUT_S
                )
            except grpc.RpcError as error:
                outcome["error"] = error.code()

        lock = _held_writer_lock(db)
        in_flight = threading.Thread(target=call)
        in_flight.start()
        time.sleep(0.3)  # the call is waiting for the write turn
        stopping = threading.Thread(target=lambda: outcome.setdefault("drained", stack.server.stop()))
        stopping.start()
        time.sleep(0.3)
        with pytest.raises(grpc.RpcError) as refused:
            stack.stub.GetDepositInfo(pb.GetDepositInfoRequest(), metadata=stack.metadata, timeout=TIMEOUT_S)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        lock.release()
        in_flight.join(TIMEOUT_S)
        stopping.join(TIMEOUT_S)
        assert "paid" in outcome and outcome["drained"] is True, outcome
        assert signing_records(db) == 1


def test_health_and_reflection(db: Database) -> None:
    with grpc_stack(db) as stack:
        health = health_pb2_grpc.HealthStub(stack.channel)
        for service in ("", SERVICE_NAME):
            answer = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=TIMEOUT_S)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(stack.channel)
        requests = [
            reflection_pb2.ServerReflectionRequest(list_services=""),
            reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE_NAME),
        ]
        listed, files = list(reflection.ServerReflectionInfo(iter(requests), timeout=TIMEOUT_S))
        names = {service.name for service in listed.list_services_response.service}
        assert {SERVICE_NAME, "grpc.health.v1.Health"} <= names
        described = [
            descriptor_pb2.FileDescriptorProto.FromString(raw)
            for raw in files.file_descriptor_response.file_descriptor_proto
        ]
        ours = next(f for f in described if f.package == "clearinghouse.v1")
        assert "lp_rpc.proto" in ours.dependency
        assert {m.name for m in ours.service[0].method} >= {"GetSignerInfo", "GeneratePayment"}


def _self_signed(directory: Path) -> tuple[bytes, bytes]:
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )
    return cert.read_bytes(), key.read_bytes()


def test_tls(db: Database, api_key: str, tmp_path: Path) -> None:
    from clearinghouse.signer.decision import PaymentPolicy
    from clearinghouse.signer.service import PaymentService
    from tests.signer.builders import KEY

    certificate, key = _self_signed(tmp_path)
    service = PaymentService(db, KEY, lambda: HEALTHY_CHAIN, PaymentPolicy())
    gateway = GatewayService(
        service, ticket_signer(db), db, chain_id=CHAIN_ID, ticket_broker=lambda: None, static_chain=HEALTHY_CHAIN
    )
    server = GrpcServer(
        GrpcGateway(gateway, ApiKeyAuthenticator(db, PEPPER)), "127.0.0.1", 0,
        tls=GrpcTls(certificate_chain=certificate, private_key=key),
    )
    port = server.start()
    try:
        credentials = grpc.ssl_channel_credentials(root_certificates=certificate)
        with grpc.secure_channel(f"localhost:{port}", credentials) as channel:
            stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)
            info = stub.GetSignerInfo(
                pb.GetSignerInfoRequest(),
                metadata=(("authorization", f"Bearer {api_key}"),),
                timeout=TIMEOUT_S,
            )
            assert info.chain_id == CHAIN_ID and info.ticket_broker == b""
        with grpc.insecure_channel(f"127.0.0.1:{port}") as plain:
            with pytest.raises(grpc.RpcError) as refused:
                clearinghouse_pb2_grpc.ClearinghouseStub(plain).GetSignerInfo(
                    pb.GetSignerInfoRequest(), timeout=TIMEOUT_S
                )
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        assert server.stop()


def test_binding_a_port_in_use_raises(db: Database) -> None:
    with grpc_stack(db) as stack:
        gateway = GatewayService(
            _NoPayments(), ticket_signer(db), db, chain_id=CHAIN_ID, ticket_broker=lambda: None,
            static_chain=HEALTHY_CHAIN,
        )
        second = GrpcServer(GrpcGateway(gateway, ApiKeyAuthenticator(db, PEPPER)), "127.0.0.1", _port(stack))
        with pytest.raises(OSError):
            second.start()


def _port(stack: GrpcStack) -> int:
    assert stack.server.port is not None
    return stack.server.port


class _NoPayments:
    def orchestrator_info_signature(self) -> tuple[str, bytes]:
        raise NotImplementedError

    def generate_payment(self, *args: object, **kwargs: object) -> object:
        raise NotImplementedError
