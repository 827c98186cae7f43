"""Fixtures for the remote-signer algorithm: offer factory, healthy chain view, policy, vectors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from clearinghouse.signer import ChainView, OrchestratorOffer, PaymentPolicy, decode_offer
from tests.data import SPEC_VECTORS
from tests.signer.builders import L1_BLOCK, OPEN_ROUNDS, orchestrator_info


@pytest.fixture
def make_offer() -> Callable[..., OrchestratorOffer]:
    """Builds a decoded offer from orchestrator_info(**overrides)."""

    def build(**overrides: Any) -> OrchestratorOffer:
        return decode_offer(orchestrator_info(**overrides).SerializeToString())

    return build


@pytest.fixture
def chain() -> ChainView:
    """A healthy position: 1 ETH deposit and reserve, no unlock, params valid for 40 blocks, the
    offers' creation round open with their block hash."""
    return ChainView(
        deposit_wei=10**18,
        reserve_wei=10**18,
        withdraw_round=0,
        current_round=3500,
        last_l1_block=L1_BLOCK,
        round_block_hashes=OPEN_ROUNDS,
    )


@pytest.fixture
def policy() -> PaymentPolicy:
    return PaymentPolicy()


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_VECTORS.read_text(encoding="utf-8"))
    return loaded
