"""Database fixtures shared by every test package: real SQLite files and real PostgreSQL.

- ``database_url``: an empty database, parametrized ``[sqlite, postgresql]``. SQLite is a
  file in the test's temporary directory. PostgreSQL is a fresh scratch database with a unique
  name on ``CLEARINGHOUSE_TEST_POSTGRES_URL`` (default: user postgres on 127.0.0.1:5432),
  created once per test run and dropped at its end; each test gets an empty schema of its own
  in it (first on ``search_path``), dropped after the test.
- ``migrated_database_url``: the same, upgraded to the newest ledger migration.
- ``ledger_db``: an open ``clearinghouse.ledger.Database`` on a migrated database.

PostgreSQL is not optional: if it is down the tests fail and say how to start it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from clearinghouse.ledger import Database, open_database, upgrade_to_head

POSTGRES_ADMIN_URL = os.environ.get(
    "CLEARINGHOUSE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# A scratch database is named with this prefix so a leftover one is easy to recognise.
SCRATCH_DATABASE_PREFIX = "clearinghouse_test_"
POSTGRES_CONNECT_TIMEOUT_S = 5


def _admin_connection(url: str = POSTGRES_ADMIN_URL) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=POSTGRES_CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL.split('@')[-1]}: {exc}. Start it "
            "with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`."
        )


@pytest.fixture(scope="session")
def postgresql_scratch_database() -> Iterator[str]:
    """A scratch PostgreSQL database for the whole test run (libpq URL), dropped at the end.

    Creating a database costs about 0.2 s (a checkpoint), so tests share this one and each
    gets its own schema (``postgresql_url``).
    """
    name = f"{SCRATCH_DATABASE_PREFIX}{uuid.uuid4().hex[:16]}"
    with _admin_connection() as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    finally:
        with _admin_connection() as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def postgresql_url(postgresql_scratch_database: str) -> Iterator[str]:
    """URL of an empty PostgreSQL schema of its own (first on search_path), dropped after."""
    schema = f"test_{uuid.uuid4().hex[:16]}"
    with _admin_connection(postgresql_scratch_database) as admin:
        admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    base = postgresql_scratch_database.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with _admin_connection(postgresql_scratch_database) as admin:
            # A connection a test leaked would block the drop: fail instead of hanging.
            admin.execute(f"SET lock_timeout = '{POSTGRES_CONNECT_TIMEOUT_S}s'")
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a SQLite file that does not exist yet."""
    return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each supported backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    """``database_url`` upgraded to the newest ledger migration."""
    upgrade_to_head(database_url)
    return database_url


@pytest.fixture
def ledger_db(migrated_database_url: str) -> Iterator[Database]:
    """An open ledger database (each backend), disposed after the test."""
    db = open_database(migrated_database_url)
    try:
        yield db
    finally:
        db.dispose()
