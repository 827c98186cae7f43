"""Group commit seen from the transports: remote-signer HTTP, /v1 and gRPC calls share the
committer's batches; a full queue is 503 with Retry-After (gRPC RESOURCE_EXHAUSTED, SIGNER_BUSY);
a gRPC call whose deadline passes while it is queued signs nothing.

Each test holds the committer with a call that waits inside its batch (an event, never a
sleep), so the calls under test are queued deterministically before the batch they share.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest

from clearinghouse.api.errors import Reason
from clearinghouse.ledger import CallKeys, CallLedger, Committer, Database, verify_ledger
from tests.api.client import Reply, post
from tests.api.grpc_client import TIMEOUT_S, GrpcStack, failure, grpc_stack
from tests.api.orchestrator import Orchestrator
from tests.api.test_grpc_payments import pay_request
from tests.api.test_grpc_tickets import tickets_request
from tests.api.test_sessions import live_body, offer, signing_records
from tests.ledger.conftest import LedgerStep

WAIT_S = 10.0


@pytest.fixture
def held(db: Database) -> Iterator[tuple[GrpcStack, threading.Event]]:
    """A stack whose committer is busy with a batch until the event is set."""
    with grpc_stack(db, committer=Committer(db, queue_max=8)) as stack:
        entered, release = threading.Event(), threading.Event()

        def hold(ledger: CallLedger) -> None:
            entered.set()
            assert release.wait(WAIT_S)

        keys = CallKeys("held", stack.gateway_id, None, None, datetime.now(UTC))
        holding = stack.committer.submit(LedgerStep(keys, hold))
        assert entered.wait(WAIT_S)
        try:
            yield stack, release
        finally:
            release.set()
            holding.result(WAIT_S)


def _queued(stack: GrpcStack, count: int) -> None:
    """Wait until ``count`` calls are queued behind the held batch."""
    assert _eventually(lambda: stack.committer.queued == count), stack.committer.queued


def _eventually(condition: Callable[[], bool]) -> bool:
    done = threading.Event()
    for _ in range(int(WAIT_S / 0.01)):
        if condition():
            return True
        done.wait(0.01)
    return condition()


def test_http_v1_and_grpc_calls_share_one_batch(held: tuple[GrpcStack, threading.Event]) -> None:
    stack, release = held
    info = offer(Orchestrator(price_per_unit=3), stack.clock)
    with ThreadPoolExecutor(max_workers=4) as pool:
        calls: list[Future[Any]] = [
            pool.submit(post, stack.http_url, "/generate-live-payment", live_body(info), stack.http_auth),
            pool.submit(post, stack.http_url, "/v1/sign-tickets",
                        {"requestId": "v1-1", "ticketParams": _json_params(info), "priceInfo": _json_price(info),
                         "ticketCount": 2}, stack.http_auth),
            pool.submit(stack.stub.GeneratePayment, pay_request(info, manifest_id="m-2"), metadata=stack.metadata,
                        timeout=TIMEOUT_S),
            pool.submit(stack.stub.SignTickets, tickets_request(info, "grpc-1", count=3), metadata=stack.metadata,
                        timeout=TIMEOUT_S),
        ]
        _queued(stack, 4)
        batches_before = stack.committer.batches
        release.set()
        answers = [call.result(WAIT_S) for call in calls]

    assert [a.status for a in answers[:2]] == [200, 200], [a.body for a in answers[:2]]
    assert len(answers[2].payment) > 0 and len(answers[3].tickets) == 3
    # The held batch, then one batch holding the four calls of three transports.
    assert stack.committer.batches == batches_before + 2 and stack.committer.largest_batch == 4
    assert signing_records(stack.db) == 4
    assert verify_ledger(stack.db).ok


def test_a_full_queue_answers_at_once_and_signs_nothing(held: tuple[GrpcStack, threading.Event]) -> None:
    stack, release = held
    info = offer(Orchestrator(price_per_unit=3), stack.clock)
    with ThreadPoolExecutor(max_workers=8) as pool:
        queued = [pool.submit(post, stack.http_url, "/generate-live-payment",
                              live_body(info, ManifestID=f"m-{n}"), stack.http_auth) for n in range(8)]
        _queued(stack, 8)
        busy: Reply = post(stack.http_url, "/generate-live-payment", live_body(info), stack.http_auth)
        code, reason, _ = failure(stack.stub.GeneratePayment, pay_request(info), metadata=stack.metadata)
        v1 = post(stack.http_url, "/v1/generate-payment",
                  {"orchestrator": _json_info(info), "type": "live", "manifestId": "m-v1"}, stack.http_auth)
        release.set()
        assert all(call.result(WAIT_S).status == 200 for call in queued)

    assert busy.status == 503 and "signing queue full" in busy.message
    assert busy.headers["retry-after"] == "1"
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, Reason.SIGNER_BUSY.value)
    assert v1.status == 503 and v1.headers["retry-after"] == "1" and v1.json()["error"]["reason"] == "SIGNER_BUSY"
    assert signing_records(stack.db) == 8


def test_a_grpc_call_whose_deadline_passes_in_the_queue_signs_nothing(
    held: tuple[GrpcStack, threading.Event],
) -> None:
    stack, release = held
    info = offer(Orchestrator(price_per_unit=3), stack.clock)
    with pytest.raises(grpc.RpcError) as expired:
        stack.stub.GeneratePayment(pay_request(info), metadata=stack.metadata, timeout=0.5)
    assert stack.committer.queued == 1  # its work is still queued: the client stopped waiting
    calls_before = stack.committer.calls
    release.set()
    assert _eventually(lambda: stack.committer.calls >= calls_before + 2)

    assert expired.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert signing_records(stack.db) == 0
    assert verify_ledger(stack.db).ok


def _json_info(info: Any) -> dict[str, Any]:
    from google.protobuf import json_format

    document: dict[str, Any] = json_format.MessageToDict(info)
    return document


def _json_params(info: Any) -> dict[str, Any]:
    return _json_info(info)["ticketParams"]


def _json_price(info: Any) -> dict[str, Any]:
    return _json_info(info)["priceInfo"]
