"""The protobuf side of the remote signer: reading OrchestratorInfo, writing Payment and SegData.

``decode_offer`` turns the gateway's base64-decoded OrchestratorInfo into an
``OrchestratorOffer`` of checked plain values plus the serialized sub-messages that a Payment
must echo unchanged (O recomputes its recipientRand from the echoed seed and price, so one
changed bit voids every ticket). ``build_payment`` and ``build_seg_data`` assemble the
response messages from those and from signatures made elsewhere (clearinghouse.pm).

Errors: bad input raises SigningRefused(BAD_REQUEST, ...) naming the field and what was wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.signer.limits import EXPIRATION_BLOCK_MAX
from clearinghouse.domain.money import ADDRESS_BYTES, HASH_BYTES, Address, Wei

SIGNATURE_BYTES = 65
UINT256_MAX = 2**256 - 1
EMPTY_SEGMENT_HASH = bytes.fromhex(
    "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
)
"""keccak256(b""): the hash of the empty segment that remote-signer SegData carries."""
INVALID_PROFILES = b"invalid"
"""go-livepeer puts these 7 bytes in SegData.profiles on purpose: no transcoding is asked for."""


@dataclass(frozen=True, slots=True)
class OrchestratorOffer:
    """What one OrchestratorInfo offers, checked; ``*_pb`` fields are serialized sub-messages."""

    transcoder: str
    address: Address
    price_per_unit: int
    pixels_per_unit: int
    recipient: Address
    face_value_wei: Wei
    win_prob: int
    recipient_rand_hash: bytes
    expiration_block: int
    creation_round: int
    creation_round_block_hash: bytes
    auth_token_expiration_s: int
    ticket_params_pb: bytes
    expiration_params_pb: bytes
    price_info_pb: bytes
    auth_token_pb: bytes

    @property
    def pm_session_id(self) -> str:
        """The recipientRandHash as go-livepeer names a PM session: 0x + lowercase hex."""
        return "0x" + self.recipient_rand_hash.hex()


def _refuse(message: str) -> SigningRefused:
    return SigningRefused(Refusal.BAD_REQUEST, message)


_MessageT = TypeVar("_MessageT", bound=Message)


def _parse(message: _MessageT, data: bytes, what: str) -> _MessageT:
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise _refuse(f"invalid {what} protobuf: {exc}") from exc
    return message


def decode_offer(orchestrator_info: bytes) -> OrchestratorOffer:
    """Parse and check a serialized OrchestratorInfo (checks in go-livepeer's order, tightened).

    Requires: price_info with pricePerUnit > 0 and pixelsPerUnit > 0; ticket_params with a
    20-byte recipient, face value and win probability < 2^256, a 32-byte recipientRandHash,
    a non-zero expiration block below 2^63 (EXPIRATION_BLOCK_MAX), and expiration_params with a
    round > 0 and a 32-byte block hash; a 20-byte address; an auth_token. Raises
    SigningRefused(BAD_REQUEST) otherwise.
    """
    if not orchestrator_info:
        raise _refuse("missing orchestrator")
    info = _parse(lp_rpc_pb2.OrchestratorInfo(), orchestrator_info, "OrchestratorInfo")
    price = info.price_info
    if not info.HasField("price_info") or price.pricePerUnit <= 0 or price.pixelsPerUnit <= 0:
        raise _refuse(
            "missing or zero priceInfo: pricePerUnit and pixelsPerUnit must be > 0, "
            f"got {price.pricePerUnit}/{price.pixelsPerUnit}"
        )
    if not info.HasField("ticket_params"):
        raise _refuse("missing ticketParams in OrchestratorInfo")
    if not info.HasField("auth_token"):
        raise _refuse("missing auth token in OrchestratorInfo")
    return _offer(
        info.ticket_params,
        info.ticket_params.expiration_params,
        price,
        transcoder=info.transcoder,
        address=_fixed_bytes("OrchestratorInfo.address", info.address, ADDRESS_BYTES),
        auth_token=info.auth_token,
    )


def decode_ticket_offer(
    ticket_params: bytes, expiration_params: bytes | None, price_info: bytes
) -> OrchestratorOffer:
    """Parse and check an orchestrator's ticket params and price given without OrchestratorInfo
    (clearinghouse.v1 SignTickets): the checks of ``decode_offer`` on those parts.

    ``expiration_params`` None means the ones inside the ticket params; given as well as those,
    both must be equal. The offer has no auth token (expiration 0) and the recipient as its
    address. Raises SigningRefused(BAD_REQUEST) naming what is wrong.
    """
    params = _parse(lp_rpc_pb2.TicketParams(), ticket_params, "TicketParams")
    price = _parse(lp_rpc_pb2.PriceInfo(), price_info, "PriceInfo")
    if price.pricePerUnit <= 0 or price.pixelsPerUnit <= 0:
        raise _refuse(
            "missing or zero priceInfo: pricePerUnit and pixelsPerUnit must be > 0, "
            f"got {price.pricePerUnit}/{price.pixelsPerUnit}"
        )
    expiration = params.expiration_params
    if expiration_params is not None:
        given = _parse(lp_rpc_pb2.TicketExpirationParams(), expiration_params, "TicketExpirationParams")
        if params.HasField("expiration_params") and given != expiration:
            raise _refuse("expiration_params differ from ticket_params.expiration_params")
        expiration = given
    recipient = _fixed_bytes("ticket_params.recipient", params.recipient, ADDRESS_BYTES)
    return _offer(
        params, expiration, price, transcoder="", address=recipient, auth_token=lp_rpc_pb2.AuthToken()
    )


def _offer(
    params: lp_rpc_pb2.TicketParams,
    expiration: lp_rpc_pb2.TicketExpirationParams,
    price: lp_rpc_pb2.PriceInfo,
    *,
    transcoder: str,
    address: bytes,
    auth_token: lp_rpc_pb2.AuthToken,
) -> OrchestratorOffer:
    offer = OrchestratorOffer(
        transcoder=transcoder,
        address=Address(address),
        price_per_unit=price.pricePerUnit,
        pixels_per_unit=price.pixelsPerUnit,
        recipient=Address(_fixed_bytes("ticket_params.recipient", params.recipient, ADDRESS_BYTES)),
        face_value_wei=Wei(_uint256("ticket_params.face_value", params.face_value)),
        win_prob=_uint256("ticket_params.win_prob", params.win_prob),
        recipient_rand_hash=_fixed_bytes(
            "ticket_params.recipient_rand_hash", params.recipient_rand_hash, HASH_BYTES
        ),
        expiration_block=_block_number("ticket_params.expiration_block", params.expiration_block),
        creation_round=expiration.creation_round,
        creation_round_block_hash=expiration.creation_round_block_hash,
        auth_token_expiration_s=auth_token.expiration,
        ticket_params_pb=params.SerializeToString(),
        expiration_params_pb=expiration.SerializeToString(),
        price_info_pb=price.SerializeToString(),
        auth_token_pb=auth_token.SerializeToString(),
    )
    _check_expiration(offer)
    return offer


def _check_expiration(offer: OrchestratorOffer) -> None:
    # go-livepeer skips every sender-side check when expiration_block is 0 and makes up
    # expiration params from its own round; spec 01 makes both errors: real tickets carry them.
    if offer.expiration_block == 0:
        raise _refuse("ticket_params.expiration_block is 0: the orchestrator gave no expiry")
    if offer.creation_round <= 0:
        raise _refuse(
            "ticket_params.expiration_params.creation_round must be > 0, "
            f"got {offer.creation_round}"
        )
    _fixed_bytes("creation_round_block_hash", offer.creation_round_block_hash, HASH_BYTES)
    if offer.creation_round_block_hash == bytes(HASH_BYTES):
        raise _refuse("ticket_params.expiration_params.creation_round_block_hash is all zeros")


def _fixed_bytes(name: str, value: bytes, length: int) -> bytes:
    if len(value) != length:
        raise _refuse(f"{name} must be {length} bytes, got {len(value)}")
    return value


def _uint256(name: str, value: bytes) -> int:
    number = int.from_bytes(value, "big")
    if number > UINT256_MAX:
        raise _refuse(f"{name} must be below 2^256, got a {len(value)}-byte integer")
    return number


def _block_number(name: str, value: bytes) -> int:
    # go-livepeer takes any big.Int here; the ledger keeps block numbers as signed 64-bit.
    number = int.from_bytes(value, "big")
    if number > EXPIRATION_BLOCK_MAX:
        raise _refuse(f"{name} must be below 2^63, got a {len(value)}-byte integer")
    return number


def decode_capabilities(capabilities: bytes) -> lp_rpc_pb2.Capabilities | None:
    """The request's Capabilities message, None when absent (empty).

    Raises SigningRefused(BAD_REQUEST) when the bytes are not a Capabilities protobuf.
    """
    if not capabilities:
        return None
    return _parse(lp_rpc_pb2.Capabilities(), capabilities, "capabilities")


def minimal_big_endian(value: int) -> bytes:
    """An unsigned integer as protobuf big-integer bytes: minimal big-endian, b"" for zero."""
    if value < 0:
        raise ValueError(f"expected a non-negative integer, got {value}")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def build_payment(
    offer: OrchestratorOffer, sender: bytes, signed_tickets: Sequence[tuple[int, bytes]]
) -> lp_rpc_pb2.Payment:
    """The Payment for ``signed_tickets`` ((nonce, 65-byte signature) pairs, in nonce order).

    ticket_params, expiration_params and expected_price are the orchestrator's, byte for
    byte as parsed (unknown fields included). Raises ValueError for a sender that is not 20
    bytes, a signature that is not 65 bytes, or no tickets.
    """
    if len(sender) != ADDRESS_BYTES:
        raise ValueError(f"sender must be {ADDRESS_BYTES} bytes, got {len(sender)}")
    if not signed_tickets:
        raise ValueError("a Payment needs at least one signed ticket")
    payment = lp_rpc_pb2.Payment(sender=sender)
    payment.ticket_params.ParseFromString(offer.ticket_params_pb)
    payment.expiration_params.ParseFromString(offer.expiration_params_pb)
    payment.expected_price.ParseFromString(offer.price_info_pb)
    for nonce, signature in signed_tickets:
        if len(signature) != SIGNATURE_BYTES:
            raise ValueError(
                f"ticket signature must be {SIGNATURE_BYTES} bytes, "
                f"got {len(signature)} for nonce {nonce}"
            )
        payment.ticket_sender_params.add(sender_nonce=nonce, sig=signature)
    return payment


def seg_creds_preimage(manifest_id: str) -> bytes:
    """The bytes whose keccak256 the segment credentials sign (spec 02 "Segment credentials").

    manifestId ‖ leftpad32(seq = 0) ‖ keccak256("") ‖ (no profile ids): sign it with
    personal_sign(key, keccak256(preimage)).
    """
    return manifest_id.encode("utf-8") + bytes(32) + EMPTY_SEGMENT_HASH


def build_seg_data(
    manifest_id: str,
    offer: OrchestratorOffer,
    capabilities: lp_rpc_pb2.Capabilities | None,
    signature: bytes,
) -> lp_rpc_pb2.SegData:
    """SegData for the empty segment: credentials a payment carries (header Livepeer-Segment).

    ``signature`` is personal_sign(key, keccak256(seg_creds_preimage(manifest_id))).
    Raises ValueError for a signature that is not 65 bytes.
    """
    if len(signature) != SIGNATURE_BYTES:
        raise ValueError(f"segment signature must be {SIGNATURE_BYTES} bytes, got {len(signature)}")
    seg = lp_rpc_pb2.SegData(
        manifestId=manifest_id.encode("utf-8"),
        seq=0,
        hash=EMPTY_SEGMENT_HASH,
        profiles=INVALID_PROFILES,
        sig=signature,
        duration=0,
    )
    seg.auth_token.ParseFromString(offer.auth_token_pb)
    if capabilities is not None:
        seg.capabilities.CopyFrom(capabilities)
    return seg
