"""Three-way reconciliation of one gateway's period (spec 05): billed, exposure, actual.

``reconcile`` reads the ledger (``ledger.reconciliation_reads``) and ``report_of`` turns the
reads into a ``ReconciliationReport``; everything but ``reconcile`` is pure.

The expectation band: each settled ticket of the period (its redemption window closed) wins
independently with p_i = winProb_i / (2**256 − 1), so the face value redeemed is a sum of
independent Bernoulli(p_i)·face_i, mean μ = Σ p_i·face_i (which is the EV billed for those
tickets) and variance σ² = Σ p_i(1 − p_i)·face_i². The report is OUTSIDE_BAND when the face
value actually redeemed for them lies outside μ ± 3σ. That test is exact — (actual − μ)² > 9σ²
in rationals — so with σ = 0 (every ticket certain to win) any difference at all is flagged.
Only the displayed σ and z-score are floats (a square root is irrational); every money figure
in the report is an exact int or Fraction of wei.

Money in JSON and CSV: integers as decimal strings, exact rationals as ``numerator/denominator``
(``str(Fraction)``, a plain integer when whole), so no figure is rounded.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

from clearinghouse import ledger
from clearinghouse.domain.chain_events import Redemption
from clearinghouse.ledger.reconciliation_reads import (
    BernoulliSums,
    ReconciliationReads,
    reconciliation_reads,
)

BAND_SIGMAS = 3
"""Half-width of the band in standard deviations: a sum of many independent tickets is close
to normal, and |z| > 3 happens by chance about 3 times in 1,000 reports."""

CSV_HEADER = (
    "gateway_id", "period_start", "period_end", "current_round", "validity_period_rounds", "status",
    "tickets_billed", "ev_billed_wei", "fee_billed_wei",
    "exposure_tickets", "exposure_face_value_wei", "exposure_ev_wei",
    "redeemed_tickets", "redeemed_face_value_wei", "paid_wei", "paid_to_billed",
    "settled_tickets", "open_tickets", "expected_wins", "redeemed_settled_tickets",
    "expected_face_value_wei", "face_value_sd_wei", "redeemed_settled_face_value_wei", "z_score",
    "unmatched_redemptions",
)
"""The CSV columns, in this order; stable: columns are only ever appended. Money as in the module
docstring; ``paid_to_billed`` and ``z_score`` are empty when undefined (nothing billed; σ = 0)."""


class ReconciliationStatus(StrEnum):
    """The report's verdict, in precedence order: the first that applies is reported."""

    UNMATCHED_REDEMPTIONS = "unmatched_redemptions"
    """Tickets of our sender were redeemed that we have no record of: a key leak or a lost record."""
    OUTSIDE_BAND = "outside_band"
    """The face value redeemed lies outside μ ± 3σ: luck that rare, or a bug in EV or matching."""
    OK = "ok"


@dataclass(frozen=True, slots=True)
class ExpectationBand:
    """What the settled tickets should have won against what was redeemed for them.

    ``expected_wins`` and ``redeemed_tickets`` compare counts: which unredeemed tickets won is
    unknowable without the recipients' secrets, so only the expected number of wins can be held
    against the redeemed count. ``sd_wei`` and ``z_score`` are floats for display only.
    """

    tickets: int
    expected_wins: Fraction
    redeemed_tickets: int
    expected_face_value_wei: Fraction
    face_value_variance_wei2: Fraction
    redeemed_face_value_wei: int
    sd_wei: float
    z_score: float | None
    outside: bool


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """One gateway's period reconciled; see the module docstring. ``redeemed_*`` and
    ``paid_wei`` cover every redeemed ticket of the period, settled or not; ``paid_to_billed``
    is paid / EV billed (None when nothing was billed)."""

    gateway_id: int
    start: datetime
    end: datetime
    current_round: int
    validity_period_rounds: int
    tickets_billed: int
    ev_billed_wei: Fraction
    fee_billed_wei: Fraction
    exposure_tickets: int
    exposure_face_value_wei: int
    exposure_ev_wei: Fraction
    redeemed_tickets: int
    redeemed_face_value_wei: int
    paid_wei: int
    paid_to_billed: Fraction | None
    open_tickets: int
    band: ExpectationBand
    unmatched_total: int
    unmatched: tuple[Redemption, ...]
    status: ReconciliationStatus


def reconcile(
    db: ledger.Database, gateway_id: int, start: datetime, end: datetime, current_round: int,
    validity_period_rounds: int,
) -> ReconciliationReport:
    """Reconcile ``gateway_id`` over [start, end) (whole UTC hours) as of ``current_round``.

    Raises InvalidLedgerInput for a bad period or round (see ``reconciliation_reads``), and
    DatabaseUnavailable when the ledger cannot be read.
    """
    reads = reconciliation_reads(db, gateway_id, start, end, current_round=current_round,
                                 validity_period_rounds=validity_period_rounds)
    return report_of(reads)


def report_of(reads: ReconciliationReads) -> ReconciliationReport:
    """The report of one gateway's reads (pure)."""
    redeemed = reads.redeemed_settled + reads.redeemed_open
    band = expectation_band(reads.settled, reads.redeemed_settled.face_value_wei, reads.redeemed_settled.tickets)
    if reads.unmatched.total:
        status = ReconciliationStatus.UNMATCHED_REDEMPTIONS
    elif band.outside:
        status = ReconciliationStatus.OUTSIDE_BAND
    else:
        status = ReconciliationStatus.OK
    return ReconciliationReport(
        gateway_id=reads.gateway_id, start=reads.start, end=reads.end, current_round=reads.current_round,
        validity_period_rounds=reads.validity_period_rounds, tickets_billed=reads.tickets_billed,
        ev_billed_wei=reads.ev_billed_wei, fee_billed_wei=reads.fee_billed_wei,
        exposure_tickets=reads.exposure.tickets, exposure_face_value_wei=reads.exposure.face_value_wei,
        exposure_ev_wei=reads.exposure.ev_wei, redeemed_tickets=redeemed.tickets,
        redeemed_face_value_wei=redeemed.face_value_wei, paid_wei=redeemed.paid_wei,
        paid_to_billed=None if reads.ev_billed_wei == 0 else redeemed.paid_wei / reads.ev_billed_wei,
        open_tickets=reads.open_tickets, band=band, unmatched_total=reads.unmatched.total,
        unmatched=reads.unmatched.listed, status=status,
    )


def expectation_band(sums: BernoulliSums, redeemed_face_value_wei: int, redeemed_tickets: int) -> ExpectationBand:
    """Hold the face value redeemed for some tickets against their Bernoulli sums (pure).

    Outside means (actual − μ)² > BAND_SIGMAS²·σ², decided exactly.
    """
    deviation = redeemed_face_value_wei - sums.face_value_mean_wei
    variance = sums.face_value_variance_wei2
    sd_wei = math.sqrt(variance)
    return ExpectationBand(
        tickets=sums.tickets, expected_wins=sums.wins_mean, redeemed_tickets=redeemed_tickets,
        expected_face_value_wei=sums.face_value_mean_wei, face_value_variance_wei2=variance,
        redeemed_face_value_wei=redeemed_face_value_wei, sd_wei=sd_wei,
        z_score=None if variance == 0 else float(deviation) / sd_wei,
        outside=deviation * deviation > BAND_SIGMAS * BAND_SIGMAS * variance,
    )


def report_document(report: ReconciliationReport) -> dict[str, Any]:
    """The report as a JSON-ready dict, money as exact strings (module docstring)."""
    band = report.band
    return {
        "gateway_id": report.gateway_id, "period_start": report.start.isoformat(),
        "period_end": report.end.isoformat(), "current_round": report.current_round,
        "validity_period_rounds": report.validity_period_rounds, "status": report.status.value,
        "billed": {"tickets": report.tickets_billed, "ev_wei": str(report.ev_billed_wei),
                   "fee_wei": str(report.fee_billed_wei)},
        "exposure": {"tickets": report.exposure_tickets, "face_value_wei": str(report.exposure_face_value_wei),
                     "ev_wei": str(report.exposure_ev_wei)},
        "actual": {"redeemed_tickets": report.redeemed_tickets,
                   "redeemed_face_value_wei": str(report.redeemed_face_value_wei),
                   "paid_wei": str(report.paid_wei), "paid_to_billed": _optional(report.paid_to_billed)},
        "band": {"settled_tickets": band.tickets, "open_tickets": report.open_tickets,
                 "expected_wins": str(band.expected_wins), "redeemed_tickets": band.redeemed_tickets,
                 "expected_face_value_wei": str(band.expected_face_value_wei),
                 "face_value_variance_wei2": str(band.face_value_variance_wei2),
                 "face_value_sd_wei": band.sd_wei, "redeemed_face_value_wei": str(band.redeemed_face_value_wei),
                 "z_score": band.z_score, "outside": band.outside},
        "unmatched_redemptions": {"total": report.unmatched_total,
                                  "listed": [_redemption_document(r) for r in report.unmatched]},
    }


def report_json(report: ReconciliationReport) -> bytes:
    """The report as UTF-8 JSON (``report_document``), keys sorted, one line."""
    return json.dumps(report_document(report), sort_keys=True, separators=(",", ":")).encode()


def report_csv(report: ReconciliationReport) -> bytes:
    """The report as UTF-8 CSV: the ``CSV_HEADER`` line and one row."""
    return reports_csv([report])


def reports_csv(reports: list[ReconciliationReport]) -> bytes:
    """Several reports as UTF-8 CSV: the ``CSV_HEADER`` line and a row per report."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(_csv_row(report) for report in reports)
    return buffer.getvalue().encode()


def _csv_row(report: ReconciliationReport) -> tuple[object, ...]:
    band = report.band
    return (
        report.gateway_id, report.start.isoformat(), report.end.isoformat(), report.current_round,
        report.validity_period_rounds, report.status.value,
        report.tickets_billed, report.ev_billed_wei, report.fee_billed_wei,
        report.exposure_tickets, report.exposure_face_value_wei, report.exposure_ev_wei,
        report.redeemed_tickets, report.redeemed_face_value_wei, report.paid_wei,
        _optional(report.paid_to_billed) or "",
        band.tickets, report.open_tickets, band.expected_wins, band.redeemed_tickets,
        band.expected_face_value_wei, repr(band.sd_wei), band.redeemed_face_value_wei,
        "" if band.z_score is None else repr(band.z_score), report.unmatched_total,
    )


def _optional(value: Fraction | None) -> str | None:
    return None if value is None else str(value)


def _redemption_document(redemption: Redemption) -> dict[str, Any]:
    return {
        "event_id": redemption.event_id, "ticket_hash": "0x" + redemption.ticket_hash.hex(),
        "recipient": "0x" + redemption.recipient.hex(), "face_value_wei": str(redemption.face_value),
        "win_prob": str(redemption.win_prob), "sender_nonce": str(redemption.sender_nonce),
        "paid_wei": str(redemption.paid_wei), "block_number": redemption.block_number,
        "transaction_hash": "0x" + redemption.transaction_hash.hex(), "log_index": redemption.log_index,
    }
