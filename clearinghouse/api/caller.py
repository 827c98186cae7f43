"""Who is calling, and may they sign now: the one authentication + rate-limit step of every
transport (the remote-signer routes in http.py, the /v1 JSON routes in v1_http.py, gRPC in
grpc_service.py, the Builder API in builder_http.py).

``CallerCheck`` turns a request's credentials — ``Authorization: Bearer <API key or access
token>`` and ``Livepeer-Usage-Subject``, read alike from HTTP headers and gRPC metadata
(``RequestHeaders``) — and its route's kind (``signing``: whether the route signs) into the
authenticated ``Caller``, bound to the log context of the calling task or thread, or a refusal:

- ``Unauthenticated`` (401 / UNAUTHENTICATED): a missing, malformed, unknown or revoked key, or a
  bad, expired or revoked token;
- ``GatewayDisabled``, ``InsufficientScope`` (403 / PERMISSION_DENIED);
- ``BadRequest`` (400 / INVALID_ARGUMENT): a bad Livepeer-Usage-Subject;
- ``RateLimited`` (429 / RESOURCE_EXHAUSTED): a signing route over the gateway's calls/s, one
  bucket per gateway whichever transport it calls through (rate_limit.py);
- ``DatabaseUnavailable``; on HTTP, ``ServiceUnavailable`` when no signing thread is free.

A key seen within API_KEY_CACHE_TTL_S (or a token verified before) is answered from memory: on the
event loop for HTTP (``admitted``), on the handler's thread for gRPC (``caller``); otherwise one
database read, on the signing threads for HTTP. The remote-signer payment route authenticates
before reading its body and is ``admit``-ted after decoding it, where a webhook-authorized caller
becomes known too.

The Builder API's callers are apps and their end users, with access tokens of the identity
provider: ``app`` and ``end_user`` read ``Authorization: Bearer <access token>`` the same way and
answer the app or user the token names, if it holds the route's scope (identity errors:
``InvalidToken`` 401, ``InsufficientScope`` 403, mapped by the route).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearinghouse.api.api_keys import ApiKeyAuthenticator
from clearinghouse.api.pools import BlockingPool
from clearinghouse.api.rate_limit import RateLimiter
from clearinghouse.api.requests import RequestHeaders, bearer_credential
from clearinghouse.errors import InvariantViolation
from clearinghouse.identity.errors import InvalidToken
from clearinghouse.identity.tokens import Scope as TokenScope
from clearinghouse.logs import bind_gateway
from clearinghouse.signer.calls import Caller

if TYPE_CHECKING:
    from clearinghouse.identity.service import IdentityService
    from clearinghouse.ledger.identity import App, EndUser


class CallerCheck:
    """Authenticates with ``api_keys`` and admits signing calls through ``rate_limiter`` (none:
    no rate limit). Without ``api_keys`` (the remote-signer routes with a webhook, which names
    the caller) it only admits. Safe to share between threads and transports."""

    def __init__(self, api_keys: ApiKeyAuthenticator | None, rate_limiter: RateLimiter | None = None, *,
                 identity: IdentityService | None = None) -> None:
        """``identity``: the provider whose access tokens ``app`` and ``end_user`` verify."""
        self._api_keys = api_keys
        self._rate_limiter = rate_limiter
        self._identity = identity

    @property
    def checks_keys(self) -> bool:
        """Whether callers are authenticated here (else a webhook authorizes them)."""
        return self._api_keys is not None

    async def admitted(self, headers: RequestHeaders, lookups: BlockingPool, *, signing: bool) -> Caller:
        """The caller of an HTTP request, admitted by the rate limit when ``signing``; a lookup
        the cache cannot answer runs on ``lookups``. Raises the refusals of the module."""
        caller = await self.authenticated(headers, lookups)
        if signing:
            self.admit(caller)
        return caller

    async def authenticated(self, headers: RequestHeaders, lookups: BlockingPool) -> Caller:
        """The caller of an HTTP request, not yet admitted. Its gateway is bound to the log
        context here, on the request's own task (a value set on the lookup's thread would stay
        in that thread's copy of the context)."""
        api_keys = self._keys()
        caller = api_keys.cached_caller(headers)
        if caller is None:
            caller = await lookups.run(api_keys.caller, headers)
        bind_gateway(caller.gateway_id, caller.subject)
        return caller

    def caller(self, headers: RequestHeaders, *, signing: bool) -> Caller:
        """The caller of a gRPC call, on its handler's thread (BLOCKING: at most one database
        read), admitted by the rate limit when ``signing``. Raises the refusals of the module."""
        api_keys = self._keys()
        caller = api_keys.cached_caller(headers) or api_keys.caller(headers)
        bind_gateway(caller.gateway_id, caller.subject)
        if signing:
            self.admit(caller)
        return caller

    def admit(self, caller: Caller) -> None:
        """Take one call from the caller's gateway's rate limit; RateLimited saying when to retry."""
        if self._rate_limiter is not None:
            self._rate_limiter.admit(caller.gateway_id)

    async def app(self, headers: RequestHeaders, needed: TokenScope, lookups: BlockingPool) -> App:
        """The app of the request's app token, which must hold ``needed`` (verified on
        ``lookups``). Raises InvalidToken, InsufficientScope."""
        return await lookups.run(self._provider().app_of, _access_token(headers), needed)

    async def end_user(self, headers: RequestHeaders, needed: TokenScope, lookups: BlockingPool) -> EndUser:
        """The end user of the request's user token, which must hold ``needed``. Raises
        InvalidToken, InsufficientScope."""
        _, user = await lookups.run(self._provider().user_of, _access_token(headers), needed)
        return user

    def _provider(self) -> IdentityService:
        if self._identity is None:  # only the Builder API asks, and it is built with a provider
            raise InvariantViolation("an access token was checked without an identity provider")
        return self._identity

    def _keys(self) -> ApiKeyAuthenticator:
        if self._api_keys is None:  # the transports ask only when checks_keys: a bug otherwise
            raise InvariantViolation("a caller was authenticated without API keys configured")
        return self._api_keys


def _access_token(headers: RequestHeaders) -> str:
    token = bearer_credential(headers)
    if token is None:
        raise InvalidToken("this route needs Authorization: Bearer <access token>")
    return token
