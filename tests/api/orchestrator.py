"""An orchestrator, written from spec 01 alone, that makes ticket params and checks payments.

It shares no code with the signer: keccak256 is pycryptodome's, signatures are recovered with
eth-account, the ticket hash is packed here. ``Orchestrator.offer`` makes an OrchestratorInfo
whose recipientRandHash commits (HMAC) to the seed, sender, face value, win probability,
expiration block, price and auxData; ``Orchestrator.accept`` checks a Payment and SegData the
way an orchestrator does before crediting EV, and raises ``PaymentRejected`` saying why not.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from fractions import Fraction

from Crypto.Hash import keccak
from eth_account import Account
from eth_account.messages import encode_defunct

from clearinghouse.proto import lp_rpc_pb2

NONCES_PER_RAND_HASH_MAX = 600
EMPTY_HASH = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
UINT256_MAX = 2**256 - 1


class PaymentRejected(AssertionError):
    """The orchestrator would refuse this payment."""


def keccak256(data: bytes) -> bytes:
    return keccak.new(data=data, digest_bits=256).digest()


def minimal(value: int) -> bytes:
    """Minimal big-endian bytes; zero is empty (how TicketParams carries big integers)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def recover(message: bytes, signature: bytes) -> bytes:
    """The address that personal-signed ``message`` (eth-account's reference recovery)."""
    address = Account.recover_message(encode_defunct(primitive=message), signature=signature)
    return bytes.fromhex(address[2:])


@dataclass
class Orchestrator:
    """One orchestrator: its secret, price, ticket economics and what it has accepted."""

    address: bytes = bytes.fromhex("73aed7b5deb30222fa896f399d46cc99c7bee57f")
    url: str = "https://orch.example:8935"
    price_per_unit: int = 1
    pixels_per_unit: int = 1
    face_value: int = 105
    win_prob: int = UINT256_MAX // 3
    creation_round: int = 3500
    block_hash: bytes = EMPTY_HASH
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    seen_nonces: dict[bytes, set[int]] = field(default_factory=dict)
    credited_ev: Fraction = Fraction(0)
    tickets_accepted: int = 0

    def aux_data(self) -> bytes:
        return self.creation_round.to_bytes(32, "big") + self.block_hash

    def recipient_rand(
        self,
        seed: bytes,
        sender: bytes,
        face_value: int,
        win_prob: int,
        expiration_block: int,
        price: Fraction,
    ) -> bytes:
        """HMAC-SHA256(secret, seed ‖ sender ‖ faceValue ‖ winProb ‖ expirationBlock ‖ price
        ‖ auxData), every integer minimal big-endian."""
        message = b"".join(
            [
                seed,
                sender,
                minimal(face_value),
                minimal(win_prob),
                minimal(expiration_block),
                minimal(price.numerator),
                minimal(price.denominator),
                self.aux_data(),
            ]
        )
        return hmac.new(self.secret, message, hashlib.sha256).digest()

    def offer(
        self, sender: bytes, expiration_block: int, auth_expiration_s: int
    ) -> lp_rpc_pb2.OrchestratorInfo:
        """Fresh ticket params for ``sender`` (a new seed, so a new recipientRandHash)."""
        seed = secrets.token_bytes(32)
        price = Fraction(self.price_per_unit, self.pixels_per_unit)
        rand = self.recipient_rand(
            seed, sender, self.face_value, self.win_prob, expiration_block, price
        )
        info = lp_rpc_pb2.OrchestratorInfo(transcoder=self.url, address=self.address)
        info.price_info.pricePerUnit = self.price_per_unit
        info.price_info.pixelsPerUnit = self.pixels_per_unit
        params = info.ticket_params
        params.recipient = self.address
        params.face_value = minimal(self.face_value)
        params.win_prob = minimal(self.win_prob)
        params.recipient_rand_hash = keccak256(rand)  # rand is 32 bytes: its own leftpad32
        params.seed = seed
        params.expiration_block = minimal(expiration_block)
        params.expiration_params.creation_round = self.creation_round
        params.expiration_params.creation_round_block_hash = self.block_hash
        info.auth_token.token = secrets.token_bytes(16)
        info.auth_token.session_id = "orch-session"
        info.auth_token.expiration = auth_expiration_s
        return info

    def accept(
        self,
        payment_bytes: bytes,
        seg_bytes: bytes,
        info: lp_rpc_pb2.OrchestratorInfo,
        sender: bytes,
        current_block: int,
    ) -> int:
        """Check a payment made against ``info`` and its segment credentials; credit its EV;
        return its ticket count."""
        self._check_seg_data(seg_bytes, info, sender)
        return self.accept_payment(payment_bytes, info, sender, current_block)

    def accept_payment(
        self,
        payment_bytes: bytes,
        info: lp_rpc_pb2.OrchestratorInfo,
        sender: bytes,
        current_block: int,
    ) -> int:
        """Check a Payment alone (a SignTickets batch comes without SegData); credit its EV;
        return its ticket count."""
        payment = lp_rpc_pb2.Payment.FromString(payment_bytes)
        params = payment.ticket_params
        _require(payment.sender == sender and any(sender), "sender is not the signer's address")
        _require(params.recipient == self.address, "recipient is not this orchestrator")
        _require(
            payment.expected_price == info.price_info, "expected_price differs from our PriceInfo"
        )
        _require(params == info.ticket_params, "ticket params were not echoed verbatim")
        _require(
            payment.expiration_params == info.ticket_params.expiration_params,
            "expiration params differ",
        )
        price = Fraction(payment.expected_price.pricePerUnit, payment.expected_price.pixelsPerUnit)
        face_value, win_prob = (
            int.from_bytes(params.face_value, "big"),
            int.from_bytes(params.win_prob, "big"),
        )
        expiration_block = int.from_bytes(params.expiration_block, "big")
        rand = self.recipient_rand(
            params.seed, sender, face_value, win_prob, expiration_block, price
        )
        _require(
            keccak256(rand) == params.recipient_rand_hash,
            "commitment does not match the echoed seed and price",
        )
        _require(expiration_block > current_block, "ticket params expired")
        _require(len(payment.ticket_sender_params) > 0, "no tickets")
        seen = self.seen_nonces.setdefault(params.recipient_rand_hash, set())
        for ticket in payment.ticket_sender_params:
            nonce = ticket.sender_nonce
            _require(nonce not in seen, f"nonce {nonce} reused")
            _require(
                nonce <= NONCES_PER_RAND_HASH_MAX, f"nonce {nonce} over {NONCES_PER_RAND_HASH_MAX}"
            )
            seen.add(nonce)
            _require(
                recover(
                    self.ticket_hash(
                        sender, face_value, win_prob, nonce, params.recipient_rand_hash
                    ),
                    ticket.sig,
                )
                == sender,
                f"ticket {nonce} not signed by the sender",
            )
        count = len(payment.ticket_sender_params)
        self.credited_ev += count * Fraction(face_value * win_prob, UINT256_MAX)
        self.tickets_accepted += count
        return count

    def ticket_hash(
        self, sender: bytes, face_value: int, win_prob: int, nonce: int, rand_hash: bytes
    ) -> bytes:
        preimage = (
            self.address
            + sender
            + face_value.to_bytes(32, "big")
            + win_prob.to_bytes(32, "big")
            + nonce.to_bytes(32, "big")
            + rand_hash
            + self.aux_data()
        )
        return keccak256(preimage)

    def _check_seg_data(
        self, seg_bytes: bytes, info: lp_rpc_pb2.OrchestratorInfo, sender: bytes
    ) -> None:
        seg = lp_rpc_pb2.SegData.FromString(seg_bytes)
        _require(seg.auth_token == info.auth_token, "SegData auth token is not ours")
        _require(
            seg.hash == EMPTY_HASH and seg.seq == 0 and seg.profiles == b"invalid",
            "SegData is not the empty segment",
        )
        preimage = seg.manifestId + bytes(32) + seg.hash
        _require(
            recover(keccak256(preimage), seg.sig) == sender, "SegData not signed by the sender"
        )


def _require(condition: bool, reason: str) -> None:
    if not condition:
        raise PaymentRejected(reason)
