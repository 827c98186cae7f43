"""Chain events in the ledger: recording batches, matching redemptions, pairing payouts, rewinds."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import func, select

from clearinghouse.ledger import (
    ChainCursorMoved,
    ChainWriterLock,
    Database,
    NotFound,
    apply_chain_events,
    chain_cursor,
    checkpoints,
    gateway_payouts,
    record_signing_call,
    recorded_chain_events,
    redeemed_ticket_hashes,
    redemptions,
    rewind_chain_events,
    sender_flows,
    signed_tickets,
    unmatched_redemptions,
)
from clearinghouse.domain.chain_events import BlockRef, ChainEvent, ChainEventKind, GatewayPayout
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import limits
from clearinghouse.ledger.models import ChainEventRow

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

CURSOR = "ticket_broker:0x" + "ab" * 20
RECIPIENT = bytes.fromhex("22" * 20)
OTHER_RECIPIENT = bytes.fromhex("44" * 20)
UINT256_MAX = 2**256 - 1
Kind = ChainEventKind


def block(number: int, fork: int = 0) -> BlockRef:
    """Block ``number`` of fork ``fork``: a distinct, recognisable 32-byte hash."""
    return BlockRef(number, bytes([fork]) + number.to_bytes(31, "big"))


def tx(n: int) -> bytes:
    return bytes([0xEE]) + n.to_bytes(31, "big")


def event(
    kind: Kind, at: BlockRef, log_index: int, transaction: int = 1, **values: object
) -> ChainEvent:
    return ChainEvent(
        kind, at.number, at.hash, tx(transaction), log_index, **values  # type: ignore[arg-type]
    )


def redeemed(
    at: BlockRef,
    log_index: int,
    ticket_hash: bytes,
    *,
    transaction: int = 1,
    recipient: bytes = RECIPIENT,
    face_value: int = 35,
    nonce: int = 1,
) -> ChainEvent:
    return event(
        Kind.WINNING_TICKET_REDEEMED, at, log_index, transaction,
        counterparty=recipient, face_value=face_value, win_prob=UINT256_MAX, sender_nonce=nonce,
        recipient_rand=123456789, aux_data=bytes(64), ticket_hash=ticket_hash,
    )


def transfer(
    at: BlockRef, log_index: int, amount: int, *, transaction: int = 1, recipient: bytes = RECIPIENT
) -> ChainEvent:
    return event(
        Kind.WINNING_TICKET_TRANSFER, at, log_index, transaction,
        counterparty=recipient, amount_wei=amount,
    )


def funded(at: BlockRef, log_index: int, deposit: int, reserve: int) -> list[ChainEvent]:
    return [
        event(Kind.DEPOSIT_FUNDED, at, log_index, amount_wei=deposit),
        event(Kind.RESERVE_FUNDED, at, log_index + 1, amount_wei=reserve),
    ]


def event_count(db: Database) -> int:
    with db.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(ChainEventRow)) or 0


def cursor_at(db: Database) -> BlockRef | None:
    cursor = chain_cursor(db, CURSOR)
    return None if cursor is None else cursor.ref


@pytest.fixture
def signed_hash(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> tuple[bytes, int]:
    """The ticket hash of a recorded signing call of ``gateway`` (one ticket) and its record id."""
    driver = new_session(gateway.id)
    outcome = record_signing_call(ledger_db, driver.next_call(units=10))
    (ticket,) = signed_tickets(ledger_db, outcome.record.id)
    return ticket.ticket_hash, outcome.record.id


def test_a_batch_is_recorded_matched_and_paired(
    ledger_db: Database, gateway: Gateway, signed_hash: tuple[bytes, int]
) -> None:
    ticket_hash, record_id = signed_hash
    unknown = bytes([0x99]) * 32
    b10, b11 = block(10), block(11)
    events = [
        *funded(b10, 0, UINT256_MAX - 1, 500),
        transfer(b11, 3, 35, transaction=2),
        redeemed(b11, 4, ticket_hash, transaction=2),
        redeemed(b11, 7, unknown, transaction=3, nonce=9),
        event(Kind.NEW_ROUND, b11, 8, 4, round_number=4001, round_block_hash=bytes(range(32))),
    ]

    applied = apply_chain_events(
        ledger_db, CURSOR, list(reversed(events)), upto=block(12), previous=None
    )

    assert (applied.inserted, applied.already_recorded) == (6, 0)
    assert applied.cursor.ref == block(12) and chain_cursor(ledger_db, CURSOR) == applied.cursor
    assert checkpoints(ledger_db, CURSOR) == [block(12)]
    matched, alarm = applied.redemptions
    assert (matched.ticket_hash, matched.paid_wei) == (ticket_hash, 35)
    assert (matched.gateway_id, matched.signing_record_id) == (gateway.id, record_id)
    assert (alarm.ticket_hash, alarm.paid_wei, alarm.gateway_id) == (unknown, 0, None)
    assert alarm.signing_record_id is None
    assert redemptions(ledger_db) == list(applied.redemptions)
    assert redemptions(ledger_db, gateway_id=gateway.id) == [matched]
    assert unmatched_redemptions(ledger_db) == [alarm]
    assert gateway_payouts(ledger_db) == {gateway.id: GatewayPayout(gateway.id, 1, 35, 35)}
    recorded = recorded_chain_events(ledger_db, CURSOR)
    assert [r.event for r in recorded] == events  # exact wei both ways, in chain order
    assert [r.paid_wei for r in recorded] == [None, None, None, 35, 0, None]
    assert redeemed_ticket_hashes(ledger_db, [ticket_hash, bytes(32)]) == {ticket_hash}
    flows = sender_flows(ledger_db, CURSOR)
    assert (flows.deposit_wei, flows.reserve_wei) == (UINT256_MAX - 1 - 35, 500)
    assert (flows.paid_wei, flows.tickets_redeemed) == (35, 2)


def test_a_replayed_batch_changes_nothing(
    ledger_db: Database, signed_hash: tuple[bytes, int]
) -> None:
    events = [
        *funded(block(3), 0, 10, 20),
        transfer(block(4), 0, 35),
        redeemed(block(4), 1, signed_hash[0]),
    ]
    first = apply_chain_events(ledger_db, CURSOR, events, upto=block(5), previous=None)

    again = apply_chain_events(ledger_db, CURSOR, events, upto=block(5), previous=None)

    assert (again.inserted, again.already_recorded, again.redemptions) == (0, 4, ())
    assert again.cursor == first.cursor and event_count(ledger_db) == 4
    assert checkpoints(ledger_db, CURSOR) == [block(5)]
    different = [*events, transfer(block(5), 0, 1)]
    with pytest.raises(ChainCursorMoved, match="up to block 5 .* without 1 of these events"):
        apply_chain_events(ledger_db, CURSOR, different, upto=block(5), previous=None)


def test_a_batch_from_a_stale_cursor_is_refused(ledger_db: Database) -> None:
    apply_chain_events(ledger_db, CURSOR, funded(block(3), 0, 10, 20), upto=block(5), previous=None)
    stale_batches = [
        (block(9), None),  # a second watcher that started from nothing
        (block(9), block(4)),  # built on an older cursor
        (block(9), block(5, fork=1)),  # built on another fork's block 5
    ]
    for upto, previous in stale_batches:
        with pytest.raises(ChainCursorMoved, match=r"is at block 5 \(0x00.*\), expected"):
            apply_chain_events(
                ledger_db, CURSOR, funded(block(7), 0, 1, 1), upto=upto, previous=previous
            )

    assert event_count(ledger_db) == 2 and cursor_at(ledger_db) == block(5)
    applied = apply_chain_events(
        ledger_db, CURSOR, funded(block(7), 0, 1, 1), upto=block(9), previous=block(5)
    )
    assert applied.inserted == 2 and checkpoints(ledger_db, CURSOR) == [block(9), block(5)]


def test_transfers_pair_with_the_nearest_redemption_of_their_transaction(
    ledger_db: Database,
) -> None:
    b = block(20)
    hashes = [bytes([n]) * 32 for n in range(1, 6)]
    events = [
        # One batchRedeemWinningTickets call (tx 1): a payout with a reserve claim, a zero
        # payout to the same recipient, then another recipient.
        event(Kind.RESERVE_CLAIMED, b, 0, counterparty=RECIPIENT, amount_wei=4),
        transfer(b, 1, 7),
        redeemed(b, 2, hashes[0], face_value=9),
        redeemed(b, 3, hashes[1], face_value=9),
        transfer(b, 4, 5, recipient=OTHER_RECIPIENT),
        redeemed(b, 5, hashes[2], recipient=OTHER_RECIPIENT),
        # tx 2: a recipient contract redeeming from inside its payout; the inner pair nests.
        transfer(b, 6, 11, transaction=2),
        redeemed(b, 7, hashes[3], transaction=2),
        transfer(b, 8, 13, transaction=2),
        redeemed(b, 9, hashes[4], transaction=2),
    ]
    applied = apply_chain_events(ledger_db, CURSOR, events, upto=b, previous=None)

    assert [r.paid_wei for r in applied.redemptions] == [7, 0, 5, 11, 13]
    flows = sender_flows(ledger_db, CURSOR)
    assert (flows.paid_wei, flows.reserve_claimed_wei, flows.tickets_redeemed) == (36, 4, 5)


def test_a_transfer_of_another_transaction_pays_nothing(ledger_db: Database) -> None:
    b = block(20)
    events = [transfer(b, 0, 7, transaction=1), redeemed(b, 1, bytes(32), transaction=2)]

    (redemption,) = apply_chain_events(ledger_db, CURSOR, events, upto=b, previous=None).redemptions

    assert redemption.paid_wei == 0


def test_rewind_undoes_the_events_above_the_fork_point(
    ledger_db: Database, gateway: Gateway, signed_hash: tuple[bytes, int]
) -> None:
    ticket_hash = signed_hash[0]
    apply_chain_events(
        ledger_db, CURSOR, funded(block(3), 0, 100, 20), upto=block(5), previous=None
    )
    payout = [transfer(block(7), 0, 35), redeemed(block(7), 1, ticket_hash)]
    apply_chain_events(ledger_db, CURSOR, payout, upto=block(8), previous=block(5))
    assert gateway_payouts(ledger_db)[gateway.id].paid_wei == 35

    assert rewind_chain_events(ledger_db, CURSOR, block(5)) == 2

    assert gateway_payouts(ledger_db) == {} and redemptions(ledger_db) == []
    assert redeemed_ticket_hashes(ledger_db, [ticket_hash]) == frozenset()
    assert cursor_at(ledger_db) == block(5) and checkpoints(ledger_db, CURSOR) == [block(5)]
    # The other fork's block 7 holds the same redemption: it is recorded again, once.
    other_fork = [transfer(block(7, 1), 0, 35), redeemed(block(7, 1), 1, ticket_hash)]
    again = apply_chain_events(
        ledger_db, CURSOR, other_fork, upto=block(9, 1), previous=block(5)
    )
    assert again.inserted == 2 and gateway_payouts(ledger_db)[gateway.id].tickets_redeemed == 1
    for not_recorded in (block(10), block(6), block(5, fork=1)):
        with pytest.raises(InvalidLedgerInput, match="not one of its checkpoints"):
            rewind_chain_events(ledger_db, CURSOR, not_recorded)

    assert rewind_chain_events(ledger_db, CURSOR, None) == 4

    assert cursor_at(ledger_db) is None and checkpoints(ledger_db, CURSOR) == []
    assert event_count(ledger_db) == 0 and rewind_chain_events(ledger_db, CURSOR, None) == 0
    with pytest.raises(NotFound, match="no chain cursor"):
        rewind_chain_events(ledger_db, CURSOR, block(1))


def test_only_the_newest_checkpoints_are_kept(
    ledger_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(limits, "CHECKPOINTS_KEPT", 3)
    previous = None
    for number in range(1, 6):
        apply_chain_events(ledger_db, CURSOR, [], upto=block(number), previous=previous)
        previous = block(number)

    assert checkpoints(ledger_db, CURSOR) == [block(5), block(4), block(3)]
    assert checkpoints(ledger_db, "another cursor") == []


def test_cursors_are_independent(ledger_db: Database) -> None:
    other = "ticket_broker:0x" + "cd" * 20
    apply_chain_events(ledger_db, CURSOR, funded(block(3), 0, 1, 2), upto=block(5), previous=None)
    apply_chain_events(ledger_db, other, funded(block(3), 0, 1, 2), upto=block(4), previous=None)

    assert rewind_chain_events(ledger_db, other, None) == 2
    assert sender_flows(ledger_db, CURSOR).deposit_funded_wei == 1 and event_count(ledger_db) == 2


def test_bad_batches_are_refused(ledger_db: Database) -> None:
    def apply(events: list[ChainEvent], upto: BlockRef, previous: BlockRef | None) -> None:
        apply_chain_events(ledger_db, CURSOR, events, upto=upto, previous=previous)

    with pytest.raises(InvalidLedgerInput, match="outside the batch's blocks"):
        apply(funded(block(6), 0, 1, 1), block(5), None)
    with pytest.raises(InvalidLedgerInput, match="outside the batch's blocks"):
        apply(funded(block(4), 0, 1, 1), block(6), block(4))
    with pytest.raises(InvalidLedgerInput, match="upto: expected a block above 4"):
        apply([], block(4), block(4))
    with pytest.raises(InvalidLedgerInput, match="cursor_name"):
        apply_chain_events(ledger_db, "x" * 97, [], upto=block(4), previous=None)
    with pytest.raises(InvalidLedgerInput, match="hashes: expected at most"):
        redeemed_ticket_hashes(ledger_db, [bytes(32)] * (limits.TICKET_HASHES_PER_LOOKUP_MAX + 1))
    with pytest.raises(InvalidLedgerInput, match="limit"):
        redemptions(ledger_db, limit=0)
    assert event_count(ledger_db) == 0 and chain_cursor(ledger_db, CURSOR) is None


def test_events_carry_exactly_their_kinds_fields() -> None:
    expected = r"DepositFunded: expected fields \[.amount_wei.\], got \[\]"
    with pytest.raises(InvalidLedgerInput, match=expected):
        event(Kind.DEPOSIT_FUNDED, block(1), 0)
    with pytest.raises(InvalidLedgerInput, match="expected fields"):
        event(Kind.UNLOCK_CANCELLED, block(1), 0, amount_wei=1)
    with pytest.raises(InvalidLedgerInput, match="amount_wei: expected an int"):
        event(Kind.DEPOSIT_FUNDED, block(1), 0, amount_wei=2**256)
    with pytest.raises(InvalidLedgerInput, match="start_round: expected an int"):
        event(Kind.UNLOCK, block(1), 0, start_round=2**63, end_round=1)
    with pytest.raises(InvalidLedgerInput, match="counterparty: expected 20 bytes"):
        transfer(block(1), 0, 1, recipient=bytes(19))
    with pytest.raises(InvalidLedgerInput, match="aux_data: expected at most 64 bytes"):
        event(
            Kind.WINNING_TICKET_REDEEMED, block(1), 0, counterparty=RECIPIENT, face_value=1,
            win_prob=1, sender_nonce=1, recipient_rand=1, aux_data=bytes(65),
            ticket_hash=bytes(32),
        )


def test_one_writer_lock_per_database(ledger_db: Database) -> None:
    first, second = ChainWriterLock(ledger_db), ChainWriterLock(ledger_db)
    try:
        assert first.try_acquire() is True and first.try_acquire() is True
        # PostgreSQL: the second session waits for the first; SQLite: nothing to hold.
        assert second.try_acquire() is (ledger_db.backend == "sqlite")
        first.release()
        assert second.try_acquire() is True
    finally:
        first.release()
        second.release()
