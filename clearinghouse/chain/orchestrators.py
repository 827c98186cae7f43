"""Whether a ticket recipient is an active orchestrator: BondingManager.isActiveTranscoder, cached.

``ActiveOrchestrators(source).verdict(address, round_)`` is the signer's ``RecipientCheck``
(clearinghouse.signer.decision) for "sign for active orchestrators only". It answers from a cache
keyed by (address, round) — the active set changes only when a round is initialized, so an answer
holds for its whole round — and on a miss asks ``source`` in a worker thread, waiting at most
``wait_s``: the signing call that asks holds its session lock (on SQLite, the one writer lock),
so a slow RPC must cost it a bounded wait, never the RPC's own timeout. Anything short of an
answer — a timeout, a ChainError, too many lookups in flight, a recent failure — is UNKNOWN,
which the decision refuses (fail closed: the operator turned the check on). Failures are not
cached, but after one, misses answer UNKNOWN without asking for ``retry_after_failure_s`` so that
an RPC outage does not make every call wait ``wait_s``.

On a real chain the source is a ``ChainClient`` (its ``is_active_transcoder``), made with
ACTIVE_CHECK_RPC_TIMEOUT_S so one lookup cannot outlast its worker's patience by much.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Protocol

from clearinghouse.chain.errors import ChainError
from clearinghouse.chain.limits import (
    ACTIVE_CACHE_ENTRIES_MAX,
    ACTIVE_CHECK_WAIT_S,
    LOOKUP_THREADS_MAX,
    LOOKUPS_PENDING_MAX,
    RETRY_AFTER_FAILURE_S,
)
from clearinghouse.domain.chain_view import RecipientStatus, RecipientVerdict
from clearinghouse.domain.money import ADDRESS_BYTES


class ActiveTranscoderSource(Protocol):
    """Reads whether an address is an active transcoder now; raises ChainError when it cannot."""

    def is_active_transcoder(self, address: bytes) -> bool: ...


Key = tuple[bytes, int]


class ActiveOrchestrators:
    """A cached, time-bounded RecipientCheck over ``source``; safe to share between threads."""

    def __init__(
        self,
        source: ActiveTranscoderSource,
        *,
        wait_s: float = ACTIVE_CHECK_WAIT_S,
        entries_max: int = ACTIVE_CACHE_ENTRIES_MAX,
        pending_max: int = LOOKUPS_PENDING_MAX,
        retry_after_failure_s: float = RETRY_AFTER_FAILURE_S,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        """Raises ValueError for a non-positive wait, size or retry interval."""
        if wait_s <= 0 or entries_max < 1 or pending_max < 1 or retry_after_failure_s < 0:
            raise ValueError(
                f"need wait_s > 0, entries_max >= 1, pending_max >= 1, retry_after_failure_s >= 0; got "
                f"{wait_s}, {entries_max}, {pending_max}, {retry_after_failure_s}"
            )
        self._source = source
        self._wait_s = wait_s
        self._entries_max = entries_max
        self._pending_max = pending_max
        self._retry_after_failure_s = retry_after_failure_s
        self._monotonic_s = monotonic_s
        self._lock = threading.Lock()
        self._known: OrderedDict[Key, bool] = OrderedDict()
        self._pending: dict[Key, Future[bool]] = {}
        self._failed_until_s = float("-inf")
        self._failure = ""
        self._executor = ThreadPoolExecutor(LOOKUP_THREADS_MAX, thread_name_prefix="active-orchestrators")

    def verdict(self, address: bytes, round_: int) -> RecipientVerdict:
        """Whether ``address`` (20 bytes) is active in ``round_``: from the cache, or a lookup
        waited on for at most ``wait_s``. Never raises for chain failures (UNKNOWN with why);
        raises ValueError for an address that is not 20 bytes."""
        if len(address) != ADDRESS_BYTES:
            raise ValueError(f"address must be {ADDRESS_BYTES} bytes, got {len(address)}")
        key = (bytes(address), round_)
        with self._lock:
            known = self._known.get(key)
            if known is not None:
                self._known.move_to_end(key)
                return _answer(known)
            future = self._pending.get(key)
            if future is None:
                refused = self._refuse_lookup()
                if refused is not None:
                    return refused
                future = self._executor.submit(self._lookup, key)
                self._pending[key] = future
        try:
            return _answer(future.result(timeout=self._wait_s))
        except FutureTimeout:
            return RecipientVerdict(RecipientStatus.UNKNOWN, f"no answer from the chain within {self._wait_s} s")
        except ChainError as exc:
            return RecipientVerdict(RecipientStatus.UNKNOWN, str(exc))

    def known(self, address: bytes, round_: int) -> bool | None:
        """Whether ``address`` is active in ``round_`` as far as the cache knows, without waiting:
        None when not known yet, after starting a lookup (unless one runs, too many do, or the
        chain failed a moment ago), so the next call may know. For listings (api/discovery.py)
        that must answer at once. Raises ValueError for an address that is not 20 bytes."""
        if len(address) != ADDRESS_BYTES:
            raise ValueError(f"address must be {ADDRESS_BYTES} bytes, got {len(address)}")
        key = (bytes(address), round_)
        with self._lock:
            known = self._known.get(key)
            if known is not None:
                self._known.move_to_end(key)
                return known
            if key not in self._pending and self._refuse_lookup() is None:
                self._pending[key] = self._executor.submit(self._lookup, key)
        return None

    def close(self) -> None:
        """Stop the lookup threads (lookups running finish; queued ones are dropped)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _refuse_lookup(self) -> RecipientVerdict | None:
        """UNKNOWN without asking when the RPC failed recently or too much is in flight (lock held)."""
        if self._monotonic_s() < self._failed_until_s:
            return RecipientVerdict(RecipientStatus.UNKNOWN, f"the chain failed a moment ago: {self._failure}")
        if len(self._pending) >= self._pending_max:
            return RecipientVerdict(
                RecipientStatus.UNKNOWN, f"{len(self._pending)} orchestrator lookups already in flight"
            )
        return None

    def _lookup(self, key: Key) -> bool:
        try:
            active = self._source.is_active_transcoder(key[0])
        except ChainError as exc:
            with self._lock:
                del self._pending[key]
                self._failed_until_s = self._monotonic_s() + self._retry_after_failure_s
                self._failure = str(exc)
            raise
        except BaseException:
            with self._lock:
                del self._pending[key]
            raise
        with self._lock:  # cached and no longer pending in one step: no window for a second lookup
            del self._pending[key]
            self._known[key] = active
            while len(self._known) > self._entries_max:
                self._known.popitem(last=False)
        return active


def _answer(active: bool) -> RecipientVerdict:
    return RecipientVerdict(RecipientStatus.ACTIVE if active else RecipientStatus.INACTIVE)
