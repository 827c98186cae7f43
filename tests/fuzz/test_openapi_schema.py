"""A schema-driven run against GET /openapi.json (issue #18): schemathesis generates requests from
the document for every operation the fuzz stack serves, sends them with the right credential, and
checks that no answer is a 5xx, that every status and Content-Type is one the document names, and
that every JSON answer matches its schema. A rejected call signs nothing (conftest.check_http's
rule). Bounded: EXAMPLES_PER_OPERATION examples each, derandomized."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
import requests
import schemathesis
from hypothesis import given, settings
from schemathesis import Case
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import FUZZ_SETTINGS, TIMEOUT_S, FuzzStack, ledger_counts, send

EXAMPLES_PER_OPERATION = 15
"""~25 operations × 15 examples ≈ 375 requests, a few seconds; benchmarks/fuzz_long.py runs more."""

NOT_SERVED = {"/metrics"}
"""In the document but not on the fuzz stack (it has no [metrics])."""

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def served_document(stack: FuzzStack) -> dict[str, object]:
    answer = send(stack.http_url, "GET", "/openapi.json")
    assert answer.status == 200
    document: dict[str, object] = json.loads(answer.body)
    return document


def operation_labels() -> list[str]:
    from clearinghouse.api.openapi import service_document

    paths = service_document()["paths"]
    return [f"{method.upper()} {path}" for path, methods in paths.items() if path not in NOT_SERVED
            for method in methods]


def credentials(stack: FuzzStack, path: str, cookie: str) -> dict[str, str]:
    if path.startswith("/api/v1/oidc/"):
        return {"Authorization": stack.app_basic}
    if path == "/api/v1/user/usage":
        return {"Authorization": f"Bearer {stack.user_token}"}
    if path.startswith("/api/v1/"):
        return {"Authorization": f"Bearer {stack.app_token}"}
    if path.startswith("/admin/"):
        return stack.admin_auth
    if path.startswith("/dashboard"):
        return {"Cookie": cookie}
    return stack.auth


def fresh_dashboard_cookie(stack: FuzzStack) -> str:
    """A session of the run's own: generated requests may log it out."""
    answer = send(stack.http_url, "POST", "/dashboard/login", urlencode({"token": stack.admin_token}).encode(),
                  {"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status == 303
    return answer.headers["set-cookie"].split(";")[0]


@pytest.mark.parametrize("label", operation_labels())
def test_generated_requests_get_documented_answers(stack: FuzzStack, label: str) -> None:
    method, path = label.split(" ", 1)
    schema = schemathesis.openapi.from_dict(served_document(stack))
    operation = schema[path][method]
    cookie = fresh_dashboard_cookie(stack)
    session = requests.Session()

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES_PER_OPERATION)
    @given(case=operation.as_strategy())
    def run(case: Case) -> None:
        before = ledger_counts(stack.db)
        response = case.call(base_url=stack.http_url, session=session, timeout=TIMEOUT_S,
                             headers=credentials(stack, path, cookie), allow_redirects=False)
        case.validate_response(response, checks=CHECKS)
        if response.status_code != 200:
            assert ledger_counts(stack.db) == before, f"{label}: {response.status_code} but the ledger grew"

    try:
        run()
    finally:
        session.close()
