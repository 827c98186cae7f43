"""The OpenAPI 3.1 document of the /v1/ JSON routes, generated from the protobuf descriptors.

The routes' bodies are the proto3 JSON form of the clearinghouse.v1 messages, so their schemas
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
