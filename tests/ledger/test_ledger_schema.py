"""Migrations: upgrade from empty on both backends, models equal the migrated schema, checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import IntegrityError

from clearinghouse.ledger import (
    SchemaNotCurrent,
    authenticate_api_key,
    check_database_current,
    check_schema_current,
    create_api_key,
    create_gateway,
    current_revision,
    head_revision,
    open_database,
    record_signing_call,
    schema,
    upgrade_to_head,
)
from clearinghouse.ledger.models import Base
from clearinghouse.ledger.schema import downgrade_to
from tests.ledger.conftest import SessionDriver


def test_upgrade_from_empty_creates_every_table(database_url: str) -> None:
    assert current_revision(database_url) is None

    assert upgrade_to_head(database_url) == head_revision()

    assert current_revision(database_url) == head_revision()
    db = open_database(database_url)
    try:
        tables = set(inspect(db.engine).get_table_names())
    finally:
        db.dispose()
    assert set(Base.metadata.tables) <= tables


def test_upgrade_twice_is_a_no_op(migrated_database_url: str) -> None:
    assert upgrade_to_head(migrated_database_url) == head_revision()


def test_models_and_migrations_agree(migrated_database_url: str) -> None:
    db = open_database(migrated_database_url)
    try:
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diff = compare_metadata(context, Base.metadata)
    finally:
        db.dispose()
    assert diff == []


def test_downgrade_to_base_and_back_with_records_in_the_ledger(migrated_database_url: str) -> None:
    db = open_database(migrated_database_url)
    try:
        gateway = create_gateway(db, "has-records")
        record_signing_call(db, SessionDriver(gateway.id).next_call())
    finally:
        db.dispose()

    downgrade_to(migrated_database_url, "base")  # batch steps rebuild signing_records on the way

    db = open_database(migrated_database_url)
    try:
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    finally:
        db.dispose()
    assert upgrade_to_head(migrated_database_url) == head_revision()


def test_empty_database_is_refused_with_the_command_to_run(database_url: str) -> None:
    with pytest.raises(SchemaNotCurrent, match="empty schema.*run `clearinghouse db upgrade`"):
        check_schema_current(database_url)


def test_current_database_passes_the_check(migrated_database_url: str) -> None:
    check_schema_current(migrated_database_url)
    db = open_database(migrated_database_url)
    try:
        check_database_current(db)
    finally:
        db.dispose()


def test_unknown_revision_is_refused(migrated_database_url: str) -> None:
    db = open_database(migrated_database_url)
    try:
        with db.write_engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    finally:
        db.dispose()

    with pytest.raises(SchemaNotCurrent, match="revision ffff, unknown to this version"):
        check_schema_current(migrated_database_url)
    with pytest.raises(SchemaNotCurrent, match="newer clearinghouse"):
        upgrade_to_head(migrated_database_url)


BATCH_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "test_batch"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gateways") as batch:
        batch.add_column(sa.Column("note", sa.String(32), nullable=True))
        batch.create_check_constraint("note_short", "length(note) < 32")


def downgrade() -> None:
    with op.batch_alter_table("gateways") as batch:
        batch.drop_constraint("ck_gateways_note_short", type_="check")
        batch.drop_column("note")
"""


def test_batch_migration_rebuilds_a_referenced_table_with_data(
    migrated_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = open_database(migrated_database_url)
    try:
        gateway = create_gateway(db, "has-children")
        create_api_key(db, gateway.id, prefix="ch_", digest=bytes(32))
    finally:
        db.dispose()
    (tmp_path / "test_batch.py").write_text(BATCH_REVISION.format(head=head_revision()))
    package_config = schema.alembic_config

    def with_test_revision(connection: Connection | None = None) -> Config:
        config = package_config(connection)
        versions = ScriptDirectory.from_config(config).versions
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", f"{versions}{os.pathsep}{tmp_path}")
        return config

    monkeypatch.setattr(schema, "alembic_config", with_test_revision)

    assert upgrade_to_head(migrated_database_url) == "test_batch"

    db = open_database(migrated_database_url)
    try:
        assert authenticate_api_key(db, bytes(32)) is not None
        assert "note" in {c["name"] for c in inspect(db.engine).get_columns("gateways")}
        with pytest.raises(IntegrityError):  # foreign keys are enforced again afterwards
            with db.write_engine.begin() as connection:
                connection.execute(text("DELETE FROM gateways"))
    finally:
        db.dispose()


def test_the_head_read_from_the_migration_files_is_alembics() -> None:
    """Commands check the schema without importing Alembic (issue 19): the head they compute
    from the files must be the one Alembic computes."""
    assert head_revision() == ScriptDirectory.from_config(schema.alembic_config()).get_current_head()
