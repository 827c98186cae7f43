"""The compiled TicketBroker and RoundsManager ABIs match spec 04's selector and topic tables."""

from __future__ import annotations

from typing import Any

from eth_utils import event_abi_to_log_topic, function_abi_to_4byte_selector

from clearinghouse.chain.artifacts import load_artifact

# Spec 04, "TicketBroker ABI": selector → function name.
SPEC_SELECTORS = {
    "0x6caa736b": "fundDeposit",
    "0x6f9c3c8f": "fundReserve",
    "0x511f4073": "fundDepositAndReserve",
    "0x989f789c": "fundDepositAndReserveFor",
    "0xa69df4b5": "unlock",
    "0xc2c4c2c8": "cancelUnlock",
    "0x3ccfd60b": "withdraw",
    "0xec8b3cb6": "redeemWinningTicket",
    "0xd01b808e": "batchRedeemWinningTickets",
    "0xe1a589da": "getSenderInfo",
    "0x81779f38": "claimableReserve",
    "0x4ac826da": "claimedReserve",
    "0x121cdcc2": "isUnlockInProgress",
    "0xb03fa864": "getTicketHash",
    "0x59a515ba": "usedTickets",
    "0x20d3a0b4": "unlockPeriod",
    "0x856a2cf8": "ticketValidityPeriod",
}

# Spec 04, "Events (topic0)".
SPEC_BROKER_TOPICS = {
    "DepositFunded": "0x5159e237d952190e68d5215430f305831be7c9c8776d1377c76679ae4773413f",
    "ReserveFunded": "0xb52b99b9e83551fcbd069b559cc3e823e2a1a3bad8ece46561ea77524394c850",
    "ReserveClaimed": "0x5c2b394723f408a40a60335e24b71829642e35f350cebe2036a96a66e895ea98",
    "WinningTicketRedeemed": "0xc389eb51ed006dbf2528507f010efdf5225ea596e1e1741d74f550dab1925ee7",
    "WinningTicketTransfer": "0x8b87351a208c06e3ceee59d80725fd77a23b4129e1b51ca231fc89b40712649c",
    "Unlock": "0xf7870c5b224cbc19873599e46ccfc7103934650509b1af0c3ce90138377c2004",
    "UnlockCancelled": "0xfa044b7b93a40365dc68049797c2eb06918523d694e5d56e406cac3eb35578e5",
    "Withdrawal": "0xdf273cb619d95419a9cd0ec88123a0538c85064229baa6363788f743fff90deb",
}
SPEC_NEW_ROUND_TOPIC = "0x22f2fc17c5daf07db2379b3a03a8ef20a183f761097a58fce219c8a14619e786"


def _items(name: str, kind: str) -> list[dict[str, Any]]:
    return [item for item in load_artifact(name).abi if item["type"] == kind]


def test_every_spec_selector_is_the_compiled_function_of_that_name() -> None:
    compiled = {
        "0x" + function_abi_to_4byte_selector(item).hex(): item["name"] for item in _items("TicketBroker", "function")
    }
    for selector, name in SPEC_SELECTORS.items():
        assert compiled.get(selector) == name, f"{name}: spec selector {selector} not compiled"


def test_every_spec_event_topic_is_compiled() -> None:
    compiled = {item["name"]: "0x" + event_abi_to_log_topic(item).hex() for item in _items("TicketBroker", "event")}
    for name, topic in SPEC_BROKER_TOPICS.items():
        assert compiled.get(name) == topic, f"{name}: compiled topic {compiled.get(name)}, spec {topic}"
    (new_round,) = [item for item in _items("RoundsManager", "event") if item["name"] == "NewRound"]
    assert "0x" + event_abi_to_log_topic(new_round).hex() == SPEC_NEW_ROUND_TOPIC


def test_get_sender_info_returns_the_spec_shape() -> None:
    (function,) = [item for item in _items("TicketBroker", "function") if item["name"] == "getSenderInfo"]
    shapes = [[component["name"] for component in output["components"]] for output in function["outputs"]]
    assert shapes == [["deposit", "withdrawRound"], ["fundsRemaining", "claimedInCurrentRound"]]


def test_broker_accepts_no_plain_ether() -> None:
    kinds = {item["type"] for item in load_artifact("TicketBroker").abi}
    assert "receive" not in kinds and "fallback" not in kinds
