"""`clearinghouse serve` with settlement on autopilot: a daemon started with an overdue gateway
under a stop-signing policy refuses it from its first call (483 naming the invoice), and a payment
recorded by another process (`clearinghouse invoice paid`) lifts the stop within [billing] tick_s."""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

from clearinghouse import ledger
from clearinghouse.api.api_keys import issue_api_key
from clearinghouse.billing.invoice_terms import InvoicingSettings
from clearinghouse.billing.scheduler import BillingScheduler
from clearinghouse.ledger.billing_cycles import BillingCycle, CycleKind, OverduePolicy, set_billing_cycle
from clearinghouse.ledger.invoices import list_invoices
from clearinghouse.ledger.billing_plans import PlanKind, set_billing_plan
from clearinghouse.proto import lp_rpc_pb2
from tests.billing.scheduling import Clock
from tests.cli.conftest import PEPPER_HEX, clearinghouse, write_daemon_config
from tests.cli.test_serve import free_port, serving, wait_ready

ANCHOR = datetime(2026, 1, 5, tzinfo=UTC)
LIFTED_WITHIN_S = 15.0
"""[billing] tick_s is 0.2 s here: a stop still there after 15 s is not being lifted."""


def overdue_gateway(database_url: str) -> tuple[str, str]:
    """A gateway whose January week was invoiced then, due at once, so now long overdue; its
    API key and the invoice's number."""
    db = ledger.open_database(database_url)
    try:
        gateway = ledger.create_gateway(db, "late-payer")
        ledger.top_up(db, gateway.id, 10**18, actor="t", reason="funds")
        key, _ = issue_api_key(db, gateway.id, bytes.fromhex(PEPPER_HEX))
        set_billing_plan(db, gateway.id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=ANCHOR,
                         fixed_fee=Fraction(10), actor="t", reason="t")
        set_billing_cycle(db, BillingCycle(
            gateway_id=gateway.id, cycle=CycleKind.WEEKLY, length_days=None, anchor_at=ANCHOR, grace_s=0,
            webhook_url=None, webhook_secret=None, overdue_policy=OverduePolicy.STOP_SIGNING,
            overdue_stop_after_days=3, actor="t", reason="t", changed_at=ANCHOR))
        # Only the first week, issued in January: the daemon's own scheduler issues the rest.
        BillingScheduler(db, InvoicingSettings(payment_terms_days=0), clock=Clock(ANCHOR + timedelta(days=7))).tick()
        (invoice,) = list_invoices(db, gateway_id=gateway.id)
        assert invoice.number is not None
        return key, invoice.number
    finally:
        db.dispose()


def pay(port: int, key: str) -> tuple[int, str]:
    offer = lp_rpc_pb2.OrchestratorInfo(transcoder="https://orchestrator.invalid:8935")
    info = base64.b64encode(offer.SerializeToString()).decode()
    body = json.dumps({"orchestrator": info, "type": "lv2v"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/generate-live-payment", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_restarted_daemon_refuses_an_overdue_gateway_until_another_process_records_the_payment(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = write_daemon_config(tmp_path, http_port=port)
    config.write_text(config.read_text() + "\n[billing]\ntick_s = 0.2\n")
    assert clearinghouse("db", "upgrade", "--config", str(config)).returncode == 0
    key, number = overdue_gateway(f"sqlite:///{tmp_path / 'clearinghouse.sqlite3'}")

    with serving(config) as daemon:
        wait_ready(port, daemon)
        status, text = pay(port, key)
        assert status == 483 and f"invoice {number}" in text, text

        paid = clearinghouse("invoice", "paid", "1", "--reason", "wire received", "--config", str(config))
        assert paid.returncode == 0, paid.stderr
        deadline = time.monotonic() + LIFTED_WITHIN_S
        while (answer := pay(port, key))[0] == 483:
            assert time.monotonic() < deadline, "the stop was not lifted"
            time.sleep(0.1)
        assert answer[0] != 483 and number not in answer[1]  # served again: what is wrong now is the offer
