"""Reconciliation reads on each backend: billed hours, settled tickets, matched redemptions,
per-gateway exposure and the unmatched-redemption alarm."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import TYPE_CHECKING

import pytest

from clearinghouse.domain.chain_events import BlockRef, ChainEvent, ChainEventKind
from clearinghouse.domain.ev import EV_DENOMINATOR, ticket_ev
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import (
    Database,
    SigningRecord,
    apply_chain_events,
    create_gateway,
    record_signing_call,
    signed_tickets,
)
from clearinghouse.ledger.hourly_usage import HOUR, hour_of
from clearinghouse.ledger.limits import PERIOD_DAYS_MAX
from clearinghouse.ledger.reconciliation_reads import (
    BernoulliSums,
    reconciliation_reads,
)

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

CURSOR = "ticket_broker:0x" + "ab" * 20
RECIPIENT = bytes.fromhex("22" * 20)
ONE_FIFTH = EV_DENOMINATOR // 5  # exactly p = 1/5
FACE_VALUE = 1000
CREATION_ROUND = 4000  # SessionDriver's


def block(number: int) -> BlockRef:
    return BlockRef(number, number.to_bytes(32, "big"))


def redeemed(at: BlockRef, log_index: int, ticket_hash: bytes, *, nonce: int = 1) -> ChainEvent:
    return ChainEvent(
        ChainEventKind.WINNING_TICKET_REDEEMED, at.number, at.hash, bytes([0xEE]) * 32, log_index,
        counterparty=RECIPIENT, face_value=FACE_VALUE, win_prob=ONE_FIFTH, sender_nonce=nonce,
        recipient_rand=123, aux_data=bytes(64), ticket_hash=ticket_hash,
    )


def transfer(at: BlockRef, log_index: int, amount: int) -> ChainEvent:
    return ChainEvent(
        ChainEventKind.WINNING_TICKET_TRANSFER, at.number, at.hash, bytes([0xEE]) * 32, log_index,
        counterparty=RECIPIENT, amount_wei=amount,
    )


def record_calls(db: Database, driver: SessionDriver, count: int) -> list[SigningRecord]:
    records = []
    for _ in range(count):
        call = driver.next_call(units=100)
        records.append(record_signing_call(db, call).record)
        driver.advance(call)
    return records


def period_now() -> tuple[datetime, datetime]:
    """Two whole hours around now: records written just before still fall in it at an hour's turn."""
    hour = hour_of(datetime.now(UTC))
    return hour - HOUR, hour + HOUR


@pytest.fixture
def signed(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> list[SigningRecord]:
    """Three calls of ``gateway`` at face value 1000, p = 1/5, and one call of another gateway."""
    records = record_calls(ledger_db, new_session(gateway.id, face_value=FACE_VALUE, win_prob=ONE_FIFTH), 3)
    other = create_gateway(ledger_db, "gateway-b")
    record_calls(ledger_db, new_session(other.id, face_value=FACE_VALUE, win_prob=ONE_FIFTH), 2)
    return records


def test_settled_period_sums_billing_tickets_and_redemptions(
    ledger_db: Database, gateway: Gateway, signed: list[SigningRecord]
) -> None:
    first = signed_tickets(ledger_db, signed[0].id)[0]
    apply_chain_events(ledger_db, CURSOR, [transfer(block(11), 0, 900), redeemed(block(11), 1, first.ticket_hash)],
                       upto=block(12), previous=None)
    start, end = period_now()

    reads = reconciliation_reads(ledger_db, gateway.id, start, end, current_round=CREATION_ROUND + 2,
                                 validity_period_rounds=2)

    tickets = sum(r.ticket_count for r in signed)
    assert reads.tickets_billed == tickets and reads.open_tickets == 0
    assert reads.ev_billed_wei == sum((r.ev_signed for r in signed), Fraction(0))
    assert reads.fee_billed_wei == sum((r.fee for r in signed), Fraction(0))
    assert reads.settled == BernoulliSums.of(FACE_VALUE, ONE_FIFTH, tickets)
    assert reads.settled.face_value_mean_wei == reads.ev_billed_wei
    settled = reads.redeemed_settled
    assert (settled.tickets, settled.face_value_wei, settled.paid_wei) == (1, FACE_VALUE, 900)
    assert settled.ev_wei == ticket_ev(FACE_VALUE, ONE_FIFTH) and reads.redeemed_open.tickets == 0
    assert (reads.exposure.first_open_round, reads.exposure.tickets, reads.exposure.face_value_wei) == (4001, 0, 0)
    assert reads.unmatched.total == 0 and reads.unmatched.listed == ()


def test_open_rounds_are_exposure_less_redeemed_tickets(
    ledger_db: Database, gateway: Gateway, signed: list[SigningRecord]
) -> None:
    first = signed_tickets(ledger_db, signed[0].id)[0]
    apply_chain_events(ledger_db, CURSOR, [redeemed(block(11), 0, first.ticket_hash)], upto=block(12), previous=None)
    start, end = period_now()

    reads = reconciliation_reads(ledger_db, gateway.id, start, end, current_round=CREATION_ROUND + 1,
                                 validity_period_rounds=2)

    tickets = sum(r.ticket_count for r in signed)
    assert reads.settled == BernoulliSums() and reads.open_tickets == tickets
    assert (reads.redeemed_open.tickets, reads.redeemed_open.paid_wei) == (1, 0)
    exposure = reads.exposure
    assert (exposure.first_open_round, exposure.tickets) == (CREATION_ROUND, tickets - 1)
    assert exposure.face_value_wei == (tickets - 1) * FACE_VALUE
    assert exposure.ev_wei == reads.ev_billed_wei - ticket_ev(FACE_VALUE, ONE_FIFTH)


def test_an_unmatched_redemption_is_an_alarm_in_the_period_it_was_observed(
    ledger_db: Database, gateway: Gateway, signed: list[SigningRecord]
) -> None:
    unknown = bytes([0x99]) * 32
    events = [transfer(block(11), 0, FACE_VALUE), redeemed(block(11), 1, unknown, nonce=9)]
    apply_chain_events(ledger_db, CURSOR, events, upto=block(12), previous=None)
    start, end = period_now()

    reads = reconciliation_reads(ledger_db, gateway.id, start, end, current_round=CREATION_ROUND + 2,
                                 validity_period_rounds=2)

    assert reads.unmatched.total == 1
    (alarm,) = reads.unmatched.listed
    assert (alarm.ticket_hash, alarm.sender_nonce, alarm.paid_wei) == (unknown, 9, FACE_VALUE)
    assert alarm.gateway_id is None and alarm.signing_record_id is None
    assert reads.redeemed_settled.tickets == 0
    earlier = reconciliation_reads(ledger_db, gateway.id, start - timedelta(days=1), start,
                                   current_round=CREATION_ROUND + 2, validity_period_rounds=2)
    assert earlier.unmatched.total == 0 and earlier.tickets_billed == 0


@pytest.mark.parametrize(("start", "end"), [
    (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)),
    (datetime(2026, 11, 1, 0, 30, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
    (datetime(2026, 11, 1), datetime(2026, 12, 1)),
    (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=PERIOD_DAYS_MAX + 1)),
])
def test_bad_periods_are_refused(ledger_db: Database, gateway: Gateway, start: datetime, end: datetime) -> None:
    with pytest.raises(InvalidLedgerInput):
        reconciliation_reads(ledger_db, gateway.id, start, end, current_round=1, validity_period_rounds=2)


def test_bad_rounds_are_refused(ledger_db: Database, gateway: Gateway) -> None:
    start, end = period_now()
    for current_round, validity in ((-1, 2), (10, 0)):
        with pytest.raises(InvalidLedgerInput):
            reconciliation_reads(ledger_db, gateway.id, start, end, current_round=current_round,
                                 validity_period_rounds=validity)
