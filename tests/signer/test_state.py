"""The state blob: Go's exact JSON bytes, strict decoding, and its signature."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearinghouse import pm
from clearinghouse.signer import (
    Refusal,
    RemotePaymentState,
    SigningRefused,
    decode_state,
    encode_state,
    open_state,
)
from clearinghouse.signer.goformat import GO_ZERO_TIME_NS
from clearinghouse.signer.limits import STATE_JSON_BYTES_MAX
from tests.signer.builders import KEY, ORCH_ADDRESS, OUR_ADDRESS

STATE = RemotePaymentState(
    state_id="a1b2c3d4",
    pm_session_id="0x41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d",
    last_update_ns=1_700_000_012_500_000_000,
    orchestrator_address=ORCH_ADDRESS,
    app="studio<&>",
    auth_expiry=1_700_003_600,
    sender_nonce=2,
    balance=Fraction(-7, 3),
    initial_price_per_unit=3,
    initial_pixels_per_unit=1,
    type="live",
    sequence_number=1,
    auth_id="gw-42",
)

GOLDEN = (
    b'{"StateID":"a1b2c3d4",'
    b'"PMSessionID":"0x41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d",'
    b'"LastUpdate":"2023-11-14T22:13:32.5Z",'
    b'"OrchestratorAddress":"0x73aed7b5deb30222fa896f399d46cc99c7bee57f",'
    b'"App":"studio\\u003c\\u0026\\u003e",'
    b'"AuthExpiry":1700003600,"SenderNonce":2,"Balance":"-7/3",'
    b'"InitialPricePerUnit":3,"InitialPixelsPerUnit":1,"Type":"live",'
    b'"SequenceNumber":1,"AuthID":"gw-42"}'
)


def test_encode_matches_go_json_marshal() -> None:
    assert encode_state(STATE) == GOLDEN


def test_golden_bytes_decode_to_the_state() -> None:
    assert decode_state(GOLDEN) == STATE


def test_decode_matches_keys_case_insensitively_like_go() -> None:
    blob = GOLDEN.replace(b'"StateID"', b'"stateid"').replace(b'"PMSessionID"', b'"PMSESSIONID"')
    blob = blob.replace(b'"Balance"', b'"balance"').replace(
        b'"InitialPixelsPerUnit"', b'"initialPixelsPerUnit"'
    )
    assert decode_state(blob) == STATE


def test_decode_folds_kelvin_and_long_s_like_go() -> None:
    blob = GOLDEN.replace(b'"StateID"', '"\u017ftateID"'.encode())
    assert decode_state(blob) == STATE


def test_decode_accepts_whitespace_and_any_key_order() -> None:
    reordered = b'{ "AuthID" : "gw-42" ,\n' + GOLDEN[1:].replace(b',"AuthID":"gw-42"', b"")
    assert decode_state(reordered) == STATE


def test_zero_time_and_zero_balance_round_trip() -> None:
    fresh = RemotePaymentState(
        state_id="s",
        pm_session_id="",
        last_update_ns=None,
        orchestrator_address=bytes(20),
        app="",
        auth_expiry=0,
        sender_nonce=0,
        balance=Fraction(0),
        initial_price_per_unit=1,
        initial_pixels_per_unit=1,
        type="",
        sequence_number=0,
        auth_id="",
    )
    blob = encode_state(fresh)
    assert b'"LastUpdate":"0001-01-01T00:00:00Z"' in blob
    assert b'"Balance":"0"' in blob
    assert decode_state(blob) == fresh


def _replace(old: bytes, new: bytes) -> bytes:
    assert old in GOLDEN
    return GOLDEN.replace(old, new)


BAD_BLOBS: list[tuple[str, bytes, str]] = [
    ("not json", b"{", "Expecting"),
    ("array", b"[]", "expected a JSON object"),
    ("invalid utf-8", b'{"StateID":"\xff"}', "utf-8"),
    (
        "unknown key",
        _replace(b'"AuthID":"gw-42"', b'"AuthID":"gw-42","Extra":1'),
        "unknown key 'Extra'",
    ),
    (
        "duplicate key",
        _replace(b'"AuthID":"gw-42"', b'"AuthID":"gw-42","authid":"x"'),
        "duplicate key 'authid'",
    ),
    ("missing key", _replace(b',"AuthID":"gw-42"', b""), "missing keys ['AuthID']"),
    (
        "null",
        _replace(b'"App":"studio\\u003c\\u0026\\u003e"', b'"App":null'),
        "App must be a JSON string, got null",
    ),
    (
        "string as int",
        _replace(b'"SenderNonce":2', b'"SenderNonce":"2"'),
        "SenderNonce must be a JSON integer, got a string",
    ),
    ("float", _replace(b'"SenderNonce":2', b'"SenderNonce":2.0'), "non-integer number 2.0"),
    ("exponent", _replace(b'"SenderNonce":2', b'"SenderNonce":2e0'), "non-integer number"),
    ("bool", _replace(b'"SenderNonce":2', b'"SenderNonce":true'), "got a boolean"),
    ("NaN", _replace(b'"SenderNonce":2', b'"SenderNonce":NaN'), "NaN is not valid JSON"),
    (
        "nonce over uint32",
        _replace(b'"SenderNonce":2', b'"SenderNonce":4294967296'),
        "SenderNonce must be in [0, 4294967295]",
    ),
    ("negative nonce", _replace(b'"SenderNonce":2', b'"SenderNonce":-1'), "SenderNonce must be in"),
    (
        "sequence over uint64",
        _replace(b'"SequenceNumber":1', b'"SequenceNumber":18446744073709551616'),
        "SequenceNumber must be in",
    ),
    (
        "negative sequence",
        _replace(b'"SequenceNumber":1', b'"SequenceNumber":-1'),
        "SequenceNumber must be in",
    ),
    (
        "price over int64",
        _replace(b'"InitialPricePerUnit":3', b'"InitialPricePerUnit":9223372036854775808'),
        "InitialPricePerUnit must be in",
    ),
    (
        "bad balance",
        _replace(b'"Balance":"-7/3"', b'"Balance":"1.5"'),
        'expected a rational "a" or "a/b"',
    ),
    ("unreduced balance", _replace(b'"Balance":"-7/3"', b'"Balance":"-14/6"'), "reduced rational"),
    (
        "bad time",
        _replace(b'"LastUpdate":"2023-11-14T22:13:32.5Z"', b'"LastUpdate":"yesterday"'),
        "RFC 3339",
    ),
    (
        "short address",
        _replace(b"0x73aed7b5deb30222fa896f399d46cc99c7bee57f", b"0x73aed7"),
        "OrchestratorAddress must be 0x + 40 hex",
    ),
    (
        "address without 0x",
        _replace(
            b'"0x73aed7b5deb30222fa896f399d46cc99c7bee57f"',
            b'"73aed7b5deb30222fa896f399d46cc99c7bee57f"',
        ),
        "0x + 40 hex",
    ),
    ("uppercase session id", _replace(b'"0x41b1a0', b'"0x41B1A0'), "PMSessionID must be"),
    ("unknown type", _replace(b'"Type":"live"', b'"Type":"usage"'), "Type must be one of"),
    (
        "nested object",
        _replace(b'"App":"studio\\u003c\\u0026\\u003e"', b'"App":{}'),
        "App must be a JSON string, got an object",
    ),
    ("too large", b" " * (STATE_JSON_BYTES_MAX + 1), f"at most {STATE_JSON_BYTES_MAX}"),
]


@pytest.mark.parametrize(
    ("case", "blob", "message"), BAD_BLOBS, ids=[case for case, _, _ in BAD_BLOBS]
)
def test_decode_refuses_with_a_clear_message(case: str, blob: bytes, message: str) -> None:
    with pytest.raises(SigningRefused) as refused:
        decode_state(blob)
    assert refused.value.reason is Refusal.BAD_REQUEST
    assert refused.value.message.startswith("invalid state: ")
    assert message in refused.value.message


def test_deep_nesting_is_refused_whatever_the_json_recursion_limit() -> None:
    # Depending on the interpreter's recursion limit the parser either fails or returns an
    # array; both must end as a bad request.
    nested = b"[" * 3900 + b"]" * 3900
    with pytest.raises(
        SigningRefused, match="^invalid state: (JSON nested too deeply|App must be a JSON string)"
    ):
        decode_state(_replace(b'"App":"studio\\u003c\\u0026\\u003e"', b'"App":' + nested))


def test_decode_accepts_mixed_case_address_and_writes_lowercase() -> None:
    blob = GOLDEN.replace(
        b"0x73aed7b5deb30222fa896f399d46cc99c7bee57f", b"0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F"
    )
    assert encode_state(decode_state(blob)) == GOLDEN


@pytest.mark.parametrize(
    ("field", "value", "error", "message"),
    [
        ("sender_nonce", 2**32, ValueError, "SenderNonce must be in"),
        ("sequence_number", True, TypeError, "SequenceNumber must be an integer"),
        (
            "orchestrator_address",
            bytes(19),
            ValueError,
            "OrchestratorAddress must be 20 bytes, got 19",
        ),
        ("orchestrator_address", "0x00", TypeError, "OrchestratorAddress must be bytes"),
        ("type", "usage", ValueError, "Type must be one of"),
        ("pm_session_id", "0x12", ValueError, "PMSessionID must be"),
        ("balance", 1.5, TypeError, "Balance must be a Fraction"),
        ("app", "\ud800", ValueError, "lone surrogate"),
        ("last_update_ns", GO_ZERO_TIME_NS - 1, ValueError, "outside years"),
    ],
)
def test_state_refuses_bad_fields(
    field: str, value: Any, error: type[Exception], message: str
) -> None:
    fields = {name: getattr(STATE, name) for name in RemotePaymentState.__slots__}
    fields[field] = value
    with pytest.raises(error, match=message):
        RemotePaymentState(**fields)


text = st.text(st.characters(exclude_categories=["Cs"]), max_size=40)
states = st.builds(
    RemotePaymentState,
    state_id=text,
    pm_session_id=st.one_of(
        st.just(""), st.binary(min_size=32, max_size=32).map(lambda b: "0x" + b.hex())
    ),
    last_update_ns=st.one_of(st.none(), st.integers(min_value=0, max_value=2**62)),
    orchestrator_address=st.binary(min_size=20, max_size=20),
    app=text,
    auth_expiry=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    sender_nonce=st.integers(min_value=0, max_value=2**32 - 1),
    balance=st.fractions(),
    initial_price_per_unit=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    initial_pixels_per_unit=st.integers(min_value=-(2**63), max_value=2**63 - 1),
    type=st.sampled_from(["", "lv2v", "live", "fixed"]),
    sequence_number=st.integers(min_value=0, max_value=2**64 - 1),
    auth_id=text,
)


@given(states)
def test_round_trip(state: RemotePaymentState) -> None:
    blob = encode_state(state)
    assert decode_state(blob) == state
    assert encode_state(decode_state(blob)) == blob


def test_state_signature_vector(vectors: dict[str, Any]) -> None:
    vector = vectors["state_blob_signature"]
    blob = vector["state_json"].encode()
    assert (
        pm.personal_sign(bytes.fromhex(vector["private_key"][2:]), blob).hex()
        == vector["signature"][2:]
    )


def test_open_state_accepts_our_signature() -> None:
    signature = pm.personal_sign(KEY, GOLDEN)
    assert open_state(GOLDEN, signature, OUR_ADDRESS) == STATE


def test_open_state_refuses_another_signer() -> None:
    signature = pm.personal_sign(b"\x22" * 32, GOLDEN)
    with pytest.raises(SigningRefused, match="invalid sig: signed by 0x") as refused:
        open_state(GOLDEN, signature, OUR_ADDRESS)
    assert refused.value.reason is Refusal.BAD_REQUEST


def test_open_state_refuses_a_tampered_blob() -> None:
    signature = pm.personal_sign(KEY, GOLDEN)
    tampered = GOLDEN.replace(b'"Balance":"-7/3"', b'"Balance":"1000"')
    with pytest.raises(SigningRefused, match="invalid sig"):
        open_state(tampered, signature, OUR_ADDRESS)


@pytest.mark.parametrize("signature", [b"", b"\x00" * 65, b"\x01" * 64])
def test_open_state_refuses_malformed_signatures(signature: bytes) -> None:
    with pytest.raises(SigningRefused, match="invalid sig: "):
        open_state(GOLDEN, signature, OUR_ADDRESS)


def test_open_state_checks_the_signature_before_the_content(vectors: dict[str, Any]) -> None:
    vector = vectors["state_blob_signature"]
    blob = vector["state_json"].encode()
    signature = bytes.fromhex(vector["signature"][2:])
    with pytest.raises(SigningRefused, match=r"invalid state: missing keys \['PMSessionID'"):
        open_state(blob, signature, OUR_ADDRESS)
