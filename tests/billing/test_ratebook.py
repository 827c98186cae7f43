"""RateBook: the rate a record written now refers to — Chainlink first, the manual table second,
else none (unpriced) — on a real anvil devnet and a real SQLite ledger."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from web3 import Web3

from clearinghouse import ledger
from clearinghouse.billing.ratebook import RateBook
from clearinghouse.billing.rates import ChainlinkRateSource, RatePolicy
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.client import ChainClient
from clearinghouse.chain.devnet import Devnet, transact
from tests.billing.test_rates import chain, devnet  # noqa: F401 - the module's anvil fixtures


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ledger.Database]:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(url)
    database = ledger.open_database(url)
    yield database
    database.dispose()


class Clock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def chainlink(deployed: Devnet) -> ChainlinkRateSource:
    client = ChainClient(deployed.rpc_url, deployed.controller)
    return ChainlinkRateSource(client, deployed.eth_usd_feed, deployed.sequencer_uptime_feed,
                               RatePolicy(heartbeat_s=3_600, sequencer_grace_s=0))


def manual(db: ledger.Database, rate: str, age: timedelta) -> int:
    valid_at = datetime.now(UTC) - age
    return ledger.record_rate_snapshot(db, ledger.NewRate(Fraction(rate), "manual", valid_at, valid_at, "t", "r")).id


def test_a_fresh_chainlink_answer_is_stored_once_per_round(
    db: ledger.Database, chain: tuple[Web3, Devnet]  # noqa: F811
) -> None:
    _, deployed = chain
    book = RateBook(db, chainlink(deployed))
    assert book() is None  # nothing looked up yet: unpriced, never a default
    assert book.refresh()
    snapshot_id = book()
    assert snapshot_id is not None
    snapshot = ledger.rate_snapshot(db, snapshot_id)
    assert (snapshot.usd_per_eth, snapshot.source, snapshot.round_id) == (3000, "chainlink", 1)
    book.refresh()
    assert book() == snapshot_id and len(ledger.rate_snapshots(db)) == 1


def test_a_stale_feed_falls_back_to_a_recent_manual_rate_and_then_to_none(
    db: ledger.Database, chain: tuple[Web3, Devnet], caplog: pytest.LogCaptureFixture  # noqa: F811
) -> None:
    w3, deployed = chain
    book = RateBook(db, chainlink(deployed), manual_max_age_s=3_600)
    book.refresh()
    chainlink_id = book()
    old = int(time.time()) - 7_200
    feed = bind(w3, "EthUsdFeedStandIn", deployed.eth_usd_feed)
    transact(w3, feed.functions.setRoundData(5, 250_000_000_000, old, old, 5), deployed.owner)
    with caplog.at_level(logging.WARNING, logger="clearinghouse.rates"):
        book.refresh()
    assert book() is None  # the earlier Chainlink snapshot is not a fallback
    assert "unpriced: Chainlink: feed answer is" in caplog.text and "no manual rate within 3600 s" in caplog.text

    recent = manual(db, "2990.5", timedelta(minutes=10))
    book.refresh()
    assert book() == recent != chainlink_id
    manual(db, "2000", timedelta(hours=3))  # valid earlier than `recent`: not in force
    book.refresh()
    assert book() == recent


def test_without_chainlink_only_the_manual_table_prices(db: ledger.Database) -> None:
    book = RateBook(db, None, manual_max_age_s=3_600)
    book.refresh()
    assert book() is None
    manual(db, "3000", timedelta(hours=2))
    book.refresh()
    assert book() is None  # too old
    fresh = manual(db, "3001", timedelta(seconds=5))
    book.refresh()
    assert book() == fresh


def test_an_answer_goes_stale_without_a_successful_lookup(db: ledger.Database) -> None:
    clock = Clock()
    book = RateBook(db, None, refresh_s=1.0, stale_after_s=10.0, clock_s=clock)
    fresh = manual(db, "3000", timedelta(seconds=5))
    book.refresh()
    clock.now_s += 10.0
    assert book() == fresh  # the last answer stands while it is young
    clock.now_s += 0.5
    assert book() is None  # then records are written unpriced rather than at an old rate


def test_an_unreachable_database_is_a_failed_lookup_not_a_crash() -> None:
    unreachable = ledger.open_database("postgresql+psycopg://postgres@127.0.0.1:9/nothing?connect_timeout=1")
    try:
        book = RateBook(unreachable, None)
        assert not book.refresh() and book() is None
    finally:
        unreachable.dispose()


def test_the_bounds_are_checked(db: ledger.Database) -> None:
    with pytest.raises(ValueError, match="0 < refresh_s < stale_after_s"):
        RateBook(db, None, refresh_s=10.0, stale_after_s=5.0)
