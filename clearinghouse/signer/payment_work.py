"""A payment call's database part: what the ledger committer runs for it, in its savepoint.

``PaymentService.payment_work`` (service.py) does everything a call needs that no database does
and returns a ``PaymentWork``; the committer (ledger/committer.py) runs it in its next batch, in
the call's savepoint: the kill switch, the head (stale, fork, retry, a retried first call), a
refusal decided before, nonces above the ledger's, the open-session cap, credit, the deadline,
then signing and the record (``_signing_call``: the ledger's record of the call, with the stored
answer a retry gets back).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from clearinghouse import ledger, pm
from clearinghouse.domain.sessions import BillingType, SessionHead
from clearinghouse.domain.tickets import SignedTicket, SigningCall
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer.calls import Caller, PaymentCall, PaymentResult
from clearinghouse.signer.decision import PaymentPlan, with_ledger_nonce
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.signer.pipelines import pipeline_of
from clearinghouse.signer.state import RemotePaymentState
from clearinghouse.signer.wire import OrchestratorOffer

if TYPE_CHECKING:  # the service makes the work; the work calls back into it
    from clearinghouse.signer.service import PaymentService


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a payment call brought, as payment_work decoded it."""

    caller: Caller
    call: PaymentCall
    previous: RemotePaymentState | None
    digest: bytes
    deadline_s: float | None
    capabilities: lp_rpc_pb2.Capabilities | None


@dataclass(frozen=True, slots=True)
class PaymentWork:
    """A payment call's database part, run by the committer in the call's savepoint:
    kill switch → head (stale, fork, retry) → a refusal decided before → nonces above the
    ledger's → open-session cap → credit → deadline → sign → record."""

    service: PaymentService
    keys: ledger.CallKeys
    context: CallContext
    plan: PaymentPlan | None
    seg_data: bytes
    deferred: SigningRefused | None

    def __call__(self, lock: ledger.CallLedger) -> PaymentResult:
        context, caller = self.context, self.context.caller
        try:
            refuse_if_halted(lock, caller)
            stored = _check_head(lock, caller, context.call, context.previous, context.digest)
            if stored is None and context.previous is None:
                stored = self.service.retried_first_call(lock, caller, context.digest)
            if stored is not None:
                return _decode_response(stored.response)
            refuse_if_past(context.deadline_s)
            if self.deferred is not None or self.plan is None:
                raise self.deferred or ledger.InvariantViolation("a payment work without a plan")
            plan = self._continued(lock, self.plan)
            if context.previous is None:
                self.service.check_session_room(lock, caller.gateway_id, self.keys.now)
            lock.check_spend(caller.gateway_id, caller.subject, plan.ticket_count * plan.ev_wei, self.keys.now)
            refuse_if_past(context.deadline_s)
            result, tickets = self.service.sign_payment(plan, self.seg_data)
            lock.record(_signing_call(self, plan, tickets, result))
        except (ledger.StaleSession, ledger.IdempotencyConflict) as exc:
            raise SigningRefused(Refusal.STALE_STATE, f"stale state: {exc}") from exc
        except ledger.DuplicateTicket as exc:
            # Another replica signed under the same recipientRandHash at the same moment; our
            # tickets never left, so refusing is safe and the client's retry gets fresh nonces.
            raise SigningRefused(Refusal.STALE_STATE, f"stale state: concurrent signing ({exc}); retry") from exc
        return result

    def _continued(self, lock: ledger.CallLedger, plan: PaymentPlan) -> PaymentPlan:
        try:
            return with_ledger_nonce(plan, lock.last_issued_nonce(plan.offer.recipient_rand_hash))
        except SigningRefused as refusal:
            point_to_orchestrator(refusal, plan.offer)
            raise


def point_to_orchestrator(refusal: SigningRefused, offer: OrchestratorOffer) -> None:
    """A refresh or nonce refusal tells the client where to fetch fresh OrchestratorInfo."""
    if refusal.reason in (Refusal.REFRESH_SESSION, Refusal.NONCES_EXHAUSTED):
        refusal.orchestrator_url = offer.transcoder


def refuse_if_halted(lock: ledger.CallLedger, caller: Caller) -> None:
    """The operator's kill switch (global or this gateway's) stops signing first thing in the
    batch, before a retry's stored answer; read once per batch, in its transaction."""
    halt = lock.signing_halt(caller.gateway_id)
    if halt is not None:
        raise SigningRefused(
            Refusal.SIGNER_UNSAFE, f"signing halted by the operator ({halt.scope}): {halt.reason}"
        )


def refuse_if_past(deadline_s: float | None) -> None:
    """Refuse (DEADLINE_EXCEEDED) when ``deadline_s`` (``time.monotonic()``) has passed."""
    if deadline_s is not None and time.monotonic() >= deadline_s:
        raise SigningRefused(Refusal.DEADLINE_EXCEEDED, "the call's deadline passed before signing; nothing was signed")


def _check_head(
    lock: ledger.CallLedger,
    caller: Caller,
    call: PaymentCall,
    previous: RemotePaymentState | None,
    digest: bytes,
) -> ledger.SigningRecord | None:
    """Refuse a state that is not the stored head; return the record a retried call made."""
    head = lock.head
    if previous is None:
        if head is not None:
            raise ledger.InvariantViolation(f"a new random StateID {head.state_id!r} already exists")
        return None
    if head is None or head.gateway_id != caller.gateway_id:
        raise SigningRefused(Refusal.STALE_STATE, "stale state: no such session for this gateway")
    if call.state is None:
        raise ledger.InvariantViolation("a previous state was opened without state bytes")
    if head.sequence_number == previous.sequence_number and head.state_digest == pm.keccak256(call.state):
        return None
    # A retry is the same request again while its answer is still the head (the client lost the
    # response). Once the session moved on, the client has used that answer: it is a replay.
    if head.sequence_number == previous.sequence_number + 1:
        retried = lock.find_record(head.sequence_number)
        if retried is not None and retried.request_digest == digest:
            return retried
    raise SigningRefused(
        Refusal.STALE_STATE,
        f"stale state: sequence {previous.sequence_number} is not the session's latest "
        f"({head.sequence_number}); use the state returned by the last call",
    )


def _signing_call(
    work: PaymentWork, plan: PaymentPlan, tickets: tuple[SignedTicket, ...], result: PaymentResult
) -> SigningCall:
    """The ledger's record of this call (spec 05), with the head it leads to."""
    caller, offer = work.context.caller, plan.offer
    capability, model_id = _capability_and_model(work.context.capabilities)
    return SigningCall(
        gateway_id=caller.gateway_id,
        api_key_id=caller.api_key_id,
        usage_subject=caller.subject,
        request_id=None,
        request_digest=work.context.digest,
        session=_head(caller, plan, result.state),
        recipient=offer.recipient,
        pipeline=pipeline_of(plan.state.type, capability),
        model_id=model_id,
        capability=capability,
        units=plan.units,
        price_per_unit=offer.price_per_unit,
        pixels_per_unit=offer.pixels_per_unit,
        face_value=offer.face_value_wei,
        win_prob=offer.win_prob,
        tickets=tickets,
        creation_round=offer.creation_round,
        creation_round_block_hash=offer.creation_round_block_hash,
        params_expiration_block=offer.expiration_block,
        rate_snapshot_id=work.service.rate_snapshot_id(),
        response=_encode_response(result),
        signed_at=work.keys.now,
    )


def _head(caller: Caller, plan: PaymentPlan, state_bytes: bytes) -> SessionHead:
    state = plan.state
    return SessionHead(
        state_id=state.state_id,
        gateway_id=caller.gateway_id,
        orchestrator_address=state.orchestrator_address,
        app=state.app,
        billing_type=BillingType(state.type),
        manifest_id=plan.manifest_id,
        sequence_number=state.sequence_number,
        sender_nonce=state.sender_nonce,
        pm_session_id=bytes.fromhex(state.pm_session_id[2:]) if state.pm_session_id else None,
        balance=state.balance,
        initial_price_per_unit=state.initial_price_per_unit,
        initial_pixels_per_unit=state.initial_pixels_per_unit,
        last_update_ns=state.last_update_ns,
        auth_expiry=state.auth_expiry,
        auth_id=state.auth_id,
        state_digest=pm.keccak256(state_bytes),
    )


def _capability_and_model(capabilities: lp_rpc_pb2.Capabilities | None) -> tuple[str | None, str | None]:
    """The capability id and model a call is for, when its Capabilities name exactly one of each."""
    if capabilities is None or len(capabilities.constraints.PerCapability) != 1:
        return None, None
    ((capability_id, constraints),) = capabilities.constraints.PerCapability.items()
    models = list(constraints.models)
    return str(capability_id), (models[0] if len(models) == 1 else None)


_RESPONSE_KEYS = ("payment", "seg_creds", "state", "state_signature")


def _encode_response(result: PaymentResult) -> bytes:
    """The stored answer, returned again verbatim to a retried call."""
    fields = {key: base64.b64encode(getattr(result, key)).decode() for key in _RESPONSE_KEYS}
    return json.dumps(fields | {"ticket_count": result.ticket_count}, sort_keys=True).encode()


def _decode_response(stored: bytes) -> PaymentResult:
    fields = json.loads(stored)
    decoded = {key: base64.b64decode(fields[key], validate=True) for key in _RESPONSE_KEYS}
    return PaymentResult(**decoded, ticket_count=int(fields["ticket_count"]), replayed=True)
