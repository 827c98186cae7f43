# cython: language_level=3
"""Native ticket core: keccak-256, PM ticket hashes and EIP-191 personal signatures.

Built as ``clearinghouse.pm._native``. Its functions, argument types, limits, exceptions and
messages are those of ``clearinghouse.pm.reference``; tests pin the two together.

Every function validates and copies its inputs into C buffers while holding the GIL, runs the
hashing and signing ``with nogil`` (so batches on two threads use two cores), and only then
builds Python objects. libsecp256k1 is called through function pointers taken from coincurve's
bundled build (see native/secp256k1_abi.h for why).
"""

import os

from libc.stdint cimport uint8_t, uint32_t, uintptr_t
from libc.string cimport memcmp, memcpy, memset
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

from clearinghouse.errors import InvariantViolation
from clearinghouse.limits import PERSONAL_MESSAGE_BYTES_MAX, TICKETS_PER_BATCH_MAX

IMPLEMENTATION = "native"

cdef extern from "keccak.h" nogil:
    void ch_keccak256(const uint8_t *data, size_t length, uint8_t *out) noexcept

cdef extern from "secp256k1_abi.h" nogil:
    ctypedef struct secp256k1_context:
        pass
    ctypedef struct secp256k1_pubkey:
        unsigned char data[64]
    ctypedef struct secp256k1_ecdsa_recoverable_signature:
        unsigned char data[65]
    ctypedef secp256k1_context *(*ch_context_create_fn)(unsigned int) noexcept nogil
    ctypedef int (*ch_context_randomize_fn)(secp256k1_context *, const unsigned char *) noexcept nogil
    ctypedef int (*ch_seckey_verify_fn)(const secp256k1_context *, const unsigned char *) noexcept nogil
    ctypedef int (*ch_pubkey_create_fn)(
        const secp256k1_context *, secp256k1_pubkey *, const unsigned char *) noexcept nogil
    ctypedef int (*ch_pubkey_serialize_fn)(
        const secp256k1_context *, unsigned char *, size_t *, const secp256k1_pubkey *,
        unsigned int) noexcept nogil
    ctypedef int (*ch_sign_recoverable_fn)(
        const secp256k1_context *, secp256k1_ecdsa_recoverable_signature *, const unsigned char *,
        const unsigned char *, void *, const void *) noexcept nogil
    ctypedef int (*ch_recoverable_serialize_fn)(
        const secp256k1_context *, unsigned char *, int *,
        const secp256k1_ecdsa_recoverable_signature *) noexcept nogil
    ctypedef int (*ch_recoverable_parse_fn)(
        const secp256k1_context *, secp256k1_ecdsa_recoverable_signature *, const unsigned char *,
        int) noexcept nogil
    ctypedef int (*ch_recover_fn)(
        const secp256k1_context *, secp256k1_pubkey *,
        const secp256k1_ecdsa_recoverable_signature *, const unsigned char *) noexcept nogil

# Protocol facts (spec 01): field widths and the secp256k1 group order.
cdef object UINT256_MAX = (1 << 256) - 1
cdef object SENDER_NONCE_UINT32_MAX = (1 << 32) - 1
cdef object CREATION_ROUND_MAX = (1 << 63) - 1
cdef object SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

cdef enum:
    ADDRESS_BYTES = 20
    HASH_BYTES = 32
    SIGNATURE_BYTES = 65
    TICKET_FIELDS_BYTES = 168
    TICKET_PREIMAGE_BYTES = 232  # the fields + 64 bytes of auxData
    NONCE_LOW_OFFSET = 132  # last 4 bytes of the 32-byte senderNonce word at offset 104
    BATCH_ENTRY_BYTES = 97  # ticket hash (32) followed by signature (65)
    PERSONAL_PREFIX_BYTES = 26

cdef const char *PERSONAL_PREFIX = b"\x19Ethereum Signed Message:\n"
# s must be at most n/2 (low-s); the contract rejects the rest.
cdef bytes HALF_ORDER = (SECP256K1_ORDER // 2).to_bytes(32, "big")

cdef secp256k1_context *_context = NULL
cdef ch_seckey_verify_fn _seckey_verify = NULL
cdef ch_pubkey_create_fn _pubkey_create = NULL
cdef ch_pubkey_serialize_fn _pubkey_serialize = NULL
cdef ch_sign_recoverable_fn _sign_recoverable = NULL
cdef ch_recoverable_serialize_fn _signature_serialize = NULL
cdef ch_recoverable_parse_fn _signature_parse = NULL
cdef ch_recover_fn _recover = NULL
cdef unsigned int _uncompressed_flag = 0

# The C type cffi reports for each function we bind; a different libsecp256k1 API in a future
# coincurve must fail the import, not corrupt memory.
_EXPECTED_TYPES = {
    "secp256k1_context_create": "struct secp256k1_context_struct *(*)(unsigned int)",
    "secp256k1_context_randomize": "int(*)(struct secp256k1_context_struct *, unsigned char *)",
    "secp256k1_ec_seckey_verify": "int(*)(struct secp256k1_context_struct *, unsigned char *)",
    "secp256k1_ec_pubkey_create":
        "int(*)(struct secp256k1_context_struct *, struct secp256k1_pubkey *, unsigned char *)",
    "secp256k1_ec_pubkey_serialize":
        "int(*)(struct secp256k1_context_struct *, unsigned char *, size_t *, "
        "struct secp256k1_pubkey *, unsigned int)",
    "secp256k1_ecdsa_sign_recoverable":
        "int(*)(struct secp256k1_context_struct *, struct secp256k1_ecdsa_recoverable_signature *, "
        "unsigned char *, unsigned char *, int(*)(unsigned char *, unsigned char *, "
        "unsigned char *, unsigned char *, void *, unsigned int), void *)",
    "secp256k1_ecdsa_recoverable_signature_serialize_compact":
        "int(*)(struct secp256k1_context_struct *, unsigned char *, int *, "
        "struct secp256k1_ecdsa_recoverable_signature *)",
    "secp256k1_ecdsa_recoverable_signature_parse_compact":
        "int(*)(struct secp256k1_context_struct *, struct secp256k1_ecdsa_recoverable_signature *, "
        "unsigned char *, int)",
    "secp256k1_ecdsa_recover":
        "int(*)(struct secp256k1_context_struct *, struct secp256k1_pubkey *, "
        "struct secp256k1_ecdsa_recoverable_signature *, unsigned char *)",
}


cdef uintptr_t _address_of(object ffi, object lib, str name) except 0:
    pointer = ffi.addressof(lib, name)
    actual = ffi.getctype(ffi.typeof(pointer))
    if actual != _EXPECTED_TYPES[name]:
        raise ImportError(
            f"coincurve's libsecp256k1 {name} has type {actual!r}, "
            f"expected {_EXPECTED_TYPES[name]!r}"
        )
    return <uintptr_t>int(ffi.cast("uintptr_t", pointer))


cdef void _bind_libsecp256k1() except *:
    global _context, _seckey_verify, _pubkey_create, _pubkey_serialize, _sign_recoverable
    global _signature_serialize, _signature_parse, _recover, _uncompressed_flag
    from coincurve._libsecp256k1 import ffi, lib

    if ffi.sizeof("secp256k1_pubkey") != 64 or ffi.sizeof("secp256k1_ecdsa_recoverable_signature") != 65:
        raise ImportError("coincurve's libsecp256k1 struct sizes differ from the ones the core expects")
    cdef ch_context_create_fn create = <ch_context_create_fn>_address_of(ffi, lib, "secp256k1_context_create")
    cdef ch_context_randomize_fn randomize = <ch_context_randomize_fn>_address_of(
        ffi, lib, "secp256k1_context_randomize")
    _seckey_verify = <ch_seckey_verify_fn>_address_of(ffi, lib, "secp256k1_ec_seckey_verify")
    _pubkey_create = <ch_pubkey_create_fn>_address_of(ffi, lib, "secp256k1_ec_pubkey_create")
    _pubkey_serialize = <ch_pubkey_serialize_fn>_address_of(ffi, lib, "secp256k1_ec_pubkey_serialize")
    _sign_recoverable = <ch_sign_recoverable_fn>_address_of(ffi, lib, "secp256k1_ecdsa_sign_recoverable")
    _signature_serialize = <ch_recoverable_serialize_fn>_address_of(
        ffi, lib, "secp256k1_ecdsa_recoverable_signature_serialize_compact")
    _signature_parse = <ch_recoverable_parse_fn>_address_of(
        ffi, lib, "secp256k1_ecdsa_recoverable_signature_parse_compact")
    _recover = <ch_recover_fn>_address_of(ffi, lib, "secp256k1_ecdsa_recover")
    _uncompressed_flag = lib.SECP256K1_EC_UNCOMPRESSED

    # One context for the process: after randomization it is only read, which libsecp256k1
    # documents as safe from any number of threads. Randomization blinds signing against
    # timing and power side channels; it does not change the (RFC 6979) signatures.
    _context = create(lib.SECP256K1_CONTEXT_NONE)
    if _context == NULL:
        raise ImportError("secp256k1_context_create returned NULL")
    cdef bytes seed = os.urandom(32)
    if not randomize(_context, <const unsigned char *>PyBytes_AS_STRING(seed)):
        raise ImportError("secp256k1_context_randomize failed")


_bind_libsecp256k1()


# ---- argument checks (same order and messages as clearinghouse.pm.reference) ----

cdef int _check_bytes(str name, object value, Py_ssize_t length) except -1:
    if not isinstance(value, bytes):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    if len(<bytes>value) != length:
        raise ValueError(f"{name} must be {length} bytes, got {len(<bytes>value)}")
    return 0


cdef int _check_int(str name, object value, object maximum, str maximum_label) except -1:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 0 or value > maximum:
        raise ValueError(f"{name} must be in [0, {maximum_label}], got {value}")
    return 0


cdef bytes _uint256_word(str name, object value):
    _check_int(name, value, UINT256_MAX, "2**256-1")
    return (<object>value).to_bytes(32, "big")


cdef int _check_count(object count) except -1:
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, got {type(count).__name__}")
    if count < 1 or count > TICKETS_PER_BATCH_MAX:
        raise ValueError(f"count must be in [1, {TICKETS_PER_BATCH_MAX}], got {count}")
    return 0


cdef int _check_private_key(object private_key) except -1:
    _check_bytes("private_key", private_key, 32)
    if not _seckey_verify(_context, <const unsigned char *>PyBytes_AS_STRING(private_key)):
        raise ValueError("private_key is not a valid secp256k1 secret key (must be in [1, n-1])")
    return 0


cdef int _check_message(object message) except -1:
    if not isinstance(message, bytes):
        raise TypeError(f"message must be bytes, got {type(message).__name__}")
    if len(<bytes>message) > PERSONAL_MESSAGE_BYTES_MAX:
        raise ValueError(
            f"message must be at most {PERSONAL_MESSAGE_BYTES_MAX} bytes, got {len(<bytes>message)}"
        )
    return 0


cdef int _check_signature(object signature) except -1:
    _check_bytes("signature", signature, SIGNATURE_BYTES)
    cdef const unsigned char *sig = <const unsigned char *>PyBytes_AS_STRING(signature)
    if sig[64] != 27 and sig[64] != 28:
        raise ValueError(f"signature v must be 27 or 28, got {sig[64]}")
    r = int.from_bytes(signature[0:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    if r == 0 or s == 0 or r >= SECP256K1_ORDER or s >= SECP256K1_ORDER:
        raise ValueError("signature r and s must be in [1, n-1]")
    if memcmp(sig + 32, PyBytes_AS_STRING(HALF_ORDER), 32) > 0:
        raise ValueError("signature s is in the upper half of the curve order (high-s); only low-s is valid")
    return 0


# ---- C kernels (no Python objects, callable without the GIL) ----

cdef int _sign_prehashed(const uint8_t *key, const uint8_t *digest, uint8_t *out) noexcept nogil:
    """Signs a 32-byte digest into out[65] = r || s || v (v = 27 + recid); 0 on failure."""
    cdef secp256k1_ecdsa_recoverable_signature signature
    cdef int recid = 0
    # NULL nonce function = libsecp256k1's default, RFC 6979; its signatures are always low-s.
    if not _sign_recoverable(_context, &signature, digest, key, NULL, NULL):
        return 0
    if not _signature_serialize(_context, out, &recid, &signature):
        return 0
    # recid 2 or 3 needs r >= n, probability ~2^-127, and has no v in {27, 28}.
    if recid > 1:
        return 0
    out[64] = <uint8_t>(27 + recid)
    return 1


cdef int _personal_sign_hash(const uint8_t *key, const uint8_t *hash32, uint8_t *out) noexcept nogil:
    """EIP-191 personal-sign of a 32-byte message (prefix "...Message:\\n32")."""
    cdef uint8_t prefixed[PERSONAL_PREFIX_BYTES + 2 + HASH_BYTES]
    cdef uint8_t digest[HASH_BYTES]
    memcpy(prefixed, PERSONAL_PREFIX, PERSONAL_PREFIX_BYTES)
    prefixed[PERSONAL_PREFIX_BYTES] = 51  # "3"
    prefixed[PERSONAL_PREFIX_BYTES + 1] = 50  # "2"
    memcpy(prefixed + PERSONAL_PREFIX_BYTES + 2, hash32, HASH_BYTES)
    ch_keccak256(prefixed, PERSONAL_PREFIX_BYTES + 2 + HASH_BYTES, digest)
    return _sign_prehashed(key, digest, out)


cdef int _address_of_pubkey(const secp256k1_pubkey *pubkey, uint8_t *address) noexcept nogil:
    cdef uint8_t serialized[65]
    cdef uint8_t digest[HASH_BYTES]
    cdef size_t length = 65
    if not _pubkey_serialize(_context, serialized, &length, pubkey, _uncompressed_flag) or length != 65:
        return 0
    ch_keccak256(serialized + 1, 64, digest)
    memcpy(address, digest + 12, ADDRESS_BYTES)
    return 1


cdef bytes _personal_digest(bytes message):
    """keccak256("\\x19Ethereum Signed Message:\\n" + decimal length + message)."""
    cdef bytes prefixed = PERSONAL_PREFIX[:PERSONAL_PREFIX_BYTES] + str(len(message)).encode() + message
    cdef bytes digest = PyBytes_FromStringAndSize(NULL, HASH_BYTES)
    cdef const uint8_t *data = <const uint8_t *>PyBytes_AS_STRING(prefixed)
    cdef size_t length = len(prefixed)
    cdef uint8_t *out = <uint8_t *>PyBytes_AS_STRING(digest)
    with nogil:
        ch_keccak256(data, length, out)
    return digest


# ---- public API ----

def keccak256(data):
    """Keccak-256 (Ethereum's, pad byte 0x01) of ``data`` (bytes). TypeError if not bytes."""
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, got {type(data).__name__}")
    cdef bytes digest = PyBytes_FromStringAndSize(NULL, HASH_BYTES)
    cdef const uint8_t *source = <const uint8_t *>PyBytes_AS_STRING(data)
    cdef size_t length = len(<bytes>data)
    cdef uint8_t *out = <uint8_t *>PyBytes_AS_STRING(digest)
    with nogil:
        ch_keccak256(source, length, out)
    return digest


cdef Py_ssize_t _ticket_preimage(
    uint8_t *buffer, object recipient, object sender, object face_value, object win_prob,
    str nonce_name, object nonce, object recipient_rand_hash, object creation_round,
    object creation_round_block_hash,
) except -1:
    """Validates the ticket fields and writes abi.encodePacked(...) into buffer[232].

    Returns the preimage length: 168, or 232 when auxData is present (spec 01: auxData is
    empty only when creation_round == 0 and the block hash is all zeros).
    """
    _check_bytes("recipient", recipient, ADDRESS_BYTES)
    _check_bytes("sender", sender, ADDRESS_BYTES)
    cdef bytes face_value_word = _uint256_word("face_value", face_value)
    cdef bytes win_prob_word = _uint256_word("win_prob", win_prob)
    _check_int(nonce_name, nonce, SENDER_NONCE_UINT32_MAX, "2**32-1")
    _check_bytes("recipient_rand_hash", recipient_rand_hash, HASH_BYTES)
    _check_int("creation_round", creation_round, CREATION_ROUND_MAX, "2**63-1")
    _check_bytes("creation_round_block_hash", creation_round_block_hash, HASH_BYTES)

    memcpy(buffer, PyBytes_AS_STRING(recipient), ADDRESS_BYTES)
    memcpy(buffer + 20, PyBytes_AS_STRING(sender), ADDRESS_BYTES)
    memcpy(buffer + 40, PyBytes_AS_STRING(face_value_word), 32)
    memcpy(buffer + 72, PyBytes_AS_STRING(win_prob_word), 32)
    memset(buffer + 104, 0, 32)
    _write_nonce(buffer, <uint32_t>nonce)
    memcpy(buffer + 136, PyBytes_AS_STRING(recipient_rand_hash), HASH_BYTES)
    if creation_round == 0 and creation_round_block_hash == bytes(HASH_BYTES):
        return TICKET_FIELDS_BYTES
    cdef bytes round_word = (<object>creation_round).to_bytes(32, "big")
    memcpy(buffer + 168, PyBytes_AS_STRING(round_word), 32)
    memcpy(buffer + 200, PyBytes_AS_STRING(creation_round_block_hash), HASH_BYTES)
    return TICKET_PREIMAGE_BYTES


cdef inline void _write_nonce(uint8_t *preimage, uint32_t nonce) noexcept nogil:
    preimage[NONCE_LOW_OFFSET] = <uint8_t>(nonce >> 24)
    preimage[NONCE_LOW_OFFSET + 1] = <uint8_t>(nonce >> 16)
    preimage[NONCE_LOW_OFFSET + 2] = <uint8_t>(nonce >> 8)
    preimage[NONCE_LOW_OFFSET + 3] = <uint8_t>nonce


def ticket_hash(recipient, sender, face_value, win_prob, nonce, recipient_rand_hash,
                creation_round, creation_round_block_hash):
    """The TicketBroker ticket hash: keccak256 of the packed ticket fields (spec 01).

    Bytes arguments must have their exact lengths (addresses 20, hashes 32); face_value and
    win_prob are ints in [0, 2**256-1], nonce in [0, 2**32-1], creation_round in [0, 2**63-1].
    Raises TypeError for a wrong type and ValueError for a wrong length or range.
    """
    cdef uint8_t preimage[TICKET_PREIMAGE_BYTES]
    cdef Py_ssize_t length = _ticket_preimage(
        preimage, recipient, sender, face_value, win_prob, "nonce", nonce, recipient_rand_hash,
        creation_round, creation_round_block_hash)
    cdef bytes digest = PyBytes_FromStringAndSize(NULL, HASH_BYTES)
    ch_keccak256(preimage, length, <uint8_t *>PyBytes_AS_STRING(digest))
    return digest


def personal_sign(private_key, message):
    """EIP-191 personal-sign: sign keccak256("\\x19Ethereum Signed Message:\\n" + len + message).

    Returns 65 bytes r || s || v with v in {27, 28}, low-s, RFC 6979 nonces — identical to
    eth-account's ``sign_message(encode_defunct(primitive=message))``. A 32-byte message gives
    the ticket and orchestrator-info signatures; longer ones the state-blob signature.
    Raises ValueError for an invalid key or a message over PERSONAL_MESSAGE_BYTES_MAX bytes.
    """
    _check_private_key(private_key)
    _check_message(message)
    cdef bytes digest = _personal_digest(message)
    cdef bytes signature = PyBytes_FromStringAndSize(NULL, SIGNATURE_BYTES)
    cdef uint8_t key[32]
    memcpy(key, PyBytes_AS_STRING(private_key), 32)
    cdef const uint8_t *digest_bytes = <const uint8_t *>PyBytes_AS_STRING(digest)
    cdef uint8_t *out = <uint8_t *>PyBytes_AS_STRING(signature)
    cdef int ok
    with nogil:
        ok = _sign_prehashed(key, digest_bytes, out)
        memset(key, 0, 32)
    if not ok:
        raise InvariantViolation("libsecp256k1 failed to sign with a key it had accepted")
    return signature


def sign_ticket_batch(private_key, recipient, sender, face_value, win_prob, recipient_rand_hash,
                      creation_round, creation_round_block_hash, first_nonce, count):
    """Signs ``count`` tickets sharing every field but the nonce, nonces first_nonce, +1, ...

    Returns a list of ``(ticket_hash, signature)`` pairs in nonce order, each signature the
    personal-sign of its ticket hash. The whole loop runs without the GIL. ``count`` must be in
    [1, TICKETS_PER_BATCH_MAX] and the last nonce at most 2**32-1; other arguments as for
    ``ticket_hash``. Raises TypeError/ValueError before signing anything.
    """
    _check_private_key(private_key)
    cdef uint8_t preimage[TICKET_PREIMAGE_BYTES]
    cdef Py_ssize_t length = _ticket_preimage(
        preimage, recipient, sender, face_value, win_prob, "first_nonce", first_nonce,
        recipient_rand_hash, creation_round, creation_round_block_hash)
    _check_count(count)
    if first_nonce + count - 1 > SENDER_NONCE_UINT32_MAX:
        raise ValueError(
            f"last nonce (first_nonce + count - 1) must be at most 2**32-1, got {first_nonce + count - 1}"
        )

    cdef Py_ssize_t total = count
    cdef uint32_t nonce0 = first_nonce
    cdef bytes entries = PyBytes_FromStringAndSize(NULL, total * BATCH_ENTRY_BYTES)
    cdef uint8_t *out = <uint8_t *>PyBytes_AS_STRING(entries)
    cdef uint8_t key[32]
    memcpy(key, PyBytes_AS_STRING(private_key), 32)
    cdef Py_ssize_t i
    cdef int ok = 1
    with nogil:
        for i in range(total):
            _write_nonce(preimage, nonce0 + <uint32_t>i)
            ch_keccak256(preimage, length, out + i * BATCH_ENTRY_BYTES)
            if not _personal_sign_hash(key, out + i * BATCH_ENTRY_BYTES, out + i * BATCH_ENTRY_BYTES + HASH_BYTES):
                ok = 0
                break
        memset(key, 0, 32)
    if not ok:
        raise InvariantViolation("libsecp256k1 failed to sign with a key it had accepted")
    return [
        (entries[i * BATCH_ENTRY_BYTES:i * BATCH_ENTRY_BYTES + HASH_BYTES],
         entries[i * BATCH_ENTRY_BYTES + HASH_BYTES:(i + 1) * BATCH_ENTRY_BYTES])
        for i in range(total)
    ]


def private_key_to_address(private_key):
    """The 20-byte Ethereum address of a 32-byte secp256k1 secret key. ValueError if invalid."""
    _check_private_key(private_key)
    cdef secp256k1_pubkey pubkey
    cdef bytes address = PyBytes_FromStringAndSize(NULL, ADDRESS_BYTES)
    if not _pubkey_create(_context, &pubkey, <const unsigned char *>PyBytes_AS_STRING(private_key)):
        raise InvariantViolation("libsecp256k1 failed to derive a public key it had accepted")
    if not _address_of_pubkey(&pubkey, <uint8_t *>PyBytes_AS_STRING(address)):
        raise InvariantViolation("libsecp256k1 failed to serialize a public key")
    return address


def recover_personal_signer(message, signature):
    """The 20-byte address whose key made ``signature`` (a personal-sign) over ``message``.

    Accepts only what the TicketBroker accepts: 65 bytes, v in {27, 28}, r and s in [1, n-1],
    low-s. Raises ValueError naming the defect otherwise, or when no key recovers.
    """
    _check_message(message)
    _check_signature(signature)
    cdef bytes digest = _personal_digest(message)
    cdef const unsigned char *sig = <const unsigned char *>PyBytes_AS_STRING(signature)
    cdef secp256k1_ecdsa_recoverable_signature parsed
    cdef secp256k1_pubkey pubkey
    cdef bytes address = PyBytes_FromStringAndSize(NULL, ADDRESS_BYTES)
    if not _signature_parse(_context, &parsed, sig, sig[64] - 27):
        raise ValueError("signature r and s must be in [1, n-1]")
    if not _recover(_context, &pubkey, &parsed, <const unsigned char *>PyBytes_AS_STRING(digest)):
        raise ValueError("signature does not recover to a public key")
    if not _address_of_pubkey(&pubkey, <uint8_t *>PyBytes_AS_STRING(address)):
        raise InvariantViolation("libsecp256k1 failed to serialize a recovered public key")
    return address


def verify_personal_signature(message, signature, address):
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


def is_winning_ticket(signature, recipient_rand, win_prob):
    """The win check of the TicketBroker: keccak256(sig || leftpad32(rand)) < win_prob.

    ``signature`` is the 65-byte ticket signature, ``recipient_rand`` and ``win_prob`` ints in
    [0, 2**256-1]. Raises TypeError/ValueError for wrong types, lengths or ranges.
    """
    _check_bytes("signature", signature, SIGNATURE_BYTES)
    cdef bytes rand_word = _uint256_word("recipient_rand", recipient_rand)
    cdef bytes win_prob_word = _uint256_word("win_prob", win_prob)
    cdef uint8_t preimage[SIGNATURE_BYTES + 32]
    cdef uint8_t digest[HASH_BYTES]
    memcpy(preimage, PyBytes_AS_STRING(signature), SIGNATURE_BYTES)
    memcpy(preimage + SIGNATURE_BYTES, PyBytes_AS_STRING(rand_word), 32)
    ch_keccak256(preimage, SIGNATURE_BYTES + 32, digest)
    return memcmp(digest, PyBytes_AS_STRING(win_prob_word), HASH_BYTES) < 0


def raw_sign_loop(private_key, digest, count):
    """Benchmark baseline: ``count`` bare secp256k1_ecdsa_sign_recoverable calls on one digest.

    The physical limit the ticket batch is measured against: the same libsecp256k1 build and
    context, no hashing, no Python in the loop, GIL released. Returns None.
    """
    _check_private_key(private_key)
    _check_bytes("digest", digest, HASH_BYTES)
    _check_int("count", count, 1 << 62, "2**62")
    cdef uint8_t key[32]
    cdef uint8_t message[HASH_BYTES]
    memcpy(key, PyBytes_AS_STRING(private_key), 32)
    memcpy(message, PyBytes_AS_STRING(digest), HASH_BYTES)
    cdef secp256k1_ecdsa_recoverable_signature signature
    cdef long long remaining = count
    cdef int ok = 1
    with nogil:
        while remaining > 0:
            ok &= _sign_recoverable(_context, &signature, message, key, NULL, NULL)
            remaining -= 1
        memset(key, 0, 32)
    if not ok:
        raise InvariantViolation("libsecp256k1 failed to sign with a key it had accepted")
