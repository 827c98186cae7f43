"""ETH/USD rates with provenance (spec 05): read Chainlink's aggregator, accept or refuse it.

``accept_chainlink`` is the rule, pure: a round is a rate only when its answer is positive, it
is complete (answeredInRound ≥ roundId, updatedAt set), it is not older than the heartbeat
and not from the future beyond CLOCK_SKEW_S, and the L2 sequencer is up and has been up for
the grace period (after a sequencer outage the feed may still show the price from before it).
Anything else raises ``RateRefused`` naming the check. ``ChainlinkRateSource`` reads the two
feeds through the ChainClient and applies the rule; RPC failures stay ChainError.

A rate is USD per ETH as an exact ``Fraction`` (answer / 10^decimals): never a float.
"""

from __future__ import annotations

import csv
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from fractions import Fraction
from typing import TYPE_CHECKING

from clearinghouse.billing.limits import HEARTBEAT_S_DEFAULT, SEQUENCER_GRACE_S_DEFAULT
from clearinghouse.errors import ClearinghouseError
from clearinghouse.billing.limits import (
    CLOCK_SKEW_S,
    FEED_DECIMALS_MAX,
    RATE_CSV_BYTES_MAX,
    RATE_TEXT_CHARS_MAX,
)

if TYPE_CHECKING:
    from clearinghouse.chain.client import ChainClient, FeedRound


RATE_CSV_HEADER = ("valid_at", "usd_per_eth")
"""The required columns of a rate CSV (a ``reason`` column is optional), in this order."""

_DECIMAL = re.compile(r"\d{1,15}(\.\d{1,18})?")

SEQUENCER_UP = 0
SEQUENCER_DOWN = 1


class RateSource(StrEnum):
    """Where a rate came from; closed, stored with every snapshot."""

    CHAINLINK = "chainlink"
    MANUAL = "manual"
    CSV = "csv"


class RateRefused(ClearinghouseError):
    """The feed answered, but not with a rate we may bill with; the message says why."""


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """How fresh a Chainlink answer must be, and how long after a sequencer restart to wait."""

    heartbeat_s: int = HEARTBEAT_S_DEFAULT
    sequencer_grace_s: int = SEQUENCER_GRACE_S_DEFAULT

    def __post_init__(self) -> None:
        if self.heartbeat_s <= 0 or self.sequencer_grace_s < 0:
            raise ValueError(
                f"need heartbeat_s > 0 and sequencer_grace_s >= 0, got {self.heartbeat_s} and {self.sequencer_grace_s}"
            )


@dataclass(frozen=True, slots=True)
class RateObservation:
    """One ETH/USD rate and where it came from: ``valid_at`` is when the source set it (the
    feed's updatedAt, or the time a person entered it for), ``observed_at`` when we read it."""

    usd_per_eth: Fraction
    source: RateSource
    valid_at: datetime
    observed_at: datetime
    feed_address: bytes | None = None
    round_id: int | None = None


def accept_chainlink(
    price: FeedRound,
    decimals: int,
    sequencer: FeedRound | None,
    policy: RatePolicy,
    now_s: int,
) -> Fraction:
    """The rate in ``price`` if every check passes (see the module docstring); else RateRefused."""
    if not 0 <= decimals <= FEED_DECIMALS_MAX:
        raise RateRefused(f"feed has {decimals} decimals, expected 0..{FEED_DECIMALS_MAX}")
    if price.answer <= 0:
        raise RateRefused(f"feed answer is {price.answer}, expected > 0 (round {price.round_id})")
    if price.updated_at_s == 0 or price.answered_in_round < price.round_id:
        raise RateRefused(
            f"round {price.round_id} is incomplete (answered in round {price.answered_in_round}, "
            f"updated at {price.updated_at_s})"
        )
    age_s = now_s - price.updated_at_s
    if age_s > policy.heartbeat_s:
        raise RateRefused(f"feed answer is {age_s} s old, over the {policy.heartbeat_s} s heartbeat (round {price.round_id})")
    if age_s < -CLOCK_SKEW_S:
        raise RateRefused(f"feed answer is dated {-age_s} s in the future (round {price.round_id})")
    if sequencer is not None:
        _check_sequencer(sequencer, policy, now_s)
    return Fraction(price.answer, 10**decimals)


def _check_sequencer(sequencer: FeedRound, policy: RatePolicy, now_s: int) -> None:
    if sequencer.answer == SEQUENCER_DOWN:
        raise RateRefused("the L2 sequencer is down (uptime feed answer 1)")
    if sequencer.answer != SEQUENCER_UP:
        raise RateRefused(f"the L2 sequencer uptime feed answered {sequencer.answer}, expected 0 or 1")
    up_for_s = now_s - sequencer.started_at_s
    if up_for_s < policy.sequencer_grace_s:
        raise RateRefused(
            f"the L2 sequencer has been up for {up_for_s} s, less than the {policy.sequencer_grace_s} s grace period"
        )


class ChainlinkRateSource:
    """Reads the ETH/USD aggregator (and the sequencer uptime feed, when given) and accepts a rate."""

    def __init__(
        self,
        client: ChainClient,
        aggregator: str | bytes,
        sequencer_uptime_feed: str | bytes | None,
        policy: RatePolicy,
        *,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        """No I/O. Raises ValueError for an address that is not one."""
        from clearinghouse.chain.client import checksum_address  # web3: only where a feed is read

        self._client = client
        self.aggregator = checksum_address(aggregator)
        self.sequencer_uptime_feed = None if sequencer_uptime_feed is None else checksum_address(sequencer_uptime_feed)
        self.policy = policy
        self._clock_s = clock_s
        self._decimals: int | None = None

    def read(self) -> RateObservation:
        """The current rate. Raises RateRefused when the feed's answer fails a check, and
        ChainError when the RPC fails."""
        if self._decimals is None:
            self._decimals = self._client.feed_decimals(self.aggregator)  # fixed per feed
        price = self._client.feed_round(self.aggregator)
        sequencer = None if self.sequencer_uptime_feed is None else self._client.feed_round(self.sequencer_uptime_feed)
        now_s = self._clock_s()
        rate = accept_chainlink(price, self._decimals, sequencer, self.policy, int(now_s))
        return RateObservation(
            usd_per_eth=rate,
            source=RateSource.CHAINLINK,
            valid_at=datetime.fromtimestamp(price.updated_at_s, UTC),
            observed_at=datetime.fromtimestamp(now_s, UTC),
            feed_address=bytes.fromhex(self.aggregator[2:]),
            round_id=price.round_id,
        )


@dataclass(frozen=True, slots=True)
class RateRow:
    """One row of a manually kept rate table."""

    valid_at: datetime
    usd_per_eth: Fraction
    reason: str | None


def parse_usd_per_eth(text: str) -> Fraction:
    """A plain positive decimal ("3012.55") as an exact Fraction. Raises ValueError, with an
    example, for anything else (exponents, signs, separators, more than 18 decimals)."""
    cleaned = text.strip()
    if len(cleaned) > RATE_TEXT_CHARS_MAX or not _DECIMAL.fullmatch(cleaned):
        raise ValueError(f"rate {text[:RATE_TEXT_CHARS_MAX]!r} is not a plain decimal like 3012.55")
    rate = Fraction(cleaned)
    if rate <= 0:
        raise ValueError(f"rate {cleaned} must be above 0")
    return rate


def parse_valid_at(text: str) -> datetime:
    """An ISO 8601 time with its offset ("2026-11-01T00:00:00Z"), in UTC. Raises ValueError for a
    time without an offset: a rate table must not depend on the server's time zone."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"time {text!r} is not ISO 8601 like 2026-11-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"time {text!r} has no UTC offset; write it like 2026-11-01T00:00:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is in year 0 in UTC
        raise ValueError(f"time {text!r} is outside years 1..9999 once converted to UTC") from None


def parse_rate_csv(data: bytes) -> list[RateRow]:
    """The rows of a rate table: UTF-8 CSV, header ``valid_at,usd_per_eth[,reason]``. Raises
    ValueError naming the line of the first bad row; nothing is returned unless all are good."""
    if len(data) > RATE_CSV_BYTES_MAX:
        raise ValueError(f"rate table is over {RATE_CSV_BYTES_MAX} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("rate table is not UTF-8") from None
    reader = csv.reader(io.StringIO(text))
    header = tuple(next(reader, ()))
    if header[:2] != RATE_CSV_HEADER or header[2:] not in ((), ("reason",)):
        raise ValueError(f"rate table header must be valid_at,usd_per_eth[,reason], got {','.join(header)!r}")
    rows = []
    for line, fields in enumerate(reader, start=2):
        if not fields:
            continue
        if len(fields) != len(header):
            raise ValueError(f"line {line}: expected {len(header)} fields, got {len(fields)}")
        try:
            valid_at, rate = parse_valid_at(fields[0]), parse_usd_per_eth(fields[1])
        except ValueError as exc:
            raise ValueError(f"line {line}: {exc}") from None
        rows.append(RateRow(valid_at, rate, fields[2].strip() or None if len(fields) > 2 else None))
    if not rows:
        raise ValueError("rate table has no rows")
    return rows
