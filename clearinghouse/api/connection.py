"""One HTTP/1.1 connection under uvicorn's httptools protocol, bounded against hostile clients.

uvicorn with httptools has no header timeout, no bound on header, chunk-framing or trailer bytes
and no bound on pipelined requests, and it builds a header or trailer value by concatenating the
parser's pieces (quadratic in its length). ``GuardedHttpToolsProtocol`` adds, per connection:

- **time** — a request's headers must end within ``request_header_timeout_s`` and the whole
  request (line, headers, body, chunk framing, trailers) within ``HttpLimits.request_timeout_s``
  of its first byte (for the first request: of the connection's opening; CRLFs between requests
  count as a first byte too). Past either: 408 and the connection is closed.
- **bytes** — everything a request sends that is not body (request line, headers, chunk sizes
  and extensions, trailers) counts against request_header_bytes_max + REQUEST_LINE_BYTES_MAX;
  past it: 431, closed. Received bytes are parsed in PARSE_SLICE_BYTES slices and the count is
  checked after each, so no header or trailer value grows more than a slice past the bound.
  Trailer fields are dropped (RFC 9110 §6.5.1 lets a recipient discard them): none of our routes
  reads one, and uvicorn would append them to the request's headers while the app runs.
- **transfer codings** — like Go's net/http (go-livepeer's server), only ``chunked`` alone is
  accepted; ``gzip, chunked``, two Transfer-Encoding fields or any other coding get 501 (RFC
  9112 §6.1), where llhttp would read the body as chunked or answer 400.
- **pipelining** — at most PIPELINED_REQUESTS_MAX requests wait behind the one being answered.
  Past it, the rest of what was received is held unparsed and the socket is not read (uvicorn's
  FlowControl cannot resume it meanwhile) until the queue drains; a client that does not read
  its answers for ``request_timeout_s`` while data is held is disconnected.
- **disconnects** — when the connection closes, every request of it still unanswered is marked
  disconnected (uvicorn marks only the newest, so an earlier one's answer was written to a closed
  transport: "the handler is closed") and, unless we closed it ourselves, its scope gets
  CLIENT_GONE_SCOPE_KEY, so the app logs one INFO line instead of an error.

The answers written here (the app never saw the request, or cannot answer it any more) are
spec 02's JSON error envelope and close the connection.
"""

from __future__ import annotations

import asyncio
import json

import httptools
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from clearinghouse.api.limits import PARSE_SLICE_BYTES, PIPELINED_REQUESTS_MAX, REQUEST_LINE_BYTES_MAX
from clearinghouse.domain.limits import HttpLimits

CLIENT_GONE_SCOPE_KEY = "clearinghouse.client_gone"
"""True in a request's ASGI scope once its connection was closed by the client before its answer
was sent: the app (http.py) logs that once, at INFO."""


def _closing_answer(status_line: str, message: str) -> bytes:
    """A complete JSON error answer that closes the connection."""
    body = json.dumps({"error": {"message": message}}).encode("ascii")
    head = (f"HTTP/1.1 {status_line}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


_HEAD_TOO_LARGE_431 = _closing_answer(
    "431 Request Header Fields Too Large", "request headers, chunk framing or trailers too large")
_CODING_501 = _closing_answer(
    "501 Not Implemented", "unsupported transfer encoding: only Transfer-Encoding: chunked is accepted")
_MALFORMED_400 = _closing_answer("400 Bad Request", "malformed HTTP request")


class _HeldFlow(FlowControl):
    """uvicorn's flow control, except that reading stays paused while the protocol holds
    received bytes back (a full pipeline): uvicorn resumes reading whenever an app waits for
    its body or an answer completes."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttpToolsProtocol) -> None:
        super().__init__(transport)
        self._protocol = protocol

    def resume_reading(self) -> None:
        if not self._protocol.holding:
            super().resume_reading()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol within the bounds of the module docstring. Subclassed per
    configuration by ``guarded_protocol``; ``header_bytes_max`` counts request line, headers,
    chunk framing and trailers."""

    header_timeout_s: float = HttpLimits().request_header_timeout_s
    request_timeout_s: float = HttpLimits().request_timeout_s
    header_bytes_max: int = HttpLimits().request_header_bytes_max + REQUEST_LINE_BYTES_MAX

    _timer: asyncio.TimerHandle | None = None
    _stall_timer: asyncio.TimerHandle | None = None
    _headers_deadline_s = 0.0
    _request_deadline_s = 0.0
    _in_request = False
    _awaiting_headers = True
    _head_bytes = 0
    _body_bytes = 0
    _refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.flow = _HeldFlow(transport, self)
        self._held = bytearray()
        self._cycles: list[RequestResponseCycle] = []
        self._start_request()

    @property
    def holding(self) -> bool:
        """True while received bytes wait unparsed for the pipeline to drain."""
        return bool(self._held)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        for cycle in self._cycles:
            if not cycle.response_complete:
                cycle.disconnected = True
                if not self._refused:
                    cycle.scope[CLIENT_GONE_SCOPE_KEY] = True  # type: ignore[literal-required]
                cycle.message_event.set()
        self._held.clear()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if not self._in_request:  # the first byte of the next request (or a CRLF before it)
            self._start_request()
        if self._held:
            self._hold(data)
        elif len(data) <= PARSE_SLICE_BYTES:  # the usual request: one piece, no slicing
            self._parse_piece(data, data)
        else:
            self._parse(data)

    def _parse(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        for start in range(0, len(view), PARSE_SLICE_BYTES):
            if not self._parse_piece(view[start:start + PARSE_SLICE_BYTES], view[start:]):
                return

    def _parse_piece(self, piece: bytes | memoryview, rest: bytes | memoryview) -> bool:
        """Parse ``piece`` (the start of ``rest``, what is left of the received bytes), or hold
        ``rest`` back when the pipeline is full; False once nothing more may be parsed."""
        if self._refused or self.transport.is_closing():
            return False
        if len(self.pipeline) >= PIPELINED_REQUESTS_MAX:
            self._hold(rest)
            return False
        body_before = self._body_bytes
        self._feed(piece)
        self._head_bytes += len(piece) - (self._body_bytes - body_before)
        if self._in_request and self._head_bytes > self.header_bytes_max:
            self._refuse(_HEAD_TOO_LARGE_431)
            return False
        return True

    def _feed(self, piece: bytes | memoryview) -> None:
        """uvicorn's data_received for one slice, with the transfer-coding errors llhttp raises
        answered 501 as Go does, and other malformed requests 400 (both close)."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(piece)
        except httptools.HttpParserUpgrade:
            self.logger.warning("Unsupported upgrade request.")  # WebSockets are off
        except httptools.HttpParserError as exc:
            reason = str(exc)
            coding = "`Transfer-Encoding`" in reason and "Content-Length" not in reason
            if not coding:
                self.logger.warning("Invalid HTTP request received.")
            self._refuse(_CODING_501 if coding else _MALFORMED_400)

    def _hold(self, data: bytes | memoryview) -> None:
        self._held += data
        self.flow.pause_reading()
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.request_timeout_s, self._refuse, b"")

    def _release_held(self) -> None:
        """Parse what was held back, now that the pipeline has room (reading resumes when all
        of it is parsed and none had to be held again)."""
        if self._refused or not self._held or len(self.pipeline) >= PIPELINED_REQUESTS_MAX:
            return
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        data = bytes(self._held)
        self._held.clear()
        self._parse(data)
        if not self._held and not self._refused:
            self.flow.resume_reading()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._held:
            self.loop.call_soon(self._release_held)

    # Parser callbacks

    def on_message_begin(self) -> None:
        if self._refused:
            return
        if not self._in_request:  # a pipelined request parsed from the same bytes
            self._start_request()
        super().on_message_begin()

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._awaiting_headers and not self._refused:
            super().on_header(name, value)
        # else a trailer field: dropped (its bytes count in _head_bytes)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        if not _plain_chunked(self.headers):
            self._refuse(_CODING_501)
            return
        self._awaiting_headers = False
        super().on_headers_complete()
        self._cycles = [cycle for cycle in self._cycles if not cycle.response_complete] + [self.cycle]

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            self._body_bytes += len(body)
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        self._in_request = False  # its deadline timer, if still pending, finds nothing to do
        super().on_message_complete()

    # Deadlines and refusals

    # One timer per connection, armed only when none is pending: most requests end long before
    # their deadline, and creating and cancelling two timers per request cost ~10 % of /healthz's
    # throughput. When the timer fires it checks the current request and re-arms for what is left.

    def _start_request(self) -> None:
        self._in_request, self._awaiting_headers, self._head_bytes = True, True, 0
        now_s = self.loop.time()
        self._headers_deadline_s = now_s + min(self.header_timeout_s, self.request_timeout_s)
        self._request_deadline_s = now_s + self.request_timeout_s
        if self._timer is not None and self._timer.when() > self._headers_deadline_s:
            self._cancel_timer()  # pending for a later deadline than this request's first one
        if self._timer is None:
            self._timer = self.loop.call_at(self._headers_deadline_s, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        if not self._in_request or self._refused:
            return
        deadline_s = self._headers_deadline_s if self._awaiting_headers else self._request_deadline_s
        if self.loop.time() < deadline_s:
            self._timer = self.loop.call_at(deadline_s, self._check_deadline)
            return
        if self._awaiting_headers:
            what, limit_s = "request headers", min(self.header_timeout_s, self.request_timeout_s)
        else:
            what, limit_s = "request (headers, body and trailers)", self.request_timeout_s
        self._refuse(_closing_answer("408 Request Timeout", f"{what} not received within {limit_s:g} s"))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _cancel_timers(self) -> None:
        self._cancel_timer()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None

    def _refuse(self, answer: bytes) -> None:
        """Close the connection, first writing ``answer`` when it would be the next answer on
        it: no earlier request is still unanswered and this one's answer has not started."""
        self._refused = True
        self._cancel_timers()
        self._held.clear()
        if self.transport.is_closing():
            return
        if answer and self._may_answer():
            self.transport.write(answer)
        self.transport.close()

    def _may_answer(self) -> bool:
        current = None if self._awaiting_headers else self.cycle
        earlier_done = all(cycle.response_complete for cycle in self._cycles if cycle is not current)
        return earlier_done and (current is None or not current.response_started)


def _plain_chunked(headers: list[tuple[bytes, bytes]]) -> bool:
    """True unless Transfer-Encoding is given as anything but one field of exactly "chunked"
    (case-insensitive; Go's net/http accepts nothing else)."""
    codings = [value for name, value in headers if name == b"transfer-encoding"]
    return not codings or (len(codings) == 1 and codings[0].strip().lower() == b"chunked")


def guarded_protocol(limits: HttpLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with ``limits``' bounds."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,), {
        "header_timeout_s": limits.request_header_timeout_s,
        "request_timeout_s": limits.request_timeout_s,
        "header_bytes_max": limits.request_header_bytes_max + REQUEST_LINE_BYTES_MAX,
    })
