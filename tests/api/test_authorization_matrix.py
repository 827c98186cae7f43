"""Every route of a fully configured daemon, and every gRPC method, against every wrong credential.

The route list comes from the app itself (``RemoteSignerApp.routes()``) and the method list from
the proto descriptor, so a route or method added later without a row here fails the first tests.
Each wrong credential (none, malformed, unknown, revoked, a disabled gateway's key, the admin
token, the metrics token, a gateway key where an operator credential belongs; and of the identity
provider's: an expired or revoked token, a deactivated user's, one without the route's scope,
another app's, a user token where an app token belongs and the reverse) must be refused with its
status and leave the ledger as it was: no ticket signed, no invoice, no posting, no user.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, issue_api_key, serving
from clearinghouse.api.admin_http import AdminRoutes
from clearinghouse.api.builder_http import BuilderRoutes
from clearinghouse.api.identity_routes import ALLOWANCES, APP_USAGE, OWN_USAGE, USER, USER_TOKEN, USERS
from clearinghouse.api.dashboard import DashboardRoutes
from clearinghouse.api.discovery import DiscoveryBook
from clearinghouse.api.errors import Reason
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.grpc_server import grpc_serving
from clearinghouse.api.grpc_service import GrpcGateway
from clearinghouse.api.metrics import Metrics
from clearinghouse.api.identity_routes import DISCOVERY_PATH, INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH
from clearinghouse.api.oidc_http import OidcRoutes
from clearinghouse.api.server import bound_socket
from clearinghouse.api.v1_http import V1Routes
from clearinghouse.identity.keys import create_key_file
from clearinghouse.identity.service import identity_service, register_app
from clearinghouse.identity.tokens import Scope, TokenCodec, TokenUse
from clearinghouse.identity.keys import SigningKeys
from clearinghouse.ledger.identity import get_app, provision_user, update_user
from clearinghouse.ledger import Database, create_gateway, revoke_api_key, set_gateway_status, top_up
from clearinghouse.domain.gateways import GatewayStatus
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import clearinghouse_pb2_grpc
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.service import PaymentService
from clearinghouse.signer.tickets import TicketService
from tests.api.client import Reply, request
from tests.api.conftest import PEPPER, b64
from tests.api.grpc_client import CHAIN_ID, HEALTHY_CHAIN, TICKET_BROKER, ChainHolder, failure
from tests.api.identity_stack import settings_for
from tests.api.test_sessions import Clock
from tests.signer.builders import KEY, NOW_NS, orchestrator_info

ADMIN_TOKEN = "a" * 64
METRICS_TOKEN = "m" * 64
PAY = "/generate-live-payment"
NOW_S = NOW_NS // 10**9  # the services' clock (Clock): it stamps the records
START_S, END_S = NOW_S - 86_400, NOW_S + 86_400
USAGE = f"/v1/usage?startUnixS={START_S}&endUnixS={END_S}"

GATEWAY = "gateway key"
ADMIN = "admin token"
METRICS = "metrics token"
DASHBOARD_PAGE = "dashboard session cookie"
DASHBOARD_LOGIN = "dashboard login form"
CLIENT = "app client credentials"
APP_TOKEN = "app token"
USER_TOKEN_CREDENTIAL = "user token"
OPEN = "open"

ROUTES: dict[tuple[str, str], str] = {
    ("/sign-orchestrator-info", "POST"): GATEWAY,
    (PAY, "POST"): GATEWAY,
    ("/discover-orchestrators", "GET"): GATEWAY,
    ("/v1/health", "GET"): GATEWAY,
    ("/v1/signer-info", "GET"): GATEWAY,
    ("/v1/generate-payment", "POST"): GATEWAY,
    ("/v1/sign-tickets", "POST"): GATEWAY,
    ("/v1/deposit", "GET"): GATEWAY,
    ("/v1/usage", "GET"): GATEWAY,
    ("/admin/v1/invoices", "GET"): ADMIN,
    ("/admin/v1/invoices/draft", "POST"): ADMIN,
    ("/admin/v1/invoices/issue", "POST"): ADMIN,
    ("/admin/v1/invoices/paid", "POST"): ADMIN,
    ("/admin/v1/invoices/void", "POST"): ADMIN,
    ("/admin/v1/invoices/export", "GET"): ADMIN,
    ("/admin/v1/usage", "GET"): ADMIN,
    ("/metrics", "GET"): METRICS,
    (TOKEN_PATH, "POST"): CLIENT,
    (INTROSPECT_PATH, "POST"): CLIENT,
    (REVOKE_PATH, "POST"): CLIENT,
    (USERS, "GET"): APP_TOKEN,
    (USERS, "POST"): APP_TOKEN,
    (USER, "GET"): APP_TOKEN,
    (USER, "PUT"): APP_TOKEN,
    (USER, "DELETE"): APP_TOKEN,
    (USER_TOKEN, "POST"): APP_TOKEN,
    (ALLOWANCES, "GET"): APP_TOKEN,
    (ALLOWANCES, "POST"): APP_TOKEN,
    (APP_USAGE, "GET"): APP_TOKEN,
    (OWN_USAGE, "GET"): USER_TOKEN_CREDENTIAL,
    ("/dashboard", "GET"): DASHBOARD_PAGE,
    ("/dashboard/invoice", "GET"): DASHBOARD_PAGE,
    ("/dashboard/login", "POST"): DASHBOARD_LOGIN,
    # Open: they hold no gateway's data and change nothing.
    ("/healthz", "GET"): OPEN,
    ("/readyz", "GET"): OPEN,
    ("/openapi.json", "GET"): OPEN,
    (DISCOVERY_PATH, "GET"): OPEN,  # the provider's public metadata and keys
    (JWKS_PATH, "GET"): OPEN,
    ("/v1/openapi.json", "GET"): OPEN,
    ("/dashboard/login", "GET"): OPEN,  # the form itself
    ("/dashboard/logout", "POST"): OPEN,  # forgets the cookie it is sent, if any
    ("/dashboard/static/dashboard.css", "GET"): OPEN,
    ("/dashboard/static/favicon.svg", "GET"): OPEN,
}
"""Every (path, method) of the app and the credential it needs."""

GRPC_METHODS = {"GetSignerInfo", "GeneratePayment", "SignTickets", "GetDepositInfo", "GetUsage"}
"""Every clearinghouse.v1 method: each needs a gateway key (health and reflection are open)."""


@dataclass
class Daemon:
    db: Database
    url: str
    stub: clearinghouse_pb2_grpc.ClearinghouseStub
    app: RemoteSignerApp
    key_a: str
    key_b: str
    gateway_a: int
    gateway_b: int
    credentials: dict[str, str]
    """Name → Authorization header value of each wrong gateway credential."""
    client_id: str


def identity_credentials(db: Database, tmp_path: Path, issuer: str, gateway_ids: list[int]) -> tuple[str, dict[str, str]]:
    """An app of gateway A with users alice and (deactivated) zed, one of gateway B; the identity
    provider's wrong credentials as Authorization values, and the right app and user tokens."""
    keys_file = tmp_path / "oidc-keys.json"
    create_key_file(keys_file)
    app_a, _ = register_app(db, PEPPER, gateway_ids[0], "app-a")
    app_b, _ = register_app(db, PEPPER, gateway_ids[1], "app-b")
    for user in ("alice", "zed"):
        provision_user(db, app_a, user, None)
    codec = TokenCodec(SigningKeys(keys_file), issuer=issuer, audience="clearinghouse", clock_skew_s=30)
    stale = TokenCodec(SigningKeys(keys_file), issuer=issuer, audience="clearinghouse", clock_skew_s=30,
                       clock_s=lambda: NOW_S - 3600)

    def token(use: TokenUse, subject: str, client_id: str, scopes: set[Scope], issuer_codec: TokenCodec = codec) -> str:
        return issuer_codec.issue(use, subject, client_id, frozenset(scopes), 300)[0]

    everything = set(Scope)
    a, b = app_a.client_id, app_b.client_id
    revoked = token(TokenUse.USER, f"{a}:alice", a, everything)
    credentials = {
        "expired token": token(TokenUse.USER, f"{a}:alice", a, everything, stale),
        "revoked token": revoked,
        "deactivated user's token": token(TokenUse.USER, f"{a}:zed", a, everything),
        "token without the scope": token(TokenUse.USER, f"{a}:alice", a, set()),
        "app token without the scope": token(TokenUse.APP, a, a, set()),
        "another app's token": token(TokenUse.APP, b, b, everything),
        USER_TOKEN_CREDENTIAL: token(TokenUse.USER, f"{a}:alice", a, everything),
        APP_TOKEN: token(TokenUse.APP, a, a, everything),
    }
    identity = identity_service(db, PEPPER, keys_file, settings_for(issuer))
    identity.revoke(revoked)
    update_user(db, get_app(db, a), "zed", active=False)
    return a, {name: f"Bearer {value}" for name, value in credentials.items()}


@pytest.fixture
def daemon(db: Database, tmp_path: Path) -> Iterator[Daemon]:
    clock, chain = Clock(), ChainHolder()
    service = PaymentService(db, KEY, chain, PaymentPolicy(), clock_ns=clock)
    tickets = TicketService(db, KEY, chain, PaymentPolicy(), clock_ns=clock)
    gateway = GatewayService(service, tickets, db, chain_id=CHAIN_ID, ticket_broker=lambda: TICKET_BROKER,
                             static_chain=HEALTHY_CHAIN)
    ids = [create_gateway(db, name).id for name in ("acme", "bravo", "closed")]
    for gateway_id in ids:
        top_up(db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    key_a, _ = issue_api_key(db, ids[0], PEPPER)
    key_b, _ = issue_api_key(db, ids[1], PEPPER)
    revoked, revoked_key = issue_api_key(db, ids[0], PEPPER)
    revoke_api_key(db, revoked_key.id)
    disabled, _ = issue_api_key(db, ids[2], PEPPER)
    set_gateway_status(db, ids[2], GatewayStatus.DISABLED)
    sock = bound_socket()
    issuer = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client_id, token_credentials = identity_credentials(db, tmp_path, issuer, ids)
    identity = identity_service(db, PEPPER, tmp_path / "oidc-keys.json", settings_for(issuer))
    api_keys = ApiKeyAuthenticator(db, PEPPER, tokens=identity.verified)
    identity.api_key_gateway = api_keys.gateway_of_key
    credentials = {
        "none": "",
        "malformed": "Bearer",
        "basic": "Basic " + base64.b64encode(f"acme:{key_a}".encode()).decode(),
        "unknown key": f"Bearer {key_a[:-4]}AAAA",
        "revoked key": f"Bearer {revoked}",
        "disabled gateway's key": f"Bearer {disabled}",
        ADMIN: f"Bearer {ADMIN_TOKEN}",
        METRICS: f"Bearer {METRICS_TOKEN}",
        **token_credentials,
    }
    with ExitStack() as stack:
        v1 = V1Routes(gateway, api_keys)
        app = RemoteSignerApp(
            service, api_keys=api_keys, v1=v1, admin=AdminRoutes(db, ADMIN_TOKEN),
            dashboard=DashboardRoutes(db, ADMIN_TOKEN), metrics=Metrics(), metrics_token=METRICS_TOKEN,
            discovery=DiscoveryBook(), oidc=OidcRoutes(identity), builder=BuilderRoutes(db, identity),
        )
        stack.callback(app.close)
        url = stack.enter_context(serving(app, sock=sock))
        server = stack.enter_context(grpc_serving(GrpcGateway(gateway, api_keys, None)))
        channel = stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
        stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)  # type: ignore[no-untyped-call]
        yield Daemon(db, url, stub, app, key_a, key_b, ids[0], ids[1], credentials, client_id)


def ledger_counts(db: Database) -> dict[str, int]:
    """What a refused call must not have changed."""
    counts: dict[str, int] = {}
    with db.engine.connect() as connection:
        for name in ("signed_tickets", "signing_records", "payment_sessions", "invoices", "ledger_transactions",
                     "api_keys", "gateways", "apps", "end_users", "revoked_tokens"):
            counts[name] = connection.exec_driver_sql(f"SELECT count(*) FROM {name}").scalar_one()
    return counts


def call(daemon: Daemon, path: str, method: str, authorization: str, **extra: str) -> Reply:
    headers = {"Authorization": authorization} if authorization else {}
    headers.update(extra)
    path = path.replace("{clientId}", daemon.client_id).replace("{externalUserId}", "alice")
    body: bytes | None = None
    if method in ("POST", "PUT"):
        if path in (TOKEN_PATH, INTROSPECT_PATH, REVOKE_PATH):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = b"grant_type=client_credentials&token=x.y.z"
        elif path == "/dashboard/login":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = f"token={authorization.partition(' ')[2]}".encode()
        else:
            body = b"{}"
    return request(daemon.url, method, path, body, headers)


def test_every_route_has_a_row() -> None:
    """Checked against the app in the next test too; this one names what is missing."""
    assert len(ROUTES) == len(set(ROUTES))


def test_the_matrix_covers_every_route_of_the_app(daemon: Daemon) -> None:
    served = {(path, method) for path, methods in daemon.app.routes().items() for method in methods}
    assert served == set(ROUTES), (
        f"routes without a row: {sorted(served - set(ROUTES))}; rows without a route: {sorted(set(ROUTES) - served)}"
    )


def test_the_matrix_covers_every_grpc_method() -> None:
    assert {method.name for method in pb.DESCRIPTOR.services_by_name["Clearinghouse"].methods} == GRPC_METHODS


def expected_refusal(needs: str, credential: str) -> set[int]:
    """The statuses a route needing ``needs`` may answer ``credential`` (a wrong one)."""
    if needs == GATEWAY:
        scope = credential in ("token without the scope", "app token without the scope")
        return {403} if credential == "disabled gateway's key" or scope else {401}
    if needs in (ADMIN, METRICS):
        return {401}
    if needs == DASHBOARD_PAGE:
        return {303}  # to the login form: a bearer header is no session
    if needs == DASHBOARD_LOGIN:
        return {403, 429}  # not the operator token (429 once the failed-login throttle engages)
    if needs == CLIENT:
        return {401}  # invalid_client
    if needs in (APP_TOKEN, USER_TOKEN_CREDENTIAL):
        # A valid token of the wrong kind, app or scope is forbidden; anything else unauthenticated.
        return {403} if credential in FORBIDDEN_TOKENS else {401}
    raise AssertionError(needs)


FORBIDDEN_TOKENS = {"token without the scope", "app token without the scope", "another app's token", APP_TOKEN,
                    USER_TOKEN_CREDENTIAL}
"""Live tokens that authenticate but may not do what a route asks: 403."""
BAD_TOKENS = ["expired token", "revoked token", "deactivated user's token"]
OPERATOR_WRONG = ["none", "malformed", "basic", "unknown key", "revoked key", "disabled gateway's key"]


WRONG_FOR = {
    GATEWAY: [*OPERATOR_WRONG, ADMIN, METRICS, *BAD_TOKENS, "token without the scope", "app token without the scope"],
    ADMIN: [*OPERATOR_WRONG, METRICS, GATEWAY, USER_TOKEN_CREDENTIAL, APP_TOKEN],
    METRICS: [*OPERATOR_WRONG, ADMIN, GATEWAY, USER_TOKEN_CREDENTIAL, APP_TOKEN],
    CLIENT: [*OPERATOR_WRONG, ADMIN, METRICS, GATEWAY, USER_TOKEN_CREDENTIAL, APP_TOKEN],
    APP_TOKEN: [*OPERATOR_WRONG, ADMIN, METRICS, GATEWAY, *BAD_TOKENS, "app token without the scope",
                "another app's token", USER_TOKEN_CREDENTIAL],
    USER_TOKEN_CREDENTIAL: [*OPERATOR_WRONG, ADMIN, METRICS, GATEWAY, *BAD_TOKENS, "token without the scope",
                            APP_TOKEN],
    DASHBOARD_PAGE: ["none", "unknown key", "revoked key", ADMIN, METRICS, GATEWAY],
    DASHBOARD_LOGIN: ["none", "unknown key", "revoked key", METRICS, GATEWAY],
}


def test_every_route_refuses_every_wrong_credential_and_changes_nothing(daemon: Daemon) -> None:
    credentials = {**daemon.credentials, GATEWAY: f"Bearer {daemon.key_a}"}
    before = ledger_counts(daemon.db)
    wrong = []
    for (path, method), needs in ROUTES.items():
        for name in WRONG_FOR.get(needs, []):
            reply = call(daemon, path, method, credentials[name])
            if reply.status not in expected_refusal(needs, name):
                wrong.append(f"{method} {path} with {name}: {reply.status} {reply.body[:120]!r}")
            elif needs == DASHBOARD_PAGE:
                assert reply.headers["location"] == "/dashboard/login"
    assert not wrong, "\n".join(wrong)
    assert ledger_counts(daemon.db) == before


def test_the_right_credential_gets_through(daemon: Daemon) -> None:
    """The control: refusals above are about the credential, not a broken route."""
    gateway = {"Authorization": f"Bearer {daemon.key_a}"}
    for path in ("/v1/health", "/v1/signer-info", "/v1/deposit", USAGE):
        assert request(daemon.url, "GET", path, None, gateway).status == 200, path
    assert request(daemon.url, "POST", "/sign-orchestrator-info", None, gateway).status == 200
    discovered = request(daemon.url, "GET", "/discover-orchestrators", None, gateway)
    assert discovered.status == 503 and "no orchestrators known yet" in discovered.message  # past the key check
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert request(daemon.url, "GET", "/admin/v1/invoices", None, admin).status == 200
    assert request(daemon.url, "GET", "/metrics", None, {"Authorization": f"Bearer {METRICS_TOKEN}"}).status == 200
    app = {"Authorization": daemon.credentials[APP_TOKEN]}
    for path in (USERS, USER, ALLOWANCES, APP_USAGE):
        assert call(daemon, path, "GET", app["Authorization"]).status == 200, path
    assert call(daemon, OWN_USAGE, "GET", daemon.credentials[USER_TOKEN_CREDENTIAL]).status == 200
    assert request(daemon.url, "POST", PAY, pay_body(), {"Authorization": daemon.credentials[USER_TOKEN_CREDENTIAL]}).status == 200


def test_open_routes_answer_without_a_credential(daemon: Daemon) -> None:
    for (path, method), needs in ROUTES.items():
        if needs == OPEN:
            reply = call(daemon, path, method, "", Origin=daemon.url)
            assert reply.status in (200, 303), f"{method} {path}: {reply.status}"


@pytest.mark.parametrize("method", sorted(GRPC_METHODS))
def test_every_grpc_method_refuses_every_wrong_credential(daemon: Daemon, method: str) -> None:
    before = ledger_counts(daemon.db)
    rpc = getattr(daemon.stub, method)
    message = getattr(pb, f"{method}Request")()
    for name in WRONG_FOR[GATEWAY]:
        value = daemon.credentials[name]
        metadata = (("authorization", value),) if value else ()
        code, reason, _ = failure(rpc, message, metadata=metadata)
        if name == "disabled gateway's key":
            assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, Reason.GATEWAY_DISABLED), name
        elif "without the scope" in name:
            assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, Reason.INSUFFICIENT_SCOPE), name
        else:
            assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, Reason.UNAUTHENTICATED), name
    assert ledger_counts(daemon.db) == before


def pay_body(state: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"orchestrator": b64(orchestrator_info().SerializeToString()), "ManifestID": "m", "type": "live",
            "inPixels": 0, "state": state or {"State": None, "Sig": None}}


def test_gateway_b_cannot_continue_gateway_a_session_on_any_transport(daemon: Daemon) -> None:
    auth_a, auth_b = {"Authorization": f"Bearer {daemon.key_a}"}, {"Authorization": f"Bearer {daemon.key_b}"}
    first = request(daemon.url, "POST", PAY, pay_body(), auth_a)
    assert first.status == 200, first.body
    state = first.json()["state"]
    before = ledger_counts(daemon.db)
    stolen = request(daemon.url, "POST", PAY, pay_body(state), auth_b)
    assert stolen.status == 409 and "no such session for this gateway" in stolen.message
    grpc_state = pb.PaymentState(state=base64.b64decode(state["State"]), signature=base64.b64decode(state["Sig"]))
    stolen_request = pb.GeneratePaymentRequest(orchestrator=orchestrator_info(), state=grpc_state, type="live",
                                               manifest_id="m")
    v1 = request(daemon.url, "POST", "/v1/generate-payment", json_format.MessageToDict(stolen_request), auth_b)
    assert (v1.status, v1.json()["error"]["reason"]) == (409, "STALE_STATE"), v1.body
    code, reason, _ = failure(daemon.stub.GeneratePayment, stolen_request, metadata=(("authorization", f"Bearer {daemon.key_b}"),))
    assert (code, reason) == (grpc.StatusCode.ABORTED, Reason.STALE_STATE)
    assert ledger_counts(daemon.db) == before
    # A's session is untouched by B's attempts: A carries on.
    assert request(daemon.url, "POST", PAY, pay_body(state), auth_a).status in (200, 482)


def test_usage_shows_only_the_callers_own_gateway(daemon: Daemon) -> None:
    auth_a, auth_b = {"Authorization": f"Bearer {daemon.key_a}"}, {"Authorization": f"Bearer {daemon.key_b}"}
    assert request(daemon.url, "POST", PAY, pay_body(), auth_a).status == 200
    a_usage = request(daemon.url, "GET", USAGE, None, auth_a).json()
    b_usage = request(daemon.url, "GET", USAGE, None, auth_b).json()
    assert (int(a_usage["gatewayId"]), int(a_usage["calls"])) == (daemon.gateway_a, 1)
    assert (int(b_usage["gatewayId"]), int(b_usage["calls"])) == (daemon.gateway_b, 0)
    for query in (f"gateway_id={daemon.gateway_a}", f"gatewayId={daemon.gateway_a}"):  # no such parameter
        asked = request(daemon.url, "GET", f"{USAGE}&{query}", None, auth_b)
        assert asked.status == 400, asked.body
    answer = daemon.stub.GetUsage(pb.GetUsageRequest(start_unix_s=START_S, end_unix_s=END_S), metadata=(("authorization", f"Bearer {daemon.key_b}"),),
                                  timeout=10)
    assert (answer.gateway_id, answer.calls) == (daemon.gateway_b, 0)


def test_invoices_are_not_reachable_with_a_gateway_key(daemon: Daemon) -> None:
    gateway_routes = [path for path, needs in {p: n for (p, _), n in ROUTES.items()}.items() if needs == GATEWAY]
    assert not [path for path in gateway_routes if "invoice" in path]
    assert not [m for m in GRPC_METHODS if "Invoice" in m]
    auth_a = {"Authorization": f"Bearer {daemon.key_a}"}
    for path in ("/admin/v1/invoices", "/admin/v1/invoices/export", "/admin/v1/usage"):
        assert request(daemon.url, "GET", path, None, auth_a).status == 401
    page = request(daemon.url, "GET", "/dashboard/invoice?id=1", None, auth_a)
    assert page.status == 303
