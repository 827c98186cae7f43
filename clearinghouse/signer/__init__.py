"""The remote-signer payment algorithm of spec 02, independent of HTTP, gRPC and storage.

Pure functions and frozen dataclasses: no clock reads (the caller passes ``now_ns``), no I/O,
no signing. A transport decodes the request, then:

    offer = decode_offer(orchestrator_info_bytes)
    previous = open_state(blob, sig, our_address)  # or None
    plan = plan_payment(offer, previous, request, chain, policy, now_ns,
                        new_state_id=…, new_manifest_id=…)
    batch = pm.sign_ticket_batch(
        key, offer.recipient, our_address, offer.face_value_wei, offer.win_prob,
        offer.recipient_rand_hash, offer.creation_round, offer.creation_round_block_hash,
        plan.first_nonce, plan.ticket_count)
    payment = build_payment(offer, our_address, list(zip(plan.nonces, (sig for _, sig in batch))))
    seg = build_seg_data(plan.manifest_id, offer, capabilities,
                         pm.personal_sign(key, pm.keccak256(seg_creds_preimage(plan.manifest_id))))
    blob = encode_state(plan.state); sig = pm.personal_sign(key, blob)

Refusals raise ``SigningRefused`` whose ``reason`` (a ``Refusal``) the transport maps to a status.

Around that algorithm, the services the transports call: ``service`` (PaymentService: one
remote-signer payment, recorded on the ledger), ``tickets`` (TicketService: tickets on a
caller-managed session) and ``gateway_service`` (GatewayService: the clearinghouse.v1 operations
both of its transports, gRPC and /v1, call).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearinghouse.facades import Facade

if TYPE_CHECKING:
    from clearinghouse.domain.chain_view import ChainView
    from clearinghouse.domain.refusals import Refusal, SigningRefused
    from clearinghouse.domain.sessions import BillingType
    from clearinghouse.signer.billing import MaxPrice, fee_wei
    from clearinghouse.signer.decision import (
        PaymentPlan,
        PaymentPolicy,
        PaymentRequest,
        plan_payment,
    )
    from clearinghouse.signer.state import (
        RemotePaymentState,
        decode_state,
        encode_state,
        open_state,
    )
    from clearinghouse.signer.wire import (
        OrchestratorOffer,
        build_payment,
        build_seg_data,
        decode_capabilities,
        decode_offer,
        minimal_big_endian,
        seg_creds_preimage,
    )

__all__ = [
    "BillingType",
    "ChainView",
    "MaxPrice",
    "OrchestratorOffer",
    "PaymentPlan",
    "PaymentPolicy",
    "PaymentRequest",
    "Refusal",
    "RemotePaymentState",
    "SigningRefused",
    "build_payment",
    "build_seg_data",
    "decode_capabilities",
    "decode_offer",
    "decode_state",
    "encode_state",
    "fee_wei",
    "minimal_big_endian",
    "open_state",
    "plan_payment",
    "seg_creds_preimage",
]

_EXPORTS = Facade(__name__, __file__)


def __getattr__(name: str) -> object:
    """Each name is imported from its module on first use (clearinghouse.facades)."""
    return _EXPORTS.load(name)
