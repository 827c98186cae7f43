"""Every test vector of spec 01 (and the signature vectors of spec 02), on both cores."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from tests.pm.conftest import hex_bytes

KECCAK_EMPTY = "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
SHA3_256_EMPTY = "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"


def ticket_args(ticket: dict[str, Any]) -> tuple[Any, ...]:
    return (
        hex_bytes(ticket["recipient"]),
        hex_bytes(ticket["sender"]),
        ticket["face_value"],
        ticket["win_prob"],
        ticket["nonce"],
        hex_bytes(ticket["recipient_rand_hash"]),
        ticket["creation_round"],
        hex_bytes(ticket["creation_round_block_hash"]),
    )


def test_keccak256_is_original_keccak_not_sha3(core: ModuleType) -> None:
    assert core.keccak256(b"").hex() == KECCAK_EMPTY
    assert core.keccak256(b"").hex() != SHA3_256_EMPTY


def test_every_ticket_hash_vector(core: ModuleType, vectors: dict[str, Any]) -> None:
    assert len(vectors["ticket_hashes"]) >= 7
    for case in vectors["ticket_hashes"]:
        digest = core.ticket_hash(*ticket_args(case["ticket"]))
        assert digest == hex_bytes(case["ticket_hash"]), case["case"]


def test_worked_example(core: ModuleType, vectors: dict[str, Any]) -> None:
    example = vectors["worked_example"]
    key = hex_bytes(example["private_key"])
    ticket = example["ticket"]
    address = hex_bytes(example["address"])
    assert core.private_key_to_address(key) == address
    assert core.keccak256(example["recipient_rand"].to_bytes(32, "big")) == hex_bytes(
        ticket["recipient_rand_hash"]
    )
    digest = core.ticket_hash(*ticket_args(ticket))
    assert digest == hex_bytes(example["ticket_hash"])
    signature = core.personal_sign(key, digest)
    assert signature == hex_bytes(example["signature"])
    assert signature[64] == 28
    assert core.recover_personal_signer(digest, signature) == address
    win_keccak = core.keccak256(signature + example["recipient_rand"].to_bytes(32, "big"))
    assert win_keccak == hex_bytes(example["win_keccak"])
    assert core.is_winning_ticket(signature, example["recipient_rand"], ticket["win_prob"]) is False
    assert example["wins"] is False


def test_worked_example_as_a_batch(core: ModuleType, vectors: dict[str, Any]) -> None:
    example = vectors["worked_example"]
    recipient, sender, face_value, win_prob, nonce, rand_hash, round_, block_hash = ticket_args(
        example["ticket"]
    )
    batch = core.sign_ticket_batch(
        hex_bytes(example["private_key"]),
        recipient,
        sender,
        face_value,
        win_prob,
        rand_hash,
        round_,
        block_hash,
        nonce,
        3,
    )
    assert batch[0] == (hex_bytes(example["ticket_hash"]), hex_bytes(example["signature"]))
    for offset, (digest, signature) in enumerate(batch):
        expected = core.ticket_hash(
            recipient, sender, face_value, win_prob, nonce + offset, rand_hash, round_, block_hash
        )
        assert digest == expected
        assert core.recover_personal_signer(digest, signature) == sender


def test_the_win_check_is_strictly_less_than(core: ModuleType, vectors: dict[str, Any]) -> None:
    example = vectors["worked_example"]
    signature = hex_bytes(example["signature"])
    rand = example["recipient_rand"]
    threshold = int.from_bytes(hex_bytes(example["win_keccak"]), "big")
    assert core.is_winning_ticket(signature, rand, threshold) is False
    assert core.is_winning_ticket(signature, rand, threshold + 1) is True
    assert core.is_winning_ticket(signature, rand, (1 << 256) - 1) is True


def test_orchestrator_info_signature(core: ModuleType, vectors: dict[str, Any]) -> None:
    vector = vectors["orchestrator_info_signature"]
    message = core.keccak256(vector["address"].encode("ascii"))
    signature = core.personal_sign(hex_bytes(vector["private_key"]), message)
    assert signature == hex_bytes(vector["signature"])


def test_segment_credentials_signature(core: ModuleType, vectors: dict[str, Any]) -> None:
    vector = vectors["segment_credentials"]
    preimage = vector["manifest_id"].encode() + bytes(32) + bytes.fromhex(KECCAK_EMPTY)
    assert preimage == hex_bytes(vector["signed_preimage"])
    signature = core.personal_sign(hex_bytes(vector["private_key"]), core.keccak256(preimage))
    assert signature == hex_bytes(vector["signature"])


def test_state_blob_signature_uses_decimal_length_prefix(
    core: ModuleType, vectors: dict[str, Any]
) -> None:
    vector = vectors["state_blob_signature"]
    message = vector["state_json"].encode()
    key = hex_bytes(vector["private_key"])
    assert core.personal_sign(key, message) == hex_bytes(vector["signature"])
    assert core.recover_personal_signer(message, hex_bytes(vector["signature"])) == (
        core.private_key_to_address(key)
    )


def test_personal_sign_verification_vector(core: ModuleType, vectors: dict[str, Any]) -> None:
    vector = vectors["personal_sign_verify"]
    message = hex_bytes(vector["message_hash"])
    signature = hex_bytes(vector["signature"])
    address = hex_bytes(vector["address"])
    assert signature[64] == 0x1C
    assert core.recover_personal_signer(message, signature) == address
    assert core.verify_personal_signature(message, signature, address) is True
    assert core.verify_personal_signature(message, signature, bytes(20)) is False


@pytest.mark.parametrize(
    ("creation_round", "block_hash", "preimage_bytes"),
    [
        (0, bytes(32), 168),
        (0, b"\x01" + bytes(31), 232),
        (7, bytes(32), 232),
        (7, b"\x01" * 32, 232),
    ],
)
def test_aux_data_is_empty_only_for_round_zero_with_zero_hash(
    core: ModuleType, creation_round: int, block_hash: bytes, preimage_bytes: int
) -> None:
    recipient, sender, rand_hash = b"\x0a" * 20, b"\x0b" * 20, b"\x0c" * 32
    fields = recipient + sender + (5).to_bytes(32, "big") + (6).to_bytes(32, "big")
    fields += (9).to_bytes(32, "big") + rand_hash
    if preimage_bytes == 232:
        fields += creation_round.to_bytes(32, "big") + block_hash
    assert len(fields) == preimage_bytes
    digest = core.ticket_hash(recipient, sender, 5, 6, 9, rand_hash, creation_round, block_hash)
    assert digest == core.keccak256(fields)
