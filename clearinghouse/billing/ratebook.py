"""Which ETH/USD rate snapshot a signing record written now refers to (spec 05).

``RateBook`` keeps the answer in memory, refreshed in the background every ``refresh_s``, so the
signing path reads an int and never waits for a price feed. Sources, in the order tried:

1. Chainlink (``ChainlinkRateSource``): an accepted answer is stored as a snapshot (once per
   feed round) and becomes the rate in force.
2. The manual rate table (``clearinghouse rate add|import``): the newest entry valid now, when it
   is at most ``manual_max_age_s`` old.
3. None: the record is written "unpriced", to be priced later by ``clearinghouse rate
   price-unpriced``. There is no silent hard-coded default.

A refresh that fails (RPC or database down) keeps the previous answer only while it is younger
than ``stale_after_s``; after that records are written unpriced rather than at an old rate.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from clearinghouse import ledger
from clearinghouse.errors import LedgerError
from clearinghouse.billing.limits import (
    MANUAL_MAX_AGE_S_DEFAULT,
    RATE_REFRESH_S_DEFAULT,
    RATE_STALE_AFTER_S_DEFAULT,
)
from clearinghouse.billing.rates import ChainlinkRateSource, RateRefused
from clearinghouse.chain.errors import ChainError
from clearinghouse.chain.view import BackgroundThread, backoff_s

LOG = logging.getLogger("clearinghouse.rates")

MANUAL_SOURCES = ("manual", "csv")
"""The fallback table: a Chainlink snapshot from before the feed went stale is not a fallback."""


class RateBook:
    """A zero-argument callable: the rate snapshot id for a record written now, or None."""

    def __init__(
        self,
        db: ledger.Database,
        chainlink: ChainlinkRateSource | None,
        *,
        refresh_s: float = RATE_REFRESH_S_DEFAULT,
        stale_after_s: float = RATE_STALE_AFTER_S_DEFAULT,
        manual_max_age_s: float = MANUAL_MAX_AGE_S_DEFAULT,
        clock_s: Callable[[], float] = time.monotonic,
    ) -> None:
        """Raises ValueError unless 0 < refresh_s < stale_after_s and manual_max_age_s > 0."""
        if not 0 < refresh_s < stale_after_s or manual_max_age_s <= 0:
            raise ValueError(
                f"need 0 < refresh_s < stale_after_s and manual_max_age_s > 0, got {refresh_s}, "
                f"{stale_after_s}, {manual_max_age_s}"
            )
        self._db = db
        self._chainlink = chainlink
        self.refresh_s = refresh_s
        self.stale_after_s = stale_after_s
        self.manual_max_age_s = manual_max_age_s
        self._clock_s = clock_s
        self._answer: tuple[int | None, float] | None = None  # (snapshot id, clock when found)
        self._why_unpriced: str | None = None
        self._background = BackgroundThread("rate-book", self._run)

    def __call__(self) -> int | None:
        """The snapshot in force, or None while there is none or the last answer is stale."""
        answer = self._answer
        if answer is None or self._clock_s() - answer[1] > self.stale_after_s:
            return None
        return answer[0]

    def answer_age_s(self) -> float | None:
        """Seconds since the sources last answered, the age staleness is judged by (None before
        the first answer); from memory, for the metrics scrape."""
        answer = self._answer
        return None if answer is None else self._clock_s() - answer[1]

    def refresh(self) -> bool:
        """Look the rate up now; True when the sources answered (even "no rate"), False when
        the database was unreachable (the previous answer stands until it is stale)."""
        try:
            snapshot_id, why = self._chainlink_rate()
            if snapshot_id is None:
                snapshot_id, why = self._manual_rate(why)
        except LedgerError as exc:
            LOG.warning("rate lookup failed: %s", exc)
            return False
        if why != self._why_unpriced:
            log = LOG.warning if why else LOG.info
            log("signing records are now %s", f"unpriced: {why}" if why else f"priced (rate snapshot {snapshot_id})")
            self._why_unpriced = why
        self._answer = (snapshot_id, self._clock_s())
        return True

    def start(self) -> None:
        """Refresh in the background (first lookup at once)."""
        self._background.start()

    def stop(self) -> bool:
        """Stop refreshing; True when the thread has ended."""
        return self._background.stop()

    def _chainlink_rate(self) -> tuple[int | None, str | None]:
        if self._chainlink is None:
            return None, "no Chainlink feed configured"
        try:
            observation = self._chainlink.read()
        except (RateRefused, ChainError) as exc:
            return None, f"Chainlink: {exc}"
        snapshot = ledger.record_rate_snapshot(self._db, ledger.NewRate(
            usd_per_eth=observation.usd_per_eth, source="chainlink", valid_at=observation.valid_at,
            observed_at=observation.observed_at, actor="rate-book", reason="latestRoundData",
            feed_address=observation.feed_address, round_id=observation.round_id,
        ))
        return snapshot.id, None

    def _manual_rate(self, chainlink_problem: str | None) -> tuple[int | None, str | None]:
        now = datetime.now(UTC)
        manual = ledger.rate_in_force(self._db, now, sources=MANUAL_SOURCES)
        if manual is not None and now - manual.valid_at <= timedelta(seconds=self.manual_max_age_s):
            return manual.id, None
        newest = "none" if manual is None else f"the newest is from {manual.valid_at.isoformat()}"
        return None, f"{chainlink_problem}; no manual rate within {self.manual_max_age_s:g} s ({newest})"

    def _run(self) -> None:
        failures = 0
        stopping = self._background.stopping
        while not stopping.is_set():
            failures = 0 if self.refresh() else failures + 1
            stopping.wait(backoff_s(failures, self.refresh_s) if failures else self.refresh_s)
