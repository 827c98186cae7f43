"""The fuzz stack: every decoder an outsider can reach, served for real, and the outcome rules.

One stack serves the whole fuzz run (``fuzz_stack``; the pytest fixture ``stack`` is session
scoped, benchmarks/fuzz_long.py builds its own): the real PaymentService, TicketService and
GatewayService over a migrated SQLite ledger, behind a uvicorn HTTP server (spec 02 routes, the
/v1 JSON routes, /admin/v1 and /dashboard) and a gRPC server, both on loopback.

Each example is checked by ``check_http`` / ``check_grpc`` against the issue's outcome rules:
no answer ≥ 500 (gRPC: no UNKNOWN or INTERNAL), every 4xx carries a non-empty message, and a
rejected call leaves the ledger's signing records and signed tickets exactly as they were.
A call the server accepts may sign: then it is not a rejection.
"""

from __future__ import annotations

import base64
import http.client
import json
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import grpc
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy import text

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, issue_api_key, serving
from clearinghouse.api.admin_http import AdminRoutes
from clearinghouse.api.dashboard import DashboardRoutes
from clearinghouse.api.dashboard.session import LoginThrottle, SessionCookies
from clearinghouse.api.discovery import DiscoveryBook
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.grpc_server import grpc_serving
from clearinghouse.api.grpc_service import GrpcGateway
from clearinghouse.api.rejections import RecentRejections
from clearinghouse.api.v1_http import V1Routes
from clearinghouse.api.builder_http import BuilderRoutes
from clearinghouse.api.oidc_http import OidcRoutes
from clearinghouse.api.server import bound_socket
from clearinghouse.identity.keys import create_key_file
from clearinghouse.identity.service import IdentityService, identity_service, register_app
from clearinghouse.ledger.identity import provision_user
from clearinghouse.billing.invoicing import month_period
from clearinghouse.ledger import (
    Database,
    NewRate,
    create_gateway,
    open_database,
    record_rate_snapshot,
    record_signing_call,
    top_up,
    upgrade_to_head,
)
from clearinghouse.ledger import sessions as ledger_sessions
from clearinghouse.ledger.billing_plans import PlanKind, set_billing_plan
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.service import PaymentService
from clearinghouse.signer.tickets import TicketService
from tests.api.conftest import PEPPER, b64
from tests.api.grpc_client import CHAIN_ID, TICKET_BROKER, ChainHolder, HEALTHY_CHAIN
from tests.api.identity_stack import settings_for
from tests.api.test_sessions import Clock
from tests.ledger.conftest import SessionDriver
from tests.signer.builders import KEY, orchestrator_info

TIMEOUT_S = 10.0
"""A call that takes longer is a hang: the outcome rules fail it."""

SERVICE = "/clearinghouse.v1.Clearinghouse/"
GRPC_METHODS = ("GetSignerInfo", "GeneratePayment", "SignTickets", "GetDepositInfo", "GetUsage")
GRPC_FORBIDDEN = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL})

FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=True,  # the same examples on every run, so CI is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
"""The suite's settings; each test adds its max_examples (the directory stays under ~40 s)."""


@dataclass
class FuzzStack:
    """The servers, the ledger behind them, and credentials and valid inputs to mutate."""

    db: Database
    http_url: str
    channel: grpc.Channel
    api_key: str
    admin_token: str
    gateway_id: int
    dashboard_cookie: str
    orchestrator_b64: str
    state: dict[str, str]
    """A valid signed state blob from a real first call (``{"State", "Sig"}``)."""
    manifest_id: str
    app_basic: str = ""
    """``Basic …`` of the fuzz gateway's app: the OIDC routes' client credentials."""
    app_token: str = ""
    """The app's access token with every scope: the Builder API's credential."""
    user_token: str = ""
    """A token of the app's user ``fuzz-user`` with sign:job and usage:read."""

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    @property
    def admin_auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


class SteppingClock:
    """A clock one minute later at every read: the dashboard's failed-login bound never engages,
    so every fuzzed login reaches the form decoder."""

    def __init__(self) -> None:
        self.now_s = 1_000.0

    def __call__(self) -> float:
        self.now_s += 60.0
        return self.now_s


def ledger_counts(db: Database) -> tuple[int, int]:
    """(signing records, signed tickets) in the ledger."""
    with db.engine.connect() as connection:
        records: int = connection.execute(text("SELECT count(*) FROM signing_records")).scalar_one()
        tickets: int = connection.execute(text("SELECT count(*) FROM signed_tickets")).scalar_one()
    return records, tickets


def send(url: str, method: str, path: str, body: bytes | None = None,
         headers: Mapping[str, str] | None = None) -> Answer:
    """One request on its own connection; the whole answer (raises on a hang or a dropped
    connection, which the outcome rules count as failures)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT_S)
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def json_message(answer: Answer) -> str:
    """The JSON error envelope's message; AssertionError when there is none."""
    try:
        document = json.loads(answer.body)
    except ValueError:
        raise AssertionError(f"{answer.status} answer is not JSON: {answer.body[:200]!r}") from None
    message = document.get("error", {}).get("message") if isinstance(document, dict) else None
    assert isinstance(message, str) and message.strip(), f"{answer.status} without error.message: {document!r}"
    return message


def check_http(stack: FuzzStack, method: str, path: str, body: bytes | None = None,
               headers: Mapping[str, str] | None = None, *, html: bool = False) -> Answer:
    """Send one request and apply the outcome rules; the answer, for more checks."""
    before = ledger_counts(stack.db)
    answer = send(stack.http_url, method, path, body, headers)
    assert answer.status < 500, f"{method} {path}: {answer.status} {answer.body[:300]!r}"
    if answer.status >= 400:
        if html:
            assert answer.body.strip(), f"{answer.status} error page without a message"
        else:
            json_message(answer)
    if answer.status != 200:
        assert ledger_counts(stack.db) == before, f"{method} {path}: {answer.status} but the ledger grew"
    return answer


def check_grpc(stack: FuzzStack, method: str, request: bytes,
               metadata: tuple[tuple[str, str], ...] | None = None) -> grpc.StatusCode:
    """Call ``method`` with ``request`` as its raw body and apply the outcome rules."""
    call = stack.channel.unary_unary(SERVICE + method, request_serializer=None, response_deserializer=None)
    before = ledger_counts(stack.db)
    try:
        call(request, metadata=stack.metadata if metadata is None else metadata, timeout=TIMEOUT_S)
    except grpc.RpcError as error:
        code = error.code()
        assert code not in GRPC_FORBIDDEN, f"{method}: {code} {error.details()!r}"
        assert code != grpc.StatusCode.DEADLINE_EXCEEDED, f"{method}: no answer within {TIMEOUT_S} s"
        assert error.details(), f"{method}: {code} without a message"
        assert ledger_counts(stack.db) == before, f"{method}: {code} but the ledger grew"
        return code  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _seed_billing(db: Database, gateway_id: int) -> None:
    """Two signing records in November 2026, a USD rate and a usage-based plan: the admin
    routes' drafts, issues and exports have something to work on."""
    november = month_period("2026-11")
    rate = record_rate_snapshot(db, NewRate(Fraction(3000), "manual", november[0], november[0], "fuzz", "fuzz"))
    driver = SessionDriver(gateway_id, face_value=10**16)
    original = getattr(ledger_sessions, "utc_now")
    try:
        for hours in (1, 2):
            moment = november[0] + timedelta(days=9, hours=hours)
            setattr(ledger_sessions, "utc_now", lambda moment=moment: moment)  # the records' signing time
            call = driver.next_call(10, rate_snapshot_id=rate.id)
            record_signing_call(db, call)
            driver.advance(call)
    finally:
        setattr(ledger_sessions, "utc_now", original)
    set_billing_plan(db, gateway_id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=november[0],
                     actor="fuzz", reason="fuzz seed")


def _first_payment(http_url: str, auth: Mapping[str, str], orchestrator_b64: str, manifest_id: str) -> dict[str, str]:
    """A real first call (100 pixels: 9 tickets of EV 35 wei); its signed state."""
    body = json.dumps({"orchestrator": orchestrator_b64, "ManifestID": manifest_id, "inPixels": 100}).encode()
    answer = send(http_url, "POST", "/generate-live-payment", body, auth)
    assert answer.status == 200, answer.body
    state: dict[str, str] = json.loads(answer.body)["state"]
    return state


def _login(http_url: str, token: str) -> str:
    answer = send(http_url, "POST", "/dashboard/login", urlencode({"token": token}).encode(),
                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 303, answer.body
    return answer.headers["set-cookie"].split(";")[0]


def _identity(db: Database, directory: Path, issuer: str, gateway_id: int) -> tuple[IdentityService, tuple[str, str, str]]:
    """The identity provider over the fuzz ledger: an app of the gateway with one user, and the
    app's Basic credentials, an app token and a user token."""
    create_key_file(directory / "oidc-keys.json")
    identity = identity_service(db, PEPPER, directory / "oidc-keys.json", settings_for(issuer))
    app, secret = register_app(db, PEPPER, gateway_id, "fuzz-app")
    provision_user(db, app, "fuzz-user", None)
    app_token = identity.client_credentials(app.client_id, secret, None).access_token
    user_token = identity.mint_user_token(app, "fuzz-user", "sign:job usage:read", None).access_token
    basic = "Basic " + base64.b64encode(f"{app.client_id}:{secret}".encode()).decode()
    return identity, (basic, app_token, user_token)


@contextmanager
def fuzz_stack(directory: Path) -> Iterator[FuzzStack]:
    """Migrate a ledger in ``directory``, start both servers on loopback; all stop at the end."""
    url = f"sqlite:///{directory / 'ledger.sqlite3'}"
    upgrade_to_head(url)
    db = open_database(url)
    clock, chain = Clock(), ChainHolder()
    service = PaymentService(db, KEY, chain, PaymentPolicy(), clock_ns=clock)
    gateway_id = create_gateway(db, "fuzz").id
    top_up(db, gateway_id, 10**18, actor="fuzz", reason="prepaid funds")
    _seed_billing(db, gateway_id)
    api_key, _ = issue_api_key(db, gateway_id, PEPPER)
    tickets = TicketService(db, KEY, chain, PaymentPolicy(), clock_ns=clock)
    admin_token = secrets.token_hex(32)
    rejections = RecentRejections()
    dashboard = DashboardRoutes(db, admin_token, rejections=rejections, cookies=SessionCookies(),
                                throttle=LoginThrottle(clock_s=SteppingClock()))
    try:
        with ExitStack() as stack:
            # Discovery lists the orchestrator of the seed payment (a static chain: every one seen).
            discovery = DiscoveryBook()
            discovery.saw(orchestrator_info().SerializeToString())
            sock = bound_socket()
            identity, app_credentials = _identity(db, directory, f"http://127.0.0.1:{sock.getsockname()[1]}", gateway_id)
            api_keys = ApiKeyAuthenticator(db, PEPPER, tokens=identity.verified)
            gateway = GatewayService(service, tickets, db, chain_id=CHAIN_ID, ticket_broker=lambda: TICKET_BROKER,
                                     static_chain=HEALTHY_CHAIN)
            app = RemoteSignerApp(service, api_keys=api_keys, v1=V1Routes(gateway, api_keys), discovery=discovery,
                                  admin=AdminRoutes(db, admin_token), dashboard=dashboard, rejections=rejections,
                                  oidc=OidcRoutes(identity), builder=BuilderRoutes(db, identity))
            http_url = stack.enter_context(serving(app, sock=sock))
            server = stack.enter_context(grpc_serving(GrpcGateway(gateway, api_keys, rejections=rejections)))
            channel = stack.enter_context(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
            orchestrator_b64 = b64(orchestrator_info().SerializeToString())
            auth = {"Authorization": f"Bearer {api_key}"}
            state = _first_payment(http_url, auth, orchestrator_b64, "fuzz-manifest")
            yield FuzzStack(db, http_url, channel, api_key, admin_token, gateway_id, _login(http_url, admin_token),
                            orchestrator_b64, state, "fuzz-manifest", *app_credentials)
    finally:
        db.dispose()


@pytest.fixture(scope="session")
def stack() -> Iterator[FuzzStack]:
    with tempfile.TemporaryDirectory(prefix="clearinghouse-fuzz-") as directory:
        with fuzz_stack(Path(directory)) as built:
            yield built



# Strategies shared by the fuzz modules and benchmarks/fuzz_long.py.


@dataclass(frozen=True)
class Raw:
    """JSON text written verbatim: literals Python's json would never write."""

    text: str


@dataclass(frozen=True)
class Obj:
    """A JSON object as written pairs, so a key may repeat (or repeat case-folded)."""

    pairs: tuple[tuple[str, Any], ...]


def dump(value: Any) -> str:
    """JSON text of ``value`` (Raw, Obj, lists and plain JSON values)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        return "{" + ",".join(f"{json.dumps(key)}:{dump(item)}" for key, item in value.pairs) + "}"
    if isinstance(value, list):
        return "[" + ",".join(dump(item) for item in value) + "]"
    return json.dumps(value)


RAW_LITERALS = (
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "-0", "1.0", "1E2", "0.5", "1e-7", "0x10", "01",
    "+1", "9" * 5000, "-" + "9" * 30, str(2**63), str(-(2**63) - 1), str(2**64), '"\\ud800"', '"\\udfff x"',
    '"\\u0000"', '"a\\nb"', '"\u202e\u0301"', "true", "false", "null", "[]", "{}", '""', "[[[[[[[[]]]]]]]]",
)

json_scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 1, 2**31, 2**32, 2**63 - 1, 2**63, -(2**63), 2**256, 10**30]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.sampled_from(["", "0", "1", "-1", "1/3", "0x10", "lv2v", "live", "fixed", "wei", "seconds", "2026-11",
                     "2026-11-10T00:00:00Z", "AAAA", "AA==", "=", "====", "////", "-_-_"]),
    st.sampled_from(RAW_LITERALS).map(Raw),
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    keys = st.one_of(st.text(max_size=10), st.sampled_from(["State", "Sig", "price", "currency", "unit"]))
    return st.one_of(
        st.lists(children, max_size=4),
        st.lists(st.tuples(keys, children), max_size=4).map(lambda pairs: Obj(tuple(pairs))),
    )


json_values: st.SearchStrategy[Any] = st.recursive(json_scalars, _containers, max_leaves=12)


def case_variants(name: str) -> st.SearchStrategy[str]:
    """``name`` as sent, lower, upper, swapped case, or with the Kelvin sign / long s."""
    return st.sampled_from([
        name, name.lower(), name.upper(), name.swapcase(), name[:1].lower() + name[1:],
        name.replace("k", "\u212a").replace("s", "\u017f"),
    ])


def deep_nesting() -> st.SearchStrategy[bytes]:
    """Deeply nested arrays/objects (beyond any sane depth), closed or not."""
    return st.builds(
        lambda depth, opener, closed: (opener * depth + (b"]" * depth if closed and opener == b"[" else b"")),
        st.integers(min_value=50, max_value=20_000), st.sampled_from([b"[", b'{"a":']), st.booleans(),
    )


def mutated(base: bytes) -> st.SearchStrategy[bytes]:
    """``base`` with bit flips, cuts, insertions, overwrites or duplications (a protobuf fuzzer's
    mutations: they keep most of the framing, so decoders get past the first byte)."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(base)
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            position = draw(st.integers(min_value=0, max_value=max(len(data) - 1, 0)))
            kind = draw(st.sampled_from(["flip", "cut", "insert", "overwrite", "duplicate", "truncate"]))
            if kind == "flip" and data:
                data[position] ^= 1 << draw(st.integers(min_value=0, max_value=7))
            elif kind == "cut":
                del data[position:position + draw(st.integers(min_value=1, max_value=16))]
            elif kind == "insert":
                data[position:position] = draw(st.binary(min_size=1, max_size=16))
            elif kind == "overwrite" and data:
                chunk = draw(st.binary(min_size=1, max_size=8))
                data[position:position + len(chunk)] = chunk
            elif kind == "duplicate":
                data[position:position] = data[position:position + draw(st.integers(min_value=1, max_value=64))]
            elif kind == "truncate":
                del data[position:]
        return bytes(data)

    return mutate()


def base64_variants(data: bytes) -> st.SearchStrategy[str]:
    """``data`` as standard padded base64 (nine times in ten) or a wrong variant of it."""
    standard = b64(data)
    wrong = st.sampled_from([
        base64.urlsafe_b64encode(data).decode(), standard.rstrip("="), standard + "=", " " + standard,
        standard[:len(standard) // 2] + "\n" + standard[len(standard) // 2:], standard + "==",
        "=" + standard, standard.replace("+", "-"), standard.lower(), standard + "\u00e9",
    ])
    return mostly(st.just(standard), wrong)


def mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any], one_in: int = 10) -> st.SearchStrategy[Any]:
    """``usual``, except one example in ``one_in`` drawn from ``other``: wrong values stay rare
    enough that a request gets past its first check to the later ones."""
    return rarely(one_in).flatmap(lambda rare: other if rare else usual)


def rarely(one_in: int) -> st.SearchStrategy[bool]:
    """True once in ``one_in`` examples (hypothesis draws integers' bounds far more often than
    their share, so a bounded integer would not do)."""
    return st.sampled_from([False] * (one_in - 1) + [True])
