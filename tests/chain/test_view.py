"""LiveChainView: fresh snapshots pass, stale ones refuse signing, and an RPC outage heals itself.

The outage test stops anvil for real and starts a new one on the same port with the old one's
state (anvil_dumpState / anvil_loadState), so the view's client never changes its URL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from web3 import Web3

from clearinghouse.chain.anvil import (
    Anvil,
    AnvilOptions,
    dump_state,
    load_state,
    start_anvil,
)
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.client import ChainClient
from clearinghouse.chain.devnet import deploy_devnet, transact
from clearinghouse.chain.errors import ChainUnavailable
from clearinghouse.chain.limits import RETRY_BACKOFF_FIRST_S
from clearinghouse.chain.view import LiveChainView, backoff_s
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.refusals import Refusal, SigningRefused

VIEW = ChainView(deposit_wei=5, reserve_wei=6, withdraw_round=0, current_round=7, last_l1_block=8)
WAIT_S = 10.0
"""Longest a test waits for the refresher thread to reach a state (it takes ~0.1 s)."""


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def is_fresh(view: LiveChainView) -> bool:
    try:
        view()
    except SigningRefused:
        return False
    return True


def test_fresh_snapshot_is_returned_and_stale_one_refused() -> None:
    clock = FakeClock()
    view = LiveChainView(lambda: VIEW, refresh_s=1.0, stale_after_s=5.0, clock_s=clock)
    with pytest.raises(SigningRefused, match="chain data stale: no chain data read yet") as caught:
        view()
    assert caught.value.reason is Refusal.SIGNER_UNSAFE and view.age_s() is None
    assert view.refresh() is True
    clock.now_s += 5.0
    assert view() == VIEW and view.age_s() == 5.0
    clock.now_s += 0.5
    expected = r"chain data stale: last read 5\.5 s ago, expected at most 5\.0 s"
    with pytest.raises(SigningRefused, match=expected) as caught:
        view()
    assert caught.value.reason is Refusal.SIGNER_UNSAFE


def test_a_failed_refresh_keeps_the_old_snapshot_and_names_the_error() -> None:
    clock, results = FakeClock(), [VIEW]

    def fetch() -> ChainView:
        if results:
            return results.pop()
        raise ChainUnavailable("eth_getBlockByNumber(latest) at http://127.0.0.1:1 failed: ConnectionError")

    view = LiveChainView(fetch, refresh_s=1.0, stale_after_s=2.0, clock_s=clock)
    assert view.refresh() is True and view.refresh() is False
    assert view() == VIEW
    clock.now_s += 3.0
    with pytest.raises(SigningRefused, match=r"last error: eth_getBlockByNumber\(latest\) at .* ConnectionError"):
        view()


@pytest.mark.parametrize(("refresh_s", "stale_after_s"), [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0), (-1.0, 1.0)])
def test_refresh_must_be_shorter_than_staleness(refresh_s: float, stale_after_s: float) -> None:
    with pytest.raises(ValueError, match="need 0 < refresh_s < stale_after_s"):
        LiveChainView(lambda: VIEW, refresh_s=refresh_s, stale_after_s=stale_after_s)


def test_backoff_doubles_up_to_the_refresh_interval() -> None:
    assert [backoff_s(n, 10.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0]
    assert backoff_s(1, 0.1) == 0.1 and backoff_s(10**9, 3600.0) == 3600.0
    assert RETRY_BACKOFF_FIRST_S == backoff_s(1, 60.0)


def test_thread_retries_until_fetch_succeeds_and_stops() -> None:
    failures = [ChainUnavailable("down"), ChainUnavailable("down")]

    def fetch() -> ChainView:
        if failures:
            raise failures.pop()
        return VIEW

    view = LiveChainView(fetch, refresh_s=0.02, stale_after_s=1.0)
    view.start()
    with pytest.raises(RuntimeError, match="already started"):
        view.start()
    eventually(lambda: is_fresh(view))
    assert view() == VIEW and not failures
    assert view.stop() is True


def test_a_crashing_fetch_ends_the_thread_and_the_view_goes_stale() -> None:
    def fetch() -> ChainView:
        raise KeyError("bug")

    view = LiveChainView(fetch, refresh_s=0.02, stale_after_s=0.05)
    view.start()
    assert view.stop() is True  # the thread ended by itself (or on stop)
    with pytest.raises(SigningRefused, match="refresher crashed"):
        view()


@pytest.fixture
def funded_chain() -> Iterator[tuple[Anvil, str, str]]:
    """A devnet on its own anvil (this test stops it) with a funded sender: (anvil, controller, sender)."""
    anvil = start_anvil()
    try:
        devnet = deploy_devnet(anvil.rpc_url)
        w3 = anvil.web3()
        sender = w3.eth.accounts[0]
        broker = bind(w3, "TicketBroker", devnet.ticket_broker)
        transact(w3, broker.functions.fundDepositAndReserveFor(sender, 3, 4), devnet.owner, value_wei=7)
        yield anvil, devnet.controller, sender
    finally:
        anvil.stop()


def test_rpc_outage_stops_signing_and_recovery_resumes_it(funded_chain: tuple[Anvil, str, str]) -> None:
    anvil, controller, sender = funded_chain
    client = ChainClient(anvil.rpc_url, controller, timeout_s=1.0)
    view = LiveChainView(lambda: client.chain_view(sender), refresh_s=0.05, stale_after_s=0.5)
    view.start()
    try:
        eventually(lambda: is_fresh(view))
        before = view()
        assert (before.deposit_wei, before.reserve_wei, before.current_round) == (3, 4, 1)
        state = dump_state(anvil.web3())
        anvil.stop()
        eventually(lambda: not is_fresh(view))
        expected = f"chain data stale: .*at http://127.0.0.1:{anvil.port} failed"
        with pytest.raises(SigningRefused, match=expected) as caught:
            view()
        assert caught.value.reason is Refusal.SIGNER_UNSAFE
        with start_anvil(AnvilOptions(port=anvil.port)) as restarted:
            load_state(Web3(Web3.HTTPProvider(restarted.rpc_url)), state)
            eventually(lambda: is_fresh(view))
            assert view() == before
    finally:
        assert view.stop() is True
