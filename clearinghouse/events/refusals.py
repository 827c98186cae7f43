"""Refusals as events, counted and sampled: a flood of refused calls must not become a flood
of outbox rows (a refusal costs the caller nothing and the database almost nothing).

Per (gateway, reason) and per window of ``window_s`` seconds, the first ``samples_max``
refusals become events, each with its route, status, message, usage subject and request id;
the rest are only counted, and when the window ends one ``refusals_suppressed`` event carries
the count. So the outbox grows by at most (samples_max + 1) rows per gateway, reason and
window, whatever the flood; gateways are created by the operator and reasons are a closed set,
and the keys tracked at once are capped at KEYS_MAX (beyond it a refusal is only counted, in
``dropped_keys``, and Prometheus still counts it by reason). Every refusal is counted in
Prometheus' ``clearinghouse_rejections_total`` whatever this samples.

Sampled rows wait in memory (at most PENDING_MAX) until the relay writes them, in one small
transaction per tick (``flush``): a refusal changed nothing in the ledger, so there is no
transaction of its own to join. The price: a crash loses the refusals of the last tick.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from clearinghouse.ledger.outbox import REFUSAL, REFUSALS_SUPPRESSED, NewRefusalEvent
from clearinghouse.events.limits import KEYS_MAX, PENDING_MAX, SAMPLES_MAX_DEFAULT, WINDOW_S_DEFAULT


@dataclass(frozen=True, slots=True)
class RefusalFacts:
    """One refused call as a transport saw it (``message`` is ours, never the caller's bytes)."""

    transport: str
    route: str
    gateway_id: int | None
    status: str
    reason: str
    message: str
    usage_subject: str | None
    request_id: str | None
    at_unix_s: float


@dataclass(slots=True)
class _Window:
    sampled: int = 0
    suppressed: int = 0


class RefusalSampler:
    """Thread-safe: the HTTP event loop and gRPC threads offer, the relay flushes."""

    def __init__(self, *, window_s: float = WINDOW_S_DEFAULT, samples_max: int = SAMPLES_MAX_DEFAULT,
                 first_window_start_unix_s: float | None = None) -> None:
        """Windows start at ``first_window_start_unix_s`` (default: now) and every ``window_s``."""
        if window_s <= 0 or samples_max < 0:
            raise ValueError(f"window_s must be > 0 and samples_max >= 0, got {window_s}, {samples_max}")
        self._window_s = window_s
        self._samples_max = samples_max
        self._lock = threading.Lock()
        self._window_start = time.time() if first_window_start_unix_s is None else first_window_start_unix_s
        self._windows: dict[tuple[int | None, str], _Window] = {}
        self._pending: list[NewRefusalEvent] = []
        self.offered = 0
        self.dropped_keys = 0

    def offer(self, facts: RefusalFacts) -> None:
        """Count one refusal; keep it as an event while its (gateway, reason) has samples left."""
        with self._lock:
            self.offered += 1
            self._roll(facts.at_unix_s)
            key = (facts.gateway_id, facts.reason)
            window = self._windows.get(key)
            if window is None:
                if len(self._windows) >= KEYS_MAX:
                    self.dropped_keys += 1
                    return
                window = self._windows[key] = _Window()
            if window.sampled >= self._samples_max or len(self._pending) >= PENDING_MAX:
                window.suppressed += 1
                return
            window.sampled += 1
            self._pending.append(self._sample(facts, window.sampled))

    def flush(self, now_unix_s: float | None = None) -> list[NewRefusalEvent]:
        """The rows to write now: the samples taken, and the suppressed counts of a window that
        ended. The caller writes them; on failure it hands them back with ``restore``."""
        with self._lock:
            self._roll(time.time() if now_unix_s is None else now_unix_s)
            pending, self._pending = self._pending, []
        return pending

    def restore(self, rows: list[NewRefusalEvent]) -> None:
        """Put back rows a failed write did not store (they go first, within PENDING_MAX)."""
        with self._lock:
            self._pending = (rows + self._pending)[:PENDING_MAX]

    def _roll(self, now_unix_s: float) -> None:
        """End the window when its time is up: a count for every key that suppressed some."""
        if now_unix_s < self._window_start + self._window_s:
            return
        end = self._window_start + self._window_s
        for (gateway_id, reason), window in sorted(self._windows.items(), key=lambda item: (item[0][0] or 0, item[0][1])):
            if window.suppressed:
                data = {"gateway": _gateway(gateway_id), "reason": reason, "suppressed": window.suppressed,
                        "sampled": window.sampled, "window_start": _iso(self._window_start), "window_end": _iso(end)}
                self._pending.append(NewRefusalEvent(REFUSALS_SUPPRESSED, gateway_id, json.dumps(data), _at(end)))
        self._windows.clear()
        # Windows are aligned to multiples of window_s from the first: quiet periods are skipped.
        self._window_start = end + ((now_unix_s - end) // self._window_s) * self._window_s

    def _sample(self, facts: RefusalFacts, number: int) -> NewRefusalEvent:
        data = {
            "gateway": _gateway(facts.gateway_id), "usage_subject": facts.usage_subject,
            "request_id": facts.request_id, "transport": facts.transport, "route": facts.route,
            "status": facts.status, "reason": facts.reason, "message": facts.message,
            "refused_at": _iso(facts.at_unix_s), "window_start": _iso(self._window_start), "sample": number,
        }
        return NewRefusalEvent(REFUSAL, facts.gateway_id, json.dumps(data), _at(facts.at_unix_s))


def _gateway(gateway_id: int | None) -> dict[str, object] | None:
    # The name is not known to the transport without a read; the relay's readers join it for
    # signings, and a refusal's consumer has the id.
    return None if gateway_id is None else {"id": gateway_id, "name": None}


def _at(unix_s: float) -> datetime:
    return datetime.fromtimestamp(unix_s, UTC)


def _iso(unix_s: float) -> str:
    return _at(unix_s).isoformat().replace("+00:00", "Z")
