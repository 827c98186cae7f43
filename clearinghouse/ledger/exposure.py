"""Outstanding exposure: what the tickets we signed and that are still redeemable may cost.

Spec 04: a ticket is a liability while the TicketBroker would redeem it: its creation round
not after the current round and creationRound + ticketValidityPeriod > currentRound, and its
auxData carrying the block hash the RoundsManager recorded for that round. Its expected cost is
its EV, its worst case its face value. ``record`` adds every call to the rollup row of its
(gateway, recipient, creation round, block hash) through ``count_exposure``, under the gateway's
account locks like the daily spends, so the rows of one gateway have one writer at a time and
reading the exposure touches a handful of rows (the open rounds × gateways × orchestrators),
never the signing records themselves. Tickets the watcher saw redeemed (chain_events matched to
their record) are no longer outstanding and are taken off.

Only rows whose (round, block hash) is one the caller read from the RoundsManager count
(``open_rounds``). A ticket signed for a round in the future or with a made-up hash can never be
redeemed, so it is no liability: counting it would let one orchestrator's params hold health at
critical until the round it names (issue #15). The signer refuses such params now
(signer/offer_checks.py); rows signed before that stay in the rollup and are simply not counted.

The rows are derived data: ``exposure_mismatches`` (run by ``verify_ledger``) rebuilds them
from ``signing_records`` and names every row that differs. Amounts are exact: face values are
integers, EV an exact rational added in Python (SQLite keeps these columns as decimal text).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, and_, false, or_, select
from sqlalchemy.orm import Session

from clearinghouse.ledger import limits
from clearinghouse.ledger.engine import Database
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import (
    AccountRow,
    ChainEventRow,
    ExposureRollupRow,
    SigningRecordRow,
    table,
)
from clearinghouse.ledger.rollups import add_to_rows
from clearinghouse.ledger.transactions import reading
from clearinghouse.domain.ev import ticket_ev

_ROLLUPS = table(ExposureRollupRow)
_KEY = ("gateway_id", "recipient", "creation_round", "creation_round_block_hash")

REDEEMED = "WinningTicketRedeemed"


@dataclass(frozen=True, slots=True)
class OrchestratorExposure:
    """The outstanding tickets payable to one recipient (an orchestrator's ticket address)."""

    recipient: bytes
    tickets: int
    face_value_wei: int
    max_face_value_wei: int


@dataclass(frozen=True, slots=True)
class OutstandingExposure:
    """Tickets signed in rounds still open for redemption with their recorded block hash, less
    those already redeemed.

    ``max_face_value_wei`` is the largest face value signed in those rounds, redeemed or not
    (a rollup cannot forget a maximum; erring high is the safe side). ``orchestrators`` is
    ordered by face value outstanding, largest first.
    """

    first_open_round: int
    tickets: int
    face_value_wei: int
    ev_wei: Fraction
    max_face_value_wei: int
    orchestrators: tuple[OrchestratorExposure, ...]


@dataclass(frozen=True, slots=True)
class ExposureSum:
    """What some recorded calls add to one rollup row: tickets, their face values' sum and
    maximum, and their EV."""

    tickets: int
    face_value_wei: int
    max_face_value_wei: int
    ev_signed: Fraction

    def __add__(self, other: ExposureSum) -> ExposureSum:
        return ExposureSum(self.tickets + other.tickets, self.face_value_wei + other.face_value_wei,
                           max(self.max_face_value_wei, other.max_face_value_wei), self.ev_signed + other.ev_signed)


ExposureKey = tuple[int, bytes, int, bytes]
"""A rollup row's key: (gateway, recipient, creation round, creation round's block hash)."""


def add_exposures(connection: Connection, sums: Mapping[ExposureKey, ExposureSum]) -> None:
    """Add ``sums`` (recorded calls, summed by the committer's batch) to their rollup rows, a
    few statements for all (rollups.py). The caller holds the gateways' account locks, so the
    read-then-write cannot lose an update."""
    add_to_rows(connection, _ROLLUPS, _KEY, sums, stored=_stored_sum, columns=_sum_columns,
                new_row=lambda key: dict(zip(_KEY, key, strict=True)))


def _stored_sum(row: RowMapping) -> ExposureSum:
    return ExposureSum(int(row["tickets"]), int(row["face_value_wei"]), int(row["max_face_value_wei"]),
                       Fraction(int(row["ev_signed_num"]), int(row["ev_signed_den"])))


def _sum_columns(added: ExposureSum) -> dict[str, int]:
    return _columns(added.tickets, added.face_value_wei, added.max_face_value_wei, added.ev_signed)


def outstanding_exposure(
    db: Database, current_round: int, validity_period_rounds: int, open_rounds: Mapping[int, bytes]
) -> OutstandingExposure:
    """The exposure of tickets created in rounds r with r + validity_period_rounds > current_round
    and r <= current_round, carrying the block hash ``open_rounds[r]`` that the RoundsManager
    recorded for r (a round missing from it is not initialized: none of its tickets counts).

    Raises InvalidLedgerInput for a negative round, a validity period outside
    [1, limits.TICKET_VALIDITY_ROUNDS_MAX], or an ``open_rounds`` entry outside the open rounds.
    """
    if current_round < 0 or not 1 <= validity_period_rounds <= limits.TICKET_VALIDITY_ROUNDS_MAX:
        raise InvalidLedgerInput(
            f"need current_round >= 0 and validity_period_rounds in [1, {limits.TICKET_VALIDITY_ROUNDS_MAX}], "
            f"got {current_round} and {validity_period_rounds}"
        )
    first_open = max(0, current_round - validity_period_rounds + 1)
    outside = sorted(round_ for round_ in open_rounds if not first_open <= round_ <= current_round)
    if outside:
        raise InvalidLedgerInput(f"rounds {outside} are not open: open rounds are {first_open}..{current_round}")
    with reading(db) as session:
        connection = session.connection()
        signed = _signed_redeemable(connection, open_rounds)
        redeemed = _redeemed_redeemable(connection, open_rounds)
    return _outstanding(first_open, signed, redeemed)


def ev_signed_total(db: Database) -> Fraction:
    """EV signed for all gateways ever: the ticket-liability accounts' credit (a few rows)."""
    kind = "ticket_liability"
    with reading(db) as session:
        rows = session.execute(
            select(AccountRow.balance_num, AccountRow.balance_den).where(AccountRow.kind == kind)
        )
        return -sum((Fraction(num, den) for num, den in rows), Fraction(0))


def paid_since(db: Database, since: datetime) -> int:
    """What winning tickets of ours observed redeemed at or after ``since`` paid, in wei."""
    events = table(ChainEventRow)
    statement = select(events.c.paid_wei).where(and_(events.c.kind == REDEEMED, events.c.observed_at >= since))
    with reading(db) as session:
        paid: list[Any] = list(session.connection().scalars(statement))
        return sum(int(amount) for amount in paid)


RollupKey = tuple[int, bytes, int, bytes]
"""(gateway id, recipient, creation round, creation round block hash)."""


def exposure_mismatches(session: Session) -> tuple[str, ...]:
    """Every rollup row that differs from its signing records, as readable keys
    (``gateway 3 recipient 0x… round 12 block hash 0x…``); streams the records in batches."""
    expected: dict[RollupKey, tuple[int, int, int, Fraction]] = {}
    records = session.execute(
        select(
            SigningRecordRow.gateway_id, SigningRecordRow.recipient, SigningRecordRow.creation_round,
            SigningRecordRow.creation_round_block_hash, SigningRecordRow.ticket_count,
            SigningRecordRow.face_value, SigningRecordRow.ev_signed_num, SigningRecordRow.ev_signed_den,
        ).execution_options(yield_per=limits.VERIFY_BATCH_ROWS_MAX)
    )
    for gateway_id, recipient, creation_round, block_hash, count, face_value, num, den in records:
        key = (gateway_id, bytes(recipient), creation_round, bytes(block_hash))
        tickets, face_sum, face_max, ev = expected.get(key, (0, 0, 0, Fraction(0)))
        face_value = int(face_value)
        expected[key] = (tickets + count, face_sum + count * face_value, max(face_max, face_value),
                         ev + Fraction(num, den))
    stored = {
        (row.gateway_id, bytes(row.recipient), row.creation_round, bytes(row.creation_round_block_hash)): (
            row.tickets, int(row.face_value_wei), int(row.max_face_value_wei),
            Fraction(row.ev_signed_num, row.ev_signed_den),
        )
        for row in session.scalars(select(ExposureRollupRow))
    }
    differing = sorted(key for key in expected.keys() | stored.keys() if expected.get(key) != stored.get(key))
    return tuple(f"gateway {g} recipient 0x{r.hex()} round {n} block hash 0x{h.hex()}" for g, r, n, h in differing)


def _redeemable(round_column: Any, hash_column: Any, open_rounds: Mapping[int, bytes]) -> ColumnElement[bool]:
    """``round_column`` is an open round and ``hash_column`` its recorded hash (a handful of
    rounds: ticketValidityPeriod of them)."""
    pairs = [and_(round_column == round_, hash_column == block_hash) for round_, block_hash in open_rounds.items()]
    return or_(*pairs) if pairs else false()


def _signed_redeemable(connection: Connection, open_rounds: Mapping[int, bytes]) -> list[Any]:
    rollups = select(
        _ROLLUPS.c.recipient, _ROLLUPS.c.tickets, _ROLLUPS.c.face_value_wei, _ROLLUPS.c.max_face_value_wei,
        _ROLLUPS.c.ev_signed_num, _ROLLUPS.c.ev_signed_den,
    ).where(_redeemable(_ROLLUPS.c.creation_round, _ROLLUPS.c.creation_round_block_hash, open_rounds))
    return list(connection.execute(rollups))


def _redeemed_redeemable(connection: Connection, open_rounds: Mapping[int, bytes]) -> list[Any]:
    """(recipient, face value, win prob) of each redeemed ticket of ours that the rollup rows
    read by ``_signed_redeemable`` count."""
    events = table(ChainEventRow)
    records = table(SigningRecordRow)
    statement = (
        select(records.c.recipient, records.c.face_value, records.c.win_prob)
        .select_from(events.join(records, events.c.signing_record_id == records.c.id))
        .where(and_(events.c.kind == REDEEMED,
                    _redeemable(records.c.creation_round, records.c.creation_round_block_hash, open_rounds)))
    )
    return list(connection.execute(statement))


def _outstanding(first_open: int, signed: list[Any], redeemed: list[Any]) -> OutstandingExposure:
    per_recipient: dict[bytes, list[int]] = defaultdict(lambda: [0, 0, 0])  # tickets, face sum, face max
    ev = Fraction(0)
    for recipient, tickets, face_sum, face_max, num, den in signed:
        totals = per_recipient[bytes(recipient)]
        totals[0] += tickets
        totals[1] += int(face_sum)
        totals[2] = max(totals[2], int(face_max))
        ev += Fraction(num, den)
    for recipient, face_value, win_prob in redeemed:
        totals = per_recipient[bytes(recipient)]
        totals[0] -= 1
        totals[1] -= int(face_value)
        ev -= ticket_ev(int(face_value), int(win_prob))
    orchestrators = tuple(sorted(
        (OrchestratorExposure(recipient, t, f, m) for recipient, (t, f, m) in per_recipient.items()),
        key=lambda o: (-o.face_value_wei, o.recipient),
    ))
    return OutstandingExposure(
        first_open_round=first_open,
        tickets=sum(o.tickets for o in orchestrators),
        face_value_wei=sum(o.face_value_wei for o in orchestrators),
        ev_wei=ev,
        max_face_value_wei=max((o.max_face_value_wei for o in orchestrators), default=0),
        orchestrators=orchestrators,
    )


def _columns(tickets: int, face_sum: int, face_max: int, ev: Fraction) -> dict[str, int]:
    return {
        "tickets": tickets, "face_value_wei": face_sum, "max_face_value_wei": face_max,
        "ev_signed_num": ev.numerator, "ev_signed_den": ev.denominator,
    }
