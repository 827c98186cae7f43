"""Per-gateway call rate limits: a token bucket per gateway, refilled continuously.

A gateway may make ``burst`` calls at once and ``calls_per_s`` on average; a call over that is
refused with 429 and a Retry-After before its body is decoded or anything is signed. Buckets live
in this process: with several daemon replicas each enforces its own share (configure the rate
divided by the number of replicas).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from clearinghouse.api.errors import RateLimited
from clearinghouse.api.limits import GATEWAY_BUCKETS_MAX


@dataclass(frozen=True, slots=True)
class CallRate:
    """``calls_per_s`` on average, ``burst`` at once. Raises ValueError unless both are > 0."""

    calls_per_s: float
    burst: int

    def __post_init__(self) -> None:
        if not (self.calls_per_s > 0 and self.burst >= 1):
            raise ValueError(f"need calls_per_s > 0 and burst >= 1, got {self.calls_per_s} and {self.burst}")


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    """Admits or refuses calls per gateway; safe to use from any thread."""

    def __init__(self, default: CallRate | None, per_gateway: Mapping[int, CallRate],
                 clock_s: Callable[[], float] = time.monotonic) -> None:
        self._default = default
        self._per_gateway = dict(per_gateway)
        self._clock_s = clock_s
        self._buckets: OrderedDict[int, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def admit(self, gateway_id: int) -> None:
        """Take one token for ``gateway_id``, or raise RateLimited saying when to retry."""
        rate = self._per_gateway.get(gateway_id, self._default)
        if rate is None:
            return
        with self._lock:
            now = self._clock_s()
            bucket = self._bucket(gateway_id, rate, now)
            bucket.tokens = min(rate.burst, bucket.tokens + (now - bucket.updated_s) * rate.calls_per_s)
            bucket.updated_s = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            retry_after_s = (1 - bucket.tokens) / rate.calls_per_s
        raise RateLimited(
            f"rate limit exceeded: gateway {gateway_id} may make {rate.calls_per_s:g} calls/s "
            f"with bursts of {rate.burst}; retry in {retry_after_s:.2f} s",
            headers={"Retry-After": str(max(1, math.ceil(retry_after_s)))},
        )

    def _bucket(self, gateway_id: int, rate: CallRate, now: float) -> _Bucket:
        bucket = self._buckets.get(gateway_id)
        if bucket is None:
            bucket = _Bucket(tokens=float(rate.burst), updated_s=now)
            self._buckets[gateway_id] = bucket
            if len(self._buckets) > GATEWAY_BUCKETS_MAX:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(gateway_id)
        return bucket
