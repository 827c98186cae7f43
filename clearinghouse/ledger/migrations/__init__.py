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

from __future__ import annotations

import re
from pathlib import Path

from clearinghouse.errors import LedgerError

UPGRADE_COMMAND = "clearinghouse db upgrade"
"""What a database behind this version's schema is told to run."""

_VERSIONS = Path(__file__).parent / "versions"
_REVISION_LINE = re.compile(r'^(down_revision|revision) = (?:"([^"]+)"|None)$', re.MULTILINE)


def head_revision() -> str:
    """The newest revision this code knows: the one no migration names as its down_revision.

    Read from the migration files' ``revision = "…"`` lines rather than through Alembic, whose
    import costs every command a tenth of a second (tests/ledger/test_migrations.py checks it
    is Alembic's head). Raises LedgerError when the migrations are not one line of revisions.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in _VERSIONS.glob("[0-9]*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            if value:
                (revisions if name == "revision" else parents).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise LedgerError(f"the ledger's migrations have {len(heads)} heads {sorted(heads)}, expected one "
                          "(broken installation)")
    return heads.pop()
