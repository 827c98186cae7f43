"""Gateway API keys: issue them, and authenticate ``Authorization: Bearer <key>``.

A key is ``chk_`` + 32 random bytes in unpadded base64url (47 characters); the prefix makes a
leaked key easy to recognise in logs and by secret scanners. It is shown once, when issued.
The ledger stores only HMAC-SHA256(pepper, key text) and the first API_KEY_DISPLAY_CHARS
characters for display, so a copy of the database does not reveal usable keys and, without
the pepper (kept out of the database), cannot be brute-forced offline. Lookup is by the
digest's unique index, so no digest is compared in Python (an index lookup on an HMAC output
leaks nothing usable about other keys).

Errors: ``Unauthenticated`` (401) for a missing, malformed, unknown or revoked key — its
message never contains the key — and ``GatewayDisabled`` (403).

With ``tokens`` (the identity provider's ``VerifiedTokens``), the same header may carry an access
token instead (a JWT: three dot-separated parts, never ``chk_``): a user token bills its calls to
the user (usage subject ``<client_id>:<external_id>``, whose allowance the signing batch checks),
an app token to the header's usage subject like a key. Either needs scope ``sign:job`` (else
``InsufficientScope``, 403); a bad, expired, revoked token or a deactivated user is
``Unauthenticated``. A verified token is answered from memory until its expiry (verified.py), so
the cached path costs about what a cached key does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from clearinghouse.api.errors import GatewayDisabled, InsufficientScope, Unauthenticated
from clearinghouse.api.limits import API_KEY_CACHE_TTL_S, API_KEYS_CACHED_MAX
from clearinghouse.domain.limits import PEPPER_BYTES_MIN
from clearinghouse.api.requests import RequestHeaders, usage_subject_header
from clearinghouse.ledger import Database, authenticate_api_key, create_api_key, list_api_keys
from clearinghouse.domain.gateways import ApiKey, AuthenticatedKey, GatewayStatus
from clearinghouse.ledger.gateways import replace_api_keys
from clearinghouse.identity.errors import InvalidToken
from clearinghouse.identity.tokens import Scope, TokenUse
from clearinghouse.identity.verified import Verified, VerifiedTokens
from clearinghouse.signer.calls import Caller

API_KEY_PREFIX = "chk_"
API_KEY_RANDOM_BYTES = 32
"""256 bits: guessing a key is out of reach whatever the request rate."""
API_KEY_DISPLAY_CHARS = 12
"""``chk_`` + 8 characters: enough to tell keys apart in a list, never enough to use one."""
API_KEY_LOOKUP_STRIPES = 64
"""Locks that make lookups of one key wait for each other (a key's stripe: its digest's first
byte): bounded memory whatever the number of keys, and different keys rarely share one."""

_KEY_RE = re.compile(r"chk_[A-Za-z0-9_-]{43}")
_BEARER_RE = re.compile(r"[Bb][Ee][Aa][Rr][Ee][Rr] +(\S+) *")


def api_key_digest(pepper: bytes, key_text: str) -> bytes:
    """HMAC-SHA256(pepper, key text): what the ledger stores and looks keys up by."""
    if len(pepper) < PEPPER_BYTES_MIN:
        raise ValueError(f"pepper must be at least {PEPPER_BYTES_MIN} bytes, got {len(pepper)}")
    return hmac.new(pepper, key_text.encode("ascii"), hashlib.sha256).digest()


def issue_api_key(
    db: Database, gateway_id: int, pepper: bytes, usage_subject: str | None = None
) -> tuple[str, ApiKey]:
    """Create a key for a gateway; returns the key text (shown once, never stored) and its record.

    Raises ``clearinghouse.ledger.NotFound`` for an unknown gateway, ``InvalidLedgerInput`` for
    an over-long usage subject, ValueError for a pepper shorter than PEPPER_BYTES_MIN.
    """
    key_text = _new_key_text()
    record = create_api_key(
        db,
        gateway_id,
        prefix=key_text[:API_KEY_DISPLAY_CHARS],
        digest=api_key_digest(pepper, key_text),
        usage_subject=usage_subject,
    )
    return key_text, record


def rotate_api_key(
    db: Database,
    gateway_id: int,
    pepper: bytes,
    *,
    key_id: int | None = None,
    usage_subject: str | None = None,
) -> tuple[str, ApiKey, tuple[ApiKey, ...]]:
    """Swap a gateway's key for a new one: issue it and revoke the old in one transaction.

    Revokes key ``key_id`` (whose usage subject the new key keeps unless ``usage_subject`` is
    given), or every unrevoked key of the gateway when ``key_id`` is None (the new key then has
    ``usage_subject``). Returns the new key's text (shown once, never stored), its record and
    the records revoked. A daemon's ApiKeyAuthenticator may accept a revoked key for up to its
    cache TTL (API_KEY_CACHE_TTL_S). Raises ``clearinghouse.ledger.NotFound`` for an unknown
    gateway or a ``key_id`` that is not an unrevoked key of it, ``InvalidLedgerInput`` for an
    over-long usage subject, ValueError for a pepper shorter than PEPPER_BYTES_MIN.
    """
    if key_id is not None and usage_subject is None:
        # A key's subject never changes, so reading it before the swap's transaction is safe.
        old = next((k for k in list_api_keys(db, gateway_id) if k.id == key_id), None)
        usage_subject = None if old is None else old.usage_subject
    key_text = _new_key_text()
    new, revoked = replace_api_keys(
        db,
        gateway_id,
        prefix=key_text[:API_KEY_DISPLAY_CHARS],
        digest=api_key_digest(pepper, key_text),
        usage_subject=usage_subject,
        revoke_key_id=key_id,
    )
    return key_text, new, revoked


def _new_key_text() -> str:
    random_part = base64.urlsafe_b64encode(secrets.token_bytes(API_KEY_RANDOM_BYTES))
    return API_KEY_PREFIX + random_part.rstrip(b"=").decode("ascii")


def authenticate(db: Database, pepper: bytes, authorization_header: str | None) -> AuthenticatedKey:
    """The live key named by an ``Authorization: Bearer <key>`` header, and its gateway.

    Raises ``Unauthenticated`` when the header is missing, not a bearer key of our format, or
    names no unrevoked key; ``GatewayDisabled`` when the key's gateway is disabled;
    ``clearinghouse.ledger.DatabaseUnavailable`` when the database cannot be read.
    """
    return _lookup(db, api_key_digest(pepper, _bearer_key(authorization_header)))


def _lookup(db: Database, digest: bytes) -> AuthenticatedKey:
    found = authenticate_api_key(db, digest)
    if found is None:
        raise Unauthenticated("unknown or revoked API key")
    if found.gateway.status is not GatewayStatus.ACTIVE:
        raise GatewayDisabled(f"gateway {found.gateway.name!r} is disabled")
    return found


def _bearer_text(authorization_header: str | None, expected: str = "API key or access token") -> str:
    if not authorization_header:
        raise Unauthenticated(f"missing Authorization header: expected 'Bearer <{expected}>'")
    match = _BEARER_RE.fullmatch(authorization_header)
    if match is None:
        raise Unauthenticated(f"Authorization header is not 'Bearer <{expected}>'")
    return match.group(1)


def _is_token(text: str) -> bool:
    """A JWT (header.payload.signature), not one of our keys."""
    return not text.startswith(API_KEY_PREFIX) and text.count(".") == 2


def _checked_key(key_text: str) -> str:
    if not _KEY_RE.fullmatch(key_text):
        raise Unauthenticated("malformed API key: expected chk_ followed by 43 base64url characters")
    return key_text


def _bearer_key(authorization_header: str | None) -> str:
    return _checked_key(_bearer_text(authorization_header, "API key"))


def _credential(authorization_header: str | None, tokens: bool) -> tuple[str, bool]:
    """The header's bearer text, parsed once, and whether it is an access token (only when
    ``tokens`` are accepted); a key is checked for its shape."""
    if not tokens or authorization_header is None:
        return _bearer_key(authorization_header), False
    text = _bearer_text(authorization_header)
    return (text, True) if _is_token(text) else (_checked_key(text), False)


class ApiKeyAuthenticator:
    """Turns a request's headers into the Caller of a live API key (the transport's default).

    A successful authentication is remembered for ``cache_ttl_s`` (by the key's digest, never
    its text), so a gateway paying every few seconds costs one database read per TTL instead
    of one per call (~0.6 ms each on SQLite). The price: revoking a key or disabling a gateway
    takes effect on this process within ``cache_ttl_s``. Failures are never remembered.
    """

    def __init__(
        self,
        db: Database,
        pepper: bytes,
        *,
        cache_ttl_s: float = API_KEY_CACHE_TTL_S,
        clock_s: Callable[[], float] = time.monotonic,
        tokens: VerifiedTokens | None = None,
    ) -> None:
        if len(pepper) < PEPPER_BYTES_MIN:
            raise ValueError(f"pepper must be at least {PEPPER_BYTES_MIN} bytes, got {len(pepper)}")
        self._db = db
        self._pepper = pepper
        self._cache_ttl_s = cache_ttl_s
        self._clock_s = clock_s
        self._recent: OrderedDict[bytes, tuple[AuthenticatedKey, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._lookups = tuple(threading.Lock() for _ in range(API_KEY_LOOKUP_STRIPES))
        self._tokens = tokens

    def __repr__(self) -> str:
        return f"ApiKeyAuthenticator({self._db.masked_url!r})"  # never the pepper

    def cached_caller(self, headers: RequestHeaders) -> Caller | None:
        """The caller if its key was authenticated within the TTL, else None (NON-BLOCKING).

        Raises Unauthenticated for a missing or malformed key, BadRequest for a bad
        Livepeer-Usage-Subject header.
        """
        text, is_token = _credential(headers.get("authorization"), self._tokens is not None)
        if is_token and self._tokens is not None:
            verified = self._tokens.cached(text)
            return None if verified is None else _token_caller(verified, headers)
        digest = api_key_digest(self._pepper, text)
        with self._lock:
            entry = self._recent.get(digest)
        if entry is None or entry[1] <= self._clock_s():
            return None
        return _caller(entry[0], headers)

    def gateway_of_key(self, key_text: str) -> int:
        """The gateway of a live API key, never a token (the token exchange's API-key subject
        token; BLOCKING). Raises Unauthenticated, GatewayDisabled."""
        return _lookup(self._db, api_key_digest(self._pepper, _checked_key(key_text))).gateway.id

    def caller(self, headers: RequestHeaders) -> Caller:
        """The authenticated caller (BLOCKING: one database read), remembered for the TTL.

        The usage subject is the key's own, else the Livepeer-Usage-Subject header. Raises
        Unauthenticated, GatewayDisabled, BadRequest (bad subject header), DatabaseUnavailable;
        for a token, InsufficientScope too.
        """
        text, is_token = _credential(headers.get("authorization"), self._tokens is not None)
        if is_token and self._tokens is not None:
            try:
                verified = self._tokens.cached(text) or self._tokens.verify(text)
            except InvalidToken as exc:
                raise Unauthenticated(exc.message, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
            return _token_caller(verified, headers)
        digest = api_key_digest(self._pepper, text)
        # One lookup per key at a time: when a busy key's entry expires, the calls that arrive
        # before the first lookup returns wait for it instead of each reading the database.
        with self._lookups[digest[0] % API_KEY_LOOKUP_STRIPES]:
            with self._lock:
                entry = self._recent.get(digest)
            if entry is not None and entry[1] > self._clock_s():
                return _caller(entry[0], headers)
            found = _lookup(self._db, digest)
            if self._cache_ttl_s > 0:
                with self._lock:
                    self._recent[digest] = (found, self._clock_s() + self._cache_ttl_s)
                    self._recent.move_to_end(digest)
                    while len(self._recent) > API_KEYS_CACHED_MAX:
                        self._recent.popitem(last=False)
        return _caller(found, headers)


def _token_caller(verified: Verified, headers: RequestHeaders) -> Caller:
    claims = verified.claims
    if Scope.SIGN not in claims.scopes:
        raise InsufficientScope(f"the access token lacks scope {Scope.SIGN.value!r}",
                                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'})
    user = claims.use is TokenUse.USER
    subject = claims.subject if user else usage_subject_header(headers)
    return Caller(gateway_id=verified.gateway_id, api_key_id=None, usage_subject=subject, end_user=user)


def _caller(found: AuthenticatedKey, headers: RequestHeaders) -> Caller:
    subject = found.key.usage_subject or usage_subject_header(headers)
    return Caller(gateway_id=found.gateway.id, api_key_id=found.key.id, usage_subject=subject)
