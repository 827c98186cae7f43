"""Fuzzing the operator dashboard on the real stack: the login form (bodies, content types,
Origin and Host headers), the page's and the invoice download's query strings behind a valid
session, and forged session cookies.

The dashboard answers HTML: a 4xx must be an error page with text. The failed-login bound is
kept out of the way by the stack's stepping clock, so every example reaches the form decoder.
Rules otherwise as conftest.check_http. ``TARGETS`` lists each property for
benchmarks/fuzz_long.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ_SETTINGS, FuzzStack, check_http, mostly

FORM = "application/x-www-form-urlencoded"
PRINTABLE = st.characters(min_codepoint=0x20, max_codepoint=0x7e)
header_text = st.text(alphabet=PRINTABLE, max_size=60)


@st.composite
def login_requests(draw: st.DrawFn, token: str) -> tuple[bytes, dict[str, str]]:
    """A login POST: a form (or not) with a token-like value, and headers a browser or an attacker
    might send."""
    value = draw(st.one_of(st.just(token), st.just(token + " "), st.just(token[:-1]), st.text(max_size=80),
                           st.just(""), st.just("\x00" + token)))
    fields = [("token", value)] + draw(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=3))
    body = draw(mostly(st.just(urlencode(fields).encode()), st.one_of(
        st.binary(max_size=200), st.just(b"token=%ff%fe"), st.just(b"token=" + b"a" * 5000),
        st.just("&".join(["a=1"] * 200).encode()), st.just(b"token=%"), st.just(b"=&=&token"),
    ), 4))
    headers = {"Content-Type": draw(mostly(st.just(FORM), st.one_of(
        st.sampled_from([FORM + "; charset=utf-8", FORM.upper(), "application/json", "multipart/form-data", "",
                         "text/plain;" + FORM]), header_text), 4))}
    origin = draw(st.one_of(st.none(), st.sampled_from(["null", "http://127.0.0.1", "http://[", "http://[::1",
                                                        "http://evil.example", "http://a:b@c:99999", "//", ":"]),
                            header_text))
    if origin is not None:
        headers["Origin"] = origin
    if draw(st.sampled_from([False] * 4 + [True])):
        headers["Host"] = draw(header_text)
    return body, headers


page_paths = st.tuples(
    st.sampled_from(["/dashboard", "/dashboard/invoice", "/dashboard/login", "/dashboard/static/dashboard.css"]),
    st.lists(st.tuples(st.sampled_from(["window", "sort", "order", "invoice_id", "format", "x"]),
                       st.one_of(st.sampled_from(["24h", "7d", "30d", "name", "spend", "asc", "desc", "1", "2",
                                                  "0", "99999999999999999999", "csv", "pdf", "json", "xml"]),
                                 st.text(max_size=12))), max_size=5),
).map(lambda example: example[0] + "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in example[1]))
cookies = st.one_of(st.text(alphabet=PRINTABLE, max_size=120), st.builds(
    lambda parts: "ch_dashboard=" + ".".join(parts), st.lists(st.text(alphabet=PRINTABLE, max_size=30), max_size=4)))


def check_login(stack: FuzzStack, example: tuple[bytes, dict[str, str]]) -> None:
    body, headers = example
    answer = check_http(stack, "POST", "/dashboard/login", body, headers, html=True)
    assert answer.status in (303, 400, 403, 413), answer.status


def check_page(stack: FuzzStack, path: str) -> None:
    check_http(stack, "GET", path, None, {"Cookie": stack.dashboard_cookie}, html=True)


def check_forged_cookie(stack: FuzzStack, example: tuple[str, str]) -> None:
    path, cookie = example
    answer = check_http(stack, "GET", path, None, {"Cookie": cookie}, html=True)
    if not path.startswith(("/dashboard/login", "/dashboard/static")):
        assert answer.status == 303, (path, cookie, answer.status)
    check_http(stack, "POST", "/dashboard/logout", b"", {"Cookie": cookie}, html=True)


TARGETS: dict[str, tuple[Callable[[FuzzStack], st.SearchStrategy[Any]], Callable[[FuzzStack, Any], None]]] = {
    "dashboard_login": (lambda stack: login_requests(stack.admin_token), check_login),
    "dashboard_pages": (lambda stack: page_paths, check_page),
    "dashboard_forged_cookie": (lambda stack: st.tuples(page_paths, cookies), check_forged_cookie),
}


@settings(FUZZ_SETTINGS, max_examples=150)
@given(data=st.data())
def test_login_form(stack: FuzzStack, data: st.DataObject) -> None:
    check_login(stack, data.draw(login_requests(stack.admin_token)))


@settings(FUZZ_SETTINGS, max_examples=80)
@given(path=page_paths)
def test_pages_behind_a_session(stack: FuzzStack, path: str) -> None:
    check_page(stack, path)


@settings(FUZZ_SETTINGS, max_examples=40)
@given(example=st.tuples(page_paths, cookies))
def test_forged_cookies(stack: FuzzStack, example: tuple[str, str]) -> None:
    check_forged_cookie(stack, example)
