"""Credit control under racing calls, and the property that funds + credit are never exceeded.

The race: N threads, each with a session of its own on one gateway whose credit covers only
k calls, check and record at the same moment through ``locked_session``. Exactly k may sign.
Each thread sleeps between check and record (where the service signs), so a check that did
not hold the gateway's lock until the record would let more than k through.
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

from clearinghouse.ledger import (
    WIN_PROB_DENOMINATOR,
    AccountKind,
    CreditMode,
    Database,
    Gateway,
    SpendLimit,
    SpendRefused,
    adjust,
    create_gateway,
    gateway_accounts,
    locked_session,
    set_credit_policy,
    spend_summary,
    top_up,
    verify_ledger,
)

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

WAIT_S = 10.0  # upper bound of any wait in these tests
SIGNING_S = 0.02  # the time a call "signs" between its check and its record
CALLERS = 8
CALLS_COVERED = 3
EV = 35  # wei signed by the first call of a default session


def test_racing_calls_never_overspend_the_credit(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    set_credit_policy(
        ledger_db,
        gateway.id,
        mode=CreditMode.CREDIT,
        credit_limit_wei=CALLS_COVERED * EV + EV - 1,  # k calls fit, k + 1 do not
        actor="ops",
        reason="race test",
    )
    calls = [new_session(gateway.id).next_call() for _ in range(CALLERS)]
    start = threading.Barrier(CALLERS, timeout=WAIT_S)
    outcomes: list[str] = []

    def race(index: int) -> None:
        call = calls[index]
        start.wait()
        try:
            with locked_session(ledger_db, call.session.state_id) as lock:
                lock.check_spend(gateway.id, None, call.ev_signed, datetime.now(UTC))
                time.sleep(SIGNING_S)
                lock.record(call)
            outcomes.append("signed")
        except SpendRefused as refused:
            outcomes.append(refused.limit.value)

    threads = [threading.Thread(target=race, args=(i,)) for i in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S)

    assert (
        sorted(outcomes)
        == ["credit_limit"] * (CALLERS - CALLS_COVERED) + ["signed"] * CALLS_COVERED
    )
    assert gateway_accounts(ledger_db, gateway.id)[AccountKind.RECEIVABLE].balance == (
        CALLS_COVERED * EV
    )
    assert verify_ledger(ledger_db).ok


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
                with locked_session(ledger_db, call.session.state_id) as lock:
                    lock.check_spend(gateway.id, subject, spend, datetime.now(UTC))
                    lock.record(call)
            except SpendRefused as refused:
                assert refused.limit is expected
                continue
            assert expected is None
            owed, signed = owed + spend, signed + spend
            by_subject[subject] = subject_spent + spend
            assert owed <= credit_limit_wei  # EV signed never exceeds funds + credit limit

    summary = spend_summary(ledger_db, gateway.id, datetime.now(UTC))
    assert (summary.owed, summary.period_spend) == (owed, signed)
    assert verify_ledger(ledger_db).ok
