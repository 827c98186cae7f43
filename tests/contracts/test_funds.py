"""Funding, unlock, cancelUnlock and withdraw: balances, rounds and events."""

from __future__ import annotations

from typing import Any

from eth_account import Account

from tests.contracts.broker_chain import ETHER, OTHER_KEY, SENDER, BrokerChain, decoded_events

OTHER = Account.from_key(OTHER_KEY).address


def _gas_cost_wei(receipt: Any) -> int:
    return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


def test_fund_deposit_and_reserve_separately(chain: BrokerChain) -> None:
    receipt = chain.as_key(chain.broker.functions.fundDeposit(), 3 * ETHER)
    assert decoded_events(chain.broker, receipt, "DepositFunded") == [{"sender": SENDER, "amount": 3 * ETHER}]
    receipt = chain.as_key(chain.broker.functions.fundReserve(), 2 * ETHER)
    assert decoded_events(chain.broker, receipt, "ReserveFunded") == [{"reserveHolder": SENDER, "amount": 2 * ETHER}]
    assert chain.sender_info() == (3 * ETHER, 0, 2 * ETHER, 0)
    assert chain.balance(chain.devnet.ticket_broker) == 5 * ETHER


def test_fund_deposit_and_reserve_needs_value_equal_to_the_sum(chain: BrokerChain) -> None:
    call = chain.broker.functions.fundDepositAndReserve(ETHER, ETHER)
    reason = chain.revert_reason(call, sender=SENDER, value_wei=ETHER)
    assert reason == "msg.value does not equal sum of deposit amount and reserve amount"


def test_anyone_may_fund_anyone(chain: BrokerChain) -> None:
    call = chain.broker.functions.fundDepositAndReserveFor(OTHER, ETHER, 2 * ETHER)
    receipt = chain.as_key(call, 3 * ETHER)
    assert chain.sender_info(OTHER) == (ETHER, 0, 2 * ETHER, 0)
    assert chain.sender_info(SENDER) == (0, 0, 0, 0)
    assert decoded_events(chain.broker, receipt, "DepositFunded") == [{"sender": OTHER, "amount": ETHER}]


def test_withdraw_only_after_the_unlock_period(chain: BrokerChain) -> None:
    chain.fund(ETHER, 2 * ETHER)
    start = chain.current_round()
    receipt = chain.as_key(chain.broker.functions.unlock())
    assert decoded_events(chain.broker, receipt, "Unlock") == [
        {"sender": SENDER, "startRound": start, "endRound": start + 2}
    ]
    assert chain.broker.functions.isUnlockInProgress(SENDER).call() is True
    assert chain.sender_info()[1] == start + 2
    for _ in range(2):
        assert chain.revert_reason(chain.broker.functions.withdraw(), sender=SENDER) == "account is locked"
        chain.advance_round()
    before = chain.balance(SENDER)
    receipt = chain.as_key(chain.broker.functions.withdraw())
    assert chain.balance(SENDER) == before + 3 * ETHER - _gas_cost_wei(receipt)
    assert decoded_events(chain.broker, receipt, "Withdrawal") == [
        {"sender": SENDER, "deposit": ETHER, "reserve": 2 * ETHER}
    ]
    assert chain.sender_info() == (0, start + 2, 0, 0)  # withdrawRound stays, as on mainnet
    assert (
        chain.revert_reason(chain.broker.functions.withdraw(), sender=SENDER) == "sender deposit and reserve are zero"
    )


def test_unlocked_sender_tickets_no_longer_redeem_but_locked_ones_do(chain: BrokerChain) -> None:
    chain.fund(ETHER, 0)
    chain.as_key(chain.broker.functions.unlock())
    chain.advance_round()
    chain.redeem(chain.ticket(ETHER // 10, nonce=1))  # round < withdrawRound: still locked
    chain.advance_round()
    late = chain.ticket(ETHER // 10, nonce=2)
    assert chain.revert_reason(chain.broker.functions.redeemWinningTicket(*late.args())) == "sender is unlocked"


def test_unlock_needs_funds_and_only_one_at_a_time(chain: BrokerChain) -> None:
    assert chain.revert_reason(chain.broker.functions.unlock(), sender=SENDER) == "sender deposit and reserve are zero"
    chain.fund(0, ETHER)
    chain.as_key(chain.broker.functions.unlock())
    assert chain.revert_reason(chain.broker.functions.unlock(), sender=SENDER) == "unlock already initiated"


def test_cancel_unlock(chain: BrokerChain) -> None:
    reason = chain.revert_reason(chain.broker.functions.cancelUnlock(), sender=SENDER)
    assert reason == "no unlock request in progress"
    chain.fund(ETHER, 0)
    assert chain.revert_reason(chain.broker.functions.withdraw(), sender=SENDER) == "no unlock request in progress"
    chain.as_key(chain.broker.functions.unlock())
    receipt = chain.as_key(chain.broker.functions.cancelUnlock())
    assert decoded_events(chain.broker, receipt, "UnlockCancelled") == [{"sender": SENDER}]
    assert chain.broker.functions.isUnlockInProgress(SENDER).call() is False
    assert chain.sender_info()[1] == 0


def test_funding_cancels_the_own_unlock(chain: BrokerChain) -> None:
    chain.fund(ETHER, ETHER)
    for fund in (chain.broker.functions.fundDeposit(), chain.broker.functions.fundReserve()):
        chain.as_key(chain.broker.functions.unlock())
        receipt = chain.as_key(fund, ETHER)
        assert decoded_events(chain.broker, receipt, "UnlockCancelled") == [{"sender": SENDER}]
        assert chain.broker.functions.isUnlockInProgress(SENDER).call() is False
    assert chain.sender_info() == (2 * ETHER, 0, 2 * ETHER, 0)


def test_funding_someone_else_cancels_their_unlock_as_on_mainnet(chain: BrokerChain) -> None:
    chain.fund(ETHER, 0)
    chain.as_key(chain.broker.functions.unlock())
    call = chain.broker.functions.fundDepositAndReserveFor(SENDER, ETHER, 0)
    receipt = chain.as_key(call, ETHER, key=OTHER_KEY)
    assert decoded_events(chain.broker, receipt, "UnlockCancelled") == [{"sender": SENDER}]
    assert chain.sender_info() == (2 * ETHER, 0, 0, 0)


def test_funding_without_an_unlock_emits_no_cancellation(chain: BrokerChain) -> None:
    receipt = chain.as_key(chain.broker.functions.fundDeposit(), ETHER)
    assert decoded_events(chain.broker, receipt, "UnlockCancelled") == []


def test_pause_stops_funding_and_unlocking(chain: BrokerChain) -> None:
    chain.fund(ETHER, 0)
    chain.as_owner(chain.controller.functions.pause())
    for call in (chain.broker.functions.fundDeposit(), chain.broker.functions.unlock()):
        assert chain.revert_reason(call, sender=SENDER) == "system is paused"
    chain.as_owner(chain.controller.functions.unpause())
    chain.as_key(chain.broker.functions.unlock())


def test_parameters_are_owner_only_and_readable(chain: BrokerChain) -> None:
    assert chain.broker.functions.unlockPeriod().call() == 2
    assert chain.broker.functions.ticketValidityPeriod().call() == 2
    call = chain.broker.functions.setUnlockPeriod(5)
    assert chain.revert_reason(call, sender=SENDER) == "caller is not the Controller owner"
    chain.as_owner(chain.broker.functions.setTicketValidityPeriod(3))
    assert chain.broker.functions.ticketValidityPeriod().call() == 3
    zero = chain.broker.functions.setTicketValidityPeriod(0)
    assert chain.revert_reason(zero, sender=chain.owner) == "ticketValidityPeriod must be greater than 0"
