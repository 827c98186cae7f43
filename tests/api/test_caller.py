"""The one authentication + rate-limit step of every gateway transport (api/caller.py), over a
real SQLite ledger: refusals, the rate limit taken only by signing routes, the gateway bound to
the log context, and the webhook mode that only admits."""

from __future__ import annotations

import asyncio
import contextvars

import pytest

from clearinghouse.api import ApiKeyAuthenticator
from clearinghouse.api.caller import CallerCheck
from clearinghouse.api.errors import RateLimited, Unauthenticated
from clearinghouse.api.pools import BlockingPool
from clearinghouse.api.rate_limit import CallRate, RateLimiter
from clearinghouse.api.requests import RequestHeaders
from clearinghouse.errors import InvariantViolation
from clearinghouse.ledger import Database
from clearinghouse.domain.gateways import Gateway
from clearinghouse.logs import current_gateway_id
from clearinghouse.signer.calls import Caller
from tests.api.conftest import PEPPER


def headers(api_key: str) -> RequestHeaders:
    return RequestHeaders([(b"authorization", f"Bearer {api_key}".encode())])


def one_call_per_gateway() -> RateLimiter:
    return RateLimiter(CallRate(calls_per_s=0.001, burst=1), {})


def test_only_signing_routes_take_from_the_rate_limit(db: Database, gateway: Gateway, api_key: str) -> None:
    check = CallerCheck(ApiKeyAuthenticator(db, PEPPER), one_call_per_gateway())
    for _ in range(3):
        assert check.caller(headers(api_key), signing=False).gateway_id == gateway.id
    assert check.caller(headers(api_key), signing=True).gateway_id == gateway.id
    with pytest.raises(RateLimited):
        check.caller(headers(api_key), signing=True)


def test_http_and_grpc_paths_share_one_bucket(db: Database, api_key: str) -> None:
    check = CallerCheck(ApiKeyAuthenticator(db, PEPPER), one_call_per_gateway())
    pool = BlockingPool("signing", 1)
    try:
        asyncio.run(check.admitted(headers(api_key), pool, signing=True))
    finally:
        pool.close()
    with pytest.raises(RateLimited):
        check.caller(headers(api_key), signing=True)


def test_the_callers_gateway_is_bound_to_the_log_context(db: Database, gateway: Gateway, api_key: str) -> None:
    check = CallerCheck(ApiKeyAuthenticator(db, PEPPER))

    def authenticate() -> int | None:
        check.caller(headers(api_key), signing=False)
        return current_gateway_id()

    assert contextvars.Context().run(authenticate) == gateway.id


def test_a_refused_credential_takes_nothing_from_the_rate_limit(db: Database, api_key: str) -> None:
    check = CallerCheck(ApiKeyAuthenticator(db, PEPPER), one_call_per_gateway())
    with pytest.raises(Unauthenticated):
        check.caller(headers("chk_" + "A" * 43), signing=True)
    with pytest.raises(Unauthenticated):
        check.caller(RequestHeaders([]), signing=True)
    check.caller(headers(api_key), signing=True)


def test_without_keys_it_only_admits() -> None:
    check = CallerCheck(None, one_call_per_gateway())
    assert not check.checks_keys
    caller = Caller(gateway_id=7, api_key_id=None, usage_subject=None)
    check.admit(caller)
    with pytest.raises(RateLimited):
        check.admit(caller)
    with pytest.raises(InvariantViolation):
        check.caller(RequestHeaders([]), signing=False)
