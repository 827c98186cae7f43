"""The reconciliation band and report, pure: hand-computed Bernoulli sums, exact money, exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from fractions import Fraction

import pytest

from clearinghouse.billing.reconciliation import (
    CSV_HEADER,
    ReconciliationStatus,
    expectation_band,
    report_csv,
    report_json,
    report_of,
)
from clearinghouse.domain.chain_events import Redemption
from clearinghouse.ledger.reconciliation_reads import (
    BernoulliSums,
    GatewayExposure,
    ReconciliationReads,
    RedeemedTotals,
    UnmatchedAlarm,
)
from clearinghouse.domain.ev import EV_DENOMINATOR, ticket_ev

CERTAIN = EV_DENOMINATOR  # winProb of a ticket that always wins
ONE_FIFTH = EV_DENOMINATOR // 5  # 2**256 − 1 is divisible by 5, so p is exactly 1/5
START = datetime(2026, 11, 1, tzinfo=UTC)
END = datetime(2026, 12, 1, tzinfo=UTC)


def test_tickets_certain_to_win_have_no_spread_and_must_match_exactly() -> None:
    sums = BernoulliSums.of(35, CERTAIN, 4)
    assert (sums.tickets, sums.wins_mean, sums.face_value_mean_wei, sums.face_value_variance_wei2) == (
        4, Fraction(4), Fraction(140), Fraction(0))

    exact = expectation_band(sums, 140, 4)
    assert (exact.sd_wei, exact.z_score, exact.outside) == (0.0, None, False)
    assert expectation_band(sums, 139, 4).outside and expectation_band(sums, 141, 5).outside


def test_one_fifth_band_by_hand() -> None:
    # 100 tickets of 1000 wei at p = 1/5: mean 20,000, variance 100 * 1/5 * 4/5 * 1000**2 = 16,000,000,
    # sd 4,000, so the band is [8,000, 32,000] and its ends are inside.
    sums = BernoulliSums.of(1000, ONE_FIFTH, 100)
    assert sums.wins_mean == 20 and sums.face_value_mean_wei == 20_000
    assert sums.face_value_variance_wei2 == 16_000_000
    for inside in (8_000, 20_000, 32_000):
        assert not expectation_band(sums, inside, inside // 1000).outside
    high, low = expectation_band(sums, 33_000, 33), expectation_band(sums, 7_000, 7)
    assert high.outside and low.outside
    assert high.sd_wei == 4000.0
    assert high.z_score == pytest.approx(3.25) and low.z_score == pytest.approx(-3.25)


def test_sums_add_and_the_mean_is_the_ev_billed_exactly() -> None:
    win_prob = 12_345_678_901_234_567_890_123  # p with a huge denominator: nothing may round
    sums = BernoulliSums.of(10**18 + 7, win_prob, 3) + BernoulliSums.of(5, CERTAIN, 2)
    assert sums.tickets == 5
    assert sums.face_value_mean_wei == 3 * ticket_ev(10**18 + 7, win_prob) + 10
    assert sums.wins_mean == Fraction(3 * win_prob, EV_DENOMINATOR) + 2
    with pytest.raises(ValueError):
        BernoulliSums.of(1, EV_DENOMINATOR + 1, 1)
    with pytest.raises(ValueError):
        BernoulliSums.of(1, 1, -1)


def alarm() -> Redemption:
    return Redemption(
        event_id=9, ticket_hash=b"\x99" * 32, recipient=b"\x22" * 20, face_value=35, win_prob=CERTAIN,
        sender_nonce=9, paid_wei=35, block_number=11, transaction_hash=b"\xee" * 32, log_index=7,
        gateway_id=None, signing_record_id=None,
    )


def reads(*, redeemed_face_value_wei: int = 20_000, unmatched: tuple[Redemption, ...] = ()) -> ReconciliationReads:
    ev_billed = Fraction(20_000) + Fraction(1, 3)
    return ReconciliationReads(
        gateway_id=3, start=START, end=END, current_round=4010, validity_period_rounds=2,
        ev_billed_wei=ev_billed, fee_billed_wei=Fraction(60_001, 3), tickets_billed=100,
        settled=BernoulliSums.of(1000, ONE_FIFTH, 100), open_tickets=0,
        redeemed_settled=RedeemedTotals(redeemed_face_value_wei // 1000, redeemed_face_value_wei,
                                        redeemed_face_value_wei - 1, Fraction(redeemed_face_value_wei, 5)),
        redeemed_open=RedeemedTotals(1, 1000, 1000, Fraction(200)),
        exposure=GatewayExposure(4009, 2, 2000, Fraction(400)),
        unmatched=UnmatchedAlarm(len(unmatched), unmatched),
    )


def test_report_is_exact_and_its_status_follows_precedence() -> None:
    report = report_of(reads())
    assert report.status is ReconciliationStatus.OK
    assert (report.redeemed_tickets, report.redeemed_face_value_wei, report.paid_wei) == (21, 21_000, 20_999)
    assert report.paid_to_billed == Fraction(20_999) / (Fraction(20_000) + Fraction(1, 3))
    assert report.band.redeemed_tickets == 20 and report.band.expected_wins == 20

    assert report_of(reads(redeemed_face_value_wei=40_000)).status is ReconciliationStatus.OUTSIDE_BAND
    both = report_of(reads(redeemed_face_value_wei=40_000, unmatched=(alarm(),)))
    assert both.status is ReconciliationStatus.UNMATCHED_REDEMPTIONS and both.unmatched == (alarm(),)


def test_json_keeps_wei_as_exact_strings() -> None:
    document = json.loads(report_json(report_of(reads(unmatched=(alarm(),)))))
    assert document["status"] == "unmatched_redemptions"
    assert document["billed"] == {"tickets": 100, "ev_wei": "60001/3", "fee_wei": "60001/3"}
    assert document["actual"]["paid_wei"] == "20999"
    assert document["actual"]["paid_to_billed"] == str(Fraction(62_997, 60_001))
    assert document["exposure"] == {"tickets": 2, "face_value_wei": "2000", "ev_wei": "400"}
    assert document["band"]["expected_face_value_wei"] == "20000" and document["band"]["outside"] is False
    (listed,) = document["unmatched_redemptions"]["listed"]
    assert listed["ticket_hash"] == "0x" + "99" * 32 and listed["paid_wei"] == "35"


def test_csv_has_the_documented_header_and_one_row() -> None:
    rows = list(csv.reader(io.StringIO(report_csv(report_of(reads())).decode())))
    assert tuple(rows[0]) == CSV_HEADER and len(rows) == 2
    row = dict(zip(CSV_HEADER, rows[1], strict=True))
    assert row["status"] == "ok" and row["ev_billed_wei"] == "60001/3" and row["paid_wei"] == "20999"
    assert row["face_value_sd_wei"] == "4000.0" and row["z_score"] == "0.0"
    assert row["period_start"] == "2026-11-01T00:00:00+00:00"
