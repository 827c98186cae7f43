"""Billing arithmetic of the remote signer: units, price ceilings, fee, EV and ticket count.

All money is exact: wei amounts are ints or Fractions, never floats. Where go-livepeer uses
float64 seconds (lv2v pixels, live seconds) we compute the same quantity exactly from integer
nanoseconds; the result can differ from Go's only where Go's float rounding is off by one.

Billing types (the request's ``type``):

| type    | unit                  | units per call                        | first call   |
|---------|-----------------------|---------------------------------------|--------------|
| "lv2v"  | 720p30 pixel          | floor(1280 × 720 × 30 × seconds)      | 60 s         |
| "live"  | second                | ceil(seconds)                         | 10 s         |
| "fixed" | call                  | 1                                     | 1            |
| ""      | pixel (caller counts) | the request's inPixels (must be > 0)  | inPixels     |

"seconds" is the time since the state's LastUpdate on our clock. Like go-livepeer, a call with
no LastUpdate, or whose LastUpdate is not before ``now``, bills the first-call preload, and a
call worth no whole unit (lv2v less than ~36 ns after the last one) is a bad request.

**The wall clock jumping** (NTP step, VM resume, an operator's `date`) is a case spec 02 does not
mention; we keep go-livepeer's rule (server/remote_signer.go: ``billableSecs <= 0`` bills the
preload, and the new state's LastUpdate is ``now``), because it is the one with a bounded error:

- **Backwards** (``now`` before LastUpdate): the real time since the last call is unknowable, so
  the call bills the preload once (never a negative or zero amount), and LastUpdate becomes
  ``now``; later calls bill the real time between them again. Over-billing is at most one
  preload per jump. The alternatives are worse: keeping LastUpdate monotonic and billing 0 until
  the clock catches up leaves the real time of the whole jump unbilled (and the orchestrator's
  balance running dry meanwhile); monotonic with the preload bills a preload on every call of
  that window.
- **Forwards**: the jump is billed as elapsed time (indistinguishable from a long pause); a jump
  that would need more tickets than a call may carry is refused by the ticket limits
  (TOO_MANY_TICKETS, TOTAL_EV_EXCEEDED), never signed, and the gateway starts a new session.

So units are always > 0 and every fee is positive (tests/signer/test_clock.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.domain.sessions import BillingType
from clearinghouse.signer.goformat import NS_PER_S, float_string
from clearinghouse.signer.limits import (
    LIVE_PRELOAD_S,
    LV2V_PIXELS_PER_S,
    LV2V_PRELOAD_S,
    MAX_PRICE_EXPONENT_DIGITS_MAX,
    MAX_PRICE_TEXT_LENGTH_MAX,
)

INT64_MAX = 2**63 - 1
_DECIMAL_RE = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


MAX_PRICE_UNITS = {
    BillingType.LIVE: "seconds",
    BillingType.LV2V: "720p-pixel-seconds",
    BillingType.FIXED: "fixed",
}


@dataclass(frozen=True, slots=True)
class MaxPrice:
    """The request's optional ``maxPrice`` as sent: price text, currency and unit."""

    price: str
    currency: str
    unit: str


def parse_billing_type(text: str) -> BillingType:
    """The BillingType named by ``text``; SigningRefused(BAD_REQUEST) for any other text."""
    try:
        return BillingType(text)
    except ValueError:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f'invalid job type: expected "", "lv2v", "live" or "fixed", got {text!r}',
        ) from None


def billable_units(
    billing_type: BillingType, last_update_ns: int | None, now_ns: int, in_pixels: int
) -> int:
    """Units this call pays for (table in the module docstring); always > 0.

    Raises SigningRefused(BAD_REQUEST) when the count is not positive (for "" when
    ``in_pixels`` <= 0) or ``in_pixels`` does not fit Go's int64.
    """
    if not -INT64_MAX - 1 <= in_pixels <= INT64_MAX:
        raise SigningRefused(Refusal.BAD_REQUEST, f"inPixels must fit int64, got {in_pixels}")
    units = _units(billing_type, last_update_ns, now_ns, in_pixels)
    if units <= 0:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"missing billable unit or job type: {units} {billing_type.value or 'inPixels'} units",
        )
    return units


def _units(
    billing_type: BillingType, last_update_ns: int | None, now_ns: int, in_pixels: int
) -> int:
    # Negative when the clock went back: billed as the preload below, like go-livepeer
    # (module docstring, "The wall clock jumping").
    elapsed_ns = 0 if last_update_ns is None else now_ns - last_update_ns
    if billing_type is BillingType.LV2V:
        if elapsed_ns <= 0:
            elapsed_ns = LV2V_PRELOAD_S * NS_PER_S
        return LV2V_PIXELS_PER_S * elapsed_ns // NS_PER_S
    if billing_type is BillingType.LIVE:
        if elapsed_ns <= 0:
            elapsed_ns = LIVE_PRELOAD_S * NS_PER_S
        return -(-elapsed_ns // NS_PER_S)
    if billing_type is BillingType.FIXED:
        return 1
    return in_pixels


def parse_max_price(max_price: MaxPrice, billing_type: BillingType) -> Fraction:
    """The request's price ceiling in wei per unit.

    ``price`` is a positive JSON-style decimal ("3", "0.25", "1e-3") of at most
    MAX_PRICE_TEXT_LENGTH_MAX characters; ``currency`` must be "wei" and ``unit`` must match the
    billing type (MAX_PRICE_UNITS), both case-insensitive and trimmed as in go-livepeer. Raises
    SigningRefused(BAD_REQUEST) saying which is wrong.
    """
    text = max_price.price.strip()
    if len(text) > MAX_PRICE_TEXT_LENGTH_MAX:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"maxPrice.price is {len(text)} characters long, at most {MAX_PRICE_TEXT_LENGTH_MAX} allowed",
        )
    if not _DECIMAL_RE.fullmatch(text) or _exponent_too_long(text):
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"maxPrice.price must be a positive decimal, got {max_price.price!r}",
        )
    price = Fraction(text)
    if price <= 0:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"maxPrice.price must be a positive decimal, got {max_price.price!r}",
        )
    if max_price.currency.strip().lower() != "wei":
        raise SigningRefused(
            Refusal.BAD_REQUEST, f'maxPrice.currency must be "wei", got {max_price.currency!r}'
        )
    expected_unit = MAX_PRICE_UNITS.get(billing_type)
    if expected_unit is None:
        raise SigningRefused(
            Refusal.BAD_REQUEST, 'maxPrice requires payment type live, lv2v or fixed, got type ""'
        )
    if max_price.unit.strip().lower() != expected_unit:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"maxPrice.unit must be {expected_unit} for payment type {billing_type.value}, "
            f"got {max_price.unit!r}",
        )
    return price


def _exponent_too_long(text: str) -> bool:
    _, _, exponent = text.lower().partition("e")
    return len(exponent.lstrip("+-")) > MAX_PRICE_EXPONENT_DIGITS_MAX


@dataclass(frozen=True, slots=True)
class PriceCeiling:
    """One upper bound on the orchestrator's price and where it comes from (for the message)."""

    source: str
    price: Fraction


def check_price(orchestrator_price: Fraction, ceilings: list[PriceCeiling]) -> None:
    """Refuse when the price is above the lowest ceiling (ties go to the first listed).

    Raises SigningRefused(PRICE_EXCEEDED) naming the price, the ceiling and its source.
    """
    if not ceilings:
        return
    tightest = min(ceilings, key=lambda ceiling: ceiling.price)
    if orchestrator_price > tightest.price:
        raise SigningRefused(
            Refusal.PRICE_EXCEEDED,
            f"orchestrator price {float_string(orchestrator_price, 3)} exceeds {tightest.source} "
            f"ceiling {float_string(tightest.price, 3)} (wei per unit)",
        )


def fee_wei(price_per_unit: int, pixels_per_unit: int, units: int) -> Fraction:
    """What ``units`` cost at pricePerUnit / pixelsPerUnit wei per unit, exactly."""
    return Fraction(price_per_unit, pixels_per_unit) * units


def tickets_needed(balance_wei: Fraction, fee: Fraction, ev: Fraction) -> int:
    """Tickets that lift the balance to at least max(fee, EV); 0 when it already is.

    The orchestrator wants a balance of at least one ticket's EV, hence the floor at EV.
    A zero EV buys nothing, so it needs no tickets (go-livepeer answers 482 then too).
    """
    min_credit = max(fee, ev)
    if balance_wei >= min_credit or ev == 0:
        return 0
    gap = (min_credit - balance_wei) / ev
    return -(-gap.numerator // gap.denominator)
