"""The database itself refuses duplicates: rows written straight through the ORM, no repository."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clearinghouse.ledger import Database, record_signing_call
from clearinghouse.domain.gateways import Gateway
from clearinghouse.ledger.models import (
    AccountRow,
    ApiKeyRow,
    GatewayRow,
    SignedTicketRow,
    SigningRecordRow,
)

if TYPE_CHECKING:
    from tests.ledger.conftest import SessionDriver

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _insert(db: Database, row: object) -> None:
    with Session(db.write_engine) as session, session.begin():
        session.add(row)


def _recorded(db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]) -> int:
    return record_signing_call(db, new_session(gateway.id).next_call()).record.id


def test_same_recipient_rand_hash_and_nonce_is_refused(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    record_id = _recorded(ledger_db, gateway, new_session)
    _insert(
        ledger_db,
        SignedTicketRow(
            signing_record_id=record_id,
            recipient_rand_hash=b"\x07" * 32,
            sender_nonce=1,
            ticket_hash=b"\x01" * 32,
        ),
    )

    with pytest.raises(IntegrityError):
        _insert(
            ledger_db,
            SignedTicketRow(
                signing_record_id=record_id,
                recipient_rand_hash=b"\x07" * 32,
                sender_nonce=1,
                ticket_hash=b"\x02" * 32,
            ),
        )


def test_same_ticket_hash_is_refused(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    record_id = _recorded(ledger_db, gateway, new_session)
    _insert(
        ledger_db,
        SignedTicketRow(
            signing_record_id=record_id,
            recipient_rand_hash=b"\x07" * 32,
            sender_nonce=1,
            ticket_hash=b"\x01" * 32,
        ),
    )

    with pytest.raises(IntegrityError):
        _insert(
            ledger_db,
            SignedTicketRow(
                signing_record_id=record_id,
                recipient_rand_hash=b"\x08" * 32,
                sender_nonce=1,
                ticket_hash=b"\x01" * 32,
            ),
        )


def test_same_session_and_sequence_number_is_refused(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    record_signing_call(ledger_db, driver.next_call())
    duplicate = _record_row(driver, gateway)

    with pytest.raises(IntegrityError):
        _insert(ledger_db, duplicate)


def test_same_request_id_for_one_gateway_is_refused(
    ledger_db: Database, gateway: Gateway, new_session: Callable[..., SessionDriver]
) -> None:
    driver = new_session(gateway.id)
    record_signing_call(ledger_db, driver.next_call(request_id="req-1"))
    duplicate = _record_row(driver, gateway, sequence_number=7, request_id="req-1")

    with pytest.raises(IntegrityError):
        _insert(ledger_db, duplicate)


def test_duplicate_gateway_name_and_api_key_digest_are_refused(
    ledger_db: Database, gateway: Gateway
) -> None:
    key = dict(gateway_id=gateway.id, prefix="ch_", digest=b"\x05" * 32, created_at=NOW)
    _insert(ledger_db, ApiKeyRow(**key))

    with pytest.raises(IntegrityError):
        _insert(ledger_db, GatewayRow(name=gateway.name, status="active", created_at=NOW))
    with pytest.raises(IntegrityError):
        _insert(ledger_db, ApiKeyRow(**key))


def test_second_account_of_one_kind_is_refused(ledger_db: Database, gateway: Gateway) -> None:
    with pytest.raises(IntegrityError):
        _insert(
            ledger_db,
            AccountRow(
                code="another-code",
                kind="ticket_liability",
                gateway_id=gateway.id,
                balance_num=0,
                balance_den=1,
                created_at=NOW,
            ),
        )


def test_foreign_keys_are_enforced(ledger_db: Database) -> None:
    with pytest.raises(IntegrityError):
        _insert(
            ledger_db, ApiKeyRow(gateway_id=999, prefix="ch_", digest=b"\x06" * 32, created_at=NOW)
        )


def test_unknown_status_is_refused(ledger_db: Database) -> None:
    with pytest.raises(IntegrityError):
        _insert(ledger_db, GatewayRow(name="g", status="paused", created_at=NOW))


def _record_row(
    driver: SessionDriver,
    gateway: Gateway,
    *,
    sequence_number: int = 0,
    request_id: str | None = None,
) -> SigningRecordRow:
    return SigningRecordRow(
        gateway_id=gateway.id,
        request_id=request_id,
        state_id=driver.state_id,
        manifest_id="m",
        sequence_number=sequence_number,
        app="a",
        orchestrator_address=b"\x01" * 20,
        recipient=b"\x02" * 20,
        billing_type="live",
        units=1,
        price_per_unit=1,
        pixels_per_unit=1,
        fee_num=1,
        fee_den=1,
        ticket_count=1,
        face_value=1,
        win_prob=1,
        ev_signed_num=1,
        ev_signed_den=1,
        first_nonce=90,
        last_nonce=90,
        recipient_rand_hash=b"\x09" * 32,
        creation_round=1,
        creation_round_block_hash=b"\x03" * 32,
        params_expiration_block=1,
        response=b"",
        created_at=NOW,
    )
