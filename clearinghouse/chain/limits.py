"""The chain layer's named defaults and limits that configuration shares (no imports: the config
reads them without loading web3)."""

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
