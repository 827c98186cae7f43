"""The named limits and protocol constants of the remote-signer payment algorithm.

Limits (``*_MAX``) bound the work or exposure one call may cause; protocol constants are
go-livepeer's values that our clients and orchestrators rely on. Each says why it has its value.
Defaults of operator settings (``*_DEFAULT``) are the values spec 01 gives for go-livepeer.
"""

from __future__ import annotations

TICKETS_PER_CALL_MAX = 100
"""go-livepeer refuses more than 100 tickets per call: more means a mis-tuned ticket EV, and it
bounds the deposit one call can expose and the signing work it can demand."""

SENDER_NONCE_MAX = 600
"""An orchestrator accepts at most 600 nonces per recipientRandHash (spec 01); past it we ask
for fresh params instead of signing tickets that would be refused yet still be liabilities."""

STATE_JSON_BYTES_MAX = 8192
"""Our state blobs are ~400 bytes; 8 KiB bounds the parsing a client can make us do while
leaving room for long App and AuthID strings."""

MAX_PRICE_EXPONENT_DIGITS_MAX = 4
"""A maxPrice like 1e99999 would make us build a 100,000-digit integer; no real price needs an
exponent of more than 4 digits."""

MAX_PRICE_TEXT_LENGTH_MAX = 128
"""A maxPrice in wei per unit needs at most 78 digits (a uint256) and a point, sign and short
exponent; longer text is refused before any big-number arithmetic (Python's int() refuses more
than 4,300 digits, and its cost grows with the square of the length)."""

EXPIRATION_BLOCK_MAX = 2**63 - 1
"""The ledger stores an offer's expiration block as a signed 64-bit integer; L1 blocks are near
2^25, so a larger expiration is no real orchestrator's and is refused as malformed."""

AUTH_TOKEN_REFRESH_S = 180
"""go-livepeer refreshes an orchestrator auth token in the last 10 % of its 30-minute life."""

PARAMS_EXPIRY_MARGIN_BLOCKS = 1
"""Ticket params whose expiration block is at most this far past the last seen L1 block are
treated as expired (go-livepeer's paramsExpiryBuffer)."""

LV2V_PRELOAD_S = 60
"""The first lv2v payment of a session covers 60 s (go-livepeer)."""

LIVE_PRELOAD_S = 10
"""The first live payment of a session covers 10 s (go-livepeer)."""

LV2V_PIXELS_PER_S = 1280 * 720 * 30
"""lv2v bills 720p at 30 fps whatever the stream is (go-livepeer's defaultSegInfo)."""

MAX_TICKET_EV_WEI_DEFAULT = 3_000_000_000_000
"""go-livepeer's default maxTicketEV (3e12 wei)."""

MAX_TOTAL_EV_WEI_DEFAULT = 20_000_000_000_000
"""go-livepeer's default maxTotalEV (2e13 wei) for one batch of tickets."""

DEPOSIT_MULTIPLIER_DEFAULT = 1
"""go-livepeer's default depositMultiplier: a face value may use the whole deposit."""

MAX_FACE_VALUE_WEI_DEFAULT: int | None = None
"""No face value cap beyond deposit / depositMultiplier, as go-livepeer: an absolute default would
refuse orchestrators whose face values are normal for them (they scale with redemption gas) and
break the drop-in promise. Operators who front many gateways should set one: it bounds how much
of the deposit a single winning ticket can take (and so how often one win stops signing)."""

SESSIONS_PER_GATEWAY_MAX = 10_000
"""Open sessions one gateway may have: one per live stream and orchestrator, so 10,000 is more
concurrent streams than any gateway runs today, while a gateway opening sessions in a loop makes
at most this many rows per SESSION_IDLE_S instead of unbounded ones."""

SESSION_IDLE_S = 600.0
"""A session whose head has not moved for 10 minutes no longer counts as open: go-livepeer pays
every few seconds (lv2v's first payment covers 60 s), so a live stream's session moves far more
often; a shorter window would let a loop open sessions faster."""
