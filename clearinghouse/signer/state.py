"""The remote-signer session state blob (go-livepeer's RemotePaymentState) and its JSON bytes.

The blob is what a gateway stores and sends back on its next call; we sign its raw JSON bytes.
``encode_state`` writes exactly what Go's json.Marshal writes for the struct: keys in field
order with Go's names, no spaces, Go string escaping, LastUpdate as RFC3339Nano, Balance as a
big.Rat RatString. ``decode_state`` reads it back strictly: keys match case-insensitively as
in Go, but unknown, duplicate, missing or null keys, wrong types and out-of-range values are
refused. ``open_state`` also checks the signature.

Errors: a bad blob raises ``SigningRefused(Refusal.BAD_REQUEST, ...)`` whose message starts
with "invalid state" or "invalid sig" (go-livepeer's messages) and says what was wrong.
Limits: STATE_JSON_BYTES_MAX.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from clearinghouse import pm
from clearinghouse.domain.money import ADDRESS_BYTES
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.domain.sessions import BillingType
from clearinghouse.domain.tickets import SENDER_NONCE_UINT32_MAX
from clearinghouse.signer.goformat import (
    format_go_time,
    go_json_string,
    parse_go_time,
    parse_rat_string,
    rat_string,
)
from clearinghouse.signer.limits import STATE_JSON_BYTES_MAX

INT64_MAX = 2**63 - 1
UINT64_MAX = 2**64 - 1
BILLING_TYPES = frozenset(billing_type.value for billing_type in BillingType)
_PM_SESSION_ID_RE = re.compile(r"0x[0-9a-f]{64}")
_ADDRESS_RE = re.compile(r"0x[0-9a-fA-F]{40}")


@dataclass(frozen=True, slots=True)
class RemotePaymentState:
    """One session's state; field order is the JSON key order.

    ``pm_session_id`` is "" or the recipientRandHash as "0x" + 64 lowercase hex digits;
    ``last_update_ns`` is nanoseconds since the epoch, None before the first payment.
    Raises ValueError on construction when a field is out of its Go type's range, TypeError
    when it has the wrong Python type.
    """

    state_id: str
    pm_session_id: str
    last_update_ns: int | None
    orchestrator_address: bytes
    app: str
    auth_expiry: int
    sender_nonce: int
    balance: Fraction
    initial_price_per_unit: int
    initial_pixels_per_unit: int
    type: str
    sequence_number: int
    auth_id: str

    def __post_init__(self) -> None:
        if self.pm_session_id and not _PM_SESSION_ID_RE.fullmatch(self.pm_session_id):
            raise ValueError(
                'PMSessionID must be "" or 0x + 64 lowercase hex digits, '
                f"got {self.pm_session_id!r}"
            )
        if not isinstance(self.orchestrator_address, bytes):
            raise TypeError(
                f"OrchestratorAddress must be bytes, got {type(self.orchestrator_address).__name__}"
            )
        if len(self.orchestrator_address) != ADDRESS_BYTES:
            raise ValueError(
                f"OrchestratorAddress must be {ADDRESS_BYTES} bytes, "
                f"got {len(self.orchestrator_address)}"
            )
        if not isinstance(self.balance, Fraction):
            raise TypeError(f"Balance must be a Fraction, got {type(self.balance).__name__}")
        if self.type not in BILLING_TYPES:
            raise ValueError(f"Type must be one of {sorted(BILLING_TYPES)}, got {self.type!r}")
        _check_range("AuthExpiry", self.auth_expiry, -INT64_MAX - 1, INT64_MAX)
        _check_range("SenderNonce", self.sender_nonce, 0, SENDER_NONCE_UINT32_MAX)
        _check_range("InitialPricePerUnit", self.initial_price_per_unit, -INT64_MAX - 1, INT64_MAX)
        _check_range(
            "InitialPixelsPerUnit", self.initial_pixels_per_unit, -INT64_MAX - 1, INT64_MAX
        )
        _check_range("SequenceNumber", self.sequence_number, 0, UINT64_MAX)
        format_go_time(self.last_update_ns)
        for name in ("state_id", "app", "auth_id"):
            go_json_string(getattr(self, name))


def _check_range(name: str, value: object, low: int, high: int) -> None:
    if type(value) is not int:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}], got {value}")


def encode_state(state: RemotePaymentState) -> bytes:
    """The JSON bytes Go's json.Marshal writes for this state (the bytes we sign)."""
    fields = (
        ("StateID", go_json_string(state.state_id)),
        ("PMSessionID", go_json_string(state.pm_session_id)),
        ("LastUpdate", go_json_string(format_go_time(state.last_update_ns))),
        ("OrchestratorAddress", go_json_string("0x" + state.orchestrator_address.hex())),
        ("App", go_json_string(state.app)),
        ("AuthExpiry", str(state.auth_expiry)),
        ("SenderNonce", str(state.sender_nonce)),
        ("Balance", go_json_string(rat_string(state.balance))),
        ("InitialPricePerUnit", str(state.initial_price_per_unit)),
        ("InitialPixelsPerUnit", str(state.initial_pixels_per_unit)),
        ("Type", go_json_string(state.type)),
        ("SequenceNumber", str(state.sequence_number)),
        ("AuthID", go_json_string(state.auth_id)),
    )
    return ("{" + ",".join(f'"{key}":{value}' for key, value in fields) + "}").encode("utf-8")


_STRING_KEYS = {
    "StateID",
    "PMSessionID",
    "LastUpdate",
    "OrchestratorAddress",
    "App",
    "Balance",
    "Type",
    "AuthID",
}
_KEYS = (
    "StateID",
    "PMSessionID",
    "LastUpdate",
    "OrchestratorAddress",
    "App",
    "AuthExpiry",
    "SenderNonce",
    "Balance",
    "InitialPricePerUnit",
    "InitialPixelsPerUnit",
    "Type",
    "SequenceNumber",
    "AuthID",
)


def _fold(key: str) -> str:
    """Go's case folding for JSON keys (bytes.EqualFold): ASCII case plus the Kelvin sign and
    long s, the only non-ASCII letters that fold onto ASCII ones."""
    return key.lower().replace("\u017f", "s").replace("\u212a", "k")


_KEY_BY_FOLD = {_fold(key): key for key in _KEYS}


def decode_state(blob: bytes) -> RemotePaymentState:
    """Parse state JSON bytes (from us or a Go signer) into a RemotePaymentState.

    Raises SigningRefused(BAD_REQUEST, "invalid state: ...") for invalid UTF-8 or JSON, a blob
    over STATE_JSON_BYTES_MAX bytes, a non-object, unknown/duplicate/missing/null keys, a
    value of the wrong JSON type, or a value out of its Go type's range.
    """
    try:
        return _decode_state(blob)
    except RecursionError as exc:  # deeply nested arrays inside the size limit
        raise SigningRefused(Refusal.BAD_REQUEST, "invalid state: JSON nested too deeply") from exc
    except ValueError as exc:
        raise SigningRefused(Refusal.BAD_REQUEST, f"invalid state: {exc}") from exc


def _decode_state(blob: bytes) -> RemotePaymentState:
    if len(blob) > STATE_JSON_BYTES_MAX:
        raise ValueError(f"{len(blob)} bytes, at most {STATE_JSON_BYTES_MAX} allowed")
    text = blob.decode("utf-8")
    parsed = json.loads(text, object_pairs_hook=_collect_pairs, parse_constant=_refuse_constant)
    if not isinstance(parsed, dict):
        raise ValueError(f"expected a JSON object, got {type(parsed).__name__}")
    values = {_KEY_BY_FOLD[folded]: value for folded, value in parsed.items()}
    missing = [key for key in _KEYS if key not in values]
    if missing:
        raise ValueError(f"missing keys {missing}")
    for key, value in values.items():
        _check_json_type(key, value)
    return RemotePaymentState(
        state_id=values["StateID"],
        pm_session_id=values["PMSessionID"],
        last_update_ns=parse_go_time(values["LastUpdate"]),
        orchestrator_address=_parse_address(values["OrchestratorAddress"]),
        app=values["App"],
        auth_expiry=values["AuthExpiry"],
        sender_nonce=values["SenderNonce"],
        balance=parse_rat_string(values["Balance"]),
        initial_price_per_unit=values["InitialPricePerUnit"],
        initial_pixels_per_unit=values["InitialPixelsPerUnit"],
        type=values["Type"],
        sequence_number=values["SequenceNumber"],
        auth_id=values["AuthID"],
    )


def _collect_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Every JSON object keyed by folded key; a nested object fails here or at the type check."""
    collected: dict[str, Any] = {}
    for key, value in pairs:
        folded = _fold(key)
        if folded not in _KEY_BY_FOLD:
            raise ValueError(f"unknown key {key!r}; expected {list(_KEYS)}")
        if folded in collected:
            raise ValueError(f"duplicate key {key!r} (keys match case-insensitively)")
        collected[folded] = value
    return collected


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _check_json_type(key: str, value: object) -> None:
    if key in _STRING_KEYS:
        if not isinstance(value, str):
            raise ValueError(f"{key} must be a JSON string, got {_json_type(value)}")
        go_json_string(value)
    elif type(value) is not int:
        raise ValueError(f"{key} must be a JSON integer, got {_json_type(value)}")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return f"the non-integer number {value!r}"
    return {str: "a string", int: "an integer", dict: "an object", list: "an array"}[type(value)]


def _parse_address(text: str) -> bytes:
    # Go's common.Address takes 0x + 40 hex digits of either case and writes lowercase.
    if not _ADDRESS_RE.fullmatch(text):
        raise ValueError(f"OrchestratorAddress must be 0x + 40 hex digits, got {text!r}")
    return bytes.fromhex(text[2:])


def open_state(blob: bytes, signature: bytes, signer_address: bytes) -> RemotePaymentState:
    """Check that ``signature`` is our personal-sign over ``blob``, then decode the blob.

    Raises
    SigningRefused(BAD_REQUEST, "invalid sig: ...") when the signature is malformed or by
    another key, and decode_state's errors for a bad blob.
    """
    if len(blob) > STATE_JSON_BYTES_MAX:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"invalid state: {len(blob)} bytes, at most {STATE_JSON_BYTES_MAX} allowed",
        )
    try:
        recovered = pm.recover_personal_signer(blob, signature)
    except ValueError as exc:
        raise SigningRefused(Refusal.BAD_REQUEST, f"invalid sig: {exc}") from exc
    if recovered != signer_address:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"invalid sig: signed by 0x{recovered.hex()}, "
            f"expected our address 0x{signer_address.hex()}",
        )
    return decode_state(blob)
