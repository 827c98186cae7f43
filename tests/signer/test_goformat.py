"""Go's text forms: RFC3339Nano times, big.Rat RatString/FloatString, JSON string escaping."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearinghouse.signer.goformat import (
    GO_ZERO_TIME_NS,
    float_string,
    format_go_time,
    go_json_string,
    parse_go_time,
    parse_rat_string,
    rat_string,
)

YEAR_9999_END_NS = 253402300799_999999999


@pytest.mark.parametrize(
    ("unix_ns", "text"),
    [
        (None, "0001-01-01T00:00:00Z"),
        (0, "1970-01-01T00:00:00Z"),
        (1, "1970-01-01T00:00:00.000000001Z"),
        (1_700_000_000_100_000_000, "2023-11-14T22:13:20.1Z"),
        (1_700_000_000_123_450_000, "2023-11-14T22:13:20.12345Z"),
        (1_700_000_000_999_999_999, "2023-11-14T22:13:20.999999999Z"),
        (-1, "1969-12-31T23:59:59.999999999Z"),
        (GO_ZERO_TIME_NS + 1, "0001-01-01T00:00:00.000000001Z"),
        (YEAR_9999_END_NS, "9999-12-31T23:59:59.999999999Z"),
    ],
)
def test_format_go_time_matches_rfc3339nano(unix_ns: int | None, text: str) -> None:
    assert format_go_time(unix_ns) == text
    assert parse_go_time(text) == unix_ns


@pytest.mark.parametrize("unix_ns", [GO_ZERO_TIME_NS - 1, YEAR_9999_END_NS + 1])
def test_format_go_time_refuses_years_outside_1_to_9999(unix_ns: int) -> None:
    with pytest.raises(ValueError, match="outside years 1..9999"):
        format_go_time(unix_ns)


def test_go_zero_time_instant_reads_as_never() -> None:
    assert format_go_time(GO_ZERO_TIME_NS) == "0001-01-01T00:00:00Z"
    assert parse_go_time("0001-01-01T01:00:00+01:00") is None


@pytest.mark.parametrize(
    ("text", "unix_ns"),
    [
        ("2023-11-15T00:13:20.5+02:00", 1_700_000_000_500_000_000),
        ("2023-11-14T17:13:20-05:00", 1_700_000_000_000_000_000),
        ("2023-11-14T22:13:20.100Z", 1_700_000_000_100_000_000),
    ],
)
def test_parse_accepts_offsets_and_untrimmed_fractions(text: str, unix_ns: int) -> None:
    assert parse_go_time(text) == unix_ns


@pytest.mark.parametrize(
    "text",
    [
        "2023-11-14 22:13:20Z",
        "2023-11-14t22:13:20Z",
        "2023-11-14T22:13:20z",
        "2023-11-14T22:13:20",
        "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20.1234567891Z",
        "2023-02-30T00:00:00Z",
        "2023-11-14T24:00:00Z",
        "2023-11-14T23:59:60Z",
        "2023-11-14T22:13:20+24:00",
        "0000-01-01T00:00:00Z",
        "",
    ],
)
def test_parse_refuses_non_rfc3339(text: str) -> None:
    with pytest.raises(ValueError, match="RFC 3339"):
        parse_go_time(text)


@given(st.integers(min_value=GO_ZERO_TIME_NS + 1, max_value=YEAR_9999_END_NS))
def test_time_round_trip(unix_ns: int) -> None:
    text = format_go_time(unix_ns)
    assert parse_go_time(text) == unix_ns
    fraction = text[19:-1]
    assert not fraction.endswith("0"), "RFC3339Nano trims trailing zeros"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Fraction(0), "0"),
        (Fraction(5), "5"),
        (Fraction(-4), "-4"),
        (Fraction(10, 4), "5/2"),
        (Fraction(-10, 4), "-5/2"),
        (Fraction(2, 2**256 - 1), f"2/{2**256 - 1}"),
    ],
)
def test_rat_string(value: Fraction, text: str) -> None:
    assert rat_string(value) == text
    assert parse_rat_string(text) == value


@pytest.mark.parametrize(
    "text", ["-0", "2/4", "3/1", "1/0", "1/-2", "+1", "01", "1.5", " 1", "1 ", "", "1/", "/2"]
)
def test_parse_rat_string_refuses_non_canonical(text: str) -> None:
    with pytest.raises(ValueError, match="rational"):
        parse_rat_string(text)


@given(st.fractions())
def test_rat_string_round_trip(value: Fraction) -> None:
    assert parse_rat_string(rat_string(value)) == value


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (Fraction(2, 3), 3, "0.667"),
        (Fraction(1, 2), 0, "1"),
        (Fraction(-1, 2), 0, "-1"),
        (Fraction(1, 2000), 3, "0.001"),
        (Fraction(-1, 20000), 3, "-0.000"),
        (Fraction(35), 5, "35.00000"),
        (Fraction(-7, 4), 1, "-1.8"),
    ],
)
def test_float_string_rounds_half_away_from_zero(value: Fraction, decimals: int, text: str) -> None:
    assert float_string(value, decimals) == text


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plain", '"plain"'),
        ("a<b>&c", '"a\\u003cb\\u003e\\u0026c"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ('q"b\\', '"q\\"b\\\\"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        ("\x00\x1f\x7f", '"\\u0000\\u001f\x7f"'),
        ("é☃😀", '"é☃😀"'),
    ],
)
def test_go_json_string(value: str, literal: str) -> None:
    assert go_json_string(value) == literal
    assert json.loads(literal) == value


def test_go_json_string_refuses_lone_surrogate() -> None:
    with pytest.raises(ValueError, match="lone surrogate"):
        go_json_string("a\ud800")
