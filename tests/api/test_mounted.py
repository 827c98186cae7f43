"""The routes mounted on Starlette (api/mounted.py) answer like the fast path's, over a real server:
no implicit HEAD, no trailing-slash redirect, a 405 naming every method of a path with
parameters in a fixed order, JSON errors with the request id, and metrics labelled by template."""

from __future__ import annotations

from pathlib import Path

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, serving
from clearinghouse.api.admin_http import AdminRoutes
from clearinghouse.api.builder_http import BuilderRoutes
from clearinghouse.api.metrics import Metrics
from clearinghouse.identity.keys import create_key_file
from clearinghouse.identity.service import identity_service
from clearinghouse.ledger import Database
from tests.api.client import get, request
from tests.api.conftest import PEPPER
from tests.api.fakes import FakePaymentService
from tests.api.identity_stack import settings_for

ADMIN_TOKEN = "a" * 64
USERS = "/api/v1/apps/app-1/users"


def test_mounted_routes_answer_like_the_fast_path(db: Database, tmp_path: Path) -> None:
    create_key_file(tmp_path / "keys.json")
    identity = identity_service(db, PEPPER, tmp_path / "keys.json", settings_for("http://127.0.0.1:1"))
    metrics = Metrics()
    app = RemoteSignerApp(FakePaymentService(), api_keys=ApiKeyAuthenticator(db, PEPPER), metrics=metrics,
                          admin=AdminRoutes(db, ADMIN_TOKEN), builder=BuilderRoutes(db, identity))
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    with serving(app) as url:
        head = request(url, "HEAD", "/admin/v1/invoices", headers=admin)
        slash = request(url, "GET", "/admin/v1/invoices/", headers=admin)
        patch = request(url, "PATCH", USERS)
        unauthenticated = get(url, USERS)
        listed = request(url, "GET", "/admin/v1/invoices", headers=admin)
    app.close()
    assert (head.status, head.headers["allow"]) == (405, "GET")
    assert slash.status == 404 and "location" not in slash.headers
    assert slash.json() == {"error": {"message": "no route GET /admin/v1/invoices/"}}
    assert (patch.status, patch.headers["allow"]) == (405, "GET, POST")
    assert patch.json() == {"error": {"message": f"{USERS} accepts GET, POST, not PATCH"}}
    assert unauthenticated.status == 401 and len(unauthenticated.headers["x-request-id"]) == 16
    assert listed.status == 200 and listed.headers["content-type"] == "application/json"
    exposition = metrics.exposition().decode()
    assert 'route="/api/v1/apps/{clientId}/users"' in exposition
    assert 'route="unmatched"' in exposition
