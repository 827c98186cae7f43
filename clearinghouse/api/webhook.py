"""Authorization by an external webhook, compatible with go-livepeer's -remoteSignerWebhookUrl.

Configured instead of API keys (``WebhookConfig``). For every /generate-live-payment call whose
session has no unexpired decision, we POST ``{"headers": {...}, "state": {...}}`` to the
webhook with the configured extra headers and a WEBHOOK_TIMEOUT_S timeout:

- ``headers``: every incoming header except Host, as Go sends them (canonical names such as
  ``Authorization`` and ``Livepeer-Usage-Subject``, each mapped to a list of values); the
  gateway's own credentials are what the webhook checks;
- ``state``: the decoded state JSON object the client sent, omitted for a new session (as Go's
  ``omitempty`` does). Unlike go-livepeer, which asks *after* signing with the updated state,
  we ask *before* signing, so this is the state the call builds on.

The answer must be HTTP 200 with a JSON object ``{"status", "reason"?, "expiry"?, "auth_id"?,
"maxPrice"?}``:

- ``status`` 200 allows the call; a 4xx or 5xx status denies it and the client gets that status
  with ``reason`` as the message (``WebhookDenied``);
- ``expiry`` (unix seconds) caches the decision for the session (by StateID, in this process)
  until then, and becomes the state's AuthExpiry (``Caller.auth_expiry``);
- ``auth_id`` (or, as in go-livepeer, the request's ``Signer-Auth-Id`` header) becomes
  ``Caller.auth_id`` — the payment service refuses a state whose AuthID differs — and the usage
  subject of the calls;
- ``maxPrice`` — the request's ``{"price", "currency": "wei", "unit"}`` form — tightens the
  price ceiling (``Caller.max_price``, 481 above it).

The webhook fails **closed**: unreachable or too slow → 503 (``ServiceUnavailable``); a non-200
HTTP answer, a body that is not such an object or an invalid field → 500 (``InternalError``,
detail logged). Which gateway pays? Webhook callers have no API key, so every call is
attributed to the configured ``gateway_id`` (one clearinghouse tenant fronted by the webhook);
the usage subject separates its end users.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

from clearinghouse.api.errors import (
    BadRequest,
    InternalError,
    ServiceUnavailable,
    WebhookDenied,
)
from clearinghouse.api.limits import (
    USAGE_SUBJECT_LENGTH_MAX,
    WEBHOOK_DECISIONS_CACHED_MAX,
    WEBHOOK_REASON_LENGTH_MAX,
    WEBHOOK_RESPONSE_BYTES_MAX,
    WEBHOOK_TIMEOUT_S,
)
from clearinghouse.api.payloads import (
    INT64_MAX,
    INT64_MIN,
    PaymentRequestBody,
    check_json_depth,
    decode_max_price,
    field,
    parse_json_object,
)
from clearinghouse.api.requests import (
    RequestHeaders,
    usage_subject_header,
    valid_subject,
)
from clearinghouse.signer.billing import parse_billing_type, parse_max_price
from clearinghouse.domain.refusals import SigningRefused
from clearinghouse.signer.calls import Caller

LOG = logging.getLogger(__name__)

SIGNER_AUTH_ID_HEADER = "signer-auth-id"
"""go-livepeer's fallback for auth_id when the webhook gives none."""


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Where and how to ask. ``headers`` usually hold the webhook's own credentials: never shown.

    ``gateway_id`` is the gateway every webhook-authorized call is recorded against.
    Raises ValueError for a URL that is not absolute http(s) or a header with CR/LF.
    """

    url: str
    gateway_id: int
    headers: Mapping[str, str] = dataclass_field(default_factory=dict, repr=False)
    timeout_s: float = WEBHOOK_TIMEOUT_S

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"webhook URL must be absolute http(s), got scheme {parts.scheme!r}")
        for name, value in self.headers.items():
            if any(char in name + value for char in "\r\n\0") or not name:
                raise ValueError("webhook header names and values may not contain CR, LF or NUL")
        if self.timeout_s <= 0:
            raise ValueError(f"webhook timeout must be > 0 s, got {self.timeout_s}")

    @property
    def safe_url(self) -> str:
        """The URL without credentials or query, for log lines."""
        parts = urlsplit(self.url)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


@dataclass(frozen=True, slots=True)
class WebhookDecision:
    """An allowing answer: who the caller is and until when the answer holds."""

    auth_id: str
    expiry: int
    max_price: Fraction | None


class WebhookAuthorizer:
    """Asks the webhook whether a payment call may proceed; safe to use from many threads."""

    def __init__(self, config: WebhookConfig, clock_s: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock_s = clock_s
        self._decisions: OrderedDict[str, WebhookDecision] = OrderedDict()
        self._lock = threading.Lock()

    def authorize(self, headers: RequestHeaders, request: PaymentRequestBody) -> Caller:
        """The caller of an allowed call (BLOCKING: may call the webhook).

        Raises WebhookDenied (the webhook's status), ServiceUnavailable (webhook down or slow),
        InternalError (webhook answered garbage), BadRequest (state or header unreadable).
        """
        state = state_object(request.call.state)
        state_id = state.get("StateID") if state is not None else None
        decision = self._cached(state_id) if isinstance(state_id, str) else None
        if decision is None:
            decision = self._ask(headers, state, request)
            if isinstance(state_id, str):
                self._remember(state_id, decision)
        subject = decision.auth_id or usage_subject_header(headers)
        return Caller(
            gateway_id=self.config.gateway_id,
            api_key_id=None,
            usage_subject=subject or None,
            auth_id=decision.auth_id,
            auth_expiry=decision.expiry,
            max_price=decision.max_price,
        )

    def remember(self, state_blob: bytes, caller: Caller) -> None:
        """Cache the decision behind ``caller`` for the session of a newly signed state."""
        state = state_object(state_blob)
        state_id = state.get("StateID") if state is not None else None
        if isinstance(state_id, str):
            self._remember(
                state_id, WebhookDecision(caller.auth_id, caller.auth_expiry, caller.max_price)
            )

    def _cached(self, state_id: str) -> WebhookDecision | None:
        with self._lock:
            decision = self._decisions.get(state_id)
        if decision is not None and self._clock_s() <= decision.expiry:
            return decision
        return None

    def _remember(self, state_id: str, decision: WebhookDecision) -> None:
        if decision.expiry <= self._clock_s():
            return
        with self._lock:
            self._decisions[state_id] = decision
            self._decisions.move_to_end(state_id)
            while len(self._decisions) > WEBHOOK_DECISIONS_CACHED_MAX:
                self._decisions.popitem(last=False)

    def _ask(
        self, headers: RequestHeaders, state: dict[str, Any] | None, request: PaymentRequestBody
    ) -> WebhookDecision:
        payload: dict[str, Any] = {"headers": headers.go_header_map()}
        if state is not None:
            payload["state"] = state
        status, body = self._post(json.dumps(payload, separators=(",", ":")).encode())
        if status != 200:
            raise InternalError(f"webhook {self.config.safe_url} answered HTTP {status}")
        return self._decision(body, headers, request)

    def _post(self, body: bytes) -> tuple[int, bytes]:
        parts = urlsplit(self.config.url)
        connection_type = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        connection = connection_type(
            parts.hostname or "", parts.port, timeout=self.config.timeout_s
        )
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {**self.config.headers, "Content-Type": "application/json"}
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read(WEBHOOK_RESPONSE_BYTES_MAX + 1)
            return response.status, data
        except (OSError, http.client.HTTPException) as exc:
            LOG.warning("webhook %s unavailable: %s", self.config.safe_url, type(exc).__name__)
            raise ServiceUnavailable(
                f"authorization webhook unavailable ({type(exc).__name__})"
            ) from exc
        finally:
            connection.close()

    def _decision(
        self, body: bytes, headers: RequestHeaders, request: PaymentRequestBody
    ) -> WebhookDecision:
        if len(body) > WEBHOOK_RESPONSE_BYTES_MAX:
            raise InternalError(f"webhook answer over {WEBHOOK_RESPONSE_BYTES_MAX} bytes")
        try:
            answer = parse_json_object(body, "webhook answer")
        except BadRequest as exc:
            raise InternalError(exc.message) from exc
        status = _int_or_none(answer, "status")
        if status == 200:
            return WebhookDecision(
                auth_id=_auth_id(answer, headers),
                expiry=_int_or_none(answer, "expiry") or 0,
                max_price=_max_price(answer, request),
            )
        if status is None or not 400 <= status <= 599:
            raise InternalError(f"webhook answered an invalid status {status!r}")
        reason = _string(answer, "reason") or f"signer auth rejected request with status {status}"
        raise WebhookDenied(reason[:WEBHOOK_REASON_LENGTH_MAX], status=status)


def state_object(blob: bytes | None) -> dict[str, Any] | None:
    """The state blob as a JSON object (for the webhook and the StateID), or None. It is read
    before any credential is checked, so it is decoded strictly (UTF-8 only, as the signed blob
    is) and in linear time (check_json_depth, then json.loads); BadRequest when it is no object."""
    if not blob:
        return None
    check_json_depth(blob, "invalid state: state.State")
    try:
        state = json.loads(blob.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError is one
        raise BadRequest("invalid state: state.State is not JSON") from None
    if not isinstance(state, dict):
        raise BadRequest("invalid state: state.State is not a JSON object")
    return state


def _int_or_none(answer: Mapping[str, Any], name: str) -> int | None:
    value = field(answer, name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not INT64_MIN <= value <= INT64_MAX:
        raise InternalError(f"webhook answer: {name!r} is not an int64: {value!r}")
    return value


def _string(answer: Mapping[str, Any], name: str) -> str:
    value = field(answer, name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InternalError(f"webhook answer: {name!r} is not a string")
    return value


def _auth_id(answer: Mapping[str, Any], headers: RequestHeaders) -> str:
    auth_id = _string(answer, "auth_id")
    if auth_id and not valid_subject(auth_id):
        raise InternalError(
            f"webhook auth_id must be at most {USAGE_SUBJECT_LENGTH_MAX} printable ASCII "
            "characters (it becomes the usage subject)"
        )
    fallback = headers.get(SIGNER_AUTH_ID_HEADER) or ""
    if not auth_id and fallback and not valid_subject(fallback):
        raise BadRequest(
            f"Signer-Auth-Id must be at most {USAGE_SUBJECT_LENGTH_MAX} printable ASCII characters"
        )
    return auth_id or fallback


def _max_price(answer: Mapping[str, Any], request: PaymentRequestBody) -> Fraction | None:
    value = field(answer, "maxPrice")
    if value is None:
        return None
    try:
        billing_type = parse_billing_type(request.call.billing_type)
    except SigningRefused as exc:  # the client's bad type, not the webhook's fault
        raise BadRequest(exc.message) from exc
    try:
        return parse_max_price(decode_max_price(value, "maxPrice"), billing_type)
    except (BadRequest, SigningRefused) as exc:
        raise InternalError(f"webhook answer: invalid maxPrice: {exc}") from exc
