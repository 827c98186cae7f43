"""The named limits several layers share, each with the reason it has the value it has.

A limit that one layer alone enforces lives in that layer's ``limits.py`` (``api``, ``billing``,
``chain``, ``cli``, ``config``, ``events``, ``identity``, ``ledger``, ``signer``); a limit two
layers check lives here, once. Limits are upper bounds on work a caller can ask for. Protocol
facts (the width of a nonce, the order of secp256k1) are not limits and live with the code that
implements the protocol.
"""

from __future__ import annotations

TICKETS_PER_BATCH_MAX = 600
"""An orchestrator accepts at most 600 nonces per recipientRandHash (spec 01), so a larger
batch under one set of ticket params can only be a bug."""

PERSONAL_MESSAGE_BYTES_MAX = 1 << 20
"""The largest message we personal-sign is a remote-signer state blob (well under 2 KiB); 1 MiB
bounds the hashing one call can demand while leaving ample room."""

# ---- shared by the ledger's CHECK constraints and billing's validation of the same settings ----

TAX_RATE_BPS_MAX = 10_000
"""A tax rate above 100 % is a slip of units (a percentage typed as basis points)."""

PAYMENT_TERMS_DAYS_MAX = 365
"""Payment terms beyond a year are a typo, not a contract."""

MARKUP_BPS_MAX = 100_000
"""A markup above 1,000 % of cost is a slip of units (a percentage typed as basis points),
not a price anybody agreed to."""

# ---- webhooks: the operator's alert webhook (deposit and outbox alerts), invoice delivery ----

ALERT_WEBHOOK_TIMEOUT_S = 5.0
"""One alert POST; a slow receiver must not hold up the next health judgement or relay pass
for long."""

ALERT_WEBHOOK_BODY_BYTES_MAX = 64 * 1024
"""An alert carries a dozen short findings; more than this is a bug, not an alert."""

ANSWER_BYTES_READ_MAX = 1024
"""Read this much of a webhook receiver's answer: only its status matters, and reading a little
lets the connection close cleanly."""

# ---- the ticket core's caches and the keystore ----

EVS_CACHED_MAX = 4096
"""Distinct (face value, win probability) pairs whose EV is kept: one per orchestrator's ticket
params in use, far more than a signer meets at once; a few hundred KiB."""

KEY_FILE_CHARS_MAX = 4_096
"""A key file holds 64 hex digits and some whitespace; a larger file is the wrong file."""
