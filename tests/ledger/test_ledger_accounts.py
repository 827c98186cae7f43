"""Double entry: postings balance, top-ups and adjustments, verify_ledger catches tampering."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import delete, select, update

from clearinghouse.ledger import (
    AccountKind,
    Database,
    NotFound,
    TransactionKind,
    account_balance,
    adjust,
    gateway_accounts,
    ledger_transactions,
    record_signing_call,
    top_up,
    verify_ledger,
)
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import AccountRow, LedgerTransactionRow, PostingRow

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver


def _sign_calls(db: Database, driver: SessionDriver, count: int) -> None:
    for _ in range(count):
        call = driver.next_call(units=12)
        record_signing_call(db, call)
        driver.advance(call)


def test_every_transaction_balances_and_balances_match_postings(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _sign_calls(ledger_db, new_session(gateway.id), 3)
    top_up(ledger_db, gateway.id, 1_000, actor="finance@example", reason="invoice 42 paid")
    adjust(ledger_db, gateway.id, Fraction(-1, 3), actor="ops", reason="goodwill credit")

    transactions = ledger_transactions(ledger_db, gateway_id=gateway.id)
    accounts = gateway_accounts(ledger_db, gateway.id)
    report = verify_ledger(ledger_db)

    assert [t.kind for t in transactions] == [TransactionKind.SIGNING] * 3 + [
        TransactionKind.TOP_UP,
        TransactionKind.ADJUSTMENT,
    ]
    assert all(sum(p.amount for p in t.postings) == 0 for t in transactions)
    assert report.ok and report.transactions_checked == 5 and report.accounts_checked == 4
    for account in accounts.values():
        assert account_balance(ledger_db, account.id) == account.balance
    # 12 s × 3 wei/s = 36 per call with EV 35: 2 tickets, then 1, then 1 (balance 34, 33, 32);
    # then 1000 paid and 1/3 credited.
    assert accounts[AccountKind.RECEIVABLE].balance == 140 - 1000 - Fraction(1, 3)
    assert sum(a.balance for a in accounts.values()) == 0


def test_top_up_and_adjustment_record_actor_and_reason(
    ledger_db: Database, gateway: Gateway
) -> None:
    paid = top_up(ledger_db, gateway.id, 500, actor="finance@example", reason="wire 2026-01")

    assert (paid.actor, paid.reason, paid.signing_record_id) == (
        "finance@example",
        "wire 2026-01",
        None,
    )
    accounts = gateway_accounts(ledger_db, gateway.id)
    assert accounts[AccountKind.PAYMENTS].balance == 500
    assert accounts[AccountKind.RECEIVABLE].balance == -500


@pytest.mark.parametrize(
    ("amount", "actor", "reason", "message"),
    [
        (0, "a", "r", "positive int"),
        (1.5, "a", "r", "positive int"),
        (10, "", "r", "actor: expected 1..128"),
        (10, "a", "", "reason: expected 1..1024"),
    ],
)
def test_bad_top_ups_are_refused(
    ledger_db: Database, gateway: Gateway, amount: object, actor: str, reason: str, message: str
) -> None:
    with pytest.raises(InvalidLedgerInput, match=message):
        top_up(ledger_db, gateway.id, amount, actor=actor, reason=reason)  # type: ignore[arg-type]
    assert verify_ledger(ledger_db).transactions_checked == 0


def test_adjustment_must_be_an_exact_non_zero_fraction(
    ledger_db: Database, gateway: Gateway
) -> None:
    with pytest.raises(InvalidLedgerInput, match="non-zero Fraction"):
        adjust(ledger_db, gateway.id, 0.5, actor="ops", reason="float")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="gateway 999"):
        adjust(ledger_db, 999, Fraction(1), actor="ops", reason="nobody")


def test_verify_ledger_catches_a_tampered_posting(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    _sign_calls(ledger_db, new_session(gateway.id), 2)
    with ledger_db.write_engine.begin() as connection:
        posting_id, transaction_id, account_id = connection.execute(
            select(PostingRow.id, PostingRow.transaction_id, PostingRow.account_id).limit(1)
        ).one()
        connection.execute(
            update(PostingRow).where(PostingRow.id == posting_id).values(amount_num=1, amount_den=7)
        )

    report = verify_ledger(ledger_db)

    assert not report.ok
    assert report.unbalanced_transaction_ids == (transaction_id,)
    assert report.mismatched_account_ids == (account_id,)


def test_verify_ledger_catches_a_tampered_balance(ledger_db: Database, gateway: Gateway) -> None:
    top_up(ledger_db, gateway.id, 10, actor="finance", reason="test")
    with ledger_db.write_engine.begin() as connection:
        account_id = connection.scalar(
            select(AccountRow.id).where(AccountRow.kind == "adjustments")
        )
        connection.execute(
            update(AccountRow).where(AccountRow.id == account_id).values(balance_num=3)
        )

    report = verify_ledger(ledger_db)

    assert report.unbalanced_transaction_ids == ()
    assert report.mismatched_account_ids == (account_id,)


def test_verify_ledger_catches_an_unbooked_signing_record(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    record = record_signing_call(ledger_db, new_session(gateway.id).next_call()).record
    with ledger_db.write_engine.begin() as connection:
        transaction_id = connection.scalar(
            select(LedgerTransactionRow.id).where(
                LedgerTransactionRow.signing_record_id == record.id
            )
        )
        connection.execute(delete(PostingRow).where(PostingRow.transaction_id == transaction_id))
        connection.execute(
            delete(LedgerTransactionRow).where(LedgerTransactionRow.id == transaction_id)
        )

    report = verify_ledger(ledger_db)

    assert report.unbooked_record_ids == (record.id,)
    assert report.unbalanced_transaction_ids == ()
    assert len(report.mismatched_account_ids) == 2  # receivable and liability keep the amount
