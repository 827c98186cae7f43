"""Fuzzing the /v1 JSON routes (the proto3 JSON twin of the gRPC API) on the real stack: valid
request documents with values swapped for wrong ones, fields renamed or repeated, raw bodies,
and random query strings for /v1/usage.

Rules for every example (conftest.check_http): no 5xx, a 4xx names its error, a rejection signs
nothing. ``TARGETS`` lists each property for benchmarks/fuzz_long.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from google.protobuf import json_format
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.proto import clearinghouse_pb2 as pb
from tests.fuzz.conftest import FUZZ_SETTINGS, FuzzStack, Obj, check_http, dump, json_values
from tests.fuzz.test_grpc import VALID_REQUESTS
from tests.fuzz.test_remote_signer import raw_bodies

ROUTES = {"/v1/generate-payment": pb.GeneratePaymentRequest, "/v1/sign-tickets": pb.SignTicketsRequest}
DOCUMENTS: dict[str, dict[str, Any]] = {
    path: json_format.MessageToDict(message.FromString(VALID_REQUESTS[message.DESCRIPTOR.name[:-len("Request")]]))
    for path, message in ROUTES.items()
}
"""Each signing route's valid request in proto3 JSON (camelCase keys, bytes as base64)."""

USAGE_KEYS = ("startUnixS", "endUnixS", "groupBy", "start_unix_s", "end_unix_s", "group_by", "other")


def _field_names(message: Any) -> list[str]:
    return [name for field in message.DESCRIPTOR.fields for name in (field.json_name, field.name)]


def _paths(document: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every key path in ``document``, objects and leaves alike."""
    paths = [prefix]
    if isinstance(document, dict):
        for key, value in document.items():
            paths += _paths(value, prefix + (key,))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            paths += _paths(value, prefix + (index,))
    return paths


def _as_written(document: Any, changes: dict[tuple[str | int, ...], tuple[str, Any]],
                prefix: tuple[str | int, ...] = ()) -> Any:
    """``document`` as Obj/lists with ``changes`` (path → (kind, argument)) applied."""
    kind, argument = changes.get(prefix, ("keep", None))
    if kind == "value":
        return argument
    if isinstance(document, dict):
        pairs: list[tuple[str, Any]] = []
        for key, value in document.items():
            child_kind, child_argument = changes.get(prefix + (key,), ("keep", None))
            if child_kind == "drop":
                continue
            name = child_argument if child_kind == "rename" else key
            pairs.append((name, _as_written(value, changes, prefix + (key,))))
            if child_kind == "repeat":
                pairs.append((key, child_argument))
        if kind == "add":
            pairs.append(argument)
        return Obj(tuple(pairs))
    if isinstance(document, list):
        return [_as_written(value, changes, prefix + (index,)) for index, value in enumerate(document)]
    return document


@st.composite
def mutated_document(draw: st.DrawFn, document: Any, names: tuple[str, ...]) -> Any:
    """``document`` with one to three of its values replaced, keys dropped, renamed (to another
    field's name or upper case) or repeated, or fields added."""
    paths = _paths(document)
    changes: dict[tuple[str | int, ...], tuple[str, Any]] = {}
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        path = draw(st.sampled_from(paths))
        kind = draw(st.sampled_from(["value", "value", "drop", "rename", "repeat", "add"]))
        if kind == "value":
            changes[path] = (kind, draw(json_values))
        elif kind in ("drop", "rename", "repeat") and path and isinstance(path[-1], str):
            renamed = draw(st.sampled_from(names + (path[-1].upper(),)))
            changes[path] = (kind, renamed if kind == "rename" else draw(json_values))
        elif kind == "add":
            changes[path] = (kind, (draw(st.sampled_from(names) | st.text(max_size=8)), draw(json_values)))
    return _as_written(document, changes)


def request_bodies(path: str) -> st.SearchStrategy[tuple[str, bytes]]:
    names = tuple(_field_names(ROUTES[path]) + ["orchestrator", "ticketParams", "faceValue", "seed", "pricePerUnit"])
    return mutated_document(DOCUMENTS[path], names).map(
        lambda document: (path, dump(document).encode("utf-8", "surrogatepass"))
    )


signing_bodies = st.one_of(
    *(request_bodies(path) for path in ROUTES),
    st.tuples(st.sampled_from(sorted(ROUTES)), raw_bodies),
)
usage_queries = st.lists(
    st.tuples(st.sampled_from(USAGE_KEYS), st.one_of(
        st.integers().map(str), st.sampled_from(["USAGE_GROUPING_DAY", "7", "-1", "1e3", "0x10", "", "true"]),
        st.text(max_size=12),
    )), max_size=5,
).map(lambda pairs: "&".join(f"{quote(key)}={quote(value, safe='')}" for key, value in pairs))


def check_signing_body(stack: FuzzStack, example: tuple[str, bytes]) -> None:
    path, body = example
    check_http(stack, "POST", path, body, stack.auth)


def check_usage_query(stack: FuzzStack, query: str) -> None:
    check_http(stack, "GET", f"/v1/usage?{query}", None, stack.auth)


TARGETS: dict[str, tuple[Callable[[FuzzStack], st.SearchStrategy[Any]], Callable[[FuzzStack, Any], None]]] = {
    "v1_signing_json": (lambda stack: signing_bodies, check_signing_body),
    "v1_usage_query": (lambda stack: usage_queries, check_usage_query),
}


@settings(FUZZ_SETTINGS, max_examples=200)
@given(example=signing_bodies)
def test_signing_route_bodies(stack: FuzzStack, example: tuple[str, bytes]) -> None:
    check_signing_body(stack, example)


@settings(FUZZ_SETTINGS, max_examples=80)
@given(query=usage_queries)
def test_usage_queries(stack: FuzzStack, query: str) -> None:
    check_usage_query(stack, query)
