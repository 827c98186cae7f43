"""Where events go: the ``Sink`` interface and its two kinds, NATS JetStream and CloudEvents
batches over HTTP (OpenMeter's ingest format), in nats_sink.py and http_sink.py (imported only when configured:
their clients are heavy). A sink publishes a batch in order or raises
``SinkError``; the relay then retries the whole batch from the sink's cursor after a backoff,
so a batch is delivered at least once, and consumers drop copies by event id (JetStream does it
itself through ``Nats-Msg-Id`` within its stream's duplicate window).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class SinkError(Exception):
    """A batch was not (or not wholly) published; the relay retries it."""


class Sink(Protocol):
    """One destination with its own cursor (``name``)."""

    @property
    def name(self) -> str: ...

    async def publish(self, events: Sequence[dict[str, Any]]) -> None:
        """Publish ``events`` in order; ``SinkError`` when not every one was accepted."""

    async def close(self) -> None: ...


