"""What every signing service holds: the ledger, the key, the chain view, the policy, the clock
and the rate book. PaymentService (remote-signer sessions) and TicketService (caller-managed
sessions) are its two kinds."""

from __future__ import annotations

import time
from collections.abc import Callable

from clearinghouse import ledger, pm
from clearinghouse.domain.chain_view import ChainView
from clearinghouse.proto import lp_rpc_pb2
from clearinghouse.signer.decision import PaymentPolicy
from clearinghouse.signer.limits import TICKETS_PER_CALL_MAX
from clearinghouse.signer.wire import OrchestratorOffer, build_payment


class LedgerSigner:
    """Signs with ``private_key`` and records in ``db``; safe to share between threads."""

    def __init__(
        self,
        db: ledger.Database,
        private_key: bytes,
        chain_view: Callable[[], ChainView],
        policy: PaymentPolicy,
        clock_ns: Callable[[], int] = time.time_ns,
        rate_snapshot: Callable[[], int | None] = lambda: None,
        *,
        tickets_per_call_max: int = TICKETS_PER_CALL_MAX,
        committer: ledger.Committer | None = None,
        overdue_guard: Callable[[int], None] | None = None,
    ) -> None:
        """``rate_snapshot`` names the ETH/USD rate snapshot in force for a record written now,
        or None ("unpriced": signing never waits for a price; see billing.ratebook).
        ``tickets_per_call_max`` is [limits]' cap on one call's tickets; ValueError unless it is in
        1..TICKETS_PER_CALL_MAX (the protocol's and the ledger's ceiling). ``committer`` is the
        ledger committer the calls are recorded through: the daemon gives every service the same
        one, so all signing calls share batches; without one the service makes its own.
        ``overdue_guard`` raises SigningRefused(INVOICE_OVERDUE) for a gateway stopped over an overdue
        invoice (billing.overdue.OverdueBook.check: a dict lookup, no database)."""
        if not 1 <= tickets_per_call_max <= TICKETS_PER_CALL_MAX:
            raise ValueError(f"tickets_per_call_max must be in [1, {TICKETS_PER_CALL_MAX}], got {tickets_per_call_max}")
        self._tickets_per_call_max = tickets_per_call_max
        self._db = db
        self._key = private_key
        self._chain_view = chain_view
        self._policy = policy
        self._clock_ns = clock_ns
        self._rate_snapshot = rate_snapshot
        self._committer = committer if committer is not None else ledger.Committer(db)
        self._overdue_guard = overdue_guard
        self.address = pm.private_key_to_address(private_key)

    @property
    def committer(self) -> ledger.Committer:
        """The ledger committer this service records through."""
        return self._committer

    def rate_snapshot_id(self) -> int | None:
        """The ETH/USD rate snapshot in force for a record written now (None: unpriced)."""
        return self._rate_snapshot()

    def _check_overdue(self, gateway_id: int) -> None:
        """Refuse a gateway stopped over an overdue invoice, before anything else is done for it."""
        if self._overdue_guard is not None:
            self._overdue_guard(gateway_id)

    def _sign_tickets_on(
        self, offer: OrchestratorOffer, nonces: range
    ) -> tuple[list[tuple[bytes, bytes]], lp_rpc_pb2.Payment]:
        """One native batch on ``offer`` for ``nonces``: the (ticket hash, signature) pairs in
        nonce order, and the Payment carrying them."""
        signed = pm.sign_ticket_batch(
            self._key,
            offer.recipient,
            self.address,
            offer.face_value_wei,
            offer.win_prob,
            offer.recipient_rand_hash,
            offer.creation_round,
            offer.creation_round_block_hash,
            nonces.start,
            len(nonces),
        )
        signatures = [(nonce, signature) for nonce, (_, signature) in zip(nonces, signed, strict=True)]
        payment = build_payment(offer, self.address, signatures)
        return signed, payment
