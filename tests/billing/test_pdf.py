"""The invoice PDF: page 1 rendered to PNG by PyMuPDF is not blank and its text holds the
invoice number, the lines, the total and the rate provenance; long invoices continue on
further pages; the same inputs give the same bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import pymupdf
import pytest

from clearinghouse.billing.exports import content_hash
from clearinghouse.billing.invoices import FxRate, InvoiceError, InvoiceRate, Party, UsageBasedPlan, UsageBucket
from clearinghouse.billing.pdf import invoice_pdf
from clearinghouse.billing.limits import RATES_LISTED_MAX
from tests.billing.test_invoices import FX_EUR, O1, START, golden_draft

ISSUER = Party("Livepeer Clearinghouse GmbH", ("Musterstrasse 1", "10115 Berlin", "Germany"), tax_id="DE123456789")
CUSTOMER = Party("Acme Streaming Ltd", ("1 Main Street", "London EC1A 1AA"))
NUMBER = "CH-2026-000042"
ISSUED_AT = datetime(2026, 6, 1, 9, 30, tzinfo=UTC)
RENDER_DPI = 60
"""Enough resolution to see ink on the page, small enough to keep the test fast."""


def render(pdf: bytes) -> pymupdf.Document:
    return pymupdf.open(stream=pdf, filetype="pdf")


def page_text(document: pymupdf.Document, index: int) -> str:
    return " ".join(str(document[index].get_text()).split())


def test_first_page_renders_with_the_number_and_the_lines(tmp_path: Path) -> None:
    draft = golden_draft()
    document = render(invoice_pdf(draft, ISSUER, CUSTOMER, NUMBER, ISSUED_AT))
    assert document.page_count == 1
    pixmap = document[0].get_pixmap(dpi=RENDER_DPI)
    png = tmp_path / "invoice-page-1.png"
    pixmap.save(png)
    assert png.read_bytes().startswith(b"\x89PNG")
    assert min(pixmap.samples) < 128, "page 1 has no dark pixel"
    text = page_text(document, 0)
    for expected in (
        NUMBER, "INVOICE", "Issued: 2026-06-01", "Livepeer Clearinghouse GmbH", "Tax ID: DE123456789",
        "Bill to", "Acme Streaming Ltd", "2026-05-01 00:00:00 UTC", "2026-06-01 00:00:00 UTC (exclusive)",
        "live-video-to-video / streamdiffusion", "3000000000000000", "8.00", "Markup 2.5 % on usage", "0.25",
        "Service credit, May outage (CN-1)", "-1.50", "Total (USD) 18.58",
        "#1 = 3000 USD/ETH (chainlink round 7, valid 2026-05-10T00:00:00Z)", "#2 = 2500 USD/ETH (manual",
        content_hash(draft).hex(), f"Invoice {NUMBER} - page 1 of 1",
    ):
        assert expected in text


def test_rounding_line_and_fx_are_printed() -> None:
    half_cent_wei = Fraction(5 * 10**12, 3)
    buckets = [UsageBucket(f"p{i}", "m", None, None, 1, 1, 1, 1, half_cent_wei, Fraction(0)) for i in range(3)]
    fx = FxRate("EUR", Fraction(1), "ECB", datetime(2026, 5, 29, tzinfo=UTC))
    draft = golden_draft(buckets=buckets, currency="EUR", fx=fx, plan=UsageBasedPlan("EUR"), adjustments=())
    text = page_text(render(invoice_pdf(draft, ISSUER, CUSTOMER, NUMBER, ISSUED_AT)), 0)
    assert "Rounding adjustment (the total is rounded once) 0.02" in text
    assert "Total (EUR) 0.02" in text
    assert "FX: 1 USD = 1 EUR (ECB, as of 2026-05-29T00:00:00Z)" in text


def test_a_long_invoice_continues_on_more_pages() -> None:
    buckets = [UsageBucket("text-to-image", f"model-{i:03d}", None, O1, 1, 1, 1, 1, Fraction(10**15), Fraction(0))
               for i in range(120)]
    document = render(invoice_pdf(golden_draft(buckets=buckets), ISSUER, CUSTOMER, NUMBER, ISSUED_AT))
    pages = document.page_count
    assert pages >= 3
    for index in range(pages):
        assert f"Invoice {NUMBER} - page {index + 1} of {pages}" in page_text(document, index)
    assert "Description" in page_text(document, 1), "the table heading repeats"
    assert "model-119" in page_text(document, pages - 1) or "model-119" in page_text(document, pages - 2)
    # 120 lines of 3.00, 2.5 % markup, 10.00 fixed fee, the 1.50 credit:
    assert "Total (USD) 377.50" in " ".join(page_text(document, i) for i in range(pages))


def test_many_rates_are_summarized() -> None:
    count = RATES_LISTED_MAX + 1
    rates = [InvoiceRate(i, Fraction(3000 + i), "chainlink", START, round_id=i) for i in range(1, count + 1)]
    buckets = [UsageBucket("p", "m", None, None, rate.rate_snapshot_id, 1, 1, 1, Fraction(10**15), Fraction(0))
               for rate in rates]
    draft = golden_draft(buckets=buckets, rates=rates)
    text = page_text(render(invoice_pdf(draft, ISSUER, CUSTOMER, NUMBER, ISSUED_AT)), 0)
    assert f"ETH/USD: {count} rate snapshots, #1 to #{count}, from 3001 to {3000 + count} USD/ETH" in text


def test_text_outside_the_core_fonts_prints_as_question_marks() -> None:
    customer = Party("Zoë ☃ Streaming €", ("Straße 1",))
    text = page_text(render(invoice_pdf(golden_draft(), ISSUER, customer, NUMBER, ISSUED_AT)), 0)
    assert "Zoë ? Streaming €" in text and "Straße 1" in text


def test_same_inputs_same_bytes() -> None:
    draft = golden_draft(currency="EUR", fx=FX_EUR, plan=UsageBasedPlan("EUR", 250), adjustments=())
    first = invoice_pdf(draft, ISSUER, CUSTOMER, NUMBER, ISSUED_AT)
    assert first == invoice_pdf(draft, ISSUER, CUSTOMER, NUMBER, ISSUED_AT)
    assert first != invoice_pdf(draft, ISSUER, CUSTOMER, "CH-2026-000043", ISSUED_AT)


@pytest.mark.parametrize(
    ("number", "issued_at", "message"),
    [(" ", ISSUED_AT, "invoice number"), ("x" * 65, ISSUED_AT, "invoice number"),
     (NUMBER, datetime(2026, 6, 1), "timezone-aware")],
)
def test_refusals(number: str, issued_at: datetime, message: str) -> None:
    with pytest.raises(InvoiceError, match=message):
        invoice_pdf(golden_draft(), ISSUER, CUSTOMER, number, issued_at)
