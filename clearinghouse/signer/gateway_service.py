"""What a gateway may ask of the clearinghouse, independent of the transport that asks.

``GatewayService`` is the service code of the clearinghouse.v1 API: the gRPC servicer
(grpc_service.py) and the JSON routes under /v1/ on the HTTP server both authenticate the caller,
decode the request into the plain values below, call one method here, and encode its answer. So
both transports sign through the same ``PaymentService`` (one session store, one set of limits,
one ledger) and describe the deposit and the signer with the same values.

Values are exact: wei as ``int`` or ``Fraction``, never float. Errors are those of the service
code underneath (SigningRefused, DatabaseUnavailable, ...); the transports translate them with
``clearinghouse.api.errors.v1_answer``. Checking a request's own fields (a usage period's bounds,
who may read usage) is the transports' one step before the call (api/v1_messages.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Protocol

from clearinghouse.chain.health import DepositHealth
from clearinghouse.ledger import Database
from clearinghouse.ledger.hourly_usage import Usage, UsageGrouping, grouped_usage
from clearinghouse.ledger.usage import GatewayUsage, gateway_usage
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.signer.calls import Caller, PaymentCall, PaymentResult
from clearinghouse.signer.tickets import TicketBatch, TicketRequest

UsageGroups = tuple[tuple[tuple[str, ...], Usage], ...]
"""Usage per group key, in key order (see ledger.hourly_usage.grouped_usage)."""

UNMONITORED = "unmonitored"
"""The health state of a static chain view from the configuration: nobody watches it."""


class PaymentSigner(Protocol):
    """What the gateway service needs of ``clearinghouse.signer.service.PaymentService``."""

    def orchestrator_info_signature(self) -> tuple[str, bytes]: ...

    def generate_payment(
        self, caller: Caller, call: PaymentCall, *, deadline_s: float | None = None
    ) -> PaymentResult: ...


class TicketSigner(Protocol):
    """What the gateway service needs of ``clearinghouse.signer.tickets.TicketService``."""

    def sign_tickets(
        self, caller: Caller, request: TicketRequest, *, deadline_s: float | None = None
    ) -> TicketBatch: ...


@dataclass(frozen=True, slots=True)
class SignerInfo:
    """Our sender, its orchestrator-info signature, and where its deposit lives."""

    address: bytes
    address_checksummed: str
    orchestrator_info_signature: bytes
    chain_id: int
    ticket_broker: bytes | None
    """20 bytes, or None while not known (the Controller not read yet, or not configured)."""


@dataclass(frozen=True, slots=True)
class HealthFindingInfo:
    """One reason the deposit health is not ok."""

    state: str
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class PositionInfo:
    """Our TicketBroker position as last read."""

    deposit_wei: int
    reserve_wei: int
    withdraw_round: int
    current_round: int
    l1_block: int


@dataclass(frozen=True, slots=True)
class ExposureInfo:
    """Tickets signed and still redeemable."""

    tickets: int
    face_value_wei: int
    ev_wei: Fraction
    max_face_value_wei: int


@dataclass(frozen=True, slots=True)
class DepositInfo:
    """The deposit, its health and runway: from the deposit monitor when the chain is live,
    else the configured static view with state ``unmonitored`` and no exposure or runway."""

    position: PositionInfo | None
    health_state: str
    findings: tuple[HealthFindingInfo, ...]
    runway_s: int | None
    chain_age_s: float | None
    exposure: ExposureInfo | None


class GatewayService:
    """The clearinghouse.v1 operations; safe to call from many threads.

    ``payments`` and ``tickets`` sign (one PaymentService and one TicketService on one key and
    ledger); ``db`` is the ledger usage is read from.
    ``ticket_broker`` returns the TicketBroker's 20-byte address, or None while unknown; it must
    not block (the daemon answers from what the chain client already resolved).
    ``deposit_health`` is the deposit monitor's ``health`` when the chain is live; otherwise
    ``static_chain`` is the configured view. Exactly one of the two must be given.
    """

    def __init__(
        self,
        payments: PaymentSigner,
        tickets: TicketSigner,
        db: Database,
        *,
        chain_id: int,
        ticket_broker: Callable[[], bytes | None],
        deposit_health: Callable[[], DepositHealth] | None = None,
        static_chain: ChainView | None = None,
    ) -> None:
        if (deposit_health is None) == (static_chain is None):
            raise ValueError("give exactly one of deposit_health and static_chain")
        if chain_id <= 0:
            raise ValueError(f"chain_id must be > 0, got {chain_id}")
        self._payments = payments
        self._tickets = tickets
        self._db = db
        self._chain_id = chain_id
        self._ticket_broker = ticket_broker
        self._deposit_health = deposit_health
        self._static_chain = static_chain

    def signer_info(self) -> SignerInfo:
        """Our sender address, orchestrator-info signature, chain id and TicketBroker."""
        checksummed, signature = self._payments.orchestrator_info_signature()
        return SignerInfo(
            address=bytes.fromhex(checksummed[2:]),
            address_checksummed=checksummed,
            orchestrator_info_signature=signature,
            chain_id=self._chain_id,
            ticket_broker=self._ticket_broker(),
        )

    def generate_payment(
        self, caller: Caller, call: PaymentCall, *, deadline_s: float | None = None
    ) -> PaymentResult:
        """One remote-signer payment (``PaymentService.generate_payment``, same errors)."""
        return self._payments.generate_payment(caller, call, deadline_s=deadline_s)

    def sign_tickets(
        self, caller: Caller, request: TicketRequest, *, deadline_s: float | None = None
    ) -> TicketBatch:
        """Tickets on a caller-managed session (``TicketService.sign_tickets``, same errors)."""
        return self._tickets.sign_tickets(caller, request, deadline_s=deadline_s)

    def usage(
        self, gateway_id: int, start: datetime, end: datetime, group_by: UsageGrouping | None = None
    ) -> tuple[GatewayUsage, UsageGroups]:
        """A gateway's usage over [start, end), and with ``group_by`` its usage per group (from
        the hourly rows). The transport has checked the period (api/v1_messages.usage_query:
        bounded, whole hours when grouped) and that the caller may read it; DatabaseUnavailable.
        """
        groups: UsageGroups = ()
        if group_by is not None:
            groups = tuple(grouped_usage(self._db, gateway_id, start, end, group_by))
        return gateway_usage(self._db, gateway_id, start, end), groups

    def deposit_info(self) -> DepositInfo:
        """The deposit and its health, answered from memory (no chain or database read)."""
        if self._deposit_health is not None:
            return _monitored(self._deposit_health())
        static = self._static_chain
        if static is None:  # the constructor requires one of the two
            raise ValueError("no chain view configured")
        position = PositionInfo(
            deposit_wei=static.deposit_wei,
            reserve_wei=static.reserve_wei,
            withdraw_round=static.withdraw_round,
            current_round=static.current_round,
            l1_block=static.last_l1_block,
        )
        return DepositInfo(position, UNMONITORED, (), None, None, None)


def _monitored(health: DepositHealth) -> DepositInfo:
    position = health.position
    exposure = health.exposure
    return DepositInfo(
        position=None
        if position is None
        else PositionInfo(
            deposit_wei=position.deposit_wei,
            reserve_wei=position.reserve_wei,
            withdraw_round=position.withdraw_round,
            current_round=position.current_round,
            l1_block=position.l1_block,
        ),
        health_state=health.state.value,
        findings=tuple(
            HealthFindingInfo(f.state.value, f.reason.value, f.message) for f in health.findings
        ),
        runway_s=None if health.runway_s is None else round(health.runway_s),
        chain_age_s=health.chain_age_s,
        exposure=ExposureInfo(
            tickets=exposure.tickets,
            face_value_wei=exposure.face_value_wei,
            ev_wei=exposure.ev_wei,
            max_face_value_wei=exposure.max_face_value_wei,
        ),
    )
