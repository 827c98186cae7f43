"""Outstanding exposure: rollups kept by record, read per open round and its recorded block hash,
rebuilt by the migrations; tickets no redemption can match (a round in the future, a made-up
block hash) never count (issue #15)."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import pytest
from sqlalchemy import update

from clearinghouse.ledger import Database, record_signing_call, verify_ledger
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.exposure import ev_signed_total, outstanding_exposure
from clearinghouse.ledger.models import ExposureRollupRow, table
from clearinghouse.ledger.schema import downgrade_to, upgrade_to_head
from tests.ledger.conftest import BLOCK_HASH, SessionDriver

ORCHESTRATOR_A = bytes.fromhex("a0" * 20)
ORCHESTRATOR_B = bytes.fromhex("b0" * 20)
WIN_HALF = 2**255
DENOMINATOR = 2**256 - 1
OTHER_HASH = bytes.fromhex("44" * 32)


def recorded(*rounds: int) -> dict[int, bytes]:
    """What the RoundsManager recorded for ``rounds``: the hash the test sessions sign with."""
    return {round_: BLOCK_HASH for round_ in rounds}


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

    exposure = outstanding_exposure(ledger_db, current_round=11, validity_period_rounds=2, open_rounds=recorded(10, 11))
    assert exposure.first_open_round == 10
    assert exposure.tickets == n_small + n_large
    assert exposure.face_value_wei == n_small * 1_000 + n_large * (10**18 + 7)
    assert exposure.ev_wei == (n_small * Fraction(1_000 * WIN_HALF, DENOMINATOR)
                               + n_large * Fraction((10**18 + 7) * 2**200, DENOMINATOR))
    assert exposure.max_face_value_wei == 10**18 + 7
    assert [o.recipient for o in exposure.orchestrators] == [ORCHESTRATOR_B, ORCHESTRATOR_A]

    later = outstanding_exposure(ledger_db, current_round=12, validity_period_rounds=2, open_rounds=recorded(11, 12))
    assert later.first_open_round == 11
    assert later.tickets == n_round_11 + n_large
    assert later.face_value_wei == n_round_11 * 1_000 + n_large * (10**18 + 7)
    closed = outstanding_exposure(ledger_db, current_round=13, validity_period_rounds=2, open_rounds=recorded(12, 13))
    assert (closed.tickets, closed.ev_wei) == (0, 0)


def test_tickets_no_redemption_can_match_do_not_count(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    """The poisoning of issue #15, as stored before the signer refused it: one ticket of a round in
    the future and one with a made-up block hash, each with a face value the size of a deposit."""
    honest = new_session(gateway.id, face_value=1_000, win_prob=WIN_HALF, price_per_unit=500)
    hostile = new_session(gateway.id, face_value=10**18, win_prob=2**200, price_per_unit=10)
    n_honest = sign(ledger_db, honest, 3, creation_round=11, recipient=ORCHESTRATOR_A)
    sign(ledger_db, hostile, 1, creation_round=1_000_000_001, recipient=ORCHESTRATOR_B)
    sign(ledger_db, hostile, 1, creation_round=11, creation_round_block_hash=OTHER_HASH, recipient=ORCHESTRATOR_B)
    exposure = outstanding_exposure(ledger_db, current_round=11, validity_period_rounds=2, open_rounds=recorded(10, 11))
    assert (exposure.tickets, exposure.max_face_value_wei) == (n_honest, 1_000)
    assert [o.recipient for o in exposure.orchestrators] == [ORCHESTRATOR_A]
    # Not when the chain reaches that round either: its recorded hash is not the one signed.
    later = outstanding_exposure(ledger_db, current_round=1_000_000_001, validity_period_rounds=2,
                                 open_rounds={1_000_000_001: bytes.fromhex("55" * 32)})
    assert later.tickets == 0
    # A round the RoundsManager has not initialized (no hash) counts nothing.
    assert outstanding_exposure(ledger_db, current_round=11, validity_period_rounds=2, open_rounds={}).tickets == 0
    assert verify_ledger(ledger_db).ok  # the rollup still holds every record: only reading skips them


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
    assert report.mismatched_exposure_rollups == (
        f"gateway {gateway.id} recipient 0x{'a0' * 20} round 42 block hash 0x{BLOCK_HASH.hex()}",
    )


def test_the_upgrade_rebuilds_rollups_from_existing_records(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver], migrated_database_url: str
) -> None:
    driver = new_session(gateway.id, face_value=10**20 + 1, win_prob=2**200, price_per_unit=1_000)
    for round_ in (5, 5, 6):
        sign(ledger_db, driver, 1, creation_round=round_, recipient=ORCHESTRATOR_B)
    before = outstanding_exposure(ledger_db, current_round=6, validity_period_rounds=2, open_rounds=recorded(5, 6))
    downgrade_to(migrated_database_url, "0003")
    upgrade_to_head(migrated_database_url)
    assert outstanding_exposure(ledger_db, current_round=6, validity_period_rounds=2, open_rounds=recorded(5, 6)) == before
    assert verify_ledger(ledger_db).ok


def test_migration_0010_recomputes_poisoned_rollups_so_they_stop_counting(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver], migrated_database_url: str
) -> None:
    """Rows stored by 0009's rollup (keyed without the block hash) are recomputed by hash."""
    honest = new_session(gateway.id, face_value=1_000, win_prob=WIN_HALF, price_per_unit=500)
    hostile = new_session(gateway.id, face_value=10**18, win_prob=2**200, price_per_unit=10)
    n_honest = sign(ledger_db, honest, 2, creation_round=11, recipient=ORCHESTRATOR_A)
    sign(ledger_db, hostile, 1, creation_round=11, creation_round_block_hash=OTHER_HASH, recipient=ORCHESTRATOR_A)
    sign(ledger_db, hostile, 1, creation_round=1_000_000_001, recipient=ORCHESTRATOR_A)
    downgrade_to(migrated_database_url, "0009")
    with ledger_db.write_engine.connect() as connection:
        old_rows = connection.exec_driver_sql("SELECT creation_round, tickets FROM exposure_rollups").all()
    assert sorted((r, t) for r, t in old_rows) == [(11, n_honest + 1), (1_000_000_001, 1)]  # 0009's poisoned row
    upgrade_to_head(migrated_database_url)
    exposure = outstanding_exposure(ledger_db, current_round=11, validity_period_rounds=2, open_rounds=recorded(10, 11))
    assert (exposure.tickets, exposure.max_face_value_wei) == (n_honest, 1_000)
    assert verify_ledger(ledger_db).ok


@pytest.mark.parametrize(("current_round", "validity"), [(-1, 2), (5, 0), (5, 1_001)])
def test_nonsense_rounds_are_refused(ledger_db: Database, current_round: int, validity: int) -> None:
    with pytest.raises(InvalidLedgerInput, match="validity_period_rounds"):
        outstanding_exposure(ledger_db, current_round, validity, {})


def test_hashes_of_rounds_that_are_not_open_are_refused(ledger_db: Database) -> None:
    with pytest.raises(InvalidLedgerInput, match=r"rounds \[12\] are not open: open rounds are 10..11"):
        outstanding_exposure(ledger_db, 11, 2, recorded(11, 12))
