"""Engines: SQLite PRAGMAs and BEGIN IMMEDIATE, accepted URLs, passwords never in messages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import event, text

from clearinghouse.ledger import (
    DatabaseUnavailable,
    UnsupportedDatabase,
    check_schema_current,
    get_gateway,
    mask_url,
    open_database,
)
from clearinghouse.errors import InvalidLedgerInput

SECRET = "s3cr3t-passw0rd"


def test_sqlite_connections_get_the_pragmas(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    try:
        with db.engine.connect() as connection:
            values = [
                connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("foreign_keys", "journal_mode", "synchronous", "busy_timeout")
            ]
    finally:
        db.dispose()
    assert values == [1, "wal", 2, 5000]


def test_sqlite_writes_begin_immediate_and_reads_deferred(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        with db.engine.begin() as connection:
            connection.execute(text("SELECT 1"))
        with db.write_engine.begin() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        db.dispose()
    assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN", "BEGIN IMMEDIATE"]


def test_sqlite_write_transaction_holds_the_write_lock_from_its_start(sqlite_url: str) -> None:
    db = open_database(sqlite_url)
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        with db.write_engine.begin() as connection:
            connection.execute(text("SELECT 1"))  # a read only, yet the lock is taken
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
    finally:
        other.close()
        db.dispose()


@pytest.mark.parametrize(
    "url",
    [f"mysql://user:{SECRET}@127.0.0.1/ledger", f"postgresql+asyncpg://user:{SECRET}@h/db"],
)
def test_unsupported_url_is_refused_without_its_password(url: str) -> None:
    with pytest.raises(UnsupportedDatabase, match=r"expected a sqlite:/// or postgresql") as info:
        open_database(url)
    assert SECRET not in str(info.value)


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(InvalidLedgerInput, match="in-memory"):
        open_database("sqlite://")


def test_sqlite_in_a_missing_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidLedgerInput, match="directory of the SQLite file to exist"):
        open_database(f"sqlite:///{tmp_path / 'missing' / 'ledger.db'}")


def test_unreachable_postgres_error_masks_the_password() -> None:
    # Port 1 on loopback refuses at once: no waiting on a timeout.
    url = f"postgresql://clearinghouse:{SECRET}@127.0.0.1:1/ledger"
    db = open_database(url)
    try:
        with pytest.raises(DatabaseUnavailable, match=r"clearinghouse:\*\*\*@") as info:
            get_gateway(db, 1)
    finally:
        db.dispose()
    assert SECRET not in str(info.value)
    with pytest.raises(DatabaseUnavailable) as info:
        check_schema_current(url)
    assert SECRET not in str(info.value)


def test_mask_url_hides_passwords_even_in_unparsable_text() -> None:
    assert mask_url(f"postgresql://u:{SECRET}@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert SECRET not in mask_url(f"weird+://u:{SECRET}@h/db?x=[")
