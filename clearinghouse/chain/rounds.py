"""The block hashes the RoundsManager recorded for the rounds still open for redemption.

A ticket can be redeemed only with the block hash ``RoundsManager.blockHashForRound(creationRound)``
recorded when its creation round was initialized, and only while creationRound +
ticketValidityPeriod > currentRound (spec 04). The signer checks every orchestrator's params
against these hashes (signer/offer_checks.py), and the exposure counts only tickets that carry
one (ledger/exposure.py), so the deposit monitor reads them with every chain snapshot.

``RoundBlockHashes(read)`` asks ``read(round, block)`` (``ChainClient``'s blockHashForRound, with
its RPC timeout) once per round: a recorded hash never changes, so it is kept, in a bounded
cache (ROUND_BLOCK_HASHES_CACHED_MAX, the round asked for least recently dropped first: a closed
round is never asked for again). A zero hash (the round is not
initialized yet) is not kept, so the round is asked about again at the next snapshot until it is.
A failed read raises the client's ChainError: the snapshot fails, the chain view goes stale and
signing stops with 503 (fail closed), exactly as when the deposit cannot be read.

A reorg that re-mines a round's initialization in another block would change its hash; on
Arbitrum One that has not happened, and if it did the kept hash would make the signer refuse the
new one (fail closed) until restarted.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

from clearinghouse.chain.limits import ROUND_BLOCK_HASHES_CACHED_MAX

HASH_BYTES = 32

RoundHashRead = Callable[[int, int | None], bytes]
"""``read(round, block)``: RoundsManager.blockHashForRound(round) at ``block`` (None: latest)."""


class RoundBlockHashes:
    """A bounded per-round cache of recorded block hashes; safe to share between threads."""

    def __init__(self, read: RoundHashRead, *, entries_max: int = ROUND_BLOCK_HASHES_CACHED_MAX) -> None:
        """Raises ValueError for ``entries_max`` < 1."""
        if entries_max < 1:
            raise ValueError(f"entries_max must be >= 1, got {entries_max}")
        self._read = read
        self._entries_max = entries_max
        self._lock = threading.Lock()
        self._known: OrderedDict[int, bytes] = OrderedDict()
        self.reads = 0
        """RPC reads made (for tests and the curious: one per round once initialized)."""

    def open_rounds(
        self, current_round: int, validity_period_rounds: int, *, block: int | None = None
    ) -> tuple[tuple[int, bytes], ...]:
        """(round, hash) for every round r with r + validity_period_rounds > current_round and
        r <= current_round whose hash is recorded, oldest first; rounds below 1 do not exist.
        Raises ValueError for a negative round or a validity period below 1, and ChainError from
        ``read``."""
        if current_round < 0 or validity_period_rounds < 1:
            raise ValueError(
                f"need current_round >= 0 and validity_period_rounds >= 1, got {current_round}, {validity_period_rounds}"
            )
        first = max(1, current_round - validity_period_rounds + 1)
        found = ((round_, self.block_hash(round_, block=block)) for round_ in range(first, current_round + 1))
        return tuple((round_, block_hash) for round_, block_hash in found if block_hash is not None)

    def block_hash(self, round_: int, *, block: int | None = None) -> bytes | None:
        """The hash recorded for ``round_``, None when the round is not initialized (yet)."""
        with self._lock:
            known = self._known.get(round_)
            if known is not None:
                self._known.move_to_end(round_)
                return known
        # Read outside the lock: a slow RPC must not hold up another thread's cached answers.
        block_hash = self._read(round_, block)
        with self._lock:
            self.reads += 1
        if len(block_hash) != HASH_BYTES or not any(block_hash):
            return None
        with self._lock:
            self._known[round_] = block_hash
            self._known.move_to_end(round_)
            while len(self._known) > self._entries_max:
                self._known.popitem(last=False)
        return block_hash
