"""Funding transactions on a provisioned anvil devnet: exact amounts, plans that send nothing,
refusals before anything is signed, exact balance changes, and no RPC credentials anywhere."""

from __future__ import annotations

import logging
import socket

import pytest
from eth_account import Account
from eth_typing import ChecksumAddress
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3
from web3.types import RPCEndpoint

from clearinghouse.chain.anvil import Anvil, mine
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.devnet import ProvisionedDevnet, advance_round, transact
from clearinghouse.chain.errors import ChainError, ChainUnavailable
from clearinghouse.chain.funding import (
    BASE_FEE_HEADROOM,
    GAS_LIMIT_MARGIN_PERCENT,
    FundingAction,
    FundingClient,
    FundingRefused,
    FundingReverted,
    FundingUnconfirmed,
    format_eth,
    parse_amount,
)
from clearinghouse.chain.limits import AMOUNT_WEI_MAX
from tests.chain.conftest import DEPOSIT_WEI, RESERVE_WEI

ETH = 10**18
AMOUNT_WEI = 25 * 10**16
"""0.25 ETH: the provisioned sender holds about 1 ETH besides its deposit and reserve."""
CREDENTIALS = ("alice", "hunter2", "qwertyuiop")

SELECTORS = {
    FundingAction.FUND_DEPOSIT: "0x6caa736b",
    FundingAction.FUND_RESERVE: "0x6f9c3c8f",
    FundingAction.UNLOCK: "0xa69df4b5",
    FundingAction.CANCEL_UNLOCK: "0xc2c4c2c8",
    FundingAction.WITHDRAW: "0x3ccfd60b",
}
"""Spec 04's selectors of the five funding functions."""


@pytest.fixture(scope="module")
def sender_key(provisioned: ProvisionedDevnet) -> bytes:
    passphrase = provisioned.passphrase_path.read_text().strip()
    return bytes(Account.decrypt(provisioned.keystore_path.read_text(), passphrase))


@pytest.fixture
def funding(provisioned: ProvisionedDevnet, w3: Web3) -> FundingClient:
    return FundingClient(provisioned.devnet.rpc_url, provisioned.devnet.controller)


def credentialed_url(anvil: Anvil) -> str:
    """The module's anvil behind a URL with userinfo and an API key (anvil ignores both)."""
    return f"http://alice:hunter2@127.0.0.1:{anvil.port}/?apikey=qwertyuiop"


def nothing_sent(w3: Web3, sender: ChecksumAddress, nonce: int, block: int) -> bool:
    """anvil mines every transaction at once: an unchanged head and nonce mean nothing was sent."""
    return w3.eth.get_transaction_count(sender) == nonce and w3.eth.block_number == block


# ---- amounts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "wei"),
    [
        ("1.5ETH", 15 * 10**17),
        ("1.5 eth", 15 * 10**17),
        ("0.001 ether", 10**15),
        (" 2 Ether ", 2 * ETH),
        (".5eth", 5 * 10**17),
        ("1.eth", ETH),
        ("0.000000000000000001ETH", 1),
        ("15000wei", 15_000),
        ("15000 WEI", 15_000),
        ("15000.000wei", 15_000),
        ("+3wei", 3),
        (f"{AMOUNT_WEI_MAX}wei", AMOUNT_WEI_MAX),
    ],
)
def test_parse_amount_accepts(text: str, wei: int) -> None:
    assert parse_amount(text) == wei


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1.5", "has no unit"),
        ("15000", "has no unit"),
        ("-1eth", "is negative"),
        ("- 5 wei", "is negative"),
        ("0eth", "is zero"),
        ("-0.0 wei", "is zero"),
        ("0.0000000000000000001eth", "has more than 18 decimals"),
        ("1.5wei", "is a fraction of a wei"),
        (f"{AMOUNT_WEI_MAX + 1}wei", f"is more than {AMOUNT_WEI_MAX} wei"),
        ("1.5 gwei", "unknown unit 'gwei'"),
        ("1e18wei", "is not an amount"),
        ("1,5eth", "is not an amount"),
        ("0x10 wei", "is not an amount"),
        ("NaN eth", "is not an amount"),
        ("eth", "is not an amount"),
        ("", "is not an amount"),
        ("1" * 100 + "wei", "at most 80 characters"),
    ],
)
def test_parse_amount_refuses(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem) as caught:
        parse_amount(text)
    assert "e.g." in str(caught.value)  # every refusal shows an accepted amount


@pytest.mark.parametrize(
    ("wei", "text"),
    [
        (0, "0"),
        (1, "0.000000000000000001"),
        (15 * 10**17, "1.5"),
        (ETH, "1"),
        (1234 * ETH + 5, "1234.000000000000000005"),
        (AMOUNT_WEI_MAX, "340282366920938463463.374607431768211456"),
        (-5 * 10**17, "-0.5"),
    ],
)
def test_format_eth_is_exact(wei: int, text: str) -> None:
    assert format_eth(wei) == text


@given(st.integers(min_value=1, max_value=AMOUNT_WEI_MAX))
def test_format_and_parse_round_trip(wei: int) -> None:
    assert parse_amount(format_eth(wei) + "ETH") == wei
    assert parse_amount(f"{wei} wei") == wei


# ---- plans ------------------------------------------------------------------------------------


def test_a_plan_describes_the_transaction_and_sends_nothing(
    funding: FundingClient, provisioned: ProvisionedDevnet, w3: Web3
) -> None:
    sender, devnet = provisioned.sender, provisioned.devnet
    nonce, head, balance = w3.eth.get_transaction_count(sender), w3.eth.block_number, w3.eth.get_balance(sender)
    plan = funding.plan(sender, FundingAction.FUND_DEPOSIT, AMOUNT_WEI)
    tx = plan.transaction
    assert (tx.chain_id, tx.sender, tx.to, tx.function) == (42161, sender, devnet.ticket_broker, "fundDeposit")
    assert (tx.data, tx.value_wei, tx.nonce) == (SELECTORS[FundingAction.FUND_DEPOSIT], AMOUNT_WEI, nonce)
    assert tx.gas_limit == tx.gas_estimate * (100 + GAS_LIMIT_MARGIN_PERCENT) // 100 > tx.gas_estimate > 21_000
    base_fee = w3.eth.get_block("latest")["baseFeePerGas"]
    assert tx.max_priority_fee_per_gas_wei == w3.eth.max_priority_fee
    assert tx.max_fee_per_gas_wei == BASE_FEE_HEADROOM * base_fee + tx.max_priority_fee_per_gas_wei
    assert tx.max_cost_wei == AMOUNT_WEI + tx.gas_limit * tx.max_fee_per_gas_wei
    before = plan.before
    assert (before.deposit_wei, before.reserve_wei, before.withdraw_round) == (DEPOSIT_WEI, RESERVE_WEI, 0)
    assert (before.eth_balance_wei, before.current_round, before.block_number) == (balance, 1, head)
    assert plan.notes == ()
    assert nothing_sent(w3, sender, nonce, head) and w3.eth.get_balance(sender) == balance


@pytest.mark.parametrize("action", [FundingAction.FUND_RESERVE, FundingAction.UNLOCK])
def test_each_action_calls_its_function(action: FundingAction, funding: FundingClient,
                                        provisioned: ProvisionedDevnet) -> None:
    amount_wei = 1 if action.payable else 0
    assert funding.plan(provisioned.sender, action, amount_wei).transaction.data == SELECTORS[action]


def test_amounts_must_fit_the_action(funding: FundingClient, provisioned: ProvisionedDevnet) -> None:
    with pytest.raises(ValueError, match="unlock sends no ETH"):
        funding.plan(provisioned.sender, FundingAction.UNLOCK, 5)
    with pytest.raises(ValueError, match="fund_deposit needs an amount"):
        funding.plan(provisioned.sender, FundingAction.FUND_DEPOSIT, 0)
    with pytest.raises(ValueError, match="not an address"):
        funding.plan("0x1234", FundingAction.UNLOCK)


# ---- sending ----------------------------------------------------------------------------------


@pytest.mark.parametrize("action", [FundingAction.FUND_DEPOSIT, FundingAction.FUND_RESERVE])
def test_funding_moves_exactly_the_amount_and_the_gas(
    action: FundingAction, funding: FundingClient, provisioned: ProvisionedDevnet, w3: Web3, sender_key: bytes
) -> None:
    sender, amount = provisioned.sender, AMOUNT_WEI + 7
    balance = w3.eth.get_balance(sender)
    result = funding.send(funding.plan(sender, action, amount), sender_key)
    after = result.after
    receipt = w3.eth.get_transaction_receipt(result.tx_hash)
    assert receipt["status"] == 1 and receipt["blockNumber"] == result.block_number == after.block_number
    assert (result.gas_used, result.effective_gas_price_wei) == (receipt["gasUsed"], receipt["effectiveGasPrice"])
    assert result.gas_used <= result.plan.transaction.gas_limit
    funded = action is FundingAction.FUND_DEPOSIT
    assert after.deposit_wei == DEPOSIT_WEI + (amount if funded else 0)
    assert after.reserve_wei == RESERVE_WEI + (0 if funded else amount)
    assert after.eth_balance_wei == w3.eth.get_balance(sender) == balance - amount - result.gas_cost_wei
    assert result.gas_cost_wei == result.gas_used * result.effective_gas_price_wei > 0


def test_unlock_then_withdraw_once_the_unlock_period_is_over(
    funding: FundingClient, provisioned: ProvisionedDevnet, w3: Web3, sender_key: bytes
) -> None:
    sender, devnet = provisioned.sender, provisioned.devnet
    unlock = funding.plan(sender, FundingAction.UNLOCK)
    assert unlock.notes == ("from round 3 this sender's winning tickets can no longer be redeemed "
                            "and the deposit and reserve can be withdrawn",)
    assert funding.send(unlock, sender_key).after.withdraw_round == 3
    for current_round in (1, 2):
        nonce, head = w3.eth.get_transaction_count(sender), w3.eth.block_number
        with pytest.raises(FundingRefused, match=f"possible from round 3; the current round is {current_round}"):
            funding.plan(sender, FundingAction.WITHDRAW)
        assert nothing_sent(w3, sender, nonce, head)
        advance_round(w3, devnet)
    balance = w3.eth.get_balance(sender)
    plan = funding.plan(sender, FundingAction.WITHDRAW)
    assert plan.notes == (f"pays 2.5 ETH (deposit and reserve) to {sender}",)
    result = funding.send(plan, sender_key)
    assert (result.after.deposit_wei, result.after.reserve_wei, result.after.current_round) == (0, 0, 3)
    assert result.after.eth_balance_wei == balance + DEPOSIT_WEI + RESERVE_WEI - result.gas_cost_wei
    with pytest.raises(FundingRefused, match="nothing to withdraw"):
        funding.plan(sender, FundingAction.WITHDRAW)


def test_cancel_unlock_and_funding_end_an_unlock(
    funding: FundingClient, provisioned: ProvisionedDevnet, sender_key: bytes
) -> None:
    sender = provisioned.sender
    funding.send(funding.plan(sender, FundingAction.UNLOCK), sender_key)
    cancelled = funding.send(funding.plan(sender, FundingAction.CANCEL_UNLOCK), sender_key)
    assert cancelled.plan.transaction.data == SELECTORS[FundingAction.CANCEL_UNLOCK]
    assert cancelled.after.withdraw_round == 0 and cancelled.after.deposit_wei == DEPOSIT_WEI
    funding.send(funding.plan(sender, FundingAction.UNLOCK), sender_key)
    plan = funding.plan(sender, FundingAction.FUND_DEPOSIT, 1)
    assert plan.notes == ("funding cancels the unlock in progress (withdrawal from round 3)",)
    assert funding.send(plan, sender_key).after.withdraw_round == 0


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        pytest.param((), FundingAction.CANCEL_UNLOCK, "no unlock in progress for .*: nothing to cancel",
                     id="cancel-without-unlock"),
        pytest.param((), FundingAction.WITHDRAW,
                     r"no unlock in progress: unlock first; withdrawal is then possible from round 3 "
                     r"\(current round 1\)",
                     id="withdraw-without-unlock"),
        pytest.param((FundingAction.UNLOCK,), FundingAction.UNLOCK,
                     r"already in progress: withdrawal is possible from round 3 \(current round 1\)",
                     id="unlock-twice"),
    ],
)
def test_refusals_send_nothing(
    setup: tuple[FundingAction, ...], action: FundingAction, message: str, funding: FundingClient,
    provisioned: ProvisionedDevnet, w3: Web3, sender_key: bytes,
) -> None:
    sender = provisioned.sender
    for step in setup:
        funding.send(funding.plan(sender, step), sender_key)
    nonce, head = w3.eth.get_transaction_count(sender), w3.eth.block_number
    with pytest.raises(FundingRefused, match=message):
        funding.plan(sender, action)
    assert nothing_sent(w3, sender, nonce, head)


def test_funding_beyond_the_eth_balance_is_refused(
    funding: FundingClient, provisioned: ProvisionedDevnet, w3: Web3
) -> None:
    sender = provisioned.sender
    nonce, head, balance = w3.eth.get_transaction_count(sender), w3.eth.block_number, w3.eth.get_balance(sender)
    with pytest.raises(FundingRefused) as caught:
        funding.plan(sender, FundingAction.FUND_DEPOSIT, balance)  # the value fits, the gas does not
    message = str(caught.value)
    assert f"fundDeposit needs up to " in message and f"({format_eth(balance)} ETH value + " in message
    assert f"{sender} holds {format_eth(balance)} ETH ({balance} wei)" in message
    with pytest.raises(FundingRefused, match=f"exceeds the ETH balance of {sender}: {format_eth(balance)} ETH"):
        funding.plan(sender, FundingAction.FUND_RESERVE, balance + 1)
    assert nothing_sent(w3, sender, nonce, head)


def test_what_the_broker_would_revert_is_refused_by_the_estimate(
    funding: FundingClient, provisioned: ProvisionedDevnet, w3: Web3
) -> None:
    devnet = provisioned.devnet
    transact(w3, bind(w3, "Controller", devnet.controller).functions.pause(), devnet.owner)
    nonce, head = w3.eth.get_transaction_count(provisioned.sender), w3.eth.block_number
    with pytest.raises(FundingRefused, match=r"eth_estimateGas\(fundDeposit\) says .* system is paused"):
        funding.plan(provisioned.sender, FundingAction.FUND_DEPOSIT, AMOUNT_WEI)
    assert nothing_sent(w3, provisioned.sender, nonce, head)


def test_a_revert_after_planning_names_the_transaction(
    funding: FundingClient, provisioned: ProvisionedDevnet, w3: Web3, sender_key: bytes
) -> None:
    devnet, sender = provisioned.devnet, provisioned.sender
    plan = funding.plan(sender, FundingAction.FUND_DEPOSIT, AMOUNT_WEI)
    transact(w3, bind(w3, "Controller", devnet.controller).functions.pause(), devnet.owner)
    balance = w3.eth.get_balance(sender)
    with pytest.raises(FundingReverted, match="with status 0: it reverted") as caught:
        funding.send(plan, sender_key)
    receipt = w3.eth.get_transaction_receipt(caught.value.tx_hash)
    assert receipt["status"] == 0 and caught.value.tx_hash in str(caught.value)
    assert w3.eth.get_balance(sender) == balance - receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert funding.position(sender).deposit_wei == DEPOSIT_WEI


def test_no_receipt_in_time_is_unconfirmed_with_the_hash(
    provisioned: ProvisionedDevnet, w3: Web3, sender_key: bytes
) -> None:
    funding = FundingClient(provisioned.devnet.rpc_url, provisioned.devnet.controller, receipt_timeout_s=0.3)
    plan = funding.plan(provisioned.sender, FundingAction.FUND_RESERVE, AMOUNT_WEI)
    w3.manager.request_blocking(RPCEndpoint("evm_setAutomine"), [False])
    try:
        with pytest.raises(FundingUnconfirmed, match="no receipt came within 0.3 s") as caught:
            funding.send(plan, sender_key)
        assert not isinstance(caught.value, ChainUnavailable)  # a blind retry could fund twice
        mine(w3)
    finally:
        w3.manager.request_blocking(RPCEndpoint("evm_setAutomine"), [True])
    assert w3.eth.get_transaction_receipt(caught.value.tx_hash)["status"] == 1
    assert funding.position(provisioned.sender).reserve_wei == RESERVE_WEI + AMOUNT_WEI


def test_only_the_senders_key_signs(funding: FundingClient, provisioned: ProvisionedDevnet, w3: Web3) -> None:
    sender = provisioned.sender
    plan = funding.plan(sender, FundingAction.UNLOCK)
    nonce, head = w3.eth.get_transaction_count(sender), w3.eth.block_number
    other = Account.create()
    with pytest.raises(ValueError, match=f"the key is {other.address}'s, but the plan sends from {sender}"):
        funding.send(plan, bytes(other.key))
    assert nothing_sent(w3, sender, nonce, head)


# ---- credentials ------------------------------------------------------------------------------


def test_credentials_stay_out_of_errors_and_logs(
    anvil: Anvil, provisioned: ProvisionedDevnet, w3: Web3, sender_key: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    funding = FundingClient(credentialed_url(anvil), provisioned.devnet.controller)
    assert funding.redacted_url == f"http://127.0.0.1:{anvil.port}/?apikey=***"
    sender = provisioned.sender
    with caplog.at_level(logging.DEBUG):
        stale = funding.plan(sender, FundingAction.FUND_DEPOSIT, 1)
        funding.send(funding.plan(sender, FundingAction.FUND_DEPOSIT, 1), sender_key)
        nonce, head = w3.eth.get_transaction_count(sender), w3.eth.block_number
        with pytest.raises(FundingRefused, match=r"\?apikey=\*\*\* refused fundDeposit\(\) transaction 0x") as caught:
            funding.send(stale, sender_key)  # its nonce is used: the node refuses it
    assert "nothing was sent" in str(caught.value) and nothing_sent(w3, sender, nonce, head)
    for secret in CREDENTIALS:
        assert secret not in str(caught.value) and secret not in caplog.text
    assert "eth_sendRawTransaction" in caplog.text  # the library did log its requests


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens once the probe is closed


def test_an_unreachable_rpc_is_unavailable_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    port = closed_port()
    url = f"http://alice:hunter2@127.0.0.1:{port}/v3/0123456789abcdef0123456789abcdef?apikey=qwertyuiop"
    funding = FundingClient(url, "0x" + "11" * 20, timeout_s=2.0)
    with caplog.at_level(logging.DEBUG), pytest.raises(ChainUnavailable) as caught:
        funding.plan("0x" + "22" * 20, FundingAction.UNLOCK)
    message = f"{caught.value} {caught.value!r}"
    assert f"at http://127.0.0.1:{port}/v3/***?apikey=*** failed" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    for secret in (*CREDENTIALS, "0123456789abcdef0123456789abcdef"):
        assert secret not in message and secret not in caplog.text


def test_errors_are_chain_errors() -> None:
    for error in (FundingRefused, FundingReverted, FundingUnconfirmed):
        assert issubclass(error, ChainError) and not issubclass(error, ChainUnavailable)

