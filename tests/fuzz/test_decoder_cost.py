"""The cost of every decoder an outsider reaches, fuzzed in process (issue #18).

Each target feeds one decoder inputs built to be slow — a short unit of the decoder's significant
tokens repeated up to INPUT_BYTES_MAX, behind an optional valid prefix — and times each input on
the calling thread's own CPU clock (``time.thread_time``: other processes and the servers' threads
do not count). An input may cost at most COST_S_MIN + COST_S_PER_BYTE_MAX × its length; a decoder
whose cost per byte grows with its input (the old JSON depth pre-scan took ~2.6 s for 16 KiB) fails
the run. ``hypothesis.target`` steers each target toward its largest cost per byte, so the search
climbs toward the worst case rather than sampling at random. A decoder may refuse an input only in
the ways it documents (EXPECTED); anything else (RecursionError, UnicodeEncodeError, …) fails too.

``TARGETS`` lists every property for benchmarks/fuzz_long.py; the suite runs each for
EXAMPLES examples (~15 s in all). benchmarks/decoders.py measures the known worst cases per byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings, target
from hypothesis import strategies as st

from clearinghouse.api.admin_http import admin_query, parse_admin_body
from clearinghouse.api.dashboard.routes import parse_form, query_fields, session_cookie
from clearinghouse.api.dashboard.session import SessionCookies
from clearinghouse.api.discovery import DiscoveryBook
from clearinghouse.api.errors import ApiError
from clearinghouse.api.payloads import decode_payment_request, json_nested_deeper
from clearinghouse.api.requests import RequestHeaders, usage_subject_header
from clearinghouse.api.v1_http import parse_message, query_message
from clearinghouse.api.v1_messages import decode, payment_call, ticket_request
from clearinghouse.api.webhook import state_object
from clearinghouse.domain.refusals import SigningRefused
from clearinghouse.domain.sessions import BillingType
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.signer.billing import MaxPrice, parse_max_price
from clearinghouse.signer.goformat import parse_go_time, parse_rat_string
from clearinghouse.signer.state import decode_state
from clearinghouse.signer.wire import decode_capabilities, decode_offer
from tests.api.conftest import ORCHESTRATOR_B64
from tests.fuzz.conftest import FUZZ_SETTINGS, FuzzStack
from tests.signer.builders import orchestrator_info

INPUT_BYTES_MAX = 64 * 1024
"""The default request_body_bytes_max: the largest body a decoder is handed."""

COST_S_PER_BYTE_MAX = 5e-6
"""5 µs per byte: ~50x the slowest worst case benchmarks/decoders.py measures (~0.1 µs/byte),
so a slow machine passes, while a quadratic decoder is over it by 16 KiB (the old depth scan
cost ~160 µs/byte there)."""

COST_S_MIN = 0.02
"""A fixed allowance per input for a garbage collection or an interpreter hiccup."""

EXAMPLES = 150
"""Per target: enough for targeting to climb (it found the old depth scan's quadratic case from
scratch in this many); the fixed decoders take a few seconds for all of them."""

EXPECTED: tuple[type[BaseException], ...] = (ApiError, SigningRefused, ValueError)
"""How the decoders document refusing an input: an ApiError (BadRequest) at the transport,
SigningRefused(BAD_REQUEST) in the signer, ValueError in the Go text parsers."""

JSON_TOKENS = [b'"', b"\\", b'"\\', b'\\"', b"[", b"{", b"[]",  # the escapes and openings weigh double
               b'"', b"\\", b"[", b"]", b"{", b"}", b",", b":", b"1", b"0", b"-", b".", b"e", b" ", b"a",
               b'"a"', b"\\u", b"d800", b"null", b"true"]
JSON_PREFIXES = [b"[" * 9, b"[]" * 9, b'{"a":' * 9]
"""Openings first: what a depth guard looks at, past its fast path."""
PROTOBUF_TOKENS = [b"\x0a", b"\x12", b"\x1a", b"\x22", b"\x2a", b"\x80", b"\xff", b"\x01", b"\x00", b"\x08",
                   b"\x0a\x80\x01", b"\x0a\x00", b"\x12\x02\x08\x01", b"\x7f"]
TEXT_TOKENS = [b"=", b"&", b";", b"%", b"%2", b"a", b"1", b"+", b" ", b"/", b".", b"e", b"-", b"0", b":", b"T",
               b"Z", b"\xc3\xa9", b"\xff", b"\\"]
VALID_JSON_PREFIX = b'{"orchestrator":"' + ORCHESTRATOR_B64.encode() + b'","x":'
VALID_INFO = orchestrator_info().SerializeToString()


@st.composite
def slow_inputs(draw: st.DrawFn, tokens: list[bytes], prefixes: list[bytes]) -> bytes:
    """A prefix, then a short unit of ``tokens`` repeated to a size up to INPUT_BYTES_MAX."""
    prefix = draw(st.sampled_from([b"", *prefixes]))
    unit = b"".join(draw(st.lists(st.sampled_from(tokens), min_size=1, max_size=6)))
    size = draw(st.sampled_from([256, 4096, 16 * 1024, INPUT_BYTES_MAX]))
    tail = draw(st.binary(max_size=8))
    return (prefix + unit * (size // len(unit)) + tail)[:INPUT_BYTES_MAX]


def text_of(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def scope_with(query: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"query_string": query, "headers": headers or []}


ADMIN_NAMES = {"gateway_id", "month", "start", "end", "group_by", "invoice_id", "reason", "paid_at"}


def _v1_payment(data: bytes) -> None:
    payment_call(parse_message(pb.GeneratePaymentRequest, data))


def _v1_tickets(data: bytes) -> None:
    ticket_request(parse_message(pb.SignTicketsRequest, data))


def _grpc_messages(data: bytes) -> None:
    payment_call(decode(pb.GeneratePaymentRequest, data))
    ticket_request(decode(pb.SignTicketsRequest, data))


def _headers(data: bytes) -> None:
    raw = [(b"livepeer-usage-subject", data[:200]), (b"authorization", data[:1000]), (b"x-pad", data)]
    headers = RequestHeaders(raw[:2] if len(data) > 8000 else raw)
    usage_subject_header(headers)
    headers.go_header_map()


def _cookie(data: bytes) -> None:
    value = session_cookie(scope_with(headers=[(b"cookie", data)]))
    SessionCookies().valid(value)


DISCOVERY = DiscoveryBook()
DISCOVERY.saw(orchestrator_info().SerializeToString())


def _max_price(data: bytes) -> None:
    parse_max_price(MaxPrice(price=text_of(data), currency="wei", unit="seconds"), BillingType.LIVE)


def _go_text(data: bytes) -> None:
    for parse in (parse_go_time, parse_rat_string):
        try:
            parse(text_of(data))
        except ValueError:
            pass


Decoder = Callable[[bytes], object]
TARGET_DECODERS: dict[str, tuple[Decoder, list[bytes], list[bytes]]] = {
    "spec02_json": (decode_payment_request, JSON_TOKENS, [VALID_JSON_PREFIX, *JSON_PREFIXES]),
    "json_depth": (lambda data: (json_nested_deeper(data, 8), json_nested_deeper(data, 2)), JSON_TOKENS,
                   JSON_PREFIXES),
    "orchestrator_protobuf": (decode_offer, PROTOBUF_TOKENS, [VALID_INFO]),
    "capabilities_protobuf": (decode_capabilities, PROTOBUF_TOKENS, []),
    "state_blob": (decode_state, JSON_TOKENS, [b'{"StateID":"', b'{"Balance":"1/', *JSON_PREFIXES]),
    "webhook_state_blob": (state_object, JSON_TOKENS, [b'{"StateID":"', *JSON_PREFIXES]),
    "v1_payment_json": (_v1_payment, JSON_TOKENS, [b'{"orchestratorInfo":"', b'{"state":{"state":"', *JSON_PREFIXES]),
    "v1_tickets_json": (_v1_tickets, JSON_TOKENS, [b'{"ticketParams":"', b'{"requestId":"', *JSON_PREFIXES]),
    "grpc_messages": (_grpc_messages, PROTOBUF_TOKENS, []),
    "admin_body": (lambda data: parse_admin_body(data, ADMIN_NAMES), JSON_TOKENS, [b'{"reason":"', *JSON_PREFIXES]),
    "admin_query": (lambda data: admin_query(scope_with(data), ADMIN_NAMES), TEXT_TOKENS, [b"month="]),
    "v1_query": (lambda data: query_message(scope_with(data), pb.GetUsageRequest), TEXT_TOKENS, [b"startUnixS="]),
    "dashboard_form": (parse_form, TEXT_TOKENS, [b"token="]),
    "discovery_query": (DISCOVERY.answer, TEXT_TOKENS, [b"caps=", b"caps=live-video-to-video/"]),
    "dashboard_query": (lambda data: query_fields(scope_with(data)), TEXT_TOKENS, [b"window="]),
    "dashboard_cookie": (_cookie, TEXT_TOKENS, [b"ch_dashboard="]),
    "headers": (_headers, TEXT_TOKENS, [b"Bearer chk_"]),
    "max_price": (_max_price, TEXT_TOKENS, [b"1e", b"0."]),
    "go_text": (_go_text, TEXT_TOKENS, [b"2026-11-01T", b"1/"]),
}
"""Each decoder an outsider reaches: (decode one input, its significant tokens, valid prefixes)."""


def check_cost(name: str, decoder: Decoder, data: bytes) -> None:
    """Decode ``data`` once, timed on this thread's CPU clock; fail on a cost over the bound or an
    undocumented exception."""
    started = time.thread_time()
    try:
        decoder(data)
    except EXPECTED:
        pass
    elapsed_s = time.thread_time() - started
    target(elapsed_s / max(len(data), 1), label=f"{name} s/byte")
    bound_s = COST_S_MIN + COST_S_PER_BYTE_MAX * len(data)
    if elapsed_s > bound_s:  # once more, to rule out a garbage collection mid-call
        started = time.thread_time()
        try:
            decoder(data)
        except EXPECTED:
            pass
        elapsed_s = min(elapsed_s, time.thread_time() - started)
    assert elapsed_s <= bound_s, f"{name}: {elapsed_s:.3f} s for {len(data)} bytes ({data[:40]!r}…)"


def strategy_of(name: str) -> st.SearchStrategy[bytes]:
    _, tokens, prefixes = TARGET_DECODERS[name]
    return slow_inputs(tokens, prefixes)


TARGETS: dict[str, tuple[Callable[[FuzzStack], st.SearchStrategy[Any]], Callable[[FuzzStack, Any], None]]] = {
    f"cost_{name}": ((lambda stack, name=name: strategy_of(name)),  # type: ignore[misc]
                     (lambda stack, data, name=name: check_cost(name, TARGET_DECODERS[name][0], data)))  # type: ignore[misc]
    for name in TARGET_DECODERS
}
"""Each property for benchmarks/fuzz_long.py (the stack is not needed: the decoders run in process)."""


@pytest.mark.parametrize("name", sorted(TARGET_DECODERS))
def test_every_decoder_is_linear_on_inputs_built_to_be_slow(name: str) -> None:
    decoder = TARGET_DECODERS[name][0]

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES)
    @given(data=strategy_of(name))
    def run(data: bytes) -> None:
        check_cost(name, decoder, data)

    run()
