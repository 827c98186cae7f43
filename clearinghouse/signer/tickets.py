"""Tickets for integrators who manage their sessions themselves (clearinghouse.v1 SignTickets).

The caller brings an orchestrator's TicketParams, ExpirationParams and PriceInfo and a ticket
count; we assign the nonces, sign, record, and answer the Payment and the ticket hashes. There
is no state blob, no billing unit and no balance for the caller to carry: it decides how many
tickets its work is worth.

Design — the remote-signer session store and ledger, not a parallel one:

- **One ticket session per (gateway, orchestrator params).** Each call is recorded in the
  ``payment_sessions`` / ``signing_records`` tables like a GeneratePayment call, under a
  session whose StateID is derived (``ticket_session_id``: ``tk`` + 40 hex digits of
  keccak256(gateway id ‖ recipient ‖ recipientRandHash ‖ price)), so random 32-hex StateIDs
  never collide with it and two gateways on the same params never share one. The committer
  runs that gateway's calls on those params one after another (and on PostgreSQL the session's
  row is locked for its batch, so replicas take turns); its head moves by one sequence
  number per call, its PMSessionID is the recipientRandHash, its SenderNonce the last nonce
  issued, and its type ``fixed`` with one billable unit per call (so the recorded fee is the
  orchestrator's price for one unit; the gateway is billed the EV signed, spec 05).
- **Server-assigned nonces.** Nonces continue above the highest ever signed under the
  recipientRandHash by any session (``CallLedger.last_issued_nonce``; on PostgreSQL the batch
  holds the hash's advisory lock), so SignTickets and GeneratePayment calls on the same
  params never reuse a (recipientRandHash, nonce); the ``signed_tickets`` unique constraint
  backs it.
- **Idempotent on the request id.** The record carries the client's request id and a digest
  of the request. A retry is looked up before anything else and gets the stored answer; the
  same id with a different request is refused (REQUEST_ID_REUSED). Two racing
  calls with one id in one process meet in the committer, where the second finds the first's
  record; on two replicas UNIQUE(gateway_id, request_id) refuses the second record, which
  ``CallLedger.record`` answers with the first one's (or a ledger.IdempotencyConflict, refused as
  REQUEST_ID_REUSED); tickets signed
  in memory for the loser never leave the process.

The signing order is PaymentService's: validate → (authenticated caller) → plan without the
database (params, price, total EV) → in the committer: a retry's stored answer → kill switch →
nonces → credit check → deadline → sign in memory → record → the batch's commit → answer.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from fractions import Fraction

from clearinghouse import ledger, pm
from clearinghouse.domain.sessions import BillingType, SessionHead
from clearinghouse.domain.tickets import SignedTicket, SigningCall
from clearinghouse.signer.decision import TicketPlan, plan_ticket_batch, tickets_with_ledger_nonce
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.signer.ledger_signer import LedgerSigner
from clearinghouse.signer.calls import Caller
from clearinghouse.signer.payment_work import refuse_if_halted, refuse_if_past
from clearinghouse.signer.service import datetime_of_ns, tightened
from clearinghouse.signer.wire import OrchestratorOffer, decode_ticket_offer

TICKET_SESSION_PREFIX = "tk"
TICKET_SESSION_HASH_BYTES = 20
"""160 bits of the derivation's hash in the StateID: collisions out of reach, 42 characters in all."""

BILLED_UNITS_PER_CALL = 1
"""A SignTickets call is one ``fixed`` unit: the caller, not us, knows what its tickets pay for."""


@dataclass(frozen=True, slots=True)
class TicketRequest:
    """A SignTickets request as the transport decoded it (serialized net.* messages)."""

    request_id: str
    ticket_params: bytes
    expiration_params: bytes | None
    price_info: bytes
    ticket_count: int


@dataclass(frozen=True, slots=True)
class TicketBatch:
    """The answer: a serialized Payment, its tickets' (nonce, ticket hash) in nonce order, their
    total EV, and whether it is a retry's stored answer."""

    payment: bytes
    tickets: tuple[tuple[int, bytes], ...]
    ev_signed_wei: Fraction
    replayed: bool


class TicketService(LedgerSigner):
    """Signs and records ticket batches for authenticated gateways; safe from many threads."""

    def sign_tickets(
        self, caller: Caller, request: TicketRequest, *, deadline_s: float | None = None
    ) -> TicketBatch:
        """Sign and record ``request.ticket_count`` tickets, or refuse having signed nothing.

        ``ticket_work`` (no database) in the calling thread, the rest in the committer's next
        batch. Raises SigningRefused (the reasons of ``plan_ticket_batch``, STALE_STATE when
        another replica signed on the same params at the same moment: retry),
        REQUEST_ID_REUSED (request id reused for another request), INSUFFICIENT_BALANCE,
        DEADLINE_EXCEEDED (a call still queued at its deadline, or reaching signing past it),
        SIGNER_BUSY (the committer's queue is full); ledger.DatabaseUnavailable.
        """
        return self._committer.run(self.ticket_work(caller, request, deadline_s=deadline_s))

    def ticket_work(
        self, caller: Caller, request: TicketRequest, *, deadline_s: float | None = None
    ) -> TicketWork:
        """Decode and plan without the database (the clock read once for the call); a refusal
        that depends on the moment is decided in the committer, after a retry's stored answer."""
        self._check_overdue(caller.gateway_id)
        now_ns = self._clock_ns()
        now = datetime_of_ns(now_ns)
        offer = decode_ticket_offer(request.ticket_params, request.expiration_params, request.price_info)
        keys = ledger.CallKeys(
            state_id=ticket_session_id(caller.gateway_id, offer), gateway_id=caller.gateway_id,
            usage_subject=caller.subject, recipient_rand_hash=offer.recipient_rand_hash, now=now,
            request_id=request.request_id,
        )
        work = TicketWork(self, keys, now_ns, caller, request, _request_digest(request), deadline_s, None, None)
        try:
            plan = plan_ticket_batch(
                offer, request.ticket_count, self._chain_view, tightened(self._policy, caller.max_price),
                ledger_last_nonce=0, tickets_per_call_max=self._tickets_per_call_max,
            )
        except SigningRefused as refusal:
            if refusal.reason in (Refusal.BAD_REQUEST, Refusal.TOO_MANY_TICKETS):
                raise
            return replace(work, deferred=refusal)
        return replace(work, plan=plan)

    def sign_batch(
        self, work: TicketWork, plan: TicketPlan, head: SessionHead | None
    ) -> tuple[TicketBatch, SigningCall]:
        """Sign the plan's tickets (in the committer, once every check passed) and the record."""
        caller, request, offer = work.caller, work.request, plan.offer
        signed, payment = self._sign_tickets_on(offer, plan.nonces)
        tickets = tuple((nonce, ticket_hash) for nonce, (ticket_hash, _) in zip(plan.nonces, signed, strict=True))
        batch = TicketBatch(payment.SerializeToString(), tickets, plan.ev_signed_wei, replayed=False)
        response = _encode(batch)
        call = SigningCall(
            gateway_id=caller.gateway_id,
            api_key_id=caller.api_key_id,
            usage_subject=caller.subject,
            request_id=request.request_id,
            request_digest=work.digest,
            session=self._next_head(work, plan, head, pm.keccak256(response)),
            recipient=offer.recipient,
            pipeline=None,
            model_id=None,
            capability=None,
            units=BILLED_UNITS_PER_CALL,
            price_per_unit=offer.price_per_unit,
            pixels_per_unit=offer.pixels_per_unit,
            face_value=offer.face_value_wei,
            win_prob=offer.win_prob,
            tickets=tuple(SignedTicket(offer.recipient_rand_hash, n, h) for n, h in tickets),
            creation_round=offer.creation_round,
            creation_round_block_hash=offer.creation_round_block_hash,
            params_expiration_block=offer.expiration_block,
            rate_snapshot_id=self.rate_snapshot_id(),
            response=response,
            signed_at=work.keys.now,
        )
        return batch, call

    def _next_head(
        self, work: TicketWork, plan: TicketPlan, head: SessionHead | None, digest: bytes
    ) -> SessionHead:
        """The ticket session's head after this call (module docstring)."""
        offer = plan.offer
        fee = Fraction(offer.price_per_unit, offer.pixels_per_unit) * BILLED_UNITS_PER_CALL
        balance = (Fraction(0) if head is None else head.balance) + plan.ev_signed_wei - fee
        return SessionHead(
            state_id=work.keys.state_id,
            gateway_id=work.caller.gateway_id,
            orchestrator_address=offer.recipient,
            app="",
            billing_type=BillingType.FIXED,
            manifest_id="",
            sequence_number=0 if head is None else head.sequence_number + 1,
            sender_nonce=plan.nonces[-1],
            pm_session_id=offer.recipient_rand_hash,
            balance=balance,
            initial_price_per_unit=offer.price_per_unit,
            initial_pixels_per_unit=offer.pixels_per_unit,
            last_update_ns=work.now_ns,
            auth_expiry=0,
            auth_id="",
            state_digest=digest,
        )


@dataclass(frozen=True, slots=True)
class TicketWork:
    """A SignTickets call's database part, run by the committer in the call's savepoint:
    a retry's stored answer → kill switch → a refusal decided before → nonces above the
    ledger's → credit → deadline → sign → record."""

    service: TicketService
    keys: ledger.CallKeys
    now_ns: int
    caller: Caller
    request: TicketRequest
    digest: bytes
    deadline_s: float | None
    plan: TicketPlan | None
    deferred: SigningRefused | None

    def __call__(self, lock: ledger.CallLedger) -> TicketBatch:
        caller = self.caller
        stored = lock.find_request_record(caller.gateway_id, self.request.request_id)
        if stored is not None:
            return _stored_answer(stored, self.digest)
        refuse_if_past(self.deadline_s)
        try:
            refuse_if_halted(lock, caller)
            if self.deferred is not None or self.plan is None:
                raise self.deferred or ledger.InvariantViolation("a ticket work without a plan")
            plan = tickets_with_ledger_nonce(self.plan, lock.last_issued_nonce(self.plan.offer.recipient_rand_hash))
            lock.check_spend(caller.gateway_id, caller.subject, plan.ev_signed_wei, self.keys.now)
            refuse_if_past(self.deadline_s)
            batch, call = self.service.sign_batch(self, plan, lock.head)
            outcome = lock.record(call)
        except ledger.StaleSession as exc:
            raise SigningRefused(Refusal.STALE_STATE, f"stale state: {exc}; retry") from exc
        except ledger.DuplicateTicket as exc:
            raise SigningRefused(Refusal.STALE_STATE, f"stale state: concurrent signing ({exc}); retry") from exc
        except ledger.IdempotencyConflict as exc:
            raise _request_id_reused(str(exc)) from exc
        if outcome.result is ledger.RecordResult.EXISTS:  # a racing retry on another replica recorded first
            return _stored_answer(outcome.record, self.digest)
        return batch


def ticket_session_id(gateway_id: int, offer: OrchestratorOffer) -> str:
    """The StateID of the gateway's ticket session on these params (module docstring)."""
    material = b"".join(
        [
            gateway_id.to_bytes(8, "big"),
            offer.recipient,
            offer.recipient_rand_hash,
            offer.price_per_unit.to_bytes(8, "big"),
            offer.pixels_per_unit.to_bytes(8, "big"),
        ]
    )
    return TICKET_SESSION_PREFIX + pm.keccak256(material)[:TICKET_SESSION_HASH_BYTES].hex()


def _request_digest(request: TicketRequest) -> bytes:
    """A digest of everything a request asks for, so a retry can be told from a reuse of its id."""
    fields = [
        request.ticket_params,
        request.expiration_params or b"",
        request.price_info,
        str(request.ticket_count).encode(),
    ]
    return pm.keccak256(b"".join(len(f).to_bytes(4, "big") + f for f in fields))


def _request_id_reused(detail: str) -> SigningRefused:
    return SigningRefused(Refusal.REQUEST_ID_REUSED, f"request id reused for a different request: {detail}")


def _stored_answer(record: ledger.SigningRecord, digest: bytes) -> TicketBatch:
    if record.request_digest != digest:
        raise _request_id_reused(
            f"request id {record.request_id!r} was used for a different request (record {record.id})"
        )
    fields = json.loads(record.response)
    return TicketBatch(
        payment=base64.b64decode(fields["payment"], validate=True),
        tickets=tuple((int(nonce), bytes.fromhex(ticket_hash)) for nonce, ticket_hash in fields["tickets"]),
        ev_signed_wei=Fraction(fields["ev_signed_wei"]),
        replayed=True,
    )


def _encode(batch: TicketBatch) -> bytes:
    """The stored answer, returned again verbatim to a retry."""
    fields = {
        "payment": base64.b64encode(batch.payment).decode(),
        "tickets": [[nonce, ticket_hash.hex()] for nonce, ticket_hash in batch.tickets],
        "ev_signed_wei": str(batch.ev_signed_wei),
    }
    return json.dumps(fields, sort_keys=True).encode()
