"""Units of work on the ledger database and the one place SQLAlchemy errors are translated.

``reading(db)`` opens a read transaction; ``writing(db)`` opens a write transaction (BEGIN
IMMEDIATE on SQLite, so it holds the database's write lock from its first statement), and
``writing_connection(db)`` the same write transaction on a bare Core connection. All
commit on normal exit, roll back on any exception, and turn SQLAlchemy errors into this
package's exceptions with the password masked.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session

from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.limits import SQLITE_BUSY_TIMEOUT_S
from clearinghouse.ledger.errors import (
    DatabaseUnavailable,
    InvalidLedgerInput,
    LedgerConflict,
    LedgerError,
)


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
    with _sqlite_writer_turn(db), translated_errors(db):
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
    with _sqlite_writer_turn(db), translated_errors(db):
        with db.write_engine.connect() as connection:
            yield connection
            connection.commit()


@contextmanager
def _sqlite_writer_turn(db: Database) -> Iterator[None]:
    if db.writer_lock is None:
        yield
        return
    if not db.writer_lock.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
        raise DatabaseUnavailable(
            f"database {db.masked_url} unavailable: no write turn within {SQLITE_BUSY_TIMEOUT_S:g} s"
        )
    try:
        yield
    finally:
        db.writer_lock.release()


@contextmanager
def translated_errors(db: Database) -> Iterator[None]:
    """Re-raise SQLAlchemy errors as ledger errors (``raise … from exc``), password masked."""
    try:
        yield
    except sa_exc.StatementError as exc:
        if isinstance(exc.orig, InvalidLedgerInput):
            raise InvalidLedgerInput(str(exc.orig)) from exc
        raise _translate(db, exc) from exc
    except sa_exc.SQLAlchemyError as exc:
        raise _translate(db, exc) from exc


def _translate(db: Database, exc: sa_exc.SQLAlchemyError) -> LedgerError:
    detail = db.redact(str(getattr(exc, "orig", None) or exc))
    where = f"database {db.masked_url}"
    if isinstance(exc, sa_exc.IntegrityError):
        return LedgerConflict(f"{where} refused a write: {detail}")
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return DatabaseUnavailable(f"{where} unavailable: {detail}")
    return LedgerError(f"{where} failed: {detail}")


def utc_now() -> datetime:
    """The time stamped on rows: the daemon's clock, in UTC."""
    return datetime.now(UTC)
