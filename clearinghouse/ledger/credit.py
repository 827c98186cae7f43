"""Credit control: may this gateway (and this usage subject) spend this much EV right now?

Per gateway an operator sets a ``CreditPolicy`` (prepaid, or credit up to a limit; an optional
quota of EV signed per UTC month or day; an optional quota per usage subject, with explicit
per-subject overrides). Policies and overrides are append-only rows: the newest is in force,
the older ones are the audit trail of who changed what and why. A gateway that never had a
policy set is prepaid without quotas (``default_policy``): it may spend only what it paid.

The check runs in the committer's batch (batch_credit.py): every call sees what the batch's
earlier calls spent, and the batch books the EV it allowed on the gateway's account rows and day
spend rows before it commits, serialized on those account rows (SQLite's write lock; on
PostgreSQL the rows are locked and the batch's spends replayed before anything is written). So
racing calls of one gateway, in one batch, in two batches or on two daemons, cannot both spend
the last funds.

Period spend is read from one row per gateway per UTC day (and per subject per day), which
``record`` keeps (``spends.py``): a monthly check reads at most 31 rows through the primary
key. Chosen by measurement on 10**5 signing records of one gateway in one month (2-core
machine under other load): the index-backed alternative, (gateway_id, created_at) on
``signing_records``, cannot be summed in SQL on SQLite (rationals are decimal text there), so
it fetches every record of the period: 740–900 ms per check on SQLite, 940 ms on PostgreSQL
(74 ms as an exact NUMERIC SUM, still linear in the month's calls). The day rows: 0.7 ms on
SQLite, 1.1 ms on PostgreSQL; a whole ``check_spend`` with its transaction 2 ms and 3.3 ms.
The price is paid in ``record``: about a fifth of its throughput with a usage subject (SQLite
216 → 177 records/s, PostgreSQL 70 → 51).

A call's spend is dated by its record's ``created_at``: the call's one clock reading, the
same ``now`` its check is made at.

Amounts are exact: policy limits are wei ints, spends and balances Fractions. Messages round
the amount asked up and what is left down to whole wei, so a refusal never reads as if it fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import Connection, Row, bindparam, func, select
from sqlalchemy.orm import Session

from clearinghouse.domain.credit import (
    CreditMode,
    CreditPolicy,
    QuotaPeriod,
    SpendSummary,
    SubjectQuota,
    period_days,
)
from clearinghouse.domain.refusals import SpendLimit, over_limit
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger import limits
from clearinghouse.ledger.accounts import lock_gateway_accounts
from clearinghouse.ledger.engine import Database
from clearinghouse.ledger.errors import NotFound
from clearinghouse.ledger.models import (
    AccountRow,
    CreditPolicyRow,
    GatewayRow,
    SubjectQuotaRow,
    table,
)
from clearinghouse.ledger.spends import gateway_spend
from clearinghouse.ledger.transactions import reading, utc_now, writing
from clearinghouse.ledger.values import AccountKind

DEFAULT_ACTOR = "clearinghouse"
DEFAULT_REASON = "no credit policy set: prepaid, no quota"

_POLICIES = table(CreditPolicyRow)
_POLICY_IN_FORCE = (
    select(_POLICIES)
    .where(_POLICIES.c.gateway_id == bindparam("gateway_id"))
    .order_by(_POLICIES.c.id.desc())
    .limit(1)
)



def default_policy(gateway_id: int) -> CreditPolicy:
    """The policy of a gateway nobody configured: prepaid, no quotas (fail closed)."""
    return CreditPolicy(
        gateway_id=gateway_id,
        mode=CreditMode.PREPAID,
        credit_limit_wei=0,
        quota_wei=None,
        quota_period=QuotaPeriod.MONTH,
        subject_quota_wei=None,
        actor=DEFAULT_ACTOR,
        reason=DEFAULT_REASON,
        changed_at=None,
    )


def set_credit_policy(
    db: Database,
    gateway_id: int,
    *,
    mode: CreditMode,
    credit_limit_wei: int = 0,
    quota_wei: int | None = None,
    quota_period: QuotaPeriod = QuotaPeriod.MONTH,
    subject_quota_wei: int | None = None,
    actor: str,
    reason: str,
) -> CreditPolicy:
    """Replace a gateway's whole credit policy; the previous one stays in the history.

    Takes the gateway's account locks, so a signing call in flight finishes under the old
    policy and the next one sees the new. Raises ``InvalidLedgerInput`` for a credit limit on
    a prepaid gateway, a negative or over-uint256 amount, or an empty/over-long actor or
    reason; ``NotFound`` for an unknown gateway.
    """
    policy = CreditPolicy(
        gateway_id=gateway_id,
        mode=mode,
        credit_limit_wei=credit_limit_wei,
        quota_wei=quota_wei,
        quota_period=quota_period,
        subject_quota_wei=subject_quota_wei,
        actor=actor,
        reason=reason,
        changed_at=utc_now(),
    )
    with writing(db) as session:
        lock_gateway_accounts(session.connection(), gateway_id)
        _add_policy(session, policy)
    return policy


def update_credit_policy(
    db: Database, gateway_id: int, change: Callable[[CreditPolicy], CreditPolicy]
) -> tuple[CreditPolicy, CreditPolicy]:
    """Change a gateway's policy in force by ``change`` (current → wanted, with its own actor
    and reason) in one transaction under the gateway's account locks: two operators changing
    one gateway at once each build on the other's change, none is lost. Returns (before, after).
    Raises ``NotFound`` for an unknown gateway, and whatever ``change`` or the new policy's
    checks raise (``InvalidLedgerInput``); then nothing is written."""
    with writing(db) as session:
        connection = session.connection()
        lock_gateway_accounts(connection, gateway_id)
        _require_gateway(session, gateway_id)
        before = _policy_in_force(connection, gateway_id)
        after = replace(change(before), gateway_id=gateway_id, changed_at=utc_now())
        _add_policy(session, after)
    return before, after


def _add_policy(session: Session, policy: CreditPolicy) -> None:
    session.add(
        CreditPolicyRow(
            gateway_id=policy.gateway_id,
            mode=policy.mode.value,
            credit_limit_wei=policy.credit_limit_wei,
            quota_wei=policy.quota_wei,
            quota_period=policy.quota_period.value,
            subject_quota_wei=policy.subject_quota_wei,
            actor=policy.actor,
            reason=policy.reason,
            changed_at=policy.changed_at,
        )
    )


def get_credit_policy(db: Database, gateway_id: int) -> CreditPolicy:
    """Return the policy in force (``default_policy`` if none was set). Raises ``NotFound``."""
    with reading(db) as session:
        _require_gateway(session, gateway_id)
        return _policy_in_force(session.connection(), gateway_id)


def credit_policy_history(db: Database, gateway_id: int) -> tuple[CreditPolicy, ...]:
    """Return every policy ever set for a gateway, oldest first (the audit trail)."""
    with reading(db) as session:
        rows = session.scalars(
            select(CreditPolicyRow)
            .where(CreditPolicyRow.gateway_id == gateway_id)
            .order_by(CreditPolicyRow.id)
        )
        return tuple(policy_value(row) for row in rows)


def set_subject_quota(
    db: Database,
    gateway_id: int,
    usage_subject: str,
    quota_wei: int | None,
    *,
    actor: str,
    reason: str,
) -> SubjectQuota:
    """Override the policy's subject quota for one usage subject; None removes the override.

    Raises ``InvalidLedgerInput`` for a bad subject, amount, actor or reason; ``NotFound``
    for an unknown gateway.
    """
    quota = SubjectQuota(gateway_id, usage_subject, quota_wei, actor, reason, utc_now())
    with writing(db) as session:
        lock_gateway_accounts(session.connection(), gateway_id)
        session.add(
            SubjectQuotaRow(
                gateway_id=gateway_id,
                usage_subject=usage_subject,
                quota_wei=quota_wei,
                actor=actor,
                reason=reason,
                changed_at=quota.changed_at,
            )
        )
    return quota


def subject_quotas(db: Database, gateway_id: int) -> tuple[SubjectQuota, ...]:
    """Return the per-subject overrides in force, by subject.

    At most ``limits.SUBJECT_QUOTAS_LISTED_MAX`` (the first ones by subject).
    """
    newest = (
        select(func.max(SubjectQuotaRow.id))
        .where(SubjectQuotaRow.gateway_id == gateway_id)
        .group_by(SubjectQuotaRow.usage_subject)
    )
    with reading(db) as session:
        rows = session.scalars(
            select(SubjectQuotaRow)
            .where(SubjectQuotaRow.id.in_(newest), SubjectQuotaRow.quota_wei.is_not(None))
            .order_by(SubjectQuotaRow.usage_subject)
            .limit(limits.SUBJECT_QUOTAS_LISTED_MAX)
        )
        return tuple(_subject_quota_value(row) for row in rows)


def spend_summary(db: Database, gateway_id: int, now: datetime) -> SpendSummary:
    """Where a gateway stands at ``now``: owed, available, period spend, quota left.

    Raises ``NotFound`` for an unknown gateway, ``InvalidLedgerInput`` for a naive ``now``.
    """
    _check_now(now)
    with reading(db) as session:
        _require_gateway(session, gateway_id)
        connection = session.connection()
        policy = _policy_in_force(connection, gateway_id)
        owed = _owed(session, gateway_id)
        start, end = period_days(policy.quota_period, now)
        spent = gateway_spend(connection, gateway_id, start, end)
    return SpendSummary(
        gateway_id=gateway_id,
        policy=policy,
        owed=owed,
        available=policy.credit_limit_wei - owed,
        period_start=start,
        period_spend=spent,
        quota_left=None if policy.quota_wei is None else policy.quota_wei - spent,
    )


def check_funds(policy: CreditPolicy, owed: Fraction, spend: Fraction) -> None:
    left = policy.credit_limit_wei - owed
    if spend <= left:
        return
    need, have = wei_up(spend), wei_down(left)
    if policy.mode is CreditMode.PREPAID:
        raise over_limit(
            SpendLimit.BALANCE,
            f"prepaid balance exhausted: this call needs {need} wei, {have} wei left of the "
            "gateway's funds; a top-up raises it",
        )
    raise over_limit(
        SpendLimit.CREDIT_LIMIT,
        f"credit limit exceeded: this call needs {need} wei, {have} wei left of "
        f"{policy.credit_limit_wei} wei",
    )


def check_quota(
    limit: SpendLimit,
    label: str,
    policy: CreditPolicy,
    quota_wei: int,
    spent: Fraction,
    spend: Fraction,
    start: date,
) -> None:
    left = quota_wei - spent
    if spend <= left:
        return
    period = "monthly" if policy.quota_period is QuotaPeriod.MONTH else "daily"
    raise over_limit(
        limit,
        f"{label}{period} quota exceeded: this call needs {wei_up(spend)} wei, "
        f"{wei_down(left)} wei left of {quota_wei} wei for the {policy.quota_period.value} "
        f"from {start.isoformat()} (UTC)",
    )


def _policy_in_force(connection: Connection, gateway_id: int) -> CreditPolicy:
    row = connection.execute(_POLICY_IN_FORCE, {"gateway_id": gateway_id}).first()
    return default_policy(gateway_id) if row is None else policy_value(row)


def _owed(session: Session, gateway_id: int) -> Fraction:
    row = session.scalars(
        select(AccountRow).where(
            AccountRow.gateway_id == gateway_id, AccountRow.kind == AccountKind.RECEIVABLE.value
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no receivable account for gateway {gateway_id}")
    return Fraction(row.balance_num, row.balance_den)


def _require_gateway(session: Session, gateway_id: int) -> None:
    if session.get(GatewayRow, gateway_id) is None:
        raise NotFound(f"no gateway with id {gateway_id}")


def _check_now(now: datetime) -> None:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise InvalidLedgerInput(f"now: expected a timezone-aware datetime, got {now!r}")


def wei_up(amount: Fraction) -> int:
    """An exact amount as whole wei a refusal says a call needs: rounded up."""
    return math.ceil(amount)


def wei_down(amount: Fraction) -> int:
    """What is left as whole wei a refusal names: rounded down, never below 0."""
    return max(0, math.floor(amount))


def policy_value(row: CreditPolicyRow | Row[Any]) -> CreditPolicy:
    return CreditPolicy(
        gateway_id=row.gateway_id,
        mode=CreditMode(row.mode),
        credit_limit_wei=row.credit_limit_wei,
        quota_wei=row.quota_wei,
        quota_period=QuotaPeriod(row.quota_period),
        subject_quota_wei=row.subject_quota_wei,
        actor=row.actor,
        reason=row.reason,
        changed_at=row.changed_at,
    )


def _subject_quota_value(row: SubjectQuotaRow) -> SubjectQuota:
    return SubjectQuota(
        gateway_id=row.gateway_id,
        usage_subject=row.usage_subject,
        quota_wei=row.quota_wei,
        actor=row.actor,
        reason=row.reason,
        changed_at=row.changed_at,
    )
