"""Every answer of the HTTP transport other than 200, and the one Refusal → status table.

::

    clearinghouse.errors.ClearinghouseError
    └── ApiError(status, message)     an error answer: {"error": {"message": …}} with a status
        ├── BadRequest                400  malformed JSON, base64, field type or length
        ├── Unauthenticated           401  missing, malformed, unknown or revoked API key
        ├── GatewayDisabled           403  the key's gateway is disabled
        ├── RouteNotFound             404
        ├── MethodNotAllowed          405
        ├── RequestTimeout            408  the body did not arrive in time
        ├── PayloadTooLarge           413  body over REQUEST_BODY_BYTES_MAX
        ├── HeadersTooLarge           431  headers over REQUEST_HEADER_BYTES_MAX
        ├── WebhookDenied             the authorization webhook's own status and reason
        ├── ServiceUnavailable        503  overloaded, database down, webhook unreachable
        └── InternalError             500  always answered as "Internal Server Error"

A ``SigningRefused`` from the payment service becomes an ApiError through ``REFUSAL_STATUS``
(``refusal_error``); nothing else in the transport chooses a status for a refusal. Messages of
these errors go to the client, so they never contain an API key, the pepper or a webhook
credential.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clearinghouse.errors import ClearinghouseError
from clearinghouse.signer.errors import Refusal, SigningRefused

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


class ApiError(ClearinghouseError):
    """An error answer: ``status``, a client-safe ``message``, extra headers and body fields."""

    status = 500

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


class Unauthenticated(ApiError):
    status = 401


class GatewayDisabled(ApiError):
    status = 403


class RouteNotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class RequestTimeout(ApiError):
    status = 408


class PayloadTooLarge(ApiError):
    status = 413


class HeadersTooLarge(ApiError):
    status = 431


class RateLimited(ApiError):
    """The gateway is over its calls/s rate limit (rate_limit.py); nothing was signed."""

    status = 429


class WebhookDenied(ApiError):
    """The webhook answered a non-200 ``status``; the client gets that status and reason."""


class ServiceUnavailable(ApiError):
    status = 503


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
