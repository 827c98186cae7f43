"""``clearinghouse chain sync``: run the event watcher by hand until the ledger has caught up.

The same ChainWatcher the daemon runs in a thread (chain/watcher.py), polled here in the
foreground: after a long outage, before a reconciliation, or to fill a new ledger from
``start_block`` without starting the daemon. The chain modules are imported when the command
runs, so the other commands do not pay for loading web3.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from clearinghouse import ledger
from clearinghouse.errors import LedgerError
from clearinghouse.cli.health import keystore_address
from clearinghouse.cli.options import (
    config_option,
    database_url_option,
    emit,
    json_option,
    opened_ledger,
    settings,
    translated,
)
from clearinghouse.cli.output import Progress, fields, progress
from clearinghouse.cli.limits import SYNC_ATTEMPTS_MAX, SYNC_BACKOFF_S_MAX

if TYPE_CHECKING:
    from clearinghouse.chain.watcher import ChainWatcher, PollResult


@dataclass(frozen=True, slots=True)
class SyncResult:
    """Where a sync left the cursor and what it recorded on the way."""

    cursor_block: int | None
    head_block: int
    recorded: int
    undone: int


@click.group("chain")
def chain() -> None:
    """The chain event watcher, run by hand.

    \b
    Examples:
      clearinghouse chain sync --config clearinghouse.toml
    """


@chain.command("sync")
@config_option
@database_url_option
@json_option
def chain_sync(config_path: Path, database_url_value: str | None, as_json: bool) -> None:
    """Record the sender's chain events up to the head less [chain] confirmations, then exit.

    Scans from the ledger's cursor (or [chain] start_block) in batches, as the daemon's watcher
    does, undoing what a reorg removed; shows blocks done/total on a terminal. Exit code 0 once
    caught up with the head as it was when the sync started, 1 when the RPC or the database
    still fails after 4 attempts, or when another process (a daemon on the same PostgreSQL
    database) holds the chain writer lock. Needs [chain] rpc_url, controller and start_block
    and the keystore's address (no passphrase).

    \b
    Examples:
      clearinghouse chain sync --config clearinghouse.toml
      clearinghouse chain sync --json | jq .cursor_block
    """
    config = settings(config_path)
    live = config.live_chain
    if live is None:
        raise click.ClickException(f"{config.path} has no live [chain] section: set chain.rpc_url and chain.controller")
    from clearinghouse.chain.client import ChainClient
    from clearinghouse.chain.watcher import ChainWatcher

    sender = keystore_address(config)
    with opened_ledger(database_url_value or config.database_url) as db:
        try:
            with translated():  # a missing contract artifact is a ChainError
                watcher = ChainWatcher(ChainClient(live.rpc_url, live.controller), db, sender,
                                       start_block=live.start_block, confirmations=live.confirmations,
                                       poll_s=live.watch_poll_s)
        except ValueError as exc:
            raise click.ClickException(f"[chain]: {exc}") from exc
        result = _locked_sync(db, watcher)
    emit(as_json, {"cursor": watcher.cursor_name, "cursor_block": result.cursor_block,
                   "head_block": result.head_block, "confirmations": watcher.confirmations,
                   "events_recorded": result.recorded, "events_undone": result.undone},
         fields([("cursor", watcher.cursor_name), ("cursor block", result.cursor_block or "none (nothing to scan)"),
                 ("head block", f"{result.head_block} ({watcher.confirmations} confirmations)"),
                 ("events recorded", result.recorded), ("events undone", result.undone)]))


def _locked_sync(db: ledger.Database, watcher: ChainWatcher) -> SyncResult:
    """Catch up while holding the chain writer lock, so a running daemon and this command never
    write the same cursor at once (PostgreSQL; on SQLite the cursor's compare-and-set does)."""
    writer = ledger.ChainWriterLock(db)
    try:
        with translated():
            if not writer.try_acquire():
                raise click.ClickException("another process (a running daemon?) holds the chain writer lock "
                                           "and is recording chain events; nothing to do here")
        start = ledger.chain_cursor(db, watcher.cursor_name)
        with progress("chain sync", "blocks") as bar:
            return _catch_up(watcher, watcher.start_block - 1 if start is None else start.block_number, bar)
    finally:
        writer.release()


def _catch_up(watcher: ChainWatcher, recorded_before: int, bar: Progress) -> SyncResult:
    """Poll until the cursor reaches the first poll's head less the confirmations: a target
    fixed at the start, so a busy chain cannot keep the command running."""
    recorded = undone = 0
    target: int | None = None
    while True:
        result = _poll(watcher)
        recorded, undone = recorded + result.applied, undone + result.undone
        if target is None:
            target = result.head_block - watcher.confirmations
        cursor = recorded_before if result.cursor_block is None else result.cursor_block
        bar.update(max(0, cursor - recorded_before), max(0, target - recorded_before))
        if result.caught_up or cursor >= target:
            return SyncResult(result.cursor_block, result.head_block, recorded, undone)


def _poll(watcher: ChainWatcher) -> PollResult:
    """One poll, retried with backoff; a ClickException after SYNC_ATTEMPTS_MAX failures."""
    from clearinghouse.chain.errors import ChainError
    from clearinghouse.chain.view import backoff_s

    failures = 0
    while True:
        try:
            return watcher.poll_once()
        except (ChainError, LedgerError) as exc:
            failures += 1
            if failures == SYNC_ATTEMPTS_MAX:
                raise click.ClickException(f"chain sync failed after {failures} attempts: {exc}") from exc
            time.sleep(backoff_s(failures, SYNC_BACKOFF_S_MAX))
