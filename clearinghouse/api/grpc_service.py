"""The clearinghouse.v1 gRPC service: protobuf in and out around ``GatewayService``.

Every method, in order — nothing is decoded, and nothing signed, before the caller is known:

1. authenticate ``authorization: Bearer <API key>`` metadata with the gateway API keys of the
   HTTP API (caller.py, the HTTP routes' own step; a key seen within API_KEY_CACHE_TTL_S costs
   no database read); ``livepeer-usage-subject`` metadata attributes a call like the HTTP
   header does;
2. signing methods: the gateway's calls/s rate limit, shared with the HTTP transport (caller.py);
3. decode the request bytes (handlers take raw bytes, so a malformed message is our
   INVALID_ARGUMENT with reason BAD_REQUEST, not the gRPC core's generic error);
4. call ``GatewayService``; a signing call carries the client's deadline down to the moment
   before signing, so a call whose deadline passed while it waited (for the session lock, say)
   signs nothing.

Errors leave as a gRPC status with a google.rpc.Status in ``grpc-status-details-bin`` holding a
google.rpc.ErrorInfo: ``reason`` (errors.Reason, the same strings as the /v1 JSON routes),
``domain`` ERROR_DOMAIN, and ``orchestrator_url`` in ``metadata`` on a refresh. The status code
comes from ``errors.REASON_STATUS``; nothing here chooses one. An unexpected exception is logged
with a call id and answered INTERNAL "Internal Server Error".

Handlers run on the gRPC server's thread pool (grpc_server.py: the gateway-call threads of
pools.py, shared with /v1), where blocking database and signing work belongs. Each call runs in a fresh ``contextvars.Context`` holding its request id
(the client's ``x-request-id`` metadata when it is a safe one, see ``clearinghouse.logs``) and,
once authenticated, its gateway: pool threads are reused, so a call must not see the ids of the
call the thread ran before. With ``metrics``, every call is timed under its method name and code,
every signed call counted, every error counted by reason; errors also go to ``rejections``.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import time
from collections.abc import Callable
from typing import NoReturn

import grpc
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from clearinghouse.api.api_keys import ApiKeyAuthenticator
from clearinghouse.api.caller import CallerCheck
from clearinghouse.api.errors import INTERNAL_ERROR_MESSAGE, Reason, V1Answer, v1_answer
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.metrics import Metrics
from clearinghouse.api.rate_limit import RateLimiter
from clearinghouse.api.rejections import RecentRejections
from clearinghouse.api.requests import RequestHeaders
from clearinghouse.api.v1_messages import (
    decode,
    deposit_info_message,
    payment_call,
    payment_message,
    signer_info_message,
    ticket_request,
    tickets_message,
    usage_query,
    usage_message,
)
from clearinghouse.errors import InvariantViolation
from clearinghouse.logs import current_gateway_id, current_request_id, start_request
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.signer.calls import Caller

LOG = logging.getLogger(__name__)

SERVICE_NAME: str = pb.DESCRIPTOR.services_by_name["Clearinghouse"].full_name
"""``clearinghouse.v1.Clearinghouse``."""

ERROR_DOMAIN = "clearinghouse.v1"
"""google.rpc.ErrorInfo.domain of every error this service answers."""

Behaviour = Callable[[Caller, bytes, grpc.ServicerContext], Message]


class GrpcGateway:
    """The servicer: one generic handler for SERVICE_NAME over a GatewayService."""

    def __init__(
        self,
        service: GatewayService,
        api_keys: ApiKeyAuthenticator,
        rate_limiter: RateLimiter | None = None,
        *,
        metrics: Metrics | None = None,
        rejections: RecentRejections | None = None,
    ) -> None:
        self._service = service
        self._callers = CallerCheck(api_keys, rate_limiter)
        self._metrics = metrics
        self._rejections = rejections

    def handler(self) -> grpc.GenericRpcHandler:
        """The method handlers of SERVICE_NAME; requests and responses travel as raw bytes."""
        methods: dict[str, tuple[Behaviour, bool]] = {
            "GetSignerInfo": (self._get_signer_info, False),
            "GeneratePayment": (self._generate_payment, True),
            "SignTickets": (self._sign_tickets, True),
            "GetDepositInfo": (self._get_deposit_info, False),
            "GetUsage": (self._get_usage, False),
        }
        handlers: dict[str, grpc.RpcMethodHandler[bytes, bytes]] = {
            name: grpc.unary_unary_rpc_method_handler(self._unary(name, behaviour, signing))
            for name, (behaviour, signing) in methods.items()
        }
        return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)

    def _unary(
        self, name: str, behaviour: Behaviour, signing: bool
    ) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        def handle(request: bytes, context: grpc.ServicerContext) -> bytes:
            return contextvars.Context().run(self._call, name, behaviour, signing, request, context)

        return handle

    def _call(
        self, name: str, behaviour: Behaviour, signing: bool, request: bytes, context: grpc.ServicerContext
    ) -> bytes:
        started_s = time.perf_counter()
        start_request(_metadata_value(context, "x-request-id"))
        try:
            caller = self._callers.caller(_credentials(context), signing=signing)
            response = behaviour(caller, request, context).SerializeToString()
        except Exception as exc:  # every error is answered; a bug is logged, masked
            answer = _answer(name, exc)
            self._rejected(name, answer, started_s)
            _abort(context, answer)
        if self._metrics is not None:
            self._metrics.observe("grpc", name, grpc.StatusCode.OK.name, time.perf_counter() - started_s)
        return response

    def _rejected(self, method: str, answer: V1Answer, started_s: float) -> None:
        if self._metrics is not None:
            self._metrics.rejected("grpc", method, answer.reason.value)
            self._metrics.observe("grpc", method, answer.grpc_code.name, time.perf_counter() - started_s)
        if self._rejections is not None:
            self._rejections.add(
                transport="grpc", route=method, gateway_id=current_gateway_id(),
                status=answer.grpc_code.name, reason=answer.reason.value, message=answer.message,
            )

    def _get_signer_info(
        self, caller: Caller, request: bytes, context: grpc.ServicerContext
    ) -> pb.GetSignerInfoResponse:
        decode(pb.GetSignerInfoRequest, request)
        return signer_info_message(self._service.signer_info())

    def _generate_payment(
        self, caller: Caller, request: bytes, context: grpc.ServicerContext
    ) -> pb.GeneratePaymentResponse:
        call = payment_call(decode(pb.GeneratePaymentRequest, request))
        result = self._service.generate_payment(caller, call, deadline_s=deadline_s(context))
        if self._metrics is not None:
            self._metrics.payment_signed("grpc", caller.gateway_id, result)
        return payment_message(result, call)

    def _sign_tickets(
        self, caller: Caller, request: bytes, context: grpc.ServicerContext
    ) -> pb.SignTicketsResponse:
        tickets = ticket_request(decode(pb.SignTicketsRequest, request))
        batch = self._service.sign_tickets(caller, tickets, deadline_s=deadline_s(context))
        if self._metrics is not None:
            self._metrics.tickets_signed("grpc", caller.gateway_id, batch)
        return tickets_message(batch)

    def _get_deposit_info(
        self, caller: Caller, request: bytes, context: grpc.ServicerContext
    ) -> pb.GetDepositInfoResponse:
        decode(pb.GetDepositInfoRequest, request)
        return deposit_info_message(self._service.deposit_info())

    def _get_usage(
        self, caller: Caller, request: bytes, context: grpc.ServicerContext
    ) -> pb.GetUsageResponse:
        query = usage_query(caller, decode(pb.GetUsageRequest, request))
        usage, groups = self._service.usage(query.gateway_id, query.start, query.end, query.grouping)
        return usage_message(usage, groups)


def deadline_s(context: grpc.ServicerContext) -> float | None:
    """The client's deadline as a ``time.monotonic()`` value (None without one).

    Refuses (DEADLINE_EXCEEDED) when it has already passed: nothing is worth starting then.
    """
    remaining_s: float | None = context.time_remaining()  # None (or "infinite"): no deadline
    if remaining_s is None:
        return None
    if remaining_s <= 0:
        raise SigningRefused(
            Refusal.DEADLINE_EXCEEDED, "the call's deadline passed before it started; nothing was signed"
        )
    return time.monotonic() + remaining_s



def _credentials(context: grpc.ServicerContext) -> RequestHeaders:
    """The call's text metadata, read like HTTP headers (authorization, livepeer-usage-subject)."""
    return RequestHeaders(
        (key.encode("latin-1"), value.encode("latin-1"))
        for key, value in context.invocation_metadata()
        if isinstance(value, str)
    )


def _metadata_value(context: grpc.ServicerContext, key: str) -> str | None:
    """The first text value of metadata ``key`` (lower case), None without one."""
    for name, value in context.invocation_metadata():
        if name == key and isinstance(value, str):
            return value
    return None


def _answer(method: str, error: Exception) -> V1Answer:
    answer = v1_answer(error)
    if answer is not None:
        return answer
    call_id = current_request_id()  # _call started the request: the id of its log lines
    LOG.error("gRPC call %s (%s) failed", call_id, method, exc_info=sys.exc_info())
    return V1Answer(Reason.INTERNAL, f"{INTERNAL_ERROR_MESSAGE} (call {call_id})")


def _abort(context: grpc.ServicerContext, answer: V1Answer) -> NoReturn:
    """End the call with ``answer``'s status code, message and ErrorInfo (raises)."""
    metadata = {} if answer.orchestrator_url is None else {"orchestrator_url": answer.orchestrator_url}
    if answer.limit is not None:
        metadata["limit"] = answer.limit
    info = error_details_pb2.ErrorInfo(
        reason=answer.reason.value, domain=ERROR_DOMAIN, metadata=metadata
    )
    detail = AnyMessage()
    detail.Pack(info)
    code = answer.grpc_code
    status = status_pb2.Status(code=code.value[0], message=answer.message, details=[detail])
    context.abort_with_status(rpc_status.to_status(status))
    raise InvariantViolation("grpc abort_with_status returned instead of raising")
