"""Rate snapshots: exact, write-once, idempotent per Chainlink round; pricing unpriced records is
explicit, audited, and never reprices a record."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import select

from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import Database, NotFound, record_signing_call
from clearinghouse.ledger.billing_rows import RateAssignmentRow
from clearinghouse.ledger.models import SigningRecordRow
from clearinghouse.ledger.rates import (
    NewRate,
    price_unpriced_records,
    rate_in_force,
    rate_snapshot,
    rate_snapshots,
    record_rate_snapshot,
    record_rate_snapshots,
    unpriced_record_count,
)
from clearinghouse.ledger.transactions import reading
from tests.ledger.conftest import SessionDriver

FEED = bytes.fromhex("639fe6ab55c921f74e7fac1ee960c0b6293ba612")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def manual(db: Database, rate: str, valid_at: datetime, **fields: object) -> int:
    options: dict[str, object] = {
        "usd_per_eth": Fraction(rate), "source": "manual", "valid_at": valid_at, "observed_at": valid_at,
        "actor": "cli:finance", "reason": "month-end rate",
    } | fields
    return record_rate_snapshot(db, NewRate(**options)).id  # type: ignore[arg-type]


def test_a_rate_is_stored_exactly_with_its_provenance(ledger_db: Database) -> None:
    snapshot = record_rate_snapshot(ledger_db, NewRate(
        usd_per_eth=Fraction(301_234_567_890, 10**8), source="chainlink", valid_at=T0,
        observed_at=T0 + timedelta(seconds=3), actor="rate-reader", reason="latestRoundData",
        feed_address=FEED, round_id=2**79 + 5,
    ))
    assert rate_snapshot(ledger_db, snapshot.id) == snapshot
    assert snapshot.usd_per_eth == Fraction("3012.3456789")
    assert (snapshot.feed_address, snapshot.round_id) == (FEED, 2**79 + 5)
    again = record_rate_snapshot(ledger_db, NewRate(
        usd_per_eth=Fraction(1), source="chainlink", valid_at=T0, observed_at=T0 + timedelta(hours=1),
        actor="rate-reader", reason="latestRoundData", feed_address=FEED, round_id=2**79 + 5,
    ))
    assert again == snapshot  # the same round read again is the stored snapshot, not a new one
    assert len(rate_snapshots(ledger_db)) == 1


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"usd_per_eth": Fraction(0)}, "positive Fraction"),
        ({"usd_per_eth": Fraction(-3)}, "positive Fraction"),
        ({"usd_per_eth": 3000.5}, "positive Fraction"),
        ({"source": "guess"}, "source must be one of chainlink, manual, csv"),
        ({"source": "chainlink"}, "needs its feed_address and round_id"),
        ({"feed_address": FEED, "round_id": 1}, "needs its feed_address and round_id"),
        ({"observed_at": datetime(2026, 11, 1)}, "observed_at must be a timezone-aware datetime"),
        ({"actor": ""}, "actor"),
    ],
)
def test_bad_snapshots_are_refused_and_nothing_is_written(
    ledger_db: Database, fields: dict[str, object], problem: str
) -> None:
    with pytest.raises(InvalidLedgerInput, match=problem):
        manual(ledger_db, "3000", T0, **fields)
    assert rate_snapshots(ledger_db) == []


def test_the_rate_in_force_is_the_newest_valid_one(ledger_db: Database) -> None:
    assert rate_in_force(ledger_db, T0) is None
    first = manual(ledger_db, "3000", T0)
    second = manual(ledger_db, "3100.25", T0 + timedelta(days=1))
    assert rate_in_force(ledger_db, T0 - timedelta(seconds=1)) is None
    assert rate_in_force(ledger_db, T0 + timedelta(hours=23)).id == first  # type: ignore[union-attr]
    assert rate_in_force(ledger_db, T0 + timedelta(days=1)).id == second  # type: ignore[union-attr]
    correction = manual(ledger_db, "3099", T0 + timedelta(days=1), reason="corrected")
    assert rate_in_force(ledger_db, T0 + timedelta(days=2)).id == correction  # type: ignore[union-attr]


def test_unpriced_records_are_priced_once_by_an_audited_command(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    for _ in range(3):
        call = driver.next_call(10)
        record_signing_call(ledger_db, call)
        driver.advance(call)
    now = datetime.now(UTC)
    period = (now - timedelta(hours=1), now + timedelta(hours=1))
    assert unpriced_record_count(ledger_db, *period) == 3
    rate = manual(ledger_db, "2999.99", now - timedelta(days=1))

    assignment = price_unpriced_records(ledger_db, rate_snapshot_id=rate, start=period[0], end=period[1],
                                        actor="cli:finance", reason="feed was down", gateway_id=gateway.id)
    assert assignment.records_priced == 3 and assignment.id > 0
    assert unpriced_record_count(ledger_db, *period) == 0
    later = manual(ledger_db, "1", now)
    again = price_unpriced_records(ledger_db, rate_snapshot_id=later, start=period[0], end=period[1],
                                   actor="cli:finance", reason="try to reprice")
    assert again.records_priced == 0
    with reading(ledger_db) as session:
        assert set(session.scalars(select(SigningRecordRow.rate_snapshot_id))) == {rate}
        audit = session.scalars(select(RateAssignmentRow).order_by(RateAssignmentRow.id)).all()
        assert [(a.records_priced, a.reason) for a in audit] == [(3, "feed was down"), (0, "try to reprice")]


def test_pricing_refuses_unknown_rates_gateways_and_empty_periods(ledger_db: Database, gateway: Gateway) -> None:
    rate = manual(ledger_db, "3000", T0)
    with pytest.raises(NotFound, match="no rate snapshot with id 999"):
        price_unpriced_records(ledger_db, rate_snapshot_id=999, start=T0, end=T0 + timedelta(days=1),
                               actor="a", reason="r")
    with pytest.raises(NotFound, match="no gateway with id 999"):
        price_unpriced_records(ledger_db, rate_snapshot_id=rate, start=T0, end=T0 + timedelta(days=1),
                               actor="a", reason="r", gateway_id=999)
    with pytest.raises(InvalidLedgerInput, match="empty period"):
        price_unpriced_records(ledger_db, rate_snapshot_id=rate, start=T0, end=T0, actor="a", reason="r")
    with reading(ledger_db) as session:
        assert session.scalars(select(RateAssignmentRow)).all() == []


def test_an_import_is_all_or_nothing_and_names_the_bad_row(ledger_db: Database) -> None:
    good = NewRate(Fraction("3000"), "csv", T0, T0, "cli:finance", "import rates.csv")
    bad = NewRate(Fraction("-1"), "csv", T0, T0, "cli:finance", "import rates.csv")
    with pytest.raises(InvalidLedgerInput, match="rate 2: usd_per_eth must be a positive Fraction"):
        record_rate_snapshots(ledger_db, [good, bad])
    assert rate_snapshots(ledger_db) == []
    stored = record_rate_snapshots(ledger_db, [good, good])
    assert [s.usd_per_eth for s in stored] == [3000, 3000] and stored[0].id != stored[1].id
