"""The remote-signer payment decision (spec 02 steps 2-11) as one pure function.

``plan_payment`` takes what a call brings (the orchestrator's offer, the previous session
state or None, the request fields), our view of the chain, the operator's policy and ``now``,
and returns a ``PaymentPlan``: how many tickets to sign with which nonces, the fee, the EV and
the complete next state. It reads no clock, does no I/O and signs nothing; the caller signs
``plan.ticket_count`` tickets from ``plan.first_nonce`` (clearinghouse.pm.sign_ticket_batch),
records them, then signs ``encode_state(plan.state)``.

Checks run in the order of ``Refusal`` (errors.py), so the first failing group is reported:
bad request → signer unsafe → refresh → params rejected → price exceeded → no tickets needed
→ too many tickets → total EV exceeded → nonces exhausted. Unlike go-livepeer, which checks
deposit and params before billing and the price only after, every input check comes first,
and chain health comes before anything that depends on the orchestrator.

Recipient sanity (issue #9): every ticket's face value is capped by the configured
``max_face_value_wei`` and by deposit / deposit_multiplier, its EV by ``max_ticket_ev_wei`` and a
call's total EV by ``max_total_ev_wei``. When the operator sets ``recipient_check`` (the daemon's
"active orchestrators only"), it is asked about the ticket recipient right after chain health:
a recipient it cannot confirm is refused as SIGNER_UNSAFE (503: fail closed, retry later), one
it says is not active as PARAMS_REJECTED. That callable is the one thing here that may do I/O
(chain/orchestrators.py caches per round and bounds its wait); everything else stays pure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from fractions import Fraction

from clearinghouse.pm.ev import ticket_ev
from clearinghouse.signer.billing import (
    BillingType,
    MaxPrice,
    PriceCeiling,
    billable_units,
    check_price,
    fee_wei,
    parse_billing_type,
    parse_max_price,
    tickets_needed,
)
from clearinghouse.signer.errors import Refusal, SigningRefused
from clearinghouse.signer.goformat import NS_PER_S, float_string
from clearinghouse.signer.limits import (
    AUTH_TOKEN_REFRESH_S,
    DEPOSIT_MULTIPLIER_DEFAULT,
    MAX_FACE_VALUE_WEI_DEFAULT,
    MAX_TICKET_EV_WEI_DEFAULT,
    MAX_TOTAL_EV_WEI_DEFAULT,
    PARAMS_EXPIRY_MARGIN_BLOCKS,
    SENDER_NONCE_MAX,
    TICKETS_PER_CALL_MAX,
)
from clearinghouse.signer.state import RemotePaymentState
from clearinghouse.signer.wire import OrchestratorOffer


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """The request fields the decision uses, as the transport decoded them.

    ``billing_type`` is the raw ``type`` text (checked here); ``manifest_id`` is "" when absent.
    """

    billing_type: str
    in_pixels: int = 0
    app: str = ""
    manifest_id: str = ""
    max_price: MaxPrice | None = None


@dataclass(frozen=True, slots=True)
class ChainView:
    """Our TicketBroker position and the chain clock, as last observed.

    ``withdraw_round`` is 0 when no unlock is pending; ``current_round`` is the last
    initialized round; ``last_l1_block`` is the last L1 block seen (ticket params expire in L1
    blocks).
    """

    deposit_wei: int
    reserve_wei: int
    withdraw_round: int
    current_round: int
    last_l1_block: int


class RecipientStatus(StrEnum):
    """What a recipient check says about a ticket recipient in a round."""

    ACTIVE = "active"
    """An active orchestrator in that round: sign."""

    INACTIVE = "inactive"
    """The chain says it is not active in that round: refuse (PARAMS_REJECTED)."""

    UNKNOWN = "unknown"
    """The check could not get an answer in time: refuse (SIGNER_UNSAFE, fail closed)."""


@dataclass(frozen=True, slots=True)
class RecipientVerdict:
    """A recipient check's answer; ``detail`` says why it is UNKNOWN (quoted to the caller)."""

    status: RecipientStatus
    detail: str = ""


RecipientCheck = Callable[[bytes, int], RecipientVerdict]
"""``check(recipient, round)``: whether the 20-byte ``recipient`` is an active orchestrator in
``round`` (the chain view's current round). Must answer within a bounded time and never raise
for a chain failure (UNKNOWN instead): it runs while the call holds its session lock."""


@dataclass(frozen=True, slots=True)
class PaymentPolicy:
    """Operator settings; defaults are go-livepeer's. ``max_price`` is wei per unit or None.

    ``max_face_value_wei`` caps every ticket's face value on top of deposit /
    ``deposit_multiplier``; None (go-livepeer has no such cap) leaves only the deposit bound.
    ``recipient_check`` is None unless the operator signs for active orchestrators only.
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


@dataclass(frozen=True, slots=True)
class PaymentPlan:
    """What to sign for one call and the state to return once it is signed and recorded."""

    offer: OrchestratorOffer
    manifest_id: str
    billing_type: BillingType
    units: int
    fee_wei: Fraction
    ev_wei: Fraction
    ticket_count: int
    first_nonce: int
    previous_balance_wei: Fraction
    state: RemotePaymentState

    @property
    def nonces(self) -> range:
        """The sender nonces of the tickets to sign, in order."""
        return range(self.first_nonce, self.first_nonce + self.ticket_count)


def plan_payment(
    offer: OrchestratorOffer,
    previous: RemotePaymentState | None,
    request: PaymentRequest,
    chain: ChainView,
    policy: PaymentPolicy,
    now_ns: int,
    *,
    new_state_id: str,
    new_manifest_id: str,
    ledger_last_nonce: int = 0,
) -> PaymentPlan:
    """Decide one /generate-live-payment call; see the module docstring for the order.

    ``now_ns`` is our clock in nanoseconds since the epoch. ``new_state_id`` and
    ``new_manifest_id`` (random, from the caller) are used only for a new session and a
    request without ManifestID. ``ledger_last_nonce`` is the highest nonce already signed under
    this offer's recipientRandHash by anyone (0 if none): nonces continue above it even when a
    replayed state says otherwise, so no (recipientRandHash, nonce) is ever signed twice.

    Raises SigningRefused with the first failing Refusal and a message saying what failed;
    ValueError for a negative ``ledger_last_nonce`` (a caller bug, not a request error).
    """
    if ledger_last_nonce < 0:
        raise ValueError(f"ledger_last_nonce must be >= 0, got {ledger_last_nonce}")
    billing_type = parse_billing_type(request.billing_type)
    request_ceiling = (
        None if request.max_price is None else parse_max_price(request.max_price, billing_type)
    )
    session = _continue_session(offer, previous, request, billing_type, new_state_id)
    manifest_id = _manifest_id(previous, request, new_manifest_id)
    units = billable_units(billing_type, session.last_update_ns, now_ns, request.in_pixels)
    _check_chain(chain)
    recipient = _check_recipient(offer, chain, policy)
    _check_refresh(offer, chain, now_ns)
    ev = ticket_ev(offer.face_value_wei, offer.win_prob)
    _check_params(offer, ev, chain, policy, recipient)
    _check_price(offer, session, policy, request_ceiling)
    fee = fee_wei(session.initial_price_per_unit, session.initial_pixels_per_unit, units)
    count = _ticket_count(session.balance, fee, ev, policy)
    first_nonce = _first_nonce(offer, session, ledger_last_nonce, count)
    state = replace(
        session,
        pm_session_id=offer.pm_session_id,
        last_update_ns=now_ns,
        sender_nonce=first_nonce + count - 1,
        balance=session.balance + count * ev - fee,
    )
    return PaymentPlan(
        offer=offer,
        manifest_id=manifest_id,
        billing_type=billing_type,
        units=units,
        fee_wei=fee,
        ev_wei=ev,
        ticket_count=count,
        first_nonce=first_nonce,
        previous_balance_wei=session.balance,
        state=state,
    )


def with_ledger_nonce(plan: PaymentPlan, ledger_last_nonce: int) -> PaymentPlan:
    """``plan`` with its nonces continued above ``ledger_last_nonce``, the highest nonce anyone
    signed under the offer's recipientRandHash (read in the committer's transaction): a plan
    made before the ledger was read assumed the state's own nonce was the highest. Raises
    SigningRefused(NONCES_EXHAUSTED) as ``plan_payment`` would have."""
    if ledger_last_nonce < plan.first_nonce:
        return plan
    first = _first_nonce(plan.offer, replace(plan.state, sender_nonce=plan.first_nonce - 1),
                         ledger_last_nonce, plan.ticket_count)
    return replace(plan, first_nonce=first, state=replace(plan.state, sender_nonce=first + plan.ticket_count - 1))


@dataclass(frozen=True, slots=True)
class TicketPlan:
    """What to sign for one SignTickets call: ``ticket_count`` tickets from ``first_nonce``."""

    offer: OrchestratorOffer
    ticket_count: int
    first_nonce: int
    ev_wei: Fraction

    @property
    def nonces(self) -> range:
        """The sender nonces of the tickets to sign, in order."""
        return range(self.first_nonce, self.first_nonce + self.ticket_count)

    @property
    def ev_signed_wei(self) -> Fraction:
        """The batch's total EV, exact: what the gateway is billed."""
        return self.ticket_count * self.ev_wei


def plan_ticket_batch(
    offer: OrchestratorOffer,
    ticket_count: int,
    chain: ChainView,
    policy: PaymentPolicy,
    *,
    ledger_last_nonce: int,
) -> TicketPlan:
    """Decide a batch of ``ticket_count`` tickets on ``offer`` for a caller that keeps its own
    session (no billing units, no auth token): the sender-side checks of ``plan_payment``.

    The request's own input first, as every input check comes first: a count outside
    1..TICKETS_PER_CALL_MAX (BAD_REQUEST for 0, TOO_MANY_TICKETS above) and a zero face value or
    win probability (PARAMS_REJECTED: such a ticket pays nothing, so nobody needs it signed);
    then in Refusal order: chain unsafe, a recipient the policy's check cannot confirm
    (SIGNER_UNSAFE), params expired (REFRESH_SESSION), the params checks of spec 01 with the
    face value cap and an inactive recipient, the configured price ceiling, the total EV, and
    nonce SENDER_NONCE_MAX. Nonces continue above ``ledger_last_nonce``, the highest ever
    signed under the recipientRandHash by anyone. Raises SigningRefused.
    """
    if ticket_count < 1:
        raise SigningRefused(Refusal.BAD_REQUEST, f"ticket_count must be >= 1, got {ticket_count}")
    if ticket_count > TICKETS_PER_CALL_MAX:
        raise SigningRefused(
            Refusal.TOO_MANY_TICKETS,
            f"ticket_count {ticket_count} exceeds maximum of {TICKETS_PER_CALL_MAX}",
        )
    if offer.face_value_wei == 0 or offer.win_prob == 0:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            "ticket face value and win probability must be > 0: such a ticket never pays",
        )
    _check_chain(chain)
    recipient = _check_recipient(offer, chain, policy)
    if offer.expiration_block - chain.last_l1_block <= PARAMS_EXPIRY_MARGIN_BLOCKS:
        raise SigningRefused(
            Refusal.REFRESH_SESSION,
            f"refresh session: ticket params expire at L1 block {offer.expiration_block}, "
            f"last seen L1 block is {chain.last_l1_block}",
        )
    ev = ticket_ev(offer.face_value_wei, offer.win_prob)
    _check_params(offer, ev, chain, policy, recipient)
    if policy.max_price is not None:
        price = Fraction(offer.price_per_unit, offer.pixels_per_unit)
        check_price(price, [PriceCeiling("configured maximum price", policy.max_price)])
    total_ev = ticket_count * ev
    if total_ev > policy.max_total_ev_wei:
        raise SigningRefused(
            Refusal.TOTAL_EV_EXCEEDED,
            f"total ticket EV {float_string(total_ev, 5)} wei for {ticket_count} tickets > "
            f"max total ticket EV {policy.max_total_ev_wei} wei",
        )
    plan = TicketPlan(offer=offer, ticket_count=ticket_count, first_nonce=ledger_last_nonce + 1, ev_wei=ev)
    return tickets_with_ledger_nonce(plan, ledger_last_nonce)


def tickets_with_ledger_nonce(plan: TicketPlan, ledger_last_nonce: int) -> TicketPlan:
    """``plan`` with its nonces starting above ``ledger_last_nonce`` (read in the committer's
    transaction); SigningRefused(NONCES_EXHAUSTED) past SENDER_NONCE_MAX."""
    first_nonce = ledger_last_nonce + 1
    last_nonce = first_nonce + plan.ticket_count - 1
    if last_nonce > SENDER_NONCE_MAX:
        raise SigningRefused(
            Refusal.NONCES_EXHAUSTED,
            f"refresh session: tickets {first_nonce}..{last_nonce} would pass nonce "
            f"{SENDER_NONCE_MAX} for recipientRandHash {plan.offer.pm_session_id}",
        )
    return replace(plan, first_nonce=first_nonce)


def _continue_session(
    offer: OrchestratorOffer,
    previous: RemotePaymentState | None,
    request: PaymentRequest,
    billing_type: BillingType,
    new_state_id: str,
) -> RemotePaymentState:
    """The state this call starts from: the previous one advanced, or a new session's."""
    if previous is None:
        return RemotePaymentState(
            state_id=new_state_id,
            pm_session_id="",
            last_update_ns=None,
            orchestrator_address=offer.address,
            app=request.app,
            auth_expiry=0,
            sender_nonce=0,
            balance=Fraction(0),
            initial_price_per_unit=offer.price_per_unit,
            initial_pixels_per_unit=offer.pixels_per_unit,
            type=billing_type.value,
            sequence_number=0,
            auth_id="",
        )
    if previous.orchestrator_address != offer.address:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"orchestratorAddress mismatch: state has 0x{previous.orchestrator_address.hex()}, "
            f"OrchestratorInfo has 0x{offer.address.hex()}",
        )
    if previous.app != request.app:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"app mismatch: state has {previous.app!r}, request has {request.app!r}",
        )
    if previous.type not in ("", billing_type.value):
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            f"job type mismatch: state has {previous.type!r}, request has {billing_type.value!r}",
        )
    if previous.initial_price_per_unit <= 0 or previous.initial_pixels_per_unit <= 0:
        raise SigningRefused(
            Refusal.BAD_REQUEST,
            "invalid initial price in state: "
            f"{previous.initial_price_per_unit}/{previous.initial_pixels_per_unit}, "
            "both must be > 0",
        )
    return replace(previous, type=billing_type.value, sequence_number=previous.sequence_number + 1)


def _manifest_id(
    previous: RemotePaymentState | None, request: PaymentRequest, new_manifest_id: str
) -> str:
    if request.manifest_id:
        return request.manifest_id
    if previous is not None:
        # A continuing session must keep the orchestrator-side id it started with.
        raise SigningRefused(
            Refusal.BAD_REQUEST, "missing manifestID: required when a state is sent"
        )
    return new_manifest_id


def _check_chain(chain: ChainView) -> None:
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


def _check_refresh(offer: OrchestratorOffer, chain: ChainView, now_ns: int) -> None:
    """Ask for fresh OrchestratorInfo when its auth token or ticket params are about to lapse."""
    refresh_at_s = offer.auth_token_expiration_s - AUTH_TOKEN_REFRESH_S
    if now_ns > refresh_at_s * NS_PER_S:
        raise SigningRefused(
            Refusal.REFRESH_SESSION,
            f"refresh session: auth token expires at {offer.auth_token_expiration_s} (unix s), "
            f"less than {AUTH_TOKEN_REFRESH_S} s after now",
        )
    if offer.expiration_block - chain.last_l1_block <= PARAMS_EXPIRY_MARGIN_BLOCKS:
        raise SigningRefused(
            Refusal.REFRESH_SESSION,
            f"refresh session: ticket params expire at L1 block {offer.expiration_block}, "
            f"last seen L1 block is {chain.last_l1_block}",
        )


def _check_recipient(
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


def _check_params(
    offer: OrchestratorOffer,
    ev: Fraction,
    chain: ChainView,
    policy: PaymentPolicy,
    recipient: RecipientStatus | None,
) -> None:
    """Sender-side checks of the orchestrator's ticket params (spec 01) and our recipient
    sanity rules; the spec's checks are skipped for a zero EV, ours are not."""
    if recipient is RecipientStatus.INACTIVE:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"ticket recipient 0x{offer.recipient.hex()} is not an active orchestrator in round "
            f"{chain.current_round}; this signer signs for active orchestrators only",
        )
    if policy.max_face_value_wei is not None and offer.face_value_wei > policy.max_face_value_wei:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            f"ticket faceValue {offer.face_value_wei} wei > configured max faceValue "
            f"{policy.max_face_value_wei} wei",
        )
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


def _check_price(
    offer: OrchestratorOffer,
    session: RemotePaymentState,
    policy: PaymentPolicy,
    request_ceiling: Fraction | None,
) -> None:
    """The price may not exceed the configured, requested or session's initial price.

    The initial-price ceiling also covers go-livepeer's later "price has more than doubled".
    """
    ceilings = []
    if policy.max_price is not None:
        ceilings.append(PriceCeiling("configured maximum price", policy.max_price))
    if request_ceiling is not None:
        ceilings.append(PriceCeiling("request maxPrice", request_ceiling))
    initial = Fraction(session.initial_price_per_unit, session.initial_pixels_per_unit)
    ceilings.append(PriceCeiling("initial session price", initial))
    check_price(Fraction(offer.price_per_unit, offer.pixels_per_unit), ceilings)


def _ticket_count(balance: Fraction, fee: Fraction, ev: Fraction, policy: PaymentPolicy) -> int:
    count = tickets_needed(balance, fee, ev)
    if count == 0:
        raise SigningRefused(
            Refusal.NO_TICKETS_NEEDED,
            f"no tickets: balance {float_string(balance, 3)} wei "
            f"covers fee {float_string(fee, 3)} wei "
            f"and ticket EV {float_string(ev, 3)} wei",
        )
    if count > TICKETS_PER_CALL_MAX:
        raise SigningRefused(
            Refusal.TOO_MANY_TICKETS,
            f"numTickets {count} exceeds maximum of {TICKETS_PER_CALL_MAX}",
        )
    total_ev = count * ev
    if total_ev > policy.max_total_ev_wei:
        raise SigningRefused(
            Refusal.TOTAL_EV_EXCEEDED,
            f"total ticket EV {float_string(total_ev, 5)} wei for {count} tickets > "
            f"max total ticket EV {policy.max_total_ev_wei} wei",
        )
    return count


def _first_nonce(
    offer: OrchestratorOffer, session: RemotePaymentState, ledger_last_nonce: int, count: int
) -> int:
    """Continue the state's nonces under one recipientRandHash; restart at 1 under a new one."""
    state_nonce = session.sender_nonce if session.pm_session_id == offer.pm_session_id else 0
    first = max(state_nonce, ledger_last_nonce) + 1
    last = first + count - 1
    if last > SENDER_NONCE_MAX:
        raise SigningRefused(
            Refusal.NONCES_EXHAUSTED,
            f"refresh session: tickets {first}..{last} would pass nonce {SENDER_NONCE_MAX} "
            f"for recipientRandHash {offer.pm_session_id}",
        )
    return first
