"""The OpenAPI 3.1 documents of the HTTP server: ``openapi_document`` for the /v1/ JSON routes,
generated from the protobuf descriptors, and ``service_document`` for every route the server
answers (served at /openapi.json): the remote-signer routes of spec 02, the health probes,
/metrics, the /v1/ routes and the finance routes under /admin/v1/, whose bodies' schemas are
generated from the typed models of openapi_models.py (pydantic's JSON Schema; models a schema
refers to go to components/schemas).

The /v1/ routes' bodies are the proto3 JSON form of the clearinghouse.v1 messages, so their schemas
are derived from the same descriptors the gRPC server uses: a field added to the .proto appears
here with nothing else to update. proto3 JSON rules: camelCase keys, bytes as base64 strings,
64-bit integers as strings, enums by name, maps as objects. What each field means is documented
in protos/clearinghouse.proto.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from clearinghouse.api import openapi_models as models

from clearinghouse.api.errors import Reason
from clearinghouse.api.identity_openapi import SECURITY_SCHEMES as IDENTITY_SECURITY_SCHEMES
from clearinghouse.api.identity_openapi import identity_paths
from clearinghouse.api.limits import ADMIN_INVOICES_LISTED_MAX
from clearinghouse.domain.refusals import SpendLimit
from clearinghouse.ledger.hourly_usage import UsageGrouping
from clearinghouse.proto import clearinghouse_pb2 as pb

Descriptor = Any
"""A message descriptor (google.protobuf's pure-Python or upb class: the stubs type them apart)."""
Field = Any
"""A field descriptor, likewise."""

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte", "pattern": "^[A-Za-z0-9+/_-]*={0,2}$"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64", "pattern": "^-?[0-9]{1,19}$"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64", "pattern": "^[0-9]{1,20}$"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64", "pattern": "^[0-9]{1,20}$"},
}

_ROUTES: tuple[tuple[str, str, str, Descriptor | None, Descriptor], ...] = (
    ("/v1/signer-info", "get", "GetSignerInfo", None, pb.GetSignerInfoResponse.DESCRIPTOR),
    ("/v1/generate-payment", "post", "GeneratePayment", pb.GeneratePaymentRequest.DESCRIPTOR,
     pb.GeneratePaymentResponse.DESCRIPTOR),
    ("/v1/sign-tickets", "post", "SignTickets", pb.SignTicketsRequest.DESCRIPTOR, pb.SignTicketsResponse.DESCRIPTOR),
    ("/v1/deposit", "get", "GetDepositInfo", None, pb.GetDepositInfoResponse.DESCRIPTOR),
    ("/v1/usage", "get", "GetUsage", None, pb.GetUsageResponse.DESCRIPTOR),
)


def openapi_document() -> dict[str, Any]:
    """The whole document: every /v1/ route, its schemas, bearer auth and the error envelope."""
    schemas: dict[str, Any] = {"Error": _error_schema()}
    paths: dict[str, Any] = {}
    for path, method, name, request, response in _ROUTES:
        operation: dict[str, Any] = {
            "operationId": name,
            "summary": f"clearinghouse.v1 {name} (same semantics as the gRPC method)",
            "responses": {
                "200": _json_content(_ref(response, schemas)),
                "default": {"description": "an error with its reason", **_json_content(_ref_name("Error"))},
            },
        }
        operation["responses"]["200"]["description"] = response.name
        if request is not None:
            operation["requestBody"] = {"required": True, **_json_content(_ref(request, schemas))}
        if name == "GetUsage":
            operation["parameters"] = [_query_parameter(field) for field in pb.GetUsageRequest.DESCRIPTOR.fields]
        paths[path] = {method: operation}
    paths["/v1/openapi.json"] = {
        "get": {
            "operationId": "GetOpenApiDocument",
            "security": [],
            "responses": {"200": {"description": "this document", **_json_content({"type": "object"})}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clearinghouse.v1",
            "version": "1",
            "description": "The JSON form of the clearinghouse.v1 gRPC API (protos/clearinghouse.proto): "
            "proto3 JSON bodies; wei as decimal strings, exact rationals as 'a' or 'a/b'.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "a gateway API key"}},
            "schemas": schemas,
        },
    }


_SPEC02 = "See spec 02 (the go-livepeer remote-signer protocol) and README's status table."


def service_document() -> dict[str, Any]:
    """Every route the HTTP server may answer (those behind a config section say which), the
    operator dashboard's HTML pages included. Request schemas say what the server accepts —
    required fields, formats, lengths, enums, no unknown admin fields — so a schema-driven client
    or test tool sends requests the server takes (tests/fuzz/test_openapi_schema.py runs one)."""
    document = openapi_document()
    schemas = dict(document["components"]["schemas"])
    typed = models.ModelSchemas(schemas)
    schemas["RemoteSignerError"] = typed.schema(models.RemoteSignerError)
    schemas["AdminError"] = schemas["RemoteSignerError"]
    paths = dict(_remote_signer_paths(typed))
    paths.update(document["paths"])
    paths.update(_operations_paths(typed))
    paths.update(_admin_paths(typed))
    paths.update(_dashboard_paths(typed))
    paths.update(identity_paths(typed))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clearinghouse HTTP API",
            "version": "1",
            "description": "The remote-signer routes (drop-in for go-livepeer's signer), health probes, "
            "Prometheus metrics, the clearinghouse.v1 JSON routes (the gRPC API's twin), the finance "
            "admin routes, the operator dashboard's pages, and with [oidc] the OAuth 2.0 / OIDC provider and the "
            "Builder API. Wei amounts are decimal strings; exact "
            "rationals are 'a' or 'a/b'.",
        },
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a gateway API key (chk_…)"},
                "admin": {"type": "http", "scheme": "bearer",
                          "description": "the operator token of [admin] token_file (never a gateway key)"},
                "metrics": {"type": "http", "scheme": "bearer",
                            "description": "the token of [metrics] token_file, when one is configured"},
                "dashboardSession": {"type": "apiKey", "in": "cookie", "name": DASHBOARD_COOKIE,
                                     "description": "the session cookie POST /dashboard/login sets"},
                **IDENTITY_SECURITY_SCHEMES,
            },
            "schemas": schemas,
        },
    }


def _operation(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"operationId": operation_id, "summary": summary, "responses": responses, **extra}


def _described(description: str, schema: dict[str, Any] | None = None, media: str = "application/json") -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = {media: {"schema": schema}}
    return answer


_STRING: dict[str, Any] = {"type": "string"}
_TEXT = models.TEXT_SCHEMA
_ROW_ID = models.ROW_ID_SCHEMA
_MONTH = models.MONTH_SCHEMA
_MOMENT = models.MOMENT_SCHEMA
_HTML = "text/html"
_SIGNER_ERROR = _described("an error (spec 02 status codes 400, 401, 403, 408, 409, 413, 429, 431, 480–483, 501, "
                           "503)", {"$ref": "#/components/schemas/RemoteSignerError"})
_ADMIN_ERROR = _described("an error: 400 malformed, 401 token, 404 unknown, 409 lifecycle, 413 too large",
                          {"$ref": "#/components/schemas/AdminError"})


def _remote_signer_paths(typed: models.ModelSchemas) -> dict[str, Any]:
    payment_request = typed.schema(models.PaymentRequest)
    payment_answer = typed.schema(models.PaymentAnswer)
    signed_info = typed.schema(models.SignedOrchestratorInfo)
    return {
        "/sign-orchestrator-info": {"post": _operation(
            "SignOrchestratorInfo", "The sender address and its signature for OrchestratorRequest. " + _SPEC02,
            {"200": _described("address and signature", signed_info), "default": _SIGNER_ERROR},
        )},
        "/generate-live-payment": {"post": _operation(
            "GenerateLivePayment", "Tickets for one payment cycle of a live session. " + _SPEC02,
            {"200": _described("the payment, segment credentials and the next state", payment_answer),
             "default": _SIGNER_ERROR},
            requestBody={"required": True, "content": {"application/json": {"schema": payment_request}}},
        )},
        "/discover-orchestrators": {"get": _operation(
            "DiscoverOrchestrators", "The orchestrators this signer has signed payments for, active on chain, "
            "most recently seen first; 503 with the reason when there are none. " + _SPEC02,
            {"200": _described("the orchestrators", typed.schema(models.DiscoveredOrchestrators)),
             "default": _SIGNER_ERROR},
            parameters=[{"name": "caps", "in": "query", "required": False, "style": "form", "explode": True,
                         "description": "keep orchestrators with any of these pipeline/model capabilities",
                         "schema": {"type": "array", "items": _STRING}}],
        )},
    }


def _operations_paths(typed: models.ModelSchemas) -> dict[str, Any]:
    status = typed.schema(models.Status)
    return {
        "/healthz": {"get": _operation("Healthz", "The process answers.",
                                       {"200": _described("ok", status)}, security=[])},
        "/readyz": {"get": _operation("Readyz", "The database is reachable and its schema current.",
                                      {"200": _described("ready", status), "503": _SIGNER_ERROR}, security=[])},
        "/v1/health": {"get": _operation(
            "DepositHealth", "Deposit health from memory: state, reasons, deposit, reserve, exposure, runway.",
            {"200": _described("the health document", typed.schema(models.HealthDocument)),
             "default": _SIGNER_ERROR},
        )},
        "/metrics": {"get": _operation(
            "Metrics", "Prometheus metrics (text exposition format); with [metrics] token_file it needs that token.",
            {"200": _described("the metrics", _STRING, "text/plain"), "401": _SIGNER_ERROR},
            security=[{}, {"metrics": []}],
        )},
        "/openapi.json": {"get": _operation(
            "GetServiceOpenApiDocument", "This document.",
            {"200": _described("this document", {"type": "object"})}, security=[],
        )},
    }


def _query(name: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema}


def _admin_paths(typed: models.ModelSchemas) -> dict[str, Any]:
    invoice = typed.schema(models.Invoice)
    admin_only = {"security": [{"admin": []}], "description": "Only with the [admin] config section."}
    usage_groups = {"type": "string", "enum": [grouping.value for grouping in UsageGrouping]}

    def post(operation_id: str, summary: str, body: dict[str, Any], answer: dict[str, Any] = invoice) -> dict[str, Any]:
        return {"post": _operation(operation_id, summary,
                                   {"200": _described("the invoice", answer), "default": _ADMIN_ERROR},
                                   requestBody={"required": True, "content": {"application/json": {"schema": body}}},
                                   **admin_only)}

    return {
        "/admin/v1/invoices": {"get": _operation(
            "AdminListInvoices", "Invoices and credit notes, newest period first.",
            {"200": _described("the invoices", typed.schema(models.InvoiceList)),
             "default": _ADMIN_ERROR},
            parameters=[_query("gateway_id", _ROW_ID), _query("limit", {"type": "integer", "minimum": 1,
                                                                       "maximum": ADMIN_INVOICES_LISTED_MAX})],
            **admin_only,
        )},
        "/admin/v1/invoices/draft": post(
            "AdminDraftInvoice", "Store the period's draft (recomputable until issued): month, or start and end.",
            typed.schema(models.DraftInvoiceBody)),
        "/admin/v1/invoices/issue": post("AdminIssueInvoice", "Number the invoice and freeze it with its parties and "
                                         "due date; a period not yet over needs allow_open_period (it says partial).",
                                         typed.schema(models.IssueInvoiceBody)),
        "/admin/v1/invoices/paid": post("AdminMarkInvoicePaid", "Record the invoice's payment.",
                                        typed.schema(models.PaidInvoiceBody)),
        "/admin/v1/invoices/void": post("AdminVoidInvoice", "Void the invoice with a credit note.",
                                        typed.schema(models.VoidInvoiceBody), typed.schema(models.VoidedInvoice)),
        "/admin/v1/invoices/export": {"get": _operation(
            "AdminExportInvoice", "The stored invoice as csv, json, pdf, stripe or openmeter.",
            {"200": {"description": "the export (Content-Type by format)",
                     "content": {media.split(";")[0]: {"schema": _STRING} for media in EXPORT_MEDIA_TYPES}},
             "default": _ADMIN_ERROR},
            parameters=[_query("invoice_id", _ROW_ID, True),
                        _query("format", {"type": "string", "enum": ["csv", "json", "pdf", "stripe", "openmeter"]},
                               True),
                        _query("issuer_name", _TEXT), _query("stripe_customer_id", _TEXT),
                        _query("event_name", _TEXT), _query("subject", _TEXT)],
            **admin_only,
        )},
        "/admin/v1/usage": {"get": _operation(
            "AdminUsage", "Usage of every gateway (or one) over a month or [start, end), grouped.",
            {"200": _described("usage groups", typed.schema(models.UsageGroups)), "default": _ADMIN_ERROR},
            parameters=[_query("month", _MONTH), _query("start", _MOMENT), _query("end", _MOMENT),
                        _query("group_by", usage_groups), _query("gateway_id", _ROW_ID)],
            **admin_only,
        )},
    }


DASHBOARD_COOKIE = "ch_dashboard"
"""The dashboard's session cookie (dashboard/routes.py COOKIE_NAME; a test keeps them equal)."""
EXPORT_MEDIA_TYPES = ("text/csv", "application/json", "application/pdf", "application/x-ndjson")


def _page(description: str, *statuses: str) -> dict[str, Any]:
    """Dashboard answers: HTML pages (errors too), 303 redirects to the login form or the page."""
    responses = {status: {"description": description, "content": {_HTML: {"schema": _STRING}}} for status in statuses}
    responses["303"] = {"description": "redirect (to the login form without a session, or after a form)",
                        "headers": {"Location": {"schema": _STRING}}}
    responses["default"] = {"description": "an HTML error page", "content": {_HTML: {"schema": _STRING}}}
    return responses


def _dashboard_paths(typed: models.ModelSchemas) -> dict[str, Any]:
    session: dict[str, Any] = {"security": [{"dashboardSession": []}]}
    form = {"application/x-www-form-urlencoded": {"schema": typed.schema(models.LoginForm)}}
    download = {"200": {"description": "the invoice as an attachment",
                        "content": {media: {"schema": _STRING} for media in ("application/pdf", "text/csv",
                                                                             "application/json")}}}
    static = {name: {"get": _operation(f"DashboardStatic{name.split('.')[0].title()}", f"The dashboard's {name}.",
                                       {"200": {"description": name, "content": {media: {"schema": _STRING}}}},
                                       security=[])}
              for name, media in (("dashboard.css", "text/css"), ("favicon.svg", "image/svg+xml"))}
    return {
        "/dashboard": {"get": _operation(
            "Dashboard", "The operator page: health, deposit chart, spend per gateway, rejections, invoices.",
            _page("the page", "200"), **session,
            parameters=[_query("window", {"type": "string", "enum": ["24h", "7d", "30d"]}),
                        _query("sort", _STRING), _query("order", {"type": "string", "enum": ["asc", "desc"]})],
        )},
        "/dashboard/login": {
            "get": _operation("DashboardLoginForm", "The login form.", _page("the form", "200"), security=[]),
            "post": _operation("DashboardLogin", "Log in with the operator token; sets the session cookie.",
                               _page("the form again, saying why", "403", "429"), security=[],
                               requestBody={"required": True, "content": form}),
        },
        "/dashboard/logout": {"post": _operation("DashboardLogout", "End the session.", _page("unused"),
                                                 security=[])},
        "/dashboard/invoice": {"get": _operation(
            "DashboardInvoice", "Download an invoice.", download | _page("an HTML error page"), **session,
            parameters=[_query("invoice_id", _ROW_ID, True),
                        _query("format", {"type": "string", "enum": ["pdf", "csv", "json"]}, True)],
        )},
        **{f"/dashboard/static/{name}": operation for name, operation in static.items()},
    }


def _json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ref_name(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _ref(message: Descriptor, schemas: dict[str, Any]) -> dict[str, str]:
    """A reference to ``message``'s schema, adding it (and what it refers to) when new."""
    if message.full_name not in schemas:
        schemas[message.full_name] = {}  # placeholder first: messages may refer to themselves
        properties = {field.json_name: _field_schema(field, schemas) for field in message.fields}
        schemas[message.full_name] = {"type": "object", "properties": properties}
    return _ref_name(message.full_name)


def _field_schema(field: Field, schemas: dict[str, Any]) -> dict[str, Any]:
    message = field.message_type
    if message is not None and message.GetOptions().map_entry:
        value = message.fields_by_name["value"]
        return {"type": "object", "additionalProperties": _single_schema(value, schemas)}
    single = _single_schema(field, schemas)
    return {"type": "array", "items": single} if field.is_repeated else single


def _single_schema(field: Field, schemas: dict[str, Any]) -> dict[str, Any]:
    if field.message_type is not None:
        return _ref(field.message_type, schemas)
    if field.enum_type is not None:
        return {"type": "string", "enum": [value.name for value in field.enum_type.values]}
    return dict(_SCALARS[field.type])


def _query_parameter(field: Field) -> dict[str, Any]:
    """A query parameter: required unless it is an enum (whose zero value means "not given")."""
    if field.enum_type is not None:
        schema = {"type": "string", "enum": [value.name for value in field.enum_type.values]}
        return {"name": field.json_name, "in": "query", "required": False, "schema": schema}
    return {"name": field.json_name, "in": "query", "required": True, "schema": dict(_SCALARS[field.type])}


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "reason"],
                "properties": {
                    "message": {"type": "string"},
                    "reason": {"type": "string", "enum": [reason.value for reason in Reason]},
                    "orchestratorUrl": {"type": "string", "description": "where to re-fetch OrchestratorInfo"},
                    "limit": {"type": "string", "enum": [limit.value for limit in SpendLimit],
                              "description": "with INSUFFICIENT_BALANCE: the limit that refused the call"},
                },
            }
        },
    }
