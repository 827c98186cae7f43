"""The remote-signer payment decision (spec 02 steps 2-11) as one pure function.

``plan_payment`` takes what a call brings (the orchestrator's offer, the previous session
state or None, the request fields), our view of the chain, the operator's policy and ``now``,
and returns a ``PaymentPlan``: how many tickets to sign with which nonces, the fee, the EV and
the complete next state. It reads no clock, does no I/O and signs nothing; the caller signs
``plan.ticket_count`` tickets from ``plan.first_nonce`` (clearinghouse.pm.sign_ticket_batch),
records them, then signs ``encode_state(plan.state)``.

Checks run in the order of ``domain.refusals.PRECEDENCE``, so the first failing group is
reported: bad request → signer unsafe → refresh → params rejected → price exceeded → no tickets
needed → too many tickets → total EV exceeded → nonces exhausted. Unlike go-livepeer, which
checks deposit and params before billing and the price only after, every input check comes
first, and chain health comes before anything that depends on the orchestrator: the chain view
may be given as the callable that reads it (the chain guard, which refuses while our chain data
is stale or our health critical), called only once the request's own checks passed.

The checks of the orchestrator's offer against our chain view and policy live in
offer_checks.py (the creation round and its block hash against the RoundsManager, face value and
EV caps, the recipient): every ticket's face value is capped by ``max_face_value_wei`` (by default
a tenth of the deposit) and by deposit / deposit_multiplier, its EV by ``max_ticket_ev_wei`` and a
call's total EV by ``max_total_ev_wei``. When the operator sets ``recipient_check`` (the daemon's
"active orchestrators only"), it is asked about the ticket recipient right after chain health:
a recipient it cannot confirm is refused as SIGNER_UNSAFE (503: fail closed, retry later), one
it says is not active as PARAMS_REJECTED. That callable is the one thing here that may do I/O
(chain/orchestrators.py caches per round and bounds its wait); everything else stays pure.

Nonces (go-livepeer v0.9.2, #4028): a remote-signer call whose next nonce under the offer's
recipientRandHash would reach SENDER_NONCE_REFRESH_AT (500) is asked to refresh (480), so the
gateway fetches fresh params before the orchestrators' cap of NONCES_PER_RECIPIENT_RAND_HASH_MAX (600), which no
ticket ever passes on any path (NONCES_EXHAUSTED).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction

from clearinghouse.domain.chain_view import ChainView
from clearinghouse.domain.ev import ticket_ev
from clearinghouse.domain.refusals import Refusal, SigningRefused
from clearinghouse.domain.sessions import BillingType
from clearinghouse.signer.billing import (
    MaxPrice,
    PriceCeiling,
    billable_units,
    check_price,
    fee_wei,
    parse_billing_type,
    parse_max_price,
    tickets_needed,
)
from clearinghouse.signer.goformat import NS_PER_S, float_string
from clearinghouse.signer.limits import (
    AUTH_TOKEN_REFRESH_S,
    NONCES_PER_RECIPIENT_RAND_HASH_MAX,
    PARAMS_EXPIRY_MARGIN_BLOCKS,
    SENDER_NONCE_REFRESH_AT,
    TICKETS_PER_CALL_MAX,
)
from clearinghouse.signer.offer_checks import (
    PaymentPolicy,
    check_chain,
    check_params,
    check_recipient,
    check_round_open,
)
from clearinghouse.signer.state import RemotePaymentState
from clearinghouse.signer.wire import OrchestratorOffer

__all__ = [
    "PaymentPlan",
    "PaymentPolicy",
    "PaymentRequest",
    "TicketPlan",
    "plan_payment",
    "plan_ticket_batch",
]
"""PaymentPolicy is offer_checks.py's, named here too: callers build it for this module's
functions (with a ChainView of clearinghouse.domain.chain_view)."""


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
    chain: ChainView | Callable[[], ChainView],
    policy: PaymentPolicy,
    now_ns: int,
    *,
    new_state_id: str,
    new_manifest_id: str,
    ledger_last_nonce: int = 0,
    tickets_per_call_max: int = TICKETS_PER_CALL_MAX,
) -> PaymentPlan:
    """Decide one /generate-live-payment call; see the module docstring for the order.

    ``now_ns`` is our clock in nanoseconds since the epoch. ``new_state_id`` and
    ``new_manifest_id`` (random, from the caller) are used only for a new session and a
    request without ManifestID. ``ledger_last_nonce`` is the highest nonce already signed under
    this offer's recipientRandHash by anyone (0 if none): nonces continue above it even when a
    replayed state says otherwise, so no (recipientRandHash, nonce) is ever signed twice.
    ``tickets_per_call_max`` is the configured cap (at most TICKETS_PER_CALL_MAX).

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
    chain = _read(chain)
    check_chain(chain)
    recipient = check_recipient(offer, chain, policy)
    _check_refresh(offer, chain, now_ns)
    check_round_open(offer, chain)
    next_nonce = _next_nonce(offer, session, ledger_last_nonce)
    _check_nonce_refresh(offer, next_nonce)
    ev = ticket_ev(offer.face_value_wei, offer.win_prob)
    check_params(offer, ev, chain, policy, recipient)
    _check_price(offer, session, policy, request_ceiling)
    fee = fee_wei(session.initial_price_per_unit, session.initial_pixels_per_unit, units)
    count = _ticket_count(session.balance, fee, ev, policy, tickets_per_call_max)
    first_nonce = _first_nonce(offer, next_nonce, count)
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
    SigningRefused as ``plan_payment`` would have: REFRESH_SESSION once the next nonce would reach
    SENDER_NONCE_REFRESH_AT, NONCES_EXHAUSTED past NONCES_PER_RECIPIENT_RAND_HASH_MAX."""
    if ledger_last_nonce < plan.first_nonce:
        return plan
    next_nonce = ledger_last_nonce + 1
    _check_nonce_refresh(plan.offer, next_nonce)
    first = _first_nonce(plan.offer, next_nonce, plan.ticket_count)
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
    chain: ChainView | Callable[[], ChainView],
    policy: PaymentPolicy,
    *,
    ledger_last_nonce: int,
    tickets_per_call_max: int = TICKETS_PER_CALL_MAX,
) -> TicketPlan:
    """Decide a batch of ``ticket_count`` tickets on ``offer`` for a caller that keeps its own
    session (no billing units, no auth token): the sender-side checks of ``plan_payment``.

    In the order of ``domain.refusals.PRECEDENCE``: a count below 1 (BAD_REQUEST); chain
    unsafe (``chain`` read only now when it is the chain guard's callable), a recipient the
    policy's check cannot confirm (SIGNER_UNSAFE); params or their creation round expired
    (REFRESH_SESSION); a zero face value or win probability (such a ticket pays nothing, so
    nobody needs it signed), the creation round and its block hash against the RoundsManager,
    the params checks of spec 01 with the face value cap and an inactive recipient
    (PARAMS_REJECTED); the configured price ceiling; a count above ``tickets_per_call_max`` (the
    configured cap, at most TICKETS_PER_CALL_MAX: TOO_MANY_TICKETS); the total EV; and nonce
    NONCES_PER_RECIPIENT_RAND_HASH_MAX. Nonces continue above ``ledger_last_nonce``, the
    highest ever signed under the recipientRandHash by anyone; unlike the remote-signer path
    there is no refresh at SENDER_NONCE_REFRESH_AT: the batch's own last nonce is checked
    against NONCES_PER_RECIPIENT_RAND_HASH_MAX exactly, so no headroom is needed. Raises SigningRefused.
    """
    if ticket_count < 1:
        raise SigningRefused(Refusal.BAD_REQUEST, f"ticket_count must be >= 1, got {ticket_count}")
    chain = _read(chain)
    check_chain(chain)
    recipient = check_recipient(offer, chain, policy)
    if offer.expiration_block - chain.last_l1_block <= PARAMS_EXPIRY_MARGIN_BLOCKS:
        raise SigningRefused(
            Refusal.REFRESH_SESSION,
            f"refresh session: ticket params expire at L1 block {offer.expiration_block}, "
            f"last seen L1 block is {chain.last_l1_block}",
        )
    check_round_open(offer, chain)
    if offer.face_value_wei == 0 or offer.win_prob == 0:
        raise SigningRefused(
            Refusal.PARAMS_REJECTED,
            "ticket face value and win probability must be > 0: such a ticket never pays",
        )
    ev = ticket_ev(offer.face_value_wei, offer.win_prob)
    check_params(offer, ev, chain, policy, recipient)
    if policy.max_price is not None:
        price = Fraction(offer.price_per_unit, offer.pixels_per_unit)
        check_price(price, [PriceCeiling("configured maximum price", policy.max_price)])
    if ticket_count > tickets_per_call_max:
        raise SigningRefused(
            Refusal.TOO_MANY_TICKETS,
            f"ticket_count {ticket_count} exceeds maximum of {tickets_per_call_max}",
        )
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
    transaction); SigningRefused(NONCES_EXHAUSTED) past NONCES_PER_RECIPIENT_RAND_HASH_MAX."""
    first_nonce = ledger_last_nonce + 1
    last_nonce = first_nonce + plan.ticket_count - 1
    if last_nonce > NONCES_PER_RECIPIENT_RAND_HASH_MAX:
        raise SigningRefused(
            Refusal.NONCES_EXHAUSTED,
            f"refresh session: tickets {first_nonce}..{last_nonce} would pass nonce "
            f"{NONCES_PER_RECIPIENT_RAND_HASH_MAX} for recipientRandHash {plan.offer.pm_session_id}",
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


def _read(chain: ChainView | Callable[[], ChainView]) -> ChainView:
    """The chain view, read through the chain guard when given as its callable."""
    return chain() if callable(chain) else chain


def _ticket_count(
    balance: Fraction, fee: Fraction, ev: Fraction, policy: PaymentPolicy, tickets_per_call_max: int
) -> int:
    count = tickets_needed(balance, fee, ev)
    if count == 0:
        raise SigningRefused(
            Refusal.NO_TICKETS_NEEDED,
            f"no tickets: balance {float_string(balance, 3)} wei "
            f"covers fee {float_string(fee, 3)} wei "
            f"and ticket EV {float_string(ev, 3)} wei",
        )
    if count > tickets_per_call_max:
        raise SigningRefused(
            Refusal.TOO_MANY_TICKETS,
            f"numTickets {count} exceeds maximum of {tickets_per_call_max}",
        )
    total_ev = count * ev
    if total_ev > policy.max_total_ev_wei:
        raise SigningRefused(
            Refusal.TOTAL_EV_EXCEEDED,
            f"total ticket EV {float_string(total_ev, 5)} wei for {count} tickets > "
            f"max total ticket EV {policy.max_total_ev_wei} wei",
        )
    return count


def _next_nonce(offer: OrchestratorOffer, session: RemotePaymentState, ledger_last_nonce: int) -> int:
    """Continue the state's nonces under one recipientRandHash; restart at 1 under a new one;
    never at or below a nonce anyone signed under it (``ledger_last_nonce``)."""
    state_nonce = session.sender_nonce if session.pm_session_id == offer.pm_session_id else 0
    return max(state_nonce, ledger_last_nonce) + 1


def _check_nonce_refresh(offer: OrchestratorOffer, next_nonce: int) -> None:
    """go-livepeer v0.9.2's refresh before orchestrators run out of nonces (limits.py)."""
    if next_nonce >= SENDER_NONCE_REFRESH_AT:
        raise SigningRefused(
            Refusal.REFRESH_SESSION,
            f"refresh session: the next nonce for recipientRandHash {offer.pm_session_id} would be "
            f"{next_nonce}, expected below {SENDER_NONCE_REFRESH_AT} (orchestrators accept at most "
            f"{NONCES_PER_RECIPIENT_RAND_HASH_MAX} per recipientRandHash): fetch fresh ticket params",
        )


def _first_nonce(offer: OrchestratorOffer, first: int, count: int) -> int:
    """``first`` when the batch stays within NONCES_PER_RECIPIENT_RAND_HASH_MAX."""
    last = first + count - 1
    if last > NONCES_PER_RECIPIENT_RAND_HASH_MAX:
        raise SigningRefused(
            Refusal.NONCES_EXHAUSTED,
            f"refresh session: tickets {first}..{last} would pass nonce {NONCES_PER_RECIPIENT_RAND_HASH_MAX} "
            f"for recipientRandHash {offer.pm_session_id}",
        )
    return first
