"""Outstanding exposure: rollups kept by record, read per open round, rebuilt by the migration."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import pytest
from sqlalchemy import update

from clearinghouse.ledger import Database, Gateway, record_signing_call, verify_ledger
from clearinghouse.ledger.errors import InvalidLedgerInput
from clearinghouse.ledger.exposure import ev_signed_total, outstanding_exposure
from clearinghouse.ledger.models import ExposureRollupRow, table
from clearinghouse.ledger.schema import downgrade_to, upgrade_to_head
from tests.ledger.conftest import SessionDriver

ORCHESTRATOR_A = bytes.fromhex("a0" * 20)
ORCHESTRATOR_B = bytes.fromhex("b0" * 20)
WIN_HALF = 2**255
DENOMINATOR = 2**256 - 1


def sign(db: Database, driver: SessionDriver, units: int, **fields: object) -> int:
    """Record one call of ``units`` and return how many tickets it signed."""
    call = driver.next_call(units, **fields)
    record_signing_call(db, call)
    driver.advance(call)
    return len(call.tickets)


def test_open_rounds_are_summed_exactly_and_closed_ones_drop_out(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    small = new_session(gateway.id, face_value=1_000, win_prob=WIN_HALF, price_per_unit=500)
    large = new_session(gateway.id, face_value=10**18 + 7, win_prob=2**200, price_per_unit=10)
    n_round_10 = sign(ledger_db, small, 3, creation_round=10, recipient=ORCHESTRATOR_A)
    n_round_11 = sign(ledger_db, small, 2, creation_round=11, recipient=ORCHESTRATOR_A)
    n_small = n_round_10 + n_round_11
    n_large = sign(ledger_db, large, 1, creation_round=11, recipient=ORCHESTRATOR_B)

    exposure = outstanding_exposure(ledger_db, current_round=11, validity_period_rounds=2)
    assert exposure.first_open_round == 10
    assert exposure.tickets == n_small + n_large
    assert exposure.face_value_wei == n_small * 1_000 + n_large * (10**18 + 7)
    assert exposure.ev_wei == (n_small * Fraction(1_000 * WIN_HALF, DENOMINATOR)
                               + n_large * Fraction((10**18 + 7) * 2**200, DENOMINATOR))
    assert exposure.max_face_value_wei == 10**18 + 7
    assert [o.recipient for o in exposure.orchestrators] == [ORCHESTRATOR_B, ORCHESTRATOR_A]

    later = outstanding_exposure(ledger_db, current_round=12, validity_period_rounds=2)
    assert later.first_open_round == 11
    assert later.tickets == n_round_11 + n_large
    assert later.face_value_wei == n_round_11 * 1_000 + n_large * (10**18 + 7)
    assert outstanding_exposure(ledger_db, current_round=13, validity_period_rounds=2).tickets == 0
    assert outstanding_exposure(ledger_db, current_round=13, validity_period_rounds=2).ev_wei == 0


def test_ev_signed_total_is_the_ticket_liability(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    assert ev_signed_total(ledger_db) == 0
    driver = new_session(gateway.id, face_value=999, win_prob=WIN_HALF, price_per_unit=400)
    tickets = sign(ledger_db, driver, 5) + sign(ledger_db, driver, 5)
    assert ev_signed_total(ledger_db) == tickets * Fraction(999 * WIN_HALF, DENOMINATOR)


def test_verify_ledger_names_a_rollup_that_differs_from_its_records(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    sign(ledger_db, new_session(gateway.id), 10, creation_round=42, recipient=ORCHESTRATOR_A)
    assert verify_ledger(ledger_db).ok
    rollups = table(ExposureRollupRow)
    with ledger_db.write_engine.begin() as connection:
        connection.execute(update(rollups).values(tickets=rollups.c.tickets + 1))
    report = verify_ledger(ledger_db)
    assert not report.ok
    assert report.mismatched_exposure_rollups == (f"gateway {gateway.id} recipient 0x{'a0' * 20} round 42",)


def test_the_upgrade_rebuilds_rollups_from_existing_records(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver], migrated_database_url: str
) -> None:
    driver = new_session(gateway.id, face_value=10**20 + 1, win_prob=2**200, price_per_unit=1_000)
    for round_ in (5, 5, 6):
        sign(ledger_db, driver, 1, creation_round=round_, recipient=ORCHESTRATOR_B)
    before = outstanding_exposure(ledger_db, current_round=6, validity_period_rounds=2)
    downgrade_to(migrated_database_url, "0003")
    upgrade_to_head(migrated_database_url)
    assert outstanding_exposure(ledger_db, current_round=6, validity_period_rounds=2) == before
    assert verify_ledger(ledger_db).ok


@pytest.mark.parametrize(("current_round", "validity"), [(-1, 2), (5, 0), (5, 1_001)])
def test_nonsense_rounds_are_refused(ledger_db: Database, current_round: int, validity: int) -> None:
    with pytest.raises(InvalidLedgerInput, match="validity_period_rounds"):
        outstanding_exposure(ledger_db, current_round, validity)
