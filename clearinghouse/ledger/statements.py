"""Statements of the signing path, compiled once per dialect and run on the driver's cursor.

The committer (committer.py) writes a handful of rows per signing call: the session head, the
signing record and its tickets, inside a savepoint. Through SQLAlchemy's ``Connection.execute``
each statement costs ~21–25 µs of Python on this project's 2-core machine; the same statement on
the DB-API cursor costs ~2–3 µs, and a SAVEPOINT with its RELEASE ~1.3 µs (measured 2026-12-07
with 20,000 executions each on SQLite 3.40, SQLAlchemy 2.1.9). At thousands of calls per second
that difference is most of the committer's time, so the per-call statements run here.

What is not given up: the SQL is SQLAlchemy's own compilation of the Core statement for the
dialect in use (placeholders, casts, quoting), and every bound value goes through its column
type's bind processor, so the project's types (exact integers as text on SQLite, UTC datetimes,
fixed-length bytes) convert and check values exactly as they do on every other path. Reads go
through SQLAlchemy as usual: they run per batch, not per call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, LargeBinary
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.types import TypeDecorator, TypeEngine

Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class DriverStatement:
    """One compiled statement: its SQL text, parameter order (positional paramstyles) and the
    bind processors of its parameters."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[tuple[str, Processor], ...]
    positional: bool

    def parameters(self, values: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        """The driver's parameters for ``values`` (keyed by bind name), processed."""
        converted = dict(values)
        for name, process in self.processors:
            converted[name] = process(converted[name])
        if self.positional:
            return tuple(converted[name] for name in self.names)
        return converted


def compile_for(statement: UpdateBase, dialect: Dialect, columns: Iterable[str]) -> DriverStatement:
    """Compile an INSERT or UPDATE once for ``dialect``, binding exactly ``columns`` (and the
    statement's own named parameters, such as a WHERE clause's ``key_…``)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(columns))
    if not isinstance(compiled, SQLCompiler):
        raise TypeError(f"expected a SQL compilation, got {type(compiled).__name__}")
    names = tuple(compiled.positiontup or compiled.binds)
    processors = []
    for name in names:
        process = bind_processor(compiled.binds[name].type, dialect)
        if process is not None:
            processors.append((name, process))
    return DriverStatement(compiled.string, names, tuple(processors), compiled.positiontup is not None)


def bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    """What SQLAlchemy does to a value of ``type_`` before the driver gets it, in one call: a
    TypeDecorator's ``process_bind_param`` (the project's checks and conversions), then its
    dialect implementation's processor. Binary values go to the driver as ``bytes``, which both
    drivers bind as BLOB / bytea, instead of through SQLAlchemy's DB-API ``Binary`` wrapper: that
    wrapper was a twentieth of the committer's interpreter time (py-spy, 2026-12-07)."""
    if isinstance(type_, TypeDecorator):
        decorate = type_.process_bind_param
        implementation = type_.load_dialect_impl(dialect).dialect_impl(dialect)
        after = None if isinstance(implementation, LargeBinary) else implementation.bind_processor(dialect)
        if after is None:
            return lambda value: decorate(value, dialect)
        return lambda value: after(decorate(value, dialect))
    implementation = type_.dialect_impl(dialect)
    return None if isinstance(implementation, LargeBinary) else implementation.bind_processor(dialect)


def execute(connection: Connection, statement: DriverStatement, values: Mapping[str, Any]) -> Any:
    """Run ``statement`` once on the connection's DB-API cursor; returns the cursor (for
    ``rowcount``, ``lastrowid`` or a RETURNING row). The caller holds the transaction."""
    cursor = _cursor(connection)
    cursor.execute(statement.sql, statement.parameters(values))
    return cursor


def execute_many(connection: Connection, statement: DriverStatement, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run ``statement`` for every row in one driver call; returns the rows it affected."""
    if not rows:
        return 0
    cursor = _cursor(connection)
    cursor.executemany(statement.sql, [statement.parameters(row) for row in rows])
    affected: int = cursor.rowcount
    return affected


def execute_sql(connection: Connection, sql: str) -> None:
    """Run a statement without parameters (SAVEPOINT, RELEASE, ROLLBACK TO) on the cursor."""
    _cursor(connection).execute(sql)


def _cursor(connection: Connection) -> Any:
    # One cursor per call is what the drivers are built for: both cache prepared statements on
    # the connection, not the cursor (sqlite3's statement cache, psycopg's prepared statements).
    return connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
