"""Fixtures for the chain adapter tests: one real anvil per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from clearinghouse.chain.anvil import Anvil, revert, snapshot, start_anvil


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    with start_anvil() as node:
        yield node


@pytest.fixture
def w3(anvil: Anvil) -> Iterator[Web3]:
    """A Web3 on the module's anvil; the chain is reverted after the test."""
    client = anvil.web3()
    snapshot_id = snapshot(client)
    yield client
    revert(client, snapshot_id)
