"""What three-way reconciliation reads for one gateway and period (spec 05): read-only queries.

A period is [start, end) in whole UTC hours, at most ``PERIOD_DAYS_MAX`` days. "The period's
tickets" are those of the gateway's signing records created in it. The reads:

- billed: EV signed, fee and tickets from ``hourly_usage`` (the rows invoices read);
- the Bernoulli sums of the period's *settled* tickets — those whose creation round has closed
  (creationRound + ticketValidityPeriod <= current round), so the TicketBroker no longer accepts
  them and every winner that will ever be redeemed has been. Tickets still redeemable are left
  out: counting them would make a month still in progress look short of winners;
- the redemptions the watcher matched to the period's tickets (chain_events.signing_record_id →
  signing_records.created_at), summed separately for settled and still-open tickets;
- the gateway's exposure still redeemable now (``exposure_rollups`` of the open rounds, less its
  redeemed tickets): ``exposure.outstanding_exposure`` is global, this is one gateway's share;
- redemptions matching no signing record observed in the period: the alarm of spec 05 (a key
  leak or a lost record). They belong to no gateway, so every gateway's report carries them.

Wei sums are exact and done in Python (SQLite keeps wei as decimal text); rows are streamed
``limits.VERIFY_BATCH_ROWS_MAX`` at a time, so memory does not grow with the period's size.
Billed figures come from ``hourly_usage`` in a transaction of their own; the other reads share
one, so a call signed meanwhile in an open period can show in one and not the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, func, select

from clearinghouse.domain.chain_events import ChainEventKind, Redemption
from clearinghouse.domain.ev import EV_DENOMINATOR, ticket_ev
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import limits
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.hourly_usage import check_hour_period, hourly_usage
from clearinghouse.ledger.limits import ALARMS_LISTED_MAX, PERIOD_DAYS_MAX
from clearinghouse.ledger.models import (
    ChainEventRow,
    ExposureRollupRow,
    SigningRecordRow,
    table,
)
from clearinghouse.ledger.transactions import reading

_RECORDS = table(SigningRecordRow)
_EVENTS = table(ChainEventRow)
_ROLLUPS = table(ExposureRollupRow)
_REDEEMED = ChainEventKind.WINNING_TICKET_REDEEMED.value


@dataclass(frozen=True, slots=True)
class BernoulliSums:
    """Sums over tickets that each win independently with p = winProb / (2**256 − 1).

    The same p as ``ticket_ev`` (go-livepeer's arithmetic), so ``face_value_mean_wei`` equals
    the EV billed for these tickets exactly; the contract's winProb / 2**256 differs by under
    one part in 10**76. All exact: ``wins_mean`` = Σ p, ``face_value_mean_wei`` = Σ p·face,
    ``face_value_variance_wei2`` = Σ p(1 − p)·face² (wei squared).
    """

    tickets: int = 0
    wins_mean: Fraction = Fraction(0)
    face_value_mean_wei: Fraction = Fraction(0)
    face_value_variance_wei2: Fraction = Fraction(0)

    @classmethod
    def of(cls, face_value_wei: int, win_prob: int, tickets: int) -> BernoulliSums:
        """The sums of ``tickets`` tickets of one face value and winProb. ValueError for a
        negative count or a face value or winProb outside uint256."""
        if tickets < 0:
            raise ValueError(f"tickets must be >= 0, got {tickets}")
        ticket_ev(face_value_wei, win_prob)  # validates both as uint256
        p = Fraction(win_prob, EV_DENOMINATOR)
        return cls(tickets, tickets * p, tickets * p * face_value_wei,
                   tickets * p * (1 - p) * face_value_wei * face_value_wei)

    def __add__(self, other: BernoulliSums) -> BernoulliSums:
        return BernoulliSums(
            self.tickets + other.tickets, self.wins_mean + other.wins_mean,
            self.face_value_mean_wei + other.face_value_mean_wei,
            self.face_value_variance_wei2 + other.face_value_variance_wei2,
        )


@dataclass(frozen=True, slots=True)
class RedeemedTotals:
    """Redemptions of some of the period's tickets: count, face value, what was paid (less than
    face value when deposit and reserve ran short) and their EV, exact."""

    tickets: int = 0
    face_value_wei: int = 0
    paid_wei: int = 0
    ev_wei: Fraction = Fraction(0)

    def __add__(self, other: RedeemedTotals) -> RedeemedTotals:
        return RedeemedTotals(self.tickets + other.tickets, self.face_value_wei + other.face_value_wei,
                              self.paid_wei + other.paid_wei, self.ev_wei + other.ev_wei)


@dataclass(frozen=True, slots=True)
class GatewayExposure:
    """The gateway's tickets still redeemable now (created in rounds >= ``first_open_round``),
    less those already redeemed: the worst case (face value) and the expected cost (EV)."""

    first_open_round: int
    tickets: int
    face_value_wei: int
    ev_wei: Fraction


@dataclass(frozen=True, slots=True)
class UnmatchedAlarm:
    """Redemptions of our sender matching no signing record, observed in the period: ``total``
    of them, the first ``ALARMS_LISTED_MAX`` in chain order in ``listed``."""

    total: int
    listed: tuple[Redemption, ...]


@dataclass(frozen=True, slots=True)
class ReconciliationReads:
    """Everything ``reconcile`` needs for one gateway and period (see the module docstring).

    Winners never redeemed cannot be named: whether a ticket won depends on the recipient's
    secret recipientRand, which only a redemption reveals. So ``settled`` gives the EXPECTED
    number of wins among the settled tickets (``settled.wins_mean``) to hold against
    ``redeemed_settled.tickets``; a large shortfall means orchestrators let winners lapse.
    """

    gateway_id: int
    start: datetime
    end: datetime
    current_round: int
    validity_period_rounds: int
    ev_billed_wei: Fraction
    fee_billed_wei: Fraction
    tickets_billed: int
    settled: BernoulliSums
    open_tickets: int
    redeemed_settled: RedeemedTotals
    redeemed_open: RedeemedTotals
    exposure: GatewayExposure
    unmatched: UnmatchedAlarm


def reconciliation_reads(
    db: Database, gateway_id: int, start: datetime, end: datetime, *, current_round: int,
    validity_period_rounds: int,
) -> ReconciliationReads:
    """Read one gateway's period for reconciliation; tickets of rounds r with
    r + validity_period_rounds <= current_round count as settled.

    Raises InvalidLedgerInput unless start < end are whole UTC hours at most PERIOD_DAYS_MAX
    days apart, current_round >= 0 and validity_period_rounds is in
    [1, limits.TICKET_VALIDITY_ROUNDS_MAX]; DatabaseUnavailable when the ledger cannot be read.
    """
    check_period(start, end)
    if current_round < 0 or not 1 <= validity_period_rounds <= limits.TICKET_VALIDITY_ROUNDS_MAX:
        raise InvalidLedgerInput(
            f"need current_round >= 0 and validity_period_rounds in [1, {limits.TICKET_VALIDITY_ROUNDS_MAX}], "
            f"got {current_round} and {validity_period_rounds}"
        )
    usage = [row.usage for row in hourly_usage(db, gateway_id, start, end)]
    last_settled = current_round - validity_period_rounds
    with reading(db) as session:
        connection = session.connection()
        settled, open_tickets = _ticket_sums(connection, gateway_id, start, end, last_settled)
        redeemed_settled, redeemed_open = _redeemed(connection, gateway_id, start, end, last_settled)
        exposure = _exposure(connection, gateway_id, last_settled + 1, current_round)
        unmatched = _unmatched(connection, start, end)
    return ReconciliationReads(
        gateway_id=gateway_id, start=start, end=end, current_round=current_round,
        validity_period_rounds=validity_period_rounds,
        ev_billed_wei=sum((u.ev_wei for u in usage), Fraction(0)),
        fee_billed_wei=sum((u.fee_wei for u in usage), Fraction(0)),
        tickets_billed=sum(u.tickets for u in usage),
        settled=settled, open_tickets=open_tickets, redeemed_settled=redeemed_settled,
        redeemed_open=redeemed_open, exposure=exposure, unmatched=unmatched,
    )


def check_period(start: datetime, end: datetime) -> None:
    """Raise InvalidLedgerInput unless [start, end) is whole UTC hours, non-empty and at most
    PERIOD_DAYS_MAX days long."""
    check_hour_period(start, end)
    if end - start > timedelta(days=PERIOD_DAYS_MAX):
        raise InvalidLedgerInput(
            f"period {start.isoformat()}..{end.isoformat()} is over {PERIOD_DAYS_MAX} days; reconcile it in parts"
        )


def _in_period(gateway_id: int, start: datetime, end: datetime) -> list[Any]:
    return [_RECORDS.c.gateway_id == gateway_id, _RECORDS.c.created_at >= start, _RECORDS.c.created_at < end]


def _ticket_sums(
    connection: Connection, gateway_id: int, start: datetime, end: datetime, last_settled: int
) -> tuple[BernoulliSums, int]:
    """The Bernoulli sums of the period's settled tickets and the count of its open ones."""
    statement = (
        select(_RECORDS.c.face_value, _RECORDS.c.win_prob, _RECORDS.c.ticket_count, _RECORDS.c.creation_round)
        .where(*_in_period(gateway_id, start, end))
        .execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
    )
    settled, open_tickets = BernoulliSums(), 0
    for row in connection.execute(statement):
        if row.creation_round <= last_settled:
            settled += BernoulliSums.of(int(row.face_value), int(row.win_prob), row.ticket_count)
        else:
            open_tickets += row.ticket_count
    return settled, open_tickets


def _redeemed(
    connection: Connection, gateway_id: int, start: datetime, end: datetime, last_settled: int
) -> tuple[RedeemedTotals, RedeemedTotals]:
    """Redemptions matched to the period's tickets: (of settled tickets, of open ones)."""
    statement = (
        select(_EVENTS.c.face_value, _EVENTS.c.win_prob, _EVENTS.c.paid_wei, _RECORDS.c.creation_round)
        .select_from(_EVENTS.join(_RECORDS, _EVENTS.c.signing_record_id == _RECORDS.c.id))
        .where(_EVENTS.c.kind == _REDEEMED, *_in_period(gateway_id, start, end))
        .execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
    )
    settled, still_open = RedeemedTotals(), RedeemedTotals()
    for row in connection.execute(statement):
        face_value, win_prob = int(row.face_value), int(row.win_prob)
        one = RedeemedTotals(1, face_value, int(row.paid_wei), ticket_ev(face_value, win_prob))
        if row.creation_round <= last_settled:
            settled += one
        else:
            still_open += one
    return settled, still_open


def _exposure(connection: Connection, gateway_id: int, first_open: int, current_round: int) -> GatewayExposure:
    """The gateway's rollups of rounds first_open..current_round, less its redeemed tickets of
    those rounds (a ticket of a later round can never be redeemed: issue #15)."""
    first_open = max(0, first_open)
    rollups = connection.execute(
        select(_ROLLUPS.c.tickets, _ROLLUPS.c.face_value_wei, _ROLLUPS.c.ev_signed_num, _ROLLUPS.c.ev_signed_den)
        .where(_ROLLUPS.c.gateway_id == gateway_id, _ROLLUPS.c.creation_round >= first_open,
               _ROLLUPS.c.creation_round <= current_round)
    )
    tickets, face_value, ev = 0, 0, Fraction(0)
    for row in rollups:
        tickets += row.tickets
        face_value += int(row.face_value_wei)
        ev += Fraction(int(row.ev_signed_num), int(row.ev_signed_den))
    redeemed = connection.execute(
        select(_EVENTS.c.face_value, _EVENTS.c.win_prob)
        .select_from(_EVENTS.join(_RECORDS, _EVENTS.c.signing_record_id == _RECORDS.c.id))
        .where(_EVENTS.c.kind == _REDEEMED, _RECORDS.c.gateway_id == gateway_id,
               _RECORDS.c.creation_round >= first_open, _RECORDS.c.creation_round <= current_round)
        .execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
    )
    for row in redeemed:
        tickets -= 1
        face_value -= int(row.face_value)
        ev -= ticket_ev(int(row.face_value), int(row.win_prob))
    return GatewayExposure(first_open, tickets, face_value, ev)


def _unmatched(connection: Connection, start: datetime, end: datetime) -> UnmatchedAlarm:
    """Redemptions with no signing record observed in [start, end)."""
    where = [_EVENTS.c.kind == _REDEEMED, _EVENTS.c.signing_record_id.is_(None),
             _EVENTS.c.observed_at >= start, _EVENTS.c.observed_at < end]
    total = int(connection.execute(select(func.count()).select_from(_EVENTS).where(*where)).scalar_one())
    rows = connection.execute(
        select(_EVENTS).where(*where)
        .order_by(_EVENTS.c.block_number, _EVENTS.c.log_index, _EVENTS.c.id).limit(ALARMS_LISTED_MAX)
    )
    return UnmatchedAlarm(total, tuple(_alarm(row) for row in rows))


def _alarm(row: Any) -> Redemption:
    return Redemption(
        event_id=row.id, ticket_hash=row.ticket_hash, recipient=row.counterparty,
        face_value=int(row.face_value), win_prob=int(row.win_prob), sender_nonce=int(row.sender_nonce),
        paid_wei=int(row.paid_wei), block_number=row.block_number, transaction_hash=row.transaction_hash,
        log_index=row.log_index, gateway_id=None, signing_record_id=None,
    )
