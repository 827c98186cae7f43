"""GET /metrics over real servers: the real PaymentService and TicketService on a SQLite ledger
behind uvicorn (remote-signer and /v1 routes) and the gRPC server, one Metrics and one
RecentRejections shared by both. Counters move by what was signed, refusals are counted by
reason and sign nothing, and the gauges show the DepositHealth they are given."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from prometheus_client.parser import text_string_to_metric_families

from clearinghouse.api import ApiKeyAuthenticator, RemoteSignerApp, issue_api_key, serving
from clearinghouse.signer.gateway_service import GatewayService
from clearinghouse.api.grpc_server import grpc_serving
from clearinghouse.api.grpc_service import GrpcGateway
from clearinghouse.api.metrics import EXPOSITION_CONTENT_TYPE, Metrics
from clearinghouse.api.rejections import RecentRejections
from clearinghouse.api.v1_http import V1Routes
from clearinghouse.billing.ratebook import RateBook
from clearinghouse.chain.health import (
    BurnRate,
    ChainPosition,
    DepositHealth,
    Exposure,
    HealthThresholds,
    assess,
)
from clearinghouse.chain.watcher import WatcherState, WatcherStatus
from clearinghouse.ledger import Committer, Database, create_gateway, top_up
from clearinghouse.domain.ev import ticket_ev
from clearinghouse.proto import clearinghouse_pb2 as pb
from clearinghouse.proto import clearinghouse_pb2_grpc, lp_rpc_pb2
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.calls import Caller
from clearinghouse.signer.service import PaymentService
from clearinghouse.signer.tickets import TicketService
from tests.api.client import Reply, get, post, request
from tests.api.conftest import PEPPER
from tests.api.grpc_client import CHAIN_ID, HEALTHY_CHAIN, TICKET_BROKER, TIMEOUT_S, ChainHolder, failure
from tests.api.orchestrator import Orchestrator
from tests.api.test_grpc_tickets import tickets_request
from tests.api.test_sessions import Clock, live_body, offer, signing_records
from tests.signer.builders import KEY
from tests.signer.test_service import Clock as SignerClock
from tests.signer.test_service import live_call

PAY = "/generate-live-payment"
METRICS_TOKEN = "scrape-token-for-tests"


@dataclass
class Stack:
    db: Database
    clock: Clock
    metrics: Metrics
    rejections: RecentRejections
    http_url: str
    stub: clearinghouse_pb2_grpc.ClearinghouseStub
    key: str
    gateway_id: int

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.key}"),)


@pytest.fixture
def stack(db: Database) -> Iterator[Stack]:
    clock, chain = Clock(), ChainHolder()
    payments = PaymentService(db, KEY, chain, PaymentPolicy(), clock_ns=clock)
    tickets = TicketService(db, KEY, chain, PaymentPolicy(), clock_ns=clock)
    gateway_id = create_gateway(db, "acme").id
    top_up(db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    key, _ = issue_api_key(db, gateway_id, PEPPER)
    api_keys = ApiKeyAuthenticator(db, PEPPER)
    service = GatewayService(
        payments, tickets, db, chain_id=CHAIN_ID, ticket_broker=lambda: TICKET_BROKER, static_chain=HEALTHY_CHAIN
    )
    metrics, rejections = Metrics(), RecentRejections()
    with ExitStack() as running:
        v1 = V1Routes(service, api_keys, metrics=metrics)
        app = RemoteSignerApp(payments, api_keys=api_keys, v1=v1, metrics=metrics, rejections=rejections)
        http_url = running.enter_context(serving(app))
        server = running.enter_context(
            grpc_serving(GrpcGateway(service, api_keys, metrics=metrics, rejections=rejections))
        )
        channel = running.enter_context(grpc.insecure_channel(f"127.0.0.1:{server.port}"))
        stub = clearinghouse_pb2_grpc.ClearinghouseStub(channel)
        yield Stack(db, clock, metrics, rejections, http_url, stub, key, gateway_id)


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics by (name, labels)."""
    reply = request(url, "GET", "/metrics", None, headers)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == EXPOSITION_CONTENT_TYPE
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(reply.body.decode())
        for sample in family.samples
    }


def value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def signed(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], transport: str, gateway_id: int) -> tuple[float, ...]:
    labels = {"transport": transport, "gateway_id": str(gateway_id)}
    return tuple(
        value(samples, f"clearinghouse_{name}_total", **labels)
        for name in ("payments_signed", "tickets_signed", "ev_signed_wei", "face_value_signed_wei")
    )


def amounts(payment: bytes) -> tuple[int, Fraction, int]:
    """Tickets, their EV and their face value, from the Payment the client received."""
    decoded = lp_rpc_pb2.Payment.FromString(payment)
    count = len(decoded.ticket_sender_params)
    face_value = int.from_bytes(decoded.ticket_params.face_value, "big")
    win_prob = int.from_bytes(decoded.ticket_params.win_prob, "big")
    return count, count * ticket_ev(face_value, win_prob), count * face_value


def pay_http(stack: Stack, body: dict[str, Any]) -> Reply:
    reply = post(stack.http_url, PAY, body, stack.auth)
    assert reply.status == 200, reply.body
    return reply


def test_signed_http_payments_are_counted_once_and_a_retry_not_again(stack: Stack) -> None:
    orchestrator = Orchestrator(price_per_unit=3, pixels_per_unit=1)
    info = offer(orchestrator, stack.clock)
    first = pay_http(stack, live_body(info))
    stack.clock.now_ns += 12 * 10**9
    second_body = live_body(info, first.json()["state"])
    second = pay_http(stack, second_body)
    retried = pay_http(stack, second_body)  # same state, same body: the stored answer
    assert retried.json()["payment"] == second.json()["payment"]
    expected = [amounts(base64.b64decode(reply.json()["payment"])) for reply in (first, second)]
    tickets = sum(count for count, _, _ in expected)
    ev = sum((ev for _, ev, _ in expected), Fraction(0))
    face_value = sum(face for _, _, face in expected)
    samples = scrape(stack.http_url)
    assert signed(samples, "http", stack.gateway_id) == (2, tickets, pytest.approx(float(ev)), face_value)
    assert signed(samples, "grpc", stack.gateway_id) == (0, 0, 0, 0)
    assert tickets >= 2 and signing_records(stack.db) == 2
    route = {"transport": "http", "route": PAY, "status": "2xx"}
    assert value(samples, "clearinghouse_request_duration_seconds_count", **route) == 3


def test_a_refused_call_is_counted_by_reason_and_signs_nothing(stack: Stack) -> None:
    orchestrator = Orchestrator(price_per_unit=3, pixels_per_unit=1)
    info = offer(orchestrator, stack.clock)
    first = pay_http(stack, live_body(info))
    stack.clock.now_ns += 12 * 10**9
    pay_http(stack, live_body(info, first.json()["state"]))
    before = signed(scrape(stack.http_url), "http", stack.gateway_id)
    stale = post(stack.http_url, PAY, live_body(info, first.json()["state"], app="fork"), stack.auth)  # an old state
    assert stale.status == 409, stale.body
    samples = scrape(stack.http_url)
    assert signed(samples, "http", stack.gateway_id) == before
    assert signing_records(stack.db) == 2
    assert value(samples, "clearinghouse_rejections_total", transport="http", route=PAY, reason="STALE_STATE") == 1
    assert value(samples, "clearinghouse_request_duration_seconds_count",
                 transport="http", route=PAY, status="4xx") == 1
    (rejection,) = stack.rejections.newest()
    assert (rejection.transport, rejection.route, rejection.gateway_id, rejection.status, rejection.reason) == (
        "http", PAY, stack.gateway_id, "409", "STALE_STATE"
    )
    assert "stale state" in rejection.message


def test_an_unauthenticated_call_has_no_gateway_and_a_credit_refusal_its_reason(stack: Stack, db: Database) -> None:
    info = offer(Orchestrator(price_per_unit=3, pixels_per_unit=1), stack.clock)
    assert post(stack.http_url, PAY, live_body(info), {"Authorization": "Bearer chk_nope"}).status == 401
    broke = create_gateway(db, "broke").id
    broke_key, _ = issue_api_key(db, broke, PEPPER)
    assert post(stack.http_url, PAY, live_body(info), {"Authorization": f"Bearer {broke_key}"}).status == 483
    samples = scrape(stack.http_url)
    assert value(samples, "clearinghouse_rejections_total", transport="http", route=PAY, reason="UNAUTHENTICATED") == 1
    assert value(samples, "clearinghouse_rejections_total",
                 transport="http", route=PAY, reason="INSUFFICIENT_BALANCE") == 1
    assert signed(samples, "http", broke) == (0, 0, 0, 0)
    credit, unauthenticated = stack.rejections.newest()
    assert (credit.gateway_id, credit.status, credit.reason) == (broke, "483", "INSUFFICIENT_BALANCE")
    assert (unauthenticated.gateway_id, unauthenticated.status) == (None, "401")
    assert "chk_nope" not in unauthenticated.message


def test_a_random_path_is_labelled_unmatched(stack: Stack) -> None:
    path = "/wp-admin/setup-config.php?step=1&x=a4f9"
    assert request(stack.http_url, "GET", path).status == 404
    assert request(stack.http_url, "DELETE", PAY).status == 405
    samples = scrape(stack.http_url)
    assert value(samples, "clearinghouse_rejections_total", transport="http", route="unmatched", reason="NOT_FOUND") == 1
    assert value(samples, "clearinghouse_rejections_total",
                 transport="http", route=PAY, reason="METHOD_NOT_ALLOWED") == 1
    assert value(samples, "clearinghouse_request_duration_seconds_count",
                 transport="http", route="unmatched", status="4xx") == 1
    assert not any("wp-admin" in label for _, labels in samples for _, label in labels)
    assert stack.rejections.newest()[1].route == "unmatched"


def test_v1_sign_tickets_are_counted_and_a_v1_refusal_by_its_reason(stack: Stack) -> None:
    orchestrator = Orchestrator(price_per_unit=3)
    info = offer(orchestrator, stack.clock)
    body = json_format.MessageToDict(tickets_request(info, "batch-1"))
    for _ in range(2):  # the second is a retry: its stored batch
        reply = post(stack.http_url, "/v1/sign-tickets", body, stack.auth)
        assert reply.status == 200, reply.body
    reused = post(stack.http_url, "/v1/sign-tickets", {**body, "ticketCount": 3}, stack.auth)
    assert reused.status == 409
    ev = 10 * ticket_ev(orchestrator.face_value, orchestrator.win_prob)
    samples = scrape(stack.http_url)
    assert signed(samples, "http", stack.gateway_id) == (1, 10, pytest.approx(float(ev)), 10 * orchestrator.face_value)
    assert value(samples, "clearinghouse_rejections_total",
                 transport="http", route="/v1/sign-tickets", reason="REQUEST_ID_REUSED") == 1


def test_grpc_calls_are_recorded(stack: Stack) -> None:
    orchestrator = Orchestrator(price_per_unit=3, pixels_per_unit=1)
    info = offer(orchestrator, stack.clock)
    request_ = pb.GeneratePaymentRequest(orchestrator=info, type="live", manifest_id="m-1")
    response = stack.stub.GeneratePayment(request_, metadata=stack.metadata, timeout=TIMEOUT_S)
    code, reason, _ = failure(stack.stub.GeneratePayment, request_, metadata=(("authorization", "Bearer chk_x"),))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED")
    tickets, ev, face_value = amounts(response.payment)
    samples = scrape(stack.http_url)
    assert signed(samples, "grpc", stack.gateway_id) == (1, tickets, pytest.approx(float(ev)), face_value)
    assert value(samples, "clearinghouse_rejections_total",
                 transport="grpc", route="GeneratePayment", reason="UNAUTHENTICATED") == 1
    for status in ("OK", "UNAUTHENTICATED"):
        assert value(samples, "clearinghouse_request_duration_seconds_count",
                     transport="grpc", route="GeneratePayment", status=status) == 1
    (rejection,) = stack.rejections.newest()
    assert (rejection.transport, rejection.route, rejection.gateway_id, rejection.status) == (
        "grpc", "GeneratePayment", None, "UNAUTHENTICATED"
    )


def test_metrics_token_is_required_when_configured(db: Database, fake_service: Any) -> None:
    app = RemoteSignerApp(
        fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER), metrics=Metrics(), metrics_token=METRICS_TOKEN
    )
    with serving(app) as url:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {METRICS_TOKEN}"}):
            reply = request(url, "GET", "/metrics", None, headers)
            assert reply.status == 401 and reply.headers["www-authenticate"] == "Bearer"
            assert METRICS_TOKEN not in reply.body.decode()
        samples = scrape(url, {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert value(samples, "clearinghouse_rejections_total",
                 transport="http", route="/metrics", reason="UNAUTHENTICATED") == 3


def test_no_metrics_route_without_metrics(fake_server: str) -> None:
    assert get(fake_server, "/metrics").status == 404


def test_a_token_without_metrics_is_a_configuration_error(db: Database, fake_service: Any) -> None:
    with pytest.raises(ValueError, match="metrics_token"):
        RemoteSignerApp(fake_service, api_keys=ApiKeyAuthenticator(db, PEPPER), metrics_token=METRICS_TOKEN)


def health_of(withdraw_round: int = 0) -> Callable[[], DepositHealth]:
    """Deposit 10**18 wei burning 10**12 wei/s (runway 10**6 s), gas money low: warn."""
    position = ChainPosition(
        block=100, l1_block=20, deposit_wei=10**18, reserve_wei=5 * 10**17,
        reserve_claimed_in_current_round_wei=0, withdraw_round=withdraw_round, current_round=3500,
        ticket_validity_period_rounds=2, transcoder_pool_size=10, gas_balance_wei=10**15,
    )
    exposure = Exposure(tickets=7, face_value_wei=7 * 10**15, ev_wei=Fraction(7, 3), max_face_value_wei=10**15)
    burn = BurnRate(ev_signed_wei_per_s=Fraction(10**12), paid_wei_per_s=None)
    health = assess(position, exposure, burn, HealthThresholds(), chain_age_s=4.5, stale_after_s=60.0)
    return lambda: health


def gauges(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
    }


def test_gauges_show_the_deposit_health_watcher_and_rate() -> None:
    watcher = WatcherStatus(
        state=WatcherState.RUNNING, cursor_block=90, head_block=100, lag_blocks=6, last_success_age_s=1.0,
        caught_up_age_s=30.0, consecutive_failures=2, last_error="rpc down",
    )
    metrics = Metrics(
        deposit_health=health_of(), watcher_status=lambda: watcher, rate_snapshot=lambda: None,
        rate_age_s=lambda: 42.5,
    )
    samples = gauges(metrics)
    assert value(samples, "clearinghouse_deposit_wei") == 10**18
    assert value(samples, "clearinghouse_reserve_wei") == 5 * 10**17
    assert value(samples, "clearinghouse_exposure_ev_wei") == pytest.approx(7 / 3)
    assert value(samples, "clearinghouse_exposure_face_value_wei") == 7 * 10**15
    assert value(samples, "clearinghouse_exposure_tickets") == 7
    assert value(samples, "clearinghouse_runway_seconds") == 10**6
    assert value(samples, "clearinghouse_chain_data_age_seconds") == 4.5
    states = {state: value(samples, "clearinghouse_deposit_health_state", state=state)
              for state in ("ok", "warn", "critical", "unmonitored")}
    assert states == {"ok": 0, "warn": 1, "critical": 0, "unmonitored": 0}
    assert value(samples, "clearinghouse_deposit_health_reasons") == 1  # gas_balance_low
    assert value(samples, "clearinghouse_watcher_lag_blocks") == 6
    assert value(samples, "clearinghouse_watcher_consecutive_failures") == 2
    assert value(samples, "clearinghouse_eth_usd_unpriced") == 1
    assert value(samples, "clearinghouse_eth_usd_rate_age_seconds") == 42.5


def test_gauges_follow_the_health_they_read_and_unmonitored_without_one() -> None:
    current = [health_of()]
    metrics = Metrics(deposit_health=lambda: current[0](), rate_snapshot=lambda: 7)
    assert value(gauges(metrics), "clearinghouse_deposit_health_state", state="warn") == 1
    current[0] = health_of(withdraw_round=3501)
    samples = gauges(metrics)
    assert value(samples, "clearinghouse_deposit_health_state", state="critical") == 1
    assert value(samples, "clearinghouse_deposit_health_state", state="warn") == 0
    assert value(samples, "clearinghouse_deposit_health_reasons") == 2  # unlock, gas
    assert value(samples, "clearinghouse_eth_usd_unpriced") == 0
    static = gauges(Metrics())
    assert value(static, "clearinghouse_deposit_health_state", state="unmonitored") == 1
    assert ("clearinghouse_deposit_wei", frozenset()) not in static


def test_rate_gauges_read_a_real_rate_book(db: Database) -> None:
    now_s = [1000.0]
    book = RateBook(db, None, clock_s=lambda: now_s[0])
    metrics = Metrics(rate_snapshot=book, rate_age_s=book.answer_age_s)
    assert ("clearinghouse_eth_usd_rate_age_seconds", frozenset()) not in gauges(metrics)  # never asked
    assert book.refresh()  # no feed, no manual rate: unpriced
    now_s[0] += 30.0
    samples = gauges(metrics)
    assert value(samples, "clearinghouse_eth_usd_rate_age_seconds") == 30.0
    assert value(samples, "clearinghouse_eth_usd_unpriced") == 1


def test_the_committers_batches_are_counted(db: Database) -> None:
    """The group-commit counters come from the committer itself: two calls, two batches."""
    committer = Committer(db)
    gateway_id = create_gateway(db, "acme").id
    top_up(db, gateway_id, 10**18, actor="test", reason="prepaid funds")
    payments = PaymentService(db, KEY, ChainHolder(), PaymentPolicy(), clock_ns=SignerClock(), committer=committer)
    caller = Caller(gateway_id, None)
    first = payments.generate_payment(caller, live_call())
    payments.generate_payment(caller, live_call(first))
    samples = gauges(Metrics(committer_stats=committer.stats))
    committer.close()
    assert value(samples, "clearinghouse_signing_batches_total") == 2
    assert value(samples, "clearinghouse_signing_batched_calls_total") == 2
    assert value(samples, "clearinghouse_signing_failed_batches_total") == 0
    assert value(samples, "clearinghouse_signing_largest_batch_calls") == 1
    assert value(samples, "clearinghouse_signing_queue_calls") == 0
