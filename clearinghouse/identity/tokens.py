"""Issue and verify one token: a JWT signed ES256 with the current key of ``keys.SigningKeys``.

Claims: ``iss`` (the configured issuer URL), ``aud`` (the configured audience), ``sub`` (an app's
client id, or a user's usage subject ``<client_id>:<external_id>``), ``client_id``, ``token_use``
(``app`` or ``user``), ``scope`` (space-separated), ``iat``, ``nbf``, ``exp``, ``jti`` (128 random
bits). Verification pins the algorithm to ES256 (so ``alg: none`` and HS256 keyed with the public
key are refused by the library before any key is used), takes the key by the header's ``kid``
from the current and previous keys, and checks issuer, audience, ``exp``/``nbf``/``iat`` with at
most ``clock_skew_s`` of leeway, and the claims' types. Revocation and the app's and user's
standing are the service's to check (service.py, verified.py).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwt import JWTClaimsRegistry

from clearinghouse.identity.errors import InvalidScope, InvalidToken
from clearinghouse.identity.keys import ALGORITHM, SigningKeys
from clearinghouse.identity.limits import CLOCK_SKEW_S_MAX, TOKEN_CHARS_MAX


class TokenUse(StrEnum):
    APP = "app"
    USER = "user"


class Scope(StrEnum):
    """What a token may do. An app token may hold any; a user token only USER_SCOPES."""

    SIGN = "sign:job"  # sign payments (every signing route)
    USERS_READ = "users:read"  # list and read the app's users and allowances
    USERS_WRITE = "users:write"  # provision, update, deactivate users, grant allowances
    USERS_TOKEN = "users:token"  # mint user tokens (Builder API and token exchange)
    USAGE_READ = "usage:read"  # the app's usage, or a user's own


APP_SCOPES = frozenset(Scope)
USER_SCOPES = frozenset({Scope.SIGN, Scope.USAGE_READ})
APP_SCOPE_DEFAULT = frozenset({Scope.USERS_READ, Scope.USERS_WRITE, Scope.USERS_TOKEN, Scope.USAGE_READ})
"""An app token signs nothing unless asked (``scope=... sign:job``): an app's server manages users,
its users' tokens sign."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """A verified token's claims."""

    jti: str
    use: TokenUse
    subject: str
    client_id: str
    scopes: frozenset[Scope]
    issued_at: int
    expires_at: int

    @property
    def external_id(self) -> str | None:
        """A user token's external user id (its subject after ``<client_id>:``)."""
        if self.use is not TokenUse.USER:
            return None
        return self.subject[len(self.client_id) + 1:]


def parse_scopes(text: str | None, allowed: frozenset[Scope], default: frozenset[Scope]) -> frozenset[Scope]:
    """The scopes a request asks for (``default`` when none). Raises InvalidScope for an unknown
    scope or one not in ``allowed``."""
    if text is None or not text.strip():
        return default
    asked: set[Scope] = set()
    for word in text.split():
        try:
            scope = Scope(word)
        except ValueError:
            raise InvalidScope(f"unknown scope {word[:40]!r}; known: {' '.join(sorted(Scope))}") from None
        if scope not in allowed:
            raise InvalidScope(f"scope {word!r} is not allowed for this token")
        asked.add(scope)
    return frozenset(asked)


class TokenCodec:
    """Signs and verifies tokens for one issuer and audience."""

    def __init__(self, keys: SigningKeys, *, issuer: str, audience: str, clock_skew_s: int,
                 clock_s: Callable[[], float] = time.time) -> None:
        if not 0 <= clock_skew_s <= CLOCK_SKEW_S_MAX:
            raise ValueError(f"clock_skew_s must be in [0, {CLOCK_SKEW_S_MAX}], got {clock_skew_s}")
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self._skew_s = clock_skew_s
        self._clock_s = clock_s

    def __repr__(self) -> str:
        return f"TokenCodec(issuer={self.issuer!r}, audience={self.audience!r})"

    def jwks(self) -> dict[str, Any]:
        return self._keys.jwks()

    def issue(self, use: TokenUse, subject: str, client_id: str, scopes: frozenset[Scope],
              lifetime_s: int) -> tuple[str, TokenClaims]:
        """A new signed token and its claims."""
        now = int(self._clock_s())
        claims = TokenClaims(jti=secrets.token_urlsafe(16), use=use, subject=subject, client_id=client_id,
                             scopes=scopes, issued_at=now, expires_at=now + lifetime_s)
        payload = {
            "iss": self.issuer, "aud": self.audience, "sub": subject, "client_id": client_id,
            "token_use": use.value, "scope": " ".join(sorted(scopes)), "iat": now, "nbf": now,
            "exp": claims.expires_at, "jti": claims.jti,
        }
        key = self._keys.current()
        header = {"alg": ALGORITHM, "typ": "JWT", "kid": key.kid}
        return jwt.encode(header, payload, key, algorithms=[ALGORITHM]), claims

    def verify(self, token: str) -> TokenClaims:
        """The claims of a token we issued that is valid now. Raises InvalidToken (the message
        says what failed, never the token)."""
        if not 0 < len(token) <= TOKEN_CHARS_MAX or token.count(".") != 2:
            raise InvalidToken("not a signed JWT")
        try:
            decoded = jwt.decode(token, self._keys.key_set(), algorithms=[ALGORITHM])
        except JoseError as exc:
            raise InvalidToken(f"token signature not valid ({exc.error})") from None
        except (ValueError, TypeError, KeyError):
            raise InvalidToken("token is not a well-formed JWT") from None
        if decoded.header.get("alg") != ALGORITHM:  # the library enforces it too; belt and braces
            raise InvalidToken(f"token algorithm must be {ALGORITHM}")
        registry = JWTClaimsRegistry(
            now=int(self._clock_s()), leeway=self._skew_s,
            iss={"essential": True, "value": self.issuer}, aud={"essential": True, "value": self.audience},
            exp={"essential": True}, nbf={"essential": True}, iat={"essential": True},
            sub={"essential": True}, jti={"essential": True},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as exc:
            raise InvalidToken(f"token claims not valid ({exc.error}: {exc.description or ''})".strip()) from None
        return _claims(decoded.claims)


def _claims(claims: dict[str, Any]) -> TokenClaims:
    try:
        use = TokenUse(claims["token_use"])
        scopes = frozenset(Scope(word) for word in str(claims["scope"]).split())
        subject, client_id, jti = claims["sub"], claims["client_id"], claims["jti"]
        if not all(isinstance(v, str) and v for v in (subject, client_id, jti)):
            raise ValueError("text claims")
        if use is TokenUse.USER and not subject.startswith(client_id + ":"):
            raise ValueError("user subject")
        if use is TokenUse.APP and subject != client_id:
            raise ValueError("app subject")
        return TokenClaims(jti=jti, use=use, subject=subject, client_id=client_id, scopes=scopes,
                           issued_at=int(claims["iat"]), expires_at=int(claims["exp"]))
    except (KeyError, ValueError, TypeError):
        raise InvalidToken("token claims are not ours (token_use, scope, sub, client_id)") from None
