"""The checks the repository modules make of what they are given, written once: timezone-aware
times, the audit pair (actor, reason), exact non-negative amounts, ISO 4217 currency codes, and
that a gateway exists. Each raises ``InvalidLedgerInput`` (``NotFound`` for a missing gateway)
naming the field and what it got.
"""

from __future__ import annotations

import re
from datetime import datetime
from fractions import Fraction

from sqlalchemy import Connection, select

from clearinghouse.ledger import limits
from clearinghouse.domain.limits import ACTOR_LENGTH_MAX, REASON_LENGTH_MAX
from clearinghouse.ledger.errors import NotFound
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.models import GatewayRow, table
from clearinghouse.domain.fields import check_text

_CURRENCY = re.compile(r"[A-Z]{3}")
_GATEWAYS = table(GatewayRow)


def check_aware(name: str, value: datetime) -> None:
    """InvalidLedgerInput unless ``value`` is a timezone-aware datetime: a naive one would be
    read in whatever zone the host runs in."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidLedgerInput(f"{name} must be a timezone-aware datetime, got {value!r}")


def check_audit(actor: str, reason: str) -> None:
    """InvalidLedgerInput unless who made a change and why are non-empty text within their columns."""
    check_text("actor", actor, ACTOR_LENGTH_MAX)
    check_text("reason", reason, REASON_LENGTH_MAX)


def check_exact_amount(name: str, value: Fraction) -> None:
    """InvalidLedgerInput unless ``value`` is an exact int or Fraction >= 0 that fits the
    rational columns (RATIONAL_DIGITS_MAX)."""
    # Money is exact: a float here would already have rounded an amount somewhere upstream.
    if isinstance(value, bool) or not isinstance(value, int | Fraction) or value < 0:
        raise InvalidLedgerInput(f"{name} must be an exact int or Fraction >= 0, got {value!r}")
    value = Fraction(value)
    if max(abs(value.numerator), value.denominator) >= 10**limits.RATIONAL_DIGITS_MAX:
        raise InvalidLedgerInput(f"{name} has over {limits.RATIONAL_DIGITS_MAX} digits")


def check_currency(currency: str) -> None:
    """InvalidLedgerInput unless ``currency`` is three capital letters (an ISO 4217 code)."""
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise InvalidLedgerInput(f"currency must be an ISO 4217 code like EUR, got {currency!r:.20}")


def check_gateway(connection: Connection, gateway_id: int, *, lock: bool = False) -> None:
    """NotFound unless gateway ``gateway_id`` exists; with ``lock``, its row stays locked until
    the transaction ends (PostgreSQL), so two writers for one gateway see each other."""
    statement = select(_GATEWAYS.c.id).where(_GATEWAYS.c.id == gateway_id)
    if connection.execute(statement.with_for_update() if lock else statement).first() is None:
        raise NotFound(f"no gateway with id {gateway_id}")
