"""GET /openapi.json describes exactly the routes the HTTP server answers, and is served without
a key: the API reference cannot drift from the code."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.api.admin_http import AdminRoutes
from clearinghouse.api.builder_http import BuilderRoutes
from clearinghouse.api.oidc_http import OidcRoutes
from clearinghouse.identity.keys import create_key_file
from clearinghouse.identity.service import identity_service
from clearinghouse.api.dashboard import DashboardRoutes
from clearinghouse.api.dashboard.routes import COOKIE_NAME
from clearinghouse.api.metrics import Metrics
from clearinghouse.api.openapi import openapi_document, service_document
from clearinghouse.ledger import Database
from tests.api.conftest import PEPPER
from tests.api.fakes import FakePaymentService
from tests.api.grpc_client import grpc_stack
from tests.api.identity_stack import settings_for

ADMIN_TOKEN = "a" * 64


def documented(document: dict[str, object]) -> dict[str, set[str]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {path: {method.upper() for method in operations} for path, operations in paths.items()}


def served(app: RemoteSignerApp) -> dict[str, set[str]]:
    return {path: set(methods) for path, methods in app.routes().items()}


def test_every_route_of_a_fully_configured_server_is_documented_and_nothing_else(db: Database, tmp_path: Path) -> None:
    """The dashboard's pages too: the README says the document lists every route (#18); and with
    [oidc] the identity provider's and the Builder API's (#16)."""
    create_key_file(tmp_path / "keys.json")
    identity = identity_service(db, PEPPER, tmp_path / "keys.json", settings_for("http://127.0.0.1:1"))
    app = RemoteSignerApp(FakePaymentService(), api_keys=ApiKeyAuthenticator(db, PEPPER),
                          admin=AdminRoutes(db, ADMIN_TOKEN), metrics=Metrics(),
                          dashboard=DashboardRoutes(db, ADMIN_TOKEN), oidc=OidcRoutes(identity),
                          builder=BuilderRoutes(db, identity))
    try:
        routes = served(app)
    finally:
        app.close()
    with grpc_stack(db) as stack:  # the /v1/ routes need a gateway service: this stack has one
        routes |= served(stack.app)
        with urllib.request.urlopen(f"{stack.http_url}/openapi.json", timeout=5) as answer:
            document = json.loads(answer.read())
    assert documented(document) == routes
    assert document == service_document()


def test_the_document_is_served_without_a_key_and_names_its_security_schemes(db: Database) -> None:
    app = RemoteSignerApp(FakePaymentService(), api_keys=ApiKeyAuthenticator(db, PEPPER))
    with serving(app) as url:
        with urllib.request.urlopen(f"{url}/openapi.json", timeout=5) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "application/json"
            document = json.loads(answer.read())
    app.close()
    assert document["openapi"].startswith("3.1")
    assert set(document["components"]["securitySchemes"]) == {"bearer", "admin", "metrics", "dashboardSession",
                                                              "appClient", "appToken", "userToken"}
    assert document["components"]["securitySchemes"]["dashboardSession"]["name"] == COOKIE_NAME
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert document["paths"][path]["get"]["security"] == []
    for path, operations in document["paths"].items():
        if path.startswith("/admin/v1/"):
            assert all(operation["security"] == [{"admin": []}] for operation in operations.values())


def test_request_schemas_declare_what_the_server_requires() -> None:
    """Required fields, formats and closed admin bodies, so schema-driven clients send requests
    the server takes (#18)."""
    paths = service_document()["paths"]

    def body(path: str, media: str = "application/json") -> dict[str, object]:
        schema: dict[str, object] = paths[path]["post"]["requestBody"]["content"][media]["schema"]
        return schema

    payment = body("/generate-live-payment")
    assert payment["required"] == ["orchestrator"]
    assert payment["properties"]["orchestrator"]["format"] == "byte"  # type: ignore[index]
    assert payment["properties"]["ManifestID"]["maxLength"] == 128  # type: ignore[index]
    assert body("/admin/v1/invoices/void")["required"] == ["invoice_id", "reason"]
    assert body("/admin/v1/invoices/draft")["additionalProperties"] is False
    assert body("/dashboard/login", "application/x-www-form-urlencoded")["required"] == ["token"]
    export = {parameter["name"]: parameter for parameter in paths["/admin/v1/invoices/export"]["get"]["parameters"]}
    assert export["invoice_id"]["required"] and export["invoice_id"]["schema"]["minimum"] == 1


def test_both_documents_are_valid_openapi_3_1() -> None:
    """Checked against the OpenAPI 3.1 specification's own schema by an independent validator,
    not only for route coverage: a malformed schema, a dangling $ref or a bad parameter fails."""
    validate(service_document())
    validate(openapi_document())


def test_the_validator_refuses_a_reused_operation_id() -> None:
    document = service_document()
    document["paths"]["/readyz"]["get"]["operationId"] = document["paths"]["/healthz"]["get"]["operationId"]
    with pytest.raises(OpenAPIValidationError):
        validate(document)
