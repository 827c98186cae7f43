"""Builders for ledger tests: gateways, and remote-signer sessions that produce signing calls.

``SessionDriver`` plays the signing service of spec 02 just enough to feed the ledger
consistent calls: fee from the session's initial price, EV from face value and winProb,
numTickets = ceil((max(fee, EV) − balance) / EV), consecutive nonces, the new balance.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest

from clearinghouse.ledger import CallKeys, CallLedger, Database, Outcome, commit_calls, create_gateway
from clearinghouse.domain.ev import WIN_PROB_DENOMINATOR
from clearinghouse.domain.sessions import BillingType, SessionHead
from clearinghouse.domain.gateways import Gateway
from clearinghouse.domain.tickets import SignedTicket, SigningCall
from clearinghouse.domain.limits import TICKETS_PER_RECORD_MAX

ORCHESTRATOR = bytes.fromhex("11" * 20)
RECIPIENT = bytes.fromhex("22" * 20)
BLOCK_HASH = bytes.fromhex("33" * 32)


def keys_of(call: SigningCall, now: datetime | None = None) -> CallKeys:
    """The committer keys of a call, as a signing service announces them."""
    return CallKeys(
        state_id=call.session.state_id, gateway_id=call.gateway_id, usage_subject=call.usage_subject,
        recipient_rand_hash=call.tickets[0].recipient_rand_hash, now=now or datetime.now(UTC),
        request_id=call.request_id,
    )


@dataclass(frozen=True)
class LedgerStep:
    """A test's LedgerWork: ``run`` on the call's ledger view, announced with ``keys``."""

    keys: CallKeys
    run: Callable[[CallLedger], Any]

    def __call__(self, ledger: CallLedger, /) -> Any:
        return self.run(ledger)


@dataclass(frozen=True)
class CheckAndRecord:
    """What a signing service does with a call in the committer: check its spend, (sign,) record.
    ``signing`` runs between the two, where the service signs."""

    call: SigningCall
    keys: CallKeys
    signing: Callable[[], None] = field(default=lambda: None)

    def __call__(self, ledger: CallLedger, /) -> Any:
        ledger.check_spend(self.call.gateway_id, self.call.usage_subject, self.call.ev_signed, self.keys.now)
        self.signing()
        return ledger.record(self.call)


def in_batch(db: Database, keys: CallKeys, run: Callable[[CallLedger], Any]) -> Any:
    """``run`` as the only call of a batch of its own, committed; its value or its exception."""
    return commit_calls(db, [LedgerStep(keys, run)])[0].result()


def check_and_record(db: Database, *calls: SigningCall) -> list[Outcome[Any]]:
    """The calls checked and recorded in one batch, in order (their outcomes)."""
    return commit_calls(db, [CheckAndRecord(call, keys_of(call)) for call in calls])


def ticket_hash(recipient_rand_hash: bytes, nonce: int) -> bytes:
    """A stand-in ticket hash, unique per (recipientRandHash, nonce); the ledger only stores it."""
    return hashlib.sha256(recipient_rand_hash + nonce.to_bytes(8, "big")).digest()


class SessionDriver:
    """One session's head as the signer would move it, call after call."""

    def __init__(
        self,
        gateway_id: int,
        *,
        price_per_unit: int = 3,
        pixels_per_unit: int = 1,
        face_value: int = 35,
        win_prob: int = WIN_PROB_DENOMINATOR,
        recipient_rand_hash: bytes | None = None,
    ) -> None:
        self.gateway_id = gateway_id
        self.face_value = face_value
        self.win_prob = win_prob
        self.recipient_rand_hash = recipient_rand_hash or secrets.token_bytes(32)
        self.head: SessionHead | None = None
        self._initial = SessionHead(
            state_id=secrets.token_hex(16),
            gateway_id=gateway_id,
            orchestrator_address=ORCHESTRATOR,
            app="test-app",
            billing_type=BillingType.LIVE,
            manifest_id="manifest-1",
            sequence_number=0,
            sender_nonce=0,
            pm_session_id=None,
            balance=Fraction(0),
            initial_price_per_unit=price_per_unit,
            initial_pixels_per_unit=pixels_per_unit,
            last_update_ns=None,
            auth_expiry=0,
            auth_id="",
            state_digest=bytes(32),
        )

    @property
    def state_id(self) -> str:
        return self._initial.state_id

    @property
    def ev(self) -> Fraction:
        return Fraction(self.face_value * self.win_prob, WIN_PROB_DENOMINATOR)

    def tickets_needed(self, units: int) -> int:
        """Spec 02 step 8; 0 means the balance covers the fee (482: nothing is signed)."""
        old = self.head or self._initial
        fee = old.initial_price * units
        return max(0, math.ceil((max(fee, self.ev) - old.balance) / self.ev))

    def next_call(self, units: int = 10, **call_fields: object) -> SigningCall:
        """The call that follows the current head (which is not moved: see ``advance``)."""
        old = self.head or self._initial
        fee = old.initial_price * units
        n = self.tickets_needed(units)
        if not 1 <= n <= TICKETS_PER_RECORD_MAX:
            raise ValueError(f"expected a call needing 1..100 tickets, this one needs {n}")
        first = 1 if old.pm_session_id != self.recipient_rand_hash else old.sender_nonce + 1
        tickets = tuple(
            SignedTicket(
                self.recipient_rand_hash, nonce, ticket_hash(self.recipient_rand_hash, nonce)
            )
            for nonce in range(first, first + n)
        )
        head = replace(
            old,
            sequence_number=0 if self.head is None else old.sequence_number + 1,
            sender_nonce=tickets[-1].sender_nonce,
            pm_session_id=self.recipient_rand_hash,
            balance=old.balance + n * self.ev - fee,
            last_update_ns=time.time_ns(),
            state_digest=secrets.token_bytes(32),
        )
        fields: dict[str, object] = {
            "gateway_id": self.gateway_id,
            "api_key_id": None,
            "usage_subject": None,
            "request_id": None,
            "request_digest": None,
            "session": head,
            "recipient": RECIPIENT,
            "pipeline": "live-video-to-video",
            "model_id": "streamdiffusion",
            "capability": None,
            "units": units,
            "price_per_unit": old.initial_price_per_unit,
            "pixels_per_unit": old.initial_pixels_per_unit,
            "face_value": self.face_value,
            "win_prob": self.win_prob,
            "tickets": tickets,
            "creation_round": 4000,
            "creation_round_block_hash": BLOCK_HASH,
            "params_expiration_block": 123_456,
            "rate_snapshot_id": None,
            "response": b"signed-payment:" + head.state_digest,
        }
        fields.update(call_fields)
        return SigningCall(**fields)  # type: ignore[arg-type]

    def advance(self, call: SigningCall) -> None:
        self.head = call.session


@pytest.fixture
def gateway(ledger_db: Database) -> Gateway:
    return create_gateway(ledger_db, "gateway-a")


@pytest.fixture
def new_session() -> Callable[..., SessionDriver]:
    return SessionDriver
