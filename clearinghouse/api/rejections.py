"""The most recent refused calls of this process, for the operator dashboard.

Rejections are not written to the ledger's accounts: a refusal must cost the caller nothing
and the database almost nothing (a flood of bad calls must not become a flood of writes). The
transports append each refusal here; the dashboard shows the newest. Per process, bounded, lost
on restart — Prometheus' ``clearinghouse_rejections_total`` keeps the durable count by reason.
With an event sampler (events/refusals.py) each refusal is also offered to it: a bounded sample
of them becomes events in the outbox.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass

from clearinghouse.events.refusals import RefusalFacts, RefusalSampler
from clearinghouse.logs import current_request_id, current_usage_subject
from clearinghouse.api.limits import MESSAGE_CHARS_MAX, RECENT_REJECTIONS_MAX


@dataclass(frozen=True, slots=True)
class Rejection:
    """One refused call: when, through which route, for which gateway (None when the caller
    was not authenticated), with which status, machine reason and human message."""

    at_unix_s: float
    transport: str
    route: str
    gateway_id: int | None
    status: str
    reason: str
    message: str


class RecentRejections:
    """A thread-safe ring of the newest ``capacity`` rejections (the gRPC server's threads and
    the HTTP event loop both append)."""

    def __init__(self, capacity: int = RECENT_REJECTIONS_MAX, *, refusals: RefusalSampler | None = None) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._items: deque[Rejection] = deque(maxlen=capacity)
        self._lock = threading.Lock()
        self._refusals = refusals

    def add(
        self, *, transport: str, route: str, gateway_id: int | None, status: str, reason: str, message: str,
        at_unix_s: float | None = None,
    ) -> None:
        """Remember one refusal (the message is cut to MESSAGE_CHARS_MAX characters)."""
        rejection = Rejection(
            at_unix_s=time.time() if at_unix_s is None else at_unix_s,
            transport=transport,
            route=route,
            gateway_id=gateway_id,
            status=status,
            reason=reason,
            message=message[:MESSAGE_CHARS_MAX],
        )
        with self._lock:
            self._items.append(rejection)
        if self._refusals is not None:  # the request's context: the caller's subject and request id
            self._refusals.offer(RefusalFacts(
                transport=transport, route=route, gateway_id=gateway_id, status=status, reason=reason,
                message=rejection.message, usage_subject=current_usage_subject(), request_id=current_request_id(),
                at_unix_s=rejection.at_unix_s,
            ))

    def newest(self, limit: int = RECENT_REJECTIONS_MAX) -> list[Rejection]:
        """Up to ``limit`` rejections, newest first."""
        with self._lock:
            items = list(self._items)
        return items[::-1][: max(limit, 0)]
