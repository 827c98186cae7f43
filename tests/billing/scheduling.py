"""Shared set-up of the billing-scheduler tests: a controllable clock, a gateway with a plan and
a billing cycle, usage signed at a chosen time."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from clearinghouse.ledger import Database, NewRate, create_gateway, record_rate_snapshot, record_signing_call
from clearinghouse.ledger import sessions as ledger_sessions
from clearinghouse.ledger.billing_cycles import BillingCycle, CycleKind, OverduePolicy, set_billing_cycle
from clearinghouse.ledger.billing_plans import PlanKind, set_billing_plan
from tests.ledger.conftest import SessionDriver

WHO = {"actor": "test", "reason": "test"}
PLAN_FROM = datetime(2026, 10, 1, tzinfo=UTC)


class Clock:
    """The scheduler's clock: moved by the test, never by time passing."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def billed_gateway(
    db: Database, name: str, cycle: CycleKind, anchor_at: datetime, *, grace_s: int = 3600,
    length_days: int | None = None, webhook: tuple[str, str] | None = None,
    overdue: OverduePolicy = OverduePolicy.NOTIFY, stop_after_days: int = 0, fixed_fee: int = 10,
) -> int:
    """A gateway on a usage-based USD plan (a fixed fee, so every period has an amount) and a cycle."""
    gateway = create_gateway(db, name)
    set_billing_plan(db, gateway.id, kind=PlanKind.USAGE_BASED, currency="USD", effective_at=PLAN_FROM,
                     fixed_fee=Fraction(fixed_fee), **WHO)
    set_billing_cycle(db, BillingCycle(
        gateway_id=gateway.id, cycle=cycle, length_days=length_days, anchor_at=anchor_at, grace_s=grace_s,
        webhook_url=None if webhook is None else webhook[0], webhook_secret=None if webhook is None else webhook[1],
        overdue_policy=overdue, overdue_stop_after_days=stop_after_days, actor="test", reason="test",
        changed_at=anchor_at,
    ))
    return gateway.id


def sign_usage(db: Database, monkeypatch: pytest.MonkeyPatch, gateway_id: int, at: datetime, *,
               priced: bool = True) -> None:
    """One call of one ticket (EV 0.01 ETH) recorded as signed at ``at``, at 3000 USD/ETH when priced."""
    rate = record_rate_snapshot(db, NewRate(Fraction(3000), "manual", PLAN_FROM, PLAN_FROM, "test", "test"))
    monkeypatch.setattr(ledger_sessions, "utc_now", lambda: at)
    driver = SessionDriver(gateway_id, face_value=10**16)
    record_signing_call(db, driver.next_call(10, rate_snapshot_id=rate.id if priced else None))
    monkeypatch.undo()
