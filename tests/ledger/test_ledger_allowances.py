"""An app's end user's allowance under racing calls (issue 16), on SQLite and PostgreSQL.

A user whose allowance covers only k calls, and N > k calls of its own sessions billed to it (its
usage subject), the gateway's own credit ample: exactly k sign, whether the calls meet in one batch
(each sees the earlier ones' pending spend), in batches of one committer, or in batches committed
at the same moment by separate transactions, as two daemons on one database do (on PostgreSQL each
replays its spends against the user's row read under lock before it writes). Each call waits
between check and record, where the service signs. The refusal names the user's allowance; the
user's spent is exactly what was signed for it; a deactivated user is refused in the batch itself.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

import pytest

from clearinghouse.domain.gateways import Gateway
from clearinghouse.domain.refusals import SigningRefused
from clearinghouse.ledger import (
    Committer,
    Database,
    Outcome,
    commit_calls,
    top_up,
    verify_ledger,
)
from clearinghouse.ledger.identity import (
    App,
    create_app,
    get_user,
    grant_allowance,
    provision_user,
    update_user,
)
from tests.ledger.conftest import CheckAndRecord, check_and_record, keys_of

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

WAIT_S = 10.0
SIGNING_S = 0.02
CALLERS = 8
CALLS_COVERED = 3
EV = 35  # wei signed by the first call of a default session


@pytest.fixture
def app(ledger_db: Database, gateway: Gateway) -> App:
    top_up(ledger_db, gateway.id, 10**18, actor="test", reason="ample gateway funds")
    return create_app(ledger_db, gateway.id, name="app", client_id="app_test", secret_digest=b"\x01" * 32)


@pytest.fixture
def subject(ledger_db: Database, app: App) -> str:
    """A user whose allowance covers k calls, not k + 1."""
    user = provision_user(ledger_db, app, "alice", None)
    grant_allowance(ledger_db, app, "alice", CALLS_COVERED * EV + EV - 1)
    return user.usage_subject


def outcome_names(outcomes: list[Outcome[object]]) -> list[str]:
    names = []
    for outcome in outcomes:
        if outcome.error is None:
            names.append("signed")
        else:
            assert isinstance(outcome.error, SigningRefused), outcome.error
            names.append(outcome.error.limit.value)
    return sorted(names)


def assert_exactly_k_signed(db: Database, app: App, names: list[str]) -> None:
    assert names == ["signed"] * CALLS_COVERED + ["user_allowance"] * (CALLERS - CALLS_COVERED)
    user = get_user(db, app, "alice")
    assert user.spent == CALLS_COVERED * EV
    assert user.remaining == EV - 1
    assert verify_ledger(db).ok


def test_calls_in_one_batch_never_overspend_the_allowance(
    ledger_db: Database, gateway: Gateway, app: App, subject: str, new_session: Callable[..., SessionDriver]
) -> None:
    calls = [new_session(gateway.id).next_call(usage_subject=subject) for _ in range(CALLERS)]
    outcomes = check_and_record(ledger_db, *calls)
    assert [o.error is None for o in outcomes] == [True] * CALLS_COVERED + [False] * (CALLERS - CALLS_COVERED)
    assert "allowance exhausted" in str(outcomes[-1].error) and "alice" in str(outcomes[-1].error)
    assert_exactly_k_signed(ledger_db, app, outcome_names(outcomes))


def test_racing_calls_on_one_committer_never_overspend_the_allowance(
    ledger_db: Database, gateway: Gateway, app: App, subject: str, new_session: Callable[..., SessionDriver]
) -> None:
    committer = Committer(ledger_db, batch_max=2)
    calls = [new_session(gateway.id).next_call(usage_subject=subject) for _ in range(CALLERS)]
    futures = [committer.submit(CheckAndRecord(call, keys_of(call), signing=lambda: time.sleep(SIGNING_S)))
               for call in calls]
    outcomes: list[Outcome[object]] = []
    for future in futures:
        error = future.exception(WAIT_S)
        outcomes.append(Outcome(error=error) if error is not None else Outcome(value=future.result()))
    committer.close()
    assert_exactly_k_signed(ledger_db, app, outcome_names(outcomes))


def test_batches_committing_at_once_never_overspend_the_allowance(
    ledger_db: Database, gateway: Gateway, app: App, subject: str, new_session: Callable[..., SessionDriver]
) -> None:
    """Each thread commits a batch of its own in its own transaction, as separate daemons do."""
    calls = [new_session(gateway.id).next_call(usage_subject=subject) for _ in range(CALLERS)]
    start = threading.Barrier(CALLERS, timeout=WAIT_S)
    outcomes: list[Outcome[object]] = []

    def race(index: int) -> None:
        call = calls[index]
        start.wait()
        work = CheckAndRecord(call, keys_of(call), signing=lambda: time.sleep(SIGNING_S))
        outcomes.extend(commit_calls(ledger_db, [work]))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)
    assert_exactly_k_signed(ledger_db, app, outcome_names(outcomes))


def test_a_deactivated_user_is_refused_by_the_batch(
    ledger_db: Database, gateway: Gateway, app: App, subject: str, new_session: Callable[..., SessionDriver]
) -> None:
    """What another daemon's deactivation looks like to this one before its token cache notices."""
    update_user(ledger_db, app, "alice", active=False)
    [outcome] = check_and_record(ledger_db, new_session(gateway.id).next_call(usage_subject=subject))
    assert isinstance(outcome.error, SigningRefused) and "deactivated" in str(outcome.error)
    assert get_user(ledger_db, app, "alice").spent == 0


def test_a_user_without_an_allowance_spends_only_the_gateways_credit(
    ledger_db: Database, gateway: Gateway, app: App, new_session: Callable[..., SessionDriver]
) -> None:
    bob = provision_user(ledger_db, app, "bob", None)
    outcomes = check_and_record(ledger_db, *[new_session(gateway.id).next_call(usage_subject=bob.usage_subject)
                                             for _ in range(2)])
    assert [o.error for o in outcomes] == [None, None]
    assert get_user(ledger_db, app, "bob").spent == Fraction(2 * EV)
    assert get_user(ledger_db, app, "bob").remaining is None
