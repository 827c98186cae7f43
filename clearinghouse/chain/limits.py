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
