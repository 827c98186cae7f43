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

Every refusal of a signing call is one type, ``SigningRefused`` (clearinghouse.domain.refusals),
and ``REFUSAL_WIRE`` is the one table of how each ``Refusal`` goes on the wire, on every
transport: spec 02's status on the remote-signer routes, and its clearinghouse.v1 ``Reason``.
``refusal_of`` brings the ledger's DatabaseUnavailable into that type where it enters a
transport; ``refusal_error`` (remote-signer routes) and ``v1_answer`` (/v1 and gRPC) answer
through the table, and nothing else in a transport chooses a status for a refusal. A new session
over the gateway's open-session cap is 429 with Retry-After everywhere (RATE_LIMITED on
clearinghouse.v1): like a rate limit it clears by itself as sessions go idle, which is what 429
tells a client; 483 would say "pay first", which would not help. Messages of these errors go to
the client, so they never contain an API key, the pepper or a webhook credential.

The clearinghouse.v1 API (gRPC, and the JSON routes under /v1/) answers every error with a
machine-readable ``Reason``, the same string on both transports; ``REASON_STATUS`` is the one
table of what each reason is on the wire: its gRPC status code and its /v1 HTTP status.
``v1_answer`` classifies any exception the service code raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import grpc

from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.errors import ClearinghouseError
from clearinghouse.ledger import DatabaseUnavailable

ORCHESTRATOR_URL_HEADER = "Livepeer-Orchestrator-URL"
"""Where a client re-fetches OrchestratorInfo after a 480 (go-livepeer's header name)."""

INTERNAL_ERROR_MESSAGE = "Internal Server Error"

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

@dataclass(frozen=True, slots=True)
class RefusalWire:
    """How one refusal is answered: spec 02's ``status`` on the remote-signer routes, and its
    clearinghouse.v1 ``reason`` (whose gRPC code and /v1 status are ``REASON_STATUS``'s)."""

    status: int
    reason: Reason


REFUSAL_WIRE: Mapping[Refusal, RefusalWire] = {
    Refusal.INVOICE_OVERDUE: RefusalWire(483, Reason.INSUFFICIENT_BALANCE),
    Refusal.BAD_REQUEST: RefusalWire(400, Reason.BAD_REQUEST),
    Refusal.STALE_STATE: RefusalWire(409, Reason.STALE_STATE),
    Refusal.REQUEST_ID_REUSED: RefusalWire(409, Reason.REQUEST_ID_REUSED),
    Refusal.SIGNER_UNSAFE: RefusalWire(503, Reason.SIGNER_UNHEALTHY),
    Refusal.REFRESH_SESSION: RefusalWire(480, Reason.REFRESH_SESSION),
    Refusal.PARAMS_REJECTED: RefusalWire(400, Reason.PARAMS_REJECTED),
    Refusal.PRICE_EXCEEDED: RefusalWire(481, Reason.PRICE_EXCEEDED),
    Refusal.NO_TICKETS_NEEDED: RefusalWire(482, Reason.NO_TICKETS_NEEDED),
    Refusal.TOO_MANY_TICKETS: RefusalWire(400, Reason.TOO_MANY_TICKETS),
    Refusal.TOTAL_EV_EXCEEDED: RefusalWire(400, Reason.TOTAL_EV_EXCEEDED),
    Refusal.NONCES_EXHAUSTED: RefusalWire(480, Reason.REFRESH_SESSION),
    Refusal.SESSIONS_EXHAUSTED: RefusalWire(429, Reason.RATE_LIMITED),
    Refusal.INSUFFICIENT_BALANCE: RefusalWire(483, Reason.INSUFFICIENT_BALANCE),
    Refusal.SIGNER_BUSY: RefusalWire(503, Reason.SIGNER_BUSY),
    Refusal.DEADLINE_EXCEEDED: RefusalWire(504, Reason.DEADLINE_EXCEEDED),
    Refusal.DATABASE_UNAVAILABLE: RefusalWire(503, Reason.UNAVAILABLE),
}
"""Every refusal on the wire. Spec 02's statuses: 480 asks the client to re-fetch
OrchestratorInfo (expiring auth token or params, or a PM session out of nonces), 481 is a price
ceiling, 482 "no tickets needed", 409 a state that is not the session's head, 483 the community's
"insufficient balance" (a credit-control limit or an overdue invoice; the body's ``limit`` names
which), 429 and 503 with Retry-After when it clears by itself. On clearinghouse.v1 nonces
exhausted is a refresh, as spec 02's 480: the client's remedy (fetch fresh ticket params) is the
same, so it needs no reason of its own."""

REFUSAL_STATUS: Mapping[Refusal, int] = {refusal: wire.status for refusal, wire in REFUSAL_WIRE.items()}
"""Spec 02's status of each refusal (``REFUSAL_WIRE``'s first column)."""


def refusal_of(error: Exception) -> SigningRefused | None:
    """``error`` as the refusal a transport answers, None when it is not one. The ledger's
    DatabaseUnavailable, raised by every ledger read as well as by a failed signing batch,
    enters here; its message is never passed on (it may name hosts and users)."""
    if isinstance(error, SigningRefused):
        return error
    if isinstance(error, DatabaseUnavailable):
        return SigningRefused(Refusal.DATABASE_UNAVAILABLE, database_unavailable_message(error))
    return None


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

    A refusal (``refusal_of``) through ``REFUSAL_WIRE`` with its extras, every ApiError by its
    ``reason``. An InternalError or anything else is the caller's to log.
    """
    refusal = refusal_of(error)
    if refusal is not None:
        limit = None if refusal.limit is None else refusal.limit.value
        return V1Answer(REFUSAL_WIRE[refusal.reason].reason, refusal.message, refusal.orchestrator_url,
                        refusal.retry_after_s, limit)
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
    """The remote-signer routes' answer to a refusal (``REFUSAL_WIRE``): spec 02's status, the
    clearinghouse.v1 reason for the rejection count, and the refusal's extras.

    A refresh (480) names the orchestrator URL in ``Livepeer-Orchestrator-URL``; "no tickets
    needed" (482) carries the unchanged state the client sent, so a client that stores every
    answer's state keeps a valid one (go-livepeer issue #4077); a refusal that clears by itself
    says when in Retry-After; a credit refusal names its ``limit`` for machines too.
    """
    wire = REFUSAL_WIRE[refusal.reason]
    headers: dict[str, str] = {}
    body_fields: dict[str, Any] = {}
    if wire.status == 480 and refusal.orchestrator_url and _header_safe(refusal.orchestrator_url):
        headers[ORCHESTRATOR_URL_HEADER] = refusal.orchestrator_url
    if refusal.retry_after_s is not None:
        headers["Retry-After"] = str(refusal.retry_after_s)
    if refusal.reason is Refusal.NO_TICKETS_NEEDED and state_echo is not None:
        body_fields["state"] = state_echo
    if refusal.limit is not None:
        body_fields["limit"] = refusal.limit.value
    error = ApiError(refusal.message, status=wire.status, headers=headers, body_fields=body_fields)
    error.reason = wire.reason
    return error


def _header_safe(value: str) -> bool:
    """True for visible ASCII and spaces only: the URL comes from the client's OrchestratorInfo,
    and a CR or LF in it must not split our response headers."""
    return all(" " <= char <= "~" for char in value)
