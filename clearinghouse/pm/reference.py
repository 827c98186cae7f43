"""Pure-Python reference of the ticket core: the readable specification of ``_native``.

Same functions, argument types, limits, exceptions and messages as the Cython module
(native/ticket_core.pyx); property tests pin the two together. Built on pycryptodome's
keccak and eth-account's EIP-191 signing, which the spec names as the reference. It is what
the package runs when CLEARINGHOUSE_NO_EXTENSIONS=1, and about 10x slower than the native core.
"""

from __future__ import annotations

from Crypto.Hash import keccak
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature

from clearinghouse.domain.limits import (
    PERSONAL_MESSAGE_BYTES_MAX,
    TICKETS_PER_BATCH_MAX,
)
from clearinghouse.domain.money import ADDRESS_BYTES, HASH_BYTES
from clearinghouse.domain.tickets import SENDER_NONCE_UINT32_MAX
from clearinghouse.errors import InvariantViolation

IMPLEMENTATION = "reference"

UINT256_MAX = (1 << 256) - 1
CREATION_ROUND_MAX = (1 << 63) - 1
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SIGNATURE_BYTES = 65
_EMPTY_HASH = bytes(HASH_BYTES)


def _check_bytes(name: str, value: object, length: int) -> bytes:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(value)}")
    return value


def _check_int(name: str, value: object, maximum: int, maximum_label: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0 or value > maximum:
        raise ValueError(f"{name} must be in [0, {maximum_label}], got {value}")
    return value


def _uint256_word(name: str, value: object) -> bytes:
    return _check_int(name, value, UINT256_MAX, "2**256-1").to_bytes(32, "big")


def _check_count(count: object) -> int:
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, got {type(count).__name__}")
    if count < 1 or count > TICKETS_PER_BATCH_MAX:
        raise ValueError(f"count must be in [1, {TICKETS_PER_BATCH_MAX}], got {count}")
    return count


def _check_private_key(private_key: object) -> bytes:
    key = _check_bytes("private_key", private_key, 32)
    if not 1 <= int.from_bytes(key, "big") < SECP256K1_ORDER:
        raise ValueError("private_key is not a valid secp256k1 secret key (must be in [1, n-1])")
    return key


def _check_message(message: object) -> bytes:
    if not isinstance(message, bytes):
        raise TypeError(f"message must be bytes, got {type(message).__name__}")
    if len(message) > PERSONAL_MESSAGE_BYTES_MAX:
        raise ValueError(
            f"message must be at most {PERSONAL_MESSAGE_BYTES_MAX} bytes, got {len(message)}"
        )
    return message


def _check_signature(signature: object) -> bytes:
    sig = _check_bytes("signature", signature, SIGNATURE_BYTES)
    if sig[64] not in (27, 28):
        raise ValueError(f"signature v must be 27 or 28, got {sig[64]}")
    r = int.from_bytes(sig[0:32], "big")
    s = int.from_bytes(sig[32:64], "big")
    if r == 0 or s == 0 or r >= SECP256K1_ORDER or s >= SECP256K1_ORDER:
        raise ValueError("signature r and s must be in [1, n-1]")
    if s > SECP256K1_ORDER // 2:
        raise ValueError(
            "signature s is in the upper half of the curve order (high-s); only low-s is valid"
        )
    return sig


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's, pad byte 0x01) of ``data`` (bytes). TypeError if not bytes."""
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    return keccak.new(digest_bits=256, data=data).digest()


def _ticket_preimage(
    recipient: bytes,
    sender: bytes,
    face_value: int,
    win_prob: int,
    nonce_name: str,
    nonce: int,
    recipient_rand_hash: bytes,
    creation_round: int,
    creation_round_block_hash: bytes,
) -> bytes:
    fields = [
        _check_bytes("recipient", recipient, ADDRESS_BYTES),
        _check_bytes("sender", sender, ADDRESS_BYTES),
        _uint256_word("face_value", face_value),
        _uint256_word("win_prob", win_prob),
        _check_int(nonce_name, nonce, SENDER_NONCE_UINT32_MAX, "2**32-1").to_bytes(32, "big"),
        _check_bytes("recipient_rand_hash", recipient_rand_hash, HASH_BYTES),
    ]
    _check_int("creation_round", creation_round, CREATION_ROUND_MAX, "2**63-1")
    _check_bytes("creation_round_block_hash", creation_round_block_hash, HASH_BYTES)
    # auxData is empty only for round 0 with an all-zero block hash (spec 01).
    if creation_round != 0 or creation_round_block_hash != _EMPTY_HASH:
        fields += [creation_round.to_bytes(32, "big"), creation_round_block_hash]
    return b"".join(fields)


def ticket_hash(
    recipient: bytes,
    sender: bytes,
    face_value: int,
    win_prob: int,
    nonce: int,
    recipient_rand_hash: bytes,
    creation_round: int,
    creation_round_block_hash: bytes,
) -> bytes:
    """The TicketBroker ticket hash: keccak256 of the packed ticket fields (spec 01).

    Bytes arguments must have their exact lengths (addresses 20, hashes 32); face_value and
    win_prob are ints in [0, 2**256-1], nonce in [0, 2**32-1], creation_round in [0, 2**63-1].
    Raises TypeError for a wrong type and ValueError for a wrong length or range.
    """
    return keccak256(
        _ticket_preimage(
            recipient, sender, face_value, win_prob, "nonce", nonce,
            recipient_rand_hash, creation_round, creation_round_block_hash,
        )
    )


def _sign(private_key: bytes, message: bytes) -> bytes:
    signed = Account.sign_message(encode_defunct(primitive=message), private_key)
    signature = bytes(signed.signature)
    if len(signature) != SIGNATURE_BYTES or signature[64] not in (27, 28):
        raise InvariantViolation("eth-account returned a signature outside r || s || v(27|28)")
    return signature


def personal_sign(private_key: bytes, message: bytes) -> bytes:
    """EIP-191 personal-sign: sign keccak256("\\x19Ethereum Signed Message:\\n" + len + message).

    Returns 65 bytes r || s || v with v in {27, 28}, low-s, RFC 6979 nonces.
    Raises ValueError for an invalid key or a message over PERSONAL_MESSAGE_BYTES_MAX bytes.
    """
    key = _check_private_key(private_key)
    return _sign(key, _check_message(message))


def sign_ticket_batch(
    private_key: bytes,
    recipient: bytes,
    sender: bytes,
    face_value: int,
    win_prob: int,
    recipient_rand_hash: bytes,
    creation_round: int,
    creation_round_block_hash: bytes,
    first_nonce: int,
    count: int,
) -> list[tuple[bytes, bytes]]:
    """Signs ``count`` tickets sharing every field but the nonce, nonces first_nonce, +1, ...

    Returns a list of ``(ticket_hash, signature)`` pairs in nonce order, each signature the
    personal-sign of its ticket hash. ``count`` must be in [1, TICKETS_PER_BATCH_MAX] and the
    last nonce at most 2**32-1. Raises TypeError/ValueError before signing anything.
    """
    key = _check_private_key(private_key)
    _ticket_preimage(
        recipient, sender, face_value, win_prob, "first_nonce", first_nonce,
        recipient_rand_hash, creation_round, creation_round_block_hash,
    )
    _check_count(count)
    if first_nonce + count - 1 > SENDER_NONCE_UINT32_MAX:
        raise ValueError(
            "last nonce (first_nonce + count - 1) must be at most 2**32-1, "
            f"got {first_nonce + count - 1}"
        )
    batch = []
    for nonce in range(first_nonce, first_nonce + count):
        digest = ticket_hash(
            recipient, sender, face_value, win_prob, nonce,
            recipient_rand_hash, creation_round, creation_round_block_hash,
        )
        batch.append((digest, _sign(key, digest)))
    return batch


def private_key_to_address(private_key: bytes) -> bytes:
    """The 20-byte Ethereum address of a 32-byte secp256k1 secret key. ValueError if invalid."""
    key = _check_private_key(private_key)
    return bytes.fromhex(Account.from_key(key).address[2:])


def recover_personal_signer(message: bytes, signature: bytes) -> bytes:
    """The 20-byte address whose key made ``signature`` (a personal-sign) over ``message``.

    Accepts only what the TicketBroker accepts: 65 bytes, v in {27, 28}, r and s in [1, n-1],
    low-s. Raises ValueError naming the defect otherwise, or when no key recovers.
    """
    _check_message(message)
    _check_signature(signature)
    try:
        address = Account.recover_message(encode_defunct(primitive=message), signature=signature)
    except BadSignature as exc:
        raise ValueError("signature does not recover to a public key") from exc
    return bytes.fromhex(address[2:])


def verify_personal_signature(message: bytes, signature: bytes, address: bytes) -> bool:
    """True when ``signature`` is a valid personal-sign of ``message`` by ``address``.

    A malformed or high-s signature, or one by another key, gives False. Raises TypeError or
    ValueError only for a wrongly typed message, signature or address, or a wrong address length.
    """
    _check_bytes("address", address, ADDRESS_BYTES)
    if not isinstance(signature, bytes):
        raise TypeError(f"signature must be bytes, got {type(signature).__name__}")
    _check_message(message)
    try:
        return recover_personal_signer(message, signature) == address
    except ValueError:
        return False


def is_winning_ticket(signature: bytes, recipient_rand: int, win_prob: int) -> bool:
    """The win check of the TicketBroker: keccak256(sig || leftpad32(rand)) < win_prob.

    ``signature`` is the 65-byte ticket signature, ``recipient_rand`` and ``win_prob`` ints in
    [0, 2**256-1]. Raises TypeError/ValueError for wrong types, lengths or ranges.
    """
    sig = _check_bytes("signature", signature, SIGNATURE_BYTES)
    rand_word = _uint256_word("recipient_rand", recipient_rand)
    _check_int("win_prob", win_prob, UINT256_MAX, "2**256-1")
    return int.from_bytes(keccak256(sig + rand_word), "big") < win_prob
