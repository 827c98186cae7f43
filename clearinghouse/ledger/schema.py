"""Schema versions: upgrade a database to the newest migration, and refuse an outdated one.

The Alembic configuration is built here in code (no alembic.ini): the migrations live in the
``clearinghouse.ledger.migrations`` package. Each migration runs in one transaction (SQLite
gets transactional DDL through the BEGIN recipe of ``engine.py``), so a failed upgrade leaves
the previous revision intact.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect

from clearinghouse.ledger.engine import Database, open_database
from clearinghouse.ledger.errors import SchemaNotCurrent
from clearinghouse.errors import LedgerError
from clearinghouse.ledger.migrations import UPGRADE_COMMAND, head_revision
from clearinghouse.ledger.transactions import translated_errors

if TYPE_CHECKING:
    from alembic.config import Config

_SCRIPT_LOCATION = "clearinghouse.ledger:migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration of the ledger, optionally bound to an open connection."""
    from alembic.config import Config  # Alembic is for migrations: a command's schema check reads one row

    config = Config()
    config.set_main_option("script_location", _SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(url: str) -> str:
    """Apply every missing migration to the database at ``url``; return the new revision.

    Creates the schema in an empty database. Raises ``DatabaseUnavailable`` when the database
    cannot be reached, ``SchemaNotCurrent`` when it carries a revision this code does not know.
    """
    from alembic import command
    from alembic.util import CommandError

    with _opened(url) as db:
        _refuse_unknown(db)
        with translated_errors(db), db.write_engine.connect() as connection:
            with _sqlite_foreign_keys_off(db, connection), connection.begin():
                try:
                    command.upgrade(alembic_config(connection), "head")
                except CommandError as exc:
                    message = db.redact(str(exc))
                    raise LedgerError(f"upgrading {db.masked_url} failed: {message}") from exc
                _check_foreign_keys(db, connection)
        reached = _current(db)
    if reached is None:
        raise LedgerError("upgrading left no revision in the database (broken installation)")
    return reached


def downgrade_to(url: str, revision: str) -> None:
    """Undo migrations down to ``revision`` ("base": everything), with the same foreign-key
    handling as ``upgrade_to_head``: for rolling a release back, and for the migration tests.
    Raises ``DatabaseUnavailable`` or ``LedgerError`` naming the failure."""
    from alembic import command
    from alembic.util import CommandError

    with _opened(url) as db, translated_errors(db), db.write_engine.connect() as connection:
        with _sqlite_foreign_keys_off(db, connection), connection.begin():
            try:
                command.downgrade(alembic_config(connection), revision)
            except CommandError as exc:
                raise LedgerError(f"downgrading {db.masked_url} failed: {db.redact(str(exc))}") from exc
            _check_foreign_keys(db, connection)


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; None for an empty database."""
    with _opened(url) as db:
        return _current(db)


def check_schema_current(url: str) -> None:
    """Raise ``SchemaNotCurrent`` unless the database is at this code's newest revision.

    The message names the command to run (``clearinghouse db upgrade``) and never the password.
    """
    with _opened(url) as db:
        _check(db)


def check_database_current(db: Database) -> None:
    """``check_schema_current`` for an already open database."""
    _check(db)


def _check(db: Database) -> None:
    current, head = _current(db), head_revision()
    if current == head:
        return
    _refuse_unknown(db, current)
    found = "an empty schema" if current is None else f"revision {current}"
    raise SchemaNotCurrent(
        f"database {db.masked_url} has {found}, this version needs revision {head}: "
        f"run `{UPGRADE_COMMAND}`"
    )


def _refuse_unknown(db: Database, current: str | None = None) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    current = _current(db) if current is None else current
    if current is None:
        return
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(current)
    except CommandError:
        known = None
    if known is None:
        raise SchemaNotCurrent(
            f"database {db.masked_url} has revision {current}, unknown to this version "
            f"(newest known: {head_revision()}); it was written by a newer clearinghouse"
        )


@contextmanager
def _sqlite_foreign_keys_off(db: Database, connection: Connection) -> Iterator[None]:
    """Switch SQLite's foreign key enforcement off around a migration.

    Batch mode rebuilds a table by copy, drop and rename; with enforcement on, dropping a
    table other rows refer to fails. SQLite ignores this PRAGMA inside a transaction, so it
    is sent on the raw connection before BEGIN; ``_check_foreign_keys`` verifies afterwards.
    """
    raw = connection.connection.driver_connection if db.backend == "sqlite" else None
    if raw is None:
        yield
        return
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(db: Database, connection: Connection) -> None:
    if db.backend != "sqlite":
        return
    violations = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if violations:
        raise LedgerError(
            f"migrating {db.masked_url} would break {len(violations)} foreign keys, "
            f"first: {tuple(violations[0])}; nothing was changed"
        )


def _current(db: Database) -> str | None:
    """The revision in Alembic's version table (None: no table, an empty schema), read
    without importing Alembic."""
    with translated_errors(db), db.engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        versions: list[str] = list(connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
    if len(versions) > 1:
        raise SchemaNotCurrent(f"database {db.masked_url} is at several revisions {sorted(versions)}, expected one")
    return versions[0] if versions else None


@contextmanager
def _opened(url: str) -> Iterator[Database]:
    db = open_database(url)
    try:
        yield db
    finally:
        db.dispose()
