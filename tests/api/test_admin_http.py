"""The /admin/v1/ finance routes on a real server: the admin token (not a gateway key) opens them;
an invoice goes draft → issued → exported → void with a credit note; usage spans all gateways."""

from __future__ import annotations

import csv
import io
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from urllib.parse import urlencode

import pytest

from clearinghouse.api import ApiKeyAuthenticator
from clearinghouse.api.admin_http import AdminRoutes
from clearinghouse.api.limits import ADMIN_BODY_BYTES_MAX
from clearinghouse.billing.invoicing import month_period
from clearinghouse.ledger import Database, NewRate, create_gateway, record_rate_snapshot, record_signing_call
from clearinghouse.domain.gateways import Gateway
from clearinghouse.ledger import sessions as ledger_sessions
from clearinghouse.ledger.invoices import get_invoice
from clearinghouse.ledger.billing_plans import PlanKind, set_billing_plan
from tests.api.client import Reply, request
from tests.api.conftest import PEPPER
from tests.api.fakes import FakePaymentService
from tests.ledger.conftest import SessionDriver

TOKEN = secrets.token_hex(32)
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
NOVEMBER = month_period("2026-11")
SIGNED_AT = datetime(2026, 11, 10, 12, 30, tzinfo=UTC)
TICKET_FACE_VALUE_WEI = 10**16
"""EV 0.01 ETH per ticket (win probability 1): at 3,000 USD/ETH, 30 USD per call."""


def sign(db: Database, monkeypatch: pytest.MonkeyPatch, gateway_id: int, moments: list[datetime],
         rate_snapshot_id: int) -> None:
    driver = SessionDriver(gateway_id, face_value=TICKET_FACE_VALUE_WEI)
    for moment in moments:
        monkeypatch.setattr(ledger_sessions, "utc_now", lambda moment=moment: moment)
        call = driver.next_call(10, rate_snapshot_id=rate_snapshot_id)
        record_signing_call(db, call)
        driver.advance(call)


@pytest.fixture
def billed(db: Database, gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> int:
    """``gateway`` (acme) signs 2 calls on 10 Nov under a usage-based USD plan; bob 1 on 11 Nov."""
    rate = record_rate_snapshot(db, NewRate(Fraction(3000), "manual", NOVEMBER[0], NOVEMBER[0], "test", "test"))
    sign(db, monkeypatch, gateway.id, [SIGNED_AT, SIGNED_AT + timedelta(minutes=5)], rate.id)
    sign(db, monkeypatch, create_gateway(db, "bob").id, [SIGNED_AT + timedelta(days=1)], rate.id)
    set_billing_plan(db, gateway.id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=NOVEMBER[0],
                     actor="test", reason="contract")
    return gateway.id


@pytest.fixture
def admin_url(db: Database, fake_service: FakePaymentService,
              serve: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    with serve(fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER), admin=AdminRoutes(db, TOKEN)) as url:
        yield url


def call(url: str, method: str, path: str, body: dict[str, Any] | bytes | None = None,
         headers: dict[str, str] | None = None) -> Reply:
    return request(url, method, path, body, ADMIN if headers is None else headers)


def test_only_the_admin_token_opens_the_routes(admin_url: str, auth: dict[str, str]) -> None:
    for headers, message in (
        ({}, "admin routes need Authorization: Bearer <admin token>"),
        ({"Authorization": f"Basic {TOKEN}"}, "admin routes need Authorization: Bearer <admin token>"),
        ({"Authorization": f"Bearer {secrets.token_hex(32)}"}, "wrong admin token"),
        (auth, "wrong admin token"),  # a gateway's API key is not an admin token
    ):
        reply = call(admin_url, "GET", "/admin/v1/invoices", headers=headers)
        assert (reply.status, reply.message) == (401, message)
        assert reply.headers["www-authenticate"].startswith("Bearer")
    # The token is checked before the body is read: an oversized body without it is still 401.
    oversized = call(admin_url, "POST", "/admin/v1/invoices/issue", b"x" * (ADMIN_BODY_BYTES_MAX + 1), headers={})
    assert oversized.status == 401
    assert call(admin_url, "POST", "/admin/v1/invoices/issue", b"x" * (ADMIN_BODY_BYTES_MAX + 1)).status == 413


def test_without_admin_settings_there_are_no_admin_routes(fake_server: str) -> None:
    reply = call(fake_server, "GET", "/admin/v1/invoices")
    assert (reply.status, reply.message) == (404, "no route GET /admin/v1/invoices")


def test_an_invoice_from_draft_to_credit_note(admin_url: str, db: Database, billed: int) -> None:
    drafted = call(admin_url, "POST", "/admin/v1/invoices/draft", {"gateway_id": billed, "month": "2026-11"})
    assert drafted.status == 200, drafted.body
    draft = drafted.json()
    assert (draft["status"], draft["number"], draft["total_minor"], draft["lines"]) == ("draft", None, "6000", 1)
    invoice_id = draft["id"]
    unprintable = export(admin_url, invoice_id, "pdf")
    assert (unprintable.status, unprintable.message) == (409, f"invoice {invoice_id} is a draft; "
                                                              "issue it before printing it")

    issued = call(admin_url, "POST", "/admin/v1/invoices/issue", {"invoice_id": invoice_id}).json()
    assert issued["status"] == "issued" and issued["number"].startswith("CH-")
    again = call(admin_url, "POST", "/admin/v1/invoices/issue", {"invoice_id": invoice_id})
    assert (again.status, again.message) == (
        409, f"invoice {invoice_id} is already issued as {issued['number']}; an invoice is issued only once")
    assert get_invoice(db, invoice_id).actor == "admin-api"

    as_json = export(admin_url, invoice_id, "json")
    assert as_json.headers["content-type"] == "application/json"
    assert json.loads(as_json.body)["total_minor"] == "6000"
    as_csv = export(admin_url, invoice_id, "csv")
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert issued["number"] in as_csv.body.decode() and len(list(csv.reader(io.StringIO(as_csv.body.decode())))) > 1
    as_pdf = export(admin_url, invoice_id, "pdf", issuer_name="Acme Video GmbH")
    assert as_pdf.headers["content-type"] == "application/pdf" and as_pdf.body.startswith(b"%PDF")
    assert as_pdf.headers["content-disposition"] == f'attachment; filename="{issued["number"]}.pdf"'

    voided = call(admin_url, "POST", "/admin/v1/invoices/void", {"invoice_id": invoice_id, "reason": "wrong plan"})
    assert voided.status == 200, voided.body
    credit = voided.json()["credit_note"]
    assert voided.json()["voided"]["status"] == "void"
    assert (credit["credit_note_of"], credit["status"], credit["total_minor"]) == (invoice_id, "issued", "-6000")
    listed = call(admin_url, "GET", f"/admin/v1/invoices?gateway_id={billed}").json()["invoices"]
    assert sorted((row["id"], row["status"]) for row in listed) == [(invoice_id, "void"), (credit["id"], "issued")]


def test_a_paid_invoice_and_event_exports(admin_url: str, billed: int) -> None:
    invoice_id = call(admin_url, "POST", "/admin/v1/invoices/draft",
                      {"gateway_id": billed, "start": "2026-11-10T00:00:00Z", "end": "2026-11-11T00:00:00Z",
                       "group_by": "orchestrator"}).json()["id"]
    call(admin_url, "POST", "/admin/v1/invoices/issue", {"invoice_id": invoice_id, "reason": "monthly run"})
    paid = call(admin_url, "POST", "/admin/v1/invoices/paid",
                {"invoice_id": invoice_id, "paid_at": "2026-12-10T00:00:00Z", "reason": "SEPA ref 8812"}).json()
    assert (paid["status"], paid["paid_at"]) == ("paid", "2026-12-10T00:00:00+00:00")
    stripe = export(admin_url, invoice_id, "stripe", stripe_customer_id="cus_Q1")
    assert stripe.headers["content-type"] == "application/x-ndjson"
    assert json.loads(stripe.body.splitlines()[0])["payload"]["stripe_customer_id"] == "cus_Q1"
    openmeter = export(admin_url, invoice_id, "openmeter")
    assert json.loads(openmeter.body.splitlines()[0])["subject"] == "acme"
    void_paid = call(admin_url, "POST", "/admin/v1/invoices/void", {"invoice_id": invoice_id, "reason": "x"})
    assert (void_paid.status, void_paid.message) == (
        409, f"invoice {invoice_id} is paid; only an issued invoice can be voided")


def test_usage_of_all_gateways_grouped_by_gateway(admin_url: str, billed: int) -> None:
    reply = call(admin_url, "GET", "/admin/v1/usage?month=2026-11&group_by=gateway")
    assert reply.status == 200, reply.body
    document = reply.json()
    assert (document["start"], document["end"], document["gateway_id"]) == (
        "2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00", None)
    groups = [(group["group"], group["calls"], group["ev_signed_wei"]) for group in document["groups"]]
    assert groups == [([str(billed)], 2, str(2 * TICKET_FACE_VALUE_WEI)), ([str(billed + 1)], 1,
                                                                           str(TICKET_FACE_VALUE_WEI))]
    one = call(admin_url, "GET", f"/admin/v1/usage?start=2026-11-11T00:00:00Z&end=2026-11-12T00:00:00Z"
                                 f"&group_by=day&gateway_id={billed + 1}").json()
    assert [(group["group"], group["calls"]) for group in one["groups"]] == [(["2026-11-11"], 1)]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), [
    ("POST", "/admin/v1/invoices/draft", {"gateway_id": 1}, 400,
     "give either month (like 2026-11) or both start and end (ISO 8601 whole UTC hours)"),
    ("POST", "/admin/v1/invoices/draft", {"gateway_id": 1, "month": "11/2026"}, 400,
     "month must look like 2026-11, got '11/2026'"),
    ("POST", "/admin/v1/invoices/draft", {"gateway_id": 1, "start": "2026-11-10T00:30:00Z",
                                          "end": "2026-11-11T00:00:00Z"}, 400,
     "start must be a whole UTC hour with its offset, got 2026-11-10T00:30:00+00:00"),
    ("POST", "/admin/v1/invoices/draft", {"gateway_id": 99, "month": "2026-11"}, 400,
     "gateway 99 has no billing plan in force at 2026-11-01T00:00:00+00:00; set one with `clearinghouse plan set`"),
    ("POST", "/admin/v1/invoices/issue", {"invoiceId": 1}, 400,
     "unknown body field 'invoiceId'; expected some of allow_open_period, invoice_id, reason"),
    ("POST", "/admin/v1/invoices/issue", b'{"invoice_id": 1.0}', 400,
     "number 1.0 is not an integer: amounts and ids are never floats"),
    ("POST", "/admin/v1/invoices/issue", {"invoice_id": 999}, 404, "no invoice with id 999"),
    ("POST", "/admin/v1/invoices/void", {"invoice_id": 1}, 400, "reason must be non-empty text, got None"),
    ("GET", "/admin/v1/invoices/export?invoice_id=1&format=xml", None, 400,
     "format must be one of csv, json, pdf, stripe, openmeter, got 'xml'"),
    ("GET", "/admin/v1/invoices/export?invoice_id=1&format=stripe", None, 400,
     "format=stripe needs stripe_customer_id (the gateway's Stripe customer)"),
    ("GET", "/admin/v1/invoices?limit=0", None, 400, "limit must be an integer in 1..1000, got '0'"),
    ("GET", "/admin/v1/invoices?gateway_id=1&gateway_id=2", None, 400,
     "query parameter gateway_id given more than once"),
    ("GET", "/admin/v1/usage?month=2026-11&group_by=planet", None, 400,
     "group_by must be one of subject, pipeline_model, app, orchestrator, day, gateway, got 'planet'"),
    ("DELETE", "/admin/v1/invoices", None, 405, "/admin/v1/invoices accepts GET, not DELETE"),
])
def test_bad_requests_are_answered_by_name(admin_url: str, billed: int, method: str, path: str,
                                           body: dict[str, Any] | bytes | None, status: int, message: str) -> None:
    reply = call(admin_url, method, path, body)
    assert (reply.status, reply.message) == (status, message)


def export(url: str, invoice_id: int, export_format: str, **options: str) -> Reply:
    query = urlencode({"invoice_id": invoice_id, "format": export_format, **options})
    return call(url, "GET", f"/admin/v1/invoices/export?{query}")
