"""Credit control: how a gateway pays, its quotas per calendar period, where it stands.

Amounts are exact wei (int or Fraction). Policies are checked when constructed and raise
``InvalidLedgerInput``; the check of a call against them runs in the ledger's signing batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from fractions import Fraction

from clearinghouse.domain import limits
from clearinghouse.domain.ev import WIN_PROB_DENOMINATOR
from clearinghouse.domain.fields import check_int, check_text
from clearinghouse.errors import InvalidLedgerInput


class CreditMode(StrEnum):
    """How a gateway pays: funds first (prepaid), or owes up to a credit limit (credit)."""

    PREPAID = "prepaid"
    CREDIT = "credit"


class QuotaPeriod(StrEnum):
    """The calendar period (UTC) a spend quota applies to."""

    MONTH = "month"
    DAY = "day"


def period_days(period: QuotaPeriod, now: datetime) -> tuple[date, date]:
    """The UTC days [first, after last) of the calendar ``period`` that contains ``now``."""
    today = now.astimezone(UTC).date()
    if period is QuotaPeriod.DAY:
        return today, date.fromordinal(today.toordinal() + 1)
    first = today.replace(day=1)
    after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, after


@dataclass(frozen=True, slots=True)
class CreditPolicy:
    """A gateway's credit control, as set by an operator (``actor``, ``reason``, ``changed_at``).

    ``credit_limit_wei`` is what a credit gateway may owe (0 for prepaid: it may spend only its
    funds). ``quota_wei`` caps the EV signed per ``quota_period`` (None: no quota);
    ``subject_quota_wei`` caps each usage subject's EV signed per period unless a
    ``SubjectQuota`` overrides it. ``changed_at`` is None for the default of a gateway that
    never had a policy set.
    """

    gateway_id: int
    mode: CreditMode
    credit_limit_wei: int
    quota_wei: int | None
    quota_period: QuotaPeriod
    subject_quota_wei: int | None
    actor: str
    reason: str
    changed_at: datetime | None

    def __post_init__(self) -> None:
        if not isinstance(self.mode, CreditMode) or not isinstance(self.quota_period, QuotaPeriod):
            raise InvalidLedgerInput(
                f"mode, quota_period: expected a CreditMode and a QuotaPeriod, "
                f"got {self.mode!r}, {self.quota_period!r}"
            )
        check_int("credit_limit_wei", self.credit_limit_wei, 0, WIN_PROB_DENOMINATOR)
        if self.mode is CreditMode.PREPAID and self.credit_limit_wei != 0:
            raise InvalidLedgerInput(
                f"credit_limit_wei: a prepaid gateway has no credit, got {self.credit_limit_wei}"
            )
        for name in ("quota_wei", "subject_quota_wei"):
            value = getattr(self, name)
            if value is not None:
                check_int(name, value, 0, WIN_PROB_DENOMINATOR)
        check_text("actor", self.actor, limits.ACTOR_LENGTH_MAX)
        check_text("reason", self.reason, limits.REASON_LENGTH_MAX)


@dataclass(frozen=True, slots=True)
class SubjectQuota:
    """An override of the default subject quota for one usage subject of a gateway.

    ``quota_wei`` None removes the override (the policy's ``subject_quota_wei`` applies).
    """

    gateway_id: int
    usage_subject: str
    quota_wei: int | None
    actor: str
    reason: str
    changed_at: datetime

    def __post_init__(self) -> None:
        check_text("usage_subject", self.usage_subject, limits.TEXT_ID_LENGTH_MAX)
        if self.quota_wei is not None:
            check_int("quota_wei", self.quota_wei, 0, WIN_PROB_DENOMINATOR)
        check_text("actor", self.actor, limits.ACTOR_LENGTH_MAX)
        check_text("reason", self.reason, limits.REASON_LENGTH_MAX)


@dataclass(frozen=True, slots=True)
class SpendSummary:
    """Where a gateway stands against its credit control at ``now`` (for the CLI and API).

    ``owed`` is the receivable balance (negative: prepaid funds left); ``available`` is what
    it may still sign for before its balance or credit limit refuses; ``quota_left`` is None
    without a quota. Amounts are exact wei.
    """

    gateway_id: int
    policy: CreditPolicy
    owed: Fraction
    available: Fraction
    period_start: date
    period_spend: Fraction
    quota_left: Fraction | None
