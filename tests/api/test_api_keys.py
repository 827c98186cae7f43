"""API keys: issuing, and authentication before any service call (401/403, nothing signed)."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from clearinghouse.api import (
    ApiKeyAuthenticator,
    GatewayDisabled,
    Unauthenticated,
    authenticate,
    issue_api_key,
)
from clearinghouse.api.limits import USAGE_SUBJECT_LENGTH_MAX
from clearinghouse.api.requests import RequestHeaders
from clearinghouse.ledger import Database, list_api_keys, revoke_api_key, set_gateway_status
from clearinghouse.domain.gateways import Gateway, GatewayStatus
from tests.api.client import post
from tests.api.conftest import ORCHESTRATOR_B64, PEPPER
from tests.api.fakes import FakePaymentService

PAY = "/generate-live-payment"
BODY = {"orchestrator": ORCHESTRATOR_B64}


def test_issued_keys_are_prefixed_random_and_stored_as_hmac(db: Database, gateway: Gateway) -> None:
    key_text, record = issue_api_key(db, gateway.id, PEPPER, usage_subject="user-1")
    other, _ = issue_api_key(db, gateway.id, PEPPER)
    assert re.fullmatch(r"chk_[A-Za-z0-9_-]{43}", key_text) and key_text != other
    assert record.prefix == key_text[:12] and record.usage_subject == "user-1"
    found = authenticate(db, PEPPER, f"Bearer {key_text}")
    assert (found.key.id, found.gateway.id) == (record.id, gateway.id)
    digest = hmac.new(PEPPER, key_text.encode(), hashlib.sha256).digest()
    with db.engine.connect() as connection:
        stored: bytes = connection.exec_driver_sql(
            "SELECT digest FROM api_keys WHERE id = ?", (record.id,)
        ).scalar_one()
    assert stored == digest and key_text.encode() not in stored


def test_a_short_pepper_is_refused(db: Database, gateway: Gateway) -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_api_key(db, gateway.id, b"short")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic abc",
        "Bearer",
        "Bearer chk_short",
        "Bearer chk_" + "A" * 43,
        "Token chk_" + "A" * 43,
    ],
)
def test_missing_malformed_or_unknown_keys_are_unauthenticated(
    db: Database, gateway: Gateway, header: str | None
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        authenticate(db, PEPPER, header)
    assert "chk_AAAA" not in caught.value.message


def test_the_scheme_is_case_insensitive(db: Database, api_key: str) -> None:
    assert authenticate(db, PEPPER, f"bearer {api_key}").key.prefix == api_key[:12]


def test_a_key_under_another_pepper_is_unknown(db: Database, api_key: str) -> None:
    with pytest.raises(Unauthenticated):
        authenticate(db, b"another-pepper".ljust(32, b"q"), f"Bearer {api_key}")


def test_revoked_key_and_disabled_gateway(db: Database, gateway: Gateway, api_key: str) -> None:
    set_gateway_status(db, gateway.id, GatewayStatus.DISABLED)
    with pytest.raises(GatewayDisabled):
        authenticate(db, PEPPER, f"Bearer {api_key}")
    (record,) = list_api_keys(db, gateway.id)
    revoke_api_key(db, record.id)
    with pytest.raises(Unauthenticated):
        authenticate(db, PEPPER, f"Bearer {api_key}")


@pytest.mark.parametrize("path", [PAY, "/sign-orchestrator-info"])
def test_over_http_bad_keys_get_401_and_reach_no_service(
    path: str,
    fake_server: str,
    db: Database,
    gateway: Gateway,
    api_key: str,
    fake_service: FakePaymentService,
) -> None:
    wrong = "chk_" + "B" * 43
    for headers in ({}, {"Authorization": f"Bearer {wrong}"}, {"Authorization": api_key}):
        reply = post(fake_server, path, BODY, headers)
        assert reply.status == 401, reply.body
        assert wrong not in reply.message and api_key not in reply.message
    (record,) = list_api_keys(db, gateway.id)
    revoke_api_key(db, record.id)
    assert post(fake_server, path, BODY, {"Authorization": f"Bearer {api_key}"}).status == 401
    assert fake_service.calls == []


def test_over_http_a_disabled_gateway_gets_403_and_reaches_no_service(
    fake_server: str,
    db: Database,
    gateway: Gateway,
    auth: dict[str, str],
    fake_service: FakePaymentService,
) -> None:
    set_gateway_status(db, gateway.id, GatewayStatus.DISABLED)
    reply = post(fake_server, PAY, BODY, auth)
    assert reply.status == 403 and "disabled" in reply.message
    assert fake_service.calls == []


def test_authentication_comes_before_body_checks(
    fake_server: str, fake_service: FakePaymentService
) -> None:
    assert post(fake_server, PAY, b"{not json").status == 401


def test_usage_subject_from_the_key_else_the_header(
    fake_server: str,
    db: Database,
    gateway: Gateway,
    auth: dict[str, str],
    fake_service: FakePaymentService,
) -> None:
    assert (
        post(fake_server, PAY, BODY, {**auth, "Livepeer-Usage-Subject": "end-user-7"}).status == 200
    )
    own_key, _ = issue_api_key(db, gateway.id, PEPPER, usage_subject="key-subject")
    headers = {"Authorization": f"Bearer {own_key}", "Livepeer-Usage-Subject": "ignored"}
    assert post(fake_server, PAY, BODY, headers).status == 200
    assert post(fake_server, PAY, BODY, auth).status == 200
    subjects = [caller.usage_subject for caller, _ in fake_service.calls]
    assert subjects == ["end-user-7", "key-subject", None]
    assert {caller.gateway_id for caller, _ in fake_service.calls} == {gateway.id}


@pytest.mark.parametrize("subject", ["x" * (USAGE_SUBJECT_LENGTH_MAX + 1), "caf\u00e9"])
def test_a_bad_usage_subject_header_is_400(
    subject: str, fake_server: str, auth: dict[str, str], fake_service: FakePaymentService
) -> None:
    reply = post(
        fake_server,
        PAY,
        BODY,
        {**auth, "Livepeer-Usage-Subject": subject.encode("utf-8").decode("latin-1")},
    )
    assert reply.status == 400 and "Livepeer-Usage-Subject" in reply.message
    assert fake_service.calls == []


def test_a_success_is_reused_for_the_ttl_and_failures_never(
    db: Database, gateway: Gateway, api_key: str
) -> None:
    now = [100.0]
    authenticator = ApiKeyAuthenticator(db, PEPPER, cache_ttl_s=2.0, clock_s=lambda: now[0])
    headers = RequestHeaders([(b"authorization", f"Bearer {api_key}".encode())])
    assert authenticator.cached_caller(headers) is None
    caller = authenticator.caller(headers)
    (record,) = list_api_keys(db, gateway.id)
    revoke_api_key(db, record.id)
    assert authenticator.cached_caller(headers) == caller  # within the TTL: no database read
    now[0] += 2.0
    assert authenticator.cached_caller(headers) is None
    with pytest.raises(Unauthenticated):
        authenticator.caller(headers)
    assert authenticator.cached_caller(headers) is None


def test_the_cache_keeps_the_subject_header_per_call(db: Database, api_key: str) -> None:
    authenticator = ApiKeyAuthenticator(db, PEPPER)
    bearer = (b"authorization", f"Bearer {api_key}".encode())
    authenticator.caller(RequestHeaders([bearer, (b"livepeer-usage-subject", b"first")]))
    cached = authenticator.cached_caller(
        RequestHeaders([bearer, (b"livepeer-usage-subject", b"b")])
    )
    assert cached is not None and cached.usage_subject == "b"
    assert "test-pepper" not in repr(authenticator)
