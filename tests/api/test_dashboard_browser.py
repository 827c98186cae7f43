"""The dashboard in a real headless browser: Debian's chromium (an explicit executable path,
never a downloaded browser) driven by Playwright, against a real server and a seeded SQLite
ledger. It logs in through the form, reads the chart and the tables, re-sorts, downloads an
invoice, and saves a full-page screenshot as a test artifact. Every request that would leave
loopback is aborted and recorded, so a page needing the internet fails here.

Without /usr/bin/chromium the test is skipped, unless CI is set: there it fails.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Page, Route, sync_playwright

from clearinghouse.api import ApiKeyAuthenticator
from clearinghouse.api.dashboard import DashboardRoutes
from clearinghouse.ledger import Database
from tests.api.conftest import PEPPER
from tests.api.fakes import FakePaymentService
from tests.api.test_dashboard import TOKEN, Seeded, rejections, seed_ledger, warn_health

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
REPO_ROOT = Path(__file__).resolve().parents[2]
BROWSER_TIMEOUT_MS = 15_000
"""Each browser step; a page of our own on loopback takes milliseconds."""


@pytest.fixture
def artifacts() -> Path:
    folder = Path(os.environ.get("CLEARINGHOUSE_TEST_ARTIFACTS") or REPO_ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
def served(db: Database, fake_service: FakePaymentService,
           serve: Callable[..., AbstractContextManager[str]]) -> Iterator[tuple[str, Seeded]]:
    seeded = seed_ledger(db, datetime.now(UTC))
    routes = DashboardRoutes(
        db, TOKEN, deposit_health=lambda: warn_health(seeded.deposit_latest_wei, seeded.reserve_latest_wei),
        rejections=rejections(),
    )
    with serve(fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER), dashboard=routes) as url:
        yield url, seeded


def test_the_dashboard_in_headless_chromium(
    chromium: Path, served: tuple[str, Seeded], artifacts: Path, tmp_path: Path
) -> None:
    url, seeded = served
    requested: list[str] = []
    left_loopback: list[str] = []
    console_errors: list[str] = []

    def loopback_only(route: Route) -> None:
        requested.append(route.request.url)
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            left_loopback.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            context.set_default_timeout(BROWSER_TIMEOUT_MS)
            context.route("**/*", loopback_only)
            page = context.new_page()
            page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: console_errors.append(str(error)))

            log_in(page, url)
            assert console_errors == ["Failed to load resource: the server responded with a status of 403 (Forbidden)"]
            console_errors.clear()  # the wrong token's answer; from here on, none is expected
            check_health_and_chart(page)
            check_gateway_table(page, seeded)
            check_rejections_and_invoices(page, seeded, tmp_path)
            page.goto(f"{url}/dashboard")
            page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
        finally:
            browser.close()

    assert (artifacts / "dashboard.png").stat().st_size > 10_000
    assert any(u.endswith("/dashboard/static/dashboard.css") for u in requested)
    assert left_loopback == []
    assert console_errors == []  # a Content-Security-Policy violation would show here


def log_in(page: Page, url: str) -> None:
    page.goto(f"{url}/dashboard")
    assert urlsplit(page.url).path == "/dashboard/login"
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That is not the operator token."
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/dashboard")
    # The stylesheet applied: the page background is the shipped CSS's, not the browser's white.
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(241, 245, 249)"


def check_health_and_chart(page: Page) -> None:
    assert page.locator("#health-state").inner_text().lower() == "warn"
    assert "deposit_low" in page.locator("#health .findings").inner_text()
    assert page.locator("#stat-deposit .eth").inner_text() == "7.25 ETH"
    assert page.locator("#stat-reserve .eth").inner_text() == "3 ETH"
    assert page.locator("#stat-runway .stat-value").inner_text() == "3 d 5 h"
    chart = page.locator("svg#deposit-chart")
    assert chart.is_visible()
    box = chart.bounding_box()
    assert box is not None and box["width"] > 800 and box["height"] > 200
    for series in ("deposit", "reserve"):
        line = page.locator(f"polyline[data-series={series}]")
        assert line.is_visible()
        assert line.get_attribute("data-samples") == "12"
        points = (line.get_attribute("points") or "").split()
        assert len(points) == 2 * 12 - 1  # a step per sample after the first
        xs = [float(point.split(",")[0]) for point in points]
        assert xs == sorted(xs) and xs[-1] - xs[0] > 20  # left to right, spread over hours
    deposit_ys = [float(p.split(",")[1]) for p in (page.locator("polyline[data-series=deposit]")
                                                   .get_attribute("points") or "").split()]
    assert deposit_ys[0] < deposit_ys[-1]  # the deposit falls (y grows downwards)
    # SVG text is not an HTML element: its text_content, not inner_text.
    assert page.locator(".legend-label[data-series=deposit]").text_content() == "Deposit · 7.25 ETH"
    assert page.locator(".legend-label[data-series=reserve]").text_content() == "Reserve · 3 ETH"
    y_labels = page.locator("#deposit-chart .axis-label").all_text_contents()
    assert "0 ETH" in y_labels and "10 ETH" in y_labels
    assert page.locator(".segmented a.active").inner_text() == "7d"


def table_column(page: Page, column: str) -> list[str]:
    return page.locator(f"#gateway-table tbody td[data-column={column}]").all_inner_texts()


def check_gateway_table(page: Page, seeded: Seeded) -> None:
    assert table_column(page, "name") == ["dave", "acme", "bob", "carol"]
    assert table_column(page, "gateway") == [str(seeded.dave), str(seeded.acme), str(seeded.bob), str(seeded.carol)]
    assert table_column(page, "status") == ["ACTIVE", "ACTIVE", "ACTIVE", "DISABLED"]  # badges are upper-cased by CSS
    assert table_column(page, "calls") == ["1", "3", "1", "0"]
    assert table_column(page, "tickets") == ["5", "3", "2", "0"]
    ev = [text.split("\n") for text in table_column(page, "ev")]
    assert ev == [["0.05 ETH", "50000000000000000 wei"], ["0.03 ETH", "30000000000000000 wei"],
                  ["0.02 ETH", "20000000000000000 wei"], ["0 ETH", "0 wei"]]
    assert [text.split("\n")[0] for text in table_column(page, "fee")] == ["0.045 ETH", "0.018 ETH", "0.015 ETH",
                                                                          "0 ETH"]
    page.click("#gateway-table th a[data-sort=name]")
    page.wait_for_url("**sort=name**")
    assert parse_qs(urlsplit(page.url).query)["order"] == ["asc"]
    assert table_column(page, "name") == ["acme", "bob", "carol", "dave"]
    page.click("#gateway-table th a[data-sort=name]")
    page.wait_for_url("**order=desc**")
    assert table_column(page, "name") == ["dave", "carol", "bob", "acme"]
    page.click("#gateway-table th a[data-sort=calls]")
    page.wait_for_url("**sort=calls**")
    assert table_column(page, "name") == ["acme", "bob", "dave", "carol"]
    assert page.locator("#gateway-table th[aria-sort=descending]").inner_text().startswith("CALLS")


def check_rejections_and_invoices(page: Page, seeded: Seeded, downloads: Path) -> None:
    rejection_text = page.locator("#rejections tbody").inner_text()
    assert "no API key <script>alert(1)</script>" in rejection_text  # shown as text, never run
    assert "gateway 2 over its credit limit" in rejection_text and "spend_refused" in rejection_text
    issued = page.locator(f"#invoices tr[data-invoice-id='{seeded.issued_invoice}']")
    assert seeded.issued_number in issued.inner_text() and "90.00 USD" in issued.inner_text()
    assert issued.locator(".downloads a").all_inner_texts() == ["PDF", "CSV", "JSON"]
    draft = page.locator(f"#invoices tr[data-invoice-id='{seeded.draft_invoice}']")
    assert f"draft #{seeded.draft_invoice}" in draft.inner_text() and "60.00 USD" in draft.inner_text()
    assert draft.locator(".downloads a").all_inner_texts() == ["CSV", "JSON"]
    with page.expect_download() as download_info:
        issued.locator(".downloads a", has_text="PDF").click()
    download = download_info.value
    assert download.suggested_filename == f"{seeded.issued_number}.pdf"
    saved = downloads / download.suggested_filename
    download.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
