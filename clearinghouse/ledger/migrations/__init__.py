"""Alembic migrations of the ledger schema; run them through ``clearinghouse.ledger.schema``.

To add a revision: change ``models.py``, then autogenerate against a database at the current
head and edit the result (every migration must run on SQLite and PostgreSQL; ALTERs go through
``op.batch_alter_table``, which ``env.py`` makes the autogenerate default)::

    from alembic import command
    from clearinghouse.ledger import open_database, upgrade_to_head
    from clearinghouse.ledger.schema import alembic_config

    upgrade_to_head(url)
    with open_database(url).write_engine.begin() as connection:
        command.revision(alembic_config(connection), message="...", autogenerate=True,
                         rev_id="0002")

``tests/ledger/test_ledger_schema.py`` then proves the models and migrations agree on both
backends.
"""
