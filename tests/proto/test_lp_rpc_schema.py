"""protos/lp_rpc.proto matches spec 03 field for field: names, numbers, types, repetition."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from clearinghouse.proto import lp_rpc_pb2

# Spec 03's table: (name, number, type, repeated). A type is a scalar name, a message name,
# or ("map", key type, value type).
SPEC_03: dict[str, list[tuple[str, int, Any, bool]]] = {
    "OrchestratorRequest": [
        ("address", 1, "bytes", False),
        ("sig", 2, "bytes", False),
        ("capabilities", 3, "Capabilities", False),
        ("ignoreCapacityCheck", 4, "bool", False),
    ],
    "OrchestratorInfo": [
        ("transcoder", 1, "string", False),
        ("ticket_params", 2, "TicketParams", False),
        ("price_info", 3, "PriceInfo", False),
        ("address", 4, "bytes", False),
        ("capabilities", 5, "Capabilities", False),
        ("auth_token", 6, "AuthToken", False),
        ("hardware", 7, "HardwareInformation", True),
        ("storage", 32, "OSInfo", True),
        ("capabilities_prices", 33, "PriceInfo", True),
        ("nodes", 34, "string", True),
    ],
    "PriceInfo": [
        ("pricePerUnit", 1, "int64", False),
        ("pixelsPerUnit", 2, "int64", False),
        ("capability", 3, "uint32", False),
        ("constraint", 4, "string", False),
    ],
    "AuthToken": [
        ("token", 1, "bytes", False),
        ("session_id", 2, "string", False),
        ("expiration", 3, "int64", False),
    ],
    "TicketParams": [
        ("recipient", 1, "bytes", False),
        ("face_value", 2, "bytes", False),
        ("win_prob", 3, "bytes", False),
        ("recipient_rand_hash", 4, "bytes", False),
        ("seed", 5, "bytes", False),
        ("expiration_block", 6, "bytes", False),
        ("expiration_params", 7, "TicketExpirationParams", False),
    ],
    "TicketExpirationParams": [
        ("creation_round", 1, "int64", False),
        ("creation_round_block_hash", 2, "bytes", False),
    ],
    "TicketSenderParams": [
        ("sender_nonce", 1, "uint32", False),
        ("sig", 2, "bytes", False),
    ],
    "Payment": [
        ("ticket_params", 1, "TicketParams", False),
        ("sender", 2, "bytes", False),
        ("expiration_params", 3, "TicketExpirationParams", False),
        ("ticket_sender_params", 4, "TicketSenderParams", True),
        ("expected_price", 5, "PriceInfo", False),
    ],
    "PaymentResult": [("info", 16, "OrchestratorInfo", False)],
    "SegData": [
        ("manifestId", 1, "bytes", False),
        ("seq", 2, "int64", False),
        ("hash", 3, "bytes", False),
        ("profiles", 4, "bytes", False),
        ("sig", 5, "bytes", False),
        ("duration", 6, "int32", False),
        ("capabilities", 7, "Capabilities", False),
        ("auth_token", 8, "AuthToken", False),
        ("calc_perceptual_hash", 10, "bool", False),
        ("storage", 32, "OSInfo", True),
        ("fullProfiles", 33, "VideoProfile", True),
        ("segment_parameters", 37, "SegParameters", False),
        ("ForceSessionReinit", 38, "bool", False),
    ],
    "Capabilities": [
        ("bitstring", 1, "uint64", True),
        ("mandatories", 2, "uint64", True),
        ("capacities", 3, ("map", "uint32", "uint32"), True),
        ("version", 4, "string", False),
        ("constraints", 5, "Constraints", False),
    ],
    "Capabilities.Constraints": [
        ("minVersion", 1, "string", False),
        ("PerCapability", 2, ("map", "uint32", "CapabilityConstraints"), True),
    ],
    "Capabilities.CapabilityConstraints": [
        ("models", 1, ("map", "string", "ModelConstraint"), True),
    ],
    "Capabilities.CapabilityConstraints.ModelConstraint": [
        ("warm", 1, "bool", False),
        ("capacity", 2, "uint32", False),
        ("runnerVersion", 3, "string", False),
        ("capacityInUse", 4, "uint32", False),
    ],
    "HardwareInformation": [],
    "OSInfo": [],
    "VideoProfile": [],
    "SegParameters": [],
}

SCALARS = {
    "bytes": FieldDescriptor.TYPE_BYTES,
    "string": FieldDescriptor.TYPE_STRING,
    "bool": FieldDescriptor.TYPE_BOOL,
    "int32": FieldDescriptor.TYPE_INT32,
    "int64": FieldDescriptor.TYPE_INT64,
    "uint32": FieldDescriptor.TYPE_UINT32,
    "uint64": FieldDescriptor.TYPE_UINT64,
}


def message_descriptor(dotted: str) -> Descriptor:
    descriptor: Descriptor = lp_rpc_pb2.DESCRIPTOR.message_types_by_name[dotted.split(".")[0]]
    for nested in dotted.split(".")[1:]:
        descriptor = descriptor.nested_types_by_name[nested]
    return descriptor


def type_matches(field: FieldDescriptor, expected: Any) -> bool:
    if isinstance(expected, tuple):
        entry = field.message_type
        return (
            entry is not None
            and entry.GetOptions().map_entry
            and type_matches(entry.fields_by_name["key"], expected[1])
            and type_matches(entry.fields_by_name["value"], expected[2])
        )
    if expected in SCALARS:
        return field.type == SCALARS[expected]
    message = field.message_type
    return (
        field.type == FieldDescriptor.TYPE_MESSAGE
        and message is not None
        and message.name == expected
    )


def test_package_is_net_and_scalars_have_proto3_implicit_presence() -> None:
    assert lp_rpc_pb2.DESCRIPTOR.package == "net"
    # proto3: a zero scalar is not serialized, so "zero" and "absent" read the same.
    assert not message_descriptor("PriceInfo").fields_by_name["pricePerUnit"].has_presence
    assert lp_rpc_pb2.PriceInfo(pricePerUnit=0).SerializeToString() == b""


@pytest.mark.parametrize("message", sorted(SPEC_03))
def test_fields_match_spec_03(message: str) -> None:
    descriptor = message_descriptor(message)
    declared = {field.name: field for field in descriptor.fields}
    assert sorted(declared) == sorted(name for name, _, _, _ in SPEC_03[message])
    for name, number, expected_type, repeated in SPEC_03[message]:
        field = declared[name]
        assert field.number == number, (
            f"{message}.{name}: number {field.number}, spec says {number}"
        )
        assert type_matches(field, expected_type), (
            f"{message}.{name}: type differs from spec {expected_type}"
        )
        assert field.is_repeated == repeated, f"{message}.{name}: repeated={field.is_repeated}"


def test_only_spec_messages_are_declared() -> None:
    top_level = {name for name in SPEC_03 if "." not in name}
    assert set(lp_rpc_pb2.DESCRIPTOR.message_types_by_name) == top_level
