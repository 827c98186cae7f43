"""The one refusal type and its precedence table: every reason has one place, the table is the
enum's order, and the extras a refusal carries survive."""

from __future__ import annotations

import pytest

from clearinghouse.domain.refusals import (
    PRECEDENCE,
    Refusal,
    SigningRefused,
    SpendLimit,
    over_limit,
    sessions_exhausted,
)
from clearinghouse.errors import ClearinghouseError


def test_every_reason_has_exactly_one_place() -> None:
    assert len(PRECEDENCE) == len(set(PRECEDENCE)) == len(Refusal)
    assert set(PRECEDENCE) == set(Refusal)


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        (Refusal.INVOICE_OVERDUE, Refusal.BAD_REQUEST),  # decided from memory, before decoding
        (Refusal.BAD_REQUEST, Refusal.SIGNER_UNSAFE),  # the request's own checks before the chain guard
        (Refusal.SIGNER_UNSAFE, Refusal.REFRESH_SESSION),  # our health before the offer
        (Refusal.TOO_MANY_TICKETS, Refusal.TOTAL_EV_EXCEEDED),  # the ticket cap before the EV it bounds
        (Refusal.SESSIONS_EXHAUSTED, Refusal.INSUFFICIENT_BALANCE),  # in the batch: the cap, then credit
    ],
)
def test_the_documented_pairs(earlier: Refusal, later: Refusal) -> None:
    assert PRECEDENCE.index(earlier) < PRECEDENCE.index(later)


def test_a_refusal_is_a_clearinghouse_error_with_its_extras() -> None:
    refused = SigningRefused(Refusal.REFRESH_SESSION, "refresh", orchestrator_url="https://o:8935")
    assert isinstance(refused, ClearinghouseError)
    assert (str(refused), refused.orchestrator_url, refused.retry_after_s, refused.limit) == (
        "refresh", "https://o:8935", None, None)


@pytest.mark.parametrize("limit", list(SpendLimit))
def test_credit_control_ranks_the_overdue_stop_first(limit: SpendLimit) -> None:
    refused = over_limit(limit, "no")
    expected = Refusal.INVOICE_OVERDUE if limit is SpendLimit.OVERDUE_INVOICE else Refusal.INSUFFICIENT_BALANCE
    assert (refused.reason, refused.limit, refused.message) == (expected, limit, "no")


def test_sessions_exhausted_says_when_to_retry() -> None:
    refused = sessions_exhausted(7, 3, 3, 42)
    assert (refused.reason, refused.retry_after_s) == (Refusal.SESSIONS_EXHAUSTED, 42)
    assert "gateway 7 has 3 sessions" in refused.message and "at most 3 allowed" in refused.message
