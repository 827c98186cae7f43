"""getTicketHash and the signature rules against spec 01's vectors (copied from vectors.json)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.broker_chain import (
    ETHER,
    SENDER,
    SENDER_KEY,
    BrokerChain,
    aux_data,
    personal_sign,
    rand_hash,
    ticket_hash,
)

ZERO_ADDRESS = "0x" + "00" * 20
BLOCK_HASH = bytes.fromhex("41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d")
RECIPIENT = "0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F"

# Spec 01's table: every field zero (auxData empty) except the ones named.
HASH_VECTORS: list[tuple[dict[str, Any], str]] = [
    ({"nonce": 4294967295}, "e1393fc7f6de093780674022f96cb8e3872235167d037c04d554e58c0e63d280"),
    ({"nonce": 1}, "ce0918ba94518293e9712effbe5fca4f1f431089833a5b8c257cb1e024595f68"),
    ({"face_value": 1, "win_prob": 500}, "87ef13f2d37e4d5352a01d3c77b8179d80e0887f1953bfabfd0bfd7b0f689ddd"),
    ({"face_value": 500, "win_prob": 1}, "aa4b35071043587992ac8b9dd1b2cf1d8311130e6458cf0b2342484e21af5f5b"),
    ({"recipient": RECIPIENT}, "81e353ae39046e2b77b9f996abbaeed527fda559b61ef90f299c4499dd508ccc"),
    ({"rand_hash": BLOCK_HASH}, "be5eaf9a49a39540b9bb02f1a21904f61324a29819e2c032824bfaa10c100b17"),
    ({"aux": aux_data(10, BLOCK_HASH)}, "e502907c16036ab3d11b78c5a2e93c20f3d6415c67f91de4ed01348182b3b2e2"),
]


def _vector_ticket(fields: dict[str, Any]) -> tuple[Any, ...]:
    values = {"recipient": ZERO_ADDRESS, "face_value": 0, "win_prob": 0, "nonce": 0, "rand_hash": bytes(32), "aux": b""}
    values.update(fields)
    return (
        values["recipient"],
        ZERO_ADDRESS,
        values["face_value"],
        values["win_prob"],
        values["nonce"],
        values["rand_hash"],
        values["aux"],
    )


WORKED_EXAMPLE = (
    RECIPIENT,
    SENDER,
    10**15,
    (2**256 - 1) // 100,
    1,
    rand_hash(123456789),
    aux_data(3500, BLOCK_HASH),
)
WORKED_EXAMPLE_HASH = "08060942eb69fa25047b3a0ad9269f871d8c7b3fb9d736c26070333374edc43b"
WORKED_EXAMPLE_SIG = (
    "9a24b77a614937ce78528fa07f5488f73d6fbc047fc245e19c04f0d9a143f6ae"
    "1df2c0956c4f86fcdb5636be370f319d6dbb4b7c08e76840d63c2409b27a32061c"
)


@pytest.mark.parametrize(("fields", "expected"), HASH_VECTORS, ids=[expected[:8] for _, expected in HASH_VECTORS])
def test_get_ticket_hash_matches_go_livepeer_vectors(
    module_chain: BrokerChain, fields: dict[str, Any], expected: str
) -> None:
    ticket = _vector_ticket(fields)
    assert module_chain.broker.functions.getTicketHash(ticket).call().hex() == expected
    assert ticket_hash(ticket).hex() == expected


def test_worked_example_hash_and_signature(module_chain: BrokerChain) -> None:
    assert WORKED_EXAMPLE[5].hex() == "f395757e0d74803aae4e8adb875451d99622e911b61c64e044e0bd16a16f18cd"
    on_chain = module_chain.broker.functions.getTicketHash(WORKED_EXAMPLE).call()
    assert on_chain.hex() == WORKED_EXAMPLE_HASH
    assert personal_sign(on_chain, SENDER_KEY).hex() == WORKED_EXAMPLE_SIG


def test_personal_signed_ticket_from_the_0x11_key_redeems_and_pays(chain: BrokerChain) -> None:
    chain.fund(ETHER, 0)
    redemption = chain.ticket(10**15, nonce=1)
    assert redemption.ticket[1] == SENDER
    assert chain.broker.functions.getTicketHash(redemption.ticket).call() == redemption.hash
    assert redemption.sig[64] in (27, 28)
    chain.redeem(redemption)
    assert chain.balance(redemption.ticket[0]) == 10**15
