"""Every size and time limit of the ledger's storage, each with the reason for its value.

Column widths are limits too: a value past them is refused with ``InvalidLedgerInput`` before
it reaches the database, instead of being truncated or failing differently per backend. The
bounds of the domain's values (session heads, signing calls, chain events: BIGINT_MAX,
TEXT_ID_LENGTH_MAX, ...) are in ``clearinghouse.domain.limits``, where the domain checks them too.
"""

from __future__ import annotations

WEI_DIGITS_MAX = 78
"""2**256 − 1 (uint256, the largest on-chain amount) has 78 decimal digits: NUMERIC(78,0)."""

RATIONAL_DIGITS_MAX = 180
"""Numerator or denominator of an exact rational wei amount. A session balance's denominator
divides (2**256 − 1) × pixelsPerUnit (EV and fee combined, about 10**96) and magnitudes reach
2**256 wei (about 10**77), so NUMERIC(78,0) would overflow; 180 digits leave headroom."""

GATEWAY_NAME_LENGTH_MAX = 64
"""Operator-chosen names; long enough for a company and environment."""

API_KEY_PREFIX_LENGTH_MAX = 16
"""The displayed start of a key (e.g. ``ch_live_ab12``), never enough to use it."""

SQLITE_BUSY_TIMEOUT_S = 5.0
"""How long a SQLite writer waits for the single write lock before the call fails."""

POSTGRES_CONNECT_TIMEOUT_S = 10
"""How long connecting to PostgreSQL may take before the call fails."""

VERIFY_BATCH_ROWS_MAX = 10_000
"""Rows per round trip when ``verify_ledger`` streams postings: bounded memory per batch."""

SUBJECT_QUOTAS_LISTED_MAX = 10_000
"""Per-subject quota overrides ``subject_quotas`` returns at most: one page for the CLI; a
gateway with more end users than this sets a default subject quota instead."""

CHAIN_EVENTS_PER_BATCH_MAX = 10_000
"""Chain events one ``apply_chain_events`` call takes: hosted RPCs answer at most 10,000 logs per
eth_getLogs, and our sender emits a handful per block range the watcher scans."""

CHECKPOINTS_KEPT = 128
"""Block refs kept per chain cursor to find the fork point after a reorg: one per applied batch,
so 128 polls (minutes at the watcher's intervals), far deeper than any Arbitrum reorg; each is
one header read when walked."""

CURSOR_NAME_LENGTH_MAX = 96
"""A chain cursor's name, such as ``ticket_broker:0x`` + 40 hex digits (57 characters)."""

REDEMPTIONS_LISTED_MAX = 10_000
"""Redemptions one listing returns at most: a page for reports; page on with ``since_block``."""

TICKET_HASHES_PER_LOOKUP_MAX = 10_000
"""Ticket hashes one ``redeemed_ticket_hashes`` call looks up: one IN list, well inside
SQLite's 32,766 bound parameters."""

TICKET_VALIDITY_ROUNDS_MAX = 1_000
"""Mainnet's ticketValidityPeriod is 2 rounds; a value near this is a misread, not a setting."""

RATES_LISTED_MAX = 10_000
"""Rate snapshots one listing returns: years of daily manual rates, hours of Chainlink rounds."""

RATES_PER_IMPORT_MAX = 100_000
"""Rates one import stores in one transaction: a decade of hourly rates; a larger file is split."""

USAGE_ROWS_MAX = 1_000_000
"""Hourly usage rows one read returns: a month of a gateway with ~1,300 line keys busy every
hour; a larger period is read in parts (a few hundred MB of Python objects is the real bound)."""

INVOICE_NUMBER_LENGTH_MAX = 32
"""An invoice number such as ``CH-2026-000042`` (14 characters); a series prefix of up to 16
characters and a million invoices a year still fit."""

INVOICE_SERIES_LENGTH_MAX = 16
"""The issuer's series code (``CH``) before the year: a short mark, not a name."""

INVOICE_CONTENT_BYTES_MAX = 16 * 1024 * 1024
"""An invoice's canonical JSON: up to 10,000 lines of about 700 bytes is 7 MB; more is a bug."""

INVOICES_LISTED_MAX = 10_000
"""Invoices one listing returns: years of monthly invoices for hundreds of gateways."""

FX_SOURCE_LENGTH_MAX = 128
"""Where an FX rate came from ("ECB reference rate"): one line on the invoice."""

SIGNING_BATCH_MAX = 128
"""Calls one group-commit batch takes at most: a batch's transaction holds the database's write
lock (SQLite) for its whole length, and at ~0.2 ms of work per call 128 calls keep it near 25 ms,
inside the signing path's p99 goal; under lighter load batches are smaller by themselves."""

SIGNING_BATCH_MAX_CEILING = 1024
"""The highest ``[limits] signing_batch_max`` an operator may set: one batch's reads bind one
parameter per call (SQLite allows 32,766) and its transaction must stay short."""

SIGNING_QUEUE_MAX = 1024
"""Calls waiting for the committer at most before new ones are refused with 503: eight full
batches, about 0.2 s of work, so a call admitted is answered well inside any client timeout, and
one past it is told to retry at once instead of waiting without bound."""

SIGNING_QUEUE_MAX_CEILING = 65_536
"""The highest ``[limits] signing_queue_max``: each queued call holds its decoded request in
memory (a few KiB), so this bounds that memory to a few hundred MiB."""

BATCH_ATTEMPTS_MAX = 3
"""Runs of one batch at most: the first (credit read unlocked on PostgreSQL), one locked after
another process moved a gateway's credit, one more after a deadlock; then the calls get 503."""

LEDGER_BUSY_RETRY_AFTER_S = 1
"""The Retry-After of a call refused because the signing queue was full: the queue drains in
well under a second."""

COMMITTER_IDLE_EXIT_S = 30.0
"""The committer's thread ends (and returns its connection) after this long without a call."""

COMMITTER_STOP_TIMEOUT_S = 30.0
"""How long closing the committer waits for the queued calls to be committed."""

URL_LENGTH_MAX = 2048
"""A webhook URL: long enough for a path with a query token, short enough to log (redacted)."""

WEBHOOK_SECRET_LENGTH_MAX = 128
"""A delivery secret is 32 random bytes as 64 hex digits; twice that leaves room, never more."""

SETTLEMENT_ROWS_LISTED_MAX = 10_000
"""Billing runs, deliveries or funding actions one listing returns: a screenful per gateway
and years of daily actions, without reading a whole table into memory."""

APP_NAME_LENGTH_MAX = 64
"""An app's operator-chosen name, like a gateway's."""

CLIENT_ID_LENGTH_MAX = 32
"""``app_`` + 22 base64url characters (128 random bits)."""

EXTERNAL_ID_LENGTH_MAX = 96
"""The app's own id of an end user (a UUID, an e-mail, a database key): short enough that
``<client_id>:<external_id>``, the user's usage subject, fits TEXT_ID_LENGTH_MAX."""

EMAIL_LENGTH_MAX = 254
"""RFC 5321's longest forward path."""

JTI_LENGTH_MAX = 64
"""A token id: 128 random bits in base64url are 22 characters; room to spare."""

END_USERS_LISTED_MAX = 500
"""One page of an app's users: the Builder API's ``limit`` is at most this."""

EVENT_DATA_CHARS_MAX = 4096
"""A refusal event's JSON data: a few ids, a reason and a message of at most 300 characters."""
EVENT_SINK_NAME_MAX = 64
"""An event sink's name, chosen by the operator in [events]."""

# ---- billing cycles (billing_cycles.py) ----

GRACE_S_MAX = 30 * 86_400
"""As the table's CHECK: a month of grace is already longer than any record stays in flight."""

LENGTH_DAYS_MAX = 366
"""A custom cycle of more than a year is an annual contract, not a billing cycle."""

OVERDUE_DAYS_MAX = 365
"""As billing_profiles.PAYMENT_TERMS_DAYS_MAX: a year overdue is a collection case."""

# ---- billing profiles (billing_profiles.py) ----

PROFILE_TEXT_LENGTH_MAX = 256
"""A legal name, tax id, e-mail address or tax note is one line of a document."""

ADDRESS_LENGTH_MAX = 2048
"""A postal address of a few lines, newline-separated."""

# ---- deposit samples (deposit_samples.py) ----

DEPOSIT_SAMPLE_INTERVAL_S = 60.0
"""A flat position is stored once a minute: a week's chart is ~10,000 points, and the chart
shows when the monitor was (not) running to the minute."""

DEPOSIT_SAMPLES_LISTED_MAX = 50_000
"""Samples one read returns at most: 30 days of a flat position (43,200) plus its changes; a
longer window gets its newest samples."""

# ---- the event outbox (outbox.py) ----

OUTBOX_PAGE_MAX = 1000
"""Rows one read returns: a sink publishes them as one batch (a NATS flush, one HTTP POST)."""

BACKLOG_COUNT_MAX = 10_000_000
"""Unsent rows counted at most per status read, so a runaway backlog costs a bounded scan."""

PRUNE_ROWS_MAX = 10_000
"""Rows one prune deletes, so it never holds the writer long; the relay prunes again next tick."""

# ---- reconciliation reads (reconciliation_reads.py) ----

PERIOD_DAYS_MAX = 366
"""A reconciliation covers a month, at most a (leap) year: the longest period an operator
audits at once, and a bound on how many records one report streams."""

ALARMS_LISTED_MAX = 100
"""Unmatched redemptions a report lists by name; ``UnmatchedAlarm.total`` counts them all. One
is already an incident; a hundred are enough to start the investigation from."""
