"""Every answer of the HTTP transport other than 200, and the one Refusal → status table.

::

    clearinghouse.errors.ClearinghouseError
    └── ApiError(status, message)     an error answer: {"error": {"message": …}} with a status
        ├── BadRequest                400  malformed JSON, base64, field type or length
        ├── Unauthenticated           401  missing, malformed, unknown or revoked API key
        ├── GatewayDisabled           403  the key's gateway is disabled
        ├── InsufficientScope         403  a bearer token without scope sign:job
        ├── RouteNotFound             404
        ├── MethodNotAllowed          405
        ├── RequestTimeout            408  the body did not arrive in time
        ├── PayloadTooLarge           413  body over REQUEST_BODY_BYTES_MAX
        ├── HeadersTooLarge           431  headers over request_header_bytes_max
        ├── RateLimited               429  over the gateway's calls/s (rate_limit.py)
        ├── WebhookDenied             the authorization webhook's own status and reason
        ├── ServiceUnavailable        503  overloaded, database down, webhook unreachable
        └── InternalError             500  always answered as "Internal Server Error"

A ``SessionsExhausted`` (a new session over the gateway's open-session cap) is answered 429 with
Retry-After on every transport (RATE_LIMITED on clearinghouse.v1): like a rate limit it clears by
itself as sessions go idle, which is what 429 tells a client; 483 would say "pay first", which
would not help. A ``SigningRefused`` from the payment service becomes an ApiError through ``REFUSAL_STATUS``
(``refusal_error``); nothing else in the transport chooses a status for a refusal. Messages of
these errors go to the client, so they never contain an API key, the pepper or a webhook
credential.

The clearinghouse.v1 API (gRPC, and the JSON routes under /v1/) answers every error with a
machine-readable ``Reason``, the same string on both transports. ``REFUSAL_REASON`` names the
reason of each refusal and ``REASON_STATUS`` is the one table of what each reason is on the wire:
its gRPC status code and its /v1 HTTP status. ``v1_answer`` classifies any exception the
service code raises. The remote-signer routes keep spec 02's statuses (``REFUSAL_STATUS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import grpc

from clearinghouse.errors import ClearinghouseError
from clearinghouse.ledger import DatabaseUnavailable, IdempotencyConflict, LedgerBusy, SpendRefused
from clearinghouse.signer.errors import DeadlineExceeded, Refusal, SigningRefused
from clearinghouse.signer.errors import SessionsExhausted

ORCHESTRATOR_URL_HEADER = "Livepeer-Orchestrator-URL"
"""Where a client re-fetches OrchestratorInfo after a 480 (go-livepeer's header name)."""

INTERNAL_ERROR_MESSAGE = "Internal Server Error"

REFUSAL_STATUS: Mapping[Refusal, int] = {
    Refusal.BAD_REQUEST: 400,
    Refusal.STALE_STATE: 409,
    Refusal.SIGNER_UNSAFE: 503,
    Refusal.REFRESH_SESSION: 480,
    Refusal.PARAMS_REJECTED: 400,
    Refusal.PRICE_EXCEEDED: 481,
    Refusal.NO_TICKETS_NEEDED: 482,
    Refusal.TOO_MANY_TICKETS: 400,
    Refusal.TOTAL_EV_EXCEEDED: 400,
    Refusal.NONCES_EXHAUSTED: 480,
}
"""Spec 02's status of each refusal. 480 asks the client to re-fetch OrchestratorInfo (expiring
auth token or params, or a PM session out of nonces), 481 is a price ceiling, 482 "no tickets
needed", 409 a state that is not the session's head. 483 is reserved for credit limits."""

SPEND_REFUSED_STATUS = 483
"""A gateway over its balance, credit limit or quota (``clearinghouse.ledger.SpendRefused``):
the community's "insufficient balance" status of spec 02."""

SESSIONS_EXHAUSTED_STATUS = 429
"""A new session over the gateway's cap of open sessions (``SessionsExhausted``), with Retry-After."""


class Reason(StrEnum):
    """Why a clearinghouse.v1 call failed: gRPC ErrorInfo.reason and /v1 ``error.reason``."""

    BAD_REQUEST = "BAD_REQUEST"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    GATEWAY_DISABLED = "GATEWAY_DISABLED"
    INSUFFICIENT_SCOPE = "INSUFFICIENT_SCOPE"
    NOT_FOUND = "NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    HEADERS_TOO_LARGE = "HEADERS_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    STALE_STATE = "STALE_STATE"
    REQUEST_ID_REUSED = "REQUEST_ID_REUSED"
    SIGNER_UNHEALTHY = "SIGNER_UNHEALTHY"
    REFRESH_SESSION = "REFRESH_SESSION"
    PARAMS_REJECTED = "PARAMS_REJECTED"
    PRICE_EXCEEDED = "PRICE_EXCEEDED"
    NO_TICKETS_NEEDED = "NO_TICKETS_NEEDED"
    TOO_MANY_TICKETS = "TOO_MANY_TICKETS"
    TOTAL_EV_EXCEEDED = "TOTAL_EV_EXCEEDED"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    SIGNER_BUSY = "SIGNER_BUSY"
    UNAVAILABLE = "UNAVAILABLE"
    WEBHOOK_DENIED = "WEBHOOK_DENIED"
    INTERNAL = "INTERNAL"


_C = grpc.StatusCode
REASON_STATUS: Mapping[Reason, tuple[grpc.StatusCode, int]] = {
    Reason.BAD_REQUEST: (_C.INVALID_ARGUMENT, 400),
    Reason.UNAUTHENTICATED: (_C.UNAUTHENTICATED, 401),
    Reason.GATEWAY_DISABLED: (_C.PERMISSION_DENIED, 403),
    Reason.INSUFFICIENT_SCOPE: (_C.PERMISSION_DENIED, 403),
    Reason.NOT_FOUND: (_C.NOT_FOUND, 404),
    Reason.METHOD_NOT_ALLOWED: (_C.UNIMPLEMENTED, 405),
    Reason.REQUEST_TIMEOUT: (_C.DEADLINE_EXCEEDED, 408),
    Reason.PAYLOAD_TOO_LARGE: (_C.RESOURCE_EXHAUSTED, 413),
    Reason.HEADERS_TOO_LARGE: (_C.INVALID_ARGUMENT, 431),
    Reason.RATE_LIMITED: (_C.RESOURCE_EXHAUSTED, 429),
    Reason.STALE_STATE: (_C.ABORTED, 409),
    Reason.REQUEST_ID_REUSED: (_C.ALREADY_EXISTS, 409),
    Reason.SIGNER_UNHEALTHY: (_C.UNAVAILABLE, 503),
    Reason.REFRESH_SESSION: (_C.FAILED_PRECONDITION, 422),
    Reason.PARAMS_REJECTED: (_C.INVALID_ARGUMENT, 422),
    Reason.PRICE_EXCEEDED: (_C.FAILED_PRECONDITION, 422),
    Reason.NO_TICKETS_NEEDED: (_C.FAILED_PRECONDITION, 422),
    Reason.TOO_MANY_TICKETS: (_C.OUT_OF_RANGE, 422),
    Reason.TOTAL_EV_EXCEEDED: (_C.OUT_OF_RANGE, 422),
    Reason.INSUFFICIENT_BALANCE: (_C.RESOURCE_EXHAUSTED, 402),
    Reason.DEADLINE_EXCEEDED: (_C.DEADLINE_EXCEEDED, 504),
    Reason.SIGNER_BUSY: (_C.RESOURCE_EXHAUSTED, 503),
    Reason.UNAVAILABLE: (_C.UNAVAILABLE, 503),
    Reason.WEBHOOK_DENIED: (_C.PERMISSION_DENIED, 403),
    Reason.INTERNAL: (_C.INTERNAL, 500),
}
"""The clearinghouse.v1 wire form of every reason: (gRPC status code, /v1 HTTP status).

ABORTED (409) is a state that is not the session's head: re-read it, do not blindly retry;
FAILED_PRECONDITION (422) asks the client to change something first (fetch fresh
OrchestratorInfo on REFRESH_SESSION, skip the cycle on NO_TICKETS_NEEDED); RESOURCE_EXHAUSTED is
a gateway over its credit (402, "payment required") or its call rate (429), or the signer's
queue full (SIGNER_BUSY, 503 with Retry-After: retry in a second); UNAVAILABLE (503) is
retryable elsewhere or later: our deposit is unhealthy or the database is down."""

NORMAL_FLOW: frozenset[Reason] = frozenset({
    Reason.NO_TICKETS_NEEDED, Reason.REFRESH_SESSION, Reason.PRICE_EXCEEDED, Reason.PARAMS_REJECTED,
    Reason.STALE_STATE, Reason.RATE_LIMITED, Reason.SIGNER_BUSY,
})
"""Reasons a well-behaved client meets in normal operation and acts on (skip the cycle, refresh,
pick another orchestrator, back off) rather than failures; the proto's header lists them apart."""

REFUSAL_REASON: Mapping[Refusal, Reason] = {
    Refusal.BAD_REQUEST: Reason.BAD_REQUEST,
    Refusal.STALE_STATE: Reason.STALE_STATE,
    Refusal.SIGNER_UNSAFE: Reason.SIGNER_UNHEALTHY,
    Refusal.REFRESH_SESSION: Reason.REFRESH_SESSION,
    Refusal.PARAMS_REJECTED: Reason.PARAMS_REJECTED,
    Refusal.PRICE_EXCEEDED: Reason.PRICE_EXCEEDED,
    Refusal.NO_TICKETS_NEEDED: Reason.NO_TICKETS_NEEDED,
    Refusal.TOO_MANY_TICKETS: Reason.TOO_MANY_TICKETS,
    Refusal.TOTAL_EV_EXCEEDED: Reason.TOTAL_EV_EXCEEDED,
    Refusal.NONCES_EXHAUSTED: Reason.REFRESH_SESSION,
}
"""The clearinghouse.v1 reason of each refusal. Nonces exhausted is a refresh, as spec 02's 480:
the client's remedy (fetch fresh ticket params) is the same, so it needs no reason of its own."""


@dataclass(frozen=True, slots=True)
class V1Answer:
    """How the clearinghouse.v1 API answers one error: reason, client-safe message, and the
    orchestrator URL to re-fetch OrchestratorInfo from (a refresh), when known."""

    reason: Reason
    message: str
    orchestrator_url: str | None = None
    retry_after_s: int | None = None
    limit: str | None = None
    """Which credit-control limit refused the call (``SpendLimit``: the gateway's balance, credit
    limit or quotas, or an end user's allowance), for INSUFFICIENT_BALANCE."""

    @property
    def grpc_code(self) -> grpc.StatusCode:
        return REASON_STATUS[self.reason][0]

    @property
    def http_status(self) -> int:
        return REASON_STATUS[self.reason][1]


def v1_answer(error: Exception) -> V1Answer | None:
    """The clearinghouse.v1 answer to an exception from the service code; None for a bug.

    Translates SigningRefused (REFUSAL_REASON), SpendRefused (INSUFFICIENT_BALANCE),
    SessionsExhausted (RATE_LIMITED), LedgerBusy (SIGNER_BUSY, the committer's queue is full),
    IdempotencyConflict (REQUEST_ID_REUSED: a request id reused for another request),
    DeadlineExceeded, DatabaseUnavailable (UNAVAILABLE; its message is never passed on) and
    every ApiError (its ``reason``). An InternalError or anything else is the caller's to log.
    """
    if isinstance(error, SigningRefused):
        return V1Answer(REFUSAL_REASON[error.reason], error.message, error.orchestrator_url)
    if isinstance(error, SpendRefused):
        return V1Answer(Reason.INSUFFICIENT_BALANCE, str(error), limit=error.limit.value)
    if isinstance(error, SessionsExhausted):
        return V1Answer(Reason.RATE_LIMITED, str(error), retry_after_s=error.retry_after_s)
    if isinstance(error, LedgerBusy):
        return V1Answer(Reason.SIGNER_BUSY, str(error), retry_after_s=error.retry_after_s)
    if isinstance(error, IdempotencyConflict):
        return V1Answer(Reason.REQUEST_ID_REUSED, f"request id reused for a different request: {error}")
    if isinstance(error, DeadlineExceeded):
        return V1Answer(Reason.DEADLINE_EXCEEDED, str(error))
    if isinstance(error, DatabaseUnavailable):
        return V1Answer(Reason.UNAVAILABLE, database_unavailable_message(error))
    if isinstance(error, ApiError) and not isinstance(error, InternalError):
        return V1Answer(error.reason, error.message)
    return None


def database_unavailable_message(error: DatabaseUnavailable) -> str:
    """What a caller is told: the fault's name (unreachable, full, read_only, busy), never the
    driver's message, which may name hosts and users."""
    return f"database unavailable ({error.fault.value}); retry later"


class ApiError(ClearinghouseError):
    """An error answer: ``status``, a client-safe ``message``, extra headers and body fields;
    ``reason`` is its clearinghouse.v1 Reason."""

    status = 500
    reason = Reason.INTERNAL

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        body_fields: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.headers: Mapping[str, str] = headers or {}
        self.body_fields: Mapping[str, Any] = body_fields or {}


class BadRequest(ApiError):
    status = 400
    reason = Reason.BAD_REQUEST


class Unauthenticated(ApiError):
    status = 401
    reason = Reason.UNAUTHENTICATED


class GatewayDisabled(ApiError):
    status = 403
    reason = Reason.GATEWAY_DISABLED


class InsufficientScope(ApiError):
    status = 403
    reason = Reason.INSUFFICIENT_SCOPE


class RouteNotFound(ApiError):
    status = 404
    reason = Reason.NOT_FOUND


class MethodNotAllowed(ApiError):
    status = 405
    reason = Reason.METHOD_NOT_ALLOWED


class RequestTimeout(ApiError):
    status = 408
    reason = Reason.REQUEST_TIMEOUT


class PayloadTooLarge(ApiError):
    status = 413
    reason = Reason.PAYLOAD_TOO_LARGE


class HeadersTooLarge(ApiError):
    status = 431
    reason = Reason.HEADERS_TOO_LARGE


class RateLimited(ApiError):
    """The gateway is over its calls/s rate limit (rate_limit.py); nothing was signed."""

    status = 429
    reason = Reason.RATE_LIMITED


class WebhookDenied(ApiError):
    """The webhook answered a non-200 ``status``; the client gets that status and reason."""

    reason = Reason.WEBHOOK_DENIED


class ServiceUnavailable(ApiError):
    status = 503
    reason = Reason.UNAVAILABLE


class InternalError(ApiError):
    """A failure the client cannot fix; the detail is logged, the client sees only the status."""

    status = 500

    def __init__(self, detail: str) -> None:
        super().__init__(INTERNAL_ERROR_MESSAGE)
        self.detail = detail


def refusal_error(refusal: SigningRefused, state_echo: Mapping[str, Any] | None) -> ApiError:
    """The answer to a refused payment call (REFUSAL_STATUS).

    A refresh (480) names the orchestrator URL in ``Livepeer-Orchestrator-URL``; "no tickets
    needed" (482) carries the unchanged state the client sent, so a client that stores every
    answer's state keeps a valid one (go-livepeer issue #4077).
    """
    status = REFUSAL_STATUS[refusal.reason]
    headers: dict[str, str] = {}
    body_fields: dict[str, Any] = {}
    if status == 480 and refusal.orchestrator_url and _header_safe(refusal.orchestrator_url):
        headers[ORCHESTRATOR_URL_HEADER] = refusal.orchestrator_url
    if refusal.reason is Refusal.NO_TICKETS_NEEDED and state_echo is not None:
        body_fields["state"] = state_echo
    return ApiError(refusal.message, status=status, headers=headers, body_fields=body_fields)


def _header_safe(value: str) -> bool:
    """True for visible ASCII and spaces only: the URL comes from the client's OrchestratorInfo,
    and a CR or LF in it must not split our response headers."""
    return all(" " <= char <= "~" for char in value)
