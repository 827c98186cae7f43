"""The named limits of the remote-signer HTTP transport, each with the reason for its value.

These bound what one HTTP caller can make the process do before anything is signed. They are
meant to move into ``clearinghouse/limits.py`` with the rest; until then the transport reads
them from here only. The limits an operator may configure ([limits]: request body and header
bytes, timeouts, JSON depth, connections, gRPC calls and message bytes) and the ``HttpLimits`` and
``GrpcLimits`` that carry them are already there, because clearinghouse.config builds them and
imports no transport.
"""

from __future__ import annotations

from clearinghouse.limits import TEXT_ID_LENGTH_MAX

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

GRPC_THREADS_MAX = 64
"""gRPC calls run on their own pool of this many threads. A signing call spends most of its time
on its thread waiting for the ledger committer's batch (group commit), so the pool must hold as
many calls as should share one batch: 64 fills a batch under load while each thread's stack
costs little; the committer's queue, not this pool, bounds the work in flight."""

V1_THREADS_MAX = GRPC_THREADS_MAX
"""The /v1 JSON routes' pool: the same calls as gRPC's, waiting for the committer the same way."""

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

