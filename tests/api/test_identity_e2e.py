"""The identity provider end to end (issue 16), with third-party clients: authlib's httpx OAuth 2.0
client takes an app's client credentials, the token exchange is posted as RFC 8693 says, PyJWT's
JWK client verifies tokens from the published JWKS. Then: provision two users, mint user tokens,
sign for both over HTTP and gRPC, per-user usage and allowances are exact, a user over its
allowance is refused before signing, a deactivated user's live token fails at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

import grpc
import httpx
import jwt
import pytest
from google.protobuf import json_format
from authlib.integrations.httpx_client import OAuth2Client

from clearinghouse.api.errors import Reason
from clearinghouse.identity.service import register_app
from clearinghouse.ledger import Database
from clearinghouse.proto import clearinghouse_pb2 as pb
from tests.api.client import Reply, request
from tests.api.conftest import PEPPER, b64
from tests.api.grpc_client import error_info, failure
from tests.api.identity_stack import AUDIENCE, IdentityStack, identity_stack
from tests.signer.builders import NOW_NS, orchestrator_info

PAY = "/generate-live-payment"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
MONTH = datetime.fromtimestamp(NOW_NS // 10**9, UTC).strftime("%Y-%m")  # the services' clock stamps records


@pytest.fixture
def stack(db: Database, tmp_path: Path) -> Iterator[IdentityStack]:
    with identity_stack(db, tmp_path) as built:
        yield built


def pay_body() -> dict[str, Any]:
    return {"orchestrator": b64(orchestrator_info().SerializeToString()), "ManifestID": "m", "type": "live",
            "inPixels": 0, "state": {"State": None, "Sig": None}}


def grpc_payment(manifest_id: str = "m") -> pb.GeneratePaymentRequest:
    """A session's first call; a distinct manifest id is a new request, not a retry of a stored one."""
    return pb.GeneratePaymentRequest(orchestrator=orchestrator_info(), type="live", manifest_id=manifest_id)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def discovery(stack: IdentityStack) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(f"{stack.url}/.well-known/openid-configuration").json()
    return document


def app_token(stack: IdentityStack, index: int = 0, scope: str | None = None) -> str:
    """Client credentials through authlib (client_secret_basic, its default)."""
    app = stack.apps[index]
    with OAuth2Client(app.client_id, app.secret, scope=scope) as client:
        token = client.fetch_token(discovery(stack)["token_endpoint"], grant_type="client_credentials")
    return str(token["access_token"])


def exchange(stack: IdentityStack, subject_token: str, external_user_id: str, **extra: str) -> httpx.Response:
    """RFC 8693 §2.1: a form POST to the token endpoint."""
    form = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject_token, "subject_token_type": ACCESS_TOKEN,
            "external_user_id": external_user_id, **extra}
    return httpx.post(discovery(stack)["token_endpoint"], data=form)


def builder(stack: IdentityStack, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Reply:
    return request(stack.url, method, path, body, bearer(token))


def provision(stack: IdentityStack, token: str, external_id: str) -> None:
    client_id = stack.apps[0].client_id
    reply = builder(stack, "POST", f"/api/v1/apps/{client_id}/users", token,
                    {"external_id": external_id, "email": f"{external_id}@example.com"})
    assert reply.status == 201, reply.body


def allowance(stack: IdentityStack, token: str, external_id: str) -> dict[str, Any]:
    client_id = stack.apps[0].client_id
    reply = builder(stack, "GET", f"/api/v1/apps/{client_id}/users/{external_id}/allowances", token)
    assert reply.status == 200, reply.body
    document: dict[str, Any] = reply.json()
    return document


def grant(stack: IdentityStack, token: str, external_id: str, amount_wei: int) -> dict[str, Any]:
    client_id = stack.apps[0].client_id
    reply = builder(stack, "POST", f"/api/v1/apps/{client_id}/users/{external_id}/allowances", token,
                    {"amount_wei": str(amount_wei)})
    assert reply.status == 200, reply.body
    document: dict[str, Any] = reply.json()
    return document


def counts(db: Database) -> tuple[int, int]:
    with db.engine.connect() as connection:
        return (connection.exec_driver_sql("SELECT count(*) FROM signed_tickets").scalar_one(),
                connection.exec_driver_sql("SELECT count(*) FROM signing_records").scalar_one())


def test_discovery_names_the_endpoints_grants_and_scopes(stack: IdentityStack) -> None:
    document = discovery(stack)
    assert document["issuer"] == stack.url
    assert document["jwks_uri"] == f"{stack.url}/api/v1/oidc/jwks"
    assert document["token_endpoint"] == f"{stack.url}/api/v1/oidc/token"
    assert document["introspection_endpoint"].endswith("/api/v1/oidc/introspect")
    assert document["revocation_endpoint"].endswith("/api/v1/oidc/revoke")
    assert set(document["grant_types_supported"]) == {"client_credentials", TOKEN_EXCHANGE}
    assert "sign:job" in document["scopes_supported"]
    keys = httpx.get(document["jwks_uri"]).json()["keys"]
    assert [k["alg"] for k in keys] == ["ES256"] and all("d" not in k for k in keys)


def test_app_to_users_to_signed_payments_on_both_transports(stack: IdentityStack) -> None:
    token = app_token(stack)
    issuer, jwks = stack.url, jwt.PyJWKClient(discovery(stack)["jwks_uri"])
    claims = jwt.decode(token, jwks.get_signing_key_from_jwt(token).key, algorithms=["ES256"],
                        audience=AUDIENCE, issuer=issuer)
    assert claims["sub"] == stack.apps[0].client_id and "users:write" in claims["scope"].split()
    for user in ("alice", "bob"):
        provision(stack, token, user)
    assert allowance(stack, token, "alice")["grant_wei"] is None
    grant(stack, token, "alice", 10**15)
    grant(stack, token, "bob", 1)  # not enough for one call: refused before signing

    exchanged = exchange(stack, token, "alice")
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.headers["cache-control"] == "no-store"
    alice = exchanged.json()["access_token"]
    assert exchanged.json()["issued_token_type"] == ACCESS_TOKEN and exchanged.json()["expires_in"] == 300
    alice_claims = jwt.decode(alice, jwks.get_signing_key_from_jwt(alice).key, algorithms=["ES256"],
                              audience=AUDIENCE, issuer=issuer)
    assert (alice_claims["sub"], alice_claims["scope"]) == (f"{stack.apps[0].client_id}:alice", "sign:job")
    client_id = stack.apps[0].client_id
    minted = builder(stack, "POST", f"/api/v1/apps/{client_id}/users/bob/token", token, {})
    assert minted.status == 200, minted.body
    bob = minted.json()["access_token"]

    signed = request(stack.url, "POST", PAY, pay_body(), bearer(alice))
    assert signed.status == 200, signed.body
    spent_per_call = Fraction(allowance(stack, token, "alice")["spent_wei"])
    assert spent_per_call > 0

    before = counts(stack.db)
    code, reason, error = failure(stack.stub.GeneratePayment, grpc_payment(), metadata=(("authorization", f"Bearer {bob}"),))
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.INSUFFICIENT_BALANCE)
    assert "allowance" in (error.details() or "") and error_info(error).metadata["limit"] == "user_allowance"
    refused_http = request(stack.url, "POST", PAY, pay_body(), bearer(bob))
    assert refused_http.status == 483 and "allowance" in refused_http.message
    assert refused_http.json()["limit"] == "user_allowance"
    refused_v1 = request(stack.url, "POST", "/v1/generate-payment", json_format.MessageToDict(grpc_payment("v1")),
                         bearer(bob))
    assert (refused_v1.status, refused_v1.json()["error"]["limit"]) == (402, "user_allowance")
    assert counts(stack.db) == before  # refused before signing: nothing recorded

    # Exactly one more call's worth: one signs, the next is refused.
    ceiling = -(-spent_per_call.numerator // spent_per_call.denominator)
    assert ceiling > 2  # so bob's grant below, ceiling in all, covers one call and not two
    grant(stack, token, "bob", ceiling - 1)
    answer = stack.stub.GeneratePayment(grpc_payment(), metadata=(("authorization", f"Bearer {bob}"),), timeout=10)
    assert answer.payment  # a serialized Payment with its tickets
    code, reason, _ = failure(stack.stub.GeneratePayment, grpc_payment("m2"), metadata=(("authorization", f"Bearer {bob}"),))
    assert reason == Reason.INSUFFICIENT_BALANCE

    bob_allowance = allowance(stack, token, "bob")
    assert Fraction(bob_allowance["spent_wei"]) == spent_per_call
    assert Fraction(bob_allowance["remaining_wei"]) == int(bob_allowance["grant_wei"]) - spent_per_call >= 0

    usage = builder(stack, "GET", f"/api/v1/builder/apps/{client_id}/usage?groupBy=user&month={MONTH}", token)
    assert usage.status == 200, usage.body
    by_user = {g["group"][0]: g for g in usage.json()["groups"]}
    assert set(by_user) == {"alice", "bob"}
    assert (by_user["alice"]["calls"], Fraction(by_user["alice"]["ev_signed_wei"])) == (1, spent_per_call)
    assert (by_user["bob"]["calls"], Fraction(by_user["bob"]["ev_signed_wei"])) == (1, spent_per_call)
    total = builder(stack, "GET", f"/api/v1/builder/apps/{client_id}/usage?groupBy=none&month={MONTH}", token)
    assert Fraction(total.json()["groups"][0]["ev_signed_wei"]) == 2 * spent_per_call

    # A user's own usage, with a token asking for usage:read.
    reader = exchange(stack, token, "alice", scope="usage:read").json()["access_token"]
    own = request(stack.url, "GET", f"/api/v1/user/usage?month={MONTH}", None, bearer(reader))
    assert own.status == 200, own.body
    assert own.json()["external_id"] == "alice" and own.json()["groups"][0]["calls"] == 1

    # Deactivate alice: her live token fails at once on every transport; nothing is signed.
    assert builder(stack, "DELETE", f"/api/v1/apps/{client_id}/users/alice", token).json()["active"] is False
    before = counts(stack.db)
    gone = request(stack.url, "POST", PAY, pay_body(), bearer(alice))
    assert gone.status == 401 and "deactivated" in gone.message
    code, reason, _ = failure(stack.stub.GeneratePayment, grpc_payment(), metadata=(("authorization", f"Bearer {alice}"),))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, Reason.UNAUTHENTICATED)
    assert exchange(stack, token, "alice").status_code == 400  # no new token for her either
    assert counts(stack.db) == before


def test_an_api_key_exchanges_for_a_user_token(stack: IdentityStack) -> None:
    """The Livepeer SDK's key exchange: the gateway's API key as subject token."""
    token = app_token(stack)
    provision(stack, token, "carol")
    answer = exchange(stack, stack.apps[0].api_key, "carol")
    assert answer.status_code == 200, answer.text
    signed = request(stack.url, "POST", PAY, pay_body(), bearer(answer.json()["access_token"]))
    assert signed.status == 200, signed.body
    # Another gateway's key cannot mint a token for this app's user.
    assert exchange(stack, stack.apps[1].api_key, "carol").status_code == 400
    # A gateway may have several apps: then the key's exchange names the app.
    second, _ = register_app(stack.db, PEPPER, stack.apps[0].gateway_id, "second-app")
    ambiguous = exchange(stack, stack.apps[0].api_key, "carol")
    assert ambiguous.status_code == 400 and "client_id" in ambiguous.json()["error_description"]
    named = exchange(stack, stack.apps[0].api_key, "carol", client_id=stack.apps[0].client_id)
    assert named.status_code == 200, named.text
    assert exchange(stack, stack.apps[0].api_key, "carol", client_id=second.client_id).status_code == 400  # not its user


def test_introspection_and_revocation(stack: IdentityStack) -> None:
    token = app_token(stack)
    provision(stack, token, "dave")
    dave = exchange(stack, token, "dave").json()["access_token"]
    app = stack.apps[0]
    introspect = discovery(stack)["introspection_endpoint"]
    found = httpx.post(introspect, data={"token": dave}, auth=(app.client_id, app.secret)).json()
    assert found["active"] is True and found["sub"] == f"{app.client_id}:dave" and found["scope"] == "sign:job"
    other = stack.apps[1]
    assert httpx.post(introspect, data={"token": dave}, auth=(other.client_id, other.secret)).json() == {"active": False}
    assert httpx.post(introspect, data={"token": dave}).status_code == 401  # no client credentials
    assert request(stack.url, "POST", PAY, pay_body(), bearer(dave)).status == 200
    # Another app's revocation of dave's token changes nothing (RFC 7009: 200 all the same).
    revoke = discovery(stack)["revocation_endpoint"]
    assert httpx.post(revoke, data={"token": dave}, auth=(other.client_id, other.secret)).status_code == 200
    assert request(stack.url, "POST", PAY, pay_body(), bearer(dave)).status in (200, 482)
    assert httpx.post(revoke, data={"token": dave}, auth=(app.client_id, app.secret)).status_code == 200
    replayed = request(stack.url, "POST", PAY, pay_body(), bearer(dave))
    assert replayed.status == 401 and "revoked" in replayed.message
    assert httpx.post(introspect, data={"token": dave}, auth=(app.client_id, app.secret)).json() == {"active": False}


def test_an_app_sees_only_its_own_users(stack: IdentityStack) -> None:
    mine, theirs = app_token(stack, 0), app_token(stack, 1)
    provision(stack, mine, "erin")
    client_id = stack.apps[0].client_id
    for method, path in (("GET", f"/api/v1/apps/{client_id}/users"), ("GET", f"/api/v1/apps/{client_id}/users/erin"),
                         ("DELETE", f"/api/v1/apps/{client_id}/users/erin"),
                         ("GET", f"/api/v1/builder/apps/{client_id}/usage")):
        assert builder(stack, method, path, theirs).status == 403, path
    listed = builder(stack, "GET", f"/api/v1/apps/{stack.apps[1].client_id}/users", theirs).json()
    assert listed["users"] == []
    # The other app's token cannot mint a token for erin through the exchange either.
    assert exchange(stack, theirs, "erin").status_code == 400


def test_users_page_through_and_a_duplicate_is_a_conflict(stack: IdentityStack) -> None:
    token = app_token(stack)
    for index in range(5):
        provision(stack, token, f"user-{index}")
    client_id = stack.apps[0].client_id
    duplicate = builder(stack, "POST", f"/api/v1/apps/{client_id}/users", token, {"external_id": "user-0"})
    assert duplicate.status == 409
    seen, after = [], 0
    while True:
        page = builder(stack, "GET", f"/api/v1/apps/{client_id}/users?limit=2&after={after}", token).json()
        seen += [u["external_id"] for u in page["users"]]
        if page["next_after"] is None:
            break
        after = page["next_after"]
    assert seen == [f"user-{index}" for index in range(5)]
    renamed = builder(stack, "PUT", f"/api/v1/apps/{client_id}/users/user-1", token, {"email": "new@example.com"})
    assert renamed.json()["email"] == "new@example.com"
    assert builder(stack, "PUT", f"/api/v1/apps/{client_id}/users/user-1", token, {"active": "no"}).status == 400
    assert builder(stack, "GET", f"/api/v1/apps/{client_id}/users/nobody", token).status == 404


def test_client_credentials_refusals(stack: IdentityStack) -> None:
    endpoint = discovery(stack)["token_endpoint"]
    app = stack.apps[0]
    wrong = httpx.post(endpoint, data={"grant_type": "client_credentials"}, auth=(app.client_id, app.secret + "x"))
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert app.secret not in wrong.text
    unknown_scope = httpx.post(endpoint, data={"grant_type": "client_credentials", "scope": "admin"},
                               auth=(app.client_id, app.secret))
    assert unknown_scope.status_code == 400 and unknown_scope.json()["error"] == "invalid_scope"
    grant_type = httpx.post(endpoint, data={"grant_type": "password"}, auth=(app.client_id, app.secret))
    assert grant_type.json()["error"] == "unsupported_grant_type"
    posted = httpx.post(endpoint, data={"grant_type": "client_credentials", "client_id": app.client_id,
                                        "client_secret": app.secret})
    assert posted.status_code == 200  # client_secret_post


def test_tokens_and_secrets_never_reach_the_logs(stack: IdentityStack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    token = app_token(stack)
    provision(stack, token, "frank")
    frank = exchange(stack, token, "frank").json()["access_token"]
    request(stack.url, "POST", PAY, pay_body(), bearer(frank))
    request(stack.url, "POST", PAY, pay_body(), bearer(frank[:-3] + "abc"))  # a bad signature, refused
    httpx.post(discovery(stack)["token_endpoint"], data={"grant_type": "client_credentials"},
               auth=(stack.apps[0].client_id, "wrong-" + stack.apps[0].secret))
    assert any(r.levelname == "INFO" and "refused" in r.getMessage() for r in caplog.records)  # logging was on
    text = caplog.text + repr([r.__dict__ for r in caplog.records])
    for secret in (token, frank, frank[:-3] + "abc", stack.apps[0].secret):
        assert secret not in text
        assert secret.split(".")[-1] not in text  # not even a token's signature part


def test_the_refusal_names_the_gateways_limit_when_the_gateway_is_out(stack: IdentityStack) -> None:
    """A user with allowance to spare on a gateway out of credit: refused, naming the gateway's
    limit, not the user's allowance; nothing signed."""
    from clearinghouse.ledger import set_credit_policy
    from clearinghouse.domain.credit import CreditMode

    token = app_token(stack)
    provision(stack, token, "gina")
    grant(stack, token, "gina", 10**18)
    gina = exchange(stack, token, "gina").json()["access_token"]
    set_credit_policy(stack.db, stack.apps[0].gateway_id, mode=CreditMode.PREPAID, quota_wei=1,
                      actor="test", reason="a quota of one wei")
    before = counts(stack.db)
    refused = request(stack.url, "POST", PAY, pay_body(), bearer(gina))
    assert refused.status == 483 and refused.json()["limit"] == "quota" and "allowance" not in refused.message
    code, reason, error = failure(stack.stub.GeneratePayment, grpc_payment(), metadata=(("authorization", f"Bearer {gina}"),))
    assert (reason, error_info(error).metadata["limit"]) == (Reason.INSUFFICIENT_BALANCE, "quota")
    assert counts(stack.db) == before
    assert Fraction(allowance(stack, token, "gina")["spent_wei"]) == 0
