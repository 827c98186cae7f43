"""Invoice delivery to a real webhook receiver on loopback: signed with HMAC-SHA256 over the
timestamp and the body, retried with backoff across scheduler ticks, every attempt recorded, and
exactly one delivery recorded as delivered when the receiver fails twice then succeeds."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from clearinghouse.billing.delivery import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    retry_delay_s,
    signature,
)
from clearinghouse.billing.invoice_terms import InvoicingSettings
from clearinghouse.billing.scheduler import BillingScheduler
from clearinghouse.ledger import Database
from clearinghouse.ledger.billing_cycles import CycleKind, Delivery, DeliveryOutcome, billing_runs, delivery_attempts
from clearinghouse.ledger.invoices import list_invoices
from tests.billing.scheduling import Clock, billed_gateway

SECRET = "0f" * 32
ANCHOR = datetime(2026, 11, 2, tzinfo=UTC)


class Receiver(ThreadingHTTPServer):
    """Answers 500 to its first ``failures`` requests, then 204; keeps every request."""

    def __init__(self, failures: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/invoices"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.requests.append((dict(self.headers), body))
        self.send_response(500 if len(self.server.requests) <= self.server.failures else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(failures=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_a_receiver_failing_twice_then_succeeding_gets_exactly_one_delivery(
    ledger_db: Database, receiver: Receiver
) -> None:
    gateway_id = billed_gateway(ledger_db, "delivered", CycleKind.WEEKLY, ANCHOR, grace_s=0,
                                webhook=(receiver.url, SECRET))
    clock = Clock(ANCHOR + timedelta(days=7))
    scheduler = BillingScheduler(ledger_db, InvoicingSettings(), clock=clock, export_base_url="https://ch.example")

    first = scheduler.tick()
    assert (first.issued, first.delivered, first.failed_attempts) == (1, 0, 1)
    clock.now += timedelta(seconds=retry_delay_s(1) - 1)
    assert scheduler.tick().failed_attempts == 0 and len(receiver.requests) == 1  # backing off
    clock.now += timedelta(seconds=1)
    assert scheduler.tick().failed_attempts == 1
    clock.now += timedelta(seconds=retry_delay_s(2))
    assert scheduler.tick().delivered == 1
    delivered_at = clock.now
    clock.now += timedelta(days=1)
    assert scheduler.tick().delivered == 0 and len(receiver.requests) == 3  # never sent again

    (invoice,) = list_invoices(ledger_db, gateway_id=gateway_id)
    attempts = sorted(delivery_attempts(ledger_db, invoice_id=invoice.id), key=lambda a: a.attempt)
    assert [(a.attempt, a.outcome, a.http_status) for a in attempts] == [
        (1, DeliveryOutcome.FAILED, 500), (2, DeliveryOutcome.FAILED, 500), (3, DeliveryOutcome.DELIVERED, 204)]
    assert [a.outcome for a in attempts].count(DeliveryOutcome.DELIVERED) == 1
    assert all(a.url == receiver.url and a.number == invoice.number for a in attempts)
    (run,) = billing_runs(ledger_db, gateway_id=gateway_id)
    assert run.delivery is Delivery.DELIVERED

    headers, body = receiver.requests[-1]
    timestamp = int(headers[TIMESTAMP_HEADER])
    expected = "v1=" + hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    assert signature(SECRET, timestamp, body + b" ") != expected  # the body is covered
    assert timestamp == int(delivered_at.timestamp()) and headers[DELIVERY_HEADER] == f"{invoice.id}-3"
    document = json.loads(body)
    assert document["type"] == "invoice.issued" and document["invoice"]["number"] == invoice.number
    assert document["invoice"]["total_minor"] == "1000"
    assert document["links"]["pdf"] == f"https://ch.example/admin/v1/invoices/export?invoice_id={invoice.id}&format=pdf"
    assert SECRET not in body.decode()


def test_the_retry_schedule_and_the_limits_fit_together() -> None:
    from clearinghouse.billing.limits import (
        DELIVERY_ATTEMPTS_MAX,
        DELIVERY_RETRY_BASE_S,
        DELIVERY_RETRY_MAX_S,
        DELIVERY_TIMEOUT_S,
    )
    from clearinghouse.billing.limits import BILLING_TICK_S_DEFAULT, CLAIM_STALE_S_DEFAULT

    delays = [retry_delay_s(attempt) for attempt in range(1, DELIVERY_ATTEMPTS_MAX)]
    assert delays[0] == DELIVERY_RETRY_BASE_S and delays == sorted(delays) and max(delays) <= DELIVERY_RETRY_MAX_S
    assert sum(delays) < 86_400  # a failed delivery is given up, and alerted, within a day
    assert 2 * DELIVERY_TIMEOUT_S < DELIVERY_RETRY_BASE_S  # an attempt in flight is never repeated under it
    assert BILLING_TICK_S_DEFAULT < CLAIM_STALE_S_DEFAULT  # a live owner finishes long before a takeover
