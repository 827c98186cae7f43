"""The routes mounted beside the remote-signer fast path, served by Starlette: the clearinghouse.v1
JSON routes (v1_http.py), the finance routes (admin_http.py), the operator dashboard
(dashboard/), the OIDC provider (oidc_http.py) and the Builder API (builder_http.py).

Each module gives a table ``path → method → endpoint``; a path may hold Starlette
``{parameters}`` (the Builder API's ``/api/v1/apps/{clientId}/users``), which endpoints read from
``request.path_params``. ``MountedRoutes`` routes them with one Starlette ``Router``, fixed paths
before templates, no trailing-slash redirects and no implicit HEAD (the API never served one).
An endpoint takes a Starlette ``Request`` and answers an ``http.Response``, the answer type of
the whole server, sent as a Starlette response; it raises ``ApiError`` and the other errors
http.py maps, as the fast path's routes do.

Why the app around them stays http.py's: the request id, the header and body limits, the thread
pools, the error bodies, the per-route metrics and the rejection log are the same for every
route, so RemoteSignerApp applies them once, around the fast path and this router alike (the
ASGI scope carries the limits and pools, bodies.py and pools.py read them). An unknown path is
RouteNotFound (404), a known path with another method MethodNotAllowed (405 with Allow), both
answered by that app like its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response as StarletteResponse
from starlette.routing import Route, Router

from clearinghouse.api.bodies import Receive, Scope, Send
from clearinghouse.api.errors import MethodNotAllowed, RouteNotFound
from clearinghouse.api.pools import BlockingPool, pools_of

if TYPE_CHECKING:
    from clearinghouse.api.http import Response

Endpoint = Callable[[Request], Awaitable["Response"]]
RouteTable = Mapping[str, Mapping[str, Endpoint]]
"""Path (a Starlette template) → method → endpoint."""

ANSWER_SCOPE_KEY: Final = "clearinghouse.answer"
"""Where an answered endpoint leaves its ``(reason, message)`` for the app's rejection log."""

_METHOD_ORDER: Final = ("GET", "POST", "PUT", "DELETE")
"""The order an Allow header names a path's methods in."""


class MountedRoutes:
    """One Starlette router over route tables; an ASGI app that raises RouteNotFound and
    MethodNotAllowed for the app around it to answer."""

    def __init__(self, tables: Iterable[RouteTable]) -> None:
        paths: dict[str, dict[str, Endpoint]] = {}
        for table in tables:
            for path, methods in table.items():
                paths.setdefault(path, {}).update(methods)
        routes = [_route(path, methods) for path, methods in sorted(paths.items(), key=lambda item: "{" in item[0])]
        self._router = Router(routes, redirect_slashes=False, default=_not_found)

    def paths(self) -> dict[str, tuple[str, ...]]:
        """Every path (template) and its methods."""
        return {route.path: _allowed(route) for route in self._router.routes if isinstance(route, Route)}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Starlette raises its 405 only when an application is named in the scope (it would
        # send a plain-text one otherwise): the error is answered by the app around the router.
        scope.setdefault("app", self)
        try:
            await self._router(scope, receive, send)
        except HTTPException as exc:
            route = scope.get("route")
            if exc.status_code != 405 or not isinstance(route, Route):
                raise
            allowed = ", ".join(_allowed(route))
            raise MethodNotAllowed(
                f"{scope['path']} accepts {allowed}, not {scope['method']}", headers={"Allow": allowed}
            ) from None


def database_pool(request: Request) -> BlockingPool:
    """The threads for a mounted route's database work (pools.py's ``database`` kind)."""
    return pools_of(request.scope).database


def route_label(scope: Scope) -> str | None:
    """The matched route's path (its template for a path with parameters), for metrics."""
    route = scope.get("route")
    return route.path if isinstance(route, Route) else None


def _route(path: str, methods: Mapping[str, Endpoint]) -> Route:
    async def endpoint(request: Request) -> StarletteResponse:
        answer = await methods[request.method](request)
        request.scope[ANSWER_SCOPE_KEY] = (answer.reason, answer.message)
        headers = dict(answer.headers)
        json = not any(name.lower() == "content-type" for name in headers)
        return StarletteResponse(answer.body, answer.status, headers, media_type="application/json" if json else None)

    route = Route(path, endpoint, methods=list(methods))
    route.methods = set(methods)  # Starlette adds HEAD beside GET; these routes never answered it
    return route


def _allowed(route: Route) -> tuple[str, ...]:
    methods = route.methods or set()
    return tuple(m for m in _METHOD_ORDER if m in methods) + tuple(sorted(methods - set(_METHOD_ORDER)))


async def _not_found(scope: Scope, receive: Receive, send: Send) -> None:
    raise RouteNotFound(f"no route {scope['method']} {scope['path']}")
