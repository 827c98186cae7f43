"""The dashboard's apps section: every app (a gateway's OAuth client), its end users with their
allowances, and each user's usage this month (identity/usage.py). Bounded: APPS_SHOWN_MAX apps,
USERS_SHOWN_MAX users each (the CLI and the Builder API page through the rest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clearinghouse.api.dashboard.views import Amount
from clearinghouse.identity.usage import UsageGroup, app_usage
from clearinghouse.ledger import Database
from clearinghouse.ledger.hourly_usage import Usage
from clearinghouse.ledger.identity import list_apps, list_users
from clearinghouse.api.limits import APPS_SHOWN_MAX, USERS_SHOWN_MAX


@dataclass(frozen=True, slots=True)
class UserView:
    external_id: str
    active: bool
    grant: Amount | None
    spent: Amount
    remaining: Amount | None
    calls: int
    ev_signed: Amount


@dataclass(frozen=True, slots=True)
class AppView:
    client_id: str
    name: str
    gateway: str
    active: bool
    users: list[UserView]
    more_users: bool
    calls: int
    ev_signed: Amount


def app_views(db: Database, gateway_names: dict[int, str], start: datetime, end: datetime) -> list[AppView]:
    """The apps section for the month [start, end) (blocking: runs on the dashboard's pool)."""
    views = []
    for app in list_apps(db)[:APPS_SHOWN_MAX]:
        users = list_users(db, app, limit=USERS_SHOWN_MAX + 1)
        usage = {group[0]: used for group, used in app_usage(db, app, start, end, UsageGroup.USER)}
        total = sum(usage.values(), Usage())
        views.append(AppView(
            client_id=app.client_id, name=app.name, gateway=gateway_names.get(app.gateway_id, str(app.gateway_id)),
            active=app.active, more_users=len(users) > USERS_SHOWN_MAX, calls=total.calls,
            ev_signed=Amount.of(total.ev_wei),
            users=[UserView(
                external_id=user.external_id, active=user.active,
                grant=None if user.grant_wei is None else Amount.of(user.grant_wei), spent=Amount.of(user.spent),
                remaining=None if user.remaining is None else Amount.of(user.remaining),
                calls=usage.get(user.external_id, Usage()).calls,
                ev_signed=Amount.of(usage.get(user.external_id, Usage()).ev_wei),
            ) for user in users[:USERS_SHOWN_MAX]],
        ))
    return views
