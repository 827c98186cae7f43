"""Every gateway at a glance: status, unrevoked key prefixes, credit mode, what it may still
sign for and its quota period's spend — what ``clearinghouse gateway list`` shows.

A one-shot command should answer within 0.3 s (issue 19), and importing SQLAlchemy's ORM with
the ledger's mapped classes alone costs ~0.3 s (benchmarks/README.md, "Command-line
start-up"). So on the embedded database (a plain ``sqlite:///path`` URL) this read runs five
statements on the standard library's ``sqlite3``, read-only, over the tables ``models.py``
defines; any other URL (PostgreSQL, SQLite with URL options) is read through the repository
functions (``list_gateways``, ``list_api_keys``, ``spend_summary``). The two answers are pinned
to each other by tests/ledger/test_overview.py, on both backends, for every credit mode and
quota period.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path

from clearinghouse.ledger.errors import NotFound, SchemaNotCurrent
from clearinghouse.errors import InvalidLedgerInput, LedgerError
from clearinghouse.ledger.migrations import UPGRADE_COMMAND, head_revision
from clearinghouse.ledger.url_text import mask_url_text
from clearinghouse.ledger.values import AccountKind
from clearinghouse.domain.credit import CreditMode, period_days, QuotaPeriod
from clearinghouse.domain.gateways import GatewayStatus

_PLAIN_SQLITE_PREFIXES = ("sqlite:///", "sqlite+pysqlite:///")

_GATEWAYS = "SELECT id, name, status FROM gateways ORDER BY id"
_KEY_PREFIXES = "SELECT gateway_id, prefix FROM api_keys WHERE revoked_at IS NULL ORDER BY id"
# The policy in force is a gateway's newest row (credit._POLICY_IN_FORCE).
_POLICIES = (
    "SELECT gateway_id, mode, credit_limit_wei, quota_period FROM credit_policies "
    "WHERE id IN (SELECT max(id) FROM credit_policies GROUP BY gateway_id)"
)
_RECEIVABLES = "SELECT gateway_id, balance_num, balance_den FROM accounts WHERE kind = ?"
# Days are ISO text on SQLite, so they compare as dates; a month's rows hold any day's.
_DAY_SPENDS = (
    "SELECT gateway_id, day, ev_signed_num, ev_signed_den FROM gateway_daily_spends "
    "WHERE day >= ? AND day < ?"
)


@dataclass(frozen=True, slots=True)
class GatewayOverview:
    """One gateway as ``gateway list`` shows it; amounts are exact wei (``SpendSummary``'s)."""

    id: int
    name: str
    status: GatewayStatus
    key_prefixes: tuple[str, ...]
    mode: CreditMode
    available: Fraction
    period_spend: Fraction


def gateway_overviews(url: str, now: datetime) -> tuple[GatewayOverview, ...]:
    """Every gateway, oldest first, as it stands at ``now`` (timezone-aware).

    Raises ``SchemaNotCurrent`` for a database not at this version's schema (naming the
    command that upgrades it), ``LedgerError`` for one that cannot be read; messages never
    carry the password.
    """
    if now.tzinfo is None:
        raise InvalidLedgerInput(f"now: expected a timezone-aware datetime, got {now!r}")
    path = _plain_sqlite_path(url)
    if path is None:
        return _through_repository(url, now)
    return _from_sqlite_file(path, mask_url_text(url), now)


def _plain_sqlite_path(url: str) -> Path | None:
    for prefix in _PLAIN_SQLITE_PREFIXES:
        if url.startswith(prefix):
            database = url.removeprefix(prefix)
            plain = database not in ("", ":memory:") and "?" not in database
            return Path(database) if plain else None
    return None


def _through_repository(url: str, now: datetime) -> tuple[GatewayOverview, ...]:
    from clearinghouse.ledger.credit import spend_summary
    from clearinghouse.ledger.engine import open_database
    from clearinghouse.ledger.gateways import list_api_keys, list_gateways
    from clearinghouse.ledger.schema import check_database_current

    db = open_database(url)
    try:
        check_database_current(db)
        overviews = []
        for gateway in list_gateways(db):
            keys = tuple(k.prefix for k in list_api_keys(db, gateway.id) if k.revoked_at is None)
            summary = spend_summary(db, gateway.id, now)
            overviews.append(GatewayOverview(
                id=gateway.id, name=gateway.name, status=gateway.status, key_prefixes=keys,
                mode=summary.policy.mode, available=summary.available, period_spend=summary.period_spend,
            ))
        return tuple(overviews)
    finally:
        db.dispose()


def _from_sqlite_file(path: Path, masked_url: str, now: datetime) -> tuple[GatewayOverview, ...]:
    head = head_revision()
    if not path.is_file():
        raise SchemaNotCurrent(
            f"database {masked_url} has an empty schema, this version needs revision {head}: "
            f"run `{UPGRADE_COMMAND}`"
        )
    try:
        # Read-only: a listing never creates, migrates or writes the file.
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as connection:
            _check_revision(connection, masked_url, head)
            return _read(connection, now)
    except sqlite3.Error as exc:
        raise LedgerError(f"database {masked_url} could not be read: {exc}") from exc


def _check_revision(connection: sqlite3.Connection, masked_url: str, head: str) -> None:
    has_versions = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    ).fetchone()
    versions = sorted(row[0] for row in connection.execute("SELECT version_num FROM alembic_version")) if has_versions else []
    if versions == [head]:
        return
    found = "an empty schema" if not versions else f"revision {', '.join(versions)}"
    raise SchemaNotCurrent(
        f"database {masked_url} has {found}, this version needs revision {head}: run `{UPGRADE_COMMAND}`"
    )


def _read(connection: sqlite3.Connection, now: datetime) -> tuple[GatewayOverview, ...]:
    prefixes: dict[int, list[str]] = defaultdict(list)
    for gateway_id, prefix in connection.execute(_KEY_PREFIXES):
        prefixes[gateway_id].append(prefix)
    policies = {row[0]: row[1:] for row in connection.execute(_POLICIES)}
    owed = {
        gateway_id: Fraction(int(num), int(den))
        for gateway_id, num, den in connection.execute(_RECEIVABLES, (AccountKind.RECEIVABLE.value,))
    }
    month_first, month_after = period_days(QuotaPeriod.MONTH, now)
    day_spends: dict[int, list[tuple[date, Fraction]]] = defaultdict(list)
    for gateway_id, day, num, den in connection.execute(
        _DAY_SPENDS, (month_first.isoformat(), month_after.isoformat())
    ):
        day_spends[gateway_id].append((date.fromisoformat(day), Fraction(int(num), int(den))))
    overviews = []
    for gateway_id, name, status in connection.execute(_GATEWAYS).fetchall():
        if gateway_id not in owed:
            raise NotFound(f"no receivable account for gateway {gateway_id}")
        # A gateway nobody configured is prepaid with no quota (credit.default_policy).
        mode, limit_text, period = policies.get(
            gateway_id, (CreditMode.PREPAID.value, "0", QuotaPeriod.MONTH.value)
        )
        first, after = period_days(QuotaPeriod(period), now)
        spend = sum((ev for day, ev in day_spends[gateway_id] if first <= day < after), Fraction(0))
        overviews.append(GatewayOverview(
            id=gateway_id, name=name, status=GatewayStatus(status), key_prefixes=tuple(prefixes[gateway_id]),
            mode=CreditMode(mode), available=int(limit_text) - owed[gateway_id], period_spend=spend,
        ))
    return tuple(overviews)
