"""The named limits and protocol constants of the remote-signer payment algorithm.

Limits (``*_MAX``) bound the work or exposure one call may cause; protocol constants are
go-livepeer's values that our clients and orchestrators rely on. Each says why it has its value.
Defaults of operator settings (``*_DEFAULT``) are the values spec 01 gives for go-livepeer.
"""

from __future__ import annotations

TICKETS_PER_CALL_MAX = 100
"""go-livepeer refuses more than 100 tickets per call: more means a mis-tuned ticket EV, and it
bounds the deposit one call can expose and the signing work it can demand."""

NONCES_PER_RECIPIENT_RAND_HASH_MAX = 600
"""The orchestrator's cap: it accepts at most 600 nonces per recipientRandHash (spec 01), and the
contract does not enforce it, so a ticket past it would be refused yet still be a liability. No
ticket is ever signed past it, on any path (NONCES_EXHAUSTED)."""

SENDER_NONCE_REFRESH_AT = 500
"""go-livepeer v0.9.2 (#4028): a remote-signer call whose next nonce under the current
recipientRandHash would be 500 or more is answered 480 instead, so the gateway fetches fresh
params with room for one more call of TICKETS_PER_CALL_MAX tickets before NONCES_PER_RECIPIENT_RAND_HASH_MAX."""

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
"""Unset: the cap is derived from the deposit at signing time (MAX_FACE_VALUE_DEPOSIT_DIVISOR).
An absolute default would refuse orchestrators whose face values are normal for them (they scale
with redemption gas), so the default follows the deposit instead; an operator's value replaces it."""

MAX_FACE_VALUE_DEPOSIT_DIVISOR = 10
"""Without [policy] max_face_value_wei, a ticket's face value may be at most deposit / 10. Health
turns critical when the deposit falls below the largest face value in flight, and that one number
is chosen by whichever orchestrator a gateway talks to: at deposit / 1 (go-livepeer's only bound)
a single winning ticket, or one unredeemable ticket, stops signing for every gateway. At
deposit / 10 one win leaves 90 % of the deposit, above every face value signed against it: health
warns ([health] deposit_face_value_multiple_warn is 10 too) and the operator tops up; it takes ten
wins in a row without a top-up to reach critical. Real face values are far below it (an
orchestrator sizes them to redemption gas, ~0.001 ETH on Arbitrum One)."""

SESSIONS_PER_GATEWAY_MAX = 10_000
"""Open sessions one gateway may have: one per live stream and orchestrator, so 10,000 is more
concurrent streams than any gateway runs today, while a gateway opening sessions in a loop makes
at most this many rows per SESSION_IDLE_S instead of unbounded ones."""

SESSION_IDLE_S = 600.0
"""A session whose head has not moved for 10 minutes no longer counts as open: go-livepeer pays
every few seconds (lv2v's first payment covers 60 s), so a live stream's session moves far more
often; a shorter window would let a loop open sessions faster."""

FIRST_CALL_RETRY_WINDOW_S = 60.0
"""A session's first call (no state) repeated byte for byte by the same gateway within a minute
gets the stored answer instead of opening a second session: a client that lost the answer
retries within its payment interval (go-livepeer pays every 5 s, the SDK every 3-5 s with a 5 s
timeout), so a minute covers several retries, while two streams that send byte-identical first
requests (same OrchestratorInfo and ManifestID) a minute apart are not one stream."""

FIRST_CALL_RETRY_WINDOW_S_MAX = 3600.0
"""An hour: past it an "identical first request" is a new stream reusing old params, not a retry."""

# ---- caches of the payment service (issued_states.py, service.py) ----

ISSUED_STATES_MAX = 8192
"""Sessions whose last state is kept (about 1.5 KiB each, so ~12 MiB): more live sessions than a
busy signer pays at once; a session past it is decoded the full way."""

SEGMENT_SIGNATURES_CACHED_MAX = 16_384
"""Segment-credential signatures kept (least recently used dropped): one per live session, so
more than the open sessions of a busy signer, in about 2 MiB."""

