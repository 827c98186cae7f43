"""Checks of a value's fields when it is constructed: type, range, length.

Each raises ``InvalidLedgerInput`` (also a ValueError) naming the field, what was expected and
what was given, so a bad value is refused before it reaches a database column.
"""

from __future__ import annotations

from clearinghouse.errors import InvalidLedgerInput


def check_text(name: str, value: str, length_max: int) -> None:
    """Raise ``InvalidLedgerInput`` unless ``value`` is a str of 1..``length_max`` characters."""
    check_str(name, value, length_max, empty_ok=False)


def check_str(
    name: str, value: str | None, length_max: int, *, empty_ok: bool = True, none_ok: bool = False
) -> None:
    """Raise ``InvalidLedgerInput`` unless ``value`` is a str of at most ``length_max`` characters
    (at least one unless ``empty_ok``), or None when ``none_ok``."""
    if value is None and none_ok:
        return
    if not isinstance(value, str):
        raise InvalidLedgerInput(f"{name}: expected a str, got {type(value).__name__}")
    length_min = 0 if empty_ok else 1
    if not length_min <= len(value) <= length_max:
        raise InvalidLedgerInput(
            f"{name}: expected {length_min}..{length_max} characters, got {len(value)}"
        )


def check_int(name: str, value: int, low: int, high: int) -> None:
    """Raise ``InvalidLedgerInput`` unless ``value`` is an int (not a bool) in [``low``, ``high``]."""
    if type(value) is not int or not low <= value <= high:
        raise InvalidLedgerInput(f"{name}: expected an int in [{low}, {high}], got {value!r}")


def check_bytes(name: str, value: object, length: int) -> None:
    """Raise ``InvalidLedgerInput`` unless ``value`` is bytes of exactly ``length``."""
    if not isinstance(value, bytes) or len(value) != length:
        raise InvalidLedgerInput(f"{name}: expected {length} bytes, got {value!r}")
