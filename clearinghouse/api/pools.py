"""Bounded worker thread pools: one per kind of blocking work, shared by every app of the daemon.

``BlockingPool`` runs calls on at most ``threads_max`` threads and never queues more than that:
a call that cannot start within THREAD_WAIT_S is refused (503) before it starts.

``Pools`` holds one pool per kind, each sized by its named limit (limits.py). A kind is work that
waits on the same resource, so one slow resource holds only its own threads:

==============  ========================  ==================================================
kind            size                      what runs there
==============  ========================  ==================================================
signing         SIGNING_THREADS_MAX       API-key lookups of every HTTP route that signs or
                                          names a gateway (caller.py), a payment's planning
                                          when it may wait on the chain, the readiness check
gateway_calls   GATEWAY_CALL_THREADS_MAX  the clearinghouse.v1 operations: the /v1 JSON
                                          routes and the gRPC server's handlers (its
                                          executor), each waiting for its committer batch
database        DATABASE_THREADS_MAX      the admin, dashboard, OIDC and Builder routes'
                                          reads and writes
decode          DECODE_THREADS_MAX        bodies over INLINE_DECODE_BYTES_MAX (bodies.py)
webhook         WEBHOOK_THREADS_MAX       calls to the authorization webhook (network waits)
metrics         METRICS_THREADS_MAX       rendering the Prometheus exposition
==============  ========================  ==================================================

Outside the transports, chain lookups (whether an orchestrator is active:
chain/orchestrators.py) run on that module's own LOOKUP_THREADS_MAX threads, one pool shared by
the recipient check and discovery; the ledger committer is one thread of its own.

The HTTP app puts its ``Pools`` in each request's scope (POOLS_SCOPE_KEY), so the routes mounted
beside it take their threads from the same pools; the daemon hands ``gateway_calls`` to the gRPC
server too.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from clearinghouse.api.errors import InternalError, ServiceUnavailable
from clearinghouse.api.limits import (
    DATABASE_THREADS_MAX,
    DECODE_THREADS_MAX,
    GATEWAY_CALL_THREADS_MAX,
    METRICS_THREADS_MAX,
    SIGNING_THREADS_MAX,
    THREAD_WAIT_S,
    WEBHOOK_THREADS_MAX,
)

_T = TypeVar("_T")

POOLS_SCOPE_KEY = "clearinghouse.pools"
"""Where RemoteSignerApp puts its ``Pools`` in each request's ASGI scope (``pools_of``)."""


class BlockingPool:
    """Runs blocking calls on at most ``threads_max`` threads; never queues more than that.

    A call waits up to THREAD_WAIT_S for a free thread, then ServiceUnavailable: work that
    cannot start soon is refused before it starts, so no refused request is half done. A
    thread stays counted until its call returns, even if the awaiting request is cancelled.
    Work submitted to ``executor`` directly (the gRPC server's) is bounded by its submitter.
    """

    def __init__(self, name: str, threads_max: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=threads_max, thread_name_prefix=name)
        self._slots = asyncio.Semaphore(threads_max)
        self._name = name

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        try:
            async with asyncio.timeout(THREAD_WAIT_S):
                await self._slots.acquire()
        except TimeoutError:
            raise ServiceUnavailable(
                f"server busy: no {self._name} thread free within {THREAD_WAIT_S:g} s; retry"
            ) from None
        loop = asyncio.get_running_loop()
        # Executor threads do not inherit context variables: run in a copy of the request's, so
        # the thread's log lines carry its request and gateway ids.
        context = contextvars.copy_context()
        try:
            work = self.executor.submit(context.run, function, *args)
        except BaseException:
            self._slots.release()
            raise
        # Released when the thread is done, not when the awaiting request is: a cancelled
        # request must not let more calls run than there are threads.
        work.add_done_callback(lambda _: loop.call_soon_threadsafe(self._slots.release))
        return await asyncio.wrap_future(work)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True, slots=True)
class Pools:
    """One BlockingPool per kind of blocking work (the module's table). Threads start on first
    use, so a kind a daemon does not serve costs nothing."""

    signing: BlockingPool
    gateway_calls: BlockingPool
    database: BlockingPool
    decode: BlockingPool
    webhook: BlockingPool
    metrics: BlockingPool

    @classmethod
    def sized(
        cls,
        *,
        signing_threads: int = SIGNING_THREADS_MAX,
        gateway_call_threads: int = GATEWAY_CALL_THREADS_MAX,
        database_threads: int = DATABASE_THREADS_MAX,
        webhook_threads: int = WEBHOOK_THREADS_MAX,
    ) -> Pools:
        """The pools at their named limits, or the sizes given (tests shrink them to one)."""
        return cls(
            signing=BlockingPool("signing", signing_threads),
            gateway_calls=BlockingPool("gateway-calls", gateway_call_threads),
            database=BlockingPool("database", database_threads),
            decode=BlockingPool("decode", DECODE_THREADS_MAX),
            webhook=BlockingPool("webhook", webhook_threads),
            metrics=BlockingPool("metrics", METRICS_THREADS_MAX),
        )

    def close(self) -> None:
        """Stop every pool's threads (waits for running calls to finish)."""
        for pool in (self.signing, self.gateway_calls, self.database, self.decode, self.webhook, self.metrics):
            pool.close()


def pools_of(scope: MutableMapping[str, Any]) -> Pools:
    """The app's pools from a request's scope; InternalError when a route runs outside the app."""
    pools: Pools | None = scope.get(POOLS_SCOPE_KEY)
    if pools is None:
        raise InternalError("a route ran outside RemoteSignerApp: no thread pools in its scope")
    return pools
