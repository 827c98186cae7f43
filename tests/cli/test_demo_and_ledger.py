"""`clearinghouse demo`, `db upgrade` and `ledger verify`, run as real subprocesses."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from clearinghouse import ledger
from tests.cli.conftest import clearinghouse


def test_demo_signs_and_verifies_on_the_native_core() -> None:
    result = clearinghouse("demo", "--tickets", "250", "--batch", "100")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(":", 1) for line in result.stdout.splitlines())
    assert lines["ticket core"].strip() == "native"
    assert lines["tickets signed"].strip() == "250 in batches of 100, every one verified"
    assert lines["rate"].strip().endswith("tickets/s on one thread")
    # 250 tickets x EV(10**15, (2**256-1)//100) is just under 2.5e15 wei.
    assert lines["EV signed"].strip().startswith("2499999999999999 wei")


def test_demo_runs_on_the_reference_when_asked() -> None:
    result = clearinghouse("demo", "--tickets", "20", CLEARINGHOUSE_NO_EXTENSIONS="1")
    assert result.returncode == 0, result.stderr
    assert "ticket core:    reference" in result.stdout


def test_bad_options_exit_2_with_the_reason() -> None:
    result = clearinghouse("demo", "--tickets", "0")
    assert result.returncode == 2
    assert "0 is not in the range 1<=x<=1000000" in result.stderr
    result = clearinghouse("demo", "--batch", "601")
    assert result.returncode == 2
    assert "601 is not in the range 1<=x<=600" in result.stderr


def test_help_lists_the_commands() -> None:
    result = clearinghouse("--help")
    assert result.returncode == 0
    assert "demo" in result.stdout


def test_db_upgrade_then_ledger_verify_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    result = clearinghouse("db", "upgrade", "--database-url", url)
    assert result.returncode == 0, result.stderr
    assert "is at revision" in result.stdout
    result = clearinghouse("ledger", "verify", "--database-url", url)
    assert (result.returncode, result.stdout.splitlines()[-1]) == (0, "ledger ok")


def test_ledger_verify_fails_on_a_tampered_posting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    assert clearinghouse("db", "upgrade", "--database-url", url).returncode == 0
    db = ledger.open_database(url)
    gateway = ledger.create_gateway(db, "tampered")
    ledger.top_up(db, gateway.id, 10**18, actor="test", reason="top-up")
    db.dispose()
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as connection:
        connection.execute("UPDATE postings SET amount_num = '7' WHERE id = (SELECT min(id) FROM postings)")
    result = clearinghouse("ledger", "verify", "--database-url", url, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["unbalanced_transaction_ids"]


def test_verify_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = clearinghouse("ledger", "verify", "--database-url", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    assert result.returncode == 1
    assert "clearinghouse db upgrade" in result.stderr
