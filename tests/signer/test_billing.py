"""Billing units per type with first-call preloads, price ceilings, fee, EV, ticket count."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clearinghouse.signer import Refusal, SigningRefused
from clearinghouse.signer.billing import (
    MaxPrice,
    PriceCeiling,
    billable_units,
    check_price,
    fee_wei,
    parse_billing_type,
    parse_max_price,
    tickets_needed,
)
from clearinghouse.domain.sessions import BillingType

S = 1_000_000_000
T0 = 1_700_000_000 * S
LV2V_PIXELS_PER_S = 1280 * 720 * 30


@pytest.mark.parametrize(
    ("billing_type", "units"),
    [
        (BillingType.LV2V, 60 * LV2V_PIXELS_PER_S),
        (BillingType.LIVE, 10),
        (BillingType.FIXED, 1),
        (BillingType.PIXELS, 777),
    ],
)
def test_first_call_preloads(billing_type: BillingType, units: int) -> None:
    assert billable_units(billing_type, None, T0, in_pixels=777) == units


@pytest.mark.parametrize("elapsed_ns", [0, -5 * S])
def test_no_elapsed_time_bills_the_preload_like_go_livepeer(elapsed_ns: int) -> None:
    assert billable_units(BillingType.LIVE, T0, T0 + elapsed_ns, 0) == 10
    assert billable_units(BillingType.LV2V, T0, T0 + elapsed_ns, 0) == 60 * LV2V_PIXELS_PER_S


@pytest.mark.parametrize(
    ("elapsed_ns", "units"), [(1, 1), (S, 1), (S + 1, 2), (12 * S, 12), (12 * S + 300_000_000, 13)]
)
def test_live_bills_whole_seconds_rounded_up(elapsed_ns: int, units: int) -> None:
    assert billable_units(BillingType.LIVE, T0, T0 + elapsed_ns, 0) == units


@pytest.mark.parametrize(
    ("elapsed_ns", "units"),
    [
        (5 * S, 5 * LV2V_PIXELS_PER_S),
        (S // 10, LV2V_PIXELS_PER_S // 10),
        (37, 1),
        (S + 1, LV2V_PIXELS_PER_S),
    ],
)
def test_lv2v_bills_720p30_pixels_truncated(elapsed_ns: int, units: int) -> None:
    assert billable_units(BillingType.LV2V, T0, T0 + elapsed_ns, 0) == units


def test_fixed_bills_one_unit_whatever_the_time() -> None:
    assert billable_units(BillingType.FIXED, T0, T0 + 3600 * S, in_pixels=99) == 1


def test_pixels_type_bills_in_pixels_and_ignores_time() -> None:
    assert billable_units(BillingType.PIXELS, T0, T0 + 3600 * S, in_pixels=1234) == 1234


@pytest.mark.parametrize(
    ("in_pixels", "message"),
    [
        (0, "missing billable unit or job type: 0 inPixels units"),
        (-1, "missing billable unit or job type: -1 inPixels units"),
        (2**63, "inPixels must fit int64"),
    ],
)
def test_pixels_type_needs_positive_int64_in_pixels(in_pixels: int, message: str) -> None:
    with pytest.raises(SigningRefused, match=message) as refused:
        billable_units(BillingType.PIXELS, None, T0, in_pixels)
    assert refused.value.reason is Refusal.BAD_REQUEST


def test_lv2v_call_worth_no_whole_pixel_is_a_bad_request() -> None:
    with pytest.raises(SigningRefused, match="missing billable unit or job type: 0 lv2v units"):
        billable_units(BillingType.LV2V, T0, T0 + 1, 0)


@pytest.mark.parametrize("text", ["LIVE", "usage", "lv2v ", "pixels"])
def test_unknown_billing_type_is_a_bad_request(text: str) -> None:
    with pytest.raises(SigningRefused, match="invalid job type") as refused:
        parse_billing_type(text)
    assert refused.value.reason is Refusal.BAD_REQUEST


@pytest.mark.parametrize(
    ("price", "currency", "unit", "billing_type", "expected"),
    [
        ("3", "wei", "seconds", BillingType.LIVE, Fraction(3)),
        (" 0.25 ", "WEI", " Seconds", BillingType.LIVE, Fraction(1, 4)),
        ("1e-3", "wei", "720p-pixel-seconds", BillingType.LV2V, Fraction(1, 1000)),
        ("1000000", "wei", "fixed", BillingType.FIXED, Fraction(10**6)),
    ],
)
def test_parse_max_price(
    price: str, currency: str, unit: str, billing_type: BillingType, expected: Fraction
) -> None:
    assert parse_max_price(MaxPrice(price, currency, unit), billing_type) == expected


@pytest.mark.parametrize(
    ("max_price", "billing_type", "message"),
    [
        (MaxPrice("0", "wei", "seconds"), BillingType.LIVE, "positive decimal"),
        (MaxPrice("-1", "wei", "seconds"), BillingType.LIVE, "positive decimal"),
        (MaxPrice("1/2", "wei", "seconds"), BillingType.LIVE, "positive decimal"),
        (MaxPrice("NaN", "wei", "seconds"), BillingType.LIVE, "positive decimal"),
        (MaxPrice("1e99999", "wei", "seconds"), BillingType.LIVE, "positive decimal"),
        (MaxPrice("3", "gwei", "seconds"), BillingType.LIVE, 'currency must be "wei"'),
        (
            MaxPrice("3", "wei", "seconds"),
            BillingType.LV2V,
            "unit must be 720p-pixel-seconds for payment type lv2v",
        ),
        (MaxPrice("3", "wei", "seconds"), BillingType.FIXED, "unit must be fixed"),
        (
            MaxPrice("3", "wei", "pixels"),
            BillingType.PIXELS,
            "requires payment type live, lv2v or fixed",
        ),
    ],
)
def test_bad_max_price_is_a_bad_request(
    max_price: MaxPrice, billing_type: BillingType, message: str
) -> None:
    with pytest.raises(SigningRefused, match=message) as refused:
        parse_max_price(max_price, billing_type)
    assert refused.value.reason is Refusal.BAD_REQUEST


def test_price_at_the_ceiling_passes_and_above_it_is_refused_naming_the_tightest() -> None:
    ceilings = [
        PriceCeiling("configured maximum price", Fraction(5)),
        PriceCeiling("request maxPrice", Fraction(3)),
    ]
    check_price(Fraction(3), ceilings)
    with pytest.raises(SigningRefused, match="exceeds request maxPrice ceiling 3.000") as refused:
        check_price(Fraction(301, 100), ceilings)
    assert refused.value.reason is Refusal.PRICE_EXCEEDED


def test_fee_is_exact_at_the_initial_price() -> None:
    assert fee_wei(3, 1, 10) == 30
    assert fee_wei(1, 3, 10) == Fraction(10, 3)
    assert fee_wei(7, 1_000_000, LV2V_PIXELS_PER_S * 60) == Fraction(
        7 * LV2V_PIXELS_PER_S * 60, 1_000_000
    )


@pytest.mark.parametrize(
    ("balance", "fee", "ev", "count"),
    [
        (Fraction(0), Fraction(30), Fraction(35), 1),
        (Fraction(5), Fraction(36), Fraction(35), 1),
        (Fraction(35), Fraction(30), Fraction(35), 0),
        (Fraction(0), Fraction(70), Fraction(35), 2),
        (Fraction(0), Fraction(71), Fraction(35), 3),
        (Fraction(-100), Fraction(10), Fraction(35), 4),
        (Fraction(0), Fraction(10), Fraction(0), 0),
    ],
)
def test_tickets_needed(balance: Fraction, fee: Fraction, ev: Fraction, count: int) -> None:
    assert tickets_needed(balance, fee, ev) == count


@given(
    st.fractions(min_value=-(10**6), max_value=10**6),
    st.fractions(min_value=0, max_value=10**6),
    st.fractions(min_value=Fraction(1, 10**6), max_value=10**6),
)
def test_tickets_needed_is_the_least_count_covering_max_fee_ev(
    balance: Fraction, fee: Fraction, ev: Fraction
) -> None:
    count = tickets_needed(balance, fee, ev)
    target = max(fee, ev)
    assert balance + count * ev >= target
    if count > 0:
        assert balance + (count - 1) * ev < target
