"""Double-entry bookkeeping: postings, top-ups, adjustments, balances and the ledger check.

Every ledger transaction's postings sum to exactly zero (a positive amount debits an account,
a negative one credits it). Each account also stores its running balance, updated in the same
database transaction as its postings under a row lock (FOR UPDATE on PostgreSQL; SQLite's
write lock covers it), so credit control reads one row; ``verify_ledger`` proves the stored
balances equal the sums of postings and that every transaction balances.

Postings of one signing call (the gateway is billed the EV signed for it, spec 05):
    gateway_receivable  +EV signed      ticket_liability  −EV signed
A top-up (the gateway paid):
    gateway_payments    +amount         gateway_receivable −amount
An adjustment (positive charges the gateway, negative credits it):
    gateway_receivable  +amount         adjustments        −amount
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import limits
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import InvariantViolation, NotFound
from clearinghouse.ledger.exposure import exposure_mismatches
from clearinghouse.ledger.hourly_usage import hourly_usage_mismatches
from clearinghouse.ledger.models import (
    AccountRow,
    LedgerTransactionRow,
    PostingRow,
    SigningRecordRow,
    table,
)
from clearinghouse.ledger.repository_checks import check_audit
from clearinghouse.ledger.spends import spend_mismatches
from clearinghouse.ledger.transactions import reading, utc_now, writing_connection
from clearinghouse.ledger.values import (
    Account,
    AccountKind,
    LedgerReport,
    LedgerTransaction,
    Posting,
    TransactionKind,
)

_ACCOUNTS = table(AccountRow)
_LOCK_ACCOUNTS = (
    select(_ACCOUNTS)
    .where(_ACCOUNTS.c.gateway_id == bindparam("gateway_id"))
    .order_by(_ACCOUNTS.c.id)
    .with_for_update()
)
_INSERT_TRANSACTION = insert(table(LedgerTransactionRow)).returning(
    table(LedgerTransactionRow).c.id
)
_INSERT_POSTING = insert(table(PostingRow))
_SET_BALANCE = (
    update(_ACCOUNTS)
    .where(_ACCOUNTS.c.id == bindparam("account_id"))
    .values(balance_num=bindparam("num"), balance_den=bindparam("den"))
)


def top_up(
    db: Database, gateway_id: int, amount_wei: int, *, actor: str, reason: str
) -> LedgerTransaction:
    """Record a payment received from a gateway (credits its receivable).

    Raises ``InvalidLedgerInput`` unless ``amount_wei`` is a positive int and actor/reason are
    non-empty; ``NotFound`` for an unknown gateway.
    """
    if type(amount_wei) is not int or amount_wei <= 0:
        raise InvalidLedgerInput(f"amount_wei: expected a positive int, got {amount_wei!r}")
    amount = Fraction(amount_wei)
    with writing_connection(db) as connection:
        accounts = lock_gateway_accounts(connection, gateway_id)
        return post(
            connection,
            TransactionKind.TOP_UP,
            actor=actor,
            reason=reason,
            postings=[
                (accounts[AccountKind.PAYMENTS], amount),
                (accounts[AccountKind.RECEIVABLE], -amount),
            ],
        )


def adjust(
    db: Database, gateway_id: int, amount: Fraction, *, actor: str, reason: str
) -> LedgerTransaction:
    """Record a manual correction: a positive amount charges the gateway, a negative credits it.

    Raises ``InvalidLedgerInput`` for a zero or non-Fraction amount or empty actor/reason;
    ``NotFound`` for an unknown gateway.
    """
    if not isinstance(amount, Fraction) or amount == 0:
        raise InvalidLedgerInput(f"amount: expected a non-zero Fraction, got {amount!r}")
    with writing_connection(db) as connection:
        accounts = lock_gateway_accounts(connection, gateway_id)
        return post(
            connection,
            TransactionKind.ADJUSTMENT,
            actor=actor,
            reason=reason,
            postings=[
                (accounts[AccountKind.RECEIVABLE], amount),
                (accounts[AccountKind.ADJUSTMENTS], -amount),
            ],
        )


def gateway_accounts(db: Database, gateway_id: int) -> dict[AccountKind, Account]:
    """Return a gateway's accounts with their stored balances. Raises ``NotFound``."""
    with reading(db) as session:
        rows = session.scalars(select(AccountRow).where(AccountRow.gateway_id == gateway_id))
        found = {AccountKind(row.kind): account_value(row) for row in rows}
    if not found:
        raise NotFound(f"no accounts for gateway {gateway_id}")
    return found


def account_balance(db: Database, account_id: int) -> Fraction:
    """Return an account's balance rebuilt from its postings (not the stored balance)."""
    with reading(db) as session:
        rows = session.execute(
            select(PostingRow.amount_num, PostingRow.amount_den).where(
                PostingRow.account_id == account_id
            )
        )
        return sum((Fraction(num, den) for num, den in rows), Fraction(0))


def ledger_transactions(
    db: Database, *, signing_record_id: int | None = None, gateway_id: int | None = None
) -> tuple[LedgerTransaction, ...]:
    """Return ledger transactions with their postings, oldest first.

    Filter by the signing record they book, or by a gateway whose accounts they touch.
    """
    with reading(db) as session:
        query = select(LedgerTransactionRow).order_by(LedgerTransactionRow.id)
        if signing_record_id is not None:
            query = query.where(LedgerTransactionRow.signing_record_id == signing_record_id)
        if gateway_id is not None:
            touched = (
                select(PostingRow.transaction_id)
                .join(AccountRow, AccountRow.id == PostingRow.account_id)
                .where(AccountRow.gateway_id == gateway_id)
            )
            query = query.where(LedgerTransactionRow.id.in_(touched))
        return tuple(_transaction_value(session, row) for row in session.scalars(query))


def verify_ledger(db: Database) -> LedgerReport:
    """Check that every transaction's postings sum to zero, stored balances equal postings,
    every signing record is booked by a ledger transaction, and the daily spend rows credit
    control reads equal the sums of the signing records.

    Streams postings ``limits.VERIFY_BATCH_ROWS_MAX`` rows at a time inside one read
    transaction, so it sees a consistent snapshot. Returns a report; never repairs anything.
    """
    per_transaction: dict[int, Fraction] = defaultdict(Fraction)
    per_account: dict[int, Fraction] = defaultdict(Fraction)
    with reading(db) as session:
        rows = session.execute(
            select(
                PostingRow.transaction_id,
                PostingRow.account_id,
                PostingRow.amount_num,
                PostingRow.amount_den,
            ).execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
        )
        for transaction_id, account_id, num, den in rows:
            amount = Fraction(num, den)
            per_transaction[transaction_id] += amount
            per_account[account_id] += amount
        transaction_count = session.scalar(select(func.count(LedgerTransactionRow.id))) or 0
        accounts = session.execute(
            select(AccountRow.id, AccountRow.balance_num, AccountRow.balance_den)
        ).all()
        unbooked = session.scalars(
            select(SigningRecordRow.id)
            .outerjoin(
                LedgerTransactionRow,
                LedgerTransactionRow.signing_record_id == SigningRecordRow.id,
            )
            .where(LedgerTransactionRow.id.is_(None))
            .order_by(SigningRecordRow.id)
        ).all()
        spend_days = spend_mismatches(session)
        exposure_rows = exposure_mismatches(session)
        usage_rows = hourly_usage_mismatches(session)
    mismatched = [
        account_id
        for account_id, num, den in accounts
        if Fraction(num, den) != per_account.get(account_id, Fraction(0))
    ]
    unbalanced = [tid for tid, total in per_transaction.items() if total != 0]
    return LedgerReport(
        transactions_checked=transaction_count,
        accounts_checked=len(accounts),
        unbalanced_transaction_ids=tuple(sorted(unbalanced)),
        mismatched_account_ids=tuple(sorted(mismatched)),
        unbooked_record_ids=tuple(unbooked),
        mismatched_spend_days=spend_days,
        mismatched_exposure_rollups=exposure_rows,
        mismatched_hourly_usage=usage_rows,
    )


def lock_gateway_accounts(connection: Connection, gateway_id: int) -> dict[AccountKind, Account]:
    """Lock a gateway's account rows (in id order, so lockers never deadlock) and return them.

    Raises ``NotFound`` when the gateway has no accounts.
    """
    rows = connection.execute(_LOCK_ACCOUNTS, {"gateway_id": gateway_id})
    found = {AccountKind(row.kind): account_value(row) for row in rows}
    if set(found) != set(AccountKind):
        raise NotFound(
            f"gateway {gateway_id}: expected accounts {sorted(AccountKind)}, found {sorted(found)}"
        )
    return found


def post(
    connection: Connection,
    kind: TransactionKind,
    *,
    actor: str,
    reason: str,
    postings: Sequence[tuple[Account, Fraction]],
    signing_record_id: int | None = None,
) -> LedgerTransaction:
    """Write one balanced ledger transaction and update the (already locked) accounts.

    ``postings`` carry the accounts as ``lock_gateway_accounts`` returned them in this
    transaction: their balances are the stored ones, and the new balance is written back.
    Raises ``InvariantViolation`` if the amounts do not sum to zero, ``InvalidLedgerInput``
    for an empty actor or reason.
    """
    check_audit(actor, reason)
    total = sum((amount for _, amount in postings), Fraction(0))
    if total != 0 or not postings:
        raise InvariantViolation(f"postings must sum to zero, got {total} over {len(postings)}")
    created_at = utc_now()
    transaction_id: int = connection.execute(
        _INSERT_TRANSACTION,
        {
            "kind": kind.value,
            "actor": actor,
            "reason": reason,
            "signing_record_id": signing_record_id,
            "created_at": created_at,
        },
    ).scalar_one()
    connection.execute(
        _INSERT_POSTING,
        [
            {
                "transaction_id": transaction_id,
                "account_id": account.id,
                "amount_num": amount.numerator,
                "amount_den": amount.denominator,
            }
            for account, amount in postings
        ],
    )
    connection.execute(_SET_BALANCE, _new_balances(postings))
    return LedgerTransaction(
        id=transaction_id,
        kind=kind,
        actor=actor,
        reason=reason,
        signing_record_id=signing_record_id,
        created_at=created_at,
        postings=tuple(Posting(account_id=a.id, amount=amount) for a, amount in postings),
    )


def _new_balances(postings: Sequence[tuple[Account, Fraction]]) -> list[dict[str, int]]:
    """One balance update per account, summing its postings should it appear twice."""
    balances: dict[int, Fraction] = {}
    for account, amount in postings:
        balances[account.id] = balances.get(account.id, account.balance) + amount
    return [
        {"account_id": account_id, "num": balance.numerator, "den": balance.denominator}
        for account_id, balance in balances.items()
    ]


def _transaction_value(session: Session, row: LedgerTransactionRow) -> LedgerTransaction:
    postings = session.execute(
        select(PostingRow.account_id, PostingRow.amount_num, PostingRow.amount_den)
        .where(PostingRow.transaction_id == row.id)
        .order_by(PostingRow.id)
    )
    return LedgerTransaction(
        id=row.id,
        kind=TransactionKind(row.kind),
        actor=row.actor,
        reason=row.reason,
        signing_record_id=row.signing_record_id,
        created_at=row.created_at,
        postings=tuple(Posting(account_id=a, amount=Fraction(n, d)) for a, n, d in postings),
    )


def account_value(row: AccountRow | Row[Any]) -> Account:
    return Account(
        id=row.id,
        code=row.code,
        kind=AccountKind(row.kind),
        gateway_id=row.gateway_id,
        balance=Fraction(row.balance_num, row.balance_den),
    )
