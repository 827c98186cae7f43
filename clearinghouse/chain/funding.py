"""Fund, unlock and withdraw the sender's TicketBroker deposit and reserve (spec 04).

A funding transaction is planned, shown to the operator, and only then signed and sent:

- ``parse_amount`` and ``format_eth`` turn what an operator types into wei and back, exactly.
- ``FundingClient.plan(sender, action, amount_wei)`` reads the sender's position at one block,
  refuses what the TicketBroker would refuse and what the sender's ETH cannot pay for, and
  builds the EIP-1559 transaction: nonce, gas limit from eth_estimateGas plus a margin, fees
  from the node. Nothing is signed or sent.
- ``FundingClient.send(plan, private_key)`` signs the planned transaction in this process (the
  key never leaves it and is never logged), sends it, waits for its receipt and reads the
  position at the receipt's block.

What funding can fail with, beyond the reads' ChainUnavailable and ContractMismatch:

    ChainError                      (clearinghouse.chain.errors)
    ├── FundingRefused              nothing was sent: a TicketBroker rule, the sender's ETH, or
    │                               the node refused the transaction
    ├── FundingReverted             mined with status 0: the gas is spent, nothing else changed
    └── FundingUnconfirmed          sent, or possibly sent, but no receipt came in time

FundingUnconfirmed is not a ChainUnavailable on purpose: retrying the send could fund twice,
so the transaction must be looked up by its hash first. Every message quotes the RPC URL only
in redacted form, and library errors only scrubbed of its credentials (see redact.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any, cast

from eth_account import Account
from eth_typing import ChecksumAddress, HexStr
from web3 import Web3
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, TimeExhausted, Web3Exception, Web3RPCError
from web3.types import Nonce, TxParams, TxReceipt, Wei

from clearinghouse.chain.artifacts import bind
from clearinghouse.chain.client import Address, ChainClient, checksum_address
from clearinghouse.chain.limits import RPC_REQUEST_TIMEOUT_S
from clearinghouse.chain.errors import ChainError, ChainUnavailable, ContractMismatch
from clearinghouse.chain.redact import RpcSecrets, hide_in_library_logs, redact_rpc_url
from clearinghouse.chain.limits import AMOUNT_TEXT_CHARS_MAX, AMOUNT_WEI_MAX, RECEIPT_TIMEOUT_S

WEI_PER_ETH = 10**18
ETH_DECIMALS = 18


AMOUNT_EXAMPLES = "1.5ETH, 0.25 eth, 0.001 ether or 15000wei"

GAS_LIMIT_MARGIN_PERCENT = 25
"""Added to eth_estimateGas's answer. On Arbitrum the gas limit also pays for posting the
transaction to L1 at the L1 price of the moment, which can rise between the estimate and
inclusion; 25 % covers ordinary moves, and unused gas is not charged."""

BASE_FEE_HEADROOM = 2
"""maxFeePerGas = BASE_FEE_HEADROOM × the latest base fee + the priority fee: the transaction
stays includable while the base fee doubles (six full blocks in a row on Ethereum), and only
the actual base fee is charged."""


class FundingRefused(ChainError):
    """Nothing was sent: the transaction would fail or could not be paid for (reason in the message)."""


class FundingReverted(ChainError):
    """The transaction was mined with status 0: its gas was spent and nothing else changed."""

    def __init__(self, message: str, tx_hash: HexStr) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class FundingUnconfirmed(ChainError):
    """The transaction was (or may have been) sent but no receipt came: look ``tx_hash`` up
    before sending anything again, or the same funds may move twice."""

    def __init__(self, message: str, tx_hash: HexStr) -> None:
        super().__init__(message)
        self.tx_hash = tx_hash


class FundingAction(StrEnum):
    """What a funding transaction does; each is one TicketBroker function without arguments."""

    FUND_DEPOSIT = "fund_deposit"
    FUND_RESERVE = "fund_reserve"
    UNLOCK = "unlock"
    CANCEL_UNLOCK = "cancel_unlock"
    WITHDRAW = "withdraw"

    @property
    def function(self) -> str:
        """The TicketBroker function this action calls."""
        return _FUNCTIONS[self]

    @property
    def payable(self) -> bool:
        """Whether the action sends ETH (an amount) along."""
        return self in (FundingAction.FUND_DEPOSIT, FundingAction.FUND_RESERVE)


_FUNCTIONS = {
    FundingAction.FUND_DEPOSIT: "fundDeposit",
    FundingAction.FUND_RESERVE: "fundReserve",
    FundingAction.UNLOCK: "unlock",
    FundingAction.CANCEL_UNLOCK: "cancelUnlock",
    FundingAction.WITHDRAW: "withdraw",
}


# ---- amounts ----------------------------------------------------------------------------------

_AMOUNT = re.compile(r"(?P<sign>[-+]?)\s*(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(?P<unit>[a-z]*)", re.IGNORECASE)
_UNITS_WEI = {"eth": WEI_PER_ETH, "ether": WEI_PER_ETH, "wei": 1}


def parse_amount(text: str) -> int:
    """An amount typed by an operator, in wei: a decimal number and a unit, ETH (or ether) or
    wei, in any case, with or without a space. Exact: no float is involved.

    Raises ValueError, saying what is wrong and showing accepted examples, for text longer than
    AMOUNT_TEXT_CHARS_MAX, a number without a unit or with another unit, a negative or zero
    amount, more than 18 decimals of ETH, a fraction of a wei, or more than AMOUNT_WEI_MAX wei.
    """
    if len(text) > AMOUNT_TEXT_CHARS_MAX:
        raise ValueError(f"an amount is at most {AMOUNT_TEXT_CHARS_MAX} characters; write e.g. {AMOUNT_EXAMPLES}")
    match = _AMOUNT.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an amount; write e.g. {AMOUNT_EXAMPLES}")
    number, unit = match["number"], match["unit"].lower()
    if not unit:
        raise ValueError(f"{text!r} has no unit; write e.g. {AMOUNT_EXAMPLES}")
    if unit not in _UNITS_WEI:
        raise ValueError(f"{text!r}: unknown unit {match['unit']!r}, use ETH or wei; e.g. {AMOUNT_EXAMPLES}")
    if match["sign"] == "-" and Decimal(number) != 0:
        raise ValueError(f"{text!r} is negative; amounts are positive, e.g. {AMOUNT_EXAMPLES}")
    amount = Fraction(Decimal(number)) * _UNITS_WEI[unit]
    if amount.denominator != 1:
        if unit == "wei":
            raise ValueError(f"{text!r} is a fraction of a wei; wei amounts are whole numbers, e.g. 15000wei")
        raise ValueError(f"{text!r} has more than {ETH_DECIMALS} decimals; 1 wei is 0.{'0' * 17}1 ETH, e.g. 1.5ETH")
    if amount == 0:
        raise ValueError(f"{text!r} is zero; amounts are positive, e.g. {AMOUNT_EXAMPLES}")
    if amount > AMOUNT_WEI_MAX:
        raise ValueError(f"{text!r} is more than {AMOUNT_WEI_MAX} wei; e.g. {AMOUNT_EXAMPLES}")
    return int(amount)


def format_eth(amount_wei: int) -> str:
    """``amount_wei`` as an exact decimal number of ETH without trailing zeros:
    1500000000000000000 → "1.5", 1 → "0.000000000000000001", 0 → "0"."""
    sign = "-" if amount_wei < 0 else ""
    whole, fraction = divmod(abs(amount_wei), WEI_PER_ETH)
    if fraction == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{ETH_DECIMALS}d}".rstrip("0")


# ---- plans and results ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Position:
    """The sender's TicketBroker position and gas money, all read at ``block_number``.

    ``withdraw_round`` is 0 when no unlock is in progress; it stays set after a withdrawal, as
    on mainnet, until the sender funds again.
    """

    sender: ChecksumAddress
    ticket_broker: ChecksumAddress
    block_number: int
    current_round: int
    unlock_period_rounds: int
    deposit_wei: int
    reserve_wei: int
    withdraw_round: int
    eth_balance_wei: int

    @property
    def unlock_in_progress(self) -> bool:
        """The TicketBroker's isUnlockInProgress: an unlock was started and not cancelled."""
        return self.withdraw_round > 0


@dataclass(frozen=True, slots=True)
class FundingTransaction:
    """One EIP-1559 call of the TicketBroker, ready to sign: nothing in it is secret."""

    chain_id: int
    sender: ChecksumAddress
    to: ChecksumAddress
    function: str
    data: HexStr
    value_wei: int
    nonce: int
    gas_estimate: int
    gas_limit: int
    max_fee_per_gas_wei: int
    max_priority_fee_per_gas_wei: int

    @property
    def max_gas_cost_wei(self) -> int:
        """The most the gas can cost: every unit of the limit at the maximum fee."""
        return self.gas_limit * self.max_fee_per_gas_wei

    @property
    def max_cost_wei(self) -> int:
        """The most the transaction can take from the sender's ETH: value and gas."""
        return self.value_wei + self.max_gas_cost_wei


@dataclass(frozen=True, slots=True)
class FundingPlan:
    """A funding transaction and the position it starts from; ``notes`` tell the operator what
    else it does (funding cancels an unlock, an unlock stops redemptions later)."""

    action: FundingAction
    transaction: FundingTransaction
    before: Position
    notes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FundingResult:
    """A mined, successful funding transaction and the position right after it."""

    plan: FundingPlan
    tx_hash: HexStr
    block_number: int
    gas_used: int
    effective_gas_price_wei: int
    after: Position

    @property
    def gas_cost_wei(self) -> int:
        """What the gas cost the sender: gas used × the effective price."""
        return self.gas_used * self.effective_gas_price_wei


# ---- the client -------------------------------------------------------------------------------


class FundingClient:
    """Plans and sends funding transactions of the TicketBroker behind one Controller.

    Every method raises ChainUnavailable when the RPC does not answer usefully and
    ContractMismatch when the contracts do not answer our ABI; ``plan`` and ``send`` document
    their own refusals. Sender addresses that are not 20-byte addresses raise ValueError.
    """

    def __init__(
        self,
        rpc_url: str,
        controller: Address,
        *,
        timeout_s: float = RPC_REQUEST_TIMEOUT_S,
        receipt_timeout_s: float = RECEIPT_TIMEOUT_S,
    ) -> None:
        """No I/O here. Raises ValueError for a non-positive timeout or a ``controller`` that is
        not an address."""
        if receipt_timeout_s <= 0:
            raise ValueError(f"receipt_timeout_s must be > 0, got {receipt_timeout_s}")
        self._client = ChainClient(rpc_url, controller, timeout_s=timeout_s)
        self.redacted_url = redact_rpc_url(rpc_url)
        self._secrets = RpcSecrets(rpc_url)
        hide_in_library_logs(rpc_url)
        # No web3-level retries, as in ChainClient: a send must never be repeated behind our back.
        provider = Web3.HTTPProvider(
            rpc_url, request_kwargs={"timeout": timeout_s}, exception_retry_configuration=None
        )
        self._w3 = Web3(provider)
        self._receipt_timeout_s = receipt_timeout_s

    def position(self, sender: Address) -> Position:
        """``sender``'s deposit, reserve, unlock state and ETH balance at the latest block."""
        account = checksum_address(sender)
        number, _ = self._head()
        return self._position(account, number)

    def plan(self, sender: Address, action: FundingAction, amount_wei: int = 0) -> FundingPlan:
        """The transaction that does ``action`` for ``sender``, checked against its position.

        ``amount_wei`` is what a payable action sends along and must be 0 for the others
        (ValueError otherwise). Raises FundingRefused, before anything is signed, when the
        TicketBroker would refuse the call (an unlock already in progress or nothing to unlock;
        no unlock to cancel; a withdrawal with no unlock, before its round, or of nothing; any
        revert eth_estimateGas reports) or when the value plus the most the gas can cost exceeds
        the sender's ETH balance.
        """
        account = checksum_address(sender)
        _check_amount(action, amount_wei)
        number, base_fee_wei = self._head()
        before = self._position(account, number)
        _refuse_what_the_broker_would(action, before)
        if amount_wei > before.eth_balance_wei:  # eth_estimateGas would fail less clearly
            raise FundingRefused(
                f"{action.function} of {format_eth(amount_wei)} ETH exceeds the ETH balance of {account}: "
                f"{format_eth(before.eth_balance_wei)} ETH ({before.eth_balance_wei} wei)"
            )
        transaction = self._transaction(before, action, amount_wei, base_fee_wei)
        if transaction.max_cost_wei > before.eth_balance_wei:
            raise FundingRefused(
                f"{action.function} needs up to {format_eth(transaction.max_cost_wei)} ETH "
                f"({format_eth(amount_wei)} ETH value + {format_eth(transaction.max_gas_cost_wei)} ETH gas at most), "
                f"but {account} holds {format_eth(before.eth_balance_wei)} ETH ({before.eth_balance_wei} wei)"
            )
        return FundingPlan(action=action, transaction=transaction, before=before, notes=_notes(action, before))

    def send(self, plan: FundingPlan, private_key: bytes) -> FundingResult:
        """Sign ``plan``'s transaction with ``private_key``, send it and wait for its receipt.

        Raises ValueError when the key is not the plan's sender's; FundingRefused when the node
        refuses the transaction (e.g. a stale nonce: nothing was sent); FundingUnconfirmed when
        sending failed in transit or no receipt came within the receipt timeout; FundingReverted
        when it was mined with status 0; ChainUnavailable (naming the transaction) when it
        succeeded but the position after it could not be read.
        """
        tx = plan.transaction
        account = Account.from_key(private_key)
        if account.address != tx.sender:
            raise ValueError(f"the key is {account.address}'s, but the plan sends from {tx.sender}")
        # eth-account types the transaction as a plain dict.
        signed = account.sign_transaction(cast(dict[str, Any], _unsigned(tx)))
        tx_hash = HexStr("0x" + bytes(signed.hash).hex())
        what = f"{tx.function}() transaction {tx_hash}"
        self._broadcast(bytes(signed.raw_transaction), tx_hash, what)
        receipt = self._receipt(tx_hash, what)
        if receipt["status"] != 1:
            raise FundingReverted(
                f"{what} was mined in block {receipt['blockNumber']} with status {receipt['status']}: "
                f"it reverted, its gas ({receipt['gasUsed']}) was paid and nothing else changed",
                tx_hash,
            )
        try:
            after = self._position(tx.sender, receipt["blockNumber"])
        except ChainError as exc:
            raise ChainUnavailable(
                f"{what} succeeded in block {receipt['blockNumber']}, but reading the position after it failed: {exc}"
            ) from None
        return FundingResult(
            plan=plan,
            tx_hash=tx_hash,
            block_number=receipt["blockNumber"],
            gas_used=receipt["gasUsed"],
            effective_gas_price_wei=receipt["effectiveGasPrice"],
            after=after,
        )

    # ---- plumbing -----------------------------------------------------------------------------

    def _position(self, sender: ChecksumAddress, block: int) -> Position:
        client = self._client
        info = client.sender_info(sender, block=block)
        return Position(
            sender=sender,
            ticket_broker=client.contract_addresses().ticket_broker,
            block_number=block,
            current_round=client.current_round(block=block),
            unlock_period_rounds=client.unlock_period(block=block),
            deposit_wei=info.deposit_wei,
            reserve_wei=info.reserve_wei,
            withdraw_round=info.withdraw_round,
            eth_balance_wei=client.eth_balance(sender, block=block),
        )

    def _head(self) -> tuple[int, int]:
        """(number, base fee per gas in wei) of the latest block."""
        with self._calling("eth_getBlockByNumber(latest)"):
            header = self._w3.eth.get_block("latest")
        number, base_fee = header.get("number"), header.get("baseFeePerGas")
        if not isinstance(number, int):
            raise ChainUnavailable(f"latest block from {self.redacted_url} has no number")
        if not isinstance(base_fee, int):
            raise ContractMismatch(
                f"latest block {number} from {self.redacted_url} has no baseFeePerGas: not an EIP-1559 chain"
            )
        return number, base_fee

    def _transaction(
        self, before: Position, action: FundingAction, amount_wei: int, base_fee_wei: int
    ) -> FundingTransaction:
        broker = bind(self._w3, "TicketBroker", before.ticket_broker)
        data = HexStr(broker.encode_abi(action.function))
        call = TxParams({"from": before.sender, "to": before.ticket_broker, "data": data, "value": Wei(amount_wei)})
        with self._calling(f"eth_estimateGas({action.function})"):
            estimate = self._w3.eth.estimate_gas(call)
        with self._calling("eth_maxPriorityFeePerGas"):
            priority_fee = int(self._w3.eth.max_priority_fee)
        with self._calling("eth_getTransactionCount(pending)"):
            nonce = self._w3.eth.get_transaction_count(before.sender, "pending")
        with self._calling("eth_chainId"):
            chain_id = self._w3.eth.chain_id
        return FundingTransaction(
            chain_id=chain_id,
            sender=before.sender,
            to=before.ticket_broker,
            function=action.function,
            data=data,
            value_wei=amount_wei,
            nonce=nonce,
            gas_estimate=estimate,
            gas_limit=estimate + estimate * GAS_LIMIT_MARGIN_PERCENT // 100,
            max_fee_per_gas_wei=BASE_FEE_HEADROOM * base_fee_wei + priority_fee,
            max_priority_fee_per_gas_wei=priority_fee,
        )

    def _broadcast(self, raw_transaction: bytes, tx_hash: HexStr, what: str) -> None:
        try:
            self._w3.eth.send_raw_transaction(raw_transaction)
        except Web3RPCError as exc:  # the node answered with an error: it did not take the transaction
            raise FundingRefused(f"{self.redacted_url} refused {what}: {self._secrets.error_detail(exc)}; nothing was sent") from None
        except (Web3Exception, OSError, ValueError) as exc:
            raise FundingUnconfirmed(
                f"sending {what} to {self.redacted_url} failed: {self._secrets.error_detail(exc)}; it may have reached the node, "
                "so look it up before sending again",
                tx_hash,
            ) from None

    def _receipt(self, tx_hash: HexStr, what: str) -> TxReceipt:
        try:
            return self._w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._receipt_timeout_s)
        except TimeExhausted:
            raise FundingUnconfirmed(
                f"{what} was sent, but no receipt came within {self._receipt_timeout_s:g} s; it may still be "
                "mined, so look it up before sending again",
                tx_hash,
            ) from None
        except (Web3Exception, OSError, ValueError) as exc:
            raise FundingUnconfirmed(
                f"{what} was sent, but waiting for its receipt at {self.redacted_url} failed: {self._secrets.error_detail(exc)}; "
                "look it up before sending again",
                tx_hash,
            ) from None

    @contextmanager
    def _calling(self, what: str) -> Iterator[None]:
        """Translate the errors of one RPC call into ChainError, with credentials scrubbed."""
        try:
            yield
        except ContractLogicError as exc:  # only eth_estimateGas executes our calls
            reason = self._secrets.scrub(str(exc.message))
            raise FundingRefused(f"{what} says the transaction would fail: {reason}; nothing was sent") from None
        except BadFunctionCallOutput as exc:
            raise ContractMismatch(f"{what} at {self.redacted_url}: {self._secrets.error_detail(exc)}") from None
        except (Web3Exception, OSError, ValueError) as exc:
            # OSError covers requests' errors; ValueError web3's for malformed replies (client.py).
            raise ChainUnavailable(f"{what} at {self.redacted_url} failed: {self._secrets.error_detail(exc)}") from None


def _check_amount(action: FundingAction, amount_wei: int) -> None:
    if action.payable and not 0 < amount_wei <= AMOUNT_WEI_MAX:
        raise ValueError(f"{action.value} needs an amount in (0, {AMOUNT_WEI_MAX}] wei, got {amount_wei}")
    if not action.payable and amount_wei != 0:
        raise ValueError(f"{action.value} sends no ETH, got an amount of {amount_wei} wei")


def _refuse_what_the_broker_would(action: FundingAction, before: Position) -> None:
    """Raise FundingRefused for what the TicketBroker would revert, checked in its own order."""
    funds_wei = before.deposit_wei + before.reserve_wei
    current, withdraw_round = before.current_round, before.withdraw_round
    if action is FundingAction.UNLOCK:
        if funds_wei == 0:
            raise FundingRefused(f"nothing to unlock: the deposit and reserve of {before.sender} are both 0")
        if before.unlock_in_progress:
            raise FundingRefused(
                f"an unlock is already in progress: withdrawal is possible from round {withdraw_round} "
                f"(current round {current}); cancel it or withdraw then"
            )
    elif action is FundingAction.CANCEL_UNLOCK:
        if not before.unlock_in_progress:
            raise FundingRefused(f"no unlock in progress for {before.sender}: nothing to cancel")
    elif action is FundingAction.WITHDRAW:
        if funds_wei == 0:
            raise FundingRefused(f"nothing to withdraw: the deposit and reserve of {before.sender} are both 0")
        if not before.unlock_in_progress:
            raise FundingRefused(
                f"no unlock in progress: unlock first; withdrawal is then possible from round "
                f"{current + before.unlock_period_rounds} (current round {current})"
            )
        if current < withdraw_round:
            raise FundingRefused(
                f"withdrawal is possible from round {withdraw_round}; the current round is {current}"
            )


def _notes(action: FundingAction, before: Position) -> tuple[str, ...]:
    if action.payable and before.unlock_in_progress:
        return (f"funding cancels the unlock in progress (withdrawal from round {before.withdraw_round})",)
    if action is FundingAction.UNLOCK:
        round_ = before.current_round + before.unlock_period_rounds
        return (
            f"from round {round_} this sender's winning tickets can no longer be redeemed "
            "and the deposit and reserve can be withdrawn",
        )
    if action is FundingAction.WITHDRAW:
        return (f"pays {format_eth(before.deposit_wei + before.reserve_wei)} ETH (deposit and reserve) "
                f"to {before.sender}",)
    return ()


def _unsigned(tx: FundingTransaction) -> TxParams:
    return TxParams({
        "type": 2,
        "chainId": tx.chain_id,
        "nonce": Nonce(tx.nonce),
        "from": tx.sender,
        "to": tx.to,
        "value": Wei(tx.value_wei),
        "data": tx.data,
        "gas": tx.gas_limit,
        "maxFeePerGas": Wei(tx.max_fee_per_gas_wei),
        "maxPriorityFeePerGas": Wei(tx.max_priority_fee_per_gas_wei),
    })
