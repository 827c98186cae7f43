"""SignTickets and GetUsage over a real gRPC server: batches an orchestrator accepts, nonces the
server assigns (shared with GeneratePayment on the same params), idempotency on the request id,
and a gateway's own usage."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import grpc
import pytest

from clearinghouse.api import issue_api_key
from clearinghouse.api.errors import Reason
from clearinghouse.ledger import Database, create_gateway, last_issued_nonce, top_up
from clearinghouse.domain.ev import ticket_ev
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import lp_rpc_pb2
from tests.api.conftest import PEPPER
from tests.api.grpc_client import TIMEOUT_S, GrpcStack, failure, grpc_stack
from tests.api.orchestrator import Orchestrator
from tests.api.test_grpc_payments import pay, pay_request
from tests.api.test_sessions import offer, signing_records
from tests.signer.builders import L1_BLOCK, OUR_ADDRESS


@pytest.fixture
def stack(db: Database) -> Iterator[GrpcStack]:
    with grpc_stack(db) as running:
        yield running


def tickets_request(
    info: lp_rpc_pb2.OrchestratorInfo, request_id: str, count: int = 10
) -> pb.SignTicketsRequest:
    return pb.SignTicketsRequest(
        request_id=request_id,
        ticket_params=info.ticket_params,
        price_info=info.price_info,
        ticket_count=count,
    )


def sign(stack: GrpcStack, request: pb.SignTicketsRequest, **metadata: str) -> pb.SignTicketsResponse:
    response: pb.SignTicketsResponse = stack.stub.SignTickets(
        request, metadata=stack.metadata + tuple(metadata.items()), timeout=TIMEOUT_S
    )
    return response


def test_a_batch_passes_the_orchestrator_and_names_its_tickets(stack: GrpcStack) -> None:
    orchestrator = Orchestrator(price_per_unit=3)
    info = offer(orchestrator, stack.clock)
    batch = sign(stack, tickets_request(info, "batch-1"))
    assert orchestrator.accept_payment(batch.payment, info, OUR_ADDRESS, L1_BLOCK) == 10
    rand_hash = info.ticket_params.recipient_rand_hash
    assert [t.sender_nonce for t in batch.tickets] == list(range(1, 11))
    for ticket in batch.tickets:
        expected = orchestrator.ticket_hash(
            OUR_ADDRESS, orchestrator.face_value, orchestrator.win_prob, ticket.sender_nonce, rand_hash
        )
        assert ticket.ticket_hash == expected
    assert Fraction(batch.ev_signed_wei) == 10 * ticket_ev(orchestrator.face_value, orchestrator.win_prob)
    assert not batch.replayed and signing_records(stack.db) == 1


def test_a_retry_gets_the_stored_batch_and_a_reused_id_is_refused(stack: GrpcStack) -> None:
    info = offer(Orchestrator(price_per_unit=3), stack.clock)
    first = sign(stack, tickets_request(info, "batch-1"))
    again = sign(stack, tickets_request(info, "batch-1"))
    assert again.replayed and (again.payment, again.tickets) == (first.payment, first.tickets)
    code, reason, _ = failure(
        stack.stub.SignTickets, tickets_request(info, "batch-1", count=3), metadata=stack.metadata
    )
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, Reason.REQUEST_ID_REUSED)
    second = sign(stack, tickets_request(info, "batch-2"))
    assert [t.sender_nonce for t in second.tickets] == list(range(11, 21))
    assert signing_records(stack.db) == 2


def test_nonces_are_shared_with_generate_payment_on_the_same_params(stack: GrpcStack) -> None:
    orchestrator = Orchestrator(price_per_unit=3)
    info = offer(orchestrator, stack.clock)
    paid = pay(stack, pay_request(info))
    batch = sign(stack, tickets_request(info, "after-payment", count=5))
    assert [t.sender_nonce for t in batch.tickets] == [2, 3, 4, 5, 6]
    stack.clock.now_ns += 60 * 10**9
    again = pay(stack, pay_request(info, paid.state))
    nonces = [t.sender_nonce for t in lp_rpc_pb2.Payment.FromString(again.payment).ticket_sender_params]
    assert nonces[0] == 7
    orchestrator.accept(paid.payment, paid.seg_creds, info, OUR_ADDRESS, L1_BLOCK)
    orchestrator.accept_payment(batch.payment, info, OUR_ADDRESS, L1_BLOCK)
    orchestrator.accept(again.payment, again.seg_creds, info, OUR_ADDRESS, L1_BLOCK)


def test_nonce_600_asks_for_fresh_params(stack: GrpcStack) -> None:
    info = offer(Orchestrator(price_per_unit=3, face_value=2, win_prob=2**250), stack.clock)
    for n in range(6):
        sign(stack, tickets_request(info, f"full-{n}", count=100))
    code, reason, _ = failure(stack.stub.SignTickets, tickets_request(info, "601", count=1), metadata=stack.metadata)
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, Reason.REFRESH_SESSION)
    assert last_issued_nonce(stack.db, info.ticket_params.recipient_rand_hash) == 600


@pytest.mark.parametrize(
    ("change", "code", "reason"),
    [
        ({"request_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, Reason.BAD_REQUEST),
        ({"request_id": "has space"}, grpc.StatusCode.INVALID_ARGUMENT, Reason.BAD_REQUEST),
        ({"ticket_count": 0}, grpc.StatusCode.INVALID_ARGUMENT, Reason.BAD_REQUEST),
        ({"ticket_count": 101}, grpc.StatusCode.OUT_OF_RANGE, Reason.TOO_MANY_TICKETS),
    ],
)
def test_bad_batches_are_refused_before_signing(
    stack: GrpcStack, change: dict[str, object], code: grpc.StatusCode, reason: Reason
) -> None:
    request = tickets_request(offer(Orchestrator(), stack.clock), "r")
    for name, value in change.items():
        setattr(request, name, value)
    assert failure(stack.stub.SignTickets, request, metadata=stack.metadata)[:2] == (code, reason)
    missing_price = pb.SignTicketsRequest(request_id="r", ticket_params=request.ticket_params, ticket_count=1)
    assert failure(stack.stub.SignTickets, missing_price, metadata=stack.metadata)[1] == Reason.BAD_REQUEST
    assert signing_records(stack.db) == 0


def test_a_gateway_without_funds_gets_no_tickets(stack: GrpcStack) -> None:
    key, _ = issue_api_key(stack.db, create_gateway(stack.db, "unfunded").id, PEPPER)
    request = tickets_request(offer(Orchestrator(), stack.clock), "r")
    code, reason, _ = failure(stack.stub.SignTickets, request, metadata=(("authorization", f"Bearer {key}"),))
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.INSUFFICIENT_BALANCE)
    assert signing_records(stack.db) == 0


def usage(stack: GrpcStack, start: int, end: int, key: str | None = None) -> pb.GetUsageResponse:
    metadata = stack.metadata if key is None else (("authorization", f"Bearer {key}"),)
    response: pb.GetUsageResponse = stack.stub.GetUsage(
        pb.GetUsageRequest(start_unix_s=start, end_unix_s=end), metadata=metadata, timeout=TIMEOUT_S
    )
    return response


def test_usage_is_the_callers_own_and_exact(stack: GrpcStack) -> None:
    orchestrator = Orchestrator(price_per_unit=3)
    info = offer(orchestrator, stack.clock)
    started = stack.clock.now_ns // 10**9 - 1  # the service's one clock stamps the records
    paid = pay(stack, pay_request(info))
    batch = sign(stack, tickets_request(info, "b-1", count=4), **{"livepeer-usage-subject": "alice"})
    other = create_gateway(stack.db, "other")
    top_up(stack.db, other.id, 10**18, actor="test", reason="funds")
    other_key, _ = issue_api_key(stack.db, other.id, PEPPER)
    stack.stub.SignTickets(
        tickets_request(info, "b-1", count=2), metadata=(("authorization", f"Bearer {other_key}"),), timeout=TIMEOUT_S
    )
    ours = usage(stack, started, started + 3600)
    ev = ticket_ev(orchestrator.face_value, orchestrator.win_prob)
    paid_tickets = len(lp_rpc_pb2.Payment.FromString(paid.payment).ticket_sender_params)
    assert (ours.gateway_id, ours.calls, ours.tickets) == (stack.gateway_id, 2, paid_tickets + 4)
    assert Fraction(ours.ev_signed_wei) == (paid_tickets + 4) * ev == (paid_tickets * ev + Fraction(batch.ev_signed_wei))
    assert Fraction(ours.fee_wei) == 3 * 10 + 3  # 10 s of live at 3 wei/s, then one fixed unit
    assert int(ours.face_value_wei) == (paid_tickets + 4) * orchestrator.face_value
    assert [(s.usage_subject, s.calls, s.tickets) for s in ours.subjects] == [("alice", 1, 4)]
    theirs = usage(stack, started, started + 3600, key=other_key)
    assert (theirs.calls, theirs.tickets) == (1, 2)
    assert usage(stack, started - 7200, started - 3600).calls == 0


@pytest.mark.parametrize(("start", "end"), [(100, 100), (200, 100), (-1, 100), (0, 366 * 86_400 + 1)])
def test_a_bad_usage_period_is_refused(stack: GrpcStack, start: int, end: int) -> None:
    code, reason, _ = failure(
        stack.stub.GetUsage, pb.GetUsageRequest(start_unix_s=start, end_unix_s=end), metadata=stack.metadata
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, Reason.BAD_REQUEST)


def test_usage_groups_come_from_the_hourly_rows(stack: GrpcStack) -> None:
    orchestrator = Orchestrator(price_per_unit=3)
    info = offer(orchestrator, stack.clock)
    hour = stack.clock.now_ns // 10**9 // 3600 * 3600  # the service's clock stamps the records
    sign(stack, tickets_request(info, "g-1", count=4), **{"livepeer-usage-subject": "alice"})
    sign(stack, tickets_request(info, "g-2", count=2))
    request = pb.GetUsageRequest(start_unix_s=hour - 3600, end_unix_s=hour + 3600,
                                 group_by=pb.USAGE_GROUPING_SUBJECT)
    grouped: pb.GetUsageResponse = stack.stub.GetUsage(request, metadata=stack.metadata, timeout=TIMEOUT_S)
    assert [(list(g.key), g.calls, g.tickets) for g in grouped.groups] == [([""], 1, 2), (["alice"], 1, 4)]
    ev = ticket_ev(orchestrator.face_value, orchestrator.win_prob)
    assert sum(Fraction(g.ev_signed_wei) for g in grouped.groups) == 6 * ev == Fraction(grouped.ev_signed_wei)
    by_orchestrator = stack.stub.GetUsage(
        pb.GetUsageRequest(start_unix_s=hour - 3600, end_unix_s=hour + 3600, group_by=pb.USAGE_GROUPING_ORCHESTRATOR),
        metadata=stack.metadata, timeout=TIMEOUT_S,
    )
    assert [list(g.key) for g in by_orchestrator.groups] == [["0x" + orchestrator.address.hex()]]
    code, reason, error = failure(
        stack.stub.GetUsage,
        pb.GetUsageRequest(start_unix_s=hour + 1, end_unix_s=hour + 3600, group_by=pb.USAGE_GROUPING_DAY),
        metadata=stack.metadata,
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, Reason.BAD_REQUEST)
    assert "whole UTC hours" in str(error.details())
