"""Invoice drafts: golden invoices computed by hand, the rounding rule and its adjustment line,
plans, FX, grouping, refusals, and properties over random ledgers (totals are exactly Σ buckets
× rates; a period split in two adds up to the whole)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clearinghouse.billing.invoices import (
    BPS_PER_UNIT,
    WEI_PER_ETH,
    Adjustment,
    FreePlan,
    FxRate,
    InvoiceDraft,
    InvoiceError,
    InvoiceLine,
    InvoiceRate,
    LineGrouping,
    LineKind,
    Plan,
    SubscriptionPlan,
    UsageBasedPlan,
    UsageBucket,
    draft_invoice,
    to_minor_units,
)
from clearinghouse.billing.money_text import decimal_text, minor_units_text
from clearinghouse.domain.limits import MARKUP_BPS_MAX
from clearinghouse.errors import InvariantViolation

START = datetime(2026, 5, 1, tzinfo=UTC)
END = datetime(2026, 6, 1, tzinfo=UTC)
O1 = bytes.fromhex("11" * 20)
O2 = bytes.fromhex("22" * 20)
RATES = (
    InvoiceRate(1, Fraction(3000), "chainlink", datetime(2026, 5, 10, tzinfo=UTC), round_id=7),
    InvoiceRate(2, Fraction(2500), "manual", datetime(2026, 5, 20, tzinfo=UTC)),
)
# USD at 3,000 and 2,500 per ETH: A = 3.00, B = 5.00 (one line together), C = 1.005 (a tie),
# D = 5/6 with no pipeline or model (the last line).
LV2V = ("live-video-to-video", "streamdiffusion")
A = UsageBucket(*LV2V, "app-a", O1, 1, 10, 20, 1000, Fraction(10**15), Fraction(11 * 10**14))
B = UsageBucket(*LV2V, "app-b", O2, 2, 5, 6, 500, Fraction(2 * 10**15), Fraction(2 * 10**15))
C = UsageBucket("text-to-image", "sdxl", "app-a", O1, 1, 1, 1, 1, Fraction(335 * 10**12), Fraction(4 * 10**14))
D = UsageBucket(None, None, None, None, 2, 2, 2, 0, Fraction(10**15, 3), Fraction(10**15, 3))
BUCKETS = (A, B, C, D)
USAGE_USD = Fraction(8) + Fraction(201, 200) + Fraction(5, 6)  # 5903/600
PLAN = UsageBasedPlan("USD", markup_bps=250, fixed_fee=Fraction(10))
CREDIT = Adjustment("Service credit, May outage", Fraction(-3, 2), "USD", reference="CN-1")
FX_EUR = FxRate("EUR", Fraction(9, 10), "ECB", datetime(2026, 5, 29, tzinfo=UTC))


def golden_draft(**changes: object) -> InvoiceDraft:
    """The hand-computed invoice of gateway 7 for May 2026; keyword arguments override inputs."""
    arguments: dict[str, object] = {
        "gateway_id": 7,
        "period_start": START,
        "period_end": END,
        "currency": "USD",
        "plan": PLAN,
        "buckets": BUCKETS,
        "rates": RATES,
        "adjustments": (CREDIT,),
    }
    return draft_invoice(**(arguments | changes))  # type: ignore[arg-type]


def shown(draft: InvoiceDraft) -> list[tuple[LineKind, str, int]]:
    return [(line.kind, line.description, line.amount_minor) for line in draft.lines]


def test_golden_usage_based_invoice() -> None:
    draft = golden_draft()
    assert shown(draft) == [
        (LineKind.USAGE, "live-video-to-video / streamdiffusion", 800),
        (LineKind.USAGE, "text-to-image / sdxl", 100),  # 100.5 cents, half to even: 100
        (LineKind.USAGE, "Usage (pipeline and model not reported)", 83),
        (LineKind.MARKUP, "Markup 2.5 % on usage", 25),
        (LineKind.FIXED_FEE, "Fixed fee for the period", 1000),
        (LineKind.ADJUSTMENT, "Service credit, May outage", -150),
    ]
    first = draft.lines[0]
    key = (first.pipeline, first.model_id, first.app, first.orchestrator)
    assert key == ("live-video-to-video", "streamdiffusion", None, None)
    assert (first.calls, first.tickets, first.units) == (15, 26, 1500)
    assert (first.ev_wei, first.fee_wei, first.amount) == (Fraction(3 * 10**15), Fraction(31 * 10**14), Fraction(8))
    assert [line.amount for line in draft.lines] == [
        8, Fraction(201, 200), Fraction(5, 6), Fraction(5903, 24000), 10, Fraction(-3, 2)
    ]
    assert draft.lines[-1].reference == "CN-1"
    assert draft.total == Fraction(446023, 24000)  # 18.584291…
    assert draft.total_minor == 1858
    assert (draft.currency, draft.minor_unit_exponent, draft.fx) == ("USD", 2, None)
    assert draft.rates == RATES


def test_golden_subscription_in_euros_with_overage() -> None:
    plan = SubscriptionPlan("EUR", fee=Fraction(100), included_usage=Fraction(5), overage_markup_bps=1000)
    draft = golden_draft(currency="EUR", plan=plan, fx=FX_EUR, adjustments=())
    assert shown(draft) == [
        (LineKind.SUBSCRIPTION, "Subscription fee for the period", 10000),
        (LineKind.USAGE, "live-video-to-video / streamdiffusion", 720),
        (LineKind.USAGE, "text-to-image / sdxl", 90),  # 90.45 cents
        (LineKind.USAGE, "Usage (pipeline and model not reported)", 75),
        (LineKind.ALLOWANCE, "Usage included in the subscription (up to EUR 5.00)", -500),
        (LineKind.MARKUP, "Markup 10 % on usage beyond the included amount", 39),  # 38.545 cents
    ]
    # Usage 8.8545 EUR; the 3.8545 beyond the allowance is billed at cost × 1.1.
    assert draft.total == 100 + Fraction("3.8545") * Fraction(11, 10) == Fraction("104.23995")
    assert draft.total_minor == 10424
    assert draft.fx == FX_EUR


def test_subscription_usage_within_the_allowance_costs_the_fee() -> None:
    plan = SubscriptionPlan("USD", fee=Fraction("49.90"), included_usage=Fraction(20), overage_markup_bps=1000)
    draft = golden_draft(plan=plan, adjustments=())
    kinds = [LineKind.SUBSCRIPTION, *[LineKind.USAGE] * 3, LineKind.ALLOWANCE, LineKind.ROUNDING]
    assert [line.kind for line in draft.lines] == kinds
    # Usage shows 8.00 + 1.00 + 0.83 = 9.83, but the allowance against its exact 9.8383… shows
    # -9.84: the lines add up to 49.89, and the rounding line restores the total, 49.90.
    assert [line.amount_minor for line in draft.lines] == [4990, 800, 100, 83, -984, 1]
    assert draft.lines[-2].amount == -USAGE_USD
    assert draft.total == Fraction("49.90") and draft.total_minor == 4990


def test_free_plan_bills_nothing_and_needs_no_rates() -> None:
    unpriced = replace(A, rate_snapshot_id=None)
    draft = golden_draft(plan=FreePlan(), buckets=(unpriced,), rates=(), adjustments=())
    assert draft.lines == () and draft.rates == ()
    assert draft.total == 0 and draft.total_minor == 0
    charged = golden_draft(plan=FreePlan(), adjustments=(Adjustment("Support hours", Fraction(25), "USD"),))
    assert shown(charged) == [(LineKind.ADJUSTMENT, "Support hours", 2500)]


def test_zero_yen_invoice_has_no_minor_unit() -> None:
    fx = FxRate("JPY", Fraction("151.37"), "BoJ", datetime(2026, 5, 29, tzinfo=UTC))
    draft = golden_draft(currency="JPY", fx=fx, plan=UsageBasedPlan("JPY"), adjustments=())
    assert draft.minor_unit_exponent == 0
    assert draft.total == USAGE_USD * Fraction("151.37")  # 1489.22…
    assert draft.total_minor == 1489
    assert [line.amount_minor for line in draft.lines] == [1211, 152, 126]  # 1210.96, 152.127, 126.142


def test_rounding_line_appears_when_lines_do_not_add_up() -> None:
    # Three lines of exactly half a cent: each shows 0.00, the total 0.015 rounds to 0.02.
    half_cent_wei = Fraction(5 * 10**12, 3)  # at 3,000 USD/ETH
    buckets = [UsageBucket(f"p{i}", "m", None, None, 1, 1, 1, 1, half_cent_wei, Fraction(0)) for i in range(3)]
    draft = golden_draft(buckets=buckets, plan=UsageBasedPlan("USD"), adjustments=())
    assert [line.amount_minor for line in draft.lines] == [0, 0, 0, 2]
    rounding = draft.lines[-1]
    assert rounding.kind is LineKind.ROUNDING and rounding.amount == 0
    assert draft.total == Fraction(3, 200) and draft.total_minor == 2
    # Two of them: each shows 0.00, the total is exactly 0.01.
    two = golden_draft(buckets=buckets[:2], plan=UsageBasedPlan("USD"), adjustments=())
    assert [line.amount_minor for line in two.lines] == [0, 0, 1]
    # One: 0.5 cent rounds to 0 both per line and in total, so no rounding line.
    one = golden_draft(buckets=buckets[:1], plan=UsageBasedPlan("USD"), adjustments=())
    assert [line.kind for line in one.lines] == [LineKind.USAGE] and one.total_minor == 0


def test_rounding_is_half_to_even() -> None:
    assert [to_minor_units(Fraction(cents, 1000), 2) for cents in (5, 15, 25, -5, -15, 1005, 1006)] == [
        0, 2, 2, 0, -2, 100, 101
    ]
    assert to_minor_units(Fraction(5, 2), 0) == 2 and to_minor_units(Fraction(7, 2), 0) == 4


def test_grouping_by_app_and_by_orchestrator() -> None:
    by_app = golden_draft(grouping=LineGrouping.APP, adjustments=())
    assert [line.description for line in by_app.lines if line.kind is LineKind.USAGE] == [
        "live-video-to-video / streamdiffusion, app app-a",
        "live-video-to-video / streamdiffusion, app app-b",
        "text-to-image / sdxl, app app-a",
        "Usage (pipeline and model not reported), app unknown",
    ]
    assert [line.app for line in by_app.lines[:4]] == ["app-a", "app-b", "app-a", None]
    by_orchestrator = golden_draft(grouping=LineGrouping.ORCHESTRATOR, adjustments=())
    usage = [line for line in by_orchestrator.lines if line.kind is LineKind.USAGE]
    assert [line.orchestrator for line in usage] == [O1, O2, O1, None]
    assert usage[1].description == f"live-video-to-video / streamdiffusion, orchestrator 0x{'22' * 20}"
    assert [line.amount_minor for line in usage] == [300, 500, 100, 83]
    assert by_orchestrator.total == golden_draft(adjustments=()).total


def test_grouping_by_end_user() -> None:
    """An app's end users bill under their usage subjects (issue 16): one line per user and
    pipeline/model; the total is the ungrouped invoice's; the JSON round trip keeps the user."""
    from clearinghouse.billing.exports import invoice_json
    from clearinghouse.billing.invoicing import draft_from_json

    users = ("app_x:alice", "app_x:bob", None, "app_x:alice")
    buckets = tuple(replace(bucket, end_user=users[index % 4]) for index, bucket in enumerate(BUCKETS))
    by_user = golden_draft(grouping=LineGrouping.END_USER, buckets=buckets, adjustments=())
    usage = [line for line in by_user.lines if line.kind is LineKind.USAGE]
    assert {line.end_user for line in usage} == {user for user in users[:len(BUCKETS)]}
    assert all(line.description.endswith(f", end user {line.end_user or 'not attributed'}") for line in usage)
    assert by_user.total == golden_draft(buckets=buckets, adjustments=()).total
    assert draft_from_json(invoice_json(by_user)) == by_user
    plain = golden_draft(buckets=buckets, adjustments=())
    assert all(line.end_user is None for line in plain.lines)
    assert b"end_user" not in invoice_json(plain)  # other groupings' documents are as before


def test_line_order_does_not_depend_on_bucket_order() -> None:
    shuffled = list(BUCKETS)
    random.Random(6).shuffle(shuffled)
    assert golden_draft(buckets=tuple(reversed(BUCKETS))) == golden_draft(buckets=shuffled) == golden_draft()


def test_only_the_rates_used_are_listed() -> None:
    spare = InvoiceRate(9, Fraction(1), "manual", START)
    assert golden_draft(buckets=(A,), rates=(*RATES, spare, RATES[0])).rates == (RATES[0],)


def test_period_is_kept_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    draft = golden_draft(period_start=START.astimezone(plus_two), period_end=END.astimezone(plus_two))
    assert draft.period_start.tzinfo is UTC and draft.period_start == START
    assert draft == golden_draft()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"period_end": START}, "start < end"),
        ({"period_start": END + timedelta(days=1)}, "start < end"),
        ({"period_start": datetime(2026, 5, 1)}, "timezone-aware"),
        ({"currency": "XYZ"}, "unknown currency XYZ"),
        ({"currency": "eur"}, "ISO 4217"),
        ({"currency": "EUR"}, "needs an FX rate USD→EUR, got none"),
        ({"fx": FX_EUR}, "invoice is in USD, but an FX rate to EUR"),
        ({"currency": "GBP", "fx": FX_EUR}, "needs an FX rate USD→GBP, got one to EUR"),
        ({"currency": "EUR", "fx": FX_EUR}, "plan is in USD, invoice in EUR"),
        ({"adjustments": (replace(CREDIT, currency="EUR"),)}, "is in EUR, invoice in USD"),
        ({"buckets": (replace(A, rate_snapshot_id=None),)}, "has no ETH/USD rate"),
        ({"buckets": (replace(A, rate_snapshot_id=5),)}, "rate snapshot 5, which was not given"),
        ({"rates": (*RATES, replace(RATES[0], usd_per_eth=Fraction(1)))}, "given twice"),
        ({"gateway_id": -1}, "gateway_id"),
    ],
)
def test_refusals(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvoiceError, match=message):
        golden_draft(**changes)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: replace(A, calls=-1), "calls must be an int >= 0"),
        (lambda: replace(A, tickets=True), "tickets must be an int >= 0"),
        (lambda: replace(A, ev_wei=1.5), "exact int or Fraction, got float"),  # type: ignore[arg-type]
        (lambda: replace(A, fee_wei=Fraction(-1)), "fee_wei must be >= 0"),
        (lambda: replace(A, orchestrator=b"\x01" * 19), "20 bytes"),
        (lambda: replace(A, pipeline=""), "pipeline must be non-blank"),
        (lambda: replace(RATES[0], usd_per_eth=Fraction(0)), "must be > 0"),
        (lambda: replace(RATES[0], valid_at=datetime(2026, 5, 1)), "timezone-aware"),
        (lambda: FxRate("USD", Fraction(1), "x", START), "another currency, got USD"),
        (lambda: replace(FX_EUR, per_usd=0.9), "got float"),  # type: ignore[arg-type]
        (lambda: replace(CREDIT, amount=Fraction(0)), "amount 0"),
        (lambda: replace(CREDIT, description=" "), "description must be non-blank"),
        (lambda: UsageBasedPlan("USD", markup_bps=MARKUP_BPS_MAX + 1), "markup_bps must be an int in"),
        (lambda: UsageBasedPlan("USD", fixed_fee=Fraction(-1)), "fixed_fee must be >= 0"),
        (lambda: SubscriptionPlan("USD", Fraction(10), Fraction(-1)), "included_usage must be >= 0"),
        (lambda: SubscriptionPlan("XXX", Fraction(10), Fraction(0)), "unknown currency"),
    ],
)
def test_values_refuse_bad_fields(build: object, message: str) -> None:
    with pytest.raises(InvoiceError, match=message):
        build()  # type: ignore[operator]


def test_a_draft_whose_lines_do_not_add_up_is_an_invariant_violation() -> None:
    draft = golden_draft()
    with pytest.raises(InvariantViolation):
        replace(draft, total=draft.total + 1)
    with pytest.raises(InvariantViolation):
        replace(draft, total_minor=draft.total_minor + 1)
    extra = InvoiceLine(LineKind.ROUNDING, "Rounding adjustment", Fraction(0), 1)
    with pytest.raises(InvariantViolation):
        replace(draft, lines=(*draft.lines, extra))


def test_text_forms() -> None:
    assert [decimal_text(Fraction(v)) for v in ("3012.3456789", "-0.5", "7", "0.05")] == [
        "3012.3456789", "-0.5", "7", "0.05"
    ]
    assert decimal_text(Fraction(1, 3)) == "1/3"
    assert minor_units_text(123456, 2) == "1234.56"
    assert minor_units_text(-123456789, 2, thousands=True) == "-1,234,567.89"
    assert minor_units_text(-5, 2) == "-0.05" and minor_units_text(1234, 0, thousands=True) == "1,234"


# Properties over random ledgers.

RATE_IDS = (1, 2, 3)
EV_DENOMINATORS = (1, 3, 2**256 - 1)  # whole wei, a thirds-split, and a real EV's denominator

# Hypothesis favours small numbers; a second, realistic range (0.0001 to 10 ETH; 100 to 10,000
# USD/ETH) makes lines of many cents, whose roundings disagree often enough to need the line.
wei_strategy = st.integers(0, 10**21) | st.integers(10**14, 10**19)
usd_per_eth_strategy = (st.integers(1, 10**13) | st.integers(10**10, 10**12)).map(lambda n: Fraction(n, 10**8))
exact_wei_strategy = st.builds(
    lambda whole, part, denominator: whole + Fraction(part % denominator, denominator),
    wei_strategy, st.integers(0, 2**256), st.sampled_from(EV_DENOMINATORS),
)
rates_strategy = st.tuples(
    *[st.builds(InvoiceRate, st.just(i), usd_per_eth_strategy, st.just("manual"), st.just(START)) for i in RATE_IDS]
)
bucket_strategy = st.builds(
    UsageBucket,
    pipeline=st.sampled_from([None, "live-video-to-video", "text-to-image"]),
    model_id=st.sampled_from([None, "a", "b"]),
    app=st.sampled_from([None, "app-a", "app-b"]),
    orchestrator=st.sampled_from([None, O1, O2]),
    rate_snapshot_id=st.sampled_from(RATE_IDS),
    calls=st.integers(0, 10**6),
    tickets=st.integers(0, 10**6),
    units=st.integers(0, 10**12),
    ev_wei=exact_wei_strategy,
    fee_wei=exact_wei_strategy,
)
fx_strategy = st.one_of(
    st.none(), st.integers(1, 10**6).map(lambda n: FxRate("EUR", Fraction(n, 10**4), "ECB", START))
)


def _draft(buckets: list[UsageBucket], rates: tuple[InvoiceRate, ...], fx: FxRate | None, plan: Plan,
           grouping: LineGrouping = LineGrouping.PIPELINE_MODEL) -> InvoiceDraft:
    currency = "USD" if fx is None else fx.currency
    plan = replace(plan, currency=currency) if not isinstance(plan, FreePlan) else plan
    return draft_invoice(gateway_id=1, period_start=START, period_end=END, currency=currency, plan=plan,
                         buckets=buckets, rates=rates, fx=fx, grouping=grouping)


def _check_sums(draft: InvoiceDraft) -> None:
    charged = [line for line in draft.lines if line.kind is not LineKind.ROUNDING]
    assert sum(line.amount for line in draft.lines) == draft.total
    assert sum(line.amount_minor for line in draft.lines) == draft.total_minor == round(draft.total * 100)
    needed = sum(line.amount_minor for line in charged) != draft.total_minor
    rounding = [line for line in draft.lines if line.kind is LineKind.ROUNDING]
    assert len(rounding) == needed
    assert not rounding or (rounding[0] is draft.lines[-1] and rounding[0].amount == 0)


@settings(max_examples=150, deadline=None)
@given(
    buckets=st.lists(bucket_strategy, max_size=12),
    rates=rates_strategy,
    fx=fx_strategy,
    markup_bps=st.integers(0, 5000),
    fixed_cents=st.integers(0, 10**6),
    grouping=st.sampled_from(LineGrouping),
)
def test_total_is_exactly_the_buckets_times_their_rates(
    buckets: list[UsageBucket], rates: tuple[InvoiceRate, ...], fx: FxRate | None, markup_bps: int,
    fixed_cents: int, grouping: LineGrouping,
) -> None:
    plan = UsageBasedPlan("USD", markup_bps=markup_bps, fixed_fee=Fraction(fixed_cents, 100))
    draft = _draft(buckets, rates, fx, plan, grouping)
    per_usd = 1 if fx is None else fx.per_usd
    usd = sum((b.ev_wei * rates[RATE_IDS.index(b.rate_snapshot_id or 0)].usd_per_eth for b in buckets), Fraction(0))
    usage = usd / WEI_PER_ETH * per_usd
    assert draft.total == usage * (1 + Fraction(markup_bps, BPS_PER_UNIT)) + Fraction(fixed_cents, 100)
    usage_lines = [line for line in draft.lines if line.kind is LineKind.USAGE]
    assert sum(line.amount for line in usage_lines) == usage
    assert sum(line.calls for line in usage_lines) == sum(b.calls for b in buckets)
    assert sum(line.ev_wei for line in usage_lines) == sum(b.ev_wei for b in buckets)
    _check_sums(draft)


@settings(max_examples=100, deadline=None)
@given(
    buckets=st.lists(bucket_strategy, max_size=12),
    rates=rates_strategy,
    fx=fx_strategy,
    plan=st.one_of(
        st.just(FreePlan()),
        st.builds(SubscriptionPlan, st.just("USD"), st.integers(0, 10**5).map(Fraction),
                  st.integers(0, 10**4).map(Fraction), st.integers(0, 5000)),
    ),
)
def test_every_plan_adds_up(
    buckets: list[UsageBucket], rates: tuple[InvoiceRate, ...], fx: FxRate | None, plan: Plan
) -> None:
    draft = _draft(buckets, rates, fx, plan)
    _check_sums(draft)
    if isinstance(plan, SubscriptionPlan):
        usage = sum((line.amount for line in draft.lines if line.kind is LineKind.USAGE), Fraction(0))
        overage = max(Fraction(0), usage - plan.included_usage)
        assert draft.total == plan.fee + overage * (1 + Fraction(plan.overage_markup_bps, BPS_PER_UNIT))


@settings(max_examples=150, deadline=None)
@given(
    buckets=st.lists(bucket_strategy, max_size=12),
    halves=st.lists(st.booleans(), min_size=12, max_size=12),
    rates=rates_strategy,
    fx=fx_strategy,
    markup_bps=st.integers(0, 5000),
)
def test_a_period_split_in_two_adds_up_to_the_whole(
    buckets: list[UsageBucket], halves: list[bool], rates: tuple[InvoiceRate, ...], fx: FxRate | None,
    markup_bps: int,
) -> None:
    plan = UsageBasedPlan("USD", markup_bps=markup_bps)
    first = [b for b, in_first in zip(buckets, halves, strict=False) if in_first]
    second = [b for b, in_first in zip(buckets, halves, strict=False) if not in_first]
    whole, one, two = (_draft(part, rates, fx, plan) for part in (buckets, first, second))
    assert one.total + two.total == whole.total
    # Each half is rounded once, the whole once: at most half a minor unit apart each.
    assert abs(one.total_minor + two.total_minor - whole.total_minor) <= 1
    assert sum(line.units for d in (one, two) for line in d.lines) == sum(line.units for line in whole.lines)
