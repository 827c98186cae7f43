"""The billing layer's defaults that the configuration shares (no imports: the config reads them
without loading web3)."""

HEARTBEAT_S_DEFAULT = 86_400
"""Chainlink's ETH/USD feed on Arbitrum One updates on a 0.05 % deviation or every 24 h: an
answer older than its heartbeat means the feed stopped."""

SEQUENCER_GRACE_S_DEFAULT = 3_600
"""Chainlink's recommended wait after the L2 sequencer comes back before trusting its feeds."""

RATE_REFRESH_S_DEFAULT = 60.0
"""Chainlink's ETH/USD feed moves on a 0.05 % deviation: a minute's lag is far below it."""

RATE_STALE_AFTER_S_DEFAULT = 600.0
"""A rate answer older than 10 minutes (ten failed refreshes) is no longer "the rate now"."""

MANUAL_MAX_AGE_S_DEFAULT = 2 * 86_400.0
"""A manual table kept daily may lag a weekend day; older than two days it is not current."""

BILLING_TICK_S_DEFAULT = 60.0
"""The billing scheduler's pass: cycles close on whole hours, so an invoice is out within a
minute of its grace, and an overdue stop or its lifting by another process within a minute."""

CLAIM_STALE_S_DEFAULT = 900.0
"""A billing run claimed and not finished in 15 minutes belongs to a replica that died: drafting
and issuing take seconds, so a live owner is long done."""
