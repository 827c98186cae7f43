"""Every exception the ledger package raises; nothing from SQLAlchemy or a driver leaks out.

::

    clearinghouse.errors.ClearinghouseError
    └── LedgerError               any failure of the ledger
        ├── InvalidLedgerInput    (also ValueError) a value the ledger cannot store
        ├── UnsupportedDatabase   the URL names a backend or driver we do not run on
        ├── DatabaseUnavailable   cannot connect, or the database refused: ``fault`` says why
        │                         (DatabaseFault: unreachable, full, read_only, busy)
        ├── SchemaNotCurrent      behind or unknown: run `clearinghouse db upgrade`
        ├── NotFound              a gateway, API key, session or account does not exist
        ├── LedgerConflict        a write broke a uniqueness rule
        │   ├── DuplicateGatewayName
        │   ├── DuplicateTicket   a (recipientRandHash, nonce) or ticket hash issued before
        │   ├── IdempotencyConflict  same idempotency key, different request
        │   ├── StaleSession      the session head moved on, or belongs to another gateway
        │   └── ChainCursorMoved  a chain cursor is not where the batch was scanned from
        └── InvariantViolation    the books do not add up

A refusal of a signing call (a full committer queue, credit control) is not a ledger failure:
it is clearinghouse.domain.refusals.SigningRefused, the one refusal type.

Errors from SQLAlchemy are translated where they enter (see ``transactions.py``) and chained
with ``raise … from exc``. Messages never contain a database password. The ledger's
``InvariantViolation`` is also a ``clearinghouse.errors.InvariantViolation``. ``LedgerError`` and
``InvalidLedgerInput`` are defined in ``clearinghouse.errors``: the domain's values
(clearinghouse.domain) raise ``InvalidLedgerInput`` when constructed, below the ledger.
"""

from __future__ import annotations

from enum import StrEnum

from clearinghouse import errors
from clearinghouse.errors import LedgerError


class UnsupportedDatabase(LedgerError):
    """The database URL names a backend or driver other than SQLite or PostgreSQL/psycopg."""


class DatabaseFault(StrEnum):
    """Why the database is unavailable; a closed set, so transports and alerts can key on it.

    Every fault is transient from the ledger's side: the operation was rolled back whole, and
    the same call succeeds once the operator fixes the cause (no restart needed).
    """

    UNREACHABLE = "unreachable"  # no connection: server down, network, connection dropped
    FULL = "full"  # disk or quota full (SQLITE_FULL, PostgreSQL class 53)
    READ_ONLY = "read_only"  # writes refused (SQLITE_READONLY, default_transaction_read_only, standby)
    BUSY = "busy"  # locked too long by another writer


class DatabaseUnavailable(LedgerError):
    """The database could not be reached or refused the operation; ``fault`` says why."""

    def __init__(self, message: str, fault: DatabaseFault = DatabaseFault.UNREACHABLE) -> None:
        super().__init__(message)
        self.fault = fault


class SchemaNotCurrent(LedgerError):
    """The database schema is not at the revision this code expects."""


class NotFound(LedgerError):
    """A row the caller named does not exist."""


class LedgerConflict(LedgerError):
    """A write was refused by a uniqueness rule of the database."""


class DuplicateGatewayName(LedgerConflict):
    """A gateway with that name already exists."""


class DuplicateTicket(LedgerConflict):
    """A (recipientRandHash, nonce) pair or a ticket hash was already issued.

    This is the database-level guarantee that no ticket is signed twice; reaching it means the
    caller's session state was wrong, so nothing of the call was written.
    """


class IdempotencyConflict(LedgerConflict):
    """A retry used an idempotency key already taken by a different request."""


class StaleSession(LedgerConflict):
    """The session head the caller built on is not the stored head (replay, fork or wrong owner)."""


class ChainCursorMoved(LedgerConflict):
    """A batch of chain events was scanned from a cursor position that is no longer stored:
    another watcher wrote meanwhile, or a reorg rewound the cursor. Nothing was written."""


class InvariantViolation(LedgerError, errors.InvariantViolation):
    """The ledger's books do not add up (postings not summing to zero, balance mismatch)."""
