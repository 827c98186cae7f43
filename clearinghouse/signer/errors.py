"""Why the remote-signer payment algorithm refuses a call, and the exception that says so.

    ClearinghouseError                     (clearinghouse.errors)
    ├── SigningRefused(reason, message)    nothing was signed; ``reason`` is a Refusal
    ├── DeadlineExceeded                   the caller's deadline passed before signing
    └── SessionsExhausted                  a new session would pass the gateway's open-session cap

``Refusal`` is closed and in precedence order: the algorithm evaluates the reasons in this
order, so when a call fails several checks the reason listed first is the one reported. No
HTTP or gRPC status appears here; each transport maps reasons to statuses in one table.
"""

from __future__ import annotations

from enum import StrEnum

from clearinghouse.errors import ClearinghouseError


class Refusal(StrEnum):
    """Outcomes of a payment call that sign nothing, in the order they are checked."""

    BAD_REQUEST = "bad_request"
    """Malformed input, or input inconsistent with the session state (go-livepeer: 400)."""

    STALE_STATE = "stale_state"
    """The state is not the session's stored head: replayed, older, forked or unknown (409)."""

    SIGNER_UNSAFE = "signer_unsafe"
    """Our deposit or reserve is empty or about to unlock, or (with the operator's "active
    orchestrators only") the recipient cannot be confirmed active: no ticket may be signed (503)."""

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
    """The call would need more than TICKETS_PER_CALL_MAX tickets (go-livepeer: 400)."""

    TOTAL_EV_EXCEEDED = "total_ev_exceeded"
    """The batch's total EV is above the configured maximum total EV (spec 01)."""

    NONCES_EXHAUSTED = "nonces_exhausted"
    """The batch would pass nonce 600 (SENDER_NONCE_MAX, the orchestrators' cap) for this
    recipientRandHash: refresh the params (480)."""


class SigningRefused(ClearinghouseError):
    """The payment algorithm refused the call; nothing was signed and no nonce was used."""

    def __init__(self, reason: Refusal, message: str, *, orchestrator_url: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.orchestrator_url = orchestrator_url
        """Where the client re-fetches OrchestratorInfo (Livepeer-Orchestrator-URL on a refresh)."""

    def __repr__(self) -> str:
        return f"SigningRefused({self.reason.value!r}, {self.message!r})"


class DeadlineExceeded(ClearinghouseError):
    """The caller's deadline passed before anything was signed; nothing was signed or recorded.

    Not a Refusal: the request may be fine, the caller just stopped waiting (a gRPC deadline),
    so the answer is the transport's own "deadline exceeded".
    """


class SessionsExhausted(ClearinghouseError):
    """Opening a session would pass the gateway's cap of open sessions; nothing was signed.

    ``retry_after_s`` (whole seconds, >= 1) is when the least recently paid open session goes
    idle, making room, unless it is paid again first.
    """

    def __init__(self, gateway_id: int, open_sessions: int, sessions_max: int, retry_after_s: int) -> None:
        super().__init__(
            f"too many open sessions: gateway {gateway_id} has {open_sessions} sessions paid within the last "
            f"idle window, at most {sessions_max} allowed; existing sessions keep working, a new one may "
            f"open in {retry_after_s} s"
        )
        self.gateway_id = gateway_id
        self.retry_after_s = retry_after_s
