"""redeemWinningTicket's checks, in spec 04's order.

Each case breaks one check and, where they can coexist, every check after it too; the
revert reason must be the broken check's own. So a contract that checked in another order
would report a later reason and fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from eth_account import Account

from tests.contracts.broker_chain import (
    ETHER,
    OTHER_KEY,
    RECIPIENT_RAND,
    SENDER,
    BrokerChain,
    Redemption,
)

ZERO_ADDRESS = "0x" + "00" * 20
SECP256K1_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
OTHER = Account.from_key(OTHER_KEY).address  # has ETH, but never funds the broker


def _short_sig(redemption: Redemption) -> Redemption:
    return replace(redemption, sig=redemption.sig[:64])


def _wrong_rand(redemption: Redemption) -> Redemption:
    return replace(redemption, recipient_rand=RECIPIENT_RAND + 1)


def _unusable(chain: BrokerChain, **fields: object) -> Redemption:
    """A ticket that also fails everything from the recipientRand check on (unfunded sender)."""
    return _short_sig(_wrong_rand(chain.ticket(ETHER, key=OTHER_KEY, win_prob=0, **fields)))  # type: ignore[arg-type]


def _unlocked_and_empty(chain: BrokerChain) -> None:
    """SENDER: funded, unlocked with a zero unlock period, withdrawn: unlocked with nothing left."""
    chain.fund(ETHER, ETHER)
    chain.as_owner(chain.broker.functions.setUnlockPeriod(0))
    chain.as_key(chain.broker.functions.unlock())
    chain.as_key(chain.broker.functions.withdraw())


def _paused(chain: BrokerChain) -> Redemption:
    redemption = _unusable(chain, recipient=ZERO_ADDRESS, sender=ZERO_ADDRESS, aux=bytes(32))
    chain.as_owner(chain.controller.functions.pause())
    chain.enter_uninitialized_round()
    return redemption


def _round_not_initialized(chain: BrokerChain) -> Redemption:
    chain.enter_uninitialized_round()
    return _unusable(chain, recipient=ZERO_ADDRESS, sender=ZERO_ADDRESS, aux=bytes(32))


def _null_recipient(chain: BrokerChain) -> Redemption:
    return _unusable(chain, recipient=ZERO_ADDRESS, sender=ZERO_ADDRESS, aux=bytes(32))


def _null_sender(chain: BrokerChain) -> Redemption:
    return _unusable(chain, sender=ZERO_ADDRESS, aux=bytes(32))


def _short_aux(chain: BrokerChain) -> Redemption:
    return _unusable(chain, aux=bytes(63))


def _round_without_block_hash(chain: BrokerChain) -> Redemption:
    return _unusable(chain, creation_round=chain.current_round() + 5, block_hash=b"\x01" * 32)


def _wrong_block_hash(chain: BrokerChain) -> Redemption:
    created = chain.current_round()
    chain.advance_round()
    chain.advance_round()  # also expired: validity period is 2 rounds
    return _unusable(chain, creation_round=created, block_hash=b"\x01" * 32)


def _expired(chain: BrokerChain) -> Redemption:
    created = chain.current_round()
    chain.advance_round()
    chain.advance_round()
    return _unusable(chain, creation_round=created)


def _wrong_recipient_rand(chain: BrokerChain) -> Redemption:
    return _unusable(chain)


def _used(chain: BrokerChain) -> Redemption:
    chain.fund(ETHER, 0)
    redemption = chain.ticket(ETHER // 10)
    chain.redeem(redemption)
    _unlocked_and_empty(chain)
    return _short_sig(redemption)


def _sig_length(chain: BrokerChain) -> Redemption:
    return _short_sig(chain.ticket(ETHER, key=OTHER_KEY, win_prob=0))


def _sig_high_s(chain: BrokerChain) -> Redemption:
    redemption = chain.ticket(ETHER, key=OTHER_KEY, win_prob=0)
    sig = redemption.sig
    high_s = SECP256K1_ORDER - int.from_bytes(sig[32:64], "big")
    # (r, n - s) with the other parity is the same signature's malleable twin.
    twin = sig[:32] + high_s.to_bytes(32, "big") + bytes([55 - sig[64]])
    return replace(redemption, sig=twin)


def _sig_v(chain: BrokerChain) -> Redemption:
    redemption = chain.ticket(ETHER, key=OTHER_KEY, win_prob=0)
    return replace(redemption, sig=redemption.sig[:64] + bytes([redemption.sig[64] - 27]))


def _wrong_signer(chain: BrokerChain) -> Redemption:
    return chain.ticket(ETHER, sender=SENDER, key=OTHER_KEY, win_prob=0)


def _lost(chain: BrokerChain) -> Redemption:
    return chain.ticket(ETHER, key=OTHER_KEY, win_prob=0)


def _sender_unlocked(chain: BrokerChain) -> Redemption:
    _unlocked_and_empty(chain)
    return chain.ticket(ETHER)


def _sender_unfunded(chain: BrokerChain) -> Redemption:
    return chain.ticket(ETHER, key=OTHER_KEY)


CASES: list[tuple[str, Callable[[BrokerChain], Redemption]]] = [
    ("system is paused", _paused),
    ("current round is not initialized", _round_not_initialized),
    ("ticket recipient is null address", _null_recipient),
    ("ticket sender is null address", _null_sender),
    ("invalid length for ticket auxData: must be 64 bytes", _short_aux),
    ("ticket creationRound does not have a block hash", _round_without_block_hash),
    ("ticket creationRoundBlockHash invalid for creationRound", _wrong_block_hash),
    ("ticket is expired", _expired),
    ("recipientRand does not match recipientRandHash", _wrong_recipient_rand),
    ("ticket is used", _used),
    ("invalid signature length: must be 65 bytes", _sig_length),
    ("invalid signature: s must be in the lower half order", _sig_high_s),
    ("invalid signature: v must be 27 or 28", _sig_v),
    ("invalid signature over ticket hash", _wrong_signer),
    ("ticket did not win", _lost),
    ("sender is unlocked", _sender_unlocked),
    ("sender deposit and reserve are zero", _sender_unfunded),
]


@pytest.mark.parametrize(("reason", "make"), CASES, ids=[make.__name__.strip("_") for _, make in CASES])
def test_each_check_reverts_with_its_reason_before_later_checks(
    chain: BrokerChain, reason: str, make: Callable[[BrokerChain], Redemption]
) -> None:
    redemption = make(chain)
    assert chain.revert_reason(chain.broker.functions.redeemWinningTicket(*redemption.args())) == reason


def test_a_ticket_still_valid_in_its_last_round_redeems(chain: BrokerChain) -> None:
    chain.fund(ETHER, 0)
    redemption = chain.ticket(ETHER // 10)
    chain.advance_round()  # creationRound + ticketValidityPeriod (2) > current: still valid
    chain.redeem(redemption)
    assert chain.balance(redemption.ticket[0]) == ETHER // 10


def test_a_signature_that_recovers_to_nobody_is_refused(chain: BrokerChain) -> None:
    chain.fund(ETHER, 0)
    redemption = chain.ticket(ETHER // 10)
    # r = 0 makes ecrecover return address 0, which must never match a sender.
    broken = replace(redemption, sig=bytes(32) + redemption.sig[32:])
    call = chain.broker.functions.redeemWinningTicket(*broken.args())
    assert chain.revert_reason(call) == "invalid signature over ticket hash"


def test_replayed_ticket_is_refused_and_pays_once(chain: BrokerChain) -> None:
    chain.fund(ETHER, 0)
    redemption = chain.ticket(ETHER // 4)
    chain.redeem(redemption)
    assert chain.broker.functions.usedTickets(redemption.hash).call() is True
    call = chain.broker.functions.redeemWinningTicket(*redemption.args())
    assert chain.revert_reason(call) == "ticket is used"
    assert chain.balance(redemption.ticket[0]) == ETHER // 4
    assert chain.sender_info()[0] == ETHER - ETHER // 4
