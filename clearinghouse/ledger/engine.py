"""Opening the ledger database: URL checks, password masking, SQLite PRAGMAs and BEGIN IMMEDIATE.

Two backends are supported: SQLite files (``sqlite:///path``, the embedded default) and
PostgreSQL through psycopg 3 (``postgresql://`` or ``postgresql+psycopg://``).

On SQLite every new connection gets ``foreign_keys=ON``, ``journal_mode=WAL``,
``synchronous=FULL`` (a commit survives power loss) and a busy timeout. pysqlite's own
transaction handling is switched off and the ``begin`` event emits BEGIN ourselves (the
documented SQLAlchemy recipe), so reads get a plain deferred ``BEGIN`` and writes, through
``Database.write_engine``, get ``BEGIN IMMEDIATE``: the write lock is taken before the first
read, so a read-then-write never fails half-way with "database is locked".
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError

from clearinghouse.ledger.errors import UnsupportedDatabase
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.limits import POSTGRES_CONNECT_TIMEOUT_S, SQLITE_BUSY_TIMEOUT_S
from clearinghouse.ledger.url_text import mask_url_text

Backend = Literal["sqlite", "postgresql"]

# Execution option that marks an engine's transactions as writes (BEGIN IMMEDIATE on SQLite).
_WRITE_OPTION = "clearinghouse_ledger_write"


@dataclass(frozen=True, slots=True)
class Database:
    """An open ledger database: one connection pool seen through a read and a write engine."""

    engine: Engine
    write_engine: Engine
    backend: Backend
    masked_url: str
    # Kept only to scrub it from driver error messages; never shown.
    password: str | None = field(default=None, repr=False)
    # SQLite has one write lock per database file. Threads of this process queue for it here,
    # in order, instead of in SQLite's busy handler, which sleeps in steps of up to 100 ms
    # (measured: 8 concurrent signers gave p99 1.4 s without this lock).
    writer_lock: threading.Lock | None = field(default=None, repr=False, compare=False)

    def redact(self, message: str) -> str:
        """Return ``message`` with this database's password replaced by ``***``."""
        return message.replace(self.password, "***") if self.password else message

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def mask_url(url: str | URL) -> str:
    """Return ``url`` as text with any password replaced by ``***``; safe to log."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return mask_url_text(url)


def open_database(url: str) -> Database:
    """Create the engines for ``url``; no connection is made until first use.

    Raises ``UnsupportedDatabase`` for any backend or driver other than SQLite (pysqlite) or
    PostgreSQL (psycopg 3), ``InvalidLedgerInput`` for an in-memory SQLite database or a SQLite
    file whose directory does not exist. Messages never contain the password.
    """
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed)
        backend: Backend = "sqlite"
    else:
        engine = _postgres_engine(parsed)
        backend = "postgresql"
    return Database(
        engine=engine,
        write_engine=engine.execution_options(**{_WRITE_OPTION: True}),
        backend=backend,
        masked_url=mask_url(parsed),
        password=parsed.password,
        writer_lock=threading.Lock() if backend == "sqlite" else None,
    )


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise UnsupportedDatabase(f"cannot parse database URL {mask_url(url)!r}") from exc
    if parsed.drivername in ("sqlite", "sqlite+pysqlite"):
        return parsed
    if parsed.drivername in ("postgresql", "postgresql+psycopg"):
        return parsed.set(drivername="postgresql+psycopg")
    raise UnsupportedDatabase(
        f"expected a sqlite:/// or postgresql+psycopg:// URL, got {mask_url(parsed)!r}"
    )


def _sqlite_engine(url: URL) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or url.query.get("mode") == "memory":
        raise InvalidLedgerInput(
            f"expected a SQLite file path, got an in-memory database {mask_url(url)!r}"
        )
    if not url.query.get("uri") and not Path(database).parent.is_dir():
        raise InvalidLedgerInput(
            f"expected the directory of the SQLite file to exist, got {mask_url(url)!r}"
        )
    engine = create_engine(url)
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # pysqlite would otherwise BEGIN (deferred) by itself before DML; we emit BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(_WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def _postgres_engine(url: URL) -> Engine:
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S},
    )
