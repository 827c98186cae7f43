"""The one refusal of a signing call: ``SigningRefused(reason)``, its closed reason enum
``Refusal`` and the one precedence table ``PRECEDENCE``.

::

    clearinghouse.errors.ClearinghouseError
    └── SigningRefused(reason: Refusal, message)   nothing was signed and no nonce was used;
                                                   extras: orchestrator_url, retry_after_s, limit

Every layer that refuses a call raises this one type: the payment algorithm (signer/), the
chain guard (chain/view.py, chain/monitor.py), the ledger committer (a full queue, credit
control) and billing's overdue stop. A transport answers it through its one table keyed by
``Refusal`` (api/errors.py): spec 02's status on the remote-signer routes, the clearinghouse.v1
reason (its gRPC code and /v1 status) elsewhere. No status appears here.

When one call fails several checks, the reason first in ``PRECEDENCE`` is the one answered:
the checks run in that order (decision.py's planning, the service around it and the
committer's batch). Tests hold the code to it: every planner refusal against every later one
(tests/signer/test_decision.py), the pairs where the code used to depart from it
(tests/signer/test_refusal_order.py) and the same pairs on every transport
(tests/api/test_refusal_precedence.py).
"""

from __future__ import annotations

from enum import StrEnum

from clearinghouse.errors import ClearinghouseError


class Refusal(StrEnum):
    """Why a signing call signed nothing; defined in precedence order (``PRECEDENCE``)."""

    INVOICE_OVERDUE = "invoice_overdue"
    """The gateway is stopped over an invoice past due (billing/overdue.py; spec 02: 483)."""

    BAD_REQUEST = "bad_request"
    """Malformed input, or input inconsistent with the session state (go-livepeer: 400)."""

    STALE_STATE = "stale_state"
    """The state is not the session's stored head: replayed, older, forked or unknown (409)."""

    REQUEST_ID_REUSED = "request_id_reused"
    """A SignTickets request id already recorded for a different request."""

    SIGNER_UNSAFE = "signer_unsafe"
    """Our deposit or reserve is empty or about to unlock, our chain data is stale, the operator
    halted signing, or (with the operator's "active orchestrators only") the recipient cannot be
    confirmed active: no ticket may be signed (503)."""

    REFRESH_SESSION = "refresh_session"
    """Fresh OrchestratorInfo would help (480): the auth token or ticket params are about to
    expire, the creation round is past the ticket validity window, or the next nonce under the
    recipientRandHash would reach SENDER_NONCE_REFRESH_AT (go-livepeer v0.9.2)."""

    PARAMS_REJECTED = "params_rejected"
    """The orchestrator's ticket params could never be redeemed (a creation round after the
    current round, or a block hash the RoundsManager did not record for it), break a sender-side
    rule of spec 01, exceed the face value or EV caps, or name a recipient that is not an
    active orchestrator (400)."""

    PRICE_EXCEEDED = "price_exceeded"
    """The orchestrator's price is above the tightest price ceiling (481)."""

    NO_TICKETS_NEEDED = "no_tickets_needed"
    """The session balance already covers this call (482); the state is unchanged."""

    TOO_MANY_TICKETS = "too_many_tickets"
    """The call would need more tickets than the configured tickets_per_call_max (at most
    TICKETS_PER_CALL_MAX) (go-livepeer: 400)."""

    TOTAL_EV_EXCEEDED = "total_ev_exceeded"
    """The batch's total EV is above the configured maximum total EV (spec 01)."""

    NONCES_EXHAUSTED = "nonces_exhausted"
    """The batch would pass nonce 600 (NONCES_PER_RECIPIENT_RAND_HASH_MAX, the orchestrators' cap) for this
    recipientRandHash: refresh the params (480)."""

    SESSIONS_EXHAUSTED = "sessions_exhausted"
    """Opening a session would pass the gateway's cap of open sessions; ``retry_after_s`` is
    when the least recently paid one goes idle (429: it clears by itself)."""

    INSUFFICIENT_BALANCE = "insufficient_balance"
    """The call's EV would break a credit-control limit named by ``limit`` (483)."""

    SIGNER_BUSY = "signer_busy"
    """The committer's queue is full, it is shutting down, or the event outbox is over its
    maximum: retry after ``retry_after_s`` (503)."""

    DEADLINE_EXCEEDED = "deadline_exceeded"
    """The caller's deadline passed before anything was signed: the request may be fine, the
    caller stopped waiting (a gRPC deadline)."""

    DATABASE_UNAVAILABLE = "database_unavailable"
    """The ledger could not record the call (unreachable, full, read-only, busy): retry later.
    Built by the transports from ``ledger.DatabaseUnavailable``, which every ledger read raises
    too, with a message that never carries the driver's text."""


PRECEDENCE: tuple[Refusal, ...] = tuple(Refusal)
"""Which refusal a call failing several checks gets: the earliest here. Why this order:

1. INVOICE_OVERDUE — read from memory before the request is even decoded: a stopped gateway
   gets nothing signed whatever it sends, and is told why first.
2. BAD_REQUEST — the request's own bytes and their consistency with the state it carries;
   answered before anything that depends on the chain, our health or the database, so a client
   bug is reported as such even while the signer is unhealthy.
3. STALE_STATE, REQUEST_ID_REUSED — the session head and the request id, in the committer: a
   retry of a recorded call gets its stored answer instead of any refusal below (each refusal
   below of a call with a state is decided in the committer, after its head).
4. SIGNER_UNSAFE — chain health and the kill switch, before anything that depends on the
   orchestrator's offer.
5. REFRESH_SESSION, PARAMS_REJECTED, PRICE_EXCEEDED — the offer: expiry first (fresh params may
   fix the rest), then the params, then the price.
6. NO_TICKETS_NEEDED, TOO_MANY_TICKETS, TOTAL_EV_EXCEEDED, NONCES_EXHAUSTED — the ticket count
   and what it adds up to; the configured ticket cap before the total EV it bounds.
7. SESSIONS_EXHAUSTED, INSUFFICIENT_BALANCE — the gateway's limits, in the committer's batch,
   counting the batch's earlier calls: only a call that would otherwise sign reaches them.
8. SIGNER_BUSY, DEADLINE_EXCEEDED, DATABASE_UNAVAILABLE — our own condition, not the call's:
   ranked last because they say nothing about the request. A call meets them where it is when
   they happen (admission to the committer, the batch, the commit), so they pre-empt any check
   the committer had not run yet.

Before any of these come the transport's own answers, which are not refusals of the call:
authentication, rate limit, a body that does not decode (api/errors.py's ApiErrors).

Two documented exceptions, both about where a check runs:

- NO_TICKETS_NEEDED of a call with a state is answered before the committer (signer/service.py
  ``_REFUSED_AT_ONCE``), since no retry of a recorded call can meet it; a replayed state that it
  refuses gets 482 where the head would have said 409.
- The operator's kill switch (SIGNER_UNSAFE, "signing halted") is read first in a payment
  call's committer work, before the head and a retry's stored answer (signer/payment_work.py):
  a halted signer answers nothing else, so there it outranks STALE_STATE. (A SignTickets retry
  still gets its stored answer, or REQUEST_ID_REUSED, first: signer/tickets.py.)
"""

class SpendLimit(StrEnum):
    """The credit-control limit a call would break, in precedence order (the first one wins)."""

    OVERDUE_INVOICE = "overdue_invoice"  # an invoice past due under a stop-signing policy: checked first,
    # before the committer, from memory (billing/overdue.py)
    BALANCE = "balance"  # a prepaid gateway's funds (top-ups − EV signed ± adjustments)
    CREDIT_LIMIT = "credit_limit"  # what a credit gateway may owe
    QUOTA = "quota"  # the gateway's EV signed per period
    SUBJECT_QUOTA = "subject_quota"  # one usage subject's EV signed per period
    USER_ALLOWANCE = "user_allowance"  # an app's end user: its grant less its spend (identity.py)


class SigningRefused(ClearinghouseError):
    """A signing call was refused; nothing was signed, recorded or used (no nonce, no exposure).

    ``reason`` says why (transports map it to their status); ``message`` is client-safe. The
    extras some reasons carry: ``orchestrator_url`` (where a refreshing client re-fetches
    OrchestratorInfo), ``retry_after_s`` (SESSIONS_EXHAUSTED, SIGNER_BUSY: whole seconds >= 1),
    ``limit`` (INVOICE_OVERDUE, INSUFFICIENT_BALANCE: the credit-control limit).
    """

    def __init__(
        self,
        reason: Refusal,
        message: str,
        *,
        orchestrator_url: str | None = None,
        retry_after_s: int | None = None,
        limit: SpendLimit | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.orchestrator_url = orchestrator_url
        self.retry_after_s = retry_after_s
        self.limit = limit

    def __repr__(self) -> str:
        return f"SigningRefused({self.reason.value!r}, {self.message!r})"


def over_limit(limit: SpendLimit, message: str) -> SigningRefused:
    """Credit control's refusal: the overdue stop ranks first (checked before the request is
    decoded), every other limit with the gateway's limits in the batch."""
    reason = Refusal.INVOICE_OVERDUE if limit is SpendLimit.OVERDUE_INVOICE else Refusal.INSUFFICIENT_BALANCE
    return SigningRefused(reason, message, limit=limit)


def sessions_exhausted(gateway_id: int, open_sessions: int, sessions_max: int, retry_after_s: int) -> SigningRefused:
    """A new session over the gateway's cap of open sessions; ``retry_after_s`` (>= 1) is when
    the least recently paid open session goes idle, unless it is paid again first."""
    return SigningRefused(
        Refusal.SESSIONS_EXHAUSTED,
        f"too many open sessions: gateway {gateway_id} has {open_sessions} sessions paid within the last "
        f"idle window, at most {sessions_max} allowed; existing sessions keep working, a new one may "
        f"open in {retry_after_s} s",
        retry_after_s=retry_after_s,
    )
