"""Wire behaviour the signer relies on: unknown fields survive, big integers are minimal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer import build_payment, decode_offer, minimal_big_endian
from tests.proto.rawwire import bytes_field, varint_field
from tests.signer.builders import OUR_ADDRESS, orchestrator_info


def test_unknown_top_level_field_survives_decode_encode() -> None:
    wire = orchestrator_info().SerializeToString() + varint_field(99, 12345)
    message = lp_rpc_pb2.OrchestratorInfo.FromString(wire)
    assert varint_field(99, 12345) in message.SerializeToString()
    assert lp_rpc_pb2.OrchestratorInfo.FromString(message.SerializeToString()) == message


def test_placeholder_message_content_survives() -> None:
    # HardwareInformation is declared without fields: its content must pass through intact.
    hardware = (
        bytes_field(1, b"pipeline") + varint_field(2, 7) + bytes_field(3, bytes_field(1, b"gpu"))
    )
    wire = orchestrator_info().SerializeToString() + bytes_field(7, hardware)
    message = lp_rpc_pb2.OrchestratorInfo.FromString(wire)
    assert len(message.hardware) == 1
    assert message.hardware[0].SerializeToString() == hardware


def test_unknown_fields_in_ticket_params_and_price_reach_the_payment() -> None:
    info = orchestrator_info()
    extra_params = bytes_field(42, b"future")
    extra_price = varint_field(9, 77)
    info.ticket_params.MergeFromString(extra_params)
    info.price_info.MergeFromString(extra_price)
    offer = decode_offer(info.SerializeToString())
    payment = build_payment(offer, OUR_ADDRESS, [(1, b"\x01" * 65)])
    reparsed = lp_rpc_pb2.Payment.FromString(payment.SerializeToString())
    assert extra_params in reparsed.ticket_params.SerializeToString()
    assert extra_price in reparsed.expected_price.SerializeToString()
    assert reparsed.ticket_params == info.ticket_params
    assert reparsed.expected_price == info.price_info


def test_segdata_profile_lists_34_and_35_pass_through() -> None:
    wire = lp_rpc_pb2.SegData(manifestId=b"m").SerializeToString()
    wire += bytes_field(34, b"\x82\x01\x02p1") + bytes_field(35, b"x")
    seg = lp_rpc_pb2.SegData.FromString(wire)
    assert bytes_field(34, b"\x82\x01\x02p1") in seg.SerializeToString()
    assert bytes_field(35, b"x") in seg.SerializeToString()


@pytest.mark.parametrize(
    ("value", "encoded"),
    [(0, b""), (1, b"\x01"), (255, b"\xff"), (256, b"\x01\x00"), (2**256 - 1, b"\xff" * 32)],
)
def test_minimal_big_endian_examples(value: int, encoded: bytes) -> None:
    assert minimal_big_endian(value) == encoded


@given(st.integers(min_value=0, max_value=2**256 - 1))
def test_minimal_big_endian_has_no_leading_zero_and_round_trips(value: int) -> None:
    encoded = minimal_big_endian(value)
    assert int.from_bytes(encoded, "big") == value
    assert encoded[:1] != b"\x00"
    assert len(encoded) <= 32


def test_minimal_big_endian_refuses_negative() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        minimal_big_endian(-1)


def test_ticket_params_integers_are_minimal_in_built_messages() -> None:
    info = orchestrator_info(face_value=10**15, win_prob=1, expiration_block=256)
    assert info.ticket_params.face_value == (10**15).to_bytes(7, "big")
    assert info.ticket_params.win_prob == b"\x01"
    assert info.ticket_params.expiration_block == b"\x01\x00"


def test_non_minimal_orchestrator_integers_are_read_and_echoed_unchanged() -> None:
    # O's bytes are echoed, never re-encoded: O recomputes its commitment from what it gets.
    info = orchestrator_info()
    info.ticket_params.face_value = b"\x00\x00" + minimal_big_endian(105)
    offer = decode_offer(info.SerializeToString())
    assert offer.face_value_wei == 105
    payment = build_payment(offer, OUR_ADDRESS, [(1, b"\x01" * 65)])
    assert payment.ticket_params.face_value == b"\x00\x00\x69"
