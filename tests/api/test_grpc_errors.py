"""The clearinghouse.v1 error tables: every reason has a gRPC code and a /v1 HTTP status, every
refusal a reason, and the service's exceptions are classified the same on both transports."""

from __future__ import annotations

import grpc
import pytest

from clearinghouse.api.errors import (
    REASON_STATUS,
    REFUSAL_WIRE,
    BadRequest,
    InternalError,
    RateLimited,
    Reason,
    Unauthenticated,
    V1Answer,
    v1_answer,
)
from clearinghouse.domain.refusals import Refusal, SigningRefused, SpendLimit, over_limit
from clearinghouse.ledger import DatabaseUnavailable


def test_every_reason_has_a_grpc_code_and_an_http_status() -> None:
    assert set(REASON_STATUS) == set(Reason)
    assert all(reason.value == reason.name for reason in Reason)  # the wire strings


def test_every_refusal_has_a_reason() -> None:
    assert set(REFUSAL_WIRE) == set(Refusal)


def test_the_statuses_the_issue_names() -> None:
    assert REASON_STATUS[Reason.INSUFFICIENT_BALANCE][1] == 402
    assert REASON_STATUS[Reason.SIGNER_UNHEALTHY] == (grpc.StatusCode.UNAVAILABLE, 503)
    assert REASON_STATUS[Reason.STALE_STATE] == (grpc.StatusCode.ABORTED, 409)
    assert REASON_STATUS[Reason.UNAUTHENTICATED] == (grpc.StatusCode.UNAUTHENTICATED, 401)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (SigningRefused(Refusal.NONCES_EXHAUSTED, "600"), Reason.REFRESH_SESSION),
        (SigningRefused(Refusal.SIGNER_UNSAFE, "unlock"), Reason.SIGNER_UNHEALTHY),
        (over_limit(SpendLimit.BALANCE, "no funds"), Reason.INSUFFICIENT_BALANCE),
        (SigningRefused(Refusal.REQUEST_ID_REUSED, "other request"), Reason.REQUEST_ID_REUSED),
        (SigningRefused(Refusal.DEADLINE_EXCEEDED, "late"), Reason.DEADLINE_EXCEEDED),
        (DatabaseUnavailable("postgresql://user:secret@db"), Reason.UNAVAILABLE),
        (BadRequest("bad"), Reason.BAD_REQUEST),
        (Unauthenticated("who"), Reason.UNAUTHENTICATED),
        (RateLimited("slow down"), Reason.RATE_LIMITED),
    ],
)
def test_service_errors_are_classified(error: Exception, reason: Reason) -> None:
    answer = v1_answer(error)
    assert answer is not None and answer.reason is reason
    assert (answer.grpc_code, answer.http_status) == REASON_STATUS[reason]
    assert "secret" not in answer.message


def test_bugs_are_not_classified() -> None:
    assert v1_answer(RuntimeError("bug")) is None
    assert v1_answer(InternalError("detail")) is None


def test_a_refresh_names_the_orchestrator() -> None:
    refusal = SigningRefused(Refusal.REFRESH_SESSION, "refresh", orchestrator_url="https://o:8935")
    assert v1_answer(refusal) == V1Answer(Reason.REFRESH_SESSION, "refresh", "https://o:8935")
