"""Keep RPC credentials out of messages and log lines.

Hosted Arbitrum RPC URLs carry their credentials in three places: userinfo
(``https://user:password@host``), a path segment (Infura ``/v3/<key>``, Alchemy ``/v2/<key>``,
Ankr ``/arbitrum/<key>``, QuickNode ``/<token>/``) and query values (``?apikey=<key>``).

- ``redact_rpc_url(url)`` is the only form of an RPC URL that may appear in a message.
- ``RpcSecrets(url).scrub(text)`` removes those credentials from text we did not write (a
  requests error quotes the request path, e.g. ``Max retries exceeded with url: /v3/<key>``);
  ``RpcSecrets(url).error_detail(exc)`` is a library's exception as our messages quote it.
- ``hide_in_library_logs(url)`` scrubs them from the DEBUG lines that web3, its session cache
  and urllib3 log with the full URL or path.
"""

from __future__ import annotations

import logging
import re
import threading
import urllib.parse

from clearinghouse.chain.limits import API_KEY_SEGMENT_CHARS_MIN, ERROR_DETAIL_CHARS_MAX


MASK = "***"

UNPARSEABLE_URL = "<unparseable RPC URL>"

_ROUTE_WORDS = re.compile(r"[a-z]+(?:[-_.][a-z]+)*")
"""Lower-case words joined by - _ or .: a route name, not a key (a random 16+ character key
matches this with probability < 1e-6)."""

LIBRARY_LOGGERS = (
    "web3.providers.HTTPProvider",
    "web3._utils.http_session_manager.HTTPSessionManager",
    "urllib3.connectionpool",
)
"""Loggers that print the endpoint URL or request path at DEBUG level (web3 8, urllib3 2)."""


def redact_rpc_url(url: str) -> str:
    """The RPC URL with userinfo removed, key-like path segments and every query value masked,
    and the fragment dropped; ``<unparseable RPC URL>`` when it cannot be parsed (then nothing
    of it is shown)."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = parts.port  # raises ValueError on a non-numeric port
    except ValueError:
        return UNPARSEABLE_URL
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    path = "/".join(MASK if _is_key(segment) else segment for segment in parts.path.split("/"))
    query = "&".join(
        f"{name}={MASK}" if sep else name
        for name, sep, _ in (pair.partition("=") for pair in parts.query.split("&") if pair)
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, ""))


def _is_key(segment: str) -> bool:
    text = urllib.parse.unquote(segment)
    return len(text) >= API_KEY_SEGMENT_CHARS_MIN and not _ROUTE_WORDS.fullmatch(text)


class RpcSecrets:
    """The credential-bearing parts of one RPC URL, and a scrubber that masks them in text."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._redacted = redact_rpc_url(url)
        self._secrets = _secrets_of(url)

    def scrub(self, text: str) -> str:
        """``text`` with the whole URL replaced by its redacted form, then every credential of
        the URL (raw and percent-decoded) replaced by ***."""
        return self.mask_credentials(self.redact_url(text))

    def redact_url(self, text: str) -> str:
        """``text`` with each occurrence of the whole URL replaced by its redacted form."""
        return text.replace(self._url, self._redacted)

    def mask_credentials(self, text: str) -> str:
        """``text`` with every credential of the URL (raw and percent-decoded) replaced by ***."""
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return text

    def error_detail(self, exc: Exception) -> str:
        """``exc`` as one part of our message: its type and text, scrubbed, then shortened."""
        return shortened(self.scrub(f"{type(exc).__name__}: {exc}"))


def shortened(text: str) -> str:
    """``text`` cut to ERROR_DETAIL_CHARS_MAX characters, the cut marked: a library's error can
    quote a whole RPC response."""
    return text if len(text) <= ERROR_DETAIL_CHARS_MAX else text[:ERROR_DETAIL_CHARS_MAX] + "…"


def _secrets_of(url: str) -> tuple[str, ...]:
    found: set[str] = set()
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return ()  # redact_rpc_url shows nothing of such a URL, and scrub replaces it whole
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at:
        found.update({userinfo, *userinfo.split(":", 1)})
    found.update(segment for segment in parts.path.split("/") if _is_key(segment))
    found.update(value for _, sep, value in (p.partition("=") for p in parts.query.split("&")) if sep)
    found.update(parts.fragment.split("&"))
    found |= {urllib.parse.unquote(secret) for secret in found}
    found.discard("")
    # Longest first, so a secret that contains another is masked whole.
    return tuple(sorted(found, key=len, reverse=True))


class _ScrubbingFilter(logging.Filter):
    """Rewrites records of the library loggers with every registered URL's credentials masked."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._urls: dict[str, RpcSecrets] = {}

    def add(self, url: str) -> None:
        with self._lock:
            self._urls.setdefault(url, RpcSecrets(url))

    def filter(self, record: logging.LogRecord) -> bool:
        scrubbers = tuple(self._urls.values())  # a snapshot: add() may run concurrently
        if scrubbers:
            message = record.getMessage()
            # Whole URLs first: masking another URL's credentials first could break a match.
            for secrets in scrubbers:
                message = secrets.redact_url(message)
            for secrets in scrubbers:
                message = secrets.mask_credentials(message)
            record.msg, record.args = message, None
        return True


_FILTER = _ScrubbingFilter()
_INSTALL_LOCK = threading.Lock()


def hide_in_library_logs(url: str) -> None:
    """Mask ``url``'s credentials in every later record of LIBRARY_LOGGERS; idempotent.

    A logger's filters see only records logged to that logger itself, so the filter is attached
    to each library logger by name rather than to a parent or a handler.
    """
    _FILTER.add(url)
    with _INSTALL_LOCK:
        for name in LIBRARY_LOGGERS:
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
