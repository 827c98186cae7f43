"""``clearinghouse chain sync`` and ``deposit show --json`` against a provisioned anvil devnet:
events recorded in a real SQLite ledger, the cursor printed, exit 1 when the RPC is down, and
a progress bar that stays on the terminal and out of --json stdout."""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from clearinghouse import ledger
from clearinghouse.domain.chain_events import ChainEventKind
from clearinghouse.cli import main
from tests.cli.conftest import write_daemon_config
from tests.cli.test_deposit import DEPOSIT_WEI, RESERVE_WEI, Home, deposit, devnet_home, home

__all__ = ["devnet_home", "home"]  # the fixtures this module uses, imported from the deposit tests

Kind = ChainEventKind


def sync(home: Home, *args: str, **env: str) -> Result:
    return CliRunner().invoke(main, ["chain", "sync", "--config", home.config, *args], env=env or None)


def fresh_ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    ledger.upgrade_to_head(url)
    return url


def funding_events(url: str, sender: str) -> list[tuple[Kind, int | None]]:
    db = ledger.open_database(url)
    try:
        events = ledger.recorded_chain_events(db, f"ticket_broker:{sender}")
    finally:
        db.dispose()
    return [(e.event.kind, e.event.amount_wei) for e in events if e.event.kind is not Kind.NEW_ROUND]


def test_sync_records_the_funding_and_resumes_from_its_cursor(home: Home, tmp_path: Path) -> None:
    url = fresh_ledger(tmp_path)
    first = sync(home, "--database-url", url, "--json")
    assert first.exit_code == 0, first.output
    document = json.loads(first.stdout)
    head = home.w3.eth.block_number
    assert (document["cursor_block"], document["head_block"], document["confirmations"]) == (head, head, 0)
    assert document["cursor"] == f"ticket_broker:{home.sender}" and document["events_recorded"] >= 2
    assert funding_events(url, home.sender) == [(Kind.DEPOSIT_FUNDED, DEPOSIT_WEI), (Kind.RESERVE_FUNDED, RESERVE_WEI)]

    assert deposit("fund", "0.25ETH", "--yes", "--config", home.config).exit_code == 0
    again = sync(home, "--database-url", url)
    assert again.exit_code == 0, again.output
    lines = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in again.stdout.splitlines())
    assert (lines["cursor block"], lines["head block"]) == (str(head + 1), f"{head + 1} (0 confirmations)")
    assert (lines["events recorded"], lines["events undone"]) == ("1", "0")
    assert funding_events(url, home.sender)[-1] == (Kind.DEPOSIT_FUNDED, 25 * 10**16)


def test_an_unreachable_rpc_exits_1_after_its_retries(home: Home, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    result = sync(home, "--database-url", fresh_ledger(tmp_path),
                  CLEARINGHOUSE_RPC_URL=f"http://127.0.0.1:{closed_port}")
    assert result.exit_code == 1
    assert "chain sync failed after 4 attempts" in result.stderr and not result.stdout


def test_the_progress_bar_stays_on_the_terminal(home: Home, tmp_path: Path) -> None:
    url = fresh_ledger(tmp_path)
    terminal, stderr_side = pty.openpty()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CLEARINGHOUSE_")}
    try:
        finished = subprocess.run(
            [sys.executable, "-m", "clearinghouse", "chain", "sync", "--json", "--config", home.config,
             "--database-url", url],
            stdout=subprocess.PIPE, stderr=stderr_side, env=environment, timeout=120, check=False, text=True,
        )
        os.close(stderr_side)
        drawn = b""
        while chunk := _read_available(terminal):
            drawn += chunk
    finally:
        os.close(terminal)
    assert finished.returncode == 0
    assert json.loads(finished.stdout)["cursor_block"] == home.w3.eth.block_number
    head = home.w3.eth.block_number
    assert f"chain sync [{'#' * 30}] {head + 1}/{head + 1} blocks".encode() in drawn
    assert b"\r" not in finished.stdout.encode() and b"#" not in finished.stdout.encode()


def _read_available(terminal: int) -> bytes:
    """What the terminal holds; b"" once the writer side is closed and drained."""
    try:
        return os.read(terminal, 65536)
    except OSError:  # EIO: the other side is closed
        return b""


def test_deposit_show_json_matches_the_table(home: Home) -> None:
    table = deposit("show", "--config", home.config)
    document = json.loads(deposit("show", "--json", "--config", home.config).stdout)
    assert (document["deposit_wei"], document["reserve_wei"]) == (str(DEPOSIT_WEI), str(RESERVE_WEI))
    assert document["sender"] == home.sender and document["unlock_in_progress"] is False
    assert f"  deposit          2 ETH ({document['deposit_wei']} wei)" in table.stdout.splitlines()
    assert f"  unlock           {document['unlock']}" in table.stdout.splitlines()


def test_without_a_live_chain_section_sync_exits_1(tmp_path: Path) -> None:
    config = write_daemon_config(tmp_path)
    result = CliRunner().invoke(main, ["chain", "sync", "--config", str(config)])
    assert result.exit_code == 1 and "has no live [chain] section" in result.stderr
