"""Fixtures for the chain adapter tests: one real anvil per test module, a provisioned devnet on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from clearinghouse.chain.anvil import Anvil, revert, snapshot, start_anvil
from clearinghouse.chain.devnet import ProvisionedDevnet, provision_devnet


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


DEPOSIT_WEI = 2 * 10**18
RESERVE_WEI = 5 * 10**17


@pytest.fixture(scope="module")
def provisioned(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> ProvisionedDevnet:
    """A devnet provisioned once per module on the module's anvil (scrypt makes it ~1.5 s)."""
    directory = tmp_path_factory.mktemp("devnet") / "home"
    return provision_devnet(directory, anvil, deposit_wei=DEPOSIT_WEI, reserve_wei=RESERVE_WEI)
