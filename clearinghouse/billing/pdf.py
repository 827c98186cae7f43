"""The invoice as a PDF a finance team can send (spec 05), drawn with fpdf2; pure, no I/O.

One A4 page when the lines fit (a few dozen); longer invoices continue on further pages, the
table's heading repeated and every page footed with the invoice number and page count. The
page holds the issuer, the customer, number, issue date, period, plan, the lines (EV and fee
in whole wei, rounded down), the total, and notes: what EV and fee are, the rounding rule,
the ETH/USD rate snapshots and FX rate used (their provenance), and the content hash of the
invoice's canonical JSON, which ties the paper to the stored record.

fpdf2's built-in Helvetica needs no font file, so rendering works offline, but it covers only
Windows-1252: other characters in names or descriptions print as "?" (the JSON and CSV keep
the text exactly). The document's dates come from ``issued_at``, so the same inputs give the
same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from fractions import Fraction
from typing import Final

from fpdf import FPDF
from fpdf.enums import TableBordersLayout, XPos, YPos
from fpdf.fonts import FontFace

from clearinghouse.billing.exports import content_hash, utc_text
from clearinghouse.billing.invoices import (
    FreePlan,
    InvoiceDraft,
    InvoiceError,
    InvoiceLine,
    InvoiceRate,
    LineKind,
    Party,
    SubscriptionPlan,
)
from clearinghouse.billing.money_text import decimal_text, minor_units_text, money_text
from clearinghouse.billing.limits import INVOICE_NUMBER_CHARS_MAX, RATES_LISTED_MAX


PDF_ENCODING: Final = "windows-1252"
"""The one encoding fpdf2's core fonts print, with the euro sign that Latin-1 lacks."""

MARGIN_MM: Final = 15
"""Page margins: room for a printer's unprintable edge and a punched hole."""

LINE_MM: Final = 4.5
"""Line height of the 8.5 pt heading text (about 1.5 times the type size)."""

NOTE_MM: Final = 3.4
"""Line height of the 7 pt table and notes text."""

COLUMN_WIDTHS_MM: Final = (42, 12, 14, 20, 34, 34, 24)
"""Description, calls, tickets, units, EV, fee, amount: 180 mm, the A4 width inside margins.
34 mm hold 23 digits at the table's 7 pt: 10,000 ETH in wei on one line."""

PARTY_WIDTH_MM: Final = 95
"""The issuer's and customer's blocks take the left half of the page; longer lines wrap."""

DETAILS_X_MM: Final = 115
"""Where the right column of invoice details starts, clear of the 95 mm party blocks."""

DETAILS_WIDTH_MM: Final = 80
"""The right column runs from DETAILS_X_MM to the right margin (210 − 15 mm), right-aligned."""

HEADING_FILL_RGB: Final = (235, 235, 235)
"""A light grey behind the table heading: visible on screen, cheap in toner."""


class _InvoiceDocument(FPDF):
    """Foots every page with the invoice number and "page n of m"."""

    def __init__(self, number: str, label: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.invoice_number = number
        self.label = label

    def footer(self) -> None:
        """Drawn by fpdf2 at the end of each page."""
        self.set_y(-MARGIN_MM + 3)
        self.set_font("Helvetica", size=7)
        self.cell(0, NOTE_MM, f"{self.label} {self.invoice_number} - page {self.page_no()} of {{nb}}", align="C")


def invoice_pdf(
    draft: InvoiceDraft, issuer: Party, customer: Party, number: str, issued_at: datetime,
    *, credit_note_for: str | None = None,
) -> bytes:
    """The issued invoice ``number`` as PDF bytes (see the module docstring); with
    ``credit_note_for`` (the voided invoice's number) it is titled a credit note for it.

    Raises InvoiceError for a blank or over-long number (``INVOICE_NUMBER_CHARS_MAX``) or a naive
    ``issued_at``.
    """
    if not number.strip() or len(number) > INVOICE_NUMBER_CHARS_MAX:
        raise InvoiceError(f"invoice number must be 1..{INVOICE_NUMBER_CHARS_MAX} characters, got {number!r:.80}")
    if issued_at.tzinfo is None:
        raise InvoiceError(f"issued_at must be timezone-aware, got {issued_at!r}")
    label = "Invoice" if credit_note_for is None else "Credit note"
    pdf = _InvoiceDocument(_text(number), label)
    pdf.core_fonts_encoding = PDF_ENCODING
    pdf.set_margins(MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(auto=True, margin=MARGIN_MM + 5)
    pdf.set_creation_date(issued_at.astimezone(UTC))
    pdf.set_title(_text(f"{label} {number}"))
    pdf.set_author(_text(issuer.name))
    pdf.set_creator("clearinghouse")
    pdf.add_page()
    _heading(pdf, draft, issuer, (label, number), issued_at, credit_note_for)
    _party(pdf, "Bill to", customer)
    _lines_table(pdf, draft)
    _notes(pdf, draft)
    return bytes(pdf.output())


def _text(text: str) -> str:
    """What the core fonts can print: characters outside Windows-1252 become "?"."""
    return text.encode(PDF_ENCODING, errors="replace").decode(PDF_ENCODING)


def _heading(
    pdf: FPDF, draft: InvoiceDraft, issuer: Party, numbered: tuple[str, str], issued_at: datetime,
    credit_note_for: str | None,
) -> None:
    top = pdf.get_y()
    _party(pdf, None, issuer)
    bottom = pdf.get_y()
    label, number = numbered
    credits = () if credit_note_for is None else (("Credits invoice", credit_note_for),)
    details = (
        (label, number),
        *credits,
        ("Issued", issued_at.astimezone(UTC).date().isoformat()),
        ("Period from", _moment(draft.period_start)),
        ("until", f"{_moment(draft.period_end)} (exclusive)"),
        ("Plan", _plan_text(draft)),
        ("Currency", draft.currency),
    )
    pdf.set_xy(DETAILS_X_MM, top)
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(DETAILS_WIDTH_MM, 8, label.upper(), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    for name, value in details:
        pdf.set_font("Helvetica", "B" if name == label else "", 8.5)
        text = _text(f"{name}: {value}")
        pdf.multi_cell(DETAILS_WIDTH_MM, LINE_MM, text, align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(MARGIN_MM, max(bottom, pdf.get_y()) + 4)


def _party(pdf: FPDF, title: str | None, party: Party) -> None:
    if title is not None:
        pdf.set_font("Helvetica", "B", 8.5)
        pdf.cell(0, LINE_MM, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", "B", 12 if title is None else 10)
    pdf.multi_cell(PARTY_WIDTH_MM, 6, _text(party.name), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=8.5)
    tax = () if party.tax_id is None else (f"Tax ID: {party.tax_id}",)
    for line in (*party.address_lines, *tax):
        pdf.multi_cell(PARTY_WIDTH_MM, LINE_MM, _text(line), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(3)


def _moment(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _plan_text(draft: InvoiceDraft) -> str:
    plan = draft.plan
    if isinstance(plan, FreePlan):
        return "free"
    if isinstance(plan, SubscriptionPlan):
        return f"subscription, {plan.currency} {money_text(plan.fee, draft.minor_unit_exponent)} per period"
    return f"usage-based, markup {decimal_text(Fraction(plan.markup_bps, 100))} %"


def _lines_table(pdf: FPDF, draft: InvoiceDraft) -> None:
    headings = ("Description", "Calls", "Tickets", "Units", "EV (wei)", "Fee (wei)", f"Amount ({draft.currency})")
    pdf.set_font("Helvetica", size=7)
    with pdf.table(
        col_widths=COLUMN_WIDTHS_MM,
        width=sum(COLUMN_WIDTHS_MM),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        borders_layout=TableBordersLayout.HORIZONTAL_LINES,
        headings_style=FontFace(emphasis="BOLD", fill_color=HEADING_FILL_RGB),
        line_height=NOTE_MM + 0.4,
        padding=1,
    ) as table:
        table.row(headings)
        for line in draft.lines:
            table.row(_row(line, draft.minor_unit_exponent))
        total = minor_units_text(draft.total_minor, draft.minor_unit_exponent, thousands=True)
        row = table.row(style=FontFace(emphasis="BOLD"))
        row.cell(f"Total ({draft.currency})", colspan=6)
        row.cell(total)


def _row(line: InvoiceLine, exponent: int) -> Sequence[str]:
    amount = minor_units_text(line.amount_minor, exponent, thousands=True)
    if line.kind is not LineKind.USAGE:
        description = line.description if line.reference is None else f"{line.description} ({line.reference})"
        return (_text(description), "", "", "", "", "", amount)
    return (
        _text(line.description),
        f"{line.calls:,}",
        f"{line.tickets:,}",
        f"{line.units:,}",
        str(math.floor(line.ev_wei)),
        str(math.floor(line.fee_wei)),
        amount,
    )


def _notes(pdf: FPDF, draft: InvoiceDraft) -> None:
    unit = minor_units_text(1, draft.minor_unit_exponent)
    notes = [
        "EV (billed) is the expected value of the tickets signed for you; the fee is the orchestrators' "
        "price times units, shown beside it. Wei are rounded down for display.",
        f"Amounts are exact until shown: each line is rounded half to even to {unit} {draft.currency}; the total "
        "is the exact total rounded once, and a rounding line carries any difference.",
        _rates_note(draft.rates),
    ]
    if draft.fx is not None:
        notes.append(
            f"FX: 1 USD = {decimal_text(draft.fx.per_usd)} {draft.fx.currency} "
            f"({draft.fx.source}, as of {utc_text(draft.fx.as_of)})."
        )
    notes.append(f"Content SHA-256 (canonical JSON): {content_hash(draft).hex()}")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 7.5)
    pdf.cell(0, NOTE_MM, "Notes", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=7)
    for number, note in enumerate(notes, start=1):
        pdf.multi_cell(0, NOTE_MM, _text(f"{number}. {note}"), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _rates_note(rates: tuple[InvoiceRate, ...]) -> str:
    if not rates:
        return "No ETH/USD rate was needed."
    if len(rates) <= RATES_LISTED_MAX:
        listed = "; ".join(_rate_text(rate) for rate in rates)
        return f"ETH/USD rate snapshots: {listed}."
    values = sorted(Fraction(rate.usd_per_eth) for rate in rates)
    sources = ", ".join(sorted({rate.source for rate in rates}))
    return (
        f"ETH/USD: {len(rates)} rate snapshots, #{rates[0].rate_snapshot_id} to #{rates[-1].rate_snapshot_id}, "
        f"from {decimal_text(values[0])} to {decimal_text(values[-1])} USD/ETH (sources: {sources}); "
        "each is listed in the JSON export."
    )


def _rate_text(rate: InvoiceRate) -> str:
    round_text = "" if rate.round_id is None else f" round {rate.round_id}"
    return (
        f"#{rate.rate_snapshot_id} = {decimal_text(rate.usd_per_eth)} USD/ETH "
        f"({rate.source}{round_text}, valid {utc_text(rate.valid_at)})"
    )
