"""The named limits of the transports (remote-signer HTTP, /v1, gRPC, admin, Builder, OIDC, the
dashboard), each with the reason for its value.

These bound what one caller can make the process do before anything is signed; the limits more
than one layer checks are in ``clearinghouse/domain/limits.py``.

The operator may change those a deployment could need to (the [limits] settings, see
``clearinghouse.config``): ``HttpLimits`` and ``GrpcLimits`` carry the configured values to the
transports, and default to the constants below, so an app built without configuration (tests,
benchmarks) behaves as before. Header bytes and JSON depth may only be tightened: their
constants stay the ceilings that the header and JSON decoders (requests.py, payloads.py) enforce.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from clearinghouse.domain.limits import BIGINT_MAX, TEXT_ID_LENGTH_MAX

REQUEST_LINE_BYTES_MAX = 8 * 1024
"""Request line and header framing (``: ``, CRLFs) on top of REQUEST_HEADER_BYTES_MAX: what
the connection may buffer before its headers end. Our paths are < 100 bytes; 8 KiB is the
common proxies' request-line limit."""

PIPELINED_REQUESTS_MAX = 8
"""Requests queued on one connection behind the one being answered (HTTP/1.1 pipelining). No
gateway pipelines; without a bound uvicorn parses every request a client sends ahead and keeps
each (~1.5 KiB), so one connection could grow the process without limit. Past it the server
stops reading that connection until its queue drains."""

PARSE_SLICE_BYTES = 4096
"""Received bytes are parsed in slices of this size, so the pipeline bound is checked between
slices: a slice holds at most ~220 of the smallest requests, which bounds the overshoot. 4 KiB
holds a whole go-livepeer payment call (~2.5 KiB with its state), parsed in one piece: with 1 KiB
slices each call paid for three."""

INLINE_DECODE_BYTES_MAX = 16 * 1024
"""Bodies up to 16 KiB (a go-livepeer call is ~2 KiB) are decoded on the event loop: even their
worst case costs ~1 ms there (benchmarks/decoders.py). Larger ones go to the decode threads, so a
large body cannot hold up every other connection while it is parsed."""

DECODE_THREADS_MAX = 2
"""Threads decoding large bodies. Decoding holds the GIL, so more threads would not decode
faster; they would only hold more bodies in memory at once."""

SIGNING_THREADS_MAX = 8
"""Blocking work of the HTTP app (API-key lookups, a payment's planning when it may wait on the
chain, the readiness check) runs on this many threads. A payment no longer holds one while its
batch commits (the committer answers a future), so they only overlap short reads."""

WEBHOOK_THREADS_MAX = 32
"""Webhook calls mostly wait on the network (up to WEBHOOK_TIMEOUT_S each), so they get their
own, larger pool and cannot starve signing."""

THREAD_WAIT_S = 5.0
"""How long a request may queue for a free worker thread before we answer 503: past this the
server is overloaded and the client should retry elsewhere. No work has started by then."""

API_KEY_CACHE_TTL_S = 2.0
"""How long a successful key lookup is reused: one database read per key per 2 s instead of
per call, and a revoked key or disabled gateway is refused at most 2 s later."""

API_KEYS_CACHED_MAX = 10_000
"""Keys remembered at once (~300 B each); past it the least recently authenticated is dropped,
which costs one more database read, never a wrong answer."""

USAGE_SUBJECT_LENGTH_MAX = TEXT_ID_LENGTH_MAX
"""A usage subject (header, key's own, or webhook auth_id) is stored in a 128-character column."""

TEXT_FIELD_LENGTH_MAX = TEXT_ID_LENGTH_MAX
"""ManifestID and app are stored in 128-character columns; longer is refused, not truncated."""

REQUEST_ID_CHARS_MAX = TEXT_ID_LENGTH_MAX
"""A SignTickets request id is stored in a 128-character column (protos/clearinghouse.proto
states the rule a client reads)."""

WEBHOOK_TIMEOUT_S = 5.0
"""go-livepeer's webhook client timeout; an authorization slower than this fails closed."""

WEBHOOK_RESPONSE_BYTES_MAX = 16 * 1024
"""A webhook answer is a few short fields; more is garbage, and reading it is bounded."""

WEBHOOK_REASON_LENGTH_MAX = 512
"""A denial reason is a sentence for the gateway operator; longer ones are cut, not refused."""

WEBHOOK_DECISIONS_CACHED_MAX = 100_000
"""Sessions whose unexpired webhook decision we remember (about 200 B each, 20 MB at most);
the oldest is forgotten first, which costs one more webhook call, never an authorization."""

GATEWAY_CALL_THREADS_MAX = 64
"""The clearinghouse.v1 operations (the /v1 JSON routes and gRPC) share a pool of this many
threads. A signing call spends most of its time on its thread waiting for the ledger committer's
batch (group commit), so the pool must hold as many calls as should share one batch: 64 fills a
batch under load while each thread's stack costs little; the committer's queue, not this pool,
bounds the work in flight."""

DATABASE_THREADS_MAX = 8
"""Reads and writes of the operator's and builders' routes (admin, dashboard, OIDC, Builder API):
each is a read or two (a month's draft or a PDF at most), rare next to signing; a pool of their
own keeps them from holding signing threads or more than this many database connections (two
per app when each kept its own pool)."""

METRICS_THREADS_MAX = 1
"""Rendering the Prometheus exposition: one thread of its own, so a busy signing pool cannot
starve a scrape, and concurrent scrapes queue instead of multiplying the rendering work."""

GRPC_RESPONSE_BYTES_MAX = 1024 * 1024
"""Our largest answer, a Payment of TICKETS_PER_CALL_MAX tickets with their hashes, is ~15 KiB;
1 MiB is gRPC's default and leaves room for a long usage breakdown."""

GRPC_SHUTDOWN_GRACE_S = 10.0
"""On shutdown, calls in progress get this long to finish (a signing call takes milliseconds,
a call queued on the SQLite write lock at most SQLITE_BUSY_TIMEOUT_S); then they are cancelled."""

GRPC_KEEPALIVE_TIME_S = 60
"""Server-side keepalive pings on idle connections: a dead gateway connection is noticed in
about a minute, far less often than any proxy's idle timeout."""

ADMIN_INVOICES_LISTED_MAX = 1_000
"""One admin listing's JSON stays under ~0.5 MB (about 400 B per invoice); years of monthly
invoices of one gateway fit, and all gateways' are read per gateway. (Here, not in admin_http.py,
because the OpenAPI document states it too.)"""

# ---- the admin, Builder and OIDC apps ----

ROW_ID_MAX: Final = BIGINT_MAX
"""Invoice and gateway ids are BIGINT: a larger id names no row, and is refused as malformed."""

ADMIN_BODY_BYTES_MAX: Final = 4 * 1024
"""An admin body is a few ids, a month and a reason (at most ~1 KiB of audit text)."""

ADMIN_QUERY_FIELDS_MAX: Final = 16
"""The most parameters a route takes is six; more is a wrong client, refused before parsing on."""

INVOICES_LISTED_DEFAULT: Final = 50
"""A listing without ``limit`` returns a page like `clearinghouse invoice list`."""

ADMIN_USAGE_GROUPS_MAX: Final = 10_000
"""Usage groups one answer holds (~250 B each, ~2.5 MB): a month by subject or orchestrator of a
busy gateway; more is refused with a hint to narrow the period or group coarser."""

BUILDER_BODY_BYTES_MAX: Final = 4 * 1024
"""A body is an external id, an e-mail, a flag or an amount."""

USERS_LISTED_DEFAULT: Final = 100
"""A Builder listing without ``limit`` returns a page an app's admin screen shows at once."""

# ---- the operator dashboard ----

APPS_SHOWN_MAX: Final = 50
"""Apps on the page; an operator with more reads them with `clearinghouse app list`."""

USERS_SHOWN_MAX: Final = 20
"""Users per app on the page (the first by id); `clearinghouse user list` pages through all."""

POINTS_DRAWN_MAX: Final = 2_000
"""Samples drawn per series before thinning: a week of a flat position at one sample a minute
is ~10,000; four per pixel column of an 850 px plot keeps the shape in a page of ~100 KB."""

Y_TICKS_MAX: Final = 5
"""Labels on a chart's value axis: more crowd a 300 px high plot."""

X_TICKS_MAX: Final = 8
"""Labels on a chart's time axis: more overlap on an 850 px wide plot."""

LOGIN_BODY_BYTES_MAX: Final = 1_024
"""The login form is one token (64 hex digits from `clearinghouse init`) and its field name."""

QUERY_FIELDS_MAX: Final = 8
"""The page takes three parameters; more is not a browser following our links."""

INVOICES_SHOWN_MAX: Final = 50
"""The newest invoices on the page; finance lists more with `clearinghouse invoice list`."""

FUNDING_ACTIONS_SHOWN_MAX: Final = 20
"""The newest replenishments: weeks of them at the default caps; `deposit history` has the rest."""

REJECTIONS_SHOWN_MAX: Final = 50
"""The newest rejections on the page (the process keeps RECENT_REJECTIONS_MAX)."""

CHART_SPAN_MIN: Final = timedelta(minutes=10)
"""The narrowest chart: a devnet's first sample is drawn across ten minutes, not as one dot."""

SESSION_TTL_S: Final = 12 * 3600
"""A working day: the operator logs in once in the morning, not again after lunch."""

LOGOUTS_REMEMBERED_MAX: Final = 1_024
"""Logged-out session ids kept until their expiry. One operator logs out a few times a day;
past this the signing key is replaced instead, which logs every session out (safe, bounded)."""

FAILED_LOGINS_PER_MINUTE_MAX: Final = 10
"""Failed logins one client address may make per minute before it gets 429: a person mistyping
is far below it, and guessing a 256-bit token at 10 a minute is hopeless."""

FAILED_LOGIN_WINDOW_S: Final = 60.0
"""The minute FAILED_LOGINS_PER_MINUTE_MAX counts over."""

FAILED_LOGIN_ADDRESSES_MAX: Final = 10_000
"""Client addresses whose recent failures are remembered (each ~300 B, ~3 MB at most): far more
than ever try the login form, while one flood from many addresses cannot grow the process."""

# ---- orchestrator discovery, rate limits, rejections and the loopback server ----

ENTRIES_MAX = 1024
"""Orchestrators listed at most: Livepeer's active set is 100, and a gateway may pay a few outside
it; the least recently seen are dropped first, so a flood of one-off URIs cannot grow the book."""

URL_CHARS_MAX = 2048
"""A service URI longer than a browser's limit is not an orchestrator's address: not recorded."""

CAPABILITIES_MAX = 64
"""Capability names kept per orchestrator: the AI pipelines × models one orchestrator serves."""

MODEL_ID_CHARS_MAX = 256
"""A model id longer than this (Hugging Face ids are ~100 characters) is not recorded."""

CAPS_QUERY_MAX = 32
"""``caps`` values one query may filter by: each is one pipeline/model name."""

GATEWAY_BUCKETS_MAX = 100_000
"""Far more gateways than a clearinghouse serves; bounds memory if ids were ever unbounded."""

RECENT_REJECTIONS_MAX = 200
"""Enough to see a pattern on one screen; a bounded deque, so a flood costs no memory."""

MESSAGE_CHARS_MAX = 300
"""A refusal's message is ours and short; anything longer is cut so one row stays one row."""

SERVER_START_TIMEOUT_S = 10.0
"""A loopback server that has not started within 10 s never will; the test should fail."""

SERVER_STOP_TIMEOUT_S = 10.0
"""How long stopping may take: in-flight calls finish (each is bounded), then the thread ends."""

# ---- clearinghouse.v1 (gRPC and /v1) ----

USAGE_PERIOD_S_MAX = 366 * 86_400
"""GetUsage covers at most a (leap) year per call: a yearly report in one call, while bounding
the signing records one call streams through."""
