"""The active-orchestrator check on a real anvil devnet: answers, the per-round cache, its bounds,
and failing closed when the RPC is down or silent."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
from web3 import Web3

from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.devnet import ProvisionedDevnet, transact
from clearinghouse.chain.errors import ChainUnavailable
from clearinghouse.chain.client import ChainClient
from clearinghouse.chain.orchestrators import ActiveOrchestrators
from clearinghouse.signer import ChainView, PaymentPolicy, PaymentRequest, Refusal, SigningRefused, decode_offer
from clearinghouse.signer.decision import plan_payment
from clearinghouse.domain.chain_view import RecipientStatus
from tests.signer.builders import NOW_NS, orchestrator_info

INACTIVE = bytes.fromhex("00000000000000000000000000000000000000c0")
ROUND = 1


class Counting:
    """A source that counts the reads that reach the chain."""

    def __init__(self, source: ChainClient) -> None:
        self.source, self.reads = source, 0

    def is_active_transcoder(self, address: bytes) -> bool:
        self.reads += 1
        return self.source.is_active_transcoder(address)


class Failing:
    """A source whose RPC is down until ``up`` is set."""

    def __init__(self) -> None:
        self.up, self.reads = False, 0

    def is_active_transcoder(self, address: bytes) -> bool:
        self.reads += 1
        if not self.up:
            raise ChainUnavailable("isActiveTranscoder at http://127.0.0.1:1 failed: connection refused")
        return True


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def reader(provisioned: ProvisionedDevnet) -> ChainClient:
    return ChainClient(provisioned.devnet.rpc_url, provisioned.devnet.controller)


@pytest.fixture
def counting(reader: ChainClient) -> Counting:
    return Counting(reader)


@pytest.fixture
def check(counting: Counting) -> Iterator[ActiveOrchestrators]:
    orchestrators = ActiveOrchestrators(counting)
    yield orchestrators
    orchestrators.close()


def address_bytes(address: str) -> bytes:
    return bytes.fromhex(address[2:])


def test_the_devnet_orchestrator_is_active_and_another_address_is_not(
    check: ActiveOrchestrators, provisioned: ProvisionedDevnet
) -> None:
    assert check.verdict(address_bytes(provisioned.orchestrator), ROUND).status is RecipientStatus.ACTIVE
    assert check.verdict(INACTIVE, ROUND).status is RecipientStatus.INACTIVE


def test_a_second_call_in_the_same_round_reads_nothing(
    check: ActiveOrchestrators, counting: Counting, provisioned: ProvisionedDevnet
) -> None:
    orchestrator = address_bytes(provisioned.orchestrator)
    for _ in range(3):
        assert check.verdict(orchestrator, ROUND).status is RecipientStatus.ACTIVE
        assert check.verdict(INACTIVE, ROUND).status is RecipientStatus.INACTIVE
    assert counting.reads == 2
    check.verdict(orchestrator, ROUND + 1)
    assert counting.reads == 3


def test_an_answer_holds_for_its_round_and_a_new_round_reads_again(
    check: ActiveOrchestrators, provisioned: ProvisionedDevnet, w3: Web3
) -> None:
    orchestrator = address_bytes(provisioned.orchestrator)
    assert check.verdict(orchestrator, ROUND).status is RecipientStatus.ACTIVE
    bonding = bind(w3, "BondingManager", provisioned.devnet.bonding_manager)
    transact(w3, bonding.functions.setActiveTranscoder(provisioned.orchestrator, False), provisioned.devnet.owner)
    assert check.verdict(orchestrator, ROUND).status is RecipientStatus.ACTIVE  # cached for round 1
    assert check.verdict(orchestrator, ROUND + 1).status is RecipientStatus.INACTIVE


def test_the_cache_is_bounded_least_recently_used_first(counting: Counting, provisioned: ProvisionedDevnet) -> None:
    check = ActiveOrchestrators(counting, entries_max=2)
    orchestrator = address_bytes(provisioned.orchestrator)
    try:
        for round_ in (1, 2, 1, 3):  # round 2 is the least recently used when round 3 arrives
            check.verdict(orchestrator, round_)
        assert counting.reads == 3
        check.verdict(orchestrator, 1)
        assert counting.reads == 3
        check.verdict(orchestrator, 2)
        assert counting.reads == 4
    finally:
        check.close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def test_rpc_down_fails_closed(provisioned: ProvisionedDevnet) -> None:
    check = ActiveOrchestrators(ChainClient(closed_port_url(), provisioned.devnet.controller))
    try:
        verdict = check.verdict(address_bytes(provisioned.orchestrator), ROUND)
    finally:
        check.close()
    assert verdict.status is RecipientStatus.UNKNOWN and "failed" in verdict.detail
    offer = decode_offer(orchestrator_info(recipient=address_bytes(provisioned.orchestrator)).SerializeToString())
    chain = ChainView(deposit_wei=10**18, reserve_wei=10**18, withdraw_round=0, current_round=ROUND,
                      last_l1_block=offer.expiration_block - 40)
    policy = PaymentPolicy(recipient_check=lambda address, round_: verdict)
    with pytest.raises(SigningRefused) as refused:
        plan_payment(offer, None, PaymentRequest("live", manifest_id="m"), chain, policy, NOW_NS,
                     new_state_id="s", new_manifest_id="m")
    assert refused.value.reason is Refusal.SIGNER_UNSAFE and "cannot confirm" in refused.value.message


def test_a_silent_rpc_costs_a_bounded_wait(provisioned: ProvisionedDevnet) -> None:
    """A node that accepts the connection and never answers: UNKNOWN after wait_s, not the
    RPC's own timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # never accepted: the request is sent and no answer comes
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        check = ActiveOrchestrators(ChainClient(url, provisioned.devnet.controller, timeout_s=3.0),
                                    wait_s=0.3)
        try:
            started = time.monotonic()
            verdict = check.verdict(address_bytes(provisioned.orchestrator), ROUND)
            waited_s = time.monotonic() - started
        finally:
            check.close()
    assert verdict.status is RecipientStatus.UNKNOWN and "within 0.3 s" in verdict.detail
    assert waited_s < 1.5


def test_after_a_failure_misses_answer_unknown_without_asking_until_the_retry_interval() -> None:
    source, clock = Failing(), Clock()
    check = ActiveOrchestrators(source, retry_after_failure_s=5.0, monotonic_s=clock)
    try:
        assert check.verdict(INACTIVE, ROUND).status is RecipientStatus.UNKNOWN
        source.up = True
        verdict = check.verdict(INACTIVE, ROUND)
        assert verdict.status is RecipientStatus.UNKNOWN and "failed a moment ago" in verdict.detail
        assert source.reads == 1
        clock.now_s += 5.0
        assert check.verdict(INACTIVE, ROUND).status is RecipientStatus.ACTIVE
        assert source.reads == 2
    finally:
        check.close()


def test_concurrent_misses_share_one_read(provisioned: ProvisionedDevnet, counting: Counting) -> None:
    check = ActiveOrchestrators(counting)
    orchestrator = address_bytes(provisioned.orchestrator)
    answers: list[RecipientStatus] = []
    threads = [threading.Thread(target=lambda: answers.append(check.verdict(orchestrator, 7).status))
               for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        check.close()
    assert answers == [RecipientStatus.ACTIVE] * 8 and counting.reads == 1


def test_an_address_must_be_20_bytes(check: ActiveOrchestrators) -> None:
    with pytest.raises(ValueError, match="20 bytes"):
        check.verdict(b"\x01" * 19, ROUND)
