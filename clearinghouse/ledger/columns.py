"""Column types that keep money exact and time in UTC on both SQLite and PostgreSQL.

- ``ExactInteger(digits)``: NUMERIC(digits, 0) on PostgreSQL. On SQLite a NUMERIC column
  silently turns integers beyond 64 bits into 15-digit REALs, so there the value is stored as
  decimal TEXT (VARCHAR affinity) and never compared or summed in SQL.
- ``FixedBytes(length)``: bytes whose length is checked before they reach the database.
- ``UtcDateTime``: timezone-aware datetimes only, stored and returned in UTC.

Bad values raise ``InvalidLedgerInput`` naming the expected and the actual value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, LargeBinary, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

from clearinghouse.errors import InvalidLedgerInput


class ExactInteger(TypeDecorator[int]):
    """An integer of at most ``digits`` decimal digits (sign excluded), stored exactly."""

    impl = Numeric
    cache_ok = True

    def __init__(self, digits: int) -> None:
        super().__init__()
        self.digits = digits

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.digits + 1))
        return dialect.type_descriptor(Numeric(self.digits, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> object:
        if value is None:
            return None
        if type(value) is not int:
            raise InvalidLedgerInput(f"expected an int, got {type(value).__name__} {value!r}")
        if abs(value) >= 10**self.digits:
            raise InvalidLedgerInput(
                f"expected at most {self.digits} decimal digits, got {len(str(abs(value)))}"
            )
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: object, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, int):
            return value
        if isinstance(value, Decimal | str):
            return int(value)
        raise InvalidLedgerInput(f"expected a stored integer, got {type(value).__name__}")


class FixedBytes(TypeDecorator[bytes]):
    """Bytes of exactly ``length`` bytes (addresses, hashes, digests)."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__()
        self.length = length

    def process_bind_param(self, value: bytes | None, dialect: Dialect) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, bytes):
            raise InvalidLedgerInput(f"expected bytes, got {type(value).__name__}")
        if len(value) != self.length:
            raise InvalidLedgerInput(f"expected {self.length} bytes, got {len(value)}")
        return value

    def process_result_value(self, value: object, dialect: Dialect) -> bytes | None:
        return None if value is None else bytes(value)  # type: ignore[call-overload]


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, converted to UTC; SQLite keeps it as naive UTC text."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidLedgerInput(f"expected a timezone-aware datetime, got {value!r}")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
