"""The remote-signer HTTP API (spec 02) as a raw ASGI application.

Routes: ``POST /sign-orchestrator-info``, ``POST /generate-live-payment``, ``GET /healthz``
(the process answers), ``GET /readyz`` (database reachable, schema current), the clearinghouse.v1
JSON routes when given (``v1``: v1_http.py, the gRPC API's twin), the finance routes under
/admin/v1/ when given (``admin``: admin_http.py, with their own bearer token) and ``GET
/v1/health`` (deposit health: state, reasons, deposit, reserve, exposure, runway; with API keys
configured it needs a valid key, like /sign-orchestrator-info: it is the operator's position).
/v1/health answers from memory, so it keeps answering while the RPC or the database is down.
``GET /metrics`` (Prometheus text format, metrics.py) when given ``metrics``; with
``metrics_token`` it needs ``Authorization: Bearer <token>``, compared in constant time.
``GET /openapi.json`` describes every route (openapi.py); the operator dashboard under
/dashboard when given (``dashboard``: dashboard/, behind the admin token's login).

Every request gets an id (the client's ``X-Request-Id`` when it is a safe one, see
``clearinghouse.logs``), sent back as ``X-Request-Id`` and bound to the log context with the
caller's gateway once known; blocking work runs in a copy of that context, so lines logged by the
signing threads carry both. Each answer is timed per route (the matched route path, or
"unmatched"); each error answer is counted by reason and kept in ``rejections`` for the dashboard.

Why raw ASGI: benchmarks/README.md measured, for this exact payload on uvicorn, a raw ASGI
callable at ~6.9k requests/s against Starlette ~5.5k and FastAPI ~5.0k. Four fixed routes need
no framework: a dict lookup routes, and the JSON codec (payloads.py) is ours anyway because
spec 02's Go-style decoding (case-insensitive keys, strict base64) is not what a framework's
validation layer does. The admin API, with many routes and an OpenAPI document, may well use a
framework; it can be mounted beside this app.

A payment call, in order — nothing is signed before every check has passed:

0. the connection itself (server.py): headers must end within request_header_timeout_s and the
   whole request (body and trailers too) within ``HttpLimits.request_timeout_s`` of its first
   byte (else 408, closed); request line, headers, chunk framing and trailers together within
   request_header_bytes_max + REQUEST_LINE_BYTES_MAX raw bytes (else 431, closed); a transfer
   coding other than plain chunked → 501; at most PIPELINED_REQUESTS_MAX requests queued behind
   the one being answered. So a slow, endless or pipelining client holds no more than one
   connection slot and bounded memory, for a bounded time;
1. headers over the configured request_header_bytes_max (at most REQUEST_HEADER_BYTES_MAX) → 431;
2. with API keys: authenticate (401/403) before the body is even read — on the event loop
   when the key was looked up within API_KEY_CACHE_TTL_S, else one read on a worker thread;
3. read the body (413 over request_body_bytes_max, 408 after request_body_timeout_s; a JSON
   body nested deeper than json_depth_max → 400) and decode it (400, payloads.py), on the
   decode threads when it is over INLINE_DECODE_BYTES_MAX (bodies.py);
4. with a webhook: ask it (its status, 503 when down, 500 on garbage; webhook.py);
   then the caller's gateway must be within its calls/s rate limit (429; rate_limit.py);
5. ``PaymentService.payment_work`` — decoding the offer, the state's signature, planning — on the
   event loop for a body it decoded (it reads memory only and costs ~0.2 ms), on a bounded thread
   pool when the body was large or planning may wait on the chain (the recipient check); then the
   ledger committer's next batch (checks, signing and the record in one transaction with the
   batch's other calls), awaited without holding a thread; a full committer queue (``LedgerBusy``)
   → 503 with Retry-After; a refusal maps to its status through
   ``errors.REFUSAL_STATUS``; a credit-control refusal (``SpendRefused``) → 483;
   ``DatabaseUnavailable`` → 503; a new session over the gateway's open-session cap
   (``SessionsExhausted``) → 429 with Retry-After.

The limits come from ``limits.HttpLimits`` (the [limits] settings); the app puts them and its
decode pool in each request's scope, so ``bodies.read_body`` and ``bodies.decoded`` apply the
configured size, time and depth to every route that reads a body (v1_http.py, admin_http.py and
the dashboard's too). An answer the client closed its connection before (server.py marks the
scope) is one INFO line, not an error.

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
    DECODE_POOL_SCOPE_KEY,
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
from clearinghouse.api.templates import compile_template, match
from clearinghouse.api.errors import (
    REFUSAL_REASON,
    SESSIONS_EXHAUSTED_STATUS,
    SPEND_REFUSED_STATUS,
    ApiError,
    HeadersTooLarge,
    InternalError,
    MethodNotAllowed,
    Reason,
    RouteNotFound,
    ServiceUnavailable,
    Unauthenticated,
    database_unavailable_message,
    refusal_error,
)
from clearinghouse.api.limits import (
    DECODE_THREADS_MAX,
    INLINE_DECODE_BYTES_MAX,
    SIGNING_THREADS_MAX,
    WEBHOOK_THREADS_MAX,
)
from clearinghouse.limits import HttpLimits, REQUEST_HEADER_BYTES_MAX
from clearinghouse.api.openapi import service_document
from clearinghouse.api.payloads import (
    decode_payment_request,
    error_body,
    orchestrator_info_body,
    payment_body,
)
from clearinghouse.api.metrics import EXPOSITION_CONTENT_TYPE, UNMATCHED_ROUTE, Metrics, http_status_class
from clearinghouse.api.pools import BlockingPool
from clearinghouse.api.rate_limit import RateLimiter
from clearinghouse.api.rejections import RecentRejections
from clearinghouse.api.requests import RequestHeaders
from clearinghouse.api.webhook import WebhookAuthorizer
from clearinghouse.ledger import DatabaseUnavailable, LedgerBusy, SpendRefused
from clearinghouse.logs import bind_gateway, current_gateway_id, start_request
from clearinghouse.signer.errors import SigningRefused
from clearinghouse.signer.errors import SessionsExhausted
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
    ) -> None:
        if (api_keys is None) == (webhook is None):
            raise ValueError("configure exactly one of api_keys and webhook")
        if metrics_token is not None and (metrics is None or not metrics_token):
            raise ValueError("metrics_token needs metrics, and must not be empty")
        self._service = service
        self._limits = limits
        self._api_keys = api_keys
        self._webhook = webhook
        self._rate_limiter = rate_limiter
        self._deposit_health = deposit_health
        self._discovery = discovery
        self._signing_pool = BlockingPool("signing", signing_threads)
        self._webhook_pool = BlockingPool("webhook", webhook_threads) if webhook else None
        self._decode_pool = BlockingPool("decode", DECODE_THREADS_MAX)  # bodies.decoded
        self._routes: dict[str, dict[str, Callable[[Scope, Receive], Awaitable[Response]]]] = {
            "/sign-orchestrator-info": {"POST": self._sign_orchestrator_info},
            "/generate-live-payment": {"POST": self._generate_live_payment},
            "/discover-orchestrators": {"GET": self._discover_orchestrators},
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/v1/health": {"GET": self._health},
            "/openapi.json": {"GET": self._openapi_document},
        }
        self._v1 = v1
        if v1 is not None:  # the clearinghouse.v1 JSON routes (v1_http.py)
            self._routes.update(v1.routes())
        self._admin = admin
        if admin is not None:  # the finance routes under /admin/v1/ (admin_http.py)
            self._routes.update(admin.routes())
        self._dashboard = dashboard
        if dashboard is not None:  # the operator dashboard under /dashboard (dashboard/)
            self._routes.update(dashboard.routes())
        self._oidc = oidc
        if oidc is not None:  # the OAuth 2.0 / OIDC provider (oidc_http.py)
            self._routes.update(oidc.routes())
        self._builder = builder
        self._templates: dict[str, dict[str, Callable[[Scope, Receive], Awaitable[Response]]]] = {}
        if builder is not None:  # the Builder API (builder_http.py): paths with {parameters}
            self._routes.update(builder.routes())
            self._templates = builder.templates()
        self._patterns = {template: compile_template(template) for template in self._templates}
        self._metrics = metrics
        self._metrics_token = None if metrics_token is None else metrics_token.encode()
        # One thread of its own: a busy signing pool cannot starve a scrape, and concurrent
        # scrapes queue instead of multiplying the rendering work.
        self._metrics_pool = None if metrics is None else BlockingPool("metrics", 1)
        if metrics is not None:
            self._routes["/metrics"] = {"GET": self._metrics_page}
        self._rejections = rejections

    def routes(self) -> dict[str, tuple[str, ...]]:
        """Every path this app answers and its methods (what /openapi.json must describe)."""
        return {path: tuple(methods) for path, methods in (self._routes | self._templates).items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    def close(self) -> None:
        """Stop the worker threads (waits for running calls to finish)."""
        self._signing_pool.close()
        self._decode_pool.close()
        if self._webhook_pool is not None:
            self._webhook_pool.close()
        if self._metrics_pool is not None:
            self._metrics_pool.close()
        if self._v1 is not None:
            self._v1.close()
        if self._admin is not None:
            self._admin.close()
        if self._dashboard is not None:
            self._dashboard.close()
        if self._oidc is not None:
            self._oidc.close()
        if self._builder is not None:
            self._builder.close()

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
        route = scope["path"] if scope["path"] in self._routes else UNMATCHED_ROUTE
        if route == UNMATCHED_ROUTE and self._patterns:  # a Builder path: its template labels it
            route = match(self._patterns, scope) or UNMATCHED_ROUTE
        body = _BodyReceipt(scope, receive)
        scope[DECODE_POOL_SCOPE_KEY] = self._decode_pool
        try:
            if self._limits is not None:
                scope[LIMITS_SCOPE_KEY] = self._limits
                _check_header_bytes(scope, self._limits.request_header_bytes_max)
            response = await self._dispatch(scope, body)
        except ClientGone:  # the connection closed before the body was read: nothing was done
            if scope.get(CLIENT_GONE_SCOPE_KEY):  # the client's doing, not a limit's (server.py)
                LOG.info("request %s: the client closed its connection before its body was read", request_id)
            return
        except ApiError as exc:
            response = _error_response(exc, request_id, v1=scope["path"].startswith("/v1/"))
        except SpendRefused as exc:  # the gateway's credit control: spec 02's 483
            # "limit" names it for machines too: the gateway's credit or an end user's allowance.
            refused = ApiError(str(exc), status=SPEND_REFUSED_STATUS, body_fields={"limit": exc.limit.value})
            refused.reason = Reason.INSUFFICIENT_BALANCE
            response = _error_response(refused, request_id)
        except LedgerBusy as exc:  # the committer's queue is full: nothing was done, retry soon
            busy = ServiceUnavailable(str(exc), headers={"Retry-After": str(exc.retry_after_s)})
            busy.reason = Reason.SIGNER_BUSY
            response = _error_response(busy, request_id)
        except SessionsExhausted as exc:  # too many open sessions: retry when one has gone idle
            exhausted = ApiError(str(exc), status=SESSIONS_EXHAUSTED_STATUS,
                                 headers={"Retry-After": str(exc.retry_after_s)})
            exhausted.reason = Reason.RATE_LIMITED
            response = _error_response(exhausted, request_id)
        except DatabaseUnavailable as exc:  # its message carries no password (ledger redacts)
            LOG.warning("request %s: %s", request_id, exc)
            response = _error_response(ServiceUnavailable(database_unavailable_message(exc)), request_id)
        except Exception:
            LOG.exception("request %s: %s %s failed", request_id, scope["method"], scope["path"])
            response = _error_response(InternalError("unexpected exception"), request_id)
        if response.status >= 400:
            self._rejected(route, response)
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

    async def _dispatch(self, scope: Scope, receive: Receive) -> Response:
        methods = self._routes.get(scope["path"])
        if methods is None and self._patterns:
            template = match(self._patterns, scope)
            methods = None if template is None else self._templates[template]
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

    async def _sign_orchestrator_info(self, scope: Scope, receive: Receive) -> Response:
        headers = RequestHeaders(scope["headers"])
        if self._api_keys is not None:
            await self._authenticate(self._api_keys, headers)
        address, signature = self._service.orchestrator_info_signature()
        return Response(200, orchestrator_info_body(address, signature))

    async def _generate_live_payment(self, scope: Scope, receive: Receive) -> Response:
        headers = RequestHeaders(scope["headers"])
        caller: Caller | None = None
        if self._api_keys is not None:
            caller = await self._authenticate(self._api_keys, headers)
        body = await read_body(scope, receive)
        request = await decoded(scope, body, decode_payment_request)
        if self._webhook is not None and self._webhook_pool is not None:
            caller = await self._webhook_pool.run(self._webhook.authorize, headers, request)
            bind_gateway(caller.gateway_id, caller.subject)
        if caller is None:  # the constructor requires one authorization; this cannot happen
            raise InternalError("no authorization configured")
        if self._rate_limiter is not None:
            self._rate_limiter.admit(caller.gateway_id)
        try:
            work = await self._payment_work(caller, request.call, len(body))
            # The committer's batch answers the future: no thread waits for the commit.
            result = await asyncio.wrap_future(self._service.commit(work))
        except SigningRefused as refusal:
            error = refusal_error(refusal, request.state_echo)
            error.reason = REFUSAL_REASON[refusal.reason]
            raise error from None
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
        return await self._signing_pool.run(self._service.payment_work, caller, call)

    async def _authenticate(self, api_keys: ApiKeyAuthenticator, headers: RequestHeaders) -> Caller:
        """A recently authenticated key on the event loop; otherwise a lookup on a thread. The
        caller's gateway is bound to the log context here, on the request's own task (a value set
        on the worker thread would stay in that thread's copy of the context)."""
        caller = api_keys.cached_caller(headers)
        if caller is None:
            caller = await self._signing_pool.run(api_keys.caller, headers)
        bind_gateway(caller.gateway_id, caller.subject)
        return caller

    async def _discover_orchestrators(self, scope: Scope, receive: Receive) -> Response:
        """Spec 02's optional discovery (api/discovery.py), authenticated like /sign-orchestrator-info."""
        if self._api_keys is not None:
            await self._authenticate(self._api_keys, RequestHeaders(scope["headers"]))
        if self._discovery is None:
            raise ServiceUnavailable("orchestrator discovery is not configured on this signer")
        return Response(200, self._discovery.answer(scope.get("query_string", b"")))

    async def _openapi_document(self, scope: Scope, receive: Receive) -> Response:
        return Response(200, _SERVICE_OPENAPI)

    async def _healthz(self, scope: Scope, receive: Receive) -> Response:
        return Response(200, b'{"status":"ok"}')

    async def _health(self, scope: Scope, receive: Receive) -> Response:
        if self._api_keys is not None:
            await self._authenticate(self._api_keys, RequestHeaders(scope["headers"]))
        document = (
            {"state": "unmonitored", "detail": "static chain view: configure [chain] rpc_url to monitor the deposit"}
            if self._deposit_health is None
            else self._deposit_health()
        )
        return Response(200, json.dumps(document, separators=(",", ":")).encode())

    async def _metrics_page(self, scope: Scope, receive: Receive) -> Response:
        """The Prometheus exposition. Rendering reads memory only but takes milliseconds with
        many gateways, so it runs on its own thread rather than stalling the event loop."""
        if self._metrics is None or self._metrics_pool is None:  # the route exists only with metrics
            raise InternalError("metrics route without metrics")
        if self._metrics_token is not None:
            _check_bearer(RequestHeaders(scope["headers"]), self._metrics_token)
        body = await self._metrics_pool.run(self._metrics.exposition)
        return Response(200, body, {"Content-Type": EXPOSITION_CONTENT_TYPE})

    async def _readyz(self, scope: Scope, receive: Receive) -> Response:
        if await self._signing_pool.run(self._service.ready):
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
    scheme, _, presented = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode("latin-1"), token):
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
