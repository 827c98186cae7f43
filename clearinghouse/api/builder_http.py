"""The Builder API (pymthouse's paths; ``{clientId}`` is the app), mounted with [oidc]:

    GET    /api/v1/apps/{clientId}/users?limit=&after=              users:read   a page of users, id order
    POST   /api/v1/apps/{clientId}/users  {external_id, email?}     users:write  provision (201; 409 exists)
    GET    /api/v1/apps/{clientId}/users/{externalUserId}           users:read
    PUT    /api/v1/apps/{clientId}/users/{externalUserId} {email?, active?}  users:write
    DELETE /api/v1/apps/{clientId}/users/{externalUserId}           users:write  deactivate: its tokens stop at once
    POST   /api/v1/apps/{clientId}/users/{externalUserId}/token {scope?, expires_in?}  users:token
    GET    /api/v1/apps/{clientId}/users/{externalUserId}/allowances  users:read   grant, spent, remaining
    POST   /api/v1/apps/{clientId}/users/{externalUserId}/allowances {amount_wei}  users:write  add to the grant
    GET    /api/v1/builder/apps/{clientId}/usage?groupBy=none|user|pipeline_model|daily&month=  usage:read
    GET    /api/v1/user/usage?groupBy=&month=                       a user token with usage:read

Every route needs ``Authorization: Bearer <app token>`` of the app named by ``{clientId}`` with the
scope listed (401 no or a bad token, 403 another app's token, a user token or a missing scope),
except /api/v1/user/usage, which takes the user's own token. Wei are strings: exact as "a" or
"a/b", and ``*_floor`` rounded down. A usage period is a calendar ``month`` (default: this month).
Errors are ``{"error": {"message": …}}``; tokens are never logged or echoed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any, Final

from starlette.requests import Request

from clearinghouse.api.admin_http import admin_query
from clearinghouse.api.bodies import Receive, Scope, read_body
from clearinghouse.api.caller import CallerCheck
from clearinghouse.api.errors import ApiError, BadRequest
from clearinghouse.api.http import Response
from clearinghouse.api.identity_routes import ALLOWANCES, APP_USAGE, OWN_USAGE, USER, USER_TOKEN, USERS
from clearinghouse.api.mounted import Endpoint, database_pool
from clearinghouse.api.oidc_http import identity_api_error
from clearinghouse.api.payloads import check_encodable, check_json_depth
from clearinghouse.api.pools import pools_of
from clearinghouse.api.requests import RequestHeaders
from clearinghouse.billing.invoicing import month_period
from clearinghouse.errors import ClearinghouseError, InvalidLedgerInput
from clearinghouse.identity.errors import IdentityError, InsufficientScope
from clearinghouse.identity.service import IdentityService
from clearinghouse.identity.tokens import Scope as TokenScope
from clearinghouse.identity.usage import UsageGroup, app_usage, user_usage
from clearinghouse.ledger import Database
from clearinghouse.ledger import identity as stored
from clearinghouse.ledger.errors import LedgerConflict, NotFound
from clearinghouse.ledger.hourly_usage import Usage
from clearinghouse.ledger.identity import App, EndUser
from clearinghouse.ledger.limits import END_USERS_LISTED_MAX, WEI_DIGITS_MAX
from clearinghouse.api.limits import BUILDER_BODY_BYTES_MAX, USERS_LISTED_DEFAULT


_LEDGER_STATUS: Final = ((NotFound, 404), (LedgerConflict, 409), (InvalidLedgerInput, 400))
"""The Builder transport's table of ledger errors → status; identity errors: oidc_http.IDENTITY_STATUS."""


class BuilderRoutes:
    """The Builder API over one IdentityService; ``routes()`` is mounted on Starlette (mounted.py),
    which matches the paths with ``{parameters}`` after the fixed ones."""

    def __init__(self, db: Database, identity: IdentityService) -> None:
        self._db = db
        self._identity = identity
        self._callers = CallerCheck(None, identity=identity)

    def routes(self) -> dict[str, dict[str, Endpoint]]:
        """Path (``{parameters}`` for Starlette to match) → method → endpoint."""
        return {
            OWN_USAGE: {"GET": self._guarded(self._own_usage)},
            USERS: {"GET": self._guarded(self._list), "POST": self._guarded(self._provision)},
            USER: {"GET": self._guarded(self._get), "PUT": self._guarded(self._update),
                   "DELETE": self._guarded(self._deactivate)},
            USER_TOKEN: {"POST": self._guarded(self._token)},
            ALLOWANCES: {"GET": self._guarded(self._allowance), "POST": self._guarded(self._grant)},
            APP_USAGE: {"GET": self._guarded(self._app_usage)},
        }

    def _guarded(self, handler: Endpoint) -> Endpoint:
        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except IdentityError as exc:
                raise identity_api_error(exc) from None
            except ApiError:
                raise
            except ClearinghouseError as exc:
                status = next((s for kind, s in _LEDGER_STATUS if isinstance(exc, kind)), None)
                if status is None:
                    raise
                raise ApiError(str(exc), status=status) from exc

        return answer

    async def _app(self, scope: Scope, needed: TokenScope) -> App:
        """The app of the bearer token, which must be the path's app."""
        app = await self._callers.app(RequestHeaders(scope["headers"]), needed, pools_of(scope).database)
        if app.client_id != path_params(scope)["clientId"]:
            raise InsufficientScope("the token belongs to another app")
        return app

    async def _list(self, request: Request) -> Response:
        app = await self._app(request.scope, TokenScope.USERS_READ)
        query = admin_query(request.scope, {"limit", "after"})
        limit = _whole(query.get("limit", str(USERS_LISTED_DEFAULT)), "limit", END_USERS_LISTED_MAX, 1)
        after = _whole(query.get("after", "0"), "after", (1 << 63) - 1, 0)
        users = await database_pool(request).run(lambda: stored.list_users(self._db, app, after_id=after, limit=limit))
        next_after = users[-1].id if len(users) == limit else None
        return _json(200, {"users": [user_document(u) for u in users], "next_after": next_after})

    async def _provision(self, request: Request) -> Response:
        app = await self._app(request.scope, TokenScope.USERS_WRITE)
        body = await _body(request.scope, request.receive, {"external_id", "email"})
        external_id, email = _text(body, "external_id", required=True), _text(body, "email")
        user = await database_pool(request).run(stored.provision_user, self._db, app, external_id, email)
        return _json(201, user_document(user))

    async def _get(self, request: Request) -> Response:
        app = await self._app(request.scope, TokenScope.USERS_READ)
        user = await database_pool(request).run(self._identity.user, app, _external_user_id(request))
        return _json(200, user_document(user))

    async def _update(self, request: Request) -> Response:
        app = await self._app(request.scope, TokenScope.USERS_WRITE)
        body = await _body(request.scope, request.receive, {"email", "active"})
        active = body.get("active")
        if active is not None and not isinstance(active, bool):
            raise BadRequest(f"active must be true or false, got {active!r:.20}")
        user = await database_pool(request).run(lambda: self._identity.update_user(
            app, _external_user_id(request), email=_text(body, "email"), active=active))
        return _json(200, user_document(user))

    async def _deactivate(self, request: Request) -> Response:
        app = await self._app(request.scope, TokenScope.USERS_WRITE)
        user = await database_pool(request).run(lambda: self._identity.update_user(
            app, _external_user_id(request), email=None, active=False))
        return _json(200, user_document(user))

    async def _token(self, request: Request) -> Response:
        app = await self._app(request.scope, TokenScope.USERS_TOKEN)
        body = await _body(request.scope, request.receive, {"scope", "expires_in"})
        lifetime = body.get("expires_in")
        if lifetime is not None and (type(lifetime) is not int or lifetime <= 0):
            raise BadRequest("expires_in must be a whole number of seconds > 0")
        issued = await database_pool(request).run(self._identity.mint_user_token, app, _external_user_id(request),
                                      _text(body, "scope"), lifetime)
        return _json(200, issued.body(), {"Cache-Control": "no-store"})

    async def _allowance(self, request: Request) -> Response:
        app = await self._app(request.scope, TokenScope.USERS_READ)
        user = await database_pool(request).run(self._identity.user, app, _external_user_id(request))
        return _json(200, allowance_document(user))

    async def _grant(self, request: Request) -> Response:
        app = await self._app(request.scope, TokenScope.USERS_WRITE)
        body = await _body(request.scope, request.receive, {"amount_wei"})
        amount = body.get("amount_wei")
        if not isinstance(amount, str) or not amount.isdigit() or len(amount) > WEI_DIGITS_MAX or int(amount) <= 0:
            raise BadRequest(f"amount_wei must be a decimal string of wei > 0 (at most {WEI_DIGITS_MAX} digits)")
        user = await database_pool(request).run(stored.grant_allowance, self._db, app, _external_user_id(request),
                                    int(amount))
        return _json(200, allowance_document(user))

    async def _app_usage(self, request: Request) -> Response:
        app = await self._app(request.scope, TokenScope.USAGE_READ)
        group_by, start, end = _usage_query(request.scope)
        groups = await database_pool(request).run(app_usage, self._db, app, start, end, group_by)
        return _json(200, _usage_answer(group_by, start, end, groups))

    async def _own_usage(self, request: Request) -> Response:
        user = await self._callers.end_user(RequestHeaders(request.scope["headers"]), TokenScope.USAGE_READ,
                                            database_pool(request))
        group_by, start, end = _usage_query(request.scope)
        groups = await database_pool(request).run(user_usage, self._db, user, start, end, group_by)
        return _json(200, _usage_answer(group_by, start, end, groups) | {"external_id": user.external_id})


def path_params(scope: Scope) -> dict[str, str]:
    """The matched route's ``{parameters}`` (Starlette's); BadRequest for one that is not valid text."""
    params: dict[str, str] = scope.get("path_params", {})
    for name, value in params.items():
        check_encodable(name, value)
    return params


def _external_user_id(request: Request) -> str:
    return path_params(request.scope)["externalUserId"]


def user_document(user: EndUser) -> dict[str, object]:
    return {"external_id": user.external_id, "email": user.email, "active": user.active,
            "usage_subject": user.usage_subject, "created_at": user.created_at.isoformat()}


def allowance_document(user: EndUser) -> dict[str, object]:
    remaining = user.remaining
    return {"external_id": user.external_id,
            "grant_wei": None if user.grant_wei is None else str(user.grant_wei),
            "spent_wei": _exact(user.spent), "spent_wei_floor": str(user.spent.numerator // user.spent.denominator),
            "remaining_wei": None if remaining is None else _exact(remaining),
            "remaining_wei_floor": None if remaining is None else str(remaining.numerator // remaining.denominator)}


def _exact(amount: Fraction) -> str:
    return str(amount)  # "a" or "a/b"


def _usage_query(scope: Scope) -> tuple[UsageGroup, datetime, datetime]:
    query = admin_query(scope, {"groupBy", "month"})
    try:
        group_by = UsageGroup(query.get("groupBy", UsageGroup.NONE.value))
    except ValueError:
        raise BadRequest(f"groupBy must be one of {', '.join(UsageGroup)}") from None
    month = query.get("month") or datetime.now(UTC).strftime("%Y-%m")
    try:
        start, end = month_period(month)
    except ClearinghouseError as exc:
        raise BadRequest(str(exc)) from None
    return group_by, start, end


def _usage_answer(group_by: UsageGroup, start: datetime, end: datetime,
                  groups: list[tuple[tuple[str, ...], Usage]]) -> dict[str, object]:
    return {"groupBy": group_by.value, "start": start.isoformat(), "end": end.isoformat(),
            "groups": [{"group": list(key), "calls": usage.calls, "tickets": usage.tickets, "units": usage.units,
                        "ev_signed_wei": _exact(usage.ev_wei), "fee_wei": _exact(usage.fee_wei)}
                       for key, usage in groups]}


async def _body(scope: Scope, receive: Receive, names: set[str]) -> dict[str, Any]:
    data = await read_body(scope, receive, BUILDER_BODY_BYTES_MAX)
    if not data.strip():
        return {}
    check_json_depth(data, "body", 2)
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = sorted(set(body) - names)
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r:.40}; expected some of {', '.join(sorted(names))}")
    return body


def _text(body: Mapping[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{name} must be a non-empty string")
    check_encodable(name, value)
    return value


def _whole(text: str, name: str, high: int, low: int) -> int:
    if not text.isdigit() or len(text) > 19 or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number in [{low}, {high}]")
    return int(text)


def _json(status: int, document: object, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(document, separators=(",", ":")).encode(), dict(headers or {}))
