"""The inputs fuzzing and issue #18 found answered 500, each now a 4xx naming what is wrong.

- /dashboard/login with an Origin that is no URL ("http://["): urlsplit raised ValueError.
- /admin/v1/ with month 9999-12: month_period raised ValueError building 10000-01-01.
- /admin/v1/ with a time that leaves years 1..9999 in UTC ("0001-01-01T00:00:00+01:00"):
  parse_valid_at's astimezone raised OverflowError.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

import pytest

from tests.api.conftest import b64
from tests.fuzz.conftest import FuzzStack, Obj, Raw, check_http, dump, json_message
from tests.signer.builders import orchestrator_info

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


# Issue #18: inputs the caller controls that were answered 500, each now a 400 naming the field.

PAY = "/generate-live-payment"


def pay_body(stack: FuzzStack, **fields: object) -> bytes:
    return json.dumps({"orchestrator": stack.orchestrator_b64, "inPixels": 35, **fields}).encode()


@pytest.mark.parametrize("name", ["ManifestID", "app", "type"])
def test_a_lone_surrogate_in_a_text_field_is_400(stack: FuzzStack, name: str) -> None:
    """UnicodeEncodeError in the request digest: a lone UTF-16 surrogate has no UTF-8 form."""
    body = pay_body(stack, **{name: "x\ud800"})  # json.dumps writes the "\ud800" escape
    answer = check_http(stack, "POST", PAY, body, stack.auth)
    assert (answer.status, json_message(answer)) == (400, f'"{name}" contains a lone UTF-16 surrogate (\\ud800-\\udfff)')


@pytest.mark.parametrize("route", ["paid", "void"])
def test_a_lone_surrogate_in_an_admin_reason_is_400(stack: FuzzStack, route: str) -> None:
    body = json.dumps({"invoice_id": 1, "reason": "paid \udfff"}).encode()
    answer = check_http(stack, "POST", f"/admin/v1/invoices/{route}", body, stack.admin_auth)
    assert (answer.status, json_message(answer)) == (400, '"reason" contains a lone UTF-16 surrogate (\\ud800-\\udfff)')


@pytest.mark.parametrize("price", ["1" * 5000, "0." + "0" * 4400 + "1", Raw("1" + "0" * 4299 + ".5")])
def test_a_max_price_of_thousands_of_digits_is_400(stack: FuzzStack, price: object) -> None:
    """Fraction() raised ValueError past Python's 4,300-digit int-string limit."""
    max_price = dump(Obj((("price", price), ("currency", "wei"), ("unit", "seconds"))))
    body = pay_body(stack, type="live", ManifestID="m").replace(b'"type"', b'"maxPrice": ' + max_price.encode() + b', "type"')
    answer = check_http(stack, "POST", PAY, body, stack.auth)
    assert answer.status == 400 and json_message(answer).startswith("maxPrice.price is ")


@pytest.mark.parametrize("block", [2**63, 2**64 + 5, 2**256 - 1])
def test_an_expiration_block_past_int64_is_400(stack: FuzzStack, block: int) -> None:
    """The signer took it and the ledger then refused it as invalid input: a 500 after the checks."""
    info = b64(orchestrator_info(expiration_block=block).SerializeToString())
    body = json.dumps({"orchestrator": info, "inPixels": 35, "ManifestID": "m-expiry"}).encode()
    answer = check_http(stack, "POST", PAY, body, stack.auth)
    assert answer.status == 400 and "ticket_params.expiration_block must be below 2^63" in json_message(answer)


def test_the_quadratic_depth_scan_body_is_refused_at_once_on_v1(stack: FuzzStack) -> None:
    body = b"[]" * 9 + b'"\\' * 12_000
    started = time.monotonic()
    answer = check_http(stack, "POST", "/v1/generate-payment", body, stack.auth)
    assert time.monotonic() - started < 1.0 and answer.status == 400
