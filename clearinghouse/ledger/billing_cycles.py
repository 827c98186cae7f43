"""Billing cycles, billing runs and invoice deliveries as stored (migration 0015): the
repository of the billing scheduler (billing/scheduler.py). It never computes a period or an
invoice; it stores what the scheduler decided and hands out claims.

**Claims.** ``claim_run`` inserts the (gateway, period) row with ON CONFLICT DO NOTHING: the one
insert that lands owns the period, every other caller (a restart, a second replica) gets None
and does nothing. ``reclaim_run`` takes over a run that is held (usage unpriced at close) or
whose claim went stale (its replica died between the claim and the issue), by compare-and-set on
its status and claim time, so again only one caller wins. Delivery attempts are claimed the same
way: UNIQUE (invoice_id, attempt).

The delivery secret is stored to sign webhooks and never leaves this module's callers in a
listing: ``BillingCycle`` hides it from ``repr``. Errors: InvalidLedgerInput, NotFound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from clearinghouse.domain.fields import check_text
from clearinghouse.domain.limits import ACTOR_LENGTH_MAX, REASON_LENGTH_MAX
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import limits
from clearinghouse.ledger.billing_rows import InvoiceRow
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import NotFound
from clearinghouse.ledger.limits import GRACE_S_MAX, LENGTH_DAYS_MAX, OVERDUE_DAYS_MAX
from clearinghouse.ledger.models import GatewayRow, table
from clearinghouse.ledger.repository_checks import check_audit
from clearinghouse.ledger.settlement_models import (
    BillingCycleRow,
    BillingRunRow,
    InvoiceDeliveryRow,
)
from clearinghouse.ledger.transactions import reading, utc_now, writing_connection

_CYCLES = table(BillingCycleRow)
_RUNS = table(BillingRunRow)
_DELIVERIES = table(InvoiceDeliveryRow)
_GATEWAYS = table(GatewayRow)
_INVOICES = table(InvoiceRow)


class CycleKind(StrEnum):
    """How a gateway's periods are cut: a week, a calendar month from its anchor day, N days."""

    WEEKLY = "weekly"
    MONTHLY = "monthly"
    DAYS = "days"


class OverduePolicy(StrEnum):
    """What follows an overdue invoice: a notification only, or signing stops after N days."""

    NOTIFY = "notify"
    STOP_SIGNING = "stop_signing"


class RunStatus(StrEnum):
    CLAIMED = "claimed"
    ISSUED = "issued"
    HELD = "held"


class Delivery(StrEnum):
    """Where a run's webhook delivery is: none configured, still trying, done, given up."""

    NONE = "none"
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryOutcome(StrEnum):
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class BillingCycle:
    """A gateway's billing cycle (module docstring); ``anchor_at`` starts its first period."""

    gateway_id: int
    cycle: CycleKind
    length_days: int | None
    anchor_at: datetime
    grace_s: int
    webhook_url: str | None
    webhook_secret: str | None = field(repr=False)
    overdue_policy: OverduePolicy
    overdue_stop_after_days: int
    actor: str
    reason: str
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class BillingRun:
    id: int
    gateway_id: int
    period_start: datetime
    period_end: datetime
    status: RunStatus
    invoice_id: int | None
    delivery: Delivery
    detail: str | None
    claimed_by: str
    claimed_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One webhook attempt; ``gateway_id`` and ``number`` are the invoice's."""

    id: int
    invoice_id: int
    gateway_id: int
    number: str | None
    attempt: int
    url: str
    attempted_at: datetime
    outcome: DeliveryOutcome
    http_status: int | None
    detail: str | None


def set_billing_cycle(db: Database, cycle: BillingCycle) -> BillingCycle:
    """Replace ``cycle.gateway_id``'s billing cycle (its ``changed_at`` is set now).

    Raises NotFound for an unknown gateway, InvalidLedgerInput for values the table refuses.
    """
    _check_cycle(cycle)
    values = {name: getattr(cycle, name) for name in BillingCycle.__slots__} | {"changed_at": utc_now()}
    with writing_connection(db) as connection:
        if connection.execute(select(_GATEWAYS.c.id).where(_GATEWAYS.c.id == cycle.gateway_id)
                              .with_for_update()).first() is None:
            raise NotFound(f"no gateway with id {cycle.gateway_id}")
        connection.execute(delete(_CYCLES).where(_CYCLES.c.gateway_id == cycle.gateway_id))
        connection.execute(insert(_CYCLES).values(values))
    return _cycle(values)


def remove_billing_cycle(db: Database, gateway_id: int) -> bool:
    """Stop invoicing ``gateway_id`` automatically; False when it had no cycle. Runs stay."""
    with writing_connection(db) as connection:
        return connection.execute(delete(_CYCLES).where(_CYCLES.c.gateway_id == gateway_id)).rowcount > 0


def billing_cycle(db: Database, gateway_id: int) -> BillingCycle | None:
    with reading(db) as session:
        row = session.connection().execute(select(_CYCLES).where(_CYCLES.c.gateway_id == gateway_id)).first()
    return None if row is None else _cycle(row._mapping)


def billing_cycles(db: Database) -> list[BillingCycle]:
    """Every gateway's billing cycle, by gateway id."""
    with reading(db) as session:
        rows = session.connection().execute(select(_CYCLES).order_by(_CYCLES.c.gateway_id)).all()
    return [_cycle(row._mapping) for row in rows]


def claim_run(
    db: Database, gateway_id: int, period_start: datetime, period_end: datetime, *, claimed_by: str, now: datetime
) -> BillingRun | None:
    """Claim the period for this caller; None when a run of it exists already (module docstring)."""
    check_text("claimed_by", claimed_by, ACTOR_LENGTH_MAX)
    values = {"gateway_id": gateway_id, "period_start": period_start, "period_end": period_end,
              "status": RunStatus.CLAIMED.value, "delivery": Delivery.NONE.value, "claimed_by": claimed_by,
              "claimed_at": now}
    with writing_connection(db) as connection:
        run_id = connection.execute(_insert_or_nothing(connection, _RUNS, values, ["gateway_id", "period_start"])
                                    .returning(_RUNS.c.id)).scalar()
        return None if run_id is None else _run(_run_row(connection, run_id))


def reclaim_run(db: Database, run: BillingRun, *, claimed_by: str, now: datetime) -> BillingRun | None:
    """Take over ``run`` (held, or claimed long ago) as it was read; None when another caller
    changed it first."""
    with writing_connection(db) as connection:
        changed = connection.execute(update(_RUNS).where(
            _RUNS.c.id == run.id, _RUNS.c.status == run.status.value, _RUNS.c.claimed_at == run.claimed_at,
        ).values(status=RunStatus.CLAIMED.value, claimed_by=claimed_by, claimed_at=now, finished_at=None))
        return _run(_run_row(connection, run.id)) if changed.rowcount == 1 else None


def finish_run(
    db: Database, run_id: int, *, status: RunStatus, now: datetime, invoice_id: int | None = None,
    delivery: Delivery = Delivery.NONE, detail: str | None = None,
) -> BillingRun:
    """Record how the claimed run ``run_id`` ended: issued (with its invoice) or held (why)."""
    values: dict[str, Any] = {"status": status.value, "invoice_id": invoice_id, "delivery": delivery.value,
                              "detail": None if detail is None else detail[:REASON_LENGTH_MAX],
                              "finished_at": now}
    with writing_connection(db) as connection:
        connection.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(values))
        return _run(_run_row(connection, run_id))


def set_run_delivery(db: Database, run_id: int, delivery: Delivery) -> None:
    with writing_connection(db) as connection:
        connection.execute(update(_RUNS).where(_RUNS.c.id == run_id).values(delivery=delivery.value))


def billing_runs(
    db: Database, *, gateway_id: int | None = None, statuses: Sequence[RunStatus] = (),
    deliveries: Sequence[Delivery] = (), limit: int = limits.SETTLEMENT_ROWS_LISTED_MAX,
) -> list[BillingRun]:
    """Runs, newest period first, filtered by gateway, status and delivery state."""
    _check_limit(limit)
    statement = select(_RUNS).order_by(_RUNS.c.period_start.desc(), _RUNS.c.id.desc()).limit(limit)
    if gateway_id is not None:
        statement = statement.where(_RUNS.c.gateway_id == gateway_id)
    if statuses:
        statement = statement.where(_RUNS.c.status.in_([s.value for s in statuses]))
    if deliveries:
        statement = statement.where(_RUNS.c.delivery.in_([d.value for d in deliveries]))
    with reading(db) as session:
        return [_run(row._mapping) for row in session.connection().execute(statement)]


def claim_delivery_attempt(db: Database, invoice_id: int, attempt: int, url: str, *, now: datetime) -> int | None:
    """Claim attempt number ``attempt`` of ``invoice_id``'s delivery; its id, or None when
    another caller claimed it."""
    check_text("url", url, limits.URL_LENGTH_MAX)
    values = {"invoice_id": invoice_id, "attempt": attempt, "url": url, "attempted_at": now,
              "outcome": DeliveryOutcome.SENDING.value}
    with writing_connection(db) as connection:
        statement = _insert_or_nothing(connection, _DELIVERIES, values, ["invoice_id", "attempt"])
        result: int | None = connection.execute(statement.returning(_DELIVERIES.c.id)).scalar()
        return result


def finish_delivery_attempt(
    db: Database, attempt_id: int, outcome: DeliveryOutcome, *, http_status: int | None, detail: str | None
) -> None:
    with writing_connection(db) as connection:
        connection.execute(update(_DELIVERIES).where(_DELIVERIES.c.id == attempt_id).values(
            outcome=outcome.value, http_status=http_status,
            detail=None if detail is None else detail[:REASON_LENGTH_MAX]))


def delivery_attempts(
    db: Database, *, invoice_id: int | None = None, gateway_id: int | None = None,
    limit: int = limits.SETTLEMENT_ROWS_LISTED_MAX,
) -> list[DeliveryAttempt]:
    """Delivery attempts, newest first, of one invoice, one gateway's invoices, or all."""
    _check_limit(limit)
    statement = (
        select(_DELIVERIES, _INVOICES.c.gateway_id, _INVOICES.c.number)
        .join(_INVOICES, _INVOICES.c.id == _DELIVERIES.c.invoice_id)
        .order_by(_DELIVERIES.c.attempted_at.desc(), _DELIVERIES.c.id.desc()).limit(limit)
    )
    if invoice_id is not None:
        statement = statement.where(_DELIVERIES.c.invoice_id == invoice_id)
    if gateway_id is not None:
        statement = statement.where(_INVOICES.c.gateway_id == gateway_id)
    with reading(db) as session:
        rows = session.connection().execute(statement).all()
    return [DeliveryAttempt(
        id=row.id, invoice_id=row.invoice_id, gateway_id=row.gateway_id, number=row.number, attempt=row.attempt,
        url=row.url, attempted_at=row.attempted_at, outcome=DeliveryOutcome(row.outcome),
        http_status=row.http_status, detail=row.detail,
    ) for row in rows]


def _insert_or_nothing(connection: Connection, target: Any, values: dict[str, Any], keys: list[str]) -> Any:
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(target).values(values).on_conflict_do_nothing(index_elements=keys)


def _run_row(connection: Connection, run_id: int) -> Any:
    row = connection.execute(select(_RUNS).where(_RUNS.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"no billing run with id {run_id}")
    return row._mapping


def _check_limit(limit: int) -> None:
    if not 1 <= limit <= limits.SETTLEMENT_ROWS_LISTED_MAX:
        raise InvalidLedgerInput(f"limit must be in 1..{limits.SETTLEMENT_ROWS_LISTED_MAX}, got {limit}")


def _check_cycle(cycle: BillingCycle) -> None:
    kind = CycleKind(cycle.cycle)
    if (kind is CycleKind.DAYS) != (cycle.length_days is not None):
        raise InvalidLedgerInput("a custom cycle (days) has a length in days, and only a custom cycle has one")
    if cycle.length_days is not None and not 1 <= cycle.length_days <= LENGTH_DAYS_MAX:
        raise InvalidLedgerInput(f"length_days must be in 1..{LENGTH_DAYS_MAX}, got {cycle.length_days}")
    if not isinstance(cycle.anchor_at, datetime) or cycle.anchor_at.tzinfo is None:
        raise InvalidLedgerInput(f"anchor_at must be a timezone-aware datetime, got {cycle.anchor_at!r}")
    if not 0 <= cycle.grace_s <= GRACE_S_MAX:
        raise InvalidLedgerInput(f"grace_s must be in 0..{GRACE_S_MAX}, got {cycle.grace_s}")
    if (cycle.webhook_url is None) != (cycle.webhook_secret is None):
        raise InvalidLedgerInput("a delivery webhook needs its URL and its signing secret together")
    if cycle.webhook_url is not None and cycle.webhook_secret is not None:
        check_text("webhook_url", cycle.webhook_url, limits.URL_LENGTH_MAX)
        check_text("webhook secret", cycle.webhook_secret, limits.WEBHOOK_SECRET_LENGTH_MAX)
    OverduePolicy(cycle.overdue_policy)
    if not 0 <= cycle.overdue_stop_after_days <= OVERDUE_DAYS_MAX:
        raise InvalidLedgerInput(f"overdue_stop_after_days must be in 0..{OVERDUE_DAYS_MAX}, "
                                 f"got {cycle.overdue_stop_after_days}")
    check_audit(cycle.actor, cycle.reason)


def _cycle(row: Any) -> BillingCycle:
    return BillingCycle(
        gateway_id=row["gateway_id"], cycle=CycleKind(row["cycle"]), length_days=row["length_days"],
        anchor_at=row["anchor_at"], grace_s=row["grace_s"], webhook_url=row["webhook_url"],
        webhook_secret=row["webhook_secret"], overdue_policy=OverduePolicy(row["overdue_policy"]),
        overdue_stop_after_days=row["overdue_stop_after_days"], actor=row["actor"], reason=row["reason"],
        changed_at=row["changed_at"],
    )


def _run(row: Any) -> BillingRun:
    return BillingRun(
        id=row["id"], gateway_id=row["gateway_id"], period_start=row["period_start"], period_end=row["period_end"],
        status=RunStatus(row["status"]), invoice_id=row["invoice_id"], delivery=Delivery(row["delivery"]),
        detail=row["detail"], claimed_by=row["claimed_by"], claimed_at=row["claimed_at"],
        finished_at=row["finished_at"],
    )
