"""Credit control under racing calls, and the property that funds + credit are never exceeded.

The races: a gateway whose credit covers only k calls, and N > k calls of their own sessions.
Exactly k may sign, whether the calls meet in one batch (each sees the earlier ones' pending
spend), in separate batches of one committer, or in batches committed at the same moment by
separate transactions (what two daemons on one database do: on PostgreSQL each batch checks on
an unlocked read and replays its spends under the account locks before it writes; on SQLite the
write lock serializes them). Each call waits between check and record (where the service signs),
so a check that did not hold until the record would let more than k through.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from fractions import Fraction
from typing import TYPE_CHECKING, cast

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearinghouse.domain.refusals import SigningRefused, SpendLimit
from clearinghouse.ledger import (
    AccountKind,
    Committer,
    Database,
    Outcome,
    adjust,
    commit_calls,
    create_gateway,
    gateway_accounts,
    set_credit_policy,
    spend_summary,
    top_up,
    verify_ledger,
)
from clearinghouse.domain.ev import WIN_PROB_DENOMINATOR
from clearinghouse.domain.credit import CreditMode
from clearinghouse.domain.gateways import Gateway
from tests.ledger.conftest import CheckAndRecord, check_and_record, keys_of

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

WAIT_S = 10.0  # upper bound of any wait in these tests
SIGNING_S = 0.02  # the time a call "signs" between its check and its record
CALLERS = 8
CALLS_COVERED = 3
EV = 35  # wei signed by the first call of a default session


def _limit_to_k_calls(db: Database, gateway: Gateway) -> None:
    set_credit_policy(
        db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=CALLS_COVERED * EV + EV - 1,  # k fit, k + 1 not
        actor="ops", reason="race test",
    )


def _outcome_names(outcomes: list[Outcome[object]]) -> list[str]:
    names = []
    for outcome in outcomes:
        if outcome.error is None:
            names.append("signed")
        else:
            assert isinstance(outcome.error, SigningRefused), outcome.error
            names.append(outcome.error.limit.value)
    return sorted(names)


def _assert_exactly_k_signed(db: Database, gateway: Gateway, names: list[str]) -> None:
    assert names == ["credit_limit"] * (CALLERS - CALLS_COVERED) + ["signed"] * CALLS_COVERED
    assert gateway_accounts(db, gateway.id)[AccountKind.RECEIVABLE].balance == CALLS_COVERED * EV
    assert verify_ledger(db).ok


def test_calls_in_one_batch_never_overspend_the_credit(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _limit_to_k_calls(ledger_db, gateway)
    calls = [new_session(gateway.id).next_call() for _ in range(CALLERS)]

    outcomes = check_and_record(ledger_db, *calls)

    assert [o.error is None for o in outcomes] == [True] * CALLS_COVERED + [False] * (CALLERS - CALLS_COVERED)
    _assert_exactly_k_signed(ledger_db, gateway, _outcome_names(outcomes))


def test_racing_calls_on_one_committer_never_overspend_the_credit(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _limit_to_k_calls(ledger_db, gateway)
    committer = Committer(ledger_db, batch_max=2)  # several batches, each with several calls
    calls = [new_session(gateway.id).next_call() for _ in range(CALLERS)]
    futures = [
        committer.submit(CheckAndRecord(call, keys_of(call), signing=lambda: time.sleep(SIGNING_S)))
        for call in calls
    ]
    outcomes: list[Outcome[object]] = []
    for future in futures:
        error = future.exception(WAIT_S)
        outcomes.append(Outcome(error=error) if error is not None else Outcome(value=future.result()))
    committer.close()

    assert committer.batches >= CALLERS // 2
    _assert_exactly_k_signed(ledger_db, gateway, _outcome_names(outcomes))


def test_batches_committing_at_once_never_overspend_the_credit(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    """Each thread commits a batch of its own in its own transaction, as separate daemons do."""
    _limit_to_k_calls(ledger_db, gateway)
    calls = [new_session(gateway.id).next_call() for _ in range(CALLERS)]
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

    _assert_exactly_k_signed(ledger_db, gateway, _outcome_names(outcomes))


_gateway_numbers = itertools.count()

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("sign"),
            st.tuples(
                st.integers(1, 500),  # face value: EV = face value × winProb fraction
                st.integers(WIN_PROB_DENOMINATOR // 1000, WIN_PROB_DENOMINATOR),
                st.sampled_from([None, "alice", "bob"]),
            ),
        ),
        st.tuples(st.just("top_up"), st.integers(1, 1_000)),
        st.tuples(
            st.just("adjust"),
            st.fractions(min_value=-500, max_value=500, max_denominator=1000).filter(
                lambda f: f != 0
            ),
        ),
    ),
    min_size=1,
    max_size=10,
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=operations,
    credit_limit_wei=st.one_of(st.just(0), st.integers(1, 2_000)),
    quota_wei=st.one_of(st.none(), st.integers(0, 2_000)),
    subject_quota_wei=st.one_of(st.none(), st.integers(0, 1_000)),
)
def test_spends_never_exceed_funds_and_credit(
    ledger_db: Database,
    new_session: Callable[..., SessionDriver],
    steps: list[tuple[str, object]],
    credit_limit_wei: int,
    quota_wei: int | None,
    subject_quota_wei: int | None,
) -> None:
    gateway = create_gateway(ledger_db, f"credit-property-{next(_gateway_numbers)}")
    mode = CreditMode.PREPAID if credit_limit_wei == 0 else CreditMode.CREDIT
    set_credit_policy(
        ledger_db,
        gateway.id,
        mode=mode,
        credit_limit_wei=credit_limit_wei,
        quota_wei=quota_wei,
        subject_quota_wei=subject_quota_wei,
        actor="property",
        reason="property",
    )
    owed, signed = Fraction(0), Fraction(0)
    by_subject: dict[str | None, Fraction] = {}
    for kind, value in steps:
        if kind == "top_up":
            top_up(ledger_db, gateway.id, value, actor="property", reason="top-up")  # type: ignore[arg-type]
            owed -= value  # type: ignore[operator]
        elif kind == "adjust":
            adjust(ledger_db, gateway.id, value, actor="property", reason="adjustment")  # type: ignore[arg-type]
            owed += value  # type: ignore[operator]
        else:
            face_value, win_prob, subject = cast(tuple[int, int, str | None], value)
            driver = new_session(
                gateway.id, face_value=face_value, win_prob=win_prob, pixels_per_unit=10**9
            )
            call = driver.next_call(units=1, usage_subject=subject)
            spend = call.ev_signed
            subject_spent = by_subject.get(subject, Fraction(0))
            expected = (
                SpendLimit.BALANCE
                if mode is CreditMode.PREPAID and owed + spend > 0
                else SpendLimit.CREDIT_LIMIT
                if owed + spend > credit_limit_wei
                else SpendLimit.QUOTA
                if quota_wei is not None and signed + spend > quota_wei
                else SpendLimit.SUBJECT_QUOTA
                if subject is not None
                and subject_quota_wei is not None
                and subject_spent + spend > subject_quota_wei
                else None
            )
            try:
                check_and_record(ledger_db, call)[0].result()
            except SigningRefused as refused:
                assert refused.limit is expected
                continue
            assert expected is None
            owed, signed = owed + spend, signed + spend
            by_subject[subject] = subject_spent + spend
            assert owed <= credit_limit_wei  # EV signed never exceeds funds + credit limit

    summary = spend_summary(ledger_db, gateway.id, datetime.now(UTC))
    assert (summary.owed, summary.period_spend) == (owed, signed)
    assert verify_ledger(ledger_db).ok
