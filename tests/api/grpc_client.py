"""Test helpers for the clearinghouse.v1 gRPC API: a real stack (PaymentService on a SQLite
ledger behind both a uvicorn HTTP server and a gRPC server on loopback), a client, and the
decoding of error details."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from clearinghouse.api import (
    ApiKeyAuthenticator,
    RemoteSignerApp,
    issue_api_key,
    serving,
)
from clearinghouse.api.grpc_server import GrpcServer, grpc_serving
from clearinghouse.api.grpc_service import GrpcGateway
from clearinghouse.api.rate_limit import RateLimiter
from clearinghouse.api.v1_http import V1Routes
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.ledger import Committer, Database, create_gateway, top_up
from clearinghouse.proto import clearinghouse_pb2_grpc
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.signer.limits import TICKETS_PER_CALL_MAX
from clearinghouse.signer.service import PaymentService
from clearinghouse.signer.tickets import TicketService
from tests.api.conftest import PEPPER
from tests.api.test_sessions import Clock
from tests.signer.builders import KEY, L1_BLOCK, OPEN_ROUNDS

TIMEOUT_S = 10.0
CHAIN_ID = 42161
TICKET_BROKER = bytes.fromhex("5b1ce829384eebfa30286f12d1e7a695ca45f5d2")
HEALTHY_CHAIN = ChainView(
    deposit_wei=10**18, reserve_wei=10**18, withdraw_round=0, current_round=3500, last_l1_block=L1_BLOCK,
    round_block_hashes=OPEN_ROUNDS,
)


@dataclass
class ChainHolder:
    """A chain view the test may change while servers read it."""

    view: ChainView = HEALTHY_CHAIN
    stale: str | None = None
    """Set, the chain guard refuses as LiveChainView does while its data is stale."""

    def __call__(self) -> ChainView:
        if self.stale is not None:
            raise SigningRefused(Refusal.SIGNER_UNSAFE, f"chain data stale: {self.stale}")
        return self.view

    def unlock(self) -> None:
        self.view = replace(self.view, withdraw_round=self.view.current_round)


@dataclass
class GrpcStack:
    """One PaymentService behind HTTP and gRPC, one funded gateway and its key."""

    db: Database
    clock: Clock
    chain: ChainHolder
    http_url: str
    server: GrpcServer
    channel: grpc.Channel
    stub: clearinghouse_pb2_grpc.ClearinghouseStub
    key: str
    gateway_id: int
    app: RemoteSignerApp
    committer: Committer
    http_auth: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.http_auth = {"Authorization": f"Bearer {self.key}"}

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.key}"),)


@contextmanager
def grpc_stack(
    db: Database, *, rate_limiter: RateLimiter | None = None, committer: Committer | None = None,
    overdue_guard: Callable[[int], None] | None = None, policy: PaymentPolicy = PaymentPolicy(),
    tickets_per_call_max: int = TICKETS_PER_CALL_MAX, **server_options: Any
) -> Iterator[GrpcStack]:
    """Start the stack on loopback ports; everything stops when the block ends. Both services
    record through one committer, as in the daemon; ``policy`` and ``tickets_per_call_max`` are
    the payment service's."""
    clock, chain = Clock(), ChainHolder()
    committer = committer or Committer(db)
    service = PaymentService(db, KEY, chain, policy, clock_ns=clock, committer=committer,
                             overdue_guard=overdue_guard, tickets_per_call_max=tickets_per_call_max)
    gateway_id = create_gateway(db, "acme").id
    top_up(db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    key, _ = issue_api_key(db, gateway_id, PEPPER)
    api_keys = ApiKeyAuthenticator(db, PEPPER)
    tickets = TicketService(db, KEY, chain, PaymentPolicy(), clock_ns=clock, committer=committer,
                            overdue_guard=overdue_guard)
    gateway = GatewayService(
        service, tickets, db, chain_id=CHAIN_ID, ticket_broker=lambda: TICKET_BROKER, static_chain=HEALTHY_CHAIN
    )
    with ExitStack() as stack:
        v1 = V1Routes(gateway, api_keys, rate_limiter)
        app = RemoteSignerApp(service, api_keys=api_keys, rate_limiter=rate_limiter, v1=v1)
        http_url = stack.enter_context(serving(app))
        server = stack.enter_context(
            grpc_serving(GrpcGateway(gateway, api_keys, rate_limiter), **server_options)
        )
        channel = stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
        stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)
        stack.callback(committer.close)
        yield GrpcStack(db, clock, chain, http_url, server, channel, stub, key, gateway_id, app, committer)


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    """The google.rpc.ErrorInfo in a failed call's status details (exactly one)."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    assert status is not None, "no grpc-status-details-bin trailer"
    assert len(status.details) == 1
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    assert info.domain == "clearinghouse.v1"
    return info


def failure(call: Any, request: Any, **kwargs: Any) -> tuple[grpc.StatusCode, str, grpc.RpcError]:
    """Make a call that must fail; its code, its ErrorInfo reason, and the error."""
    kwargs.setdefault("timeout", TIMEOUT_S)
    try:
        call(request, **kwargs)
    except grpc.RpcError as error:
        return error.code(), error_info(error).reason, error
    raise AssertionError("the call succeeded")


def ticket_signer(db: Database) -> TicketService:
    """A TicketService on the healthy static chain, for servers built by hand."""
    return TicketService(db, KEY, lambda: HEALTHY_CHAIN, PaymentPolicy())
