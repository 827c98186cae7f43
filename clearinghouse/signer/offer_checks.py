"""Sender-side checks of an orchestrator's offer against our own chain view and the operator's
policy: the part of the decision (decision.py) that trusts nothing the orchestrator says.

An OrchestratorInfo reaches us through a gateway, and every number in it is the orchestrator's
claim. Before a ticket is signed on it:

- **our position** must be safe (``check_chain``): deposit and reserve non-zero, no unlock due;
- **the recipient** must be an active orchestrator, when the operator asks (``check_recipient``);
- **the creation round** must be one the TicketBroker will redeem a ticket of
  (``check_round_open``, ``check_creation_round``): not after the current round, still inside
  the validity window (creationRound + ticketValidityPeriod > currentRound), and carrying the
  block hash the RoundsManager recorded for that round. A ticket that fails any of these can
  never be redeemed, yet once signed it would count as exposure: an orchestrator could pick a
  round far in the future and a face value the size of the deposit, and stop the clearinghouse
  for the price of one ticket's EV (issue #15). go-livepeer's sender signs such params without
  looking; we are stricter on purpose;
- **the economics** (``check_params``): spec 01's EV and face value rules, our caps on EV and on
  face value (by default a tenth of the deposit: signer/limits.py says why).

``ChainView`` (clearinghouse.domain.chain_view) carries what the checks need from the chain, read by the chain layer off the
signing path (chain/monitor.py reads the open rounds' block hashes once per round); with a
static view from the configuration, the only open round is the configured one. Everything here
is pure: no I/O, no clock, except the operator's optional ``recipient_check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from clearinghouse.domain.chain_view import ChainView, RecipientCheck, RecipientStatus
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.signer.goformat import float_string
from clearinghouse.signer.limits import (
    DEPOSIT_MULTIPLIER_DEFAULT,
    MAX_FACE_VALUE_DEPOSIT_DIVISOR,
    MAX_FACE_VALUE_WEI_DEFAULT,
    MAX_TICKET_EV_WEI_DEFAULT,
    MAX_TOTAL_EV_WEI_DEFAULT,
)
from clearinghouse.signer.wire import OrchestratorOffer

CREATION_ROUND_FIELD = "ticket_params.expiration_params.creation_round"
CREATION_ROUND_BLOCK_HASH_FIELD = "ticket_params.expiration_params.creation_round_block_hash"


@dataclass(frozen=True, slots=True)
class PaymentPolicy:
    """Operator settings; defaults are go-livepeer's, except the face value cap.

    ``max_price`` is wei per unit or None. ``max_face_value_wei`` caps every ticket's face value
    on top of deposit / ``deposit_multiplier``; None derives the cap from the deposit at signing
    time (deposit / MAX_FACE_VALUE_DEPOSIT_DIVISOR, see signer/limits.py). ``recipient_check`` is
    None unless the operator signs for active orchestrators only.
    """

    max_ticket_ev_wei: int = MAX_TICKET_EV_WEI_DEFAULT
    max_total_ev_wei: int = MAX_TOTAL_EV_WEI_DEFAULT
    deposit_multiplier: int = DEPOSIT_MULTIPLIER_DEFAULT
    max_price: Fraction | None = None
    max_face_value_wei: int | None = MAX_FACE_VALUE_WEI_DEFAULT
    recipient_check: RecipientCheck | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.deposit_multiplier < 1:
            raise ValueError(f"deposit_multiplier must be >= 1, got {self.deposit_multiplier}")
        if self.max_price is not None and self.max_price <= 0:
            raise ValueError(f"max_price must be > 0 or None, got {self.max_price}")
        if self.max_face_value_wei is not None and self.max_face_value_wei <= 0:
            raise ValueError(f"max_face_value_wei must be > 0 or None, got {self.max_face_value_wei}")


def check_chain(chain: ChainView) -> None:
    """Refuse to sign while our deposit or reserve is empty or about to unlock (spec 01)."""
    if chain.withdraw_round != 0 and chain.withdraw_round <= chain.current_round + 1:
        raise SigningRefused(
            Refusal.SIGNER_UNSAFE,
            f"deposit and reserve unlock at round {chain.withdraw_round}, "
            f"within one round of the current round {chain.current_round}",
        )
    if chain.reserve_wei <= 0:
        raise SigningRefused(
            Refusal.SIGNER_UNSAFE, f"no sender reserve: reserve is {chain.reserve_wei} wei"
        )
    if chain.deposit_wei <= 0:
        raise SigningRefused(
            Refusal.SIGNER_UNSAFE, f"no sender deposit: deposit is {chain.deposit_wei} wei"
        )


def check_recipient(
    offer: OrchestratorOffer, chain: ChainView, policy: PaymentPolicy
) -> RecipientStatus | None:
    """Ask the policy's recipient check (if any) about the ticket recipient in the current round.

    UNKNOWN is refused here (SIGNER_UNSAFE: the operator asked for the check, so a recipient we
    cannot confirm gets nothing); INACTIVE is returned and refused with the params checks.
    """
    if policy.recipient_check is None:
        return None
    verdict = policy.recipient_check(offer.recipient, chain.current_round)
    if verdict.status is RecipientStatus.UNKNOWN:
        raise SigningRefused(
            Refusal.SIGNER_UNSAFE,
            f"cannot confirm orchestrator 0x{offer.recipient.hex()} is active in round "
            f"{chain.current_round}: {verdict.detail or 'no answer'}; retry later",
        )
    return verdict.status


def check_round_open(offer: OrchestratorOffer, chain: ChainView) -> None:
    """Refuse (REFRESH_SESSION: fresh params carry the current round) a creation round the
    TicketBroker no longer redeems: creationRound + ticketValidityPeriod <= currentRound."""
    if offer.creation_round >= chain.first_open_round:
        return
    raise SigningRefused(
        Refusal.REFRESH_SESSION,
        f"refresh session: {CREATION_ROUND_FIELD} {offer.creation_round} is expired: creationRound + "
        f"ticketValidityPeriod ({chain.ticket_validity_period_rounds}) must be > the current round "
        f"{chain.current_round}, expected a round in {_open_rounds(chain)}",
    )


def check_creation_round(offer: OrchestratorOffer, chain: ChainView) -> None:
    """Refuse (PARAMS_REJECTED) params whose tickets the TicketBroker would never redeem: a
    creation round after the current round, or a creation-round block hash other than the one
    the RoundsManager recorded for that round (none recorded: the round is not initialized)."""
    round_ = offer.creation_round
    if round_ > chain.current_round:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"{CREATION_ROUND_FIELD} {round_} is after the current round {chain.current_round}: "
            f"such a ticket cannot be redeemed; expected a round in {_open_rounds(chain)}",
        )
    recorded = chain.block_hash_for_round(round_)
    if recorded is None:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"{CREATION_ROUND_FIELD} {round_} has no block hash recorded by the RoundsManager in this "
            f"signer's chain view (round not initialized); expected a round with one, of "
            f"{_known_rounds(chain)}",
        )
    if offer.creation_round_block_hash != recorded:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"{CREATION_ROUND_BLOCK_HASH_FIELD} 0x{offer.creation_round_block_hash.hex()} is not the "
            f"block hash the RoundsManager recorded for round {round_}: expected 0x{recorded.hex()}",
        )


def check_params(
    offer: OrchestratorOffer,
    ev: Fraction,
    chain: ChainView,
    policy: PaymentPolicy,
    recipient: RecipientStatus | None,
) -> None:
    """The creation round and block hash, then the sender-side checks of the orchestrator's
    ticket params (spec 01) and our recipient sanity rules; the spec's checks are skipped for a
    zero EV, ours are not."""
    check_creation_round(offer, chain)
    if recipient is RecipientStatus.INACTIVE:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"ticket recipient 0x{offer.recipient.hex()} is not an active orchestrator in round "
            f"{chain.current_round}; this signer signs for active orchestrators only",
        )
    _check_face_value_cap(offer, chain, policy)
    if ev == 0:
        return
    if ev >= offer.face_value_wei:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"ticket faceValue too low: faceValue {offer.face_value_wei} wei "
            f"<= EV {float_string(ev, 5)} wei",
        )
    if ev > policy.max_ticket_ev_wei:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"ticket EV {float_string(ev, 5)} wei > max ticket EV {policy.max_ticket_ev_wei} wei",
        )
    max_face_value = chain.deposit_wei // policy.deposit_multiplier
    if offer.face_value_wei > max_face_value:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"ticket faceValue {offer.face_value_wei} wei > max faceValue {max_face_value} wei "
            f"(deposit {chain.deposit_wei} / multiplier {policy.deposit_multiplier})",
        )


def max_face_value_wei(chain: ChainView, policy: PaymentPolicy) -> int:
    """Our cap on one ticket's face value: the configured one, else deposit / divisor."""
    if policy.max_face_value_wei is not None:
        return policy.max_face_value_wei
    return chain.deposit_wei // MAX_FACE_VALUE_DEPOSIT_DIVISOR


def _check_face_value_cap(offer: OrchestratorOffer, chain: ChainView, policy: PaymentPolicy) -> None:
    cap = max_face_value_wei(chain, policy)
    if offer.face_value_wei <= cap:
        return
    if policy.max_face_value_wei is not None:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"ticket faceValue {offer.face_value_wei} wei > configured max faceValue {cap} wei "
            "([policy] max_face_value_wei)",
        )
    raise SigningRefused(
        Refusal.PARAMS_REJECTED,
        f"ticket faceValue {offer.face_value_wei} wei > max faceValue {cap} wei: deposit "
        f"{chain.deposit_wei} wei / {MAX_FACE_VALUE_DEPOSIT_DIVISOR}, the default while [policy] "
        "max_face_value_wei is unset (one winning ticket may take at most that share of the deposit)",
    )


def _open_rounds(chain: ChainView) -> str:
    # Rounds are numbered from 1 (RoundsManager); a creation round of 0 is refused on decoding.
    return f"{max(1, chain.first_open_round)}..{chain.current_round}"


def _known_rounds(chain: ChainView) -> str:
    known = [str(round_) for round_, _ in chain.round_block_hashes]
    return ", ".join(known) if known else "none (no round of the open ones is initialized)"
