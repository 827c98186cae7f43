"""One table per transport for the one refusal type, and the precedence table kept on the wire:
when a call fails two checks at once, the remote-signer route, /v1 and gRPC all answer the one
first in domain.refusals.PRECEDENCE, and nothing is signed."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import json_format

from clearinghouse.api.errors import REASON_STATUS, REFUSAL_STATUS, REFUSAL_WIRE, Reason
from clearinghouse.domain.refusals import PRECEDENCE, Refusal, SpendLimit, over_limit
from clearinghouse.ledger import Database
from clearinghouse.signer.decision import PaymentPolicy
from tests.api.client import post, request
from tests.api.grpc_client import GrpcStack, failure, grpc_stack
from tests.api.orchestrator import Orchestrator
from tests.api.test_grpc_payments import pay_request
from tests.api.test_sessions import live_body, offer, signing_records

PAY = "/generate-live-payment"
V1_PAY = "/v1/generate-payment"


def test_every_refusal_has_its_place_and_its_wire_form() -> None:
    assert list(REFUSAL_WIRE) == list(PRECEDENCE)  # the transport table is total, in the same order
    assert set(REFUSAL_STATUS) == set(Refusal)
    for refusal, wire in REFUSAL_WIRE.items():
        assert 400 <= wire.status < 600, refusal
        assert wire.reason in REASON_STATUS, refusal
        assert REFUSAL_STATUS[refusal] == wire.status


def answers(stack: GrpcStack, orchestrator: Orchestrator, **fields: Any) -> tuple[int, str, str, grpc.StatusCode, str]:
    """One call with ``fields`` on each transport: (remote-signer status and message, /v1 reason,
    gRPC code and reason)."""
    info = offer(orchestrator, stack.clock)
    http = post(stack.http_url, PAY, live_body(info, **{"type": fields.get("type", "live")}), stack.http_auth)
    v1 = request(stack.http_url, "POST", V1_PAY, _json(pay_request(info, **fields)), stack.http_auth)
    code, reason, _ = failure(stack.stub.GeneratePayment, pay_request(info, **fields), metadata=stack.metadata)
    return http.status, http.message, v1.json()["error"]["reason"], code, reason


def test_a_bad_request_outranks_the_chain_guard(db: Database) -> None:
    with grpc_stack(db) as stack:
        stack.chain.stale = "never read"
        status, message, v1_reason, code, reason = answers(stack, Orchestrator(), type="bogus")
        assert (status, v1_reason, code, reason) == (
            400, "BAD_REQUEST", grpc.StatusCode.INVALID_ARGUMENT, Reason.BAD_REQUEST)
        assert "chain data stale" not in message
        unsafe = answers(stack, Orchestrator())  # the same call, well formed: the guard answers
        assert (unsafe[0], unsafe[2], unsafe[3], unsafe[4]) == (
            503, "SIGNER_UNHEALTHY", grpc.StatusCode.UNAVAILABLE, Reason.SIGNER_UNHEALTHY)
        assert "chain data stale" in unsafe[1]
        assert signing_records(db) == 0


def test_the_ticket_cap_outranks_the_total_ev(db: Database) -> None:
    # A first live call pays 10 s: at 9 wei/s with 35-wei tickets, 3 tickets and 105 wei of EV,
    # over both the cap of 2 tickets and the total EV of 50 wei.
    with grpc_stack(db, policy=PaymentPolicy(max_total_ev_wei=50), tickets_per_call_max=2) as stack:
        status, message, v1_reason, code, reason = answers(stack, Orchestrator(price_per_unit=9))
        assert (status, message) == (400, "numTickets 3 exceeds maximum of 2")
        assert (v1_reason, code, reason) == ("TOO_MANY_TICKETS", grpc.StatusCode.OUT_OF_RANGE, Reason.TOO_MANY_TICKETS)
        assert signing_records(db) == 0


def test_an_overdue_invoice_outranks_a_bad_request(db: Database) -> None:
    def stopped(gateway_id: int) -> None:
        raise over_limit(SpendLimit.OVERDUE_INVOICE, f"gateway {gateway_id}: invoice INV-7 is 3 days overdue")

    with grpc_stack(db, overdue_guard=stopped) as stack:
        stack.chain.stale = "never read"  # a third fault, ranked between the two
        status, message, v1_reason, code, reason = answers(stack, Orchestrator(), type="bogus")
        assert status == 483 and "INV-7" in message
        assert (v1_reason, code, reason) == (
            "INSUFFICIENT_BALANCE", grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.INSUFFICIENT_BALANCE)
        http = post(stack.http_url, PAY, live_body(offer(Orchestrator(), stack.clock), type="bogus"), stack.http_auth)
        assert http.json()["limit"] == "overdue_invoice"
        assert signing_records(db) == 0


def _json(message: Any) -> dict[str, Any]:
    document: dict[str, Any] = json_format.MessageToDict(message)
    return document
