"""A daemon with the identity provider, as `serve` wires it: real HTTP and gRPC servers on loopback,
a real SQLite ledger, the real payment service and committer, an ES256 key file of the test's own,
the OIDC routes and the Builder API, and the API-key authenticator taking tokens too."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, issue_api_key, serving
from clearinghouse.api.server import bound_socket
from clearinghouse.api.builder_http import BuilderRoutes
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.grpc_server import grpc_serving
from clearinghouse.api.grpc_service import GrpcGateway
from clearinghouse.api.oidc_http import OidcRoutes
from clearinghouse.api.v1_http import V1Routes
from clearinghouse.identity.keys import create_key_file
from clearinghouse.identity.service import IdentityService, IdentitySettings, identity_service, register_app
from clearinghouse.identity.tokens import Scope
from clearinghouse.ledger import Committer, Database, create_gateway, top_up
from clearinghouse.proto import clearinghouse_pb2_grpc
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.service import PaymentService
from clearinghouse.signer.tickets import TicketService
from tests.api.conftest import PEPPER
from tests.api.grpc_client import CHAIN_ID, HEALTHY_CHAIN, TICKET_BROKER, ChainHolder
from tests.api.test_sessions import Clock
from tests.signer.builders import KEY

AUDIENCE = "clearinghouse"


@dataclass
class App:
    client_id: str
    secret: str
    gateway_id: int
    api_key: str


@dataclass
class IdentityStack:
    db: Database
    url: str
    stub: clearinghouse_pb2_grpc.ClearinghouseStub
    app: RemoteSignerApp
    identity: IdentityService
    keys_file: Path
    apps: list[App]

    @property
    def issuer(self) -> str:
        return self.identity.settings.issuer


def settings_for(issuer: str) -> IdentitySettings:
    return IdentitySettings(issuer=issuer, audience=AUDIENCE, user_token_lifetime_s=300, app_token_lifetime_s=3600,
                            clock_skew_s=30, user_scope=frozenset({Scope.SIGN}))


@contextmanager
def identity_stack(db: Database, tmp_path: Path, *, gateways: int = 2) -> Iterator[IdentityStack]:
    """Gateways ``acme``, ``bravo``… each prepaid 1 ETH with an API key and one app."""
    clock, chain = Clock(), ChainHolder()
    keys_file = tmp_path / "oidc-keys.json"
    create_key_file(keys_file)
    apps = []
    for name in ("acme", "bravo", "charlie")[:gateways]:
        gateway_id = create_gateway(db, name).id
        top_up(db, gateway_id, 10**18, actor="test", reason="prepaid funds")
        key, _ = issue_api_key(db, gateway_id, PEPPER)
        created, secret = register_app(db, PEPPER, gateway_id, f"{name}-app")
        apps.append(App(created.client_id, secret, gateway_id, key))
    with ExitStack() as stack:
        committer = Committer(db)
        stack.callback(committer.close)
        service = PaymentService(db, KEY, chain, PaymentPolicy(), clock_ns=clock, committer=committer)
        tickets = TicketService(db, KEY, chain, PaymentPolicy(), clock_ns=clock, committer=committer)
        gateway = GatewayService(service, tickets, db, chain_id=CHAIN_ID, ticket_broker=lambda: TICKET_BROKER,
                                 static_chain=HEALTHY_CHAIN)
        sock = bound_socket()  # the issuer is the server's own URL: known before it serves
        identity = identity_service(db, PEPPER, keys_file, settings_for(f"http://127.0.0.1:{sock.getsockname()[1]}"))
        api_keys = ApiKeyAuthenticator(db, PEPPER, tokens=identity.verified)
        identity.api_key_gateway = api_keys.gateway_of_key
        app = RemoteSignerApp(service, api_keys=api_keys, v1=V1Routes(gateway, api_keys),
                              oidc=OidcRoutes(identity), builder=BuilderRoutes(db, identity))
        stack.callback(app.close)
        url = stack.enter_context(serving(app, sock=sock))
        server = stack.enter_context(grpc_serving(GrpcGateway(gateway, api_keys, None)))
        channel = stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
        stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)  # type: ignore[no-untyped-call]
        yield IdentityStack(db, url, stub, app, identity, keys_file, apps)
