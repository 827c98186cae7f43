"""The signing path's statements on the driver's cursor convert every value exactly as SQLAlchemy
does for the same statement (statements.py): same SQL, same parameters in the same order."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import insert

from clearinghouse.ledger import Database
from clearinghouse.ledger.models import PaymentSessionRow, SignedTicketRow, SigningRecordRow, table
from clearinghouse.ledger.records import new_head_columns, record_columns
from clearinghouse.ledger.statements import compile_for
from tests.ledger.conftest import SessionDriver


def _sqlalchemy_parameters(statement: Any, db: Database, values: dict[str, Any]) -> Any:
    """The parameters SQLAlchemy itself hands the driver for ``statement`` with ``values``."""
    with db.engine.connect() as connection:
        compiled = statement.compile(dialect=connection.dialect, column_keys=list(values))
        context = connection.dialect.execution_ctx_cls._init_compiled(  # type: ignore[attr-defined]
            connection.dialect, connection, connection.connection, {}, compiled, [values],
            statement, [],
        )
        return context.parameters[0]


def _plain(value: Any) -> Any:
    """Bytes as the driver binds them: SQLAlchemy wraps them (sqlite3's memoryview, psycopg's
    Binary), we pass them plain; both bind as BLOB / bytea."""
    if isinstance(value, memoryview):
        return bytes(value)
    wrapped = getattr(value, "obj", None)
    return wrapped if isinstance(wrapped, bytes) else value


@pytest.mark.parametrize("which", ["head", "record", "ticket"])
def test_driver_parameters_are_what_sqlalchemy_binds(ledger_db: Database, which: str) -> None:
    call = SessionDriver(1, price_per_unit=7, pixels_per_unit=3).next_call(
        usage_subject="alice", request_id="r-1", request_digest=b"\x05" * 32, signed_at=datetime.now(UTC))
    now = datetime(2026, 12, 7, 12, 0, 0, 0, tzinfo=UTC)  # microsecond 0: the format must keep it
    statement, values = {
        "head": (insert(table(PaymentSessionRow)), new_head_columns(call.session, now)),
        "record": (insert(table(SigningRecordRow)), record_columns(call, now)),
        "ticket": (insert(table(SignedTicketRow)), {"signing_record_id": 9, "recipient_rand_hash": b"\x01" * 32,
                                                   "sender_nonce": 2**32 - 1, "ticket_hash": b"\x02" * 32}),
    }[which]
    assert call.session.balance != Fraction(0)
    with ledger_db.engine.connect() as connection:
        ours = compile_for(statement, connection.dialect, values)
    theirs = _sqlalchemy_parameters(statement, ledger_db, values)

    mine = ours.parameters(values)
    if isinstance(mine, dict):
        assert {k: _plain(v) for k, v in mine.items()} == {k: _plain(v) for k, v in dict(theirs).items()}
    else:
        assert [_plain(v) for v in mine] == [_plain(v) for v in theirs]
