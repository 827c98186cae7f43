"""GET /openapi.json describes exactly the routes the HTTP server answers, and is served without
a key: the API reference cannot drift from the code."""

from __future__ import annotations

import json
import urllib.request

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.api.admin_http import AdminRoutes
from clearinghouse.api.metrics import Metrics
from clearinghouse.api.openapi import service_document
from clearinghouse.ledger import Database
from tests.api.conftest import PEPPER
from tests.api.fakes import FakePaymentService
from tests.api.grpc_client import grpc_stack

ADMIN_TOKEN = "a" * 64


def documented(document: dict[str, object]) -> dict[str, set[str]]:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return {path: {method.upper() for method in operations} for path, operations in paths.items()}


def served(app: RemoteSignerApp) -> dict[str, set[str]]:
    return {path: set(methods) for path, methods in app.routes().items() if not path.startswith("/dashboard")}


def test_every_route_of_a_fully_configured_server_is_documented_and_nothing_else(db: Database) -> None:
    app = RemoteSignerApp(FakePaymentService(), api_keys=ApiKeyAuthenticator(db, PEPPER),
                          admin=AdminRoutes(db, ADMIN_TOKEN), metrics=Metrics())
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
    assert set(document["components"]["securitySchemes"]) == {"bearer", "admin", "metrics"}
    for path in ("/healthz", "/readyz", "/openapi.json"):
        assert document["paths"][path]["get"]["security"] == []
    for path, operations in document["paths"].items():
        if path.startswith("/admin/v1/"):
            assert all(operation["security"] == [{"admin": []}] for operation in operations.values())
