"""Transports: the go-livepeer-compatible remote-signer HTTP API (spec 02) and its server.

Modules: ``http`` (the ASGI app and its routes), ``payloads`` (spec 02's JSON, Go-style),
``requests`` (headers), ``api_keys`` (issue and authenticate gateway keys), ``webhook``
(go-livepeer-compatible external authorization), ``errors`` (every error answer and the
Refusal → status table), ``limits`` (named limits), ``server`` (uvicorn runner and a
background server for tests and benchmarks).
"""

from __future__ import annotations

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
    Unauthenticated,
)
from clearinghouse.api.http import RemoteSignerApp, SigningService
from clearinghouse.api.server import run_server, serving
from clearinghouse.api.webhook import WebhookAuthorizer, WebhookConfig

__all__ = [
    "REFUSAL_STATUS",
    "ApiError",
    "ApiKeyAuthenticator",
    "GatewayDisabled",
    "RemoteSignerApp",
    "SigningService",
    "Unauthenticated",
    "WebhookAuthorizer",
    "WebhookConfig",
    "api_key_digest",
    "authenticate",
    "issue_api_key",
    "run_server",
    "serving",
]
