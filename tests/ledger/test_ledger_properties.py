"""Property: any sequence of signing calls, top-ups and adjustments keeps the books exact.

Examples share one database per backend (hypothesis reruns the body, not the fixture), so each
example works on a gateway of its own and the ledger-wide checks hold across all of them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clearinghouse.ledger import (
    AccountKind,
    Database,
    adjust,
    create_gateway,
    gateway_accounts,
    get_session_head,
    record_signing_call,
    top_up,
    verify_ledger,
)

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

_gateway_numbers = itertools.count()

operations = st.lists(
    st.one_of(
        st.tuples(st.just("sign"), st.integers(1, 10_000)),
        st.tuples(st.just("top_up"), st.integers(1, 10**24)),
        st.tuples(
            st.just("adjust"),
            st.fractions(max_denominator=10**12).filter(lambda f: f != 0),
        ),
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    steps=operations,
    price=st.integers(1, 10**12),
    pixels=st.integers(1, 10**6),
    # EV >= 10**15 wei while a fee is at most 10**16: every call needs at most 11 tickets.
    win_prob=st.integers((2**256 - 1) // 1000, 2**256 - 1),
)
def test_books_stay_exact(
    ledger_db: Database,
    new_session: Callable[..., SessionDriver],
    steps: list[tuple[str, object]],
    price: int,
    pixels: int,
    win_prob: int,
) -> None:
    gateway = create_gateway(ledger_db, f"property-{next(_gateway_numbers)}")
    driver = new_session(
        gateway.id,
        price_per_unit=price,
        pixels_per_unit=pixels,
        face_value=10**18,
        win_prob=win_prob,
    )
    billed, paid, adjusted, fees = Fraction(0), Fraction(0), Fraction(0), Fraction(0)
    for kind, value in steps:
        if kind == "sign":
            if driver.tickets_needed(value) == 0:  # type: ignore[arg-type]
                continue  # 482: the balance covers the fee, nothing is signed or recorded
            call = driver.next_call(units=value)  # type: ignore[arg-type]
            record_signing_call(ledger_db, call)
            driver.advance(call)
            billed, fees = billed + call.ev_signed, fees + call.fee
        elif kind == "top_up":
            top_up(ledger_db, gateway.id, value, actor="property", reason="top-up")  # type: ignore[arg-type]
            paid += value  # type: ignore[operator]
        else:
            adjust(ledger_db, gateway.id, value, actor="property", reason="adjustment")  # type: ignore[arg-type]
            adjusted += value  # type: ignore[operator]

    accounts = gateway_accounts(ledger_db, gateway.id)
    assert accounts[AccountKind.RECEIVABLE].balance == billed - paid + adjusted
    assert accounts[AccountKind.TICKET_LIABILITY].balance == -billed
    assert sum(a.balance for a in accounts.values()) == 0
    head = get_session_head(ledger_db, driver.state_id)
    assert (head.balance if head else Fraction(0)) == billed - fees
    assert verify_ledger(ledger_db).ok
