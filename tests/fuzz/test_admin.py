"""Fuzzing the finance routes under /admin/v1/ on the real stack: JSON bodies of the four POST
routes and query strings of the three GET routes, built from their own field names with right
and wrong values (months and times at the calendar's edges, huge and float ids), raw bodies, and
every route without the admin token.

Rules for every example (conftest.check_http): no 5xx, a 4xx names its error, nothing is
signed. ``TARGETS`` lists each property for benchmarks/fuzz_long.py.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ_SETTINGS, FuzzStack, Obj, check_http, dump, json_values, mostly, rarely
from tests.fuzz.test_remote_signer import raw_bodies

POST_FIELDS: dict[str, tuple[str, ...]] = {
    "/admin/v1/invoices/draft": ("gateway_id", "month", "start", "end", "group_by"),
    "/admin/v1/invoices/issue": ("invoice_id", "reason"),
    "/admin/v1/invoices/paid": ("invoice_id", "paid_at", "reason"),
    "/admin/v1/invoices/void": ("invoice_id", "reason"),
}
GET_FIELDS: dict[str, tuple[str, ...]] = {
    "/admin/v1/invoices": ("gateway_id", "limit"),
    "/admin/v1/invoices/export": ("invoice_id", "format", "issuer_name", "stripe_customer_id", "event_name",
                                  "subject"),
    "/admin/v1/usage": ("gateway_id", "month", "start", "end", "group_by"),
}
GROUPINGS = ("pipeline_model", "app", "orchestrator", "subject", "day", "gateway", "planet", "")
FORMATS = ("csv", "json", "pdf", "stripe", "openmeter", "xml", "")

months = mostly(st.just("2026-11"), st.one_of(
    st.sampled_from(["2026-11", "2026-12", "0001-01", "9999-12", "2026-13", "2026-00", "2026-1", "26-11",
                     "2026-11-01", " 2026-11", "+2026-11"]),
    st.builds(lambda year, month: f"{year:04d}-{month:02d}", st.integers(0, 10_000), st.integers(0, 13)),
), 3)
moments = st.one_of(
    st.sampled_from(["2026-11-10T00:00:00Z", "2026-11-11T00:00:00Z", "0001-01-01T00:00:00+01:00",
                     "9999-12-31T23:00:00-01:00", "9999-12-31T23:00:00Z", "0001-01-01T00:00:00Z",
                     "9999-12-31T22:00:00Z", "9999-11-30T00:00:00Z", "0001-01-01T01:00:00Z",
                     "2026-11-10T00:30:00Z", "2026-11-10", "2026-11-10T00:00:00", "now", ""]),
    st.builds(
        lambda moment, offset_min: moment.replace(tzinfo=timezone(timedelta(minutes=offset_min))).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23)),
        st.integers(-1439, 1439),
    ),
    st.datetimes(timezones=st.just(UTC)).map(lambda moment: moment.replace(minute=0, second=0, microsecond=0)
                                              .isoformat()),
)
ids = mostly(st.integers(1, 6), st.one_of(st.integers(), st.sampled_from([0, -1, 2**63 - 1, 2**63, 10**30])), 4)


def field_values(name: str) -> st.SearchStrategy[Any]:
    """Right-looking values of an admin field (the JSON types the route wants)."""
    return {
        "gateway_id": ids, "invoice_id": ids, "limit": ids,
        "month": months, "start": moments, "end": moments, "paid_at": moments,
        "group_by": st.sampled_from(GROUPINGS), "format": st.sampled_from(FORMATS),
        "reason": st.text(max_size=30), "issuer_name": st.text(max_size=30),
        "stripe_customer_id": st.text(max_size=20), "event_name": st.text(max_size=20),
        "subject": st.text(max_size=20),
    }[name]


POST_SHAPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "/admin/v1/invoices/draft": (("gateway_id", "month"), ("gateway_id", "start", "end"),
                                 ("gateway_id", "month", "group_by"), ("gateway_id", "start", "end", "group_by")),
    "/admin/v1/invoices/issue": (("invoice_id",), ("invoice_id", "reason")),
    "/admin/v1/invoices/paid": (("invoice_id",), ("invoice_id", "paid_at"), ("invoice_id", "paid_at", "reason")),
    "/admin/v1/invoices/void": (("invoice_id", "reason"),),
}
GET_SHAPES: dict[str, tuple[tuple[str, ...], ...]] = {
    "/admin/v1/invoices": ((), ("gateway_id",), ("limit",), ("gateway_id", "limit")),
    "/admin/v1/invoices/export": (("invoice_id", "format"), ("invoice_id", "format", "issuer_name"),
                                  ("invoice_id", "format", "stripe_customer_id", "event_name"),
                                  ("invoice_id", "format", "subject")),
    "/admin/v1/usage": (("month",), ("month", "group_by"), ("start", "end"), ("start", "end", "group_by"),
                        ("month", "gateway_id"), ("start", "end", "gateway_id", "group_by")),
}
"""The field sets each route takes; examples start from one and sometimes add or drop a field."""


@st.composite
def field_names(draw: st.DrawFn, shapes: tuple[tuple[str, ...], ...], extra: tuple[str, ...]) -> list[str]:
    names = list(draw(st.sampled_from(shapes)))
    if names and draw(rarely(6)):
        names.remove(draw(st.sampled_from(names)))
    if draw(rarely(6)):
        names.append(draw(st.sampled_from(extra)))
    return names


@st.composite
def post_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    path = draw(st.sampled_from(sorted(POST_FIELDS)))
    if draw(rarely(8)):
        return path, draw(raw_bodies)
    names = draw(field_names(POST_SHAPES[path], POST_FIELDS[path] + ("other", "Invoice_ID")))
    pairs = tuple((name, draw(mostly(field_values(name), json_values, 6)) if name in POST_FIELDS[path]
                   else draw(json_values)) for name in names)
    return path, dump(Obj(pairs)).encode("utf-8", "surrogatepass")


@st.composite
def get_queries(draw: st.DrawFn) -> str:
    path = draw(st.sampled_from(sorted(GET_FIELDS)))
    names = draw(field_names(GET_SHAPES[path], GET_FIELDS[path] + ("other",)))
    pairs = [(name, draw(field_values(name) if name in GET_FIELDS[path] else st.text(max_size=8)))
             for name in names]
    query = "&".join(f"{quote(name)}={quote(str(value), safe='')}" for name, value in pairs)
    if draw(rarely(10)):
        query = draw(st.sampled_from(["&&&", "=", "a=1&" * 20, "%", "%zz", "x=%ff", ";", "a=b=c"]))
    return f"{path}?{query}"


any_request = st.one_of(
    post_bodies().map(lambda example: ("POST", example[0], example[1])),
    get_queries().map(lambda path: ("GET", path, None)),
)
bad_authorization = st.one_of(
    st.just({}),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=80).map(
        lambda value: {"Authorization": value}),
    st.sampled_from(["Bearer", "Bearer ", "Basic x", "bearer  ", "Bearer chk_" + "a" * 43]).map(
        lambda value: {"Authorization": value}),
)


def check_post(stack: FuzzStack, example: tuple[str, bytes]) -> None:
    path, body = example
    check_http(stack, "POST", path, body, stack.admin_auth)


def check_get(stack: FuzzStack, path: str) -> None:
    check_http(stack, "GET", path, None, stack.admin_auth)


def check_without_token(stack: FuzzStack, example: tuple[tuple[str, str, bytes | None], dict[str, str]]) -> None:
    (method, path, body), headers = example
    assert check_http(stack, method, path, body, headers).status == 401


TARGETS: dict[str, tuple[Callable[[FuzzStack], st.SearchStrategy[Any]], Callable[[FuzzStack, Any], None]]] = {
    "admin_post": (lambda stack: post_bodies(), check_post),
    "admin_get": (lambda stack: get_queries(), check_get),
    "admin_without_token": (lambda stack: st.tuples(any_request, bad_authorization), check_without_token),
}


@settings(FUZZ_SETTINGS, max_examples=200)
@given(example=post_bodies())
def test_post_bodies(stack: FuzzStack, example: tuple[str, bytes]) -> None:
    check_post(stack, example)


@settings(FUZZ_SETTINGS, max_examples=150)
@given(path=get_queries())
def test_get_queries(stack: FuzzStack, path: str) -> None:
    check_get(stack, path)


@settings(FUZZ_SETTINGS, max_examples=40)
@given(example=st.tuples(any_request, bad_authorization))
def test_without_the_admin_token(stack: FuzzStack, example: tuple[tuple[str, str, bytes | None], dict[str, str]]) -> None:
    check_without_token(stack, example)
