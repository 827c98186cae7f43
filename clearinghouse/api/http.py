"""The remote-signer HTTP API (spec 02) as a raw ASGI application, and the app around every route.

Fast-path routes (a dict lookup): ``POST /sign-orchestrator-info``, ``POST
/generate-live-payment``, ``GET /healthz`` (the process answers), ``GET /readyz`` (database
reachable, schema current), ``GET /discover-orchestrators`` and ``GET /v1/health`` (deposit
health: state, reasons, deposit, reserve, exposure, runway; with API keys configured it needs a
valid key, like /sign-orchestrator-info: it is the operator's position).
/v1/health answers from memory, so it keeps answering while the RPC or the database is down.
``GET /metrics`` (Prometheus text format, metrics.py) when given ``metrics``; with
``metrics_token`` it needs ``Authorization: Bearer <token>``, compared in constant time.
``GET /openapi.json`` describes every route (openapi.py).

Mounted beside them on Starlette (mounted.py), when given: the clearinghouse.v1 JSON routes
(``v1``: v1_http.py, the gRPC API's twin), the finance routes under /admin/v1/ (``admin``:
admin_http.py, with their own bearer token), the operator dashboard under /dashboard
(``dashboard``: dashboard/, behind the admin token's login), the OIDC provider (``oidc``) and
the Builder API (``builder``). What follows (request ids, limits, pools, error bodies, metrics,
the rejection log) applies to them exactly as to the fast path: this app runs around both.

Every request gets an id (the client's ``X-Request-Id`` when it is a safe one, see
``clearinghouse.logs``), sent back as ``X-Request-Id`` and bound to the log context with the
caller's gateway once known; blocking work runs in a copy of that context, so lines logged by the
signing threads carry both. Each answer is timed per route (the matched route path, or
"unmatched"); each error answer is counted by reason and kept in ``rejections`` for the dashboard.

Why raw ASGI: benchmarks/README.md measured, for this exact payload on uvicorn, a raw ASGI
callable at ~6.9k requests/s against Starlette ~5.5k and FastAPI ~5.0k. Four fixed routes need
no framework: a dict lookup routes, and the JSON codec (payloads.py) is ours anyway because
spec 02's Go-style decoding (case-insensitive keys, strict base64) is not what a framework's
validation layer does. The other routes, many and with path parameters, are routed by Starlette.

A payment call, in order — nothing is signed before every check has passed:

0. the connection itself (server.py): headers must end within request_header_timeout_s and the
   whole request (body and trailers too) within ``HttpLimits.request_timeout_s`` of its first
   byte (else 408, closed); request line, headers, chunk framing and trailers together within
   request_header_bytes_max + REQUEST_LINE_BYTES_MAX raw bytes (else 431, closed); a transfer
   coding other than plain chunked → 501; at most PIPELINED_REQUESTS_MAX requests queued behind
   the one being answered. So a slow, endless or pipelining client holds no more than one
   connection slot and bounded memory, for a bounded time;
1. headers over the configured request_header_bytes_max (at most REQUEST_HEADER_BYTES_MAX) → 431;
2. with API keys: authenticate (401/403; caller.py, the step /v1 and gRPC share) before the
   body is even read — on the event loop when the key was looked up within
   API_KEY_CACHE_TTL_S, else one read on a signing thread;
3. read the body (413 over request_body_bytes_max, 408 after request_body_timeout_s; a JSON
   body nested deeper than json_depth_max → 400) and decode it (400, payloads.py), on the
   decode threads when it is over INLINE_DECODE_BYTES_MAX (bodies.py);
4. with a webhook: ask it (its status, 503 when down, 500 on garbage; webhook.py);
   then the caller's gateway must be within its calls/s rate limit (429; caller.py, rate_limit.py);
5. ``PaymentService.payment_work`` — decoding the offer, the state's signature, planning — on the
   event loop for a body it decoded (it reads memory only and costs ~0.2 ms), on a bounded thread
   pool when the body was large or planning may wait on the chain (the recipient check); then the
   ledger committer's next batch (checks, signing and the record in one transaction with the
   batch's other calls), awaited without holding a thread. Every refusal on the way (one type,
   ``SigningRefused``: a bad request, the chain guard, a full committer queue, credit control, a
   new session over the gateway's cap …) and ``DatabaseUnavailable`` are answered through the
   one table ``errors.REFUSAL_WIRE`` (``errors.refusal_error``): spec 02's status, Retry-After
   and the body's extras.

The limits come from ``limits.HttpLimits`` (the [limits] settings); the app puts them and its
thread pools (pools.py) in each request's scope, so ``bodies.read_body`` and ``bodies.decoded``
apply the configured size, time and depth to every route that reads a body (the mounted
routes too), and the mounted routes run their blocking work on the same pools. An answer the
client closed its connection before (server.py marks the scope) is one INFO line, not an error.

Errors are ``{"error": {"message": …}}``. An unexpected exception is logged with the request id
(also sent as ``X-Request-Id``), never with the body or headers, and answered 500
"Internal Server Error".
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from clearinghouse.api.api_keys import ApiKeyAuthenticator
from clearinghouse.api.bodies import (
    LIMITS_SCOPE_KEY,
    ClientGone,
    Message,
    Receive,
    Scope,
    Send,
    decoded,
    read_body,
)
from clearinghouse.api.connection import CLIENT_GONE_SCOPE_KEY
from clearinghouse.api.errors import (
    ApiError,
    HeadersTooLarge,
    InternalError,
    MethodNotAllowed,
    Reason,
    RouteNotFound,
    ServiceUnavailable,
    Unauthenticated,
    refusal_error,
    refusal_of,
)
from clearinghouse.api.caller import CallerCheck
from clearinghouse.api.limits import (
    INLINE_DECODE_BYTES_MAX,
    SIGNING_THREADS_MAX,
    WEBHOOK_THREADS_MAX,
)
from clearinghouse.domain.limits import HttpLimits, REQUEST_HEADER_BYTES_MAX
from clearinghouse.api.openapi import service_document
from clearinghouse.api.payloads import (
    decode_payment_request,
    error_body,
    orchestrator_info_body,
    payment_body,
)
from clearinghouse.api.mounted import ANSWER_SCOPE_KEY, MountedRoutes, route_label
from clearinghouse.api.metrics import EXPOSITION_CONTENT_TYPE, UNMATCHED_ROUTE, Metrics, http_status_class
from clearinghouse.api.pools import POOLS_SCOPE_KEY, Pools
from clearinghouse.api.rate_limit import RateLimiter
from clearinghouse.api.rejections import RecentRejections
from clearinghouse.api.requests import RequestHeaders, bearer_credential
from clearinghouse.api.webhook import WebhookAuthorizer
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.logs import bind_gateway, current_gateway_id, start_request
from clearinghouse.signer.calls import Caller, PaymentCall, PaymentResult
from clearinghouse.signer.payment_work import PaymentWork

if TYPE_CHECKING:
    from clearinghouse.api.admin_http import AdminRoutes
    from clearinghouse.api.builder_http import BuilderRoutes
    from clearinghouse.api.oidc_http import OidcRoutes
    from clearinghouse.api.dashboard import DashboardRoutes
    from clearinghouse.api.discovery import DiscoveryBook
    from clearinghouse.api.v1_http import V1Routes

LOG = logging.getLogger(__name__)

_SERVICE_OPENAPI = json.dumps(service_document(), separators=(",", ":")).encode()
"""GET /openapi.json: every route this server may answer (no key needed: it holds no data)."""


class SigningService(Protocol):
    """What the transport needs of ``clearinghouse.signer.service.PaymentService``."""

    def orchestrator_info_signature(self) -> tuple[str, bytes]: ...

    def payment_work(self, caller: Caller, call: PaymentCall) -> PaymentWork: ...

    def commit(self, work: PaymentWork) -> Future[PaymentResult]: ...

    @property
    def work_may_wait(self) -> bool: ...

    def ready(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Response:
    """An answer; its body is JSON unless ``headers`` name another Content-Type. An error answer
    names its machine ``reason`` (an errors.Reason value) and client ``message`` for the
    rejection count and log; without a reason one is derived from the status."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
    reason: str | None = None
    message: str = ""


Handler = Callable[[Scope, Receive], Awaitable[Response]]
"""A fast-path route: its answer to a request (scope and ``receive``)."""


class _BodyReceipt:
    """``receive``, noting whether the request's body was read to its end.

    An answer given before the whole body arrived (401 before reading it, 408, 413) closes the
    connection: uvicorn would otherwise keep it alive and discard the rest of the body as it
    trickles in, each byte restarting the keep-alive timer, so a client could hold the
    connection indefinitely without ever starting a request the header guard would time.
    """

    __slots__ = ("_receive", "complete")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self._receive = receive
        self.complete = not any(
            (name == b"content-length" and value.strip() not in (b"", b"0")) or name == b"transfer-encoding"
            for name, value in scope["headers"]
        )

    async def __call__(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            self.complete = True
        return message


class _MountedSend:
    """``send`` for a mounted (Starlette) route: adds the request id, and Connection: close when
    the body was not read to its end (see _BodyReceipt), to its answer, and keeps what the app
    counts and logs of it."""

    __slots__ = ("_send", "_request_id", "_body", "started", "status")

    def __init__(self, send: Send, request_id: str, body: _BodyReceipt) -> None:
        self._send = send
        self._request_id = request_id
        self._body = body
        self.started = False
        self.status = 500

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
            headers = [*message.get("headers", ()), (b"x-request-id", self._request_id.encode("ascii"))]
            if not self._body.complete:
                headers.append((b"connection", b"close"))
            message = {**message, "headers": headers}
        await self._send(message)

    def answer(self, scope: Scope) -> Response:
        """The answer sent, as the app counts and logs it: status, reason and message."""
        reason, message = scope.get(ANSWER_SCOPE_KEY, (None, ""))
        return Response(self.status, b"", reason=reason, message=message)


class RemoteSignerApp:
    """The ASGI application. Exactly one of ``api_keys`` and ``webhook`` authorizes payments.

    With API keys, /sign-orchestrator-info requires a valid key too (a gateway learns at start
    that its key works); with a webhook it is open, as in go-livepeer (address and signature
    are public).
    """

    def __init__(
        self,
        service: SigningService,
        *,
        api_keys: ApiKeyAuthenticator | None = None,
        webhook: WebhookAuthorizer | None = None,
        rate_limiter: RateLimiter | None = None,
        deposit_health: Callable[[], Mapping[str, object]] | None = None,
        signing_threads: int = SIGNING_THREADS_MAX,
        webhook_threads: int = WEBHOOK_THREADS_MAX,
        v1: V1Routes | None = None,
        admin: AdminRoutes | None = None,
        dashboard: DashboardRoutes | None = None,
        metrics: Metrics | None = None,
        metrics_token: str | None = None,
        rejections: RecentRejections | None = None,
        limits: HttpLimits | None = None,
        discovery: DiscoveryBook | None = None,
        oidc: OidcRoutes | None = None,
        builder: BuilderRoutes | None = None,
        pools: Pools | None = None,
    ) -> None:
        if (api_keys is None) == (webhook is None):
            raise ValueError("configure exactly one of api_keys and webhook")
        if metrics_token is not None and (metrics is None or not metrics_token):
            raise ValueError("metrics_token needs metrics, and must not be empty")
        self._service = service
        self._limits = limits
        self._callers = CallerCheck(api_keys, rate_limiter)
        self._webhook = webhook
        self._deposit_health = deposit_health
        self._discovery = discovery
        # The daemon's pools, shared with gRPC (and closed by the daemon); else pools of its own.
        self._owned_pools = pools is None
        self._pools = pools or Pools.sized(signing_threads=signing_threads, webhook_threads=webhook_threads)
        self._routes: dict[str, dict[str, Handler]] = {
            "/sign-orchestrator-info": {"POST": self._sign_orchestrator_info},
            "/generate-live-payment": {"POST": self._generate_live_payment},
            "/discover-orchestrators": {"GET": self._discover_orchestrators},
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/v1/health": {"GET": self._health},
            "/openapi.json": {"GET": self._openapi_document},
        }
        # The routes mounted beside the fast path, on Starlette (mounted.py).
        tables = [mounted.routes() for mounted in (v1, admin, dashboard, oidc, builder) if mounted is not None]
        self._mounted = MountedRoutes(tables) if tables else None
        self._metrics = metrics
        self._metrics_token = None if metrics_token is None else metrics_token.encode()
        if metrics is not None:
            self._routes["/metrics"] = {"GET": self._metrics_page}
        self._rejections = rejections

    def routes(self) -> dict[str, tuple[str, ...]]:
        """Every path this app answers and its methods (what /openapi.json must describe)."""
        mounted = {} if self._mounted is None else self._mounted.paths()
        return {path: tuple(methods) for path, methods in self._routes.items()} | mounted

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    def close(self) -> None:
        """Stop the worker threads of pools of its own (waits for running calls to finish)."""
        if self._owned_pools:
            self._pools.close()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.close)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started_s = time.perf_counter()
        request_id = start_request(_client_request_id(scope))
        methods = self._routes.get(scope["path"])
        body = _BodyReceipt(scope, receive)
        scope[POOLS_SCOPE_KEY] = self._pools
        mounted = None if methods is not None or self._mounted is None else _MountedSend(send, request_id, body)
        try:
            if self._limits is not None:
                scope[LIMITS_SCOPE_KEY] = self._limits
                _check_header_bytes(scope, self._limits.request_header_bytes_max)
            if mounted is not None and self._mounted is not None:
                await self._mounted(scope, body, mounted)
                response = mounted.answer(scope)
            else:
                response = await self._dispatch(scope, body, methods)
        except ClientGone:  # the connection closed before the body was read: nothing was done
            if scope.get(CLIENT_GONE_SCOPE_KEY):  # the client's doing, not a limit's (server.py)
                LOG.info("request %s: the client closed its connection before its body was read", request_id)
            return
        except ApiError as exc:
            response = _error_response(exc, request_id, v1=scope["path"].startswith("/v1/"))
        except Exception as exc:
            response = self._refused_or_failed(exc, scope, request_id)
        route = scope["path"] if methods is not None else route_label(scope) or UNMATCHED_ROUTE
        if response.status >= 400:
            self._rejected(route, response)
        if mounted is None or not mounted.started:  # else the mounted route has answered
            if not body.complete:  # see _BodyReceipt
                response = replace(response, headers={**response.headers, "Connection": "close"})
            await _send(send, response, request_id)
        if scope.get(CLIENT_GONE_SCOPE_KEY):  # set by server.py when the connection closed first
            # Not an error of ours: a client that half-closes after its request (uvicorn closes on
            # EOF) or hangs up waiting. What was signed is recorded; a retry gets the stored answer.
            LOG.info("request %s: the client closed its connection before the %d answer was sent",
                     request_id, response.status)
        if self._metrics is not None:
            self._metrics.observe("http", route, http_status_class(response.status), time.perf_counter() - started_s)

    @staticmethod
    def _refused_or_failed(exc: Exception, scope: Scope, request_id: str) -> Response:
        """A refusal through the one table (errors.REFUSAL_WIRE); anything else is a bug: logged
        with the request id, answered 500."""
        refusal = refusal_of(exc)
        if refusal is None:
            LOG.exception("request %s: %s %s failed", request_id, scope["method"], scope["path"])
            return _error_response(InternalError("unexpected exception"), request_id)
        if refusal.reason is Refusal.DATABASE_UNAVAILABLE:  # its message carries no password (ledger redacts)
            LOG.warning("request %s: %s", request_id, exc)
        return _error_response(refusal_error(refusal, None), request_id)

    def _rejected(self, route: str, response: Response) -> None:
        reason = response.reason or f"HTTP_{response.status}"
        # One line per refusal, so an operator can find a gateway's refused call by its request
        # id (the context filter adds request_id and gateway_id); `[log] level = "warning"`
        # silences them under a flood.
        LOG.info("refused %s: %d %s: %s", route, response.status, reason, response.message)
        if self._metrics is not None:
            self._metrics.rejected("http", route, reason)
        if self._rejections is not None:
            self._rejections.add(
                transport="http", route=route, gateway_id=current_gateway_id(),
                status=str(response.status), reason=reason, message=response.message,
            )

    async def _dispatch(self, scope: Scope, receive: Receive, methods: dict[str, Handler] | None) -> Response:
        """A fast-path route's answer (``methods``: the path's handlers; None: no such path)."""
        if methods is None:
            raise RouteNotFound(f"no route {scope['method']} {scope['path']}")
        handler = methods.get(scope["method"])
        if handler is None:
            allowed = ", ".join(methods)
            raise MethodNotAllowed(
                f"{scope['path']} accepts {allowed}, not {scope['method']}",
                headers={"Allow": allowed},
            )
        return await handler(scope, receive)

    async def _authenticated_if_keyed(self, scope: Scope) -> None:
        """With API keys, the routes that describe the signer (its address, its deposit, the
        orchestrators it knows) need a valid key too: they are the operator's position. With a
        webhook instead, they are open, as in go-livepeer."""
        if self._callers.checks_keys:
            await self._callers.authenticated(RequestHeaders(scope["headers"]), self._pools.signing)

    async def _sign_orchestrator_info(self, scope: Scope, receive: Receive) -> Response:
        await self._authenticated_if_keyed(scope)
        address, signature = self._service.orchestrator_info_signature()
        return Response(200, orchestrator_info_body(address, signature))

    async def _generate_live_payment(self, scope: Scope, receive: Receive) -> Response:
        headers = RequestHeaders(scope["headers"])
        caller: Caller | None = None
        if self._callers.checks_keys:
            caller = await self._callers.authenticated(headers, self._pools.signing)
        body = await read_body(scope, receive)
        request = await decoded(scope, body, decode_payment_request)
        if self._webhook is not None:
            caller = await self._pools.webhook.run(self._webhook.authorize, headers, request)
            bind_gateway(caller.gateway_id, caller.subject)
        if caller is None:  # the constructor requires one authorization; this cannot happen
            raise InternalError("no authorization configured")
        self._callers.admit(caller)
        try:
            work = await self._payment_work(caller, request.call, len(body))
            # The committer's batch answers the future: no thread waits for the commit.
            result = await asyncio.wrap_future(self._service.commit(work))
        except SigningRefused as refusal:  # here, where the state the client sent can be echoed (482)
            raise refusal_error(refusal, request.state_echo) from None
        if self._metrics is not None:
            self._metrics.payment_signed("http", caller.gateway_id, result)
        if self._webhook is not None:
            self._webhook.remember(result.state, caller)
        return Response(200, payment_body(result))

    async def _payment_work(self, caller: Caller, call: PaymentCall, body_bytes: int) -> PaymentWork:
        """The part of a payment that needs no database. On the event loop for a body decoded
        there (at most INLINE_DECODE_BYTES_MAX) when planning cannot wait on the chain: a hop to a
        signing thread cost the event loop more than the work itself (~75 µs of interpreter time
        a call, py-spy 2026-12-07). Otherwise on a signing thread."""
        if body_bytes <= INLINE_DECODE_BYTES_MAX and not self._service.work_may_wait:
            return self._service.payment_work(caller, call)
        return await self._pools.signing.run(self._service.payment_work, caller, call)

    async def _discover_orchestrators(self, scope: Scope, receive: Receive) -> Response:
        """Spec 02's optional discovery (api/discovery.py), authenticated like /sign-orchestrator-info."""
        await self._authenticated_if_keyed(scope)
        if self._discovery is None:
            raise ServiceUnavailable("orchestrator discovery is not configured on this signer")
        return Response(200, self._discovery.answer(scope.get("query_string", b"")))

    async def _openapi_document(self, scope: Scope, receive: Receive) -> Response:
        return Response(200, _SERVICE_OPENAPI)

    async def _healthz(self, scope: Scope, receive: Receive) -> Response:
        return Response(200, b'{"status":"ok"}')

    async def _health(self, scope: Scope, receive: Receive) -> Response:
        await self._authenticated_if_keyed(scope)
        document = (
            {"state": "unmonitored", "detail": "static chain view: configure [chain] rpc_url to monitor the deposit"}
            if self._deposit_health is None
            else self._deposit_health()
        )
        return Response(200, json.dumps(document, separators=(",", ":")).encode())

    async def _metrics_page(self, scope: Scope, receive: Receive) -> Response:
        """The Prometheus exposition. Rendering reads memory only but takes milliseconds with
        many gateways, so it runs on its own thread rather than stalling the event loop."""
        if self._metrics is None:  # the route exists only with metrics
            raise InternalError("metrics route without metrics")
        if self._metrics_token is not None:
            _check_bearer(RequestHeaders(scope["headers"]), self._metrics_token)
        body = await self._pools.metrics.run(self._metrics.exposition)
        return Response(200, body, {"Content-Type": EXPOSITION_CONTENT_TYPE})

    async def _readyz(self, scope: Scope, receive: Receive) -> Response:
        if await self._pools.signing.run(self._service.ready):
            return Response(200, b'{"status":"ready"}')
        raise ServiceUnavailable("not ready: database unreachable or schema not current")


def _check_header_bytes(scope: Scope, size_max: int) -> None:
    """HeadersTooLarge when a configured ``size_max`` below REQUEST_HEADER_BYTES_MAX is passed
    (RequestHeaders enforces the ceiling itself on the routes that read headers)."""
    if size_max >= REQUEST_HEADER_BYTES_MAX:
        return
    size = sum(len(name) + len(value) for name, value in scope["headers"])
    if size > size_max:
        raise HeadersTooLarge(f"request headers are {size} bytes, at most {size_max} allowed")


def _client_request_id(scope: Scope) -> str | None:
    """The client's X-Request-Id (the first, if several); start_request decides whether it is used."""
    for name, value in scope["headers"]:
        if name.lower() == b"x-request-id":
            text: str = value.decode("latin-1")
            return text
    return None


def _check_bearer(headers: RequestHeaders, token: bytes) -> None:
    """Unauthenticated unless ``Authorization: Bearer <token>``, compared in constant time."""
    presented = bearer_credential(headers)
    if presented is None or not hmac.compare_digest(presented.encode("latin-1"), token):
        raise Unauthenticated("/metrics needs Authorization: Bearer <metrics token>",
                              headers={"WWW-Authenticate": "Bearer"})


def _error_response(error: ApiError, request_id: str, *, v1: bool = False) -> Response:
    """The error's answer; under /v1/ it names its clearinghouse.v1 reason too (the remote-signer
    routes keep spec 02's body, which has none)."""
    if isinstance(error, InternalError):
        LOG.error("request %s: internal error: %s", request_id, error.detail)
    # A plain ApiError keeps the class's INTERNAL reason whatever its status; only a 500 is one.
    reason = error.reason.value if error.reason is not Reason.INTERNAL or error.status == 500 else None
    if v1:
        body = json.dumps({"error": {"message": error.message, "reason": error.reason.value}}, separators=(",", ":"))
        return Response(error.status, body.encode(), error.headers, reason, error.message)
    return Response(error.status, error_body(error.message, error.body_fields), error.headers, reason, error.message)


async def _send(send: Send, response: Response, request_id: str) -> None:
    headers = [
        (b"content-length", str(len(response.body)).encode("ascii")),
        (b"x-request-id", request_id.encode("ascii")),
    ]
    if not any(name.lower() == "content-type" for name in response.headers):
        headers.insert(0, (b"content-type", b"application/json"))
    headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1"))
        for name, value in response.headers.items()
    )
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
