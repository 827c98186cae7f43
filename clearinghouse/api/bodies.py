"""Request bodies: read within their size and time limits, decoded off the event loop when large.

Every HTTP route that takes a body (spec 02's, /v1, /admin/v1, the dashboard's login form) reads
it with ``read_body`` and decodes it with ``decoded``. The app (http.py) puts its configured
``HttpLimits`` and its thread pools in each request's ASGI scope (LIMITS_SCOPE_KEY,
pools.POOLS_SCOPE_KEY), so the routes mounted beside it apply the same limits and threads.

Why a decode pool: every decoder an outsider reaches is linear in its input (benchmarks/decoders.py
measures the worst case per byte), but a linear cost on a 16 MiB body (the largest
request_body_bytes_max allows) is still a long stall for every other connection. A body over
INLINE_DECODE_BYTES_MAX is therefore decoded on DECODE_THREADS_MAX threads of its own: decoding
holds the GIL, but the event loop gets it back at every switch interval (5 ms) instead of after
the whole body.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, TypeVar

from clearinghouse.api.errors import PayloadTooLarge, RequestTimeout
from clearinghouse.api.limits import INLINE_DECODE_BYTES_MAX
from clearinghouse.domain.limits import HttpLimits, JSON_DEPTH_MAX, REQUEST_BODY_BYTES_MAX, REQUEST_BODY_TIMEOUT_S
from clearinghouse.api.payloads import check_json_depth
from clearinghouse.api.pools import POOLS_SCOPE_KEY, Pools

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_T = TypeVar("_T")

LIMITS_SCOPE_KEY = "clearinghouse.limits"
"""Where RemoteSignerApp puts its HttpLimits in each request's ASGI scope (for ``read_body``)."""


class ClientGone(Exception):
    """The client disconnected before its body arrived: there is no one to answer."""


async def read_body(scope: Scope, receive: Receive, size_max: int | None = None) -> bytes:
    """The whole body, at most ``request_body_bytes_max`` bytes (or ``size_max``, when smaller:
    a route's own bound, checked as the body arrives) within ``request_body_timeout_s`` and,
    unless it is a form, JSON nested at most ``json_depth_max`` deep: the limits the app put in
    the scope (LIMITS_SCOPE_KEY), else the constants (read at call time). Raises
    PayloadTooLarge (413), RequestTimeout (408), BadRequest (400), ClientGone."""
    limits: HttpLimits | None = scope.get(LIMITS_SCOPE_KEY)
    configured_max = REQUEST_BODY_BYTES_MAX if limits is None else limits.request_body_bytes_max
    body_max = configured_max if size_max is None else min(size_max, configured_max)
    timeout_s = REQUEST_BODY_TIMEOUT_S if limits is None else limits.request_body_timeout_s
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > body_max:
            raise _too_large(body_max)
    try:
        async with asyncio.timeout(timeout_s):
            body = await _received(receive, body_max)
    except TimeoutError:
        raise RequestTimeout(f"request body not received within {timeout_s:g} s") from None
    if limits is not None and limits.json_depth_max < JSON_DEPTH_MAX and not _is_form(scope):
        await decoded(scope, body, _depth_checker(limits.json_depth_max))
    return body


async def decoded(scope: Scope, body: bytes, decode: Callable[[bytes], _T]) -> _T:
    """``decode(body)``: on the event loop for a body of at most INLINE_DECODE_BYTES_MAX bytes,
    else on the app's decode threads (POOLS_SCOPE_KEY; 503 when none is free in time).
    Raises what ``decode`` raises."""
    pools: Pools | None = scope.get(POOLS_SCOPE_KEY)
    if pools is None or len(body) <= INLINE_DECODE_BYTES_MAX:
        return decode(body)
    return await pools.decode.run(decode, body)


async def _received(receive: Receive, body_max: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > body_max:
            raise _too_large(body_max)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _depth_checker(depth_max: int) -> Callable[[bytes], None]:
    """The configured depth check (a ``depth_max`` below JSON_DEPTH_MAX; the decoders' own
    ceiling, payloads.check_json_depth, stays in force above it)."""

    def check(body: bytes) -> None:
        check_json_depth(body, "request body", depth_max)

    return check


def _is_form(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bool(value.lower().startswith((b"application/x-www-form-urlencoded", b"multipart/")))
    return False


def _too_large(size_max: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body over {size_max} bytes")
