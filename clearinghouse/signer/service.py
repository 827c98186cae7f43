"""The payment service: one /generate-live-payment call from decoded input to recorded answer.

Transports (HTTP, gRPC) authenticate the caller and decode the request, then call
``PaymentService.generate_payment`` (or ``submit_payment``), which follows the signing order of
STYLE.md in two parts. First, in the caller's thread, everything that needs no database
(``payment_work``): one clock reading for the whole call, decode the offer and verify the
state's signature, plan (clearinghouse.signer.decision: chain and deposit guard, params, price,
fee, ticket count) with at most ``tickets_per_call_max`` tickets, and sign the segment
credentials. Then, in the ledger committer's next batch, in the call's savepoint
(``PaymentWork``):

    the operator's kill switch
    → the state must be the stored head, or a retry of the call that advanced it (idempotency);
      a first call (no state) repeated within first_call_retry_window_s gets the stored answer
    → nonces continued above the highest the ledger holds for the recipientRandHash
    → a new session: the gateway must have fewer than ``sessions_per_gateway_max`` open ones
    → the gateway's credit control (the batch's earlier calls counted) → sign in memory
    → record head, signing record and tickets; the batch books postings and rollups
    → COMMIT of the batch → answer

Nothing is signed before the checks pass, and nothing leaves before the record is committed:
a refusal, a crash or a database error loses no record of a ticket that left the process. The
authoritative session state is the database's; a client's state blob is only a claim that must
match it, so a replayed, older or forked state is refused (STALE_STATE) instead of re-signing
nonces or re-spending a balance.

Open sessions. A session is open while its head moved within ``session_idle_s`` (SESSION_IDLE_S):
go-livepeer pays a live stream every few seconds, so a running stream's session is never idle
that long, and one that is has been abandoned (the stream ended or moved to another
orchestrator). The cap counts concurrent streams (one session per stream and orchestrator), not
sessions ever made: a gateway running many streams for months never accumulates towards it, and
one opening sessions in a loop is stopped at SESSIONS_PER_GATEWAY_MAX within any idle window.
Only opening a session is refused (``SessionsExhausted``, answered 429 with Retry-After: the
time until the least recently paid open session goes idle); calls on existing sessions carry on.
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from eth_utils.address import to_checksum_address

from clearinghouse import ledger, pm
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer.billing import MaxPrice
from clearinghouse.signer.decision import (
    ChainView,
    PaymentPlan,
    PaymentPolicy,
    PaymentRequest,
    plan_payment,
    with_ledger_nonce,
)
from clearinghouse.signer.errors import DeadlineExceeded, Refusal, SessionsExhausted, SigningRefused
from clearinghouse.signer.ledger_signer import LedgerSigner
from clearinghouse.signer.limits import (
    FIRST_CALL_RETRY_WINDOW_S,
    SESSION_IDLE_S,
    SESSIONS_PER_GATEWAY_MAX,
    TICKETS_PER_CALL_MAX,
)
from clearinghouse.signer.pipelines import pipeline_of
from clearinghouse.signer.state import RemotePaymentState, encode_state, open_state
from clearinghouse.signer.wire import (
    OrchestratorOffer,
    build_seg_data,
    decode_capabilities,
    decode_offer,
    seg_creds_preimage,
)

STATE_ID_BYTES = 16
"""Random bytes in a new StateID (hex in the blob): unguessable, so a state cannot be forged
by guessing another session's id, and collisions are out of reach."""

MANIFEST_ID_BYTES = 8
"""Random bytes in a ManifestID we make up when a first call has none (go-livepeer uses 8)."""

SEGMENT_SIGNATURES_CACHED_MAX = 16_384
"""Segment-credential signatures kept (least recently used dropped): one per live session, so
more than the open sessions of a busy signer, in about 2 MiB."""

@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, as the transport authenticated it."""

    gateway_id: int
    api_key_id: int | None
    usage_subject: str | None = None
    auth_id: str = ""
    auth_expiry: int = 0
    max_price: Fraction | None = None

    @property
    def subject(self) -> str | None:
        """The end user a call is attributed to: the key's or header's subject, else the webhook's."""
        return self.usage_subject or self.auth_id or None


@dataclass(frozen=True, slots=True)
class PaymentCall:
    """A /generate-live-payment request as the transport decoded it (bytes are base64-decoded)."""

    orchestrator_info: bytes
    state: bytes | None
    state_signature: bytes | None
    manifest_id: str
    billing_type: str
    in_pixels: int
    app: str
    max_price: MaxPrice | None
    capabilities: bytes | None


@dataclass(frozen=True, slots=True)
class PaymentResult:
    """The answer: serialized Payment and SegData, the new state and our signature over it."""

    payment: bytes
    seg_creds: bytes
    state: bytes
    state_signature: bytes
    ticket_count: int
    replayed: bool


class PaymentService(LedgerSigner):
    """Signs and records payments for authenticated gateways; safe to call from many threads."""

    def __init__(
        self,
        db: ledger.Database,
        private_key: bytes,
        chain_view: Callable[[], ChainView],
        policy: PaymentPolicy,
        clock_ns: Callable[[], int] = time.time_ns,
        rate_snapshot: Callable[[], int | None] = lambda: None,
        *,
        tickets_per_call_max: int = TICKETS_PER_CALL_MAX,
        sessions_per_gateway_max: int = SESSIONS_PER_GATEWAY_MAX,
        session_idle_s: float = SESSION_IDLE_S,
        first_call_retry_window_s: float = FIRST_CALL_RETRY_WINDOW_S,
        committer: ledger.Committer | None = None,
    ) -> None:
        """As LedgerSigner; also signs our address once for /sign-orchestrator-info. Raises
        ValueError as LedgerSigner, and unless sessions_per_gateway_max >= 1, session_idle_s > 0
        and first_call_retry_window_s >= 0 (0: a retried first call opens a new session)."""
        if sessions_per_gateway_max < 1 or not session_idle_s > 0 or not first_call_retry_window_s >= 0:
            raise ValueError("sessions_per_gateway_max must be >= 1, session_idle_s > 0, first_call_retry_window_s >= 0")
        self._first_call_retry_window_s = first_call_retry_window_s
        super().__init__(db, private_key, chain_view, policy, clock_ns, rate_snapshot,
                         tickets_per_call_max=tickets_per_call_max, committer=committer)
        self._sessions_per_gateway_max = sessions_per_gateway_max
        self._session_idle_s = session_idle_s
        self._segment_signatures: OrderedDict[str, bytes] = OrderedDict()
        self._segment_signatures_lock = threading.Lock()
        checksummed = to_checksum_address(self.address)
        self._info_signature = (checksummed, pm.personal_sign(private_key, pm.keccak256(checksummed.encode())))

    def orchestrator_info_signature(self) -> tuple[str, bytes]:
        """Our EIP-55 address and the personal-sign of keccak256 of its 42 ASCII bytes (spec 02)."""
        return self._info_signature

    def ready(self) -> bool:
        """True when the database answers and its schema is current."""
        try:
            ledger.check_database_current(self._db)
        except ledger.LedgerError:
            return False
        return True

    def generate_payment(
        self, caller: Caller, call: PaymentCall, *, deadline_s: float | None = None
    ) -> PaymentResult:
        """Sign and record the tickets one call needs, or refuse having signed nothing.

        ``payment_work`` (no database) in the calling thread, then the rest in the committer's
        next batch; returns once that batch committed. ``deadline_s`` (a ``time.monotonic()``
        value) is when the caller stops waiting: a call still queued then, or whose batch
        reaches it past then, signs nothing (DeadlineExceeded). A retry's stored answer is
        returned anyway.

        Raises SigningRefused (reason in precedence order, see errors.Refusal; TOO_MANY_TICKETS
        also above the configured ``tickets_per_call_max``), SessionsExhausted when a new
        session would pass the gateway's open-session cap, ledger.SpendRefused when the
        gateway's credit control forbids the EV this call needs (checked in the batch's
        transaction, counting the batch's earlier calls, so racing calls cannot overspend),
        DeadlineExceeded, ledger.LedgerBusy when the committer's queue is full, and
        ledger.DatabaseUnavailable; any other exception is a bug and rolls the call back.
        """
        return self.commit(self.payment_work(caller, call, deadline_s=deadline_s)).result()

    @property
    def work_may_wait(self) -> bool:
        """Whether ``payment_work`` may wait on the chain: with the operator's recipient check
        (active orchestrators only), which waits for an answer up to its bound. Otherwise it
        reads memory only, and a transport may run it where it likes."""
        return self._policy.recipient_check is not None

    def commit(self, work: PaymentWork) -> Future[PaymentResult]:
        """Queue a prepared call on the committer (``LedgerBusy`` when its queue is full)."""
        return self._committer.submit(work)

    def payment_work(
        self, caller: Caller, call: PaymentCall, *, deadline_s: float | None = None
    ) -> PaymentWork:
        """Everything a call needs that no database does: decode the offer and check the state's
        signature, plan with the chain view, price ceilings and policy, the ticket cap, and sign
        the segment credentials (not a ticket). Reads the clock once, for the whole call.

        Raises what ``generate_payment`` raises for the input itself. A refusal that depends on
        the moment (chain health, expiry, policy) of a call with a state is decided in the
        committer instead, after the head: a retry of a call already recorded gets its stored
        answer, as it always did.
        """
        now_ns = self._clock_ns()
        offer = decode_offer(call.orchestrator_info)
        previous = self._open_previous(call)
        capabilities = None if call.capabilities is None else decode_capabilities(call.capabilities)
        state_id = previous.state_id if previous is not None else secrets.token_hex(STATE_ID_BYTES)
        at = datetime_of_ns(now_ns)
        keys = ledger.CallKeys(
            state_id=state_id, gateway_id=caller.gateway_id, usage_subject=caller.subject,
            recipient_rand_hash=offer.recipient_rand_hash, now=at,
            opens_session_since=None if previous is not None else at - timedelta(seconds=self._session_idle_s),
        )
        context = _CallContext(caller, call, previous, _request_digest(call), deadline_s, capabilities)
        try:
            plan = self._plan(caller, call, offer, previous, state_id, now_ns)
            self._check_ticket_count(plan.ticket_count)
        except SigningRefused as refusal:
            if not self._decided_after_the_head(refusal, previous):
                raise
            return PaymentWork(self, keys, context, plan=None, seg_data=b"", deferred=refusal)
        seg_data = build_seg_data(plan.manifest_id, offer, capabilities, self._segment_signature(plan.manifest_id))
        return PaymentWork(self, keys, context, plan=plan, seg_data=seg_data.SerializeToString(), deferred=None)

    def _segment_signature(self, manifest_id: str) -> bytes:
        """Our signature of the segment credentials, which depend on the ManifestID alone: a
        session sends the same one on every call, so it is signed once (signatures are
        deterministic, RFC 6979, so a cached one is the very bytes signing again would give)."""
        with self._segment_signatures_lock:
            known = self._segment_signatures.get(manifest_id)
            if known is not None:
                self._segment_signatures.move_to_end(manifest_id)
                return known
        signature = pm.personal_sign(self._key, pm.keccak256(seg_creds_preimage(manifest_id)))
        with self._segment_signatures_lock:
            self._segment_signatures[manifest_id] = signature
            if len(self._segment_signatures) > SEGMENT_SIGNATURES_CACHED_MAX:
                self._segment_signatures.popitem(last=False)
        return signature

    def _decided_after_the_head(self, refusal: SigningRefused, previous: RemotePaymentState | None) -> bool:
        """Whether a refusal met before the committer waits for the head: one that could meet a
        retry of a recorded call (which gets its stored answer instead). Never "no tickets
        needed" (_REFUSED_AT_ONCE); for a first call, not a bad request either (the request
        alone decides it), and nothing at all without the first-call retry window."""
        if refusal.reason in _REFUSED_AT_ONCE:
            return False
        if previous is None:
            return refusal.reason is not Refusal.BAD_REQUEST and self._first_call_retry_window_s > 0
        return True

    def retried_first_call(
        self, lock: ledger.CallLedger, caller: Caller, digest: bytes
    ) -> ledger.SigningRecord | None:
        """The stored record of this first call (no state) when the same gateway and subject sent
        the byte-identical request within first_call_retry_window_s: a client that lost the answer
        gets it again instead of a second session it would pay for (spec 02, issue #15). Claimed
        under a unique key before planning, so two identical first calls at once sign once
        (ledger/first_calls.py), in one batch or in two."""
        if self._first_call_retry_window_s <= 0:
            return None
        subject = (caller.subject or "").encode()
        key = pm.keccak256(digest + len(subject).to_bytes(4, "big") + subject)
        return lock.claim_first_call(caller.gateway_id, key, self._first_call_retry_window_s)

    def check_session_room(self, lock: ledger.CallLedger, gateway_id: int, now: datetime) -> None:
        """Refuse a new session when the gateway already has its cap of open ones; counted in the
        batch (its earlier calls included), so racing new sessions cannot both take the last place."""
        since = now - timedelta(seconds=self._session_idle_s)
        count, least_recent = lock.open_sessions(gateway_id, since)
        if count < self._sessions_per_gateway_max:
            return
        frees_in_s = self._session_idle_s if least_recent is None else (least_recent - since).total_seconds()
        raise SessionsExhausted(gateway_id, count, self._sessions_per_gateway_max, max(1, math.ceil(frees_in_s)))

    def _open_previous(self, call: PaymentCall) -> RemotePaymentState | None:
        if not call.state:
            return None
        if call.state_signature is None:
            raise SigningRefused(Refusal.BAD_REQUEST, "state has no Sig")
        try:
            return open_state(call.state, call.state_signature, self.address)
        except ValueError as exc:  # the blob decodes wrongly; a bad signature is refused inside
            raise SigningRefused(Refusal.BAD_REQUEST, f"invalid state: {exc}") from exc

    def _plan(
        self,
        caller: Caller,
        call: PaymentCall,
        offer: OrchestratorOffer,
        previous: RemotePaymentState | None,
        state_id: str,
        now_ns: int,
    ) -> PaymentPlan:
        """The plan from the client's state; its nonces are moved above the ledger's in the
        committer (decision.with_ledger_nonce)."""
        if previous is not None and previous.auth_id and previous.auth_id != caller.auth_id:
            raise SigningRefused(
                Refusal.BAD_REQUEST,
                f"auth_id changed within a session: state has {previous.auth_id!r}, "
                f"authorization gave {caller.auth_id!r}",
            )
        request = PaymentRequest(
            billing_type=call.billing_type,
            in_pixels=call.in_pixels,
            app=call.app,
            manifest_id=call.manifest_id,
            max_price=call.max_price,
        )
        try:
            plan = plan_payment(
                offer,
                previous,
                request,
                self._chain_view(),
                tightened(self._policy, caller.max_price),
                now_ns,
                new_state_id=state_id,
                new_manifest_id=secrets.token_hex(MANIFEST_ID_BYTES),
            )
        except SigningRefused as refusal:
            _point_to_orchestrator(refusal, offer)
            raise
        return replace(
            plan, state=replace(plan.state, auth_id=caller.auth_id, auth_expiry=caller.auth_expiry)
        )

    def sign_payment(self, plan: PaymentPlan, seg_data: bytes) -> tuple[PaymentResult, tuple[ledger.SignedTicket, ...]]:
        """Sign the plan's tickets and its state (in the committer, once every check passed)."""
        offer = plan.offer
        batch, payment = self._sign_tickets_on(offer, plan.nonces)
        state = encode_state(plan.state)
        result = PaymentResult(
            payment=payment.SerializeToString(),
            seg_creds=seg_data,
            state=state,
            state_signature=pm.personal_sign(self._key, state),
            ticket_count=plan.ticket_count,
            replayed=False,
        )
        tickets = tuple(
            ledger.SignedTicket(offer.recipient_rand_hash, nonce, ticket_hash)
            for nonce, (ticket_hash, _) in zip(plan.nonces, batch, strict=True)
        )
        return result, tickets


_REFUSED_AT_ONCE = frozenset({Refusal.NO_TICKETS_NEEDED})
"""The refusal answered before the committer even for a call with a state: the request's own
state decides it, and no retry of a recorded call can meet it (time only adds units, so a
balance that covers a retry covered the original). It is the common answer of a session paying
often (482, the state echoed unchanged), so it never waits for a batch; a replayed old state
that it refuses gets 482 where the head would have said 409, and either way nothing is signed.
Every other refusal of a call with a state is decided after the head (payment_work), so a stale
or forked state is 409 first and a retry gets its stored answer, as before group commit."""


@dataclass(frozen=True, slots=True)
class _CallContext:
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
    context: _CallContext
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
            _point_to_orchestrator(refusal, plan.offer)
            raise


def datetime_of_ns(now_ns: int) -> datetime:
    """A clock reading in ns since the epoch as a UTC datetime (microseconds, exact)."""
    return datetime.fromtimestamp(now_ns // 10**9, UTC) + timedelta(microseconds=now_ns % 10**9 // 1000)


def _point_to_orchestrator(refusal: SigningRefused, offer: OrchestratorOffer) -> None:
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
    """Raise DeadlineExceeded when ``deadline_s`` (``time.monotonic()``) has passed."""
    if deadline_s is not None and time.monotonic() >= deadline_s:
        raise DeadlineExceeded("the call's deadline passed before signing; nothing was signed")


def tightened(policy: PaymentPolicy, ceiling: Fraction | None) -> PaymentPolicy:
    """The operator's policy with the caller's own price ceiling (webhook maxPrice) applied."""
    if ceiling is None or (policy.max_price is not None and policy.max_price <= ceiling):
        return policy
    return replace(policy, max_price=ceiling)


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


def _request_digest(call: PaymentCall) -> bytes:
    """A digest of everything a call asks for, so a retry can be told from a fork."""
    fields = [
        call.orchestrator_info,
        call.state or b"",
        call.state_signature or b"",
        call.manifest_id.encode(),
        call.billing_type.encode(),
        str(call.in_pixels).encode(),
        call.app.encode(),
        b"" if call.max_price is None else repr(call.max_price).encode(),
        call.capabilities or b"",
    ]
    return pm.keccak256(b"".join(len(f).to_bytes(4, "big") + f for f in fields))


def _signing_call(
    work: PaymentWork, plan: PaymentPlan, tickets: tuple[ledger.SignedTicket, ...], result: PaymentResult
) -> ledger.SigningCall:
    """The ledger's record of this call (spec 05), with the head it leads to."""
    caller, offer = work.context.caller, plan.offer
    capability, model_id = _capability_and_model(work.context.capabilities)
    return ledger.SigningCall(
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


def _head(caller: Caller, plan: PaymentPlan, state_bytes: bytes) -> ledger.SessionHead:
    state = plan.state
    return ledger.SessionHead(
        state_id=state.state_id,
        gateway_id=caller.gateway_id,
        orchestrator_address=state.orchestrator_address,
        app=state.app,
        billing_type=ledger.BillingType(state.type),
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
