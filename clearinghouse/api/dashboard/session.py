"""The dashboard's login: signed session cookies, logout, and the bound on failed logins.

A session cookie is ``<expiry unix s>.<random id>.<HMAC-SHA256 of both>``, keyed with 32 random
bytes made when the process starts: nothing is stored per session, a restart logs everyone out,
and a cookie from another process (another replica) is not valid here. Logging out remembers
the cookie's id until it would have expired, so a copied cookie stops working at logout too.
The operator token never leaves the login form: the cookie is not derived from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final

SESSION_TTL_S: Final = 12 * 3600
"""A working day: the operator logs in once in the morning, not again after lunch."""

LOGOUTS_REMEMBERED_MAX: Final = 1_024
"""Logged-out session ids kept until their expiry. One operator logs out a few times a day;
past this the signing key is replaced instead, which logs every session out (safe, bounded)."""

FAILED_LOGINS_PER_MINUTE_MAX: Final = 10
"""Failed logins the process accepts per minute before answering 429: a person mistyping is
far below it, and guessing a 256-bit token at 10 a minute is hopeless."""

FAILED_LOGIN_WINDOW_S: Final = 60.0

_ID_BYTES: Final = 16
"""128 random bits per session: unguessable, and short enough for a cookie."""


class SessionCookies:
    """Issues and checks session cookie values; thread-safe."""

    def __init__(self, *, ttl_s: int = SESSION_TTL_S, clock_s: Callable[[], float] = time.time) -> None:
        self.ttl_s = ttl_s
        self._clock_s = clock_s
        self._key = secrets.token_bytes(32)
        self._logged_out: dict[str, int] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A new session's cookie value, valid for ``ttl_s`` seconds."""
        expires = int(self._clock_s()) + self.ttl_s
        session_id = base64.urlsafe_b64encode(secrets.token_bytes(_ID_BYTES)).rstrip(b"=").decode("ascii")
        with self._lock:
            return f"{expires}.{session_id}.{self._mac(expires, session_id)}"

    def valid(self, value: str | None) -> bool:
        """True for a cookie this process issued, not expired and not logged out."""
        parsed = self._parsed(value)
        if parsed is None:
            return False
        with self._lock:
            return parsed[1] not in self._logged_out

    def log_out(self, value: str | None) -> None:
        """Refuse ``value`` from now on (a value that is not valid anyway is ignored)."""
        parsed = self._parsed(value)
        if parsed is None:
            return
        expires, session_id = parsed
        now = self._clock_s()
        with self._lock:
            self._logged_out = {sid: at for sid, at in self._logged_out.items() if at > now}
            if len(self._logged_out) >= LOGOUTS_REMEMBERED_MAX:
                self._key, self._logged_out = secrets.token_bytes(32), {}
            else:
                self._logged_out[session_id] = expires

    def _parsed(self, value: str | None) -> tuple[int, str] | None:
        """(expiry, id) of a well-formed, correctly signed, unexpired value; else None."""
        parts = (value or "").split(".")
        if len(parts) != 3 or not (parts[0].isascii() and parts[0].isdigit()) or len(parts[0]) > 12:
            return None
        expires, session_id, mac = int(parts[0]), parts[1], parts[2]
        with self._lock:
            expected = self._mac(expires, session_id)
        if not hmac.compare_digest(mac.encode("ascii", "replace"), expected.encode("ascii")):
            return None
        return (expires, session_id) if expires > self._clock_s() else None

    def _mac(self, expires: int, session_id: str) -> str:
        digest = hmac.new(self._key, f"{expires}.{session_id}".encode("ascii", "replace"), hashlib.sha256)
        return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")


class LoginThrottle:
    """Counts failed logins over the last FAILED_LOGIN_WINDOW_S for the whole process (not per
    client address: behind a proxy every client has the proxy's); thread-safe."""

    def __init__(
        self, *, failures_max: int = FAILED_LOGINS_PER_MINUTE_MAX, window_s: float = FAILED_LOGIN_WINDOW_S,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_max = failures_max
        self.window_s = window_s
        self._clock_s = clock_s
        self._failures: deque[float] = deque()
        self._lock = threading.Lock()

    def retry_after_s(self) -> int:
        """0 while logins are accepted; else whole seconds until the oldest failure ages out."""
        now = self._clock_s()
        with self._lock:
            self._forget(now)
            if len(self._failures) < self.failures_max:
                return 0
            return max(1, int(self._failures[0] + self.window_s - now + 0.999))

    def failed(self) -> None:
        """Count one failed login."""
        now = self._clock_s()
        with self._lock:
            self._forget(now)
            if len(self._failures) < self.failures_max:  # more would not change the answer
                self._failures.append(now)

    def _forget(self, now: float) -> None:
        while self._failures and self._failures[0] <= now - self.window_s:
            self._failures.popleft()
