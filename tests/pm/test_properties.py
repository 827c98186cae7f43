"""Hypothesis properties: the native core equals the pure-Python reference, byte for byte."""

from __future__ import annotations

from types import ModuleType

from hypothesis import given, settings
from hypothesis import strategies as st

N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
KECCAK_RATE_BYTES = 136

keys = st.integers(min_value=1, max_value=N - 1).map(lambda k: k.to_bytes(32, "big"))
addresses = st.binary(min_size=20, max_size=20)
hashes = st.binary(min_size=32, max_size=32)
uint256 = st.one_of(
    st.integers(min_value=0, max_value=(1 << 256) - 1),
    st.sampled_from([0, 1, (1 << 256) - 1, 1 << 255, (1 << 64) - 1]),
)
nonces = st.integers(min_value=0, max_value=(1 << 32) - 1)
rounds = st.one_of(st.just(0), st.integers(min_value=0, max_value=(1 << 63) - 1))
block_hashes = st.one_of(st.just(bytes(32)), hashes)
tickets = st.tuples(addresses, addresses, uint256, uint256, nonces, hashes, rounds, block_hashes)
# Lengths around the keccak rate, where padding and block boundaries meet.
messages = st.one_of(
    st.binary(max_size=600),
    st.binary(min_size=KECCAK_RATE_BYTES - 3, max_size=2 * KECCAK_RATE_BYTES + 3),
)


@settings(max_examples=400, deadline=None)
@given(messages)
def test_keccak256_matches(
    reference_core: ModuleType, native_core: ModuleType, data: bytes
) -> None:
    assert native_core.keccak256(data) == reference_core.keccak256(data)


@settings(max_examples=300, deadline=None)
@given(tickets)
def test_ticket_hash_matches(
    reference_core: ModuleType, native_core: ModuleType, ticket: tuple[object, ...]
) -> None:
    assert native_core.ticket_hash(*ticket) == reference_core.ticket_hash(*ticket)


@settings(max_examples=150, deadline=None)
@given(keys, messages)
def test_personal_sign_matches_and_recovers(
    reference_core: ModuleType, native_core: ModuleType, key: bytes, message: bytes
) -> None:
    signature = native_core.personal_sign(key, message)
    assert signature == reference_core.personal_sign(key, message)
    address = native_core.private_key_to_address(key)
    assert address == reference_core.private_key_to_address(key)
    assert native_core.recover_personal_signer(message, signature) == address
    assert reference_core.recover_personal_signer(message, signature) == address
    assert int.from_bytes(signature[32:64], "big") <= N // 2
    assert signature[64] in (27, 28)


@settings(max_examples=100, deadline=None)
@given(keys, hashes)
def test_high_s_and_other_v_are_rejected_by_verify(
    reference_core: ModuleType, native_core: ModuleType, key: bytes, digest: bytes
) -> None:
    signature = native_core.personal_sign(key, digest)
    address = native_core.private_key_to_address(key)
    s = int.from_bytes(signature[32:64], "big")
    # (r, n - s) with the other recovery id is the same point's malleated twin: valid ECDSA,
    # rejected by the TicketBroker, so it must be rejected here.
    malleated = signature[:32] + (N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    other_v = signature[:64] + bytes([signature[64] - 27])
    for core in (reference_core, native_core):
        assert core.verify_personal_signature(digest, signature, address) is True
        assert core.verify_personal_signature(digest, malleated, address) is False
        assert core.verify_personal_signature(digest, other_v, address) is False


@settings(max_examples=40, deadline=None)
@given(keys, tickets, st.integers(min_value=1, max_value=4))
def test_sign_ticket_batch_matches(
    reference_core: ModuleType,
    native_core: ModuleType,
    key: bytes,
    ticket: tuple[object, ...],
    count: int,
) -> None:
    recipient, sender, face_value, win_prob, nonce, rand_hash, round_, block_hash = ticket
    first_nonce = min(int(nonce), (1 << 32) - count)  # type: ignore[call-overload]
    args = (
        key,
        recipient,
        sender,
        face_value,
        win_prob,
        rand_hash,
        round_,
        block_hash,
        first_nonce,
        count,
    )
    batch = native_core.sign_ticket_batch(*args)
    assert batch == reference_core.sign_ticket_batch(*args)
    assert [digest for digest, _ in batch] == [
        native_core.ticket_hash(
            recipient, sender, face_value, win_prob, first_nonce + i, rand_hash, round_, block_hash
        )
        for i in range(count)
    ]


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=65, max_size=65), uint256, uint256)
def test_win_check_matches(
    reference_core: ModuleType, native_core: ModuleType, signature: bytes, rand: int, win_prob: int
) -> None:
    expected = (
        int.from_bytes(reference_core.keccak256(signature + rand.to_bytes(32, "big")), "big")
        < win_prob
    )
    assert native_core.is_winning_ticket(signature, rand, win_prob) is expected
    assert reference_core.is_winning_ticket(signature, rand, win_prob) is expected


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=65, max_size=65), hashes)
def test_recovery_of_arbitrary_bytes_agrees(
    reference_core: ModuleType, native_core: ModuleType, signature: bytes, digest: bytes
) -> None:
    outcomes = []
    for core in (reference_core, native_core):
        try:
            outcomes.append(core.recover_personal_signer(digest, signature))
        except ValueError as exc:
            outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]
