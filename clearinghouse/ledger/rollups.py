"""Rows that only add up — the day spends, hourly usage and exposure rollups — moved by a batch.

A batch of signing calls adds its sums to these rows at its end (batch_writes.py), under the
gateways' account locks, so no other writer moves them meanwhile and reading then writing loses
no update. ``add_to_rows`` does it for every row a batch touches in at most three statements,
whatever the number of rows: one SELECT of them all, one ``executemany`` UPDATE of those found,
one INSERT of the rest. On PostgreSQL each statement is a round trip to the server; a row at a
time cost a batch of 48 calls over 12 gateways 72 round trips (benchmarks/pg_batch.py,
2026-12-08). Amounts are added in Python: SQLite keeps them as decimal text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, Self, TypeVar

from sqlalchemy import Connection, RowMapping, Table, bindparam, insert, select, update


class _Summable(Protocol):
    def __add__(self, other: Self, /) -> Self: ...


S = TypeVar("S", bound=_Summable)


def add_to_rows(
    connection: Connection,
    rows: Table,
    key_columns: Sequence[str],
    sums: Mapping[tuple[Any, ...], S],
    *,
    stored: Callable[[RowMapping], S],
    columns: Callable[[S], dict[str, Any]],
    new_row: Callable[[tuple[Any, ...]], dict[str, Any]],
) -> None:
    """Add ``sums`` (keyed by the values of ``key_columns``, a unique key of ``rows``) to their
    rows: ``stored`` reads a row's amount, ``columns`` gives the columns of an amount, ``new_row``
    the other columns of a row not there yet. The caller holds the rows' owners' locks."""
    if not sums:
        return
    # Each key column within the values the sums name: a superset of the rows, narrowed here,
    # so that both backends read through plain IN lists.
    within = [rows.c[name].in_(sorted({key[i] for key in sums})) for i, name in enumerate(key_columns)]
    found = {
        tuple(row[name] for name in key_columns): row
        for row in connection.execute(select(rows).where(*within)).mappings()
    }
    moved, added = [], []
    for key in sorted(sums):
        row = found.get(key)
        if row is None:
            added.append(new_row(key) | columns(sums[key]))
        else:
            where = {f"key_{name}": value for name, value in zip(key_columns, key, strict=True)}
            moved.append(where | columns(stored(row) + sums[key]))
    if moved:
        # WHERE parameters are named key_<column>: an UPDATE takes a parameter named like a
        # column as a value to SET.
        key_match = (rows.c[name] == bindparam(f"key_{name}") for name in key_columns)
        connection.execute(update(rows).where(*key_match), moved)
    if added:
        connection.execute(insert(rows), added)
