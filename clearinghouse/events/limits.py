"""The event relay's named limits: its sinks' timeouts, its retry and housekeeping paces, and the
refusal sampler's bounds, each with its reason."""

from __future__ import annotations

# ---- the sinks (http_sink.py, nats_sink.py) ----

HTTP_TIMEOUT_S = 10.0
"""A receiver's answer to one batch POST, connection included."""

ERROR_TEXT_CHARS_MAX = 200
"""A receiver's error body, cut for the log line and the status."""

NATS_CONNECT_TIMEOUT_S = 5.0
"""Connecting to a broker on the operator's network: longer is an outage, retried by the relay."""

NATS_ACK_TIMEOUT_S = 10.0
"""JetStream's acknowledgements of a batch (it stores them in order)."""

# ---- refusal sampling (refusals.py) ----

KEYS_MAX = 10_000
"""(gateway, reason) pairs tracked in one window: far above gateways × reasons in practice."""

PENDING_MAX = 100_000
"""Sampled refusals waiting for the next flush; past it new samples are only counted."""

WINDOW_S_DEFAULT = 60.0
"""Refusals are sampled per (gateway, reason) per minute: a refusal storm shows as a few rows a
minute and a count, not a row per refused call."""

SAMPLES_MAX_DEFAULT = 10
"""Refusals kept as events per (gateway, reason) and window: enough to see what was refused."""

# ---- the relay and its process (relay.py, relay_process.py) ----

RETRY_BACKOFF_MIN_S = 0.1
"""A sink's first retry after a failure: a broker restarting is back within a fraction of a second."""

RETRY_BACKOFF_MAX_S = 30.0
"""A sink that keeps failing is tried every 30 s at most: a broker back up is seen within it."""

HOUSEKEEPING_S = 1.0
"""Refusals written, backlog read and alert checked once a second."""

PRUNE_EVERY_S = 60.0
"""Published outbox rows are deleted once a minute: rows pile up for a minute at most."""

PRUNE_PASSES_MAX = 100
"""Deletes of PRUNE_ROWS_MAX per prune: a million rows a minute, far above the signing rate's
share of a minute, each delete short enough not to hold the writer long."""

CURSOR_SAVE_S = 0.25
"""A sink's cursor is stored at most four times a second while it publishes (and when it goes idle or
stops): a write per published batch would add a commit (an fsync) per signing batch. A crash
re-sends at most those events, with their ids; the daemon's lag gauges, read from the stored
cursor when a relay process publishes, run at most that much behind."""

SINK_STOP_TIMEOUT_S = 10.0
"""A sink's thread ends within its batch's timeouts (HTTP_TIMEOUT_S, NATS_ACK_TIMEOUT_S)."""

OUTBOX_FULL_RETRY_AFTER_S = 5
"""Retry-After of a call refused because a sink's backlog is full: the relay's next pass is sooner."""

RESTART_BACKOFF_S = 5.0
"""A child that keeps dying (a broken configuration) is started again at most this often."""

RELAY_PROCESS_STOP_TIMEOUT_S = 10.0
"""The relay child finishes the batch it is publishing and stores its cursor within this."""
