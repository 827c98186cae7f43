"""Exact money: 2**256 − 1 and very large rationals survive a round trip on both backends."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from clearinghouse.ledger import (
    AccountKind,
    Database,
    adjust,
    find_signing_record,
    gateway_accounts,
    get_session_head,
    ledger_transactions,
    list_gateways,
    record_signing_call,
    verify_ledger,
)
from clearinghouse.domain.ev import WIN_PROB_DENOMINATOR
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.limits import RATIONAL_DIGITS_MAX
from clearinghouse.ledger.models import GatewayRow

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

UINT256_MAX = 2**256 - 1


def test_uint256_max_round_trips_in_wei_columns(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(
        gateway.id,
        face_value=UINT256_MAX,
        win_prob=UINT256_MAX,
        price_per_unit=2**63 - 1,
        pixels_per_unit=2**63 - 25,
    )
    call = driver.next_call(units=1, price_per_unit=UINT256_MAX, pixels_per_unit=UINT256_MAX)
    record_signing_call(ledger_db, call)

    stored = find_signing_record(ledger_db, state_id=driver.state_id, sequence_number=0)

    assert stored is not None
    assert (stored.face_value, stored.win_prob) == (UINT256_MAX, UINT256_MAX)
    assert (stored.price_per_unit, stored.pixels_per_unit) == (UINT256_MAX, UINT256_MAX)
    assert stored.ev_signed == UINT256_MAX
    assert stored.fee == Fraction(2**63 - 1, 2**63 - 25)
    head = get_session_head(ledger_db, driver.state_id)
    assert head is not None and head.balance == call.session.balance


def test_rational_with_a_huge_denominator_round_trips(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    # EV with denominator 2**256 − 1 and a fee with denominator pixelsPerUnit: the balance's
    # denominator is their product, about 10**96 — more than NUMERIC(78,0) could hold.
    driver = new_session(
        gateway.id, face_value=10**18, win_prob=UINT256_MAX // 7, pixels_per_unit=2**63 - 25
    )
    call = driver.next_call(units=10**9)
    record_signing_call(ledger_db, call)

    head = get_session_head(ledger_db, driver.state_id)

    assert head is not None and head.balance == call.session.balance
    assert len(str(head.balance.denominator)) > 78
    assert gateway_accounts(ledger_db, gateway.id)[AccountKind.RECEIVABLE].balance == Fraction(
        len(call.tickets) * 10**18 * (UINT256_MAX // 7), WIN_PROB_DENOMINATOR
    )


@pytest.mark.parametrize(
    "amount",
    [
        Fraction(10**RATIONAL_DIGITS_MAX - 1, 10**RATIONAL_DIGITS_MAX - 3),
        Fraction(-(UINT256_MAX**2), UINT256_MAX - 2),
    ],
)
def test_largest_rationals_round_trip_through_postings(
    ledger_db: Database, gateway: Gateway, amount: Fraction
) -> None:
    adjust(ledger_db, gateway.id, amount, actor="test", reason="largest values")

    (transaction,) = ledger_transactions(ledger_db, gateway_id=gateway.id)

    assert [p.amount for p in transaction.postings] == [amount, -amount]
    assert verify_ledger(ledger_db).ok


def test_too_many_digits_are_refused_and_nothing_is_written(
    ledger_db: Database, gateway: Gateway
) -> None:
    with pytest.raises(InvalidLedgerInput, match=f"at most {RATIONAL_DIGITS_MAX} decimal digits"):
        adjust(ledger_db, gateway.id, Fraction(10**RATIONAL_DIGITS_MAX), actor="t", reason="big")

    assert ledger_transactions(ledger_db, gateway_id=gateway.id) == ()


def test_timestamps_come_back_in_utc(ledger_db: Database) -> None:
    local = datetime(2026, 3, 1, 7, 0, 0, 123456, tzinfo=timezone(timedelta(hours=-5)))
    with Session(ledger_db.write_engine) as session, session.begin():
        session.add(GatewayRow(name="g", status="active", created_at=local))

    (gateway,) = list_gateways(ledger_db)

    assert gateway.created_at == local
    assert gateway.created_at.utcoffset() == timedelta(0)
    assert gateway.created_at.hour == 12


def test_naive_timestamps_are_refused(ledger_db: Database) -> None:
    with pytest.raises(StatementError) as info:
        with Session(ledger_db.write_engine) as session, session.begin():
            session.add(GatewayRow(name="g", status="active", created_at=datetime(2026, 1, 1)))
    assert isinstance(info.value.orig, InvalidLedgerInput)
    assert "expected a timezone-aware datetime" in str(info.value.orig)


def test_last_update_keeps_nanoseconds(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    call = driver.next_call()
    exact = replace(call.session, last_update_ns=1_767_225_600_123_456_789)
    record_signing_call(ledger_db, replace(call, session=exact))

    head = get_session_head(ledger_db, driver.state_id)

    assert head is not None and head.last_update_ns == 1_767_225_600_123_456_789
