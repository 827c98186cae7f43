"""ETH/USD rates: the acceptance rule at each of its lines, and the Chainlink path against the
devnet's aggregator and sequencer uptime feed on a real anvil."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction

import pytest
from web3 import Web3

from clearinghouse.billing.rates import (
    ChainlinkRateSource,
    RatePolicy,
    RateRefused,
    RateSource,
    accept_chainlink,
    parse_rate_csv,
    parse_usd_per_eth,
)
from clearinghouse.billing.limits import CLOCK_SKEW_S
from clearinghouse.chain.anvil import Anvil, revert, snapshot, start_anvil
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.client import ChainClient, FeedRound
from clearinghouse.chain.devnet import DEFAULT_ETH_USD_ANSWER, Devnet, deploy_devnet, transact
from clearinghouse.chain.errors import ChainUnavailable

POLICY = RatePolicy(heartbeat_s=3_600, sequencer_grace_s=600)
NOW_S = 1_800_000_000
PRICE = FeedRound(round_id=7, answer=301_234_567_890, started_at_s=NOW_S - 60, updated_at_s=NOW_S - 60,
                  answered_in_round=7)
SEQUENCER_UP = FeedRound(round_id=3, answer=0, started_at_s=NOW_S - 600, updated_at_s=NOW_S - 10,
                         answered_in_round=3)


def accept(price: FeedRound = PRICE, sequencer: FeedRound | None = SEQUENCER_UP, decimals: int = 8) -> Fraction:
    return accept_chainlink(price, decimals, sequencer, POLICY, NOW_S)


def test_a_fresh_answer_is_the_exact_rate() -> None:
    assert accept() == Fraction(301_234_567_890, 10**8) == Fraction("3012.3456789")
    assert accept(sequencer=None) == Fraction("3012.3456789")


def field(**changes: int) -> FeedRound:
    values = {name: getattr(PRICE, name) for name in PRICE.__slots__} | changes
    return FeedRound(**values)


@pytest.mark.parametrize(
    ("price", "problem"),
    [
        (field(answer=0), "feed answer is 0, expected > 0"),
        (field(answer=-5), "feed answer is -5, expected > 0"),
        (field(answered_in_round=6), "round 7 is incomplete"),
        (field(updated_at_s=0), "round 7 is incomplete"),
        (field(updated_at_s=NOW_S - 3_601), "feed answer is 3601 s old, over the 3600 s heartbeat"),
        (field(updated_at_s=NOW_S + CLOCK_SKEW_S + 1), f"dated {CLOCK_SKEW_S + 1} s in the future"),
    ],
)
def test_a_bad_price_round_is_refused(price: FeedRound, problem: str) -> None:
    with pytest.raises(RateRefused, match=problem):
        accept(price)


def test_the_heartbeat_and_the_grace_period_are_inclusive_lines() -> None:
    assert accept(field(updated_at_s=NOW_S - 3_600)) > 0
    assert accept(field(updated_at_s=NOW_S + CLOCK_SKEW_S)) > 0
    just_up = FeedRound(3, 0, NOW_S - 600, NOW_S, 3)
    assert accept(sequencer=just_up) > 0
    with pytest.raises(RateRefused, match="up for 599 s, less than the 600 s grace period"):
        accept(sequencer=FeedRound(3, 0, NOW_S - 599, NOW_S, 3))


@pytest.mark.parametrize(
    ("sequencer", "problem"),
    [
        (FeedRound(4, 1, NOW_S - 10_000, NOW_S, 4), "the L2 sequencer is down"),
        (FeedRound(4, 2, NOW_S - 10_000, NOW_S, 4), "answered 2, expected 0 or 1"),
    ],
)
def test_a_sequencer_that_is_not_up_refuses_the_rate(sequencer: FeedRound, problem: str) -> None:
    with pytest.raises(RateRefused, match=problem):
        accept(sequencer=sequencer)


def test_decimals_out_of_range_and_a_bad_policy_are_refused() -> None:
    with pytest.raises(RateRefused, match="37 decimals"):
        accept(decimals=37)
    with pytest.raises(ValueError, match="heartbeat_s > 0"):
        RatePolicy(heartbeat_s=0)


@pytest.fixture(scope="module")
def devnet() -> Iterator[tuple[Anvil, Devnet]]:
    with start_anvil() as anvil:
        yield anvil, deploy_devnet(anvil.rpc_url)


@pytest.fixture
def chain(devnet: tuple[Anvil, Devnet]) -> Iterator[tuple[Web3, Devnet]]:
    anvil, deployed = devnet
    w3 = anvil.web3()
    snapshot_id = snapshot(w3)
    yield w3, deployed
    revert(w3, snapshot_id)


def source(devnet: Devnet, **options: object) -> ChainlinkRateSource:
    client = ChainClient(devnet.rpc_url, devnet.controller)
    return ChainlinkRateSource(client, devnet.eth_usd_feed, devnet.sequencer_uptime_feed,
                               RatePolicy(heartbeat_s=3_600, sequencer_grace_s=0), **options)  # type: ignore[arg-type]


def test_the_devnet_aggregator_gives_a_rate_with_its_provenance(chain: tuple[Web3, Devnet]) -> None:
    w3, devnet = chain
    observation = source(devnet).read()
    assert observation.usd_per_eth == Fraction(DEFAULT_ETH_USD_ANSWER, 10**8) == 3_000
    assert observation.source is RateSource.CHAINLINK
    assert observation.feed_address == bytes.fromhex(devnet.eth_usd_feed[2:])
    assert observation.round_id == 1
    assert abs(observation.valid_at.timestamp() - w3.eth.get_block(1)["timestamp"]) < 3_600


def test_zero_stale_and_sequencer_down_answers_on_chain_are_refused(chain: tuple[Web3, Devnet]) -> None:
    w3, devnet = chain
    feed = bind(w3, "EthUsdFeedStandIn", devnet.eth_usd_feed)
    uptime = bind(w3, "SequencerUptimeFeedStandIn", devnet.sequencer_uptime_feed)

    transact(w3, feed.functions.setAnswer(0), devnet.owner)
    with pytest.raises(RateRefused, match="feed answer is 0"):
        source(devnet).read()

    old = int(time.time()) - 7_200
    transact(w3, feed.functions.setRoundData(3, 250_000_000_000, old, old, 3), devnet.owner)
    with pytest.raises(RateRefused, match="over the 3600 s heartbeat"):
        source(devnet).read()

    transact(w3, feed.functions.setAnswer(260_000_000_000), devnet.owner)
    assert source(devnet).read().usd_per_eth == 2_600

    transact(w3, uptime.functions.setStatus(1), devnet.owner)
    with pytest.raises(RateRefused, match="sequencer is down"):
        source(devnet).read()
    transact(w3, uptime.functions.setStatus(0), devnet.owner)
    client = ChainClient(devnet.rpc_url, devnet.controller)
    restarted = ChainlinkRateSource(client, devnet.eth_usd_feed, devnet.sequencer_uptime_feed,
                                    RatePolicy(heartbeat_s=3_600, sequencer_grace_s=3_600))
    with pytest.raises(RateRefused, match="grace period"):
        restarted.read()
    later = ChainlinkRateSource(client, devnet.eth_usd_feed, devnet.sequencer_uptime_feed,
                                RatePolicy(heartbeat_s=7_200, sequencer_grace_s=3_600),
                                clock_s=lambda: time.time() + 3_601)
    assert later.read().usd_per_eth == 2_600


def test_a_dead_rpc_is_a_chain_error_not_a_refusal(devnet: tuple[Anvil, Devnet]) -> None:
    _, deployed = devnet
    dead = ChainClient("http://127.0.0.1:9", deployed.controller, timeout_s=0.5)
    with pytest.raises(ChainUnavailable):
        ChainlinkRateSource(dead, deployed.eth_usd_feed, None, POLICY).read()


@pytest.mark.parametrize(("text", "rate"), [("3012.55", Fraction("3012.55")), (" 1 ", Fraction(1)),
                                            ("0.000000000000000001", Fraction(1, 10**18))])
def test_a_rate_is_a_plain_exact_decimal(text: str, rate: Fraction) -> None:
    assert parse_usd_per_eth(text) == rate


@pytest.mark.parametrize("text", ["", "0", "0.0", "-3", "+3", "3e3", "3,012.55", "nan", "inf", "1." + "0" * 19, "3 012"])
def test_anything_else_is_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="must be above 0|not a plain decimal like 3012.55"):
        parse_usd_per_eth(text)


def test_a_rate_table_parses_whole_or_names_its_first_bad_line() -> None:
    rows = parse_rate_csv(b"valid_at,usd_per_eth,reason\n2026-11-01T00:00:00Z,3012.55,ECB close\n"
                          b"2026-11-02T00:00:00+01:00,3100,\n")
    assert [(r.valid_at.isoformat(), r.usd_per_eth, r.reason) for r in rows] == [
        ("2026-11-01T00:00:00+00:00", Fraction("3012.55"), "ECB close"),
        ("2026-11-01T23:00:00+00:00", Fraction(3100), None),
    ]
    with pytest.raises(ValueError, match="line 3: time '2026-11-02T00:00:00' has no UTC offset"):
        parse_rate_csv(b"valid_at,usd_per_eth\n2026-11-01T00:00:00Z,1\n2026-11-02T00:00:00,2\n")
    with pytest.raises(ValueError, match="header must be valid_at,usd_per_eth"):
        parse_rate_csv(b"date,rate\n2026-11-01,1\n")
    with pytest.raises(ValueError, match="line 2: expected 2 fields, got 3"):
        parse_rate_csv(b"valid_at,usd_per_eth\n2026-11-01T00:00:00Z,1,x\n")
    with pytest.raises(ValueError, match="no rows"):
        parse_rate_csv(b"valid_at,usd_per_eth\n")
