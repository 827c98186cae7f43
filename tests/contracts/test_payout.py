"""Winning-ticket payout: deposit first, then the recipient's share of the reserve, else nothing."""

from __future__ import annotations

from web3 import Web3

from tests.contracts.broker_chain import (
    ETHER,
    RECIPIENT,
    RECIPIENT_RAND,
    SENDER,
    BrokerChain,
    decoded_events,
)

TOPIC_WINNING_TICKET_REDEEMED = "0xc389eb51ed006dbf2528507f010efdf5225ea596e1e1741d74f550dab1925ee7"
TOPIC_WINNING_TICKET_TRANSFER = "0x8b87351a208c06e3ceee59d80725fd77a23b4129e1b51ca231fc89b40712649c"
TOPIC_RESERVE_CLAIMED = "0x5c2b394723f408a40a60335e24b71829642e35f350cebe2036a96a66e895ea98"

ORCHESTRATORS = [Web3.to_checksum_address(f"0x{index:040x}") for index in range(0xA1, 0xA4)]


def _topic0s(receipt: object) -> list[str]:
    return ["0x" + bytes(log["topics"][0]).hex() for log in receipt["logs"]]  # type: ignore[index]


def _address_topic(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def test_face_value_within_deposit_is_paid_from_deposit(chain: BrokerChain) -> None:
    chain.fund(ETHER, ETHER)
    redemption = chain.ticket(ETHER // 10, nonce=7)
    receipt = chain.redeem(redemption)
    assert chain.balance(RECIPIENT) == ETHER // 10
    assert chain.sender_info() == (ETHER - ETHER // 10, 0, ETHER, 0)
    assert _topic0s(receipt) == [TOPIC_WINNING_TICKET_TRANSFER, TOPIC_WINNING_TICKET_REDEEMED]
    transfer_log, redeemed_log = receipt["logs"]
    assert transfer_log["topics"][1:] == [_address_topic(SENDER), _address_topic(RECIPIENT)]
    assert redeemed_log["topics"][1:] == [_address_topic(SENDER), _address_topic(RECIPIENT)]
    (redeemed,) = decoded_events(chain.broker, receipt, "WinningTicketRedeemed")
    assert redeemed == {
        "sender": SENDER,
        "recipient": RECIPIENT,
        "faceValue": ETHER // 10,
        "winProb": 2**256 - 1,
        "senderNonce": 7,
        "recipientRand": RECIPIENT_RAND,
        "auxData": redemption.ticket[6],
    }
    (transfer,) = decoded_events(chain.broker, receipt, "WinningTicketTransfer")
    assert transfer == {"sender": SENDER, "recipient": RECIPIENT, "amount": ETHER // 10}


def test_active_transcoder_gets_deposit_plus_its_pool_share_of_the_reserve(chain: BrokerChain) -> None:
    chain.activate(RECIPIENT, *ORCHESTRATORS)  # pool size 4
    deposit, reserve = ETHER // 10, 2 * ETHER
    chain.fund(deposit, reserve)
    share = reserve // 4
    assert chain.broker.functions.claimableReserve(SENDER, RECIPIENT).call() == share
    receipt = chain.redeem(chain.ticket(ETHER))
    assert chain.balance(RECIPIENT) == deposit + share  # the rest of the face value is lost
    assert chain.sender_info() == (0, 0, reserve - share, share)
    assert chain.broker.functions.claimedReserve(SENDER, RECIPIENT).call() == share
    assert chain.broker.functions.claimableReserve(SENDER, RECIPIENT).call() == 0
    (claimed,) = decoded_events(chain.broker, receipt, "ReserveClaimed")
    assert claimed == {"reserveHolder": SENDER, "claimant": RECIPIENT, "amount": share}
    assert _topic0s(receipt)[0] == TOPIC_RESERVE_CLAIMED
    # Another active orchestrator's share is computed from the reserve as it stood this round.
    assert chain.broker.functions.claimableReserve(SENDER, ORCHESTRATORS[0]).call() == share


def test_reserve_claims_within_a_share_accumulate_up_to_it(chain: BrokerChain) -> None:
    chain.activate(RECIPIENT, ORCHESTRATORS[0])  # pool size 2
    chain.fund(0, ETHER)
    chain.redeem(chain.ticket(ETHER // 5, nonce=1))
    assert chain.balance(RECIPIENT) == ETHER // 5
    # (0.8 + 0.2) / 2 − 0.2 = 0.3 ETH left for this recipient this round.
    assert chain.broker.functions.claimableReserve(SENDER, RECIPIENT).call() == 3 * ETHER // 10
    chain.redeem(chain.ticket(ETHER, nonce=2))
    assert chain.balance(RECIPIENT) == ETHER // 2
    assert chain.sender_info()[2:] == (ETHER // 2, ETHER // 2)


def test_share_renews_in_the_next_round(chain: BrokerChain) -> None:
    chain.activate(RECIPIENT, ORCHESTRATORS[0])
    chain.fund(0, ETHER)
    chain.redeem(chain.ticket(ETHER, nonce=1))
    assert chain.broker.functions.claimableReserve(SENDER, RECIPIENT).call() == 0
    chain.advance_round()
    assert chain.sender_info()[2:] == (ETHER // 2, 0)
    assert chain.broker.functions.claimableReserve(SENDER, RECIPIENT).call() == ETHER // 4


def test_non_active_recipient_gets_the_deposit_only(chain: BrokerChain) -> None:
    chain.activate(*ORCHESTRATORS)
    chain.fund(ETHER // 10, ETHER)
    assert chain.broker.functions.claimableReserve(SENDER, RECIPIENT).call() == 0
    receipt = chain.redeem(chain.ticket(ETHER))
    assert chain.balance(RECIPIENT) == ETHER // 10
    assert chain.sender_info() == (0, 0, ETHER, 0)
    assert decoded_events(chain.broker, receipt, "ReserveClaimed") == []


def test_exhausted_deposit_and_share_burn_the_ticket_without_payout(chain: BrokerChain) -> None:
    chain.activate(RECIPIENT, ORCHESTRATORS[0])
    chain.fund(0, ETHER)
    chain.redeem(chain.ticket(ETHER, nonce=1))  # takes the whole share (0.5 ETH)
    burned = chain.ticket(ETHER, nonce=2)
    receipt = chain.redeem(burned)
    assert _topic0s(receipt) == [TOPIC_WINNING_TICKET_REDEEMED]
    assert chain.balance(RECIPIENT) == ETHER // 2
    assert chain.broker.functions.usedTickets(burned.hash).call() is True
    assert chain.sender_info()[2] == ETHER // 2


def test_zero_pool_gives_no_reserve_share(chain: BrokerChain) -> None:
    chain.fund(0, ETHER)
    assert chain.broker.functions.claimableReserve(SENDER, RECIPIENT).call() == 0
    receipt = chain.redeem(chain.ticket(ETHER))
    assert _topic0s(receipt) == [TOPIC_WINNING_TICKET_REDEEMED]
    assert chain.balance(RECIPIENT) == 0


def test_batch_redemption_skips_failing_tickets(chain: BrokerChain) -> None:
    chain.fund(ETHER, 0)
    good = [chain.ticket(ETHER // 10, nonce=nonce) for nonce in (1, 2)]
    lost = chain.ticket(ETHER // 10, nonce=3, win_prob=0)
    batch = [good[0], lost, good[1]]
    call = chain.broker.functions.batchRedeemWinningTickets(
        [item.ticket for item in batch], [item.sig for item in batch], [item.recipient_rand for item in batch]
    )
    receipt = chain.as_owner(call)
    assert len(decoded_events(chain.broker, receipt, "WinningTicketRedeemed")) == 2
    assert chain.balance(RECIPIENT) == 2 * ETHER // 10
    assert chain.broker.functions.usedTickets(lost.hash).call() is False


def test_batch_redemption_refuses_arrays_of_unequal_length(chain: BrokerChain) -> None:
    item = chain.ticket(ETHER // 10)
    call = chain.broker.functions.batchRedeemWinningTickets([item.ticket], [item.sig, item.sig], [item.recipient_rand])
    assert chain.revert_reason(call) == "tickets, sigs and recipientRands must have equal lengths"
