"""The payment service: one /generate-live-payment call from decoded input to recorded answer.

Transports (HTTP, gRPC) authenticate the caller and decode the request, then call
``PaymentService.generate_payment`` (or ``submit_payment``), which follows the signing order of
STYLE.md in two parts. First, in the caller's thread, everything that needs no database
(``payment_work``): one clock reading for the whole call, decode the offer and verify the
state's signature, plan (clearinghouse.signer.decision: chain and deposit guard, params, price,
fee, ticket count) with at most ``tickets_per_call_max`` tickets, and sign the segment
credentials. Then, in the ledger committer's next batch, in the call's savepoint
(``PaymentWork``, payment_work.py):

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
Only opening a session is refused (SESSIONS_EXHAUSTED, answered 429 with Retry-After: the
time until the least recently paid open session goes idle); calls on existing sessions carry on.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from eth_utils.address import to_checksum_address

from clearinghouse import ledger, pm
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.refusals import Refusal, SigningRefused, sessions_exhausted
from clearinghouse.domain.tickets import SignedTicket
from clearinghouse.errors import LedgerError
from clearinghouse.signer.calls import Caller, PaymentCall, PaymentResult
from clearinghouse.signer.decision import (
    PaymentPlan,
    PaymentPolicy,
    PaymentRequest,
    plan_payment,
)
from clearinghouse.signer.issued_states import IssuedStates
from clearinghouse.signer.ledger_signer import LedgerSigner
from clearinghouse.signer.limits import (
    FIRST_CALL_RETRY_WINDOW_S,
    SEGMENT_SIGNATURES_CACHED_MAX,
    SESSION_IDLE_S,
    SESSIONS_PER_GATEWAY_MAX,
    TICKETS_PER_CALL_MAX,
)
from clearinghouse.signer.payment_work import (
    CallContext,
    PaymentWork,
    point_to_orchestrator,
)
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
        overdue_guard: Callable[[int], None] | None = None,
    ) -> None:
        """As LedgerSigner; also signs our address once for /sign-orchestrator-info. Raises
        ValueError as LedgerSigner, and unless sessions_per_gateway_max >= 1, session_idle_s > 0
        and first_call_retry_window_s >= 0 (0: a retried first call opens a new session)."""
        if sessions_per_gateway_max < 1 or not session_idle_s > 0 or not first_call_retry_window_s >= 0:
            raise ValueError("sessions_per_gateway_max must be >= 1, session_idle_s > 0, first_call_retry_window_s >= 0")
        self._first_call_retry_window_s = first_call_retry_window_s
        super().__init__(db, private_key, chain_view, policy, clock_ns, rate_snapshot,
                         tickets_per_call_max=tickets_per_call_max, committer=committer,
                         overdue_guard=overdue_guard)
        self._sessions_per_gateway_max = sessions_per_gateway_max
        self._session_idle_s = session_idle_s
        self._issued_states = IssuedStates()
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
        except LedgerError:
            return False
        return True

    def generate_payment(
        self, caller: Caller, call: PaymentCall, *, deadline_s: float | None = None
    ) -> PaymentResult:
        """Sign and record the tickets one call needs, or refuse having signed nothing.

        ``payment_work`` (no database) in the calling thread, then the rest in the committer's
        next batch; returns once that batch committed. ``deadline_s`` (a ``time.monotonic()``
        value) is when the caller stops waiting: a call still queued then, or whose batch
        reaches it past then, signs nothing (DEADLINE_EXCEEDED). A retry's stored answer is
        returned anyway.

        Raises SigningRefused, its reason first in domain.refusals.PRECEDENCE among those the
        call meets: TOO_MANY_TICKETS also above the configured ``tickets_per_call_max``,
        SESSIONS_EXHAUSTED when a new session would pass the gateway's open-session cap,
        INSUFFICIENT_BALANCE when the gateway's credit control forbids the EV this call needs
        (checked in the batch's transaction, counting the batch's earlier calls, so racing calls
        cannot overspend), DEADLINE_EXCEEDED, SIGNER_BUSY when the committer's queue is full.
        Raises ledger.DatabaseUnavailable; any other exception is a bug and rolls the call back.
        """
        return self.commit(self.payment_work(caller, call, deadline_s=deadline_s)).result()

    @property
    def work_may_wait(self) -> bool:
        """Whether ``payment_work`` may wait on the chain: with the operator's recipient check
        (active orchestrators only), which waits for an answer up to its bound. Otherwise it
        reads memory only, and a transport may run it where it likes."""
        return self._policy.recipient_check is not None

    def commit(self, work: PaymentWork) -> Future[PaymentResult]:
        """Queue a prepared call on the committer (SIGNER_BUSY when its queue is full)."""
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
        self._check_overdue(caller.gateway_id)
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
        context = CallContext(caller, call, previous, _request_digest(call), deadline_s, capabilities)
        try:
            plan = self._plan(caller, call, offer, previous, state_id, now_ns)
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
        raise sessions_exhausted(gateway_id, count, self._sessions_per_gateway_max, max(1, math.ceil(frees_in_s)))

    def _open_previous(self, call: PaymentCall) -> RemotePaymentState | None:
        if not call.state:
            return None
        if call.state_signature is None:
            raise SigningRefused(Refusal.BAD_REQUEST, "state has no Sig")
        issued = self._issued_states.recall(call.state, call.state_signature)
        if issued is not None:
            return issued
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
                self._chain_view,  # the chain guard, read after the request's own checks
                tightened(self._policy, caller.max_price),
                now_ns,
                new_state_id=state_id,
                new_manifest_id=secrets.token_hex(MANIFEST_ID_BYTES),
                tickets_per_call_max=self._tickets_per_call_max,
            )
        except SigningRefused as refusal:
            point_to_orchestrator(refusal, offer)
            raise
        return replace(
            plan, state=replace(plan.state, auth_id=caller.auth_id, auth_expiry=caller.auth_expiry)
        )

    def sign_payment(self, plan: PaymentPlan, seg_data: bytes) -> tuple[PaymentResult, tuple[SignedTicket, ...]]:
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
        # Should its batch fail, the state never leaves and nobody can send it back.
        self._issued_states.remember(state, result.state_signature, plan.state)
        tickets = tuple(
            SignedTicket(offer.recipient_rand_hash, nonce, ticket_hash)
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


def datetime_of_ns(now_ns: int) -> datetime:
    """A clock reading in ns since the epoch as a UTC datetime (microseconds, exact)."""
    return datetime.fromtimestamp(now_ns // 10**9, UTC) + timedelta(microseconds=now_ns % 10**9 // 1000)


def tightened(policy: PaymentPolicy, ceiling: Fraction | None) -> PaymentPolicy:
    """The operator's policy with the caller's own price ceiling (webhook maxPrice) applied."""
    if ceiling is None or (policy.max_price is not None and policy.max_price <= ceiling):
        return policy
    return replace(policy, max_price=ceiling)


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
