"""The billing layer's named limits and the defaults the configuration shares, each with its
reason (no imports beyond typing: the config reads them without loading web3)."""

from __future__ import annotations

from typing import Final

# ---- rates and the scheduler: defaults the configuration shares ----

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

# ---- billing cycles and invoice delivery (cycles.py, delivery.py) ----

PERIODS_DUE_MAX: Final = 64
"""More than a year of weekly periods: a longer outage is caught up by hand (`invoice draft`)."""

MONTHLY_ANCHOR_DAY_MAX: Final = 28
"""The last day every month has: an anchor on the 31st would drift through shorter months."""

DELIVERY_TIMEOUT_S: Final = 10.0
"""A receiver that has not answered in 10 s is down or stuck: the attempt fails and is retried."""

DELIVERY_ATTEMPTS_MAX: Final = 8
"""With the doubling delays, about 10 hours of trying: a receiver down longer needs a person."""

DELIVERY_RETRY_BASE_S: Final = 60
"""The first retry a minute later: long enough for a restarting receiver."""

DELIVERY_RETRY_MAX_S: Final = 4 * 3600
"""No two attempts more than 4 h apart, so a receiver back in the morning gets it that morning."""

DELIVERY_BODY_BYTES_MAX: Final = 4 * 1024 * 1024
"""An export of a large invoice is a few hundred KiB; past 4 MiB a receiver should fetch the link."""

# ---- invoice documents, their terms and exports (exports.py, invoice_terms.py, invoices.py, invoicing.py, pdf.py) ----

STRIPE_NAME_CHARS_MAX: Final = 100
"""Stripe's limit on a meter event's ``event_name`` and ``identifier``."""

EVENT_TEXT_CHARS_MAX: Final = 256
"""Customer ids, subjects, sources and types are short identifiers; longer is a mistake."""

PARTY_TEXT_CHARS_MAX: Final = 256
"""A name, tax id, e-mail address or address line is one line of a document."""

ADDRESS_LINES_MAX: Final = 8
"""A postal address is a handful of lines; more does not fit the party block."""

PAYMENT_TERMS_DAYS_DEFAULT: Final = 30
"""Net 30: the common term between businesses, and the EU late-payment directive's default."""

INVOICE_LINES_MAX: Final = 10_000
"""People read invoices: even grouped by orchestrator, a gateway's month is a few hundred
lines. Ten thousand is a grouping or rollup bug, refused before it becomes a 250-page PDF."""

TEXT_CHARS_MAX: Final = 256
"""Descriptions, references and sources are one line on a document; model ids (Hugging Face
``org/name``) are the longest key parts at up to 256 characters in the ledger."""

ADJUSTMENT_TEXT_CHARS_MAX: Final = 256
"""An adjustment's reason (up to 1,024 characters in the ledger) is cut to one invoice line,
billing.invoices.TEXT_CHARS_MAX; its ledger transaction id, in the line's reference, leads to
the whole text."""

RATES_LISTED_MAX: Final = 6
"""Snapshots listed one by one in the notes; a month priced by hundreds of Chainlink rounds is
summarized (count, id and rate range) instead of filling pages. The JSON lists them all."""

INVOICE_NUMBER_CHARS_MAX: Final = 64
"""Invoice numbers look like CH-2026-000042; a longer one is not a number but a mistake."""

# ---- ETH/USD rates (rates.py) ----

CLOCK_SKEW_S = 300
"""How far in the future an updatedAt may lie before it is a broken feed, not clock drift."""

FEED_DECIMALS_MAX = 36
"""Chainlink USD feeds have 8 decimals; a feed claiming more than 36 is not a price feed."""

RATE_TEXT_CHARS_MAX = 40
"""A USD price with generous decimals is ~20 characters; longer input is a mistake."""

RATE_CSV_BYTES_MAX = 16 * 1024 * 1024
"""A rate table of ~100,000 rows (RATES_PER_IMPORT_MAX) is ~4 MB; a bigger file is not one."""

# ---- the billing scheduler (scheduler.py) ----

HELD_RETRY_S: Final = 900
"""A held period is tried again every 15 minutes: soon after the operator prices the usage."""

STOP_JOIN_S: Final = 30.0
"""How long stopping waits for a tick in progress (a delivery attempt is bounded by its timeout)."""
