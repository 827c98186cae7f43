"""The finance admin API under /admin/v1/: the ``clearinghouse invoice`` and ``usage`` commands
over HTTP, for every gateway (finance sees all), mounted on the HTTP server with [admin].

    GET  /admin/v1/invoices?gateway_id=&limit=     invoices and credit notes, newest period first
    POST /admin/v1/invoices/draft   {gateway_id, month | start+end, group_by}  store the period's draft
    POST /admin/v1/invoices/issue   {invoice_id, reason?}                      number and freeze it
    POST /admin/v1/invoices/paid    {invoice_id, paid_at?, reason?}            record its payment
    POST /admin/v1/invoices/void    {invoice_id, reason}                       void it with a credit note
    GET  /admin/v1/invoices/export?invoice_id=&format=csv|json|pdf|stripe|openmeter
         (&issuer_name= for pdf, &stripe_customer_id=&event_name= for stripe, &subject= for openmeter)
    GET  /admin/v1/usage?month= | start=&end=, group_by=, gateway_id=          all gateways without gateway_id

The router matches whole paths, so ids travel as query parameters or in the JSON body. Every call
needs ``Authorization: Bearer <admin token>`` (config [admin]), compared in constant time before
the body is read; a gateway API key is not an admin token. Changes are recorded with the actor
``admin-api``. Blocking database, billing and PDF work runs on the routes' own small pool.

Errors are ``{"error": {"message": …}}``: 400 a malformed request or a value the ledger or billing
refuses, 401 no or a wrong token, 404 an unknown invoice or gateway, 409 a refused lifecycle
transition (issuing twice, voiding a draft, redrafting an issued period, printing a draft as a
PDF), 413 a body over
ADMIN_BODY_BYTES_MAX. Wei are strings: exact as "a" or "a/b", and rounded down as a decimal.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs

from starlette.requests import Request

from clearinghouse.api.errors import ApiError, BadRequest, Unauthenticated
from clearinghouse.api.bodies import Receive, Scope, read_body
from clearinghouse.api.http import Response
from clearinghouse.api.mounted import Endpoint, database_pool
from clearinghouse.api.limits import ADMIN_INVOICES_LISTED_MAX
from clearinghouse.api.payloads import check_encodable, check_json_depth
from clearinghouse.api.requests import RequestHeaders, bearer_credential
from clearinghouse.billing.invoices import InvoiceError, LineGrouping
from clearinghouse.billing.invoice_terms import InvoicingSettings
from clearinghouse.billing.overdue import OverdueBook, record_payment
from clearinghouse.billing.invoicing import (
    DEFAULT_STRIPE_EVENT_NAME,
    draft_for_period,
    export_invoice,
    month_period,
    void_with_credit_note,
)
from clearinghouse.billing.rates import parse_valid_at
from clearinghouse.errors import ClearinghouseError, InvalidLedgerInput
from clearinghouse.ledger import invoices as stored
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import LedgerConflict, NotFound
from clearinghouse.ledger.hourly_usage import Usage, UsageGrouping, grouped_usage
from clearinghouse.api.limits import (
    ADMIN_BODY_BYTES_MAX,
    ADMIN_QUERY_FIELDS_MAX,
    ADMIN_USAGE_GROUPS_MAX,
    INVOICES_LISTED_DEFAULT,
    ROW_ID_MAX,
)

ACTOR: Final = "admin-api"
"""Who every change made through these routes is recorded as, in the invoices' audit trail."""


EXPORT_FORMATS: Final[Mapping[str, str]] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "pdf": "application/pdf",
    "stripe": "application/x-ndjson",
    "openmeter": "application/x-ndjson",
}
"""Each export format and its Content-Type (Stripe and OpenMeter events are JSON lines)."""

_EXTENSIONS: Final[Mapping[str, str]] = {"csv": "csv", "json": "json", "pdf": "pdf", "stripe": "jsonl",
                                          "openmeter": "jsonl"}
_LEDGER_STATUS: Final[tuple[tuple[type[ClearinghouseError], int], ...]] = (
    (NotFound, 404),
    (LedgerConflict, 409),
    (InvalidLedgerInput, 400),
    (InvoiceError, 400),
)
"""The admin transport's one table of ledger and billing errors → HTTP status; the first match
wins. Anything else (DatabaseUnavailable, InvariantViolation) is http.py's to answer."""

Query = Mapping[str, str]
_Choice = TypeVar("_Choice", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Export:
    """An exported invoice: its bytes, Content-Type and a file name for Content-Disposition."""

    data: bytes
    content_type: str
    filename: str


class AdminRoutes:
    """The /admin/v1/ routes over one ledger; ``routes()`` is mounted on Starlette (mounted.py)."""

    def __init__(self, db: Database, token: str, *,
                 invoicing: InvoicingSettings = InvoicingSettings(), overdue: OverdueBook | None = None) -> None:
        """``overdue`` is the daemon's overdue book: marking an invoice paid here lifts its
        gateway's stop at once (billing/overdue.py)."""
        if not token:
            raise ValueError("the admin token must not be empty")
        self._db = db
        self._invoicing = invoicing
        self._overdue = overdue
        self._token = token.encode("ascii")

    def routes(self) -> dict[str, dict[str, Endpoint]]:
        """Path → method → handler."""
        return {
            "/admin/v1/invoices": {"GET": self._guarded(self._list)},
            "/admin/v1/invoices/draft": {"POST": self._guarded(self._draft)},
            "/admin/v1/invoices/issue": {"POST": self._guarded(self._issue)},
            "/admin/v1/invoices/paid": {"POST": self._guarded(self._paid)},
            "/admin/v1/invoices/void": {"POST": self._guarded(self._void)},
            "/admin/v1/invoices/export": {"GET": self._guarded(self._export)},
            "/admin/v1/usage": {"GET": self._guarded(self._usage)},
        }

    def _guarded(self, handler: Endpoint) -> Endpoint:
        """The route: authenticate first, then the handler, its ledger errors as ApiErrors."""

        async def answer(request: Request) -> Response:
            self._authenticate(RequestHeaders(request.scope["headers"]))
            try:
                return await handler(request)
            except ApiError:
                raise
            except ClearinghouseError as exc:
                status = _status(exc)
                if status is None:
                    raise
                raise ApiError(str(exc), status=status) from exc

        return answer

    def _authenticate(self, headers: RequestHeaders) -> None:
        """Unauthenticated unless the request carries ``Authorization: Bearer <admin token>``."""
        presented = bearer_credential(headers)
        if presented is None:
            raise _unauthenticated("admin routes need Authorization: Bearer <admin token>")
        if not hmac.compare_digest(presented.encode("latin-1"), self._token):
            raise _unauthenticated("wrong admin token")

    async def _list(self, request: Request) -> Response:
        query = admin_query(request.scope, {"gateway_id", "limit"})
        gateway_id = _query_id(query, "gateway_id", required=False)
        limit = _int_text(query.get("limit", str(INVOICES_LISTED_DEFAULT)), "limit", ADMIN_INVOICES_LISTED_MAX)
        rows = await database_pool(request).run(_list_invoices, self._db, gateway_id, limit)
        return _json_response({"invoices": [invoice_document(row) for row in rows]})

    async def _draft(self, request: Request) -> Response:
        body = await _body(request.scope, request.receive, {"gateway_id", "month", "start", "end", "group_by"})
        gateway_id = _id(body.get("gateway_id"), "gateway_id")
        start, end = _period(body)
        grouping = _choice(body.get("group_by", LineGrouping.PIPELINE_MODEL.value), "group_by", LineGrouping)
        row, lines = await database_pool(request).run(_draft_for_period, self._db, gateway_id, start, end, grouping,
                                          self._invoicing)
        return _json_response(invoice_document(row) | {"lines": lines})

    async def _issue(self, request: Request) -> Response:
        body = await _body(request.scope, request.receive, {"invoice_id", "reason", "allow_open_period"})
        invoice_id, reason = _id(body.get("invoice_id"), "invoice_id"), _text(body, "reason", "issued")
        allow_open_period = body.get("allow_open_period", False)
        if not isinstance(allow_open_period, bool):
            raise BadRequest(f"allow_open_period must be true or false, got {allow_open_period!r:.40}")
        row = await database_pool(request).run(_issue_invoice, self._db, invoice_id, reason, self._invoicing,
                                               allow_open_period)
        return _json_response(invoice_document(row))

    async def _paid(self, request: Request) -> Response:
        body = await _body(request.scope, request.receive, {"invoice_id", "paid_at", "reason"})
        invoice_id, reason = _id(body.get("invoice_id"), "invoice_id"), _text(body, "reason", "payment received")
        paid_at = datetime.now(UTC) if body.get("paid_at") is None else _moment(body["paid_at"], "paid_at")
        row = await database_pool(request).run(_mark_paid, self._db, invoice_id, paid_at, reason, self._overdue)
        return _json_response(invoice_document(row))

    async def _void(self, request: Request) -> Response:
        body = await _body(request.scope, request.receive, {"invoice_id", "reason"})
        invoice_id, reason = _id(body.get("invoice_id"), "invoice_id"), _text(body, "reason", None)
        voided, credit = await database_pool(request).run(_void_with_credit_note, self._db, invoice_id, reason)
        return _json_response({"voided": invoice_document(voided), "credit_note": invoice_document(credit)})

    async def _export(self, request: Request) -> Response:
        names = {"invoice_id", "format", "issuer_name", "stripe_customer_id", "event_name", "subject"}
        query = admin_query(request.scope, names)
        invoice_id = _query_id(query, "invoice_id", required=True)
        export_format = _format(query.get("format"))
        if export_format == "stripe" and not query.get("stripe_customer_id"):
            raise BadRequest("format=stripe needs stripe_customer_id (the gateway's Stripe customer)")
        export = await database_pool(request).run(_exported, self._db, invoice_id, export_format, query)
        disposition = f'attachment; filename="{export.filename}"'
        return Response(200, export.data, {"Content-Type": export.content_type, "Content-Disposition": disposition})

    async def _usage(self, request: Request) -> Response:
        query = admin_query(request.scope, {"gateway_id", "month", "start", "end", "group_by"})
        gateway_id = _query_id(query, "gateway_id", required=False)
        start, end = _period(query)
        grouping = _choice(query.get("group_by", UsageGrouping.GATEWAY.value), "group_by", UsageGrouping)
        groups = await database_pool(request).run(_grouped_usage, self._db, gateway_id, start, end, grouping)
        document = {"start": start.isoformat(), "end": end.isoformat(), "group_by": grouping.value,
                    "gateway_id": gateway_id, "groups": [_usage_document(key, usage) for key, usage in groups]}
        return _json_response(document)


def invoice_document(row: stored.Invoice) -> dict[str, object]:
    """An invoice as JSON: the minor-unit total a decimal string, times ISO 8601 with offset."""

    def moment(value: datetime | None) -> str | None:
        return None if value is None else value.isoformat()

    return {
        "id": row.id, "gateway_id": row.gateway_id, "number": row.number, "status": row.status.value,
        "period_start": row.period_start.isoformat(), "period_end": row.period_end.isoformat(),
        "currency": row.currency, "total_minor": str(row.total_minor), "content_hash": row.content_hash.hex(),
        "credit_note_of": row.credit_note_of, "issued_at": moment(row.issued_at), "paid_at": moment(row.paid_at),
        "voided_at": moment(row.voided_at),
    }


def _usage_document(key: tuple[str, ...], usage: Usage) -> dict[str, object]:
    return {"group": list(key), "calls": usage.calls, "tickets": usage.tickets, "units": usage.units,
            "ev_signed_wei": str(usage.ev_wei), "ev_signed_wei_floor": str(int(usage.ev_wei)),
            "fee_wei": str(usage.fee_wei), "fee_wei_floor": str(int(usage.fee_wei))}


# The blocking work, run on the routes' pool.

def _list_invoices(db: Database, gateway_id: int | None, limit: int) -> list[stored.Invoice]:
    return stored.list_invoices(db, gateway_id=gateway_id, limit=limit)


def _draft_for_period(
    db: Database, gateway_id: int, start: datetime, end: datetime, grouping: LineGrouping,
    invoicing: InvoicingSettings,
) -> tuple[stored.Invoice, int]:
    row, draft = draft_for_period(db, gateway_id, start, end, grouping, actor=ACTOR, settings=invoicing)
    return row, len(draft.lines)


def _issue_invoice(db: Database, invoice_id: int, reason: str, invoicing: InvoicingSettings,
                   allow_open_period: bool) -> stored.Invoice:
    from clearinghouse.billing.issuing import issue

    return issue(db, invoice_id, invoicing, allow_open_period=allow_open_period, actor=ACTOR, reason=reason)


def _mark_paid(
    db: Database, invoice_id: int, paid_at: datetime, reason: str, overdue: OverdueBook | None
) -> stored.Invoice:
    return record_payment(db, invoice_id, paid_at=paid_at, actor=ACTOR, reason=reason, book=overdue)


def _void_with_credit_note(db: Database, invoice_id: int, reason: str) -> tuple[stored.Invoice, stored.Invoice]:
    return void_with_credit_note(db, invoice_id, actor=ACTOR, reason=reason)


def _exported(db: Database, invoice_id: int, export_format: str, query: Query) -> Export:
    """The invoice in ``export_format``, as `clearinghouse invoice export` writes it (see
    billing.invoicing.export_invoice for what it refuses)."""
    row, data = export_invoice(
        db, invoice_id, export_format,
        issuer_name=query.get("issuer_name"),
        stripe_customer_id=query.get("stripe_customer_id"),
        event_name=query.get("event_name") or DEFAULT_STRIPE_EVENT_NAME,
        subject=query.get("subject"),
    )
    filename = f"{row.number or f'invoice-{row.id}-draft'}.{_EXTENSIONS[export_format]}"
    return Export(data, EXPORT_FORMATS[export_format], filename)


def _grouped_usage(
    db: Database, gateway_id: int | None, start: datetime, end: datetime, grouping: UsageGrouping
) -> list[tuple[tuple[str, ...], Usage]]:
    groups = grouped_usage(db, gateway_id, start, end, grouping)
    if len(groups) > ADMIN_USAGE_GROUPS_MAX:
        raise InvalidLedgerInput(
            f"{len(groups)} usage groups, at most {ADMIN_USAGE_GROUPS_MAX} in one answer; "
            "ask for a shorter period, one gateway or a coarser group_by"
        )
    return groups


# Reading requests.

async def _body(scope: Scope, receive: Receive, names: set[str]) -> dict[str, Any]:
    """The JSON object body, at most ADMIN_BODY_BYTES_MAX bytes (refused as it arrives)."""
    return parse_admin_body(await read_body(scope, receive, ADMIN_BODY_BYTES_MAX), names)


def parse_admin_body(data: bytes, names: set[str]) -> dict[str, Any]:
    """``data`` as a UTF-8 JSON object with only ``names`` as keys and no floats; BadRequest
    saying what is wrong. Linear in ``data`` (check_json_depth, then json.loads)."""
    check_json_depth(data, "body")
    try:
        body = json.loads(data.decode("utf-8") if data else "{}", parse_float=_no_float)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not a JSON object: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest(f"body must be a JSON object, got {type(body).__name__}")
    _refuse_unknown(body, names, "body field")
    return body


def admin_query(scope: Scope, names: set[str]) -> dict[str, str]:
    """The query parameters, each at most once, only ``names``."""
    try:
        text = scope.get("query_string", b"").decode("ascii")
        pairs = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=ADMIN_QUERY_FIELDS_MAX)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest(f"malformed query string: {exc}") from None
    _refuse_unknown(pairs, names, "query parameter")
    repeated = sorted(name for name, values in pairs.items() if len(values) > 1)
    if repeated:
        raise BadRequest(f"query parameter {repeated[0]} given more than once")
    return {name: values[0] for name, values in pairs.items()}


def _refuse_unknown(given: Mapping[str, object], names: set[str], what: str) -> None:
    unknown = sorted(set(given) - names)
    if unknown:
        raise BadRequest(f"unknown {what} {unknown[0]!r:.40}; expected some of {', '.join(sorted(names))}")


def _no_float(text: str) -> object:
    raise BadRequest(f"number {text:.40} is not an integer: amounts and ids are never floats")


def _id(value: object, name: str) -> int:
    """A row id in a body: a JSON integer in 1..ROW_ID_MAX."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= ROW_ID_MAX:
        raise BadRequest(f"{name} must be an integer in 1..{ROW_ID_MAX}, got {value!r:.40}")
    return value


def _query_id(query: Query, name: str, *, required: bool) -> int | None:
    """A row id in the query, as decimal text; None when absent and not ``required``."""
    text = query.get(name)
    if text is None and not required:
        return None
    return _int_text(text or "", name, ROW_ID_MAX)


def _int_text(text: str, name: str, high: int) -> int:
    """Decimal digits only (no sign, space or underscore) of an integer in 1..high."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)) or not 1 <= int(text) <= high:
        raise BadRequest(f"{name} must be an integer in 1..{high}, got {text!r:.40}")
    return int(text)


def _text(body: Mapping[str, Any], name: str, default: str | None) -> str:
    """Non-empty audit text that UTF-8 can store (no lone surrogate: payloads.check_encodable)."""
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"{name} must be non-empty text, got {value!r:.40}")
    check_encodable(name, value)
    return value


def _moment(value: object, name: str) -> datetime:
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be an ISO 8601 time like 2026-11-01T00:00:00Z, got {value!r:.40}")
    try:
        return parse_valid_at(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: {exc}") from None


def _period(fields: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """[start, end) from ``month`` ("2026-11") or from ``start`` and ``end`` (whole UTC hours; the
    ledger refuses others). Raises BadRequest, or InvoiceError for a month that is not one."""
    month, start, end = fields.get("month"), fields.get("start"), fields.get("end")
    if (month is None) == (start is None or end is None) or (month is not None and (start or end)):
        raise BadRequest("give either month (like 2026-11) or both start and end (ISO 8601 whole UTC hours)")
    if month is not None:
        if not isinstance(month, str):
            raise BadRequest(f"month must look like 2026-11, got {month!r:.20}")
        return month_period(month)
    return _moment(start, "start"), _moment(end, "end")


def _choice(value: object, name: str, choices: type[_Choice]) -> _Choice:
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be one of {', '.join(c.value for c in choices)}, got {value!r:.40}")
    try:
        return choices(value)
    except ValueError:
        raise BadRequest(f"{name} must be one of {', '.join(c.value for c in choices)}, got {value!r:.40}") from None


def _format(value: str | None) -> str:
    if value is None or value not in EXPORT_FORMATS:
        raise BadRequest(f"format must be one of {', '.join(EXPORT_FORMATS)}, got {value!r:.40}")
    return value


def _json_response(document: Mapping[str, object]) -> Response:
    return Response(200, json.dumps(document, separators=(",", ":")).encode())


def _unauthenticated(message: str) -> Unauthenticated:
    return Unauthenticated(message, headers={"WWW-Authenticate": 'Bearer realm="clearinghouse-admin"'})


def _status(error: ClearinghouseError) -> int | None:
    """The status of a ledger or billing error (_LEDGER_STATUS); None for any other."""
    return next((status for kind, status in _LEDGER_STATUS if isinstance(error, kind)), None)
