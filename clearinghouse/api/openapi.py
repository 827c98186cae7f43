"""The OpenAPI 3.1 documents of the HTTP server: ``openapi_document`` for the /v1/ JSON routes,
generated from the protobuf descriptors, and ``service_document`` for every route the server
answers (served at /openapi.json): the remote-signer routes of spec 02, the health probes,
/metrics, the /v1/ routes and the finance routes under /admin/v1/.

The /v1/ routes' bodies are the proto3 JSON form of the clearinghouse.v1 messages, so their schemas
are derived from the same descriptors the gRPC server uses: a field added to the .proto appears
here with nothing else to update. proto3 JSON rules: camelCase keys, bytes as base64 strings,
64-bit integers as strings, enums by name, maps as objects. What each field means is documented
in protos/clearinghouse.proto.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from clearinghouse.api.errors import Reason
from clearinghouse.proto import clearinghouse_pb2 as pb

Descriptor = Any
"""A message descriptor (google.protobuf's pure-Python or upb class: the stubs type them apart)."""
Field = Any
"""A field descriptor, likewise."""

_SCALARS: dict[int, dict[str, Any]] = {
    FieldDescriptor.TYPE_BYTES: {"type": "string", "format": "byte"},
    FieldDescriptor.TYPE_STRING: {"type": "string"},
    FieldDescriptor.TYPE_BOOL: {"type": "boolean"},
    FieldDescriptor.TYPE_DOUBLE: {"type": "number", "format": "double"},
    FieldDescriptor.TYPE_FLOAT: {"type": "number", "format": "float"},
    FieldDescriptor.TYPE_INT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SINT32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    FieldDescriptor.TYPE_UINT32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_FIXED32: {"type": "integer", "format": "int64", "minimum": 0},
    FieldDescriptor.TYPE_INT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SINT64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_SFIXED64: {"type": "string", "format": "int64"},
    FieldDescriptor.TYPE_UINT64: {"type": "string", "format": "uint64"},
    FieldDescriptor.TYPE_FIXED64: {"type": "string", "format": "uint64"},
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
    """Every route the HTTP server may answer (those behind a config section say which). The
    operator dashboard under /dashboard is a browser interface, not an API, and is left out."""
    document = openapi_document()
    paths = dict(_remote_signer_paths())
    paths.update(document["paths"])
    paths.update(_operations_paths())
    paths.update(_admin_paths())
    schemas = dict(document["components"]["schemas"])
    schemas["RemoteSignerError"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["message"],
                                 "properties": {"message": {"type": "string"}}}},
    }
    schemas["AdminError"] = schemas["RemoteSignerError"]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "clearinghouse HTTP API",
            "version": "1",
            "description": "The remote-signer routes (drop-in for go-livepeer's signer), health probes, "
            "Prometheus metrics, the clearinghouse.v1 JSON routes (the gRPC API's twin) and the finance "
            "admin routes. Wei amounts are decimal strings; exact rationals are 'a' or 'a/b'.",
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


def _object(**properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


_STRING: dict[str, Any] = {"type": "string"}
_BASE64: dict[str, Any] = {"type": "string", "format": "byte", "description": "standard base64 with padding"}
_SIGNER_ERROR = _described("an error (spec 02 status codes 400, 401, 403, 408, 413, 429, 431, 480–483, 503)",
                           {"$ref": "#/components/schemas/RemoteSignerError"})
_ADMIN_ERROR = _described("an error: 400 malformed, 401 token, 404 unknown, 409 lifecycle",
                          {"$ref": "#/components/schemas/AdminError"})


def _remote_signer_paths() -> dict[str, Any]:
    state = _object(State=_BASE64, Sig=_BASE64)
    payment_request = {
        "type": "object",
        "required": ["orchestrator"],
        "description": "Keys match case-insensitively, as Go's encoding/json does.",
        "properties": {
            "orchestrator": _BASE64 | {"description": "protobuf OrchestratorInfo"},
            "state": state,
            "ManifestID": _STRING,
            "type": {"type": "string", "enum": ["", "lv2v", "live", "fixed"]},
            "inPixels": {"type": "integer", "format": "int64"},
            "app": _STRING,
            "maxPrice": _object(price=_STRING, currency=_STRING, unit=_STRING),
            "capabilities": _BASE64 | {"description": "protobuf Capabilities"},
        },
    }
    payment_answer = _object(payment=_BASE64, segCreds=_BASE64, state=state)
    return {
        "/sign-orchestrator-info": {"post": _operation(
            "SignOrchestratorInfo", "The sender address and its signature for OrchestratorRequest. " + _SPEC02,
            {"200": _described("address and signature", _object(address=_STRING, signature=_STRING)),
             "default": _SIGNER_ERROR},
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
            {"200": _described("the orchestrators", {"type": "array", "items": _discovered_orchestrator()}),
             "default": _SIGNER_ERROR},
            parameters=[{"name": "caps", "in": "query", "required": False, "style": "form", "explode": True,
                         "description": "keep orchestrators with any of these pipeline/model capabilities",
                         "schema": {"type": "array", "items": _STRING}}],
        )},
    }


def _discovered_orchestrator() -> dict[str, Any]:
    integer = {"type": "integer", "format": "int64"}
    return _object(
        address=_STRING | {"description": "the orchestrator's service URI"},
        score={"type": "number"},
        capabilities={"type": "array", "items": _STRING},
        last_seen=_STRING | {"format": "date-time", "description": "when a payment on its params was last signed"},
        eth_address=_STRING,
        price_info=_object(pricePerUnit=integer, pixelsPerUnit=integer),
    )


def _operations_paths() -> dict[str, Any]:
    status = _object(status=_STRING)
    return {
        "/healthz": {"get": _operation("Healthz", "The process answers.",
                                       {"200": _described("ok", status)}, security=[])},
        "/readyz": {"get": _operation("Readyz", "The database is reachable and its schema current.",
                                      {"200": _described("ready", status), "503": _SIGNER_ERROR}, security=[])},
        "/v1/health": {"get": _operation(
            "DepositHealth", "Deposit health from memory: state, reasons, deposit, reserve, exposure, runway.",
            {"200": _described("the health document", {"type": "object"}), "default": _SIGNER_ERROR},
        )},
        "/metrics": {"get": _operation(
            "Metrics", "Prometheus metrics (text exposition format); with [metrics] token_file it needs that token.",
            {"200": _described("the metrics", _STRING, "text/plain"), "401": _described("no or a wrong token")},
            security=[{}, {"metrics": []}],
        )},
        "/openapi.json": {"get": _operation(
            "GetServiceOpenApiDocument", "This document.",
            {"200": _described("this document", {"type": "object"})}, security=[],
        )},
    }


def _admin_paths() -> dict[str, Any]:
    invoice = {"type": "object", "description": "an invoice or credit note; amounts are strings"}
    admin_only = {"security": [{"admin": []}], "description": "Only with the [admin] config section."}

    def post(operation_id: str, summary: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"post": _operation(operation_id, summary,
                                   {"200": _described("the invoice", invoice), "default": _ADMIN_ERROR},
                                   requestBody={"required": True, "content": {"application/json": {"schema": body}}},
                                   **admin_only)}

    def query(name: str, required: bool = False) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": required, "schema": _STRING}

    integer = {"type": "integer", "format": "int64"}
    return {
        "/admin/v1/invoices": {"get": _operation(
            "AdminListInvoices", "Invoices and credit notes, newest period first.",
            {"200": _described("the invoices", _object(invoices={"type": "array", "items": invoice})),
             "default": _ADMIN_ERROR},
            parameters=[query("gateway_id"), query("limit")], **admin_only,
        )},
        "/admin/v1/invoices/draft": post(
            "AdminDraftInvoice", "Store the period's draft (recomputable until issued).",
            _object(gateway_id=integer, month=_STRING, start=_STRING, end=_STRING, group_by=_STRING)),
        "/admin/v1/invoices/issue": post("AdminIssueInvoice", "Number the invoice and freeze it.",
                                         _object(invoice_id=integer, reason=_STRING)),
        "/admin/v1/invoices/paid": post("AdminMarkInvoicePaid", "Record the invoice's payment.",
                                        _object(invoice_id=integer, paid_at=_STRING, reason=_STRING)),
        "/admin/v1/invoices/void": post("AdminVoidInvoice", "Void the invoice with a credit note.",
                                        _object(invoice_id=integer, reason=_STRING)),
        "/admin/v1/invoices/export": {"get": _operation(
            "AdminExportInvoice", "The stored invoice as csv, json, pdf, stripe or openmeter.",
            {"200": _described("the export (Content-Type by format)"), "default": _ADMIN_ERROR},
            parameters=[query("invoice_id", True), query("format", True), query("issuer_name"),
                        query("stripe_customer_id"), query("event_name"), query("subject")],
            **admin_only,
        )},
        "/admin/v1/usage": {"get": _operation(
            "AdminUsage", "Usage of every gateway (or one) over a month or [start, end), grouped.",
            {"200": _described("usage groups", {"type": "object"}), "default": _ADMIN_ERROR},
            parameters=[query("month"), query("start"), query("end"), query("group_by"), query("gateway_id")],
            **admin_only,
        )},
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
                },
            }
        },
    }
