"""A live ChainView for the signer: refreshed in the background, refused when stale.

``LiveChainView(fetch, refresh_s=…, stale_after_s=…)`` runs one thread that calls ``fetch``
(typically ``lambda: client.chain_view(sender)``) every ``refresh_s``. After a ChainError it
retries sooner, backing off from RETRY_BACKOFF_FIRST_S by doubling, never waiting longer than
``refresh_s``, and keeps retrying for as long as it runs: the RPC coming back is noticed within
one ``refresh_s`` plus one RPC timeout.

Calling the view returns the latest snapshot, or raises SigningRefused(SIGNER_UNSAFE, "chain
data stale: …") when there is none yet or it is older than ``stale_after_s``. So signing stops
(HTTP 503) while the RPC is down and resumes by itself once a refresh succeeds. Any other
exception from ``fetch`` is a bug: it is logged and ends the thread, and the view then goes
stale, which refuses signing rather than signing on old data.

The view is generic in what it holds: the daemon's DepositMonitor (monitor.py) keeps a whole
position-plus-exposure snapshot in one, retries on ledger outages too (``retry_on``), and
re-judges deposit health after every attempt (``on_attempt``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from clearinghouse.chain.errors import ChainError
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.chain.limits import BACKOFF_DOUBLINGS_MAX, RETRY_BACKOFF_FIRST_S, STOP_JOIN_TIMEOUT_S

logger = logging.getLogger(__name__)


Snapshot = TypeVar("Snapshot")


class BackgroundThread:
    """One named daemon thread running ``target`` once; ``stopping`` tells it to end.

    Started at most once; ``stop()`` sets ``stopping`` and waits up to ``stop_join_s``. The
    refreshers here, the event watcher, the replenisher and the billing scheduler each own one.
    """

    def __init__(self, name: str, target: Callable[[], None], *, stop_join_s: float = STOP_JOIN_TIMEOUT_S) -> None:
        self.name = name
        self.stopping = threading.Event()
        self._target = target
        self._stop_join_s = stop_join_s
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread. Raises RuntimeError if started twice."""
        if self._thread is not None:
            raise RuntimeError(f"{self.name} already started")
        self._thread = threading.Thread(target=self._target, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> bool:
        """Ask the thread to end and wait up to ``stop_join_s``; True when it has ended."""
        self.stopping.set()
        if self._thread is None:
            return True
        self._thread.join(self._stop_join_s)
        return not self._thread.is_alive()


class LiveChainView(Generic[Snapshot]):
    """A zero-argument callable returning the latest fresh snapshot (a ChainView: PaymentService's
    ``chain_view``); ``start()`` the refresher, ``stop()`` it on shutdown."""

    def __init__(
        self,
        fetch: Callable[[], Snapshot],
        *,
        refresh_s: float,
        stale_after_s: float,
        clock_s: Callable[[], float] = time.monotonic,
        retry_on: tuple[type[Exception], ...] = (ChainError,),
        on_attempt: Callable[[], object] | None = None,
    ) -> None:
        """``retry_on``: the exceptions from ``fetch`` that mean "unavailable, try again"
        (anything else is a bug). ``on_attempt`` runs on the refresher thread after every fetch,
        failed or not. Raises ValueError unless 0 < refresh_s < stale_after_s (a view that is
        stale between two ordinary refreshes would refuse signing all the time)."""
        if not 0 < refresh_s < stale_after_s:
            raise ValueError(
                f"need 0 < refresh_s < stale_after_s, got refresh_s={refresh_s}, stale_after_s={stale_after_s}"
            )
        self._fetch = fetch
        self.refresh_s = refresh_s
        self.stale_after_s = stale_after_s
        self._clock_s = clock_s
        self._retry_on = retry_on
        self._on_attempt = on_attempt
        # (snapshot, clock_s() when fetched), replaced whole: readers need no lock.
        self._latest: tuple[Snapshot, float] | None = None
        self._last_error = "none"
        self._background = BackgroundThread("chain-view", self._run)

    def __call__(self) -> Snapshot:
        """The latest snapshot. Raises SigningRefused(SIGNER_UNSAFE) when there is none yet or
        it is older than stale_after_s; the message says how old and the last error."""
        latest = self._latest
        if latest is None:
            raise SigningRefused(
                Refusal.SIGNER_UNSAFE, f"chain data stale: no chain data read yet (last error: {self._last_error})"
            )
        view, fetched_at = latest
        age_s = self._clock_s() - fetched_at
        if age_s > self.stale_after_s:
            raise SigningRefused(
                Refusal.SIGNER_UNSAFE,
                f"chain data stale: last read {age_s:.1f} s ago, expected at most {self.stale_after_s} s "
                f"(last error: {self._last_error})",
            )
        return view

    def age_s(self) -> float | None:
        """Seconds since the latest successful refresh, or None before the first (for health)."""
        latest = self._latest
        return None if latest is None else self._clock_s() - latest[1]

    def latest(self) -> tuple[Snapshot, float] | None:
        """The latest snapshot and its age in seconds, however old; None before the first."""
        latest = self._latest
        return None if latest is None else (latest[0], self._clock_s() - latest[1])

    @property
    def last_error(self) -> str:
        """The last refresh failure's message ("none" before any)."""
        return self._last_error

    def refresh(self) -> bool:
        """Fetch once now; True on success. A ``retry_on`` error is recorded (and logged), not raised."""
        try:
            snapshot = self._fetch()
        except self._retry_on as exc:
            self._last_error = str(exc)
            return False
        self._latest = (snapshot, self._clock_s())
        return True

    def start(self) -> None:
        """Start the refresher thread (first fetch at once). Raises RuntimeError if started twice."""
        self._background.start()

    def stop(self) -> bool:
        """Stop the refresher and wait up to STOP_JOIN_TIMEOUT_S; True when it has ended."""
        return self._background.stop()

    def _run(self) -> None:
        failures = 0
        stopping = self._background.stopping
        while not stopping.is_set():
            try:
                ok = self.refresh()
                if self._on_attempt is not None:
                    self._on_attempt()
            except Exception:  # a bug in fetch: stop refreshing, so the view goes stale and refuses
                self._last_error = "chain view refresher crashed (see log)"
                logger.exception("chain view refresher crashed; chain data will go stale and signing stop")
                return
            if ok:
                if failures:
                    logger.warning("chain data refreshed again after %d failed attempts", failures)
                failures = 0
                wait_s = self.refresh_s
            else:
                failures += 1
                wait_s = backoff_s(failures, self.refresh_s)
                log = logger.warning if failures == 1 else logger.debug
                log("chain data refresh failed (attempt %d, next in %.2f s): %s", failures, wait_s, self._last_error)
            stopping.wait(wait_s)


def backoff_s(failures: int, refresh_s: float) -> float:
    """Wait before retry number ``failures`` (≥ 1): RETRY_BACKOFF_FIRST_S doubling, at most refresh_s."""
    doublings = min(failures - 1, BACKOFF_DOUBLINGS_MAX)
    return min(refresh_s, RETRY_BACKOFF_FIRST_S * (1 << doublings))
