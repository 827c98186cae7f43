"""The JSON bodies of spec 02: requests decoded the way Go decodes them, answers encoded exactly.

Decoding follows Go's encoding/json where a gateway relies on it, and is stricter where Go's
leniency could only hide a client bug or a parser-differential attack:

- keys match case-insensitively (``ManifestID`` = ``manifestId``) at every level: the body,
  ``state.State``/``state.Sig`` and ``maxPrice.price``/``currency``/``unit``; unknown keys are
  ignored; two keys that fold to the same known field are refused (Go silently keeps the last);
- ``null`` means absent; bytes are standard base64 **with padding** (Go's StdEncoding): URL-safe,
  unpadded or over-padded text (``QUJD=``) is refused with 400 naming the field;
- integers must be JSON integers in int64 range (no ``1.0``, ``1e3`` or ``true``); ``NaN`` and
  ``Infinity`` are not JSON; the body must be UTF-8 without a BOM, nested at most
  JSON_DEPTH_MAX deep;
- ManifestID, app and type are at most TEXT_FIELD_LENGTH_MAX characters without control
  characters or lone UTF-16 surrogates (``"\\ud800"``, which Go would replace with U+FFFD).

Every failure raises ``BadRequest`` whose message names the field and what was wrong. Answers
use exactly the spec's key spellings: ``payment``, ``segCreds``, ``state.State``,
``state.Sig``, ``address``, ``signature``, ``error.message``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from itertools import accumulate, filterfalse
from dataclasses import dataclass
from typing import Any

from clearinghouse.api.errors import BadRequest
from clearinghouse.api.limits import TEXT_FIELD_LENGTH_MAX
from clearinghouse.domain.limits import JSON_DEPTH_MAX
from clearinghouse.signer.billing import MaxPrice
from clearinghouse.signer.calls import PaymentCall, PaymentResult

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1


class _FoldedObject(dict[str, Any]):
    """A JSON object keyed by case-folded key; a key given twice maps to _DUPLICATE."""


class _FloatText(str):
    """The literal text of a JSON number with a fraction or exponent (never a float)."""


_DUPLICATE = object()


def _folded_object(pairs: list[tuple[str, Any]]) -> _FoldedObject:
    folded = _FoldedObject()
    for key, value in pairs:
        name = key.casefold()
        folded[name] = _DUPLICATE if name in folded else value
    return folded


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


@dataclass(frozen=True, slots=True)
class PaymentRequestBody:
    """A decoded /generate-live-payment body.

    ``state_echo`` is the ``state`` object as received (``{"State": text, "Sig": text}``, the
    base64 text unchanged) for a 482 answer, or None when the call sent no state.
    """

    call: PaymentCall
    state_echo: dict[str, str | None] | None


def parse_json_object(body: bytes, what: str = "body") -> _FoldedObject:
    """Parse ``body`` as one JSON object with case-folded keys; BadRequest saying why not."""
    check_json_depth(body, what)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"{what} is not UTF-8: invalid byte at offset {exc.start}") from None
    try:
        parsed = json.loads(
            text,
            object_pairs_hook=_folded_object,
            parse_float=_FloatText,
            parse_constant=_refuse_constant,
        )
    except ValueError as exc:  # JSONDecodeError, over-long integers, NaN/Infinity
        raise BadRequest(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(parsed, _FoldedObject):
        raise BadRequest(f"{what} must be a JSON object, got {_json_type(parsed)}")
    return parsed


# A JSON string from its opening quote, escapes skipped. Possessive, and the closing quote is
# optional: a string that never closes ends the match at the end of the input instead of being
# retried from every later quote, which made the old pre-scan quadratic (issue #18).
_JSON_STRING = re.compile(rb'"[^"\\]*+(?:\\.[^"\\]*+)*+"?', re.DOTALL)
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_ONE_KIND = bytes.maketrans(b"{}", b"[]")
_DEPTH_STEP = tuple(1 if byte == ord("[") else -1 if byte == ord("]") else 0 for byte in range(256))


def json_nested_deeper(data: bytes, depth_max: int) -> bool:
    """True when the JSON text ``data`` nests arrays and objects deeper than ``depth_max``.

    Linear in ``len(data)`` and run at C speed, so it may run on the event loop: strings are cut
    out by one possessive regex pass, the brackets left are kept by ``bytes.translate``, and
    ``depth_max`` rounds of removing empty pairs empty any well-formed text that is not too deep
    (``[[],[]]`` → ``[]`` → ``""``). Only text that is left over — too deep, or unbalanced and so
    no JSON — is walked bracket by bracket (~50 ns each), stopping at the first level past
    ``depth_max`` or below zero: a parser stops at a stray closing bracket too, so what lies
    beyond it is never nested into.
    """
    if data.count(b"[") + data.count(b"{") <= depth_max:
        return False  # too few openings to nest that deep: the common case
    brackets = _JSON_STRING.sub(b"", data).translate(_ONE_KIND, _NOT_BRACKETS)
    left, rounds = brackets, 0
    while rounds < depth_max:
        emptied = left.replace(b"[]", b"")
        if len(emptied) == len(left):
            break
        left, rounds = emptied, rounds + 1
    # Only unclosed openings left (truncated text): what was removed under them is at most
    # ``rounds`` deep, so the text is at most len(left) + rounds deep.
    if not left or (b"]" not in left and len(left) + rounds <= depth_max):
        return False
    levels = accumulate(map(_DEPTH_STEP.__getitem__, brackets))
    return next(filterfalse(range(depth_max + 1).__contains__, levels), 0) > depth_max


def check_json_depth(data: bytes, what: str, depth_max: int = JSON_DEPTH_MAX) -> None:
    """Refuse JSON nested deeper than ``depth_max`` (BadRequest naming ``what``), before any
    parser sees it: CPython's C JSON scanner recurses on the C stack per level, and past
    Python's recursion limit it raises RecursionError, which no decoder here expects. Linear in
    the input (json_nested_deeper)."""
    if json_nested_deeper(data, depth_max):
        raise BadRequest(f"{what}: JSON nested deeper than {depth_max} levels")


def field(obj: Mapping[str, Any], name: str, where: str = "") -> Any:
    """The value of key ``name`` matched case-insensitively, or None when absent or null."""
    value = obj.get(name.casefold())
    if value is _DUPLICATE:
        raise BadRequest(f'duplicate key "{where}{name}" (keys match case-insensitively, as in Go)')
    return value


def decode_payment_request(body: bytes) -> PaymentRequestBody:
    """Decode a /generate-live-payment body (rules in the module docstring)."""
    obj = parse_json_object(body)
    orchestrator = _base64_field(obj, "orchestrator")
    if not orchestrator:
        raise BadRequest("missing orchestrator")
    state, signature, echo = _state_field(obj)
    capabilities = _base64_field(obj, "capabilities") or None
    call = PaymentCall(
        orchestrator_info=orchestrator,
        state=state,
        state_signature=signature,
        manifest_id=_text_field(obj, "ManifestID"),
        billing_type=_text_field(obj, "type"),
        in_pixels=_int64_field(obj, "inPixels"),
        app=_text_field(obj, "app"),
        max_price=_max_price_field(obj),
        capabilities=capabilities,
    )
    return PaymentRequestBody(call=call, state_echo=echo)


def _state_field(
    obj: Mapping[str, Any],
) -> tuple[bytes | None, bytes | None, dict[str, str | None] | None]:
    value = field(obj, "state")
    if value is None:
        return None, None, None
    if not isinstance(value, dict):
        raise BadRequest(f'"state" must be an object {{"State", "Sig"}}, got {_json_type(value)}')
    state_text = _string_or_none(value, "State", "state.")
    sig_text = _string_or_none(value, "Sig", "state.")
    state = _decode_base64(state_text, "state.State") if state_text else None
    signature = _decode_base64(sig_text, "state.Sig") if sig_text else None
    if state is None and signature is not None:
        raise BadRequest("invalid state: state.Sig given without state.State")
    echo = {"State": state_text, "Sig": sig_text} if state is not None else None
    return state, signature, echo


def _string_or_none(obj: Mapping[str, Any], name: str, where: str = "") -> str | None:
    value = field(obj, name, where)
    if value is not None and (not isinstance(value, str) or isinstance(value, _FloatText)):
        raise BadRequest(f'"{where}{name}" must be a string, got {_json_type(value)}')
    return value


def _base64_field(obj: Mapping[str, Any], name: str) -> bytes:
    text = _string_or_none(obj, name)
    return _decode_base64(text, name) if text else b""


def _decode_base64(text: str, name: str) -> bytes:
    """Go's base64.StdEncoding.DecodeString: padded to whole quanta, "=" only as the last one or
    two characters. Python's decoder also takes "=" after a complete quantum ("QUJD=", even in
    strict mode), which Go refuses. Stricter than Go in one way: Go skips CR and LF anywhere,
    we refuse them (no client sends them; accepting them only widens the input)."""
    data = text.rstrip("=")
    try:
        if len(text) % 4 or len(text) - len(data) > 2 or "=" in data:
            raise ValueError("padding")
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(
            f'"{name}" is not standard base64 with padding (URL-safe, unpadded, over-padded and '
            "whitespace-broken text are refused)"
        ) from None


def _text_field(obj: Mapping[str, Any], name: str) -> str:
    return check_text_field(name, _string_or_none(obj, name) or "")


def check_text_field(name: str, text: str) -> str:
    """``text`` if it is at most TEXT_FIELD_LENGTH_MAX characters of UTF-8-encodable text without
    a control character (ManifestID, app, type, request id: stored in short columns and hashed
    as UTF-8); else BadRequest naming it."""
    if len(text) > TEXT_FIELD_LENGTH_MAX:
        raise BadRequest(
            f'"{name}" is {len(text)} characters long, at most {TEXT_FIELD_LENGTH_MAX} allowed'
        )
    if any(char < " " or char == "\x7f" for char in text):
        raise BadRequest(f'"{name}" contains a control character')
    check_encodable(name, text)
    return text


def check_encodable(name: str, text: str) -> None:
    """BadRequest naming ``name`` when ``text`` holds a lone UTF-16 surrogate: JSON's
    ``"\\ud800"`` escape decodes to one, and it has no UTF-8 form to store, hash or sign. (Go's
    decoder replaces it with U+FFFD; we refuse rather than change what the client sent.)"""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f'"{name}" contains a lone UTF-16 surrogate (\\ud800-\\udfff)') from None


def _int64_field(obj: Mapping[str, Any], name: str) -> int:
    value = field(obj, name)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadRequest(f'"{name}" must be an integer, got {_json_type(value)}')
    if not INT64_MIN <= value <= INT64_MAX:
        raise BadRequest(f'"{name}" must fit int64, got {value}')
    return value


def _max_price_field(obj: Mapping[str, Any]) -> MaxPrice | None:
    value = field(obj, "maxPrice")
    if value is None:
        return None
    return decode_max_price(value, "maxPrice")


def decode_max_price(value: object, name: str) -> MaxPrice:
    """A ``{"price", "currency", "unit"}`` object as sent; the signer checks the values.

    ``price`` may be a JSON string or number; a number keeps its exact literal text.
    """
    if not isinstance(value, dict):
        raise BadRequest(
            f'"{name}" must be an object {{"price", "currency", "unit"}}, got {_json_type(value)}'
        )
    price = field(value, "price", f"{name}.")
    if isinstance(price, int) and not isinstance(price, bool):
        price = str(price)
    elif price is not None and not isinstance(price, str):
        raise BadRequest(
            f'"{name}.price" must be a decimal string or number, got {_json_type(price)}'
        )
    return MaxPrice(
        price=price or "",
        currency=_string_or_none(value, "currency", f"{name}.") or "",
        unit=_string_or_none(value, "unit", f"{name}.") or "",
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, _FloatText)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def payment_body(result: PaymentResult) -> bytes:
    """The 200 answer of /generate-live-payment."""
    return _dump(
        {
            "payment": _b64(result.payment),
            "segCreds": _b64(result.seg_creds),
            "state": {"State": _b64(result.state), "Sig": _b64(result.state_signature)},
        }
    )


def orchestrator_info_body(address: str, signature: bytes) -> bytes:
    """The 200 answer of /sign-orchestrator-info: EIP-55 address and 0x-hex signature."""
    return _dump({"address": address, "signature": "0x" + signature.hex()})


def error_body(message: str, body_fields: Mapping[str, Any]) -> bytes:
    """The error envelope ``{"error": {"message": …}}`` plus any extra top-level fields."""
    return _dump({"error": {"message": message}, **body_fields})


def _dump(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii")
