"""The chain layer's named limits and the defaults the configuration shares, each with its reason
(no imports beyond typing: the config reads them without loading web3)."""

from __future__ import annotations

from typing import Final

CONFIRMATIONS_DEFAULT = 20
"""Blocks mined on top before a block is scanned: Arbitrum's sequencer does not reorg in
practice, but an RPC node can briefly serve a stale branch; 20 blocks are ~5 s on Arbitrum One
(0.25 s blocks), a delay no payout report notices."""

CONFIRMATIONS_MAX = 50_000
"""~3.5 hours of Arbitrum One blocks, far past L1 finality of a batch; more is a typo."""

WATCH_POLL_S_DEFAULT = 5.0
"""Between polls once caught up: funding, payouts and rounds change a few times a minute at
most, and a poll costs two eth_getLogs and two or three header reads."""

BATCH_BLOCKS_DEFAULT = 2_000
"""Blocks per eth_getLogs: hosted RPCs accept ranges of a few thousand blocks (some allow any
number of logs only within 2,000), and our sender's logs in 2,000 blocks are a handful."""

# ---- sanity bounds on what the chain says (a read outside them is treated as a failed read) --

WEI_SUPPLY_MAX = 10**9 * 10**18
"""One billion ETH, in wei: about 8 × all the ETH there is (~120 million). No deposit, reserve,
balance or transfer can exceed the supply, so a larger value is a lying or broken RPC, not money."""

UINT256_MAX = 2**256 - 1
"""The largest value a contract word holds; an RPC answer above it is not a uint256 at all."""

BLOCK_NUMBER_MAX = 10**12
"""Arbitrum One at its fastest (4 blocks/s) needs ~8,000 years to reach this; a head above it is a
lie, and the bound keeps block numbers inside the ledger's 64-bit columns."""

HEAD_REGRESSION_BLOCKS_MAX = CONFIRMATIONS_MAX
"""How far the head may go back between two reads: the deepest reorg the watcher is configured
for (CONFIRMATIONS_MAX, past L1 finality of an Arbitrum batch). Ordinary reorgs and a node behind
a load balancer lag by a handful of blocks; more is another chain or a lie."""

HEAD_ADVANCE_BLOCKS_PER_S_MAX = 40
"""How fast the head may move forward between two reads: 10 × Arbitrum One's fastest block rate
(one block per 250 ms), so a busy sequencer never trips it."""

HEAD_ADVANCE_SLACK_BLOCKS = 100_000
"""Forward blocks allowed on top of the rate: ~7 hours of Arbitrum One blocks, for clocks that
stop (a suspended VM) and devnets that mine in bursts (anvil_mine of up to 100,000 blocks)."""

BURN_WINDOW_S_DEFAULT = 3600.0
"""An hour of samples: smooths a bursty hour of live video, still follows a change within it."""

BURN_SPAN_MIN_S = 10.0
"""A rate over less than 10 s of samples is noise; runway stays unknown until then."""

TICKET_VALIDITY_ROUNDS_MAX = 64
"""The TicketBroker's ticketValidityPeriod is 2 rounds on Arbitrum One (spec 04); a governance
change to two months of rounds would be news. A larger answer is treated as implausible: the
monitor reads one block hash per open round, and a lying node must not make it read thousands."""

ROUND_BLOCK_HASHES_CACHED_MAX = 4 * TICKET_VALIDITY_ROUNDS_MAX
"""Rounds whose RoundsManager block hash is kept: a hash never changes once a round is initialized,
and only the open rounds (ticketValidityPeriod of them) are asked for, so this holds every open
round several times over at ~100 bytes an entry; the oldest are dropped first."""

# ---- anvil and the devnet (anvil.py, artifacts.py, devnet.py) ----

ANVIL_START_TIMEOUT_S = 15.0
"""anvil answers within ~0.2 s; 15 s leaves room for a cold page cache on a loaded 2-core CI box."""

ANVIL_STOP_TIMEOUT_S = 5.0
"""anvil exits at once on SIGTERM; after this long it is killed."""

ANVIL_POLL_INTERVAL_S = 0.02
"""How often start-up polls JSON-RPC: short, since start-up time adds to every test module."""

ANVIL_PROBE_TIMEOUT_S = 1.0
"""One readiness probe on loopback; a live anvil answers in milliseconds."""

ANVIL_START_ATTEMPTS_MAX = 3
"""The free port we pick can be taken before anvil binds it; retry that race a few times."""

ANVIL_LOG_TAIL_BYTES_MAX = 4_000
"""How much of anvil's output a start-up error quotes: enough for its error, not a flood."""

ANVIL_BLOCKS_PER_MINE_MAX = 100_000
"""About 15 mainnet-length rounds, ~10 s of mining at ~0.1 ms a block; more is a mistake that
would stall the node."""

ANVIL_RPC_TIMEOUT_S = 60.0
"""One JSON-RPC request to anvil, the longest being anvil_mine of ANVIL_BLOCKS_PER_MINE_MAX."""

ARTIFACT_BYTES_MAX = 1 << 20
"""Our largest artifact is ~40 KB; anything past 1 MiB is not one of ours."""

# ---- JSON-RPC reads and funding transactions (client.py, funding.py, redact.py) ----

RPC_REQUEST_TIMEOUT_S = 10.0
"""One JSON-RPC request (connect + answer): hosted Arbitrum RPCs answer in well under a second,
so 10 s is an outage, not a slow node; it also bounds how long a refresh can block."""

ERROR_DETAIL_CHARS_MAX = 300
"""How much of a (scrubbed) library error a ChainError quotes: its gist, not a page of HTML."""

LOGS_BLOCKS_MAX = 10_000
"""Blocks one eth_getLogs may span: hosted RPCs refuse wider ranges (or answer slowly), and it
bounds the memory of one answer; the chain watcher asks for 2,000 at most by default."""

TX_RECEIPT_TIMEOUT_S = 10.0
"""anvil mines each transaction at once; a receipt later than this means the node is stuck."""

DEVNET_REFRESH_S = 1.0
"""Devnet rounds move only when asked to, so a second between refreshes is plenty."""

DEVNET_STALE_AFTER_S = 10.0
"""Several refreshes may fail before signing stops: a restarted anvil is back in well under 10 s."""

AMOUNT_WEI_MAX = 2**128
"""About 3.4e20 ETH, a million times all the ETH there is (~1.2e8 ETH): a larger amount is a
typo, and refusing it early keeps absurd numbers out of messages and arithmetic."""

AMOUNT_TEXT_CHARS_MAX = 80
"""AMOUNT_WEI_MAX has 39 digits; with 18 decimals, a unit and spaces an amount stays well under
80 characters, so longer text is not an amount and is not parsed (or quoted) at all."""

RECEIPT_TIMEOUT_S = 120.0
"""Arbitrum's sequencer confirms in well under a second and anvil mines at once; no receipt
after two minutes means the transaction is stuck (fee too low, sequencer down)."""

# ---- deposit health and its monitor (health.py, monitor.py) ----

DEPOSIT_FACE_VALUE_MULTIPLE_WARN_DEFAULT = 10
"""Warn below 10 × the largest face value in flight: room for several wins in a row while the
operator tops up (go-livepeer's own sender check needs only 1 ×, our critical line)."""

GAS_BALANCE_WARN_WEI_DEFAULT = 10**16
"""0.01 ETH pays for hundreds of Arbitrum funding transactions at typical gas prices; below
it, the next top-up may not be affordable."""

RUNWAY_WARN_S_DEFAULT = 24 * 3600
"""A day: time for a person to notice, approve and send a top-up."""

WATCHER_LAG_WARN_S_DEFAULT = 300.0
"""Redemption events more than 5 minutes behind: payouts and exposure are no longer current."""

RUNWAY_SHOWN_MAX_S = 365 * 86_400
"""Beyond a year a runway reads "> 1 year" (dashboard, CLI): more digits only say little is signed."""

BURN_SAMPLES_MAX = 4096
"""One sample per refresh; at the 1 s default a window of an hour needs 3,600."""

ORCHESTRATORS_CHECKED_MAX = 16
"""Reserve allocations read per refresh: those with the most face value outstanding. Each is two
eth_calls; 16 covers a clearinghouse's busy orchestrators and keeps a refresh well under a second."""

# ---- active orchestrators (orchestrators.py) ----

ACTIVE_CHECK_WAIT_S = 2.0
"""How long a signing call waits for a lookup it missed the cache on: a healthy RPC answers an
eth_call in well under a second; a miss happens once per orchestrator per round (~a day), so 2 s
is rare and bounded, while the lock it is held under stalls other calls for that long at most."""

ACTIVE_CHECK_RPC_TIMEOUT_S = 5.0
"""The lookup's own JSON-RPC timeout: past ACTIVE_CHECK_WAIT_S, so a slow answer still lands in
the cache for the next call instead of being abandoned."""

ACTIVE_CACHE_ENTRIES_MAX = 4096
"""Cached (address, round) answers, least recently used dropped first: Livepeer's active set is
100 orchestrators, so this holds every one of them for many rounds plus the odd inactive
address a gateway tries, at ~100 bytes an entry."""

LOOKUPS_PENDING_MAX = 64
"""Distinct (address, round) lookups queued or running at once; past it a miss answers UNKNOWN
at once, so a flood of made-up recipients cannot queue unbounded work behind a slow RPC."""

LOOKUP_THREADS_MAX = 2
"""Worker threads for lookups: misses are rare, and two let one slow read not block another."""

RETRY_AFTER_FAILURE_S = 5.0
"""After a failed lookup, misses answer UNKNOWN without asking for this long: the RPC is shared,
so one failure says it is down; 5 s bounds both the wasted waits and how long a recovered RPC
goes unused."""

# ---- RPC URL redaction (redact.py) ----

API_KEY_SEGMENT_CHARS_MIN = 16
"""Infura and Alchemy keys are 32 characters, Ankr's 64, QuickNode tokens 40: a path segment
this long is a credential unless it is plain words (``arbitrum-mainnet``); route names such as
``v3`` or ``rpc`` are short."""

# ---- the replenisher (replenishment.py) ----

STOP_JOIN_S: Final = 150.0
"""Stopping waits for a check in progress: a funding transaction waits up to its receipt timeout."""

OBSERVE_WINDOW_S: Final = 3600
"""Observing, a decision is recorded and alerted at most once an hour per action: the operator
needs to know what the policy would do, not to be told every check."""

# ---- the live chain view and its refresh (view.py) ----

RETRY_BACKOFF_FIRST_S = 0.5
"""First retry after a failed refresh: soon enough to ride out a dropped connection, slow
enough not to hammer an RPC that just failed."""

STOP_JOIN_TIMEOUT_S = 15.0
"""stop() waits this long for the thread: a refresh in flight ends within a few RPC timeouts
(10 s each, usually milliseconds); the thread is a daemon, so exit never waits on it."""

BACKOFF_DOUBLINGS_MAX = 16
"""Caps the exponent: 0.5 s × 2^16 is ~9 h, past any sensible refresh_s, and keeps the
arithmetic small however long an outage lasts."""

CHAIN_REFRESH_S_DEFAULT = 1.0
"""Arbitrum makes a block every ~0.25 s; reading the deposit each second keeps the guard current."""

CHAIN_STALE_AFTER_S_DEFAULT = 30.0
"""Signing stops when the chain view is this old: a few failed refreshes, not one hiccup."""
