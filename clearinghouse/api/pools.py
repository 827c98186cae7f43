"""Bounded worker thread pools: blocking and heavy work of the HTTP routes, off the event loop.

``BlockingPool`` runs calls on at most ``threads_max`` threads and never queues more than that:
a call that cannot start within THREAD_WAIT_S is refused (503) before it starts. The app keeps one
for signing, one for webhook calls, one for metrics and one for decoding large bodies; the /v1,
admin and dashboard routes keep their own.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from clearinghouse.api.errors import ServiceUnavailable
from clearinghouse.api.limits import THREAD_WAIT_S

_T = TypeVar("_T")


class BlockingPool:
    """Runs blocking calls on at most ``threads_max`` threads; never queues more than that.

    A call waits up to THREAD_WAIT_S for a free thread, then ServiceUnavailable: work that
    cannot start soon is refused before it starts, so no refused request is half done. A
    thread stays counted until its call returns, even if the awaiting request is cancelled.
    """

    def __init__(self, name: str, threads_max: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads_max, thread_name_prefix=name)
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
            work = self._executor.submit(context.run, function, *args)
        except BaseException:
            self._slots.release()
            raise
        # Released when the thread is done, not when the awaiting request is: a cancelled
        # request must not let more calls run than there are threads.
        work.add_done_callback(lambda _: loop.call_soon_threadsafe(self._slots.release))
        return await asyncio.wrap_future(work)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
