"""Prometheus metrics of the daemon: what was signed, what was refused, how long calls took, and
the deposit's position read at scrape time.

``Metrics`` owns a private ``CollectorRegistry`` (so tests and benchmarks can build many apps in
one process); the HTTP app serves it at ``GET /metrics`` and the gRPC servicer records into the
same instance. Series (``transport`` is http or grpc; ``gateway_id`` is bounded because only the
operator creates gateways; ``route`` is a matched route path, a gRPC method name, or "unmatched",
never a raw request path, so a scanner cannot blow up the series count):

    clearinghouse_payments_signed_total{transport,gateway_id}          calls that signed
    clearinghouse_tickets_signed_total{transport,gateway_id}
    clearinghouse_ev_signed_wei_total{transport,gateway_id}
    clearinghouse_face_value_signed_wei_total{transport,gateway_id}    face value × tickets
    clearinghouse_rejections_total{transport,route,reason}             errors.Reason strings
    clearinghouse_request_duration_seconds{transport,route,status}     histogram; status is the
                                                                       HTTP class (2xx…) or the
                                                                       gRPC code name
    clearinghouse_deposit_wei, clearinghouse_reserve_wei, clearinghouse_exposure_{tickets,
    ev_wei,face_value_wei,max_face_value_wei}, clearinghouse_runway_seconds,
    clearinghouse_chain_data_age_seconds                                (absent while unknown)
    clearinghouse_deposit_health_state{state}    1 for the current of ok|warn|critical|unmonitored
    clearinghouse_deposit_health_reasons         how many reasons the state is not ok
    clearinghouse_watcher_lag_blocks, clearinghouse_watcher_consecutive_failures
    clearinghouse_eth_usd_rate_age_seconds, clearinghouse_eth_usd_unpriced (1: records unpriced)
    clearinghouse_signing_queue_calls            calls waiting for the ledger committer
    clearinghouse_signing_batches_total, clearinghouse_signing_batched_calls_total,
    clearinghouse_signing_failed_batches_total   group commit: their ratio is the mean batch size
    clearinghouse_signing_largest_batch_calls
    clearinghouse_receivable_minor{gateway_id,currency}  unpaid issued invoices, in minor units (cents)
    clearinghouse_overdue_minor{gateway_id,currency}     the part of it past its due date
    clearinghouse_overdue_invoices{gateway_id}           invoices past their due date
    clearinghouse_signing_stopped_overdue{gateway_id}    1 while the overdue policy stops the gateway
    clearinghouse_events_unsent{sink}, clearinghouse_events_oldest_unsent_age_seconds{sink}
                                                 the event outbox's lag per sink (events/relay.py)
    clearinghouse_events_sent_total{sink}, clearinghouse_events_publish_failures_total{sink}
    clearinghouse_events_lag_alert               1 while the outbox-lag alert fires

A retried call that gets its stored answer back (``replayed``) signed nothing new and is not
counted. Wei are exact ``int``/``Fraction`` everywhere else; Prometheus samples are floats, exact
up to 2**53 wei (~0.009 ETH) and within one part in 10**16 beyond. That is fine for graphs and
alerts; invoices and reconciliation read the ledger, never these numbers.

The gauges are read at scrape time from the callables given to the constructor, which answer
from memory (the deposit monitor's latest snapshot, the watcher's status, the rate book's last
answer), so a scrape never waits for the RPC or the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from clearinghouse.billing.overdue import OverdueBook
from clearinghouse.chain.health import DepositHealth, HealthState
from clearinghouse.ledger import CommitterStats
from clearinghouse.domain.ev import EV_DENOMINATOR
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer.calls import PaymentResult
from clearinghouse.signer.tickets import TicketBatch

if TYPE_CHECKING:  # the watcher module pulls in web3; only its status type is needed here
    from clearinghouse.chain.watcher import WatcherStatus
    from clearinghouse.events.relay import Relay

LOG = logging.getLogger(__name__)

EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format ``generate_latest`` writes for our (plain ASCII) metric names; every
Prometheus version reads it."""

UNMATCHED_ROUTE = "unmatched"
"""The route label of a request whose path matches no route."""

UNMONITORED = "unmonitored"
"""The health state without a deposit monitor (a static chain view from the configuration)."""

HEALTH_STATES = (HealthState.OK.value, HealthState.WARN.value, HealthState.CRITICAL.value, UNMONITORED)

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""A signed call takes milliseconds; the top buckets catch lock waits and slow databases up to
the request timeouts."""


class Metrics:
    """The daemon's metrics; safe to record into from the event loop and from worker threads.

    ``deposit_health``: the deposit monitor's ``health`` (None: unmonitored); ``watcher_status``:
    ``ChainWatcher.status``; ``rate_snapshot``: the RateBook itself (its answer None: records are
    written unpriced); ``rate_age_s``: ``RateBook.answer_age_s``. Each must answer from memory.
    """

    def __init__(
        self,
        *,
        deposit_health: Callable[[], DepositHealth] | None = None,
        watcher_status: Callable[[], WatcherStatus] | None = None,
        rate_snapshot: Callable[[], int | None] | None = None,
        rate_age_s: Callable[[], float | None] | None = None,
        committer_stats: Callable[[], CommitterStats] | None = None,
        overdue: OverdueBook | None = None,
        events: Relay | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        signed = ("transport", "gateway_id")
        self._payments = self._counter("payments_signed", "Payment calls that signed tickets.", signed)
        self._tickets = self._counter("tickets_signed", "Tickets signed.", signed)
        self._ev = self._counter("ev_signed_wei", "Expected value signed, in wei.", signed)
        self._face_value = self._counter("face_value_signed_wei", "Face value signed (× tickets), in wei.", signed)
        self._rejections = self._counter(
            "rejections", "Calls refused or failed, by reason.", ("transport", "route", "reason")
        )
        self._latency = Histogram(
            "clearinghouse_request_duration_seconds",
            "Time from a call's arrival to its answer.",
            ("transport", "route", "status"),
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.registry.register(_PositionCollector(deposit_health, watcher_status, rate_snapshot, rate_age_s))
        if committer_stats is not None:
            self.registry.register(_CommitterCollector(committer_stats))
        if overdue is not None:
            self.registry.register(_ReceivablesCollector(overdue))
        if events is not None:
            self.registry.register(_EventsCollector(events))

    def _counter(self, name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
        return Counter(f"clearinghouse_{name}", documentation, labels, registry=self.registry)

    def payment_signed(self, transport: str, gateway_id: int, result: PaymentResult) -> None:
        """Count one signed payment call (nothing for a retry's stored answer)."""
        if result.replayed:
            return
        face_value_wei, win_prob = _ticket_amounts(result.payment)
        # The float the counter needs, straight from exact ints (true division rounds correctly):
        # an exact Fraction first would cost a 256-bit gcd on every signed call.
        ev_wei = result.ticket_count * face_value_wei * win_prob / EV_DENOMINATOR
        self._count_signed(transport, gateway_id, result.ticket_count, ev_wei, face_value_wei)

    def tickets_signed(self, transport: str, gateway_id: int, batch: TicketBatch) -> None:
        """Count one signed SignTickets call (nothing for a retry's stored answer)."""
        if batch.replayed:
            return
        face_value_wei, _ = _ticket_amounts(batch.payment)
        self._count_signed(transport, gateway_id, len(batch.tickets), float(batch.ev_signed_wei), face_value_wei)

    def _count_signed(
        self, transport: str, gateway_id: int, tickets: int, ev_wei: float, face_value_wei: int
    ) -> None:
        gateway = str(gateway_id)
        self._payments.labels(transport, gateway).inc()
        self._tickets.labels(transport, gateway).inc(tickets)
        self._ev.labels(transport, gateway).inc(ev_wei)
        self._face_value.labels(transport, gateway).inc(float(face_value_wei * tickets))

    def rejected(self, transport: str, route: str, reason: str) -> None:
        """Count one refused or failed call."""
        self._rejections.labels(transport, route, reason).inc()

    def observe(self, transport: str, route: str, status: str, duration_s: float) -> None:
        """Record one answered call's duration."""
        self._latency.labels(transport, route, status).observe(duration_s)

    def exposition(self) -> bytes:
        """Every series in the text format (EXPOSITION_CONTENT_TYPE), without the ``*_created``
        timestamps: Prometheus would store each as one more series, and they triple the text."""
        return generate_latest(_WithoutCreated(self.registry))


def http_status_class(status: int) -> str:
    """The latency label of an HTTP status: "2xx", "4xx", …; bounded whatever a webhook answers."""
    return f"{status // 100}xx"


def _ticket_amounts(payment: bytes) -> tuple[int, int]:
    """Face value and win probability of a serialized net.Payment's tickets; (0, 0) when it does
    not decode, so a metric can never turn a signed, recorded call into an error."""
    try:
        params = lp_rpc_pb2.Payment.FromString(payment).ticket_params
    except DecodeError:
        LOG.warning("signed payment did not decode as net.Payment; its EV and face value are not counted")
        return 0, 0
    return int.from_bytes(params.face_value, "big"), int.from_bytes(params.win_prob, "big")


class _WithoutCreated(Collector):
    """A registry's metrics minus their ``*_created`` samples (prometheus_client can only drop
    them process-wide, which is not ours to decide for every registry in the process)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for metric in self._registry.collect():  # fresh objects on every collect
            metric.samples = [sample for sample in metric.samples if not sample.name.endswith("_created")]
            yield metric


class _PositionCollector(Collector):
    """The gauges, read from the given callables at each scrape."""

    def __init__(
        self,
        deposit_health: Callable[[], DepositHealth] | None,
        watcher_status: Callable[[], WatcherStatus] | None,
        rate_snapshot: Callable[[], int | None] | None,
        rate_age_s: Callable[[], float | None] | None,
    ) -> None:
        self._deposit_health = deposit_health
        self._watcher_status = watcher_status
        self._rate_snapshot = rate_snapshot
        self._rate_age_s = rate_age_s

    def collect(self) -> Iterator[Metric]:
        health = None if self._deposit_health is None else self._deposit_health()
        yield from _health_gauges(health)
        if self._watcher_status is not None:
            yield from _watcher_gauges(self._watcher_status())
        if self._rate_snapshot is not None:
            yield _gauge("eth_usd_unpriced", "1 while signing records are written unpriced.",
                         1 if self._rate_snapshot() is None else 0)
        if self._rate_age_s is not None:
            age_s = self._rate_age_s()
            if age_s is not None:
                yield _gauge("eth_usd_rate_age_seconds", "Seconds since the ETH/USD rate sources last answered.", age_s)


class _CommitterCollector(Collector):
    """The ledger committer's counters, read at each scrape."""

    def __init__(self, stats: Callable[[], CommitterStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        stats = self._stats()
        yield _gauge("signing_queue_calls", "Signing calls waiting for the ledger committer.", stats.queued)
        yield CounterMetricFamily("clearinghouse_signing_batches", "Batches the ledger committer committed.",
                                  value=stats.batches)
        yield CounterMetricFamily("clearinghouse_signing_batched_calls", "Signing calls in committed batches.",
                                  value=stats.calls)
        yield CounterMetricFamily("clearinghouse_signing_failed_batches",
                                  "Batches whose transaction failed (each of their calls got the error).",
                                  value=stats.failed_batches)
        yield _gauge("signing_largest_batch_calls", "The most calls one committed batch held.", stats.largest_batch)


class _ReceivablesCollector(Collector):
    """Receivables and overdue amounts per gateway, as of the billing scheduler's last refresh."""

    def __init__(self, book: OverdueBook) -> None:
        self._book = book

    def collect(self) -> Iterator[Metric]:
        money = ("gateway_id", "currency")
        receivable = GaugeMetricFamily("clearinghouse_receivable_minor",
                                       "Unpaid issued invoices, in minor units of their currency.", labels=money)
        overdue = GaugeMetricFamily("clearinghouse_overdue_minor",
                                    "Unpaid invoices past their due date, in minor units.", labels=money)
        count = GaugeMetricFamily("clearinghouse_overdue_invoices", "Invoices past their due date.",
                                  labels=("gateway_id",))
        stopped = GaugeMetricFamily("clearinghouse_signing_stopped_overdue",
                                    "1 while the overdue policy stops signing for the gateway.", labels=("gateway_id",))
        invoices: dict[int, int] = {}
        for row in self._book.receivables():
            labels = [str(row.gateway_id), row.currency]
            receivable.add_metric(labels, row.open_minor)
            overdue.add_metric(labels, row.overdue_minor)
            invoices[row.gateway_id] = invoices.get(row.gateway_id, 0) + row.overdue_invoices
        for gateway_id, overdue_invoices in sorted(invoices.items()):
            count.add_metric([str(gateway_id)], overdue_invoices)
            stopped.add_metric([str(gateway_id)], 0 if self._book.stop_of(gateway_id) is None else 1)
        yield from (receivable, overdue, count, stopped)


class _EventsCollector(Collector):
    """The event relay's sinks, read from its memory at each scrape."""

    def __init__(self, relay: Relay) -> None:
        self._relay = relay

    def collect(self) -> Iterator[Metric]:
        statuses = self._relay.statuses()
        unsent = GaugeMetricFamily("clearinghouse_events_unsent", "Events in the outbox a sink has not sent.",
                                   labels=("sink",))
        age = GaugeMetricFamily("clearinghouse_events_oldest_unsent_age_seconds",
                                "Age of the oldest event a sink has not sent (0: none), read every second.",
                                labels=("sink",))
        sent = CounterMetricFamily("clearinghouse_events_sent", "Events a sink published since start.",
                                   labels=("sink",))
        failures = CounterMetricFamily("clearinghouse_events_publish_failures",
                                       "Batches a sink failed to publish (each retried).", labels=("sink",))
        for status in statuses:
            unsent.add_metric((status.name,), status.unsent)
            age.add_metric((status.name,), status.oldest_unsent_age_s)
            sent.add_metric((status.name,), status.sent_since_start)
            failures.add_metric((status.name,), status.failures)
        yield from (unsent, age, sent, failures)
        yield _gauge("events_lag_alert", "1 while a sink's oldest unsent event is older than events.lag_alert_s.",
                     1 if self._relay.alerting else 0)


def _health_gauges(health: DepositHealth | None) -> Iterable[Metric]:
    current = UNMONITORED if health is None else health.state.value
    state = GaugeMetricFamily(
        "clearinghouse_deposit_health_state", "1 for the deposit's current health state.", labels=("state",)
    )
    for name in HEALTH_STATES:
        state.add_metric((name,), 1 if name == current else 0)
    yield state
    if health is None:
        return
    yield _gauge("deposit_health_reasons", "Reasons the deposit health is not ok.", len(health.findings))
    exposure = health.exposure
    yield _gauge("exposure_tickets", "Signed tickets still redeemable.", exposure.tickets)
    yield _gauge("exposure_ev_wei", "EV of the tickets still redeemable, in wei.", float(exposure.ev_wei))
    yield _gauge("exposure_face_value_wei", "Face value of the tickets still redeemable, in wei.",
                 exposure.face_value_wei)
    yield _gauge("exposure_max_face_value_wei", "Largest face value still redeemable, in wei.",
                 exposure.max_face_value_wei)
    if health.position is not None:
        yield _gauge("deposit_wei", "TicketBroker deposit, in wei.", health.position.deposit_wei)
        yield _gauge("reserve_wei", "TicketBroker reserve, in wei.", health.position.reserve_wei)
    if health.runway_s is not None:
        yield _gauge("runway_seconds", "Seconds until the deposit is gone at the burn rate.", health.runway_s)
    if health.chain_age_s is not None:
        yield _gauge("chain_data_age_seconds", "Age of the deposit monitor's chain snapshot.", health.chain_age_s)


def _watcher_gauges(status: WatcherStatus) -> Iterable[Metric]:
    if status.lag_blocks is not None:
        yield _gauge("watcher_lag_blocks", "Blocks the event watcher is behind the confirmed head.", status.lag_blocks)
    yield _gauge("watcher_consecutive_failures", "Event watcher polls failed in a row.", status.consecutive_failures)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"clearinghouse_{name}", documentation, value=value)
