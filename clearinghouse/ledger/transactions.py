"""Units of work on the ledger database and the one place SQLAlchemy errors are translated.

``reading(db)`` opens a read transaction; ``writing(db)`` opens a write transaction (BEGIN
IMMEDIATE on SQLite, so it holds the database's write lock from its first statement), and
``writing_connection(db)`` the same write transaction on a bare Core connection. All
commit on normal exit, roll back on any exception, and turn SQLAlchemy errors into this
package's exceptions with the password masked.

A database that cannot take the write — down, full, read-only, locked — is one failure as far
as callers go: ``DatabaseUnavailable`` with a ``DatabaseFault`` naming the cause, whichever
DBAPI class the driver chose (psycopg reports a read-only transaction as an InternalError,
pysqlite a full disk as an OperationalError). The transaction was rolled back whole, so a
caller may retry the same operation once the cause is gone.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.limits import SQLITE_BUSY_TIMEOUT_S
from clearinghouse.ledger.errors import DatabaseFault, DatabaseUnavailable, LedgerConflict
from clearinghouse.errors import InvalidLedgerInput, LedgerError


@contextmanager
def reading(db: Database) -> Iterator[Session]:
    """Yield an ORM session inside one read transaction."""
    with translated_errors(db), Session(db.engine, expire_on_commit=False) as session:
        with session.begin():
            yield session


@contextmanager
def writing(db: Database) -> Iterator[Session]:
    """Yield an ORM session inside one write transaction, committed on normal exit.

    On SQLite the process's writers take turns on ``db.writer_lock`` first; waiting longer than
    SQLITE_BUSY_TIMEOUT_S raises ``DatabaseUnavailable``.
    """
    with writer_turn(db), translated_errors(db):
        with Session(db.write_engine, expire_on_commit=False) as session, session.begin():
            yield session


@contextmanager
def writing_connection(db: Database) -> Iterator[Connection]:
    """Yield a Core connection inside one write transaction, committed on normal exit.

    Like ``writing`` (same writer turn, BEGIN IMMEDIATE and error translation) without an ORM
    session: the signing path writes with Core statements, and a Session's unit of work and
    transaction bookkeeping cost more than the statements themselves. The transaction begins
    with the first statement ("commit as you go"), so a caller may roll it back and go on
    reading in a fresh one; an exception closes the connection, which rolls back.
    """
    with writer_turn(db), translated_errors(db):
        with db.write_engine.connect() as connection:
            yield connection
            connection.commit()


@contextmanager
def writer_turn(db: Database) -> Iterator[None]:
    """On SQLite, this process's turn to write (``db.writer_lock``, in arrival order); raises
    ``DatabaseUnavailable`` after SQLITE_BUSY_TIMEOUT_S. PostgreSQL writers need no turn."""
    if db.writer_lock is None:
        yield
        return
    if not db.writer_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
        raise DatabaseUnavailable(
            f"database {db.masked_url} unavailable: no write turn within {SQLITE_BUSY_TIMEOUT_S:g} s",
            DatabaseFault.BUSY,
        )
    try:
        yield
    finally:
        db.writer_lock.release()


@contextmanager
def translated_errors(db: Database) -> Iterator[None]:
    """Re-raise SQLAlchemy errors as ledger errors (``raise … from exc``), password masked;
    also the driver's own errors, from statements run on its cursor (statements.py)."""
    try:
        yield
    except sa_exc.StatementError as exc:
        if isinstance(exc.orig, InvalidLedgerInput):
            raise InvalidLedgerInput(str(exc.orig)) from exc
        raise _translate(db, exc) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise _translate(db, exc) from exc
    except db.engine.dialect.loaded_dbapi.Error as exc:
        wrapped = sa_exc.DBAPIError.instance(None, None, exc, db.engine.dialect.loaded_dbapi.Error)
        raise _translate(db, wrapped) from exc


def _translate(db: Database, exc: sa_exc.SQLAlchemyError) -> LedgerError:
    orig = getattr(exc, "orig", None)
    detail = db.redact(str(orig or exc))
    where = f"database {db.masked_url}"
    fault = _fault(orig)
    if fault is not None:
        return DatabaseUnavailable(f"{where} unavailable ({fault.value}): {detail}", fault)
    if isinstance(exc, sa_exc.IntegrityError):
        return LedgerConflict(f"{where} refused a write: {detail}")
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return DatabaseUnavailable(f"{where} unavailable ({DatabaseFault.UNREACHABLE.value}): {detail}")
    return LedgerError(f"{where} failed: {detail}")


_SQLITE_FAULTS = {
    sqlite3.SQLITE_FULL: DatabaseFault.FULL,
    sqlite3.SQLITE_READONLY: DatabaseFault.READ_ONLY,
    sqlite3.SQLITE_BUSY: DatabaseFault.BUSY,
    sqlite3.SQLITE_LOCKED: DatabaseFault.BUSY,
}
"""Primary SQLite result codes that mean "the database cannot take this now" rather than a bug."""

_POSTGRES_FAULTS = {
    "25006": DatabaseFault.READ_ONLY,  # read_only_sql_transaction: default_transaction_read_only, a standby
    "53100": DatabaseFault.FULL,  # disk_full
    "53200": DatabaseFault.FULL,  # out_of_memory
    "53300": DatabaseFault.BUSY,  # too_many_connections
    "53400": DatabaseFault.FULL,  # configuration_limit_exceeded (e.g. temp_file_limit)
    "55P03": DatabaseFault.BUSY,  # lock_not_available
    "57P01": DatabaseFault.UNREACHABLE,  # admin_shutdown: the server is stopping
    "57P02": DatabaseFault.UNREACHABLE,  # crash_shutdown
    "57P03": DatabaseFault.UNREACHABLE,  # cannot_connect_now: starting up or shutting down
}
"""SQLSTATEs that name a database fault; psycopg files 25006 under InternalError, not
OperationalError, so the DBAPI class alone would make a read-only database look like a bug."""


def _fault(orig: object) -> DatabaseFault | None:
    """The fault a driver exception names, or None when its code names none."""
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        # Extended result codes carry the primary one in their low byte (SQLITE_READONLY_DBMOVED…).
        return None if not isinstance(code, int) else _SQLITE_FAULTS.get(code & 0xFF)
    sqlstate = getattr(orig, "sqlstate", None)
    return _POSTGRES_FAULTS.get(sqlstate) if isinstance(sqlstate, str) else None


def utc_now() -> datetime:
    """The time stamped on rows: the daemon's clock, in UTC."""
    return datetime.now(UTC)
