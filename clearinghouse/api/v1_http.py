"""The clearinghouse.v1 API as JSON routes under /v1/ on the HTTP server (parity with gRPC).

Every gRPC method has a route, and both call the same ``GatewayService`` through the same
converters (v1_messages.py); the bodies are the proto3 JSON form of the clearinghouse.v1
messages (camelCase keys; bytes as standard base64; 64-bit integers as strings; wei as decimal
strings, exact rationals as "a" or "a/b", as in the .proto):

    GET  /v1/signer-info        → GetSignerInfoResponse
    POST /v1/generate-payment   GeneratePaymentRequest → GeneratePaymentResponse
    POST /v1/sign-tickets       SignTicketsRequest → SignTicketsResponse
    GET  /v1/deposit            → GetDepositInfoResponse
    GET  /v1/usage?startUnixS=…&endUnixS=…[&groupBy=USAGE_GROUPING_DAY]  → GetUsageResponse
    GET  /v1/openapi.json       the OpenAPI 3.1 document of these routes (no key needed)

Each call authenticates ``Authorization: Bearer <API key>`` before reading its body; signing
routes then pass the gateway's rate limit, shared with the other routes and gRPC. Errors are
``{"error": {"message": …, "reason": …}}`` with the HTTP status of ``errors.REASON_STATUS`` (402
insufficient balance, 409 stale state, 503 signer unhealthy, …) and the same reason strings as
gRPC; a refresh adds ``orchestratorUrl``. Authentication and the rate limit are caller.py's, as
on gRPC; the operations run on the gateway-call threads they share with gRPC (pools.py).
Signed calls are counted in ``metrics`` (transport "http"); the app counts and logs the errors
by the reason each error answer names.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from google.protobuf import json_format
from google.protobuf.message import Message
from starlette.requests import Request

from clearinghouse.api.api_keys import ApiKeyAuthenticator
from clearinghouse.api.bodies import ClientGone, Scope, decoded, read_body
from clearinghouse.api.caller import CallerCheck
from clearinghouse.api.errors import (
    INTERNAL_ERROR_MESSAGE,
    BadRequest,
    Reason,
    V1Answer,
    v1_answer,
)
from clearinghouse.api.http import Response
from clearinghouse.api.metrics import Metrics
from clearinghouse.api.mounted import Endpoint
from clearinghouse.api.openapi import openapi_document
from clearinghouse.api.payloads import check_json_depth
from clearinghouse.api.pools import pools_of
from clearinghouse.api.rate_limit import RateLimiter
from clearinghouse.api.requests import RequestHeaders
from clearinghouse.api.v1_messages import (
    deposit_info_message,
    payment_call,
    payment_message,
    signer_info_message,
    ticket_request,
    tickets_message,
    usage_query,
    usage_message,
)
from clearinghouse.logs import current_request_id, start_request
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.signer.calls import Caller
from clearinghouse.signer.gateway_service import GatewayService

LOG = logging.getLogger(__name__)

_Message = TypeVar("_Message", bound=Message)


class V1Routes:
    """The /v1/ JSON routes of one GatewayService; ``routes()`` is mounted on Starlette (mounted.py)."""

    def __init__(
        self,
        service: GatewayService,
        api_keys: ApiKeyAuthenticator,
        rate_limiter: RateLimiter | None = None,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._service = service
        self._callers = CallerCheck(api_keys, rate_limiter)
        self._metrics = metrics
        self._openapi = json.dumps(openapi_document(), separators=(",", ":")).encode()

    def routes(self) -> dict[str, dict[str, Endpoint]]:
        """Path → method → handler."""
        return {
            "/v1/signer-info": {"GET": self._answering(self._signer_info)},
            "/v1/generate-payment": {"POST": self._answering(self._generate_payment)},
            "/v1/sign-tickets": {"POST": self._answering(self._sign_tickets)},
            "/v1/deposit": {"GET": self._answering(self._deposit)},
            "/v1/usage": {"GET": self._answering(self._usage)},
            "/v1/openapi.json": {"GET": self._openapi_document},
        }

    def _answering(self, handler: Callable[[Request], Awaitable[Message]]) -> Endpoint:
        """The route: the handler's message as JSON, or its error as a clearinghouse.v1 answer."""

        async def answer(request: Request) -> Response:
            try:
                return Response(200, _json(await handler(request)))
            except ClientGone:
                raise
            except Exception as exc:  # every error is answered
                return _error(request.scope, exc)

        return answer

    async def _caller(self, scope: Scope, *, signing: bool) -> Caller:
        headers = RequestHeaders(scope["headers"])
        return await self._callers.admitted(headers, pools_of(scope).signing, signing=signing)

    async def _signer_info(self, request: Request) -> Message:
        await self._caller(request.scope, signing=False)
        return signer_info_message(self._service.signer_info())

    async def _generate_payment(self, request: Request) -> Message:
        caller = await self._caller(request.scope, signing=True)
        body = await read_body(request.scope, request.receive)
        call = payment_call(await decoded(request.scope, body, partial(parse_message, pb.GeneratePaymentRequest)))
        result = await pools_of(request.scope).gateway_calls.run(self._service.generate_payment, caller, call)
        if self._metrics is not None:
            self._metrics.payment_signed("http", caller.gateway_id, result)
        return payment_message(result, call)

    async def _sign_tickets(self, request: Request) -> Message:
        caller = await self._caller(request.scope, signing=True)
        body = await read_body(request.scope, request.receive)
        tickets = ticket_request(await decoded(request.scope, body, partial(parse_message, pb.SignTicketsRequest)))
        batch = await pools_of(request.scope).gateway_calls.run(self._service.sign_tickets, caller, tickets)
        if self._metrics is not None:
            self._metrics.tickets_signed("http", caller.gateway_id, batch)
        return tickets_message(batch)

    async def _deposit(self, request: Request) -> Message:
        await self._caller(request.scope, signing=False)
        return deposit_info_message(self._service.deposit_info())

    async def _usage(self, request: Request) -> Message:
        caller = await self._caller(request.scope, signing=False)
        query = usage_query(caller, query_message(request.scope, pb.GetUsageRequest))
        usage, groups = await pools_of(request.scope).gateway_calls.run(
            self._service.usage, query.gateway_id, query.start, query.end, query.grouping
        )
        return usage_message(usage, groups)

    async def _openapi_document(self, request: Request) -> Response:
        return Response(200, self._openapi)


def parse_message(message_type: type[_Message], body: bytes) -> _Message:
    """The proto3 JSON ``body`` as ``message_type``; BadRequest saying what is wrong. Linear in
    the body (json_format walks the parsed JSON once); large bodies run on the decode threads."""
    check_json_depth(body, "body")
    try:
        return json_format.Parse(body or b"{}", message_type())
    except (json_format.ParseError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not a {message_type.DESCRIPTOR.name} in JSON: {exc}") from None


def query_message(scope: Scope, message_type: type[_Message]) -> _Message:
    """The query string's parameters (field or camelCase names) as ``message_type``."""
    try:
        pairs = parse_qsl(scope.get("query_string", b"").decode("ascii"), strict_parsing=False)
        return json_format.ParseDict(dict(pairs), message_type())
    except (json_format.ParseError, UnicodeDecodeError) as exc:
        raise BadRequest(f"query is not a {message_type.DESCRIPTOR.name}: {exc}") from None


def _json(message: Message) -> bytes:
    document = json_format.MessageToDict(message, always_print_fields_with_no_presence=True)
    return json.dumps(document, separators=(",", ":")).encode()


def _error(scope: Scope, exc: Exception) -> Response:
    answer = v1_answer(exc)
    if answer is None:  # a bug: logged with the request's id, masked for the client
        request_id = current_request_id() or start_request()
        LOG.error("request %s: %s %s failed", request_id, scope["method"], scope["path"], exc_info=exc)
        answer = V1Answer(Reason.INTERNAL, f"{INTERNAL_ERROR_MESSAGE} (request {request_id})")
    error: dict[str, Any] = {"message": answer.message, "reason": answer.reason.value}
    if answer.limit is not None:
        error["limit"] = answer.limit
    if answer.orchestrator_url is not None:
        error["orchestratorUrl"] = answer.orchestrator_url
    body = json.dumps({"error": error}, separators=(",", ":")).encode()
    headers = {} if answer.retry_after_s is None else {"Retry-After": str(answer.retry_after_s)}
    return Response(answer.http_status, body, headers, reason=answer.reason.value, message=answer.message)
