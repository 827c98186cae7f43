"""The operator dashboard over real HTTP: login and its cookie, the bound on failed logins, the
page's values, the sort whitelist, invoice downloads, the static whitelist, security headers.

A real uvicorn server on loopback serves RemoteSignerApp with the dashboard over a real SQLite
ledger seeded through the ledger's own API (``seed_ledger``, shared with the browser test).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from starlette.requests import Request

from clearinghouse.api import ApiKeyAuthenticator, issue_api_key
from clearinghouse.api.dashboard import DashboardRoutes
from clearinghouse.api.dashboard.charts import Series, step_chart
from clearinghouse.api.dashboard.routes import SECURITY_HEADERS
from clearinghouse.api.dashboard.session import LoginThrottle, SessionCookies
from clearinghouse.api.dashboard.views import Amount, eth_label, eth_text
from clearinghouse.api.limits import FAILED_LOGINS_PER_MINUTE_MAX, LOGIN_BODY_BYTES_MAX
from clearinghouse.api.rejections import RecentRejections
from clearinghouse.billing.invoicing import draft_for_period, month_period
from clearinghouse.chain.health import (
    BurnRate,
    ChainPosition,
    DepositHealth,
    Exposure,
    HealthThresholds,
    assess,
)
from clearinghouse.domain.gateways import GatewayStatus
from clearinghouse.ledger import (
    Database,
    NewRate,
    create_gateway,
    record_deposit_sample,
    record_rate_snapshot,
    record_signing_call,
    set_gateway_status,
)
from clearinghouse.ledger.billing_plans import PlanKind, set_billing_plan
from clearinghouse.ledger.invoices import issue_invoice
from tests.api.client import Reply, request
from tests.api.conftest import PEPPER
from tests.api.fakes import FakePaymentService
from tests.ledger.conftest import SessionDriver

TOKEN = secrets.token_hex(32)
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
ETH = 10**18
FACE_VALUE_WEI = 10**16
"""Win probability 1: each ticket's EV is 0.01 ETH."""
USD_PER_ETH = Fraction(3000)


@dataclass(frozen=True)
class Seeded:
    """What ``seed_ledger`` created, and the values the page must show for it."""

    acme: int
    bob: int
    carol: int
    dave: int
    issued_invoice: int
    issued_number: str
    draft_invoice: int
    samples: int
    deposit_latest_wei: int
    reserve_latest_wei: int


def sign_calls(db: Database, gateway_id: int, calls: int, *, price_per_unit: int, units: int, rate_id: int) -> None:
    """``calls`` real signing records of one session (timestamped now, by the ledger)."""
    driver = SessionDriver(gateway_id, face_value=FACE_VALUE_WEI, price_per_unit=price_per_unit)
    for _ in range(calls):
        call = driver.next_call(units, rate_snapshot_id=rate_id)
        record_signing_call(db, call)
        driver.advance(call)


def seed_ledger(db: Database, now: datetime) -> Seeded:
    """Four gateways (acme: 3 calls, 3 tickets, EV 0.03 ETH, fee 0.018 ETH; bob: 1 call of 2
    tickets, EV 0.02 ETH, fee 0.015 ETH; carol: disabled, nothing; dave: 1 call of 5 tickets,
    EV 0.05 ETH, fee 0.045 ETH), this month's invoices of acme (issued, 90.00 USD) and bob (a
    draft, 60.00 USD), and twelve deposit samples 30 min apart ending now: the deposit falls
    0.25 ETH a step from 10 ETH, the reserve is topped up from 2 to 3 ETH halfway."""
    start, end = month_period(f"{now:%Y-%m}")
    rate = record_rate_snapshot(db, NewRate(USD_PER_ETH, "manual", start, start, "test", "seed"))
    acme, bob, carol, dave = (create_gateway(db, name).id for name in ("acme", "bob", "carol", "dave"))
    set_gateway_status(db, carol, GatewayStatus.DISABLED)
    sign_calls(db, acme, 3, price_per_unit=6 * 10**14, units=10, rate_id=rate.id)
    sign_calls(db, bob, 1, price_per_unit=10**15, units=15, rate_id=rate.id)
    sign_calls(db, dave, 1, price_per_unit=10**15, units=45, rate_id=rate.id)
    for gateway_id in (acme, bob):
        set_billing_plan(db, gateway_id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=start,
                         actor="test", reason="contract")
    issued, _ = draft_for_period(db, acme, start, end, actor="test")
    number = issue_invoice(db, issued.id, actor="test", reason="issued").number
    draft, _ = draft_for_period(db, bob, start, end, actor="test")
    samples = 12
    for step in range(samples):
        record_deposit_sample(db, now - timedelta(minutes=30 * (samples - 1 - step)), 1_000 + step,
                              10 * ETH - step * ETH // 4, 2 * ETH if step < samples // 2 else 3 * ETH)
    assert number is not None
    return Seeded(acme, bob, carol, dave, issued.id, number, draft.id, samples,
                  10 * ETH - (samples - 1) * ETH // 4, 3 * ETH)


def warn_health(deposit_wei: int, reserve_wei: int) -> DepositHealth:
    """A live verdict: warn, the deposit under 10 × the largest face value in flight (1 ETH)."""
    position = ChainPosition(block=77_000, l1_block=20_000_000, deposit_wei=deposit_wei, reserve_wei=reserve_wei,
                             reserve_claimed_in_current_round_wei=0, withdraw_round=0, current_round=4_321,
                             ticket_validity_period_rounds=2, transcoder_pool_size=1, gas_balance_wei=ETH)
    exposure = Exposure(tickets=4, face_value_wei=4 * ETH, ev_wei=Fraction(5, 100) * ETH, max_face_value_wei=ETH)
    burn = BurnRate(ev_signed_wei_per_s=Fraction(deposit_wei, 3 * 86_400 + 5 * 3600), paid_wei_per_s=None)
    return assess(position, exposure, burn, HealthThresholds(), chain_age_s=1.5, stale_after_s=30.0)


def rejections() -> RecentRejections:
    recent = RecentRejections()
    recent.add(transport="http", route="/generate-live-payment", gateway_id=None, status="401",
               reason="unauthenticated", message="no API key <script>alert(1)</script>")
    recent.add(transport="grpc", route="GeneratePayment", gateway_id=2, status="483", reason="spend_refused",
               message="gateway 2 over its credit limit")
    return recent


class Clock:
    def __init__(self, now_s: float) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


@dataclass
class Dashboard:
    url: str
    seeded: Seeded
    cookies: SessionCookies
    throttle: LoginThrottle
    cookie_clock: Clock
    throttle_clock: Clock


@pytest.fixture
def dashboard(db: Database, fake_service: FakePaymentService,
              serve: Callable[..., AbstractContextManager[str]]) -> Iterator[Dashboard]:
    seeded = seed_ledger(db, datetime.now(UTC))
    cookie_clock, throttle_clock = Clock(1_900_000_000.0), Clock(1_000.0)
    cookies, throttle = SessionCookies(clock_s=cookie_clock), LoginThrottle(clock_s=throttle_clock)
    routes = DashboardRoutes(
        db, TOKEN, deposit_health=lambda: warn_health(seeded.deposit_latest_wei, seeded.reserve_latest_wei),
        rejections=rejections(), cookies=cookies, throttle=throttle,
    )
    with serve(fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER), dashboard=routes) as url:
        yield Dashboard(url, seeded, cookies, throttle, cookie_clock, throttle_clock)


def login(url: str, token: str = TOKEN, headers: dict[str, str] | None = None) -> Reply:
    return request(url, "POST", "/dashboard/login", urlencode({"token": token}).encode(), {**FORM, **(headers or {})})


def session_cookie(reply: Reply) -> str:
    assert reply.status == 303, reply.body
    return reply.headers["set-cookie"].split(";")[0]


def get(url: str, path: str, cookie: str | None = None, **headers: str) -> Reply:
    return request(url, "GET", path, None, {"Cookie": cookie, **headers} if cookie else headers)


def assert_secured(reply: Reply) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert reply.headers.get(name.lower()) == value, name
    assert reply.headers["content-security-policy"].startswith("default-src 'self'")


def cells(page: str, column: str) -> list[str]:
    """The text of a gateway-table column, top to bottom."""
    return [re.sub(r"<[^>]+>", " ", cell).split()[0]
            for cell in re.findall(rf'<td[^>]*data-column="{column}">(.*?)</td>', page, re.S)]


def test_without_a_session_every_page_redirects_to_the_login_form(dashboard: Dashboard) -> None:
    for path in ("/dashboard", "/dashboard?sort=name", "/dashboard/invoice?invoice_id=1&format=csv"):
        reply = get(dashboard.url, path)
        assert (reply.status, reply.headers["location"]) == (303, "/dashboard/login"), path
        assert_secured(reply)
    form = get(dashboard.url, "/dashboard/login")
    assert form.status == 200 and form.headers["content-type"] == "text/html; charset=utf-8"
    assert b'<form method="post" action="/dashboard/login"' in form.body and b'name="token"' in form.body
    assert b"<script" not in form.body
    assert_secured(form)


def test_the_operator_token_logs_in_with_a_strict_http_only_cookie(dashboard: Dashboard) -> None:
    reply = login(dashboard.url)
    assert (reply.status, reply.headers["location"]) == (303, "/dashboard")
    assert_secured(reply)
    attributes = [part.strip() for part in reply.headers["set-cookie"].split(";")]
    assert attributes[1:] == ["Max-Age=43200", "Path=/dashboard", "HttpOnly", "SameSite=Strict"]  # no Secure on http
    assert TOKEN not in reply.headers["set-cookie"]
    page = get(dashboard.url, "/dashboard", session_cookie(reply))
    assert page.status == 200 and b"Deposit health" in page.body
    assert TOKEN.encode() not in page.body
    assert_secured(page)
    assert get(dashboard.url, "/dashboard/login", session_cookie(reply)).headers["location"] == "/dashboard"


def test_over_https_the_cookie_is_secure(db: Database) -> None:
    routes = DashboardRoutes(db, TOKEN)
    body = urlencode({"token": TOKEN}).encode()
    scope = {"type": "http", "method": "POST", "path": "/dashboard/login", "scheme": "https", "query_string": b"",
             "headers": [(b"content-type", b"application/x-www-form-urlencoded"),
                         (b"content-length", str(len(body)).encode())]}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    reply = asyncio.run(routes.routes()["/dashboard/login"]["POST"](Request(scope, receive)))
    assert reply.status == 303
    assert reply.headers["Set-Cookie"].endswith("; HttpOnly; SameSite=Strict; Secure")


def test_wrong_tokens_and_gateway_api_keys_do_not_log_in(dashboard: Dashboard, db: Database) -> None:
    api_key, _ = issue_api_key(db, dashboard.seeded.acme, PEPPER)
    for token in (secrets.token_hex(32), api_key, "", TOKEN[:-1]):
        reply = login(dashboard.url, token)
        assert reply.status == 403 and "set-cookie" not in reply.headers
        assert b"That is not the operator token." in reply.body
        assert_secured(reply)
    # Bearer headers open the admin API, never the dashboard: only the session cookie does.
    for bearer in (TOKEN, api_key):
        reply = get(dashboard.url, "/dashboard", Authorization=f"Bearer {bearer}")
        assert reply.status == 303


def test_forged_foreign_expired_and_logged_out_cookies_are_refused(dashboard: Dashboard) -> None:
    cookie = session_cookie(login(dashboard.url))
    name, _, value = cookie.partition("=")
    expires, session_id, mac = value.split(".")
    foreign = SessionCookies(clock_s=dashboard.cookie_clock).issue()  # another process's key
    for forged in (
        f"{int(expires) + 3600}.{session_id}.{mac}",  # a longer expiry under the old MAC
        f"{expires}.{secrets.token_urlsafe(16)}.{mac}",
        f"{expires}.{session_id}.{mac[:-2]}AA",
        foreign, "", "garbage", f"{expires}.{session_id}",
    ):
        assert get(dashboard.url, "/dashboard", f"{name}={forged}").status == 303, forged
    assert get(dashboard.url, "/dashboard", cookie).status == 200

    dashboard.cookie_clock.now_s += dashboard.cookies.ttl_s
    assert get(dashboard.url, "/dashboard", cookie).status == 303  # expired

    dashboard.cookie_clock.now_s -= dashboard.cookies.ttl_s
    logout = request(dashboard.url, "POST", "/dashboard/logout", b"", {"Cookie": cookie})
    assert (logout.status, logout.headers["location"]) == (303, "/dashboard/login")
    assert logout.headers["set-cookie"].startswith(f"{name}=; Max-Age=0; Path=/dashboard")
    assert get(dashboard.url, "/dashboard", cookie).status == 303  # a copy of it stops working too


def test_failed_logins_are_bounded_per_minute(dashboard: Dashboard) -> None:
    for _ in range(FAILED_LOGINS_PER_MINUTE_MAX):
        assert login(dashboard.url, "wrong").status == 403
    refused = login(dashboard.url)  # even the right token waits: guessing must not go on
    assert refused.status == 429 and refused.headers["retry-after"] == "60"
    assert "set-cookie" not in refused.headers
    assert_secured(refused)
    dashboard.throttle_clock.now_s += 30
    assert login(dashboard.url).headers["retry-after"] == "30"
    dashboard.throttle_clock.now_s += 30
    assert login(dashboard.url).status == 303


def login_from(url: str, source: str, token: str) -> int:
    """A login on a connection from the loopback address ``source`` (127.0.0.0/8 is all ours)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10, source_address=(source, 0))
    try:
        connection.request("POST", "/dashboard/login", urlencode({"token": token}), FORM)
        return connection.getresponse().status
    finally:
        connection.close()


def test_failed_logins_elsewhere_never_refuse_the_operator(dashboard: Dashboard) -> None:
    """The throttle was process-wide and checked first: ten wrong logins a minute from anywhere
    locked the operator out (#18). It counts per client address now."""
    for _ in range(FAILED_LOGINS_PER_MINUTE_MAX + 2):
        assert login_from(dashboard.url, "127.0.0.2", "wrong") in (403, 429)
    assert login_from(dashboard.url, "127.0.0.2", TOKEN) == 429  # that address must wait
    assert login_from(dashboard.url, "127.0.0.1", TOKEN) == 303  # the operator's does not
    assert login_from(dashboard.url, "127.0.0.3", "wrong") == 403


def test_the_throttle_remembers_a_bounded_number_of_addresses() -> None:
    clock = Clock(1_000.0)
    throttle = LoginThrottle(failures_max=2, clock_s=clock, addresses_max=100)
    for host in range(1_000):
        throttle.failed(f"10.0.{host // 256}.{host % 256}")
    assert throttle.addresses() == 100
    throttle.failed("10.0.3.231")  # the newest are kept
    assert throttle.retry_after_s("10.0.3.231") == 60 and throttle.retry_after_s("10.0.0.0") == 0
    for suffix in ("1", "2:3", "ffff:1"):  # one IPv6 /64 counts as one address
        throttle.failed(f"2001:db8:0:1::{suffix}")
    assert throttle.retry_after_s("2001:db8:0:1::9") == 60
    clock.now_s += 60
    assert throttle.retry_after_s("10.0.3.231") == 0


def test_the_login_form_is_bounded_and_same_origin(dashboard: Dashboard) -> None:
    big = urlencode({"token": "x" * LOGIN_BODY_BYTES_MAX}).encode()
    assert request(dashboard.url, "POST", "/dashboard/login", big, FORM).status == 413
    assert request(dashboard.url, "POST", "/dashboard/login", json.dumps({"token": TOKEN}).encode(),
                   {"Content-Type": "application/json"}).status == 400
    cross_site = login(dashboard.url, headers={"Origin": "https://evil.example"})
    assert cross_site.status == 403 and "set-cookie" not in cross_site.headers
    host = dashboard.url.removeprefix("http://")
    assert login(dashboard.url, headers={"Origin": f"http://{host}"}).status == 303
    assert login(dashboard.url, headers={"Origin": "null"}).status == 303  # what no-referrer pages send


def test_the_page_shows_health_spend_rejections_and_invoices(dashboard: Dashboard) -> None:
    cookie = session_cookie(login(dashboard.url))
    page = get(dashboard.url, "/dashboard", cookie).body.decode()
    seeded = dashboard.seeded
    assert 'id="health-state" class="badge badge-warn">warn<' in page
    assert "deposit_low" in page and "runway" in page.lower()
    assert "7.25 ETH" in page and "7250000000000000000 wei" in page  # deposit, exact from wei
    assert "3 ETH" in page and "0.05 ETH" in page  # reserve, EV still redeemable
    assert "3 d 5 h" in page  # runway at the burn rate
    assert cells(page, "name") == ["dave", "acme", "bob", "carol"]  # default: EV signed, largest first
    assert cells(page, "gateway") == [str(seeded.dave), str(seeded.acme), str(seeded.bob), str(seeded.carol)]
    assert cells(page, "calls") == ["1", "3", "1", "0"] and cells(page, "tickets") == ["5", "3", "2", "0"]
    assert cells(page, "ev") == ["0.05", "0.03", "0.02", "0"]
    assert cells(page, "fee") == ["0.045", "0.018", "0.015", "0"]
    assert "45000000000000000 wei" in page and "18000000000000000 wei" in page
    assert cells(page, "status") == ["active", "active", "active", "disabled"]
    assert "no API key &lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>" not in page
    assert "gateway 2 over its credit limit" in page and "spend_refused" in page
    assert seeded.issued_number in page and "90.00 USD" in page and "60.00 USD" in page
    assert f"draft #{seeded.draft_invoice}" in page
    issued_links = re.findall(rf"invoice_id={seeded.issued_invoice}&amp;format=(\w+)", page)
    draft_links = re.findall(rf"invoice_id={seeded.draft_invoice}&amp;format=(\w+)", page)
    assert (issued_links, draft_links) == (["pdf", "csv", "json"], ["csv", "json"])  # a draft is no PDF
    samples = re.findall(r'data-series="(\w+)" data-samples="(\d+)"', page)
    assert samples == [("deposit", str(seeded.samples)), ("reserve", str(seeded.samples))]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("sort=name&order=asc", ["acme", "bob", "carol", "dave"]),
        ("sort=name", ["acme", "bob", "carol", "dave"]),  # text columns default to A→Z
        ("sort=name&order=desc", ["dave", "carol", "bob", "acme"]),
        ("sort=fee&order=asc", ["carol", "bob", "acme", "dave"]),
        ("sort=calls&order=asc", ["carol", "bob", "dave", "acme"]),  # ties by id
        ("sort=calls&order=desc", ["acme", "bob", "dave", "carol"]),  # ties by id, whatever the order
        ("sort=tickets&order=asc", ["carol", "bob", "acme", "dave"]),
        ("sort=status&order=desc", ["carol", "acme", "bob", "dave"]),
        ("sort=gateway", ["dave", "carol", "bob", "acme"]),  # numeric columns default to largest first
        ("sort=evil%27%3E&order=sideways", ["dave", "acme", "bob", "carol"]),  # unknown: the default
        ("sort=ev&sort=name", ["dave", "acme", "bob", "carol"]),
        ("window=forever", ["dave", "acme", "bob", "carol"]),
    ],
)
def test_the_gateway_table_sorts_by_whitelisted_columns(dashboard: Dashboard, query: str, names: list[str]) -> None:
    cookie = session_cookie(login(dashboard.url))
    reply = get(dashboard.url, f"/dashboard?{query}", cookie)
    assert reply.status == 200
    assert cells(reply.body.decode(), "name") == names
    assert b"evil'>" not in reply.body


def test_sort_links_reverse_the_current_column(dashboard: Dashboard) -> None:
    cookie = session_cookie(login(dashboard.url))
    page = get(dashboard.url, "/dashboard?sort=calls&order=desc&window=24h", cookie).body.decode()
    links = dict(re.findall(r'<a href="\?([^"]+)" data-sort="(\w+)"', page)[i][::-1] for i in range(7))
    assert links["calls"] == "sort=calls&amp;order=asc&amp;window=24h"
    assert links["name"] == "sort=name&amp;order=asc&amp;window=24h"
    assert links["ev"] == "sort=ev&amp;order=desc&amp;window=24h"


@pytest.mark.parametrize(
    ("export_format", "content_type", "starts"),
    [("pdf", "application/pdf", b"%PDF-"), ("csv", "text/csv; charset=utf-8", None),
     ("json", "application/json", b"{")],
)
def test_invoices_download_as_attachments(
    dashboard: Dashboard, export_format: str, content_type: str, starts: bytes | None
) -> None:
    cookie = session_cookie(login(dashboard.url))
    seeded = dashboard.seeded
    reply = get(dashboard.url, f"/dashboard/invoice?invoice_id={seeded.issued_invoice}&format={export_format}",
                cookie)
    assert reply.status == 200 and reply.headers["content-type"] == content_type
    assert reply.headers["content-disposition"] == f'attachment; filename="{seeded.issued_number}.{export_format}"'
    assert_secured(reply)
    if starts is not None:
        assert reply.body.startswith(starts)
    if export_format == "json":
        assert json.loads(reply.body)["gateway_id"] == seeded.acme
    if export_format == "csv":
        assert b"90.00" in reply.body


def test_invoice_downloads_refuse_what_does_not_work(dashboard: Dashboard) -> None:
    cookie = session_cookie(login(dashboard.url))
    draft = dashboard.seeded.draft_invoice
    for query, status in (
        (f"invoice_id={draft}&format=pdf", 409),  # a draft has no number to print
        (f"invoice_id={draft}&format=stripe", 400),
        ("invoice_id=999&format=csv", 404),
        ("invoice_id=0&format=csv", 400),
        ("invoice_id=-1&format=csv", 400),
        ("format=csv", 400),
    ):
        reply = get(dashboard.url, f"/dashboard/invoice?{query}", cookie)
        assert reply.status == status, query
        assert reply.headers["content-type"] == "text/html; charset=utf-8" and b"<h1>" in reply.body
        assert_secured(reply)
    draft_csv = get(dashboard.url, f"/dashboard/invoice?invoice_id={draft}&format=csv", cookie)
    assert draft_csv.headers["content-disposition"] == f'attachment; filename="invoice-{draft}-draft.csv"'


def test_only_whitelisted_static_files_are_served(dashboard: Dashboard) -> None:
    css = get(dashboard.url, "/dashboard/static/dashboard.css")
    assert css.status == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    assert b".series-deposit" in css.body
    assert_secured(css)
    icon = get(dashboard.url, "/dashboard/static/favicon.svg")
    assert icon.status == 200 and icon.headers["content-type"] == "image/svg+xml"
    for path in ("/dashboard/static/routes.py", "/dashboard/static/../routes.py", "/dashboard/static/%2e%2e/routes.py",
                 "/dashboard/static/../../ledger/engine.py", "/dashboard/static/", "/dashboard/templates/base.html",
                 "/dashboard/static/dashboard.css/", "/dashboard/static//etc/passwd"):
        reply = get(dashboard.url, path)
        assert reply.status == 404, path
        assert b"series-deposit" not in reply.body and b"import" not in reply.body


def test_without_a_monitor_the_health_is_unmonitored_with_the_last_sample(
    db: Database, fake_service: FakePaymentService, serve: Callable[..., AbstractContextManager[str]]
) -> None:
    now = datetime.now(UTC)
    record_deposit_sample(db, now - timedelta(minutes=5), 4_242, 12 * ETH + 1, ETH // 2)
    with serve(fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER), dashboard=DashboardRoutes(db, TOKEN)) as url:
        page = get(url, "/dashboard?window=24h", session_cookie(login(url))).body.decode()
    assert 'badge-unmonitored">unmonitored<' in page
    assert "12.000000000000000001 ETH" in page and "0.5 ETH" in page and "block 4,242" in page
    assert "This process keeps no rejections." in page and "No invoices yet." in page
    assert 'data-samples="1"' in page
    # One sample, five minutes old: the chart spans the data that exists, not 24 empty hours (#19).
    assert "the oldest sample in the last 24h" in page


def test_eth_text_is_exact_from_wei() -> None:
    assert eth_text(0) == "0" and eth_text(1) == "0.000000000000000001"
    assert eth_text(1_234 * ETH + ETH // 2) == "1,234.5" and eth_text(-ETH // 4) == "-0.25"
    assert eth_text(2**256 - 1).replace(",", "").replace(".", "") == str(2**256 - 1)
    third = Amount.of(Fraction(37, 3))  # EV is a rational: shown rounded down, exact in the tooltip
    assert (third.eth, third.wei, third.exact) == ("0.000000000000000012", "12", "37/3")


def test_a_long_window_is_thinned_without_losing_a_dip() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    samples = [(start + timedelta(minutes=m), 5 * ETH) for m in range(30 * 24 * 60)]
    samples[20_000] = (samples[20_000][0], ETH)  # one minute's dip, 1 of ~50 samples per pixel
    chart = step_chart([Series("Deposit", "deposit", samples)], start, start + timedelta(days=30), eth_label)
    line = chart.lines[0]
    ys = [float(point.split(",")[1]) for point in line.points.split()]
    assert line.samples == len(samples) and len(ys) <= 2 * 4 * (chart.right - chart.left + 1)
    one_eth_y = next(tick.at_px for tick in chart.y_ticks if tick.label == "1 ETH")
    assert max(ys) == pytest.approx(one_eth_y, abs=0.1)  # the dip is drawn (y grows downwards)
    assert [tick.label for tick in chart.y_ticks] == ["0 ETH", "1 ETH", "2 ETH", "3 ETH", "4 ETH", "5 ETH"]


def test_amounts_read_in_an_automatic_unit_with_the_exact_value_kept() -> None:
    """Issue 19: 40,705 wei is not "0.000000000000040705 ETH" on a card."""
    from clearinghouse.api.dashboard.views import auto_unit_text, duration_text

    assert auto_unit_text(40_705) == "40,705 wei"
    assert auto_unit_text(40_705_000_000) == "40.705 gwei"
    assert auto_unit_text(7_250_000_000_000_000_000) == "7.25 ETH"
    assert auto_unit_text(12 * ETH + 1) == "≈ 12 ETH"
    assert auto_unit_text(ETH // 3) == "≈ 0.333333 ETH"
    assert auto_unit_text(0) == "0 ETH" and auto_unit_text(-ETH // 4) == "-0.25 ETH"
    amount = Amount.of(Fraction(81_410, 2))
    assert (amount.shown, amount.exact) == ("40,705 wei", "40705")
    assert duration_text(18_966_453_687 * 86_400.0) == "> 1 year" and duration_text(3 * 86_400 + 5 * 3600) == "3 d 5 h"


def test_the_page_shows_apps_their_users_allowances_and_usage(dashboard: Dashboard, db: Database) -> None:
    """Issue 16: each app with its end users, their allowance (granted, spent, remaining, exact)
    and this month's calls and EV signed; a deactivated user says so; text is escaped."""
    from clearinghouse.ledger.identity import (
        create_app,
        grant_allowance,
        provision_user,
        update_user,
    )

    app = create_app(db, dashboard.seeded.acme, name="<b>saas</b>", client_id="app_dash", secret_digest=b"\x02" * 32)
    alice = provision_user(db, app, "alice", None)
    provision_user(db, app, "zed", None)
    update_user(db, app, "zed", active=False)
    rate = record_rate_snapshot(db, NewRate(USD_PER_ETH, "manual", datetime.now(UTC), datetime.now(UTC), "t", "s"))
    driver = SessionDriver(dashboard.seeded.acme, face_value=FACE_VALUE_WEI, price_per_unit=6 * 10**14)
    call = driver.next_call(10, rate_snapshot_id=rate.id, usage_subject=alice.usage_subject)
    record_signing_call(db, call)
    grant_allowance(db, app, "alice", ETH)
    page = get(dashboard.url, "/dashboard", session_cookie(login(dashboard.url))).body.decode()
    section = page.split('id="apps"', 1)[1].split("</section>", 1)[0]
    assert "app_dash" in section and "&lt;b&gt;saas&lt;/b&gt;" in section and "<b>saas" not in section
    alice_row = section.split('data-external-id="alice"', 1)[1].split("</tr>", 1)[0]
    assert re.search(r'class="num">1<', alice_row)  # one call this month
    assert "1 ETH" in alice_row  # granted
    assert "0.01 ETH" in alice_row  # EV signed: one ticket of 0.01 ETH
    zed_row = section.split('data-external-id="zed"', 1)[1].split("</tr>", 1)[0]
    assert "deactivated" in zed_row and "no allowance" in zed_row
