"""The relay against the real NATS server and a real HTTP receiver: every signed call appears
exactly once after deduplication, in order per gateway; a relay stopped midway resumes; a
receiver answering 500 is retried; a broker stopped and restarted loses nothing and the
backlog drains; the lag metric and alert fire; past events.unsent_max signing is refused."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import jsonschema_rs
import pytest
from sqlalchemy import text

from clearinghouse.api.metrics import Metrics
from clearinghouse.events.cloudevents import SIGNING_TYPE, schema_text
from clearinghouse.events.relay import OutboxFull, Relay, RelaySettings
from clearinghouse.events.http_sink import HttpSink
from clearinghouse.events.nats_sink import NatsSink
from clearinghouse.ledger import (
    Committer,
    Database,
    create_gateway,
    open_database,
    set_credit_policy,
    upgrade_to_head,
)
from clearinghouse.domain.credit import CreditMode
from clearinghouse.domain.gateways import Gateway
from clearinghouse.ledger.outbox import START, sink_cursor
from tests.events.conftest import NatsServer, Receiver, eventually, free_port, sign
from tests.events.jetstream import Stream, create_stream

SENDER = bytes.fromhex("55" * 20)


def _relay(db: Database, sinks: list[Any], **settings: Any) -> Relay:
    relay = Relay(db, sinks, RelaySettings(source="urn:clearinghouse:test", poll_s=0.05, **settings), sender=SENDER)
    relay.start()
    return relay


def _sqlite_ledger(url: str, *names: str) -> tuple[Database, list[Gateway]]:
    """A fresh SQLite ledger (one the test may disturb directly) with credited gateways."""
    upgrade_to_head(url)
    db = open_database(url)
    gateways = [create_gateway(db, name) for name in names]
    for gateway in gateways:
        set_credit_policy(db, gateway.id, mode=CreditMode.CREDIT, credit_limit_wei=10**18, actor="t", reason="t")
    return db, gateways


def _check_once_in_order(events: list[dict[str, Any]], signed: list[tuple[int, str, int]]) -> None:
    """Deduplicated by id: one signing event per signed call, each session's calls in order,
    each gateway's events in the order of their record ids."""
    unique = {event["id"]: event for event in events}
    signings = [e for e in unique.values() if e["type"] == SIGNING_TYPE]
    got = sorted((e["data"]["gateway"]["id"], e["data"]["session_id"], e["data"]["sequence_number"]) for e in signings)
    assert got == sorted(signed)
    first_seen: dict[str, dict[str, Any]] = {}
    for event in events:
        first_seen.setdefault(event["id"], event)
    per_gateway: dict[int, list[int]] = defaultdict(list)
    per_session: dict[str, list[int]] = defaultdict(list)
    for event in first_seen.values():
        per_gateway[event["data"]["gateway"]["id"]].append(event["data"]["record_id"])
        per_session[event["data"]["session_id"]].append(event["data"]["sequence_number"])
    assert all(ids == sorted(ids) for ids in per_gateway.values())
    assert all(numbers == list(range(len(numbers))) for numbers in per_session.values())


def test_every_signed_call_reaches_jetstream_once_in_order_and_matches_its_schema(
    ledger_db: Database, credited_gateways: list[Gateway], stream: Stream
) -> None:
    relay = _relay(ledger_db, [NatsSink(stream.url, stream.prefix)], batch_max=7)
    committer = Committer(ledger_db, committed=relay.wake)
    try:
        signed = sign(ledger_db, committer, credited_gateways, calls_per_session=6)
        eventually(lambda: stream.count() >= len(signed), f"{len(signed)} events in the stream")
    finally:
        committer.close()
        relay.stop()
    messages = stream.messages()
    assert [message_id for message_id, _, _ in messages] == [f"urn:clearinghouse:test/{event['id']}"
                                                             for _, event, _ in messages]
    _check_once_in_order([event for _, event, _ in messages], signed)
    assert len(messages) == len(signed)  # JetStream stored no copy
    validator = jsonschema_rs.validator_for(json.loads(schema_text(SIGNING_TYPE)))
    for _, event, subject in messages:
        validator.validate(event)
        assert subject == f"{stream.prefix}.clearinghouse_signing_v1.gateway_{event['data']['gateway']['id']}"
        assert event["data"]["sender"] == "0x" + SENDER.hex()


def test_a_restarted_relay_resumes_and_republished_copies_are_dropped_by_jetstream(
    sqlite_url: str, stream: Stream
) -> None:
    db, (gateway,) = _sqlite_ledger(sqlite_url, "gateway-a")
    committer = Committer(db)
    try:
        signed = sign(db, committer, [gateway], calls_per_session=5)
        relay = _relay(db, [NatsSink(stream.url, stream.prefix)], batch_max=3)
        eventually(lambda: sink_cursor(db, "nats").sent_total >= 3, "a first batch sent")
        relay.stop()
        # A crash between publishing and moving the cursor: the relay publishes again from an
        # older cursor (here: from the start), with the same ids.
        with db.engine.begin() as connection:
            connection.execute(text("DELETE FROM event_sink_cursors"))
        signed += sign(db, committer, [gateway], calls_per_session=2)
        relay = _relay(db, [NatsSink(stream.url, stream.prefix)], batch_max=3)
        eventually(lambda: sink_cursor(db, "nats").sent_total >= len(signed), "every event sent after restart")
        relay.stop()
    finally:
        committer.close()
        db.dispose()
    messages = stream.messages()
    assert len(messages) == len(signed)
    _check_once_in_order([event for _, event, _ in messages], signed)


def test_a_receiver_answering_500_is_retried_until_it_accepts(
    ledger_db: Database, credited_gateways: list[Gateway], receiver: Receiver
) -> None:
    receiver.fail_next = 3
    relay = _relay(ledger_db, [HttpSink(receiver.url)], batch_max=10)
    committer = Committer(ledger_db, committed=relay.wake)
    try:
        signed = sign(ledger_db, committer, credited_gateways, calls_per_session=4)
        eventually(lambda: sink_cursor(ledger_db, "http").sent_total >= len(signed), "every event accepted")
    finally:
        committer.close()
        relay.stop()
    assert receiver.statuses[:3] == [500, 500, 500]
    assert {content_type for content_type, _ in receiver.posts} == {"application/cloudevents-batch+json"}
    assert relay.statuses()[0].failures == 3
    _check_once_in_order(receiver.accepted_events(), signed)


def test_two_sinks_each_keep_their_own_cursor(
    ledger_db: Database, credited_gateways: list[Gateway], stream: Stream, receiver: Receiver
) -> None:
    receiver.fail_next = 10**6  # the HTTP receiver is down for the whole test
    relay = _relay(ledger_db, [NatsSink(stream.url, stream.prefix), HttpSink(receiver.url)])
    committer = Committer(ledger_db, committed=relay.wake)
    try:
        signed = sign(ledger_db, committer, credited_gateways, calls_per_session=3)
        eventually(lambda: sink_cursor(ledger_db, "nats").sent_total == len(signed), "NATS got everything")
    finally:
        committer.close()
        relay.stop()
    assert sink_cursor(ledger_db, "http").position == START
    assert stream.count() == len(signed)


def test_a_broker_outage_loses_nothing_and_the_backlog_drains(
    sqlite_url: str, own_nats: NatsServer
) -> None:
    db, gateways = _sqlite_ledger(sqlite_url, "gateway-a", "gateway-b")
    stream = Stream(own_nats.url, "CHOUTAGE", "choutage")
    asyncio.run(create_stream(stream.url, stream.name, stream.prefix))
    sink = NatsSink(stream.url, stream.prefix, connect_timeout_s=0.5, ack_timeout_s=1.0)
    relay = _relay(db, [sink], batch_max=20, lag_alert_s=0.2)
    committer = Committer(db, committed=relay.wake)
    try:
        signed = sign(db, committer, gateways, calls_per_session=3)
        eventually(lambda: stream.count() == len(signed), "the first events stored")
        own_nats.stop()
        signed += sign(db, committer, gateways, calls_per_session=10)  # signing goes on
        eventually(lambda: relay.statuses()[0].failures >= 2, "the relay failing against the stopped broker")
        eventually(lambda: relay.alerting, "the lag alert firing")
        assert relay.statuses()[0].unsent > 0
        own_nats.start()
        eventually(lambda: sink_cursor(db, "nats").sent_total == len(signed), "the backlog drained")
        eventually(lambda: not relay.alerting, "the lag alert cleared")
    finally:
        committer.close()
        relay.stop()
        db.dispose()
    messages = stream.messages()
    assert len(messages) == len(signed)
    _check_once_in_order([event for _, event, _ in messages], signed)


def test_the_lag_metric_and_alert_fire_and_signing_fails_closed_past_the_maximum(
    ledger_db: Database, credited_gateways: list[Gateway], receiver: Receiver
) -> None:
    nowhere = f"nats://127.0.0.1:{free_port()}"  # nothing listens: the sink cannot publish
    relay = _relay(ledger_db, [NatsSink(nowhere, "chtest", connect_timeout_s=0.5)], lag_alert_s=0.2, unsent_max=3,
                   alert_webhook_url=receiver.url)
    metrics = Metrics(events=relay)
    committer = Committer(ledger_db, admission=relay.admit, committed=relay.wake)
    try:
        signed = sign(ledger_db, committer, credited_gateways, calls_per_session=1)  # 4 calls
        eventually(lambda: relay.alerting, "the lag alert firing")
        eventually(lambda: relay.statuses()[0].unsent == len(signed), "the backlog counted")
        text = metrics.exposition().decode()
        with pytest.raises(OutboxFull, match="unsent_max 3"):
            sign(ledger_db, committer, credited_gateways[:1], calls_per_session=1, sessions_per_gateway=1)
    finally:
        committer.close()
        relay.stop()
    assert f'clearinghouse_events_unsent{{sink="nats"}} {float(len(signed))}' in text
    assert "clearinghouse_events_lag_alert 1.0" in text
    age = next(line for line in text.splitlines() if line.startswith("clearinghouse_events_oldest_unsent_age_seconds"))
    assert float(age.rsplit(" ", 1)[1]) > 0.2
    alert = receiver.posts[0][1]
    assert alert["alert"] == "event_outbox_lag" and alert["state"] == "firing"  # type: ignore[call-overload]


def test_one_replica_at_a_time_publishes_a_sink_on_postgresql(
    ledger_db: Database, credited_gateways: list[Gateway], receiver: Receiver
) -> None:
    """Two daemons' relays on one database: the one holding the sink's advisory lock publishes,
    the other stands by and takes over from the cursor when the first stops; no event twice."""
    if ledger_db.backend != "postgresql":
        pytest.skip("SQLite serves one daemon per file: there is no second replica to stand by")
    first = _relay(ledger_db, [HttpSink(receiver.url)])
    second: Relay | None = None
    committer = Committer(ledger_db, committed=first.wake)
    try:
        signed = sign(ledger_db, committer, credited_gateways, calls_per_session=2)
        eventually(lambda: sink_cursor(ledger_db, "http").sent_total == len(signed), "the first relay published")
        second = _relay(ledger_db, [HttpSink(receiver.url)])
        signed += sign(ledger_db, committer, credited_gateways, calls_per_session=2)
        second.wake()
        eventually(lambda: sink_cursor(ledger_db, "http").sent_total == len(signed), "the holder published more")
        assert second.statuses()[0].sent_since_start == 0
        first.stop()
        signed += sign(ledger_db, committer, credited_gateways, calls_per_session=2)
        eventually(lambda: sink_cursor(ledger_db, "http").sent_total == len(signed), "the standby took over")
        assert second.statuses()[0].sent_since_start > 0
    finally:
        committer.close()
        first.stop()
        if second is not None:
            second.stop()
    events = receiver.accepted_events()
    assert len(events) == len({event["id"] for event in events}) == len(signed)
    _check_once_in_order(events, signed)
