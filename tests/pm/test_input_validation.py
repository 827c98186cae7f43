"""Bad arguments give a clear TypeError/ValueError, identical on both cores, before any signing."""

from __future__ import annotations

import re
from types import ModuleType
from typing import Any

import pytest

from clearinghouse.domain.limits import PERSONAL_MESSAGE_BYTES_MAX, TICKETS_PER_BATCH_MAX

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KEY = b"\x11" * 32
TICKET = {
    "recipient": b"\x01" * 20,
    "sender": b"\x02" * 20,
    "face_value": 10**15,
    "win_prob": 2**255,
    "nonce": 1,
    "recipient_rand_hash": b"\x03" * 32,
    "creation_round": 3500,
    "creation_round_block_hash": b"\x04" * 32,
}
BATCH = (
    {"private_key": KEY}
    | {k: v for k, v in TICKET.items() if k != "nonce"}
    | {"first_nonce": 1, "count": 2}
)
A_SIGNATURE = (
    bytes.fromhex(
        "9a24b77a614937ce78528fa07f5488f73d6fbc047fc245e19c04f0d9a143f6ae"
        "1df2c0956c4f86fcdb5636be370f319d6dbb4b7c08e76840d63c2409b27a3206"
    )
    + b"\x1c"
)

TICKET_CASES: list[tuple[str, Any, type[Exception], str]] = [
    ("recipient", b"\x01" * 19, ValueError, "recipient must be 20 bytes, got 19"),
    ("recipient", "0x" + "01" * 20, TypeError, "recipient must be bytes, got str"),
    ("sender", b"\x02" * 21, ValueError, "sender must be 20 bytes, got 21"),
    ("face_value", -1, ValueError, "face_value must be in [0, 2**256-1], got -1"),
    ("face_value", 1 << 256, ValueError, "face_value must be in [0, 2**256-1]"),
    ("face_value", 1.0, TypeError, "face_value must be an int, got float"),
    ("face_value", True, TypeError, "face_value must be an int, got bool"),
    ("win_prob", (1 << 256) + 5, ValueError, "win_prob must be in [0, 2**256-1]"),
    ("nonce", 1 << 32, ValueError, "nonce must be in [0, 2**32-1], got 4294967296"),
    ("nonce", -1, ValueError, "nonce must be in [0, 2**32-1], got -1"),
    (
        "recipient_rand_hash",
        b"\x03" * 31,
        ValueError,
        "recipient_rand_hash must be 32 bytes, got 31",
    ),
    ("creation_round", -3, ValueError, "creation_round must be in [0, 2**63-1], got -3"),
    ("creation_round", 1 << 63, ValueError, "creation_round must be in [0, 2**63-1]"),
    (
        "creation_round_block_hash",
        b"",
        ValueError,
        "creation_round_block_hash must be 32 bytes, got 0",
    ),
    (
        "creation_round_block_hash",
        bytearray(32),
        TypeError,
        "creation_round_block_hash must be bytes, got bytearray",
    ),
]

BATCH_CASES: list[tuple[str, Any, type[Exception], str]] = [
    ("private_key", bytes(32), ValueError, "private_key is not a valid secp256k1 secret key"),
    (
        "private_key",
        N.to_bytes(32, "big"),
        ValueError,
        "private_key is not a valid secp256k1 secret key",
    ),
    ("private_key", b"\x11" * 31, ValueError, "private_key must be 32 bytes, got 31"),
    ("first_nonce", 1 << 32, ValueError, "first_nonce must be in [0, 2**32-1]"),
    ("count", 0, ValueError, f"count must be in [1, {TICKETS_PER_BATCH_MAX}], got 0"),
    (
        "count",
        TICKETS_PER_BATCH_MAX + 1,
        ValueError,
        f"count must be in [1, {TICKETS_PER_BATCH_MAX}]",
    ),
    ("count", "3", TypeError, "count must be an int, got str"),
]


def raised(call: Any) -> tuple[type[Exception], str]:
    with pytest.raises((TypeError, ValueError)) as info:
        call()
    return type(info.value), str(info.value)


@pytest.mark.parametrize(("field", "value", "error", "message"), TICKET_CASES)
def test_ticket_hash_rejects(
    core: ModuleType, field: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=f"^{re.escape(message)}"):
        core.ticket_hash(**(TICKET | {field: value}))


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [case for case in TICKET_CASES if case[0] != "nonce"] + BATCH_CASES,
)
def test_sign_ticket_batch_rejects(
    core: ModuleType, field: str, value: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as info:
        core.sign_ticket_batch(**(BATCH | {field: value}))
    assert str(info.value).startswith(message)


def test_batch_cannot_run_past_the_last_nonce(core: ModuleType) -> None:
    last = (1 << 32) - 1
    assert len(core.sign_ticket_batch(**(BATCH | {"first_nonce": last - 1, "count": 2}))) == 2
    with pytest.raises(ValueError, match=r"at most 2\*\*32-1, got 4294967296"):
        core.sign_ticket_batch(**(BATCH | {"first_nonce": last - 1, "count": 3}))


def test_both_cores_raise_identically(reference_core: ModuleType, native_core: ModuleType) -> None:
    for field, value, _, _ in TICKET_CASES:
        args = TICKET | {field: value}
        assert raised(lambda: reference_core.ticket_hash(**args)) == raised(
            lambda: native_core.ticket_hash(**args)
        ), field
    for field, value, _, _ in TICKET_CASES[:-1] + BATCH_CASES:
        if field == "nonce":
            continue
        args = BATCH | {field: value}
        assert raised(lambda: reference_core.sign_ticket_batch(**args)) == raised(
            lambda: native_core.sign_ticket_batch(**args)
        ), field


def test_personal_sign_limits(core: ModuleType) -> None:
    assert len(core.personal_sign(KEY, b"")) == 65
    assert len(core.personal_sign(KEY, b"x" * PERSONAL_MESSAGE_BYTES_MAX)) == 65
    with pytest.raises(ValueError, match=f"at most {PERSONAL_MESSAGE_BYTES_MAX} bytes"):
        core.personal_sign(KEY, b"x" * (PERSONAL_MESSAGE_BYTES_MAX + 1))
    with pytest.raises(TypeError, match="message must be bytes, got str"):
        core.personal_sign(KEY, "hello")
    with pytest.raises(ValueError, match="not a valid secp256k1 secret key"):
        core.personal_sign((N + 1).to_bytes(32, "big"), b"m")


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        (A_SIGNATURE[:64], "signature must be 65 bytes, got 64"),
        (A_SIGNATURE[:64] + b"\x01", "signature v must be 27 or 28, got 1"),
        (A_SIGNATURE[:64] + b"\x00", "signature v must be 27 or 28, got 0"),
        (bytes(32) + A_SIGNATURE[32:], "signature r and s must be in [1, n-1]"),
        (
            A_SIGNATURE[:32] + N.to_bytes(32, "big") + b"\x1b",
            "signature r and s must be in [1, n-1]",
        ),
        (
            A_SIGNATURE[:32]
            + (N - int.from_bytes(A_SIGNATURE[32:64], "big")).to_bytes(32, "big")
            + b"\x1b",
            "signature s is in the upper half of the curve order (high-s)",
        ),
    ],
)
def test_recover_rejects_what_the_contract_rejects(
    core: ModuleType, signature: bytes, message: str
) -> None:
    digest = b"\x05" * 32
    with pytest.raises(ValueError) as info:
        core.recover_personal_signer(digest, signature)
    assert str(info.value).startswith(message)
    assert core.verify_personal_signature(digest, signature, b"\x19" * 20) is False


def test_verify_checks_its_own_argument_types(core: ModuleType) -> None:
    with pytest.raises(ValueError, match="address must be 20 bytes, got 19"):
        core.verify_personal_signature(b"m", A_SIGNATURE, b"\x01" * 19)
    with pytest.raises(TypeError, match="signature must be bytes, got str"):
        core.verify_personal_signature(b"m", A_SIGNATURE.hex(), b"\x01" * 20)


def test_win_check_rejects_out_of_range(core: ModuleType) -> None:
    with pytest.raises(ValueError, match=r"recipient_rand must be in \[0, 2\*\*256-1\]"):
        core.is_winning_ticket(A_SIGNATURE, -1, 5)
    with pytest.raises(ValueError, match=r"win_prob must be in \[0, 2\*\*256-1\]"):
        core.is_winning_ticket(A_SIGNATURE, 5, 1 << 256)
    with pytest.raises(ValueError, match="signature must be 65 bytes, got 64"):
        core.is_winning_ticket(A_SIGNATURE[:64], 5, 5)
