"""A remote-signer session: spec 02's billing type and the authoritative session head.

``SessionHead`` is the authoritative remote-signer state of one session (spec 02's
RemotePaymentState, keyed by StateID), checked when constructed: a value out of range raises
``InvalidLedgerInput`` saying what was expected and what was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from clearinghouse.domain import limits
from clearinghouse.domain.fields import check_int, check_str
from clearinghouse.domain.tickets import SENDER_NONCE_UINT32_MAX
from clearinghouse.errors import InvalidLedgerInput


class BillingType(StrEnum):
    """Spec 02's ``type``: the unit a session is billed in, so how a call's billable units are
    counted (signer/billing.py)."""

    PIXELS = ""
    LV2V = "lv2v"
    LIVE = "live"
    FIXED = "fixed"


@dataclass(frozen=True, slots=True)
class SessionHead:
    """The authoritative state of one remote-signer session after its latest call.

    Spec 02's RemotePaymentState field by field, except: ``pm_session_id`` is the
    recipientRandHash as 32 bytes (None for Go's ""), ``last_update_ns`` is LastUpdate in
    nanoseconds since the epoch (None before the first payment), ``billing_type`` is Type,
    and ``state_digest`` is a digest of the signed state blob this head was sent out as.
    SequenceNumber is bounded by BIGINT (2**63 − 1), not uint64: we number states from 0.
    """

    state_id: str
    gateway_id: int
    orchestrator_address: bytes
    app: str
    billing_type: BillingType
    manifest_id: str
    sequence_number: int
    sender_nonce: int
    pm_session_id: bytes | None
    balance: Fraction
    initial_price_per_unit: int
    initial_pixels_per_unit: int
    last_update_ns: int | None
    auth_expiry: int
    auth_id: str
    state_digest: bytes

    def __post_init__(self) -> None:
        check_str("state_id", self.state_id, limits.STATE_ID_LENGTH_MAX, empty_ok=False)
        check_str("app", self.app, limits.TEXT_ID_LENGTH_MAX)
        check_str("manifest_id", self.manifest_id, limits.TEXT_ID_LENGTH_MAX)
        check_str("auth_id", self.auth_id, limits.LONG_TEXT_ID_LENGTH_MAX)
        check_int("sequence_number", self.sequence_number, 0, limits.BIGINT_MAX)
        check_int("sender_nonce", self.sender_nonce, 0, SENDER_NONCE_UINT32_MAX)
        check_int("initial_price_per_unit", self.initial_price_per_unit, 1, limits.BIGINT_MAX)
        check_int("initial_pixels_per_unit", self.initial_pixels_per_unit, 1, limits.BIGINT_MAX)
        check_int("auth_expiry", self.auth_expiry, -limits.BIGINT_MAX - 1, limits.BIGINT_MAX)
        if self.last_update_ns is not None:
            check_int("last_update_ns", self.last_update_ns, 0, limits.BIGINT_MAX)
        if not isinstance(self.balance, Fraction):
            raise InvalidLedgerInput(f"balance: expected a Fraction, got {self.balance!r}")

    @property
    def initial_price(self) -> Fraction:
        """Wei per unit at the session's start; every fee of the session uses it."""
        return Fraction(self.initial_price_per_unit, self.initial_pixels_per_unit)
