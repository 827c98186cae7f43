"""An overdue gateway under a stop-signing policy is refused on every transport with the invoice
named (483 on the remote-signer route, 402 INSUFFICIENT_BALANCE on /v1, RESOURCE_EXHAUSTED on
gRPC), nothing signed, and is served again the moment its invoice is marked paid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import grpc
from google.protobuf import json_format

from clearinghouse.api.errors import Reason
from clearinghouse.billing.invoice_terms import InvoicingSettings
from clearinghouse.billing.overdue import OverdueBook, record_payment
from clearinghouse.billing.scheduler import BillingScheduler
from clearinghouse.ledger import Database
from clearinghouse.ledger.billing_cycles import (
    BillingCycle,
    CycleKind,
    OverduePolicy,
    billing_cycle,
    set_billing_cycle,
)
from clearinghouse.ledger.invoices import list_invoices
from clearinghouse.ledger.billing_plans import PlanKind, set_billing_plan
from tests.api.client import post, request
from tests.api.grpc_client import failure, grpc_stack
from tests.api.orchestrator import Orchestrator
from tests.api.test_grpc_payments import pay_request
from tests.api.test_sessions import live_body, offer, signing_records
from tests.billing.scheduling import PLAN_FROM, Clock

PAY = "/generate-live-payment"
ANCHOR = datetime(2026, 11, 2, tzinfo=UTC)
TERMS = InvoicingSettings(payment_terms_days=7)


def test_an_overdue_gateway_is_refused_naming_the_invoice_and_served_once_paid(db: Database) -> None:
    book = OverdueBook()
    with grpc_stack(db, overdue_guard=book.check) as stack:
        set_billing_plan(db, stack.gateway_id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=PLAN_FROM,
                         fixed_fee=Fraction(10), actor="test", reason="test")
        set_billing_cycle(db, BillingCycle(
            gateway_id=stack.gateway_id, cycle=CycleKind.WEEKLY, length_days=None, anchor_at=ANCHOR, grace_s=0,
            webhook_url=None, webhook_secret=None, overdue_policy=OverduePolicy.STOP_SIGNING,
            overdue_stop_after_days=3, actor="test", reason="test", changed_at=ANCHOR))
        clock = Clock(ANCHOR + timedelta(days=7))
        scheduler = BillingScheduler(db, TERMS, clock=clock, overdue=book)
        assert scheduler.tick().issued == 1
        (invoice,) = list_invoices(db, gateway_id=stack.gateway_id)
        auth = stack.http_auth

        clock.now += timedelta(days=7 + 2)  # overdue for 2 days: the policy waits for 3
        scheduler.tick()
        assert post(stack.http_url, PAY, live_body(offer(Orchestrator(), stack.clock)), auth).status == 200
        clock.now += timedelta(days=1)
        scheduler.tick()
        signed = signing_records(db)

        refused = post(stack.http_url, PAY, live_body(offer(Orchestrator(), stack.clock)), auth)
        assert refused.status == 483 and f"invoice {invoice.number}" in refused.message, refused.body
        assert "3 days overdue" in refused.message
        v1 = request(stack.http_url, "POST", "/v1/generate-payment",
                     _json(pay_request(offer(Orchestrator(), stack.clock))), auth)
        assert (v1.status, v1.json()["error"]["reason"]) == (402, "INSUFFICIENT_BALANCE")
        assert invoice.number is not None and invoice.number in v1.json()["error"]["message"]
        code, reason, error = failure(stack.stub.GeneratePayment, pay_request(offer(Orchestrator(), stack.clock)),
                                      metadata=stack.metadata)
        assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.INSUFFICIENT_BALANCE)
        assert invoice.number in (error.details() or "")
        assert signing_records(db) == signed  # nothing signed, nothing recorded

        record_payment(db, invoice.id, paid_at=clock.now, actor="finance", reason="wire received", book=book)
        assert post(stack.http_url, PAY, live_body(offer(Orchestrator(), stack.clock)), auth).status == 200
        scheduler.tick()  # the next refresh does not put the stop back: nothing is overdue
        assert book.stop_of(stack.gateway_id) is None
        assert billing_cycle(db, stack.gateway_id) is not None


def _json(message: Any) -> dict[str, Any]:
    document: dict[str, Any] = json_format.MessageToDict(message)
    return document
