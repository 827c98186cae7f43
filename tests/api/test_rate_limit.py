"""Per-gateway call rate limits: bursts, refill, isolation between gateways, 429 before signing."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from clearinghouse.api import ApiKeyAuthenticator
from clearinghouse.api.errors import RateLimited
from clearinghouse.api.rate_limit import CallRate, RateLimiter
from clearinghouse.ledger import Database
from clearinghouse.domain.gateways import Gateway
from tests.api.client import post
from tests.api.conftest import ORCHESTRATOR_B64, PEPPER
from tests.api.fakes import FakePaymentService


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_a_burst_then_the_average_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(CallRate(calls_per_s=2, burst=3), {}, clock_s=clock)
    for _ in range(3):
        limiter.admit(1)
    with pytest.raises(RateLimited) as info:
        limiter.admit(1)
    assert info.value.status == 429 and info.value.headers == {"Retry-After": "1"}
    assert "gateway 1 may make 2 calls/s with bursts of 3; retry in 0.50 s" in info.value.message
    clock.now_s += 0.5
    limiter.admit(1)
    with pytest.raises(RateLimited):
        limiter.admit(1)
    clock.now_s += 100  # refills up to the burst, not beyond
    for _ in range(3):
        limiter.admit(1)
    with pytest.raises(RateLimited):
        limiter.admit(1)


def test_gateways_have_their_own_buckets_and_overrides() -> None:
    limiter = RateLimiter(CallRate(1, 1), {7: CallRate(1, 5)}, clock_s=Clock())
    limiter.admit(1)
    with pytest.raises(RateLimited):
        limiter.admit(1)
    limiter.admit(2)
    for _ in range(5):
        limiter.admit(7)
    unlimited = RateLimiter(None, {}, clock_s=Clock())
    for _ in range(1000):
        unlimited.admit(1)


def test_rates_must_be_positive() -> None:
    with pytest.raises(ValueError, match="need calls_per_s > 0 and burst >= 1"):
        CallRate(0, 1)


def test_over_the_limit_is_429_and_reaches_no_signing(
    fake_service: FakePaymentService,
    db: Database,
    gateway: Gateway,
    auth: dict[str, str],
    serve: Callable[..., AbstractContextManager[str]],
) -> None:
    limiter = RateLimiter(CallRate(calls_per_s=0.01, burst=2), {})
    with serve(fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER), rate_limiter=limiter) as url:
        body = {"orchestrator": ORCHESTRATOR_B64, "type": "lv2v"}
        assert [post(url, "/generate-live-payment", body, auth).status for _ in range(2)] == [200, 200]
        reply = post(url, "/generate-live-payment", body, auth)
    assert reply.status == 429 and reply.headers["retry-after"] == "100"
    assert reply.message.startswith(f"rate limit exceeded: gateway {gateway.id} may make 0.01 calls/s")
    assert len(fake_service.calls) == 2
