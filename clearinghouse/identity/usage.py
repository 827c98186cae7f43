"""Usage of an app's end users, from the hourly usage rows (ledger/hourly_usage.py): an end user's
calls carry its usage subject ``<client_id>:<external_id>``, so an app's usage is the rows of its
gateway whose subject starts with the app's client id and a colon."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from clearinghouse.ledger import Database
from clearinghouse.ledger.hourly_usage import Usage, UsageRow, hourly_usage
from clearinghouse.ledger.identity import App, EndUser


class UsageGroup(StrEnum):
    """The Builder API's ``groupBy`` (pymthouse's names)."""

    NONE = "none"
    USER = "user"
    PIPELINE_MODEL = "pipeline_model"
    DAILY = "daily"


def app_usage(db: Database, app: App, start: datetime, end: datetime,
              group_by: UsageGroup) -> list[tuple[tuple[str, ...], Usage]]:
    """The app's users' usage in the whole hours [start, end), summed per group, in group order.
    Raises InvalidLedgerInput for a period that is not whole hours or holds too many rows."""
    prefix = app.client_id + ":"
    rows = [row for row in hourly_usage(db, app.gateway_id, start, end)
            if (row.bucket.usage_subject or "").startswith(prefix)]
    return _grouped(rows, group_by, len(prefix))


def user_usage(db: Database, user: EndUser, start: datetime, end: datetime,
               group_by: UsageGroup) -> list[tuple[tuple[str, ...], Usage]]:
    """One user's usage, like ``app_usage``."""
    rows = [row for row in hourly_usage(db, user.gateway_id, start, end)
            if row.bucket.usage_subject == user.usage_subject]
    return _grouped(rows, group_by, len(user.usage_subject) - len(user.external_id))


def _grouped(rows: list[UsageRow], group_by: UsageGroup, prefix_chars: int) -> list[tuple[tuple[str, ...], Usage]]:
    totals: dict[tuple[str, ...], Usage] = {}
    for row in rows:
        bucket = row.bucket
        match group_by:
            case UsageGroup.NONE:
                group: tuple[str, ...] = ()
            case UsageGroup.USER:
                group = ((bucket.usage_subject or "")[prefix_chars:],)
            case UsageGroup.PIPELINE_MODEL:
                group = (bucket.pipeline or "", bucket.model_id or "")
            case UsageGroup.DAILY:
                group = (bucket.hour.date().isoformat(),)
        totals[group] = totals.get(group, Usage()) + row.usage
    return sorted(totals.items())
