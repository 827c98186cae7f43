"""The dashboard's login: signed session cookies, logout, and the per-address bound on failed logins.

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
import ipaddress
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Final

from clearinghouse.api.limits import (
    FAILED_LOGINS_PER_MINUTE_MAX,
    FAILED_LOGIN_ADDRESSES_MAX,
    FAILED_LOGIN_WINDOW_S,
    LOGOUTS_REMEMBERED_MAX,
    SESSION_TTL_S,
)


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
    """Counts failed logins over the last ``window_s`` per client address; thread-safe.

    Per address, so failures from elsewhere never refuse the operator's correct token: only the
    address that failed too often gets 429 (IPv6 addresses count per /64, the block one host is
    usually given, so hopping addresses inside it does not reset the count). At most
    ``addresses_max`` addresses are remembered; past it the one whose newest failure is oldest is
    forgotten, which may let it try again sooner but never refuses anyone. Behind a proxy every
    client has the proxy's address: rate-limit logins per client in the proxy.
    """

    def __init__(
        self, *, failures_max: int = FAILED_LOGINS_PER_MINUTE_MAX, window_s: float = FAILED_LOGIN_WINDOW_S,
        clock_s: Callable[[], float] = time.monotonic, addresses_max: int = FAILED_LOGIN_ADDRESSES_MAX,
    ) -> None:
        self.failures_max = failures_max
        self.window_s = window_s
        self.addresses_max = addresses_max
        self._clock_s = clock_s
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after_s(self, address: str) -> int:
        """0 while ``address`` may log in; else whole seconds until its oldest failure ages out."""
        now, key = self._clock_s(), throttle_key(address)
        with self._lock:
            failures = self._recent(key, now)
            if len(failures) < self.failures_max:
                return 0
            return max(1, int(failures[0] + self.window_s - now + 0.999))

    def failed(self, address: str) -> None:
        """Count one failed login from ``address``."""
        now, key = self._clock_s(), throttle_key(address)
        with self._lock:
            failures = self._recent(key, now)
            if len(failures) < self.failures_max:  # more would not change the answer
                failures.append(now)
            self._failures[key] = failures
            self._failures.move_to_end(key)
            while len(self._failures) > self.addresses_max:
                self._failures.popitem(last=False)

    def addresses(self) -> int:
        """How many addresses' failures are remembered (at most ``addresses_max``)."""
        with self._lock:
            return len(self._failures)

    def _recent(self, key: str, now: float) -> deque[float]:
        failures = self._failures.get(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        if not failures:
            self._failures.pop(key, None)
        return failures


def throttle_key(address: str) -> str:
    """What failures count against: the address, or its /64 for IPv6."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
