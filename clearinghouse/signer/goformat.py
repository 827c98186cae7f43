"""Go's text forms that the remote-signer state blob must reproduce byte for byte.

- Times: ``time.Time`` as encoding/json writes and reads it (RFC 3339 with nanoseconds,
  ``time.RFC3339Nano``: trailing zeros of the fraction trimmed, ``Z`` for UTC). A time is held
  as integer nanoseconds since the Unix epoch, UTC, so no precision is lost; Go's zero time
  (``0001-01-01T00:00:00Z``, "never") is ``None``.
- Rationals: ``big.Rat.RatString`` ("a" or "a/b", reduced, sign on the numerator) and
  ``big.Rat.FloatString`` (for messages).
- Strings: encoding/json's string escaping (HTML-safe, Go >= 1.22 short escapes).

Limits: times must lie in years 1..9999 (Python's datetime range; Go also allows year 0).
"""

from __future__ import annotations

import datetime as dt
import re
from fractions import Fraction

NS_PER_S = 1_000_000_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_GO_ZERO_TIME = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
GO_ZERO_TIME_TEXT = "0001-01-01T00:00:00Z"
GO_ZERO_TIME_NS = -(_EPOCH - _GO_ZERO_TIME) // dt.timedelta(microseconds=1) * 1000

_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})"
)
_RAT_RE = re.compile(r"(-?(?:0|[1-9][0-9]*))(?:/([1-9][0-9]*))?")


def format_go_time(unix_ns: int | None) -> str:
    """The RFC3339Nano text of a UTC instant, ``None`` giving Go's zero time.

    Raises ValueError if the instant is outside years 1..9999.
    """
    if unix_ns is None:
        return GO_ZERO_TIME_TEXT
    seconds, nanos = divmod(unix_ns, NS_PER_S)
    try:
        moment = _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ValueError(f"time {unix_ns} ns since the epoch is outside years 1..9999") from exc
    fraction = f".{nanos:09d}".rstrip("0") if nanos else ""
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}{fraction}Z"
    )


def parse_go_time(text: str) -> int | None:
    """Nanoseconds since the epoch (UTC) of an RFC 3339 time, ``None`` for Go's zero time.

    Accepts what Go's time.Time JSON decoding accepts within our limits: ``T`` and ``Z`` in
    upper case, 1..9 fraction digits, a ``Z`` or ``±hh:mm`` offset (converted to UTC).
    Raises ValueError naming the defect otherwise.
    """
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"expected an RFC 3339 time like 2006-01-02T15:04:05.999999999Z, got {text!r}"
        )
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    digits, zone = match.group(7) or "", match.group(8)
    try:
        moment = dt.datetime(year, month, day, hour, minute, second, tzinfo=_parse_zone(zone))
    except ValueError as exc:
        raise ValueError(f"invalid RFC 3339 time {text!r}: {exc}") from exc
    micros = (moment - _EPOCH) // dt.timedelta(microseconds=1)
    unix_ns = micros * 1000 + int(digits.ljust(9, "0") or "0")
    return None if unix_ns == GO_ZERO_TIME_NS else unix_ns


def _parse_zone(zone: str) -> dt.timezone:
    if zone == "Z":
        return dt.UTC
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(f"time zone offset {zone!r} out of range")
    offset = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-offset if zone[0] == "-" else offset)


def rat_string(value: Fraction) -> str:
    """Go's big.Rat.RatString: "a" when the denominator is 1, else "a/b" (reduced)."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{value.numerator}/{value.denominator}"


def parse_rat_string(text: str) -> Fraction:
    """The Fraction of a canonical RatString; exactly the texts ``rat_string`` produces.

    Raises ValueError for anything else: "-0", "2/4" (not reduced), "3/1", "1.5", spaces.
    """
    match = _RAT_RE.fullmatch(text)
    if match is None or text == "-0":
        raise ValueError(
            f'expected a rational "a" or "a/b" with integers a and b > 0, got {text!r}'
        )
    numerator = int(match.group(1))
    denominator = int(match.group(2) or "1")
    value = Fraction(numerator, denominator)
    if value.denominator != denominator or (match.group(2) is not None and denominator == 1):
        raise ValueError(f"expected a reduced rational with denominator > 1, got {text!r}")
    return value


def float_string(value: Fraction, decimals: int) -> str:
    """Go's big.Rat.FloatString: ``decimals`` digits, last one rounded half away from zero."""
    scale = 10**decimals
    magnitude = abs(value) * scale
    whole, remainder = divmod(magnitude.numerator, magnitude.denominator)
    if 2 * remainder >= magnitude.denominator:
        whole += 1
    sign = "-" if value < 0 else ""
    integer, fraction = divmod(whole, scale)
    return f"{sign}{integer}.{fraction:0{decimals}d}" if decimals else f"{sign}{integer}"


_GO_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_GO_HEX_ESCAPED = frozenset("<>&\u2028\u2029")
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029\ud800-\udfff]')
"""Any character go_json_string escapes or refuses: one linear scan (a single character class)
decides that most strings are written as they are, instead of a loop over every character."""


def go_json_string(value: str) -> str:
    """A JSON string literal exactly as Go's json.Marshal writes ``value``.

    Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029 as \\u00XX / \\u20XX, control characters
    with short escapes where JSON has them and \\u00XX otherwise, and writes everything else
    as UTF-8. Raises ValueError for a lone surrogate (not valid UTF-8).
    """
    if _NEEDS_ESCAPE.search(value) is None:  # the common case: nothing to escape or refuse
        return f'"{value}"'
    parts = ['"']
    for char in value:
        if char in _GO_SHORT_ESCAPES:
            parts.append(_GO_SHORT_ESCAPES[char])
        elif char < " " or char in _GO_HEX_ESCAPED:
            parts.append(f"\\u{ord(char):04x}")
        elif "\ud800" <= char <= "\udfff":
            raise ValueError(f"string contains a lone surrogate U+{ord(char):04X}: {value!r}")
        else:
            parts.append(char)
    parts.append('"')
    return "".join(parts)
