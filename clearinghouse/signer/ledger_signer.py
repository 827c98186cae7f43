"""What every signing service holds: the ledger, the key, the chain view, the policy, the clock
and the rate book. PaymentService (remote-signer sessions) and TicketService (caller-managed
sessions) are its two kinds."""

from __future__ import annotations

import time
from collections.abc import Callable

from clearinghouse import ledger, pm
from clearinghouse.signer.decision import ChainView, PaymentPolicy


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
    ) -> None:
        """``rate_snapshot`` names the ETH/USD rate snapshot in force for a record written now,
        or None ("unpriced": signing never waits for a price; see billing.ratebook)."""
        self._db = db
        self._key = private_key
        self._chain_view = chain_view
        self._policy = policy
        self._clock_ns = clock_ns
        self._rate_snapshot = rate_snapshot
        self.address = pm.private_key_to_address(private_key)
