"""Signed tickets and one signing call: what the signing service hands the ledger.

``SigningCall`` carries the tickets signed in memory and the session head they lead to; fee and
EV signed are derived from it exactly, so the billed amounts cannot disagree with the tickets.
Inputs are checked when constructed and raise ``InvalidLedgerInput`` saying what was expected
and what was given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING

from clearinghouse.domain import limits
from clearinghouse.domain.ev import WIN_PROB_DENOMINATOR, ticket_ev
from clearinghouse.domain.fields import check_int, check_str
from clearinghouse.errors import InvalidLedgerInput

if TYPE_CHECKING:
    from clearinghouse.domain.sessions import SessionHead


SENDER_NONCE_UINT32_MAX = 2**32 - 1
"""The width of a sender nonce: uint32 in the state blob and on chain (a protocol fact, not a limit)."""


@dataclass(frozen=True, slots=True)
class SignedTicket:
    recipient_rand_hash: bytes
    sender_nonce: int
    ticket_hash: bytes


@dataclass(frozen=True, slots=True)
class SigningCall:
    """One signing call to record: the tickets signed and the session head they lead to.

    Nonces must be consecutive, all for one recipientRandHash equal to the new head's
    PMSessionID, and end at the head's sender nonce.
    """

    gateway_id: int
    api_key_id: int | None
    usage_subject: str | None
    request_id: str | None
    request_digest: bytes | None
    session: SessionHead
    recipient: bytes
    pipeline: str | None
    model_id: str | None
    capability: str | None
    units: int
    price_per_unit: int
    pixels_per_unit: int
    face_value: int
    win_prob: int
    tickets: tuple[SignedTicket, ...]
    creation_round: int
    creation_round_block_hash: bytes
    params_expiration_block: int
    rate_snapshot_id: int | None
    response: bytes
    signed_at: datetime | None = None
    """The call's one clock reading, stamped on its record and rows; None: the batch's."""
    _ev_signed: Fraction = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.signed_at is not None and self.signed_at.tzinfo is None:
            raise InvalidLedgerInput(f"signed_at: expected a timezone-aware datetime, got {self.signed_at!r}")
        if self.gateway_id != self.session.gateway_id:
            raise InvalidLedgerInput(
                f"session belongs to gateway {self.session.gateway_id}, "
                f"call is for gateway {self.gateway_id}"
            )
        check_str("request_id", self.request_id, limits.TEXT_ID_LENGTH_MAX, none_ok=True)
        check_str("usage_subject", self.usage_subject, limits.TEXT_ID_LENGTH_MAX, none_ok=True)
        check_int("units", self.units, 1, limits.BIGINT_MAX)
        check_int("price_per_unit", self.price_per_unit, 1, WIN_PROB_DENOMINATOR)
        check_int("pixels_per_unit", self.pixels_per_unit, 1, WIN_PROB_DENOMINATOR)
        check_int("face_value", self.face_value, 1, WIN_PROB_DENOMINATOR)
        check_int("win_prob", self.win_prob, 1, WIN_PROB_DENOMINATOR)
        check_int("creation_round", self.creation_round, 0, limits.BIGINT_MAX)
        check_int("params_expiration_block", self.params_expiration_block, 0, limits.BIGINT_MAX)
        if len(self.response) > limits.RESPONSE_BYTES_MAX:
            raise InvalidLedgerInput(
                f"response: expected at most {limits.RESPONSE_BYTES_MAX} bytes, "
                f"got {len(self.response)}"
            )
        _check_tickets(self.tickets, self.session)
        # Computed once: the committer reads it several times per call (checks, rows, sums).
        object.__setattr__(self, "_ev_signed", len(self.tickets) * ticket_ev(self.face_value, self.win_prob))

    @property
    def fee(self) -> Fraction:
        """Spec 02 step 7: the session's initial price × units, exact wei."""
        return self.session.initial_price * self.units

    @property
    def ev_signed(self) -> Fraction:
        """Number of tickets × faceValue × winProb / (2**256 − 1), exact wei."""
        return self._ev_signed


def _check_tickets(tickets: tuple[SignedTicket, ...], head: SessionHead) -> None:
    count = len(tickets)
    if not 1 <= count <= limits.TICKETS_PER_RECORD_MAX:
        raise InvalidLedgerInput(
            f"tickets: expected 1..{limits.TICKETS_PER_RECORD_MAX}, got {count}"
        )
    first = tickets[0].sender_nonce
    nonces = [t.sender_nonce for t in tickets]
    if nonces != list(range(first, first + count)) or first < 1:
        raise InvalidLedgerInput(f"tickets: expected consecutive nonces from >= 1, got {nonces}")
    if nonces[-1] != head.sender_nonce:
        raise InvalidLedgerInput(
            f"tickets: expected the last nonce to equal the session's sender nonce "
            f"{head.sender_nonce}, got {nonces[-1]}"
        )
    if any(not isinstance(t.ticket_hash, bytes) or len(t.ticket_hash) != 32 for t in tickets):
        raise InvalidLedgerInput("tickets: expected every ticket hash to be 32 bytes")
    hashes = {t.recipient_rand_hash for t in tickets}
    if hashes != {head.pm_session_id}:
        raise InvalidLedgerInput(
            "tickets: expected every recipientRandHash to equal the session's PMSessionID"
        )
