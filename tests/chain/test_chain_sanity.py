"""The chain client's sanity checks (issue #9, faults) without a node: the head guard's bounds,
their relations to the rest of the chain limits, and the once-per-lie logging. The same checks
against a real lying JSON-RPC proxy in front of anvil: tests/integration/test_faults_chain.py."""

from __future__ import annotations

import logging

import pytest

from clearinghouse.chain import limits
from clearinghouse.chain.client import IMPLAUSIBLE, HeadGuard, LieLog
from clearinghouse.chain.errors import ChainUnavailable


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_limits_relate() -> None:
    assert limits.HEAD_REGRESSION_BLOCKS_MAX >= limits.CONFIRMATIONS_MAX  # every reorg the watcher handles
    assert limits.HEAD_ADVANCE_BLOCKS_PER_S_MAX >= 4  # Arbitrum One's fastest: a block per 250 ms
    assert 120_000_000 * 10**18 < limits.WEI_SUPPLY_MAX < limits.UINT256_MAX
    assert limits.BLOCK_NUMBER_MAX < 2**63  # fits the ledger's BIGINT columns


def test_the_head_may_advance_at_the_bounded_rate_and_go_back_a_reorg() -> None:
    clock = Clock()
    guard = HeadGuard(clock)
    assert guard.judge(1_000_000) is None  # the first head: absolute bounds only
    clock.now_s += 10
    most = 1_000_000 + limits.HEAD_ADVANCE_SLACK_BLOCKS + 10 * limits.HEAD_ADVANCE_BLOCKS_PER_S_MAX
    assert guard.judge(most + 1) is not None
    assert guard.judge(most) is None
    assert guard.judge(most - limits.HEAD_REGRESSION_BLOCKS_MAX) is None  # the deepest reorg handled
    assert "below the last head" in (guard.judge(most - 2 * limits.HEAD_REGRESSION_BLOCKS_MAX - 1) or "")


def test_a_lie_does_not_move_the_anchor_so_the_truth_is_accepted_again() -> None:
    clock = Clock()
    guard = HeadGuard(clock)
    assert guard.judge(5_000) is None
    assert "above the last head" in (guard.judge(10**9) or "")
    assert guard.judge(5_001) is None


@pytest.mark.parametrize("number", [-1, limits.BLOCK_NUMBER_MAX + 1])
def test_a_head_outside_the_block_range_is_refused_even_first(number: int) -> None:
    assert "outside" in (HeadGuard(Clock()).judge(number) or "")


def test_a_lie_is_logged_once_and_its_end_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="clearinghouse.chain.client")
    lies = LieLog("http://rpc.invalid")
    for _ in range(3):
        with pytest.raises(ChainUnavailable, match=IMPLAUSIBLE):
            lies.check_wei("getSenderInfo", deposit=limits.WEI_SUPPLY_MAX + 1)
    assert lies.check_wei("getSenderInfo", deposit=limits.WEI_SUPPLY_MAX) == limits.WEI_SUPPLY_MAX
    lies.check_wei("getSenderInfo", deposit=1)
    levels = [(record.levelno, record.getMessage()[:40]) for record in caplog.records]
    assert [level for level, _ in levels] == [logging.ERROR, logging.WARNING], levels
