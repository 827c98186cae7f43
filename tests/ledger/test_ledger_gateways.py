"""Gateways, API keys and the kill switch."""

from __future__ import annotations

import pytest

from clearinghouse.ledger import (
    Database,
    DuplicateGatewayName,
    NotFound,
    authenticate_api_key,
    create_api_key,
    create_gateway,
    kill_switches,
    list_api_keys,
    list_gateways,
    open_database,
    revoke_api_key,
    set_gateway_status,
    set_kill_switch,
    signing_halt,
)
from clearinghouse.domain.gateways import Gateway, GatewayStatus
from clearinghouse.errors import InvalidLedgerInput

DIGEST = bytes(range(32))


def test_gateway_names_are_unique(ledger_db: Database, gateway: Gateway) -> None:
    with pytest.raises(DuplicateGatewayName, match="'gateway-a' already exists"):
        create_gateway(ledger_db, "gateway-a")
    with pytest.raises(InvalidLedgerInput, match="name: expected 1..64 characters, got 0"):
        create_gateway(ledger_db, "")
    assert list_gateways(ledger_db) == (gateway,)


def test_api_key_authenticates_until_revoked(ledger_db: Database, gateway: Gateway) -> None:
    key = create_api_key(
        ledger_db, gateway.id, prefix="ch_live_ab", digest=DIGEST, usage_subject="user-7"
    )

    found = authenticate_api_key(ledger_db, DIGEST)
    assert found is not None and found.key == key and found.gateway == gateway
    assert found.key.usage_subject == "user-7"

    revoked = revoke_api_key(ledger_db, key.id)
    assert revoked.revoked_at is not None
    assert revoke_api_key(ledger_db, key.id).revoked_at == revoked.revoked_at
    assert authenticate_api_key(ledger_db, DIGEST) is None
    assert list_api_keys(ledger_db, gateway.id) == (revoked,)


def test_disabled_gateway_is_reported_with_its_key(ledger_db: Database, gateway: Gateway) -> None:
    create_api_key(ledger_db, gateway.id, prefix="ch_", digest=DIGEST)
    set_gateway_status(ledger_db, gateway.id, GatewayStatus.DISABLED)

    found = authenticate_api_key(ledger_db, DIGEST)

    assert found is not None and found.gateway.status is GatewayStatus.DISABLED


def test_api_key_inputs_are_checked(ledger_db: Database, gateway: Gateway) -> None:
    with pytest.raises(InvalidLedgerInput, match="expected 32 bytes"):
        create_api_key(ledger_db, gateway.id, prefix="ch_", digest=b"short")
    with pytest.raises(NotFound, match="no gateway with id 999"):
        create_api_key(ledger_db, 999, prefix="ch_", digest=DIGEST)


def test_kill_switch_stops_one_gateway_or_all_and_survives_restart(
    migrated_database_url: str,
) -> None:
    db = open_database(migrated_database_url)
    try:
        a, b = create_gateway(db, "a"), create_gateway(db, "b")
        assert signing_halt(db, a.id) is None
        set_kill_switch(db, engaged=True, actor="ops", reason="key rotation", gateway_id=a.id)
    finally:
        db.dispose()

    db = open_database(migrated_database_url)  # a restarted daemon
    try:
        halt = signing_halt(db, a.id)
        assert halt is not None and (halt.actor, halt.reason) == ("ops", "key rotation")
        assert signing_halt(db, b.id) is None

        set_kill_switch(db, engaged=True, actor="ops", reason="deposit low")
        global_halt = signing_halt(db, a.id)
        assert global_halt is not None and global_halt.gateway_id is None
        assert global_halt.reason == "deposit low"

        set_kill_switch(db, engaged=False, actor="ops", reason="deposit funded")
        set_kill_switch(db, engaged=False, actor="ops", reason="done", gateway_id=a.id)
        assert signing_halt(db, a.id) is None and signing_halt(db, b.id) is None
        assert [s.scope for s in kill_switches(db)] == ["global", f"gateway:{a.id}"]
    finally:
        db.dispose()
