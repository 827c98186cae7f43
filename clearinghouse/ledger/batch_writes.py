"""The end of a batch: what its recorded calls add up to, written once per batch.

Each recorded call is booked as one ledger transaction with its two postings (the gateway's
receivable debited with the EV signed, the ticket liability credited), like a call recorded on
its own (accounts.py); the rows of all calls go in with one ``executemany`` per table. The
account balances, the day spends of credit control (spends.py), the hourly usage buckets
(hourly_usage.py) and the exposure rollups (exposure.py) are summed over the batch and written
once per row they touch: a batch of 64 calls of one gateway moves each of those rows once,
where calls recorded one by one moved them 64 times. With the outbox on, each call's event row
(outbox.py) goes in with one more ``executemany``: committed with its record or not at all.

On PostgreSQL the batch's credit decisions were taken on an unlocked read (batch_credit.py):
here the gateways' account rows are locked and the batch's spends replayed against what is
stored now. ``write_batch`` answers False when one no longer fits; the committer then rolls the
batch back and runs it again with the rows locked from the start. On SQLite the batch already
holds the database's single write lock, so what it read is what is stored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from fractions import Fraction

from sqlalchemy import Connection, bindparam, insert, select, update

from clearinghouse.ledger import statements
from clearinghouse.ledger.batch import Batch, StagedCall
from clearinghouse.ledger.batch_credit import GatewayCredit, load_credit, replay
from clearinghouse.ledger.errors import InvariantViolation
from clearinghouse.ledger.exposure import ExposureKey, ExposureSum, add_exposures
from clearinghouse.ledger.hourly_usage import Bucket, Usage, count_usages, hour_of
from clearinghouse.ledger.identity_rows import EndUserRow
from clearinghouse.ledger.outbox import write_signing_events
from clearinghouse.ledger.models import AccountRow, LedgerTransactionRow, PostingRow, table
from clearinghouse.ledger.spends import add_day_spends
from clearinghouse.ledger.values import AccountKind, TransactionKind

_TRANSACTIONS = table(LedgerTransactionRow)
_POSTINGS = table(PostingRow)
_ACCOUNTS = table(AccountRow)
_TRANSACTION_IDS = select(_TRANSACTIONS.c.id, _TRANSACTIONS.c.signing_record_id).where(
    _TRANSACTIONS.c.signing_record_id.in_(bindparam("record_ids", expanding=True))
)
_TRANSACTION_COLUMNS = ("kind", "actor", "reason", "signing_record_id", "created_at")
_POSTING_COLUMNS = ("transaction_id", "account_id", "amount_num", "amount_den")
_SET_BALANCE = update(_ACCOUNTS).where(_ACCOUNTS.c.id == bindparam("key_id"))
_END_USERS = table(EndUserRow)
_SET_SPENT = update(_END_USERS).where(_END_USERS.c.id == bindparam("key_id"))


def write_batch(connection: Connection, batch: Batch, *, verify_credit: bool, outbox: bool = True) -> bool:
    """Write the sums of the batch's recorded calls (and, with ``outbox``, their event rows);
    False (nothing written) when ``verify_credit`` finds that a spend no longer fits the stored
    credit position."""
    staged = batch.staged
    if not staged:
        return True
    credits = batch.credits
    if verify_credit:
        pairs = [(spend.gateway_id, spend.usage_subject) for spend in batch.spends]
        credits = load_credit(connection, pairs, [spend.at for spend in batch.spends], lock=True)
        if not replay(credits, batch.spends):
            return False
    _write_postings(connection, staged, credits)
    _write_balances(connection, {call.call.gateway_id for call in staged}, credits)
    _write_spends(connection, staged)
    _write_allowances(connection, credits)
    _write_usage(connection, staged)
    _write_exposure(connection, staged)
    if outbox:
        write_signing_events(connection, [(s.call.gateway_id, s.record_id, s.at) for s in staged])
    return True


def _write_postings(connection: Connection, staged: Sequence[StagedCall], credits: dict[int, GatewayCredit]) -> None:
    """One ledger transaction per call, then both postings of each, in two executemany."""
    add_transaction, add_posting = _posting_statements(connection)
    transactions = [
        {
            "kind": TransactionKind.SIGNING.value,
            "actor": f"gateway:{s.call.gateway_id}",
            "reason": f"signing session {s.call.session.state_id} sequence {s.call.session.sequence_number}",
            "signing_record_id": s.record_id,
            "created_at": s.at,
        }
        for s in staged
    ]
    statements.execute_many(connection, add_transaction, transactions)
    record_ids = [s.record_id for s in staged]
    transaction_of = dict(
        (record_id, transaction_id)
        for transaction_id, record_id in connection.execute(_TRANSACTION_IDS, {"record_ids": record_ids})
    )
    if len(transaction_of) != len(staged):
        raise InvariantViolation(f"{len(transaction_of)} of {len(staged)} signing transactions written")
    postings = []
    for s in staged:
        accounts = credits[s.call.gateway_id].accounts
        ev_signed = s.call.ev_signed
        for kind, amount in ((AccountKind.RECEIVABLE, ev_signed), (AccountKind.TICKET_LIABILITY, -ev_signed)):
            postings.append({
                "transaction_id": transaction_of[s.record_id], "account_id": accounts[kind].id,
                "amount_num": amount.numerator, "amount_den": amount.denominator,
            })
    written = statements.execute_many(connection, add_posting, postings)
    if written != len(postings):
        raise InvariantViolation(f"{written} of {len(postings)} postings written")


_POSTING_STATEMENTS: dict[str, tuple[statements.DriverStatement, statements.DriverStatement]] = {}


def _posting_statements(connection: Connection) -> tuple[statements.DriverStatement, statements.DriverStatement]:
    """The two inserts of a batch's bookings, compiled once per dialect."""
    dialect = connection.dialect
    known = _POSTING_STATEMENTS.get(dialect.name)
    if known is None:
        known = (statements.compile_for(insert(_TRANSACTIONS), dialect, _TRANSACTION_COLUMNS),
                 statements.compile_for(insert(_POSTINGS), dialect, _POSTING_COLUMNS))
        _POSTING_STATEMENTS[dialect.name] = known
    return known


def _write_balances(connection: Connection, gateway_ids: set[int], credits: dict[int, GatewayCredit]) -> None:
    """Each gateway's receivable and ticket liability moved by the batch's EV, once."""
    rows = []
    for gateway_id in sorted(gateway_ids):
        credit = credits[gateway_id]
        for kind, sign in ((AccountKind.RECEIVABLE, 1), (AccountKind.TICKET_LIABILITY, -1)):
            balance = credit.accounts[kind].balance + sign * credit.pending
            rows.append({"key_id": credit.accounts[kind].id, "balance_num": balance.numerator,
                         "balance_den": balance.denominator})
    connection.execute(_SET_BALANCE, rows)


def _write_spends(connection: Connection, staged: Sequence[StagedCall]) -> None:
    gateway_days: dict[tuple[int, date], Fraction] = defaultdict(Fraction)
    subject_days: dict[tuple[int, str, date], Fraction] = defaultdict(Fraction)
    for s in staged:
        day, ev_signed = s.at.date(), s.call.ev_signed
        gateway_days[(s.call.gateway_id, day)] += ev_signed
        if s.call.usage_subject is not None:
            subject_days[(s.call.gateway_id, s.call.usage_subject, day)] += ev_signed
    add_day_spends(connection, gateway_days, subject_days)


def _write_allowances(connection: Connection, credits: dict[int, GatewayCredit]) -> None:
    """Add what the batch spent for each end user to its row (read, and on PostgreSQL locked, by
    the credit check): one UPDATE per user the batch touched."""
    rows = []
    for gateway_id in sorted(credits):
        credit = credits[gateway_id]
        for subject, amount in sorted(credit.pending_users.items()):
            if amount:
                allowance = credit.allowances[subject]
                spent = allowance.spent + amount
                rows.append({"key_id": allowance.user_id, "spent_num": spent.numerator,
                             "spent_den": spent.denominator})
    if rows:
        connection.execute(_SET_SPENT, rows)


def _write_usage(connection: Connection, staged: Sequence[StagedCall]) -> None:
    # Buckets are frozen dataclasses: equal buckets meet in this dict, and each distinct one's
    # key (a SHA-256) is computed once, by count_usages.
    buckets: dict[Bucket, Usage] = {}
    for s in staged:
        call = s.call
        bucket = Bucket(
            gateway_id=call.gateway_id, hour=hour_of(s.at), usage_subject=call.usage_subject,
            pipeline=call.pipeline, model_id=call.model_id, app=call.session.app, recipient=call.recipient,
            rate_snapshot_id=call.rate_snapshot_id,
        )
        usage = Usage(1, len(call.tickets), call.units, call.ev_signed, call.fee)
        known = buckets.get(bucket)
        buckets[bucket] = usage if known is None else known + usage
    count_usages(connection, buckets)


def _write_exposure(connection: Connection, staged: Sequence[StagedCall]) -> None:
    sums: dict[ExposureKey, ExposureSum] = {}
    for s in staged:
        call = s.call
        key = (call.gateway_id, call.recipient, call.creation_round, call.creation_round_block_hash)
        tickets = len(call.tickets)
        added = ExposureSum(tickets, tickets * call.face_value, call.face_value, call.ev_signed)
        known = sums.get(key)
        sums[key] = added if known is None else known + added
    add_exposures(connection, sums)
