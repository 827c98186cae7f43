"""Fixtures for the contract tests: one real anvil devnet per test module, a snapshot per test.

``chain`` reverts every change a test makes, so tests are independent and order-free.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from clearinghouse.chain.anvil import revert, snapshot
from clearinghouse.chain.devnet import running_devnet
from tests.contracts.broker_chain import TEST_PARAMS, BrokerChain


@pytest.fixture(scope="module")
def module_chain() -> Iterator[BrokerChain]:
    with running_devnet(TEST_PARAMS) as devnet:
        chain = BrokerChain(devnet)
        chain.fund_keys()
        yield chain


@pytest.fixture
def chain(module_chain: BrokerChain) -> Iterator[BrokerChain]:
    snapshot_id = snapshot(module_chain.w3)
    yield module_chain
    revert(module_chain.w3, snapshot_id)
