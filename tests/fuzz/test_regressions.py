"""The inputs fuzzing found answered 500, each now a 4xx naming what is wrong.

- /dashboard/login with an Origin that is no URL ("http://["): urlsplit raised ValueError.
- /admin/v1/ with month 9999-12: month_period raised ValueError building 10000-01-01.
- /admin/v1/ with a time that leaves years 1..9999 in UTC ("0001-01-01T00:00:00+01:00"):
  parse_valid_at's astimezone raised OverflowError.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.fuzz.conftest import FuzzStack, check_http, json_message

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("origin", ["http://[", "http://[::1", "https://[x]:1"])
def test_a_login_from_an_origin_that_is_no_url_is_refused(stack: FuzzStack, origin: str) -> None:
    body = urlencode({"token": stack.admin_token}).encode()
    answer = check_http(stack, "POST", "/dashboard/login", body, {**FORM, "Origin": origin}, html=True)
    assert answer.status == 403 and b"cross-site form refused" in answer.body
    assert "set-cookie" not in answer.headers


@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("POST", "/admin/v1/invoices/draft", {"gateway_id": 1, "month": "9999-12"},
     "month must end by 9999-12-31, got '9999-12'"),
    ("GET", "/admin/v1/usage?month=9999-12", None, "month must end by 9999-12-31, got '9999-12'"),
    ("POST", "/admin/v1/invoices/draft", {"gateway_id": 1, "start": "0001-01-01T00:00:00+01:00",
                                          "end": "2026-11-10T00:00:00Z"},
     "start: time '0001-01-01T00:00:00+01:00' is outside years 1..9999 once converted to UTC"),
    ("POST", "/admin/v1/invoices/paid", {"invoice_id": 1, "paid_at": "0001-01-01T00:00:00+01:00"},
     "paid_at: time '0001-01-01T00:00:00+01:00' is outside years 1..9999 once converted to UTC"),
    ("GET", "/admin/v1/usage?start=2026-11-10T00:00:00Z&end=9999-12-31T23:00:00-01:00", None,
     "end: time '9999-12-31T23:00:00-01:00' is outside years 1..9999 once converted to UTC"),
])
def test_admin_dates_past_the_calendar_are_400(stack: FuzzStack, method: str, path: str,
                                               body: dict[str, object] | None, message: str) -> None:
    answer = check_http(stack, method, path, None if body is None else json.dumps(body).encode(), stack.admin_auth)
    assert (answer.status, json_message(answer)) == (400, message)


def test_month_text_that_is_no_month_keeps_its_message(stack: FuzzStack) -> None:
    answer = check_http(stack, "GET", "/admin/v1/usage?month=2026-13", None, stack.admin_auth)
    assert (answer.status, json_message(answer)) == (400, "month must look like 2026-11, got '2026-13'")
