"""Transports: the go-livepeer-compatible remote-signer HTTP API (spec 02), the clearinghouse.v1
gRPC API, and their servers.

Modules: ``http`` (the ASGI app and its routes), ``payloads`` (spec 02's JSON, Go-style),
``requests`` (headers), ``api_keys`` (issue and authenticate gateway keys), ``webhook``
(go-livepeer-compatible external authorization), ``errors`` (every error answer, the one
table of each refusal on the wire, and the Reason → gRPC/HTTP status table of clearinghouse.v1),
``limits`` (named limits), ``server`` (uvicorn runner and a background server for tests and
benchmarks), ``grpc_service`` (protobuf and auth around the clearinghouse.v1 operations of
clearinghouse.signer.gateway_service, which /v1 shares), ``grpc_server`` (the gRPC server: health,
reflection, TLS, graceful shutdown), ``metrics`` (Prometheus series both transports record
into, served at /metrics), ``rejections`` (the newest refused calls, for the dashboard),
``caller`` (the one authentication + rate-limit step of every transport), ``pools`` (one thread
pool per kind of blocking work), ``mounted`` (the /v1, admin, dashboard, OIDC and Builder routes
on Starlette), ``openapi_models`` (the typed models the OpenAPI schemas are generated from).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from clearinghouse.facades import Facade

if TYPE_CHECKING:
    from clearinghouse.api.api_keys import (
        ApiKeyAuthenticator,
        api_key_digest,
        authenticate,
        issue_api_key,
    )
    from clearinghouse.api.errors import (
        REFUSAL_STATUS,
        ApiError,
        GatewayDisabled,
        Reason,
        Unauthenticated,
    )
    from clearinghouse.signer.gateway_service import GatewayService
    from clearinghouse.api.grpc_server import GrpcServer, GrpcTls, grpc_serving
    from clearinghouse.api.grpc_service import GrpcGateway
    from clearinghouse.api.http import RemoteSignerApp, SigningService
    from clearinghouse.api.server import run_server, serving
    from clearinghouse.api.webhook import WebhookAuthorizer, WebhookConfig

__all__ = [
    "REFUSAL_STATUS",
    "ApiError",
    "ApiKeyAuthenticator",
    "GatewayDisabled",
    "GatewayService",
    "GrpcGateway",
    "GrpcServer",
    "GrpcTls",
    "Reason",
    "RemoteSignerApp",
    "SigningService",
    "Unauthenticated",
    "WebhookAuthorizer",
    "WebhookConfig",
    "api_key_digest",
    "authenticate",
    "grpc_serving",
    "issue_api_key",
    "run_server",
    "serving",
]

_EXPORTS = Facade(__name__, __file__)


def __getattr__(name: str) -> object:
    """Each name is imported from its module on first use (clearinghouse.facades)."""
    return _EXPORTS.load(name)
