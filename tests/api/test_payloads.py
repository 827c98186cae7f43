"""Decoding spec 02's request JSON the way Go does (and stricter where Go hides bugs)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.api.errors import BadRequest
from clearinghouse.api.limits import TEXT_FIELD_LENGTH_MAX
from clearinghouse.domain.limits import JSON_DEPTH_MAX
from clearinghouse.api.payloads import decode_payment_request, error_body, json_nested_deeper, payment_body
from clearinghouse.signer.billing import MaxPrice
from tests.api.conftest import ORCHESTRATOR_B64, b64
from tests.api.fakes import FAKE_PAYMENT, FAKE_RESULT


def decode(body: dict[str, Any] | bytes) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return decode_payment_request(raw)


def refused(body: dict[str, Any] | bytes) -> str:
    with pytest.raises(BadRequest) as caught:
        decode(body)
    return caught.value.message


def test_go_livepeer_spelling_decodes_every_field() -> None:
    request = decode(
        {
            "orchestrator": ORCHESTRATOR_B64,
            "state": {"State": b64(b"{}"), "Sig": b64(b"\x01" * 65)},
            "ManifestID": "abcd1234",
            "type": "lv2v",
            "inPixels": 0,
            "app": "my-app",
            "maxPrice": {"price": "0.25", "currency": "wei", "unit": "720p-pixel-seconds"},
            "capabilities": b64(b"\x0a\x01\x01"),
        }
    )
    call = request.call
    assert call.state == b"{}" and call.state_signature == b"\x01" * 65
    assert (call.manifest_id, call.billing_type, call.app) == ("abcd1234", "lv2v", "my-app")
    assert call.max_price == MaxPrice("0.25", "wei", "720p-pixel-seconds")
    assert call.capabilities == b"\x0a\x01\x01"
    assert request.state_echo == {"State": b64(b"{}"), "Sig": b64(b"\x01" * 65)}


def test_keys_match_case_insensitively_at_every_level() -> None:
    request = decode(
        {
            "ORCHESTRATOR": ORCHESTRATOR_B64,
            "State": {"state": b64(b"{}"), "SIG": b64(b"s")},
            "manifestId": "m",
            "TYPE": "live",
            "INPIXELS": 7,
            "App": "a",
            "MAXPRICE": {"Price": 3, "CURRENCY": "wei", "Unit": "seconds"},
            "Capabilities": b64(b"c"),
        }
    )
    call = request.call
    assert (call.state, call.state_signature, call.manifest_id) == (b"{}", b"s", "m")
    assert (call.billing_type, call.in_pixels, call.app) == ("live", 7, "a")
    assert call.max_price == MaxPrice("3", "wei", "seconds")
    assert call.capabilities == b"c"


def test_absent_and_null_fields_are_zero_values() -> None:
    call = decode({"orchestrator": ORCHESTRATOR_B64, "state": None, "ManifestID": None}).call
    assert call.state is None and call.state_signature is None and call.max_price is None
    assert (call.manifest_id, call.billing_type, call.in_pixels, call.app) == ("", "", 0, "")
    null_state = decode({"orchestrator": ORCHESTRATOR_B64, "state": {"State": None, "Sig": None}})
    assert null_state.call.state is None and null_state.state_echo is None


def test_a_number_max_price_keeps_its_exact_text() -> None:
    call = decode(
        {
            "orchestrator": ORCHESTRATOR_B64,
            "maxPrice": {"price": 0.1, "currency": "wei", "unit": "fixed"},
        }
    ).call
    assert call.max_price is not None and call.max_price.price == "0.1"


@pytest.mark.parametrize(
    ("body", "field_name"),
    [
        (
            {"orchestrator": ORCHESTRATOR_B64.replace("+", "-").replace("/", "_") + "-_"},
            "orchestrator",
        ),
        ({"orchestrator": ORCHESTRATOR_B64.rstrip("=") + "A"}, "orchestrator"),
        (
            {"orchestrator": ORCHESTRATOR_B64, "state": {"State": "e30", "Sig": b64(b"s")}},
            "state.State",
        ),
        (
            {"orchestrator": ORCHESTRATOR_B64, "state": {"State": "e30=", "Sig": "_-8="}},
            "state.Sig",
        ),
        ({"orchestrator": ORCHESTRATOR_B64, "capabilities": "YWJj\n"}, "capabilities"),
        # Go's StdEncoding refuses "=" after a complete quantum; Python's decoder took it (#18).
        ({"orchestrator": "QUJD="}, "orchestrator"),
        ({"orchestrator": ORCHESTRATOR_B64 + "===="}, "orchestrator"),
        ({"orchestrator": ORCHESTRATOR_B64, "state": {"State": "e30AAA==" + "=", "Sig": b64(b"s")}}, "state.State"),
        ({"orchestrator": ORCHESTRATOR_B64, "state": {"State": "e30A", "Sig": "QUJD="}}, "state.Sig"),
    ],
)
def test_bad_base64_is_refused_naming_the_field(body: dict[str, Any], field_name: str) -> None:
    message = refused(body)
    assert f'"{field_name}" is not standard base64 with padding' in message


def test_url_safe_alphabet_is_refused_even_when_padded() -> None:
    assert "orchestrator" in refused(
        {"orchestrator": b64(b"\xfb\xff\xbf").replace("+", "-").replace("/", "_")}
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "body is not valid JSON"),
        (b"{", "body is not valid JSON"),
        (b"[]", "body must be a JSON object, got an array"),
        (b"\xef\xbb\xbf{}", "body is not valid JSON"),
        (b'{"orchestrator": "\xff"}', "body is not UTF-8"),
        (b'{"inPixels": NaN}', "body is not valid JSON"),
        (b'{"inPixels": 1' + b"0" * 5000 + b"}", "body is not valid JSON"),
        ({}, "missing orchestrator"),
        ({"orchestrator": ""}, "missing orchestrator"),
        ({"orchestrator": 5}, '"orchestrator" must be a string, got a number'),
        (
            {"orchestrator": ORCHESTRATOR_B64, "Orchestrator": ORCHESTRATOR_B64},
            'duplicate key "orchestrator"',
        ),
        ({"orchestrator": ORCHESTRATOR_B64, "state": "abc"}, '"state" must be an object'),
        (
            {"orchestrator": ORCHESTRATOR_B64, "state": {"Sig": b64(b"s")}},
            "Sig given without state.State",
        ),
        (
            {"orchestrator": ORCHESTRATOR_B64, "inPixels": 1.0},
            '"inPixels" must be an integer, got a number',
        ),
        (
            {"orchestrator": ORCHESTRATOR_B64, "inPixels": True},
            '"inPixels" must be an integer, got a boolean',
        ),
        ({"orchestrator": ORCHESTRATOR_B64, "inPixels": 2**63}, '"inPixels" must fit int64'),
        ({"orchestrator": ORCHESTRATOR_B64, "type": 3}, '"type" must be a string'),
        (
            {"orchestrator": ORCHESTRATOR_B64, "ManifestID": "m" * (TEXT_FIELD_LENGTH_MAX + 1)},
            "at most 128",
        ),
        ({"orchestrator": ORCHESTRATOR_B64, "app": "a\x00b"}, '"app" contains a control character'),
        # Lone UTF-16 surrogates have no UTF-8 form: they made the request digest raise (#18).
        (b'{"orchestrator": "' + ORCHESTRATOR_B64.encode() + b'", "ManifestID": "\\ud800"}',
         '"ManifestID" contains a lone UTF-16 surrogate'),
        (b'{"orchestrator": "' + ORCHESTRATOR_B64.encode() + b'", "app": "a\\udfffb"}',
         '"app" contains a lone UTF-16 surrogate'),
        (b'{"orchestrator": "' + ORCHESTRATOR_B64.encode() + b'", "type": "\\ud83d"}',
         '"type" contains a lone UTF-16 surrogate'),
        ({"orchestrator": ORCHESTRATOR_B64, "maxPrice": "3"}, '"maxPrice" must be an object'),
        (
            {"orchestrator": ORCHESTRATOR_B64, "maxPrice": {"price": [1]}},
            '"maxPrice.price" must be a decimal',
        ),
    ],
)
def test_malformed_bodies_say_what_is_wrong(body: dict[str, Any] | bytes, expected: str) -> None:
    assert expected in refused(body)


def test_nesting_deeper_than_the_limit_is_refused() -> None:
    def nested(depth: int) -> bytes:
        return (
            b'{"orchestrator": "'
            + ORCHESTRATOR_B64.encode()
            + b'", "x": '
            + b"[" * (depth - 1)
            + b"]" * (depth - 1)
            + b"}"
        )

    assert decode(nested(JSON_DEPTH_MAX)).call.orchestrator_info
    assert "nested deeper than 8" in refused(nested(JSON_DEPTH_MAX + 1))
    assert "nested deeper than 8" in refused(b"[" * 100_000)


def test_a_surrogate_pair_is_text_and_passes() -> None:
    body = b'{"orchestrator": "' + ORCHESTRATOR_B64.encode() + b'", "app": "\\ud83d\\ude00"}'
    assert decode(body).call.app == "\U0001f600"


def test_padding_at_the_end_of_the_last_quantum_only_is_accepted() -> None:
    for data in (b"A", b"AB", b"ABC", b"ABCD"):
        assert decode({"orchestrator": ORCHESTRATOR_B64, "capabilities": b64(data)}).call.capabilities == data


def test_depth_is_counted_outside_strings_and_unterminated_strings_end_the_count() -> None:
    inside = b'{"orchestrator": "' + ORCHESTRATOR_B64.encode() + b'", "x": "' + b"[" * 50 + b'"}'
    assert decode(inside).call.orchestrator_info
    assert "not valid JSON" in refused(b'{"x": "' + b"[" * 50)
    assert json_nested_deeper(b'["\\\\", [[[]]]]', 3) and not json_nested_deeper(b'["\\\\", [[[]]]]', 4)
    assert not json_nested_deeper(b"[[]]]" + b"[" * 50, 2)  # a parser stops at the stray "]"


def reference_depth_over(data: bytes, depth_max: int) -> bool:
    """Byte by byte: brackets outside strings, stopping below zero (where a parser stops too)."""
    depth, in_string, escaped = 0, False, False
    for byte in data:
        if in_string:
            escaped, in_string = (not escaped and byte == 0x5C), in_string and (escaped or byte != 0x22)
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            if depth > depth_max:
                return True
        elif byte in b"]}":
            depth -= 1
            if depth < 0:
                return False
    return False


@settings(max_examples=1000, derandomize=True, database=None, deadline=None)
@given(data=st.lists(st.sampled_from([b"[", b"]", b"{", b"}", b'"', b"\\", b"a", b","]), max_size=40).map(b"".join),
       depth_max=st.integers(min_value=1, max_value=JSON_DEPTH_MAX))
def test_the_depth_scan_agrees_with_a_byte_by_byte_reference(data: bytes, depth_max: int) -> None:
    assert json_nested_deeper(data, depth_max) == reference_depth_over(data, depth_max)


ADVERSARIAL_JSON = {
    "unterminated escaped quotes (#18)": lambda n: b"[]" * 9 + b'"\\' * (n // 2),
    "empty pairs": lambda n: b"[]" * (n // 2),
    "empty pairs, one left open": lambda n: b"[]" * (n // 2 - 1) + b"[",
    "openings": lambda n: b"[" * n,
    "closing first": lambda n: b"][" * (n // 2),
    "short strings": lambda n: b'["' + b'a","' * (n // 4) + b'"]',
}


@pytest.mark.parametrize("make", ADVERSARIAL_JSON.values(), ids=list(ADVERSARIAL_JSON))
def test_the_depth_scan_is_linear_on_adversarial_input(make: Callable[[int], bytes]) -> None:
    """The old pre-scan took ~30 s on 64 KiB of unterminated escaped quotes, on the event loop;
    the bound here is ~100x what the linear scan takes (benchmarks/decoders.py)."""
    data = make(64 * 1024)
    started = time.perf_counter()
    for depth_max in (2, JSON_DEPTH_MAX):
        json_nested_deeper(data, depth_max)
    assert time.perf_counter() - started < 0.5


def test_answers_use_the_spec_spellings() -> None:
    body = json.loads(payment_body(FAKE_RESULT))
    assert list(body) == ["payment", "segCreds", "state"]
    assert list(body["state"]) == ["State", "Sig"]
    assert body["payment"] == b64(FAKE_PAYMENT)
    assert json.loads(error_body("no", {})) == {"error": {"message": "no"}}
