"""The operator dashboard's routes under /dashboard, mounted on Starlette like /admin/v1/ (mounted.py).

    GET  /dashboard/login               the login form
    POST /dashboard/login               form field ``token``: the operator ([admin]) token
    POST /dashboard/logout              end the session
    GET  /dashboard                     the page (?window=24h|7d|30d&sort=<column>&order=asc|desc)
    GET  /dashboard/invoice             ?invoice_id=N&format=pdf|csv|json, as an attachment
    GET  /dashboard/static/<name>       the stylesheet and icon (an exact whitelist)

Everything but the login form, the static files and logout needs the session cookie
(session.py); a GET without one is redirected (303) to the login form. Only the operator token
logs in (a gateway API key is not one), compared in constant time; failed logins are bounded
per client address (429 with Retry-After, session.LoginThrottle), so no one else's failures
refuse the operator's token. Every answer carries SECURITY_HEADERS: the pages run no
script at all and load nothing from elsewhere, so the dashboard works with no internet. Errors
are small HTML pages. Blocking database work and rendering run on the routes' own small pool.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Final
from urllib.parse import parse_qs, urlencode, urlsplit

import jinja2

from starlette.requests import Request

from clearinghouse.api.admin_http import EXPORT_FORMATS
from clearinghouse.api.limits import ROW_ID_MAX
from clearinghouse.api.dashboard.apps_view import app_views
from clearinghouse.api.dashboard.charts import Series, step_chart
from clearinghouse.api.dashboard.session import LoginThrottle, SessionCookies
from clearinghouse.api.dashboard.settlement_views import funding_views, receivable_views
from clearinghouse.api.dashboard.views import (
    GatewaySpend,
    eth_label,
    gateway_spends,
    health_view,
    invoice_view,
    moment_text,
    period_text,
    rejection_view,
    sort_choice,
    sort_headers,
    sorted_spends,
)
from clearinghouse.api.errors import ApiError, BadRequest, PayloadTooLarge
from clearinghouse.api.bodies import Scope, read_body
from clearinghouse.api.http import Response
from clearinghouse.api.mounted import Endpoint, database_pool
from clearinghouse.api.rejections import RecentRejections, Rejection
from clearinghouse.api.requests import RequestHeaders
from clearinghouse.billing.invoicing import export_invoice, month_period
from clearinghouse.billing.overdue import OverdueBook
from clearinghouse.chain.health import DepositHealth
from clearinghouse.ledger import (
    Database,
    DatabaseUnavailable,
    LedgerConflict,
    NotFound,
    deposit_samples_since,
    list_gateways,
    newest_deposit_sample,
)
from clearinghouse.domain.gateways import Gateway
from clearinghouse.errors import InvalidLedgerInput, LedgerError
from clearinghouse.ledger.hourly_usage import Usage, UsageGrouping, grouped_usage
from clearinghouse.ledger.funding_actions import funding_history
from clearinghouse.ledger.invoices import list_invoices
from clearinghouse.api.limits import (
    CHART_SPAN_MIN,
    FUNDING_ACTIONS_SHOWN_MAX,
    INVOICES_SHOWN_MAX,
    LOGIN_BODY_BYTES_MAX,
    QUERY_FIELDS_MAX,
    REJECTIONS_SHOWN_MAX,
)


CHART_WINDOWS: Final[Mapping[str, timedelta]] = {
    "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30),
}
"""The chart's selectable windows; 30 days of a flat position is ~43,000 samples, within one
read (DEPOSIT_SAMPLES_LISTED_MAX)."""

WINDOW_DEFAULT: Final = "7d"

DOWNLOAD_FORMATS: Final = ("pdf", "csv", "json")
"""What an operator downloads from the page (the admin API has the Stripe and OpenMeter ones)."""

COOKIE_NAME: Final = "ch_dashboard"
LOGIN_PATH: Final = "/dashboard/login"
HOME_PATH: Final = "/dashboard"

STATIC_FILES: Final[Mapping[str, str]] = {
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
"""The only static files served, each with its Content-Type; any other path is not a route."""

SECURITY_HEADERS: Final[Mapping[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}
"""On every dashboard answer: no script, nothing from another origin, never framed, never
cached (pages show money and a session), no referrer leaving the page."""

_HTML: Final = "text/html; charset=utf-8"
_SAFE_FILENAME: Final = re.compile(r"[^A-Za-z0-9._-]")
_ERROR_STATUS: Final[tuple[tuple[type[LedgerError], int], ...]] = (
    (NotFound, 404),
    (LedgerConflict, 409),
    (InvalidLedgerInput, 400),
    (DatabaseUnavailable, 503),
)
"""The dashboard's table of ledger errors → status of its HTML error page; first match wins."""



@dataclass(frozen=True, slots=True)
class PageQuery:
    """What the page was asked for: the chart window and the gateway table's sort."""

    window: str
    sort: str | None
    order: str | None


class DashboardRoutes:
    """The /dashboard routes over one ledger; ``routes()`` is mounted on Starlette (mounted.py).

    ``deposit_health``: the monitor's verdict (None: no live chain, shown as "unmonitored");
    ``rejections``: this process's recent refusals (None: the section says none are kept).
    """

    def __init__(
        self,
        db: Database,
        operator_token: str,
        *,
        deposit_health: Callable[[], DepositHealth] | None = None,
        rejections: RecentRejections | None = None,
        cookies: SessionCookies | None = None,
        throttle: LoginThrottle | None = None,
        overdue: OverdueBook | None = None,
    ) -> None:
        """``overdue``: the billing scheduler's book (None: no receivables section). Raises
        ValueError for an empty operator token."""
        if not operator_token:
            raise ValueError("the operator token must not be empty")
        self._db = db
        self._token = operator_token.encode()
        self._deposit_health = deposit_health
        self._rejections = rejections
        self._overdue = overdue
        self._cookies = cookies or SessionCookies()
        self._throttle = throttle or LoginThrottle()
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("clearinghouse.api.dashboard", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        )
        folder = resources.files("clearinghouse.api.dashboard") / "static"
        self._static = {name: (folder / name).read_bytes() for name in STATIC_FILES}

    def routes(self) -> dict[str, dict[str, Endpoint]]:
        """Path → method → handler."""
        routes: dict[str, dict[str, Endpoint]] = {
            HOME_PATH: {"GET": self._answered(self._signed_in(self._page))},
            LOGIN_PATH: {"GET": self._answered(self._login_form), "POST": self._answered(self._login)},
            "/dashboard/logout": {"POST": self._answered(self._logout)},
            "/dashboard/invoice": {"GET": self._answered(self._signed_in(self._invoice))},
        }
        for name in STATIC_FILES:
            routes[f"/dashboard/static/{name}"] = {"GET": self._answered(self._static_file)}
        return routes

    def _answered(self, handler: Endpoint) -> Endpoint:
        """The route: the handler's answer, or an HTML error page, with SECURITY_HEADERS."""

        async def answer(request: Request) -> Response:
            try:
                response = await handler(request)
            except ApiError as exc:
                response = await self._error_page(exc.status, exc.message, exc.headers)
            except LedgerError as exc:
                status = next((code for kind, code in _ERROR_STATUS if isinstance(exc, kind)), None)
                if status is None:  # InvariantViolation and the like: http.py's 500, logged
                    raise
                # A DatabaseUnavailable message names the database; the page need not.
                message = "database unavailable" if status == 503 else str(exc)
                response = await self._error_page(status, message, {})
            return Response(response.status, response.body, {**response.headers, **SECURITY_HEADERS})

        return answer

    def _signed_in(self, handler: Endpoint) -> Endpoint:
        """The handler for a request with a valid session cookie; others go to the login form."""

        async def answer(request: Request) -> Response:
            if not self._cookies.valid(session_cookie(request.scope)):
                return _redirect(LOGIN_PATH)
            return await handler(request)

        return answer

    async def _login_form(self, request: Request) -> Response:
        if self._cookies.valid(session_cookie(request.scope)):
            return _redirect(HOME_PATH)
        return await self._login_page(200, None)

    async def _login(self, request: Request) -> Response:
        _same_origin(request.scope)
        address = _client_address(request.scope)
        retry_after_s = self._throttle.retry_after_s(address)
        if retry_after_s:
            raise ApiError(f"too many failed logins; try again in {retry_after_s} s", status=429,
                           headers={"Retry-After": str(retry_after_s)})
        form = await _form(request)
        if not hmac.compare_digest(form.get("token", "").strip().encode(), self._token):
            self._throttle.failed(address)
            # 403, not 401: a form login has no WWW-Authenticate challenge to send.
            return await self._login_page(403, "That is not the operator token.")
        secure = "; Secure" if request.scope.get("scheme") == "https" else ""
        cookie = (f"{COOKIE_NAME}={self._cookies.issue()}; Max-Age={self._cookies.ttl_s}; Path={HOME_PATH}; "
                  f"HttpOnly; SameSite=Strict{secure}")
        return _redirect(HOME_PATH, {"Set-Cookie": cookie})

    async def _logout(self, request: Request) -> Response:
        _same_origin(request.scope)
        self._cookies.log_out(session_cookie(request.scope))
        secure = "; Secure" if request.scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE_NAME}=; Max-Age=0; Path={HOME_PATH}; HttpOnly; SameSite=Strict{secure}"
        return _redirect(LOGIN_PATH, {"Set-Cookie": cookie})

    async def _page(self, request: Request) -> Response:
        query = _page_query(request.scope)
        health = None if self._deposit_health is None else self._deposit_health()
        rejections = None if self._rejections is None else self._rejections.newest(REJECTIONS_SHOWN_MAX)
        body = await database_pool(request).run(self._render_page, query, health, rejections, datetime.now(UTC))
        return Response(200, body, {"Content-Type": _HTML})

    async def _invoice(self, request: Request) -> Response:
        query = query_fields(request.scope)
        invoice_id = _invoice_id(query.get("invoice_id"))
        export_format = query.get("format")
        if export_format not in DOWNLOAD_FORMATS:
            raise BadRequest(f"format must be one of {', '.join(DOWNLOAD_FORMATS)}")
        row, data = await database_pool(request).run(export_invoice, self._db, invoice_id, export_format)
        filename = _SAFE_FILENAME.sub("_", row.number or f"invoice-{row.id}-draft") + f".{export_format}"
        return Response(200, data, {"Content-Type": EXPORT_FORMATS[export_format],
                                    "Content-Disposition": f'attachment; filename="{filename}"'})

    async def _static_file(self, request: Request) -> Response:
        name = request.scope["path"].rsplit("/", 1)[-1]  # routes() maps exactly the STATIC_FILES paths here
        return Response(200, self._static[name], {"Content-Type": STATIC_FILES[name]})

    def _render_page(
        self, query: PageQuery, health: DepositHealth | None, rejections: list[Rejection] | None, now: datetime,
    ) -> bytes:
        """Read what the page shows and render it (blocking: runs on the pool)."""
        gateways = list_gateways(self._db)
        names = {gateway.id: gateway.name for gateway in gateways}
        month = f"{now:%Y-%m}"
        spends, spend_error = _month_spends(self._db, gateways, month)
        column, descending = sort_choice(query.sort, query.order)
        start = now - CHART_WINDOWS[query.window]
        newest = newest_deposit_sample(self._db) if health is None else None
        context = {
            "now": moment_text(now),
            "health": health_view(health, newest),
            **_chart(self._db, start, now, query.window),
            "window": query.window,
            "windows": [(name, _window_href(name, query)) for name in CHART_WINDOWS],
            "month": period_text(*month_period(month)),
            "spends": sorted_spends(spends, column, descending),
            "spend_error": spend_error,
            "headers": sort_headers(column, descending, query.window),
            "rejections": None if rejections is None else [rejection_view(r, names) for r in rejections],
            "invoices": [invoice_view(row, names) for row in list_invoices(self._db, limit=INVOICES_SHOWN_MAX)],
            "receivables": None if self._overdue is None else receivable_views(self._overdue, names),
            "fundings": funding_views(funding_history(self._db, limit=FUNDING_ACTIONS_SHOWN_MAX)),
            "apps": app_views(self._db, names, *month_period(month)),
        }
        return self._templates.get_template("dashboard.html").render(context).encode()

    async def _login_page(self, status: int, error: str | None) -> Response:
        body = self._templates.get_template("login.html").render(error=error).encode()
        return Response(status, body, {"Content-Type": _HTML})

    async def _error_page(self, status: int, message: str, headers: Mapping[str, str]) -> Response:
        body = self._templates.get_template("error.html").render(status=status, message=message).encode()
        return Response(status, body, {**headers, "Content-Type": _HTML})


def _month_spends(db: Database, gateways: tuple[Gateway, ...], month: str) -> tuple[list[GatewaySpend], str | None]:
    """Every gateway's usage in the UTC calendar ``month``; an error text instead when the month
    holds more usage rows than one read may (the CLI reads a gateway at a time)."""
    start, end = month_period(month)
    try:
        groups = grouped_usage(db, None, start, end, UsageGrouping.GATEWAY)
    except InvalidLedgerInput as exc:
        return [], f"{exc}; use `clearinghouse usage` per gateway"
    usage: dict[int, Usage] = {int(key[0]): total for key, total in groups}
    return gateway_spends(gateways, usage), None


def _chart(db: Database, start: datetime, end: datetime, window: str) -> dict[str, object]:
    """The chart and its title's span. The window starts at the oldest sample when the samples
    cover less than it (a new deployment), so the data fills the chart (issue 19)."""
    samples = deposit_samples_since(db, start)
    span = f"over the last {window}"
    if samples and samples[0].observed_at > start:
        start = min(samples[0].observed_at, end - CHART_SPAN_MIN)
        span = f"since {moment_text(start)}, the oldest sample in the last {window}"
    chart = step_chart(
        [Series("Deposit", "deposit", [(s.observed_at, s.deposit_wei) for s in samples]),
         Series("Reserve", "reserve", [(s.observed_at, s.reserve_wei) for s in samples])],
        start, end, eth_label,
    )
    return {"chart": chart, "chart_span": span}


def _window_href(window: str, query: PageQuery) -> str:
    fields = {"window": window} | {k: v for k, v in (("sort", query.sort), ("order", query.order)) if v}
    return "?" + urlencode(fields)


def _page_query(scope: Scope) -> PageQuery:
    """The page's parameters; an unknown window or sort falls back to the default (a stale
    bookmark still opens the page)."""
    query = query_fields(scope)
    window = query.get("window", WINDOW_DEFAULT)
    return PageQuery(window if window in CHART_WINDOWS else WINDOW_DEFAULT, query.get("sort"), query.get("order"))


def query_fields(scope: Scope) -> dict[str, str]:
    """The query parameters, the first value of each. Raises BadRequest past QUERY_FIELDS_MAX."""
    try:
        text = scope.get("query_string", b"").decode("ascii")
        pairs = parse_qs(text, max_num_fields=QUERY_FIELDS_MAX)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("malformed query string") from None
    return {name: values[0] for name, values in pairs.items()}


def _invoice_id(text: str | None) -> int:
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > 19 or not 1 <= int(text) <= ROW_ID_MAX:
        raise BadRequest(f"invoice_id must be an integer in 1..{ROW_ID_MAX}")
    return int(text)


async def _form(request: Request) -> dict[str, str]:
    """The url-encoded form body, at most LOGIN_BODY_BYTES_MAX bytes."""
    headers = RequestHeaders(request.scope["headers"])
    length = headers.get("content-length") or ""
    if length.isdigit() and int(length) > LOGIN_BODY_BYTES_MAX:
        raise PayloadTooLarge(f"form body over {LOGIN_BODY_BYTES_MAX} bytes")
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadRequest("expected a form (application/x-www-form-urlencoded)")
    return parse_form(await read_body(request.scope, request.receive, LOGIN_BODY_BYTES_MAX))


def parse_form(data: bytes) -> dict[str, str]:
    """A url-encoded form's fields, the first value of each; BadRequest past QUERY_FIELDS_MAX
    fields or for text that is not UTF-8. Linear in ``data``."""
    try:
        pairs = parse_qs(data.decode("utf-8"), max_num_fields=QUERY_FIELDS_MAX)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("malformed form") from None
    return {name: values[0] for name, values in pairs.items()}


def _client_address(scope: Scope) -> str:
    """The peer's address (never X-Forwarded-For: proxy headers are not trusted)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def session_cookie(scope: Scope) -> str | None:
    """The session cookie's value, if the request has one."""
    for header in RequestHeaders(scope["headers"]).get_all("cookie"):
        for part in header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE_NAME:
                return value
    return None


def _same_origin(scope: Scope) -> None:
    """Refuse a form posted from a page of another site. SameSite=Strict keeps our cookie off
    such a request already; this refuses the Origin a browser names when it is another host.
    Our pages' own posts say "null" (their Referrer-Policy is no-referrer), and so may a
    hostile page's: the cookie attribute, not this check, is what stops those."""
    headers = RequestHeaders(scope["headers"])
    origin = headers.get("origin")
    if origin in (None, "null"):
        return
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:  # "http://[" is no URL (urlsplit raises), so not our origin either
        netloc = None
    if netloc != (headers.get("host") or ""):
        raise ApiError("cross-site form refused", status=403)


def _redirect(location: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response(303, b"", {"Location": location, "Content-Type": _HTML, **(headers or {})})
