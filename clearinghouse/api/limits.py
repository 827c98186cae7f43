"""The named limits of the remote-signer HTTP transport, each with the reason for its value.

These bound what one HTTP caller can make the process do before anything is signed. They are
meant to move into ``clearinghouse/limits.py`` with the rest; until then the transport reads
them from here only.

The operator may change those a deployment could need to (the [limits] settings, see
``clearinghouse.config``): ``HttpLimits`` and ``GrpcLimits`` carry the configured values to the
transports, and default to the constants below, so an app built without configuration (tests,
benchmarks) behaves as before. Header bytes and JSON depth may only be tightened: their
constants stay the ceilings that the header and JSON decoders (requests.py, payloads.py) enforce.
"""

from __future__ import annotations

from dataclasses import dataclass

from clearinghouse.limits import TEXT_ID_LENGTH_MAX

REQUEST_BODY_BYTES_MAX = 64 * 1024
"""A /generate-live-payment body is ~2 KiB (OrchestratorInfo, state blob, capabilities);
64 KiB leaves room for large capability maps while bounding what we buffer and parse."""

JSON_DEPTH_MAX = 8
"""Our deepest request is 2 levels (body → state/maxPrice); 8 tolerates clients that send
extra nested fields we ignore, and refuses bodies built to exhaust the parser."""

REQUEST_HEADER_BYTES_MAX = 16 * 1024
"""Real clients send < 1 KiB of headers (a bearer key and a few names); 16 KiB is what common
proxies accept, and bounds what we copy into a webhook call."""

REQUEST_HEADER_TIMEOUT_S = 10.0
"""From a connection's first byte (or the end of its previous request) to the end of a request's
headers: a real client sends its < 1 KiB of headers in one packet; one that trickles them for
10 s is a slowloris holding a connection slot (uvicorn has no such timeout: server.py adds it)."""

REQUEST_LINE_BYTES_MAX = 8 * 1024
"""Request line and header framing (``: ``, CRLFs) on top of REQUEST_HEADER_BYTES_MAX: what
the connection may buffer before its headers end. Our paths are < 100 bytes; 8 KiB is the
common proxies' request-line limit."""

REQUEST_BODY_TIMEOUT_S = 10.0
"""A body of at most 64 KiB on a live connection arrives in milliseconds; a client that takes
10 s is stalled or hostile and holds a connection slot."""

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

CONNECTIONS_MAX = 1024
"""Concurrent connections uvicorn accepts before answering 503 (its limit_concurrency): many
more than gateways use, few enough that queued requests stay within memory."""

KEEP_ALIVE_S = 75
"""Idle keep-alive time; go-livepeer pays every ~5 s and reuses the connection."""

PEPPER_BYTES_MIN = 32
"""The pepper is an HMAC key; shorter than the digest size would weaken it."""

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

GRPC_CONCURRENT_RPCS_MAX = 256
"""Calls in progress or queued for a thread before the server answers RESOURCE_EXHAUSTED at
once: four per thread, a few batches of the committer, which drain in well under THREAD_WAIT_S;
a longer queue would only make every caller wait."""

GRPC_MESSAGE_BYTES_MAX = REQUEST_BODY_BYTES_MAX
"""A request message carries what a /generate-live-payment body does, without base64: the same
bound applies (larger messages are refused by the gRPC core before any of our code runs)."""

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

USAGE_PERIOD_S_MAX = 366 * 86_400
"""GetUsage covers at most a (leap) year per call: a yearly report in one call, while bounding
the signing records one call streams through."""


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """The configured limits of the HTTP listener ([limits]); defaults are the constants above."""

    request_body_bytes_max: int = REQUEST_BODY_BYTES_MAX
    request_header_bytes_max: int = REQUEST_HEADER_BYTES_MAX
    request_header_timeout_s: float = REQUEST_HEADER_TIMEOUT_S
    request_body_timeout_s: float = REQUEST_BODY_TIMEOUT_S
    json_depth_max: int = JSON_DEPTH_MAX
    connections_max: int = CONNECTIONS_MAX
    keep_alive_s: int = KEEP_ALIVE_S

    @property
    def request_timeout_s(self) -> float:
        """The whole request — line, headers, body and trailers — must arrive within this of its
        first byte (server.py): the larger of the two timeouts, so a slow client holds a
        connection slot at most that long (10 s by default), not the two of them in a row."""
        return max(self.request_header_timeout_s, self.request_body_timeout_s)

    def __post_init__(self) -> None:
        if not 0 < self.request_header_bytes_max <= REQUEST_HEADER_BYTES_MAX:
            raise ValueError(f"request_header_bytes_max must be in (0, {REQUEST_HEADER_BYTES_MAX}], "
                             f"got {self.request_header_bytes_max}")
        if not 0 < self.json_depth_max <= JSON_DEPTH_MAX:
            raise ValueError(f"json_depth_max must be in (0, {JSON_DEPTH_MAX}], got {self.json_depth_max}")
        if min(self.request_body_bytes_max, self.connections_max, self.keep_alive_s) < 1:
            raise ValueError("request_body_bytes_max, connections_max and keep_alive_s must be >= 1")
        if min(self.request_header_timeout_s, self.request_body_timeout_s) <= 0:
            raise ValueError("request timeouts must be > 0")


@dataclass(frozen=True, slots=True)
class GrpcLimits:
    """The configured limits of the gRPC server ([limits]); defaults are the constants above."""

    concurrent_rpcs_max: int = GRPC_CONCURRENT_RPCS_MAX
    message_bytes_max: int = GRPC_MESSAGE_BYTES_MAX

    def __post_init__(self) -> None:
        if min(self.concurrent_rpcs_max, self.message_bytes_max) < 1:
            raise ValueError("concurrent_rpcs_max and message_bytes_max must be >= 1")
