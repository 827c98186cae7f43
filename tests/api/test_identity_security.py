"""Hostile tokens on every signing transport (issue 16): ``alg: none``, HS256 keyed with the
published public key, another key under our key id, expired, not yet valid, wrong issuer, wrong
audience, a token without scope sign:job, a token of a disabled app. Each is refused (401, or 403
for the scope) on the remote-signer route, /v1 and gRPC, and nothing is signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format
from joserfc import jwt as jose_jwt
from joserfc.jwk import ECKey

from clearinghouse.api.errors import Reason
from clearinghouse.identity.keys import SigningKeys
from clearinghouse.identity.tokens import Scope, TokenCodec, TokenUse
from clearinghouse.ledger import Database
from clearinghouse.ledger.identity import get_app, provision_user, set_app_active
from clearinghouse.proto import clearinghouse_pb2 as pb
from tests.api.client import request
from tests.api.grpc_client import failure
from tests.api.identity_stack import AUDIENCE, IdentityStack, identity_stack
from tests.api.test_identity_e2e import PAY, counts, grpc_payment, pay_body


@pytest.fixture
def stack(db: Database, tmp_path: Path) -> Iterator[IdentityStack]:
    with identity_stack(db, tmp_path) as built:
        app = get_app(db, built.apps[0].client_id)
        provision_user(db, app, "mallory", None)
        yield built


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(stack: IdentityStack, **changes: object) -> dict[str, object]:
    now = int(time.time())
    client_id = stack.apps[0].client_id
    base: dict[str, object] = {"iss": stack.issuer, "aud": AUDIENCE, "sub": f"{client_id}:mallory",
                               "client_id": client_id, "token_use": "user", "scope": "sign:job", "iat": now,
                               "nbf": now, "exp": now + 300, "jti": "forged-" + str(now)}
    return base | changes


def codec(stack: IdentityStack, *, issuer: str | None = None, audience: str = AUDIENCE, offset_s: int = 0) -> TokenCodec:
    return TokenCodec(SigningKeys(stack.keys_file), issuer=issuer or stack.issuer, audience=audience,
                      clock_skew_s=30, clock_s=lambda: time.time() + offset_s)


def user_token(stack: IdentityStack, token_codec: TokenCodec, scopes: frozenset[Scope] = frozenset({Scope.SIGN})) -> str:
    client_id = stack.apps[0].client_id
    token, _ = token_codec.issue(TokenUse.USER, f"{client_id}:mallory", client_id, scopes, 300)
    return token


def alg_none(stack: IdentityStack) -> str:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(claims(stack)).encode())}."


def hs256_with_public_key(stack: IdentityStack) -> str:
    """The classic confusion: HMAC keyed with the verifier's public key (its JWK and its PEM)."""
    public = SigningKeys(stack.keys_file).jwks()["keys"][-1]
    pem = ECKey.import_key(public).as_pem(private=False)
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": public["kid"]}).encode())
    signing_input = f"{header}.{b64url(json.dumps(claims(stack)).encode())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def foreign_key_same_kid(stack: IdentityStack) -> str:
    kid = SigningKeys(stack.keys_file).jwks()["keys"][-1]["kid"]
    attacker = ECKey.generate_key("P-256", {"kid": kid}, private=True)
    return jose_jwt.encode({"alg": "ES256", "kid": kid}, claims(stack), attacker, algorithms=["ES256"])


FORGERIES = {
    "alg none": alg_none,
    "HS256 keyed with the public key": hs256_with_public_key,
    "another key under our kid": foreign_key_same_kid,
    "expired": lambda s: user_token(s, codec(s, offset_s=-3600)),
    "not yet valid": lambda s: user_token(s, codec(s, offset_s=3600)),
    "wrong issuer": lambda s: user_token(s, codec(s, issuer="https://evil.example")),
    "wrong audience": lambda s: user_token(s, codec(s, audience="someone-else")),
    "garbage": lambda s: "a.b.c",
}


@pytest.mark.parametrize("name", sorted(FORGERIES))
def test_a_bad_token_is_refused_on_every_signing_transport(stack: IdentityStack, name: str) -> None:
    token = FORGERIES[name](stack)
    before = counts(stack.db)
    reply = request(stack.url, "POST", PAY, pay_body(), {"Authorization": f"Bearer {token}"})
    assert reply.status == 401, reply.body
    assert token not in reply.body.decode()
    v1 = request(stack.url, "POST", "/v1/generate-payment", json_format.MessageToDict(grpc_payment()),
                 {"Authorization": f"Bearer {token}"})
    assert (v1.status, v1.json()["error"]["reason"]) == (401, "UNAUTHENTICATED")
    code, reason, _ = failure(stack.stub.GeneratePayment, grpc_payment(), metadata=(("authorization", f"Bearer {token}"),))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, Reason.UNAUTHENTICATED)
    assert counts(stack.db) == before


def test_the_control_a_good_token_signs(stack: IdentityStack) -> None:
    """The forgeries above differ from this token only in what each breaks."""
    token = user_token(stack, codec(stack))
    assert request(stack.url, "POST", PAY, pay_body(), {"Authorization": f"Bearer {token}"}).status == 200


def test_a_token_without_sign_job_may_not_sign(stack: IdentityStack) -> None:
    token = user_token(stack, codec(stack), frozenset({Scope.USAGE_READ}))
    before = counts(stack.db)
    reply = request(stack.url, "POST", PAY, pay_body(), {"Authorization": f"Bearer {token}"})
    assert reply.status == 403 and "sign:job" in reply.message
    code, reason, _ = failure(stack.stub.GeneratePayment, grpc_payment(), metadata=(("authorization", f"Bearer {token}"),))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, Reason.INSUFFICIENT_SCOPE)
    assert counts(stack.db) == before


def test_a_disabled_apps_tokens_stop(stack: IdentityStack) -> None:
    token = user_token(stack, codec(stack))
    assert request(stack.url, "POST", PAY, pay_body(), {"Authorization": f"Bearer {token}"}).status == 200
    stack.identity.set_app_active(stack.apps[0].client_id, False)
    reply = request(stack.url, "POST", PAY, pay_body(), {"Authorization": f"Bearer {token}"})
    assert reply.status == 401 and "disabled" in reply.message
    set_app_active(stack.db, stack.apps[0].client_id, True)


def test_a_rotated_key_keeps_verifying_until_the_next_rotation(stack: IdentityStack) -> None:
    from clearinghouse.identity.keys import rotate_key_file

    old = user_token(stack, codec(stack))
    rotate_key_file(stack.keys_file)
    fresh_view = codec(stack)  # a new process's view of the file
    new = user_token(stack, fresh_view)
    assert fresh_view.verify(old).subject == fresh_view.verify(new).subject
    assert len(SigningKeys(stack.keys_file).jwks()["keys"]) == 2
    rotate_key_file(stack.keys_file)
    newest = codec(stack)
    with pytest.raises(Exception, match="signature"):
        newest.verify(old)  # its key left the file with the second rotation
    assert newest.verify(new).subject.endswith(":mallory")


def test_a_user_token_does_not_read_its_gateways_usage(stack: IdentityStack) -> None:
    """Its own usage is at /api/v1/user/usage; the gateway's, on /v1 and gRPC, is the gateway's."""
    token = user_token(stack, codec(stack), frozenset({Scope.SIGN, Scope.USAGE_READ}))
    start = int(time.time()) // 3600 * 3600
    reply = request(stack.url, "GET", f"/v1/usage?startUnixS={start}&endUnixS={start + 3600}", None,
                    {"Authorization": f"Bearer {token}"})
    assert (reply.status, reply.json()["error"]["reason"]) == (403, "INSUFFICIENT_SCOPE"), reply.body
    code, reason, _ = failure(stack.stub.GetUsage, pb.GetUsageRequest(start_unix_s=start, end_unix_s=start + 3600),
                              metadata=(("authorization", f"Bearer {token}"),))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, Reason.INSUFFICIENT_SCOPE)
    key = {"Authorization": f"Bearer {stack.apps[0].api_key}"}  # the control: the gateway's key reads it
    assert request(stack.url, "GET", f"/v1/usage?startUnixS={start}&endUnixS={start + 3600}", None, key).status == 200
