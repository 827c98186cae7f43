"""The NATS JetStream sink: each event published on ``<prefix>.<type>.<subject>`` with
``Nats-Msg-Id: <source>/<id>`` (JetStream drops a copy it stored within its stream's duplicate
window; the source keeps two deployments sharing a stream, whose outbox ids overlap, apart)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import nats
from nats.aio.client import Client as NatsClient
from nats.errors import Error as NatsError
from nats.js.client import JetStreamContext
from nats.js.errors import Error as JetStreamError

from clearinghouse.events.sinks import SinkError
from clearinghouse.events.limits import NATS_ACK_TIMEOUT_S, NATS_CONNECT_TIMEOUT_S


def nats_subject(prefix: str, event: dict[str, Any]) -> str:
    """``<prefix>.<type>.<subject>``: consumers filter by type and by gateway (dots in the
    type become underscores; a subject's ``:`` becomes ``_``: NATS tokens allow neither dots
    inside a token nor wildcards)."""
    kind = event["type"].replace(".", "_")
    subject = event["subject"].replace(":", "_").replace(".", "_")
    return f"{prefix}.{kind}.{subject}"


class NatsSink:
    """JetStream: each event published with ``message_id`` as ``Nats-Msg-Id``; a batch's acknowledgements
    are awaited together (they arrive in order on one connection)."""

    def __init__(self, url: str, subject_prefix: str, *, name: str = "nats",
                 connect_timeout_s: float = NATS_CONNECT_TIMEOUT_S, ack_timeout_s: float = NATS_ACK_TIMEOUT_S) -> None:
        self._url = url
        self._connect_timeout_s = connect_timeout_s
        self._ack_timeout_s = ack_timeout_s
        self._prefix = subject_prefix
        self._name = name
        self._client: NatsClient | None = None
        self._jetstream: JetStreamContext | None = None

    @property
    def name(self) -> str:
        return self._name

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        jetstream = await self._connected()
        try:
            acks = [await jetstream.publish_async(nats_subject(self._prefix, event), _body(event),
                                                  headers={"Nats-Msg-Id": message_id(event)})
                    for event in events]
            await asyncio.wait_for(asyncio.gather(*acks), self._ack_timeout_s)
        except (NatsError, JetStreamError, TimeoutError, OSError) as exc:
            await self._drop()
            raise SinkError(f"JetStream refused or did not acknowledge: {type(exc).__name__}: {exc}") from exc

    async def _connected(self) -> JetStreamContext:
        if self._jetstream is not None and self._client is not None and self._client.is_connected:
            return self._jetstream
        await self._drop()
        try:
            # No reconnect loop inside the client: the relay owns retries, so an outage shows as
            # a failed batch (metrics, backoff) rather than a publish that waits unbounded. The
            # outer timeout too: nats-py 2.16's connect to a closed port keeps trying past its
            # own connect_timeout.
            client = await asyncio.wait_for(
                nats.connect(self._url, connect_timeout=self._connect_timeout_s, allow_reconnect=False,
                             max_reconnect_attempts=0, error_cb=_ignore, disconnected_cb=_quiet),
                self._connect_timeout_s,
            )
        except (NatsError, TimeoutError, OSError) as exc:
            raise SinkError(f"cannot connect to NATS: {type(exc).__name__}: {exc}") from exc
        self._client, self._jetstream = client, client.jetstream()
        return self._jetstream

    async def _drop(self) -> None:
        client, self._client, self._jetstream = self._client, None, None
        if client is not None and not client.is_closed:
            try:
                await client.close()
            except (NatsError, OSError, TimeoutError):
                pass  # closing a broken connection: nothing more to learn from it

    async def close(self) -> None:
        await self._drop()


def message_id(event: dict[str, Any]) -> str:
    """The JetStream deduplication id of an event: its source and id."""
    return f"{event['source']}/{event['id']}"


def _body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


async def _ignore(exc: Exception) -> None:
    """nats-py reports connection errors here as well as raising them; the raise is handled."""


async def _quiet() -> None:
    """Disconnection is seen by the next publish."""
