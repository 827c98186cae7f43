"""The command line's named limits: retries, polls and the work one command may ask for."""

from __future__ import annotations

SYNC_ATTEMPTS_MAX = 4
"""Failed polls in a row before sync gives up: with the watcher's backoff (0.5 s, doubling) that
rides out ~3.5 s of a node restarting; a longer outage is for the operator to see, not wait out."""

SYNC_BACKOFF_S_MAX = 2.0
"""The longest wait between two attempts."""

DEMO_TICKETS_MAX = 1_000_000
"""A demo is a smoke test and a rough rate; a million tickets is ~30 s on one core."""

TAIL_POLL_S = 0.5
"""How often ``events tail`` looks for new events while following."""

REPLAY_EVENTS_MAX = 1_000_000
"""Events one replay publishes at most: a larger range is several replays."""

PASSPHRASE_CHARS_MAX = 1_024
"""A passphrase is typed or generated; a larger passphrase file is the wrong file."""

HOLD_POLL_S = 0.5
"""How often ``devnet --chain-only`` checks for a stop request while it holds the chain up."""
