"""OrchestratorInfo checks, the Payment and SegData we build, and an orchestrator's view of them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clearinghouse import pm
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer import (
    ChainView,
    OrchestratorOffer,
    PaymentPolicy,
    PaymentRequest,
    Refusal,
    SigningRefused,
    build_payment,
    build_seg_data,
    decode_capabilities,
    decode_offer,
    plan_payment,
    seg_creds_preimage,
)
from tests.proto.rawwire import bytes_field
from tests.signer.builders import KEY, NOW_NS, OUR_ADDRESS, orchestrator_info


def refused_offer(info: lp_rpc_pb2.OrchestratorInfo | bytes) -> SigningRefused:
    wire = info if isinstance(info, bytes) else info.SerializeToString()
    with pytest.raises(SigningRefused) as refused:
        decode_offer(wire)
    assert refused.value.reason is Refusal.BAD_REQUEST
    return refused.value


def without(field: str) -> lp_rpc_pb2.OrchestratorInfo:
    info = orchestrator_info()
    info.ClearField(field)
    return info


@pytest.mark.parametrize(
    ("info", "message"),
    [
        (b"", "missing orchestrator"),
        (b"\x0a\xff", "invalid OrchestratorInfo protobuf"),
        (without("price_info"), "missing or zero priceInfo"),
        (orchestrator_info(price_per_unit=0), "missing or zero priceInfo"),
        (orchestrator_info(pixels_per_unit=0), "got 3/0"),
        (orchestrator_info(price_per_unit=-3), "got -3/1"),
        (without("ticket_params"), "missing ticketParams in OrchestratorInfo"),
        (without("auth_token"), "missing auth token"),
        (
            orchestrator_info(address=b"\x01" * 19),
            "OrchestratorInfo.address must be 20 bytes, got 19",
        ),
        (orchestrator_info(recipient=b""), "ticket_params.recipient must be 20 bytes, got 0"),
        (
            orchestrator_info(recipient_rand_hash=b"\x01" * 31),
            "recipient_rand_hash must be 32 bytes, got 31",
        ),
        (
            orchestrator_info(face_value=2**256),
            "face_value must be below 2^256, got a 33-byte integer",
        ),
        (orchestrator_info(expiration_block=0), "expiration_block is 0"),
        (orchestrator_info(creation_round=0), "creation_round must be > 0, got 0"),
        (
            orchestrator_info(creation_round_block_hash=bytes(32)),
            "creation_round_block_hash is all zeros",
        ),
        (
            orchestrator_info(creation_round_block_hash=b"\x01" * 20),
            "creation_round_block_hash must be 32 bytes",
        ),
    ],
)
def test_decode_offer_refusals(info: lp_rpc_pb2.OrchestratorInfo | bytes, message: str) -> None:
    assert message in refused_offer(info).message


def test_decode_offer_values(make_offer: Callable[..., OrchestratorOffer]) -> None:
    offer = make_offer(face_value=10**15, win_prob=2**255, expiration_block=123_456)
    assert (offer.face_value_wei, offer.win_prob, offer.expiration_block) == (
        10**15,
        2**255,
        123_456,
    )
    assert (
        offer.pm_session_id == "0x41b1a0649752af1b28b3dc29a1556eee781e4a4c3a1f7f53f90fa834de098c4d"
    )
    assert offer.transcoder == "https://orch.example:8935"


def test_decode_capabilities() -> None:
    capabilities = lp_rpc_pb2.Capabilities(bitstring=[5, 9], version="0.9.1")
    capabilities.capacities[35] = 2
    assert decode_capabilities(capabilities.SerializeToString()) == capabilities
    assert decode_capabilities(b"") is None
    with pytest.raises(SigningRefused, match="invalid capabilities protobuf"):
        decode_capabilities(b"\x0a\x05ab")


def test_payment_echoes_orchestrator_messages_and_carries_our_tickets(
    make_offer: Callable[..., OrchestratorOffer],
) -> None:
    info = orchestrator_info()
    offer = decode_offer(info.SerializeToString())
    tickets = [(7, b"\x07" * 65), (8, b"\x08" * 65)]
    payment = build_payment(offer, OUR_ADDRESS, tickets)
    assert payment.ticket_params == info.ticket_params
    assert payment.ticket_params.seed == b"\x5e" * 32
    assert payment.expiration_params == info.ticket_params.expiration_params
    assert payment.expected_price == info.price_info
    assert payment.sender == OUR_ADDRESS
    assert [(t.sender_nonce, t.sig) for t in payment.ticket_sender_params] == tickets


@pytest.mark.parametrize(
    ("sender", "tickets", "message"),
    [
        (b"\x01" * 19, [(1, b"\x01" * 65)], "sender must be 20 bytes"),
        (OUR_ADDRESS, [], "at least one signed ticket"),
        (OUR_ADDRESS, [(1, b"\x01" * 64)], "ticket signature must be 65 bytes, got 64 for nonce 1"),
    ],
)
def test_build_payment_refuses_bad_arguments(
    make_offer: Callable[..., OrchestratorOffer],
    sender: bytes,
    tickets: list[tuple[int, bytes]],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        build_payment(make_offer(), sender, tickets)


def test_segment_credentials_vector(
    vectors: dict[str, Any], make_offer: Callable[..., OrchestratorOffer]
) -> None:
    vector = vectors["segment_credentials"]
    preimage = seg_creds_preimage(vector["manifest_id"])
    assert preimage.hex() == vector["signed_preimage"][2:]
    key = bytes.fromhex(vector["private_key"][2:])
    signature = pm.personal_sign(key, pm.keccak256(preimage))
    assert signature.hex() == vector["signature"][2:]
    assert pm.keccak256(b"") == preimage[-32:]


def test_seg_data_fields(make_offer: Callable[..., OrchestratorOffer]) -> None:
    info = orchestrator_info()
    offer = decode_offer(info.SerializeToString())
    capabilities = lp_rpc_pb2.Capabilities(bitstring=[1])
    signature = pm.personal_sign(KEY, pm.keccak256(seg_creds_preimage("abcd1234")))
    seg = build_seg_data("abcd1234", offer, capabilities, signature)
    assert (seg.manifestId, seg.seq, seg.profiles, seg.duration) == (b"abcd1234", 0, b"invalid", 0)
    assert seg.hash == pm.keccak256(b"")
    assert seg.auth_token == info.auth_token
    assert seg.capabilities == capabilities
    assert seg.sig == signature
    assert not build_seg_data("abcd1234", offer, None, signature).HasField("capabilities")


def test_auth_token_unknown_fields_reach_seg_data() -> None:
    info = orchestrator_info()
    info.auth_token.MergeFromString(bytes_field(15, b"later"))
    offer = decode_offer(info.SerializeToString())
    seg = build_seg_data("m", offer, None, b"\x01" * 65)
    assert bytes_field(15, b"later") in seg.auth_token.SerializeToString()


def test_an_orchestrator_accepts_what_we_build(chain: ChainView) -> None:
    """Plays the orchestrator: hashes each ticket from the echoed params, recovers our address."""
    info = orchestrator_info(face_value=3 * 10**6, price_per_unit=1, pixels_per_unit=1000)
    offer = decode_offer(info.SerializeToString())
    plan = plan_payment(
        offer,
        None,
        PaymentRequest("lv2v", manifest_id="abcd1234"),
        chain,
        PaymentPolicy(),
        NOW_NS,
        new_state_id="s",
        new_manifest_id="unused",
    )
    batch = pm.sign_ticket_batch(
        KEY,
        offer.recipient,
        OUR_ADDRESS,
        offer.face_value_wei,
        offer.win_prob,
        offer.recipient_rand_hash,
        offer.creation_round,
        offer.creation_round_block_hash,
        plan.first_nonce,
        plan.ticket_count,
    )
    payment = build_payment(
        offer, OUR_ADDRESS, [(nonce, sig) for nonce, (_, sig) in zip(plan.nonces, batch)]
    )
    received = lp_rpc_pb2.Payment.FromString(payment.SerializeToString())
    params = received.ticket_params
    assert received.expected_price == info.price_info and params.seed == info.ticket_params.seed
    nonces = [ticket.sender_nonce for ticket in received.ticket_sender_params]
    assert nonces == [1, 2] and len(set(nonces)) == len(nonces) and max(nonces) <= 600
    for ticket in received.ticket_sender_params:
        digest = pm.ticket_hash(
            params.recipient,
            received.sender,
            int.from_bytes(params.face_value, "big"),
            int.from_bytes(params.win_prob, "big"),
            ticket.sender_nonce,
            params.recipient_rand_hash,
            received.expiration_params.creation_round,
            received.expiration_params.creation_round_block_hash,
        )
        assert pm.recover_personal_signer(digest, ticket.sig) == OUR_ADDRESS
