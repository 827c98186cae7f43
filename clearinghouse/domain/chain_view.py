"""Our chain position as the signer sees it, and the check of a ticket recipient.

``ChainView`` carries what the signing checks need from the chain (signer/offer_checks.py),
read by the chain layer off the signing path (chain/monitor.py reads the open rounds' block
hashes once per round) or given statically by the configuration. ``RecipientCheck`` is the
operator's optional "sign for active orchestrators only" (chain/orchestrators.py answers it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from clearinghouse.domain.money import HASH_BYTES, Address


@dataclass(frozen=True, slots=True)
class ChainView:
    """Our TicketBroker position and the chain clock, as last observed.

    ``withdraw_round`` is 0 when no unlock is pending; ``current_round`` is RoundsManager's
    current round; ``last_l1_block`` is the last L1 block seen (ticket params expire in L1
    blocks). ``round_block_hashes`` holds (round, block hash) for each round still open for
    redemption whose hash the RoundsManager recorded (a round not initialized has none), and
    ``ticket_validity_period_rounds`` is the TicketBroker's ticketValidityPeriod. Without them no
    creation round is known, so every ticket is refused: a view must say which rounds are open.
    Raises ValueError for a hash that is not 32 non-zero bytes or a round outside the open ones.
    """

    deposit_wei: int
    reserve_wei: int
    withdraw_round: int
    current_round: int
    last_l1_block: int
    round_block_hashes: tuple[tuple[int, bytes], ...] = ()
    ticket_validity_period_rounds: int = 1

    def __post_init__(self) -> None:
        if self.ticket_validity_period_rounds < 1:
            raise ValueError(f"ticket_validity_period_rounds must be >= 1, got {self.ticket_validity_period_rounds}")
        for round_, block_hash in self.round_block_hashes:
            if not self.first_open_round <= round_ <= self.current_round:
                raise ValueError(
                    f"round {round_} is not open: open rounds are {self.first_open_round}..{self.current_round}"
                )
            if len(block_hash) != HASH_BYTES or not any(block_hash):
                raise ValueError(f"block hash of round {round_} must be {HASH_BYTES} non-zero bytes")

    @property
    def first_open_round(self) -> int:
        """The oldest round whose tickets the TicketBroker still redeems (at least 0)."""
        return max(0, self.current_round - self.ticket_validity_period_rounds + 1)

    def block_hash_for_round(self, round_: int) -> bytes | None:
        """The block hash the RoundsManager recorded for ``round_``, if it is open and known."""
        for known, block_hash in self.round_block_hashes:
            if known == round_:
                return block_hash
        return None


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


RecipientCheck = Callable[[Address, int], RecipientVerdict]
"""``check(recipient, round)``: whether the ``recipient`` is an active orchestrator in
``round`` (the chain view's current round). Must answer within a bounded time and never raise
for a chain failure (UNKNOWN instead): it runs while the call holds its session lock."""
