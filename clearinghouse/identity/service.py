"""The identity provider's operations, independent of HTTP: apps and their secrets, the token
grants (client credentials, RFC 8693 token exchange), introspection (RFC 7662), revocation
(RFC 7009), and the Builder API's user operations scoped to the calling app.

An app's secret (``chs_`` + 32 random bytes, base64url) is shown once; the ledger stores its
HMAC-SHA256 under the server pepper, like an API key's. A token exchange takes as subject token
an app's access token (with ``users:token``) or a gateway API key (the Livepeer SDK's key
exchange; ``client_id`` then names the app when the gateway has several) and an
``external_user_id`` of a provisioned, active user of that app, and answers a user token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clearinghouse.identity.errors import (
    InsufficientScope,
    InvalidClient,
    InvalidGrant,
    InvalidRequest,
    InvalidToken,
    UnknownUser,
)
from clearinghouse.identity.keys import SigningKeys
from clearinghouse.identity.limits import (
    CLIENT_ID_RANDOM_BYTES,
    SECRET_RANDOM_BYTES,
)
from clearinghouse.identity.tokens import (
    APP_SCOPE_DEFAULT,
    APP_SCOPES,
    USER_SCOPES,
    Scope,
    TokenClaims,
    TokenCodec,
    TokenUse,
    parse_scopes,
)
from clearinghouse.identity.verified import Verified, VerifiedTokens
from clearinghouse.ledger import Database
from clearinghouse.ledger import identity as stored
from clearinghouse.ledger.errors import NotFound
from clearinghouse.ledger.identity import App, EndUser

CLIENT_ID_PREFIX = "app_"
SECRET_PREFIX = "chs_"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
API_KEY_TOKEN_TYPE = "urn:livepeer:params:oauth:token-type:api_key"
"""A gateway API key as subject token; an ``access_token`` that starts ``chk_`` is read as one too."""
SUBJECT_TOKEN_TYPES = (ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE, API_KEY_TOKEN_TYPE)


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    """[oidc]: who issues, for which audience, token lifetimes and the user token's scope."""

    issuer: str
    audience: str
    user_token_lifetime_s: int
    app_token_lifetime_s: int
    clock_skew_s: int
    user_scope: frozenset[Scope]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token endpoint's answer (RFC 6749 §5.1, RFC 8693 §2.2.1)."""

    access_token: str
    expires_in: int
    scope: str
    issued_token_type: str = ACCESS_TOKEN_TYPE

    def body(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "token_type": "Bearer", "expires_in": self.expires_in,
                "scope": self.scope, "issued_token_type": self.issued_token_type}


class IdentityService:
    """Apps, users and tokens over one ledger. ``api_key_gateway`` turns a gateway API key into
    its gateway id (raising on a bad key): the transport's authenticator, for key exchange."""

    def __init__(self, db: Database, pepper: bytes, codec: TokenCodec, settings: IdentitySettings,
                 *, api_key_gateway: Callable[[str], int] | None = None,
                 verified: VerifiedTokens | None = None) -> None:
        self._db = db
        self._pepper = pepper
        self._codec = codec
        self.settings = settings
        self.api_key_gateway = api_key_gateway
        """Set by the daemon once its API-key authenticator exists (it takes ``verified``)."""
        self.verified = verified or VerifiedTokens(db, codec)

    def __repr__(self) -> str:
        return f"IdentityService(issuer={self.settings.issuer!r})"  # never the pepper

    def jwks(self) -> dict[str, Any]:
        """The public keys tokens are verified with (current and previous)."""
        return self._codec.jwks()

    # Apps ---------------------------------------------------------------------------------

    def set_app_active(self, client_id: str, active: bool) -> App:
        """Enable or disable an app; a disabled app's tokens (and its users') stop working."""
        app = stored.set_app_active(self._db, client_id, active)
        self.verified.drop_subject(client_id)
        return app

    # Grants -----------------------------------------------------------------------------

    def authenticate_client(self, client_id: str, secret: str) -> App:
        """The active app with these credentials. Raises InvalidClient (never naming the secret)."""
        app = stored.authenticate_app(self._db, client_id, self._digest(secret)) if secret else None
        if app is None:
            raise InvalidClient("unknown client, wrong secret, or the app or its gateway is disabled")
        return app

    def client_credentials(self, client_id: str, secret: str, scope: str | None) -> IssuedToken:
        """RFC 6749 §4.4. Raises InvalidClient, InvalidScope."""
        app = self.authenticate_client(client_id, secret)
        scopes = parse_scopes(scope, APP_SCOPES, APP_SCOPE_DEFAULT)
        lifetime_s = self.settings.app_token_lifetime_s
        token, _ = self._codec.issue(TokenUse.APP, app.client_id, app.client_id, scopes, lifetime_s)
        return IssuedToken(token, lifetime_s, _scope_text(scopes))

    def exchange(self, subject_token: str, subject_token_type: str, external_user_id: str | None,
                 scope: str | None, lifetime_s: int | None, client_id: str | None) -> IssuedToken:
        """RFC 8693: an app token or gateway API key + an external user id → a user token.
        Raises InvalidRequest, InvalidGrant, InvalidScope."""
        if subject_token_type not in SUBJECT_TOKEN_TYPES:
            raise InvalidRequest(f"subject_token_type must be one of {', '.join(SUBJECT_TOKEN_TYPES)}")
        if not external_user_id:
            raise InvalidRequest("external_user_id is required: the app's id of the end user")
        app = self._exchanging_app(subject_token, subject_token_type, client_id)
        return self.mint_user_token(app, external_user_id, scope, lifetime_s)

    def mint_user_token(self, app: App, external_id: str, scope: str | None, lifetime_s: int | None) -> IssuedToken:
        """A user token for an active user of ``app``. Raises InvalidGrant, InvalidScope, InvalidRequest."""
        lifetime_s = self._user_lifetime(lifetime_s)
        scopes = parse_scopes(scope, USER_SCOPES, self.settings.user_scope)
        user = self._user_or_none(app, external_id)
        if user is None or not user.active:
            raise InvalidGrant(f"no active user {external_id[:96]!r} in app {app.client_id}")
        token, _ = self._codec.issue(TokenUse.USER, user.usage_subject, app.client_id, scopes, lifetime_s)
        return IssuedToken(token, lifetime_s, _scope_text(scopes))

    def introspect(self, token: str) -> dict[str, Any]:
        """RFC 7662: ``{"active": false}`` for anything not usable now, else its claims."""
        try:
            verified = self.verified.standing(self._codec.verify(token))
        except InvalidToken:
            return {"active": False}
        claims = verified.claims
        return {"active": True, "scope": _scope_text(claims.scopes), "client_id": claims.client_id,
                "sub": claims.subject, "token_use": claims.use.value, "exp": claims.expires_at,
                "iat": claims.issued_at, "iss": self._codec.issuer, "aud": self._codec.audience,
                "jti": claims.jti, "token_type": "Bearer"}

    def revoke(self, token: str) -> None:
        """RFC 7009: revoke a token of ours (an invalid or expired one needs nothing: §2.2)."""
        try:
            claims = self._codec.verify(token)
        except InvalidToken:
            return
        stored.revoke_token(self._db, claims.jti, datetime.fromtimestamp(claims.expires_at, UTC))
        self.verified.revoke(claims.jti)

    # Bearer tokens of the Builder API ---------------------------------------------------

    def app_of(self, token: str, scope: Scope) -> App:
        """The app whose live app token this is, if it holds ``scope``. Raises InvalidToken,
        InsufficientScope."""
        verified = self._verified(token)
        if verified.claims.use is not TokenUse.APP:
            raise InsufficientScope("this route needs an app token, not a user token")
        _require(verified.claims, scope)
        return stored.get_app(self._db, verified.claims.client_id)

    def user_of(self, token: str, scope: Scope) -> tuple[Verified, EndUser]:
        """The user whose live user token this is, if it holds ``scope``."""
        verified = self._verified(token)
        if verified.claims.use is not TokenUse.USER or verified.claims.external_id is None:
            raise InsufficientScope("this route needs a user token")
        _require(verified.claims, scope)
        app = stored.get_app(self._db, verified.claims.client_id)
        return verified, stored.get_user(self._db, app, verified.claims.external_id)

    # Users of an app ------------------------------------------------------------------

    def user(self, app: App, external_id: str) -> EndUser:
        found = self._user_or_none(app, external_id)
        if found is None:
            raise UnknownUser(f"no user {external_id[:96]!r} in app {app.client_id}")
        return found

    def update_user(self, app: App, external_id: str, *, email: str | None, active: bool | None) -> EndUser:
        """Change a user; deactivating one stops its live tokens at once on this process."""
        self.user(app, external_id)
        user = stored.update_user(self._db, app, external_id, email=email, active=active)
        if not user.active:
            self.verified.drop_subject(user.usage_subject)
        return user

    def _verified(self, token: str) -> Verified:
        return self.verified.cached(token) or self.verified.verify(token)

    def _exchanging_app(self, subject_token: str, subject_token_type: str, client_id: str | None) -> App:
        if subject_token_type == API_KEY_TOKEN_TYPE or subject_token.startswith("chk_"):
            return self._api_key_app(subject_token, client_id)
        try:
            return self.app_of(subject_token, Scope.USERS_TOKEN)
        except (InvalidToken, InsufficientScope) as exc:
            raise InvalidGrant(f"subject_token: {exc.message}") from None

    def _api_key_app(self, api_key: str, client_id: str | None) -> App:
        if self.api_key_gateway is None:
            raise InvalidGrant("this server does not exchange API keys")
        try:
            gateway_id = self.api_key_gateway(api_key)
        except Exception as exc:  # Unauthenticated, GatewayDisabled: never echo the key
            raise InvalidGrant(f"subject_token: {type(exc).__name__}: unknown, revoked or disabled API key") from None
        apps = [app for app in stored.list_apps(self._db, gateway_id) if app.active]
        if client_id is not None:
            apps = [app for app in apps if app.client_id == client_id]
        if len(apps) != 1:
            raise InvalidRequest("name the app with client_id: the key's gateway has "
                                 f"{len(apps)} matching active apps")
        return apps[0]

    def _user_or_none(self, app: App, external_id: str) -> EndUser | None:
        try:
            return stored.get_user(self._db, app, external_id)
        except NotFound:
            return None

    def _user_lifetime(self, lifetime_s: int | None) -> int:
        if lifetime_s is None:
            return self.settings.user_token_lifetime_s
        # A request may shorten the configured lifetime, never lengthen it.
        if not 0 < lifetime_s <= self.settings.user_token_lifetime_s:
            raise InvalidRequest(f"lifetime must be 1..{self.settings.user_token_lifetime_s} s")
        return lifetime_s

    def _digest(self, secret: str) -> bytes:
        return secret_digest(self._pepper, secret)


def register_app(db: Database, pepper: bytes, gateway_id: int, name: str) -> tuple[App, str]:
    """A new app of the gateway and its secret (shown once, never stored). Raises NotFound for
    an unknown gateway, InvalidLedgerInput for a bad name."""
    client_id = CLIENT_ID_PREFIX + _random_text(CLIENT_ID_RANDOM_BYTES)
    secret = SECRET_PREFIX + _random_text(SECRET_RANDOM_BYTES)
    app = stored.create_app(db, gateway_id, name=name, client_id=client_id, secret_digest=secret_digest(pepper, secret))
    return app, secret


def rotate_secret(db: Database, pepper: bytes, client_id: str) -> tuple[App, str]:
    """A new secret for the app (the old one stops working at once; issued tokens live on until
    they expire). Raises NotFound."""
    secret = SECRET_PREFIX + _random_text(SECRET_RANDOM_BYTES)
    return stored.replace_app_secret(db, client_id, secret_digest(pepper, secret)), secret


def secret_digest(pepper: bytes, secret: str) -> bytes:
    """HMAC-SHA256(pepper, secret): what the ledger stores of an app's secret."""
    return hmac.new(pepper, secret.encode("utf-8"), hashlib.sha256).digest()


def _require(claims: TokenClaims, scope: Scope) -> None:
    if scope not in claims.scopes:
        raise InsufficientScope(f"the token lacks scope {scope.value!r}")


def _scope_text(scopes: frozenset[Scope]) -> str:
    return " ".join(sorted(scopes))


def _random_text(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).rstrip(b"=").decode("ascii")


def identity_service(db: Database, pepper: bytes, keys_file: Path, settings: IdentitySettings) -> IdentityService:
    """The provider of one process: its key file's keys, a codec and the verified-token cache.
    Raises ConfigError for a missing, unsafe or malformed key file."""
    keys = SigningKeys(keys_file)
    codec = TokenCodec(keys, issuer=settings.issuer, audience=settings.audience, clock_skew_s=settings.clock_skew_s)
    return IdentityService(db, pepper, codec, settings)
