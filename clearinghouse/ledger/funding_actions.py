"""Replenishments of the TicketBroker deposit and reserve as recorded (migration 0015): every
funding the replenishment policy decided, observed only or sent, with its reason, the position it
started from and how it ended. `clearinghouse deposit history` and the dashboard list them.

``claim_funding_action`` inserts the row with ON CONFLICT DO NOTHING on (action, window_start):
one replica acts per funding window, the others get None and do nothing. ``funded_since`` sums
what automatic actions sent (or may have sent: unconfirmed ones count) for the per-day cap.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from clearinghouse.ledger import limits
from clearinghouse.domain.limits import REASON_LENGTH_MAX
from clearinghouse.ledger.engine import Database
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.settlement_models import FundingActionRow
from clearinghouse.ledger.models import table
from clearinghouse.ledger.transactions import reading, writing_connection
from clearinghouse.domain.fields import check_text

_ACTIONS = table(FundingActionRow)


class FundingMode(StrEnum):
    OBSERVE = "observe"
    AUTO = "auto"


class FundingStatus(StrEnum):
    """Observed (nothing sent), or the life of a sent transaction."""

    OBSERVED = "observed"
    SENDING = "sending"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True, slots=True)
class FundingRecord:
    """One recorded replenishment; ``action`` is fund_deposit or fund_reserve."""

    id: int
    window_start: datetime
    action: str
    mode: FundingMode
    status: FundingStatus
    amount_wei: int
    reason: str
    deposit_wei: int
    reserve_wei: int
    eth_balance_wei: int
    tx_hash: str | None
    detail: str | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewFunding:
    """What the policy decided, before it is claimed."""

    window_start: datetime
    action: str
    mode: FundingMode
    amount_wei: int
    reason: str
    deposit_wei: int
    reserve_wei: int
    eth_balance_wei: int


def claim_funding_action(db: Database, funding: NewFunding, *, now: datetime) -> FundingRecord | None:
    """Record ``funding`` (observed, or about to be sent); None when this window's action is
    someone else's already. Raises InvalidLedgerInput for a non-positive amount or bad text."""
    if isinstance(funding.amount_wei, bool) or not isinstance(funding.amount_wei, int) or funding.amount_wei <= 0:
        raise InvalidLedgerInput(f"a funding amount is a positive int of wei, got {funding.amount_wei!r}")
    check_text("reason", funding.reason, REASON_LENGTH_MAX)
    status = FundingStatus.OBSERVED if funding.mode is FundingMode.OBSERVE else FundingStatus.SENDING
    values = {name: getattr(funding, name) for name in NewFunding.__slots__} | {
        "mode": funding.mode.value, "status": status.value, "created_at": now}
    with writing_connection(db) as connection:
        dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        statement = dialect_insert(_ACTIONS).values(values).on_conflict_do_nothing(
            index_elements=["action", "window_start"])
        action_id = connection.execute(statement.returning(_ACTIONS.c.id)).scalar()
        if action_id is None:
            return None
        row = connection.execute(select(_ACTIONS).where(_ACTIONS.c.id == action_id)).one()
    return _record(row._mapping)


def finish_funding_action(
    db: Database, action_id: int, status: FundingStatus, *, now: datetime, tx_hash: str | None = None,
    detail: str | None = None,
) -> None:
    """Record how a sent action ended (confirmed, failed, unconfirmed), its hash and why."""
    with writing_connection(db) as connection:
        connection.execute(update(_ACTIONS).where(_ACTIONS.c.id == action_id).values(
            status=status.value, tx_hash=tx_hash, finished_at=now,
            detail=None if detail is None else detail[:REASON_LENGTH_MAX]))


def funded_since(db: Database, since: datetime) -> int:
    """Wei automatic actions sent (or may have sent) since ``since``: the per-day cap's spend."""
    counted = (FundingStatus.SENDING, FundingStatus.CONFIRMED, FundingStatus.UNCONFIRMED)
    statement = select(_ACTIONS.c.amount_wei).where(
        _ACTIONS.c.mode == FundingMode.AUTO.value, _ACTIONS.c.created_at >= since,
        _ACTIONS.c.status.in_([status.value for status in counted]))
    with reading(db) as session:
        amounts: list[int] = list(session.connection().execute(statement).scalars())
    return sum((int(amount) for amount in amounts), 0)


def funding_history(db: Database, *, limit: int = limits.SETTLEMENT_ROWS_LISTED_MAX) -> list[FundingRecord]:
    """Recorded replenishments, newest first."""
    if not 1 <= limit <= limits.SETTLEMENT_ROWS_LISTED_MAX:
        raise InvalidLedgerInput(f"limit must be in 1..{limits.SETTLEMENT_ROWS_LISTED_MAX}, got {limit}")
    statement = select(_ACTIONS).order_by(_ACTIONS.c.created_at.desc(), _ACTIONS.c.id.desc()).limit(limit)
    with reading(db) as session:
        return [_record(row._mapping) for row in session.connection().execute(statement)]


def _record(row: Any) -> FundingRecord:
    return FundingRecord(
        id=row["id"], window_start=row["window_start"], action=row["action"], mode=FundingMode(row["mode"]),
        status=FundingStatus(row["status"]), amount_wei=row["amount_wei"], reason=row["reason"],
        deposit_wei=row["deposit_wei"], reserve_wei=row["reserve_wei"], eth_balance_wei=row["eth_balance_wei"],
        tx_hash=row["tx_hash"], detail=row["detail"], created_at=row["created_at"], finished_at=row["finished_at"],
    )
