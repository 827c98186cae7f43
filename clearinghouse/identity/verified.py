"""The signing path's view of tokens: verify once, then answer from memory until expiry.

A token's first use on a process costs a signature check (~0.1 ms) and one read of its standing
(app and gateway active, user active, not revoked: ``ledger.identity.token_standing``). The result
is kept by the token's text, indexed by its ``jti``, until the token expires, and trusted for
STANDING_RECHECK_S before the standing is read again. So a busy user's calls pay a dict lookup.

Revocation is honoured at once on the process that takes it: ``revoke`` (RFC 7009, by jti),
``drop_subject`` (a user deactivated) and ``drop_client`` (an app disabled) remove the entries,
and the next call reads the standing again and is refused. Another daemon process sharing the
database learns of it when its entry's STANDING_RECHECK_S runs out (at most 5 s); a deactivated
user's calls are refused by every process at once all the same, by the signing batch, which
reads the user's row in the record's transaction (ledger/batch_credit.py).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from clearinghouse.identity.errors import InvalidToken
from clearinghouse.identity.limits import STANDING_RECHECK_S, VERIFIED_TOKENS_CACHED_MAX
from clearinghouse.identity.tokens import TokenClaims, TokenCodec, TokenUse
from clearinghouse.ledger import Database
from clearinghouse.ledger.identity import token_standing


@dataclass(frozen=True, slots=True)
class Verified:
    """A usable token: its claims and the gateway its calls bill to."""

    claims: TokenClaims
    gateway_id: int
    app_id: int


class VerifiedTokens:
    """Verified tokens of one process (thread-safe; bounded by VERIFIED_TOKENS_CACHED_MAX)."""

    def __init__(self, db: Database, codec: TokenCodec, *, recheck_s: float = STANDING_RECHECK_S,
                 clock_s: Callable[[], float] = time.time) -> None:
        self._db = db
        self._codec = codec
        self._recheck_s = recheck_s
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[Verified, float]] = OrderedDict()
        self._by_jti: dict[str, str] = {}
        self._by_subject: defaultdict[str, set[str]] = defaultdict(set)

    def __repr__(self) -> str:
        return f"VerifiedTokens({len(self._entries)} cached)"  # never a token

    def cached(self, token: str) -> Verified | None:
        """The token's verification if it is remembered and still good (NON-BLOCKING), else None."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        now = self._clock_s()
        if entry[1] <= now or entry[0].claims.expires_at <= now:
            return None
        return entry[0]

    def verify(self, token: str) -> Verified:
        """Verify the token and read its standing (BLOCKING: one database read); remembered.
        Raises InvalidToken (bad token, revoked, disabled app or gateway, deactivated or unknown
        user), DatabaseUnavailable."""
        claims = self._codec.verify(token)
        verified = self.standing(claims)
        with self._lock:
            self._forget(token)
            self._entries[token] = (verified, self._clock_s() + self._recheck_s)
            self._by_jti[claims.jti] = token
            self._by_subject[claims.subject].add(token)
            self._by_subject[claims.client_id].add(token)
            while len(self._entries) > VERIFIED_TOKENS_CACHED_MAX:
                self._forget(next(iter(self._entries)))
        return verified

    def standing(self, claims: TokenClaims) -> Verified:
        """Whether a verified token may be used now (one read). Raises InvalidToken."""
        standing = token_standing(self._db, claims.client_id, claims.external_id, claims.jti)
        if standing.revoked:
            raise InvalidToken("token has been revoked")
        if standing.app is None or not standing.app.active or not standing.gateway_active:
            raise InvalidToken("the token's app or its gateway is disabled")
        if claims.use is TokenUse.USER and (standing.user is None or not standing.user.active):
            raise InvalidToken("the token's end user is deactivated or unknown")
        return Verified(claims, standing.app.gateway_id, standing.app.id)

    def revoke(self, jti: str) -> None:
        """Forget the token with this id (its revocation is in the database already)."""
        with self._lock:
            token = self._by_jti.get(jti)
            if token is not None:
                self._forget(token)

    def drop_subject(self, subject: str) -> None:
        """Forget every token of a user (its usage subject) or an app (its client id)."""
        with self._lock:
            for token in tuple(self._by_subject.get(subject, ())):
                self._forget(token)

    def _forget(self, token: str) -> None:
        entry = self._entries.pop(token, None)
        if entry is None:
            return
        claims = entry[0].claims
        self._by_jti.pop(claims.jti, None)
        for key in (claims.subject, claims.client_id):
            tokens = self._by_subject.get(key)
            if tokens is not None:
                tokens.discard(token)
                if not tokens:
                    del self._by_subject[key]
