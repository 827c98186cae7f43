"""Credit control for a batch of signing calls: one read per batch, every call checked in memory.

A batch (batch.py) reads, for the gateways its calls belong to, the account balances, the policy
in force, the day spend rows of the quota period and the usage subjects' quotas and spend rows:
a few statements per batch however many calls it holds. ``GatewayCredit.check`` then answers
each call in memory, counting what the earlier calls of the batch were allowed (``add``), so a
call sees every earlier call of its batch, pending amounts included, and N calls against credit
for exactly k let exactly k through.

Across batches and processes the rule is the one ``credit.check_spend`` keeps: the check and the
booking are serialized on the gateway's account rows. SQLite's single writer gives that for the
whole batch. On PostgreSQL the batch reads without locks and, before it writes any balance,
locks the account rows of its gateways (``load_credit(…, lock=True)``) and replays its calls'
spends against what it reads then (``replay``): when another process spent or the operator
changed the policy in between so that a call no longer fits, the batch is rolled back and run
again with the rows locked from the start. A gateway's rows are thus locked for the end of a
batch and its COMMIT only, so one gateway's calls on two daemons run in parallel, and never
overspend.

An app's end user (identity.py) is a usage subject with a row of its own: the batch reads those
rows with the subjects' quotas (locked with the accounts on replay) and refuses a call over the
user's allowance (grant less spent, less what the batch's earlier calls of the user spent) or of a
deactivated user, after the gateway's own limits; batch_writes.py adds the batch's spends to them.

Amounts are exact: limits are wei ints, balances and spends Fractions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from fractions import Fraction

from sqlalchemy import BindParameter, Connection, bindparam, func, select

from clearinghouse.domain.credit import CreditPolicy, QuotaPeriod, period_days
from clearinghouse.domain.refusals import SpendLimit, over_limit
from clearinghouse.errors import InvalidLedgerInput
from clearinghouse.ledger.accounts import account_value
from clearinghouse.ledger.credit import (
    check_funds,
    check_quota,
    default_policy,
    policy_value,
    wei_down,
    wei_up,
)
from clearinghouse.ledger.errors import NotFound
from clearinghouse.ledger.identity_rows import EndUserRow
from clearinghouse.ledger.models import (
    AccountRow,
    CreditPolicyRow,
    GatewayDailySpendRow,
    SubjectDailySpendRow,
    SubjectQuotaRow,
    table,
)
from clearinghouse.ledger.values import Account, AccountKind

_ACCOUNTS = table(AccountRow)
_POLICIES = table(CreditPolicyRow)
_QUOTAS = table(SubjectQuotaRow)
_GATEWAY_DAYS = table(GatewayDailySpendRow)
_SUBJECT_DAYS = table(SubjectDailySpendRow)
_END_USERS = table(EndUserRow)

_GATEWAYS: BindParameter[int] = bindparam("gateway_ids", expanding=True)
_SUBJECTS: BindParameter[str] = bindparam("subjects", expanding=True)
_ACCOUNTS_OF = select(_ACCOUNTS).where(_ACCOUNTS.c.gateway_id.in_(_GATEWAYS)).order_by(_ACCOUNTS.c.id)
_POLICIES_IN_FORCE = select(_POLICIES).where(
    _POLICIES.c.id.in_(
        select(func.max(_POLICIES.c.id)).where(_POLICIES.c.gateway_id.in_(_GATEWAYS)).group_by(_POLICIES.c.gateway_id)
    )
)
_GATEWAY_DAYS_OF = select(_GATEWAY_DAYS).where(
    _GATEWAY_DAYS.c.gateway_id.in_(_GATEWAYS),
    _GATEWAY_DAYS.c.day >= bindparam("first"),
    _GATEWAY_DAYS.c.day < bindparam("after"),
)
_QUOTAS_OF = select(_QUOTAS.c.id, _QUOTAS.c.gateway_id, _QUOTAS.c.usage_subject, _QUOTAS.c.quota_wei).where(
    _QUOTAS.c.gateway_id.in_(_GATEWAYS), _QUOTAS.c.usage_subject.in_(_SUBJECTS)
)
_SUBJECT_DAYS_OF = select(_SUBJECT_DAYS).where(
    _SUBJECT_DAYS.c.gateway_id.in_(_GATEWAYS),
    _SUBJECT_DAYS.c.usage_subject.in_(_SUBJECTS),
    _SUBJECT_DAYS.c.day >= bindparam("first"),
    _SUBJECT_DAYS.c.day < bindparam("after"),
)
_END_USERS_OF = select(
    _END_USERS.c.id, _END_USERS.c.gateway_id, _END_USERS.c.usage_subject, _END_USERS.c.active,
    _END_USERS.c.grant_wei, _END_USERS.c.spent_num, _END_USERS.c.spent_den,
).where(_END_USERS.c.gateway_id.in_(_GATEWAYS), _END_USERS.c.usage_subject.in_(_SUBJECTS)).order_by(_END_USERS.c.id)


@dataclass(frozen=True, slots=True)
class Allowance:
    """An end user's allowance as read: ``grant_wei`` None is no allowance (no limit)."""

    user_id: int
    active: bool
    grant_wei: int | None
    spent: Fraction


@dataclass(frozen=True, slots=True)
class Spend:
    """What one call booked: its gateway, usage subject, EV and the call's time; ``checked`` when
    credit control allowed it (a call recorded without a check, by a tool, only adds up)."""

    gateway_id: int
    usage_subject: str | None
    amount: Fraction
    at: datetime
    checked: bool


@dataclass(slots=True)
class GatewayCredit:
    """One gateway's credit position for the calls of a batch: as read, plus what the batch
    has allowed so far (``pending``, per day and per subject and day)."""

    gateway_id: int
    accounts: dict[AccountKind, Account]
    policy: CreditPolicy
    day_spends: dict[date, Fraction]
    subject_quotas: dict[str, int | None]
    subject_day_spends: dict[tuple[str, date], Fraction]
    subjects: set[str] = field(default_factory=set)
    """The usage subjects whose quotas and day rows were read."""
    allowances: dict[str, Allowance] = field(default_factory=dict)
    """The end users among those subjects (identity.py), by subject."""
    pending_users: dict[str, Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    pending: Fraction = Fraction(0)
    pending_days: dict[date, Fraction] = field(default_factory=lambda: defaultdict(Fraction))
    pending_subject_days: dict[tuple[str, date], Fraction] = field(default_factory=lambda: defaultdict(Fraction))

    @property
    def owed(self) -> Fraction:
        """The receivable as read plus what the batch allowed: what the gateway owes after it."""
        return self.accounts[AccountKind.RECEIVABLE].balance + self.pending

    def check(self, usage_subject: str | None, spend: Fraction, now: datetime) -> None:
        """Refuse a spend that breaks a limit, in ``SpendLimit`` order (``over_limit``):
        balance or credit limit, the gateway's quota, the subject's quota. Changes nothing."""
        if not isinstance(spend, Fraction) or spend < 0:
            raise InvalidLedgerInput(f"spend_wei: expected a Fraction >= 0, got {spend!r}")
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise InvalidLedgerInput(f"now: expected a timezone-aware datetime, got {now!r}")
        policy = self.policy
        check_funds(policy, self.owed, spend)
        start, after = period_days(policy.quota_period, now)
        if policy.quota_wei is not None:
            spent = _in_period(self.day_spends, start, after) + _in_period(self.pending_days, start, after)
            check_quota(SpendLimit.QUOTA, "", policy, policy.quota_wei, spent, spend, start)
        if usage_subject is None:
            return
        quota_wei = self.subject_quotas.get(usage_subject, policy.subject_quota_wei)
        if quota_wei is not None:
            spent = _subject_in_period(self.subject_day_spends, usage_subject, start, after)
            spent += _subject_in_period(self.pending_subject_days, usage_subject, start, after)
            label = f"usage subject {usage_subject!r} "
            check_quota(SpendLimit.SUBJECT_QUOTA, label, policy, quota_wei, spent, spend, start)
        self._check_allowance(usage_subject, spend)

    def _check_allowance(self, usage_subject: str, spend: Fraction) -> None:
        allowance = self.allowances.get(usage_subject)
        if allowance is None:
            return
        if not allowance.active:
            raise over_limit(SpendLimit.USER_ALLOWANCE, f"end user {usage_subject!r} is deactivated")
        if allowance.grant_wei is None:
            return
        left = allowance.grant_wei - allowance.spent - self.pending_users[usage_subject]
        if spend > left:
            raise over_limit(
                SpendLimit.USER_ALLOWANCE,
                f"end user {usage_subject!r} allowance exhausted: this call needs {wei_up(spend)} wei, "
                f"{wei_down(left)} wei left of {allowance.grant_wei} wei granted",
            )

    def add(self, usage_subject: str | None, spend: Fraction, day: date) -> None:
        """Count a spend the batch books, so later calls of the batch see it."""
        self.pending += spend
        self.pending_days[day] += spend
        if usage_subject is not None:
            self.pending_subject_days[(usage_subject, day)] += spend
            if usage_subject in self.allowances:
                self.pending_users[usage_subject] += spend


def load_credit(
    connection: Connection, spends: Iterable[tuple[int, str | None]], moments: Sequence[datetime], *, lock: bool
) -> dict[int, GatewayCredit]:
    """The credit positions of the gateways in ``spends`` ((gateway, subject) pairs), with the
    day rows of every quota period that contains one of ``moments``.

    ``lock`` locks the gateways' account rows until the transaction ends (FOR UPDATE, in id
    order like ``accounts.lock_gateway_accounts``; SQLite's write lock already covers them).
    A gateway without its accounts is left out: checking a call of it raises ``NotFound``.
    """
    pairs = set(spends)
    gateway_ids = sorted({gateway_id for gateway_id, _ in pairs})
    if not gateway_ids:
        return {}
    subjects = sorted({subject for _, subject in pairs if subject is not None})
    first, after = _window(moments)
    ids = {"gateway_ids": gateway_ids}
    statement = _ACCOUNTS_OF.with_for_update() if lock else _ACCOUNTS_OF
    accounts: dict[int, dict[AccountKind, Account]] = defaultdict(dict)
    for row in connection.execute(statement, ids):
        accounts[row.gateway_id][AccountKind(row.kind)] = account_value(row)
    policies = {row.gateway_id: policy_value(row) for row in connection.execute(_POLICIES_IN_FORCE, ids)}
    days: dict[int, dict[date, Fraction]] = defaultdict(dict)
    for row in connection.execute(_GATEWAY_DAYS_OF, ids | {"first": first, "after": after}):
        days[row.gateway_id][row.day] = Fraction(row.ev_signed_num, row.ev_signed_den)
    quotas, subject_days = _subject_positions(connection, gateway_ids, subjects, first, after)
    allowances = _allowances(connection, gateway_ids, subjects, lock)
    return {
        gateway_id: GatewayCredit(
            gateway_id=gateway_id,
            accounts=accounts[gateway_id],
            policy=policies.get(gateway_id) or default_policy(gateway_id),
            day_spends=days[gateway_id],
            subject_quotas=quotas[gateway_id],
            subject_day_spends=subject_days[gateway_id],
            subjects=set(subjects),
            allowances=allowances[gateway_id],
        )
        for gateway_id in gateway_ids
        if set(accounts[gateway_id]) == set(AccountKind)
    }


def credit_of(credits: dict[int, GatewayCredit], gateway_id: int) -> GatewayCredit:
    """The gateway's position in a batch; ``NotFound`` for a gateway without accounts."""
    credit = credits.get(gateway_id)
    if credit is None:
        raise NotFound(f"gateway {gateway_id}: no accounts")
    return credit


def replay(credits: dict[int, GatewayCredit], spends: Sequence[Spend]) -> bool:
    """Whether every spend, in order, still passes against ``credits`` (freshly read, under the
    account locks); counts them as it goes. False as soon as one is refused."""
    for spend in spends:
        credit = credits.get(spend.gateway_id)
        if credit is None:
            return False
        try:
            if spend.checked:
                credit.check(spend.usage_subject, spend.amount, spend.at)
        except Exception:  # a refusal, or a changed policy: the batch runs again, locked
            return False
        credit.add(spend.usage_subject, spend.amount, spend.at.date())
    return True


def _subject_positions(
    connection: Connection, gateway_ids: list[int], subjects: list[str], first: date, after: date
) -> tuple[dict[int, dict[str, int | None]], dict[int, dict[tuple[str, date], Fraction]]]:
    quotas: dict[int, dict[str, int | None]] = defaultdict(dict)
    subject_days: dict[int, dict[tuple[str, date], Fraction]] = defaultdict(dict)
    if not subjects:
        return quotas, subject_days
    key = {"gateway_ids": gateway_ids, "subjects": subjects}
    newest: dict[tuple[int, str], tuple[int, int | None]] = {}
    for row in connection.execute(_QUOTAS_OF, key):
        pair = (row.gateway_id, row.usage_subject)
        if pair not in newest or row.id > newest[pair][0]:
            newest[pair] = (row.id, None if row.quota_wei is None else int(row.quota_wei))
    for (gateway_id, subject), (_, quota_wei) in newest.items():
        # An override of None removes the override: the policy's subject quota applies.
        if quota_wei is not None:
            quotas[gateway_id][subject] = quota_wei
    for row in connection.execute(_SUBJECT_DAYS_OF, key | {"first": first, "after": after}):
        amount = Fraction(row.ev_signed_num, row.ev_signed_den)
        subject_days[row.gateway_id][(row.usage_subject, row.day)] = amount
    return quotas, subject_days


def _allowances(
    connection: Connection, gateway_ids: list[int], subjects: list[str], lock: bool
) -> dict[int, dict[str, Allowance]]:
    """The end users among ``subjects``, locked (after the accounts, in id order) with ``lock``."""
    found: dict[int, dict[str, Allowance]] = defaultdict(dict)
    if not subjects:
        return found
    statement = _END_USERS_OF.with_for_update() if lock else _END_USERS_OF
    for row in connection.execute(statement, {"gateway_ids": gateway_ids, "subjects": subjects}):
        grant_wei = None if row.grant_wei is None else int(row.grant_wei)
        spent = Fraction(int(row.spent_num), int(row.spent_den))
        found[row.gateway_id][row.usage_subject] = Allowance(row.id, bool(row.active), grant_wei, spent)
    return found


def _window(moments: Sequence[datetime]) -> tuple[date, date]:
    """The UTC days [first, after) covering the calendar month of every moment: a quota period
    (a day or a month) containing any of them lies inside."""
    if not moments:
        raise InvalidLedgerInput("a batch needs at least one call")
    first, _ = period_days(QuotaPeriod.MONTH, min(moments))
    _, after = period_days(QuotaPeriod.MONTH, max(moments))
    return first, after


def _in_period(days: dict[date, Fraction], start: date, after: date) -> Fraction:
    return sum((amount for day, amount in days.items() if start <= day < after), Fraction(0))


def _subject_in_period(days: dict[tuple[str, date], Fraction], subject: str, start: date, after: date) -> Fraction:
    return sum(
        (amount for (who, day), amount in days.items() if who == subject and start <= day < after), Fraction(0)
    )
