"""The daemon's event relay (issue 17): the relay that publishes the outbox to the configured
sinks, in a child process by default, and the refusal sampler the transports offer refusals to.

Kept out of daemon.py, which wires the transports; everything it imports is loaded only when the
daemon starts.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import TYPE_CHECKING

from clearinghouse import ledger
from clearinghouse.config import Settings

if TYPE_CHECKING:
    from clearinghouse.events.refusals import RefusalSampler
    from clearinghouse.events.relay import Relay

LOG = logging.getLogger("clearinghouse.daemon")


def start_event_relay(
    config: Settings, db: ledger.Database, sender: bytes, stack: ExitStack
) -> tuple[Relay, RefusalSampler | None]:
    """The relay of [events] and its refusal sampler (None with events off), stopped when
    ``stack`` closes. Call it before the committer is created, so that the relay stops after
    the committer closed: the last batches' events are then in the outbox. The caller starts
    the relay once the committer exists."""
    relay, refusals = _event_relay(config, db, sender)
    stack.callback(relay.stop)
    _relay_process(config, stack)
    return relay, refusals


def _relay_process(config: Settings, stack: ExitStack) -> None:
    """With [events] relay = "process" and a sink, the relay child (events/relay_process.py)."""
    events = config.events
    if not events.enabled or events.relay != "process" or (events.nats_url is None and events.http_url is None):
        return
    from clearinghouse.events.relay_process import RelayProcess

    child = RelayProcess(config.path, config.database_url)
    child.start()
    stack.callback(child.stop)


def _event_relay(config: Settings, db: ledger.Database, sender: bytes) -> tuple[Relay, RefusalSampler | None]:
    """The relay of [events] (its sinks: NATS JetStream and/or HTTP, by URL) and the refusal
    sampler the transports offer refusals to (None with events off); started by the caller."""
    from clearinghouse.events.refusals import RefusalSampler
    from clearinghouse.events.relay import Relay, RelaySettings
    from clearinghouse.events.sinks import Sink

    events = config.events
    sinks: list[Sink] = []
    if events.enabled and events.nats_url is not None:
        from clearinghouse.events.nats_sink import NatsSink

        sinks.append(NatsSink(events.nats_url, events.nats_subject_prefix))
    if events.enabled and events.http_url is not None:
        from clearinghouse.events.http_sink import HttpSink

        sinks.append(HttpSink(events.http_url))
    refusals = RefusalSampler(window_s=events.refusal_window_s, samples_max=events.refusal_samples_max)
    settings = RelaySettings(source=events.source, batch_max=events.batch_max, poll_s=events.poll_s,
                             retention_s=events.retention_s, lag_alert_s=events.lag_alert_s,
                             unsent_max=events.unsent_max or None, alert_webhook_url=config.health.alert_webhook_url)
    relay = Relay(db, sinks, settings, sender=sender, refusals=refusals if events.enabled else None,
                  publish=events.relay == "thread")
    LOG.info("events: %s; sinks: %s", "on" if events.enabled else "off",
             ", ".join(sink.name for sink in sinks) or "none (the outbox keeps events for events.retention_s)")
    return relay, refusals if events.enabled else None
