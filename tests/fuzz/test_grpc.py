"""Fuzzing the clearinghouse.v1 gRPC methods on the real stack: random bytes as each method's
request, mutated encodings of valid requests, requests built from edge values, and calls
without a valid key.

Rules for every call (conftest.check_grpc): never UNKNOWN or INTERNAL, never a hang, a message
on every error, and a failed call signs nothing. ``TARGETS`` lists each property for
benchmarks/fuzz_long.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import lp_rpc_pb2
from tests.fuzz.conftest import GRPC_METHODS, FUZZ_SETTINGS, FuzzStack, check_grpc, mutated
from tests.fuzz.test_remote_signer import VALID_CAPABILITIES, structured_info
from tests.signer.builders import orchestrator_info

INFO = orchestrator_info()
VALID_REQUESTS: dict[str, bytes] = {
    "GetSignerInfo": b"",
    "GetDepositInfo": b"",
    "GeneratePayment": pb.GeneratePaymentRequest(
        orchestrator=INFO, manifest_id="fuzz-grpc", in_pixels=35, type="fixed",
        max_price=pb.MaxPrice(price="10", currency="wei", unit="fixed"),
        capabilities=lp_rpc_pb2.Capabilities.FromString(VALID_CAPABILITIES),
    ).SerializeToString(),
    "SignTickets": pb.SignTicketsRequest(
        request_id="fuzz-ticket", ticket_params=INFO.ticket_params,
        expiration_params=INFO.ticket_params.expiration_params, price_info=INFO.price_info, ticket_count=2,
    ).SerializeToString(),
    "GetUsage": pb.GetUsageRequest(start_unix_s=1_793_491_200, end_unix_s=1_793_577_600,
                                   group_by=pb.USAGE_GROUPING_DAY).SerializeToString(),
}
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
TEXT = st.one_of(st.text(max_size=70), st.sampled_from(["", " ", "a\x00b", "x" * 300, "lv2v", "\ud7ff"]))


@st.composite
def built_requests(draw: st.DrawFn) -> tuple[str, bytes]:
    """A request of a random method built from edge values (valid encodings, wrong contents)."""
    method = draw(st.sampled_from(["GeneratePayment", "SignTickets", "GetUsage"]))
    if method == "GeneratePayment":
        request = pb.GeneratePaymentRequest(
            manifest_id=draw(TEXT), type=draw(TEXT), in_pixels=draw(INT64), app=draw(TEXT),
        )
        if draw(st.booleans()):
            request.orchestrator.MergeFromString(draw(structured_info()))
        if draw(st.booleans()):
            request.state.state = draw(st.binary(max_size=200))
            request.state.signature = draw(st.binary(max_size=70))
        if draw(st.booleans()):
            request.max_price.price, request.max_price.currency, request.max_price.unit = draw(TEXT), draw(TEXT), draw(TEXT)
        return method, request.SerializeToString()
    if method == "SignTickets":
        info = lp_rpc_pb2.OrchestratorInfo.FromString(draw(structured_info()))
        request = pb.SignTicketsRequest(request_id=draw(TEXT), ticket_count=draw(st.integers(0, 2**32 - 1)))
        if draw(st.booleans()):
            request.ticket_params.CopyFrom(info.ticket_params)
        if draw(st.booleans()):
            request.price_info.CopyFrom(info.price_info)
        if draw(st.booleans()):
            request.expiration_params.creation_round = draw(INT64)
            request.expiration_params.creation_round_block_hash = draw(st.binary(max_size=40))
        return method, request.SerializeToString()
    usage = pb.GetUsageRequest(start_unix_s=draw(INT64), end_unix_s=draw(INT64),
                               group_by=draw(st.integers(-(2**31), 2**31 - 1)))
    return method, usage.SerializeToString()


random_requests = st.tuples(st.sampled_from(GRPC_METHODS), st.binary(max_size=300))
mutated_requests = st.sampled_from(sorted(VALID_REQUESTS)).flatmap(
    lambda method: st.tuples(st.just(method), mutated(VALID_REQUESTS[method]))
)
bad_metadata = st.one_of(
    st.just(()),
    st.sampled_from(["Bearer", "Bearer ", "Bearer chk_", "Basic abc", "bearer chk_" + "a" * 60, "Bearer  x y"]).map(
        lambda value: (("authorization", value),)),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=80).map(
        lambda value: (("authorization", value),)),
)


def check_request(stack: FuzzStack, example: tuple[str, bytes]) -> None:
    check_grpc(stack, *example)


def check_unauthenticated(stack: FuzzStack, example: tuple[tuple[str, bytes], tuple[tuple[str, str], ...]]) -> None:
    (method, request), metadata = example
    assert check_grpc(stack, method, request, metadata) == grpc.StatusCode.UNAUTHENTICATED


TARGETS: dict[str, tuple[Callable[[FuzzStack], st.SearchStrategy[Any]], Callable[[FuzzStack, Any], None]]] = {
    "grpc_random_bytes": (lambda stack: random_requests, check_request),
    "grpc_mutated": (lambda stack: mutated_requests, check_request),
    "grpc_built": (lambda stack: built_requests(), check_request),
    "grpc_without_key": (lambda stack: st.tuples(random_requests | mutated_requests, bad_metadata),
                         check_unauthenticated),
}


@settings(FUZZ_SETTINGS, max_examples=120)
@given(example=random_requests)
def test_random_bytes_for_each_method(stack: FuzzStack, example: tuple[str, bytes]) -> None:
    check_request(stack, example)


@settings(FUZZ_SETTINGS, max_examples=200)
@given(example=mutated_requests)
def test_mutated_valid_requests(stack: FuzzStack, example: tuple[str, bytes]) -> None:
    check_request(stack, example)


@settings(FUZZ_SETTINGS, max_examples=150)
@given(example=built_requests())
def test_requests_built_from_edge_values(stack: FuzzStack, example: tuple[str, bytes]) -> None:
    check_request(stack, example)


@settings(FUZZ_SETTINGS, max_examples=40)
@given(example=st.tuples(random_requests | mutated_requests, bad_metadata))
def test_calls_without_a_valid_key(
    stack: FuzzStack, example: tuple[tuple[str, bytes], tuple[tuple[str, str], ...]]
) -> None:
    check_unauthenticated(stack, example)
