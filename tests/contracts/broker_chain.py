"""A deployed devnet as the contract tests see it: bound contracts, accounts, tickets.

Tickets are built and signed here independently of the package's ticket core: the hash from
spec 01's byte layout, the signature with eth-account's personal_sign (spec 01's reference).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from clearinghouse.chain import devnet as devnet_module
from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.devnet import Devnet, DevnetParams

TEST_PARAMS = DevnetParams(round_length_blocks=100, unlock_period_rounds=2, ticket_validity_period_rounds=2)
"""Short rounds keep advance_round cheap; one test's few dozen transactions stay inside one."""

SENDER_KEY = "0x" + "11" * 32
SENDER = Web3.to_checksum_address("0x19E7E376E7C213B7E7e7e46cc70A5dD086DAff2A")
OTHER_KEY = "0x" + "22" * 32
RECIPIENT = Web3.to_checksum_address("0x73AEd7b5dEb30222fa896f399d46cC99c7BEe57F")
"""Spec 01's worked-example recipient: holds no ETH and sends nothing, so its balance is
exactly what it was paid."""

WIN_ALWAYS = 2**256 - 1
RECIPIENT_RAND = 123456789
SENDER_FUNDS_WEI = 100 * 10**18
ETHER = 10**18


def ticket_hash(ticket: tuple[Any, ...]) -> bytes:
    """Spec 01's preimage: recipient ‖ sender ‖ faceValue ‖ winProb ‖ nonce ‖ randHash ‖ auxData."""
    recipient, sender, face_value, win_prob, nonce, rand_hash, aux_data = ticket
    preimage = (
        bytes.fromhex(recipient[2:])
        + bytes.fromhex(sender[2:])
        + face_value.to_bytes(32, "big")
        + win_prob.to_bytes(32, "big")
        + nonce.to_bytes(32, "big")
        + rand_hash
        + aux_data
    )
    return bytes(Web3.keccak(preimage))


def personal_sign(message_hash: bytes, key: str) -> bytes:
    return bytes(Account.sign_message(encode_defunct(primitive=message_hash), key).signature)


def rand_hash(recipient_rand: int) -> bytes:
    return bytes(Web3.keccak(recipient_rand.to_bytes(32, "big")))


def aux_data(creation_round: int, block_hash: bytes) -> bytes:
    return creation_round.to_bytes(32, "big") + block_hash


@dataclass(frozen=True)
class Redemption:
    """Arguments of redeemWinningTicket plus the ticket's hash."""

    ticket: tuple[Any, ...]
    sig: bytes
    recipient_rand: int
    hash: bytes = field(repr=False)

    def args(self) -> tuple[Any, ...]:
        return (self.ticket, self.sig, self.recipient_rand)


class BrokerChain:
    """A devnet with its contracts bound and the test accounts funded."""

    def __init__(self, devnet: Devnet) -> None:
        self.devnet = devnet
        self.w3 = Web3(Web3.HTTPProvider(devnet.rpc_url))
        self.owner = devnet.owner
        self.redeemer: ChecksumAddress = self.w3.eth.accounts[1]
        self.broker = bind(self.w3, "TicketBroker", devnet.ticket_broker)
        self.rounds = bind(self.w3, "RoundsManager", devnet.rounds_manager)
        self.bonding = bind(self.w3, "BondingManager", devnet.bonding_manager)
        self.controller = bind(self.w3, "Controller", devnet.controller)
        self.eth_usd = bind(self.w3, "EthUsdFeedStandIn", devnet.eth_usd_feed)
        self.sequencer = bind(self.w3, "SequencerUptimeFeedStandIn", devnet.sequencer_uptime_feed)

    def fund_keys(self) -> None:
        for key in (SENDER_KEY, OTHER_KEY):
            address = Account.from_key(key).address
            self.w3.eth.send_transaction({"from": self.owner, "to": address, "value": SENDER_FUNDS_WEI})

    # ---- transactions ------------------------------------------------------------------

    def as_owner(self, call: ContractFunction, value_wei: int = 0) -> Any:
        return devnet_module.transact(self.w3, call, self.owner, value_wei)

    def as_key(self, call: ContractFunction, value_wei: int = 0, key: str = SENDER_KEY) -> Any:
        """Sign the transaction locally with `key` (as the daemon will) and wait for it."""
        account = Account.from_key(key)
        tx = call.build_transaction(
            {
                "from": account.address,
                "value": value_wei,
                "nonce": self.w3.eth.get_transaction_count(account.address),
            }
        )
        signed = account.sign_transaction(tx)
        receipt = self.w3.eth.wait_for_transaction_receipt(self.w3.eth.send_raw_transaction(signed.raw_transaction))
        assert receipt["status"] == 1, receipt
        return receipt

    def redeem(self, redemption: Redemption) -> Any:
        return devnet_module.transact(
            self.w3, self.broker.functions.redeemWinningTicket(*redemption.args()), self.redeemer
        )

    def revert_reason(self, call: ContractFunction, sender: str | None = None, value_wei: int = 0) -> str:
        """The revert string `call` fails with; AssertionError if it succeeds."""
        try:
            call.call({"from": sender or self.redeemer, "value": value_wei})
        except ContractLogicError as exc:
            message = str(exc.message)
            prefix = "execution reverted: "
            assert message.startswith(prefix), message
            return message[len(prefix) :]
        raise AssertionError(f"{call.fn_name} did not revert")

    def fund(self, deposit_wei: int, reserve_wei: int, key: str = SENDER_KEY) -> Any:
        call = self.broker.functions.fundDepositAndReserve(deposit_wei, reserve_wei)
        return self.as_key(call, deposit_wei + reserve_wei, key)

    def activate(self, *transcoders: str) -> None:
        for transcoder in transcoders:
            self.as_owner(self.bonding.functions.setActiveTranscoder(transcoder, True))

    # ---- reads -------------------------------------------------------------------------

    def current_round(self) -> int:
        round_: int = self.rounds.functions.currentRound().call()
        return round_

    def advance_round(self) -> int:
        return devnet_module.advance_round(self.w3, self.devnet)

    def enter_uninitialized_round(self) -> int:
        return devnet_module.mine_to_next_round(self.w3, self.devnet)

    def sender_info(self, sender: str = SENDER) -> tuple[int, int, int, int]:
        """(deposit, withdrawRound, fundsRemaining, claimedInCurrentRound)."""
        (deposit, withdraw_round), (funds, claimed) = self.broker.functions.getSenderInfo(sender).call()
        return deposit, withdraw_round, funds, claimed

    def balance(self, address: str) -> int:
        return self.w3.eth.get_balance(Web3.to_checksum_address(address))

    # ---- tickets -----------------------------------------------------------------------

    def ticket(
        self,
        face_value: int,
        *,
        nonce: int = 1,
        recipient: str = RECIPIENT,
        sender: str | None = None,
        key: str = SENDER_KEY,
        win_prob: int = WIN_ALWAYS,
        recipient_rand: int = RECIPIENT_RAND,
        creation_round: int | None = None,
        block_hash: bytes | None = None,
        aux: bytes | None = None,
    ) -> Redemption:
        """A signed ticket; defaults make a valid winner created in the current round."""
        if aux is None:
            round_ = self.current_round() if creation_round is None else creation_round
            if block_hash is None:
                block_hash = bytes(self.rounds.functions.blockHashForRound(round_).call())
            aux = aux_data(round_, block_hash)
        signer = sender if sender is not None else Account.from_key(key).address
        ticket = (recipient, signer, face_value, win_prob, nonce, rand_hash(recipient_rand), aux)
        digest = ticket_hash(ticket)
        return Redemption(ticket, personal_sign(digest, key), recipient_rand, digest)


def decoded_events(contract: Contract, receipt: Any, event_name: str) -> list[dict[str, Any]]:
    """The args of every `event_name` log `contract` emitted in `receipt`."""
    event = getattr(contract.events, event_name)()
    return [dict(log["args"]) for log in event.process_receipt(receipt, errors=DISCARD)]
