"""The OAuth 2.0 / OpenID Connect provider's routes, mounted on the HTTP server with [oidc]:

    GET  /.well-known/openid-configuration   discovery (issuer, endpoints, grants, scopes, algorithms)
    GET  /api/v1/oidc/jwks                   the public keys: current and previous (keys.py)
    POST /api/v1/oidc/token                  grant_type=client_credentials (client_secret_basic or
                                             _post) | urn:ietf:params:oauth:grant-type:token-exchange
                                             (subject_token = app token or API key, external_user_id)
    POST /api/v1/oidc/introspect             RFC 7662, the app's client credentials; only its own tokens
    POST /api/v1/oidc/revoke                 RFC 7009, the app's client credentials; only its own tokens

Bodies are ``application/x-www-form-urlencoded`` (RFC 6749 §3.2) of at most FORM_BYTES_MAX bytes.
Errors are RFC 6749 §5.2's ``{"error": code, "error_description": …}`` with 400, or 401 and
``WWW-Authenticate`` for a client that failed to authenticate. Token answers carry
``Cache-Control: no-store``. Nothing here logs or echoes a token or a secret. Blocking work (a
database read, a signature) runs on the routes' own small pool.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Final
from urllib.parse import parse_qs, unquote

from clearinghouse.api.bodies import Receive, Scope, read_body
from clearinghouse.api.errors import ApiError
from clearinghouse.api.http import Response
from clearinghouse.api.identity_routes import DISCOVERY_PATH, INTROSPECT_PATH, JWKS_PATH, REVOKE_PATH, TOKEN_PATH
from clearinghouse.api.pools import BlockingPool
from clearinghouse.api.requests import RequestHeaders
from clearinghouse.identity.errors import IdentityError, InvalidClient, InvalidRequest, InvalidToken, UnsupportedGrant
from clearinghouse.identity.keys import ALGORITHM
from clearinghouse.identity.limits import FORM_BYTES_MAX, FORM_FIELDS_MAX
from clearinghouse.identity.service import IdentityService
from clearinghouse.identity.tokens import Scope as TokenScope
from clearinghouse.api.limits import IDENTITY_THREADS_MAX


CLIENT_CREDENTIALS: Final = "client_credentials"
TOKEN_EXCHANGE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
_NO_STORE: Final = {"Cache-Control": "no-store", "Pragma": "no-cache"}

Handler = Callable[[Scope, Receive], Awaitable[Response]]

IDENTITY_STATUS: Final[Mapping[str, int]] = {
    "invalid_request": 400,
    "invalid_client": 401,
    "invalid_grant": 400,
    "unsupported_grant_type": 400,
    "invalid_scope": 400,
    "invalid_token": 401,
    "insufficient_scope": 403,
    "not_found": 404,
}
"""The one table of identity error codes → HTTP status (the Builder routes use it too)."""


class OidcRoutes:
    """The provider's routes over one IdentityService; ``routes()`` is merged into the ASGI app."""

    def __init__(self, identity: IdentityService, *, threads: int = IDENTITY_THREADS_MAX) -> None:
        self._identity = identity
        self._pool = BlockingPool("identity", threads)

    def routes(self) -> dict[str, dict[str, Handler]]:
        return {
            DISCOVERY_PATH: {"GET": self._discovery},
            JWKS_PATH: {"GET": self._jwks},
            TOKEN_PATH: {"POST": self._oauth(self._token)},
            INTROSPECT_PATH: {"POST": self._oauth(self._introspect)},
            REVOKE_PATH: {"POST": self._oauth(self._revoke)},
        }

    def close(self) -> None:
        self._pool.close()

    def discovery_document(self) -> dict[str, object]:
        issuer = self._identity.settings.issuer.rstrip("/")
        return {
            "issuer": self._identity.settings.issuer,
            "token_endpoint": issuer + TOKEN_PATH,
            "jwks_uri": issuer + JWKS_PATH,
            "introspection_endpoint": issuer + INTROSPECT_PATH,
            "revocation_endpoint": issuer + REVOKE_PATH,
            "grant_types_supported": [CLIENT_CREDENTIALS, TOKEN_EXCHANGE],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": sorted(TokenScope),
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint_auth_signing_alg_values_supported": [ALGORITHM],
        }

    async def _discovery(self, scope: Scope, receive: Receive) -> Response:
        return _json(self.discovery_document(), {"Cache-Control": "public, max-age=300"})

    async def _jwks(self, scope: Scope, receive: Receive) -> Response:
        jwks = await self._pool.run(self._identity.jwks)
        # Short: a rotation must reach verifiers within minutes; the previous key stays listed anyway.
        return _json(jwks, {"Cache-Control": "public, max-age=300"})

    def _oauth(self, handler: Callable[[Scope, dict[str, str]], Awaitable[Response]]) -> Handler:
        """Read the form, run the handler; identity errors become RFC 6749 §5.2 answers."""

        async def answer(scope: Scope, receive: Receive) -> Response:
            try:
                form = _form(await read_body(scope, receive, FORM_BYTES_MAX))
                return await handler(scope, form)
            except IdentityError as exc:
                return oauth_error(exc)

        return answer

    async def _token(self, scope: Scope, form: dict[str, str]) -> Response:
        grant = form.get("grant_type")
        if grant == CLIENT_CREDENTIALS:
            client_id, secret = _client_credentials(scope, form)
            issued = await self._pool.run(self._identity.client_credentials, client_id, secret, form.get("scope"))
        elif grant == TOKEN_EXCHANGE:
            lifetime = form.get("expires_in")
            if lifetime is not None and not (lifetime.isdigit() and len(lifetime) <= 6):
                raise InvalidRequest("expires_in must be a whole number of seconds")
            issued = await self._pool.run(
                self._identity.exchange, _required(form, "subject_token"), _required(form, "subject_token_type"),
                form.get("external_user_id"), form.get("scope"), None if lifetime is None else int(lifetime),
                form.get("client_id"),
            )
        else:
            raise UnsupportedGrant(f"grant_type must be {CLIENT_CREDENTIALS} or {TOKEN_EXCHANGE}")
        return _json(issued.body(), _NO_STORE)

    async def _introspect(self, scope: Scope, form: dict[str, str]) -> Response:
        client_id = await self._client(scope, form)
        answer = await self._pool.run(self._identity.introspect, _required(form, "token"))
        if answer.get("client_id") != client_id:  # another app's token: not for this caller to see
            answer = {"active": False}
        return _json(answer, _NO_STORE)

    async def _revoke(self, scope: Scope, form: dict[str, str]) -> Response:
        client_id = await self._client(scope, form)
        token = _required(form, "token")
        owner = (await self._pool.run(self._identity.introspect, token)).get("client_id")
        if owner == client_id:  # RFC 7009 §2.1: a client revokes only its own tokens; 200 either way
            await self._pool.run(self._identity.revoke, token)
        return Response(200, b"", _NO_STORE)

    async def _client(self, scope: Scope, form: dict[str, str]) -> str:
        """The authenticated client's id."""
        client_id, secret = _client_credentials(scope, form)
        await self._pool.run(self._identity.authenticate_client, client_id, secret)
        return client_id


def oauth_error(error: IdentityError) -> Response:
    status = IDENTITY_STATUS.get(error.code, 400)
    headers = dict(_NO_STORE)
    if error.code == "invalid_client":
        headers["WWW-Authenticate"] = 'Basic realm="clearinghouse"'
    elif status in (401, 403):
        headers["WWW-Authenticate"] = f'Bearer error="{error.code}"'
    body = {"error": error.code, "error_description": error.message}
    return Response(status, json.dumps(body, separators=(",", ":")).encode(), headers, "UNAUTHENTICATED"
                    if status == 401 else None, error.message)


def identity_api_error(error: IdentityError) -> ApiError:
    """An identity error as the house's error answer (Builder routes)."""
    status = IDENTITY_STATUS.get(error.code, 400)
    headers = {"WWW-Authenticate": f'Bearer error="{error.code}"'} if status in (401, 403) else None
    return ApiError(error.message, status=status, headers=headers)


def bearer_token(headers: RequestHeaders) -> str:
    """The bearer token of the Authorization header. Raises ApiError 401."""
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise identity_api_error(InvalidToken("this route needs Authorization: Bearer <access token>"))
    return token.strip()


def _form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("ascii")
        fields = parse_qs(text, keep_blank_values=False, strict_parsing=bool(text), max_num_fields=FORM_FIELDS_MAX)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(f"the body must be an x-www-form-urlencoded form of at most {FORM_FIELDS_MAX} fields") from None
    repeated = sorted(name for name, values in fields.items() if len(values) > 1)
    if repeated:  # RFC 6749 §3.2: parameters must not be included more than once
        raise InvalidRequest(f"parameter {repeated[0][:40]!r} given more than once")
    return {name: values[0] for name, values in fields.items()}


def _required(form: dict[str, str], name: str) -> str:
    value = form.get(name)
    if not value:
        raise InvalidRequest(f"{name} is required")
    return value


def _client_credentials(scope: Scope, form: dict[str, str]) -> tuple[str, str]:
    """client_secret_basic (RFC 6749 §2.3.1: form-urlencoded id and secret in Basic) or _post."""
    header = RequestHeaders(scope["headers"]).get("authorization")
    if header is not None:
        if "client_secret" in form:
            raise InvalidRequest("use one client authentication method, not Basic and client_secret both")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise InvalidClient("client authentication must be HTTP Basic or client_secret_post")
        try:
            basic_id, colon, basic_secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidClient("malformed Basic credentials") from None
        if not colon:
            raise InvalidClient("malformed Basic credentials")
        return unquote(basic_id), unquote(basic_secret)
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if not client_id or not secret:
        raise InvalidClient("client authentication required: HTTP Basic or client_id and client_secret")
    return client_id, secret


def _json(document: object, headers: Mapping[str, str]) -> Response:
    return Response(200, json.dumps(document, separators=(",", ":")).encode(), dict(headers))

